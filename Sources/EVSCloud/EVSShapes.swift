// How domain values are written to and read from EVS's published JSON (volume and snapshot objects, job objects),
// and the metadata keys the driver sets on what it creates.
import EVSSnapshotRules
import JSONCore
import TimeCore

/// What EVS's volume and snapshot objects have alike: id, name, status, size, metadata, the driver's tag, and
/// `created_at`. A time that cannot be read is a malformed answer, reported as such (never taken for 1970-01-01: the
/// newest-first choice of a repeated create and the list order depend on it).
protocol EVSObject {
    var json: JSON { get }
    /// `disk` or `snapshot`, for messages.
    static var kind: String { get }
    /// The metadata key of the driver's CSI-name tag.
    static var tagKey: String { get }
}

extension EVSObject {
    var id: String { json["id"].string ?? "" }
    var name: String { json["name"].string ?? "" }
    var statusText: String { json["status"].string ?? "" }
    var size: Int { json["size"].int ?? 0 }
    var metadata: [String: JSON] { json["metadata"].object ?? [:] }
    func meta(_ key: String) -> String? { metadata[key]?.string }
    /// The CSI name the driver tagged the object with; nil for one the driver did not make.
    var taggedName: String? { meta(Self.tagKey) }

    /// When EVS made the object; throws `.malformed` when `created_at` is missing or not a time.
    func created() throws(CloudAPIError) -> Instant {
        let text = json["created_at"].string
        guard let text, let instant = WallClock.parseISO8601(text) else {
            let shown = text.map { "\"\($0)\"" } ?? "missing"
            throw .malformed(operation: "EVS \(Self.kind) \(json["id"].string ?? "?")",
                             detail: "created_at \(shown) is not an ISO 8601 time")
        }
        return instant
    }
}

/// Metadata keys: EVS's own (`hw:passthrough`, `__system__encrypted`, `__system__cmkid`) and the driver's tags.
public enum EVSMetadata {
    /// EVS: `"true"` makes a SCSI disk, otherwise VBD.
    public static let passthrough = "hw:passthrough"
    /// EVS: `"1"` for an encrypted disk.
    public static let encrypted = "__system__encrypted"
    /// EVS: the KMS key id of an encrypted disk.
    public static let cmkID = "__system__cmkid"
    /// The driver's tag on a disk it created: the CSI volume name. Finds the disk again after a crash (EVS allows
    /// duplicate names; a disk without this tag is never taken for the driver's).
    public static let volumeName = "evssnap.io/csi-volume-name"
    /// The driver's tag on a snapshot it created: the CSI snapshot name.
    public static let snapshotName = "evssnap.io/csi-snapshot-name"
    /// The file system recorded on a disk (and on its snapshots).
    public static let fsType = "evssnap.io/fstype"
    /// Source attributes recorded on a snapshot (R8, R9 compare a restore with them).
    public static let sourceType = "evssnap.io/source-volume-type"
    public static let sourceMode = "evssnap.io/source-disk-mode"
    public static let sourceShared = "evssnap.io/source-shared"
    public static let sourceZone = "evssnap.io/source-zone"
    public static let sourceCMK = "evssnap.io/source-cmkid"
    /// The mode a disk was published in to one ECS server (ECS attach has no read-only mode, so the driver keeps
    /// it here): `attachModePrefix + server id`, value `ro` or `rw`. Written before the attach, deleted after the
    /// detach. Only `[a-z0-9.-]` so it can name a path segment (`DELETE …/metadata/{key}`) as it is.
    public static let attachModePrefix = "evssnap.attach-mode."
    public static func attachMode(server: String) -> String { attachModePrefix + server }
    public static let readOnly = "ro"
    public static let readWrite = "rw"
}

/// An EVS volume object, as far as the driver reads it.
struct EVSVolume: EVSObject {
    var json: JSON
    static let kind = "disk"
    static let tagKey = EVSMetadata.volumeName

    var zone: String { json["availability_zone"].string ?? "" }
    var sourceSnapshot: String? { json["snapshot_id"].string.flatMap { $0.isEmpty ? nil : $0 } }
    var wwn: String? { json["wwn"].string.flatMap { $0.isEmpty ? nil : $0 } }
    /// Servers the volume is attached to.
    var attachedServers: [String] { (json["attachments"].array ?? []).compactMap { $0["server_id"].string } }
    var shared: Bool { json["multiattach"].bool ?? json["shareable"].bool ?? false }
    /// The publish mode the driver recorded for `server` (`true` read-only), nil when none is recorded.
    func recordedReadOnly(server: String) -> Bool? {
        meta(EVSMetadata.attachMode(server: server)).map { $0 == EVSMetadata.readOnly }
    }

    /// The domain's status. EVS has more (the disk status table): those without a domain equivalent are `error`
    /// to the rules (neither snapshottable nor modifiable), but the backend decides deletes and retries by
    /// `statusText` (`createFailed`, deleteDisk), never by this value: `error_extending`, `rollbacking`,
    /// `error_rollbacking` and `awaiting-transfer` are disks that exist, not failed creates.
    var status: DiskStatus {
        if let status = DiskStatus(rawValue: statusText) { return status }
        switch statusText {
        case "downloading", "restoring-backup": return .creating
        case "retyping", "uploading", "backing-up", "reserved", "maintenance": return attachedServers.isEmpty ? .available : .inUse
        default: return .error  // error_deleting, error_extending, error_restoring, rollbacking, error_rollbacking, awaiting-transfer, unknown
        }
    }

    /// EVS's `error`: "an error occurred while the disk was being created" (the status table): what a failed
    /// create left, the only status in which the driver deletes a disk of its own accord.
    var createFailed: Bool { statusText == "error" }

    var mode: DiskMode { meta(EVSMetadata.passthrough)?.lowercased() == "true" ? .scsi : .vbd }

    var encryption: Encryption {
        if meta(EVSMetadata.encrypted) == "1" || json["encrypted"].bool == true {
            return .kms(keyID: meta(EVSMetadata.cmkID) ?? "")
        }
        return .plain
    }

    func disk(region: String) -> Disk {
        Disk(id: DiskID(id), name: taggedName ?? name, capacityGiB: size,
             type: VolumeType(rawValue: json["volume_type"].string ?? "") ?? .sas, mode: mode, encryption: encryption,
             sharing: Sharing(shared), topology: Topology(region: region, zone: zone), status: status,
             storageFormat: .csi, fsType: FileSystemType(rawValue: meta(EVSMetadata.fsType) ?? "") ?? .ext4)
    }
}

/// An EVS snapshot object (`cloudsnapshots`).
struct EVSSnapshot: EVSObject {
    var json: JSON
    static let kind = "snapshot"
    static let tagKey = EVSMetadata.snapshotName

    var volumeID: String { json["volume_id"].string ?? "" }
    var status: SnapshotStatus { SnapshotStatus(rawValue: statusText) ?? .error }

    /// The domain snapshot; source attributes come from the driver's metadata, else from `source` (the disk).
    /// Throws `.malformed` when EVS's `created_at` cannot be read.
    func snapshot(region: String, source: Disk?) throws(CloudAPIError) -> Snapshot {
        let type = meta(EVSMetadata.sourceType).flatMap(VolumeType.init(rawValue:)) ?? source?.type ?? .sas
        let mode = meta(EVSMetadata.sourceMode).flatMap { DiskMode(rawValue: $0) } ?? source?.mode ?? .vbd
        let sharing = meta(EVSMetadata.sourceShared).map { Sharing($0 == "true") } ?? source?.sharing ?? .nonShared
        let zone = meta(EVSMetadata.sourceZone) ?? source?.topology.zone ?? ""
        let encryption: Encryption = meta(EVSMetadata.sourceCMK).map { $0.isEmpty ? .plain : .kms(keyID: $0) }
            ?? source?.encryption ?? .plain
        let fs = meta(EVSMetadata.fsType).flatMap(FileSystemType.init(rawValue:)) ?? source?.fsType ?? .ext4
        return Snapshot(id: SnapshotID(id), name: taggedName ?? name, sourceDiskID: DiskID(volumeID), sizeGiB: size,
                        status: status, createdAt: Timestamp(timeIntervalSince1970: try created().secondsSince1970),
                        encryption: encryption,
                        sourceType: type, sourceMode: mode, sourceSharing: sharing,
                        sourceTopology: Topology(region: region, zone: zone), sourceFSType: fs)
    }
}

/// A job object (`GET /v1/{project_id}/jobs/{job_id}`): status SUCCESS, RUNNING, INIT or FAIL.
struct EVSJob {
    var json: JSON
    var status: String { json["status"].string ?? "" }
    var isFinished: Bool { status == "SUCCESS" || status == "FAIL" }
    var succeeded: Bool { status == "SUCCESS" }
    /// The disk a create job made: `entities.volume_id`, or for a batch job (batchCreateVolume) the first of
    /// `entities.sub_jobs[].entities.volume_id` (the job page's two examples).
    var volumeID: String? {
        json["entities"]["volume_id"].string
            ?? (json["entities"]["sub_jobs"].array ?? []).lazy.compactMap { $0["entities"]["volume_id"].string }.first
    }
    var errorCode: String { json["error_code"].string ?? "" }
    var failReason: String { json["fail_reason"].string ?? "" }
}
