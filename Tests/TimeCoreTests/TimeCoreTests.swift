import Testing
import TimeCore

/// The one timestamp reader: RFC 3339 as Kubernetes and IAM write it, ISO 8601 as EVS does.
@Suite("RFC 3339 / ISO 8601 reader")
struct RFC3339Tests {
    /// 2016-02-04T01:43:37.445Z written with other offsets and forms: each is the same instant.
    static let sameInstant = ["2016-02-04T01:43:37.445Z", "2016-02-04t01:43:37.445z", "2016-02-04T09:43:37.445+08:00",
                              "2016-02-03T20:13:37.445-05:30", "2016-02-04T01:43:37.445+00:00", "2016-02-04T01:43:37.445-00:00",
                              "2016-02-04T07:28:37.445+0545", "2016-02-04 01:43:37.445Z", "2016-02-04T01:43:37.445000000Z",
                              "2016-02-04T02:43:37.4450000009+01:00", "2016-02-05T01:13:37.445+23:30"]

    @Test("an offset is subtracted: +08:00 is ahead of UTC, -05:30 behind (the day before)", arguments: sameInstant)
    func offsets(text: String) throws {
        let instant = try #require(RFC3339.parse(text))
        #expect(instant == Instant(seconds: 1_454_550_217, nanoseconds: 445_000_000))
    }

    static let refused = ["", "yesterday", "2016-02-30T00:00:00Z", "2015-02-29T00:00:00Z", "2016-13-04T01:43:37Z",
                          "2016-00-04T01:43:37Z", "2016-02-04T24:00:00Z", "2016-02-04T01:60:00Z", "2016-02-04T01:43:61Z",
                          "2016-02-04T01:43:37+24:00", "2016-02-04T01:43:37+08:60", "2016-02-04T01:43:37+08",
                          "2016-02-04T01:43:37.Z", "2016-02-04T01:43:37Z junk", "2016-02-04T01:43:37+08:00:00",
                          "2016-02-04T01:43:37 +08:00", "2016-02-04X01:43:37Z", "2016-2-04T01:43:37Z", "+016-02-04T01:43:37Z",
                          "2016-02-04T01:43:37", "2016-02-04T01:43:37.445"]

    @Test("anything else is nil, never a silent epoch 0 (RFC 3339 needs a zone)", arguments: refused)
    func refuses(text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test("without a zone, only when asked: EVS's created_at is UTC")
    func zoneless() {
        #expect(RFC3339.parse("2016-02-04 01:43:37.445000", zoneRequired: false)
                == Instant(seconds: 1_454_550_217, nanoseconds: 445_000_000))
        #expect(RFC3339.parse("2016-02-04T01:43:37", zoneRequired: false)?.seconds == 1_454_550_217)
        #expect(RFC3339.parse("2016-02-04T01:43:37 junk", zoneRequired: false) == nil)
    }

    @Test("leap day, a leap second, the day before the epoch, far years")
    func edges() {
        #expect(RFC3339.parse("2000-02-29T00:00:00Z")?.seconds == 951_782_400)
        #expect(RFC3339.parse("1970-01-01T07:59:59+08:00")?.seconds == -1)
        #expect(RFC3339.parse("2016-12-31T23:59:60Z")?.seconds == RFC3339.parse("2017-01-01T00:00:00Z")?.seconds)
        #expect(RFC3339.parse("0001-01-01T00:00:00Z")?.seconds == -62_135_596_800)
        #expect(RFC3339.parse("9999-12-31T23:59:59Z")?.seconds == 253_402_300_799)
    }

    @Test("what the writer writes, the reader reads back, for instants across four centuries")
    func roundTrip() throws {
        var seconds: Int64 = -12_219_292_800  // 1582-10-15
        while seconds < 32_503_680_000 {      // 3000-01-01
            let text = RFC3339.format(seconds, nanoseconds: 123_456_789, fractionDigits: 9)
            #expect(RFC3339.parse(text) == Instant(seconds: seconds, nanoseconds: 123_456_789), "\(text)")
            seconds += 86_400 * 37 + 3_607
        }
    }
}

@Suite("Writer and calendar arithmetic")
struct CivilTests {
    @Test("RFC 3339 in UTC, with and without a fraction")
    func format() {
        #expect(Civil.rfc3339(0) == "1970-01-01T00:00:00Z")
        #expect(Civil.rfc3339(-1) == "1969-12-31T23:59:59Z")
        #expect(RFC3339.format(951_782_400, fractionDigits: 6) == "2000-02-29T00:00:00.000000Z")
        #expect(RFC3339.format(1_454_550_217, nanoseconds: 445_000_000, fractionDigits: 3) == "2016-02-04T01:43:37.445Z")
        #expect(Instant(seconds: 1_454_550_217, nanoseconds: 5).description == "2016-02-04T01:43:37.000000005Z")
    }

    @Test("day numbers and dates agree for every day of 1600-2400; weekdays and month lengths")
    func days() {
        var expected = Civil.days(year: 1600, month: 1, day: 1)
        for year in 1600...2400 {
            for month in 1...12 {
                for day in 1...Civil.daysInMonth(year: year, month: month) {
                    #expect(Civil.days(year: year, month: month, day: day) == expected)
                    let back = Civil.date(fromDays: expected)
                    if back != (year, month, day) { Issue.record("\(year)-\(month)-\(day) -> \(back)") }
                    expected += 1
                }
            }
        }
        #expect(Civil.days(year: 1970, month: 1, day: 1) == 0)
        #expect(Civil.weekday(days: 0) == 4)                                       // a Thursday
        #expect(Civil.weekday(days: Civil.days(year: 2026, month: 12, day: 7)) == 1) // a Monday
        #expect(Civil.daysInMonth(year: 1900, month: 2) == 28 && Civil.daysInMonth(year: 2000, month: 2) == 29)
    }
}

@Suite("Duration parser")
struct DurationTextTests {
    @Test("Go's syntax", arguments: [
        ("5m", Duration.seconds(300)), ("30s", .seconds(30)), ("1h30m", .seconds(5400)), ("500ms", .milliseconds(500)),
        ("1.5h", .seconds(5400)), (".5s", .milliseconds(500)), ("1m0.25s", .milliseconds(60_250)), ("0", .zero),
        ("0s", .zero), ("10us", .microseconds(10)), ("10µs", .microseconds(10)), ("7ns", .nanoseconds(7)),
        ("2h45m30.5s", .milliseconds(9_930_500)),
    ] as [(String, Duration)])
    func go(text: String, expected: Duration) {
        #expect(DurationText.parse(text) == expected)
    }

    @Test("refused", arguments: ["", "5", "5x", "m", "-1s", "+1s", "1.2.3s", "1 s", "5d", "1h 30m", "1234567890123s", "."])
    func refused(text: String) {
        #expect(DurationText.parse(text) == nil)
    }

    @Test("a sum too long to hold is refused, never a trap (a CRD's maxAge is anyone's text)")
    func tooLong() {
        #expect(DurationText.parse(String(repeating: "999999999999w", count: 1000), units: [.go, .days]) == nil)
        #expect(DurationText.parse("1000000000000000s") == nil)    // more than 12 digits
        #expect(DurationText.parse("999999999999h") == nil)        // 3.6e15 s, beyond the maximum
        #expect(DurationText.parse("277777777777h") == .seconds(999_999_999_997_200))
    }

    @Test("a bare number is seconds only when asked (kubectl --request-timeout); days and weeks only when asked")
    func options() {
        #expect(DurationText.parse("12", bareNumberIsSeconds: true) == .seconds(12))
        #expect(DurationText.parse("2.5", bareNumberIsSeconds: true) == .milliseconds(2500))
        #expect(DurationText.parse("7d", units: [.go, .days]) == .seconds(604_800))
        #expect(DurationText.parse("2w1d", units: [.go, .days]) == .seconds(1_296_000))
        #expect(DurationText.parse("7d", units: [.days]) == .seconds(604_800))
        #expect(DurationText.parse("7h", units: [.days]) == nil)
        #expect(DurationText.wholeSeconds(.milliseconds(1500)) == nil && DurationText.wholeSeconds(.seconds(90)) == 90)
        #expect(DurationText.seconds(.milliseconds(1500)) == 1.5)
    }
}
