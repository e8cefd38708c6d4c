#if canImport(Glibc)
import Glibc
#endif

/// Every failure NodeOps reports. The CSI Node service maps each case to one gRPC status;
/// NodeOps itself knows nothing of gRPC.
public enum NodeOpsError: Error, Equatable, Sendable, CustomStringConvertible {
    /// A path that must be a mount point (a staging path before publish, a volume path for stats
    /// or expansion) is not one.
    case notMounted(path: String)
    /// The path is already used by something else: another image staged there, another source
    /// published there, or a loop device still mounted somewhere.
    case alreadyInUseElsewhere(path: String, by: String)
    /// The device already holds a file system (or partition table) other than the one requested.
    /// NodeOps never reformats a device that holds data.
    case fsMismatch(device: String, found: String, wanted: String)
    /// The path is mounted as requested except for its read-only state or mount flags.
    case mountOptionsDiffer(path: String, found: String, wanted: String)
    /// An external command exited with a non-zero status (or could not be started: status -1).
    case commandFailed(command: String, stderr: String, status: Int32)
    /// A system call failed; `errno` is the raw value (see `errnoName`).
    case syscallFailed(call: String, path: String, errno: Int32)
    /// A file that must exist (an image, a staging path, a volume path) does not.
    case notFound(path: String)
    /// The image has no loop device attached (expand or refresh before stage).
    case notAttached(image: String)
    /// The file-system type is not one NodeOps can create (ext4, xfs).
    case unsupportedFileSystem(String)
    /// A blank device was staged read-only: it cannot be formatted, so it cannot be mounted.
    case blankReadOnly(device: String)
    /// The path names a symbolic link: unstage and unpublish never follow one (it could lead to another
    /// volume's mount or a host file).
    case symbolicLink(path: String)
    /// A mounted file system cannot be grown by this process: the kernel wants `capability` for an online grow.
    /// The device already has the new size; the file system grows when the volume is next staged. Nothing was
    /// unmounted.
    case onlineResizeNotPermitted(device: String, path: String, capability: String)

    public var description: String {
        switch self {
        case .notMounted(let path):
            return "\(path) is not a mount point"
        case .alreadyInUseElsewhere(let path, let by):
            return "\(path) is already in use by \(by)"
        case .fsMismatch(let device, let found, let wanted):
            return "\(device) holds \(found), not the requested \(wanted); refusing to reformat a disk that holds data"
        case .mountOptionsDiffer(let path, let found, let wanted):
            return "\(path) is mounted with \(found), but \(wanted) was requested"
        case .commandFailed(let command, let stderr, let status):
            let detail = stderr.trimmingTrailingWhitespace
            return "\(command) failed with status \(status)" + (detail.isEmpty ? "" : ": \(detail)")
        case .syscallFailed(let call, let path, let code):
            return "\(call)(\(path)) failed: \(errnoName(code)) (\(String(cString: strerror(code))))"
        case .notFound(let path):
            return "\(path) does not exist"
        case .notAttached(let image):
            return "no loop device is attached to \(image)"
        case .unsupportedFileSystem(let type):
            return "file system type \(type) is not supported (ext4, xfs)"
        case .blankReadOnly(let device):
            return "\(device) holds no file system and cannot be formatted read-only"
        case .symbolicLink(let path):
            return "\(path) is a symbolic link; the driver never creates one there and does not follow it"
        case .onlineResizeNotPermitted(let device, let path, let capability):
            return "the file system of \(device) mounted at \(path) cannot be grown while it is mounted: the kernel grows "
                + "a mounted file system only for a process with \(capability), which the node plugin lacks; the disk "
                + "is grown, and its file system grows when the volume is next staged (once no pod on this node uses it); "
                + "nothing was unmounted"
        }
    }

    /// The errno of a `syscallFailed` error, nil for the other cases.
    public var errno: Int32? {
        if case .syscallFailed(_, _, let code) = self { return code }
        return nil
    }
}

/// The symbolic name of the errno values NodeOps meets most; the number otherwise.
func errnoName(_ code: Int32) -> String {
    switch code {
    case EPERM: return "EPERM"
    case ENOENT: return "ENOENT"
    case EIO: return "EIO"
    case ENXIO: return "ENXIO"
    case EBADF: return "EBADF"
    case EACCES: return "EACCES"
    case EBUSY: return "EBUSY"
    case EEXIST: return "EEXIST"
    case ENOTDIR: return "ENOTDIR"
    case EISDIR: return "EISDIR"
    case EINVAL: return "EINVAL"
    case ENOSPC: return "ENOSPC"
    case EROFS: return "EROFS"
    case ENOTEMPTY: return "ENOTEMPTY"
    case ENODEV: return "ENODEV"
    case ENOTBLK: return "ENOTBLK"
    default: return "errno \(code)"
    }
}

extension String {
    var trimmingTrailingWhitespace: String {
        var s = Substring(self)
        while let last = s.last, last.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
