import EVSSnapshotRules
import Foundation
import Testing
@testable import EVSCloud

/// ModifyVolumeQoS (PUT /v5/{project_id}/cloudvolumes/{volume_id}/qos) against the fake EVS. Its own fake process,
/// started once and kept for the test process's life (the fake exits with its parent): the shared one belongs to the
/// serialized "EVS cloud backend on the fake" suite, which this one may run beside.
@Suite("EVS cloud backend: ModifyVolumeQoS", .serialized)
struct ModifyQoSTests {
    nonisolated(unsafe) static var own: FakeEVS?
    let fake: FakeEVS
    init() throws {
        if Self.own == nil { Self.own = try FakeEVS() }
        fake = Self.own!
        try fake.reset()
    }

    func gpssd2(iops: Int = 3000, throughput: Int = 125) -> DiskSpec {
        var spec = DiskSpec(capacityGiB: 20, type: .gpssd2)
        spec.iops = iops
        spec.throughput = throughput
        return spec
    }

    /// PUT requests the fake counted on the qos route (its template replaces ids with `{id}`).
    func puts() throws -> Int { try fake.state()["requests"]["PUT /v5/{id}/cloudvolumes/{id}/qos"].int ?? 0 }

    @Test("a GPSSD2 disk's iops change through the qos job; the unstated throughput is sent as it is; idempotent")
    func modify() throws {
        let backend = fake.backend()
        let disk = try withDeadline(10) { try backend.createDisk(name: "pvc-qos", spec: gpssd2(), source: nil) }
        let changed = try withDeadline(10) { try backend.modifyPerformance(disk: disk.id, change: PerformanceChange(iops: 6000)) }
        #expect(changed.iops == 6000 && changed.throughput == 125)
        let volume = try #require(try fake.volumes().first)
        #expect(volume["iops"]["total_val"].int == 6000 && volume["throughput"]["total_val"].int == 125)
        #expect(try puts() == 1)
        let again = try withDeadline(10) { try backend.modifyPerformance(disk: disk.id, change: PerformanceChange(iops: 6000)) }
        #expect(again == changed)
        #expect(try puts() == 1)  // already so: no second PUT
    }

    @Test("refused before EVS is called: a SAS disk (rule), an unknown disk (notFound)")
    func refusals() throws {
        let backend = fake.backend()
        let sas = try withDeadline(10) { try backend.createDisk(name: "pvc-sas", spec: DiskSpec(capacityGiB: 20), source: nil) }
        #expect(throws: BackendError.rule(.performanceNotProvisioned(type: .sas, disk: sas.id))) {
            try withDeadline(10) { try backend.modifyPerformance(disk: sas.id, change: PerformanceChange(iops: 6000)) }
        }
        let unknown = DiskID("00000000-0000-4000-8000-00000000000a")
        #expect(throws: BackendError.notFound(kind: "disk", id: unknown.rawValue)) {
            try withDeadline(10) { try backend.modifyPerformance(disk: unknown, change: PerformanceChange(iops: 6000)) }
        }
        #expect(try puts() == 0)
    }
}
