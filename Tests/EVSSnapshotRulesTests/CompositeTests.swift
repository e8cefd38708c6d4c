import Testing
@testable import EVSSnapshotRules

@Suite("Whole operations")
struct CompositeTests {
    @Test("R4/R5/R6/R14: CreateSnapshot accepted returns the disk's encryption")
    func createAccepted() throws {
        var disk = Fixture.disk
        disk.encryption = .kms(keyID: "k-1")
        #expect(try EverestRules.checkCreateSnapshot(name: "snap-1", disk: disk, existingSnapshots: 6) == .kms(keyID: "k-1"))
    }

    static let createRefusals: [(String, DiskStatus, StorageFormat, Int, RuleID)] = [
        ("autobk_snapshot_1", .available, .csi, 0, .r14),
        ("snap", .available, .flexVolume, 0, .r3),
        ("snap", .creating, .csi, 0, .r4),
        ("snap", .inUse, .csi, 7, .r5),
        ("autobk_snapshot_1", .error, .csi, 9, .r14),  // the first rule in order wins
    ]

    @Test("R3/R4/R5/R14: CreateSnapshot refused by the first broken rule", arguments: createRefusals)
    func createRefused(name: String, status: DiskStatus, format: StorageFormat, existing: Int, rule: RuleID) {
        var disk = Fixture.disk
        disk.status = status
        disk.storageFormat = format
        let v = Fixture.throwsViolation {
            try EverestRules.checkCreateSnapshot(name: name, disk: disk, existingSnapshots: existing)
        }
        #expect(v?.rule == rule)
    }

    @Test("R6/R8/R9: restore accepted; the plan copies the source")
    func restoreAccepted() throws {
        var snapshot = Fixture.snapshot
        snapshot.encryption = .kms(keyID: "k-1")
        let plan = try EverestRules.checkRestore(RestoreRequest(name: "pvc-test", capacityGiB: 10,
                                                                allowedZones: ["cn-north-4b"]), snapshot: snapshot)
        #expect(plan == RestorePlan(capacityGiB: 10, type: .ssd, mode: .vbd, encryption: .kms(keyID: "k-1"),
                                    sharing: .nonShared, fsType: .ext4, topology: Fixture.topology))
    }

    static let restoreRefusals: [(RestoreRequest, SnapshotStatus, RuleID, CSIStatusCode)] = [
        (RestoreRequest(name: "", capacityGiB: 10), .available, .r14, .invalidArgument),
        (RestoreRequest(name: "p", capacityGiB: 10), .creating, .r11, .failedPrecondition),
        (RestoreRequest(name: "p", capacityGiB: 40000), .available, .r12, .outOfRange),
        (RestoreRequest(name: "p", capacityGiB: 10, type: .sas), .available, .r8, .invalidArgument),
        (RestoreRequest(name: "p", capacityGiB: 11), .available, .r8, .outOfRange),
        (RestoreRequest(name: "p", capacityGiB: 10, allowedZones: ["cn-north-4a"]), .available, .r9, .resourceExhausted),
    ]

    @Test("R8/R9/R11/R12/R14: restore refused with the rule's status code", arguments: restoreRefusals)
    func restoreRefused(request: RestoreRequest, status: SnapshotStatus, rule: RuleID, code: CSIStatusCode) {
        var snapshot = Fixture.snapshot
        snapshot.status = status
        let v = Fixture.throwsViolation { _ = try EverestRules.checkRestore(request, snapshot: snapshot) }
        #expect(v?.rule == rule)
        #expect(v?.statusCode == code)
    }
}
