// The spec of a SnapshotSchedule (evssnap.io/v1alpha1, deploy/snapshotschedule-crd.yaml) as plain values, and
// the checks both the plugin (`kubectl evssnap schedule create`, before it writes anything) and the controller
// (before it acts) run on it.

/// Which PVCs a schedule snapshots: names, or a label selector (matchLabels and matchExpressions), in the
/// schedule's namespace.
public enum ClaimSelection: Sendable, Hashable {
    case names([String])
    case selector(LabelSelector)

    /// `app=db,tier in (a,b)` (sorted), for a list call's labelSelector.
    public var labelSelector: String? {
        guard case .selector(let s) = self else { return nil }
        return s.query
    }
}

/// A SnapshotSchedule's spec.
public struct ScheduleSpec: Sendable, Hashable {
    public var claims: ClaimSelection
    /// The cron expression (`spec.schedule`).
    public var schedule: String
    /// IANA zone (`spec.timeZone`), UTC when empty.
    public var timeZone: String
    /// `spec.retention.maxCount`.
    public var maxCount: Int
    /// `spec.retention.maxAge` in seconds (nil: none).
    public var maxAge: Int64?
    /// `spec.snapshotTemplate.volumeSnapshotClassName` (nil: the driver's default class).
    public var snapshotClassName: String?
    /// `spec.snapshotTemplate.labels`, added to every snapshot.
    public var labels: [String: String]
    /// `spec.disabled`: no new snapshots, old ones kept.
    public var disabled: Bool

    public init(claims: ClaimSelection, schedule: String, timeZone: String = "UTC", maxCount: Int, maxAge: Int64? = nil,
                snapshotClassName: String? = nil, labels: [String: String] = [:], disabled: Bool = false) {
        self.claims = claims; self.schedule = schedule; self.timeZone = timeZone.isEmpty ? "UTC" : timeZone
        self.maxCount = maxCount; self.maxAge = maxAge; self.snapshotClassName = snapshotClassName
        self.labels = labels; self.disabled = disabled
    }
}

/// Why a schedule's spec cannot work.
public enum ScheduleSpecError: Error, Sendable, Hashable, CustomStringConvertible {
    case cron(CronError)
    case timeZone(TimeZoneError)
    /// R5: `maxCount` above the disk's limit can never be reached (or below 1).
    case keepOutOfRange(keep: Int, limit: Int)
    /// Neither PVC names nor a selector.
    case noClaims
    /// A maxAge text that is not a duration.
    case badDuration(String)
    /// A claimSelector the API server would refuse (label syntax, operator without values).
    case selector(LabelSelectorError)

    public var description: String {
        switch self {
        case .cron(let e): return e.description
        case .timeZone(let e): return e.description
        case .keepOutOfRange(let keep, let limit) where keep < 1: return "retention maxCount \(keep) must be at least 1 (limit \(limit) per disk)"
        case .keepOutOfRange(let keep, let limit):
            return "R5: keep \(keep) exceeds the per-disk snapshot limit \(limit); a disk holds at most \(limit) snapshots, hand-made ones included"
        case .noClaims: return "a schedule needs PVC names or a non-empty label selector (an empty one would select every PVC)"
        case .badDuration(let t): return "'\(t)' is not a duration such as 36h, 7d or 90m"
        case .selector(let e): return e.description
        }
    }

    /// The rule it enforces, when it is an Everest rule.
    public var rule: String? { if case .keepOutOfRange(let k, _) = self, k >= 1 { return "R5" }; return nil }
}

extension ScheduleSpec {
    /// Parses the spec's cron expression and zone, and checks `maxCount` against R5's limit. Returns the schedule.
    public func validated(zones: ZoneSource, perDiskLimit: Int) throws(ScheduleSpecError) -> CronSchedule {
        if case .names(let n) = claims, n.isEmpty { throw .noClaims }
        if case .selector(let s) = claims {
            if s.isEmpty { throw .noClaims }
            do { try s.validate() } catch { throw .selector(error) }
        }
        let cron: CronExpression
        do { cron = try CronExpression(schedule) } catch { throw .cron(error) }
        let zone: TimeZoneRules
        do { zone = try zones.zone(timeZone) } catch { throw .timeZone(error) }
        guard maxCount >= 1, maxCount <= perDiskLimit else { throw .keepOutOfRange(keep: maxCount, limit: perDiskLimit) }
        return CronSchedule(cron: cron, zone: zone)
    }
}

/// Durations as schedules write them: `90m`, `36h`, `7d`, `1h30m`, `2w`.
public enum ScheduleDuration {
    public static func seconds(_ text: String) throws(ScheduleSpecError) -> Int64 {
        var total: Int64 = 0
        var digits = ""
        var any = false
        for ch in text {
            if ch.isASCIIDigit { digits.append(ch); continue }
            let unit: Int64
            switch ch {
            case "s": unit = 1
            case "m": unit = 60
            case "h": unit = 3600
            case "d": unit = 86_400
            case "w": unit = 604_800
            default: throw .badDuration(text)
            }
            guard let n = Int64(digits), n <= 1_000_000 else { throw .badDuration(text) }
            total += n * unit
            digits = ""
            any = true
        }
        guard any, digits.isEmpty, total > 0 else { throw .badDuration(text) }
        return total
    }

    /// `7d`, `36h`, `90m` for a count of seconds (the largest whole unit of d, h, m).
    public static func text(_ s: Int64) -> String {
        for (u, n) in [("d", Int64(86_400)), ("h", 3600), ("m", 60)] where s % n == 0 { return "\(s / n)\(u)" }
        return "\(s)s"
    }
}
