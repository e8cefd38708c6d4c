// The POSIX TZ rule a TZif footer carries (POSIX.1-2017 8.3 with RFC 8536's extensions: hours up to ±167 in
// transition times). Example: `CET-1CEST,M3.5.0,M10.5.0/3`, `EST5EDT,M3.2.0,M11.1.0`, `CST-8`.
import TimeCore

/// A parsed POSIX TZ string: a standard time and optionally a daylight time with its start and end rules.
public struct POSIXTimeZone: Sendable, Hashable {
    /// When DST starts or ends in a year.
    enum DateRule: Sendable, Hashable {
        /// `Jn`: day 1...365, February 29th never counted.
        case julian1(Int)
        /// `n`: day 0...365, February 29th counted.
        case julian0(Int)
        /// `Mm.w.d`: weekday d (0 = Sunday) of week w (1...5, 5 = last) of month m.
        case monthWeekDay(month: Int, week: Int, weekday: Int)

        /// Day number (since 1970-01-01) of the rule's date in `year`.
        func day(in year: Int) -> Int {
            let jan1 = Civil.days(year: year, month: 1, day: 1)
            switch self {
            case .julian1(let n): return jan1 + n - 1 + (Civil.isLeap(year) && n >= 60 ? 1 : 0)
            case .julian0(let n): return jan1 + n
            case .monthWeekDay(let m, let w, let d):
                let first = Civil.days(year: year, month: m, day: 1)
                var day = first + (d - Civil.weekday(days: first) + 7) % 7 + (w - 1) * 7
                let last = first + Civil.daysInMonth(year: year, month: m) - 1
                while day > last { day -= 7 }
                return day
            }
        }
    }

    let std: LocalTimeType
    let dst: LocalTimeType?
    let start: (DateRule, Int)?
    let end: (DateRule, Int)?

    public static func == (a: POSIXTimeZone, b: POSIXTimeZone) -> Bool {
        a.std == b.std && a.dst == b.dst && a.start?.0 == b.start?.0 && a.start?.1 == b.start?.1
            && a.end?.0 == b.end?.0 && a.end?.1 == b.end?.1
    }
    public func hash(into h: inout Hasher) { h.combine(std); h.combine(dst) }

    /// Parses the rule; nil when it is not a POSIX TZ string.
    public init?(_ text: String) {
        var s = Substring(text)
        func name() -> String? {
            if s.first == "<" {
                guard let close = s.firstIndex(of: ">") else { return nil }
                let n = String(s[s.index(after: s.startIndex)..<close])
                s = s[s.index(after: close)...]
                return n.isEmpty ? nil : n
            }
            let n = s.prefix(while: { $0.isLetter })
            guard n.count >= 3 else { return nil }
            s = s.dropFirst(n.count)
            return String(n)
        }
        /// `[+-]hh[:mm[:ss]]` in seconds.
        func clock(maxHours: Int) -> Int? {
            var sign = 1
            if s.first == "+" { s.removeFirst() } else if s.first == "-" { sign = -1; s.removeFirst() }
            var parts: [Int] = []
            while true {
                let digits = s.prefix(while: { $0.isASCIIDigit })
                guard !digits.isEmpty, digits.count <= 3, let v = Int(digits) else { return nil }
                parts.append(v)
                s = s.dropFirst(digits.count)
                guard parts.count < 3, s.first == ":" else { break }
                s.removeFirst()
            }
            guard parts[0] <= maxHours, parts.count < 2 || parts[1] < 60, parts.count < 3 || parts[2] < 60 else { return nil }
            return sign * (parts[0] * 3600 + (parts.count > 1 ? parts[1] * 60 : 0) + (parts.count > 2 ? parts[2] : 0))
        }
        func rule() -> (DateRule, Int)? {
            var r: DateRule
            if s.first == "J" {
                s.removeFirst()
                let d = s.prefix(while: { $0.isASCIIDigit }); s = s.dropFirst(d.count)
                guard let n = Int(d), (1...365).contains(n) else { return nil }
                r = .julian1(n)
            } else if s.first == "M" {
                s.removeFirst()
                var nums: [Int] = []
                for i in 0..<3 {
                    let d = s.prefix(while: { $0.isASCIIDigit }); s = s.dropFirst(d.count)
                    guard let n = Int(d) else { return nil }
                    nums.append(n)
                    if i < 2 { guard s.first == "." else { return nil }; s.removeFirst() }
                }
                guard (1...12).contains(nums[0]), (1...5).contains(nums[1]), (0...6).contains(nums[2]) else { return nil }
                r = .monthWeekDay(month: nums[0], week: nums[1], weekday: nums[2])
            } else {
                let d = s.prefix(while: { $0.isASCIIDigit }); s = s.dropFirst(d.count)
                guard let n = Int(d), (0...365).contains(n) else { return nil }
                r = .julian0(n)
            }
            var time = 7200
            if s.first == "/" {
                s.removeFirst()
                guard let t = clock(maxHours: 167) else { return nil }
                time = t
            }
            return (r, time)
        }
        guard let stdName = name(), let stdOff = clock(maxHours: 24) else { return nil }
        std = LocalTimeType(offset: -stdOff, isDST: false, abbreviation: stdName)
        if s.isEmpty { dst = nil; start = nil; end = nil; return }
        guard let dstName = name() else { return nil }
        var dstOffset = std.offset + 3600
        if let f = s.first, f != "," {
            guard let o = clock(maxHours: 24) else { return nil }
            dstOffset = -o
        }
        dst = LocalTimeType(offset: dstOffset, isDST: true, abbreviation: dstName)
        if s.isEmpty {
            start = (.monthWeekDay(month: 3, week: 2, weekday: 0), 7200)    // POSIX leaves it to the system; US rules
            end = (.monthWeekDay(month: 11, week: 1, weekday: 0), 7200)
            return
        }
        guard s.first == "," else { return nil }
        s.removeFirst()
        guard let a = rule(), s.first == "," else { return nil }
        s.removeFirst()
        guard let b = rule(), s.isEmpty else { return nil }
        start = a; end = b
    }

    /// The type in force at `instant`.
    func type(at instant: Int64) -> LocalTimeType {
        guard let dst, let start, let end else { return std }
        let year = CivilTime(wallSeconds: instant + Int64(std.offset)).year
        // Check the year before and after too: a rule's instant may fall in a neighbouring UTC year.
        var best: (Int64, Bool)? = nil
        for y in (year - 1)...(year + 1) {
            let on = Int64(start.0.day(in: y)) * 86_400 + Int64(start.1) - Int64(std.offset)
            let off = Int64(end.0.day(in: y)) * 86_400 + Int64(end.1) - Int64(dst.offset)
            for (t, isDST) in [(on, true), (off, false)] where t <= instant {
                if best == nil || t > best!.0 { best = (t, isDST) }
            }
        }
        return (best?.1 ?? false) ? dst : std
    }
}
