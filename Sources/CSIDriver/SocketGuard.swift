import Glibc

/// Checks a unix socket endpoint before binding and sets its mode after: the directory must exist, and a
/// socket file another live server still answers on is never taken over (a stale one is replaced).
public enum SocketGuard {
    /// Why the driver refuses to bind, with what the user should do.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        /// The socket's directory does not exist.
        case directoryMissing(String)
        /// A live server accepts connections on the socket.
        case socketInUse(String)
        /// Something other than a socket sits at the path.
        case notASocket(String)

        public var description: String {
            switch self {
            case .directoryMissing(let dir):
                "the socket directory \(dir) does not exist: create it (mkdir -p \(dir)) or choose another --endpoint"
            case .socketInUse(let path):
                "another server is already listening on \(path): stop it, or choose another --endpoint"
            case .notASocket(let path):
                "\(path) exists and is not a socket: remove it or choose another --endpoint"
            }
        }
    }

    /// The file path of a `unix://` endpoint, or nil for other endpoints.
    public static func unixPath(of endpoint: String) -> String? {
        guard endpoint.hasPrefix("unix://") else { return nil }
        return String(endpoint.dropFirst("unix://".count))
    }

    /// Throws a `Refusal` when binding `path` would fail or steal a live server's socket.
    public static func check(path: String) throws(Refusal) {
        let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
        var info = stat()
        let dir = directory.isEmpty ? "." : directory
        if stat(dir, &info) != 0 || (info.st_mode & S_IFMT) != S_IFDIR { throw .directoryMissing(dir) }
        guard lstat(path, &info) == 0 else { return }  // nothing there: fine
        guard (info.st_mode & S_IFMT) == S_IFSOCK else { throw .notASocket(path) }
        if isLive(path) { throw .socketInUse(path) }
    }

    /// Sets the socket file's mode (e.g. 0660) once the server has bound it.
    public static func setMode(path: String, mode: UInt32) -> Bool {
        chmod(path, mode_t(mode)) == 0
    }

    /// Whether a server accepts a connection on the socket at `path`.
    static func isLive(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            buffer.copyBytes(from: bytes)
            buffer[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }
}
