// Transport: one request with its credentials and timeout, the exec-plugin retry on 401, error mapping.
import Foundation
import AsyncHTTPClient
import NIOCore
import NIOHTTP1
import NIOSSL
import Synchronization

extension KubeClient {
    // MARK: - Transport

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
        let q = KubeREST.encodeQuery(query.map { QueryItem(name: $0.name, value: $0.value) })
        let urlString = baseURL + path + (q.isEmpty ? "" : "?" + q)
        var req = HTTPClientRequest(url: urlString)
        req.method = HTTPMethod(rawValue: method)
        req.headers.add(name: "Accept", value: accept)
        req.headers.add(name: "User-Agent", value: options.userAgent)
        if let body {
            req.headers.add(name: "Content-Type", value: contentType)
            req.body = .bytes(ByteBuffer(bytes: body))
        }
        var token = try bearer.token()
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
        let warnings = KubeREST.parseWarnings(response.headers["Warning"])
        for w in warnings { options.warningHandler(Redactor.shared.redact(w)) }
        let code = Int(response.status.code)
        guard (200..<300).contains(code) else {
            let q = KubeREST.encodeQuery(query.map { QueryItem(name: $0.name, value: $0.value) })
            throw KubeAPIError.from(httpStatus: code, body: [UInt8](data), method: method, path: path + (q.isEmpty ? "" : "?" + q),
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
}

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
