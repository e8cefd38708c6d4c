// Reading a whole small file without Foundation (the driver links none): kubeconfigs, token and CA files, sysfs,
// procfs (mountinfo) and registry files, the EVS credentials. One helper for the modules below the driver's executable.
#if canImport(Glibc)
import Glibc
#endif

/// A file that cannot be read: its path and why (errno's text, or the size limit).
public struct FileReadError: Error, Sendable, Equatable, CustomStringConvertible {
    public let path: String
    public let reason: String
    /// The system call that failed, `open` or `read`; nil when the file was larger than the limit.
    public let call: String?
    /// That call's errno; nil when the file was larger than the limit.
    public let code: Int32?
    public var description: String { "cannot read \(path): \(reason)" }
}

public enum FileBytes {
    /// The bytes of the file at `path`, read to its end (retrying EINTR); an error when it cannot be opened or
    /// read, or holds more than `limit` bytes.
    public static func read(_ path: String, limit: Int = 16 << 20) throws(FileReadError) -> [UInt8] {
        func failure(_ call: String) -> FileReadError {
            let code = errno
            return FileReadError(path: path, reason: String(cString: strerror(code)), call: call, code: code)
        }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure("open") }
        defer { close(fd) }
        var result: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 16384)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 {
                if errno == EINTR { continue }
                throw failure("read")
            }
            if n == 0 { return result }
            guard result.count + n <= limit else {
                throw FileReadError(path: path, reason: "larger than \(limit) bytes", call: nil, code: nil)
            }
            result.append(contentsOf: chunk[0..<n])
        }
    }

    /// The file as UTF-8 text (invalid sequences replaced), or nil when it cannot be read.
    public static func text(_ path: String, limit: Int = 16 << 20) -> String? {
        (try? read(path, limit: limit)).map { String(decoding: $0, as: UTF8.self) }
    }
}
