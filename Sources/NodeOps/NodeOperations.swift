// The node operations the CSI Node service needs, as plain Swift.
//
// Guarantees (see docs/node.md):
// - Idempotent: every operation first reads the kernel's state (mountinfo, sysfs loop entries, stat) and returns
//   success when the wanted state is already there; state that conflicts is an error, never overwritten.
// - No leaks: every step that changes state pushes its inverse on an `UndoLog`; when a later step throws,
//   the log runs backwards (unmount, detach a loop device this call attached, remove files and directories
//   this call created). A file system made by mkfs is not undone: it was made only on a blank device.
// - No state of its own: which image a loop device serves comes from sysfs, what is mounted from mountinfo,
//   so a restarted driver carries on where the last one stopped.
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
    /// Idempotent: a device already bound to the file (per /sys/block/loopN/loop/backing_file) with the same
    /// read-only state is reused. `readOnly` binds the image opened O_RDONLY: a read-only device.
    @discardableResult
    public func attachLoop(image: String, readOnly: Bool = false) throws -> LoopDevice {
        try LoopDevices.attach(image: image, readOnly: readOnly).device
    }

    /// Unbinds every loop device bound to `image` (LOOP_CLR_FD). Idempotent: nothing bound, or the image gone, is success.
    /// A device with a mounted file system or bind-mounted node is refused with `alreadyInUseElsewhere`.
    public func detachLoop(image: String) throws {
        guard let canonical = try canonicalPath(image) else { return }
        let table = try MountTable.current()
        for device in try LoopDevices.bound(to: canonical) {
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
        for other in try LoopDevices.bound(to: device.backingFile) {
            try LoopDevices.refreshCapacity(other)
        }
        return try blockDeviceSize(major: LoopDevice.major, minor: UInt32(device.number))
    }

    // MARK: Stage

    /// Binds `image` to a loop device and offers it at `stagingPath`:
    /// - `.mount`: probes the device (`blkid -p`), formats it only when blank, refuses another file system
    ///   (`fsMismatch`), and mounts it at `stagingPath` (created if missing) with `mountFlags` (+ `ro` if `readOnly`).
    /// - `.block`: bind-mounts the device node on `<stagingPath>/block`, so the staging survives in the kernel's
    ///   mount table and needs no record file. `readOnly` uses a read-only loop device.
    ///
    /// Idempotent: the same image already staged there is success (`alreadyStaged`); a different image, or the
    /// other access type, is `alreadyInUseElsewhere`. On failure everything this call did is undone.
    @discardableResult
    public func stage(image: String, stagingPath: String, access: VolumeAccess, readOnly: Bool) throws -> StagedVolume {
        guard let canonicalImage = try canonicalPath(image) else { throw NodeOpsError.notFound(path: image) }
        if let existing = try existingStaging(image: canonicalImage, stagingPath: stagingPath, access: access, readOnly: readOnly) {
            return existing
        }
        var undo = UndoLog()
        defer { undo.runUnlessCommitted() }

        let createdDirs = try makeDirectories(stagingPath)
        undo.push { removeDirectories(createdDirs) }
        guard let staging = try canonicalPath(stagingPath) else { throw NodeOpsError.notFound(path: stagingPath) }

        let blockReadOnly = access == .block && readOnly
        let (device, created) = try LoopDevices.attach(image: canonicalImage, readOnly: blockReadOnly)
        if created {
            undo.push { try? LoopDevices.detach(device) }
        }

        switch access {
        case .block:
            let file = staging + "/" + NodeOperations.blockDeviceFileName
            let createdFile = try createEmptyFile(file)
            if createdFile { undo.push { unlink(file) } }
            try sysMount(source: device.path, target: file, fsType: nil, flags: MountFlag.bind, data: nil)
            undo.push { try? sysUnmount(file) }
            if readOnly {
                try sysMount(source: nil, target: file, fsType: nil,
                             flags: MountFlag.bind | MountFlag.remount | MountFlag.readOnly, data: nil)
            }
            undo.commit()
            return StagedVolume(device: device, stagingPath: staging, blockDeviceFile: file, formatted: false, alreadyStaged: false)

        case .mount(let fsType, let mountFlags):
            var formatted = false
            switch try FileSystemProbe.probe(device.path) {
            case .blank:
                guard !readOnly else { throw NodeOpsError.blankReadOnly(device: device.path) }
                try FileSystemProbe.makeFileSystem(fsType, on: device.path)
                formatted = true
            case .fileSystem(let found) where found == fsType.rawValue:
                break
            case .fileSystem(let found):
                throw NodeOpsError.fsMismatch(device: device.path, found: found, wanted: fsType.rawValue)
            case .other(let found):
                throw NodeOpsError.fsMismatch(device: device.path, found: found, wanted: fsType.rawValue)
            }
            var words = mountFlags
            if readOnly { words.append("ro") }
            if fsType == .xfs && !words.contains("nouuid") { words.append("nouuid") }
            let options = ParsedMountOptions(words)
            try sysMount(source: device.path, target: staging, fsType: fsType.rawValue,
                         flags: options.flags, data: options.dataString)
            undo.commit()
            return StagedVolume(device: device, stagingPath: staging, blockDeviceFile: nil, formatted: formatted, alreadyStaged: false)
        }
    }

    /// Success (the staging as found) when `image` is already staged at `stagingPath` with `access`; nil when
    /// nothing is staged there; throws when something else is.
    private func existingStaging(image: String, stagingPath: String, access: VolumeAccess, readOnly: Bool) throws -> StagedVolume? {
        guard let staging = try canonicalPath(stagingPath) else { return nil }
        let table = try MountTable.current()
        let file = staging + "/" + NodeOperations.blockDeviceFileName
        if let entry = table.topmost(at: staging) {
            let device = entry.major == LoopDevice.major ? LoopDevices.device(number: Int(entry.minor)) : nil
            guard let device, device.backingFile == image else {
                throw NodeOpsError.alreadyInUseElsewhere(path: staging, by: describe(entry, device))
            }
            guard case .mount(let fsType, _) = access else {
                throw NodeOpsError.alreadyInUseElsewhere(path: staging, by: "a mounted \(entry.fsType) file system of \(image) (staged for mount, not block)")
            }
            // Already staged here with another file system: an incompatible capability for a staged volume
            // (CSI: ALREADY_EXISTS), not a disk that holds other data (fsMismatch is for a fresh stage).
            guard entry.fsType == fsType.rawValue else {
                throw NodeOpsError.mountOptionsDiffer(
                    path: staging, found: "file system \(entry.fsType)", wanted: "file system \(fsType.rawValue)")
            }
            guard entry.isReadOnly == readOnly else {
                throw NodeOpsError.mountOptionsDiffer(path: staging, found: entry.isReadOnly ? "ro" : "rw", wanted: readOnly ? "ro" : "rw")
            }
            return StagedVolume(device: device, stagingPath: staging, blockDeviceFile: nil, formatted: false, alreadyStaged: true)
        }
        if table.isMountPoint(file), let st = try statOrNil(file) {
            let device = isBlockDevice(st) && deviceMajor(st.st_rdev) == LoopDevice.major
                ? LoopDevices.device(number: Int(deviceMinor(st.st_rdev))) : nil
            guard let device, device.backingFile == image else {
                throw NodeOpsError.alreadyInUseElsewhere(path: staging, by: device.map { "block device \($0)" } ?? "a bind mount at \(file)")
            }
            guard access == .block else {
                throw NodeOpsError.alreadyInUseElsewhere(path: staging, by: "block device \(device) (staged for block, not mount)")
            }
            guard device.readOnly == readOnly else {
                throw NodeOpsError.mountOptionsDiffer(path: staging, found: device.readOnly ? "ro" : "rw", wanted: readOnly ? "ro" : "rw")
            }
            return StagedVolume(device: device, stagingPath: staging, blockDeviceFile: file, formatted: false, alreadyStaged: true)
        }
        return nil
    }

    // MARK: Unstage

    /// Unmounts whatever is staged at `stagingPath` (the file system, or the block device file, which is then removed)
    /// and detaches the loop devices it used once nothing else mounts them. Idempotent: a missing or empty staging path
    /// is success. The staging directory itself is left for the caller (kubelet owns it).
    public func unstage(stagingPath: String) throws {
        guard let staging = try canonicalPath(stagingPath) else { return }
        var loops: Set<Int> = []
        let file = staging + "/" + NodeOperations.blockDeviceFileName
        var table = try MountTable.current()
        for _ in 0..<16 where table.isMountPoint(file) {
            if let st = try statOrNil(file), isBlockDevice(st), deviceMajor(st.st_rdev) == LoopDevice.major {
                loops.insert(Int(deviceMinor(st.st_rdev)))
            }
            try sysUnmount(file)
            table = try MountTable.current()
        }
        if let st = try statOrNil(file), isRegularFile(st) {
            try sys("unlink", file) { unlink(file) }
        }
        for _ in 0..<16 {
            guard let entry = table.topmost(at: staging) else { break }
            if entry.major == LoopDevice.major { loops.insert(Int(entry.minor)) }
            try sysUnmount(staging)
            table = try MountTable.current()
        }
        for number in loops.sorted() {
            guard let device = LoopDevices.device(number: number) else { continue }
            if NodeOperations.users(of: device, in: table).isEmpty {
                try LoopDevices.detach(device)
            }
        }
    }

    // MARK: Publish

    /// Makes the staged volume visible at `targetPath`:
    /// - `.mount`: bind-mounts the staging path on `targetPath` (a directory, created if missing), then remounts the
    ///   bind read-only and/or with the per-mount flags among `mountFlags` (nosuid, nodev, noexec, noatime, ...).
    /// - `.block`: creates `targetPath` as an empty file and bind-mounts the staged device node on it; `readOnly`
    ///   bind-mounts a read-only loop device of the same image instead (writes fail with EPERM).
    ///
    /// Idempotent: the same source already there is success; another source is `alreadyInUseElsewhere`; the same
    /// source with the other read-only state is `mountOptionsDiffer`. A staging path with nothing staged is
    /// `notMounted`. On failure the bind mount and anything created are removed.
    public func publish(stagingPath: String, targetPath: String, readOnly: Bool, access: VolumeAccess) throws {
        guard let staging = try canonicalPath(stagingPath) else { throw NodeOpsError.notMounted(path: stagingPath) }
        let table = try MountTable.current()
        var undo = UndoLog()
        defer { undo.runUnlessCommitted() }

        switch access {
        case .mount(_, let mountFlags):
            guard let source = table.topmost(at: staging) else { throw NodeOpsError.notMounted(path: staging) }
            if let target = try canonicalPath(targetPath), let existing = table.topmost(at: target) {
                guard existing.major == source.major, existing.minor == source.minor, existing.root == source.root else {
                    throw NodeOpsError.alreadyInUseElsewhere(path: target, by: describe(existing, nil))
                }
                try checkReadOnly(existing, path: target, wanted: readOnly)
                return
            }
            let createdDirs = try makeDirectories(targetPath)
            undo.push { removeDirectories(createdDirs) }
            guard let target = try canonicalPath(targetPath) else { throw NodeOpsError.notFound(path: targetPath) }
            try sysMount(source: staging, target: target, fsType: nil, flags: MountFlag.bind, data: nil)
            undo.push { try? sysUnmount(target) }
            let perMount = (ParsedMountOptions(mountFlags).flags & MountFlag.perMountMask) | (readOnly ? MountFlag.readOnly : 0)
            if perMount != 0 {
                try sysMount(source: nil, target: target, fsType: nil,
                             flags: MountFlag.bind | MountFlag.remount | perMount, data: nil)
            }

        case .block:
            let file = staging + "/" + NodeOperations.blockDeviceFileName
            guard table.isMountPoint(file), let sourceStat = try statOrNil(file), isBlockDevice(sourceStat),
                  deviceMajor(sourceStat.st_rdev) == LoopDevice.major,
                  let staged = LoopDevices.device(number: Int(deviceMinor(sourceStat.st_rdev))) else {
                throw NodeOpsError.notMounted(path: file)
            }
            if let target = try canonicalPath(targetPath), let existing = table.topmost(at: target) {
                let st = try statOrNil(target)
                let device = st.flatMap { isBlockDevice($0) && deviceMajor($0.st_rdev) == LoopDevice.major
                    ? LoopDevices.device(number: Int(deviceMinor($0.st_rdev))) : nil }
                guard let device, device.backingFile == staged.backingFile else {
                    throw NodeOpsError.alreadyInUseElsewhere(path: target, by: describe(existing, device))
                }
                guard device.readOnly == (readOnly || staged.readOnly) else {
                    throw NodeOpsError.mountOptionsDiffer(path: target, found: device.readOnly ? "ro" : "rw", wanted: readOnly ? "ro" : "rw")
                }
                return
            }
            // A read-only bind of a device node does not stop writes to the device, so a read-only publish binds
            // a second, read-only loop device of the same image instead.
            var source = staged
            if readOnly && !staged.readOnly {
                let (device, created) = try LoopDevices.attach(image: staged.backingFile, readOnly: true)
                if created { undo.push { try? LoopDevices.detach(device) } }
                source = device
            }
            let parent = parentDirectory(targetPath)
            let createdDirs = try makeDirectories(parent)
            undo.push { removeDirectories(createdDirs) }
            if let st = try statOrNil(targetPath), isDirectory(st) {
                throw NodeOpsError.syscallFailed(call: "publish block", path: targetPath, errno: EISDIR)
            }
            if try createEmptyFile(targetPath) { undo.push { unlink(targetPath) } }
            guard let target = try canonicalPath(targetPath) else { throw NodeOpsError.notFound(path: targetPath) }
            try sysMount(source: source == staged ? file : source.path, target: target, fsType: nil, flags: MountFlag.bind, data: nil)
            undo.push { try? sysUnmount(target) }
            if readOnly {
                try sysMount(source: nil, target: target, fsType: nil,
                             flags: MountFlag.bind | MountFlag.remount | MountFlag.readOnly, data: nil)
            }
        }
        undo.commit()
    }

    // MARK: Unpublish

    /// Unmounts everything mounted at `targetPath` and removes it (an empty directory, or the block target file).
    /// Idempotent: a missing target is success. A directory that still holds files after unmounting is refused
    /// (ENOTEMPTY), so data written to an unmounted directory is never deleted. The read-only loop device of a
    /// read-only block publish is detached once nothing mounts it.
    public func unpublish(targetPath: String) throws {
        guard let target = try canonicalPath(targetPath) else { return }
        var table = try MountTable.current()
        var readOnlyLoops: [LoopDevice] = []
        for _ in 0..<16 where table.isMountPoint(target) {
            if let st = try statOrNil(target), isBlockDevice(st), deviceMajor(st.st_rdev) == LoopDevice.major,
               let device = LoopDevices.device(number: Int(deviceMinor(st.st_rdev))), device.readOnly {
                readOnlyLoops.append(device)
            }
            try sysUnmount(target)
            table = try MountTable.current()
        }
        if let st = try statOrNil(target) {
            if isDirectory(st) {
                try sys("rmdir", target) { rmdir(target) }
            } else {
                try sys("unlink", target) { unlink(target) }
            }
        }
        // The read-only device of a read-only block publish goes with its last publish.
        for device in readOnlyLoops where NodeOperations.users(of: device, in: table).isEmpty {
            try LoopDevices.detach(device)
        }
    }

    // MARK: Stats

    /// Usage and condition of a staged or published volume path. A file system: statvfs; a block target (or a block
    /// staging path): the device size. The condition is abnormal when the path is not a mount point, the loop
    /// device is no longer bound, or its image is missing. A path that does not exist is `notFound`.
    public func volumeStats(path: String) throws -> VolumeStats {
        guard var resolved = try canonicalPath(path) else { throw NodeOpsError.notFound(path: path) }
        let table = try MountTable.current()
        let blockFile = resolved + "/" + NodeOperations.blockDeviceFileName
        if table.topmost(at: resolved) == nil, table.isMountPoint(blockFile) { resolved = blockFile }
        guard let st = try statOrNil(resolved) else { throw NodeOpsError.notFound(path: path) }
        var problems: [String] = []
        let entry = table.topmost(at: resolved)
        if entry == nil { problems.append("\(resolved) is not a mount point") }

        let usage: VolumeUsage
        var loopNumber: Int?
        if isBlockDevice(st) {
            let major = deviceMajor(st.st_rdev), minor = deviceMinor(st.st_rdev)
            usage = .block(sizeBytes: try blockDeviceSize(major: major, minor: minor))
            if major == LoopDevice.major { loopNumber = Int(minor) }
        } else {
            var vfs = statvfs()
            try sys("statvfs", resolved) { statvfs(resolved, &vfs) }
            let fragment = Int64(vfs.f_frsize)
            usage = .fileSystem(FileSystemUsage(
                totalBytes: Int64(vfs.f_blocks) * fragment,
                usedBytes: (Int64(vfs.f_blocks) - Int64(vfs.f_bfree)) * fragment,
                availableBytes: Int64(vfs.f_bavail) * fragment,
                totalInodes: Int64(vfs.f_files),
                usedInodes: Int64(vfs.f_files) - Int64(vfs.f_ffree),
                freeInodes: Int64(vfs.f_favail)))
            if let entry, entry.major == LoopDevice.major { loopNumber = Int(entry.minor) }
        }
        if let loopNumber {
            if let device = LoopDevices.device(number: loopNumber) {
                let imageExists = try statOrNil(device.backingFile) != nil
                if device.backingFile.hasSuffix(LoopDevices.deletedSuffix) || !imageExists {
                    problems.append("backing image \(device.backingFile) of \(device.path) is missing")
                }
            } else {
                problems.append("/dev/loop\(loopNumber) is no longer bound to an image")
            }
        }
        return VolumeStats(
            usage: usage,
            condition: VolumeCondition(abnormal: !problems.isEmpty,
                                       message: problems.isEmpty ? "volume is healthy" : problems.joined(separator: "; ")))
    }

    // MARK: Expand

    /// Grows a staged volume after its image file was grown: LOOP_SET_CAPACITY on the image's loop device, then
    /// `resize2fs <device>` (ext4) or `xfs_growfs -d <mount point>` (xfs) when `stagingOrTargetPath` is a mounted file
    /// system; nothing more for block volumes. Online ext4 growth needs CAP_SYS_RESOURCE; without it (as in an unprivileged
    /// container) the file system's mounts are taken down, `e2fsck -f -p` + `resize2fs` run offline, and the mounts are
    /// put back as they were (see `OfflineResize`); a busy mount makes that fail with nothing changed. Returns the device size in bytes. Idempotent (growing to the current
    /// size changes nothing). `notAttached` when the image has no loop device, `notMounted` when the path is
    /// neither a mount point nor a block staging.
    public func expand(image: String, stagingOrTargetPath: String) throws -> Int64 {
        let device = try attachedDevice(image: image)
        let size = try refreshLoopSize(image: image)
        guard let path = try canonicalPath(stagingOrTargetPath) else { throw NodeOpsError.notFound(path: stagingOrTargetPath) }
        let table = try MountTable.current()
        if let st = try statOrNil(path), isBlockDevice(st) { return size }
        if table.topmost(at: path) == nil, table.isMountPoint(path + "/" + NodeOperations.blockDeviceFileName) { return size }
        guard let entry = table.topmost(at: path) else { throw NodeOpsError.notMounted(path: path) }
        guard entry.major == LoopDevice.major, let mounted = LoopDevices.device(number: Int(entry.minor)),
              mounted.backingFile == device.backingFile else {
            throw NodeOpsError.alreadyInUseElsewhere(path: path, by: describe(entry, nil))
        }
        switch entry.fsType {
        case "ext4", "ext3", "ext2":
            if Capabilities.effectiveHas(Capabilities.sysResource) {
                try Command.run("resize2fs", [mounted.path])
            } else {
                try OfflineResize.growExt4(device: mounted, table: table)
            }
        case "xfs":
            try Command.run("xfs_growfs", ["-d", path])
        default:
            throw NodeOpsError.unsupportedFileSystem(entry.fsType)
        }
        return size
    }

    // MARK: Helpers

    private func attachedDevice(image: String) throws -> LoopDevice {
        guard let canonical = try canonicalPath(image) else { throw NodeOpsError.notFound(path: image) }
        let devices = try LoopDevices.bound(to: canonical)
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

    private func describe(_ entry: MountEntry, _ device: LoopDevice?) -> String {
        if let device { return "\(entry.fsType) on \(device)" }
        return "\(entry.fsType) from \(entry.source)" + (entry.root == "/" ? "" : " (\(entry.root))")
    }

    private func checkReadOnly(_ entry: MountEntry, path: String, wanted: Bool) throws {
        guard entry.isReadOnly == wanted else {
            throw NodeOpsError.mountOptionsDiffer(path: path, found: entry.isReadOnly ? "ro" : "rw", wanted: wanted ? "ro" : "rw")
        }
    }

    /// Creates an empty regular file unless one exists; true when this call created it.
    private func createEmptyFile(_ path: String) throws -> Bool {
        if let st = try statOrNil(path) {
            guard isRegularFile(st) || isBlockDevice(st) else {
                throw NodeOpsError.syscallFailed(call: "create file", path: path, errno: EEXIST)
            }
            return false
        }
        let fd = try sys("open", path) { open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0o640) }
        close(fd)
        return true
    }

    private func parentDirectory(_ path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}

/// Inverse steps of an operation in progress, run backwards when it fails. Not shared between threads.
struct UndoLog {
    private var steps: [() -> Void] = []
    private var committed = false

    mutating func push(_ step: @escaping () -> Void) { steps.append(step) }
    mutating func commit() { committed = true }

    func runUnlessCommitted() {
        guard !committed else { return }
        for step in steps.reversed() { step() }
    }
}
