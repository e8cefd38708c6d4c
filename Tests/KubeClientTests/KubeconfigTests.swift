import Foundation
import Testing
@testable import KubeClient

/// A kubeconfig with one cluster/user/context named `name`, pointing at `server`.
func kubeconfigYAML(name: String, server: String, current: String? = nil, namespace: String? = nil,
                    userExtra: String = "    token: tok-\(UUID().uuidString.prefix(8))") -> String {
    """
    apiVersion: v1
    kind: Config
    clusters:
    - name: \(name)
      cluster:
        server: \(server)
    contexts:
    - name: \(name)
      context:
        cluster: \(name)
        user: \(name)
    \(namespace.map { "    namespace: \($0)" } ?? "")
    users:
    - name: \(name)
      user:
    \(userExtra)
    \(current.map { "current-context: \($0)" } ?? "")
    """
}

@Suite("kubeconfig loading")
struct KubeconfigTests {
    @Test("the recorded kubeconfig example parses: 1 cluster, 3 users, 3 contexts, exec v1 plugin")
    func parsesRecordedExample() throws {
        let path = Fixtures.dir.appendingPathComponent("kubeconfig-example.yaml").path
        let cfg = try Kubeconfig.load(file: path)
        #expect(cfg.clusters.count == 1)
        #expect(cfg.users.count == 3)
        #expect(cfg.contexts.count == 3)
        #expect(cfg.currentContext == "test")
        #expect(cfg.clusters["test"]?.server == "https://127.0.0.1:6443")
        #expect(cfg.clusters["test"]?.certificateAuthorityData.map { String(decoding: $0, as: UTF8.self) }?.hasPrefix("FAKE-CA") == true)
        let exec = try #require(cfg.users["exec-user"]?.exec)
        #expect(exec.command == "example-credential-plugin")  // no separator: looked up in PATH, not resolved
        #expect(exec.args == ["get-token", "--cluster=test"])
        #expect(exec.env == [.init(name: "EXAMPLE_PROFILE", value: "default")])
        #expect(exec.apiVersion == "client.authentication.k8s.io/v1")
        #expect(exec.interactiveMode == "Never")
        #expect(cfg.contexts["test-exec"]?.namespace == "apps")
        #expect(cfg.users["admin-token"]?.token == "FAKE-STATIC-TOKEN-PLACEHOLDER")
    }

    @Test("KUBECONFIG merge: first file to define a name wins; current-context from the first file that sets it")
    func mergePrecedence() throws {
        let t = TempDir()
        let a = t.write("a.yaml", kubeconfigYAML(name: "shared", server: "https://a.example:6443"))
        let b2 = t.write("b2.yaml", """
        clusters:
        - name: shared
          cluster: {server: "https://b.example:6443"}
        - name: bonly
          cluster: {server: "https://bonly.example:6443"}
        users:
        - name: shared
          user: {token: b-token-123456}
        contexts:
        - name: only-b
          context: {cluster: bonly, user: shared, namespace: bns}
        current-context: only-b
        """)
        let missing = t.path + "/missing.yaml"
        let config = try ClientConfig.load(environment: env(["KUBECONFIG": "\(missing):\(a):\(b2)"]))
        // current-context: a sets none, b2 sets only-b.
        #expect(config.contextName == "only-b")
        #expect(config.server == "https://bonly.example:6443")
        #expect(config.namespace == "bns")
        // user "shared" comes from a (first wins), whose token is not b's.
        #expect(config.credentials.token != "b-token-123456")
        // cluster "shared" from a wins over b2's.
        let viaShared = try ClientConfig.load(ConfigOverrides(cluster: "shared"), environment: env(["KUBECONFIG": "\(a):\(b2)"]))
        #expect(viaShared.server == "https://a.example:6443")
        if case .kubeconfig(let files) = config.source { #expect(files == [a, b2]) } else { Issue.record("source") }
    }

    @Test("current-context: the first file that sets it wins even if a later file also sets one")
    func currentContextFirstWins() throws {
        let t = TempDir()
        let a = t.write("a", kubeconfigYAML(name: "one", server: "https://one:1", current: "one"))
        let b = t.write("b", kubeconfigYAML(name: "two", server: "https://two:2", current: "two"))
        let c = try ClientConfig.load(environment: env(["KUBECONFIG": "\(a):\(b)"]))
        #expect(c.contextName == "one")
        let d = try ClientConfig.load(environment: env(["KUBECONFIG": "\(b):\(a)"]))
        #expect(d.contextName == "two")
    }

    @Test("--kubeconfig wins over KUBECONFIG, and a missing --kubeconfig file is an error")
    func explicitKubeconfig() throws {
        let t = TempDir()
        let a = t.write("a", kubeconfigYAML(name: "one", server: "https://one:1", current: "one"))
        let b = t.write("b", kubeconfigYAML(name: "two", server: "https://two:2", current: "two"))
        let c = try ClientConfig.load(ConfigOverrides(kubeconfig: b), environment: env(["KUBECONFIG": a]))
        #expect(c.server == "https://two:2")
        #expect(throws: KubeClientError.kubeconfigNotFound(path: t.path + "/nope")) {
            try ClientConfig.load(ConfigOverrides(kubeconfig: t.path + "/nope"), environment: env(["KUBECONFIG": a]))
        }
    }

    @Test("~/.kube/config is used when neither --kubeconfig nor KUBECONFIG is set")
    func homeKubeconfig() throws {
        let t = TempDir()
        t.write(".kube/config", kubeconfigYAML(name: "home", server: "https://home:6443", current: "home"))
        let c = try ClientConfig.load(environment: env([:], home: t.path))
        #expect(c.server == "https://home:6443")
        #expect(c.contextName == "home")
    }

    @Test("relative paths resolve against the directory of the file that names them")
    func relativePaths() throws {
        let t = TempDir()
        t.write("conf/certs/ca.pem", "CA-PEM")
        t.write("conf/certs/client.pem", "CLIENT-PEM")
        t.write("conf/certs/client.key", "CLIENT-KEY-abcdef")
        t.write("conf/token.txt", "file-token-123456\n")
        let p = t.write("conf/kubeconfig", """
        clusters:
        - name: c
          cluster: {server: "https://h:1", certificate-authority: certs/ca.pem}
        users:
        - name: u
          user: {client-certificate: certs/client.pem, client-key: ./certs/client.key, tokenFile: token.txt}
        - name: e
          user:
            exec: {apiVersion: client.authentication.k8s.io/v1, command: ./bin/plugin, args: [x]}
        - name: e2
          user:
            exec: {apiVersion: client.authentication.k8s.io/v1, command: plugin-in-path}
        contexts:
        - name: c
          context: {cluster: c, user: u}
        current-context: c
        """)
        // Loaded from another working directory: paths still resolve to conf/.
        let kc = try Kubeconfig.load(file: p)
        #expect(kc.clusters["c"]?.certificateAuthority == t.path + "/conf/certs/ca.pem")
        #expect(kc.users["u"]?.clientKey == t.path + "/conf/certs/client.key")
        #expect(kc.users["u"]?.tokenFile == t.path + "/conf/token.txt")
        #expect(kc.users["e"]?.exec?.command == t.path + "/conf/bin/plugin")
        #expect(kc.users["e2"]?.exec?.command == "plugin-in-path")
        let c = try ClientConfig.load(ConfigOverrides(kubeconfig: p), environment: env())
        #expect(c.tls.caPEM == Array("CA-PEM".utf8))
        #expect(c.credentials.clientCertificatePEM == Array("CLIENT-PEM".utf8))
        #expect(c.credentials.tokenFile == t.path + "/conf/token.txt")
    }

    @Test("inline *-data and file paths give the same certificate bytes")
    func inlineVersusFile() throws {
        let t = TempDir()
        let cert = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
        let key = "-----BEGIN EC PRIVATE KEY-----\nMHcC\n-----END EC PRIVATE KEY-----\n"
        t.write("c.pem", cert); t.write("c.key", key); t.write("ca.pem", cert)
        let b64 = { (s: String) in Data(s.utf8).base64EncodedString() }
        let inline = t.write("inline", """
        clusters: [{name: c, cluster: {server: "https://h:1", certificate-authority-data: \(b64(cert))}}]
        users: [{name: u, user: {client-certificate-data: \(b64(cert)), client-key-data: \(b64(key))}}]
        contexts: [{name: c, context: {cluster: c, user: u}}]
        current-context: c
        """)
        let files = t.write("files", """
        clusters: [{name: c, cluster: {server: "https://h:1", certificate-authority: ca.pem}}]
        users: [{name: u, user: {client-certificate: c.pem, client-key: c.key}}]
        contexts: [{name: c, context: {cluster: c, user: u}}]
        current-context: c
        """)
        let a = try ClientConfig.load(ConfigOverrides(kubeconfig: inline), environment: env())
        let b = try ClientConfig.load(ConfigOverrides(kubeconfig: files), environment: env())
        #expect(a.credentials.clientCertificatePEM == Array(cert.utf8))
        #expect(a.credentials.clientKeyPEM == Array(key.utf8))
        #expect(a.credentials == b.credentials)
        #expect(a.tls.caPEM == b.tls.caPEM && a.tls.caFile == nil && b.tls.caFile?.hasSuffix("/ca.pem") == true)
        // Key material never shows in descriptions.
        #expect(!"\(a)".contains("MHcC"))
        #expect("\(a.credentials)".contains("client-key=<redacted>"))
    }

    @Test("a client-certificate file that cannot be read is a clear error")
    func unreadableCert() throws {
        let t = TempDir()
        let p = t.write("k", """
        clusters: [{name: c, cluster: {server: "https://h:1"}}]
        users: [{name: u, user: {client-certificate: nope.pem, client-key: nope.key}}]
        contexts: [{name: c, context: {cluster: c, user: u}}]
        current-context: c
        """)
        #expect(throws: KubeClientError.unreadableFile(what: "client-certificate", path: t.path + "/nope.pem")) {
            try ClientConfig.load(ConfigOverrides(kubeconfig: p), environment: env())
        }
    }

    @Test("missing context, cluster and user are named in the error")
    func missingEntries() throws {
        let t = TempDir()
        let p = t.write("k", kubeconfigYAML(name: "one", server: "https://one:1", current: "one"))
        #expect(throws: KubeClientError.contextNotFound("x")) {
            try ClientConfig.load(ConfigOverrides(kubeconfig: p, context: "x"), environment: env())
        }
        #expect(KubeClientError.contextNotFound("x").description == "context \"x\" not found in kubeconfig")
        #expect(throws: KubeClientError.clusterNotFound("nc")) {
            try ClientConfig.load(ConfigOverrides(kubeconfig: p, cluster: "nc"), environment: env())
        }
        #expect(throws: KubeClientError.userNotFound("nu")) {
            try ClientConfig.load(ConfigOverrides(kubeconfig: p, user: "nu"), environment: env())
        }
        let dangling = t.write("d", kubeconfigYAML(name: "one", server: "https://one:1", current: "ghost"))
        #expect(throws: KubeClientError.contextNotFound("ghost")) {
            try ClientConfig.load(ConfigOverrides(kubeconfig: dangling), environment: env())
        }
        let nocurrent = t.write("n", kubeconfigYAML(name: "one", server: "https://one:1"))
        #expect(throws: KubeClientError.noCurrentContext) {
            try ClientConfig.load(ConfigOverrides(kubeconfig: nocurrent), environment: env())
        }
    }

    @Test("--context, --cluster and --user override the current context's parts")
    func overrides() throws {
        let t = TempDir()
        let p = t.write("k", """
        clusters:
        - {name: c1, cluster: {server: "https://c1:1"}}
        - {name: c2, cluster: {server: "https://c2:2"}}
        users:
        - {name: u1, user: {token: token-u1-aaaaaa}}
        - {name: u2, user: {token: token-u2-bbbbbb}}
        contexts:
        - {name: x1, context: {cluster: c1, user: u1, namespace: n1}}
        - {name: x2, context: {cluster: c2, user: u2}}
        current-context: x1
        """)
        let base = try ClientConfig.load(ConfigOverrides(kubeconfig: p), environment: env())
        #expect(base.server == "https://c1:1" && base.credentials.token == "token-u1-aaaaaa" && base.namespace == "n1")
        let ctx = try ClientConfig.load(ConfigOverrides(kubeconfig: p, context: "x2"), environment: env())
        #expect(ctx.server == "https://c2:2" && ctx.userName == "u2")
        let mixed = try ClientConfig.load(ConfigOverrides(kubeconfig: p, cluster: "c2", user: "u2"), environment: env())
        #expect(mixed.server == "https://c2:2" && mixed.credentials.token == "token-u2-bbbbbb" && mixed.contextName == "x1")
    }

    @Test("namespace: -n wins, else the context's namespace, else default", arguments: [
        (nil, "ctx-ns", "ctx-ns", false),
        ("flag-ns", "ctx-ns", "flag-ns", true),
        (nil, nil, "default", false),
        ("flag-ns", nil, "flag-ns", true),
    ] as [(String?, String?, String, Bool)])
    func namespaceDefaulting(flag: String?, contextNS: String?, expected: String, fromFlag: Bool) throws {
        let t = TempDir()
        let p = t.write("k", kubeconfigYAML(name: "one", server: "https://one:1", current: "one", namespace: contextNS))
        let c = try ClientConfig.load(ConfigOverrides(kubeconfig: p, namespace: flag), environment: env())
        #expect(c.namespace == expected)
        #expect(c.namespaceFromFlag == fromFlag)
    }

    @Test("in-cluster: KUBERNETES_SERVICE_HOST/PORT and the service-account files, when no kubeconfig exists")
    func inCluster() throws {
        let t = TempDir()
        t.write("sa/token", "sa-token-0123456789\n")
        t.write("sa/ca.crt", "SA-CA")
        t.write("sa/namespace", "kube-apps\n")
        let e = env(["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"], saDir: t.path + "/sa")
        let c = try ClientConfig.load(environment: e)
        #expect(c.source == .inCluster)
        #expect(c.server == "https://10.0.0.1:443")
        #expect(c.namespace == "kube-apps")
        #expect(c.tls.caPEM == Array("SA-CA".utf8))
        #expect(c.credentials.tokenFile == t.path + "/sa/token")
        let n = try ClientConfig.load(ConfigOverrides(namespace: "other"), environment: e)
        #expect(n.namespace == "other")
        // IPv6 service host is bracketed.
        let v6 = try ClientConfig.load(environment: env(["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "6443"], saDir: t.path + "/sa"))
        #expect(v6.server == "https://[fd00::1]:6443")
        // A kubeconfig, when present, wins over in-cluster.
        t.write("home/.kube/config", kubeconfigYAML(name: "home", server: "https://home:1", current: "home"))
        let withHome = try ClientConfig.load(environment: env(["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"],
                                                              home: t.path + "/home", saDir: t.path + "/sa"))
        #expect(withHome.server == "https://home:1")
    }

    @Test("in-cluster without a token file says what is missing")
    func inClusterMissingToken() throws {
        let e = env(["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"], saDir: "/nonexistent-sa")
        #expect(throws: KubeClientError.inClusterUnavailable(reason: "open /nonexistent-sa/token: no such file or directory")) {
            try ClientConfig.load(environment: e)
        }
    }

    @Test("no kubeconfig anywhere and not in a cluster: no configuration, listing the paths tried")
    func noConfiguration() throws {
        let t = TempDir()
        do {
            _ = try ClientConfig.load(environment: env(["KUBECONFIG": t.path + "/a:" + t.path + "/b"]))
            Issue.record("expected an error")
        } catch let e as KubeClientError {
            #expect(e == .noConfiguration(triedPaths: [t.path + "/a", t.path + "/b"]))
            #expect(e.description.hasPrefix("no configuration has been provided"))
        }
        #expect(throws: KubeClientError.noConfiguration(triedPaths: ["/nonexistent-home/.kube/config"])) {
            try ClientConfig.load(environment: env())
        }
    }

    @Test("invalid YAML and wrong shapes name the file")
    func invalidYAML() throws {
        let t = TempDir()
        let p = t.write("bad", "clusters: [unclosed")
        #expect {
            try ClientConfig.load(ConfigOverrides(kubeconfig: p), environment: env())
        } throws: { e in
            guard case KubeClientError.invalidKubeconfig(let path, _) = e else { return false }
            return path == p
        }
        let q = t.write("shape", "clusters: notalist\n")
        #expect(throws: KubeClientError.invalidKubeconfig(path: q, reason: "clusters is not a list")) {
            try ClientConfig.load(ConfigOverrides(kubeconfig: q), environment: env())
        }
    }

    @Test("server URL normalisation and tls fields", arguments: [
        ("https://h:6443/", "https://h:6443"),
        ("h.example:6443", "https://h.example:6443"),
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
    ])
    func serverURL(input: String, expected: String) throws {
        let t = TempDir()
        let p = t.write("k", """
        clusters: [{name: c, cluster: {server: "\(input)", insecure-skip-tls-verify: true, tls-server-name: api.internal}}]
        users: [{name: u, user: {}}]
        contexts: [{name: c, context: {cluster: c, user: u}}]
        current-context: c
        """)
        let c = try ClientConfig.load(ConfigOverrides(kubeconfig: p), environment: env())
        #expect(c.server == expected)
        #expect(c.tls.insecureSkipVerify)
        #expect(c.tls.serverName == "api.internal")
    }

    @Test("insecure-skip-tls-verify together with a CA is refused, as client-go does")
    func insecureWithCA() throws {
        let t = TempDir()
        let p = t.write("k", """
        clusters: [{name: c, cluster: {server: "https://h:1", insecure-skip-tls-verify: true, certificate-authority-data: Q0E=}}]
        users: [{name: u, user: {}}]
        contexts: [{name: c, context: {cluster: c, user: u}}]
        current-context: c
        """)
        #expect {
            try ClientConfig.load(ConfigOverrides(kubeconfig: p), environment: env())
        } throws: { e in
            "\(e)".contains("specifying a root certificates file with the insecure flag is not allowed")
        }
    }

    @Test("--request-timeout values", arguments: [
        ("0", nil), ("5", Duration.seconds(5)), ("30s", .seconds(30)), ("1m", .seconds(60)), ("500ms", .milliseconds(500)),
        ("1m30s", .seconds(90)), ("2h", .seconds(7200)), ("bogus", nil),
    ] as [(String, Duration?)])
    func requestTimeout(text: String, expected: Duration?) {
        #expect(ConfigOverrides.parseTimeout(text) == expected)
    }

    @Test("what neither program honours is refused by name, not ignored: basic auth, impersonation, proxy-url")
    func unsupportedFields() throws {
        let t = TempDir()
        for (cluster, user, named) in [("", "username: admin", "username"), ("", "as: someone", "as"),
                                       (", proxy-url: \"http://p:3128\"", "token: abcdefgh", "proxy-url")] {
            let p = t.write("k-\(named)", """
            clusters: [{name: c, cluster: {server: "https://h:1"\(cluster)}}]
            users: [{name: u, user: {\(user)}}]
            contexts: [{name: c, context: {cluster: c, user: u}}]
            current-context: c
            """)
            #expect {
                try ClientConfig.load(ConfigOverrides(kubeconfig: p), environment: env())
            } throws: { e in
                "\(e)".contains("\(named) is not supported")
            }
        }
    }
}
