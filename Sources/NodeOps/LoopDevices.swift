// Loop devices through ioctls, not losetup: LOOP_CTL_GET_FREE on /dev/loop-control finds (or creates) a free
// device, LOOP_SET_FD binds it to the image, LOOP_CLR_FD unbinds it, LOOP_SET_CAPACITY re-reads the size.
// Which image a device serves is read back from sysfs (/sys/block/loopN/loop/backing_file), so NodeOps keeps
// no state of its own and a restarted driver finds its devices again.
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A loop device bound to an image file.
public struct LoopDevice: Sendable, Hashable, CustomStringConvertible {
    /// N in /dev/loopN.
    public var number: Int
    /// The image the kernel reports as backing file (canonical path at attach time).
    public var backingFile: String
    /// Whether the device is read-only (/sys/block/loopN/ro): NodeOps binds a second, read-only device to the
    /// image for a read-only block publish, because a read-only bind of a device node does not stop writes.
    public var readOnly: Bool

    /// The device node, `/dev/loopN`.
    public var path: String { "/dev/loop\(number)" }
    /// The block major of every loop device.
    public static let major: UInt32 = 7

    public var description: String { "\(path) (\(backingFile)\(readOnly ? ", read-only" : ""))" }

    public init(number: Int, backingFile: String, readOnly: Bool = false) {
        self.number = number
        self.backingFile = backingFile
        self.readOnly = readOnly
    }
}

/// Serialises find-or-attach across threads so one image never gets two devices from this process.
/// Guards nothing but the interval between the sysfs scan and LOOP_SET_FD; held by `LoopDevices.attach`
/// and `LoopDevices.detach` only.
private let attachLock = Mutex<Void>(())

/// Loop device operations; stateless, everything is read back from the kernel.
enum LoopDevices {
    static let sysBlock = "/sys/block"
    /// sysfs appends this to a backing file that was unlinked while attached.
    static let deletedSuffix = " (deleted)"

    /// Every bound loop device, read from sysfs.
    static func all() throws -> [LoopDevice] {
        guard let dir = opendir(sysBlock) else {
            throw NodeOpsError.syscallFailed(call: "opendir", path: sysBlock, errno: errno)
        }
        defer { closedir(dir) }
        var devices: [LoopDevice] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            guard name.hasPrefix("loop"), let number = Int(name.dropFirst(4)), let device = device(number: number) else { continue }
            devices.append(device)
        }
        return devices.sorted { $0.number < $1.number }
    }

    /// Devices bound to `image` (a canonical path). A file unlinked since is reported with " (deleted)" and
    /// no longer matches.
    static func bound(to image: String) throws -> [LoopDevice] {
        try all().filter { $0.backingFile == image }
    }

    /// /dev/loop`number` if it is bound (its loop/ directory in sysfs exists only while it is).
    static func device(number: Int) -> LoopDevice? {
        guard let backing = try? readWholeFile("\(sysBlock)/loop\(number)/loop/backing_file") else { return nil }
        let readOnly = (try? readWholeFile("\(sysBlock)/loop\(number)/ro"))?.hasPrefix("1") ?? false
        return LoopDevice(number: number, backingFile: backing.trimmingTrailingWhitespace, readOnly: readOnly)
    }

    /// Returns a device bound to `image` with the wanted read-only state, reusing one if it exists. `created` tells
    /// the caller whether it should detach the device when undoing. A read-only device is bound to the image opened
    /// O_RDONLY, which makes the kernel mark the device read-only (writes fail with EPERM).
    static func attach(image: String, readOnly: Bool = false) throws -> (device: LoopDevice, created: Bool) {
        guard let canonical = try canonicalPath(image) else { throw NodeOpsError.notFound(path: image) }
        guard let st = try statOrNil(canonical), isRegularFile(st) else {
            throw NodeOpsError.syscallFailed(call: "attach loop", path: image, errno: EINVAL)
        }
        return try attachLock.withLock { _ in
            if let existing = try bound(to: canonical).first(where: { $0.readOnly == readOnly }) { return (existing, false) }
            return try withFD(canonical, readOnly ? O_RDONLY : O_RDWR) { imageFD in
                try withFD("/dev/loop-control", O_RDWR) { control in
                    // Another process may take the free device between GET_FREE and SET_FD (EBUSY): ask again.
                    var lastError: NodeOpsError?
                    for _ in 0..<16 {
                        let number = try sys("ioctl LOOP_CTL_GET_FREE", "/dev/loop-control") {
                            ioctl(control, IoctlRequest.loopControlGetFree)
                        }
                        let node = "/dev/loop\(number)"
                        do {
                            try waitForNode(node)
                            try withFD(node, O_RDWR) { loopFD in
                                try sys("ioctl LOOP_SET_FD", node) { ioctl(loopFD, IoctlRequest.loopSetFD, imageFD) }
                            }
                            return (LoopDevice(number: Int(number), backingFile: canonical, readOnly: readOnly), true)
                        } catch let error as NodeOpsError where error.errno == EBUSY {
                            lastError = error
                        }
                    }
                    throw lastError ?? NodeOpsError.syscallFailed(call: "attach loop", path: image, errno: EBUSY)
                }
            }
        }
    }

    /// devtmpfs creates /dev/loopN when LOOP_CTL_GET_FREE adds a device; give it a moment, then create
    /// the node ourselves (block major 7) for a /dev without devtmpfs.
    private static func waitForNode(_ node: String) throws {
        for _ in 0..<50 {
            if try statOrNil(node) != nil { return }
            usleep(2_000)
        }
        guard let number = UInt32(node.dropFirst("/dev/loop".count)) else { return }
        let dev = (dev_t(LoopDevice.major) << 8) | dev_t(number & 0xFF) | (dev_t(number & ~0xFF) << 12)
        _ = try? sys("mknod", node) { mknod(node, S_IFBLK | 0o660, dev) }
    }

    /// Unbinds `device`; a device that is no longer bound (ENXIO) counts as done.
    static func detach(_ device: LoopDevice) throws {
        try attachLock.withLock { _ in
            do {
                try withFD(device.path, O_RDONLY) { fd in
                    try sys("ioctl LOOP_CLR_FD", device.path) { ioctl(fd, IoctlRequest.loopClearFD) }
                }
            } catch let error as NodeOpsError where error.errno == ENXIO || error.errno == ENOENT {
                return
            }
        }
    }

    /// LOOP_SET_CAPACITY: makes the device pick up a grown (or shrunk) image size.
    static func refreshCapacity(_ device: LoopDevice) throws {
        try withFD(device.path, O_RDONLY) { fd in
            try sys("ioctl LOOP_SET_CAPACITY", device.path) { ioctl(fd, IoctlRequest.loopSetCapacity) }
        }
    }
}

/// Size in bytes of block device `major:minor`, from /sys/dev/block/M:m/size (512-byte sectors).
func blockDeviceSize(major: UInt32, minor: UInt32) throws -> Int64 {
    let path = "/sys/dev/block/\(major):\(minor)/size"
    guard let sectors = Int64(try readWholeFile(path).trimmingTrailingWhitespace) else {
        throw NodeOpsError.syscallFailed(call: "read", path: path, errno: EINVAL)
    }
    return sectors * 512
}
