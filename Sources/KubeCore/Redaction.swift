import Synchronization

/// Removes secrets from text before it is logged or put into an error message. Standard library only.
///
/// Two layers: every secret the loader or a client meets (tokens, token-file contents, exec credentials, key
/// material) is registered with ``register(_:)`` and replaced wherever it appears; and the shapes secrets come in
/// are masked even when unregistered: `Authorization` headers, `Bearer …`, JSON `token`/`*Data`/`*-data`/`password`
/// fields, YAML `token:`/`client-key-data:`/`password:` lines, `--token=…`, and PEM `PRIVATE KEY` blocks.
/// Every log line and error text of the Kubernetes access goes through ``redact(_:)``.
public final class Redactor: Sendable {
    /// The process-wide redactor used by the loader, the clients, their logs and their errors.
    public static let shared = Redactor()

    /// The placeholder that replaces a secret.
    public static let mask = "<redacted>"

    /// Known secret strings. Guarded by the mutex; written by `register`, read by `redact` (any thread).
    private let secrets = Mutex<Set<String>>([])

    public init() {}

    /// Registers a secret value (token, key material): every later `redact` replaces it. Values shorter than
    /// 6 characters are ignored, so common words are never masked by accident.
    public func register(_ secret: String) {
        let s = Text.trimmed(secret)
        guard s.count >= 6 else { return }
        secrets.withLock { _ = $0.insert(s) }
    }

    /// Returns `text` with every registered secret and every secret-shaped field replaced by `<redacted>`.
    public func redact(_ text: String) -> String {
        var out = Array(text.utf8)
        let known = secrets.withLock { $0 }
        // Longest first, so a secret containing another one is masked whole.
        for s in known.sorted(by: { $0.utf8.count > $1.utf8.count }) {
            out = Self.replacing(Array(s.utf8), in: out)
        }
        out = Self.maskPrivateKeys(out)
        out = Self.maskAfter(out, keys: ["authorization"], separators: ":=", quoteAllowed: true, skipScheme: true)
        out = Self.maskAfter(out, keys: ["bearer"], separators: "", quoteAllowed: false, skipScheme: false)
        out = Self.maskJSONFields(out)
        out = Self.maskYAMLLines(out)
        out = Self.maskAfter(out, keys: ["--token"], separators: "= ", quoteAllowed: false, skipScheme: false)
        return String(decoding: out, as: UTF8.self)
    }

    static let maskBytes = Array(mask.utf8)

    static func lower(_ b: UInt8) -> UInt8 { b >= 65 && b <= 90 ? b + 32 : b }
    static func isSpace(_ b: UInt8) -> Bool { b == 32 || b == 9 || b == 10 || b == 13 }
    static func isWordByte(_ b: UInt8) -> Bool { (b >= 48 && b <= 57) || (b >= 65 && b <= 90) || (b >= 97 && b <= 122) || b == 95 }

    static func matches(_ key: [UInt8], at i: Int, in text: [UInt8], caseInsensitive: Bool = true) -> Bool {
        guard i + key.count <= text.count else { return false }
        for k in 0..<key.count where (caseInsensitive ? lower(text[i + k]) : text[i + k]) != key[k] { return false }
        return true
    }

    static func replacing(_ needle: [UInt8], in text: [UInt8]) -> [UInt8] {
        guard !needle.isEmpty, text.count >= needle.count else { return text }
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            if text[i] == needle[0], matches(needle, at: i, in: text, caseInsensitive: false) {
                out += maskBytes
                i += needle.count
            } else {
                out.append(text[i]); i += 1
            }
        }
        return out
    }

    /// Copies `text`, replacing each secret `value` finds: called at every offset, it answers where the secret
    /// starts and ends (the bytes before it are kept), or nil.
    static func rewrite(_ text: [UInt8], _ value: (Int) -> (start: Int, end: Int)?) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var i = 0
        while i < text.count {
            if let v = value(i), v.end > v.start, !matches(maskBytes, at: v.start, in: text) {
                out += text[i..<v.start]
                out += maskBytes
                i = v.end
            } else {
                out.append(text[i]); i += 1
            }
        }
        return out
    }

    static func skipBlanks(_ text: [UInt8], _ j: inout Int) { while j < text.count, text[j] == 32 || text[j] == 9 { j += 1 } }

    /// `KEY` (a whole word, any case), optional spaces, one of `separators` (none: at least one space), optional
    /// spaces and quote, for `authorization` an optional `Bearer`/`Basic`, then the secret up to a space, quote or comma.
    static func maskAfter(_ text: [UInt8], keys: [String], separators: String, quoteAllowed: Bool, skipScheme: Bool) -> [UInt8] {
        let seps = Array(separators.utf8)
        let keyBytes = keys.map { Array($0.utf8) }
        return rewrite(text) { i in
            for k in keyBytes {
                guard matches(k, at: i, in: text), i == 0 || !isWordByte(text[i - 1]) || k.first == UInt8(ascii: "-") else { continue }
                var j = i + k.count
                guard j < text.count, !isWordByte(text[j]) else { continue }
                let before = j
                skipBlanks(text, &j)
                if seps.isEmpty {
                    guard j > before else { continue }
                } else {
                    guard j < text.count, seps.contains(text[j]) || (j > before && seps.contains(32)) else { continue }
                    if seps.contains(text[j]) { j += 1 }
                    skipBlanks(text, &j)
                }
                if quoteAllowed, j < text.count, text[j] == UInt8(ascii: "\"") { j += 1 }
                if skipScheme {
                    for scheme in ["bearer", "basic"] where matches(Array(scheme.utf8), at: j, in: text) {
                        j += scheme.utf8.count
                        skipBlanks(text, &j)
                    }
                }
                var end = j
                while end < text.count, !isSpace(text[end]), text[end] != UInt8(ascii: "\""), text[end] != UInt8(ascii: ",") { end += 1 }
                return (j, end)
            }
            return nil
        }
    }

    /// `"token": "…"` and the other secret-carrying JSON fields.
    static func maskJSONFields(_ text: [UInt8]) -> [UInt8] {
        let fields = ["token", "access_token", "id_token", "refresh_token", "password", "clientkeydata", "client-key-data",
                      "client-certificate-data", "clientcertificatedata"].map { Array("\"\($0)\"".utf8) }
        return rewrite(text) { i in
            guard text[i] == UInt8(ascii: "\"") else { return nil }
            for f in fields where matches(f, at: i, in: text) {
                var j = i + f.count
                while j < text.count, isSpace(text[j]) { j += 1 }
                guard j < text.count, text[j] == UInt8(ascii: ":") else { continue }
                j += 1
                while j < text.count, isSpace(text[j]) { j += 1 }
                guard j < text.count, text[j] == UInt8(ascii: "\"") else { continue }
                j += 1
                var end = j
                while end < text.count, text[end] != UInt8(ascii: "\"") { end += text[end] == UInt8(ascii: "\\") ? 2 : 1 }
                return (j, min(end, text.count))
            }
            return nil
        }
    }

    /// YAML lines `token: …`, `client-key-data: …`, `password: …` (any indentation): the value is masked.
    static func maskYAMLLines(_ text: [UInt8]) -> [UInt8] {
        let keys = ["token", "client-key-data", "password"].map { Array($0.utf8) }
        var out: [UInt8] = []
        out.reserveCapacity(text.count)
        var lineStart = 0
        while lineStart <= text.count {
            var lineEnd = lineStart
            while lineEnd < text.count, text[lineEnd] != 10 { lineEnd += 1 }
            var line = Array(text[lineStart..<lineEnd])
            var j = 0
            while j < line.count, line[j] == 32 || line[j] == 9 { j += 1 }
            for k in keys where matches(k, at: j, in: line) {
                var v = j + k.count
                while v < line.count, line[v] == 32 || line[v] == 9 { v += 1 }
                guard v < line.count, line[v] == UInt8(ascii: ":") else { continue }
                v += 1
                while v < line.count, line[v] == 32 || line[v] == 9 { v += 1 }
                guard v < line.count, !matches(maskBytes, at: v, in: line) else { continue }
                line = Array(line[..<v]) + maskBytes
                break
            }
            out += line
            if lineEnd < text.count { out.append(10) }
            lineStart = lineEnd + 1
        }
        return out
    }

    /// `-----BEGIN … PRIVATE KEY-----` … `-----END … PRIVATE KEY-----`: what lies between is masked.
    static func maskPrivateKeys(_ text: [UInt8]) -> [UInt8] {
        let begin = Array("-----BEGIN ".utf8), end = Array("-----END ".utf8), tail = Array("PRIVATE KEY-----".utf8)
        /// The offset just past `marker … PRIVATE KEY-----` on one line starting at `i`, or nil.
        func line(_ marker: [UInt8], at i: Int) -> Int? {
            guard matches(marker, at: i, in: text, caseInsensitive: false) else { return nil }
            var h = i + marker.count
            while h < text.count, text[h] != 10, !matches(tail, at: h, in: text, caseInsensitive: false) { h += 1 }
            return matches(tail, at: h, in: text, caseInsensitive: false) ? h + tail.count : nil
        }
        return rewrite(text) { i in
            guard let bodyStart = line(begin, at: i) else { return nil }
            var e = bodyStart
            while e < text.count {
                if line(end, at: e) != nil { return (bodyStart, e) }
                e += 1
            }
            return nil
        }
    }
}

/// Small text helpers of the Kubernetes access (no Foundation).
public enum Text {
    /// `text` without leading and trailing spaces, tabs, CR and LF.
    public static func trimmed<S: StringProtocol>(_ text: S) -> String {
        let u = Array(text.utf8)
        var a = 0, b = u.count
        while a < b, Redactor.isSpace(u[a]) { a += 1 }
        while b > a, Redactor.isSpace(u[b - 1]) { b -= 1 }
        return String(decoding: u[a..<b], as: UTF8.self)
    }

    /// Percent-encodes every byte but RFC 3986's unreserved characters (`A-Z a-z 0-9 - . _ ~`), plus `extra`.
    public static func percentEncoded(_ text: String, keeping extra: String = "") -> String {
        let keep = Array(extra.utf8)
        let hex = Array("0123456789ABCDEF".utf8)
        var out: [UInt8] = []
        for b in text.utf8 {
            if Redactor.isWordByte(b) || b == 45 || b == 46 || b == 126 || keep.contains(b) {
                out.append(b)
            } else {
                out += [37, hex[Int(b >> 4)], hex[Int(b & 15)]]
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// `12s`, or `1.5s`.
    public static func seconds(_ s: Double) -> String {
        s == s.rounded() ? "\(Int(s))s" : "\(s)s"
    }
}
