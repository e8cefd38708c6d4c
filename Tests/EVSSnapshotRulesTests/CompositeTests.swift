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

    static let restoreRefusals: [(RestoreRequest, SnapshotStatus, RuleID, RefusalKind)] = [
        (RestoreRequest(name: "", capacityGiB: 10), .available, .r14, .invalidRequest),
        (RestoreRequest(name: "p", capacityGiB: 10), .creating, .r11, .stateConflict),
        (RestoreRequest(name: "p", capacityGiB: 40000), .available, .r12, .outOfRange),
        (RestoreRequest(name: "p", capacityGiB: 10, type: .sas), .available, .r8, .invalidRequest),
        (RestoreRequest(name: "p", capacityGiB: 11), .available, .r8, .outOfRange),
        (RestoreRequest(name: "p", capacityGiB: 10, allowedZones: ["cn-north-4a"]), .available, .r9, .notPlaceable),
    ]

    @Test("R8/R9/R11/R12/R14: restore refused with the rule's refusal kind", arguments: restoreRefusals)
    func restoreRefused(request: RestoreRequest, status: SnapshotStatus, rule: RuleID, kind: RefusalKind) {
        var snapshot = Fixture.snapshot
        snapshot.status = status
        let v = Fixture.throwsViolation { _ = try EverestRules.checkRestore(request, snapshot: snapshot) }
        #expect(v?.rule == rule)
        #expect(v?.kind == kind)
    }

    @Test("one order for both programs: the checks the driver runs are the list's, in the list's order")
    func oneOrder() {
        #expect(EverestRules.createSnapshotChecks == CreateSnapshotCheck.allCases)
        #expect(EverestRules.restoreChecks == RestoreCheck.allCases)
        #expect(EverestRules.createSnapshotChecks.map(\.rule) == [.r14, .r4, .r3, .r3, .r4, .r5])
        #expect(EverestRules.restoreChecks.map(\.rule) == [.r14, .r7, .r11, .r10, .r12, .r8, .r9])
    }

    @Test("a check whose facts are absent does not run; the plugin's facts add the PVC checks in their place")
    func partialFacts() throws {
        #expect(try EverestRules.run(.quota, CreateSnapshotFacts(disk: Fixture.disk)) == false)
        #expect(try EverestRules.run(.pvcBound, CreateSnapshotFacts(name: "s")) == false)
        let pending = PVCFacts(name: "apps/p", phase: "Pending", storageClassName: "csi-disk")
        var disk = Fixture.disk
        disk.status = .creating
        // The PVC (plugin) is judged before the disk: R4 Bound comes first in the list.
        let v = Fixture.throwsViolation {
            try EverestRules.checkCreateSnapshot(CreateSnapshotFacts(name: "s", pvc: pending, disk: disk, existingSnapshots: 0))
        }
        #expect(v == .pvcNotBound(pvc: "apps/p", phase: "Pending"))
    }

    @Test("restore: the plugin's R7 and R10 facts slot into the one order")
    func restoreFacts() {
        var snapshot = Fixture.snapshot
        snapshot.status = .creating
        let request = RestoreRequest(name: "p", capacityGiB: 40000)
        // R7 before R11 before R12.
        #expect(Fixture.throwsViolation {
            try EverestRules.checkRestore(RestoreFacts(name: "p", targetExists: true, snapshot: snapshot, request: request))
        } == .restoreTargetExists(name: "p"))
        #expect(Fixture.throwsViolation {
            try EverestRules.checkRestore(RestoreFacts(name: "p", targetExists: false, snapshot: snapshot, request: request))
        }?.rule == .r11)
    }
}
