import FileBytes
import Glibc
import NodeOps

/// Which disk image a staged or published path shows: the backing file of the loop device mounted there
/// (a file system), bound there (a block target), or bound at `<path>/block` (a block staging). The Node
/// service uses it to check that a request's paths hold the request's volume, and to find the image when
/// no publish context is given (NodeExpandVolume on a node-only process).
enum StagedImage {
    /// What is at a path.
    enum Found: Equatable {
        /// Nothing mounted or bound there.
        case nothing
        /// A loop device whose backing file is this (canonical) image path.
        case image(String)
        /// Something that is not a loop device (described).
        case other(String)
    }

    /// What `path` shows; `.nothing` when the path does not exist.
    static func at(_ path: String) throws -> Found {
        guard let resolved = realpath(path, nil) else { return .nothing }
        let canonical = String(cString: resolved)
        free(resolved)
        var info = stat()
        if stat(canonical, &info) == 0, (info.st_mode & S_IFMT) == S_IFBLK {
            return device(major: major(info.st_rdev), minor: minor(info.st_rdev))
        }
        if let entry = try MountTable.current().topmost(at: canonical) {
            return device(major: entry.major, minor: entry.minor, describing: "\(entry.fsType) from \(entry.source)")
        }
        let file = canonical + "/" + NodeOperations.blockDeviceFileName
        if stat(file, &info) == 0, (info.st_mode & S_IFMT) == S_IFBLK {
            return device(major: major(info.st_rdev), minor: minor(info.st_rdev))
        }
        return .nothing
    }

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

    private static func device(major: UInt32, minor: UInt32, describing: String? = nil) -> Found {
        let loopMajor: UInt32 = 7
        guard major == loopMajor,
              let text = FileBytes.text("/sys/dev/block/\(major):\(minor)/loop/backing_file")
        else { return .other(describing ?? "block device \(major):\(minor)") }
        var backing = String(text.drop { $0.isWhitespace })
        while let last = backing.last, last.isWhitespace { backing.removeLast() }
        if backing.hasSuffix(" (deleted)") { backing.removeLast(" (deleted)".count) }
        return .image(backing)
    }

    private static func major(_ dev: dev_t) -> UInt32 {
        UInt32(truncatingIfNeeded: ((dev >> 32) & 0xFFFF_F000) | ((dev >> 8) & 0x0000_0FFF))
    }

    private static func minor(_ dev: dev_t) -> UInt32 {
        UInt32(truncatingIfNeeded: ((dev >> 12) & 0xFFFF_FF00) | (dev & 0x0000_00FF))
    }
}
