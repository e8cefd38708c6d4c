import EVSSnapshotRules
import Foundation
import KubeClient

/// The result of one rule check, for `check` to print and for the other commands to enforce.
struct RuleOutcome: Sendable, Equatable {
    /// `R1`...`R14`.
    var rule: String
    /// Whether the rule is satisfied.
    var passed: Bool
    /// What was checked and found (passed) or the refusal with what to do (failed).
    var message: String

    static func pass(_ rule: String, _ message: String) -> RuleOutcome { RuleOutcome(rule: rule, passed: true, message: message) }
    static func fail(_ rule: String, _ message: String) -> RuleOutcome { RuleOutcome(rule: rule, passed: false, message: message) }

    /// Throws the refusal when the rule failed.
    func require() throws {
        if !passed { throw CLIError.refused(rule: rule, message: message) }
    }
}

/// What the PVC checks found out about the disk behind a PVC.
struct PVCTarget {
    var outcomes: [RuleOutcome] = []
    var warnings: [String] = []
    var pvc: PVC?
    var pv: PV?
}

/// Gathers the facts the rules need from the cluster and asks `Rules` (the domain) for the verdicts.
/// Shared by `create` and `check`, so both refuse with the same words.
struct Preflight {
    let session: Session

    /// R1 and R2 (one outcome each).
    func clusterChecks(snapshotClass: String) async throws -> [RuleOutcome] {
        let api = session.api
        let r1 = Rules.clusterVersion(try await api.serverVersion())
        let driverName = Rules.settings.driverName
        let driver = try await api.getIfExists(.csiDrivers, namespace: nil, name: driverName)
        let served = try await session.servedSnapshotVersions()
        var cls: VolumeSnapshotClass?
        if case .success(let version) = Rules.chooseSnapshotVersion(served: served) {
            cls = try await api.getIfExists(.volumeSnapshotClasses.withVersion(version), namespace: nil, name: snapshotClass).map(VolumeSnapshotClass.init)
        }
        let r2 = Rules.everestPresent(driverFound: driver != nil, served: served, className: snapshotClass, snapshotClass: cls)
        return [r1, r2]
    }

    /// R4 (Bound), R3, R4 (disk state), R5 for the disk of `pvc`, plus R12 warnings.
    /// Stops at the first failure: later checks need its facts.
    func pvcChecks(pvc name: String) async throws -> PVCTarget {
        var target = PVCTarget()
        let pvc = try await session.pvc(name)
        target.pvc = pvc
        if let q = pvc.requestedStorage, let w = Rules.quantityWarning(q) { target.warnings.append(w) }
        let qualified = "\(session.namespace)/\(name)"

        let bound = Rules.pvcBound(qualified, pvc)
        guard bound.passed, let volumeName = pvc.volumeName else {
            target.outcomes.append(bound)
            return target
        }
        let pv = try await session.pv(volumeName)
        target.pv = pv
        let r3 = Rules.everestVolume(qualified, pvc, pv)
        target.outcomes.append(r3)
        guard r3.passed, let handle = pv.volumeHandle else { return target }

        let sc = try await pvc.storageClassName.asyncMap { try await session.storageClass($0) } ?? nil
        let disk: Disk
        do {
            disk = try DiskFacts.disk(pvc: pvc, pv: pv, storageClass: sc)
        } catch let CLIError.refused(rule, message) {
            target.outcomes.append(.fail(rule, message))
            return target
        }
        let r4 = Rules.diskState(disk)
        target.outcomes.append(r4)
        guard r4.passed else { return target }

        let count = try await snapshotCount(disk: handle, pvc: pvc)
        target.outcomes.append(Rules.quota(disk: handle, count: count))
        return target
    }

    /// R5: snapshots that already exist for the disk: contents of that volumeHandle, plus snapshots of
    /// this PVC (the only PVC bound to the disk's PV) that have no content yet.
    func snapshotCount(disk: String, pvc: PVC) async throws -> Int {
        let contents = try await session.api.list(try await session.volumeSnapshotContents(), namespace: nil, fieldSelector: nil)
            .map(VolumeSnapshotContent.init)
        let snapshots = try await session.api.list(try await session.volumeSnapshots(), namespace: session.namespace, fieldSelector: nil)
            .map(VolumeSnapshot.init)
            .filter { $0.sourcePVC == pvc.name }
        let inventory = SnapshotInventory(contents: contents, snapshots: snapshots,
                                          pvcDisk: ["\(session.namespace)/\(pvc.name)": disk])
        return inventory.count(disk: disk)
    }
}

extension Optional {
    func asyncMap<T>(_ transform: (Wrapped) async throws -> T) async rethrows -> T? {
        switch self {
        case .some(let w): return try await transform(w)
        case .none: return nil
        }
    }
}
