// Proleptic Gregorian calendar arithmetic on plain integers: no Foundation, no Calendar.
// Instants are whole seconds since 1970-01-01T00:00:00Z (leap seconds ignored, as POSIX time does).

/// A wall-clock date and time to the minute (seconds are always zero for cron), in no particular zone.
public struct CivilTime: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var year: Int
    /// 1...12
    public var month: Int
    /// 1...31
    public var day: Int
    /// 0...23
    public var hour: Int
    /// 0...59
    public var minute: Int
    /// 0...59 (only kept for conversions; cron slots have 0).
    public var second: Int

    public init(year: Int, month: Int, day: Int, hour: Int = 0, minute: Int = 0, second: Int = 0) {
        self.year = year; self.month = month; self.day = day; self.hour = hour; self.minute = minute; self.second = second
    }

    /// The civil time `seconds` after the epoch in a zone whose offset is 0 (i.e. read the number as wall seconds).
    public init(wallSeconds seconds: Int64) {
        let days = Int(seconds >= 0 ? seconds / 86_400 : (seconds - 86_399) / 86_400)
        let rest = Int(seconds - Int64(days) * 86_400)
        let (y, m, d) = Civil.date(fromDays: days)
        self.init(year: y, month: m, day: d, hour: rest / 3600, minute: rest / 60 % 60, second: rest % 60)
    }

    /// Seconds since the epoch if this wall time were UTC ("wall seconds").
    public var wallSeconds: Int64 {
        Int64(Civil.days(year: year, month: month, day: day)) * 86_400 + Int64(hour * 3600 + minute * 60 + second)
    }

    /// 0 = Sunday ... 6 = Saturday.
    public var weekday: Int { Civil.weekday(days: Civil.days(year: year, month: month, day: day)) }

    public static func < (a: CivilTime, b: CivilTime) -> Bool { a.wallSeconds < b.wallSeconds }

    /// `2026-03-08 02:30` (ISO-like, minutes; seconds shown only when not zero).
    public var description: String {
        return "\(Civil.padded(year, 4))-\(Civil.padded(month))-\(Civil.padded(day)) \(Civil.padded(hour)):\(Civil.padded(minute))" + (second == 0 ? "" : ":\(Civil.padded(second))")
    }
}

/// Day-number helpers (days since 1970-01-01).
public enum Civil {
    /// Days since 1970-01-01 of a proleptic Gregorian date (era-based: exact for any Int year).
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

    /// `value` in decimal, zero-padded to `width` digits (dates, times and slot stamps).
    static func padded(_ value: Int, _ width: Int = 2) -> String {
        let text = String(value)
        return String(repeating: "0", count: max(0, width - text.count)) + text
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

    /// `2026-03-08T07:00:00Z` for an instant.
    public static func rfc3339(_ instant: Int64) -> String {
        let c = CivilTime(wallSeconds: instant)
        return "\(Civil.padded(c.year, 4))-\(Civil.padded(c.month))-\(Civil.padded(c.day))T\(Civil.padded(c.hour)):\(Civil.padded(c.minute)):\(Civil.padded(c.second))Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SSZ` (what the API server writes; fractional seconds and offsets accepted).
    public static func parseRFC3339(_ text: String) -> Int64? {
        let u = Array(text.utf8)
        guard u.count >= 20 else { return nil }
        func num(_ a: Int, _ n: Int) -> Int? {
            var v = 0
            for i in a..<(a + n) { guard u[i] >= 48, u[i] <= 57 else { return nil }; v = v * 10 + Int(u[i] - 48) }
            return v
        }
        guard let y = num(0, 4), u[4] == 45, let mo = num(5, 2), u[7] == 45, let d = num(8, 2),
              u[10] == 84 || u[10] == 116 || u[10] == 32, let h = num(11, 2), u[13] == 58, let mi = num(14, 2), u[16] == 58,
              let s = num(17, 2), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61 else { return nil }
        var i = 19
        if i < u.count, u[i] == 46 { i += 1; while i < u.count, u[i] >= 48, u[i] <= 57 { i += 1 } }
        guard i < u.count else { return nil }
        var offset = 0
        if u[i] == 90 || u[i] == 122 { i += 1 } else if u[i] == 43 || u[i] == 45, i + 6 <= u.count, let oh = num(i + 1, 2), let om = num(i + 4, 2) {
            offset = (oh * 3600 + om * 60) * (u[i] == 45 ? -1 : 1)
            i += 6
        } else { return nil }
        guard i == u.count else { return nil }
        return CivilTime(year: y, month: mo, day: d, hour: h, minute: mi, second: s).wallSeconds - Int64(offset)
    }
}
