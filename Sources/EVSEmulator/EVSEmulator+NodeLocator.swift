// The emulator as the Node service sees it: where a disk's data is on this node (its image file).
import EVSSnapshotRules

extension EVSEmulator: NodeDiskLocator {
    /// The disk's image file (its own record; a published path is only compared with it by the Node service);
    /// `notFound` for an unknown disk.
    public func devicePath(of id: DiskID, published: String?) throws(BackendError) -> String? {
        guard try getDisk(id) != nil else { throw .notFound(kind: "volume", id: id.rawValue) }
        return diskImagePath(id)
    }

    /// Whether `path` is the disk's image file.
    public func isDevicePath(_ path: String, of id: DiskID) -> Bool {
        EmulatorNodeLocator().isDevicePath(path, of: id)
    }

    /// The disk's image file when the disk exists.
    public func devicePathIfPresent(of id: DiskID) -> String? {
        (try? devicePath(of: id, published: nil)) ?? nil
    }
}

/// The emulator's node side in a process that does not own the state directory (`--mode node`): the image is
/// `<state>/disks/<volume id>.img` under the same state directory (deploy/ mounts one hostPath in both), read
/// but never opened as a database; a staged image is recognised by the emulator's file name `<volume id>.img`.
public struct EmulatorNodeLocator: NodeDiskLocator {
    /// The shared state directory; nil: unknown, the published path is used (issue 9: avoid).
    let stateDirectory: String?

    /// Creates the locator.
    public init(stateDirectory: String? = nil) { self.stateDirectory = stateDirectory }

    /// `<state>/disks/<id>.img` (`notFound` when no such file), or the published path without a state directory.
    public func devicePath(of id: DiskID, published: String?) throws(BackendError) -> String? {
        guard let stateDirectory else { return published }
        guard let path = StateLayout.diskImagePath(stateDirectory: stateDirectory, id: id), StateLayout.exists(path) else {
            throw .notFound(kind: "volume", id: id.rawValue)
        }
        return path
    }

    /// `<state>/disks/<id>.img` when it exists (nil without a state directory).
    public func devicePathIfPresent(of id: DiskID) -> String? {
        guard stateDirectory != nil else { return nil }
        return (try? devicePath(of: id, published: nil)) ?? nil
    }

    /// Whether `path` is an emulator image file named after the disk.
    public func isDevicePath(_ path: String, of id: DiskID) -> Bool {
        path.hasSuffix("/" + id.rawValue + EVSEmulator.imageSuffix)
    }
}
