import Testing
@testable import EVSEmulator
import EVSSnapshotRules

/// EVS ModifyVolumeQoS on the emulator: GPSSD2's iops and throughput, kept in the SQLite metadata.
@Suite("Emulator: provisioned performance")
struct PerformanceTests {
    static func gpssd2(iops: Int = 3000, throughput: Int = 125) -> DiskSpec {
        var spec = DiskSpec(capacityGiB: 1, type: .gpssd2)
        spec.iops = iops
        spec.throughput = throughput
        return spec
    }

    @Test("a GPSSD2 disk keeps the iops and throughput it was made with; other types have none")
    func createKeeps() throws {
        try withTemporaryDirectory { dir in
            let emulator = try EVSEmulator(configuration: testConfiguration(dir))
            let fast = try emulator.createDisk(name: "fast", spec: Self.gpssd2(), source: nil)
            #expect(fast.iops == 3000 && fast.throughput == 125)
            #expect(try emulator.getDisk(fast.id)?.iops == 3000)
            var sasSpec = DiskSpec(capacityGiB: 1, type: .sas)
            sasSpec.iops = 3000
            let sas = try emulator.createDisk(name: "sas", spec: sasSpec, source: nil)
            #expect(sas.iops == nil && sas.throughput == nil)
        }
    }

    @Test("modify changes what it states, keeps the rest, and survives a restart")
    func modifyIsDurable() throws {
        try withTemporaryDirectory { dir in
            var id: DiskID!
            do {
                let emulator = try EVSEmulator(configuration: testConfiguration(dir))
                id = try emulator.createDisk(name: "fast", spec: Self.gpssd2(), source: nil).id
                let changed = try emulator.modifyPerformance(disk: id, change: PerformanceChange(iops: 6000))
                #expect(changed.iops == 6000 && changed.throughput == 125)
                let both = try emulator.modifyPerformance(disk: id, change: PerformanceChange(throughput: 250))
                #expect(both.iops == 6000 && both.throughput == 250)
                #expect(try emulator.listDisks(maxEntries: 0, startingToken: nil).items.first?.iops == 6000)
            }
            let reopened = try EVSEmulator(configuration: testConfiguration(dir))
            let disk = try #require(try reopened.getDisk(id))
            #expect(disk.iops == 6000 && disk.throughput == 250)
            #expect(disk.type == .gpssd2 && disk.status == .available)
        }
    }

    @Test("idempotent: the same values, or no change, return the disk unchanged (also on a SAS disk)")
    func idempotent() throws {
        try withTemporaryDirectory { dir in
            let emulator = try EVSEmulator(configuration: testConfiguration(dir))
            let fast = try emulator.createDisk(name: "fast", spec: Self.gpssd2(), source: nil)
            let first = try emulator.modifyPerformance(disk: fast.id, change: PerformanceChange(iops: 4000, throughput: 200))
            let again = try emulator.modifyPerformance(disk: fast.id, change: PerformanceChange(iops: 4000, throughput: 200))
            #expect(first == again)
            let sas = try emulator.createDisk(name: "sas", spec: DiskSpec(capacityGiB: 1), source: nil)
            #expect(try emulator.modifyPerformance(disk: sas.id, change: PerformanceChange()) == sas)
        }
    }

    @Test("refusals: unknown disk, a SAS disk, a disk in flight or in error; nothing is changed")
    func refusals() throws {
        try withTemporaryDirectory { dir in
            let emulator = try EVSEmulator(configuration: testConfiguration(dir))
            let unknown = DiskID("00000000-0000-4000-8000-000000000009")
            #expect(throws: BackendError.notFound(kind: "disk", id: unknown.rawValue)) {
                try emulator.modifyPerformance(disk: unknown, change: PerformanceChange(iops: 5000))
            }
            let sas = try emulator.createDisk(name: "sas", spec: DiskSpec(capacityGiB: 1), source: nil)
            #expect(throws: BackendError.rule(.performanceNotProvisioned(type: .sas, disk: sas.id))) {
                try emulator.modifyPerformance(disk: sas.id, change: PerformanceChange(iops: 5000))
            }
            #expect(try emulator.getDisk(sas.id)?.iops == nil)
            let fast = try emulator.createDisk(name: "fast", spec: Self.gpssd2(), source: nil)
            try emulator.forceStatus(.extending, disk: fast.id)
            #expect(throws: BackendError.rule(.operationInFlight(key: fast.id.rawValue))) {
                try emulator.modifyPerformance(disk: fast.id, change: PerformanceChange(iops: 5000))
            }
            try emulator.forceStatus(.error, disk: fast.id)
            #expect(throws: BackendError.self) {
                try emulator.modifyPerformance(disk: fast.id, change: PerformanceChange(iops: 5000))
            }
            #expect(try emulator.getDisk(fast.id)?.iops == 3000)
        }
    }

    @Test("an attached (in-use) GPSSD2 disk can be modified, as EVS allows")
    func inUse() throws {
        try withTemporaryDirectory { dir in
            let emulator = try EVSEmulator(configuration: testConfiguration(dir))
            let fast = try emulator.createDisk(name: "fast", spec: Self.gpssd2(), source: nil)
            try emulator.nodes.register("node-a")
            _ = try emulator.attach(disk: fast.id, node: "node-a", readOnly: false)
            let changed = try emulator.modifyPerformance(disk: fast.id, change: PerformanceChange(iops: 8000))
            #expect(changed.iops == 8000 && changed.status == .inUse)
        }
    }
}
