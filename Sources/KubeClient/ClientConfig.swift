import Foundation
import TimeCore

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

    /// Parses a kubectl `--request-timeout` value: `0` (none), a bare number of seconds, or a duration like `500ms`, `30s`, `1m`, `1h`, `1m30s`.
    /// Read by TimeCore's one duration parser (a bare number is seconds).
    public static func parseTimeout(_ text: String) -> Duration? {
        let t = text.trimmingCharacters(in: .whitespaces)
        guard let duration = DurationText.parse(t, bareNumberIsSeconds: true), duration > .zero else { return nil }
        return duration
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
        LoadingEnvironment(variables: ProcessInfo.processInfo.environment)
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
        public var caPEM: Data?
        /// `insecure-skip-tls-verify`.
        public var insecureSkipVerify: Bool
        /// `tls-server-name`.
        public var serverName: String?
        public init(caPEM: Data? = nil, insecureSkipVerify: Bool = false, serverName: String? = nil) {
            self.caPEM = caPEM; self.insecureSkipVerify = insecureSkipVerify; self.serverName = serverName
        }
    }

    /// How requests authenticate. Several may be set (kubectl sends a token and a client certificate together).
    public struct Credentials: Sendable, Equatable, CustomStringConvertible {
        /// PEM client certificate chain.
        public var clientCertificatePEM: Data?
        /// PEM private key of the client certificate.
        public var clientKeyPEM: Data?
        /// Static bearer token.
        public var token: String?
        /// File re-read (at most once a minute) for a rotating bearer token; wins over `token` when set.
        public var tokenFile: String?
        /// Exec credential plugin.
        public var exec: Kubeconfig.ExecConfig?
        public init(clientCertificatePEM: Data? = nil, clientKeyPEM: Data? = nil, token: String? = nil,
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
        let fm = FileManager.default
        if let explicit = overrides.kubeconfig, !explicit.isEmpty {
            guard fm.fileExists(atPath: explicit) else { throw KubeClientError.kubeconfigNotFound(path: explicit) }
            return ([explicit], [explicit])
        }
        if let env = environment.variables["KUBECONFIG"], !env.isEmpty {
            var seen = Set<String>()
            let listed = env.split(separator: ":", omittingEmptySubsequences: true).map(String.init)
            let files = listed.filter { fm.fileExists(atPath: $0) && seen.insert($0).inserted }
            return (files, listed)
        }
        if let home = environment.homeDirectory, !home.isEmpty {
            let p = (home as NSString).appendingPathComponent(".kube/config")
            return (fm.fileExists(atPath: p) ? [p] : [], [p])
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
        guard let url = URL(string: server), url.host != nil, ["https", "http"].contains(url.scheme ?? "") else {
            throw KubeClientError.invalidServerURL(server)
        }

        if cluster.insecureSkipTLSVerify && (cluster.certificateAuthorityData != nil || cluster.certificateAuthority != nil) {
            // client-go refuses this combination too.
            throw KubeClientError.invalidKubeconfig(path: config.sourceFiles.first ?? "<kubeconfig>",
                reason: "cluster \"\(clusterName)\": specifying a root certificates file with the insecure flag is not allowed")
        }
        var caPEM = cluster.certificateAuthorityData
        if caPEM == nil, let path = cluster.certificateAuthority {
            caPEM = try readFile(path, what: "certificate-authority")
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
        creds.token = user.token
        creds.tokenFile = user.tokenFile
        creds.exec = user.exec

        let ns: String
        if let n = overrides.namespace, !n.isEmpty { ns = n } else if let n = context?.namespace, !n.isEmpty { ns = n } else { ns = "default" }
        return ClientConfig(server: server, namespace: ns, namespaceFromFlag: !(overrides.namespace ?? "").isEmpty,
                            contextName: contextName, clusterName: clusterName, userName: userName.isEmpty ? nil : userName,
                            source: .kubeconfig(files: config.sourceFiles),
                            tls: .init(caPEM: caPEM, insecureSkipVerify: cluster.insecureSkipTLSVerify, serverName: cluster.tlsServerName),
                            credentials: creds, requestTimeout: overrides.requestTimeout)
    }

    /// In-cluster configuration from the service account files (client-go `InClusterConfig`).
    public static func inCluster(host: String, port: String, overrides: ConfigOverrides,
                                 environment: LoadingEnvironment) throws -> ClientConfig {
        let dir = environment.serviceAccountDirectory
        let tokenPath = (dir as NSString).appendingPathComponent("token")
        let caPath = (dir as NSString).appendingPathComponent("ca.crt")
        let nsPath = (dir as NSString).appendingPathComponent("namespace")
        guard let tokenData = FileManager.default.contents(atPath: tokenPath) else {
            throw KubeClientError.inClusterUnavailable(reason: "open \(tokenPath): no such file or directory")
        }
        Redactor.shared.register(String(decoding: tokenData, as: UTF8.self))
        let ca = FileManager.default.contents(atPath: caPath)
        let hostPart = host.contains(":") ? "[\(host)]" : host
        var ns = "default"
        if let d = FileManager.default.contents(atPath: nsPath) {
            let s = String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if !s.isEmpty { ns = s }
        }
        let flagNS = overrides.namespace.flatMap { $0.isEmpty ? nil : $0 }
        return ClientConfig(server: "https://\(hostPart):\(port)", namespace: flagNS ?? ns, namespaceFromFlag: flagNS != nil,
                            source: .inCluster, tls: .init(caPEM: ca),
                            credentials: .init(tokenFile: tokenPath), requestTimeout: overrides.requestTimeout)
    }

    static func readFile(_ path: String, what: String) throws -> Data {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw KubeClientError.unreadableFile(what: what, path: path)
        }
        return d
    }
}
