import JSONCore
/// YAML output in the block style of `kubectl get -o yaml`: keys sorted, list items not indented
/// below their key, strings quoted only when they would otherwise read as another type.
extension JSON {
    /// The value as a YAML document (no leading `---`), ending with a newline.
    public func yaml() -> String {
        var out = ""
        switch self {
        case .object(let o) where !o.isEmpty:
            JSON.writeMapping(o, into: &out, level: 0)
        case .array(let a) where !a.isEmpty:
            JSON.writeSequence(a, into: &out, level: 0)
        default:
            out += scalarYAML() + "\n"
        }
        return out
    }

    private static func pad(_ level: Int) -> String { String(repeating: "  ", count: level) }

    private static func writeMapping(_ o: [String: JSON], into out: inout String, level: Int, firstInline: Bool = false) {
        for (n, k) in o.keys.sorted().enumerated() {
            let v = o[k]!
            let prefix = (n == 0 && firstInline) ? "" : pad(level)
            out += prefix + yamlScalarString(k) + ":"
            switch v {
            case .object(let child) where !child.isEmpty:
                out += "\n"
                writeMapping(child, into: &out, level: level + 1)
            case .array(let items) where !items.isEmpty:
                out += "\n"
                writeSequence(items, into: &out, level: level)
            default:
                out += " " + v.scalarYAML() + "\n"
            }
        }
    }

    private static func writeSequence(_ a: [JSON], into out: inout String, level: Int) {
        for v in a {
            out += pad(level) + "- "
            switch v {
            case .object(let child) where !child.isEmpty:
                writeMapping(child, into: &out, level: level + 1, firstInline: true)
            case .array(let items) where !items.isEmpty:
                out += "\n"
                writeSequence(items, into: &out, level: level + 1)
            default:
                out += v.scalarYAML() + "\n"
            }
        }
    }

    private func scalarYAML() -> String {
        switch self {
        case .null: return "null"
        case .bool(let b): return b ? "true" : "false"
        case .int(let i): return String(i)
        case .number(let d): return JSON.number(d).description
        case .string(let s): return JSON.yamlScalarString(s)
        case .array: return "[]"
        case .object: return "{}"
        }
    }

    /// A string as a YAML scalar: plain when unambiguous, 'single-quoted' when it would read as
    /// a number, boolean or null or contains YAML syntax, "double-quoted" when it has control characters.
    static func yamlScalarString(_ s: String) -> String {
        if s.unicodeScalars.contains(where: { $0.value < 0x20 }) { return JSON.quote(s) }
        if needsQuotes(s) { return "'" + s.replacingOccurrences(of: "'", with: "''") + "'" }
        return s
    }

    private static func needsQuotes(_ s: String) -> Bool {
        if s.isEmpty { return true }
        let reserved: Set<String> = ["true", "false", "yes", "no", "on", "off", "y", "n", "null", "~",
                                     "True", "False", "Yes", "No", "On", "Off", "Y", "N", "Null", "NULL", "TRUE", "FALSE"]
        if reserved.contains(s) { return true }
        if Double(s) != nil || Int(s) != nil { return true }
        if s.hasPrefix("0x") || s.hasPrefix("0o") || s.hasPrefix(".") && Double("0" + s) != nil { return true }
        if let f = s.first, "-?:,[]{}#&*!|>'\"%@` ".contains(f) {
            // "- x" or "-x" would read as a sequence entry or is ambiguous; a lone "-" too.
            if f == "-" && s.count > 1 && !s.hasPrefix("- ") && Double(s) == nil { return false }
            return true
        }
        if s.hasSuffix(" ") || s.hasSuffix(":") { return true }
        if s.contains(": ") || s.contains(" #") { return true }
        return false
    }
}
