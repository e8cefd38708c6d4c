// The rule checks of one whole operation, in the one order both programs run them, so the driver and the
// plugin refuse the same request with the same first violation. Each program passes the facts it has:
// the driver knows the disk (or snapshot) and the CSI request; the plugin also knows the PVC, its PV
// and the restore PVC, and learns them one read at a time. A check whose facts are absent is not run.

/// One check of CreateSnapshot (VolumeSnapshot), with the rule it enforces.
public enum CreateSnapshotCheck: String, Sendable, Hashable, CaseIterable {
    /// R14: the snapshot name.
    case name
    /// R4 in Kubernetes terms: the PVC is Bound (plugin).
    case pvcBound
    /// R3: the PVC's PV is a volume of the Everest driver, provisioned from a `csi*` class (plugin).
    case evsVolume
    /// R3: the disk is a CSI disk, not a FlexVolume one.
    case storageFormat
    /// R4: the disk is available or in-use.
    case diskState
    /// R5: one more snapshot fits the disk's quota.
    case quota

    /// The rule this check enforces.
    public var rule: RuleID {
        switch self {
        case .name: .r14
        case .pvcBound, .diskState: .r4
        case .evsVolume, .storageFormat: .r3
        case .quota: .r5
        }
    }
}

/// What the checks of CreateSnapshot look at; nil means "not known here", and the checks that need it do not run.
public struct CreateSnapshotFacts: Sendable, Hashable {
    /// The snapshot's name (nil for `kubectl evssnap check PVC`, which names none).
    public var name: String?
    /// The PVC and its PV (plugin).
    public var pvc: PVCFacts?
    /// The source disk.
    public var disk: Disk?
    /// How many snapshots the disk has already.
    public var existingSnapshots: Int?
    /// Creates the facts.
    public init(name: String? = nil, pvc: PVCFacts? = nil, disk: Disk? = nil, existingSnapshots: Int? = nil) {
        self.name = name; self.pvc = pvc; self.disk = disk; self.existingSnapshots = existingSnapshots
    }
}

/// One check of a restore (CreateVolume from a snapshot; `kubectl evssnap restore`, `check -f`), with its rule.
public enum RestoreCheck: String, Sendable, Hashable, CaseIterable {
    /// R14: the new disk's (PVC's) name.
    case name
    /// R7: the target name is not taken (plugin).
    case targetIsNew
    /// R11: the snapshot is ready to use.
    case ready
    /// R10: the restore PVC has the shape Everest requires (plugin).
    case pvcShape
    /// R12: the capacity is within 1...32768 GiB.
    case capacity
    /// R8: stated attributes and capacity equal the source's.
    case matchesSource
    /// R9: the topology allows the snapshot's zone.
    case zone

    /// The rule this check enforces.
    public var rule: RuleID {
        switch self {
        case .name: .r14
        case .targetIsNew: .r7
        case .ready: .r11
        case .pvcShape: .r10
        case .capacity: .r12
        case .matchesSource: .r8
        case .zone: .r9
        }
    }
}

/// What the checks of a restore look at; nil means "not known here", and the checks that need it do not run.
public struct RestoreFacts: Sendable, Hashable {
    /// The new disk's name (the CSI volume name; the PVC name in the plugin).
    public var name: String?
    /// Whether an object of that name exists already (plugin: the PVC).
    public var targetExists: Bool?
    /// The snapshot restored from.
    public var snapshot: Snapshot?
    /// The restore PVC (plugin), the VolumeSnapshot it must name, and the facts of its StorageClass (R10).
    public var pvc: RestorePVCShape?
    /// The VolumeSnapshot name the PVC's dataSource must carry (nil: any).
    public var volumeSnapshotName: String?
    /// The StorageClass the PVC names, nil when it does not exist (R10).
    public var storageClass: StorageClassFacts?
    /// What the request states for the new disk (capacity, attributes, allowed zones).
    public var request: RestoreRequest?
    /// Creates the facts.
    public init(name: String? = nil, targetExists: Bool? = nil, snapshot: Snapshot? = nil, pvc: RestorePVCShape? = nil,
                volumeSnapshotName: String? = nil, storageClass: StorageClassFacts? = nil, request: RestoreRequest? = nil) {
        self.name = name; self.targetExists = targetExists; self.snapshot = snapshot; self.pvc = pvc
        self.volumeSnapshotName = volumeSnapshotName; self.storageClass = storageClass; self.request = request
    }
}

extension EverestRules {
    /// The one order of CreateSnapshot's checks.
    public static let createSnapshotChecks: [CreateSnapshotCheck] = [.name, .pvcBound, .evsVolume, .storageFormat, .diskState, .quota]

    /// The one order of a restore's checks.
    public static let restoreChecks: [RestoreCheck] = [.name, .targetIsNew, .ready, .pvcShape, .capacity, .matchesSource, .zone]

    /// Runs one check of CreateSnapshot; returns false when its facts are absent (not run).
    @discardableResult
    public static func run(_ check: CreateSnapshotCheck, _ facts: CreateSnapshotFacts,
                           settings: RuleSettings = .default) throws(EverestRuleViolation) -> Bool {
        switch check {
        case .name:
            guard let name = facts.name else { return false }
            try checkSnapshotName(name)
        case .pvcBound:
            guard let pvc = facts.pvc else { return false }
            try checkPVCBound(pvc)
        case .evsVolume:
            guard let pvc = facts.pvc else { return false }
            try checkEVSVolume(pvc, settings: settings)
        case .storageFormat:
            guard let disk = facts.disk else { return false }
            try checkStorageFormat(disk)
        case .diskState:
            guard let disk = facts.disk else { return false }
            try checkSnapshottable(disk)
        case .quota:
            guard let disk = facts.disk, let count = facts.existingSnapshots else { return false }
            try checkSnapshotQuota(disk: disk.id, existingSnapshots: count, settings: settings)
        }
        return true
    }

    /// Runs one check of a restore; returns false when its facts are absent (not run).
    @discardableResult
    public static func run(_ check: RestoreCheck, _ facts: RestoreFacts,
                           settings: RuleSettings = .default) throws(EverestRuleViolation) -> Bool {
        switch check {
        case .name:
            guard let name = facts.name ?? facts.request?.name else { return false }
            try checkName(name)
        case .targetIsNew:
            guard let exists = facts.targetExists, let name = facts.name ?? facts.request?.name else { return false }
            try checkRestoreTargetIsNew(name: name, existingNames: exists ? [name] : [])
        case .ready:
            guard let snapshot = facts.snapshot else { return false }
            try checkReadyToRestore(snapshot)
        case .pvcShape:
            guard let pvc = facts.pvc, let snapshot = facts.snapshot else { return false }
            try checkRestorePVC(pvc, snapshot: snapshot, volumeSnapshotName: facts.volumeSnapshotName,
                                storageClass: facts.storageClass, settings: settings)
        case .capacity:
            guard let request = facts.request else { return false }
            try checkCapacity(gib: request.capacityGiB)
        case .matchesSource:
            guard let request = facts.request, let snapshot = facts.snapshot else { return false }
            try checkRestoreMatchesSource(request, snapshot: snapshot, settings: settings)
        case .zone:
            guard let request = facts.request, let snapshot = facts.snapshot else { return false }
            try checkZone(snapshot: snapshot, allowedZones: request.allowedZones)
        }
        return true
    }

    /// Runs every check of `createSnapshotChecks` whose facts are given, in order; throws the first violation.
    public static func checkCreateSnapshot(_ facts: CreateSnapshotFacts, settings: RuleSettings = .default)
        throws(EverestRuleViolation) {
        for check in createSnapshotChecks { try run(check, facts, settings: settings) }
    }

    /// Runs every check of `restoreChecks` whose facts are given, in order; throws the first violation.
    public static func checkRestore(_ facts: RestoreFacts, settings: RuleSettings = .default) throws(EverestRuleViolation) {
        for check in restoreChecks { try run(check, facts, settings: settings) }
    }

    /// CreateSnapshot in the driver: every check of `createSnapshotChecks` the disk and its snapshot count
    /// answer. Returns the encryption the snapshot is stored with (R6).
    @discardableResult
    public static func checkCreateSnapshot(
        name: String, disk: Disk, existingSnapshots: Int, settings: RuleSettings = .default
    ) throws(EverestRuleViolation) -> Encryption {
        try checkCreateSnapshot(CreateSnapshotFacts(name: name, disk: disk, existingSnapshots: existingSnapshots),
                                settings: settings)
        return snapshotEncryption(of: disk)
    }

    /// CreateVolume from a snapshot in the driver: every check of `restoreChecks` the request and the snapshot
    /// answer. Returns where and how the new disk is made: the snapshot's topology (R9), its encryption (R6)
    /// and the source's attributes for everything the request left unsaid.
    public static func checkRestore(
        _ request: RestoreRequest, snapshot: Snapshot, settings: RuleSettings = .default
    ) throws(EverestRuleViolation) -> RestorePlan {
        try checkRestore(RestoreFacts(snapshot: snapshot, request: request), settings: settings)
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
