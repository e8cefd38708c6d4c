// IANA time zones from TZif files (RFC 8536), parsed from bytes with no dependency, and the POSIX TZ rule of a
// TZif footer for instants after the last listed transition (e.g. `CET-1CEST,M3.5.0,M10.5.0/3`).
// Reading the file is the caller's job (`ZoneSource`), so the parse is pure and testable with any bytes.
// Leap-second ("right/") files are read but their leap records are ignored: instants stay POSIX seconds.

/// Why a time zone could not be used.
public enum TimeZoneError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The name is not an IANA zone name (`Asia/Shanghai`, `UTC`): empty, absolute, `..`, odd characters.
    case badName(String)
    /// No zone of that name in the zone database.
    case unknown(String)
    /// The file is not a TZif file we can read.
    case malformed(name: String, reason: String)

    public var description: String {
        switch self {
        case .badName(let n): return "time zone '\(n)' is not an IANA zone name such as Asia/Shanghai or UTC"
        case .unknown(let n): return "unknown time zone '\(n)' (no such zone in the IANA time zone database)"
        case .malformed(let n, let r): return "time zone '\(n)': not a readable TZif file (\(r))"
        }
    }
}

/// One local time type: UTC offset in seconds (east positive), DST flag, abbreviation.
public struct LocalTimeType: Sendable, Hashable {
    public var offset: Int
    public var isDST: Bool
    public var abbreviation: String
}

/// How a wall-clock time maps to instants in a zone.
public enum WallTimeResolution: Sendable, Hashable {
    /// Exactly one instant.
    case unique(Int64)
    /// The clocks went back: the wall time happened twice, at these two instants (earlier first).
    case repeated(Int64, Int64)
    /// The clocks went forward over it: it never happened. `resumes` is the instant the clocks jumped (the first
    /// instant after the gap).
    case skipped(resumes: Int64)
}

/// A zone's rules: transitions from its TZif data, then its POSIX rule for later instants.
public struct TimeZoneRules: Sendable, Hashable {
    /// The IANA name (`Asia/Shanghai`).
    public let name: String
    /// Transition instants, ascending, and the type in force from each.
    let transitions: [Int64]
    let transitionTypes: [Int]
    let types: [LocalTimeType]
    /// The footer rule for instants after the last transition (nil: the last type stays).
    let footer: POSIXTimeZone?

    /// UTC itself.
    public static let utc = TimeZoneRules(name: "UTC", transitions: [], transitionTypes: [],
                                          types: [LocalTimeType(offset: 0, isDST: false, abbreviation: "UTC")], footer: nil)

    init(name: String, transitions: [Int64], transitionTypes: [Int], types: [LocalTimeType], footer: POSIXTimeZone?) {
        self.name = name; self.transitions = transitions; self.transitionTypes = transitionTypes; self.types = types; self.footer = footer
    }

    /// Parses TZif bytes (versions 1 to 4; the 64-bit block when present).
    public init(name: String, tzif bytes: [UInt8]) throws(TimeZoneError) {
        self.name = name
        var r = ByteReader(bytes: bytes)
        func fail(_ why: String) -> TimeZoneError { .malformed(name: name, reason: why) }
        func header(_ r: inout ByteReader) throws(TimeZoneError) -> (version: UInt8, counts: [Int]) {
            guard let magic = r.take(4), magic == Array("TZif".utf8) else { throw fail("no TZif magic") }
            guard let v = r.take(1)?.first, r.take(15) != nil else { throw fail("short header") }
            var counts: [Int] = []
            for _ in 0..<6 {
                guard let c = r.u32() else { throw fail("short header") }
                counts.append(Int(c))
            }
            return (v, counts)
        }
        let (version, c1) = try header(&r)
        // counts: isutcnt, isstdcnt, leapcnt, timecnt, typecnt, charcnt
        var counts = c1
        var timeSize = 4
        if version >= 0x32 {   // '2', '3', '4': skip the v1 block, read the 64-bit one
            let v1 = c1[3] * 4 + c1[3] + c1[4] * 6 + c1[5] + c1[2] * 8 + c1[1] + c1[0]
            guard r.take(v1) != nil else { throw fail("short v1 data block") }
            counts = try header(&r).counts
            timeSize = 8
        }
        let (isut, isstd, leap, timecnt, typecnt, charcnt) = (counts[0], counts[1], counts[2], counts[3], counts[4], counts[5])
        guard typecnt >= 1, typecnt <= 256, timecnt < 100_000, charcnt < 10_000 else { throw fail("bad counts") }
        var trans: [Int64] = []
        for _ in 0..<timecnt {
            guard let t = timeSize == 8 ? r.i64() : r.u32().map({ Int64(Int32(bitPattern: $0)) }) else { throw fail("short transitions") }
            if let last = trans.last, t <= last { throw fail("transitions not ascending") }
            trans.append(t)
        }
        guard let idx = r.take(timecnt) else { throw fail("short transition types") }
        var rawTypes: [(Int, Bool, Int)] = []
        for _ in 0..<typecnt {
            guard let off = r.u32(), let dst = r.take(1)?.first, let ai = r.take(1)?.first else { throw fail("short types") }
            rawTypes.append((Int(Int32(bitPattern: off)), dst != 0, Int(ai)))
        }
        guard let chars = r.take(charcnt) else { throw fail("short abbreviations") }
        guard r.take(leap * (timeSize + 4)) != nil, r.take(isstd) != nil, r.take(isut) != nil else { throw fail("short trailer") }
        types = try rawTypes.map { (off, dst, ai) throws(TimeZoneError) in
            guard ai < max(charcnt, 1), abs(off) < 26 * 3600 else { throw fail("bad local time type") }
            var end = ai
            while end < chars.count, chars[end] != 0 { end += 1 }
            return LocalTimeType(offset: off, isDST: dst, abbreviation: String(decoding: chars[min(ai, chars.count)..<end], as: UTF8.self))
        }
        transitionTypes = try idx.map { (i: UInt8) throws(TimeZoneError) -> Int in
            guard Int(i) < typecnt else { throw fail("transition type out of range") }
            return Int(i)
        }
        transitions = trans
        var foot: POSIXTimeZone?
        if version >= 0x32 {
            guard r.take(1) == [0x0A] else { throw fail("no footer") }
            var text: [UInt8] = []
            while let b = r.take(1)?.first, b != 0x0A { text.append(b) }
            if !text.isEmpty {
                guard let p = POSIXTimeZone(String(decoding: text, as: UTF8.self)) else {
                    throw fail("footer '\(String(decoding: text, as: UTF8.self))' is not a POSIX TZ rule")
                }
                foot = p
            }
        }
        footer = foot
    }

    /// The local time type in force at `instant`.
    public func type(at instant: Int64) -> LocalTimeType {
        if let last = transitions.last, instant >= last, let footer { return footer.type(at: instant) }
        if transitions.isEmpty || instant < transitions[0] {
            if transitions.isEmpty, let footer { return footer.type(at: instant) }
            return types[0]
        }
        var lo = 0, hi = transitions.count - 1           // last index with transitions[i] <= instant
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if transitions[mid] <= instant { lo = mid } else { hi = mid - 1 }
        }
        return types[transitionTypes[lo]]
    }

    /// UTC offset in seconds at `instant`.
    public func offset(at instant: Int64) -> Int { type(at: instant).offset }

    /// The wall-clock time at `instant`.
    public func wallTime(at instant: Int64) -> CivilTime { CivilTime(wallSeconds: instant + Int64(offset(at: instant))) }

    /// The instants a wall-clock time maps to. Assumes offsets change at most once within a day of it (true of
    /// every zone in the database).
    public func resolve(_ wall: CivilTime) -> WallTimeResolution {
        let w = wall.wallSeconds
        let early = offset(at: w - 86_400 - 26 * 3600), late = offset(at: w + 86_400 + 26 * 3600)
        let t1 = w - Int64(early), t2 = w - Int64(late)
        let ok1 = offset(at: t1) == early, ok2 = offset(at: t2) == late
        switch (ok1, ok2) {
        case (true, true): return t1 == t2 ? .unique(t1) : .repeated(min(t1, t2), max(t1, t2))
        case (true, false): return .unique(t1)
        case (false, true): return .unique(t2)
        case (false, false):
            // In a gap: the offset changes from `early` to `late` between t2 and t1; find the jump.
            var lo = min(t1, t2), hi = max(t1, t2)       // offset(lo) == early, offset(hi) == late
            while hi - lo > 1 {
                let mid = lo + (hi - lo) / 2
                if offset(at: mid) == early { lo = mid } else { hi = mid }
            }
            return .skipped(resumes: hi)
        }
    }
}

/// Reads zones by IANA name. The bytes come from `read` (a file reader over a zoneinfo directory in the
/// programs, a dictionary in tests); `UTC`/`Etc/UTC` need no file.
public struct ZoneSource: Sendable {
    let read: @Sendable (String) -> [UInt8]?

    /// `read(name)` returns the TZif bytes of zone `name`, or nil when there is none.
    public init(read: @escaping @Sendable (String) -> [UInt8]?) { self.read = read }

    /// Whether `name` looks like an IANA zone name (letters, digits, `_+-`, `/`-separated, no `..`).
    public static func isValidName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 255, !name.hasPrefix("/"), !name.hasSuffix("/") else { return false }
        for part in name.split(separator: "/", omittingEmptySubsequences: false) {
            guard !part.isEmpty, part != ".", part != "..", !part.hasPrefix("-") else { return false }
            guard part.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "_+-".contains($0)) }) else { return false }
        }
        return true
    }

    /// The rules of zone `name`.
    public func zone(_ name: String) throws(TimeZoneError) -> TimeZoneRules {
        guard ZoneSource.isValidName(name) else { throw .badName(name) }
        if name == "UTC" || name == "Etc/UTC" { return TimeZoneRules.utc }
        guard let bytes = read(name) else { throw .unknown(name) }
        return try TimeZoneRules(name: name, tzif: bytes)
    }
}

struct ByteReader {
    let bytes: [UInt8]
    var at = 0
    mutating func take(_ n: Int) -> [UInt8]? {
        guard n >= 0, at + n <= bytes.count else { return nil }
        defer { at += n }
        return Array(bytes[at..<(at + n)])
    }
    mutating func u32() -> UInt32? {
        guard let b = take(4) else { return nil }
        return b.reduce(0) { $0 << 8 | UInt32($1) }
    }
    mutating func i64() -> Int64? {
        guard let b = take(8) else { return nil }
        return Int64(bitPattern: b.reduce(0) { $0 << 8 | UInt64($1) })
    }
}
