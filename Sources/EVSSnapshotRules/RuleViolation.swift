// The one error type of the domain: a broken Everest rule, with the values involved.
// The domain never mentions gRPC: each violation has a `RefusalKind`, and the driver's StatusMapping turns
// kinds into gRPC codes.

/// A rule id of EVEREST.md (R1...R14), plus `attributes` for the disk-attribute parameters
/// ("Where a disk's attributes come from") and `csi` for the generic CSI situations of the error table.
public enum RuleID: String, Sendable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case r1 = "R1", r2 = "R2", r3 = "R3", r4 = "R4", r5 = "R5", r6 = "R6", r7 = "R7"
    case r8 = "R8", r9 = "R9", r10 = "R10", r11 = "R11", r12 = "R12", r13 = "R13", r14 = "R14"
    /// Disk attribute parameters and annotations (not a numbered rule).
    case attributes = "ATTR"
    /// Generic CSI situations (not found, in flight, idempotency).
    case csi = "CSI"
    /// `R8` etc.
    public var description: String { rawValue }
}

/// What kind of refusal a violation is, in the domain's own words. The driver's StatusMapping is the one
/// place that turns a kind into a gRPC code (EVEREST.md "Error mapping").
public enum RefusalKind: String, Sendable, Hashable, Codable, CaseIterable {
    /// The request itself is wrong: a malformed or unknown value, an attribute that differs from the source.
    case invalidRequest
    /// A size outside its bounds, or a capacity that does not match the source's.
    case outOfRange
    /// The object the request names does not exist.
    case notFound
    /// The name is already taken.
    case alreadyExists
    /// The objects involved are not in a state that allows the request now (disk state, readiness, quota,
    /// snapshots or attachments left, cluster prerequisites).
    case stateConflict
    /// The request cannot be placed where it asks to be (a topology that excludes the only possible zone).
    case notPlaceable
    /// Another operation on the same object is in progress.
    case inProgress
}

/// A broken Everest rule. Each case carries the values involved; `message` names the rule id first.
public enum EverestRuleViolation: Error, Sendable, Hashable, CustomStringConvertible {
    // R1
    /// R1: the cluster is older than the minimum version.
    case clusterTooOld(found: KubeVersion, minimum: KubeVersion)
    /// R1: the cluster's version text could not be read.
    case clusterVersionUnreadable(String)

    // R2
    /// R2: the CSI driver is not registered (no CSIDriver object).
    case driverNotRegistered(driver: String)
    /// R2: the cluster serves no usable version of the snapshot API group.
    case snapshotAPINotServed(group: String, served: [String])
    /// R2: the named VolumeSnapshotClass does not exist.
    case snapshotClassMissing(name: String)
    /// R2: the VolumeSnapshotClass belongs to another driver.
    case snapshotClassWrongDriver(name: String, driver: String, expected: String)

    // R3
    /// R3: the PVC is not bound to a PV, so its storage is unknown.
    case pvcHasNoVolume(pvc: String)
    /// R3: the PVC's class is a FlexVolume class (`ssd`, `sas`, `sata`).
    case flexVolumePVC(pvc: String, storageClass: String)
    /// R3: the PV is not a CSI volume (FlexVolume, hostPath, local, ...).
    case notCSIVolume(pvc: String)
    /// R3: the PV belongs to another CSI driver (SFS, OBS, ...).
    case otherDriver(pvc: String, driver: String, expected: String)
    /// R3: the PVC was provisioned from a StorageClass that is not one of Everest's `csi*` classes.
    case notCSIStorageClass(pvc: String, storageClass: String)

    // R4
    /// R4: the disk's status does not allow a snapshot.
    case diskNotSnapshottable(disk: DiskID, status: DiskStatus)
    /// R4: the PVC is not Bound.
    case pvcNotBound(pvc: String, phase: String)
    /// R4: the source disk does not exist.
    case diskNotFound(disk: DiskID)

    // R5
    /// R5: the disk already has the maximum number of snapshots.
    case snapshotQuotaReached(disk: DiskID, count: Int, limit: Int)

    // R7
    /// R7: the restore target name is already taken.
    case restoreTargetExists(name: String)
    /// R7: a volume cannot be cloned from another volume; only a snapshot creates a disk from existing data.
    case cloneNotSupported(sourceVolume: String)

    // R8
    /// R8: requested sub-type differs from the source's.
    case typeDiffers(requested: VolumeType, source: VolumeType, disk: DiskID)
    /// R8: requested disk mode differs from the source's.
    case modeDiffers(requested: DiskMode, source: DiskMode, disk: DiskID)
    /// R8: requested encryption differs from the source's.
    case encryptionDiffers(requested: Encryption, source: Encryption, disk: DiskID)
    /// R8: requested sharing differs from the source's.
    case sharingDiffers(requested: Sharing, source: Sharing, disk: DiskID)
    /// R8: requested capacity does not satisfy the capacity rule.
    case capacityDiffers(requestedGiB: Int, sourceGiB: Int, match: CapacityMatch, disk: DiskID)
    /// R8: a modification names an attribute fixed at creation (type, mode, encryption, sharing, ...);
    /// `accepted` are the keys that can change.
    case parameterFixedAtCreation(key: String, accepted: [String])

    // R9
    /// R9: the request's topology excludes the snapshot's zone.
    case zoneNotAllowed(zone: String, allowed: [String], snapshot: SnapshotID)

    // R10
    /// R10: a field of the restore PVC differs from what the source requires.
    case restorePVCField(field: String, expected: String, found: String)
    /// R10: the restore PVC's storage request does not give the source's capacity; `unitless` when it has no
    /// unit (Kubernetes reads `'10'` as 10 bytes).
    case restorePVCStorage(found: String, foundGiB: Int, unitless: Bool, expected: String)

    // R11
    /// R11: the snapshot is not ready to use.
    case snapshotNotReady(snapshot: SnapshotID, status: SnapshotStatus)
    /// R11: a PVC restored from the snapshot is still Pending, so the snapshot must stay.
    case restorePending(snapshot: SnapshotID, pvc: String)
    /// R11: the snapshot does not exist.
    case snapshotNotFound(snapshot: SnapshotID)

    // R12
    /// R12: the quantity text is not a Kubernetes quantity.
    case malformedQuantity(text: String, reason: String)
    /// R12: the size is outside 1...32768 GiB.
    case capacityOutOfRange(requestedGiB: Int, min: Int, max: Int)

    // R13
    /// R13: the snapshot's status does not allow deletion.
    case snapshotNotDeletable(snapshot: SnapshotID, status: SnapshotStatus)
    /// R13: the disk still has snapshots.
    case diskHasSnapshots(disk: DiskID, count: Int)
    /// R13: the disk is still attached to nodes.
    case diskAttached(disk: DiskID, nodes: [String])

    // R14
    /// R14: the name is empty.
    case nameEmpty
    /// R14: the name is longer than 128 characters.
    case nameTooLong(name: String, length: Int, max: Int)
    /// R14: the snapshot name starts with the reserved prefix.
    case reservedSnapshotName(name: String, prefix: String)

    // Disk attributes
    /// An `everest.io/*` key Everest does not know.
    case unknownParameter(key: String)
    /// A parameter value that cannot be read (e.g. volume type `FAST`, fstype `btrfs`).
    case invalidParameter(key: String, value: String)
    /// SATA disks can no longer be created.
    case typeNotCreatable(VolumeType)
    /// GPSSD2 needs iops and throughput.
    case missingParameter(key: String, type: VolumeType)
    /// A mutable parameter (ControllerModifyVolume, VolumeAttributesClass) that is no disk attribute at all;
    /// `accepted` are the keys that can change.
    case parameterNotMutable(key: String, accepted: [String])
    /// Provisioned iops and throughput were asked of a disk type that has none (only GPSSD2 has them);
    /// `disk` is nil while the disk is still being created.
    case performanceNotProvisioned(type: VolumeType, disk: DiskID?)

    // Generic CSI situations
    /// Same name already used with a different source or parameters.
    case nameConflict(name: String, existing: String)
    /// An operation on the same volume or snapshot is already in flight.
    case operationInFlight(key: String)

    /// The rule this violation breaks.
    public var rule: RuleID {
        switch self {
        case .clusterTooOld, .clusterVersionUnreadable: .r1
        case .driverNotRegistered, .snapshotAPINotServed, .snapshotClassMissing, .snapshotClassWrongDriver: .r2
        case .pvcHasNoVolume, .flexVolumePVC, .notCSIVolume, .otherDriver, .notCSIStorageClass: .r3
        case .diskNotSnapshottable, .pvcNotBound, .diskNotFound: .r4
        case .snapshotQuotaReached: .r5
        case .restoreTargetExists, .cloneNotSupported: .r7
        case .typeDiffers, .modeDiffers, .encryptionDiffers, .sharingDiffers, .capacityDiffers,
             .parameterFixedAtCreation: .r8
        case .zoneNotAllowed: .r9
        case .restorePVCField, .restorePVCStorage: .r10
        case .snapshotNotReady, .restorePending, .snapshotNotFound: .r11
        case .malformedQuantity, .capacityOutOfRange: .r12
        case .snapshotNotDeletable, .diskHasSnapshots, .diskAttached: .r13
        case .nameEmpty, .nameTooLong, .reservedSnapshotName: .r14
        case .unknownParameter, .invalidParameter, .typeNotCreatable, .missingParameter, .parameterNotMutable,
             .performanceNotProvisioned: .attributes
        case .nameConflict, .operationInFlight: .csi
        }
    }

    /// What kind of refusal this is (StatusMapping gives each kind its gRPC code).
    public var kind: RefusalKind {
        switch self {
        case .clusterTooOld, .clusterVersionUnreadable: .stateConflict
        case .driverNotRegistered, .snapshotAPINotServed, .snapshotClassMissing, .snapshotClassWrongDriver:
            .stateConflict
        case .pvcHasNoVolume, .pvcNotBound: .stateConflict
        case .flexVolumePVC, .notCSIVolume, .otherDriver, .notCSIStorageClass: .invalidRequest
        case .diskNotSnapshottable: .stateConflict
        case .diskNotFound, .snapshotNotFound: .notFound
        // R5: a state of the disk, not an exhausted resource (EVEREST.md: csi-snapshotter retries
        // RESOURCE_EXHAUSTED as "may still be in progress").
        case .snapshotQuotaReached: .stateConflict
        case .restoreTargetExists: .alreadyExists
        case .cloneNotSupported: .invalidRequest
        case .typeDiffers, .modeDiffers, .encryptionDiffers, .sharingDiffers, .parameterFixedAtCreation: .invalidRequest
        case .capacityDiffers: .outOfRange
        case .zoneNotAllowed: .notPlaceable
        case .restorePVCField, .restorePVCStorage: .invalidRequest
        case .snapshotNotReady, .restorePending: .stateConflict
        case .malformedQuantity: .invalidRequest
        case .capacityOutOfRange: .outOfRange
        case .snapshotNotDeletable, .diskHasSnapshots, .diskAttached: .stateConflict
        case .nameEmpty, .nameTooLong, .reservedSnapshotName: .invalidRequest
        case .unknownParameter, .invalidParameter, .typeNotCreatable, .missingParameter, .parameterNotMutable,
             .performanceNotProvisioned: .invalidRequest
        case .nameConflict: .alreadyExists
        case .operationInFlight: .inProgress
        }
    }

    /// The user-facing message, `R<n>: <what> (<which object>)`.
    public var message: String { "\(rule): \(detail)" }

    /// Same as `message`.
    public var description: String { message }

    private var detail: String {
        switch self {
        case .clusterTooOld(let found, let minimum):
            "cluster version \(found) is older than \(minimum); snapshots need v\(minimum.major).\(minimum.minor) or later"
        case .clusterVersionUnreadable(let text):
            "cannot read cluster version '\(text)'"
        case .driverNotRegistered(let driver):
            "CSI driver \(driver) is not registered; install the Everest CSI add-on"
        case .snapshotAPINotServed(let group, let served):
            "the cluster does not serve \(group) v1 or v1beta1 (served: \(served.isEmpty ? "none" : served.joined(separator: ", ")))"
        case .snapshotClassMissing(let name):
            "VolumeSnapshotClass \(name) not found"
        case .snapshotClassWrongDriver(let name, let driver, let expected):
            "VolumeSnapshotClass \(name) uses driver \(driver), not \(expected)"
        case .pvcHasNoVolume(let pvc):
            "PVC \(pvc) is not bound to a volume"
        case .flexVolumePVC(let pvc, let storageClass):
            "PVC \(pvc) uses FlexVolume class \(storageClass); only CSI (EVS) PVCs can be snapshotted"
        case .notCSIVolume(let pvc):
            "PVC \(pvc) is not a CSI volume; only EVS disks can be snapshotted"
        case .otherDriver(let pvc, let driver, let expected):
            "PVC \(pvc) uses CSI driver \(driver), not \(expected); only EVS disks can be snapshotted"
        case .notCSIStorageClass(let pvc, let storageClass):
            "PVC \(pvc) uses StorageClass \(storageClass), not one of Everest's csi* classes; only EVS disks can be snapshotted"
        case .diskNotSnapshottable(let disk, let status):
            "disk status \(status) does not allow a snapshot; it must be available or in-use (disk \(disk))"
        case .pvcNotBound(let pvc, let phase):
            "PVC \(pvc) is \(phase), not Bound"
        case .diskNotFound(let disk):
            "disk \(disk) not found"
        case .snapshotQuotaReached(let disk, let count, let limit):
            "disk already has \(count) snapshots, the limit is \(limit) (disk \(disk))"
        case .restoreTargetExists(let name):
            "restore target \(name) already exists; a snapshot can only create a new disk"
        case .cloneNotSupported(let source):
            "cloning volume \(source) is not an Everest feature; create a snapshot and restore it instead"
        case .typeDiffers(let requested, let source, let disk):
            "restored disk type \(requested) differs from source disk type \(source) (disk \(disk))"
        case .modeDiffers(let requested, let source, let disk):
            "restored disk mode \(requested) differs from source disk mode \(source) (disk \(disk))"
        case .encryptionDiffers(let requested, let source, let disk):
            "restored disk encryption \(requested) differs from source disk encryption \(source) (disk \(disk))"
        case .sharingDiffers(let requested, let source, let disk):
            "restored disk sharing \(requested) differs from source disk sharing \(source) (disk \(disk))"
        case .capacityDiffers(let requested, let source, let match, let disk):
            switch match {
            case .equal:
                "restored disk capacity \(requested)Gi differs from source disk capacity \(source)Gi (disk \(disk))"
            case .atLeast:
                "restored disk capacity \(requested)Gi is smaller than source disk capacity \(source)Gi (disk \(disk))"
            }
        case .parameterFixedAtCreation(let key, let accepted):
            "\(key) cannot be modified: a disk's type, mode, encryption and sharing are fixed at creation; the parameters that can change are \(accepted.joined(separator: ", "))"
        case .zoneNotAllowed(let zone, let allowed, let snapshot):
            "snapshot zone \(zone) is not among the allowed zones \(allowed.joined(separator: ", ")) (snapshot \(snapshot))"
        case .restorePVCField(let field, let expected, let found):
            "restore PVC \(field) is '\(found)', expected '\(expected)'"
        case .restorePVCStorage(let found, let gib, let unitless, let expected):
            unitless
                ? "restore PVC resources.requests.storage '\(found)' has no unit, so it is \(found) bytes (\(gib)Gi), not the source's \(expected); write '\(expected)'"
                : "restore PVC resources.requests.storage '\(found)' is \(gib)Gi, not the source's \(expected); write '\(expected)'"
        case .snapshotNotReady(let snapshot, let status):
            "snapshot is \(status), not ready to use (snapshot \(snapshot))"
        case .restorePending(let snapshot, let pvc):
            "PVC \(pvc) restored from this snapshot is still Pending; delete the snapshot after it is Bound (snapshot \(snapshot))"
        case .snapshotNotFound(let snapshot):
            "snapshot \(snapshot) not found"
        case .malformedQuantity(let text, let reason):
            "'\(text)' is not a Kubernetes quantity: \(reason)"
        case .capacityOutOfRange(let requested, let min, let max):
            "capacity \(requested)Gi is outside \(min)-\(max)Gi"
        case .snapshotNotDeletable(let snapshot, let status):
            "snapshot is \(status); only available or error snapshots can be deleted (snapshot \(snapshot))"
        case .diskHasSnapshots(let disk, let count):
            "disk still has \(count) snapshot\(count == 1 ? "" : "s"); delete \(count == 1 ? "it" : "them") first (disk \(disk))"
        case .diskAttached(let disk, let nodes):
            "disk is attached to node \(nodes.joined(separator: ", ")); detach it first (disk \(disk))"
        case .nameEmpty:
            "name is empty"
        case .nameTooLong(let name, let length, let max):
            "name is \(length) characters, the limit is \(max) (\(name.prefix(16))...)"
        case .reservedSnapshotName(let name, let prefix):
            "snapshot name \(name) starts with the reserved prefix \(prefix)"
        case .unknownParameter(let key):
            "unknown parameter \(key)"
        case .invalidParameter(let key, let value):
            "invalid value '\(value)' for \(key)"
        case .typeNotCreatable(let type):
            "disk type \(type) can no longer be created"
        case .missingParameter(let key, let type):
            "disk type \(type) requires \(key)"
        case .parameterNotMutable(let key, let accepted):
            "\(key) is not a mutable parameter; the parameters that can change are \(accepted.joined(separator: ", "))"
        case .performanceNotProvisioned(let type, let disk):
            "disk type \(type) has no provisioned iops or throughput; \(EverestNames.mutableParameterKeys.joined(separator: " and ")) apply to GPSSD2 disks only"
                + (disk.map { " (disk \($0))" } ?? "")
        case .nameConflict(let name, let existing):
            "name \(name) is already used by \(existing) with a different source or parameters"
        case .operationInFlight(let key):
            "an operation on \(key) is already in progress"
        }
    }
}

/// Advice that is not a refusal (the plugin prints it as a warning).
public enum RuleWarning: Sendable, Hashable, CustomStringConvertible {
    /// R12: a storage quantity without a unit is bytes (`'10'` is 10 bytes, rounded up to 1 GiB).
    case quantityWithoutUnit(text: String, roundedGiB: Int)
    /// The rule this warning cites.
    public var rule: RuleID { .r12 }
    /// The user-facing message.
    public var message: String {
        switch self {
        case .quantityWithoutUnit(let text, let gib):
            "R12: storage quantity '\(text)' has no unit, so Kubernetes reads it as \(text) bytes and the disk gets \(gib)Gi; write '\(text)Gi' for \(text) GiB"
        }
    }
    /// Same as `message`.
    public var description: String { message }
}
