// Timestamps as the APIs write them: RFC 3339 (Kubernetes' metav1.Time and MicroTime, IAM's expires_at) and the
// ISO 8601 forms EVS uses (`created_at` with a space or `T`, often without a zone: UTC).

/// An instant read from text: seconds since the epoch (UTC) and the nanoseconds of its fraction.
public struct Instant: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var seconds: Int64
    /// 0 ..< 1_000_000_000.
    public var nanoseconds: Int32

    public init(seconds: Int64, nanoseconds: Int32 = 0) {
        self.seconds = seconds
        self.nanoseconds = nanoseconds
    }

    /// Seconds since the epoch as a Double (what Foundation's `Date(timeIntervalSince1970:)` takes).
    public var secondsSince1970: Double { Double(seconds) + Double(nanoseconds) / 1e9 }

    public static func < (a: Instant, b: Instant) -> Bool { (a.seconds, a.nanoseconds) < (b.seconds, b.nanoseconds) }

    /// RFC 3339 in UTC, with nine fraction digits when there is a fraction.
    public var description: String { RFC3339.format(seconds, nanoseconds: nanoseconds, fractionDigits: nanoseconds == 0 ? 0 : 9) }
}

/// The one reader and writer of timestamps.
public enum RFC3339 {
    /// Reads `YYYY-MM-DD(T|t| )HH:MM:SS[.fraction](Z|z|±HH:MM|±HHMM)`, the offset read as RFC 3339 says: local time
    /// minus the offset is UTC, so `09:43:37+08:00` and `20:13:37-05:30` (the day before) are `01:43:37Z`.
    /// `zoneRequired: false` also reads a time with no zone as UTC (EVS writes `created_at` so); RFC 3339 itself
    /// requires one. Nil for anything else: a missing or non-digit field, a month, day (for that month and year),
    /// hour, minute or second out of range (60 is read, for a leap second), an empty fraction, an offset of 24 hours
    /// or more, text after the zone. Fraction digits beyond nanoseconds are dropped.
    public static func parse(_ text: String, zoneRequired: Bool = true) -> Instant? {
        if let result = text.utf8.withContiguousStorageIfAvailable({ parse(bytes: $0, zoneRequired: zoneRequired) }) {
            return result
        }
        return Array(text.utf8).withUnsafeBufferPointer { parse(bytes: $0, zoneRequired: zoneRequired) }
    }

    /// `parse` on UTF-8 bytes.
    public static func parse(bytes b: UnsafeBufferPointer<UInt8>, zoneRequired: Bool = true) -> Instant? {
        func number(_ from: Int, _ count: Int) -> Int? {
            guard from + count <= b.count else { return nil }
            var value = 0
            for i in from..<from + count {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                value = value * 10 + Int(b[i] - 0x30)
            }
            return value
        }
        let dash = UInt8(ascii: "-"), colon = UInt8(ascii: ":")
        guard b.count >= 19, b[4] == dash, b[7] == dash, b[13] == colon, b[16] == colon,
              b[10] == UInt8(ascii: "T") || b[10] == UInt8(ascii: "t") || b[10] == UInt8(ascii: " "),
              let year = number(0, 4), let month = number(5, 2), let day = number(8, 2),
              let hour = number(11, 2), let minute = number(14, 2), let second = number(17, 2),
              (1...12).contains(month), day >= 1, day <= Civil.daysInMonth(year: year, month: month),
              hour < 24, minute < 60, second <= 60
        else { return nil }
        var index = 19
        var nanos = 0
        if index < b.count, b[index] == UInt8(ascii: ".") {
            index += 1
            let first = index
            var scale = 100_000_000
            while index < b.count, b[index] >= 0x30, b[index] <= 0x39 {
                nanos += Int(b[index] - 0x30) * scale
                scale /= 10
                index += 1
            }
            guard index > first else { return nil }
        }
        var offset = 0
        if index == b.count {
            guard !zoneRequired else { return nil }
        } else {
            switch b[index] {
            case UInt8(ascii: "Z"), UInt8(ascii: "z"):
                index += 1
            case UInt8(ascii: "+"), dash:
                let sign = b[index] == dash ? -1 : 1
                let extended = index + 3 < b.count && b[index + 3] == colon
                guard let h = number(index + 1, 2), let m = number(index + (extended ? 4 : 3), 2), h < 24, m < 60 else {
                    return nil
                }
                offset = sign * (h * 3600 + m * 60)
                index += extended ? 6 : 5
            default:
                return nil
            }
        }
        guard index == b.count else { return nil }
        let local = Civil.seconds(year: year, month: month, day: day, hour: hour, minute: minute, second: second)
        return Instant(seconds: local - Int64(offset), nanoseconds: Int32(nanos))
    }

    /// `2026-03-08T07:00:00Z`, or with `fractionDigits` (1...9) of `nanoseconds`: `2026-03-08T07:00:00.123456Z`.
    public static func format(_ seconds: Int64, nanoseconds: Int32 = 0, fractionDigits: Int = 0) -> String {
        let c = Civil.fields(seconds)
        var text = Civil.padded(c.year, 4) + "-" + Civil.padded(c.month) + "-" + Civil.padded(c.day) + "T"
            + Civil.padded(c.hour) + ":" + Civil.padded(c.minute) + ":" + Civil.padded(c.second)
        if fractionDigits > 0 {
            let digits = min(fractionDigits, 9)
            var scale = 1
            for _ in digits..<9 { scale *= 10 }
            text += "." + Civil.padded(Int(nanoseconds) / scale, digits)
        }
        return text + "Z"
    }
}
