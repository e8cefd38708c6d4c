// The SnapshotSchedule controller: at each due slot, for each selected PVC, the same domain checks as
// `kubectl evssnap create` (EverestRules, one rule engine: R14 name, R4 Bound, R3 EVS volume, R5 quota), then the
// retention plan (SnapshotSchedules.Retention) and one VolumeSnapshot named after schedule + PVC + slot.
//
// Guarantees, and how:
// - One snapshot per slot and PVC, even across restarts and with two replicas: the name is derived from the slot
//   (ScheduleNaming), so a second create gets AlreadyExists.
// - At most one catch-up per PVC after downtime: only the latest missed slot runs (CronSchedule.latest).
// - Rotation inside R5: deletions first, then wait (bounded) until they are gone, re-read, and create only when
//   the plan says the new one fits. A crash between the two leaves the slot not done (status.lastScheduleTime is
//   written after the run), so the next pass creates it: never two, never none.
// - Snapshots not labelled with this schedule are never deleted; when they alone fill the disk: nothing is
//   made, a condition is set and a Warning Event on the PVC names R5 and the snapshots.
// - A refusal or an error for one PVC does not stop the others.
import EVSSnapshotRules
import SnapshotSchedules

/// What happened to one PVC in one run.
public struct ClaimRun: Sendable, Hashable {
    public enum Outcome: String, Sendable, Hashable {
        case created = "Created", exists = "Exists", refused = "Refused", waiting = "Waiting", failed = "Failed"
    }
    public var pvc: String
    public var snapshot: String
    public var outcome: Outcome
    public var message: String
    /// Snapshots this run deleted (rotation or expiry).
    public var deleted: [String]
    /// Whether the outcome is final for the slot (waiting and failed are retried at the next pass).
    public var final: Bool { outcome == .created || outcome == .exists || outcome == .refused }
}

/// One run of one schedule.
public struct ScheduleRun: Sendable, Hashable {
    public var namespace: String
    public var schedule: String
    public var slot: Int64
    public var claims: [ClaimRun]
}

/// Settings of a controller.
public struct ControllerSettings: Sendable {
    /// The CSI driver whose published settings give R5's per-disk limit.
    public var driverName = EverestNames.driverName
    /// How long a rotation waits for its deletions.
    public var deletionWait: Duration = .seconds(60)
    /// The longest sleep between passes (the loop also wakes at the next slot).
    public var pollInterval: Int64 = 30
    public init() {}
}

public final class ScheduleController: Sendable {
    let api: ScheduleAPI
    let clock: ScheduleClock
    let zones: ZoneSource
    let settings: ControllerSettings
    let log: @Sendable (String) -> Void

    public init(api: ScheduleAPI, clock: ScheduleClock, zones: ZoneSource, settings: ControllerSettings = ControllerSettings(),
                log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.api = api; self.clock = clock; self.zones = zones; self.settings = settings; self.log = log
    }

    /// R5's limit and the default class: what the driver published, else EVEREST.md's defaults.
    func ruleSettings() async -> RuleSettings {
        do {
            if let a = try await api.driverAnnotations(driverName: settings.driverName),
               let s = try RuleSettings.published(driverName: settings.driverName, annotations: a) {
                return s
            }
        } catch {
            log("reading CSIDriver \(settings.driverName) settings: \(error); using the defaults")
        }
        return RuleSettings(driverName: settings.driverName)
    }

    /// One pass: every schedule whose latest slot is not done yet runs it. Returns the runs made.
    @discardableResult
    public func reconcileOnce() async throws -> [ScheduleRun] {
        let rules = await ruleSettings()
        var runs: [ScheduleRun] = []
        for schedule in try await api.listSchedules() {
            if let run = await reconcile(schedule, rules: rules) { runs.append(run) }
        }
        return runs
    }

    /// Runs `schedule` if a slot is due; always brings its status up to date.
    func reconcile(_ schedule: ScheduleObject, rules: RuleSettings) async -> ScheduleRun? {
        let now = clock.now()
        let spec: ScheduleSpec
        let cron: CronSchedule
        do {
            spec = try schedule.spec.get()
            cron = try spec.validated(zones: zones, perDiskLimit: rules.maxSnapshotsPerDisk)
        } catch {
            await writeStatus(schedule, ScheduleStatus(
                observedGeneration: schedule.generation, lastScheduleTime: schedule.lastScheduleTime, lastRunTime: nil,
                nextScheduleTime: nil, lastResult: "Invalid", claims: [],
                conditions: [.init(type: "Ready", status: false, reason: "InvalidSpec", message: error.description)]))
            return nil
        }
        if spec.disabled {
            await writeStatus(schedule, ScheduleStatus(
                observedGeneration: schedule.generation, lastScheduleTime: schedule.lastScheduleTime, lastRunTime: nil,
                nextScheduleTime: nil, lastResult: nil, claims: nil,
                conditions: [.init(type: "Ready", status: true, reason: "Disabled", message: "spec.disabled: no new snapshots; existing ones are kept")]))
            return nil
        }
        let notBefore = schedule.lastScheduleTime ?? (schedule.created - 1)
        guard let slot = cron.latest(atOrBefore: now, after: notBefore) else {
            await writeStatus(schedule, ScheduleStatus(
                observedGeneration: schedule.generation, lastScheduleTime: schedule.lastScheduleTime, lastRunTime: nil,
                nextScheduleTime: cron.next(after: now), lastResult: nil, claims: nil, conditions: nil))
            return nil
        }
        let run = await run(schedule, spec: spec, slot: slot, rules: rules)
        let done = run.claims.allSatisfy(\.final)
        var conditions = [ScheduleStatus.Condition(type: "Ready", status: true, reason: "Scheduled", message: "next snapshot at \(cron.next(after: now).map(Civil.rfc3339) ?? "never")")]
        let refused = run.claims.filter { $0.outcome == .refused }
        conditions.append(.init(type: "QuotaBlocked", status: !refused.isEmpty, reason: refused.isEmpty ? "WithinLimit" : "R5",
                                message: refused.map { "\($0.pvc): \($0.message)" }.joined(separator: "; ")))
        await writeStatus(schedule, ScheduleStatus(
            observedGeneration: schedule.generation, lastScheduleTime: done ? slot : schedule.lastScheduleTime, lastRunTime: now,
            nextScheduleTime: cron.next(after: now), lastResult: summary(run), claims: run.claims.map {
                .init(pvc: $0.pvc, snapshot: $0.snapshot, result: $0.outcome.rawValue, message: $0.message)
            }, conditions: conditions))
        return run
    }

    /// `2 created, 1 refused (R5)`.
    func summary(_ run: ScheduleRun) -> String {
        if run.claims.isEmpty { return "no PVC selected" }
        var parts: [String] = []
        for o in [ClaimRun.Outcome.created, .exists, .refused, .waiting, .failed] {
            let n = run.claims.filter { $0.outcome == o }.count
            if n > 0 { parts.append("\(n) \(o.rawValue.lowercased())" + (o == .refused ? " (R5 or a rule)" : "")) }
        }
        return parts.joined(separator: ", ")
    }

    func writeStatus(_ schedule: ScheduleObject, _ status: ScheduleStatus) async {
        do { try await api.writeStatus(namespace: schedule.namespace, name: schedule.name, status: status) } catch {
            log("\(schedule.namespace)/\(schedule.name): writing status: \(error)")
        }
    }

    /// Runs one slot of a schedule for every PVC it selects (also `kubectl evssnap schedule run`, with a slot of now).
    public func run(_ schedule: ScheduleObject, spec: ScheduleSpec, slot: Int64, rules: RuleSettings) async -> ScheduleRun {
        var claims: [String] = []
        var results: [ClaimRun] = []
        switch spec.claims {
        case .names(let n): claims = n
        case .selector:
            do {
                claims = try await api.listClaims(namespace: schedule.namespace, labelSelector: spec.claims.labelSelector ?? "").map(\.name).sorted()
            } catch {
                return ScheduleRun(namespace: schedule.namespace, schedule: schedule.name, slot: slot, claims: [
                    ClaimRun(pvc: "*", snapshot: "", outcome: .failed, message: "listing PVCs: \(error)", deleted: [])])
            }
        }
        for pvc in claims {
            let r = await runClaim(schedule, spec: spec, pvc: pvc, slot: slot, rules: rules)
            log("\(schedule.namespace)/\(schedule.name) slot \(Civil.rfc3339(slot)) pvc \(pvc): \(r.outcome.rawValue) \(r.snapshot) \(r.message)" + (r.deleted.isEmpty ? "" : " deleted \(r.deleted.joined(separator: ","))"))
            results.append(r)
        }
        return ScheduleRun(namespace: schedule.namespace, schedule: schedule.name, slot: slot, claims: results)
    }

    func runClaim(_ schedule: ScheduleObject, spec: ScheduleSpec, pvc pvcName: String, slot: Int64, rules: RuleSettings) async -> ClaimRun {
        let ns = schedule.namespace
        let name = ScheduleNaming.snapshotName(schedule: schedule.name, pvc: pvcName, slot: slot)
        var result = ClaimRun(pvc: pvcName, snapshot: name, outcome: .failed, message: "", deleted: [])
        do {
            guard let claim = try await api.getClaim(namespace: ns, name: pvcName) else {
                result.message = "PVC \(ns)/\(pvcName) not found"
                return result
            }
            // R14, R4 (Bound), R3: the checks of `kubectl evssnap create`, in the domain's order.
            let pv = try await claim.volumeName.asyncMap { try await api.getVolume(name: $0) } ?? nil
            let facts = CreateSnapshotFacts(name: name, pvc: PVCFacts(
                name: "\(ns)/\(pvcName)", phase: claim.phase, storageClassName: claim.storageClassName,
                volumeName: claim.volumeName, csiDriver: pv?.csiDriver))
            do {
                for check in EverestRules.createSnapshotChecks where check != .quota {
                    try EverestRules.run(check, facts, settings: rules)
                }
            } catch {
                result.outcome = .refused
                result.message = error.message
                return result
            }
            let policy = RetentionPolicy(maxCount: spec.maxCount, maxAge: spec.maxAge, perDiskLimit: rules.maxSnapshotsPerDisk)
            let disk = DiskID(pv?.volumeHandle ?? pvcName)
            for _ in 0..<4 {
                let snaps = try await api.listSnapshots(namespace: ns).filter { $0.sourcePVC == pvcName }
                let exists = snaps.contains { $0.name == name }
                let plan = Retention.plan(existing: snaps.map { diskSnapshot($0, schedule: schedule.name) }, policy: policy,
                                          now: clock.now(), creating: !exists)
                for victim in plan.delete {
                    try await api.deleteSnapshot(namespace: ns, name: victim)
                    result.deleted.append(victim)
                }
                if exists {
                    result.outcome = .exists
                    result.message = "already taken"
                    return result
                }
                switch plan.next {
                case .create:
                    // R5 through the domain's own check, on the count the plan left.
                    try EverestRules.checkSnapshotQuota(disk: disk, existingSnapshots: snaps.count - plan.delete.count, settings: rules)
                    do {
                        try await api.createSnapshot(SnapshotRequest(
                            namespace: ns, name: name, pvc: pvcName,
                            snapshotClassName: spec.snapshotClassName ?? rules.defaultSnapshotClass,
                            labels: spec.labels.merging([ScheduleNaming.scheduleLabel: schedule.name,
                                                         ScheduleNaming.slotLabel: ScheduleNaming.slotStamp(slot)]) { $1 },
                            annotations: [ScheduleNaming.slotAnnotation: Civil.rfc3339(slot)]))
                        result.outcome = .created
                    } catch ScheduleAPIError.alreadyExists {
                        result.outcome = .exists
                        result.message = "already taken (by another run)"
                    }
                    return result
                case .createAfterDeletions:
                    let pending = Set(plan.delete + snaps.filter(\.deleting).map(\.name))
                    guard try await api.waitUntilGone(namespace: ns, names: pending, timeout: settings.deletionWait) else {
                        result.outcome = .waiting
                        result.message = "waiting for the deletion of \(pending.sorted().joined(separator: ", ")) (R5: the new snapshot is made once they are gone)"
                        return result
                    }
                case .refused(let limit, let blocking):
                    let violation = EverestRuleViolation.snapshotQuotaReached(disk: disk, count: snaps.count - plan.delete.count, limit: limit)
                    result.outcome = .refused
                    result.message = "\(violation.message); snapshots not made by schedule \(schedule.name) fill it: \(blocking.joined(separator: ", "))"
                    do {
                        try await api.recordEvent(ClaimEvent(
                            claim: claim, type: "Warning", reason: "SnapshotQuotaReached",
                            message: "\(result.message); schedule \(schedule.name) took no snapshot for \(Civil.rfc3339(slot))"))
                    } catch { log("recording the R5 event for \(ns)/\(pvcName): \(error)") }
                    return result
                case .waitForReady(let names):
                    result.outcome = .waiting
                    result.message = "R5: waiting for \(names.joined(separator: ", ")) to be ready before rotating"
                    return result
                }
            }
            result.outcome = .waiting
            result.message = "rotation did not settle after 4 rounds"
        } catch let v as EverestRuleViolation {
            result.outcome = .refused
            result.message = v.message
        } catch {
            result.outcome = .failed
            result.message = "\(error)"
        }
        return result
    }

    func diskSnapshot(_ s: SnapshotInfo, schedule: String) -> DiskSnapshot {
        let owned = s.labels[ScheduleNaming.scheduleLabel] == schedule
        let taken = owned ? (s.labels[ScheduleNaming.slotLabel].flatMap(ScheduleNaming.slot(fromStamp:)) ?? s.created) : s.created
        return DiskSnapshot(name: s.name, taken: taken, ownedBySchedule: owned, ready: s.readyToUse,
                            failed: !s.readyToUse && s.error != nil, deleting: s.deleting)
    }

    /// Runs passes until cancelled: a pass, then sleep until the earliest next slot (at most `pollInterval`).
    public func runForever() async {
        while !Task.isCancelled {
            do { try await reconcileOnce() } catch { log("pass failed: \(error); retrying") }
            let now = clock.now()
            var wake = now + settings.pollInterval
            if let schedules = try? await api.listSchedules() {
                for s in schedules {
                    if let spec = try? s.spec.get(), let c = try? spec.validated(zones: zones, perDiskLimit: 1_000),
                       let n = c.next(after: now) { wake = min(wake, n) }
                }
            }
            do { try await clock.sleep(until: max(wake, now + 1)) } catch { return }
        }
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
