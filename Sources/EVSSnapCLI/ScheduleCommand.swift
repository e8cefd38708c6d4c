import ArgumentParser
import EVSSnapshotRules
import Foundation
import JSONCore
import KubeClient
import ScheduleController
import SnapshotSchedules
import TimeCore

/// `kubectl evssnap schedule create|list|describe|run|delete`: SnapshotSchedules (docs/schedules.md).
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "Regular snapshots of PVCs with retention inside the per-disk limit (R5).",
        discussion: """
            A SnapshotSchedule (evssnap.io/v1alpha1) is carried out by evssnap-scheduler (deploy/scheduler.yaml): at \
            each cron slot, in the schedule's time zone, every selected PVC gets one VolumeSnapshot named \
            SCHEDULE-PVC-SLOT. When a new one would pass --keep or the disk's limit (R5, 7 on CCE), the oldest \
            snapshot of the schedule is deleted first; snapshots made by hand or by another schedule are never \
            deleted. `kubectl get snapshotschedules` lists them too.

            \(exitCodeHelp)
            """,
        subcommands: [ScheduleCreate.self, ScheduleList.self, ScheduleDescribe.self, ScheduleRun.self, ScheduleDelete.self]
    )
}

/// The SnapshotSchedule resource (plugin JSON side).
let scheduleType = KubeScheduleAPI.schedules

/// Zone files on the user's machine: $ZONEINFO, else /usr/share/zoneinfo.
let localZones = ZoneSource { name in
    let root = ProcessInfo.processInfo.environment["ZONEINFO"] ?? "/usr/share/zoneinfo"
    return FileManager.default.contents(atPath: root + "/" + name).map { [UInt8]($0) }
}

struct ScheduleCreate: EVSSnapCommand {
    static let configuration = CommandConfiguration(
        commandName: "create",
        abstract: "Create a SnapshotSchedule, refusing what can never work before writing anything.",
        usage: "kubectl evssnap schedule create NAME (--pvc PVC... | --selector SELECTOR) --cron EXPR [--time-zone TZ] --keep N [--max-age D] [--class C] [--dry-run=client|server] [flags]",
        discussion: """
            Refuses, before anything is written: --keep above the disk's limit (R5, the driver's published \
            setting, 7 by default), a PVC that fails R3 (not an EVS volume of the Everest driver) or R4 (not Bound, \
            disk not usable), a cron expression that never fires (30 2 31 2 *), an unknown time zone.

            --cron: 5 fields (minute hour day-of-month month day-of-week) with *, ranges, steps, lists and names, \
            or @hourly, @daily, @weekly, @monthly, @yearly. --time-zone: an IANA zone (Asia/Shanghai), default UTC. \
            A slot the clocks skip fires when they jump; a slot that happens twice fires once.

            Examples:
              kubectl evssnap schedule create nightly --pvc data-ssd --cron "0 2 * * *" --time-zone Asia/Shanghai --keep 5
              kubectl evssnap schedule create hourly --selector app=db --cron @hourly --keep 3 --max-age 2d
              kubectl evssnap schedule create tiers --selector 'tier in (db,queue),!no-backup' --cron @daily --keep 7

            \(exitCodeHelp)
            """
    )

    @Argument(help: "Name of the SnapshotSchedule.")
    var name: String

    @Option(parsing: .upToNextOption, help: "PVCs to snapshot.")
    var pvc: [String] = []

    @Option(help: "Snapshot the PVCs this label selector selects, as kubectl get -l takes it (app=db,tier in (a,b),!legacy).")
    var selector: String?

    @Option(help: "When: a 5-field cron expression or @hourly/@daily/@weekly/@monthly/@yearly.")
    var cron: String

    @Option(name: .customLong("time-zone"), help: "IANA time zone of --cron (default UTC).")
    var timeZone = "UTC"

    @Option(help: "Snapshots kept per PVC (at most the per-disk limit, R5).")
    var keep: Int

    @Option(name: .customLong("max-age"), help: "Delete this schedule's snapshots older than this (e.g. 7d, 36h).")
    var maxAge: String?

    @Option(name: .customLong("class"), help: "VolumeSnapshotClass (default: the driver's published default).")
    var snapshotClass: String?

    @Option(name: .customLong("dry-run"), help: "client: check and print the object; server: also have the server validate it.")
    var dryRun: DryRun = .none

    @Option(name: [.customShort("o"), .long], help: "Output format: yaml, json or name.")
    var output: WriteOutputFormat?

    @OptionGroup var kube: KubeOptions

    /// `--selector`, in `kubectl get -l` syntax (equality and set-based terms).
    func labelSelector() throws -> LabelSelector? {
        guard let selector else { return nil }
        do { return try LabelSelector.parse(selector) } catch { throw ValidationError("--selector: \(error)") }
    }

    func validate() throws {
        if pvc.isEmpty == (selector == nil) { throw ValidationError("give either --pvc PVC... or --selector SELECTOR") }
        _ = try labelSelector()
        if keep < 1 { throw ValidationError("--keep must be at least 1") }
    }

    func spec() throws -> ScheduleSpec {
        var maxAgeSeconds: Int64?
        if let maxAge {
            do { maxAgeSeconds = try ScheduleDuration.seconds(maxAge) } catch { throw ValidationError("--max-age: \(error)") }
        }
        return ScheduleSpec(claims: try labelSelector().map { .selector($0) } ?? .names(pvc), schedule: cron, timeZone: timeZone,
                            maxCount: keep, maxAge: maxAgeSeconds, snapshotClassName: snapshotClass)
    }

    func execute(in env: CommandEnvironment) async throws {
        let spec = try spec()
        // Before any API call: the cron expression and the zone.
        do { _ = try spec.validated(zones: localZones, perDiskLimit: Int.max) } catch {
            throw ValidationError(error.description)
        }
        let session = try await Session.open(kube, env: env)
        try await session.loadDriverSettings()
        let limit = Rules.settings.maxSnapshotsPerDisk
        do { _ = try spec.validated(zones: localZones, perDiskLimit: limit) } catch {
            throw CLIError.refused(rule: error.rule ?? "R5", message: error.description
                                   + ": use --keep \(limit) or less (kubectl evssnap list -o wide shows each disk's count)")
        }
        // R3/R4 for every PVC (the same checks as `kubectl evssnap create`); R5 only warns: the schedule rotates.
        var claims = pvc
        if let m = try labelSelector() {
            claims = try await session.api.list(.persistentVolumeClaims, namespace: session.namespace, fieldSelector: nil)
                .filter { item in m.matches(item["metadata"]["labels"].stringMap) }
                .compactMap { $0["metadata"]["name"].string }.sorted()
            if claims.isEmpty { env.console.warn("no PVC in \(session.namespace) has the labels \(selector ?? ""); the schedule will snapshot those that get them") }
        }
        let preflight = Preflight(session: session)
        for claim in claims {
            let target = try await preflight.pvcChecks(pvc: claim)
            for w in target.warnings { env.console.warn(w) }
            for outcome in target.outcomes {
                if outcome.rule == "R5", outcome.failed {
                    env.console.warn("\(outcome.message); the schedule deletes only its own snapshots, so it takes none for \(claim) until there is room")
                    continue
                }
                try outcome.enforce(env.console)
            }
        }
        let object: JSON = [
            "apiVersion": .string(scheduleType.groupVersion), "kind": .string(scheduleType.kind),
            "metadata": ["name": .string(name), "namespace": .string(session.namespace)], "spec": ScheduleJSON.specObject(spec)]
        let created = dryRun == .client ? object
            : try await session.api.create(scheduleType, namespace: session.namespace, object: object, dryRun: dryRun)
        if let output {
            env.console.out.write(ObjectPrinter.render(created, type: scheduleType, format: output))
        } else {
            env.console.print(ObjectPrinter.created(scheduleType, name, dryRun: dryRun))
            if dryRun == .none, let zone = try? localZones.zone(spec.timeZone), let c = try? CronExpression(spec.schedule),
               let next = CronSchedule(cron: c, zone: zone).next(after: Int64(env.now().timeIntervalSince1970)) {
                env.console.print("next snapshot: \(ScheduleText.local(next)) (\(ScheduleText.inZone(next, zone)))")
            }
        }
    }
}

/// Times as the schedule commands print them.
enum ScheduleText {
    /// The user's zone: $TZ, else /etc/localtime, else UTC.
    static var userZone: TimeZoneRules {
        if let tz = ProcessInfo.processInfo.environment["TZ"], let z = try? localZones.zone(tz.hasPrefix(":") ? String(tz.dropFirst()) : tz) { return z }
        if let bytes = FileManager.default.contents(atPath: "/etc/localtime"),
           let z = try? TimeZoneRules(name: "local", tzif: [UInt8](bytes)) { return z }
        return .utc
    }

    /// `2026-12-07 02:00 CST` in the user's zone.
    static func local(_ t: Int64) -> String { inZone(t, userZone) }

    static func inZone(_ t: Int64, _ zone: TimeZoneRules) -> String {
        "\(zone.wallTime(at: t)) \(zone.type(at: t).abbreviation)"
    }
}

struct ScheduleList: EVSSnapCommand {
    static let configuration = CommandConfiguration(
        commandName: "list",
        abstract: "List SnapshotSchedules: next run in your time zone, last result, snapshots kept.",
        usage: "kubectl evssnap schedule list [-n NS | -A] [flags]",
        discussion: """
            Columns: NAME, SCHEDULE, TIME ZONE, NEXT RUN (in your zone: $TZ or /etc/localtime), KEEP, KEPT \
            (snapshots of the schedule that exist, summed over its PVCs), LAST RESULT, AGE.

            \(exitCodeHelp)
            """
    )

    @Flag(name: [.customShort("A"), .customLong("all-namespaces")], help: "List schedules in all namespaces.")
    var allNamespaces = false

    @OptionGroup var kube: KubeOptions

    func execute(in env: CommandEnvironment) async throws {
        let session = try await Session.open(kube, env: env)
        let ns: String? = allNamespaces ? nil : session.namespace
        let items = try await session.api.list(scheduleType, namespace: ns, fieldSelector: nil)
            .sorted { ($0["metadata"]["namespace"].string ?? "", $0["metadata"]["name"].string ?? "") < ($1["metadata"]["namespace"].string ?? "", $1["metadata"]["name"].string ?? "") }
        if items.isEmpty {
            env.console.printError(ns.map { "No snapshot schedules found in \($0) namespace." } ?? "No snapshot schedules found.")
            return
        }
        let (_, snaps) = try await session.listVolumeSnapshots(namespace: ns)
        let now = Int64(env.now().timeIntervalSince1970)
        var t = Table(headers: (allNamespaces ? ["NAMESPACE"] : []) + ["NAME", "SCHEDULE", "TIME ZONE", "NEXT RUN", "KEEP", "KEPT", "LAST RESULT", "AGE"])
        var invalid: [String] = []
        for item in items {
            let o = ScheduleJSON.schedule(item)
            let spec = try? o.spec.get()
            let kept = snaps.filter { $0["metadata"]["namespace"].string == o.namespace && $0["metadata"]["labels"][ScheduleNaming.scheduleLabel].string == o.name }.count
            var next = "<invalid>"
            switch o.spec {
            case .failure(let e): invalid.append("\(o.name): \(e)")
            case .success(let spec):
                do {
                    let c = try spec.validated(zones: localZones, perDiskLimit: Int.max)
                    if spec.disabled { next = "<disabled>" } else { next = c.next(after: now).map(ScheduleText.local) ?? "<never>" }
                } catch {
                    invalid.append("\(o.name): \(error)")
                }
            }
            let created = KubeTime.parse(item["metadata"]["creationTimestamp"].string)
            t.append((allNamespaces ? [o.namespace] : []) + [
                o.name, spec?.schedule ?? "<invalid>", spec?.timeZone ?? "", next, spec.map { String($0.maxCount) } ?? "",
                String(kept), item["status"]["lastResult"].string ?? "<none>",
                KubeTime.age(from: created, now: env.now()),
            ])
        }
        env.console.out.write(t.render())
        // Say why, once per schedule, on stderr (the table stays parseable).
        for line in invalid { env.console.warn("schedule \(line): it makes no snapshots until fixed") }
    }
}

struct ScheduleDescribe: EVSSnapCommand {
    static let configuration = CommandConfiguration(
        commandName: "describe",
        abstract: "Show a SnapshotSchedule: its next runs, per-PVC results, conditions and the snapshots it keeps.",
        usage: "kubectl evssnap schedule describe NAME [flags]",
        discussion: exitCodeHelp
    )

    @Argument(help: "The SnapshotSchedule.")
    var name: String

    @OptionGroup var kube: KubeOptions

    func execute(in env: CommandEnvironment) async throws {
        let session = try await Session.open(kube, env: env)
        let item = try await session.api.get(scheduleType, namespace: session.namespace, name: name)
        let o = ScheduleJSON.schedule(item)
        var out = "Name:         \(o.name)\nNamespace:    \(o.namespace)\n"
        switch o.spec {
        case .failure(let e): out += "Spec:         invalid: \(e)\n"
        case .success(let spec):
            switch spec.claims {
            case .names(let n): out += "PVCs:         \(n.joined(separator: ", "))\n"
            case .selector: out += "Selector:     \(spec.claims.labelSelector ?? "")\n"
            }
            out += "Schedule:     \(spec.schedule) (\(spec.timeZone))\n"
            out += "Keep:         \(spec.maxCount) per PVC" + (spec.maxAge.map { ", at most \(ScheduleDuration.text($0)) old" } ?? "") + "\n"
            out += "Class:        \(spec.snapshotClassName ?? "<driver default>")\n"
            out += "Disabled:     \(spec.disabled)\n"
            do {
                let c = try spec.validated(zones: localZones, perDiskLimit: Int.max)
                if !spec.disabled {
                    var t = Int64(env.now().timeIntervalSince1970)
                    out += "Next runs:\n"
                    for _ in 0..<3 {
                        guard let n = c.next(after: t) else { break }
                        out += "  \(ScheduleText.local(n))   (\(ScheduleText.inZone(n, c.zone)))\n"
                        t = n
                    }
                }
            } catch {
                // What the controller also refuses it for (its Ready condition says InvalidSpec), read on this machine.
                out += "Invalid:      \(error) (it makes no snapshots until the spec is fixed)\n"
            }
        }
        let status = item["status"]
        out += "Last slot:    \(status["lastScheduleTime"].string ?? "<none>")\nLast result:  \(status["lastResult"].string ?? "<none>")\n"
        if !status["claims"].elements.isEmpty {
            var t = Table(headers: ["PVC", "RESULT", "SNAPSHOT", "MESSAGE"])
            for c in status["claims"].elements { t.append([c["name"].string ?? "", c["result"].string ?? "", c["lastSnapshot"].string ?? "", c["message"].string ?? ""]) }
            out += "PVCs:\n" + t.render().split(separator: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
        }
        if !status["conditions"].elements.isEmpty {
            out += "Conditions:\n"
            for c in status["conditions"].elements {
                out += "  \(c["type"].string ?? "")=\(c["status"].string ?? "") \(c["reason"].string ?? "")" + ((c["message"].string ?? "").isEmpty ? "" : ": \(c["message"].string!)") + "\n"
            }
        }
        let (_, snaps) = try await session.listVolumeSnapshots(namespace: session.namespace)
        let mine = snaps.map(VolumeSnapshot.init).filter { $0.raw["metadata"]["labels"][ScheduleNaming.scheduleLabel].string == o.name }.sorted { $0.name < $1.name }
        out += "Snapshots:    \(mine.count)\n"
        for s in mine { out += "  \(s.name)  \(s.sourcePVC ?? "")  ready=\(s.readyToUse)\n" }
        env.console.out.write(out)
    }
}

struct ScheduleRun: EVSSnapCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a SnapshotSchedule once now (its rotation included), from this machine.",
        usage: "kubectl evssnap schedule run NAME [flags]",
        discussion: """
            Takes one snapshot of every PVC of the schedule now, named after the current minute, with the same \
            checks and rotation as the scheduler (R3, R4, R14, and R5: the oldest snapshot of the schedule goes \
            first). Needs create and delete on volumesnapshots. Exit 2 when a PVC was refused.

            \(exitCodeHelp)
            """
    )

    @Argument(help: "The SnapshotSchedule.")
    var name: String

    @OptionGroup var kube: KubeOptions

    func execute(in env: CommandEnvironment) async throws {
        let session = try await Session.open(kube, env: env)
        try await session.loadDriverSettings()
        let item = try await session.api.get(scheduleType, namespace: session.namespace, name: name)
        let o = ScheduleJSON.schedule(item)
        let spec: ScheduleSpec
        do { spec = try o.spec.get() } catch { throw CLIError.runtime("schedule \(name) is invalid: \(error)") }
        let now = Int64(env.now().timeIntervalSince1970) / 60 * 60
        let api = PluginScheduleAPI(session: session)
        let controller = ScheduleController(api: api, clock: FixedClock(t: now), zones: localZones)
        let run = await controller.run(o, spec: spec, slot: now, rules: Rules.settings)
        var t = Table(headers: ["PVC", "RESULT", "SNAPSHOT", "DELETED", "MESSAGE"])
        for c in run.claims { t.append([c.pvc, c.outcome.rawValue, c.snapshot, c.deleted.isEmpty ? "-" : c.deleted.joined(separator: ","), c.message]) }
        env.console.out.write(t.render())
        if run.claims.contains(where: { $0.outcome == .refused }) { throw ExitCode(ExitStatus.refused.rawValue) }
        if run.claims.contains(where: { $0.outcome == .failed || $0.outcome == .waiting }) { throw ExitCode(ExitStatus.failure.rawValue) }
    }
}

struct ScheduleDelete: EVSSnapCommand {
    static let configuration = CommandConfiguration(
        commandName: "delete",
        abstract: "Delete a SnapshotSchedule; its snapshots are kept unless --delete-snapshots.",
        usage: "kubectl evssnap schedule delete NAME [--delete-snapshots] [flags]",
        discussion: exitCodeHelp
    )

    @Argument(help: "The SnapshotSchedule.")
    var name: String

    @Flag(name: .customLong("delete-snapshots"), help: "Also delete the VolumeSnapshots the schedule made.")
    var deleteSnapshots = false

    @OptionGroup var kube: KubeOptions

    func execute(in env: CommandEnvironment) async throws {
        let session = try await Session.open(kube, env: env)
        try await session.api.delete(scheduleType, namespace: session.namespace, name: name)
        env.console.print("\(ObjectPrinter.name(scheduleType, name)) deleted")
        guard deleteSnapshots else { return }
        let (vsType, snaps) = try await session.listVolumeSnapshots(namespace: session.namespace)
        for s in snaps where s["metadata"]["labels"][ScheduleNaming.scheduleLabel].string == name {
            let n = s["metadata"]["name"].string ?? ""
            try await session.api.delete(vsType, namespace: session.namespace, name: n)
            env.console.print("\(ObjectPrinter.name(vsType, n)) deleted")
        }
    }
}

/// A clock stopped at one instant (a manual run).
struct FixedClock: ScheduleClock {
    let t: Int64
    func now() -> Int64 { t }
    func sleep(until instant: Int64) async throws {}
}

/// ScheduleAPI over the plugin's ClusterAPI, for `schedule run` (and the in-memory test cluster). Status is the
/// scheduler's to write, so a manual run leaves it alone; deletions are waited for by polling.
final class PluginScheduleAPI: ScheduleAPI, @unchecked Sendable {
    // Session is used from this one command's task only.
    let session: Session
    init(session: Session) { self.session = session }

    func map<T>(_ what: String, _ body: () async throws -> T) async throws -> T {
        do { return try await body() } catch let e as APIError {
            if e.isNotFound { throw ScheduleAPIError.notFound(what) }
            if e.code == 409 { throw ScheduleAPIError.alreadyExists(what) }
            throw ScheduleAPIError.server(code: e.code, message: e.message)
        }
    }
    func listSchedules() async throws -> [ScheduleObject] {
        try await session.api.list(scheduleType, namespace: session.namespace, fieldSelector: nil).map { ScheduleJSON.schedule($0) }
    }
    func getSchedule(namespace: String, name: String) async throws -> ScheduleObject? {
        try await session.api.getIfExists(scheduleType, namespace: namespace, name: name).map { ScheduleJSON.schedule($0) }
    }
    func listClaims(namespace: String, labelSelector: String) async throws -> [ClaimInfo] {
        let terms = labelSelector.split(separator: ",").map { $0.split(separator: "=", maxSplits: 1).map(String.init) }
        return try await session.api.list(.persistentVolumeClaims, namespace: namespace, fieldSelector: nil)
            .filter { o in terms.allSatisfy { $0.count == 2 && o["metadata"]["labels"][$0[0]].string == $0[1] } }
            .map { ScheduleJSON.claim($0) }
    }
    func getClaim(namespace: String, name: String) async throws -> ClaimInfo? {
        try await session.api.getIfExists(.persistentVolumeClaims, namespace: namespace, name: name).map { ScheduleJSON.claim($0) }
    }
    func getVolume(name: String) async throws -> VolumeInfo? {
        guard case .read(let pv?) = try await session.readPV(name) else { return nil }
        return VolumeInfo(name: name, csiDriver: pv.csiDriver, volumeHandle: pv.volumeHandle)
    }
    func listSnapshots(namespace: String) async throws -> [SnapshotInfo] {
        try await session.listVolumeSnapshots(namespace: namespace).items.map { ScheduleJSON.snapshot($0) }
    }
    func createSnapshot(_ q: SnapshotRequest) async throws {
        let object = ScheduleJSON.snapshotObject(q, groupVersion: try await session.volumeSnapshots().groupVersion)
        _ = try await map("volumesnapshot \(q.name)") { try await session.api.create(try await session.volumeSnapshots(), namespace: q.namespace, object: object, dryRun: .none) }
    }
    func deleteSnapshot(namespace: String, name: String) async throws {
        do { try await map("volumesnapshot \(name)") { try await session.api.delete(try await session.volumeSnapshots(), namespace: namespace, name: name) } }
        catch ScheduleAPIError.notFound {}
    }
    func waitUntilGone(namespace: String, names: Set<String>, timeout: Duration) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while true {
            let left = try await listSnapshots(namespace: namespace).filter { names.contains($0.name) }
            if left.isEmpty { return true }
            if ContinuousClock.now >= deadline { return false }
            try await Task.sleep(for: session.env.pollInterval)
        }
    }
    func writeStatus(namespace: String, name: String, status: ScheduleStatus) async throws {}
    func recordEvent(_ e: ClaimEvent) async throws {
        let stamp = Civil.rfc3339(Int64(Date().timeIntervalSince1970))
        let object = ScheduleJSON.event(e, component: "kubectl-evssnap", time: stamp)
        _ = try await session.api.create(.events, namespace: e.claim.namespace, object: object, dryRun: .none)
    }
    func driverAnnotations(driverName: String) async throws -> [String: String]? { nil }
}
