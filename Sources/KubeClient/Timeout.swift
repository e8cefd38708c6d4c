// kubectl's --request-timeout syntax (moved along from ClientConfig.swift when the loader went to KubeCore).
import Foundation
import KubeCore

extension ConfigOverrides {
    /// Parses a kubectl `--request-timeout` value: `0` (none), a bare number of seconds, or a duration like `500ms`, `30s`, `1m`, `1h`, `1m30s`.
    public static func parseTimeout(_ text: String) -> Duration? {
        let t = text.trimmingCharacters(in: .whitespaces)
        if t.isEmpty { return nil }
        if let secs = Double(t) { return secs > 0 ? .milliseconds(Int64((secs * 1000).rounded())) : nil }
        var total = 0.0
        var num = ""
        var i = t.startIndex
        var any = false
        while i < t.endIndex {
            let c = t[i]
            if c.isNumber || c == "." { num.append(c); i = t.index(after: i); continue }
            var unit = String(c)
            let n = t.index(after: i)
            if c == "m", n < t.endIndex, t[n] == "s" { unit = "ms"; i = t.index(after: n) } else { i = n }
            guard let v = Double(num) else { return nil }
            switch unit {
            case "ms": total += v / 1000
            case "s": total += v
            case "m": total += v * 60
            case "h": total += v * 3600
            default: return nil
            }
            num = ""; any = true
        }
        guard num.isEmpty, any else { return nil }
        return total > 0 ? .milliseconds(Int64((total * 1000).rounded())) : nil
    }
}
