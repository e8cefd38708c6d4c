import EVSSnapshotRules
import GRDB
import Testing
@testable import EVSEmulator

@Suite("Disks: create, get, list, delete, attach, expand")
struct DiskOperationTests {
    @Test("create makes an available disk with a sparse image of its capacity")
    func createDisk() throws {
        try withEmulator { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "pvc-1", spec: DiskSpec(capacityGiB: 10, type: .ssd), source: nil)
            #expect(disk.status == .available)
            #expect(disk.type == .ssd && disk.mode == .vbd && disk.encryption == .plain && disk.sharing == .nonShared)
            #expect(disk.topology == EmulatorConfiguration.defaultTopology)
            #expect(disk.id.rawValue.count == 36 && disk.id.rawValue == disk.id.rawValue.lowercased())
            let info = sizeAndBlocks(emulator.diskImagePath(disk.id))
            #expect(info.size == 10 << 30)
            #expect(info.blocks == 0)
            #expect(try emulator.getDisk(disk.id) == disk)
        }
    }

    @Test("same name and compatible spec returns the same disk")
    func createIdempotent() throws {
        try withEmulator { (emulator, _) throws in
            let first = try emulator.createDisk(name: "pvc-1", spec: DiskSpec(capacityGiB: 5), source: nil)
            let again = try emulator.createDisk(name: "pvc-1", spec: DiskSpec(capacityGiB: 5, type: .sas), source: nil)
            #expect(again == first)
            #expect(try emulator.listDisks(maxEntries: 0, startingToken: nil).items.count == 1)
        }
    }

    @Test("same name, different parameters -> alreadyExists", arguments: [
        DiskSpec(capacityGiB: 6),
        DiskSpec(capacityGiB: 5, type: .ssd),
        DiskSpec(capacityGiB: 5, mode: .scsi),
        DiskSpec(capacityGiB: 5, encryption: .kms(keyID: "k1")),
        DiskSpec(capacityGiB: 5, sharing: .shared),
        DiskSpec(capacityGiB: 5, fsType: .xfs),
        DiskSpec(capacityGiB: 5, allowedZones: ["cn-north-4b"]),
    ])
    func createConflict(spec: DiskSpec) throws {
        try withEmulator(topologies: [EmulatorConfiguration.defaultTopology, Topology(region: "cn-north-4", zone: "cn-north-4b")]) { (emulator, _) throws in
            _ = try emulator.createDisk(name: "pvc-1", spec: DiskSpec(capacityGiB: 5), source: nil)
            let error = backendError { _ = try emulator.createDisk(name: "pvc-1", spec: spec, source: nil) }
            guard case .alreadyExists(let name, _) = error else {
                Issue.record("expected alreadyExists, got \(String(describing: error))"); return
            }
            #expect(name == "pvc-1")
        }
    }

    @Test("zones: preferred zone wins, allowed zones filter, none allowed -> topologyUnavailable")
    func zones() throws {
        let a = Topology(region: "cn-north-4", zone: "cn-north-4a"), b = Topology(region: "cn-north-4", zone: "cn-north-4b")
        try withEmulator(topologies: [a, b]) { (emulator, _) throws in
            #expect(try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 1), source: nil).topology == a)
            #expect(try emulator.createDisk(name: "d2", spec: DiskSpec(capacityGiB: 1, preferredZones: ["cn-north-4b"]),
                                            source: nil).topology == b)
            #expect(try emulator.createDisk(name: "d3", spec: DiskSpec(capacityGiB: 1, allowedZones: ["cn-north-4b", "x"]),
                                            source: nil).topology == b)
            let error = backendError {
                _ = try emulator.createDisk(name: "d4", spec: DiskSpec(capacityGiB: 1, allowedZones: ["cn-south-1a"]), source: nil)
            }
            #expect(error == .topologyUnavailable(requested: ["cn-south-1a"], available: ["cn-north-4a", "cn-north-4b"]))
        }
    }

    @Test("refusals of createDisk name their rule", arguments: [
        ("", 1, VolumeType?.none, RuleID.r14),
        (String(repeating: "n", count: 129), 1, nil, .r14),
        ("ok", 0, nil, .r12),
        ("ok", 32769, nil, .r12),
        ("ok", 1, .sata, .attributes),
    ] as [(String, Int, VolumeType?, RuleID)])
    func createRefusals(name: String, gib: Int, type: VolumeType?, rule: RuleID) throws {
        try withEmulator { (emulator, _) throws in
            let error = backendError { _ = try emulator.createDisk(name: name, spec: DiskSpec(capacityGiB: gib, type: type), source: nil) }
            #expect(error?.rule == rule, "got \(String(describing: error))")
            #expect(try emulator.listDisks(maxEntries: 0, startingToken: nil).items.isEmpty)
        }
    }

    @Test("128-character names and 32768 GiB are accepted (R12, R14 bounds)")
    func bounds() throws {
        try withEmulator { (emulator, _) throws in
            let name = String(repeating: "n", count: 128)
            let error = backendError {
                let disk = try emulator.createDisk(name: name, spec: DiskSpec(capacityGiB: 32768), source: nil)
                #expect(sizeAndBlocks(emulator.diskImagePath(disk.id)).size == Int64(32768) << 30)
            }
            if emulator.dataFileSystem() == "ext4" {
                // ext4 files end at 16 TiB: the host refuses, the rules did not; no row is left behind.
                guard case .limitExceeded = error else { Issue.record("got \(String(describing: error))"); return }
                #expect(try emulator.listDisks(maxEntries: 0, startingToken: nil).items.isEmpty)
                #expect(try emulator.createDisk(name: name, spec: DiskSpec(capacityGiB: 16383), source: nil).name == name)
            } else {
                #expect(error == nil)
            }
        }
    }

    @Test("delete removes row and image; deleting again or an unknown id succeeds")
    func deleteDisk() throws {
        try withEmulator { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "pvc-1", spec: DiskSpec(capacityGiB: 1), source: nil)
            try emulator.deleteDisk(disk.id)
            #expect(try emulator.getDisk(disk.id) == nil)
            #expect(!DataFiles.exists(emulator.diskImagePath(disk.id)))
            try emulator.deleteDisk(disk.id)
            try emulator.deleteDisk(DiskID("no-such-disk"))
            // The name is free again: a new disk is made.
            let again = try emulator.createDisk(name: "pvc-1", spec: DiskSpec(capacityGiB: 1), source: nil)
            #expect(again.id != disk.id)
        }
    }

    @Test("R13: a disk with snapshots is not deleted")
    func deleteWithSnapshots() throws {
        try withEmulator { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "pvc-1", spec: DiskSpec(capacityGiB: 1), source: nil)
            _ = try emulator.createSnapshot(name: "snap-1", sourceDisk: disk.id)
            let error = backendError { try emulator.deleteDisk(disk.id) }
            #expect(error == .rule(.diskHasSnapshots(disk: disk.id, count: 1)))
            #expect(error?.rule == .r13 && error?.kind == .stateConflict)
            #expect(try emulator.getDisk(disk.id)?.status == .available)
        }
    }

    @Test("R13: an attached disk is not deleted")
    func deleteAttached() throws {
        try withEmulator { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "pvc-1", spec: DiskSpec(capacityGiB: 1), source: nil)
            _ = try emulator.attach(disk: disk.id, node: "node-1")
            let error = backendError { try emulator.deleteDisk(disk.id) }
            #expect(error == .rule(.diskAttached(disk: disk.id, nodes: ["node-1"])))
            #expect(error?.description == "R13: disk is attached to node node-1; detach it first (disk \(disk.id))")
            try emulator.detach(disk: disk.id, node: "node-1")
            try emulator.deleteDisk(disk.id)
        }
    }

    @Test("a disk being created is in flight for create, delete and attach")
    func inFlight() throws {
        try withEmulator { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "pvc-1", spec: DiskSpec(capacityGiB: 1), source: nil)
            try emulator.forceStatus(.creating, disk: disk.id)
            #expect(backendError { _ = try emulator.createDisk(name: "pvc-1", spec: DiskSpec(capacityGiB: 1), source: nil) }
                    == .rule(.operationInFlight(key: "pvc-1")))
            #expect(backendError { try emulator.deleteDisk(disk.id) } == .rule(.operationInFlight(key: disk.id.rawValue)))
            #expect(backendError { _ = try emulator.attach(disk: disk.id, node: "n") } == .rule(.operationInFlight(key: disk.id.rawValue)))
        }
    }

    @Test("attach: in-use, idempotent, exclusive unless shared, limited per node; detach returns to available")
    func attachDetach() throws {
        try withEmulator(maxAttachments: 2) { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 1), source: nil)
            let attachment = try emulator.attach(disk: disk.id, node: "node-1")
            #expect(attachment == DiskAttachment(diskID: disk.id, nodeID: "node-1", devicePath: emulator.diskImagePath(disk.id)))
            #expect(try emulator.attach(disk: disk.id, node: "node-1") == attachment)
            #expect(try emulator.getDisk(disk.id)?.status == .inUse)
            guard case .busy = backendError({ _ = try emulator.attach(disk: disk.id, node: "node-2") }) else {
                Issue.record("non-shared disk attached to a second node"); return
            }
            let shared = try emulator.createDisk(name: "d2", spec: DiskSpec(capacityGiB: 1, sharing: .shared), source: nil)
            _ = try emulator.attach(disk: shared.id, node: "node-1")
            _ = try emulator.attach(disk: shared.id, node: "node-2")
            #expect(try emulator.attachments(of: shared.id).map(\.nodeID) == ["node-1", "node-2"])
            let third = try emulator.createDisk(name: "d3", spec: DiskSpec(capacityGiB: 1), source: nil)
            guard case .limitExceeded = backendError({ _ = try emulator.attach(disk: third.id, node: "node-1") }) else {
                Issue.record("node limit not enforced"); return
            }
            try emulator.detach(disk: disk.id, node: "node-1")
            try emulator.detach(disk: disk.id, node: "node-1")
            #expect(try emulator.getDisk(disk.id)?.status == .available)
            try emulator.detach(disk: shared.id, node: nil)
            #expect(try emulator.attachments(of: shared.id).isEmpty)
            #expect(try emulator.getDisk(shared.id)?.status == .available)
            #expect(backendError { _ = try emulator.attach(disk: DiskID("nope"), node: "n") } == .notFound(kind: "disk", id: "nope"))
            #expect(backendError { try emulator.detach(disk: DiskID("nope"), node: "n") } == .notFound(kind: "disk", id: "nope"))
        }
    }

    @Test("expand grows the image, never shrinks, checks R12")
    func expand() throws {
        try withEmulator { (emulator, _) throws in
            let disk = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 2), source: nil)
            _ = try emulator.attach(disk: disk.id, node: "n1")
            let grown = try emulator.expand(disk: disk.id, newCapacityGiB: 5)
            #expect(grown.capacityGiB == 5 && grown.status == .inUse)
            #expect(sizeAndBlocks(emulator.diskImagePath(disk.id)).size == 5 << 30)
            #expect(try emulator.expand(disk: disk.id, newCapacityGiB: 3).capacityGiB == 5)
            #expect(sizeAndBlocks(emulator.diskImagePath(disk.id)).size == 5 << 30)
            #expect(backendError { _ = try emulator.expand(disk: disk.id, newCapacityGiB: 40000) }?.rule == .r12)
            #expect(backendError { _ = try emulator.expand(disk: DiskID("x"), newCapacityGiB: 3) } == .notFound(kind: "disk", id: "x"))
        }
    }

    @Test("capacity and health report the state directory")
    func capacityAndHealth() throws {
        try withEmulator { (emulator, _) throws in
            _ = try emulator.createDisk(name: "d1", spec: DiskSpec(capacityGiB: 3), source: nil)
            let capacity = try emulator.capacity()
            #expect(capacity.provisionedBytes == 3 << 30)
            #expect(capacity.freeBytes > 0 && capacity.totalBytes >= capacity.freeBytes)
            // Metadata is in SQLite in WAL mode, committed with synchronous=FULL (durableWrites) or NORMAL.
            let journal = try emulator.database.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") }
            #expect(journal == "wal")
            let health = emulator.health()
            #expect(health.isHealthy, "\(health.detail)")
            #expect(health.detail.contains("metadata database answers"))
        }
    }

    @Test("a second emulator on the same state directory is refused")
    func exclusiveStateDirectory() throws {
        try withEmulator { (_, dir) throws in
            #expect(throws: BackendError.self) { _ = try EVSEmulator(configuration: testConfiguration(dir)) }
        }
    }
}
