// Wall-clock time (token expiry, X-Sdk-Date) and call deadlines, without Foundation.
import Glibc

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
        let c = civil(seconds)
        return pad(c.year, 4) + pad(c.month, 2) + pad(c.day, 2) + "T" + pad(c.hour, 2) + pad(c.minute, 2) + pad(c.second, 2) + "Z"
    }

    /// `YYYY-MM-DDTHH:MM:SS.000000Z` (IAM's expires_at, EVS's created_at).
    public static func iso8601(_ seconds: Int64, fraction: Int = 0) -> String {
        let c = civil(seconds)
        return pad(c.year, 4) + "-" + pad(c.month, 2) + "-" + pad(c.day, 2) + "T" + pad(c.hour, 2) + ":" + pad(c.minute, 2)
            + ":" + pad(c.second, 2) + "." + pad(fraction, 6) + "Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM|±HHMM]` (`T` or a space; UTC when no zone is written, as
    /// EVS writes `created_at`) into seconds and nanoseconds since the epoch, UTC: `+08:00` is 8 hours ahead of UTC,
    /// so 08:00+08:00 is 00:00Z. Nil for anything else: a missing or bad field, a day the month does not have, an
    /// offset of 24 hours or more, trailing text. Digits of the fraction beyond nanoseconds are dropped.
    public static func parseISO8601(_ text: String) -> (seconds: Int64, nanos: Int32)? {
        let b = Array(text.utf8)
        func num(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var v = 0
            for i in from..<from + count {
                guard (48...57).contains(b[i]) else { return nil }
                v = v * 10 + Int(b[i] - 48)
            }
            return v
        }
        guard b.count >= 19, b[4] == 45, b[7] == 45, b[10] == 84 || b[10] == 32, b[13] == 58, b[16] == 58,
              let year = num(0, 4), let month = num(5, 2), let day = num(8, 2), let hour = num(11, 2),
              let minute = num(14, 2), let second = num(17, 2),
              (1...12).contains(month), day >= 1, day <= daysIn(month, year), hour < 24, minute < 60, second < 61
        else { return nil }
        var index = 19
        var nanos = 0
        if index < b.count, b[index] == 46 {
            index += 1
            let digits = index
            var scale = 100_000_000
            while index < b.count, (48...57).contains(b[index]) {
                nanos += Int(b[index] - 48) * scale
                scale /= 10
                index += 1
            }
            guard index > digits else { return nil }
        }
        var offset = 0
        if index < b.count {
            switch b[index] {
            case UInt8(ascii: "Z"), UInt8(ascii: "z"):
                index += 1
            case UInt8(ascii: "+"), UInt8(ascii: "-"):
                let sign = b[index] == UInt8(ascii: "+") ? 1 : -1
                let colon = index + 3 < b.count && b[index + 3] == 58
                guard let h = num(index + 1, 2), let m = num(index + (colon ? 4 : 3), 2), h < 24, m < 60 else { return nil }
                offset = sign * (h * 3600 + m * 60)
                index += colon ? 6 : 5
            default:
                return nil
            }
        }
        guard index == b.count else { return nil }
        let days = daysFromCivil(year, month, day)
        return (Int64(days) * 86400 + Int64(hour * 3600 + minute * 60 + second - offset), Int32(nanos))
    }

    private static func daysIn(_ month: Int, _ year: Int) -> Int {
        switch month {
        case 2: year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) ? 29 : 28
        case 4, 6, 9, 11: 30
        default: 31
        }
    }

    private static func pad(_ value: Int, _ width: Int) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    // Howard Hinnant's civil-from-days and days-from-civil.
    private static func civil(_ seconds: Int64) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let days = Int(seconds >= 0 ? seconds / 86400 : (seconds - 86399) / 86400)
        let rem = Int(seconds - Int64(days) * 86400)
        let z = days + 719468
        let era = (z >= 0 ? z : z - 146096) / 146097
        let doe = z - era * 146097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let day = doy - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yoe + era * 400 + (month <= 2 ? 1 : 0)
        return (year, month, day, rem / 3600, rem % 3600 / 60, rem % 60)
    }

    private static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146097 + doe - 719468
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
