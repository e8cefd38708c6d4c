// The emulator as the Node service sees it: where a disk's data is on this node (its image file).
import EVSSnapshotRules

extension EVSEmulator: NodeDiskLocator {
    /// The path ControllerPublishVolume published, else the disk's image file; `notFound` for an unknown disk.
    public func devicePath(of id: DiskID, published: String?) throws(BackendError) -> String? {
        guard try getDisk(id) != nil else { throw .notFound(kind: "volume", id: id.rawValue) }
        return published ?? diskImagePath(id)
    }

    /// Whether `path` is the disk's image file.
    public func isDevicePath(_ path: String, of id: DiskID) -> Bool {
        EmulatorNodeLocator().isDevicePath(path, of: id)
    }
}

/// The emulator's node side in a process that does not own the state directory (`--mode node`): the image
/// path comes from the publish context, and a staged image is recognised by the emulator's file name
/// `<volume id>.img`.
public struct EmulatorNodeLocator: NodeDiskLocator {
    /// Creates the locator.
    public init() {}

    /// The published path, or nil (without a publish context this process cannot tell).
    public func devicePath(of id: DiskID, published: String?) -> String? { published }

    /// Whether `path` is an emulator image file named after the disk.
    public func isDevicePath(_ path: String, of id: DiskID) -> Bool {
        path.hasSuffix("/" + id.rawValue + EVSEmulator.imageSuffix)
    }
}
