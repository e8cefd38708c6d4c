// The node operations the CSI Node service needs, as plain Swift.
//
// Guarantees (see docs/node.md):
// - Idempotent: every operation first reads the kernel's state (mountinfo, sysfs loop entries, stat) and returns
//   success when the wanted state is already there; state that conflicts is an error, never overwritten.
// - No leaks: every step that changes state pushes its inverse on an `UndoLog`; when a later step throws,
//   the log runs backwards (unmount, detach a loop device this call attached, remove files and directories
//   this call created). A file system made by mkfs is not undone: it was made only on a blank device.
// - No state of its own: which image a loop device serves comes from the kernel (LOOP_GET_STATUS64: the backing
//   file's device and inode numbers, compared with stat() of the image, never the path text), what is mounted
//   from mountinfo, so a restarted driver carries on where the last one stopped, in whatever mount namespace.
#if canImport(Glibc)
import Glibc
#endif

/// The node side of the driver: loop devices, file systems and mounts for the driver's disk images.
/// Stateless and `Sendable`; callers serialise operations on one volume (the CSI driver's in-flight
/// rule answers ABORTED for a second concurrent request on the same volume).
public struct NodeOperations: Sendable {
    /// Name of the file, under a block volume's staging path, on which the loop device node is bind-mounted.
    public static let blockDeviceFileName = "block"

    public init() {}

    // MARK: Loop devices

    /// Returns the loop device bound to `image`, binding a free one (LOOP_CTL_GET_FREE + LOOP_SET_FD) when none is.
    /// Idempotent: a device already bound to the file (the same device and inode numbers) with the same
    /// read-only state is reused. `readOnly` binds the image opened O_RDONLY: a read-only device.
    @discardableResult
    public func attachLoop(image: String, readOnly: Bool = false) throws -> LoopDevice {
        try LoopDevices.attach(image: image, readOnly: readOnly).device
    }

    /// Unbinds every loop device bound to `image` (LOOP_CLR_FD). Idempotent: nothing bound, or the image gone, is success.
    /// A device with a mounted file system or bind-mounted node is refused with `alreadyInUseElsewhere`.
    public func detachLoop(image: String) throws {
        let table = try MountTable.current()
        for device in try LoopDevices.bound(toPath: image) {
            if let user = NodeOperations.users(of: device, in: table).first {
                throw NodeOpsError.alreadyInUseElsewhere(path: device.path, by: "mount at \(user.mountPoint)")
            }
            try LoopDevices.detach(device)
        }
    }

    /// Makes every loop device bound to `image` pick up the image's current size (LOOP_SET_CAPACITY); returns the
    /// new device size in bytes. `notAttached` when no device is bound to it.
    @discardableResult
    public func refreshLoopSize(image: String) throws -> Int64 {
        let device = try attachedDevice(image: image)
        try refreshCapacity(of: device)
        return try blockDeviceSize(major: LoopDevice.major, minor: UInt32(device.number))
    }

    /// LOOP_SET_CAPACITY on `device` and every other device of its image (the read-only one of a read-only
    /// block publish).
    func refreshCapacity(of device: LoopDevice) throws {
        for other in try LoopDevices.all() where other.number == device.number || other.sharesBacking(with: device) {
            try LoopDevices.refreshCapacity(other)
        }
    }

    // MARK: Helpers

    func attachedDevice(image: String) throws -> LoopDevice {
        guard let identity = try FileIdentity.of(image) else { throw NodeOpsError.notFound(path: image) }
        let devices = try LoopDevices.bound(to: identity)
        guard let device = devices.first(where: { !$0.readOnly }) ?? devices.first else { throw NodeOpsError.notAttached(image: image) }
        return device
    }

    /// Mounts that use `device`: its file system mounted anywhere, or its node bind-mounted (a mount whose root is
    /// `.../loopN` on the /dev file system).
    static func users(of device: LoopDevice, in table: MountTable) -> [MountEntry] {
        let nodeName = "loop\(device.number)"
        return table.entries.filter { entry in
            (entry.major == LoopDevice.major && Int(entry.minor) == device.number)
                || ((entry.fsType == "devtmpfs" || entry.fsType == "tmpfs") && entry.root.split(separator: "/").last.map(String.init) == nodeName)
        }
    }

    func describe(_ entry: MountEntry, _ device: LoopDevice?) -> String {
        if let device { return "\(entry.fsType) on \(device)" }
        return "\(entry.fsType) from \(entry.source)" + (entry.root == "/" ? "" : " (\(entry.root))")
    }

    func checkReadOnly(_ entry: MountEntry, path: String, wanted: Bool) throws {
        guard entry.isReadOnly == wanted else {
            throw NodeOpsError.mountOptionsDiffer(path: path, found: entry.isReadOnly ? "ro" : "rw", wanted: wanted ? "ro" : "rw")
        }
    }

    /// Creates an empty regular file unless one exists; true when this call created it.
    func createEmptyFile(_ path: String) throws -> Bool {
        if let st = try statOrNil(path) {
            guard isRegularFile(st) || isBlockDevice(st) else {
                throw NodeOpsError.syscallFailed(call: "create file", path: path, errno: EEXIST)
            }
            return false
        }
        let fd = try sys("open", path) { open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, createdFileMode) }
        fchmod(fd, createdFileMode)  // exactly 0640 whatever the umask: how unpublish and unstage recognise it
        close(fd)
        return true
    }

    func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
