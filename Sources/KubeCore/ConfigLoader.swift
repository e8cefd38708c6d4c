import FileBytes
#if canImport(Glibc)
import Glibc
#endif

/// Command-line overrides, as kubectl's `--kubeconfig`, `--context`, `--cluster`, `--user`, `-n`, `--request-timeout`.
public struct ConfigOverrides: Sendable, Equatable {
    /// `--kubeconfig`: the only file read; an error when missing.
    public var kubeconfig: String?
    /// `--context`: replaces current-context.
    public var context: String?
    /// `--cluster`: replaces the context's cluster.
    public var cluster: String?
    /// `--user`: replaces the context's user.
    public var user: String?
    /// `-n/--namespace`: replaces the context's namespace.
    public var namespace: String?
    /// `--request-timeout` (nil or zero: no timeout).
    public var requestTimeout: Duration?
    public init(kubeconfig: String? = nil, context: String? = nil, cluster: String? = nil, user: String? = nil,
                namespace: String? = nil, requestTimeout: Duration? = nil) {
        self.kubeconfig = kubeconfig; self.context = context; self.cluster = cluster; self.user = user
        self.namespace = namespace; self.requestTimeout = requestTimeout
    }
}

/// Where the loader looks: environment variables, home directory and the service-account directory.
/// Injectable so tests never depend on the machine they run on.
public struct LoadingEnvironment: Sendable {
    /// Environment variables (`KUBECONFIG`, `KUBERNETES_SERVICE_HOST`, `KUBERNETES_SERVICE_PORT`, `HOME`).
    public var variables: [String: String]
    /// Home directory for `~/.kube/config`; defaults to `HOME`.
    public var homeDirectory: String?
    /// Directory holding `token`, `ca.crt` and `namespace` for in-cluster configuration.
    public var serviceAccountDirectory: String
    public init(variables: [String: String], homeDirectory: String? = nil,
                serviceAccountDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount") {
        self.variables = variables
        self.homeDirectory = homeDirectory ?? variables["HOME"]
        self.serviceAccountDirectory = serviceAccountDirectory
    }
    /// The real process environment.
    public static var process: LoadingEnvironment {
        LoadingEnvironment(variables: processVariables())
    }

    /// The process's environment variables (`environ`).
    public static func processVariables() -> [String: String] {
        var out: [String: String] = [:]
        var p = environ
        while let entry = p.pointee {
            let text = String(cString: entry)
            if let eq = text.firstIndex(of: "=") {
                let key = String(text[..<eq])
                if out[key] == nil { out[key] = String(text[text.index(after: eq)...]) }
            }
            p += 1
        }
        return out
    }
}

/// Everything needed to talk to one API server, resolved from kubeconfig or in-cluster files.
/// Its `description` never contains a token or key.
public struct ClientConfig: Sendable, CustomStringConvertible {
    /// Where the configuration came from.
    public enum Source: Sendable, Equatable {
        /// Kubeconfig files, in precedence order.
        case kubeconfig(files: [String])
        /// The pod's service account (KUBERNETES_SERVICE_HOST/PORT and the service-account directory).
        case inCluster
    }

    /// TLS settings of the cluster.
    public struct TLS: Sendable, Equatable {
        /// PEM bundle of trusted CAs; nil means the system trust store.
        public var caPEM: [UInt8]?
        /// The file `caPEM` was read from, when it came from one (the driver's curl transport reads the file).
        public var caFile: String?
        /// `insecure-skip-tls-verify`.
        public var insecureSkipVerify: Bool
        /// `tls-server-name`.
        public var serverName: String?
        public init(caPEM: [UInt8]? = nil, caFile: String? = nil, insecureSkipVerify: Bool = false, serverName: String? = nil) {
            self.caPEM = caPEM; self.caFile = caFile; self.insecureSkipVerify = insecureSkipVerify; self.serverName = serverName
        }
    }

    /// How requests authenticate. Several may be set (kubectl sends a token and a client certificate together).
    public struct Credentials: Sendable, Equatable, CustomStringConvertible {
        /// PEM client certificate chain.
        public var clientCertificatePEM: [UInt8]?
        /// PEM private key of the client certificate.
        public var clientKeyPEM: [UInt8]?
        /// Static bearer token.
        public var token: String?
        /// File re-read (at most once a minute) for a rotating bearer token; wins over `token` when set.
        public var tokenFile: String?
        /// Exec credential plugin.
        public var exec: Kubeconfig.ExecConfig?
        public init(clientCertificatePEM: [UInt8]? = nil, clientKeyPEM: [UInt8]? = nil, token: String? = nil,
                    tokenFile: String? = nil, exec: Kubeconfig.ExecConfig? = nil) {
            self.clientCertificatePEM = clientCertificatePEM; self.clientKeyPEM = clientKeyPEM
            self.token = token; self.tokenFile = tokenFile; self.exec = exec
        }
        public var description: String {
            var parts: [String] = []
            if clientCertificatePEM != nil { parts.append("client-certificate") }
            if clientKeyPEM != nil { parts.append("client-key=\(Redactor.mask)") }
            if token != nil { parts.append("token=\(Redactor.mask)") }
            if let tokenFile { parts.append("tokenFile=\(tokenFile)") }
            if let exec { parts.append("exec=\(exec.command)") }
            return parts.isEmpty ? "anonymous" : parts.joined(separator: ", ")
        }
    }

    /// API server URL, e.g. `https://127.0.0.1:6443` (no trailing slash).
    public var server: String
    /// Namespace for namespaced requests: `-n`, else the context's namespace, else `default`.
    public var namespace: String
    /// True when the namespace came from `-n` (the plugin may want to say so).
    public var namespaceFromFlag: Bool
    public var contextName: String?
    public var clusterName: String?
    public var userName: String?
    public var source: Source
    public var tls: TLS
    public var credentials: Credentials
    /// `--request-timeout`; nil means none.
    public var requestTimeout: Duration?

    public init(server: String, namespace: String = "default", namespaceFromFlag: Bool = false,
                contextName: String? = nil, clusterName: String? = nil, userName: String? = nil,
                source: Source = .kubeconfig(files: []), tls: TLS = TLS(), credentials: Credentials = Credentials(),
                requestTimeout: Duration? = nil) {
        self.server = server; self.namespace = namespace; self.namespaceFromFlag = namespaceFromFlag
        self.contextName = contextName; self.clusterName = clusterName; self.userName = userName
        self.source = source; self.tls = tls; self.credentials = credentials; self.requestTimeout = requestTimeout
    }

    public var description: String {
        "ClientConfig(server: \(server), context: \(contextName ?? "-"), cluster: \(clusterName ?? "-"), user: \(userName ?? "-"), namespace: \(namespace), auth: \(credentials), insecure: \(tls.insecureSkipVerify))"
    }

    /// Loads the configuration exactly as kubectl does; see ``ConfigLoader``.
    public static func load(_ overrides: ConfigOverrides = ConfigOverrides(),
                            environment: LoadingEnvironment = .process) throws -> ClientConfig {
        try ConfigLoader.load(overrides, environment: environment)
    }
}

/// kubectl's loading rules.
///
/// 1. `--kubeconfig` wins and must exist. 2. Else `KUBECONFIG` (`:`-separated; missing files ignored), merged with
/// ``Kubeconfig/merge(_:)``. 3. Else `~/.kube/config` when it exists. 4. When none of these yields any configuration and
/// no `--context/--cluster/--user` flag asks for one, in-cluster configuration is used if `KUBERNETES_SERVICE_HOST` and
/// `KUBERNETES_SERVICE_PORT` are set; otherwise ``KubeClientError/noConfiguration(triedPaths:)``.
public enum ConfigLoader {
    /// Resolves the kubeconfig files to read, in precedence order, with the paths tried (for error messages).
    public static func kubeconfigFiles(_ overrides: ConfigOverrides, environment: LoadingEnvironment) throws -> (files: [String], tried: [String]) {
        func exists(_ path: String) -> Bool { access(path, F_OK) == 0 }
        if let explicit = overrides.kubeconfig, !explicit.isEmpty {
            guard exists(explicit) else { throw KubeClientError.kubeconfigNotFound(path: explicit) }
            return ([explicit], [explicit])
        }
        if let env = environment.variables["KUBECONFIG"], !env.isEmpty {
            var seen = Set<String>()
            let listed = env.split(separator: ":", omittingEmptySubsequences: true).map(String.init)
            let files = listed.filter { exists($0) && seen.insert($0).inserted }
            return (files, listed)
        }
        if let home = environment.homeDirectory, !home.isEmpty {
            let p = (home.hasSuffix("/") ? home : home + "/") + ".kube/config"
            return (exists(p) ? [p] : [], [p])
        }
        return ([], [])
    }

    /// Loads and resolves the configuration.
    public static func load(_ overrides: ConfigOverrides, environment: LoadingEnvironment) throws -> ClientConfig {
        let (files, tried) = try kubeconfigFiles(overrides, environment: environment)
        let merged = Kubeconfig.merge(try files.map { try Kubeconfig.load(file: $0) })
        let asksForKubeconfig = overrides.context != nil || overrides.cluster != nil || overrides.user != nil
        if merged.isEmpty && !asksForKubeconfig {
            if let host = environment.variables["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
               let port = environment.variables["KUBERNETES_SERVICE_PORT"], !port.isEmpty {
                return try inCluster(host: host, port: port, overrides: overrides, environment: environment)
            }
            throw KubeClientError.noConfiguration(triedPaths: tried)
        }
        return try resolve(merged, overrides: overrides)
    }

    /// Picks context, cluster and user from a merged kubeconfig and reads the files they name.
    public static func resolve(_ config: Kubeconfig, overrides: ConfigOverrides) throws -> ClientConfig {
        let contextName = overrides.context.flatMap { $0.isEmpty ? nil : $0 } ?? config.currentContext
        var context: Kubeconfig.Context?
        if let contextName {
            guard let c = config.contexts[contextName] else { throw KubeClientError.contextNotFound(contextName) }
            context = c
        }
        guard let clusterName = overrides.cluster.flatMap({ $0.isEmpty ? nil : $0 }) ?? context?.cluster, !clusterName.isEmpty else {
            throw contextName == nil ? KubeClientError.noCurrentContext : KubeClientError.clusterNotFound("")
        }
        guard let cluster = config.clusters[clusterName] else { throw KubeClientError.clusterNotFound(clusterName) }
        let userName = overrides.user.flatMap { $0.isEmpty ? nil : $0 } ?? context?.user ?? ""
        var user = Kubeconfig.AuthInfo()
        if !userName.isEmpty {
            guard let u = config.users[userName] else { throw KubeClientError.userNotFound(userName) }
            user = u
        }
        guard var server = cluster.server, !server.isEmpty else { throw KubeClientError.missingServer(cluster: clusterName) }
        while server.hasSuffix("/") { server.removeLast() }
        if !server.contains("://") { server = "https://" + server }
        guard let url = ServerURL(server) else { throw KubeClientError.invalidServerURL(server) }
        _ = url

        if cluster.insecureSkipTLSVerify && (cluster.certificateAuthorityData != nil || cluster.certificateAuthority != nil) {
            // client-go refuses this combination too.
            throw KubeClientError.invalidKubeconfig(path: config.sourceFiles.first ?? "<kubeconfig>",
                reason: "cluster \"\(clusterName)\": specifying a root certificates file with the insecure flag is not allowed")
        }
        var caPEM = cluster.certificateAuthorityData
        if caPEM == nil, let path = cluster.certificateAuthority {
            caPEM = try readFile(path, what: "certificate-authority")
        }
        if let proxy = cluster.proxyURL, !proxy.isEmpty {
            throw KubeClientError.invalidKubeconfig(path: config.sourceFiles.first ?? "<kubeconfig>",
                reason: "cluster \"\(clusterName)\": proxy-url is not supported")
        }
        if let field = user.unsupported.first {
            throw KubeClientError.invalidKubeconfig(path: config.sourceFiles.first ?? "<kubeconfig>",
                reason: "user \"\(userName)\": \(field) is not supported (use a token, a client certificate or an exec plugin)")
        }
        if user.authProvider != nil {
            throw KubeClientError.invalidKubeconfig(path: config.sourceFiles.first ?? "<kubeconfig>",
                reason: "user \"\(userName)\": auth-provider \"\(user.authProvider!)\" is not supported; use an exec credential plugin")
        }
        var creds = ClientConfig.Credentials()
        creds.clientCertificatePEM = try user.clientCertificateData ?? user.clientCertificate.map { try readFile($0, what: "client-certificate") }
        creds.clientKeyPEM = try user.clientKeyData ?? user.clientKey.map { try readFile($0, what: "client-key") }
        if (creds.clientCertificatePEM == nil) != (creds.clientKeyPEM == nil) {
            throw KubeClientError.invalidKubeconfig(path: config.sourceFiles.first ?? "<kubeconfig>",
                reason: "user \"\(userName)\": client-certificate and client-key must be set together")
        }
        if let key = creds.clientKeyPEM { Redactor.shared.register(String(decoding: key, as: UTF8.self)) }
        // kubectl sends the token when both are set; tokenFile wins over token (client-go).
        creds.token = user.token
        creds.tokenFile = user.tokenFile
        creds.exec = user.exec

        let ns: String
        if let n = overrides.namespace, !n.isEmpty { ns = n } else if let n = context?.namespace, !n.isEmpty { ns = n } else { ns = "default" }
        return ClientConfig(server: server, namespace: ns, namespaceFromFlag: !(overrides.namespace ?? "").isEmpty,
                            contextName: contextName, clusterName: clusterName, userName: userName.isEmpty ? nil : userName,
                            source: .kubeconfig(files: config.sourceFiles),
                            tls: .init(caPEM: caPEM, caFile: cluster.certificateAuthorityData == nil ? cluster.certificateAuthority : nil,
                                       insecureSkipVerify: cluster.insecureSkipTLSVerify, serverName: cluster.tlsServerName),
                            credentials: creds, requestTimeout: overrides.requestTimeout)
    }

    /// In-cluster configuration from the service account files (client-go `InClusterConfig`).
    public static func inCluster(host: String, port: String, overrides: ConfigOverrides,
                                 environment: LoadingEnvironment) throws -> ClientConfig {
        let dir = environment.serviceAccountDirectory
        let tokenPath = dir + "/token"
        let caPath = dir + "/ca.crt"
        let nsPath = dir + "/namespace"
        guard let tokenData = try? FileBytes.read(tokenPath) else {
            throw KubeClientError.inClusterUnavailable(reason: "open \(tokenPath): no such file or directory")
        }
        Redactor.shared.register(String(decoding: tokenData, as: UTF8.self))
        let ca = try? FileBytes.read(caPath)
        let hostPart = host.contains(":") ? "[\(host)]" : host
        var ns = "default"
        if let text = FileBytes.text(nsPath) {
            let s = Text.trimmed(text)
            if !s.isEmpty { ns = s }
        }
        let flagNS = overrides.namespace.flatMap { $0.isEmpty ? nil : $0 }
        return ClientConfig(server: "https://\(hostPart):\(port)", namespace: flagNS ?? ns, namespaceFromFlag: flagNS != nil,
                            source: .inCluster, tls: .init(caPEM: ca, caFile: ca == nil ? nil : caPath),
                            credentials: .init(tokenFile: tokenPath), requestTimeout: overrides.requestTimeout)
    }

    static func readFile(_ path: String, what: String) throws(KubeClientError) -> [UInt8] {
        guard let bytes = try? FileBytes.read(path) else { throw KubeClientError.unreadableFile(what: what, path: path) }
        return bytes
    }
}

/// The parts of an `http(s)://host[:port][/path]` server URL the clients need (no Foundation).
public struct ServerURL: Sendable, Equatable {
    public var scheme: String
    /// Host name or address (an IPv6 literal without its brackets).
    public var host: String
    public var port: Int?
    /// Everything after the authority (`""` or `/prefix`).
    public var path: String

    public init?(_ text: String) {
        let lower = text.lowercased()
        if lower.hasPrefix("https://") { scheme = "https" } else if lower.hasPrefix("http://") { scheme = "http" } else { return nil }
        let rest = text.dropFirst(scheme.count + 3)
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        path = String(rest.dropFirst(authority.count))
        var hostPort = authority
        if let at = hostPort.lastIndex(of: "@") { hostPort = hostPort[hostPort.index(after: at)...] }
        if hostPort.first == "[" {
            guard let close = hostPort.firstIndex(of: "]") else { return nil }
            host = String(hostPort[hostPort.index(after: hostPort.startIndex)..<close])
            let after = hostPort[hostPort.index(after: close)...]
            if after.isEmpty { port = nil } else {
                guard after.first == ":", let p = Int(after.dropFirst()) else { return nil }
                port = p
            }
        } else if let colon = hostPort.lastIndex(of: ":") {
            host = String(hostPort[..<colon])
            guard let p = Int(hostPort[hostPort.index(after: colon)...]) else { return nil }
            port = p
        } else {
            host = String(hostPort)
            port = nil
        }
        guard !host.isEmpty else { return nil }
    }
}
