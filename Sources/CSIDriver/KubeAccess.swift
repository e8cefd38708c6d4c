import FileBytes
import HTTPTransport
import JSONCore
#if canImport(Glibc)
import Glibc
#endif

/// Where and how the driver reaches the Kubernetes API: the server URL, the TLS trust and client identity, and
/// the bearer token. Read from the pod's service account (in-cluster) or from the subset of a kubeconfig that
/// the driver supports: the current context's cluster `server`, `certificate-authority(-data)`,
/// `insecure-skip-tls-verify`, and its user's `client-certificate(-data)`, `client-key(-data)`, `token`,
/// `tokenFile`. Anything else a kubeconfig user needs (exec plugins, auth providers, proxies) is refused with
/// a message naming it, rather than silently ignored.
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
        let token = serviceAccountDirectory + "/token"
        let ca = serviceAccountDirectory + "/ca.crt"
        guard access(token, R_OK) == 0 else { throw KubeAccessError("cannot read the service account token \(token)") }
        guard access(ca, R_OK) == 0 else { throw KubeAccessError("cannot read the service account CA \(ca)") }
        let hostPart = host.contains(":") ? "[\(host)]" : host  // IPv6 literal
        return KubeAccess(server: "https://\(hostPart):\(port)", tls: TLSOptions(trust: .caFile(ca)),
                          authorization: .bearerTokenFile(token))
    }

    /// The current context of the kubeconfig at `path` (relative file paths resolve against its directory).
    public static func kubeconfig(path: String) throws(KubeAccessError) -> KubeAccess {
        guard let bytes = try? FileBytes.read(path) else { throw KubeAccessError("cannot read kubeconfig \(path)") }
        let document: JSON
        do { document = try KubeYAML.parse(String(decoding: bytes, as: UTF8.self)) } catch {
            throw KubeAccessError("kubeconfig \(path): \(error)")
        }
        let directory = path.contains("/") ? String(path[..<path.lastIndex(of: "/")!]) : "."
        return try kubeconfig(document, directory: directory, name: path)
    }

    static func kubeconfig(_ document: JSON, directory: String, name: String) throws(KubeAccessError) -> KubeAccess {
        func fail(_ what: String) -> KubeAccessError { KubeAccessError("kubeconfig \(name): \(what)") }
        func named(_ list: String, _ wanted: String) -> JSON? {
            document[list].elements.first { $0["name"].string == wanted }
        }
        func resolve(_ file: String) -> String { file.hasPrefix("/") ? file : directory + "/" + file }

        guard let current = document["current-context"].string, !current.isEmpty else {
            throw fail("no current-context")
        }
        guard let context = named("contexts", current)?["context"].nonNull else { throw fail("context \(current) not found") }
        guard let clusterName = context["cluster"].string, let cluster = named("clusters", clusterName)?["cluster"].nonNull else {
            throw fail("the cluster of context \(current) not found")
        }
        guard let server = cluster["server"].string, server.hasPrefix("https://") || server.hasPrefix("http://") else {
            throw fail("cluster \(clusterName) has no http(s) server")
        }
        for unsupported in ["proxy-url", "tls-server-name"] where !cluster[unsupported].isNull {
            throw fail("cluster \(clusterName): \(unsupported) is not supported by the driver")
        }
        var tls = TLSOptions()
        if cluster["insecure-skip-tls-verify"] == .bool(true) {
            tls.trust = .insecureSkipVerify
        } else if let data = cluster["certificate-authority-data"].string {
            guard let pem = Base64.decode(data) else { throw fail("certificate-authority-data is not base64") }
            tls.trust = .caPEM(pem)
        } else if let file = cluster["certificate-authority"].string {
            tls.trust = .caFile(resolve(file))
        }

        var authorization: HTTPAuthorization?
        if let userName = context["user"].string, !userName.isEmpty {
            guard let user = named("users", userName)?["user"].nonNull else { throw fail("user \(userName) not found") }
            for unsupported in ["exec", "auth-provider", "username", "password", "as", "impersonate"] where !user[unsupported].isNull {
                throw fail("user \(userName): \(unsupported) is not supported by the driver (use a token or a client certificate)")
            }
            let certData = user["client-certificate-data"].string
            let keyData = user["client-key-data"].string
            let certFile = user["client-certificate"].string
            let keyFile = user["client-key"].string
            if let certData, let keyData {
                guard let cert = Base64.decode(certData), let key = Base64.decode(keyData) else {
                    throw fail("user \(userName): client certificate or key data is not base64")
                }
                tls.clientIdentity = .pem(certificate: cert, key: key)
            } else if let certFile, let keyFile {
                tls.clientIdentity = .files(certificate: resolve(certFile), key: resolve(keyFile))
            } else if certData != nil || keyData != nil || certFile != nil || keyFile != nil {
                throw fail("user \(userName): a client certificate needs both the certificate and the key")
            }
            if let token = user["token"].string, !token.isEmpty {
                authorization = .bearer(token)
            } else if let file = user["tokenFile"].string, !file.isEmpty {
                authorization = .bearerTokenFile(resolve(file))
            }
        }
        return KubeAccess(server: server, tls: tls, authorization: authorization)
    }
}

/// Kubernetes access cannot be set up; the message names the file, context or field.
public struct KubeAccessError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

/// Standard base64 (RFC 4648, with or without padding; whitespace ignored), as kubeconfig `*-data` fields use.
enum Base64 {
    static func decode(_ text: String) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count * 3 / 4)
        var accumulator: UInt32 = 0
        var bits = 0
        var padding = 0
        for c in text.utf8 {
            let value: UInt32
            switch c {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): value = UInt32(c - UInt8(ascii: "A"))
            case UInt8(ascii: "a")...UInt8(ascii: "z"): value = UInt32(c - UInt8(ascii: "a") + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): value = UInt32(c - UInt8(ascii: "0") + 52)
            case UInt8(ascii: "+"): value = 62
            case UInt8(ascii: "/"): value = 63
            case UInt8(ascii: "="): padding += 1; continue
            case 9, 10, 13, 32: continue
            default: return nil
            }
            if padding > 0 { return nil }  // data after padding
            accumulator = (accumulator << 6) | value
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: accumulator >> UInt32(bits)))
            }
        }
        if bits >= 6 { return nil }  // one dangling character cannot be valid
        return out
    }
}
