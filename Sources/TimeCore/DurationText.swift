// Durations as Kubernetes and Go write them (`30s`, `1h30m`, `500ms`, `1.5h`), and as schedules do (`7d`, `2w`).

/// The one duration parser: a sequence of `<number><unit>` summed, where a number may have a fraction (`1.5h`,
/// `.5s`); Go's `time.ParseDuration` without signs, plus units Go lacks when asked for.
public enum DurationText {
    /// Which units are read.
    public struct Units: OptionSet, Sendable {
        public let rawValue: Int
        public init(rawValue: Int) { self.rawValue = rawValue }
        /// Go's units: `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`.
        public static let go = Units(rawValue: 1)
        /// Days and weeks: `d` (86,400 s) and `w` (7 d), which Go does not have.
        public static let days = Units(rawValue: 2)
    }

    /// The duration `text` states, or nil when it is empty, has a sign or a space, a unit not in `units`, a number
    /// of more than 12 whole digits, a sum beyond `maximum` (about 31.7 million years: text from a user or an API
    /// server is refused, never a trap), or is one number without a unit: only `0` is, unless `bareNumberIsSeconds`
    /// (kubectl's `--request-timeout=5`). Zero is a duration; callers that need more say so. Fraction digits beyond
    /// nanoseconds of the unit are dropped.
    public static func parse(_ text: String, units: Units = .go, bareNumberIsSeconds: Bool = false) -> Duration? {
        let b = Array(text.utf8)
        var index = 0
        if b.allSatisfy({ isDigit($0) || $0 == UInt8(ascii: ".") }) {
            guard let n = number(b, &index), index == b.count else { return nil }
            guard bareNumberIsSeconds || (n.whole == 0 && n.fraction == 0) else { return nil }
            return scaled(n, .seconds(1))
        }
        var total = Duration.zero
        while index < b.count {
            guard let n = number(b, &index), let (unit, length) = unit(b, at: index, units: units) else { return nil }
            index += length
            // One term is at most 10^12 weeks (about 6e17 s), far inside Duration's range; the check keeps the sum so.
            total += scaled(n, unit)
            guard total <= maximum else { return nil }
        }
        return total
    }

    /// The longest duration read: 10^15 seconds.
    public static let maximum = Duration.seconds(1_000_000_000_000_000)

    /// Whole seconds of `duration`; nil when it has a fraction of a second.
    public static func wholeSeconds(_ duration: Duration) -> Int64? {
        let (seconds, attoseconds) = duration.components
        return attoseconds == 0 ? seconds : nil
    }

    /// Seconds of `duration` as a Double.
    public static func seconds(_ duration: Duration) -> Double {
        let (seconds, attoseconds) = duration.components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    private typealias Number = (whole: Int64, fraction: Int64, fractionDigits: Int)

    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }

    /// `<digits>[.<digits>]` at `index`, at least one digit in all.
    private static func number(_ b: [UInt8], _ index: inout Int) -> Number? {
        var whole: Int64 = 0, wholeDigits = 0
        while index < b.count, isDigit(b[index]) {
            whole = whole * 10 + Int64(b[index] - 0x30)
            wholeDigits += 1
            index += 1
            if wholeDigits > 12 { return nil }
        }
        var fraction: Int64 = 0, fractionDigits = 0, anyFraction = false
        if index < b.count, b[index] == UInt8(ascii: ".") {
            index += 1
            while index < b.count, isDigit(b[index]) {
                if fractionDigits < 9 {
                    fraction = fraction * 10 + Int64(b[index] - 0x30)
                    fractionDigits += 1
                }
                anyFraction = true
                index += 1
            }
        }
        guard wholeDigits > 0 || anyFraction else { return nil }
        return (whole, fraction, fractionDigits)
    }

    /// The unit at `index` and its length in bytes (`ms` before `m`).
    private static func unit(_ b: [UInt8], at index: Int, units: Units) -> (Duration, Int)? {
        func starts(_ text: String) -> Bool {
            let u = Array(text.utf8)
            return index + u.count <= b.count && b[index..<index + u.count].elementsEqual(u)
        }
        if units.contains(.go) {
            for (name, unit) in [("ns", Duration.nanoseconds(1)), ("us", .microseconds(1)), ("µs", .microseconds(1)),
                                 ("ms", .milliseconds(1)), ("s", .seconds(1)), ("m", .seconds(60)), ("h", .seconds(3600))]
            where starts(name) {
                return (unit, name.utf8.count)
            }
        }
        if units.contains(.days) {
            if starts("d") { return (.seconds(86_400), 1) }
            if starts("w") { return (.seconds(604_800), 1) }
        }
        return nil
    }

    private static func scaled(_ n: Number, _ unit: Duration) -> Duration {
        var result = unit * n.whole
        if n.fractionDigits > 0 {
            var divisor: Int64 = 1
            for _ in 0..<n.fractionDigits { divisor *= 10 }
            result += unit * n.fraction / divisor
        }
        return result
    }
}
