/// KubeClient: Kubernetes API access for kubectl-evssnap and the CSI driver (no other Swift Kubernetes client exists here).
///
/// API summary (stable; see each declaration's doc comment):
///
///     // 1. Configuration, loaded exactly as kubectl does (flags > KUBECONFIG merge > ~/.kube/config > in-cluster)
///     let config = try ClientConfig.load(ConfigOverrides(kubeconfig: nil, context: nil, cluster: nil, user: nil,
///                                                        namespace: nil, requestTimeout: ConfigOverrides.parseTimeout("30s")),
///                                        environment: .process)
///     config.namespace            // -n, else the context's namespace, else "default"
///
///     // 2. The client: KubeClient.with shuts it down afterwards (else call `try await client.shutdown()` yourself)
///     try await KubeClient.with(config, options: .init(verbosity: 6)) { client in ... }   // -v=6 method/URL/status/duration, -v=8 bodies
///     let client = try KubeClient(config: config, options: .init(verbosity: 0, userAgent: "kubectl-evssnap",
///                                 log: { line in ... }, warningHandler: { text in ... }))    // warnings: default "Warning: <text>" on stderr
///
///     // 3. REST
///     let pvc  = try await client.get(PersistentVolumeClaim.self, .persistentVolumeClaims, name: "data-ssd")            // namespace nil = config.namespace
///     let page = try await client.list(VolumeSnapshot.self, .volumeSnapshots, namespace: "apps", options: ListOptions(limit: 50))
///     let all  = try await client.listAll(VolumeSnapshot.self, .volumeSnapshots, allNamespaces: true, pageSize: 500)
///     let made = try await client.create(snapshot, as: VolumeSnapshot.self, .volumeSnapshots, namespace: "apps",
///                                        options: CreateOptions(dryRun: true, fieldManager: "kubectl-evssnap"))   // made.warnings
///     _        = try await client.delete(.volumeSnapshots, name: "snap-1", namespace: "apps")
///     for try await ev in client.watch(VolumeSnapshot.self, .volumeSnapshots, namespace: "apps", options: ListOptions(resourceVersion: rv)) { }
///     let raw  = try await client.send(method: "GET", path: "/api/v1/nodes")                                           // KubeResponse
///
///     // 4. Discovery
///     try await client.serverVersion()                      // VersionInfo
///     try await client.apiGroups()                          // APIGroupList (/apis)
///     try await client.snapshotAPIVersion()                 // "v1" or "v1beta1", else throws KubeClientError.snapshotAPINotServed
///     try await client.apiResources(groupVersion: "storage.k8s.io/v1")   // APIResourceList? (nil when not served)
///     try await client.hasResource(groupVersion: "storage.k8s.io/v1", plural: "csidrivers")
///
///     // Errors: KubeAPIError (server answers; `description` renders like kubectl:
///     //   Error from server (NotFound): volumesnapshots.snapshot.storage.k8s.io "x" not found), KubeClientError (everything else).
///     //   Both conform to CustomStringConvertible; print `"\(error)"` as the one line kubectl would print.
///     // Secrets: Redactor.shared.redact(text) is applied to every log line and error text.
///     // Tests: the KubeTestSupport target starts Tests/fake-apiserver/fake_apiserver.py (FakeAPIServer.startAsync).
import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

/// A raw HTTP answer from the API server (2xx; errors are thrown as ``KubeAPIError``).
public struct KubeResponse: Sendable {
    /// HTTP status code.
    public var status: Int
    /// Content-Type header.
    public var contentType: String?
    /// Body bytes.
    public var body: Data
    /// Parsed `Warning` headers (the text of each `299 - "..."`).
    public var warnings: [String]
    public init(status: Int, contentType: String?, body: Data, warnings: [String]) {
        self.status = status; self.contentType = contentType; self.body = body; self.warnings = warnings
    }
}

/// A Kubernetes REST client over HTTPS (AsyncHTTPClient + NIOSSL), authenticated with client certificates,
/// bearer tokens, token files or exec plugins. Thread-safe.
public final class KubeClient: Sendable {
    /// Client behaviour: verbosity, user agent, where logs and warnings go.
    public struct Options: Sendable {
        /// kubectl-style `-v`: 6 logs method, URL, status and duration; 7 adds request headers; 8 adds bodies (all redacted).
        public var verbosity: Int
        /// User-Agent header; the server takes the field manager name of writes from it.
        public var userAgent: String
        /// Log sink for verbose lines (already redacted). Default: standard error.
        public var log: @Sendable (String) -> Void
        /// Called for every `Warning` header, with kubectl's wording available as `"Warning: " + text`. Default: prints
        /// `Warning: <text>` on standard error, as kubectl does. Set to `{ _ in }` to silence.
        public var warningHandler: @Sendable (String) -> Void
        public init(verbosity: Int = 0, userAgent: String = "kubectl-evssnap",
                    log: @escaping @Sendable (String) -> Void = KubeClient.standardError,
                    warningHandler: @escaping @Sendable (String) -> Void = { KubeClient.standardError("Warning: \($0)") }) {
            self.verbosity = verbosity; self.userAgent = userAgent; self.log = log; self.warningHandler = warningHandler
        }
    }

    /// Writes one line to standard error.
    public static let standardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data((line.hasSuffix("\n") ? line : line + "\n").utf8))
    }

    /// The configuration this client was built from.
    public let config: ClientConfig
    public let options: Options
    let http: HTTPClient
    /// URL prefix requests go to (host replaced by tls-server-name when set; see init).
    let baseURL: String
    /// TLS configuration without exec-plugin certificates.
    let baseTLS: TLSConfiguration
    /// Exec plugin, when the user has one.
    public let execProvider: ExecCredentialProvider?
    /// Token read from `tokenFile`, and when. Guarded by the mutex; refreshed after 60 s (client-go does the same).
    private let tokenFileCache = Mutex<(token: String, readAt: Date)?>(nil)
    /// Set once `shutdown()` ran, so `deinit` does not shut down twice.
    private let isShutDown = Atomic<Bool>(false)

    /// Builds a client. Loads the CA and client certificate now, so bad TLS material fails here.
    public init(config: ClientConfig, options: Options = Options()) throws {
        self.config = config
        self.options = options
        var tls = TLSConfiguration.makeClientConfiguration()
        if config.tls.insecureSkipVerify {
            tls.certificateVerification = .none
        } else if let ca = config.tls.caPEM {
            do {
                let certs = try NIOSSLCertificate.fromPEMBytes(Array(ca))
                guard !certs.isEmpty else { throw KubeClientError.invalidTLSMaterial("certificate-authority holds no PEM certificate") }
                tls.trustRoots = .certificates(certs)
            } catch let e as KubeClientError { throw e } catch {
                throw KubeClientError.invalidTLSMaterial("unable to load certificate-authority: \(error)")
            }
        }
        if let cert = config.credentials.clientCertificatePEM, let key = config.credentials.clientKeyPEM {
            try KubeClient.applyClientCertificate(&tls, cert: cert, key: key)
        }
        self.baseTLS = tls

        var httpConfig = HTTPClient.Configuration(tlsConfiguration: tls, redirectConfiguration: .disallow)
        httpConfig.decompression = .disabled
        httpConfig.timeout = .init(connect: .seconds(30), read: nil)
        // Fail at once on a refused connection or a TLS verification error, as kubectl does, instead of retrying
        // until the connect timeout.
        httpConfig.connectionPool.retryConnectionEstablishment = false
        // tls-server-name: address the request to the server name (SNI + verification) and point DNS at the real host.
        var base = config.server
        if let name = config.tls.serverName, !name.isEmpty,
           var comps = URLComponents(string: config.server), let host = comps.host, host != name {
            comps.host = name
            httpConfig.dnsOverride = [name: host.trimmingCharacters(in: CharacterSet(charactersIn: "[]"))]
            base = comps.string ?? config.server
        }
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: httpConfig)

        if let exec = config.credentials.exec {
            self.execProvider = ExecCredentialProvider(config: exec, clusterServer: config.server,
                                                       clusterCAData: config.tls.caPEM,
                                                       insecureSkipTLSVerify: config.tls.insecureSkipVerify,
                                                       tlsServerName: config.tls.serverName)
        } else {
            self.execProvider = nil
        }
        if let t = config.credentials.token { Redactor.shared.register(t) }
    }

    deinit {
        // AsyncHTTPClient traps (debug builds) when a client is released without shutdown; start it here if the caller forgot.
        if !isShutDown.exchange(true, ordering: .acquiringAndReleasing) {
            http.shutdown { _ in }
        }
    }

    /// Closes connections. Call once when done (further requests fail).
    public func shutdown() async throws {
        if isShutDown.exchange(true, ordering: .acquiringAndReleasing) { return }
        try await http.shutdown()
    }

    /// Runs `body` with a client and shuts it down afterwards, also when `body` throws.
    @discardableResult
    public static func with<R: Sendable>(_ config: ClientConfig, options: Options = Options(),
                                         _ body: (KubeClient) async throws -> R) async throws -> R {
        let client = try KubeClient(config: config, options: options)
        do {
            let r = try await body(client)
            try? await client.shutdown()
            return r
        } catch {
            try? await client.shutdown()
            throw error
        }
    }

    static func applyClientCertificate(_ tls: inout TLSConfiguration, cert: Data, key: Data) throws {
        do {
            let chain = try NIOSSLCertificate.fromPEMBytes(Array(cert))
            guard !chain.isEmpty else { throw KubeClientError.invalidTLSMaterial("client-certificate holds no PEM certificate") }
            tls.certificateChain = chain.map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: Array(key), format: .pem))
        } catch let e as KubeClientError { throw e } catch {
            // Never include the key bytes: only say which part failed.
            throw KubeClientError.invalidTLSMaterial("unable to load client certificate/key pair: \(type(of: error))")
        }
    }

    // MARK: - Logging

    func log(_ level: Int, _ line: @autoclosure () -> String) {
        guard options.verbosity >= level else { return }
        options.log(Redactor.shared.redact(line()))
    }

    /// Splits `Warning` header values (`299 - "text"`, possibly several per header) into their texts.
    public static func parseWarnings(_ values: [String]) -> [String] {
        var out: [String] = []
        for v in values {
            var rest = Substring(v)
            while !rest.isEmpty {
                // code SP agent SP quoted-text [SP date]
                rest = rest.drop { $0 == " " || $0 == "," }
                guard let q = rest.firstIndex(of: "\"") else {
                    let t = rest.trimmingCharacters(in: .whitespaces)
                    if !t.isEmpty { out.append(t) }
                    break
                }
                var text = ""
                var i = rest.index(after: q)
                var escaped = false
                while i < rest.endIndex {
                    let c = rest[i]
                    if escaped { text.append(c); escaped = false } else if c == "\\" { escaped = true } else if c == "\"" { break } else { text.append(c) }
                    i = rest.index(after: i)
                }
                out.append(text)
                rest = i < rest.endIndex ? rest[rest.index(after: i)...] : ""
                // Skip an optional quoted date (it contains a comma), then up to the next comma.
                rest = rest.drop { $0 == " " }
                if rest.first == "\"" {
                    rest = rest.dropFirst()
                    if let close = rest.firstIndex(of: "\"") { rest = rest[rest.index(after: close)...] } else { rest = "" }
                }
                if let comma = rest.firstIndex(of: ",") { rest = rest[rest.index(after: comma)...] } else { rest = "" }
            }
        }
        return out
    }

    // MARK: - Transport

    /// Encodes query items strictly (everything but unreserved characters), so selectors and continue tokens survive.
    static func encodeQuery(_ items: [URLQueryItem]) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return items.map { item in
            let k = item.name.addingPercentEncoding(withAllowedCharacters: allowed) ?? item.name
            let v = (item.value ?? "").addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
            return "\(k)=\(v)"
        }.joined(separator: "&")
    }

    func bearerToken() throws -> String? {
        if let path = config.credentials.tokenFile {
            let now = Date()
            if let cached = tokenFileCache.withLock({ $0 }), now.timeIntervalSince(cached.readAt) < 60 { return cached.token }
            guard let d = FileManager.default.contents(atPath: path) else {
                throw KubeClientError.unreadableFile(what: "tokenFile", path: path)
            }
            let t = String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            Redactor.shared.register(t)
            tokenFileCache.withLock { $0 = (t, now) }
            return t
        }
        return config.credentials.token
    }

    /// Sends one request. Returns 2xx answers; throws ``KubeAPIError`` for HTTP errors, ``KubeClientError`` for the rest.
    /// On 401 with an exec plugin the plugin is run again and the request retried once.
    /// - Parameters:
    ///   - path: absolute API path (`/api/v1/...`), without query.
    ///   - resource, name: used only to word errors from non-Status bodies like client-go does.
    public func send(method: String, path: String, query: [URLQueryItem] = [], body: Data? = nil,
                     contentType: String = "application/json", accept: String = "application/json",
                     resource: String? = nil, name: String? = nil) async throws -> KubeResponse {
        do {
            return try await sendOnce(method: method, path: path, query: query, body: body, contentType: contentType,
                                      accept: accept, resource: resource, name: name, forceExecRefresh: false)
        } catch let e as KubeAPIError where e.httpStatus == 401 && execProvider != nil {
            log(6, "401 Unauthorized: running the exec credential plugin again")
            execProvider?.invalidate()
            return try await sendOnce(method: method, path: path, query: query, body: body, contentType: contentType,
                                      accept: accept, resource: resource, name: name, forceExecRefresh: true)
        }
    }

    func makeRequest(method: String, path: String, query: [URLQueryItem], body: Data?, contentType: String,
                     accept: String, forceExecRefresh: Bool) async throws -> (HTTPClientRequest, String) {
        let q = KubeClient.encodeQuery(query)
        let urlString = baseURL + path + (q.isEmpty ? "" : "?" + q)
        var req = HTTPClientRequest(url: urlString)
        req.method = HTTPMethod(rawValue: method)
        req.headers.add(name: "Accept", value: accept)
        req.headers.add(name: "User-Agent", value: options.userAgent)
        if let body {
            req.headers.add(name: "Content-Type", value: contentType)
            req.body = .bytes(ByteBuffer(bytes: body))
        }
        var token = try bearerToken()
        if let exec = execProvider {
            let cred = try await exec.fetchCredential(forceRefresh: forceExecRefresh)
            if let t = cred.token { token = t }
            if let cert = cred.clientCertificatePEM, let key = cred.clientKeyPEM {
                var tls = baseTLS
                try KubeClient.applyClientCertificate(&tls, cert: cert, key: key)
                req.tlsConfiguration = tls
            }
        }
        if let token { req.headers.add(name: "Authorization", value: "Bearer \(token)") }
        // Shown URL uses the configured server, not the tls-server-name rewrite.
        let shown = config.server + path + (q.isEmpty ? "" : "?" + q)
        return (req, shown)
    }

    func sendOnce(method: String, path: String, query: [URLQueryItem], body: Data?, contentType: String,
                  accept: String, resource: String?, name: String?, forceExecRefresh: Bool) async throws -> KubeResponse {
        let (req, shown) = try await makeRequest(method: method, path: path, query: query, body: body, contentType: contentType,
                                           accept: accept, forceExecRefresh: forceExecRefresh)
        if options.verbosity >= 7 {
            for h in req.headers { log(7, "Request Header: \(h.name): \(h.value)") }
        }
        if let body, options.verbosity >= 8 { log(8, "Request Body: \(String(decoding: body.prefix(10240), as: UTF8.self))") }
        let started = ContinuousClock.now
        let timeout = config.requestTimeout
        let response: HTTPClientResponse
        let data: Data
        do {
            let deadline: NIODeadline = timeout.map { .now() + .nanoseconds(Int64($0.components.seconds) * 1_000_000_000 + $0.components.attoseconds / 1_000_000_000) } ?? .distantFuture
            let http = self.http
            (response, data) = try await KubeClient.withTimeout(timeout) {
                let response = try await http.execute(req, deadline: deadline)
                var buf = try await response.body.collect(upTo: 256 << 20)
                return (response, Data(buf.readBytes(length: buf.readableBytes) ?? []))
            }
        } catch {
            let ms = Int((ContinuousClock.now - started) / .milliseconds(1))
            log(6, "\(method) \(shown)  in \(ms) milliseconds")
            throw mapTransportError(error, url: shown)
        }
        let ms = Int((ContinuousClock.now - started) / .milliseconds(1))
        log(6, "\(method) \(shown) \(response.status.code) \(response.status.reasonPhrase) in \(ms) milliseconds")
        if options.verbosity >= 7 {
            for h in response.headers { log(7, "Response Header: \(h.name): \(h.value)") }
        }
        if options.verbosity >= 8 { log(8, "Response Body: \(String(decoding: data.prefix(10240), as: UTF8.self))") }
        let warnings = KubeClient.parseWarnings(response.headers["Warning"])
        for w in warnings { options.warningHandler(Redactor.shared.redact(w)) }
        let code = Int(response.status.code)
        guard (200..<300).contains(code) else {
            throw KubeAPIError.from(httpStatus: code, body: data, method: method, path: path + (query.isEmpty ? "" : "?" + KubeClient.encodeQuery(query)),
                                    resource: resource, name: name, warnings: warnings)
        }
        return KubeResponse(status: code, contentType: response.headers.first(name: "Content-Type"), body: data, warnings: warnings)
    }

    /// Runs `operation`, throwing `HTTPClientError.deadlineExceeded` once `timeout` has passed even if the operation
    /// does not stop (AsyncHTTPClient can miss its own deadline while a request waits for a connection). The
    /// operation is cancelled and left to finish on its own.
    static func withTimeout<R: Sendable>(_ timeout: Duration?, _ operation: @escaping @Sendable () async throws -> R) async throws -> R {
        guard let timeout else { return try await operation() }
        let race = FirstResult<R>()
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<R, Error>) in
            race.start(continuation)
            let work = Task {
                do { race.finish(.success(try await operation())) } catch { race.finish(.failure(error)) }
            }
            Task {
                try? await Task.sleep(for: timeout)
                race.finish(.failure(HTTPClientError.deadlineExceeded))
                work.cancel()
            }
        }
    }

    func mapTransportError(_ error: Error, url: String) -> Error {
        if error is KubeAPIError || error is KubeClientError { return error }
        if let e = error as? HTTPClientError, e == .deadlineExceeded || e == .readTimeout {
            let secs = config.requestTimeout.map { Double($0.components.seconds) + Double($0.components.attoseconds) / 1e18 } ?? 0
            return KubeClientError.timeout(url: url, seconds: secs)
        }
        return KubeClientError.transport(url: url, reason: Redactor.shared.redact(String(describing: error)))
    }

    func decode<T: Decodable>(_ type: T.Type, _ data: Data, what: String) throws -> T {
        do { return try JSONDecoder().decode(T.self, from: data) } catch {
            throw KubeClientError.decoding(what: what, reason: "\(error)")
        }
    }

    func namespaceFor(_ resource: ResourceType, _ namespace: String?) -> String? {
        resource.namespaced ? (namespace ?? config.namespace) : nil
    }

    // MARK: - REST verbs

    /// GET one object. `namespace` nil means the configured namespace (ignored for cluster-scoped resources).
    public func get<T: Decodable & Sendable>(_ type: T.Type, _ resource: ResourceType, name: String,
                                             namespace: String? = nil) async throws -> T {
        let r = try await send(method: "GET", path: resource.path(namespace: namespaceFor(resource, namespace), name: name),
                               resource: resource.qualifiedName, name: name)
        return try decode(T.self, r.body, what: "\(resource.kind) \"\(name)\"")
    }

    /// GET one page of a list. For a namespaced resource: `namespace` nil means the configured namespace, unless
    /// `allNamespaces` is true. Use `options.limit`/`options.continueToken` to page.
    public func list<T: Codable & Sendable>(_ type: T.Type, _ resource: ResourceType, namespace: String? = nil,
                                            allNamespaces: Bool = false, options: ListOptions = ListOptions()) async throws -> ObjectList<T> {
        let ns = allNamespaces ? nil : namespaceFor(resource, namespace)
        let r = try await send(method: "GET", path: resource.path(namespace: ns), query: options.queryItems,
                               resource: resource.qualifiedName)
        return try decode(ObjectList<T>.self, r.body, what: "\(resource.kind)List")
    }

    /// Lists everything, following `continue` tokens page by page (`limit` = pageSize).
    public func listAll<T: Codable & Sendable>(_ type: T.Type, _ resource: ResourceType, namespace: String? = nil,
                                               allNamespaces: Bool = false, pageSize: Int = 500,
                                               options: ListOptions = ListOptions()) async throws -> [T] {
        var opts = options
        opts.limit = pageSize
        opts.continueToken = nil
        var items: [T] = []
        var pages = 0
        while true {
            let page = try await list(T.self, resource, namespace: namespace, allNamespaces: allNamespaces, options: opts)
            items += page.items
            pages += 1
            guard let next = page.metadata.continue, !next.isEmpty else { break }
            guard pages < 100_000 else { break }  // a server that never ends the list must not loop forever
            opts.continueToken = next
        }
        return items
    }

    /// POST a new object and decode the answer as `R`. `options.dryRun` sends `dryRun=All` (nothing is persisted).
    public func create<Body: Encodable & Sendable, R: Decodable & Sendable>(_ object: Body, as: R.Type, _ resource: ResourceType,
                                                                           namespace: String? = nil,
                                                                           options: CreateOptions = CreateOptions()) async throws -> KubeResult<R> {
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        let body = try enc.encode(object)
        var name: String?
        if let o = try? JSONSerialization.jsonObject(with: body) as? [String: Any], let m = o["metadata"] as? [String: Any] {
            name = m["name"] as? String
        }
        let r = try await send(method: "POST", path: resource.path(namespace: namespaceFor(resource, namespace)),
                               query: options.queryItems, body: body, resource: resource.qualifiedName, name: name)
        return KubeResult(object: try decode(R.self, r.body, what: "created \(resource.kind)"), warnings: r.warnings)
    }

    /// DELETE one object. Returns the answer body (the object with deletionTimestamp, or a Success Status) as JSON.
    @discardableResult
    public func delete(_ resource: ResourceType, name: String, namespace: String? = nil,
                       options: DeleteOptions = DeleteOptions()) async throws -> KubeResult<JSONValue> {
        let r = try await send(method: "DELETE", path: resource.path(namespace: namespaceFor(resource, namespace), name: name),
                               query: options.queryItems, resource: resource.qualifiedName, name: name)
        let v = (try? JSONDecoder().decode(JSONValue.self, from: r.body)) ?? .null
        return KubeResult(object: v, warnings: r.warnings)
    }

    /// Watches a collection (`?watch=1`). ERROR events become a thrown ``KubeAPIError`` (410 Expired: list again).
    /// The stream ends when the server closes the watch; cancel the consuming task to stop early.
    public func watch<T: Codable & Sendable>(_ type: T.Type, _ resource: ResourceType, namespace: String? = nil,
                                             allNamespaces: Bool = false,
                                             options: ListOptions = ListOptions()) -> AsyncThrowingStream<WatchEvent<T>, Error> {
        let ns = allNamespaces ? nil : namespaceFor(resource, namespace)
        let query = [URLQueryItem(name: "watch", value: "1")] + options.queryItems
        let path = resource.path(namespace: ns)
        return AsyncThrowingStream { continuation in
            let task = Task {
                do {
                    let (req, shown) = try await self.makeRequest(method: "GET", path: path, query: query, body: nil,
                                                            contentType: "application/json", accept: "application/json",
                                                            forceExecRefresh: false)
                    let response = try await self.http.execute(req, deadline: .distantFuture)
                    self.log(6, "GET \(shown) \(response.status.code) \(response.status.reasonPhrase) (watch)")
                    let code = Int(response.status.code)
                    guard (200..<300).contains(code) else {
                        var buf = try await response.body.collect(upTo: 1 << 20)
                        throw KubeAPIError.from(httpStatus: code, body: Data(buf.readBytes(length: buf.readableBytes) ?? []),
                                                method: "GET", path: path, resource: resource.qualifiedName)
                    }
                    var pending = Data()
                    for try await chunk in response.body {
                        pending.append(contentsOf: chunk.readableBytesView)
                        while let nl = pending.firstIndex(of: UInt8(ascii: "\n")) {
                            let line = pending[pending.startIndex..<nl]
                            pending = Data(pending[pending.index(after: nl)...])
                            if line.isEmpty { continue }
                            self.log(8, "Watch Event: \(String(decoding: line, as: UTF8.self))")
                            continuation.yield(try KubeClient.decodeWatchLine(Data(line), as: T.self, path: path))
                        }
                    }
                    continuation.finish()
                } catch {
                    continuation.finish(throwing: error)
                }
            }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// Decodes one watch line `{"type":..., "object":...}`; ERROR events throw the Status as ``KubeAPIError``.
    public static func decodeWatchLine<T: Codable & Sendable>(_ line: Data, as: T.Type, path: String = "") throws -> WatchEvent<T> {
        let env: WatchTypeEnvelope
        do { env = try JSONDecoder().decode(WatchTypeEnvelope.self, from: line) } catch {
            throw KubeClientError.decoding(what: "watch event", reason: "\(error)")
        }
        if env.type == "ERROR" {
            let st = (try? JSONDecoder().decode(WatchObjectEnvelope<Status>.self, from: line).object) ?? Status(message: "watch error", reason: "Unknown")
            throw KubeAPIError(httpStatus: st.code ?? 500, status: st, isStatusObject: true, method: "GET", path: path)
        }
        do {
            let t = try JSONDecoder().decode(WatchObjectEnvelope<T>.self, from: line)
            return WatchEvent(type: t.type, object: t.object)
        } catch {
            throw KubeClientError.decoding(what: "watch event \(env.type)", reason: "\(error)")
        }
    }
}

/// `{"type": ...}` of a watch line.
struct WatchTypeEnvelope: Decodable { var type: String }
/// `{"type": ..., "object": ...}` of a watch line.
struct WatchObjectEnvelope<T: Decodable>: Decodable { var type: String; var object: T }

/// Resumes a continuation with the first of several results; later ones are dropped.
final class FirstResult<R: Sendable>: Sendable {
    /// The continuation until the first result arrives, then nil. Guarded by the mutex; touched by the racing tasks.
    private let state = Mutex<CheckedContinuation<R, Error>?>(nil)
    func start(_ c: CheckedContinuation<R, Error>) { state.withLock { $0 = c } }
    func finish(_ result: Result<R, Error>) {
        let c = state.withLock { s -> CheckedContinuation<R, Error>? in
            let c = s
            s = nil
            return c
        }
        c?.resume(with: result)
    }
}
