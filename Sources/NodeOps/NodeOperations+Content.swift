// What a staging or target path shows, for the Node service's checks that a request's paths hold the request's
// volume. By device and inode numbers, never by the kernel's path text (see LoopDevices.swift).
#if canImport(Glibc)
import Glibc
#endif

/// What is mounted or bound at a path.
public enum PathContent: Sendable, Equatable {
    /// Nothing mounted or bound there (or the path does not exist).
    case nothing
    /// A loop device: mounted there (a file system), bound there (a block target), or bound at `<path>/block`
    /// (a block staging).
    case loop(LoopDevice)
    /// Something that is not a loop device (described).
    case other(String)

    /// Whether this is a loop device serving the file at `image` (same device and inode numbers).
    public func serves(image: String) throws -> Bool {
        guard case .loop(let device) = self, let identity = try FileIdentity.of(image) else { return false }
        return device.serves(identity)
    }
}

extension NodeOperations {
    /// What `path` shows: a block device node there, else the topmost mount there, else a device node bound at
    /// `<path>/block`. `.nothing` when the path does not exist or nothing is there.
    public func content(at path: String) throws -> PathContent {
        guard let resolved = try canonicalPath(path) else { return .nothing }
        func device(_ st: stat) -> PathContent {
            let major = deviceMajor(st.st_rdev), minor = deviceMinor(st.st_rdev)
            if major == LoopDevice.major, let device = LoopDevices.device(number: Int(minor)) { return .loop(device) }
            return .other("block device \(major):\(minor)")
        }
        if let st = try statOrNil(resolved), isBlockDevice(st) { return device(st) }
        let table = try MountTable.current()
        if let entry = table.topmost(at: resolved) {
            if entry.major == LoopDevice.major, let device = LoopDevices.device(number: Int(entry.minor)) { return .loop(device) }
            return .other(describe(entry, nil))
        }
        let file = resolved + "/" + NodeOperations.blockDeviceFileName
        if table.isMountPoint(file), let st = try statOrNil(file), isBlockDevice(st) { return device(st) }
        return .nothing
    }
}
