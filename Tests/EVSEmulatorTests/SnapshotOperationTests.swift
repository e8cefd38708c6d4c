import EVSSnapshotRules
import Testing
@testable import EVSEmulator

@Suite("Snapshots and restores: idempotency and every rule")
struct SnapshotOperationTests {
    @Test("create snapshot: available, carries the disk's attributes and encryption (R6)")
    func createSnapshot() throws {
        try withEmulator { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 4, type: .ssd, mode: .scsi,
                                                                          encryption: .kms(keyID: "key-1")), source: nil)
            let snapshot = try emulator.createSnapshot(name: "s1", sourceDisk: disk.id)
            #expect(snapshot.status == .available)
            #expect(snapshot.sourceDiskID == disk.id && snapshot.sizeGiB == 4)
            #expect(snapshot.encryption == .kms(keyID: "key-1"))  // R6
            #expect(snapshot.sourceType == .ssd && snapshot.sourceMode == .scsi)
            #expect(sizeAndBlocks(emulator.snapshotImagePath(snapshot.id)).size == 4 << 30)
            #expect(try emulator.getSnapshot(snapshot.id) == snapshot)
        }
    }

    @Test("R6: a plain disk gives a plain snapshot and a plain restore", arguments: [Encryption.plain, .kms(keyID: "key-9")])
    func encryptionFollowsDisk(encryption: Encryption) throws {
        try withEmulator { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 1, encryption: encryption), source: nil)
            let snapshot = try emulator.createSnapshot(name: "s1", sourceDisk: disk.id)
            #expect(snapshot.encryption == encryption)
            #expect(try emulator.createDisk(name: "r1", spec: DiskSpec(capacityGiB: 1), source: snapshot.id).encryption == encryption)
        }
    }

    @Test("expand waits while a snapshot of the disk is being copied (in flight)")
    func expandDuringSnapshot() throws {
        try withEmulator { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 1), source: nil)
            let snapshot = try emulator.createSnapshot(name: "s1", sourceDisk: disk.id)
            try emulator.forceStatus(.creating, snapshot: snapshot.id)
            #expect(backendError { _ = try emulator.expand(disk: disk.id, newCapacityGiB: 2) } == .rule(.operationInFlight(key: disk.id.rawValue)))
            #expect(try emulator.getDisk(disk.id)?.capacityGiB == 1)
            try emulator.forceStatus(.available, snapshot: snapshot.id)
            #expect(try emulator.expand(disk: disk.id, newCapacityGiB: 2).capacityGiB == 2)
            // The snapshot keeps the size it was taken at.
            #expect(try emulator.getSnapshot(snapshot.id)?.sizeGiB == 1)
        }
    }

    @Test("same name and source returns the same snapshot; another source -> alreadyExists")
    func idempotent() throws {
        try withEmulator { (emulator, _) throws in
            let d1 = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 1), source: nil)
            let d2 = try emulator.createDisk(name: "d2", spec: DiskSpec(capacityGiB: 1), source: nil)
            let first = try emulator.createSnapshot(name: "s1", sourceDisk: d1.id)
            #expect(try emulator.createSnapshot(name: "s1", sourceDisk: d1.id) == first)
            let error = backendError { _ = try emulator.createSnapshot(name: "s1", sourceDisk: d2.id) }
            guard case .alreadyExists = error else { Issue.record("got \(String(describing: error))"); return }
            #expect(try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 0, startingToken: nil).items.count == 1)
        }
    }

    @Test("snapshot of an unknown disk -> notFound")
    func unknownDisk() throws {
        try withEmulator { (emulator, _) throws in
            #expect(backendError { _ = try emulator.createSnapshot(name: "s1", sourceDisk: DiskID("nope")) }
                    == .notFound(kind: "disk", id: "nope"))
        }
    }

    @Test("R4: only available or in-use disks are snapshotted", arguments: DiskStatus.allCases)
    func diskStatus(status: DiskStatus) throws {
        try withEmulator { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 1), source: nil)
            try emulator.forceStatus(status, disk: disk.id)
            let error = backendError { _ = try emulator.createSnapshot(name: "s1", sourceDisk: disk.id) }
            if status == .available || status == .inUse {
                #expect(error == nil)
            } else {
                #expect(error == .rule(.diskNotSnapshottable(disk: disk.id, status: status)))
                #expect(error?.rule == .r4 && error?.kind == .stateConflict)
            }
        }
    }

    @Test("R5: the quota (default 7) allows the 7th snapshot and refuses the 8th; configurable")
    func quota() throws {
        for limit in [7, 2] {
            try withEmulator(quota: limit) { (emulator, _) throws in
                let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 1), source: nil)
                for index in 0..<limit { _ = try emulator.createSnapshot(name: "s\(index)", sourceDisk: disk.id) }
                let error = backendError { _ = try emulator.createSnapshot(name: "one-more", sourceDisk: disk.id) }
                #expect(error == .rule(.snapshotQuotaReached(disk: disk.id, count: limit, limit: limit)))
                #expect(error?.rule == .r5 && error?.kind == .stateConflict)
                // Retrying an existing name is still idempotent at the limit.
                #expect(try emulator.createSnapshot(name: "s0", sourceDisk: disk.id).name == "s0")
            }
        }
    }

    @Test("R14: snapshot names", arguments: ["", String(repeating: "x", count: 129), "autobk_snapshot_1"])
    func names(name: String) throws {
        try withEmulator { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 1), source: nil)
            #expect(backendError { _ = try emulator.createSnapshot(name: name, sourceDisk: disk.id) }?.rule == .r14)
        }
    }

    @Test("delete snapshot: idempotent; R13 only available or error", arguments: SnapshotStatus.allCases)
    func deleteByStatus(status: SnapshotStatus) throws {
        try withEmulator { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 1), source: nil)
            let snapshot = try emulator.createSnapshot(name: "s1", sourceDisk: disk.id)
            try emulator.forceStatus(status, snapshot: snapshot.id)
            let error = backendError { try emulator.deleteSnapshot(snapshot.id) }
            switch status {
            case .available, .error, .deleting:  // deleting: finishes an interrupted delete
                #expect(error == nil)
                #expect(try emulator.getSnapshot(snapshot.id) == nil)
                #expect(!DataFiles.exists(emulator.snapshotImagePath(snapshot.id)))
                try emulator.deleteSnapshot(snapshot.id)
            default:
                #expect(error == .rule(.snapshotNotDeletable(snapshot: snapshot.id, status: status)))
                #expect(error?.rule == .r13)
            }
        }
    }

    @Test("deleting an unknown snapshot succeeds (R13)")
    func deleteUnknown() throws {
        try withEmulator { (emulator, _) throws in try emulator.deleteSnapshot(SnapshotID("nope")) }
    }

    // MARK: Restore

    @Test("restore: attributes, zone and encryption come from the snapshot (R6, R8, R9)")
    func restore() throws {
        let a = Topology(region: "cn-north-4", zone: "cn-north-4a"), b = Topology(region: "cn-north-4", zone: "cn-north-4b")
        try withEmulator(topologies: [a, b]) { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 3, type: .essd, encryption: .kms(keyID: "k"),
                                                                          sharing: .shared, fsType: .xfs, preferredZones: ["cn-north-4b"]),
                                               source: nil)
            let snapshot = try emulator.createSnapshot(name: "s1", sourceDisk: disk.id)
            let restored = try emulator.createDisk(name: "r1", spec: DiskSpec(capacityGiB: 3), source: snapshot.id)
            #expect(restored.type == .essd && restored.sharing == .shared && restored.fsType == .xfs)
            #expect(restored.encryption == .kms(keyID: "k"))  // R6
            #expect(restored.topology == b)                   // R9
            #expect(try emulator.sourceSnapshot(ofDisk: restored.id) == snapshot.id)
            // Idempotent: the same restore again.
            #expect(try emulator.createDisk(name: "r1", spec: DiskSpec(capacityGiB: 3, type: .essd), source: snapshot.id) == restored)
            // Same name, other source -> alreadyExists.
            guard case .alreadyExists = backendError({ _ = try emulator.createDisk(name: "r1", spec: DiskSpec(capacityGiB: 3), source: nil) }) else {
                Issue.record("restore name reused for an empty disk"); return
            }
        }
    }

    @Test("restore refusals name their rule", arguments: [
        (DiskSpec(capacityGiB: 2, type: .sas), RuleID.r8, RefusalKind.invalidRequest),
        (DiskSpec(capacityGiB: 2, mode: .scsi), .r8, .invalidRequest),
        (DiskSpec(capacityGiB: 2, encryption: .kms(keyID: "other")), .r8, .invalidRequest),
        (DiskSpec(capacityGiB: 2, sharing: .shared), .r8, .invalidRequest),
        (DiskSpec(capacityGiB: 3), .r8, .outOfRange),
        (DiskSpec(capacityGiB: 2, allowedZones: ["cn-north-4b"]), .r9, .notPlaceable),
        (DiskSpec(capacityGiB: 0), .r12, .outOfRange),
    ] as [(DiskSpec, RuleID, RefusalKind)])
    func restoreRefusals(spec: DiskSpec, rule: RuleID, kind: RefusalKind) throws {
        try withEmulator { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 2, type: .ssd, encryption: .kms(keyID: "k")), source: nil)
            let snapshot = try emulator.createSnapshot(name: "s1", sourceDisk: disk.id)
            let error = backendError { _ = try emulator.createDisk(name: "r1", spec: spec, source: snapshot.id) }
            #expect(error?.rule == rule, "got \(String(describing: error))")
            #expect(error?.kind == kind)
            #expect(try emulator.listDisks(maxEntries: 0, startingToken: nil).items.map(\.name) == ["d1"])
        }
    }

    @Test("R8 'at least' setting: a larger restore is allowed and its image grown")
    func restoreLarger() throws {
        try withEmulator(capacityMatch: .atLeast) { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 1), source: nil)
            try writePattern(path: emulator.diskImagePath(disk.id), offset: 0, count: 65536, seed: 9)
            let snapshot = try emulator.createSnapshot(name: "s1", sourceDisk: disk.id)
            let restored = try emulator.createDisk(name: "r1", spec: DiskSpec(capacityGiB: 4), source: snapshot.id)
            #expect(restored.capacityGiB == 4)
            #expect(sizeAndBlocks(emulator.diskImagePath(restored.id)).size == 4 << 30)
            // Equal is fine under at-least; smaller is not.
            #expect(backendError { _ = try emulator.createDisk(name: "r2", spec: DiskSpec(capacityGiB: 1), source: snapshot.id) } == nil)
        }
    }

    @Test("R11: restore needs an available snapshot; a pending restore keeps the snapshot")
    func readiness() throws {
        try withEmulator { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 1), source: nil)
            let snapshot = try emulator.createSnapshot(name: "s1", sourceDisk: disk.id)
            try emulator.forceStatus(.creating, snapshot: snapshot.id)
            let notReady = backendError { _ = try emulator.createDisk(name: "r1", spec: DiskSpec(capacityGiB: 1), source: snapshot.id) }
            #expect(notReady == .rule(.snapshotNotReady(snapshot: snapshot.id, status: .creating)))
            try emulator.forceStatus(.available, snapshot: snapshot.id)
            let restored = try emulator.createDisk(name: "r1", spec: DiskSpec(capacityGiB: 1), source: snapshot.id)
            try emulator.forceStatus(.creating, disk: restored.id)  // as if the restore were still copying
            let pending = backendError { try emulator.deleteSnapshot(snapshot.id) }
            #expect(pending == .rule(.restorePending(snapshot: snapshot.id, pvc: "r1")))
            #expect(pending?.rule == .r11)
            try emulator.forceStatus(.available, disk: restored.id)
            try emulator.deleteSnapshot(snapshot.id)
        }
    }

    @Test("restore from an unknown snapshot -> notFound")
    func restoreUnknown() throws {
        try withEmulator { (emulator, _) throws in
            #expect(backendError { _ = try emulator.createDisk(name: "r1", spec: DiskSpec(capacityGiB: 1), source: SnapshotID("nope")) }
                    == .notFound(kind: "snapshot", id: "nope"))
        }
    }

    @Test("data survives: pattern -> snapshot -> overwrite source -> restore equals the pattern", arguments: [true, false])
    func dataRoundTrip(reflink: Bool) throws {
        try withTemporaryDirectory { (dir) throws in
            var configuration = testConfiguration(dir)
            configuration.useReflink = reflink
            let emulator = try EVSEmulator(configuration: configuration)
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 1), source: nil)
            let diskPath = emulator.diskImagePath(disk.id)
            try writePattern(path: diskPath, offset: 4096, count: 1 << 20, seed: 42)
            try writePattern(path: diskPath, offset: 700 << 20, count: 1 << 20, seed: 43)
            let before = try checksum(path: diskPath)
            let (snapshot, method) = try emulator.createSnapshotReportingMethod(name: "s1", sourceDisk: disk.id)
            #expect(method != nil)
            try writePattern(path: diskPath, offset: 4096, count: 1 << 20, seed: 99)
            #expect(try checksum(path: diskPath) != before)
            let restored = try emulator.createDisk(name: "r1", spec: DiskSpec(capacityGiB: 1), source: snapshot.id)
            #expect(try checksum(path: emulator.diskImagePath(restored.id)) == before)
            #expect(try checksum(path: emulator.snapshotImagePath(snapshot.id)) == before)
            // Holes stay holes: 2 MiB of data, not 1 GiB of zeros.
            #expect(sizeAndBlocks(emulator.diskImagePath(restored.id)).blocks < 8192)
        }
    }
}
