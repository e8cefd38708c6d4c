// Loop devices through ioctls, not losetup: LOOP_CTL_GET_FREE on /dev/loop-control finds (or creates) a free
// device, LOOP_SET_FD binds it to the image, LOOP_CLR_FD unbinds it, LOOP_SET_CAPACITY re-reads the size.
// Which image a device serves is the kernel's answer to LOOP_GET_STATUS64: the device and inode numbers of its
// backing file, compared with stat() of the image. Never the path text in /sys/block/loopN/loop/backing_file:
// the kernel writes that path as seen through the mount the file was opened by, which in a container is the
// container's own hostPath bind mount; once that container is gone (a DaemonSet restart or upgrade) it reads
// `/disks/<id>.img` to everyone (issue 19). NodeOps keeps no state of its own, so a restarted driver, in any
// mount namespace, finds its devices again.
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// A file as the kernel tells files apart: the device it is on and its inode number (`st_dev`, `st_ino`). Two
/// paths name the same file, through whatever mounts, exactly when their identities are equal; an inode number
/// is not reused while a loop device holds the file open, even after the file is unlinked.
public struct FileIdentity: Sendable, Hashable, CustomStringConvertible {
    /// `st_dev`, in glibc's dev_t encoding.
    public var device: UInt64
    /// `st_ino`.
    public var inode: UInt64

    public init(device: UInt64, inode: UInt64) {
        self.device = device
        self.inode = inode
    }

    init(_ st: stat) {
        self.init(device: UInt64(st.st_dev), inode: UInt64(st.st_ino))
    }

    /// The identity of the file at `path` (symbolic links followed); nil when nothing is there.
    public static func of(_ path: String) throws -> FileIdentity? {
        try statOrNil(path).map(FileIdentity.init)
    }

    public var description: String { "inode \(inode) on \(deviceMajor(dev_t(device))):\(deviceMinor(dev_t(device)))" }
}

/// A loop device bound to an image file.
public struct LoopDevice: Sendable, Hashable, CustomStringConvertible {
    /// N in /dev/loopN.
    public var number: Int
    /// The backing file's path as the kernel reports it (sysfs): for messages only. It is the path through the
    /// mount the file was opened by, so it may not exist in this mount namespace; `backing` says which file it is.
    public var backingFile: String
    /// The backing file's identity (LOOP_GET_STATUS64's lo_device and lo_inode); nil only when the kernel's
    /// status could not be read (the device was unbound meanwhile).
    public var backing: FileIdentity?
    /// Whether the device is read-only (/sys/block/loopN/ro): NodeOps binds a second, read-only device to the
    /// image for a read-only block publish, because a read-only bind of a device node does not stop writes.
    public var readOnly: Bool

    /// The device node, `/dev/loopN`.
    public var path: String { "/dev/loop\(number)" }
    /// The block major of every loop device.
    public static let major: UInt32 = 7

    public var description: String { "\(path) (\(backingFile)\(readOnly ? ", read-only" : ""))" }

    public init(number: Int, backingFile: String, backing: FileIdentity? = nil, readOnly: Bool = false) {
        self.number = number
        self.backingFile = backingFile
        self.backing = backing
        self.readOnly = readOnly
    }

    /// Whether this device serves the file with identity `image`.
    public func serves(_ image: FileIdentity) -> Bool { backing == image }

    /// Whether this device and `other` serve the same file.
    public func sharesBacking(with other: LoopDevice) -> Bool { backing != nil && backing == other.backing }

    /// Whether the backing file has been unlinked since it was bound (sysfs appends " (deleted)").
    public var backingDeleted: Bool { backingFile.hasSuffix(LoopDevices.deletedSuffix) }
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

    /// Devices bound to the file with identity `image`.
    static func bound(to image: FileIdentity) throws -> [LoopDevice] {
        try all().filter { $0.serves(image) }
    }

    /// Devices bound to the file at `image`; none when it does not exist.
    static func bound(toPath image: String) throws -> [LoopDevice] {
        guard let identity = try FileIdentity.of(image) else { return [] }
        return try bound(to: identity)
    }

    /// /dev/loop`number` if it is bound (its loop/ directory in sysfs exists only while it is).
    static func device(number: Int) -> LoopDevice? {
        guard let text = try? readWholeFile("\(sysBlock)/loop\(number)/loop/backing_file") else { return nil }
        let readOnly = (try? readWholeFile("\(sysBlock)/loop\(number)/ro"))?.hasPrefix("1") ?? false
        return LoopDevice(number: number, backingFile: text.trimmingTrailingWhitespace,
                          backing: backingIdentity(number: number), readOnly: readOnly)
    }

    /// LOOP_GET_STATUS64 on /dev/loop`number`: the backing file's device and inode numbers, the first two u64 of
    /// `struct loop_info64` (<linux/loop.h>; 232 bytes). The kernel fills them with vfs_getattr, as stat(2) does,
    /// and encodes the device with huge_encode_dev. nil when the device is not bound (ENXIO) or cannot be opened.
    static func backingIdentity(number: Int) -> FileIdentity? {
        let node = "/dev/loop\(number)"
        return try? withFD(node, O_RDONLY) { fd -> FileIdentity in
            var info = [UInt64](repeating: 0, count: 232 / 8)
            try info.withUnsafeMutableBytes { raw in
                _ = try sys("ioctl LOOP_GET_STATUS64", node) { ioctl(fd, IoctlRequest.loopGetStatus64, raw.baseAddress!) }
            }
            // huge_encode_dev: minor's low 8 bits, major from bit 8 (12 bits), minor's upper bits from bit 20.
            let encoded = info[0]
            let major = UInt32(truncatingIfNeeded: (encoded & 0xF_FF00) >> 8)
            let minor = UInt32(truncatingIfNeeded: (encoded & 0xFF) | ((encoded >> 12) & 0xFFF_FF00))
            return FileIdentity(device: UInt64(makeDevice(major: major, minor: minor)), inode: info[1])
        }
    }

    /// Returns a device bound to `image` with the wanted read-only state, reusing one if it exists (found by the
    /// image's device and inode numbers, in whatever mount namespace it was bound). `created` tells the caller
    /// whether it should detach the device when undoing. A read-only device is bound to the image opened O_RDONLY,
    /// which makes the kernel mark the device read-only (writes fail with EPERM).
    ///
    /// Never two devices of one image with the same read-only state: the look-up and LOOP_SET_FD run under a thread
    /// lock in this process and an exclusive open-file-description lock (fcntl F_OFD_SETLKW) on the image itself,
    /// which every attach in every process (an old plugin still running beside a new one) takes; see
    /// `withImageLock`.
    ///
    /// A crash between LOOP_SET_FD and the caller's mount leaves a bound, unmounted device; there is no record to fall out of step with: the next attach finds
    /// that device by identity and reuses it, and unstage with the image detaches it.
    /// `imageLocked`: the caller holds `withImageLock(image)` already (stage does, over probe, format and mount); a
    /// second OFD lock on the same file would wait for the caller's own.
    static func attach(image: String, readOnly: Bool = false, imageLocked: Bool = false) throws -> (device: LoopDevice, created: Bool) {
        guard let canonical = try canonicalPath(image) else { throw NodeOpsError.notFound(path: image) }
        guard let st = try statOrNil(canonical), isRegularFile(st) else {
            throw NodeOpsError.syscallFailed(call: "attach loop", path: image, errno: EINVAL)
        }
        if imageLocked { return try attachLock.withLock { _ in try attachLocked(canonical, readOnly: readOnly) } }
        return try withImageLock(canonical) {
            try attachLock.withLock { _ in try attachLocked(canonical, readOnly: readOnly) }
        }
    }

    /// Runs `body` holding an exclusive lock on `image` that excludes every other process taking it: an
    /// open-file-description lock (fcntl F_OFD_SETLKW, Linux >= 3.15) on a descriptor of its own, released when that
    /// descriptor closes (the end of `body`) or the process dies. It also conflicts with classic POSIX record locks.
    /// Not a classic POSIX lock (F_SETLKW): that belongs to the process and is dropped when the process closes *any*
    /// descriptor of the file, so another thread checking the image (NodeGetVolumeStats) ended it in the middle of
    /// an attach. Not flock(2) on the descriptor handed to LOOP_SET_FD: the kernel keeps that open file description
    /// for as long as the device is bound, so the lock would outlive the attach and the next one would wait forever
    /// (found by the kill-in-the-middle suite); the lock's descriptor here is never handed to the kernel.
    static func withImageLock<T>(_ image: String, _ body: () throws -> T) throws -> T {
        // A write lock needs a descriptor open for writing, whichever way the device will read the image.
        try withFD(image, O_RDWR) { lockFD in
            var region = flock()
            region.l_type = Int16(F_WRLCK)
            region.l_whence = Int16(SEEK_SET)
            region.l_start = 0
            region.l_len = 0  // to the end, however far the file grows
            region.l_pid = 0  // required for OFD locks
            try sys("fcntl F_OFD_SETLKW", image) { fcntl(lockFD, fcntlOFDSetLockWait, &region) }
            return try body()
        }
    }

    /// F_OFD_SETLKW from <bits/fcntl-linux.h> (Glibc's Swift module does not export the OFD commands).
    private static let fcntlOFDSetLockWait: Int32 = 38

    /// The look-up and LOOP_SET_FD of `attach`, with both locks held.
    private static func attachLocked(_ canonical: String, readOnly: Bool) throws -> (device: LoopDevice, created: Bool) {
        try withFD(canonical, readOnly ? O_RDONLY : O_RDWR) { imageFD in
            let identity = FileIdentity(try fileStatus(imageFD, canonical))
            if let existing = try bound(to: identity).first(where: { $0.readOnly == readOnly }) { return (existing, false) }
            return try withFD("/dev/loop-control", O_RDWR) { control in
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
                        return (LoopDevice(number: Int(number), backingFile: canonical, backing: identity, readOnly: readOnly), true)
                    } catch let error as NodeOpsError where error.errno == EBUSY {
                        lastError = error
                    }
                }
                throw lastError ?? NodeOpsError.syscallFailed(call: "attach loop", path: canonical, errno: EBUSY)
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
    ///
    /// While anyone else has the device open, the kernel only marks it to unbind at the last close (autoclear)
    /// and LOOP_CLR_FD succeeds at once. Other processes do open loop devices for a moment: every find-or-attach
    /// (ours, in any plugin process) reads LOOP_GET_STATUS64 from each device, and so do udev and `losetup`. So
    /// detach waits, up to `unbindWait`, until the kernel has really unbound it: a caller (unstage) that returns
    /// leaves no bound device behind, rather than one that goes away a moment later. A device held open longer
    /// (a process still using it) is left to the kernel's autoclear.
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
        let deadline = monotonicNanoseconds() + unbindWaitNanoseconds
        while isBound(number: device.number), monotonicNanoseconds() < deadline { usleep(2_000) }
    }

    /// How long `detach` waits for a deferred unbind (2 s).
    static let unbindWaitNanoseconds: UInt64 = 2_000_000_000

    /// Whether /dev/loop`number` has a backing file (sysfs shows `loop/backing_file` only while it is bound).
    static func isBound(number: Int) -> Bool {
        access("\(sysBlock)/loop\(number)/loop/backing_file", F_OK) == 0
    }

    private static func monotonicNanoseconds() -> UInt64 {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
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
