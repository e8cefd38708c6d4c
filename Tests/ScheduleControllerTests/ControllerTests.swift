// The schedule controller against the fake API server (Tests/fake-apiserver, started with --evssnap-crd: the
// SnapshotSchedule CRD, its status subresource, watches, a snapshot controller that makes snapshots ready and
// deletes them with their contents), with a clock the test moves: a week of daily runs takes seconds.
import Foundation
import JSONCore
import KubeClient
import KubeTestSupport
import ScheduleController
import SnapshotSchedules
import Synchronization
import Testing
import TimeCore

/// A clock the test sets; `sleep` is never used by the passes the tests make.
final class TestClock: ScheduleClock {
    let value: Mutex<Int64>
    init(_ t: Int64) { value = Mutex(t) }
    func now() -> Int64 { value.withLock { $0 } }
    func set(_ t: Int64) { value.withLock { $0 = t } }
    func sleep(until instant: Int64) async throws { set(instant) }
}

let zoneinfo = ZoneSource { name in FileManager.default.contents(atPath: "/usr/share/zoneinfo/" + name).map { [UInt8]($0) } }

/// One fake API server with the CRD, a client, and helpers to read what the controller did.
struct World {
    let server: FakeAPIServer
    let client: KubeClient
    let api: KubeScheduleAPI

    static func start(_ extra: [String] = []) async throws -> World {
        let server = try await FakeAPIServer.startAsync(arguments: ["--evssnap-crd"] + extra)
        let client = try KubeClient(config: try server.clientConfig())
        return World(server: server, client: client, api: KubeScheduleAPI(client: client, namespace: "apps"))
    }

    func stop() async { try? await client.shutdown(); server.stop() }

    func post(_ path: String, _ object: JSON) async throws {
        _ = try await client.send(method: "POST", path: path, body: Data(object.serialized()))
    }

    /// Creates SnapshotSchedule `name` in apps.
    func schedule(_ name: String, _ spec: ScheduleSpec) async throws -> ScheduleObject {
        try await post("/apis/evssnap.io/v1alpha1/namespaces/apps/snapshotschedules", [
            "apiVersion": "evssnap.io/v1alpha1", "kind": "SnapshotSchedule",
            "metadata": ["name": .string(name), "namespace": "apps"], "spec": ScheduleJSON.specObject(spec)])
        return try #require(try await api.getSchedule(namespace: "apps", name: name))
    }

    /// A hand-made VolumeSnapshot of `pvc` (no schedule label).
    func handMade(_ name: String, pvc: String = "data-ssd") async throws {
        try await post("/apis/snapshot.storage.k8s.io/v1/namespaces/apps/volumesnapshots", [
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot", "metadata": ["name": .string(name), "namespace": "apps"],
            "spec": ["source": ["persistentVolumeClaimName": .string(pvc)], "volumeSnapshotClassName": "csi-disk-snapclass"]])
    }

    func snapshots(_ pvc: String = "data-ssd") async throws -> [SnapshotInfo] {
        try await api.listSnapshots(namespace: "apps").filter { $0.sourcePVC == pvc }.sorted { $0.name < $1.name }
    }

    func own(_ schedule: String, _ pvc: String = "data-ssd") async throws -> [String] {
        try await snapshots(pvc).filter { $0.labels[ScheduleNaming.scheduleLabel] == schedule }.map(\.name)
    }

    func rawSchedule(_ name: String) async throws -> [String: Any] {
        let r = try await client.send(method: "GET", path: "/apis/evssnap.io/v1alpha1/namespaces/apps/snapshotschedules/\(name)")
        return try JSONSerialization.jsonObject(with: r.body) as! [String: Any]
    }

    func events() async throws -> [[String: Any]] {
        let r = try await client.send(method: "GET", path: "/api/v1/namespaces/apps/events")
        return ((try JSONSerialization.jsonObject(with: r.body) as! [String: Any])["items"] as? [[String: Any]]) ?? []
    }
}

@Suite("Schedule controller against the fake API server", .serialized, .enabled(if: FakeAPIServer.isAvailable))
struct ControllerTests {
    @Test("a week and a half of daily runs in Asia/Shanghai: rotation at the R5 cap, hand-made snapshots kept")
    func weekOfDailyRuns() async throws {
        let w = try await World.start()
        defer { Task { await w.stop() } }
        // data-ssd already has 3 hand-made snapshots (snap-1..3); keep 5, but the disk's limit is 7: the schedule can
        // hold only 4 before R5 makes it rotate.
        let s = try await w.schedule("nightly", ScheduleSpec(claims: .names(["data-ssd"]), schedule: "0 2 * * *",
                                                             timeZone: "Asia/Shanghai", maxCount: 5))
        let cron = CronSchedule(cron: try CronExpression("0 2 * * *"), zone: try zoneinfo.zone("Asia/Shanghai"))
        let clock = TestClock(s.created)
        let controller = ScheduleController(api: w.api, clock: clock, zones: zoneinfo)
        var table = ["day  slot (UTC)            made  deleted                           own  on disk  hand-made"]
        var slot = s.created
        for day in 1...10 {
            slot = try #require(cron.next(after: slot))
            clock.set(slot + 7)
            let runs = try await controller.reconcileOnce()
            let run = try #require(runs.first)
            #expect(run.slot == slot)
            let c = try #require(run.claims.first)
            #expect(c.outcome == .created, "\(c)")
            let own = try await w.own("nightly"), all = try await w.snapshots()
            let hand = all.filter { $0.labels[ScheduleNaming.scheduleLabel] == nil }.map(\.name)
            table.append("\(day)".padding(toLength: 5, withPad: " ", startingAt: 0) + Civil.rfc3339(slot).padding(toLength: 22, withPad: " ", startingAt: 0)
                         + "\(c.outcome == .created ? 1 : 0)     " + (c.deleted.joined(separator: ",").isEmpty ? "-" : c.deleted.joined(separator: ",")).padding(toLength: 34, withPad: " ", startingAt: 0)
                         + "\(own.count)    \(all.count)        \(hand.count)")
            #expect(all.count <= 7, "R5: never more than 7 on the disk")
            #expect(own.count == min(day, 4))
            #expect(hand == ["snap-1", "snap-2", "snap-3"])
            #expect(c.deleted.count == (day > 4 ? 1 : 0))
            // A second pass at the same time makes nothing (the slot is done).
            #expect(try await controller.reconcileOnce().isEmpty)
        }
        print(table.joined(separator: "\n"))
        // The oldest went first: the four kept are the last four slots.
        let kept = try await w.own("nightly")
        #expect(kept.count == 4)
        let status = try await w.rawSchedule("nightly")["status"] as? [String: Any]
        #expect(status?["lastScheduleTime"] as? String == Civil.rfc3339(slot))
        #expect(status?["nextSnapshotTime"] as? String == Civil.rfc3339(cron.next(after: slot + 7)!))
        #expect(status?["lastResult"] as? String == "1 created")
    }

    @Test("R5: hand-made snapshots alone fill the disk: nothing made, a condition, a Warning Event naming them; the other PVC still gets its snapshot")
    func handMadeFillTheDisk() async throws {
        let w = try await World.start()
        defer { Task { await w.stop() } }
        for i in 4...7 { try await w.handMade("snap-\(i)") }
        let s = try await w.schedule("hourly", ScheduleSpec(claims: .names(["data-ssd", "static-evs", "old-flex"]), schedule: "@hourly", maxCount: 3))
        let clock = TestClock(s.created)
        let cron = CronSchedule(cron: try CronExpression("@hourly"), zone: .utc)
        clock.set(try #require(cron.next(after: s.created)) + 1)
        let run = try #require(try await ScheduleController(api: w.api, clock: clock, zones: zoneinfo).reconcileOnce().first)
        let byPVC = Dictionary(uniqueKeysWithValues: run.claims.map { ($0.pvc, $0) })
        #expect(byPVC["data-ssd"]?.outcome == .refused)
        #expect(byPVC["data-ssd"]?.message.contains("R5") == true)
        #expect(byPVC["data-ssd"]?.deleted == [])
        #expect(byPVC["static-evs"]?.outcome == .created)
        #expect(byPVC["old-flex"]?.outcome == .refused)
        #expect(byPVC["old-flex"]?.message.hasPrefix("R3") == true, "\(byPVC["old-flex"]!.message)")
        #expect(try await w.snapshots().map(\.name) == (1...7).map { "snap-\($0)" })
        let events = try await w.events().filter { $0["reason"] as? String == "SnapshotQuotaReached" }
        #expect(events.count == 1)
        let message = events.first?["message"] as? String ?? ""
        #expect(message.contains("R5") && (1...7).allSatisfy { message.contains("snap-\($0)") }, "\(message)")
        #expect((events.first?["involvedObject"] as? [String: Any])?["name"] as? String == "data-ssd")
        print("R5 event on PVC data-ssd: \(message)")
        let conditions = (try await w.rawSchedule("hourly")["status"] as? [String: Any])?["conditions"] as? [[String: Any]] ?? []
        let blocked = conditions.first { $0["type"] as? String == "QuotaBlocked" }
        #expect(blocked?["status"] as? String == "True")
        #expect(blocked?["reason"] as? String == "R5")
    }

    @Test("catch-up after a stop: one snapshot for the latest missed slot, never a burst")
    func catchUp() async throws {
        let w = try await World.start()
        defer { Task { await w.stop() } }
        let s = try await w.schedule("every15", ScheduleSpec(claims: .names(["static-evs"]), schedule: "*/15 * * * *", maxCount: 5))
        let cron = CronSchedule(cron: try CronExpression("*/15 * * * *"), zone: .utc)
        let clock = TestClock(s.created)
        let first = try #require(cron.next(after: s.created))
        clock.set(first + 1)
        let controller = ScheduleController(api: w.api, clock: clock, zones: zoneinfo)
        #expect(try await controller.reconcileOnce().first?.claims.first?.outcome == .created)
        // Down for 6 hours (24 slots missed).
        clock.set(first + 6 * 3600 + 120)
        let runs = try await ScheduleController(api: w.api, clock: clock, zones: zoneinfo).reconcileOnce()
        #expect(runs.count == 1)
        #expect(runs.first?.slot == first + 6 * 3600)
        #expect(try await w.own("every15", "static-evs") == [
            ScheduleNaming.snapshotName(schedule: "every15", pvc: "static-evs", slot: first),
            ScheduleNaming.snapshotName(schedule: "every15", pvc: "static-evs", slot: first + 6 * 3600)])
        #expect(try await controller.reconcileOnce().isEmpty)
    }

    @Test("a kill mid-rotation (after the delete, before the create) leaves neither two new snapshots nor a lost one")
    func killMidRotation() async throws {
        let w = try await World.start()
        defer { Task { await w.stop() } }
        let s = try await w.schedule("keep2", ScheduleSpec(claims: .names(["static-evs"]), schedule: "0 * * * *", maxCount: 2))
        let cron = CronSchedule(cron: try CronExpression("0 * * * *"), zone: .utc)
        let clock = TestClock(s.created)
        var slot = s.created
        for _ in 1...2 {
            slot = try #require(cron.next(after: slot)); clock.set(slot + 1)
            _ = try await ScheduleController(api: w.api, clock: clock, zones: zoneinfo).reconcileOnce()
        }
        let before = try await w.own("keep2", "static-evs")
        #expect(before.count == 2)
        slot = try #require(cron.next(after: slot)); clock.set(slot + 1)
        // The process "dies" right after its first DELETE is answered: every later call fails, nothing else runs.
        let dying = DyingAPI(w.api)
        _ = try await ScheduleController(api: dying, clock: clock, zones: zoneinfo).reconcileOnce()
        #expect(dying.deleted.withLock { $0 } == [before[0]])
        let afterKill = try await w.own("keep2", "static-evs")
        #expect(afterKill == [before[1]], "the oldest is gone, nothing new yet")
        // A restart (new controller, same clock): the slot is not done, so it runs once.
        let restarted = try await ScheduleController(api: w.api, clock: clock, zones: zoneinfo).reconcileOnce()
        #expect(restarted.first?.claims.first?.outcome == .created)
        #expect(restarted.first?.claims.first?.deleted == [])
        let after = try await w.own("keep2", "static-evs")
        #expect(after == [before[1], ScheduleNaming.snapshotName(schedule: "keep2", pvc: "static-evs", slot: slot)])
        // A second replica racing on the same slot gets AlreadyExists: still one.
        let twin = try await ScheduleController(api: w.api, clock: clock, zones: zoneinfo).run(
            try #require(try await w.api.getSchedule(namespace: "apps", name: "keep2")), spec: try s.spec.get(), slot: slot,
            rules: .init())
        #expect(twin.claims.first?.outcome == .exists)
        #expect(try await w.own("keep2", "static-evs").count == 2)
        print("kill mid-rotation: before \(before), after the kill \(afterKill), after the restart \(after)")
    }

    @Test("an API server that fails a create delays the slot, loses none: the next pass makes it")
    func apiFailureDelays() async throws {
        let w = try await World.start()
        defer { Task { await w.stop() } }
        let s = try await w.schedule("retry", ScheduleSpec(claims: .names(["static-evs", "data-ssd"]), schedule: "@hourly", maxCount: 2))
        let slot = try #require(CronSchedule(cron: try CronExpression("@hourly"), zone: .utc).next(after: s.created))
        let clock = TestClock(slot + 1)
        let flaky = FailingCreates(w.api, failing: ["static-evs"])
        let first = try #require(try await ScheduleController(api: flaky, clock: clock, zones: zoneinfo).reconcileOnce().first)
        #expect(first.claims.map(\.outcome) == [.failed, .created])
        #expect(first.claims.first?.message.contains("503") == true)
        let status = try await w.rawSchedule("retry")["status"] as? [String: Any]
        #expect(status?["lastScheduleTime"] == nil, "the slot is not done")
        clock.set(slot + 120)
        let second = try #require(try await ScheduleController(api: w.api, clock: clock, zones: zoneinfo).reconcileOnce().first)
        #expect(second.slot == slot)
        #expect(second.claims.map(\.outcome) == [.created, .exists])
        #expect(try await w.own("retry", "static-evs").count == 1)
        #expect(try await w.own("retry", "data-ssd").count == 1)
    }

    @Test("claimSelector with matchExpressions: the API server selects exactly the PVCs the selector matches")
    func setBasedSelector() async throws {
        let w = try await World.start()
        defer { Task { await w.stop() } }
        let labels = ["data-ssd": ["tier": "db"], "static-evs": ["tier": "web"], "old-flex": ["tier": "db", "legacy": "true"]]
        for (pvc, l) in labels {
            _ = try await w.client.send(method: "PATCH", path: "/api/v1/namespaces/apps/persistentvolumeclaims/\(pvc)",
                                        body: try JSONSerialization.data(withJSONObject: ["metadata": ["labels": l]]),
                                        contentType: "application/merge-patch+json")
        }
        // old-flex is a FlexVolume PVC (R3): were it selected, it would show as refused.
        for (text, selected) in [("tier in (db,web),!legacy", ["data-ssd", "static-evs"]), ("tier notin (web),legacy", ["old-flex"]),
                                 ("tier=db,legacy notin (true)", ["data-ssd"])] {
            let selector = try LabelSelector.parse(text)
            #expect(labels.filter { selector.matches($0.value) }.keys.sorted() == selected, "the selector's own reading of \(text)")
            let name = "sel-\(selected.count)-\(selected[0])"
            let s = try await w.schedule(name, ScheduleSpec(claims: .selector(selector), schedule: "@hourly", maxCount: 2))
            let stored = try JSON.parse(try await w.client.send(
                method: "GET", path: "/apis/evssnap.io/v1alpha1/namespaces/apps/snapshotschedules/\(name)").body)["spec"]
            #expect(try ScheduleJSON.spec(stored).get().claims == .selector(selector),
                    "the selector survives the round trip through the API server")
            let run = try await ScheduleController(api: w.api, clock: TestClock(s.created), zones: zoneinfo)
                .run(s, spec: try ScheduleJSON.spec(stored).get(), slot: s.created,
                     rules: .default)
            #expect(run.claims.map(\.pvc) == selected, "\(text): \(run.claims)")
        }
    }

    @Test("disabled: no new snapshots, old ones kept; deleting the schedule keeps its snapshots")
    func disabledAndDeleted() async throws {
        let w = try await World.start()
        defer { Task { await w.stop() } }
        var spec = ScheduleSpec(claims: .selector(LabelSelector(matchLabels: ["app": "nothing-matches"])), schedule: "@hourly", maxCount: 2)
        spec.claims = .names(["static-evs"])
        let s = try await w.schedule("h", spec)
        let clock = TestClock(try #require(CronSchedule(cron: try CronExpression("@hourly"), zone: .utc).next(after: s.created)) + 1)
        _ = try await ScheduleController(api: w.api, clock: clock, zones: zoneinfo).reconcileOnce()
        #expect(try await w.own("h", "static-evs").count == 1)
        _ = try await w.client.send(method: "PATCH", path: "/apis/evssnap.io/v1alpha1/namespaces/apps/snapshotschedules/h",
                                    body: Data(#"{"spec":{"disabled":true}}"#.utf8), contentType: "application/merge-patch+json")
        clock.set(clock.now() + 3 * 3600)
        #expect(try await ScheduleController(api: w.api, clock: clock, zones: zoneinfo).reconcileOnce().isEmpty)
        #expect(try await w.own("h", "static-evs").count == 1)
        _ = try await w.client.send(method: "DELETE", path: "/apis/evssnap.io/v1alpha1/namespaces/apps/snapshotschedules/h")
        #expect(try await w.own("h", "static-evs").count == 1)
    }
}

/// Forwards to a real API, but creating a snapshot of one of `failing` gets a 503 (an API server in trouble).
final class FailingCreates: ScheduleAPI {
    let base: ScheduleAPI
    let failing: Set<String>
    init(_ base: ScheduleAPI, failing: Set<String>) { self.base = base; self.failing = failing }
    func listSchedules() async throws -> [ScheduleObject] { try await base.listSchedules() }
    func getSchedule(namespace: String, name: String) async throws -> ScheduleObject? { try await base.getSchedule(namespace: namespace, name: name) }
    func listClaims(namespace: String, labelSelector: String) async throws -> [ClaimInfo] { try await base.listClaims(namespace: namespace, labelSelector: labelSelector) }
    func getClaim(namespace: String, name: String) async throws -> ClaimInfo? { try await base.getClaim(namespace: namespace, name: name) }
    func getVolume(name: String) async throws -> VolumeInfo? { try await base.getVolume(name: name) }
    func listSnapshots(namespace: String) async throws -> [SnapshotInfo] { try await base.listSnapshots(namespace: namespace) }
    func createSnapshot(_ request: SnapshotRequest) async throws {
        if failing.contains(request.pvc) { throw ScheduleAPIError.server(code: 503, message: "the server is currently unable to handle the request") }
        try await base.createSnapshot(request)
    }
    func deleteSnapshot(namespace: String, name: String) async throws { try await base.deleteSnapshot(namespace: namespace, name: name) }
    func waitUntilGone(namespace: String, names: Set<String>, timeout: Duration) async throws -> Bool { try await base.waitUntilGone(namespace: namespace, names: names, timeout: timeout) }
    func writeStatus(namespace: String, name: String, status: ScheduleStatus) async throws { try await base.writeStatus(namespace: namespace, name: name, status: status) }
    func recordEvent(_ event: ClaimEvent) async throws { try await base.recordEvent(event) }
    func driverAnnotations(driverName: String) async throws -> [String: String]? { try await base.driverAnnotations(driverName: driverName) }
}

/// Forwards to a real API until its first snapshot deletion is answered, then fails every call: a process killed
/// between the delete and the create.
final class DyingAPI: ScheduleAPI {
    let base: ScheduleAPI
    let deleted = Mutex<[String]>([])
    init(_ base: ScheduleAPI) { self.base = base }
    struct Killed: Error {}
    func alive() throws { if !deleted.withLock({ $0.isEmpty }) { throw Killed() } }
    func listSchedules() async throws -> [ScheduleObject] { try alive(); return try await base.listSchedules() }
    func getSchedule(namespace: String, name: String) async throws -> ScheduleObject? { try alive(); return try await base.getSchedule(namespace: namespace, name: name) }
    func listClaims(namespace: String, labelSelector: String) async throws -> [ClaimInfo] { try alive(); return try await base.listClaims(namespace: namespace, labelSelector: labelSelector) }
    func getClaim(namespace: String, name: String) async throws -> ClaimInfo? { try alive(); return try await base.getClaim(namespace: namespace, name: name) }
    func getVolume(name: String) async throws -> VolumeInfo? { try alive(); return try await base.getVolume(name: name) }
    func listSnapshots(namespace: String) async throws -> [SnapshotInfo] { try alive(); return try await base.listSnapshots(namespace: namespace) }
    func createSnapshot(_ request: SnapshotRequest) async throws { try alive(); try await base.createSnapshot(request) }
    func deleteSnapshot(namespace: String, name: String) async throws {
        try alive()
        try await base.deleteSnapshot(namespace: namespace, name: name)
        deleted.withLock { $0.append(name) }
    }
    func waitUntilGone(namespace: String, names: Set<String>, timeout: Duration) async throws -> Bool { try alive(); return try await base.waitUntilGone(namespace: namespace, names: names, timeout: timeout) }
    func writeStatus(namespace: String, name: String, status: ScheduleStatus) async throws { try alive(); try await base.writeStatus(namespace: namespace, name: name, status: status) }
    func recordEvent(_ event: ClaimEvent) async throws { try alive(); try await base.recordEvent(event) }
    func driverAnnotations(driverName: String) async throws -> [String: String]? { try alive(); return try await base.driverAnnotations(driverName: driverName) }
}
