import Foundation
import Testing
@testable import EVSSnapshotRules

/// Shared test values: the seed page's SSD disk in cn-north-4b.
enum Fixture {
    static let topology = Topology(region: "cn-north-4", zone: "cn-north-4b")
    static let disk = Disk(id: "d-1a2b", name: "pvc-evs-test", capacityGiB: 10, type: .ssd, topology: topology,
                           status: .inUse)
    static let snapshot = Snapshot(id: "s-9f8e", name: "cce-disksnap-test", of: disk, status: .available)
    /// A restore request that states every attribute equal to the source.
    static let matchingRequest = RestoreRequest(name: "pvc-test", capacityGiB: 10, type: .ssd, mode: .vbd,
                                                encryption: .plain, sharing: .nonShared, fsType: .ext4)

    /// Runs `body`; the violation it threw, or nil. Any other error fails the test.
    static func throwsViolation(_ body: () throws -> Void) -> EverestRuleViolation? {
        do { try body(); return nil } catch let v as EverestRuleViolation { return v } catch {
            Issue.record("unexpected error \(error)")
            return nil
        }
    }
}
