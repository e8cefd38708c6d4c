/// A file system NodeOps can create and grow.
public enum FileSystemType: String, Sendable, Hashable, CaseIterable {
    /// ext4: `mkfs.ext4 -F -q`, grown online with `resize2fs`.
    case ext4
    /// xfs: `mkfs.xfs -q`, grown online with `xfs_growfs`; always mounted with `nouuid`, because a disk restored
    /// from a snapshot carries its source's UUID and both may be staged on one node.
    case xfs

    /// The CSI `fs_type` string: empty means the default, ext4 (as Everest's `csi.storage.k8s.io/fstype`);
    /// anything else but ext4/xfs is `unsupportedFileSystem`.
    public init(csiName: String) throws {
        if csiName.isEmpty { self = .ext4; return }
        guard let type = FileSystemType(rawValue: csiName.lowercased()) else {
            throw NodeOpsError.unsupportedFileSystem(csiName)
        }
        self = type
    }
}

/// How a volume is offered to a workload: a mounted file system, or the raw block device.
public enum VolumeAccess: Sendable, Hashable {
    /// A file system of `fsType`, mounted with `mountFlags` (mount(8) words: `noatime`, `nosuid`, `discard`, ...).
    case mount(fsType: FileSystemType, mountFlags: [String])
    /// The loop device itself; no file system is created or checked.
    case block
}

/// What `stage` found or did.
public struct StagedVolume: Sendable, Equatable {
    /// The loop device serving the image.
    public var device: LoopDevice
    /// The staging path (canonical).
    public var stagingPath: String
    /// For block access, the file under the staging path on which the device node is bind-mounted; nil for mount access.
    public var blockDeviceFile: String?
    /// True when this call created the file system (the device was blank); false when it reused one or for block.
    public var formatted: Bool
    /// True when this call found the volume already staged and changed nothing.
    public var alreadyStaged: Bool

    public init(device: LoopDevice, stagingPath: String, blockDeviceFile: String?, formatted: Bool, alreadyStaged: Bool) {
        self.device = device; self.stagingPath = stagingPath; self.blockDeviceFile = blockDeviceFile
        self.formatted = formatted; self.alreadyStaged = alreadyStaged
    }
}

/// Usage numbers of a volume.
public enum VolumeUsage: Sendable, Equatable {
    /// A mounted file system, from statvfs(3).
    case fileSystem(FileSystemUsage)
    /// A raw block device: only its size is known.
    case block(sizeBytes: Int64)
}

/// statvfs(3) of a mounted file system, in bytes and inodes (CSI `VolumeUsage` BYTES and INODES).
public struct FileSystemUsage: Sendable, Equatable {
    /// `f_blocks * f_frsize`.
    public var totalBytes: Int64
    /// `(f_blocks - f_bfree) * f_frsize`.
    public var usedBytes: Int64
    /// `f_bavail * f_frsize` (what an unprivileged writer can still use).
    public var availableBytes: Int64
    /// `f_files`.
    public var totalInodes: Int64
    /// `f_files - f_ffree`.
    public var usedInodes: Int64
    /// `f_favail`.
    public var freeInodes: Int64

    public init(totalBytes: Int64, usedBytes: Int64, availableBytes: Int64, totalInodes: Int64, usedInodes: Int64,
                freeInodes: Int64) {
        self.totalBytes = totalBytes; self.usedBytes = usedBytes; self.availableBytes = availableBytes
        self.totalInodes = totalInodes; self.usedInodes = usedInodes; self.freeInodes = freeInodes
    }
}

/// CSI `VolumeCondition`: abnormal when the path is not a mount point, the loop device is gone, or its image is missing.
public struct VolumeCondition: Sendable, Equatable {
    /// True when something is wrong.
    public var abnormal: Bool
    /// What is wrong, or "volume is healthy".
    public var message: String

    public init(abnormal: Bool, message: String) {
        self.abnormal = abnormal; self.message = message
    }
}

/// The answer of `volumeStats`.
public struct VolumeStats: Sendable, Equatable {
    /// Bytes and inodes (file system) or size (block).
    public var usage: VolumeUsage
    /// Health of the volume path.
    public var condition: VolumeCondition

    public init(usage: VolumeUsage, condition: VolumeCondition) {
        self.usage = usage; self.condition = condition
    }
}
