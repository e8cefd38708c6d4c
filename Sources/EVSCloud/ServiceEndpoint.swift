// Where the EVS client sends its requests. The HTTP model is HTTPTransport's, used as it is: HTTPRequest,
// HTTPResponse and HTTPTransportError (the driver's one HTTP client, libcurl, Foundation-free). This file adds only
// what a cloud service needs on top: a service endpoint, and a request built from an endpoint, a path and query
// parameters, percent-encoded in the form the API gateway signs (Signer.swift reads it back from the URL).
import HTTPTransport

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

extension HTTPRequest {
    /// A request to `path` (not encoded, starting with `/`, after the endpoint's prefix) of `endpoint`, with `query`
    /// parameters in the given order. Path segments, keys and values are percent-encoded with `URLEncoding`.
    public init(method: String, endpoint: ServiceEndpoint, path: String, query: [(String, String)] = [],
                headers: [HTTPHeader] = [], body: [UInt8] = [], timeout: Duration? = nil,
                deadline: ContinuousClock.Instant? = nil) {
        let encodedQuery = URLEncoding.query(query)
        let url = "\(endpoint.scheme)://\(endpoint.hostHeader)" + URLEncoding.path(endpoint.pathPrefix + path)
            + (encodedQuery.isEmpty ? "" : "?" + encodedQuery)
        self.init(method: method, url: url, headers: headers, body: body, timeout: timeout, deadline: deadline)
    }

    /// The parts of `url` the signature covers: the authority (`host[:port]`, the Host header), the encoded path
    /// (`/` when empty) and the encoded query (without `?`).
    var urlParts: (authority: Substring, path: Substring, query: Substring) {
        var rest = Substring(url)
        if let scheme = rest.firstRange(of: "://") { rest = rest[scheme.upperBound...] }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        rest = rest[authorityEnd...]
        let queryStart = rest.firstIndex(of: "?")
        let path = queryStart.map { rest[..<$0] } ?? rest
        let query = queryStart.map { rest[rest.index(after: $0)...] } ?? rest[rest.endIndex...]
        return (authority, path.isEmpty ? "/" : path, query)
    }
}
