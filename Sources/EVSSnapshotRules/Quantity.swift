// Kubernetes resource quantities (R12), parsed with the rules of apimachinery's `resource.ParseQuantity`
// and printed in its canonical form, with exact integer arithmetic (no floating point).
//
// The value is kept as a signed count of nano-units in an Int128, which holds every quantity up to about
// 1.7e29 units: far beyond the exabytes a disk size needs. Like Kubernetes, a value finer than 1n is rounded
// up (away from zero) to the next nano-unit, and a binary-SI value is capped at 2^63-1.
//
// Known differences from Kubernetes, both on purpose:
// - Kubernetes' parser reads a suffix with no digits (`Gi`, `-`, `.`) as zero; we refuse it, following the
//   documented grammar (`<quantity> ::= <signedNumber><suffix>`, which needs at least one digit).
// - Decimal values above about 1.7e29 (in whole units) are refused as out of range instead of being kept
//   with arbitrary precision. No storage request comes near that.
// - `canonical` is always computed. Kubernetes' `String()` sometimes echoes the input text instead
//   (e.g. `+10Gi`, `010Gi`); `kubernetesString` mirrors that too.

/// A parsed Kubernetes resource quantity (`10Gi`, `1.5Gi`, `100M`, `1500m`, `1e3`, `10`).
public struct Quantity: Sendable, Hashable, Comparable, CustomStringConvertible, Codable {
    /// How Kubernetes formats the quantity, taken from the suffix of the text.
    public enum Format: String, Sendable, Hashable, Codable {
        /// Powers of ten with SI suffixes (`k`, `M`, `m`, ...) or no suffix.
        case decimalSI
        /// Powers of two (`Ki`, `Mi`, `Gi`, ...).
        case binarySI
        /// `e`/`E` exponent notation (`1e3`).
        case decimalExponent
    }

    /// Why a text is not a quantity.
    public enum ParseError: Error, Sendable, Hashable, CustomStringConvertible {
        /// Empty text.
        case empty
        /// The text does not have the shape `<sign><digits>.<digits><suffix>`.
        case formatWrong
        /// The suffix is not one of Kubernetes' suffixes.
        case unknownSuffix(String)
        /// The value is too large to hold exactly.
        case outOfRange
        /// A short reason.
        public var description: String {
            switch self {
            case .empty: "empty quantity"
            case .formatWrong: "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
            case .unknownSuffix(let s): "unable to parse quantity's suffix '\(s)'"
            case .outOfRange: "quantity is too large"
            }
        }
    }

    /// The value in nano-units (1 = 1e-9 units; for storage, 1e-9 bytes).
    public let nanos: Int128
    /// The format the suffix asked for (after Kubernetes' adjustment of tiny binary values).
    public let format: Format
    /// The suffix as written (`Gi`, `M`, `e3`, or empty for a bare number).
    public let suffix: String
    /// The text as written, or the canonical form for constructed values.
    public let text: String
    /// What Kubernetes' `String()` would cache for this text, if it keeps the input verbatim.
    private let cachedText: String?

    static let nanoPerUnit: Int128 = 1_000_000_000
    static let maxBinaryBytes: Int128 = Int128(Int64.max)

    // MARK: Parsing

    /// Parses `text` exactly as Kubernetes does (see the file comment for the two deliberate differences).
    public init(parsing text: String) throws(ParseError) {
        let bytes = Array(text.utf8)
        if bytes.isEmpty { throw .empty }
        if text == "0" {
            self.init(nanos: 0, format: .decimalSI, suffix: "", text: text, cachedText: "0")
            return
        }
        var pos = 0
        var negative = false
        if bytes[0] == UInt8(ascii: "-") { negative = true; pos = 1 } else if bytes[0] == UInt8(ascii: "+") { pos = 1 }
        func isDigit(_ b: UInt8) -> Bool { b >= 48 && b <= 57 }
        let numStart = pos
        while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        let numDigits = Array(bytes[numStart..<pos])
        var denomDigits: [UInt8] = []
        if pos < bytes.count, bytes[pos] == UInt8(ascii: ".") {
            pos += 1
            let start = pos
            while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
            denomDigits = Array(bytes[start..<pos])
        }
        if numDigits.isEmpty && denomDigits.isEmpty { throw .formatWrong }
        // Suffix: letters from "eEinumkKMGTP", then an optional sign, then digits, then the end.
        let suffixStart = pos
        let suffixLetters = Set("eEinumkKMGTP".utf8)
        while pos < bytes.count, suffixLetters.contains(bytes[pos]) { pos += 1 }
        if pos < bytes.count, bytes[pos] == UInt8(ascii: "+") || bytes[pos] == UInt8(ascii: "-") { pos += 1 }
        while pos < bytes.count, isDigit(bytes[pos]) { pos += 1 }
        if pos != bytes.count { throw .formatWrong }
        let suffix = String(decoding: bytes[suffixStart...], as: UTF8.self)
        guard let (base, exponent, format) = Self.interpret(suffix) else { throw .unknownSuffix(suffix) }

        // Digits without leading zeros (numerator) and trailing zeros (denominator): same value.
        let num = Array(numDigits.drop(while: { $0 == 48 }))
        var denom = denomDigits
        while let last = denom.last, last == 48 { denom.removeLast() }
        let mantissaDigits = num + denom
        let fractionDigits = denom.count
        var nanos: Int128
        if mantissaDigits.allSatisfy({ $0 == 48 }) {
            nanos = 0
        } else if base == 10 {
            guard let m = Self.integer(mantissaDigits) else { throw .outOfRange }
            let shift = exponent + 9 - fractionDigits
            if shift >= 0 {
                guard shift <= 38, let scaled = Self.multiply(m, Self.pow10(shift)) else { throw .outOfRange }
                nanos = scaled
            } else {
                nanos = Self.ceilDivide(m, -shift)
            }
        } else {
            // base 2: value = m * 2^exponent / 10^fractionDigits, in nanos.
            if let m = Self.integer(mantissaDigits), let shifted = Self.multiply(m, Int128(1) << exponent) {
                let shift = 9 - fractionDigits
                if shift >= 0 {
                    nanos = Self.multiply(shifted, Self.pow10(shift)) ?? Self.maxBinaryBytes * Self.nanoPerUnit
                } else {
                    nanos = Self.ceilDivide(shifted, -shift)
                }
            } else {
                nanos = Self.maxBinaryBytes * Self.nanoPerUnit
            }
            // Kubernetes caps binary-SI quantities at 2^63-1.
            if nanos > Self.maxBinaryBytes * Self.nanoPerUnit { nanos = Self.maxBinaryBytes * Self.nanoPerUnit }
        }
        var finalFormat = format
        if format == .binarySI && nanos > 0 && nanos < Self.nanoPerUnit { finalFormat = .decimalSI }
        if negative { nanos = -nanos }

        // Kubernetes keeps the input text as its string form when it is already canonical-looking
        // (its int64 fast path); mirror that for `kubernetesString`.
        var cached: String? = nil
        let shiftedText = num.isEmpty && denomDigits.isEmpty ? [] : (num.isEmpty ? [48] : num) + denomDigits
        if !shiftedText.isEmpty, shiftedText.count <= 18 {
            let shiftedValue = Self.integer(shiftedText) ?? 0
            switch format {
            case .binarySI:
                let precision = 15 - max(num.count, 1) - (exponent * 3 / 10) - 1
                if precision >= 0 && denomDigits.isEmpty && (shiftedValue & 7) != 0 { cached = text }
            case .decimalSI, .decimalExponent:
                let precision = 18 - (max(num.count, 1) + denomDigits.count)
                let scale = exponent - denomDigits.count
                let shiftedString = String(decoding: shiftedText, as: UTF8.self)
                if precision >= 0, scale >= -9, scale % 3 == 0, !shiftedString.hasSuffix("000"),
                   shiftedText.first != 48 {
                    cached = text
                }
            }
        }
        self.init(nanos: nanos, format: finalFormat, suffix: suffix, text: text, cachedText: cached)
    }

    /// Parses `text`; nil when it is not a quantity.
    public init?(_ text: String) {
        guard let q = try? Quantity(parsing: text) else { return nil }
        self = q
    }

    private init(nanos: Int128, format: Format, suffix: String, text: String, cachedText: String?) {
        self.nanos = nanos
        self.format = format
        self.suffix = suffix
        self.text = text
        self.cachedText = cachedText
    }

    /// A binary-SI quantity of whole bytes (e.g. `10Gi` for 10 GiB).
    public init(bytes: Int64) {
        let n = Int128(bytes) * Self.nanoPerUnit
        self.init(nanos: n, format: .binarySI, suffix: "", text: "", cachedText: nil)
    }

    /// A binary-SI quantity of whole GiB, printed like `10Gi`.
    public init(gibibytes: Int) {
        self.init(bytes: Int64(gibibytes) << 30)
    }

    // MARK: Values

    /// The sign of the value: -1, 0 or 1.
    public var signum: Int { nanos < 0 ? -1 : (nanos == 0 ? 0 : 1) }

    /// The value rounded up (away from zero) to whole units, as Kubernetes' `Value()` does.
    public var value: Int128 {
        let magnitude = nanos.magnitude
        let whole = Int128(magnitude / UInt128(Self.nanoPerUnit))
        let rounded = magnitude % UInt128(Self.nanoPerUnit) == 0 ? whole : whole + 1
        return nanos < 0 ? -rounded : rounded
    }

    /// The value in milli-units rounded up, as Kubernetes' `MilliValue()` does.
    public var milliValue: Int128 {
        let magnitude = nanos.magnitude
        let whole = Int128(magnitude / 1_000_000)
        let rounded = magnitude % 1_000_000 == 0 ? whole : whole + 1
        return nanos < 0 ? -rounded : rounded
    }

    /// R12: whether the text carried a unit suffix. A bare `10` is 10 bytes; the plugin warns about it.
    public var hasUnit: Bool { !suffix.isEmpty }

    /// R12: the value as bytes rounded up to whole GiB (10 bytes -> 1, `10G` -> 10, `1.5Gi` -> 2).
    /// Zero and negative values give 0 and minus the rounded magnitude; the capacity check refuses them.
    public var roundedUpGiB: Int {
        let gibNanos = UInt128(1 << 30) * UInt128(Self.nanoPerUnit)
        let magnitude = nanos.magnitude
        let gib = magnitude / gibNanos + (magnitude % gibNanos == 0 ? 0 : 1)
        let clamped = gib > UInt128(Int.max) ? Int.max : Int(gib)
        return nanos < 0 ? -clamped : clamped
    }

    // MARK: Printing

    /// The canonical form Kubernetes computes (`10Gi`, `1536Mi`, `100M`, `1500m`, `1k`, `1e3`).
    public var canonical: String {
        if nanos == 0 { return "0" }
        let sign = nanos < 0 ? "-" : ""
        let magnitude = nanos.magnitude
        var format = self.format
        if format == .binarySI {
            if magnitude < UInt128(1024) * UInt128(Self.nanoPerUnit) || magnitude % UInt128(Self.nanoPerUnit) != 0 {
                format = .decimalSI
            }
        }
        switch format {
        case .binarySI:
            var amount = magnitude / UInt128(Self.nanoPerUnit)
            var power = 0
            while power < 6, amount % 1024 == 0 { amount /= 1024; power += 1 }
            return sign + String(amount) + ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"][power]
        case .decimalSI, .decimalExponent:
            var amount = magnitude
            var exponent = -9
            while amount % 10 == 0 { amount /= 10; exponent += 1 }
            // Make the exponent a multiple of 3 (rounding it down), as Kubernetes does.
            while exponent % 3 != 0 { amount *= 10; exponent -= 1 }
            if format == .decimalExponent {
                return sign + String(amount) + (exponent == 0 ? "" : "e\(exponent)")
            }
            while exponent > 18 { amount *= 1000; exponent -= 3 }
            let suffixes = [-9: "n", -6: "u", -3: "m", 0: "", 3: "k", 6: "M", 9: "G", 12: "T", 15: "P", 18: "E"]
            return sign + String(amount) + (suffixes[exponent] ?? "")
        }
    }

    /// What Kubernetes' `String()` returns: the input text when its fast path keeps it, otherwise `canonical`.
    public var kubernetesString: String { cachedText ?? canonical }

    /// The canonical form.
    public var description: String { canonical }

    // MARK: Equality, order, coding

    /// Equal values are equal quantities, whatever their format (`1Gi` == `1073741824`).
    public static func == (lhs: Quantity, rhs: Quantity) -> Bool { lhs.nanos == rhs.nanos }
    /// Orders by value.
    public static func < (lhs: Quantity, rhs: Quantity) -> Bool { lhs.nanos < rhs.nanos }
    /// Hashes the value.
    public func hash(into hasher: inout Hasher) { hasher.combine(nanos) }

    /// Decodes from the quantity string.
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { self = try Quantity(parsing: text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description))
        }
    }
    /// Encodes as the Kubernetes string.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(kubernetesString)
    }

    // MARK: Helpers

    private static func interpret(_ suffix: String) -> (base: Int, exponent: Int, format: Format)? {
        switch suffix {
        case "": return (10, 0, .decimalSI)
        case "n": return (10, -9, .decimalSI)
        case "u": return (10, -6, .decimalSI)
        case "m": return (10, -3, .decimalSI)
        case "k": return (10, 3, .decimalSI)
        case "M": return (10, 6, .decimalSI)
        case "G": return (10, 9, .decimalSI)
        case "T": return (10, 12, .decimalSI)
        case "P": return (10, 15, .decimalSI)
        case "E": return (10, 18, .decimalSI)
        case "Ki": return (2, 10, .binarySI)
        case "Mi": return (2, 20, .binarySI)
        case "Gi": return (2, 30, .binarySI)
        case "Ti": return (2, 40, .binarySI)
        case "Pi": return (2, 50, .binarySI)
        case "Ei": return (2, 60, .binarySI)
        default:
            guard suffix.count > 1, suffix.first == "e" || suffix.first == "E" else { return nil }
            var rest = suffix.dropFirst()
            var negative = false
            if rest.first == "+" || rest.first == "-" { negative = rest.first == "-"; rest = rest.dropFirst() }
            guard !rest.isEmpty, rest.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
            // Exponents beyond a few hundred are out of any range we hold; clamp keeps arithmetic defined.
            let magnitude = Int(rest.prefix(6)) ?? 999_999
            return (10, negative ? -magnitude : magnitude, .decimalExponent)
        }
    }

    private static func integer(_ digits: [UInt8]) -> Int128? {
        var value: Int128 = 0
        for d in digits {
            guard let times = multiply(value, 10) else { return nil }
            let (sum, overflow) = times.addingReportingOverflow(Int128(d - 48))
            if overflow { return nil }
            value = sum
        }
        return value
    }

    private static func multiply(_ a: Int128, _ b: Int128) -> Int128? {
        let (product, overflow) = a.multipliedReportingOverflow(by: b)
        return overflow ? nil : product
    }

    private static func pow10(_ n: Int) -> Int128 {
        var r: Int128 = 1
        for _ in 0..<n { r *= 10 }
        return r
    }

    /// ceil(m / 10^n) for m > 0.
    private static func ceilDivide(_ m: Int128, _ n: Int) -> Int128 {
        if n > 38 { return 1 }
        let d = pow10(n)
        return m / d + (m % d == 0 ? 0 : 1)
    }
}
