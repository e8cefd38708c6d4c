#if canImport(Glibc)
import Glibc
#endif

/// Small Foundation-free file helpers for the driver.
public enum FileAccess {
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
