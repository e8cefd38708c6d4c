import Testing
@testable import EVSSnapshotRules

/// R12: Kubernetes quantities, checked against the strings Kubernetes itself prints.
@Suite("R12 quantities")
struct QuantityTests {
    /// (input, canonical form Kubernetes computes)
    static let canonicalForms: [(String, String)] = [
        ("0", "0"), ("00", "0"), ("-0", "0"), ("0Gi", "0"),
        ("10", "10"), ("10Gi", "10Gi"), ("10G", "10G"), ("1024Mi", "1Gi"), ("1.5Gi", "1536Mi"),
        ("100Mi", "100Mi"), ("100M", "100M"), ("1500m", "1500m"), ("1.5", "1500m"), (".5", "500m"),
        ("1000", "1k"), ("1000k", "1M"), ("1.5M", "1500k"), ("0.001", "1m"), ("1n", "1n"), ("0.1n", "1n"),
        ("1e3", "1e3"), ("1E3", "1e3"), ("12e2", "1200"), ("1e-3", "1e-3"), ("1e+3", "1e3"),
        ("1Ki", "1Ki"), ("0.5Ki", "512"), ("1536", "1536"), ("2048", "2048"), ("-1Gi", "-1Gi"),
        ("10737418240", "10737418240"), ("1.", "1"), ("1.G", "1G"), ("+1Gi", "1Gi"), ("1E", "1E"),
        ("32Ti", "32Ti"), ("0.0001Ki", "102400u"), ("-0.1n", "-1n"), ("12e6", "12e6"),
        ("10000000Ki", "10000000Ki"), ("8Ei", "9223372036854775807"), ("1Ei", "1Ei"), ("1.1Ki", "1126400m"),
    ]

    @Test("R12: canonical form as Kubernetes prints it", arguments: canonicalForms)
    func canonical(input: String, expected: String) throws {
        #expect(try Quantity(parsing: input).canonical == expected)
    }

    /// Kubernetes' String() keeps some inputs verbatim (its int64 fast path); everything else is canonical.
    static let kubernetesStrings: [(String, String)] = [
        ("+10Gi", "+10Gi"), ("010Gi", "010Gi"), ("1024Mi", "1Gi"), ("10Gi", "10Gi"), ("1000", "1k"),
        ("1.5Gi", "1536Mi"), ("100m", "100m"), ("0", "0"), ("0.5", "500m"), ("8Mi", "8Mi"),
    ]

    @Test("R12: Kubernetes String() including its verbatim cache", arguments: kubernetesStrings)
    func kubernetesString(input: String, expected: String) throws {
        #expect(try Quantity(parsing: input).kubernetesString == expected)
    }

    static let malformed: [String] = [
        "", "10GB", "Gi", "1.5.3", "10K", "1i", "abc", " 10Gi", "10Gi ", "1e", "1ee3", "1Ki5", "0.1mi", "-",
        ".", "1+1.0M", "1.1.M", "10 Gi", "1e3e", "--1",
    ]

    @Test("R12: malformed quantities are refused", arguments: malformed)
    func malformedRefused(input: String) {
        #expect(throws: Quantity.ParseError.self) { try Quantity(parsing: input) }
        #expect(Quantity(input) == nil)
    }

    /// (input, bytes rounded up to whole GiB)
    static let gibRoundings: [(String, Int)] = [
        ("10", 1), ("10Gi", 10), ("10G", 10), ("1.5Gi", 2), ("100Mi", 1), ("1Gi", 1), ("1073741825", 2),
        ("10737418240", 10), ("32Ti", 32768), ("32769Gi", 32769), ("1500m", 1), ("0", 0), ("-1Gi", -1),
    ]

    @Test("R12: bytes round up to whole GiB", arguments: gibRoundings)
    func roundsUpToGiB(input: String, gib: Int) throws {
        #expect(try Quantity(parsing: input).roundedUpGiB == gib)
    }

    @Test("R12: 10G is 9.31 GiB, rounded up to 10")
    func tenGigabytes() throws {
        let q = try Quantity(parsing: "10G")
        #expect(q.value == 10_000_000_000)
        #expect(q.value < 10 * (1 << 30))
        #expect(q.roundedUpGiB == 10)
    }

    @Test("R12: exact arithmetic up to exabytes, no floating point")
    func exabytes() throws {
        #expect(try Quantity(parsing: "1Ei").value == Int128(1) << 60)
        #expect(try Quantity(parsing: "7.5Ei").value == (Int128(15) << 59))
        #expect(try Quantity(parsing: "9E").value == 9_000_000_000_000_000_000)
        #expect(try Quantity(parsing: "100E").value == 100_000_000_000_000_000_000)
        #expect(try Quantity(parsing: "1.5").milliValue == 1500)
        #expect(try Quantity(parsing: "1.0000000001").nanos == 1_000_000_001)  // rounded up to 1n
    }

    static let units: [(String, Bool)] = [("10", false), ("10Gi", true), ("10G", true), ("1.5Gi", true),
                                          ("100Mi", true), ("1e3", true), ("10737418240", false)]

    @Test("R12: whether the quantity had a unit", arguments: units)
    func hasUnit(input: String, expected: Bool) throws {
        #expect(try Quantity(parsing: input).hasUnit == expected)
    }

    @Test("R12: equal values are equal quantities; order by value")
    func equality() throws {
        #expect(try Quantity(parsing: "1Gi") == Quantity(parsing: "1073741824"))
        #expect(try Quantity(parsing: "1k") == Quantity(parsing: "1e3"))
        #expect(try Quantity(parsing: "10G") < Quantity(parsing: "10Gi"))
        #expect(Quantity(gibibytes: 10).canonical == "10Gi")
        #expect(Quantity(gibibytes: 1).canonical == "1Gi")
        #expect(Quantity(bytes: 1536 << 20).canonical == "1536Mi")
    }
}
