/// KubeClient: the plugin's and the scheduler's transport to the Kubernetes API, over AsyncHTTPClient + NIOSSL.
///
/// What the requests mean lives in KubeCore (re-exported here), shared with the driver: the kubeconfig / in-cluster
/// loader (`ClientConfig.load`), the credentials, resource paths (`ResourceType`), query encoding, `Warning` headers,
/// `Status` errors (`KubeAPIError`), watch lines and the redaction of secrets. This module adds what needs
/// Foundation or NIO: HTTPS with client certificates and tls-server-name, exec credential plugins (`Process`),
/// `--request-timeout`, `-v` logging and streaming watches.
///
///     let config = try ClientConfig.load(ConfigOverrides(kubeconfig: nil, context: nil, namespace: nil,
///                                                        requestTimeout: ConfigOverrides.parseTimeout("30s")))
///     let client = try KubeClient(config: config, options: .init(verbosity: 6, userAgent: "kubectl-evssnap"))
///     let r = try await client.send(method: "GET", path: ResourceType.volumeSnapshots.path(namespace: "apps"),
///                                   query: [URLQueryItem(name: "limit", value: "500")])      // KubeResponse (2xx)
///     for try await event in client.watch(.volumeSnapshots, namespace: "apps", options: ListOptions(resourceVersion: rv)) { }
///     try await client.shutdown()
///
/// Errors: `KubeAPIError` (the server answered; `description` renders like kubectl), `KubeClientError` (the rest).
/// Tests: the KubeTestSupport target starts Tests/fake-apiserver/fake_apiserver.py (FakeAPIServer.startAsync).
@_exported import KubeCore
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
    /// The bearer token: static, or read from `tokenFile` (re-read after 60 s).
    let bearer: BearerTokenSource
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
        self.bearer = BearerTokenSource(config.credentials)
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

    static func applyClientCertificate(_ tls: inout TLSConfiguration, cert: [UInt8], key: [UInt8]) throws {
        do {
            let chain = try NIOSSLCertificate.fromPEMBytes(cert)
            guard !chain.isEmpty else { throw KubeClientError.invalidTLSMaterial("client-certificate holds no PEM certificate") }
            tls.certificateChain = chain.map { .certificate($0) }
            tls.privateKey = .privateKey(try NIOSSLPrivateKey(bytes: key, format: .pem))
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
}
