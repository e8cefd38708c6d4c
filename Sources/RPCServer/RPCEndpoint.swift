/// Where a server listens or a client connects.
///
/// Written as `unix:///absolute/path` (the default form for CSI), `unix:/absolute/path`, a bare
/// absolute path, or `tcp://host:port` (`tcp://[::1]:50051`; port 0 lets the server choose).
public enum RPCEndpoint: Sendable, Equatable, CustomStringConvertible {
    /// A unix domain socket at an absolute path of at most 107 bytes.
    case unix(path: String)
    /// A TCP address: host name or IP literal (IPv6 without brackets) and port.
    case tcp(host: String, port: Int)

    /// The longest unix socket path the kernel accepts (sun_path minus the NUL).
    public static let maxUnixPathBytes = 107

    /// Parses the endpoint forms listed on the type.
    public init(parsing text: String) throws(RPCSetupError) {
        if text.hasPrefix("unix://") || text.hasPrefix("unix:") || text.hasPrefix("/") {
            var path = Substring(text)
            if path.hasPrefix("unix://") {
                path = path.dropFirst("unix://".count)
            } else if path.hasPrefix("unix:") {
                path = path.dropFirst("unix:".count)
            }
            guard path.hasPrefix("/") else {
                throw .invalidEndpoint(text, reason: "a unix socket path must be absolute (unix:///dir/name.sock)")
            }
            guard path.utf8.count <= Self.maxUnixPathBytes else {
                throw .invalidEndpoint(
                    text, reason: "unix socket path is \(path.utf8.count) bytes; at most \(Self.maxUnixPathBytes) are allowed")
            }
            guard !path.hasSuffix("/") else {
                throw .invalidEndpoint(text, reason: "unix socket path names a directory")
            }
            self = .unix(path: String(path))
            return
        }
        guard text.hasPrefix("tcp://") else {
            throw .invalidEndpoint(text, reason: "expected unix:///path or tcp://host:port")
        }
        let rest = text.dropFirst("tcp://".count)
        guard let colon = rest.lastIndex(of: ":") else {
            throw .invalidEndpoint(text, reason: "missing :port")
        }
        var host = rest[..<colon]
        let portText = rest[rest.index(after: colon)...]
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw .invalidEndpoint(text, reason: "port must be a number from 0 to 65535")
        }
        if host.hasPrefix("["), host.hasSuffix("]") {
            host = host.dropFirst().dropLast()
        }
        guard !host.isEmpty, !host.contains("/") else {
            throw .invalidEndpoint(text, reason: "missing or malformed host")
        }
        self = .tcp(host: String(host), port: port)
    }

    /// The canonical text form (`unix:///path`, `tcp://host:port`).
    public var description: String {
        switch self {
        case .unix(let path): "unix://\(path)"
        case .tcp(let host, let port): host.contains(":") ? "tcp://[\(host)]:\(port)" : "tcp://\(host):\(port)"
        }
    }

    /// The address string gRPC's C core wants (`unix:///path`, `host:port`).
    var grpcAddress: String {
        switch self {
        case .unix(let path): "unix://\(path)"
        case .tcp(let host, let port): host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}

/// A server or client could not be set up. Each case names the endpoint and says why.
public enum RPCSetupError: Error, Equatable, CustomStringConvertible {
    /// The endpoint text is not one of the accepted forms.
    case invalidEndpoint(String, reason: String)
    /// The server could not listen on the endpoint (grpc_server_add_http2_port returned 0).
    case bindFailed(endpoint: String, reason: String)
    /// The core refused to create the client channel.
    case channelFailed(endpoint: String)

    /// One actionable line.
    public var description: String {
        switch self {
        case .invalidEndpoint(let text, let reason): "invalid endpoint \"\(text)\": \(reason)"
        case .bindFailed(let endpoint, let reason): "cannot listen on \(endpoint): \(reason)"
        case .channelFailed(let endpoint): "cannot create a channel to \(endpoint)"
        }
    }
}
