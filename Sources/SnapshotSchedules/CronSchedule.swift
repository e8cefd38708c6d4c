// When a cron expression fires in a time zone, as instants.
//
// Daylight saving time (the choice, and how it compares with croniter 7):
// - A wall time the clocks skip (02:30 on a spring-forward night in New York or Berlin) fires once, at the instant
//   the clocks jump (03:00 local). Several skipped slots (`*/15 2 * * *`) collapse into that one firing.
//   croniter does the same: it moves a nonexistent time forward minute by minute to the first that exists.
// - A wall time that happens twice (01:30 on a fall-back night) fires once, at its first occurrence. croniter
//   can fire a slot in the repeated hour a second time (it resolves an ambiguous time relative to its previous
//   result); the pytest comparison counts those cases (Tests/conformance/test_schedule_cron.py).
// So a daily schedule fires exactly once on every local day, whatever the clocks do.
import TimeCore

/// A cron expression read in a time zone.
public struct CronSchedule: Sendable, Hashable {
    public let cron: CronExpression
    public let zone: TimeZoneRules

    public init(cron: CronExpression, zone: TimeZoneRules) { self.cron = cron; self.zone = zone }

    /// How far ahead `next` looks: 12 years covers February 29th (at most 8 years apart).
    static let horizonDays = 366 * 12

    /// The first firing strictly after `instant`, or nil when none within 12 years (never, after `init` refused
    /// expressions that never fire).
    public func next(after instant: Int64) -> Int64? {
        let startWall = zone.wallTime(at: instant)
        var day = Civil.days(year: startWall.year, month: startWall.month, day: startWall.day) - 1
        let minutes = cron.minuteList, hours = cron.hourList
        for _ in 0..<CronSchedule.horizonDays {
            defer { day += 1 }
            let (y, m, d) = Civil.date(fromDays: day)
            guard cron.matchesDay(year: y, month: m, day: d) else { continue }
            for h in hours {
                for mi in minutes {
                    let fire = firing(CivilTime(year: y, month: m, day: d, hour: h, minute: mi))
                    if fire > instant { return fire }
                }
            }
        }
        return nil
    }

    /// The instant a slot (a matching wall time) fires: see the DST notes above.
    public func firing(_ slot: CivilTime) -> Int64 {
        switch zone.resolve(slot) {
        case .unique(let t): return t
        case .repeated(let first, _): return first
        case .skipped(let resumes): return resumes
        }
    }

    /// The latest firing at or before `instant` that is later than `notBefore`, or nil (used for catch-up: only the
    /// most recent missed slot runs). Walks forward from `notBefore`, at most `limit` firings.
    public func latest(atOrBefore instant: Int64, after notBefore: Int64, limit: Int = 200_000) -> Int64? {
        var found: Int64?
        var t = max(notBefore, instant - 366 * 86_400)
        for _ in 0..<limit {
            guard let n = next(after: t), n <= instant else { break }
            found = n
            t = n
        }
        return found
    }
}
