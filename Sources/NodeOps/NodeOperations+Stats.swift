// Volume statistics and online expansion.
#if canImport(Glibc)
import Glibc
#endif

extension NodeOperations {
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
            // The kernel's path text may name the file through a mount of another namespace (a plugin restarted in a
            // new container): only " (deleted)", which the kernel appends to an unlinked file, says it is gone.
            if let device = LoopDevices.device(number: loopNumber) {
                if device.backingDeleted {
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

    /// Grows a staged volume after its image file was grown: LOOP_SET_CAPACITY on the loop device mounted (or bound)
    /// at `stagingOrTargetPath` and every other device of its image, then the file system when the path is a mounted
    /// one: `resize2fs <device>` (ext4) or `xfs_growfs -d <mount point>` (xfs); nothing more for block volumes.
    /// `image`, when given, must be that device's file (same device and inode numbers). Returns the device size in
    /// bytes. Idempotent: a file system already as large as its device is left alone.
    ///
    /// Online only, never an unmount: the kernel grows a mounted ext4 for a process with CAP_SYS_RESOURCE
    /// (ext4_resize_begin), a mounted xfs for one with CAP_SYS_ADMIN (XFS_IOC_FSGROWFSDATA). Without the
    /// capability this is `onlineResizeNotPermitted`: the device is already grown, and `stage` grows the file
    /// system before mounting it, the next time the volume is staged. `notMounted` when the path is neither a
    /// mounted loop device nor a block staging or target.
    public func expand(image: String?, stagingOrTargetPath: String) throws -> Int64 {
        // The image first: one with no device is not staged on this node, whatever the path (notAttached).
        var identity: FileIdentity?
        if let image {
            guard let found = try FileIdentity.of(image) else { throw NodeOpsError.notFound(path: image) }
            guard try !LoopDevices.bound(to: found).isEmpty else { throw NodeOpsError.notAttached(image: image) }
            identity = found
        }
        guard let path = try canonicalPath(stagingOrTargetPath) else { throw NodeOpsError.notFound(path: stagingOrTargetPath) }
        let table = try MountTable.current()
        let blockFile = path + "/" + NodeOperations.blockDeviceFileName
        var mountedFileSystem: MountEntry?
        let device: LoopDevice?
        if let st = try statOrNil(path), isBlockDevice(st) {
            device = deviceMajor(st.st_rdev) == LoopDevice.major ? LoopDevices.device(number: Int(deviceMinor(st.st_rdev))) : nil
        } else if table.topmost(at: path) == nil, table.isMountPoint(blockFile), let st = try statOrNil(blockFile), isBlockDevice(st) {
            device = deviceMajor(st.st_rdev) == LoopDevice.major ? LoopDevices.device(number: Int(deviceMinor(st.st_rdev))) : nil
        } else if let entry = table.topmost(at: path) {
            mountedFileSystem = entry
            device = entry.major == LoopDevice.major ? LoopDevices.device(number: Int(entry.minor)) : nil
            if device == nil { throw NodeOpsError.alreadyInUseElsewhere(path: path, by: describe(entry, nil)) }
        } else {
            throw NodeOpsError.notMounted(path: path)
        }
        guard let device else { throw NodeOpsError.notMounted(path: path) }
        if let image, let identity, !device.serves(identity) {
            throw NodeOpsError.alreadyInUseElsewhere(path: path, by: "\(device), not image \(image)")
        }
        try refreshCapacity(of: device)
        let size = try blockDeviceSize(major: LoopDevice.major, minor: UInt32(device.number))
        guard let entry = mountedFileSystem else { return size }
        switch entry.fsType {
        case "ext4", "ext3", "ext2":
            guard try Ext4Growth.ext4Smaller(device: device) else { return size }
            guard Capabilities.effectiveHas(Capabilities.sysResource) else {
                throw NodeOpsError.onlineResizeNotPermitted(device: device.path, path: path, capability: "CAP_SYS_RESOURCE")
            }
            try Command.run("resize2fs", [device.path])
        case "xfs":
            guard Capabilities.effectiveHas(Capabilities.sysAdmin) else {
                throw NodeOpsError.onlineResizeNotPermitted(device: device.path, path: path, capability: "CAP_SYS_ADMIN")
            }
            try Command.run("xfs_growfs", ["-d", entry.mountPoint])
        default:
            throw NodeOpsError.unsupportedFileSystem(entry.fsType)
        }
        return size
    }
}
