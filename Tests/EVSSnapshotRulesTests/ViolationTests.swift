import Testing
@testable import EVSSnapshotRules

/// Every violation case, its rule id and the gRPC code EVEREST.md's error table gives it.
@Suite("Violations: rule ids, status codes, messages")
struct ViolationTests {
    typealias V = EverestRuleViolation

    static let table: [(V, RuleID, CSIStatusCode)] = [
        (.clusterTooOld(found: .init(major: 1, minor: 13), minimum: .init(major: 1, minor: 15)), .r1, .failedPrecondition),
        (.clusterVersionUnreadable("x"), .r1, .failedPrecondition),
        (.driverNotRegistered(driver: "disk.csi.everest.io"), .r2, .failedPrecondition),
        (.snapshotAPINotServed(group: "snapshot.storage.k8s.io", served: []), .r2, .failedPrecondition),
        (.snapshotClassMissing(name: "csi-disk-snapclass"), .r2, .failedPrecondition),
        (.snapshotClassWrongDriver(name: "c", driver: "x", expected: "disk.csi.everest.io"), .r2, .failedPrecondition),
        (.pvcHasNoVolume(pvc: "p"), .r3, .failedPrecondition),
        (.flexVolumePVC(pvc: "p", storageClass: "sas"), .r3, .invalidArgument),
        (.notCSIVolume(pvc: "p"), .r3, .invalidArgument),
        (.otherDriver(pvc: "p", driver: "nas.csi.everest.io", expected: "disk.csi.everest.io"), .r3, .invalidArgument),
        (.diskNotSnapshottable(disk: "d-1a2b", status: .creating), .r4, .failedPrecondition),
        (.pvcNotBound(pvc: "p", phase: "Pending"), .r4, .failedPrecondition),
        (.diskNotFound(disk: "d-1a2b"), .r4, .notFound),
        (.snapshotQuotaReached(disk: "d-1a2b", count: 7, limit: 7), .r5, .failedPrecondition),
        (.encryptionNotInherited(snapshot: "s", expected: .plain, found: .kms(keyID: "k")), .r6, .invalidArgument),
        (.restoreTargetExists(name: "pvc"), .r7, .alreadyExists),
        (.rollbackNotSupported(snapshot: "s", disk: "d"), .r7, .invalidArgument),
        (.typeDiffers(requested: .sas, source: .ssd, disk: "d-1a2b"), .r8, .invalidArgument),
        (.modeDiffers(requested: .scsi, source: .vbd, disk: "d-1a2b"), .r8, .invalidArgument),
        (.encryptionDiffers(requested: .plain, source: .kms(keyID: "k"), disk: "d-1a2b"), .r8, .invalidArgument),
        (.sharingDiffers(requested: .shared, source: .nonShared, disk: "d-1a2b"), .r8, .invalidArgument),
        (.capacityDiffers(requestedGiB: 20, sourceGiB: 10, match: .equal, disk: "d-1a2b"), .r8, .outOfRange),
        (.zoneNotAllowed(zone: "cn-north-4b", allowed: ["cn-north-4a"], snapshot: "s"), .r9, .resourceExhausted),
        (.restorePVCField(field: "accessModes", expected: "ReadWriteOnce", found: "ReadWriteMany"), .r10, .invalidArgument),
        (.snapshotNotReady(snapshot: "s", status: .creating), .r11, .failedPrecondition),
        (.restorePending(snapshot: "s", pvc: "p"), .r11, .failedPrecondition),
        (.snapshotNotFound(snapshot: "s"), .r11, .notFound),
        (.malformedQuantity(text: "10GB", reason: "r"), .r12, .invalidArgument),
        (.capacityOutOfRange(requestedGiB: 32769, min: 1, max: 32768), .r12, .outOfRange),
        (.snapshotNotDeletable(snapshot: "s", status: .creating), .r13, .failedPrecondition),
        (.diskHasSnapshots(disk: "d", count: 1), .r13, .failedPrecondition),
        (.nameEmpty, .r14, .invalidArgument),
        (.nameTooLong(name: "n", length: 129, max: 128), .r14, .invalidArgument),
        (.reservedSnapshotName(name: "autobk_snapshot_x", prefix: "autobk_snapshot_"), .r14, .invalidArgument),
        (.unknownParameter(key: "everest.io/foo"), .attributes, .invalidArgument),
        (.invalidParameter(key: "everest.io/disk-volume-type", value: "FAST"), .attributes, .invalidArgument),
        (.typeNotCreatable(.sata), .attributes, .invalidArgument),
        (.missingParameter(key: "everest.io/disk-iops", type: .gpssd2), .attributes, .invalidArgument),
        (.nameConflict(name: "n", existing: "d-1"), .csi, .alreadyExists),
        (.operationInFlight(key: "d-1"), .csi, .aborted),
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
        case .diskNotSnapshottable: "diskNotSnapshottable"
        case .pvcNotBound: "pvcNotBound"
        case .diskNotFound: "diskNotFound"
        case .snapshotQuotaReached: "snapshotQuotaReached"
        case .encryptionNotInherited: "encryptionNotInherited"
        case .restoreTargetExists: "restoreTargetExists"
        case .rollbackNotSupported: "rollbackNotSupported"
        case .typeDiffers: "typeDiffers"
        case .modeDiffers: "modeDiffers"
        case .encryptionDiffers: "encryptionDiffers"
        case .sharingDiffers: "sharingDiffers"
        case .capacityDiffers: "capacityDiffers"
        case .zoneNotAllowed: "zoneNotAllowed"
        case .restorePVCField: "restorePVCField"
        case .snapshotNotReady: "snapshotNotReady"
        case .restorePending: "restorePending"
        case .snapshotNotFound: "snapshotNotFound"
        case .malformedQuantity: "malformedQuantity"
        case .capacityOutOfRange: "capacityOutOfRange"
        case .snapshotNotDeletable: "snapshotNotDeletable"
        case .diskHasSnapshots: "diskHasSnapshots"
        case .nameEmpty: "nameEmpty"
        case .nameTooLong: "nameTooLong"
        case .reservedSnapshotName: "reservedSnapshotName"
        case .unknownParameter: "unknownParameter"
        case .invalidParameter: "invalidParameter"
        case .typeNotCreatable: "typeNotCreatable"
        case .missingParameter: "missingParameter"
        case .nameConflict: "nameConflict"
        case .operationInFlight: "operationInFlight"
        }
    }

    @Test("every violation case is in the status table exactly once")
    func tableCoversEveryCase() {
        let names = Self.table.map { Self.caseName($0.0) }
        #expect(Set(names).count == names.count)
        #expect(names.count == 40)  // the number of cases of EverestRuleViolation
    }

    @Test("status code and rule id per violation (EVEREST.md error mapping)", arguments: table)
    func statusCode(violation: V, rule: RuleID, code: CSIStatusCode) {
        #expect(violation.rule == rule)
        #expect(violation.statusCode == code)
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
        (.capacityOutOfRange(requestedGiB: 32769, min: 1, max: 32768), "R12: capacity 32769Gi is outside 1-32768Gi"),
        (.reservedSnapshotName(name: "autobk_snapshot_1", prefix: "autobk_snapshot_"),
         "R14: snapshot name autobk_snapshot_1 starts with the reserved prefix autobk_snapshot_"),
    ]

    @Test("exact message text", arguments: messages)
    func message(violation: V, text: String) {
        #expect(violation.message == text)
        #expect("\(violation)" == text)
    }

    @Test("CSIStatusCode raw values are the gRPC codes")
    func grpcNumbers() {
        #expect(CSIStatusCode.invalidArgument.rawValue == 3)
        #expect(CSIStatusCode.notFound.rawValue == 5)
        #expect(CSIStatusCode.alreadyExists.rawValue == 6)
        #expect(CSIStatusCode.resourceExhausted.rawValue == 8)
        #expect(CSIStatusCode.failedPrecondition.rawValue == 9)
        #expect(CSIStatusCode.aborted.rawValue == 10)
        #expect(CSIStatusCode.outOfRange.rawValue == 11)
        #expect(CSIStatusCode.outOfRange.description == "OUT_OF_RANGE")
    }
}
