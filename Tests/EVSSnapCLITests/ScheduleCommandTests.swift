import EVSSnapCLI
import Foundation
import KubeClient
import SnapshotSchedules
import Testing

let schedules = ResourceType(group: "evssnap.io", version: "v1alpha1", plural: "snapshotschedules", kind: "SnapshotSchedule", namespaced: true)

@Suite("kubectl evssnap schedule", .serialized)
struct ScheduleCommandTests {
    @Test("create writes a SnapshotSchedule with the spec the controller reads")
    func create() async throws {
        let c = World.standard()
        let r = await evssnap(["schedule", "create", "nightly", "--pvc", "data-ssd", "--cron", "0 2 * * *",
                               "--time-zone", "Asia/Shanghai", "--keep", "5", "--max-age", "7d"], cluster: c)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.hasPrefix("snapshotschedule.evssnap.io/nightly created\nnext snapshot: "))
        let o = try await c.get(schedules, namespace: "apps", name: "nightly")
        #expect(o["spec"]["schedule"].string == "0 2 * * *")
        #expect(o["spec"]["timeZone"].string == "Asia/Shanghai")
        #expect(o["spec"]["retention"]["maxCount"].int == 5)
        #expect(o["spec"]["retention"]["maxAge"].string == "7d")
        #expect(o["spec"]["claimNames"].elements.compactMap(\.string) == ["data-ssd"])
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        var args: [String]
        var code: Int32
        var words: String
        var testDescription: String { args.joined(separator: " ") }
    }

    @Test("create refuses what can never work before writing anything", arguments: [
        Refusal(args: ["--pvc", "data-ssd", "--cron", "@daily", "--keep", "8"], code: 2,
                words: "error: R5: keep 8 exceeds the per-disk snapshot limit 7"),
        Refusal(args: ["--pvc", "data-ssd", "--cron", "30 2 31 2 *", "--keep", "3"], code: 64, words: "never fires"),
        Refusal(args: ["--pvc", "data-ssd", "--cron", "@daily", "--time-zone", "Mars/Olympus", "--keep", "3"], code: 64,
                words: "unknown time zone 'Mars/Olympus'"),
        Refusal(args: ["--pvc", "old-flex", "--cron", "@daily", "--keep", "3"], code: 2, words: "error: R3"),
        Refusal(args: ["--pvc", "pending", "--cron", "@daily", "--keep", "3"], code: 2, words: "error: R4"),
        Refusal(args: ["--cron", "@daily", "--keep", "3"], code: 64, words: "give either --pvc PVC... or --selector"),
        Refusal(args: ["--selector", "tier in (db", "--cron", "@daily", "--keep", "3"], code: 64, words: "--selector: selector 'tier in (db': '(' without ')'"),
        Refusal(args: ["--selector", "Tier.Example/x=y", "--cron", "@daily", "--keep", "3"], code: 64, words: "not a DNS subdomain"),
        // A set-based selector that selects old-flex (FlexVolume): R3, before anything is written.
        Refusal(args: ["--selector", "failure-domain.beta.kubernetes.io/zone in (cn-north-4a),!none", "--cron", "@daily", "--keep", "3"],
                code: 2, words: "error: R3"),
    ])
    func refusals(_ c: Refusal) async {
        let cluster = World.standard()
        cluster.put(.persistentVolumeClaims, World.pvc("pending", phase: "Pending"))
        let before = cluster.writes.count
        let r = await evssnap(["schedule", "create", "s"] + c.args, cluster: cluster)
        #expect(r.code == c.code, "\(r.err)")
        #expect(r.err.contains(c.words), "\(r.err)")
        #expect(cluster.writes.count == before, "nothing written")
    }

    @Test("list shows the next run in the user's zone, keep, kept and the last result; run rotates; delete keeps snapshots")
    func listRunDelete() async throws {
        setenv("TZ", "Europe/Berlin", 1)
        defer { unsetenv("TZ") }
        let c = World.standard()
        #expect(await evssnap(["schedule", "create", "nightly", "--pvc", "static-evs", "--cron", "0 2 * * *",
                               "--time-zone", "Asia/Shanghai", "--keep", "1"], cluster: c).code == 0)
        let run1 = await evssnap(["schedule", "run", "nightly"], cluster: c)
        #expect(run1.code == 0, "\(run1.err)")
        let first = ScheduleNaming.snapshotName(schedule: "nightly", pvc: "static-evs", slot: Int64(World.now.timeIntervalSince1970) / 60 * 60)
        #expect(run1.out.contains("static-evs   Created   \(first)"), "\(run1.out)")
        // Mark it ready (the in-memory cluster has no snapshot controller) and run again a minute later: keep 1 rotates.
        var snap = try await c.get(World.vs, namespace: "apps", name: first)
        snap["status"] = ["readyToUse": true]
        c.put(World.vs, snap)
        let later = CommandEnvironmentClock.minuteLater
        let run2 = await evssnapAt(later, ["schedule", "run", "nightly"], cluster: c)
        #expect(run2.code == 0, "\(run2.err)")
        #expect(run2.out.contains("Created") && run2.out.contains(first), "\(run2.out)")
        let list = await evssnap(["schedule", "list"], cluster: c)
        print(list.out)
        // It is 2026-11-28 05:05 in Shanghai: the next 02:00 there is the 29th, 18:00 UTC, 19:00 in Berlin on the 28th.
        #expect(list.out == """
            NAME      SCHEDULE    TIME ZONE       NEXT RUN               KEEP   KEPT   LAST RESULT   AGE
            nightly   0 2 * * *   Asia/Shanghai   2026-11-28 19:00 CET   1      1      <none>        5m1s

            """, "\(list.out)")
        let describe = await evssnap(["schedule", "describe", "nightly"], cluster: c)
        #expect(describe.out.contains("Keep:         1 per PVC") && describe.out.contains("2026-11-28 19:00 CET   (2026-11-29 02:00 CST)"), "\(describe.out)")
        let del = await evssnap(["schedule", "delete", "nightly"], cluster: c)
        #expect(del.code == 0)
        #expect(try await c.list(World.vs, namespace: "apps", fieldSelector: nil).contains { $0["metadata"]["labels"]["evssnap.io/schedule"].string == "nightly" })
    }
}

extension ScheduleCommandTests {
    @Test("a set-based --selector is written as matchExpressions and checks only the PVCs it selects")
    func setBasedSelector() async throws {
        let c = World.standard()
        // old-flex (R3) lacks the zone label's value here, so `zone in (cn-north-4a)` leaves it out.
        var flex = try await c.get(.persistentVolumeClaims, namespace: "apps", name: "old-flex")
        flex["metadata"]["labels"] = ["failure-domain.beta.kubernetes.io/zone": "cn-north-4b"]
        c.put(.persistentVolumeClaims, flex)
        let r = await evssnap(["schedule", "create", "zonal", "--selector", "failure-domain.beta.kubernetes.io/zone in (cn-north-4a),!legacy",
                               "--cron", "@daily", "--keep", "3"], cluster: c)
        #expect(r.code == 0, "\(r.err)")
        let o = try await c.get(schedules, namespace: "apps", name: "zonal")
        #expect(o["spec"]["claimSelector"]["matchLabels"].isNull || o["spec"]["claimSelector"]["matchLabels"].stringMap.isEmpty)
        let exprs = o["spec"]["claimSelector"]["matchExpressions"].elements
        #expect(exprs.map { $0["operator"].string ?? "" }.sorted() == ["DoesNotExist", "In"], "\(o)")
        #expect(exprs.first { $0["operator"].string == "In" }?["values"].elements.compactMap(\.string) == ["cn-north-4a"])
        let d = await evssnap(["schedule", "describe", "zonal"], cluster: c)
        #expect(d.out.contains("Selector:     !legacy,failure-domain.beta.kubernetes.io/zone in (cn-north-4a)"), "\(d.out)")
    }

    @Test("describe and list say why a stored spec no longer validates (here: a zone this machine lacks)")
    func invalidStoredSpec() async throws {
        let c = World.standard()
        #expect(await evssnap(["schedule", "create", "tz", "--pvc", "data-ssd", "--cron", "@daily", "--keep", "2"], cluster: c).code == 0)
        var o = try await c.get(schedules, namespace: "apps", name: "tz")
        o["spec"]["timeZone"] = "Mars/Olympus"
        c.put(schedules, o)
        let d = await evssnap(["schedule", "describe", "tz"], cluster: c)
        #expect(d.code == 0, "\(d.err)")
        #expect(d.out.contains("Invalid:      unknown time zone 'Mars/Olympus'"), "\(d.out)")
        #expect(!d.out.contains("Next runs:"))
        let l = await evssnap(["schedule", "list"], cluster: c)
        #expect(l.out.contains("<invalid>"), "\(l.out)")
        #expect(l.err.contains("schedule tz: unknown time zone 'Mars/Olympus'"), "\(l.err)")
    }
}

enum CommandEnvironmentClock {
    static let minuteLater = World.now.addingTimeInterval(60)
}

/// `evssnap` with the clock at `now`.
func evssnapAt(_ now: Date, _ args: [String], cluster: InMemoryCluster) async -> RunResult {
    let out = BufferSink(), err = BufferSink()
    let env = CommandEnvironment(console: Console(out: out, err: err, isTerminal: false),
                                 connect: { _ in ClusterConnection(api: cluster, defaultNamespace: "apps") },
                                 now: { now }, pollInterval: .milliseconds(1), helpColumns: 80)
    let code = await EVSSnapMain.run(arguments: args, in: env)
    return RunResult(code: code, out: out.text, err: err.text)
}
