import Testing
@testable import EVSSnapshotRules

/// Every violation case, its rule id and its refusal kind (StatusMapping gives kinds their gRPC codes).
@Suite("Violations: rule ids, refusal kinds, messages")
struct ViolationTests {
    typealias V = EverestRuleViolation

    static let table: [(V, RuleID, RefusalKind)] = [
        (.clusterTooOld(found: .init(major: 1, minor: 13), minimum: .init(major: 1, minor: 15)), .r1, .stateConflict),
        (.clusterVersionUnreadable("x"), .r1, .stateConflict),
        (.driverNotRegistered(driver: "disk.csi.everest.io"), .r2, .stateConflict),
        (.snapshotAPINotServed(group: "snapshot.storage.k8s.io", served: []), .r2, .stateConflict),
        (.snapshotClassMissing(name: "csi-disk-snapclass"), .r2, .stateConflict),
        (.snapshotClassWrongDriver(name: "c", driver: "x", expected: "disk.csi.everest.io"), .r2, .stateConflict),
        (.pvcHasNoVolume(pvc: "p"), .r3, .stateConflict),
        (.flexVolumePVC(pvc: "p", storageClass: "sas"), .r3, .invalidRequest),
        (.notCSIVolume(pvc: "p"), .r3, .invalidRequest),
        (.otherDriver(pvc: "p", driver: "nas.csi.everest.io", expected: "disk.csi.everest.io"), .r3, .invalidRequest),
        (.notCSIStorageClass(pvc: "p", storageClass: "standard"), .r3, .invalidRequest),
        (.diskNotSnapshottable(disk: "d-1a2b", status: .creating), .r4, .stateConflict),
        (.pvcNotBound(pvc: "p", phase: "Pending"), .r4, .stateConflict),
        (.diskNotFound(disk: "d-1a2b"), .r4, .notFound),
        (.snapshotQuotaReached(disk: "d-1a2b", count: 7, limit: 7), .r5, .stateConflict),
        (.restoreTargetExists(name: "pvc"), .r7, .alreadyExists),
        (.cloneNotSupported(sourceVolume: "d"), .r7, .invalidRequest),
        (.typeDiffers(requested: .sas, source: .ssd, disk: "d-1a2b"), .r8, .invalidRequest),
        (.modeDiffers(requested: .scsi, source: .vbd, disk: "d-1a2b"), .r8, .invalidRequest),
        (.encryptionDiffers(requested: .plain, source: .kms(keyID: "k"), disk: "d-1a2b"), .r8, .invalidRequest),
        (.sharingDiffers(requested: .shared, source: .nonShared, disk: "d-1a2b"), .r8, .invalidRequest),
        (.capacityDiffers(requestedGiB: 20, sourceGiB: 10, match: .equal, disk: "d-1a2b"), .r8, .outOfRange),
        (.parameterFixedAtCreation(key: "everest.io/disk-volume-type", accepted: EverestNames.mutableParameterKeys),
         .r8, .invalidRequest),
        (.zoneNotAllowed(zone: "cn-north-4b", allowed: ["cn-north-4a"], snapshot: "s"), .r9, .notPlaceable),
        (.restorePVCField(field: "accessModes", expected: "ReadWriteOnce", found: "ReadWriteMany"), .r10, .invalidRequest),
        (.restorePVCStorage(found: "10", foundGiB: 1, unitless: true, expected: "10Gi"), .r10, .invalidRequest),
        (.snapshotNotReady(snapshot: "s", status: .creating), .r11, .stateConflict),
        (.restorePending(snapshot: "s", pvc: "p"), .r11, .stateConflict),
        (.snapshotNotFound(snapshot: "s"), .r11, .notFound),
        (.malformedQuantity(text: "10GB", reason: "r"), .r12, .invalidRequest),
        (.capacityOutOfRange(requestedGiB: 32769, min: 1, max: 32768), .r12, .outOfRange),
        (.snapshotNotDeletable(snapshot: "s", status: .creating), .r13, .stateConflict),
        (.diskHasSnapshots(disk: "d", count: 1), .r13, .stateConflict),
        (.diskAttached(disk: "d", nodes: ["n"]), .r13, .stateConflict),
        (.nameEmpty, .r14, .invalidRequest),
        (.nameTooLong(name: "n", length: 129, max: 128), .r14, .invalidRequest),
        (.reservedSnapshotName(name: "autobk_snapshot_x", prefix: "autobk_snapshot_"), .r14, .invalidRequest),
        (.unknownParameter(key: "everest.io/foo"), .attributes, .invalidRequest),
        (.invalidParameter(key: "everest.io/disk-volume-type", value: "FAST"), .attributes, .invalidRequest),
        (.typeNotCreatable(.sata), .attributes, .invalidRequest),
        (.missingParameter(key: "everest.io/disk-iops", type: .gpssd2), .attributes, .invalidRequest),
        (.parameterNotMutable(key: "x", accepted: EverestNames.mutableParameterKeys), .attributes, .invalidRequest),
        (.performanceNotProvisioned(type: .sas, disk: "d-1a2b"), .attributes, .invalidRequest),
        (.nameConflict(name: "n", existing: "d-1"), .csi, .alreadyExists),
        (.operationInFlight(key: "d-1"), .csi, .inProgress),
    ]

    /// Exhaustive over the cases: adding a case breaks the build until it is named here and put in the table.
    static func caseName(_ v: V) -> String {
        switch v {
        case .clusterTooOld: "clusterTooOld"
        case .clusterVersionUnreadable: "clusterVersionUnreadable"
        case .driverNotRegistered: "driverNotRegistered"
        case .snapshotAPINotServed: "snapshotAPINotServed"
        case .snapshotClassMissing: "snapshotClassMissing"
        case .snapshotClassWrongDriver: "snapshotClassWrongDriver"
        case .pvcHasNoVolume: "pvcHasNoVolume"
        case .flexVolumePVC: "flexVolumePVC"
        case .notCSIVolume: "notCSIVolume"
        case .otherDriver: "otherDriver"
        case .notCSIStorageClass: "notCSIStorageClass"
        case .diskNotSnapshottable: "diskNotSnapshottable"
        case .pvcNotBound: "pvcNotBound"
        case .diskNotFound: "diskNotFound"
        case .snapshotQuotaReached: "snapshotQuotaReached"
        case .restoreTargetExists: "restoreTargetExists"
        case .cloneNotSupported: "cloneNotSupported"
        case .typeDiffers: "typeDiffers"
        case .modeDiffers: "modeDiffers"
        case .encryptionDiffers: "encryptionDiffers"
        case .sharingDiffers: "sharingDiffers"
        case .capacityDiffers: "capacityDiffers"
        case .parameterFixedAtCreation: "parameterFixedAtCreation"
        case .zoneNotAllowed: "zoneNotAllowed"
        case .restorePVCField: "restorePVCField"
        case .restorePVCStorage: "restorePVCStorage"
        case .snapshotNotReady: "snapshotNotReady"
        case .restorePending: "restorePending"
        case .snapshotNotFound: "snapshotNotFound"
        case .malformedQuantity: "malformedQuantity"
        case .capacityOutOfRange: "capacityOutOfRange"
        case .snapshotNotDeletable: "snapshotNotDeletable"
        case .diskHasSnapshots: "diskHasSnapshots"
        case .diskAttached: "diskAttached"
        case .nameEmpty: "nameEmpty"
        case .nameTooLong: "nameTooLong"
        case .reservedSnapshotName: "reservedSnapshotName"
        case .unknownParameter: "unknownParameter"
        case .invalidParameter: "invalidParameter"
        case .typeNotCreatable: "typeNotCreatable"
        case .missingParameter: "missingParameter"
        case .parameterNotMutable: "parameterNotMutable"
        case .performanceNotProvisioned: "performanceNotProvisioned"
        case .nameConflict: "nameConflict"
        case .operationInFlight: "operationInFlight"
        }
    }

    @Test("every violation case is in the status table exactly once")
    func tableCoversEveryCase() {
        let names = Self.table.map { Self.caseName($0.0) }
        #expect(Set(names).count == names.count)
        #expect(names.count == 45)  // the number of cases of EverestRuleViolation
    }

    @Test("refusal kind and rule id per violation", arguments: table)
    func refusalKind(violation: V, rule: RuleID, kind: RefusalKind) {
        #expect(violation.rule == rule)
        #expect(violation.kind == kind)
        #expect(violation.message.hasPrefix("\(rule.rawValue): "))
    }

    static let messages: [(V, String)] = [
        (.typeDiffers(requested: .sas, source: .ssd, disk: "d-1a2b"),
         "R8: restored disk type SAS differs from source disk type SSD (disk d-1a2b)"),
        (.modeDiffers(requested: .scsi, source: .vbd, disk: "d-1a2b"),
         "R8: restored disk mode SCSI differs from source disk mode VBD (disk d-1a2b)"),
        (.capacityDiffers(requestedGiB: 20, sourceGiB: 10, match: .equal, disk: "d-1a2b"),
         "R8: restored disk capacity 20Gi differs from source disk capacity 10Gi (disk d-1a2b)"),
        (.encryptionDiffers(requested: .plain, source: .kms(keyID: "k-1"), disk: "d-1a2b"),
         "R8: restored disk encryption plain differs from source disk encryption kms:k-1 (disk d-1a2b)"),
        (.snapshotQuotaReached(disk: "d-1a2b", count: 7, limit: 7),
         "R5: disk already has 7 snapshots, the limit is 7 (disk d-1a2b)"),
        (.zoneNotAllowed(zone: "cn-north-4b", allowed: ["cn-north-4a", "cn-north-4c"], snapshot: "s-9f8e"),
         "R9: snapshot zone cn-north-4b is not among the allowed zones cn-north-4a, cn-north-4c (snapshot s-9f8e)"),
        (.clusterTooOld(found: .init(major: 1, minor: 13), minimum: .init(major: 1, minor: 15)),
         "R1: cluster version v1.13 is older than v1.15; snapshots need v1.15 or later"),
        (.diskHasSnapshots(disk: "d-1a2b", count: 2), "R13: disk still has 2 snapshots; delete them first (disk d-1a2b)"),
        (.diskAttached(disk: "d-1a2b", nodes: ["node-1"]), "R13: disk is attached to node node-1; detach it first (disk d-1a2b)"),
        (.restorePVCStorage(found: "10", foundGiB: 1, unitless: true, expected: "10Gi"),
         "R10: restore PVC resources.requests.storage '10' has no unit, so it is 10 bytes (1Gi), not the source's 10Gi; write '10Gi'"),
        (.cloneNotSupported(sourceVolume: "d-1a2b"),
         "R7: cloning volume d-1a2b is not an Everest feature; create a snapshot and restore it instead"),
        (.capacityOutOfRange(requestedGiB: 32769, min: 1, max: 32768), "R12: capacity 32769Gi is outside 1-32768Gi"),
        (.reservedSnapshotName(name: "autobk_snapshot_1", prefix: "autobk_snapshot_"),
         "R14: snapshot name autobk_snapshot_1 starts with the reserved prefix autobk_snapshot_"),
    ]

    @Test("exact message text", arguments: messages)
    func message(violation: V, text: String) {
        #expect(violation.message == text)
        #expect("\(violation)" == text)
    }
}
