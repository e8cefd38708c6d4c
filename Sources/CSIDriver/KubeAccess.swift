import HTTPTransport
import KubeCore

/// Where and how the driver reaches the Kubernetes API, as HTTPTransport settings: the server URL, the TLS trust
/// and client identity, and the bearer token. Loaded by KubeCore's `ConfigLoader`, the loader the plugin and the
/// scheduler use too (in-cluster service account, or a kubeconfig file); what the driver's curl transport cannot
/// honour (exec credential plugins, tls-server-name) is refused with a message naming it, rather than ignored.
public struct KubeAccess: Sendable {
    /// `https://host:port` without a trailing slash.
    public var server: String
    public var tls: TLSOptions
    public var authorization: HTTPAuthorization?

    public init(server: String, tls: TLSOptions, authorization: HTTPAuthorization?) {
        var server = server
        while server.hasSuffix("/") { server.removeLast() }
        self.server = server
        self.tls = tls
        self.authorization = authorization
    }

    /// The pod's service account, as client-go's `rest.InClusterConfig` reads it.
    public static func inCluster(
        environment: [String: String],
        serviceAccountDirectory: String = "/var/run/secrets/kubernetes.io/serviceaccount"
    ) throws(KubeAccessError) -> KubeAccess {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
              let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty else {
            throw KubeAccessError("not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT are not set")
        }
        do {
            return try access(ConfigLoader.inCluster(
                host: host, port: port, overrides: ConfigOverrides(),
                environment: LoadingEnvironment(variables: environment, serviceAccountDirectory: serviceAccountDirectory)))
        } catch { throw KubeAccessError("\(error)") }
    }

    /// The current context of the kubeconfig at `path` (relative file paths resolve against its directory).
    public static func kubeconfig(path: String) throws(KubeAccessError) -> KubeAccess {
        do {
            return try access(ConfigLoader.load(ConfigOverrides(kubeconfig: path), environment: LoadingEnvironment(variables: [:])))
        } catch let e as KubeAccessError { throw e } catch { throw KubeAccessError("\(error)") }
    }

    /// HTTPTransport's settings for a loaded configuration.
    static func access(_ config: ClientConfig) throws(KubeAccessError) -> KubeAccess {
        func refuse(_ what: String) -> KubeAccessError {
            KubeAccessError("\(config.userName.map { "user \($0)" } ?? "kubeconfig"): \(what) is not supported by the driver "
                            + "(use a token or a client certificate)")
        }
        if config.credentials.exec != nil { throw refuse("exec") }
        if config.tls.serverName != nil { throw refuse("tls-server-name") }
        var tls = TLSOptions()
        if config.tls.insecureSkipVerify {
            tls.trust = .insecureSkipVerify
        } else if let file = config.tls.caFile {
            tls.trust = .caFile(file)
        } else if let pem = config.tls.caPEM {
            tls.trust = .caPEM(pem)
        }
        if let cert = config.credentials.clientCertificatePEM, let key = config.credentials.clientKeyPEM {
            tls.clientIdentity = .pem(certificate: cert, key: key)
        }
        var authorization: HTTPAuthorization?
        if let file = config.credentials.tokenFile {
            authorization = .bearerTokenFile(file)
        } else if let token = config.credentials.token {
            authorization = .bearer(token)
        }
        return KubeAccess(server: config.server, tls: tls, authorization: authorization)
    }
}

/// Kubernetes access cannot be set up; the message names the file, context or field.
public struct KubeAccessError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
