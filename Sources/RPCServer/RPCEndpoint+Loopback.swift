#if canImport(Glibc)
import Glibc
#endif

extension RPCEndpoint {
    /// Whether only this machine can reach the endpoint: a unix socket, or a TCP address that is `localhost`
    /// or a loopback IP literal (127.0.0.0/8, ::1, ::ffff:127.x.x.x). Any other host name is not loopback:
    /// it could resolve to anything.
    public var isLoopback: Bool {
        switch self {
        case .unix: return true
        case .tcp(let host, _): return Self.isLoopbackHost(host)
        }
    }

    static func isLoopbackHost(_ host: String) -> Bool {
        let lowered = host.lowercased()
        if lowered == "localhost" || lowered == "localhost." { return true }
        var v4 = in_addr()
        if inet_pton(AF_INET, host, &v4) == 1 {
            return UInt32(bigEndian: v4.s_addr) >> 24 == 127
        }
        var v6 = in6_addr()
        if inet_pton(AF_INET6, host, &v6) == 1 {
            let bytes = withUnsafeBytes(of: &v6) { Array($0) }
            if bytes[0..<15].allSatisfy({ $0 == 0 }) && bytes[15] == 1 { return true }  // ::1
            let mapped = bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF
            return mapped && bytes[12] == 127  // ::ffff:127.x.x.x
        }
        return false
    }
}
