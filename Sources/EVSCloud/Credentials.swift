// Credentials for Huawei Cloud: an access key pair (AK/SK, requests signed) or an IAM user (token from IAM).
// Read from a Kubernetes Secret mounted as a directory (one file per key) or from one file of `key=value` lines.
// Secrets never appear in a description, a log line or an error.
import FileBytes
import Glibc

/// How the driver authenticates to the cloud APIs.
public enum CloudCredentials: Sendable, CustomStringConvertible {
    /// AK/SK signing (the security token is set for temporary keys).
    case accessKey(accessKey: String, secretKey: String, securityToken: String?)
    /// An IAM user's password, exchanged for a project-scoped token.
    case password(user: String, password: String, domain: String)

    /// Names the kind and the non-secret identity only.
    public var description: String {
        switch self {
        case .accessKey(let ak, _, let token):
            "access key \(Self.masked(ak))" + (token == nil ? "" : " (temporary)")
        case .password(let user, _, let domain): "IAM user \(user) of domain \(domain)"
        }
    }

    private static func masked(_ key: String) -> String {
        key.count <= 4 ? "****" : String(key.prefix(4)) + "****"
    }

    /// The keys read: `access_key` + `secret_key` (+ `security_token`), or `username` + `password` + `domain_name`.
    public static let keys = ["access_key", "secret_key", "security_token", "username", "password", "domain_name"]

    /// Credentials from the values of `keys`; the error names the missing keys, never a value.
    public static func from(values: [String: String], source: String) throws(CredentialsError) -> CloudCredentials {
        func value(_ key: String) -> String? {
            guard let v = values[key]?.trimmingWhitespace, !v.isEmpty else { return nil }
            return v
        }
        if let ak = value("access_key") {
            guard let sk = value("secret_key") else { throw .incomplete(source: source, missing: ["secret_key"]) }
            return .accessKey(accessKey: ak, secretKey: sk, securityToken: value("security_token"))
        }
        if let user = value("username") {
            let missing = ["password", "domain_name"].filter { value($0) == nil }
            if !missing.isEmpty { throw .incomplete(source: source, missing: missing) }
            return .password(user: user, password: value("password")!, domain: value("domain_name")!)
        }
        throw .incomplete(source: source, missing: ["access_key and secret_key, or username, password and domain_name"])
    }

    /// Reads credentials from `path`: a directory (a mounted Secret: one file per key) or a file of `key=value`
    /// lines (`#` comments).
    public static func load(path: String) throws(CredentialsError) -> CloudCredentials {
        var st = stat()
        guard stat(path, &st) == 0 else { throw .unreadable(path: path, reason: String(cString: strerror(errno))) }
        var values: [String: String] = [:]
        if (st.st_mode & S_IFMT) == S_IFDIR {
            for key in keys {
                let file = path + "/" + key
                if access(file, F_OK) == 0 { values[key] = try readFile(file) }
            }
        } else {
            for line in try readFile(path).split(separator: "\n") {
                let text = String(line).trimmingWhitespace
                if text.isEmpty || text.hasPrefix("#") { continue }
                guard let eq = text.firstIndex(of: "=") else {
                    throw .unreadable(path: path, reason: "a line is not key=value")
                }
                values[String(text[..<eq]).trimmingWhitespace] = String(text[text.index(after: eq)...]).trimmingWhitespace
            }
        }
        return try from(values: values, source: path)
    }

    /// The file's text (FileBytes, at most 1 MiB); the error names the file and errno's text, never the content.
    static func readFile(_ path: String) throws(CredentialsError) -> String {
        do {
            return String(decoding: try FileBytes.read(path, limit: 1 << 20), as: UTF8.self)
        } catch {
            throw .unreadable(path: path, reason: error.reason)
        }
    }
}

/// Why credentials could not be read. Names files and keys, never values.
public enum CredentialsError: Error, Sendable, CustomStringConvertible {
    /// The file or directory cannot be read.
    case unreadable(path: String, reason: String)
    /// Keys are missing.
    case incomplete(source: String, missing: [String])

    public var description: String {
        switch self {
        case .unreadable(let path, let reason): "cannot read credentials \(path): \(reason)"
        case .incomplete(let source, let missing): "credentials \(source) lack \(missing.joined(separator: ", "))"
        }
    }
}

extension String {
    var trimmingWhitespace: String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" || f == "\n" || f == "\r" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" || l == "\n" || l == "\r" { s.removeLast() }
        return String(s)
    }
}
