#if canImport(Glibc)
import Glibc
#endif

/// Small Foundation-free file helpers for the driver.
public enum FileAccess {
    /// The bytes of a small file, or nil if it cannot be read.
    static func read(_ path: String) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 { return nil }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { return result }
            result.append(contentsOf: chunk[0..<n])
        }
    }

    /// The file as UTF-8 text, or nil.
    static func text(_ path: String) -> String? { read(path).map { String(decoding: $0, as: UTF8.self) } }

    /// `mkdir -p path` with mode 0755; throws a message naming the directory and errno.
    public static func makeDirectories(_ path: String) throws(DriverFileError) {
        var prefix = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            prefix += "/" + component
            if mkdir(prefix, 0o755) != 0 && errno != EEXIST {
                throw DriverFileError(description: "mkdir \(prefix): \(String(cString: strerror(errno)))")
            }
        }
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw DriverFileError(description: "\(path) is not a directory")
        }
    }
}

public struct DriverFileError: Error, CustomStringConvertible {
    public let description: String
}
