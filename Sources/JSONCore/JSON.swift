// The one JSON value of the project (driver, EVS cloud backend, plugin), with a strict parser (JSONParser.swift)
// and a writer (JSONWriter.swift). Standard library only: no Foundation, so the lean driver can use it.
// docs/json.md says what is accepted and refused, and how it is held to JSONTestSuite, Foundation and libFuzzer.

/// A JSON value.
///
/// Numbers written as integers (no fraction, no exponent) that fit in Int64 parse as `.int`, every other number as
/// `.number`; the two compare and hash as numbers, so `.int(10) == .number(10)`.
public enum JSON: Sendable, CustomStringConvertible, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByFloatLiteral, ExpressibleByBooleanLiteral, ExpressibleByDictionaryLiteral, ExpressibleByArrayLiteral,
    ExpressibleByNilLiteral {
    /// `null`, and what a subscript returns for a missing member or element.
    case null
    case bool(Bool)
    /// A number written as an integer that fits in Int64 (Kubernetes' int64 fields, nanosecond times).
    case int(Int64)
    /// Any other number (a fraction, an exponent, or an integer beyond Int64), as the nearest Double.
    case number(Double)
    case string(String)
    case array([JSON])
    /// An object; member order is not kept (the writer sorts keys), and of a repeated key the last one wins.
    case object([String: JSON])

    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .number(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        var object: [String: JSON] = [:]
        for (key, value) in elements { object[key] = value }
        self = .object(object)
    }

    /// The member `key` of an object; `.null` for anything else or a missing key. Setting it on a non-object
    /// makes it an object.
    public subscript(key: String) -> JSON {
        get {
            if case .object(let object) = self, let value = object[key] { return value }
            return .null
        }
        set {
            var object: [String: JSON] = [:]
            if case .object(let existing) = self { object = existing }
            object[key] = newValue
            self = .object(object)
        }
    }

    /// The element `index` of an array; `.null` for anything else or an index out of range.
    public subscript(index: Int) -> JSON {
        if case .array(let elements) = self, elements.indices.contains(index) { return elements[index] }
        return .null
    }

    /// The text of a string, nil otherwise.
    public var string: String? { if case .string(let s) = self { s } else { nil } }

    /// A whole number, or a string holding one (EVS writes some counts as strings); nil otherwise.
    public var int: Int? {
        switch self {
        case .int(let i): Int(exactly: i)
        case .number(let d) where d.rounded() == d && abs(d) < 9.0e15: Int(d)
        case .string(let s): Int(s)
        default: nil
        }
    }

    /// A whole number in the Int64 range (strings are not read); nil otherwise.
    public var int64: Int64? {
        switch self {
        case .int(let i): i
        case .number(let d) where d.rounded() == d && abs(d) < 9.2e18: Int64(d)
        default: nil
        }
    }

    /// Any number as a Double; nil otherwise.
    public var double: Double? {
        switch self {
        case .int(let i): Double(i)
        case .number(let d): d
        default: nil
        }
    }

    /// A Boolean, or the strings "true"/"false" (EVS writes `shareable` so); nil otherwise.
    public var bool: Bool? {
        switch self {
        case .bool(let b): b
        case .string(let s) where s == "true" || s == "false": s == "true"
        default: nil
        }
    }

    /// The elements of an array, nil otherwise.
    public var array: [JSON]? { if case .array(let a) = self { a } else { nil } }
    /// The members of an object, nil otherwise.
    public var object: [String: JSON]? { if case .object(let o) = self { o } else { nil } }
    /// The elements of an array; empty for anything else.
    public var elements: [JSON] { array ?? [] }
    /// The members of an object; empty for anything else.
    public var members: [String: JSON] { object ?? [:] }
    /// The string members of an object (labels, annotations, parameters); other members are left out.
    public var stringMap: [String: String] {
        var map: [String: String] = [:]
        for (key, value) in members { if let s = value.string { map[key] = s } }
        return map
    }
    /// Whether this is `null` (or a missing member).
    public var isNull: Bool { if case .null = self { true } else { false } }
    /// The value itself, or nil when it is `null` (or a missing member): `json["a"].nonNull ?? fallback`.
    public var nonNull: JSON? { isNull ? nil : self }

    /// Compact text, object keys sorted.
    public var description: String { String(decoding: serialized(), as: UTF8.self) }
}

extension JSON: Hashable {
    /// Numbers compare by value whichever case holds them; everything else structurally.
    public static func == (lhs: JSON, rhs: JSON) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case (.bool(let a), .bool(let b)): a == b
        case (.int(let a), .int(let b)): a == b
        case (.number(let a), .number(let b)): a == b
        case (.int(let a), .number(let b)), (.number(let b), .int(let a)): Int64(exactly: b) == a
        case (.string(let a), .string(let b)): a == b
        case (.array(let a), .array(let b)): a == b
        case (.object(let a), .object(let b)): a == b
        default: false
        }
    }

    public func hash(into hasher: inout Hasher) {
        switch self {
        case .null: hasher.combine(0)
        case .bool(let b): hasher.combine(1); hasher.combine(b)
        // Equal numbers hash alike: an Int64 equal to a Double converts to that very Double.
        case .int(let i): hasher.combine(2); hasher.combine(Double(i))
        case .number(let d): hasher.combine(2); hasher.combine(d)
        case .string(let s): hasher.combine(3); hasher.combine(s)
        case .array(let a): hasher.combine(4); hasher.combine(a)
        case .object(let o): hasher.combine(5); hasher.combine(o)
        }
    }
}
