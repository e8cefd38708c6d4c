import EVSSnapshotRules
import Foundation
import JSONCore
import Synchronization

/// The plugin's adapter to the shared domain module `EVSSnapshotRules`: it turns Kubernetes objects into the
/// domain's plain values, calls `EverestRules`, and turns each verdict into a `RuleOutcome`. No rule is
/// decided here; only the pass messages (what was checked) are the plugin's own words.
enum Rules {
    /// The rule settings in effect: what the driver published on the cluster (`Session.loadDriverSettings`), else
    /// EVEREST.md's defaults (7 snapshots per disk, equal capacity, v1.15, disk.csi.everest.io).
    static var settings: RuleSettings { current.settings }

    /// The settings of the command running in this task (each command gets its own box).
    @TaskLocal static var current = SettingsBox()

    /// Holds one command's rule settings; set once the driver's published settings are read.
    final class SettingsBox: Sendable {
        private let value = Mutex(RuleSettings.default)
        /// Whether the driver's published settings were read (false: the defaults are in effect).
        private let published = Mutex<String?>(nil)
        var settings: RuleSettings { value.withLock { $0 } }
        func set(_ s: RuleSettings, from source: String) {
            value.withLock { $0 = s }
            published.withLock { $0 = source }
        }
        /// Where the settings came from, nil for the defaults.
        var source: String? { published.withLock { $0 } }
    }

    /// Maps a domain verdict to an outcome.
    static func outcome(_ rule: RuleID, pass: String, _ check: () throws(EverestRuleViolation) -> Void) -> RuleOutcome {
        do {
            try check()
            return .pass(rule, pass)
        } catch {
            return .fail(error.rule, error.message + (hint(for: error).map { ": \($0)" } ?? ""))
        }
    }

    /// What the user can do about a violation, in plugin terms (commands to run).
    static func hint(for violation: EverestRuleViolation) -> String? {
        switch violation {
        case .clusterTooOld: return "upgrade the cluster"
        case .driverNotRegistered: return "install the CCE Everest add-on (kubectl get csidrivers shows the registered drivers)"
        case .snapshotAPINotServed: return "install the snapshot CRDs and snapshot-controller (external-snapshotter)"
        case .snapshotClassMissing: return "create it, or name another with --class (kubectl get volumesnapshotclasses)"
        case .snapshotClassWrongDriver: return "name a class of \(settings.driverName) with --class"
        case .pvcNotBound: return "wait until it is Bound (kubectl get pvc), then try again"
        case .snapshotQuotaReached: return "delete one with `kubectl evssnap delete NAME` first (`kubectl evssnap list -o wide` shows them)"
        case .restoreTargetExists: return "choose another name with --to"
        case .snapshotNotReady(_, let status) where status == .error:
            return "the snapshot failed (`kubectl evssnap describe` shows why); take a new one"
        case .snapshotNotReady: return "wait until it is ready (`kubectl evssnap create --wait` or `kubectl evssnap list`), then try again"
        case .restorePending: return "or use --force to delete it anyway"
        case .snapshotNotDeletable: return "wait until it is ready or failed, or use --force"
        case .typeDiffers, .modeDiffers, .encryptionDiffers, .sharingDiffers:
            return "use a --storage-class whose parameters match the source disk, or leave them unset"
        case .zoneNotAllowed: return "use a --storage-class whose allowedTopologies include the snapshot's zone"
        case .reservedSnapshotName, .nameTooLong, .nameEmpty: return "choose another --name"
        default: return nil
        }
    }

    // MARK: R1, R2

    /// R1 from `/version` (gitVersion first, then major/minor).
    static func clusterVersion(_ v: ServerVersion) -> RuleOutcome {
        let min = settings.minimumClusterVersion
        return outcome(.r1, pass: "cluster version \(v.gitVersion) ≥ \(min.major).\(min.minor)") { () throws(EverestRuleViolation) in
            if KubeVersion(gitVersion: v.gitVersion) != nil {
                try EverestRules.checkClusterVersion(gitVersion: v.gitVersion, settings: settings)
            } else {
                try EverestRules.checkClusterVersion(major: v.major, minor: v.minor, settings: settings)
            }
        }
    }

    /// The snapshot API version to use, from discovery (R2): the domain's preference order.
    static func chooseSnapshotVersion(served: [String]) -> Result<String, CLIError> {
        if let v = EverestNames.snapshotVersions.first(where: { served.contains($0) }) { return .success(v) }
        let violation = EverestRuleViolation.snapshotAPINotServed(group: EverestNames.snapshotGroup, served: served)
        return .failure(.refused(rule: violation.rule.rawValue, message: violation.message + ": " + (hint(for: violation) ?? "")))
    }

    /// R2 as a whole: driver registered, snapshot API served, class present and of the driver.
    static func everestPresent(driverFound: Bool, served: [String], className: String, snapshotClass: VolumeSnapshotClass?) -> RuleOutcome {
        var version = ""
        let pass = { "CSI driver \(settings.driverName) registered, \(EverestNames.snapshotGroup)/\(version) served, VolumeSnapshotClass \(className) of \(settings.driverName)" }
        var result = outcome(.r2, pass: "") { () throws(EverestRuleViolation) in
            version = try EverestRules.checkEverestPresent(
                registeredDrivers: driverFound ? [settings.driverName] : [],
                servedSnapshotVersions: served,
                snapshotClass: snapshotClass.map { SnapshotClassInfo(name: $0.name, driver: $0.driver) },
                className: className, settings: settings)
        }
        if result.passed { result.message = pass() }
        return result
    }

    // MARK: R3, R4, R5

    static func pvcFacts(_ qualified: String, _ pvc: PVC, _ pv: PV?, csiDriver: String?? = .none) -> PVCFacts {
        PVCFacts(name: qualified, phase: pvc.phase, storageClassName: pvc.storageClassName, volumeName: pvc.volumeName,
                 csiDriver: csiDriver ?? pv?.csiDriver, flexVolumeDriver: pv?.flexDriver)
    }

    /// R4 in Kubernetes terms: the PVC is Bound.
    static func pvcBound(_ qualified: String, _ pvc: PVC) -> RuleOutcome {
        outcome(.r4, pass: "PVC \(qualified) is Bound") { () throws(EverestRuleViolation) in
            try EverestRules.run(.pvcBound, CreateSnapshotFacts(pvc: pvcFacts(qualified, pvc, nil)), settings: settings)
        }
    }

    /// R3: the PV is a volume of the Everest CSI driver (the PV's spec.csi.driver decides, not the class).
    static func everestVolume(_ qualified: String, _ pvc: PVC, _ pv: PV) -> RuleOutcome {
        outcome(.r3, pass: "PVC \(qualified) is bound to PV \(pv.name) of CSI driver \(pv.csiDriver ?? "?")") { () throws(EverestRuleViolation) in
            try EverestRules.run(.evsVolume, CreateSnapshotFacts(pvc: pvcFacts(qualified, pvc, pv)), settings: settings)
        }
    }

    /// R3 when the PV may not be read: the provisioner the PVC's annotations name
    /// (`volume.kubernetes.io/storage-provisioner`, its beta form, or `pv.kubernetes.io/provisioned-by`) stands
    /// for the PV's driver; FlexVolume classes are refused by name. Without either, R3 is unverified.
    static func everestVolume(_ qualified: String, _ pvc: PVC, refusedPV reason: String) -> RuleOutcome {
        let driver = settings.driverName
        if let p = pvc.provisionerAnnotation, p.value != EverestNames.cceProvisioner {
            return outcome(.r3, pass: "PVC \(qualified) was provisioned by \(p.value) (its annotation \(p.key); \(reason))") { () throws(EverestRuleViolation) in
                try EverestRules.checkEVSVolume(pvcFacts(qualified, pvc, nil, csiDriver: p.value), settings: settings)
            }
        }
        // FlexVolume classes (ssd, sas, sata) are refused by their name alone.
        let byName = outcome(.r3, pass: "") { () throws(EverestRuleViolation) in
            try EverestRules.checkEVSVolume(pvcFacts(qualified, pvc, nil, csiDriver: nil), settings: settings)
        }
        if byName.failed, let sc = pvc.storageClassName, EverestNames.flexVolumeClasses.contains(sc) { return byName }
        if pvc.provisionerAnnotation != nil {
            return .unverified(.r3, "PVC \(qualified) was provisioned by \(EverestNames.cceProvisioner), which serves several drivers; \(reason)")
        }
        return .unverified(.r3, "\(reason) (PVC \(qualified) names no provisioner; the PV's CSI driver decides, expected \(driver))")
    }

    /// R3 (storage format) and R4: the disk's state, from what Kubernetes shows of it.
    static func diskState(_ disk: Disk) -> RuleOutcome {
        let format = outcome(.r3, pass: "") { () throws(EverestRuleViolation) in
            try EverestRules.run(.storageFormat, CreateSnapshotFacts(disk: disk), settings: settings)
        }
        if !format.passed { return format }
        return outcome(.r4, pass: "disk \(disk.id) is \(disk.status == .available ? "available or in-use" : disk.status.rawValue)") { () throws(EverestRuleViolation) in
            try EverestRules.run(.diskState, CreateSnapshotFacts(disk: disk), settings: settings)
        }
    }

    /// R5: one more snapshot fits the disk's quota.
    /// `counted` says how, when not from the disk's VolumeSnapshotContents.
    static func quota(disk: String, count: Int, counted: String? = nil) -> RuleOutcome {
        outcome(.r5, pass: "disk \(disk) has \(count) of \(settings.maxSnapshotsPerDisk) snapshots" + (counted.map { ", \($0)" } ?? "")) { () throws(EverestRuleViolation) in
            try EverestRules.checkSnapshotQuota(disk: DiskID(disk), existingSnapshots: count, settings: settings)  // R5, `.quota`
        }
    }

    // MARK: R7, R11, R13, R14

    /// R14: the snapshot name.
    static func snapshotName(_ name: String) -> RuleOutcome {
        outcome(.r14, pass: "snapshot name \(name)") { () throws(EverestRuleViolation) in
            try EverestRules.run(.name, CreateSnapshotFacts(name: name), settings: settings)
        }
    }

    /// R14 and R7 (the first two of the restore's checks): the new PVC's name, which must not exist yet.
    static func restoreTargetFree(_ qualified: String, exists: Bool) -> RuleOutcome {
        let name = String(qualified.split(separator: "/").last ?? Substring(qualified))
        let r14 = outcome(.r14, pass: "") { () throws(EverestRuleViolation) in
            try EverestRules.run(.name, RestoreFacts(name: name), settings: settings)
        }
        if !r14.passed { return r14 }
        return outcome(.r7, pass: "PVC \(qualified) does not exist yet") { () throws(EverestRuleViolation) in
            try EverestRules.run(.targetIsNew, RestoreFacts(name: qualified, targetExists: exists), settings: settings)
        }
    }

    /// The EVS status a VolumeSnapshot stands for (R11, R13).
    static func snapshotStatus(_ s: VolumeSnapshot) -> SnapshotStatus {
        if s.deletionTimestamp != nil { return .deleting }
        if s.readyToUse { return .available }
        if s.errorMessage != nil { return .error }
        return .creating
    }

    /// R11: the snapshot is ready to restore from.
    static func readyToRestore(_ s: VolumeSnapshot, snapshot: Snapshot) -> RuleOutcome {
        outcome(.r11, pass: "snapshot \(s.namespace ?? "")/\(s.name) is ready to use") { () throws(EverestRuleViolation) in
            try EverestRules.run(.ready, RestoreFacts(snapshot: snapshot), settings: settings)
        }
    }

    /// R11 and R13 before a delete: no Pending restore from it, and it is ready or failed.
    static func deletable(_ s: VolumeSnapshot, namespace: String, pendingRestores: [String]) -> RuleOutcome {
        let id = SnapshotID("\(namespace)/\(s.name)")
        let r11 = outcome(.r11, pass: "no Pending PVC restores from \(id)") { () throws(EverestRuleViolation) in
            try EverestRules.checkNoPendingRestore(snapshot: id, pendingRestorePVCs: pendingRestores.map { "\(namespace)/\($0)" })
        }
        guard r11.passed else { return r11 }
        return outcome(.r13, pass: "snapshot \(id) can be deleted") { () throws(EverestRuleViolation) in
            try EverestRules.checkSnapshotDeletable(id, status: snapshotStatus(s))
        }
    }

    // MARK: R12

    /// R12: the warning for a storage quantity without a unit, or nil.
    static func quantityWarning(_ text: String) -> String? { EverestRules.quantityWarning(text)?.message }

    /// R12: a quantity to whole GiB; a refusal when malformed or out of range.
    static func capacityGiB(_ text: String) throws -> Int {
        do { return try EverestRules.capacityGiB(fromQuantity: text) } catch { throw refusal(error) }
    }

    /// R12: bytes to whole GiB.
    static func capacityGiB(bytes: Int64) throws -> Int {
        do { return try EverestRules.capacityGiB(from: Quantity(bytes: bytes)) } catch { throw refusal(error) }
    }

    static func refusal(_ v: EverestRuleViolation) -> CLIError {
        .refused(rule: v.rule.rawValue, message: refusalText(v))
    }

    /// The violation's message and what to do about it.
    static func refusalText(_ v: EverestRuleViolation) -> String {
        v.message + (hint(for: v).map { ": \($0)" } ?? "")
    }
}

// MARK: Restore (R8, R9, R10, R12)

extension Rules {
    /// Whether a StorageClass provisions through the Everest driver: its provisioner is the driver, or CCE's
    /// `everest-csi-provisioner` with the `csi.storage.k8s.io/csi-driver-name` parameter naming the driver.
    static func isDriverStorageClass(_ sc: StorageClass) -> Bool {
        EverestRules.isDriverStorageClass(facts(sc), settings: settings)
    }

    /// The R10 facts of a StorageClass.
    static func facts(_ sc: StorageClass) -> StorageClassFacts {
        StorageClassFacts(name: sc.name, provisioner: sc.provisioner, parameters: sc.parameters)
    }

    /// Zones a StorageClass's `allowedTopologies` permit (empty = no requirement), for R9.
    static func allowedZones(_ sc: StorageClass) -> [String] {
        var zones: [String] = []
        for term in sc.raw["allowedTopologies"].elements {
            for expr in term["matchLabelExpressions"].elements where (expr["key"].string ?? "").hasSuffix("zone") {
                zones += expr["values"].elements.compactMap(\.string)
            }
        }
        return zones
    }

    /// The restore PVC of R10 for `snapshot`, with the outcomes of R10, R12, R8 and R9.
    static func restorePlan(name: String, namespace: String, volumeSnapshot: String, snapshot: Snapshot,
                            storageClassName: String, storageClass: ClusterRead<StorageClass?>,
                            sourceUnknown: [String] = []) -> (pvc: JSON, outcomes: [RuleOutcome]) {
        let shape = EverestRules.restorePVC(name: name, namespace: namespace, volumeSnapshotName: volumeSnapshot,
                                            snapshot: snapshot, storageClassName: storageClassName, settings: settings)
        let outcomes = restoreChecks(shape, volumeSnapshot: volumeSnapshot, snapshot: snapshot, storageClass: storageClass,
                                     sourceUnknown: sourceUnknown, sourceTypeKnown: true)
        return (pvcObject(shape), outcomes)
    }

    /// R10, R12, R8 and R9 for a restore PVC (the plugin's own, or one the user wrote), each run by the domain
    /// (`EverestRules.run`) in its one order (`EverestRules.restoreChecks`), one outcome per rule.
    ///
    /// `storageClass` forbidden: the class is taken to be the driver's without parameters, and R10 ("class of the
    /// driver"), R8 (the class's parameters) and R9 (its allowedTopologies) are unverified unless they fail on
    /// what is known. `sourceUnknown`: reads refused while loading the source disk (its PV, content), so the
    /// attributes only they record are Everest's defaults; R8 is then unverified unless it fails. `sourceTypeKnown`
    /// false: the source's disk type was read from nothing, so a type difference is unverified, not failed.
    static func restoreChecks(_ shape: RestorePVCShape, volumeSnapshot: String, snapshot: Snapshot,
                              storageClass: ClusterRead<StorageClass?>, sourceUnknown: [String],
                              sourceTypeKnown: Bool) -> [RuleOutcome] {
        let className = shape.storageClassName ?? settings.defaultStorageClass
        let classRefusal = storageClass.refusal
        let sc: StorageClass?
        switch storageClass {
        case .read(let found): sc = found
        case .forbidden: sc = StorageClass(["metadata": ["name": .string(className)], "provisioner": .string(settings.driverName)])
        }
        var facts = RestoreFacts(name: shape.name, snapshot: snapshot, pvc: shape, volumeSnapshotName: volumeSnapshot,
                                 storageClass: sc.map(facts))
        var outcomes: [RuleOutcome] = []
        // What the class and the PVC's annotations state for the new disk; the rest is inherited. A class that
        // does not exist or is not the driver's is refused by R10 before anything is read from it.
        if let sc, isDriverStorageClass(sc), let gib = try? EverestRules.capacityGiB(fromQuantity: shape.storage) {
            do {
                var request = try DiskAttributes.restoreRequest(parameters: sc.parameters, annotations: shape.annotations,
                                                                name: shape.name, capacityGiB: gib, allowedZones: allowedZones(sc))
                if !sourceTypeKnown { request.type = nil }
                facts.request = request
            } catch {
                return [.fail(error.rule, refusalText(error))]
            }
        }
        for check in EverestRules.restoreChecks where [.pvcShape, .capacity, .matchesSource, .zone].contains(check) {
            var o: RuleOutcome
            var ran = true
            do {
                ran = try EverestRules.run(check, facts, settings: settings)
                o = .pass(check.rule, passText(check, shape: shape, snapshot: snapshot, className: className,
                                                        volumeSnapshot: volumeSnapshot, gib: facts.request?.capacityGiB))
            } catch {
                o = .fail(error.rule, refusalText(error))
                if !sourceTypeKnown, case .restorePVCField(let field, _, _) = error, field.hasSuffix(EverestNames.diskVolumeType) {
                    o = .unverified(check.rule, "the source disk's type is unknown (\(sourceUnknown.joined(separator: "; ")))")
                }
            }
            if check == .capacity, !ran {
                // The size is checked on its own when the class gave no request.
                do { let gib = try EverestRules.capacityGiB(fromQuantity: shape.storage); o = .pass(.r12, "request \(shape.storage) is \(gib)Gi") }
                catch { o = .fail(error.rule, refusalText(error)) }
            }
            if o.passed {
                let unknown: [String]
                switch check {
                case .pvcShape: unknown = classRefusal.map { ["\($0) (whether \(className) is a class of \(settings.driverName))"] } ?? []
                case .matchesSource: unknown = (classRefusal.map { ["\($0) (its parameters)"] } ?? []) + sourceUnknown
                case .zone: unknown = classRefusal.map { ["\($0) (its allowedTopologies)"] } ?? []
                default: unknown = []
                }
                if !unknown.isEmpty { o = .unverified(check.rule, unknown.joined(separator: "; ")) }
            }
            outcomes.append(o)
            if o.failed && check == .pvcShape && facts.request == nil { break }
        }
        return outcomes
    }

    /// What a passed restore check says it checked.
    static func passText(_ check: RestoreCheck, shape: RestorePVCShape, snapshot: Snapshot, className: String,
                         volumeSnapshot: String, gib: Int?) -> String {
        switch check {
        case .pvcShape: return "PVC \(shape.namespace)/\(shape.name) has the shape a restore of \(volumeSnapshot) needs"
        case .capacity: return "request \(shape.storage) is \(gib.map { "\($0)Gi" } ?? shape.storage)"
        case .matchesSource: return "the new disk gets the source's type, mode, encryption, sharing and capacity"
        case .zone: return "zone \(snapshot.sourceTopology.zone.isEmpty ? "<unknown>" : snapshot.sourceTopology.zone) is allowed by \(className)"
        default: return check.rule.rawValue
        }
    }

    /// The PVC object for a shape; empty labels (source topology unknown) are left out.
    static func pvcObject(_ shape: RestorePVCShape) -> JSON {
        var metadata: JSON = ["name": .string(shape.name), "namespace": .string(shape.namespace)]
        let labels = shape.labels.filter { !$0.value.isEmpty }
        if !labels.isEmpty { metadata["labels"] = .object(labels.mapValues { .string($0) }) }
        if !shape.annotations.isEmpty { metadata["annotations"] = .object(shape.annotations.mapValues { .string($0) }) }
        var spec: JSON = [
            "accessModes": .array(shape.accessModes.map { .string($0) }),
            "resources": ["requests": ["storage": .string(shape.storage)]],
        ]
        if let sc = shape.storageClassName { spec["storageClassName"] = .string(sc) }
        if let ds = shape.dataSource {
            var d: JSON = ["kind": .string(ds.kind), "name": .string(ds.name)]
            if let g = ds.apiGroup { d["apiGroup"] = .string(g) }
            spec["dataSource"] = d
        }
        return ["apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": metadata, "spec": spec]
    }
}
