// Where an attached EVS disk appears on its server: udev's /dev/disk/by-id links, named after the serial the
// hypervisor gives the disk. A VBD (virtio-blk) disk's serial is the volume id, cut to the 20 bytes a virtio-blk
// serial holds: `virtio-<id[0..<20]>` (also the whole id, which some hypervisors keep). A SCSI (passthrough) disk is
// named after the WWN EVS reports for it: `scsi-3<wwn>` (also `wwn-0x<wwn>`); without a WWN it is looked for by
// the virtio names. These are the names Huawei's own CSI driver looks for on the node (huaweicloud-csi-driver
// pkg/utils/mounts/mount.go getDevicePathBySerialID, with the WWN for SCSI disks: pkg/evs/nodeserver.go
// getDevicePath); ECS's `attachments[].device` (e.g. /dev/vdb) is the name ECS asked for, which the guest kernel
// need not use, so it is never taken as the device. The node waits for the link within the call's deadline: ECS
// reports the attachment before udev has made the link.
import EVSSnapshotRules
import Glibc

/// Finds an attached disk's device under a by-id directory.
public struct DeviceFinder: Sendable {
    /// The directory of by-id links (`/dev/disk/by-id`; a temporary directory in tests).
    public var byIDDirectory: String
    /// How often the directory is looked at while waiting.
    public var pollInterval: Duration

    /// A finder over `byIDDirectory`.
    public init(byIDDirectory: String = "/dev/disk/by-id", pollInterval: Duration = .milliseconds(100)) {
        self.byIDDirectory = byIDDirectory; self.pollInterval = pollInterval
    }

    /// The link names a disk may have, most specific first.
    public static func linkNames(volumeID: String, mode: DiskMode, wwn: String?) -> [String] {
        let virtio = ["virtio-" + String(volumeID.prefix(20)), "virtio-" + volumeID]
        switch mode {
        case .vbd: return virtio
        case .scsi:
            if let wwn, !wwn.isEmpty { return ["scsi-3" + wwn.lowercased(), "wwn-0x" + wwn.lowercased()] }
            return virtio  // no WWN reported: as Huawei's driver, look for the volume id's serial
        }
    }

    /// The full by-id paths of `linkNames` under the default directory.
    public static func expectedPaths(volumeID: String, mode: DiskMode, wwn: String?) -> [String] {
        linkNames(volumeID: volumeID, mode: mode, wwn: wwn).map { "/dev/disk/by-id/" + $0 }
    }

    /// Why a device was not found.
    public enum FindError: Error, Sendable, CustomStringConvertible {
        /// No link appeared before the deadline.
        case notAttached(volumeID: String, looked: [String])
        public var description: String {
            switch self {
            case .notAttached(let id, let looked):
                "disk \(id) did not appear on this node within the call's deadline (looked for \(looked.joined(separator: ", ")))"
            }
        }
    }

    /// The device a link resolves to (e.g. `/dev/vdb`), waiting until `deadline` for it to appear.
    public func find(volumeID: String, mode: DiskMode, wwn: String?,
                     deadline: ContinuousClock.Instant) throws(FindError) -> String {
        let paths = Self.linkNames(volumeID: volumeID, mode: mode, wwn: wwn).map { byIDDirectory + "/" + $0 }
        while true {
            for path in paths {
                if let resolved = Self.resolve(path) { return resolved }
            }
            let left = deadline - .now
            if left <= .zero { throw .notAttached(volumeID: volumeID, looked: paths) }
            sleepFor(min(pollInterval, left))
        }
    }

    /// The canonical path a link points to, nil when it does not exist (or dangles).
    static func resolve(_ path: String) -> String? {
        guard let real = realpath(path, nil) else { return nil }
        defer { free(real) }
        return String(cString: real)
    }
}

/// The EVS node side: the published by-id path (ControllerPublishVolume's `devicePath`) resolved to the device the
/// disk appeared as on this server, waiting for udev's link within the call's deadline.
public struct EVSNodeLocator: NodeDiskLocator {
    /// The finder (its directory is /dev/disk/by-id unless a test says otherwise).
    public var finder: DeviceFinder
    /// How long to wait when the call carries no deadline.
    public var defaultWait: Duration

    /// A locator over `finder`.
    public init(finder: DeviceFinder = DeviceFinder(), defaultWait: Duration = .seconds(30)) {
        self.finder = finder; self.defaultWait = defaultWait
    }

    public func devicePath(of id: DiskID, published: String?) throws(BackendError) -> String? {
        let deadline = CallDeadline.current ?? .now + defaultWait
        let link = published ?? (finder.byIDDirectory + "/" + DeviceFinder.linkNames(volumeID: id.rawValue, mode: .vbd, wwn: nil)[0])
        while true {
            if let device = DeviceFinder.resolve(link) { return device }
            let left = deadline - .now
            if left <= .zero {
                throw .notFound(kind: "attached disk", id: "\(id) (\(link) did not appear within the call's deadline)")
            }
            sleepFor(min(finder.pollInterval, left))
        }
    }

    public func isDevicePath(_ path: String, of id: DiskID) -> Bool {
        guard let target = DeviceFinder.resolve(path) else { return path.contains(String(id.rawValue.prefix(20))) }
        for mode in [DiskMode.vbd, .scsi] {
            for name in DeviceFinder.linkNames(volumeID: id.rawValue, mode: mode, wwn: nil) {
                if DeviceFinder.resolve(finder.byIDDirectory + "/" + name) == target { return true }
            }
        }
        return path.contains(String(id.rawValue.prefix(20)))
    }
}
