import Foundation

/// A Kubernetes object or any part of one, as the API server sends it: plain JSON.
///
/// The plugin reads only a few fields of each object, so it keeps the JSON as is instead of
/// decoding full typed models; the typed views in `KubeObjects.swift` read fields out of it.
public enum JSONValue: Sendable, Hashable {
    /// `null`, and the value of any missing field read through a subscript.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number that is a whole number in the Int64 range.
    case int(Int64)
    /// Any other number.
    case double(Double)
    /// A string.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object; key order is not kept (output sorts keys, as kubectl's YAML does).
    case object([String: JSONValue])

    /// The field `key` of an object, or `.null`.
    public subscript(key: String) -> JSONValue {
        get {
            if case .object(let o) = self { return o[key] ?? .null }
            return .null
        }
        set {
            var o: [String: JSONValue]
            if case .object(let existing) = self { o = existing } else { o = [:] }
            o[key] = newValue
            self = .object(o)
        }
    }

    /// The element `index` of an array, or `.null`.
    public subscript(index: Int) -> JSONValue {
        if case .array(let a) = self, a.indices.contains(index) { return a[index] }
        return .null
    }

    /// The string value, or nil.
    public var string: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The boolean value, or nil.
    public var bool: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    /// The integer value, or nil (a double with no fraction counts).
    public var int: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.2e18: return Int64(d)
        default: return nil
        }
    }

    /// The elements of an array; empty for anything else.
    public var array: [JSONValue] {
        if case .array(let a) = self { return a }
        return []
    }

    /// The fields of an object; empty for anything else.
    public var object: [String: JSONValue] {
        if case .object(let o) = self { return o }
        return [:]
    }

    /// Whether this is `.null` (also true for a missing field).
    public var isNull: Bool {
        if case .null = self { return true }
        return false
    }

    /// A string map (labels, annotations, parameters); non-string values are skipped.
    public var stringMap: [String: String] {
        var m: [String: String] = [:]
        for (k, v) in object { if let s = v.string { m[k] = s } }
        return m
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByBooleanLiteral, ExpressibleByIntegerLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
    public init(nilLiteral: ()) { self = .null }
}

extension JSONValue: Codable {
    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null; return }
        if let b = try? c.decode(Bool.self) { self = .bool(b); return }
        if let i = try? c.decode(Int64.self) { self = .int(i); return }
        if let d = try? c.decode(Double.self) { self = .double(d); return }
        if let s = try? c.decode(String.self) { self = .string(s); return }
        if let a = try? c.decode([JSONValue].self) { self = .array(a); return }
        self = .object(try c.decode([String: JSONValue].self))
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        switch self {
        case .null: try c.encodeNil()
        case .bool(let b): try c.encode(b)
        case .int(let i): try c.encode(i)
        case .double(let d): try c.encode(d)
        case .string(let s): try c.encode(s)
        case .array(let a): try c.encode(a)
        case .object(let o): try c.encode(o)
        }
    }
}

extension JSONValue {
    /// Parses JSON bytes.
    public static func parse(_ data: Data) throws -> JSONValue {
        try JSONParser.parse(data)
    }

    /// Parses a Kubernetes API answer, leaving out `managedFields` (kubectl hides them by default as well).
    public static func parseAPIObject(_ data: Data) throws -> JSONValue {
        try JSONParser.parse(data, dropKeys: ["managedFields"])
    }

    /// Parses a JSON string.
    public static func parse(_ text: String) throws -> JSONValue {
        try parse(Data(text.utf8))
    }

    /// Compact JSON with sorted keys (request bodies).
    public func compactJSON() -> String {
        var out = ""
        writeJSON(into: &out, indent: nil, level: 0)
        return out
    }

    /// JSON indented by four spaces with sorted keys, the way `kubectl get -o json` looks.
    public func prettyJSON() -> String {
        var out = ""
        writeJSON(into: &out, indent: "    ", level: 0)
        return out
    }

    private func writeJSON(into out: inout String, indent: String?, level: Int) {
        func newline(_ l: Int) {
            guard let indent else { return }
            out += "\n" + String(repeating: indent, count: l)
        }
        let sep = indent == nil ? ":" : ": "
        switch self {
        case .null: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d): out += JSONValue.formatDouble(d)
        case .string(let s): out += JSONValue.quoteJSON(s)
        case .array(let a):
            if a.isEmpty { out += "[]"; return }
            out += "["
            for (n, v) in a.enumerated() {
                if n > 0 { out += "," }
                newline(level + 1)
                v.writeJSON(into: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out += "]"
        case .object(let o):
            if o.isEmpty { out += "{}"; return }
            out += "{"
            for (n, k) in o.keys.sorted().enumerated() {
                if n > 0 { out += "," }
                newline(level + 1)
                out += JSONValue.quoteJSON(k) + sep
                o[k]!.writeJSON(into: &out, indent: indent, level: level + 1)
            }
            newline(level)
            out += "}"
        }
    }

    static func formatDouble(_ d: Double) -> String {
        if d.rounded() == d && abs(d) < 1e15 { return String(Int64(d)) }
        return String(d)
    }

    static func quoteJSON(_ s: String) -> String {
        var r = "\""
        for u in s.unicodeScalars {
            switch u {
            case "\"": r += "\\\""
            case "\\": r += "\\\\"
            case "\n": r += "\\n"
            case "\r": r += "\\r"
            case "\t": r += "\\t"
            case _ where u.value < 0x20:
                r += String(format: "\\u%04x", u.value)
            default: r.unicodeScalars.append(u)
            }
        }
        return r + "\""
    }
}
