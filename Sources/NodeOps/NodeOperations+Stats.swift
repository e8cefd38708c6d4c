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
}
