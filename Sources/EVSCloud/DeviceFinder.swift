// Where an attached EVS disk appears on its server: udev's /dev/disk/by-id links, named after the serial the
// hypervisor gives the disk. A VBD (virtio-blk) disk's serial is the first 20 characters of the volume id
// (virtio-blk serials hold 20 bytes): `virtio-<id[0..<20]>`. A SCSI (passthrough) disk is named after its WWN:
// `scsi-3<wwn>` (also `wwn-0x<wwn>`). The node waits for the link within the call's deadline: ECS reports the
// attachment before udev has made the link.
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
        switch mode {
        case .vbd: ["virtio-" + String(volumeID.prefix(20))]
        case .scsi:
            if let wwn, !wwn.isEmpty {
                ["scsi-3" + wwn.lowercased(), "wwn-0x" + wwn.lowercased()]
            } else {
                // Without a WWN the SCSI serial is the volume id itself.
                ["scsi-0HUAWEI_" + volumeID, "scsi-" + volumeID]
            }
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
