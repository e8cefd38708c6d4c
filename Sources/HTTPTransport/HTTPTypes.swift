// HTTPTransport's value types: request, response, TLS settings, errors. Foundation-free.

/// One HTTP header as sent or received. Names compare case-insensitively (see `HTTPResponse.header(_:)`).
public struct HTTPHeader: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

extension Array where Element == HTTPHeader {
    /// The value of the first header called `name`, compared case-insensitively.
    func firstValue(named name: String) -> String? {
        let wanted = name.lowercased()
        return first { $0.name.lowercased() == wanted }?.value
    }
}

/// A request: method, absolute `http://` or `https://` URL, headers and body bytes, bounded in time.
public struct HTTPRequest: Sendable {
    /// `GET`, `POST`, `PUT`, `PATCH`, `DELETE`, `HEAD`, ... (sent as given).
    public var method: String
    /// Absolute URL, `http` or `https` only; other schemes are `.invalidRequest`.
    public var url: String
    public var headers: [HTTPHeader]
    /// Sent as is (with `Content-Length`) when not empty, or whenever the method is POST, PUT or PATCH.
    public var body: [UInt8]
    /// Limit for the whole exchange (connect, TLS, send, receive); nil: the transport's `defaultTimeout`.
    public var timeout: Duration?
    /// A point in time the exchange must end by (an RPC's deadline); the tighter of this and `timeout` wins.
    public var deadline: ContinuousClock.Instant?

    public init(method: String = "GET", url: String, headers: [HTTPHeader] = [], body: [UInt8] = [],
                timeout: Duration? = nil, deadline: ContinuousClock.Instant? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.deadline = deadline
    }

    /// The first value of header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? { headers.firstValue(named: name) }
}

/// A response of any status (a 404 or 500 is a response, not an error).
public struct HTTPResponse: Sendable {
    public var status: Int
    /// The final response's headers in order received (interim 1xx responses are dropped).
    public var headers: [HTTPHeader]
    public var body: [UInt8]

    public init(status: Int, headers: [HTTPHeader], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first value of header `name`, compared case-insensitively.
    public func header(_ name: String) -> String? { headers.firstValue(named: name) }

    /// The body decoded as UTF-8 (invalid bytes replaced).
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// 200...299.
    public var isSuccess: Bool { (200..<300).contains(status) }
}

/// How the server's certificate is checked, and which client certificate (if any) is presented.
public struct TLSOptions: Sendable {
    /// Which certificate authorities are trusted.
    public enum Trust: Sendable {
        /// The system's CA bundle (Debian: /etc/ssl/certs/ca-certificates.crt).
        case system
        /// A PEM bundle in a file.
        case caFile(String)
        /// A PEM bundle in memory (e.g. kubeconfig's `certificate-authority-data`, base64-decoded).
        case caPEM([UInt8])
        /// No verification of the peer or its host name. For tests and explicit user opt-in only.
        case insecureSkipVerify
    }

    /// A client certificate and its private key, PEM.
    public enum ClientIdentity: Sendable {
        case files(certificate: String, key: String)
        case pem(certificate: [UInt8], key: [UInt8])
    }

    public var trust: Trust
    public var clientIdentity: ClientIdentity?

    public init(trust: Trust = .system, clientIdentity: ClientIdentity? = nil) {
        self.trust = trust
        self.clientIdentity = clientIdentity
    }
}

/// How requests are authorized, added as an `Authorization` header unless the request sets its own.
public enum HTTPAuthorization: Sendable {
    /// `Authorization: Bearer TOKEN`.
    case bearer(String)
    /// `Authorization: Bearer <file contents, trimmed>`, the file re-read at most once a minute (Kubernetes
    /// rotates projected service-account tokens in place).
    case bearerTokenFile(String)
}

/// Why an exchange produced no response. Each case carries libcurl's message (never a header or body value,
/// so no credential can leak through an error).
public enum HTTPTransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// libcurl could not be loaded (libcurl4 not installed).
    case unavailable(String)
    /// Malformed URL, unsupported scheme, a header with CR/LF, or an option libcurl refused.
    case invalidRequest(String)
    /// The host name could not be resolved.
    case resolve(String)
    /// The connection was refused or the host unreachable.
    case connect(String)
    /// The request's timeout or deadline passed (also thrown at once when the deadline is already past).
    case timeout(String)
    /// TLS handshake failed: untrusted or mismatched server certificate, bad CA bundle, bad client certificate.
    case tls(String)
    /// The connection broke while sending.
    case send(String)
    /// The connection broke while receiving, or the server sent nothing or a malformed answer.
    case receive(String)
    /// The body exceeded `HTTPTransport.Configuration.maxResponseBytes`.
    case responseTooLarge(limit: Int)
    /// Any other libcurl failure (CURLcode and message).
    case other(code: Int, String)

    public var description: String {
        switch self {
        case .unavailable(let m): "HTTP transport unavailable: \(m)"
        case .invalidRequest(let m): "invalid HTTP request: \(m)"
        case .resolve(let m): "cannot resolve host: \(m)"
        case .connect(let m): "cannot connect: \(m)"
        case .timeout(let m): "timed out: \(m)"
        case .tls(let m): "TLS failure: \(m)"
        case .send(let m): "send failed: \(m)"
        case .receive(let m): "receive failed: \(m)"
        case .responseTooLarge(let limit): "response larger than \(limit) bytes"
        case .other(let code, let m): "HTTP transport error (curl \(code)): \(m)"
        }
    }
}
