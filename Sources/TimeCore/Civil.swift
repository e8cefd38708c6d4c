// TimeCore: the one calendar arithmetic, timestamp reader/writer and duration parser of the schedule domain
// (SnapshotSchedules), the EVS backend (EVSCloud) and the plugin (EVSSnapCLI). It replaces three hand-written
// ISO 8601 readers, two copies of the day-number arithmetic and two duration parsers that disagreed (one read only
// `Z`, one fell back to epoch 0, one needed Foundation); Foundation's ISO8601DateFormatter is out of reach for the
// driver, which links no Foundation. Standard library only, imports nothing: a leaf the domain may depend on.
//
// Instants are whole seconds since 1970-01-01T00:00:00Z (leap seconds ignored, as POSIX time does), plus
// nanoseconds where a fraction is read.

/// Proleptic Gregorian calendar arithmetic on plain integers (day numbers: days since 1970-01-01), era-based and
/// exact for any Int year (Howard Hinnant's days_from_civil / civil_from_days).
public enum Civil {
    /// Days since 1970-01-01 of a proleptic Gregorian date.
    public static func days(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12                      // March = 0
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// The date of a day number.
    public static func date(fromDays z0: Int) -> (year: Int, month: Int, day: Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// The UTC date and time of an instant (seconds since the epoch; negative ones are before it).
    public static func fields(_ seconds: Int64) -> (year: Int, month: Int, day: Int, hour: Int, minute: Int, second: Int) {
        let days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        let rest = Int(seconds - Int64(days) * 86_400)
        let (y, m, d) = date(fromDays: days)
        return (y, m, d, rest / 3600, rest / 60 % 60, rest % 60)
    }

    /// Seconds since the epoch of a UTC date and time.
    public static func seconds(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) -> Int64 {
        Int64(days(year: year, month: month, day: day)) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    /// 0 = Sunday for a day number (1970-01-01 was a Thursday).
    public static func weekday(days: Int) -> Int { ((days % 7) + 7 + 4) % 7 }

    public static func isLeap(_ y: Int) -> Bool { (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 }

    public static func daysInMonth(year: Int, month: Int) -> Int {
        switch month {
        case 2: return isLeap(year) ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// `value` in decimal, zero-padded to `width` digits (dates, times and slot stamps).
    public static func padded(_ value: Int, _ width: Int = 2) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
    }

    /// `2026-03-08T07:00:00Z` for an instant (RFC 3339 in UTC, whole seconds: what the Kubernetes API server writes).
    public static func rfc3339(_ instant: Int64) -> String { RFC3339.format(instant) }
}
