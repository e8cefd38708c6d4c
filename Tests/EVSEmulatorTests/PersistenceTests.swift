import EVSSnapshotRules
import Foundation
import SQLiteDB
import Testing
@testable import EVSEmulator

@Suite("Persistence: restart and crash reconcile")
struct PersistenceTests {
    @Test("restart: a reopened store finds every disk, snapshot, attachment and byte")
    func restart() throws {
        try withTemporaryDirectory { (dir) throws in
            var disks: [Disk] = [], snapshots: [Snapshot] = [], sum: UInt64 = 0
            do {
                let emulator = try EVSEmulator(configuration: testConfiguration(dir))
                #expect(emulator.openReport.isEmpty)
                let d1 = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 2, type: .ssd, encryption: .kms(keyID: "k")), source: nil)
                try writePattern(path: emulator.diskImagePath(d1.id), offset: 123, count: 50_000, seed: 5)
                sum = try checksum(path: emulator.diskImagePath(d1.id))
                let s1 = try emulator.createSnapshot(name: "s1", sourceDisk: d1.id)
                let r1 = try emulator.createDisk(name: "r1", spec: DiskSpec(capacityGiB: 2), source: s1.id)
                try emulator.nodes.register("node-a")
                _ = try emulator.attach(disk: r1.id, node: "node-a", readOnly: true)
                disks = try emulator.listDisks(maxEntries: 0, startingToken: nil).items
                snapshots = try emulator.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 0, startingToken: nil).items
            }
            let reopened = try EVSEmulator(configuration: testConfiguration(dir))
            #expect(reopened.openReport.isEmpty, "\(reopened.openReport)")
            #expect(try reopened.listDisks(maxEntries: 0, startingToken: nil).items == disks)
            #expect(try reopened.listSnapshots(snapshotID: nil, sourceDiskID: nil, maxEntries: 0, startingToken: nil).items == snapshots)
            #expect(disks.map(\.status) == [.available, .inUse])
            #expect(try reopened.attachments(of: disks[1].id).map(\.nodeID) == ["node-a"])
            // The node and the attachment's mode survive the restart.
            #expect(reopened.nodes.contains("node-a"))
            guard case .alreadyExists = backendError({ _ = try reopened.attach(disk: disks[1].id, node: "node-a", readOnly: false) }) else {
                Issue.record("the read-only mode was lost across the restart"); return
            }
            #expect(try checksum(path: reopened.snapshotImagePath(snapshots[0].id)) == sum)
            #expect(try checksum(path: reopened.diskImagePath(disks[1].id)) == sum)
            // Idempotency holds across the restart.
            #expect(try reopened.createSnapshot(name: "s1", sourceDisk: disks[0].id) == snapshots[0])
        }
    }

    @Test("reconcile: creating rows, deleting rows, temp files, orphans and stray attachments after a crash")
    func reconcile() throws {
        try withTemporaryDirectory { (dir) throws in
            var kept: Disk!, keptSnapshot: Snapshot!, doomed: Disk!
            do {
                let emulator = try EVSEmulator(configuration: testConfiguration(dir))
                kept = try emulator.createDisk(name: "kept", spec: DiskSpec(capacityGiB: 1), source: nil)
                keptSnapshot = try emulator.createSnapshot(name: "kept-snap", sourceDisk: kept.id)
                doomed = try emulator.createDisk(name: "doomed", spec: DiskSpec(capacityGiB: 1), source: nil)
            }
            // Leftovers as a SIGKILL at various points would leave them.
            let topology = EmulatorConfiguration.defaultTopology
            let halfDisk = Disk(id: "11111111-0000-0000-0000-000000000001", name: "half", capacityGiB: 1, topology: topology, status: .creating)
            let madeDisk = Disk(id: "11111111-0000-0000-0000-000000000002", name: "made", capacityGiB: 1, topology: topology, status: .creating)
            let halfSnapshot = Snapshot(id: "22222222-0000-0000-0000-000000000001", name: "half-snap", of: kept, status: .creating)
            let madeSnapshot = Snapshot(id: "22222222-0000-0000-0000-000000000002", name: "made-snap", of: kept, status: .creating)
            let queue = try DatabaseQueue(path: dir + "/evs.sqlite")
            try queue.write { db in
                try MetadataStore.insert(halfDisk, sourceSnapshot: nil, in: db)   // crashed before the file was renamed
                try MetadataStore.insert(madeDisk, sourceSnapshot: nil, in: db)   // crashed after rename, before `available`
                try MetadataStore.insert(halfSnapshot, in: db)
                try MetadataStore.insert(madeSnapshot, in: db)
                try MetadataStore.setStatus(.deleting, disk: doomed.id, in: db)   // crashed inside deleteDisk
                try MetadataStore.insertAttachment(disk: DiskID("gone"), node: "n", readOnly: false, in: db)
            }
            try queue.close()
            try DataFiles.createSparse(at: dir + "/disks/\(madeDisk.id).img", bytes: 1 << 30, durable: false)
            try DataFiles.createSparse(at: dir + "/snapshots/\(madeSnapshot.id).img", bytes: 1 << 30, durable: false)
            try DataFiles.createSparse(at: dir + "/disks/\(halfDisk.id).img.tmp", bytes: 1 << 30, durable: false)
            try DataFiles.createSparse(at: dir + "/snapshots/\(halfSnapshot.id).img.tmp", bytes: 1 << 30, durable: false)
            try DataFiles.createSparse(at: dir + "/disks/33333333-0000-0000-0000-000000000009.img", bytes: 4096, durable: false)

            let emulator = try EVSEmulator(configuration: testConfiguration(dir))
            let report = emulator.openReport
            #expect(Set(report.finished) == [madeDisk.id.rawValue, madeSnapshot.id.rawValue])
            #expect(Set(report.rolledBack) == [halfDisk.id.rawValue, halfSnapshot.id.rawValue])
            #expect(report.completedDeletes == [doomed.id.rawValue])
            #expect(report.removedTemporaryFiles.count == 2)
            #expect(report.removedOrphanFiles == [dir + "/disks/33333333-0000-0000-0000-000000000009.img"])
            #expect(report.removedAttachments == 1)

            // Nothing completed was lost.
            #expect(try emulator.getDisk(kept.id) == kept)
            #expect(try emulator.getSnapshot(keptSnapshot.id) == keptSnapshot)
            #expect(DataFiles.exists(emulator.snapshotImagePath(keptSnapshot.id)))
            // Finished objects are available; a retry by name returns them.
            #expect(try emulator.getDisk(madeDisk.id)?.status == .available)
            #expect(try emulator.createDisk(name: "made", spec: DiskSpec(capacityGiB: 1), source: nil).id == madeDisk.id)
            #expect(try emulator.createSnapshot(name: "made-snap", sourceDisk: kept.id).id == madeSnapshot.id)
            // Rolled back objects are gone; a retry by name makes them anew.
            #expect(try emulator.getDisk(halfDisk.id) == nil)
            let retried = try emulator.createDisk(name: "half", spec: DiskSpec(capacityGiB: 1), source: nil)
            #expect(retried.id != halfDisk.id && retried.status == .available)
            #expect(try emulator.createSnapshot(name: "half-snap", sourceDisk: kept.id).id != halfSnapshot.id)
            // The interrupted delete is complete.
            #expect(try emulator.getDisk(doomed.id) == nil)
            #expect(!DataFiles.exists(emulator.diskImagePath(doomed.id)))
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: dir + "/disks").filter { $0.hasSuffix(".tmp") }
            #expect(leftovers.isEmpty)
            // A second open finds nothing more to do.
            let disks = try emulator.listDisks(maxEntries: 0, startingToken: nil).items
            _ = consume emulator
            let again = try EVSEmulator(configuration: testConfiguration(dir))
            #expect(again.openReport.isEmpty, "\(again.openReport)")
            #expect(try again.listDisks(maxEntries: 0, startingToken: nil).items == disks)
        }
    }

    @Test("reconcile settles an interrupted expand at the size the file reached")
    func reconcileExtending() throws {
        try withTemporaryDirectory { (dir) throws in
            var disk: Disk!
            do {
                let emulator = try EVSEmulator(configuration: testConfiguration(dir))
                disk = try emulator.createDisk(name: "d", spec: DiskSpec(capacityGiB: 1), source: nil)
                try emulator.forceStatus(.extending, disk: disk.id)
                try DataFiles.grow(emulator.diskImagePath(disk.id), to: 3 << 30, durable: false)
            }
            let emulator = try EVSEmulator(configuration: testConfiguration(dir))
            #expect(emulator.openReport.settledExtends == [disk.id.rawValue])
            let settled = try emulator.getDisk(disk.id)
            #expect(settled?.status == .available && settled?.capacityGiB == 3)
        }
    }
}
