// Wall-clock time (token expiry, X-Sdk-Date) and call deadlines, without Foundation. Dates are TimeCore's: its
// calendar arithmetic writes X-Sdk-Date, its one RFC 3339 reader reads IAM's expires_at and EVS's created_at.
import Glibc
import TimeCore

/// Seconds since the Unix epoch, UTC, as text in the formats the APIs use.
public enum WallClock {
    /// Now, in whole seconds since the epoch.
    public static func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }

    /// `YYYYMMDDTHHMMSSZ` (the X-Sdk-Date header).
    public static func sdkDate(_ seconds: Int64) -> String {
        let c = Civil.fields(seconds)
        return Civil.padded(c.year, 4) + Civil.padded(c.month) + Civil.padded(c.day) + "T" + Civil.padded(c.hour)
            + Civil.padded(c.minute) + Civil.padded(c.second) + "Z"
    }

    /// Reads a time as EVS and IAM write it (`created_at`, `expires_at`): RFC 3339, or ISO 8601 with a space for
    /// `T` and no zone, which is UTC (`TimeCore.RFC3339.parse` with `zoneRequired: false`). Any offset is read
    /// right: 08:00+08:00 is 00:00Z. Nil for anything else; callers treat that as a malformed answer.
    public static func parseISO8601(_ text: String) -> Instant? {
        RFC3339.parse(text, zoneRequired: false)
    }
}

/// The instant a call must be answered by.
public struct CallBudget: Sendable {
    /// The deadline.
    public let deadline: ContinuousClock.Instant

    /// A deadline `duration` from now.
    public init(_ duration: Duration) { deadline = .now + duration }
    /// A given deadline.
    public init(deadline: ContinuousClock.Instant) { self.deadline = deadline }

    /// Time left (zero when past).
    public var remaining: Duration { max(.zero, deadline - .now) }
    /// Whether the deadline has passed.
    public var isExpired: Bool { ContinuousClock.now >= deadline }
}

/// Sleeps the calling thread.
func sleepFor(_ duration: Duration) {
    guard duration > .zero else { return }
    let (seconds, attoseconds) = duration.components
    var request = timespec(tv_sec: Int(seconds), tv_nsec: Int(attoseconds / 1_000_000_000))
    var remaining = timespec()
    while nanosleep(&request, &remaining) != 0 && errno == EINTR { request = remaining }
}
