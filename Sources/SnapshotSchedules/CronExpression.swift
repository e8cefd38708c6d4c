// A 5-field cron expression (minute hour day-of-month month day-of-week), as Vixie cron and its descendants
// read it: `*`, numbers, ranges `a-b`, steps `*/n`, `a-b/n`, `a/n` (a to the field's end), lists `a,b-c`,
// month names jan-dec and weekday names sun-sat (any case), Sunday as 0 or 7, and the nicknames
// @yearly/@annually, @monthly, @weekly, @daily/@midnight, @hourly.
//
// Day-of-month and day-of-week: when both are restricted, a day matches if EITHER matches (the standard OR
// rule); when one of them is `*` the other alone decides. A field counts as unrestricted only when it is
// exactly `*` (so `*/2` restricts; croniter decides the same way, Vixie cron looks at the first character).
import TimeCore

/// Why a cron expression was refused.
public enum CronError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Not 5 fields (or an unknown `@nickname`).
    case fieldCount(expression: String, found: Int)
    /// A field's text could not be read.
    case badField(field: String, text: String, reason: String)
    /// The expression is valid but names no date that exists (e.g. `30 2 31 2 *`: February 31st).
    case neverFires(expression: String)

    public var description: String {
        switch self {
        case .fieldCount(let e, let n):
            return "cron expression '\(e)' has \(n) fields; expected 5 (minute hour day-of-month month day-of-week) or @hourly/@daily/@weekly/@monthly/@yearly"
        case .badField(let f, let t, let r): return "cron \(f) field '\(t)': \(r)"
        case .neverFires(let e): return "cron expression '\(e)' never fires: no month has the days it names"
        }
    }
}

/// A parsed cron expression; `matches` tells whether a wall-clock minute is one of its slots.
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
    /// The text as given.
    public let source: String
    /// Bit i set: minute i (0...59).
    public let minutes: UInt64
    /// Bit i set: hour i (0...23).
    public let hours: UInt32
    /// Bit i set: day i (1...31).
    public let daysOfMonth: UInt32
    /// Bit i set: month i (1...12).
    public let months: UInt16
    /// Bit i set: weekday i (0 = Sunday ... 6).
    public let daysOfWeek: UInt8
    /// The day-of-month field was `*`.
    public let anyDayOfMonth: Bool
    /// The day-of-week field was `*`.
    public let anyDayOfWeek: Bool

    private static let nicknames = [
        "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *", "@weekly": "0 0 * * 0",
        "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
    ]
    private static let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    private static let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]

    /// Parses `text`; throws `CronError` for bad syntax and for an expression that can never fire.
    public init(_ text: String) throws(CronError) {
        source = text
        var body = text.trimmingSpaces
        if body.hasPrefix("@") {
            guard let expanded = CronExpression.nicknames[body.lowercased()] else { throw .fieldCount(expression: text, found: 1) }
            body = expanded
        }
        let fields = body.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else { throw .fieldCount(expression: text, found: fields.count) }
        minutes = try CronExpression.field(fields[0], "minute", 0...59, names: [])
        hours = UInt32(try CronExpression.field(fields[1], "hour", 0...23, names: []))
        daysOfMonth = UInt32(try CronExpression.field(fields[2], "day-of-month", 1...31, names: []))
        months = UInt16(try CronExpression.field(fields[3], "month", 1...12, names: CronExpression.monthNames, nameBase: 1))
        var dow = try CronExpression.field(fields[4], "day-of-week", 0...7, names: CronExpression.dayNames)
        if dow & (1 << 7) != 0 { dow = (dow | 1) & 0x7F }   // 7 is Sunday too
        daysOfWeek = UInt8(dow)
        anyDayOfMonth = fields[2] == "*"
        anyDayOfWeek = fields[4] == "*"
        if !firesOnSomeDay { throw .neverFires(expression: text) }
    }

    /// Whether some calendar day (in some year, leap years included) matches the day fields.
    var firesOnSomeDay: Bool {
        if !anyDayOfWeek && !anyDayOfMonth { return true }        // OR rule: every month has every weekday
        if anyDayOfMonth { return true }
        for m in 1...12 where months & (1 << m) != 0 {
            let maxDay = m == 2 ? 29 : Civil.daysInMonth(year: 2001, month: m)
            if UInt64(daysOfMonth) & ((UInt64(1) << UInt64(maxDay + 1)) - 2) != 0 { return true }
        }
        return false
    }

    /// Whether the date matches (month and the day-of-month/day-of-week rule).
    public func matchesDay(year: Int, month: Int, day: Int) -> Bool {
        guard months & (1 << month) != 0 else { return false }
        let dom = daysOfMonth & (1 << day) != 0
        let dow = daysOfWeek & (1 << Civil.weekday(days: Civil.days(year: year, month: month, day: day))) != 0
        if anyDayOfMonth && anyDayOfWeek { return true }
        if anyDayOfMonth { return dow }
        if anyDayOfWeek { return dom }
        return dom || dow
    }

    /// Whether a wall-clock minute is one of the expression's slots (seconds ignored).
    public func matches(_ t: CivilTime) -> Bool {
        minutes & (1 << t.minute) != 0 && hours & (1 << t.hour) != 0 && matchesDay(year: t.year, month: t.month, day: t.day)
    }

    public var description: String { source }

    /// The minutes and hours in ascending order.
    var minuteList: [Int] { (0...59).filter { minutes & (1 << $0) != 0 } }
    var hourList: [Int] { (0...23).filter { hours & (1 << $0) != 0 } }

    private static func field(_ text: String, _ name: String, _ range: ClosedRange<Int>, names: [String],
                              nameBase: Int = 0) throws(CronError) -> UInt64 {
        var bits: UInt64 = 0
        func value(_ s: Substring) throws(CronError) -> Int {
            if let v = Int(s), String(v) == s || s.allSatisfy({ $0.isASCIIDigit }) {
                guard range.contains(v) else {
                    throw .badField(field: name, text: text, reason: "\(v) is outside \(range.lowerBound)-\(range.upperBound)")
                }
                return v
            }
            if let i = names.firstIndex(of: s.lowercased()) { return i + nameBase }
            throw .badField(field: name, text: text, reason: "'\(s)' is not a number\(names.isEmpty ? "" : " or a name")")
        }
        guard !text.isEmpty else { throw .badField(field: name, text: text, reason: "empty") }
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw .badField(field: name, text: text, reason: "empty list element") }
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw .badField(field: name, text: text, reason: "more than one '/' in '\(part)'") }
            var step = 1
            if pieces.count == 2 {
                guard let s = Int(pieces[1]), pieces[1].allSatisfy({ $0.isASCIIDigit }), s >= 1 else {
                    throw .badField(field: name, text: text, reason: "step '\(pieces[1])' is not a whole number ≥ 1")
                }
                guard s <= range.upperBound else {
                    throw .badField(field: name, text: text, reason: "step \(s) is larger than \(range.upperBound)")
                }
                step = s
            }
            var lo: Int, hi: Int
            if pieces[0] == "*" {
                lo = range.lowerBound; hi = range.upperBound
                if name == "day-of-week" { hi = 6 }
            } else if let dash = pieces[0].firstIndex(of: "-") {
                lo = try value(pieces[0][..<dash])
                hi = try value(pieces[0][pieces[0].index(after: dash)...])
                guard lo <= hi else { throw .badField(field: name, text: text, reason: "range \(pieces[0]) runs backwards") }
            } else {
                lo = try value(pieces[0])
                hi = pieces.count == 2 ? (name == "day-of-week" ? 6 : range.upperBound) : lo
            }
            var v = lo
            while v <= hi { bits |= 1 << UInt64(v); v += step }
        }
        return bits
    }
}

extension Character {
    var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension String {
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" { s.removeLast() }
        return String(s)
    }
}
