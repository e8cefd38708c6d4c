import Foundation
import Synchronization

/// Removes secrets from text before it is logged or put into an error message.
///
/// Two layers: every secret the client loads (tokens, token-file contents, exec credentials, key material) is
/// registered with ``register(_:)`` and replaced wherever it appears; and patterns catch the shapes secrets come in
/// even when unregistered: `Authorization` headers, `Bearer …`, JSON/YAML `token`, `*-data`/`*Data` key fields,
/// `password`, and PEM `PRIVATE KEY` blocks. Every log line of ``KubeClient`` goes through ``redact(_:)``.
public final class Redactor: Sendable {
    /// The process-wide redactor used by the client, its logs and its errors.
    public static let shared = Redactor()

    /// The placeholder that replaces a secret.
    public static let mask = "<redacted>"

    /// Known secret strings. Guarded by the mutex; written by `register`, read by `redact` (any thread).
    private let secrets = Mutex<Set<String>>([])

    // NSRegularExpression is immutable after creation and thread-safe for matching (Sendable in corelibs Foundation).
    private static let patterns: [(NSRegularExpression, String)] = {
        let specs: [(String, String)] = [
            // PEM private keys (any flavour), possibly spanning lines.
            (#"-----BEGIN ([A-Z ]*)PRIVATE KEY-----[\s\S]*?-----END \1PRIVATE KEY-----"#, "-----BEGIN $1PRIVATE KEY-----<redacted>-----END $1PRIVATE KEY-----"),
            // HTTP header lines and header dumps.
            (#"(?i)(authorization\s*[:=]\s*"?)(bearer|basic)?\s*[^\s",]+"#, "$1$2 <redacted>"),
            (#"(?i)\b(bearer)\s+[A-Za-z0-9._~+/=-]+"#, "$1 <redacted>"),
            // JSON fields ("token": "...", "clientKeyData": "...", "client-key-data": "...", "password": "...").
            (#"(?i)("(?:token|access_token|id_token|refresh_token|password|clientKeyData|client-key-data|client-certificate-data|clientCertificateData)"\s*:\s*")((?:[^"\\]|\\.)*)(")"#, "$1<redacted>$3"),
            // YAML / flag forms: token: xxx, client-key-data: xxx, --token=xxx.
            (#"(?im)^(\s*(?:token|client-key-data|password)\s*:\s*)(\S.*)$"#, "$1<redacted>"),
            (#"(?i)(--token[= ])(\S+)"#, "$1<redacted>"),
        ]
        return specs.map { (try! NSRegularExpression(pattern: $0.0), $0.1) }
    }()

    public init() {}

    /// Registers a secret value (token, key material): every later `redact` replaces it. Values shorter than
    /// 6 characters are ignored, so common words are never masked by accident.
    public func register(_ secret: String) {
        let s = secret.trimmingCharacters(in: .whitespacesAndNewlines)
        guard s.count >= 6 else { return }
        secrets.withLock { _ = $0.insert(s) }
    }

    /// Returns `text` with every registered secret and every secret-shaped field replaced by `<redacted>`.
    public func redact(_ text: String) -> String {
        var out = text
        let known = secrets.withLock { $0 }
        // Longest first, so a secret containing another one is masked whole.
        for s in known.sorted(by: { $0.count > $1.count }) where out.contains(s) {
            out = out.replacingOccurrences(of: s, with: Redactor.mask)
        }
        for (re, template) in Redactor.patterns {
            let range = NSRange(out.startIndex..., in: out)
            out = re.stringByReplacingMatches(in: out, range: range, withTemplate: template)
        }
        return out
    }
}
