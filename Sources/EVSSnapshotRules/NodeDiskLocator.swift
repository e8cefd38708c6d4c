// What the CSI Node service needs from the storage, and no more: where an attached disk's data is on this node.
// The Controller service talks to `BlockStorageBackend`; the Node service only to this.

/// Where an attached disk's data is on this node. The emulator answers with the disk's image file; a cloud
/// backend with the block device the cloud attached (e.g. `/dev/disk/by-id/virtio-<id prefix>`). The Node
/// service binds the path to a loop device (a loop device serves a block device as well as a file), makes a
/// file system only on a blank disk and mounts it.
public protocol NodeDiskLocator: Sendable {
    /// The path on this node of disk `id`'s data. `published` is `DiskAttachment.devicePath` as
    /// ControllerPublishVolume handed it over in the publish context; nil when the call carries none
    /// (NodeExpandVolume, NodeGetVolumeStats). Returns nil when the path cannot be told without it; throws
    /// `notFound` when the disk is known not to exist.
    func devicePath(of id: DiskID, published: String?) throws(BackendError) -> String?

    /// Whether `path`, found staged on this node, holds disk `id`'s data (NodeExpandVolume in a process that
    /// cannot tell the path itself).
    func isDevicePath(_ path: String, of id: DiskID) -> Bool

    /// The path of disk `id`'s data when it can be told at once, without waiting for a device to appear; nil
    /// otherwise (NodeUnstageVolume, to let go of loop devices a killed stage bound but never mounted).
    func devicePathIfPresent(of id: DiskID) -> String?
}

extension NodeDiskLocator {
    /// By default, never at once.
    public func devicePathIfPresent(of id: DiskID) -> String? { nil }
}
