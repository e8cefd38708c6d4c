// A Kubernetes label selector (metav1.LabelSelector: matchLabels and matchExpressions), as a SnapshotSchedule's
// `spec.claimSelector` holds it, with the three things the schedule needs from it:
// - `matches(_:)`: whether a PVC's labels are selected (the plugin's preflight over a listed set);
// - `query`: the `labelSelector=` text of a list call, so the API server does the selecting for the controller;
// - `parse(_:)`: the text `kubectl get -l` takes (`app=db,tier in (a,b),!legacy`), for `schedule create --selector`.
// The semantics are Kubernetes' (k8s.io/apimachinery labels): every requirement must hold; `In` needs the key with
// one of the values, `NotIn` holds when the key is absent or has none of them, `Exists` / `DoesNotExist` test the key.

/// One `matchExpressions` entry.
public struct LabelRequirement: Sendable, Hashable {
    public enum Operator: String, Sendable, Hashable, CaseIterable {
        case `in` = "In", notIn = "NotIn", exists = "Exists", doesNotExist = "DoesNotExist"
    }
    public var key: String
    public var op: Operator
    public var values: [String]

    public init(key: String, op: Operator, values: [String] = []) {
        self.key = key; self.op = op; self.values = values
    }

    public func matches(_ labels: [String: String]) -> Bool {
        switch op {
        case .in: return labels[key].map(values.contains) ?? false
        case .notIn: return labels[key].map { !values.contains($0) } ?? true
        case .exists: return labels[key] != nil
        case .doesNotExist: return labels[key] == nil
        }
    }

    /// The requirement in `labelSelector=` syntax.
    var query: String {
        switch op {
        case .in: return "\(key) in (\(values.sorted().joined(separator: ",")))"
        case .notIn: return "\(key) notin (\(values.sorted().joined(separator: ",")))"
        case .exists: return key
        case .doesNotExist: return "!" + key
        }
    }
}

/// Why a selector is not one Kubernetes would take.
public struct LabelSelectorError: Error, Sendable, Hashable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// `spec.claimSelector`: every `matchLabels` pair and every `matchExpressions` requirement must hold.
public struct LabelSelector: Sendable, Hashable {
    public var matchLabels: [String: String]
    public var matchExpressions: [LabelRequirement]

    public init(matchLabels: [String: String] = [:], matchExpressions: [LabelRequirement] = []) {
        self.matchLabels = matchLabels; self.matchExpressions = matchExpressions
    }

    /// Selects nothing in particular: Kubernetes reads an empty selector as "everything", which a schedule refuses.
    public var isEmpty: Bool { matchLabels.isEmpty && matchExpressions.isEmpty }

    public func matches(_ labels: [String: String]) -> Bool {
        matchLabels.allSatisfy { labels[$0.key] == $0.value } && matchExpressions.allSatisfy { $0.matches(labels) }
    }

    /// The `labelSelector=` text of a list call (sorted, so the same selector always reads the same).
    public var query: String {
        (matchLabels.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
            + matchExpressions.map(\.query).sorted()).joined(separator: ",")
    }

    /// The checks the API server's validation makes (metav1 validation.ValidateLabelSelector): keys are qualified
    /// names, values label values; `In`/`NotIn` need values, `Exists`/`DoesNotExist` take none.
    public func validate() throws(LabelSelectorError) {
        for (k, v) in matchLabels {
            try LabelSyntax.checkKey(k)
            try LabelSyntax.checkValue(v, key: k)
        }
        for r in matchExpressions {
            try LabelSyntax.checkKey(r.key)
            switch r.op {
            case .in, .notIn:
                guard !r.values.isEmpty else {
                    throw LabelSelectorError("selector: '\(r.key) \(r.op.rawValue)' needs at least one value")
                }
            case .exists, .doesNotExist:
                guard r.values.isEmpty else {
                    throw LabelSelectorError("selector: '\(r.key) \(r.op.rawValue)' takes no values, got \(r.values)")
                }
            }
            for v in r.values { try LabelSyntax.checkValue(v, key: r.key) }
        }
    }

    /// Parses `kubectl get -l` syntax: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, joined by
    /// commas. `k=v` becomes a matchLabels pair; the rest become matchExpressions (`k!=v` is `NotIn [v]`).
    public static func parse(_ text: String) throws(LabelSelectorError) -> LabelSelector {
        var selector = LabelSelector()
        for term in try splitTerms(text) {
            let t = term.trimmingSpaces
            guard !t.isEmpty else { throw LabelSelectorError("selector '\(text)': empty term") }
            if t.hasPrefix("!") {
                let key = String(t.dropFirst()).trimmingSpaces
                selector.matchExpressions.append(LabelRequirement(key: key, op: .doesNotExist))
            } else if let r = try setTerm(t, text: text) {
                selector.matchExpressions.append(r)
            } else if let range = t.firstRange(of: "!=") {
                selector.matchExpressions.append(LabelRequirement(
                    key: String(t[..<range.lowerBound]).trimmingSpaces, op: .notIn,
                    values: [String(t[range.upperBound...]).trimmingSpaces]))
            } else if let range = t.firstRange(of: "==") ?? t.firstRange(of: "=") {
                let key = String(t[..<range.lowerBound]).trimmingSpaces
                let value = String(t[range.upperBound...]).trimmingSpaces
                if let old = selector.matchLabels[key], old != value {
                    throw LabelSelectorError("selector '\(text)': \(key) cannot equal both '\(old)' and '\(value)'")
                }
                selector.matchLabels[key] = value
            } else {
                selector.matchExpressions.append(LabelRequirement(key: t, op: .exists))
            }
        }
        guard !selector.isEmpty else { throw LabelSelectorError("selector is empty") }
        try selector.validate()
        return selector
    }

    /// Commas outside parentheses separate terms.
    private static func splitTerms(_ text: String) throws(LabelSelectorError) -> [String] {
        var terms: [String] = []
        var current = ""
        var depth = 0
        for ch in text {
            switch ch {
            case "(": depth += 1; current.append(ch)
            case ")":
                depth -= 1
                guard depth >= 0 else { throw LabelSelectorError("selector '\(text)': ')' without '('") }
                current.append(ch)
            case "," where depth == 0: terms.append(current); current = ""
            default: current.append(ch)
            }
        }
        guard depth == 0 else { throw LabelSelectorError("selector '\(text)': '(' without ')'") }
        terms.append(current)
        return terms
    }

    /// `k in (a,b)` or `k notin (a,b)`; nil when the term is not a set term.
    private static func setTerm(_ t: String, text: String) throws(LabelSelectorError) -> LabelRequirement? {
        guard let open = t.firstIndex(of: "("), t.hasSuffix(")") else { return nil }
        let head = t[..<open].split(separator: " ", omittingEmptySubsequences: true)
        guard head.count == 2 else { return nil }
        let op: LabelRequirement.Operator
        switch head[1] {
        case "in": op = .in
        case "notin": op = .notIn
        default: throw LabelSelectorError("selector '\(text)': '\(head[1])' is not in or notin")
        }
        let inner = t[t.index(after: open)..<t.index(before: t.endIndex)]
        let values = inner.split(separator: ",", omittingEmptySubsequences: false).map { String($0).trimmingSpaces }
        if values.contains("") && !(values.count == 1) {
            throw LabelSelectorError("selector '\(text)': empty value in '\(t)'")
        }
        return LabelRequirement(key: String(head[0]), op: op, values: values == [""] ? [] : values)
    }
}

/// Label key and value syntax (k8s.io/apimachinery validation: IsQualifiedName, IsValidLabelValue).
public enum LabelSyntax {
    /// `[prefix/]name`: name 1–63 characters, alphanumeric at both ends, `-`, `_`, `.` inside; prefix a DNS
    /// subdomain of at most 253 characters.
    public static func checkKey(_ key: String) throws(LabelSelectorError) {
        let parts = key.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        let name = parts.count == 2 ? parts[1] : parts[0]
        if parts.count == 2 {
            let prefix = parts[0]
            guard !prefix.isEmpty, prefix.utf8.count <= 253,
                  prefix.split(separator: ".", omittingEmptySubsequences: false).allSatisfy(isDNSLabel) else {
                throw LabelSelectorError("label key '\(key)': prefix '\(prefix)' is not a DNS subdomain (lowercase letters, digits, '-' and '.', at most 253)")
            }
        }
        guard !name.isEmpty, name.utf8.count <= 63, isNamePart(name) else {
            throw LabelSelectorError("label key '\(key)': name must be 1-63 characters of letters, digits, '-', '_', '.', beginning and ending with a letter or digit")
        }
    }

    /// Empty, or 1–63 characters as a key's name part.
    public static func checkValue(_ value: String, key: String) throws(LabelSelectorError) {
        guard value.isEmpty || (value.utf8.count <= 63 && isNamePart(Substring(value))) else {
            throw LabelSelectorError("label value '\(value)' of '\(key)': must be at most 63 characters of letters, digits, '-', '_', '.', beginning and ending with a letter or digit")
        }
    }

    static func isAlnum(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }

    static func isNamePart(_ s: Substring) -> Bool {
        let u = Array(s.utf8)
        guard let f = u.first, let l = u.last, isAlnum(f), isAlnum(l) else { return false }
        return u.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    static func isDNSLabel(_ s: Substring) -> Bool {
        let u = Array(s.utf8)
        guard let f = u.first, let l = u.last, u.count <= 63 else { return false }
        let lowerAlnum: (UInt8) -> Bool = { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x7A) }
        return lowerAlnum(f) && lowerAlnum(l) && u.allSatisfy { lowerAlnum($0) || $0 == UInt8(ascii: "-") }
    }
}

extension StringProtocol {
    /// Without leading and trailing spaces and tabs (no Foundation here).
    var trimmingSpaces: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
