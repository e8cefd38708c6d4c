// Publish and unpublish: bind-mount the staged volume at the pod's target path.
#if canImport(Glibc)
import Glibc
#endif

extension NodeOperations {
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
    ///
    /// `image` is the volume's image; a read-only block publish of a read-write staging needs it to bind the
    /// read-only device (the kernel's path text for the staged device's file may not exist in this mount
    /// namespace). It must be the staged device's file (same device and inode numbers).
    public func publish(stagingPath: String, targetPath: String, readOnly: Bool, access: VolumeAccess,
                        image: String? = nil) throws {
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
                guard let device, device.sharesBacking(with: staged) else {
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
                let imagePath = image ?? staged.backingFile
                guard let identity = try FileIdentity.of(imagePath), staged.serves(identity) else {
                    throw NodeOpsError.alreadyInUseElsewhere(path: file, by: "block device \(staged), not image \(imagePath)")
                }
                let (device, created) = try LoopDevices.attach(image: imagePath, readOnly: true)
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

    /// Where the volume staged at `stagingPath` is published, besides `targetPath`: the mount points of every
    /// loop device of its image (the staged one, and the read-only one of a read-only block publish), the staging
    /// path itself left out. Empty when nothing is staged there. For SINGLE_NODE_SINGLE_WRITER, which allows one
    /// target path only.
    public func otherPublications(stagingPath: String, targetPath: String) throws -> [String] {
        guard let staging = try canonicalPath(stagingPath) else { return [] }
        let table = try MountTable.current()
        let blockFile = staging + "/" + NodeOperations.blockDeviceFileName
        var staged: LoopDevice?
        if let entry = table.topmost(at: staging), entry.major == LoopDevice.major {
            staged = LoopDevices.device(number: Int(entry.minor))
        } else if table.isMountPoint(blockFile), let st = try statOrNil(blockFile), isBlockDevice(st),
                  deviceMajor(st.st_rdev) == LoopDevice.major {
            staged = LoopDevices.device(number: Int(deviceMinor(st.st_rdev)))
        }
        guard let staged else { return [] }
        let target = try canonicalPath(targetPath) ?? targetPath
        var points: [String] = []
        for device in try LoopDevices.all() where device.number == staged.number || device.sharesBacking(with: staged) {
            for entry in NodeOperations.users(of: device, in: table)
            where entry.mountPoint != staging && entry.mountPoint != blockFile && entry.mountPoint != target
                && !points.contains(entry.mountPoint) {
                points.append(entry.mountPoint)
            }
        }
        return points.sorted()
    }

    // MARK: Unpublish

    /// Unmounts everything mounted at `targetPath` and removes it (an empty directory, or the block target file).
    /// Idempotent: a missing target is success. A directory that still holds files after unmounting is refused
    /// (ENOTEMPTY), so data written to an unmounted directory is never deleted. A file is removed only when it was
    /// the block target this call unmounted, or an empty one NodeOps created (mode 0640) left by an interrupted
    /// unpublish; any other file is left alone. A symbolic link is refused (`symbolicLink`). The read-only loop
    /// device of a read-only block publish is detached once nothing mounts it.
    public func unpublish(targetPath: String) throws {
        try refuseSymbolicLink(targetPath)
        guard let target = try canonicalPath(targetPath) else { return }
        var table = try MountTable.current()
        var readOnlyLoops: [LoopDevice] = []
        var unmounted = false
        for _ in 0..<16 where table.isMountPoint(target) {
            if let st = try statOrNil(target), isBlockDevice(st), deviceMajor(st.st_rdev) == LoopDevice.major,
               let device = LoopDevices.device(number: Int(deviceMinor(st.st_rdev))), device.readOnly {
                readOnlyLoops.append(device)
            }
            try sysUnmount(target)
            unmounted = true
            table = try MountTable.current()
        }
        if let st = try lstatOrNil(target) {
            if isDirectory(st) {
                try sys("rmdir", target) { rmdir(target) }
            } else if isRegularFile(st), unmounted || isLeftOverCreatedFile(st) {
                try sys("unlink", target) { unlink(target) }
            }
        }
        // The read-only device of a read-only block publish goes with its last publish.
        for device in readOnlyLoops where NodeOperations.users(of: device, in: table).isEmpty {
            try LoopDevices.detach(device)
        }
    }
}
