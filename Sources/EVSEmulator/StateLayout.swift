#if canImport(Glibc)
import Glibc
#endif
import EVSSnapshotRules

/// Where the emulator keeps a disk's data under its state directory, computable without opening the
/// emulator (a node-only process has the same state directory but must not open its database).
/// `EVSEmulator.diskImagePath` gives the same path (tested).
public enum StateLayout {
    /// `<state>/disks/<disk id>.img`. The id must be well-formed (`DiskID(validating:)`): nil otherwise, so
    /// no path is ever built from an id that could hold `/` or `..`.
    public static func diskImagePath(stateDirectory: String, id: DiskID) -> String? {
        guard EVSIdentifier.isWellFormed(id.rawValue) else { return nil }
        return stateDirectory + "/disks/" + id.rawValue + ".img"
    }

    /// Whether something exists at `path` (lstat: a dangling symbolic link counts).
    public static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Why the image file at `path` cannot serve a disk of `capacityBytes` (nil: unknown, not checked), or nil
    /// when it can: missing, not a regular file, unreadable, or shorter than the capacity.
    public static func imageProblem(path: String, capacityBytes: Int64? = nil) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let code = errno
            return code == ENOENT ? "image \(path) is missing" : "image \(path) cannot be examined: \(describe(errno: code))"
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else { return "image \(path) is not a regular file" }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "image \(path) is unreadable: \(describe(errno: errno))" }
        close(fd)
        if let capacityBytes, Int64(info.st_size) < capacityBytes {
            return "image \(path) holds \(info.st_size) bytes, less than the disk's capacity \(capacityBytes)"
        }
        return nil
    }

    private static func describe(errno code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return "\(String(cString: text)) (errno \(code))"
    }
}
