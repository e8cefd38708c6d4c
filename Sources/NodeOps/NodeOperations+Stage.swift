// Stage and unstage: a disk image as a loop device, formatted and mounted (or bind-mounted as a block file) at the staging path.
#if canImport(Glibc)
import Glibc
#endif

extension NodeOperations {
    // MARK: Stage

    /// Binds `image` to a loop device and offers it at `stagingPath`:
    /// - `.mount`: probes the device (`blkid -p`), formats it only when blank, refuses another file system
    ///   (`fsMismatch`), and mounts it at `stagingPath` (created if missing) with `mountFlags` (+ `ro` if `readOnly`).
    /// - `.block`: bind-mounts the device node on `<stagingPath>/block`, so the staging survives in the kernel's
    ///   mount table and needs no record file. `readOnly` uses a read-only loop device.
    ///
    /// Idempotent: the same image already staged there is success (`alreadyStaged`); a different image, or the
    /// other access type, is `alreadyInUseElsewhere`. The image is recognised by its device and inode numbers,
    /// so a staging made by a plugin in another (since destroyed) mount namespace is the same staging.
    /// On failure everything this call did is undone.
    ///
    /// An ext4 file system smaller than its device (the disk was grown while the kernel would not let this
    /// process grow it online, see `expand`) is checked and grown before it is mounted: `e2fsck -f -p` and
    /// `resize2fs` on the unmounted device, where no workload can hold it.
    @discardableResult
    public func stage(image: String, stagingPath: String, access: VolumeAccess, readOnly: Bool) throws -> StagedVolume {
        guard let canonicalImage = try canonicalPath(image), let identity = try FileIdentity.of(canonicalImage) else {
            throw NodeOpsError.notFound(path: image)
        }
        if let existing = try existingStaging(image: identity, stagingPath: stagingPath, access: access, readOnly: readOnly) {
            return existing
        }
        // The probe, format and mount run under the image's cross-process lock, with the attach: two plugin
        // processes staging one blank disk at once (an old one beside a new one) would otherwise both find it blank
        // and both run mkfs, and the second would fail on the first one's mount.
        return try LoopDevices.withImageLock(canonicalImage) {
            try stageLocked(canonicalImage, stagingPath: stagingPath, access: access, readOnly: readOnly)
        }
    }

    /// `stage` with the image's lock held.
    private func stageLocked(_ canonicalImage: String, stagingPath: String, access: VolumeAccess, readOnly: Bool) throws -> StagedVolume {
        var undo = UndoLog()
        defer { undo.runUnlessCommitted() }

        let createdDirs = try makeDirectories(stagingPath)
        undo.push { removeDirectories(createdDirs) }
        guard let staging = try canonicalPath(stagingPath) else { throw NodeOpsError.notFound(path: stagingPath) }

        let blockReadOnly = access == .block && readOnly
        let (device, created) = try LoopDevices.attach(image: canonicalImage, readOnly: blockReadOnly, imageLocked: true)
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
                if fsType == .ext4 && !readOnly { try Ext4Growth.growExt4IfSmaller(device: device) }
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
    private func existingStaging(image: FileIdentity, stagingPath: String, access: VolumeAccess, readOnly: Bool) throws -> StagedVolume? {
        guard let staging = try canonicalPath(stagingPath) else { return nil }
        let table = try MountTable.current()
        let file = staging + "/" + NodeOperations.blockDeviceFileName
        if let entry = table.topmost(at: staging) {
            let device = entry.major == LoopDevice.major ? LoopDevices.device(number: Int(entry.minor)) : nil
            guard let device, device.serves(image) else {
                throw NodeOpsError.alreadyInUseElsewhere(path: staging, by: describe(entry, device))
            }
            guard case .mount(let fsType, _) = access else {
                throw NodeOpsError.alreadyInUseElsewhere(path: staging, by: "a mounted \(entry.fsType) file system of \(device) (staged for mount, not block)")
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
            guard let device, device.serves(image) else {
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
    /// is success. The staging directory itself is left for the caller (kubelet owns it). Removes only what NodeOps
    /// made: the `block` file when it was a mount point, or an empty one left by an interrupted unstage; a symbolic
    /// link at the staging path is refused (`symbolicLink`).
    ///
    /// `image`, when given, is the volume's image: its loop devices that nothing mounts are detached too, so a
    /// stage interrupted between binding the device and mounting it (a plugin killed there) leaves nothing once
    /// the volume is unstaged.
    public func unstage(stagingPath: String, image: String? = nil) throws {
        try unstagePath(stagingPath)
        guard let image else { return }
        let table = try MountTable.current()
        for device in try LoopDevices.bound(toPath: image) where NodeOperations.users(of: device, in: table).isEmpty {
            try LoopDevices.detach(device)
        }
    }

    private func unstagePath(_ stagingPath: String) throws {
        try refuseSymbolicLink(stagingPath)
        guard let staging = try canonicalPath(stagingPath) else { return }
        var loops: Set<Int> = []
        let file = staging + "/" + NodeOperations.blockDeviceFileName
        try refuseSymbolicLink(file)
        var table = try MountTable.current()
        var unmountedFile = false
        for _ in 0..<16 where table.isMountPoint(file) {
            if let st = try statOrNil(file), isBlockDevice(st), deviceMajor(st.st_rdev) == LoopDevice.major {
                loops.insert(Int(deviceMinor(st.st_rdev)))
            }
            try sysUnmount(file)
            unmountedFile = true
            table = try MountTable.current()
        }
        if let st = try lstatOrNil(file), isRegularFile(st), unmountedFile || isLeftOverCreatedFile(st) {
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
}
