// Wall-clock times for cron, on TimeCore's calendar arithmetic (`Civil`: day numbers, weekdays, month lengths).
// Instants are whole seconds since 1970-01-01T00:00:00Z (leap seconds ignored, as POSIX time does).
import TimeCore

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
        let c = Civil.fields(seconds)
        self.init(year: c.year, month: c.month, day: c.day, hour: c.hour, minute: c.minute, second: c.second)
    }

    /// Seconds since the epoch if this wall time were UTC ("wall seconds").
    public var wallSeconds: Int64 {
        Civil.seconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
    }

    /// 0 = Sunday ... 6 = Saturday.
    public var weekday: Int { Civil.weekday(days: Civil.days(year: year, month: month, day: day)) }

    public static func < (a: CivilTime, b: CivilTime) -> Bool { a.wallSeconds < b.wallSeconds }

    /// `2026-03-08 02:30` (ISO-like, minutes; seconds shown only when not zero).
    public var description: String {
        return "\(Civil.padded(year, 4))-\(Civil.padded(month))-\(Civil.padded(day)) \(Civil.padded(hour)):\(Civil.padded(minute))" + (second == 0 ? "" : ":\(Civil.padded(second))")
    }
}
