// Value types for EVS disks and snapshots. Raw values are exactly the strings EVS and Everest use.

/// A point in time: seconds since 1970-01-01 00:00 UTC, as EVS's `created_at` and CSI's `creation_time` carry
/// it. The domain's own type (the domain imports only the standard library); the backends read the clock.
public struct Timestamp: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
    /// Seconds since 1970-01-01 00:00 UTC (fractions allowed).
    public var timeIntervalSince1970: Double

    public init(timeIntervalSince1970: Double) { self.timeIntervalSince1970 = timeIntervalSince1970 }

    public static func < (lhs: Timestamp, rhs: Timestamp) -> Bool { lhs.timeIntervalSince1970 < rhs.timeIntervalSince1970 }

    public var description: String { "\(timeIntervalSince1970) s since 1970" }
}

/// An EVS disk id (a CSI volume id), e.g. `d-1a2b`.
public struct DiskID: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The id text.
    public var rawValue: String
    /// Wraps an id.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// Wraps an id.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    /// Wraps a literal id.
    public init(stringLiteral value: String) { self.rawValue = value }
    /// The id text.
    public var description: String { rawValue }
}

/// An EVS snapshot id (a CSI snapshot id), e.g. `s-9f8e`.
public struct SnapshotID: RawRepresentable, Sendable, Hashable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The id text.
    public var rawValue: String
    /// Wraps an id.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// Wraps an id.
    public init(_ rawValue: String) { self.rawValue = rawValue }
    /// Wraps a literal id.
    public init(stringLiteral value: String) { self.rawValue = value }
    /// The id text.
    public var description: String { rawValue }
}

/// EVS disk sub-type, the value of `everest.io/disk-volume-type`.
public enum VolumeType: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// High I/O.
    case sas = "SAS"
    /// Ultra-high I/O.
    case ssd = "SSD"
    /// General purpose SSD.
    case gpssd = "GPSSD"
    /// Extreme SSD.
    case essd = "ESSD"
    /// General purpose SSD V2 (needs iops and throughput).
    case gpssd2 = "GPSSD2"
    /// Common I/O: exists on old disks, can no longer be created.
    case sata = "SATA"

    /// Parses the annotation/parameter text (exact, upper case as Everest writes it); nil when unknown.
    public init?(parameter: String) { self.init(rawValue: parameter) }
    /// Whether new disks of this type can be created (false for SATA).
    public var isCreatable: Bool { self != .sata }
    /// Whether provisioned iops and throughput are required (GPSSD2).
    public var requiresProvisionedPerformance: Bool { self == .gpssd2 }
    /// The Everest spelling.
    public var description: String { rawValue }
}

/// How the disk is attached: VBD (default) or SCSI (`everest.io/passthrough: "true"`).
public enum DiskMode: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Virtual block device (default).
    case vbd = "VBD"
    /// SCSI passthrough.
    case scsi = "SCSI"

    /// Mode from the `everest.io/passthrough` value: `"true"` (any case) is SCSI, anything else VBD.
    public init(passthrough: String?) {
        self = passthrough?.lowercased() == "true" ? .scsi : .vbd
    }
    /// The spelling used in `everest.io/disk-mode`.
    public var description: String { rawValue }
}

/// Disk or snapshot encryption (R6).
public enum Encryption: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Not encrypted.
    case plain
    /// Encrypted with the given KMS key id.
    case kms(keyID: String)

    /// Encryption from an optional `everest.io/crypt-key-id` value (empty = plain).
    public init(cryptKeyID: String?) {
        if let key = cryptKeyID, !key.isEmpty { self = .kms(keyID: key) } else { self = .plain }
    }
    /// Whether the data is encrypted.
    public var isEncrypted: Bool { if case .kms = self { true } else { false } }
    /// The KMS key id, if encrypted.
    public var keyID: String? { if case .kms(let key) = self { key } else { nil } }
    /// `plain` or `kms:<key>`.
    public var description: String {
        switch self {
        case .plain: "plain"
        case .kms(let key): "kms:\(key)"
        }
    }
}

/// Whether a disk may be attached to several servers at once (R8).
public enum Sharing: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Attached to one server at a time (default).
    case nonShared = "non-shared"
    /// Shared disk.
    case shared = "shared"
    /// From a Bool (`true` = shared).
    public init(_ shared: Bool) { self = shared ? .shared : .nonShared }
    /// Whether shared.
    public var isShared: Bool { self == .shared }
    /// `shared` or `non-shared`.
    public var description: String { rawValue }
}

/// Where a disk lives (R9).
public struct Topology: Sendable, Hashable, Codable, CustomStringConvertible {
    /// Region, e.g. `cn-north-4`.
    public var region: String
    /// Availability zone, e.g. `cn-north-4b`.
    public var zone: String
    /// Creates a topology.
    public init(region: String, zone: String) { self.region = region; self.zone = zone }
    /// `region/zone`.
    public var description: String { "\(region)/\(zone)" }
}

/// EVS disk status (EVEREST.md "EVS facts"). Raw values are the EVS strings.
public enum DiskStatus: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Being created.
    case creating
    /// Ready, not attached.
    case available
    /// Attached.
    case inUse = "in-use"
    /// Being attached.
    case attaching
    /// Being detached.
    case detaching
    /// Being extended.
    case extending
    /// Being deleted.
    case deleting
    /// Failed.
    case error
    /// R4: only `available` and `in-use` disks can be snapshotted.
    public var isSnapshottable: Bool { self == .available || self == .inUse }
    /// The EVS string.
    public var description: String { rawValue }
}

/// EVS snapshot status (EVEREST.md "EVS facts"). Raw values are the EVS strings.
public enum SnapshotStatus: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// Being created.
    case creating
    /// Ready to use (R11).
    case available
    /// Failed.
    case error
    /// Being deleted.
    case deleting
    /// Deletion failed.
    case errorDeleting = "error_deleting"
    /// Being rolled back.
    case rollbacking
    /// Being backed up.
    case backingUp = "backing-up"
    /// R11: ready to restore from.
    public var isReadyToUse: Bool { self == .available }
    /// R13: can be deleted (available or error).
    public var isDeletable: Bool { self == .available || self == .error }
    /// The EVS string.
    public var description: String { rawValue }
}

/// How a PVC's volume was provisioned (R3): through the CSI driver or the old FlexVolume driver.
public enum StorageFormat: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// CSI (`disk.csi.everest.io`); snapshots allowed.
    case csi
    /// FlexVolume (`ssd`, `sas`, `sata` classes); no snapshots.
    case flexVolume = "flexvolume"
    /// The name.
    public var description: String { rawValue }
}

/// File system on the disk (`csi.storage.k8s.io/fstype`).
public enum FileSystemType: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    /// ext4 (default).
    case ext4
    /// xfs.
    case xfs
    /// The fstype string.
    public var description: String { rawValue }
}

/// An EVS disk as the rules see it.
public struct Disk: Sendable, Hashable, Codable {
    /// Disk id.
    public var id: DiskID
    /// Disk name (the CSI volume name).
    public var name: String
    /// Capacity in GiB (R12).
    public var capacityGiB: Int
    /// Sub-type.
    public var type: VolumeType
    /// VBD or SCSI.
    public var mode: DiskMode
    /// Encryption (R6).
    public var encryption: Encryption
    /// Sharing.
    public var sharing: Sharing
    /// Region and zone (R9).
    public var topology: Topology
    /// EVS status (R4).
    public var status: DiskStatus
    /// CSI or FlexVolume (R3).
    public var storageFormat: StorageFormat
    /// File system.
    public var fsType: FileSystemType
    /// Provisioned IOPS (GPSSD2; nil for other types, or when the backend does not report it).
    public var iops: Int?
    /// Provisioned throughput in MiB/s (GPSSD2; nil otherwise).
    public var throughput: Int?

    /// Creates a disk; defaults follow Everest (SAS, VBD, plain, non-shared, available, CSI, ext4, no
    /// provisioned performance).
    public init(
        id: DiskID, name: String, capacityGiB: Int, type: VolumeType = .sas, mode: DiskMode = .vbd,
        encryption: Encryption = .plain, sharing: Sharing = .nonShared, topology: Topology,
        status: DiskStatus = .available, storageFormat: StorageFormat = .csi, fsType: FileSystemType = .ext4,
        iops: Int? = nil, throughput: Int? = nil
    ) {
        self.id = id; self.name = name; self.capacityGiB = capacityGiB; self.type = type; self.mode = mode
        self.encryption = encryption; self.sharing = sharing; self.topology = topology; self.status = status
        self.storageFormat = storageFormat; self.fsType = fsType; self.iops = iops; self.throughput = throughput
    }

    /// Whether the disk is shared.
    public var shared: Bool { sharing.isShared }
}

/// An EVS snapshot, with the source disk's attributes the restore rules (R8, R9, R10) need.
public struct Snapshot: Sendable, Hashable, Codable {
    /// Snapshot id.
    public var id: SnapshotID
    /// Snapshot name (R14).
    public var name: String
    /// Source disk id.
    public var sourceDiskID: DiskID
    /// Size in GiB: the source disk's capacity when taken.
    public var sizeGiB: Int
    /// EVS status (R11, R13).
    public var status: SnapshotStatus
    /// Creation time.
    public var createdAt: Timestamp
    /// Encryption, equal to the source's (R6).
    public var encryption: Encryption
    /// Source disk sub-type.
    public var sourceType: VolumeType
    /// Source disk mode.
    public var sourceMode: DiskMode
    /// Source disk sharing.
    public var sourceSharing: Sharing
    /// Source disk region/zone.
    public var sourceTopology: Topology
    /// Source disk file system.
    public var sourceFSType: FileSystemType

    /// Creates a snapshot record.
    public init(
        id: SnapshotID, name: String, sourceDiskID: DiskID, sizeGiB: Int, status: SnapshotStatus = .available,
        createdAt: Timestamp = Timestamp(timeIntervalSince1970: 0), encryption: Encryption = .plain,
        sourceType: VolumeType = .sas, sourceMode: DiskMode = .vbd, sourceSharing: Sharing = .nonShared,
        sourceTopology: Topology, sourceFSType: FileSystemType = .ext4
    ) {
        self.id = id; self.name = name; self.sourceDiskID = sourceDiskID; self.sizeGiB = sizeGiB
        self.status = status; self.createdAt = createdAt; self.encryption = encryption
        self.sourceType = sourceType; self.sourceMode = sourceMode; self.sourceSharing = sourceSharing
        self.sourceTopology = sourceTopology; self.sourceFSType = sourceFSType
    }

    /// A snapshot of `disk`, carrying its attributes; encryption follows the disk (R6).
    public init(id: SnapshotID, name: String, of disk: Disk, status: SnapshotStatus = .creating,
                createdAt: Timestamp = Timestamp(timeIntervalSince1970: 0)) {
        self.init(
            id: id, name: name, sourceDiskID: disk.id, sizeGiB: disk.capacityGiB, status: status,
            createdAt: createdAt, encryption: EverestRules.snapshotEncryption(of: disk),
            sourceType: disk.type, sourceMode: disk.mode, sourceSharing: disk.sharing,
            sourceTopology: disk.topology, sourceFSType: disk.fsType)
    }
}

/// What a restore (CreateVolume from a snapshot) asks for. Nil means the request leaves it unsaid,
/// in which case the source's value is used.
public struct RestoreRequest: Sendable, Hashable, Codable {
    /// Name of the new disk / PVC (R7, R14).
    public var name: String
    /// Requested capacity in GiB (R8, R12), already rounded up to whole GiB.
    public var capacityGiB: Int
    /// Requested sub-type.
    public var type: VolumeType?
    /// Requested mode.
    public var mode: DiskMode?
    /// Requested encryption.
    public var encryption: Encryption?
    /// Requested sharing.
    public var sharing: Sharing?
    /// Requested fstype.
    public var fsType: FileSystemType?
    /// Zones allowed by the request's topology requirement; empty = any (R9).
    public var allowedZones: [String]

    /// Creates a request.
    public init(
        name: String, capacityGiB: Int, type: VolumeType? = nil, mode: DiskMode? = nil,
        encryption: Encryption? = nil, sharing: Sharing? = nil, fsType: FileSystemType? = nil,
        allowedZones: [String] = []
    ) {
        self.name = name; self.capacityGiB = capacityGiB; self.type = type; self.mode = mode
        self.encryption = encryption; self.sharing = sharing; self.fsType = fsType; self.allowedZones = allowedZones
    }
}
