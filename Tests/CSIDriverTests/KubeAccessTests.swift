import Foundation
import HTTPTransport
import JSONCore
import KubeCore
import Testing
@testable import CSIDriver

/// The driver's Kubernetes access: KubeCore's loader (the plugin's too) mapped to HTTPTransport's settings; the
/// kubeconfig YAML subset, JSON, base64, in-cluster settings.
@Suite("Kubernetes access: kubeconfig subset, JSON, base64")
struct KubeAccessTests {
    /// A fresh folder with `files` written in it.
    static func folder(_ files: [String: String] = [:]) throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("kube-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for (name, text) in files { try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8) }
        return dir
    }

    /// The driver's access from kubeconfig `text`, written as `kc` in `directory` (a fresh folder when nil).
    static func access(_ text: String, directory: String? = nil) throws -> KubeAccess {
        let dir = try directory ?? folder()
        try text.write(toFile: dir + "/kc", atomically: true, encoding: .utf8)
        return try KubeAccess.kubeconfig(path: dir + "/kc")
    }

    static let kubectlStyle = """
        apiVersion: v1
        clusters:
        - cluster:
            certificate-authority-data: \(Array("CA PEM".utf8).base64)
            server: https://127.0.0.1:6443/
          name: tiny
        - cluster:
            server: https://other:443
          name: other
        contexts:
        - context:
            cluster: tiny
            user: kubernetes-admin
          name: tiny
        current-context: tiny   # comment
        kind: Config
        preferences: {}
        users:
        - name: kubernetes-admin
          user:
            client-certificate-data: \(Array("CERT".utf8).base64)
            client-key-data: \(Array("KEY".utf8).base64)
        """

    @Test("kubectl's own layout: server (trailing slash dropped), CA data, client certificate data")
    func kubectlLayout() throws {
        let access = try Self.access(Self.kubectlStyle)
        #expect(access.server == "https://127.0.0.1:6443")
        guard case .caPEM(let ca) = access.tls.trust else { Issue.record("trust \(access.tls.trust)"); return }
        #expect(ca == Array("CA PEM".utf8))
        guard case .pem(let cert, let key)? = access.tls.clientIdentity else { Issue.record("no identity"); return }
        #expect(cert == Array("CERT".utf8) && key == Array("KEY".utf8))
        #expect(access.authorization == nil)
    }

    @Test("fake_apiserver's layout: relative file paths resolve against the kubeconfig's folder; token user")
    func relativeFilesAndToken() throws {
        let dir = try Self.folder(["ca.pem": "CA", "client.pem": "CERT", "client.key": "KEY"])
        let text = """
            apiVersion: v1
            kind: Config
            clusters:
            - name: fake
              cluster:
                server: https://127.0.0.1:1234
                certificate-authority: ca.pem
            contexts:
            - name: fake
              context:
                cluster: fake
                user: admin
                namespace: apps
            - name: fake-token
              context:
                cluster: fake
                user: admin-token
            current-context: CURRENT
            users:
            - name: admin
              user:
                client-certificate: client.pem
                client-key: ABS/client.key
            - name: admin-token
              user:
                token: "tok\\u0065n"
            """
        let withDir = text.replacingOccurrences(of: "ABS", with: dir)
        let certs = try Self.access(withDir.replacingOccurrences(of: "CURRENT", with: "fake"), directory: dir)
        guard case .caFile(let ca) = certs.tls.trust else { Issue.record("trust"); return }
        #expect(ca == dir + "/ca.pem")
        guard case .pem(let cert, let key)? = certs.tls.clientIdentity else { Issue.record("identity"); return }
        #expect(cert == Array("CERT".utf8) && key == Array("KEY".utf8))
        let token = try Self.access(withDir.replacingOccurrences(of: "CURRENT", with: "fake-token"), directory: dir)
        guard case .bearer(let value)? = token.authorization else { Issue.record("auth"); return }
        #expect(value == "token")
    }

    @Test("what the driver cannot honour is refused by name: exec plugins, tls-server-name, basic auth, proxies, missing context, half a client certificate")
    func refusals() throws {
        func refusal(_ text: String) -> String? {
            do {
                _ = try Self.access(text)
                return nil
            } catch { return "\(error)" }
        }
        let base = """
            clusters:
            - name: c
              cluster:
                server: https://h
            contexts:
            - name: x
              context:
                cluster: c
                user: u
            current-context: x
            users:
            - name: u
              user:
            """
        #expect(refusal(base + "\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: aws")?.contains("exec is not supported") == true)
        #expect(refusal(base.replacingOccurrences(of: "https://h", with: "https://h\n    tls-server-name: api"))?.contains("tls-server-name is not supported") == true)
        #expect(refusal(base.replacingOccurrences(of: "https://h", with: "https://h\n    proxy-url: http://p:3128"))?.contains("proxy-url is not supported") == true)
        #expect(refusal(base + "\n    username: admin\n    password: pa55word")?.contains("username is not supported") == true)
        #expect(refusal(base + "\n    client-certificate-data: Q0VSVA==")?.contains("must be set together") == true)
        #expect(refusal(base.replacingOccurrences(of: "current-context: x", with: "current-context: y"))?.contains(#"context "y" not found"#) == true)
        #expect(refusal(base.replacingOccurrences(of: "https://h", with: "ftp://h"))?.contains("invalid server URL") == true)
        #expect(refusal(base + "\n    token: abc") == nil)
    }

    @Test("YAML subset: nesting, quoting, comments; unsupported forms fail naming the line")
    func yamlSubset() throws {
        let value = try KubeYAML.parse("""
            # top comment
            a: 1
            b: 'it''s'
            c: "x: y # not a comment"
            d:
            - one
            - k: v
              l: w
            -
              - nested
            e: ~
            f: url://h:1/p#frag
            g: [1, "two", {k: v}]
            h: {server: "https://h:1", args: [a, b]}
            """)
        #expect(value["a"] == .string("1"))
        #expect(value["b"] == .string("it's"))
        #expect(value["c"] == .string("x: y # not a comment"))
        #expect(value["d"] == .array([.string("one"), .object(["k": .string("v"), "l": .string("w")]), .array([.string("nested")])]))
        #expect(value["e"] == .null)
        #expect(value["f"] == .string("url://h:1/p#frag"))
        #expect(value["g"] == .array([.string("1"), .string("two"), .object(["k": .string("v")])]))
        #expect(value["h"] == .object(["server": .string("https://h:1"), "args": .array([.string("a"), .string("b")])]))
        for bad in ["a: &anchor x", "a: |\n  text", "a: [1, 2", "a: {b: 1} c", "a: 1\n   b: 2", "a: 1\na: 2", "just text"] {
            #expect(throws: KubeParseError.self, "\(bad)") { try KubeYAML.parse(bad) }
        }
        #expect(try KubeYAML.parse("{\"current-context\": \"j\"}")["current-context"] == .string("j"))
    }

    @Test("JSON kubeconfig: parse errors name JSON and the byte; the PVC annotations' parser is JSONCore (JSONCoreTests)")
    func json() throws {
        #expect(try KubeYAML.parse(#" {"current-context":"\u00e9"}"#)["current-context"] == .string("é"))
        for bad in ["{", "{\"a\":}", "{} x", "{\"a\":01}", "{\"a\":\"\\ud800\"}"] {
            #expect("\(bad)") { try KubeYAML.parse(bad) } throws: { error in
                (error as? KubeParseError)?.description.hasPrefix("JSON: invalid JSON at byte") == true
            }
        }
    }

    @Test("base64 as kubeconfig data fields use it, against Foundation's encoder")
    func base64() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) }
            #expect(Base64.decode(Data(bytes).base64EncodedString()) == bytes)
            #expect(Base64.decode(Data(bytes).base64EncodedString(options: .lineLength64Characters)) == bytes)
        }
        #expect(Base64.decode("not base64!") == nil)
        #expect(Base64.decode("QQ==QQ") == nil)
    }

    @Test("in-cluster: the service account's token file and CA, the server from the environment (IPv6 bracketed)")
    func inCluster() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sa-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect(throws: KubeAccessError.self) {
            try KubeAccess.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"],
                                     serviceAccountDirectory: dir)
        }
        try "tok".write(toFile: dir + "/token", atomically: true, encoding: .utf8)
        try "ca".write(toFile: dir + "/ca.crt", atomically: true, encoding: .utf8)
        let access = try KubeAccess.inCluster(environment: ["KUBERNETES_SERVICE_HOST": "fd00::1", "KUBERNETES_SERVICE_PORT": "443"],
                                              serviceAccountDirectory: dir)
        #expect(access.server == "https://[fd00::1]:443")
        guard case .bearerTokenFile(let token)? = access.authorization, case .caFile(let ca) = access.tls.trust else {
            Issue.record("auth or trust"); return
        }
        #expect(token == dir + "/token" && ca == dir + "/ca.crt")
        #expect(throws: KubeAccessError.self) { try KubeAccess.inCluster(environment: [:]) }
    }

    @Test("PVC lookups refuse names that cannot be Kubernetes object names, before any request")
    func objectNames() throws {
        let lookup = KubernetesPVCAnnotations(access: KubeAccess(server: "https://127.0.0.1:1", tls: TLSOptions(), authorization: nil))
        for (namespace, name) in [("default", "../secrets"), ("Default", "x"), ("default", "a/b"), ("", "x"), ("default", "x?y")] {
            #expect(throws: DriverError.self) { try lookup.annotations(namespace: namespace, name: name, deadline: nil) }
        }
        #expect(KubernetesPVCAnnotations.isObjectName("pvc-0.data-1"))
    }
}

extension Array where Element == UInt8 {
    var base64: String { Data(self).base64EncodedString() }
}
