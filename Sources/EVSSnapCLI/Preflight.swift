import EVSSnapshotRules
import Foundation
import JSONCore
import KubeClient

/// The result of one rule check, for `check` to print and for the other commands to enforce.
struct RuleOutcome: Sendable, Equatable {
    /// Passed, failed, or not verifiable from what the user may read.
    enum Verdict: String, Sendable, Equatable { case passed, failed, unverified }

    /// `R1`...`R14`.
    var rule: String
    var verdict: Verdict
    /// What was checked and found (passed), the refusal with what to do (failed), or what could not be
    /// read and which permission would verify it (unverified).
    var message: String

    /// Whether the rule is known to hold.
    var passed: Bool { verdict == .passed }
    /// Whether the rule is known to be broken.
    var failed: Bool { verdict == .failed }

    static func pass(_ rule: RuleID, _ message: String) -> RuleOutcome { RuleOutcome(rule: rule.rawValue, verdict: .passed, message: message) }
    static func fail(_ rule: RuleID, _ message: String) -> RuleOutcome { RuleOutcome(rule: rule.rawValue, verdict: .failed, message: message) }
    /// `reason` names the read that was refused, e.g. `cannot get csidrivers at the cluster scope`.
    static func unverified(_ rule: RuleID, _ reason: String) -> RuleOutcome { RuleOutcome(rule: rule.rawValue, verdict: .unverified, message: reason) }

    /// Throws the refusal when the rule failed. An unverified rule does not stop a command (the driver still
    /// enforces it); `warnIfUnverified` says so.
    func require() throws {
        if failed { throw CLIError.refused(rule: rule, message: message) }
    }

    /// `warning: R2 not verified: cannot get csidrivers at the cluster scope`, or nil.
    var unverifiedWarning: String? {
        verdict == .unverified ? "warning: \(rule) not verified: \(message)" : nil
    }

    /// Prints the unverified warning on stderr, then throws when failed.
    func enforce(_ console: Console) throws {
        if let w = unverifiedWarning { console.printError(w) }
        try require()
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
///
/// Least privilege: a user of CCE usually holds a namespaced Role only (deploy/rbac-user.yaml). Each rule reads
/// the cluster-scoped objects that decide it when the user may read them (deploy/rbac-user.yaml's optional
/// ClusterRole), and otherwise falls back to what namespace-scoped objects say; what still cannot be known is
/// `unverified`, naming the permission that would verify it. The driver enforces every rule again itself.
struct Preflight {
    let session: Session

    /// R1 and R2 (one outcome each).
    /// `snapshotClass` nil: the settings' default class.
    func clusterChecks(snapshotClass: String?) async throws -> [RuleOutcome] {
        let api = session.api
        try await session.loadDriverSettings()
        let snapshotClass = snapshotClass ?? Rules.settings.defaultSnapshotClass
        // R1: /version is readable by every authenticated user (system:public-info-viewer).
        let r1: RuleOutcome
        do {
            r1 = Rules.clusterVersion(try await api.serverVersion())
        } catch let e as APIError where e.code == 403 {
            r1 = .unverified(.r1, "cannot get /version")
        }
        // R2: discovery (system:discovery) says whether the snapshot API is served; the CSIDriver and the
        // VolumeSnapshotClass are cluster-scoped.
        let served: [String]
        do {
            served = try await session.servedSnapshotVersions()
        } catch let e as APIError where e.code == 403 {
            return [r1, .unverified(.r2, "cannot get /apis (discovery)")]
        }
        let driverName = Rules.settings.driverName
        let driver = try await session.csiDriver()
        var cls: ClusterRead<VolumeSnapshotClass?> = .read(nil)
        if case .success(let version) = Rules.chooseSnapshotVersion(served: served) {
            cls = try await session.clusterGet(.volumeSnapshotClasses.withVersion(version), name: snapshotClass).map { $0.map(VolumeSnapshotClass.init) }
        }
        // What could not be read is assumed to hold, so that a failure is one of the facts that were read.
        let assumedClass = VolumeSnapshotClass(["metadata": ["name": .string(snapshotClass)], "driver": .string(driverName)])
        let r2 = Rules.everestPresent(driverFound: driver.value.map { $0 != nil } ?? true, served: served, className: snapshotClass,
                                      snapshotClass: cls.value ?? assumedClass)
        let refused = [driver.refusal, cls.refusal].compactMap { $0 }
        if r2.passed, !refused.isEmpty { return [r1, .unverified(.r2, refused.joined(separator: "; "))] }
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
        // R3: the PV's spec.csi.driver; without the PV, the provisioner the PVC's annotations name.
        let pvRead = try await session.readPV(volumeName)
        let pv: PV?
        switch pvRead {
        case .read(nil): throw APIError.notFound(.persistentVolumes, volumeName)
        case .read(let found?):
            pv = found
            target.outcomes.append(Rules.everestVolume(qualified, pvc, found))
        case .forbidden(let reason):
            pv = nil
            target.outcomes.append(Rules.everestVolume(qualified, pvc, refusedPV: reason))
        }
        target.pv = pv
        guard let r3 = target.outcomes.last, !r3.failed else { return target }

        // R4: the disk's state from the PV and PVC (the PVC alone when the PV is not readable).
        let sc = try await pvc.storageClassName.asyncMap { try await session.readStorageClass($0).value ?? nil } ?? nil
        let disk: Disk
        do {
            disk = try DiskFacts.disk(pvc: pvc, pv: pv, storageClass: sc)
        } catch let CLIError.refused(rule, message) {
            target.outcomes.append(RuleOutcome(rule: rule, verdict: .failed, message: message))
            return target
        }
        let r4 = Rules.diskState(disk)
        target.outcomes.append(r4)
        guard r4.passed else { return target }

        // R5: the disk's snapshots; from the VolumeSnapshotContents of its volumeHandle, else from the
        // VolumeSnapshots of the PVC in its namespace.
        let handle = pv?.volumeHandle
        let contents: ClusterRead<[JSON]>
        if handle == nil {
            contents = .forbidden(pvRead.refusal ?? "no volumeHandle")
        } else {
            contents = try await session.clusterList(try await session.volumeSnapshotContents())
        }
        let snapshots = try await session.api.list(try await session.volumeSnapshots(), namespace: session.namespace, fieldSelector: nil)
            .map(VolumeSnapshot.init)
            .filter { $0.sourcePVC == pvc.name }
        if let handle, let contents = contents.value {
            let inventory = SnapshotInventory(contents: contents.map(VolumeSnapshotContent.init), snapshots: snapshots,
                                              pvcDisk: ["\(session.namespace)/\(pvc.name)": handle])
            target.outcomes.append(Rules.quota(disk: handle, count: inventory.count(disk: handle)))
        } else {
            let counted = "counted from the VolumeSnapshots of PVC \(qualified) (\(contents.refusal ?? "no volumeHandle"))"
            target.outcomes.append(Rules.quota(disk: handle ?? disk.id.rawValue, count: snapshots.count, counted: counted))
        }
        return target
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
