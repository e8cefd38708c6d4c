// The HTTP vocabulary of the EVS client, and the one protocol a transport implements. The driver's transport is
// HTTPTransport (libcurl, Foundation-free); tests may use any other. Requests are blocking: the CSI handlers run on
// their own threads.

/// Where a service listens: `https://host[:port]` (a path prefix is kept).
public struct ServiceEndpoint: Sendable, Hashable, CustomStringConvertible {
    /// `https` (or `http` for a plain test server).
    public var scheme: String
    /// Host name or address.
    public var host: String
    /// Port, nil for the scheme's default.
    public var port: Int?
    /// Path prefix without a trailing slash (usually empty).
    public var pathPrefix: String

    /// Parses `https://host[:port][/prefix]`; nil when it is not an http(s) URL.
    public init?(_ text: String) {
        let parts = text.split(separator: "://", maxSplits: 1).map(String.init)
        guard parts.count == 2, parts[0] == "https" || parts[0] == "http" else { return nil }
        scheme = parts[0]
        var rest = Substring(parts[1])
        var prefix = ""
        if let slash = rest.firstIndex(of: "/") {
            prefix = String(rest[slash...])
            rest = rest[..<slash]
            while prefix.hasSuffix("/") { prefix.removeLast() }
        }
        pathPrefix = prefix
        if let colon = rest.lastIndex(of: ":"), !rest.hasSuffix("]") {
            guard let p = Int(rest[rest.index(after: colon)...]), (1...65535).contains(p) else { return nil }
            port = p
            host = String(rest[..<colon])
        } else {
            port = nil
            host = String(rest)
        }
        if host.isEmpty { return nil }
    }

    /// The Host header: the port is left out when it is the scheme's default.
    public var hostHeader: String {
        guard let port, !(scheme == "https" && port == 443), !(scheme == "http" && port == 80) else { return host }
        return "\(host):\(port)"
    }

    public var description: String { "\(scheme)://\(hostHeader)\(pathPrefix)" }
}

/// One HTTP request.
public struct HTTPRequest: Sendable {
    /// GET, POST, PUT, DELETE.
    public var method: String
    /// The service.
    public var endpoint: ServiceEndpoint
    /// The path, starting with `/` (without the endpoint's prefix), not percent-encoded.
    public var path: String
    /// Query parameters in order, not encoded.
    public var query: [(String, String)]
    /// Header fields in order.
    public var headers: [(String, String)]
    /// The body (empty for none).
    public var body: [UInt8]

    /// Creates a request.
    public init(method: String, endpoint: ServiceEndpoint, path: String, query: [(String, String)] = [],
                headers: [(String, String)] = [], body: [UInt8] = []) {
        self.method = method; self.endpoint = endpoint; self.path = path; self.query = query
        self.headers = headers; self.body = body
    }

    /// The encoded path with the endpoint's prefix.
    public var encodedPath: String { URLEncoding.path(endpoint.pathPrefix + path) }
    /// The encoded query string (without `?`), parameters in the given order.
    public var encodedQuery: String {
        query.map { URLEncoding.component($0.0) + "=" + URLEncoding.component($0.1) }.joined(separator: "&")
    }
    /// The full URL.
    public var url: String {
        let q = encodedQuery
        return "\(endpoint.scheme)://\(endpoint.hostHeader)\(encodedPath)" + (q.isEmpty ? "" : "?" + q)
    }
    /// The value of the first header named `name` (any case).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0.lowercased() == lower }?.1
    }
}

/// One HTTP response.
public struct HTTPResponse: Sendable {
    /// Status code.
    public var status: Int
    /// Header fields, names as received.
    public var headers: [(String, String)]
    /// The body.
    public var body: [UInt8]

    /// Creates a response.
    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status; self.headers = headers; self.body = body
    }

    /// The value of the first header named `name` (any case).
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0.lowercased() == lower }?.1
    }
}

/// The request never got an HTTP response: connection refused or reset, TLS failure, timeout.
public struct HTTPTransportError: Error, Sendable, CustomStringConvertible {
    /// What failed (never contains request headers or bodies).
    public var message: String
    /// Whether the transport gave up because the time allowed ran out.
    public var timedOut: Bool
    /// Creates an error.
    public init(message: String, timedOut: Bool = false) { self.message = message; self.timedOut = timedOut }
    public var description: String { message }
}

/// Sends one request and waits for its response, at most `timeout`.
public protocol HTTPSending: Sendable {
    /// Sends `request`; throws when no HTTP response arrived in time.
    func send(_ request: HTTPRequest, timeout: Duration) throws(HTTPTransportError) -> HTTPResponse
}

/// Percent-encoding as the API gateway's canonical request expects (RFC 3986 unreserved characters kept).
public enum URLEncoding {
    private static let hex = Array("0123456789ABCDEF".utf8)

    private static func isUnreserved(_ c: UInt8) -> Bool {
        (65...90).contains(c) || (97...122).contains(c) || (48...57).contains(c)
            || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".") || c == UInt8(ascii: "~")
    }

    /// One query key or value, or one path segment.
    public static func component(_ text: String) -> String {
        var out: [UInt8] = []
        for c in text.utf8 {
            if isUnreserved(c) { out.append(c) } else { out += [UInt8(ascii: "%"), hex[Int(c >> 4)], hex[Int(c & 0xf)]] }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A path: each segment encoded, the slashes kept.
    public static func path(_ text: String) -> String {
        text.split(separator: "/", omittingEmptySubsequences: false).map { component(String($0)) }.joined(separator: "/")
    }
}
