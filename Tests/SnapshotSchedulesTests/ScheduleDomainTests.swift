import Foundation
import Testing
@testable import SnapshotSchedules

/// Zones from the machine's zoneinfo (Debian tzdata); the TZif parse itself is pure.
let zones = ZoneSource { name in FileManager.default.contents(atPath: "/usr/share/zoneinfo/" + name).map { [UInt8]($0) } }

func instant(_ y: Int, _ mo: Int, _ d: Int, _ h: Int, _ mi: Int, utcOffset: Int = 0) -> Int64 {
    CivilTime(year: y, month: mo, day: d, hour: h, minute: mi).wallSeconds - Int64(utcOffset)
}

@Suite("Cron expressions")
struct CronTests {
    @Test("valid expressions parse", arguments: [
        "* * * * *", "*/5 * * * *", "0 2 * * *", "0 0 1 jan,JUL *", "15 3 * * mon-fri", "0 0 * * 7", "5/15 * * * *",
        "@hourly", "@daily", "@weekly", "@monthly", "@yearly", "@annually", "@midnight", "0 12 29 2 *",
    ])
    func parses(_ e: String) throws { _ = try CronExpression(e) }

    @Test("refused expressions name what is wrong", arguments: [
        ("30 2 31 2 *", "never fires"), ("0 0 31 4,6,9,11 *", "never fires"), ("60 * * * *", "outside 0-59"),
        ("* * * *", "has 4 fields"), ("*/0 * * * *", "step"), ("9-3 * * * *", "backwards"), ("@often", "fields"),
    ])
    func refuses(_ e: String, _ words: String) {
        #expect(throws: CronError.self) { try CronExpression(e) }
        do { _ = try CronExpression(e) } catch { #expect(error.description.contains(words), "\(error)") }
    }

    @Test("day-of-month and day-of-week: OR when both are restricted, else the restricted one")
    func dayRule() throws {
        let both = try CronExpression("0 0 13 * fri")      // the 13th, or any Friday
        #expect(both.matchesDay(year: 2026, month: 12, day: 4))      // a Friday
        #expect(both.matchesDay(year: 2026, month: 12, day: 13))     // a Sunday, the 13th
        #expect(!both.matchesDay(year: 2026, month: 12, day: 7))
        let dowOnly = try CronExpression("0 0 * * sun")
        #expect(dowOnly.matchesDay(year: 2026, month: 12, day: 6) && !dowOnly.matchesDay(year: 2026, month: 12, day: 7))
        #expect(try CronExpression("0 0 * * 7").daysOfWeek == CronExpression("0 0 * * 0").daysOfWeek)
    }
}

@Suite("Time zones and next firings")
struct ZoneTests {
    @Test("Asia/Shanghai: UTC+8 all year; @daily fires at 16:00Z")
    func shanghai() throws {
        let s = CronSchedule(cron: try CronExpression("@daily"), zone: try zones.zone("Asia/Shanghai"))
        #expect(s.next(after: instant(2026, 12, 6, 12, 0)) == instant(2026, 12, 6, 16, 0))
    }

    @Test("New York spring forward: 02:30 does not exist, it fires at 03:00 EDT once")
    func springForward() throws {
        let s = CronSchedule(cron: try CronExpression("30 2 * * *"), zone: try zones.zone("America/New_York"))
        let before = instant(2026, 3, 8, 0, 0, utcOffset: -5 * 3600)
        #expect(s.next(after: before) == instant(2026, 3, 8, 7, 0))          // 03:00 EDT
        #expect(s.next(after: instant(2026, 3, 8, 7, 0)) == instant(2026, 3, 9, 6, 30))   // 02:30 EDT next day
    }

    @Test("Berlin fall back: 02:30 happens twice, it fires at the first (CEST) only")
    func fallBack() throws {
        let s = CronSchedule(cron: try CronExpression("30 2 * * *"), zone: try zones.zone("Europe/Berlin"))
        let first = try #require(s.next(after: instant(2026, 10, 24, 22, 0)))
        #expect(first == instant(2026, 10, 25, 0, 30))                      // 02:30 CEST
        #expect(s.next(after: first) == instant(2026, 10, 26, 1, 30))       // next day 02:30 CET
    }

    @Test("far future uses the POSIX footer rule (2040, past the TZif table)")
    func footer() throws {
        let ny = try zones.zone("America/New_York")
        #expect(ny.offset(at: instant(2040, 7, 1, 12, 0)) == -4 * 3600)
        #expect(ny.offset(at: instant(2040, 12, 1, 12, 0)) == -5 * 3600)
        #expect(ny.offset(at: instant(2040, 3, 11, 6, 59)) == -5 * 3600)   // 2nd Sunday of March 2040 is the 11th
        #expect(ny.offset(at: instant(2040, 3, 11, 7, 0)) == -4 * 3600)
    }

    @Test("POSIX TZ strings", arguments: [
        ("CET-1CEST,M3.5.0,M10.5.0/3", true), ("EST5EDT,M3.2.0,M11.1.0", true), ("CST-8", true), ("<+0330>-3:30", true),
        ("<-03>3<-02>,M3.5.0/-2,M10.5.0/-1", true), ("5", false), ("CET-1CEST,M13.5.0,M10.5.0", false),
    ])
    func posix(_ text: String, _ ok: Bool) { #expect((POSIXTimeZone(text) != nil) == ok) }

    @Test("TZif parse refuses what is not TZif; names are checked before any read")
    func tzifErrors() {
        #expect(throws: TimeZoneError.malformed(name: "X", reason: "no TZif magic")) { try TimeZoneRules(name: "X", tzif: Array("hello world".utf8)) }
        #expect(throws: TimeZoneError.badName("../etc/passwd")) { try zones.zone("../etc/passwd") }
        #expect(throws: TimeZoneError.unknown("Mars/Olympus")) { try zones.zone("Mars/Olympus") }
        #expect(throws: TimeZoneError.self) {
            let real = [UInt8](FileManager.default.contents(atPath: "/usr/share/zoneinfo/Europe/Berlin")!)
            try TimeZoneRules(name: "cut", tzif: Array(real.prefix(300)))
        }
        #expect((try? zones.zone("UTC")) == TimeZoneRules.utc)
    }

    @Test("next is strictly later, a slot, and the earliest (brute force, a year of minutes in Berlin)")
    func properties() throws {
        let zone = try zones.zone("Europe/Berlin")
        for e in ["*/17 3-5 * * *", "0 0,12 1,15 * *", "45 23 * * sat"] {
            let s = CronSchedule(cron: try CronExpression(e), zone: zone)
            var t = instant(2026, 3, 1, 0, 0)
            for _ in 0..<40 {
                let n = try #require(s.next(after: t))
                #expect(n > t)
                #expect(s.cron.matches(zone.wallTime(at: n)) || zone.offset(at: n) != zone.offset(at: n - 60))
                var m = (t / 60 + 1) * 60
                while m < n { #expect(!s.cron.matches(zone.wallTime(at: m)) || zone.offset(at: m) != zone.offset(at: m - 3600)); m += 60 }
                t = n
            }
        }
    }

    @Test("latest slot at or before now, for catch-up after downtime")
    func latest() throws {
        let s = CronSchedule(cron: try CronExpression("0 2 * * *"), zone: .utc)
        #expect(s.latest(atOrBefore: instant(2026, 12, 10, 1, 0), after: instant(2026, 12, 1, 0, 0)) == instant(2026, 12, 9, 2, 0))
        #expect(s.latest(atOrBefore: instant(2026, 12, 1, 1, 0), after: instant(2026, 12, 1, 0, 0)) == nil)
    }
}

@Suite("Retention inside R5")
struct RetentionTests {
    let day: Int64 = 86_400
    func own(_ i: Int, ready: Bool = true) -> DiskSnapshot { DiskSnapshot(name: "s-\(i)", taken: Int64(i) * day, ownedBySchedule: true, ready: ready) }
    func other(_ i: Int) -> DiskSnapshot { DiskSnapshot(name: "hand-\(i)", taken: Int64(i) * day, ownedBySchedule: false) }

    @Test("below both limits: create, delete nothing")
    func room() {
        let p = Retention.plan(existing: [own(1), other(0)], policy: RetentionPolicy(maxCount: 3, perDiskLimit: 7), now: 2 * day)
        #expect(p == RetentionPlan(delete: [], next: .create))
    }

    @Test("at maxCount: the oldest own ready snapshot goes first, then create")
    func rotateKeep() {
        let p = Retention.plan(existing: [own(3), own(1), own(2), other(0)], policy: RetentionPolicy(maxCount: 3, perDiskLimit: 7), now: 4 * day)
        #expect(p == RetentionPlan(delete: ["s-1"], next: .createAfterDeletions))
    }

    @Test("R5: hand-made snapshots and own ones fill the disk: own oldest go, hand-made never")
    func rotateDisk() {
        let existing = (0..<4).map(other) + (4..<7).map { own($0) }
        let p = Retention.plan(existing: existing, policy: RetentionPolicy(maxCount: 7, perDiskLimit: 7), now: 8 * day)
        #expect(p == RetentionPlan(delete: ["s-4"], next: .createAfterDeletions))
    }

    @Test("R5: others alone fill the disk: nothing deleted, refused naming them")
    func refused() {
        let existing = (0..<7).map(other) + [own(8)]
        let p = Retention.plan(existing: existing, policy: RetentionPolicy(maxCount: 3, perDiskLimit: 7), now: 9 * day)
        #expect(p == RetentionPlan(delete: [], next: .refused(limit: 7, blocking: (0..<7).map { "hand-\($0)" })))
    }

    @Test("maxAge expires own ready snapshots; a pending own snapshot is never deleted")
    func expiry() {
        let p = Retention.plan(existing: [own(1), own(5), own(9, ready: false)],
                               policy: RetentionPolicy(maxCount: 5, maxAge: 3 * day, perDiskLimit: 7), now: 10 * day)
        #expect(p == RetentionPlan(delete: ["s-1", "s-5"], next: .createAfterDeletions))
    }

    @Test("a deletion under way still counts against R5: wait for it, and delete nothing more for the room it frees")
    func deleting() {
        var gone = own(1); gone.deleting = true
        let p = Retention.plan(existing: [gone, own(2)], policy: RetentionPolicy(maxCount: 2, perDiskLimit: 7), now: 3 * day)
        #expect(p == RetentionPlan(delete: [], next: .createAfterDeletions))
        var leaving = other(0); leaving.deleting = true
        let full = [leaving] + (1...6).map(other)
        #expect(Retention.plan(existing: full, policy: RetentionPolicy(maxCount: 2, perDiskLimit: 7), now: 3 * day)
                == RetentionPlan(delete: [], next: .createAfterDeletions))
    }
}

@Suite("Names")
struct NamingTests {
    @Test("deterministic, at most 63 characters, distinct pairs stay distinct")
    func names() {
        let t = instant(2026, 12, 7, 2, 0)
        #expect(ScheduleNaming.snapshotName(schedule: "nightly", pvc: "data", slot: t) == "nightly-data-20261207t0200z")
        let long = String(repeating: "a", count: 60)
        let a = ScheduleNaming.snapshotName(schedule: long, pvc: "x1", slot: t)
        let b = ScheduleNaming.snapshotName(schedule: long, pvc: "x2", slot: t)
        #expect(a.count <= 63 && b.count <= 63 && a != b && a.hasSuffix("-20261207t0200z"))
        #expect(ScheduleNaming.slot(fromStamp: ScheduleNaming.slotStamp(t)) == t)
    }
}

@Suite("Label selectors (spec.claimSelector, schedule create --selector)")
struct LabelSelectorTests {
    @Test("kubectl -l syntax parses into matchLabels and matchExpressions", arguments: [
        ("app=db", LabelSelector(matchLabels: ["app": "db"])),
        ("app==db, tier = data", LabelSelector(matchLabels: ["app": "db", "tier": "data"])),
        ("tier!=cache", LabelSelector(matchExpressions: [.init(key: "tier", op: .notIn, values: ["cache"])])),
        ("tier in (db, queue)", LabelSelector(matchExpressions: [.init(key: "tier", op: .in, values: ["db", "queue"])])),
        ("tier notin (web),backup,!legacy", LabelSelector(matchExpressions: [
            .init(key: "tier", op: .notIn, values: ["web"]), .init(key: "backup", op: .exists),
            .init(key: "legacy", op: .doesNotExist)])),
        ("evssnap.io/tier=gold,app.kubernetes.io/name in (pg)", LabelSelector(
            matchLabels: ["evssnap.io/tier": "gold"],
            matchExpressions: [.init(key: "app.kubernetes.io/name", op: .in, values: ["pg"])])),
        ("app=", LabelSelector(matchLabels: ["app": ""])),
    ])
    func parses(_ text: String, _ expected: LabelSelector) throws {
        #expect(try LabelSelector.parse(text) == expected)
    }

    @Test("what the API server would refuse is refused, naming the term", arguments: [
        ("", "empty"), ("app=db,,tier=x", "empty term"), ("tier in (a,b", "'(' without ')'"), ("tier in a,b)", "')' without '('"),
        ("tier within (a)", "not in or notin"), ("tier in ()", "needs at least one value"), ("-app=db", "label key '-app'"),
        ("app=db!", "label value 'db!'"), ("Example.COM/app=x", "not a DNS subdomain"), ("app=a,app=b", "both 'a' and 'b'"),
        (String(repeating: "k", count: 64) + "=v", "1-63 characters"), ("app in (a,,b)", "empty value"),
    ])
    func refuses(_ text: String, _ words: String) {
        do {
            let s = try LabelSelector.parse(text)
            Issue.record("'\(text)' parsed as \(s)")
        } catch { #expect(error.description.contains(words), "\(error)") }
    }

    @Test("matching follows Kubernetes: NotIn and DoesNotExist hold for an absent key, In and Exists do not")
    func semantics() throws {
        let none: [String: String] = [:]
        let db = ["tier": "db"]
        #expect(LabelRequirement(key: "tier", op: .notIn, values: ["web"]).matches(none))
        #expect(LabelRequirement(key: "tier", op: .notIn, values: ["web"]).matches(db))
        #expect(!LabelRequirement(key: "tier", op: .notIn, values: ["db"]).matches(db))
        #expect(!LabelRequirement(key: "tier", op: .in, values: ["db"]).matches(none))
        #expect(LabelRequirement(key: "tier", op: .in, values: ["db", "x"]).matches(db))
        #expect(!LabelRequirement(key: "tier", op: .exists).matches(none) && LabelRequirement(key: "tier", op: .exists).matches(db))
        #expect(LabelRequirement(key: "tier", op: .doesNotExist).matches(none) && !LabelRequirement(key: "tier", op: .doesNotExist).matches(db))
        let s = try LabelSelector.parse("tier in (db,queue),!legacy,app=pg")
        #expect(s.matches(["tier": "db", "app": "pg"]))
        #expect(!s.matches(["tier": "db", "app": "pg", "legacy": "true"]))
        #expect(!s.matches(["tier": "web", "app": "pg"]))
        #expect(!s.matches(["tier": "db"]))
    }

    @Test("query text parses back to the same selector and selects the same label sets (generated)")
    func roundTrip() throws {
        var rng = SplitMix(seed: 0x5e1ec7)
        let keys = ["app", "tier", "evssnap.io/backup", "legacy"]
        let values = ["db", "web", "queue", ""]
        for _ in 0..<2_000 {
            var s = LabelSelector()
            for k in keys where rng.next() % 3 == 0 { s.matchLabels[k] = values[Int(rng.next() % 3)] }
            for k in keys where rng.next() % 3 == 0 {
                let op = LabelRequirement.Operator.allCases[Int(rng.next() % 4)]
                let vals = op == .in || op == .notIn ? Array(Set((0...Int(rng.next() % 2)).map { _ in values[Int(rng.next() % 3)] })).sorted() : []
                s.matchExpressions.append(.init(key: k, op: op, values: vals))
            }
            guard !s.isEmpty else { continue }
            let back = try LabelSelector.parse(s.query)
            var labels: [String: String] = [:]
            for k in keys where rng.next() % 2 == 0 { labels[k] = values[Int(rng.next() % 4)] }
            #expect(back.matches(labels) == s.matches(labels), "\(s.query) on \(labels)")
            #expect(back.query == s.query)
        }
    }

    @Test("a spec with an invalid or empty selector does not validate")
    func specValidation() throws {
        let bad = ScheduleSpec(claims: .selector(LabelSelector(matchExpressions: [.init(key: "tier", op: .in)])), schedule: "@daily", maxCount: 2)
        #expect(throws: ScheduleSpecError.selector(LabelSelectorError("selector: 'tier In' needs at least one value"))) {
            try bad.validated(zones: zones, perDiskLimit: 7)
        }
        #expect(throws: ScheduleSpecError.noClaims) {
            try ScheduleSpec(claims: .selector(LabelSelector()), schedule: "@daily", maxCount: 2).validated(zones: zones, perDiskLimit: 7)
        }
        #expect(ScheduleSpec(claims: .selector(try .parse("tier in (db)")), schedule: "@daily", maxCount: 2).claims.labelSelector == "tier in (db)")
    }
}

/// A small deterministic generator (SplitMix64) for the generated cases.
struct SplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
