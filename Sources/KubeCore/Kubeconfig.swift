import FileBytes
import JSONCore

/// A parsed kubeconfig (one file, or several merged with kubectl's precedence).
///
/// Relative paths (certificate-authority, client-certificate, client-key, tokenFile, and an exec command that
/// contains a `/`) are already resolved against the directory of the file that named them.
public struct Kubeconfig: Sendable, Equatable {
    /// A `clusters[].cluster` entry.
    public struct Cluster: Sendable, Equatable {
        public var server: String?
        /// Path to a PEM CA bundle (absolute after loading).
        public var certificateAuthority: String?
        /// Decoded `certificate-authority-data` (PEM bytes).
        public var certificateAuthorityData: [UInt8]?
        public var insecureSkipTLSVerify: Bool
        /// `tls-server-name`: name used for SNI and certificate verification instead of the server host.
        public var tlsServerName: String?
        /// `proxy-url` (not supported: the loader refuses a cluster that sets it).
        public var proxyURL: String?
        public init(server: String? = nil, certificateAuthority: String? = nil, certificateAuthorityData: [UInt8]? = nil,
                    insecureSkipTLSVerify: Bool = false, tlsServerName: String? = nil, proxyURL: String? = nil) {
            self.proxyURL = proxyURL
            self.server = server; self.certificateAuthority = certificateAuthority
            self.certificateAuthorityData = certificateAuthorityData
            self.insecureSkipTLSVerify = insecureSkipTLSVerify; self.tlsServerName = tlsServerName
        }
    }

    /// A `contexts[].context` entry.
    public struct Context: Sendable, Equatable {
        public var cluster: String
        public var user: String
        public var namespace: String?
        public init(cluster: String, user: String, namespace: String? = nil) {
            self.cluster = cluster; self.user = user; self.namespace = namespace
        }
    }

    /// One `name`/`value` environment entry of an exec plugin.
    public struct EnvVar: Sendable, Equatable {
        public var name: String
        public var value: String
        public init(name: String, value: String) { self.name = name; self.value = value }
    }

    /// A `users[].user.exec` credential plugin (client.authentication.k8s.io v1 or v1beta1).
    public struct ExecConfig: Sendable, Equatable {
        /// Command to run; absolute when the kubeconfig gave a relative path with a separator, else looked up in PATH.
        public var command: String
        public var args: [String]
        public var env: [EnvVar]
        /// `client.authentication.k8s.io/v1` or `client.authentication.k8s.io/v1beta1`.
        public var apiVersion: String
        public var installHint: String?
        public var provideClusterInfo: Bool
        /// `Never`, `IfAvailable` or `Always` (we never have a terminal to offer, so only `Always` fails).
        public var interactiveMode: String?
        public init(command: String, args: [String] = [], env: [EnvVar] = [],
                    apiVersion: String = "client.authentication.k8s.io/v1", installHint: String? = nil,
                    provideClusterInfo: Bool = false, interactiveMode: String? = nil) {
            self.command = command; self.args = args; self.env = env; self.apiVersion = apiVersion
            self.installHint = installHint; self.provideClusterInfo = provideClusterInfo
            self.interactiveMode = interactiveMode
        }
    }

    /// A `users[].user` entry. Its `description` never shows secrets.
    public struct AuthInfo: Sendable, Equatable, CustomStringConvertible {
        public var clientCertificate: String?
        public var clientCertificateData: [UInt8]?
        public var clientKey: String?
        public var clientKeyData: [UInt8]?
        public var token: String?
        public var tokenFile: String?
        public var exec: ExecConfig?
        /// Name of an `auth-provider` entry (unsupported; reported as an error when used).
        public var authProvider: String?
        /// Fields of ``unsupportedFields`` the entry sets (reported as an error when the user is used).
        public var unsupported: [String] = []
        /// Ways to authenticate that neither program honours: basic auth and impersonation.
        public static let unsupportedFields = ["username", "password", "as", "as-uid", "as-groups", "as-user-extra"]
        public init(clientCertificate: String? = nil, clientCertificateData: [UInt8]? = nil, clientKey: String? = nil,
                    clientKeyData: [UInt8]? = nil, token: String? = nil, tokenFile: String? = nil,
                    exec: ExecConfig? = nil, authProvider: String? = nil) {
            self.clientCertificate = clientCertificate; self.clientCertificateData = clientCertificateData
            self.clientKey = clientKey; self.clientKeyData = clientKeyData; self.token = token
            self.tokenFile = tokenFile; self.exec = exec; self.authProvider = authProvider
        }
        public var description: String {
            var parts: [String] = []
            if clientCertificate != nil || clientCertificateData != nil { parts.append("client-certificate") }
            if clientKey != nil || clientKeyData != nil { parts.append("client-key=\(Redactor.mask)") }
            if token != nil { parts.append("token=\(Redactor.mask)") }
            if let tokenFile { parts.append("tokenFile=\(tokenFile)") }
            if let exec { parts.append("exec=\(exec.command)") }
            return "AuthInfo(\(parts.joined(separator: ", ")))"
        }
    }

    public var clusters: [String: Cluster]
    public var users: [String: AuthInfo]
    public var contexts: [String: Context]
    public var currentContext: String?
    /// Files this configuration was read from, in precedence order.
    public var sourceFiles: [String]

    public init(clusters: [String: Cluster] = [:], users: [String: AuthInfo] = [:], contexts: [String: Context] = [:],
                currentContext: String? = nil, sourceFiles: [String] = []) {
        self.clusters = clusters; self.users = users; self.contexts = contexts
        self.currentContext = currentContext; self.sourceFiles = sourceFiles
    }

    /// True when nothing was configured (no clusters, users or contexts).
    public var isEmpty: Bool { clusters.isEmpty && users.isEmpty && contexts.isEmpty && (currentContext ?? "").isEmpty }

    /// Merges files in precedence order as kubectl does for `KUBECONFIG=a:b:c`: for clusters, users and contexts
    /// the first file that defines a name wins; current-context comes from the first file that sets one.
    public static func merge(_ configs: [Kubeconfig]) -> Kubeconfig {
        var out = Kubeconfig()
        for c in configs {
            for (k, v) in c.clusters where out.clusters[k] == nil { out.clusters[k] = v }
            for (k, v) in c.users where out.users[k] == nil { out.users[k] = v }
            for (k, v) in c.contexts where out.contexts[k] == nil { out.contexts[k] = v }
            if (out.currentContext ?? "").isEmpty, let cc = c.currentContext, !cc.isEmpty { out.currentContext = cc }
            out.sourceFiles += c.sourceFiles
        }
        return out
    }

    /// Reads and parses one kubeconfig file, resolving its relative paths against its directory.
    public static func load(file path: String) throws(KubeClientError) -> Kubeconfig {
        guard let bytes = try? FileBytes.read(path) else { throw KubeClientError.kubeconfigNotFound(path: path) }
        return try parse(yaml: String(decoding: bytes, as: UTF8.self), path: path)
    }

    /// Parses kubeconfig YAML (the subset ``KubeYAML`` reads) or JSON. `path` names the file (for errors and for
    /// resolving relative paths); when nil, relative paths are kept as they are.
    public static func parse(yaml: String, path: String? = nil) throws(KubeClientError) -> Kubeconfig {
        let name = path ?? "<inline>"
        func fail(_ reason: String) -> KubeClientError { .invalidKubeconfig(path: name, reason: reason) }
        let top: JSON
        do { top = try KubeYAML.parse(yaml) } catch { throw fail(error.description) }
        var cfg = Kubeconfig(sourceFiles: path.map { [$0] } ?? [])
        if top.isNull || top == .object([:]) { return cfg }  // an empty file is an empty config
        guard case .object = top else { throw fail("top level is not a mapping") }
        let baseDir: String? = path.map { p in p.contains("/") ? String(p[..<p.lastIndex(of: "/")!]) : "." }
        func resolve(_ p: String?) -> String? {
            guard let p, !p.isEmpty else { return nil }
            guard let baseDir, !p.hasPrefix("/") else { return p }
            return Paths.normalized(baseDir + "/" + p)
        }
        /// A scalar as text (YAML plain scalars like `true` or `8` read as their text too).
        func str(_ d: JSON, _ k: String) -> String? {
            switch d[k] {
            case .string(let s): s
            case .bool(let b): b ? "true" : "false"
            case .int(let i): "\(i)"
            case .number(let d): "\(d)"
            default: nil
            }
        }
        func bool(_ d: JSON, _ k: String) -> Bool { d[k] == .bool(true) || d[k] == .string("true") }
        func b64(_ d: JSON, _ k: String) throws(KubeClientError) -> [UInt8]? {
            guard let s = str(d, k), !s.isEmpty else { return nil }
            guard let bytes = Base64.decode(s) else { throw fail("\(k) is not valid base64") }
            return bytes
        }
        func entries(_ key: String, _ inner: String) throws(KubeClientError) -> [(String, JSON)] {
            switch top[key] {
            case .null: return []
            case .array(let list):
                var out: [(String, JSON)] = []
                for item in list {
                    guard let n = str(item, "name") else { throw fail("an entry of \(key) has no name") }
                    out.append((n, item[inner].isNull ? .object([:]) : item[inner]))
                }
                return out
            default: throw fail("\(key) is not a list")
            }
        }
        // Within one file, the first entry of a name wins too (kubectl keeps the first when decoding lists into maps).
        for (n, c) in try entries("clusters", "cluster") where cfg.clusters[n] == nil {
            cfg.clusters[n] = Cluster(
                server: str(c, "server"),
                certificateAuthority: resolve(str(c, "certificate-authority")),
                certificateAuthorityData: try b64(c, "certificate-authority-data"),
                insecureSkipTLSVerify: bool(c, "insecure-skip-tls-verify"),
                tlsServerName: str(c, "tls-server-name"),
                proxyURL: str(c, "proxy-url"))
        }
        for (n, c) in try entries("contexts", "context") where cfg.contexts[n] == nil {
            cfg.contexts[n] = Context(cluster: str(c, "cluster") ?? "", user: str(c, "user") ?? "",
                                      namespace: str(c, "namespace"))
        }
        for (n, u) in try entries("users", "user") where cfg.users[n] == nil {
            var info = AuthInfo(
                clientCertificate: resolve(str(u, "client-certificate")),
                clientCertificateData: try b64(u, "client-certificate-data"),
                clientKey: resolve(str(u, "client-key")),
                clientKeyData: try b64(u, "client-key-data"),
                token: str(u, "token").flatMap { $0.isEmpty ? nil : $0 },
                tokenFile: resolve(str(u, "tokenFile")))
            info.unsupported = AuthInfo.unsupportedFields.filter { !u[$0].isNull }
            if let token = info.token { Redactor.shared.register(token) }
            if let password = str(u, "password") { Redactor.shared.register(password) }
            if case .object = u["auth-provider"] { info.authProvider = str(u["auth-provider"], "name") ?? "unknown" }
            let e = u["exec"]
            if case .object = e {
                guard var command = str(e, "command"), !command.isEmpty else {
                    throw fail("user \"\(n)\": exec has no command")
                }
                // kubectl resolves the command only when it contains a path separator (else it is looked up in PATH).
                if command.contains("/") { command = resolve(command) ?? command }
                let args = e["args"].elements.map { item -> String in
                    if case .string(let s) = item { return s }
                    return item.isNull ? "" : item.description
                }
                let env = e["env"].elements.compactMap { item -> EnvVar? in
                    guard let k = str(item, "name") else { return nil }
                    return EnvVar(name: k, value: str(item, "value") ?? "")
                }
                guard let apiVersion = str(e, "apiVersion"), !apiVersion.isEmpty else {
                    throw fail("user \"\(n)\": exec plugin: invalid apiVersion \"\"")
                }
                info.exec = ExecConfig(command: command, args: args, env: env, apiVersion: apiVersion,
                                       installHint: str(e, "installHint"),
                                       provideClusterInfo: bool(e, "provideClusterInfo"),
                                       interactiveMode: str(e, "interactiveMode"))
            }
            cfg.users[n] = info
        }
        if let cc = str(top, "current-context"), !cc.isEmpty { cfg.currentContext = cc }
        return cfg
    }
}

/// Path arithmetic for kubeconfig-relative file names (no Foundation).
enum Paths {
    /// `a/./b/../c` → `a/c`; keeps a leading `/`.
    static func normalized(_ path: String) -> String {
        var parts: [Substring] = []
        for part in path.split(separator: "/", omittingEmptySubsequences: true) {
            if part == "." { continue }
            if part == "..", let last = parts.last, last != ".." { parts.removeLast(); continue }
            parts.append(part)
        }
        let joined = parts.joined(separator: "/")
        return path.hasPrefix("/") ? "/" + joined : (joined.isEmpty ? "." : joined)
    }
}
