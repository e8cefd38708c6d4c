// The rule checks of one whole operation, in the order the driver and the plugin apply them,
// so both refuse the same request with the same first violation.

extension EverestRules {
    /// CreateSnapshot: R14 name, R3 storage format, R4 disk state, R5 quota (counting the disk's
    /// existing snapshots), in that order. Returns the encryption the snapshot is stored with (R6).
    @discardableResult
    public static func checkCreateSnapshot(
        name: String, disk: Disk, existingSnapshots: Int, settings: RuleSettings = .default
    ) throws(EverestRuleViolation) -> Encryption {
        try checkSnapshotName(name)
        if disk.storageFormat != .csi { throw .notCSIVolume(pvc: disk.name) }
        try checkSnapshottable(disk)
        try checkSnapshotQuota(disk: disk.id, existingSnapshots: existingSnapshots, settings: settings)
        return snapshotEncryption(of: disk)
    }

    /// CreateVolume from a snapshot: R14 name, R11 readiness, R12 capacity bounds, R8 attributes and
    /// capacity, R9 zone, in that order. Returns where and how the new disk is made: the snapshot's
    /// topology (R9), its encryption (R6) and the source's attributes for everything the request left unsaid.
    public static func checkRestore(
        _ request: RestoreRequest, snapshot: Snapshot, settings: RuleSettings = .default
    ) throws(EverestRuleViolation) -> RestorePlan {
        try checkName(request.name)
        try checkReadyToRestore(snapshot)
        try checkCapacity(gib: request.capacityGiB)
        try checkRestoreMatchesSource(request, snapshot: snapshot, settings: settings)
        try checkZone(snapshot: snapshot, allowedZones: request.allowedZones)
        return RestorePlan(
            capacityGiB: request.capacityGiB, type: snapshot.sourceType, mode: snapshot.sourceMode,
            encryption: restoredEncryption(from: snapshot), sharing: snapshot.sourceSharing,
            fsType: request.fsType ?? snapshot.sourceFSType, topology: restoreTopology(for: snapshot))
    }
}

/// How a disk restored from a snapshot is created, once `EverestRules.checkRestore` has accepted it.
public struct RestorePlan: Sendable, Hashable, Codable {
    /// Capacity in GiB (equal to the source's unless `capacityMatch` is `.atLeast`).
    public var capacityGiB: Int
    /// The source's sub-type (R8).
    public var type: VolumeType
    /// The source's mode (R8).
    public var mode: DiskMode
    /// The snapshot's encryption (R6).
    public var encryption: Encryption
    /// The source's sharing (R8).
    public var sharing: Sharing
    /// File system (the request's, else the source's).
    public var fsType: FileSystemType
    /// The snapshot's region and zone (R9).
    public var topology: Topology
    /// Creates a plan.
    public init(capacityGiB: Int, type: VolumeType, mode: DiskMode, encryption: Encryption, sharing: Sharing,
                fsType: FileSystemType, topology: Topology) {
        self.capacityGiB = capacityGiB; self.type = type; self.mode = mode; self.encryption = encryption
        self.sharing = sharing; self.fsType = fsType; self.topology = topology
    }
}
