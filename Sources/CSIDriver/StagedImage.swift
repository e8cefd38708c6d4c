import Glibc
import NodeOps

/// Checks on a disk's data file by its path in this mount namespace (what is staged where is NodeOps'
/// `content(at:)`, by device and inode numbers).
enum StagedImage {
    /// Whether something exists at `path` (lstat: a dangling symbolic link counts).
    static func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    /// Why the data at `path` (an image file or a block device) cannot be read, or nil: missing, another kind
    /// of file, or unreadable (VOLUME_CONDITION in NodeGetVolumeStats).
    static func dataProblem(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0 else {
            return errno == ENOENT ? "image \(path) is missing" : "image \(path) cannot be examined (errno \(errno))"
        }
        let kind = info.st_mode & S_IFMT
        guard kind == S_IFREG || kind == S_IFBLK else { return "image \(path) is not a regular file or block device" }
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return "image \(path) is unreadable (errno \(errno))" }
        close(fd)
        return nil
    }

    /// The canonical form of an image path (the form a loop device reports), or the path as given.
    static func canonical(_ path: String) -> String {
        guard let resolved = realpath(path, nil) else { return path }
        defer { free(resolved) }
        return String(cString: resolved)
    }
}
