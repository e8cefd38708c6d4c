// Writing JSON: compact bytes (request bodies, the text of `description`), indented text (`kubectl evssnap ... -o
// json`), and the one string quoting of the project.

extension JSON {
    /// Compact UTF-8 bytes, object keys sorted, so the same value always gives the same bytes.
    public func serialized() -> [UInt8] {
        var out: [UInt8] = []
        write(to: &out, indent: nil, level: 0)
        return out
    }

    /// Text indented by `indent` per level with `": "` after keys and keys sorted; empty arrays and objects stay
    /// `[]` and `{}` (the layout of `kubectl get -o json`).
    public func prettyPrinted(indent: String = "    ") -> String {
        var out: [UInt8] = []
        write(to: &out, indent: Array(indent.utf8), level: 0)
        return String(decoding: out, as: UTF8.self)
    }

    /// `text` as a JSON string literal, quotes included.
    public static func quote(_ text: String) -> String {
        var out: [UInt8] = []
        writeString(text, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// A number's text: whole numbers below 2^53 without a fraction, others in Swift's shortest round-trip form
    /// (`2.5`, `1e+20`); infinities and NaN, which JSON cannot hold, as `null`.
    static func numberText(_ d: Double) -> String {
        guard d.isFinite else { return "null" }
        if d.rounded() == d && abs(d) < 9_007_199_254_740_992 { return String(Int64(d)) }
        return "\(d)"
    }

    private func write(to out: inout [UInt8], indent: [UInt8]?, level: Int) {
        func newline(_ level: Int) {
            guard let indent else { return }
            out.append(0x0A)
            for _ in 0..<level { out += indent }
        }
        switch self {
        case .null: out += "null".utf8
        case .bool(let b): out += (b ? "true" : "false").utf8
        case .int(let i): out += String(i).utf8
        case .number(let d): out += Self.numberText(d).utf8
        case .string(let s): Self.writeString(s, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(level + 1)
                element.write(to: &out, indent: indent, level: level + 1)
            }
            if !elements.isEmpty { newline(level) }
            out.append(UInt8(ascii: "]"))
        case .object(let object):
            out.append(UInt8(ascii: "{"))
            for (i, key) in object.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                newline(level + 1)
                Self.writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                if indent != nil { out.append(UInt8(ascii: " ")) }
                object[key]!.write(to: &out, indent: indent, level: level + 1)
            }
            if !object.isEmpty { newline(level) }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits = Array("0123456789abcdef".utf8)

    /// Escapes `"`, `\` and the control characters (as \n, \r, \t or \u00XX); everything else is written as is.
    private static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out += [0x5C, 0x22]
            case UInt8(ascii: "\\"): out += [0x5C, 0x5C]
            case 0x0A: out += [0x5C, UInt8(ascii: "n")]
            case 0x0D: out += [0x5C, UInt8(ascii: "r")]
            case 0x09: out += [0x5C, UInt8(ascii: "t")]
            case 0x00..<0x20:
                out += "\\u00".utf8
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0xF)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }
}
