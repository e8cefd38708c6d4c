import Foundation
import Synchronization
import Testing
@testable import KubeClient

/// A settable clock for cache tests.
final class TestClock: Sendable {
    let value: Mutex<Date>
    init(_ d: Date) { value = Mutex(d) }
    func advance(_ s: TimeInterval) { value.withLock { $0 = $0.addingTimeInterval(s) } }
    var now: Date { value.withLock { $0 } }
}

@Suite("exec credential plugins")
struct ExecPluginTests {
    /// A plugin that records its args/env and prints an ExecCredential of `apiVersion`.
    func plugin(_ t: TempDir, apiVersion: String, status: String) -> String {
        t.write("bin/plugin", """
        #!/bin/sh
        echo "args=$*" >> "\(t.path)/calls"
        echo "profile=$EXAMPLE_PROFILE" >> "\(t.path)/calls"
        echo "info=$KUBERNETES_EXEC_INFO" >> "\(t.path)/calls"
        cat <<'JSON'
        {"apiVersion":"\(apiVersion)","kind":"ExecCredential","status":\(status)}
        JSON
        """, executable: true)
    }

    func calls(_ t: TempDir) -> String { (try? String(contentsOfFile: t.path + "/calls", encoding: .utf8)) ?? "" }

    @Test("v1 and v1beta1 plugins: token, args, env and KUBERNETES_EXEC_INFO", arguments: [
        "client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1",
    ])
    func tokenPlugin(apiVersion: String) throws {
        let t = TempDir()
        let cmd = plugin(t, apiVersion: apiVersion, status: #"{"token":"exec-token-abcdef","expirationTimestamp":"2099-01-01T00:00:00Z"}"#)
        let p = ExecCredentialProvider(config: .init(command: cmd, args: ["get-token", "--cluster=test"],
                                                     env: [.init(name: "EXAMPLE_PROFILE", value: "prod")], apiVersion: apiVersion,
                                                     provideClusterInfo: true),
                                       clusterServer: "https://h:6443")
        let cred = try p.credential()
        #expect(cred.token == "exec-token-abcdef")
        #expect(cred.expiration == ISO8601DateFormatter().date(from: "2099-01-01T00:00:00Z"))
        let log = calls(t)
        #expect(log.contains("args=get-token --cluster=test"))
        #expect(log.contains("profile=prod"))
        #expect(log.contains(#""apiVersion":"\#(apiVersion)""#))
        #expect(log.contains(#""interactive":false"#))
        #expect(log.contains(#""server":"https:\/\/h:6443""#) || log.contains(#""server":"https://h:6443""#))
        // Registered as a secret: redaction masks it from now on.
        #expect(!Redactor.shared.redact("x exec-token-abcdef y").contains("exec-token-abcdef"))
    }

    @Test("client certificate credentials (clientCertificateData/clientKeyData)")
    func certPlugin() throws {
        let t = TempDir()
        let cmd = plugin(t, apiVersion: "client.authentication.k8s.io/v1",
                         status: #"{"clientCertificateData":"-----BEGIN CERTIFICATE-----\nAAA\n-----END CERTIFICATE-----\n","clientKeyData":"-----BEGIN EC PRIVATE KEY-----\nBBB\n-----END EC PRIVATE KEY-----\n"}"#)
        let cred = try ExecCredentialProvider(config: .init(command: cmd)).credential()
        #expect(cred.token == nil)
        #expect(String(decoding: cred.clientCertificatePEM ?? [], as: UTF8.self).contains("AAA"))
        #expect(String(decoding: cred.clientKeyPEM ?? [], as: UTF8.self).contains("BBB"))
        #expect(cred.expiration == nil)
    }

    @Test("cached until expirationTimestamp, re-run once expired or when forced (401)")
    func caching() throws {
        let t = TempDir()
        let cmd = plugin(t, apiVersion: "client.authentication.k8s.io/v1",
                         status: #"{"token":"cached-token-123","expirationTimestamp":"2030-01-01T00:10:00Z"}"#)
        let clock = TestClock(ISO8601DateFormatter().date(from: "2030-01-01T00:00:00Z")!)
        let p = ExecCredentialProvider(config: .init(command: cmd), now: { clock.now })
        _ = try p.credential()
        _ = try p.credential()
        #expect(p.runCount == 1)
        clock.advance(9 * 60)
        _ = try p.credential()
        #expect(p.runCount == 1)
        clock.advance(2 * 60)  // past expiry
        _ = try p.credential()
        #expect(p.runCount == 2)
        _ = try p.credential(forceRefresh: true)
        #expect(p.runCount == 3)
        p.invalidate()
        _ = try p.credential()
        #expect(p.runCount == 4)
    }

    @Test("concurrent requests with an empty cache run the plugin once")
    func concurrentFetch() async throws {
        let t = TempDir()
        let cmd = t.write("bin/slow", """
        #!/bin/sh
        echo run >> "\(t.path)/calls"
        sleep 0.3
        echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"concurrent-token-1"}}'
        """, executable: true)
        let p = ExecCredentialProvider(config: .init(command: cmd))
        async let a = p.fetchCredential()
        async let b = p.fetchCredential()
        async let c = p.fetchCredential()
        let tokens = try await [a, b, c].map(\.token)
        #expect(tokens == Array(repeating: "concurrent-token-1", count: 3))
        #expect(p.runCount == 1)
    }

    @Test("a failing plugin: exit status, its stderr and the installHint are in the error")
    func failingPlugin() throws {
        let t = TempDir()
        let cmd = t.write("bin/failing", "#!/bin/sh\necho 'login required: run sso-login' >&2\nexit 3\n", executable: true)
        let p = ExecCredentialProvider(config: .init(command: cmd, installHint: "install sso-plugin from example.com"))
        #expect {
            try p.credential()
        } throws: { e in
            guard let e = e as? KubeClientError, case .execPluginFailed(let c, let reason, let stderr) = e else { return false }
            return c == cmd && reason == "exit status 3" && stderr.contains("login required: run sso-login")
                && stderr.contains("install sso-plugin") && e.description.contains("plugin stderr:")
        }
    }

    @Test("a missing plugin: kubectl's not-installed message with the installHint")
    func missingPlugin() {
        let p = ExecCredentialProvider(config: .init(command: "evssnap-no-such-plugin-xyz", installHint: "brew install it"))
        #expect(throws: KubeClientError.execPluginNotFound(command: "evssnap-no-such-plugin-xyz", installHint: "brew install it")) {
            try p.credential()
        }
        let text = KubeClientError.execPluginNotFound(command: "x", installHint: "brew install it").description
        #expect(text.hasPrefix("exec: executable x not found"))
        #expect(text.hasSuffix("brew install it"))
    }

    @Test("bad plugin output is rejected with a reason", arguments: [
        ("not json", "not an ExecCredential"),
        (#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"x-123456"}}"#, "plugin returned version"),
        (#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential"}"#, "didn't return a status"),
        (#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{}}"#, "token or cert/key pair"),
        (#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t-123456","expirationTimestamp":"soon"}}"#, "invalid expirationTimestamp"),
    ])
    func badOutput(output: String, reason: String) {
        let t = TempDir()
        let cmd = t.write("bin/bad", "#!/bin/sh\ncat <<'EOF'\n\(output)\nEOF\n", executable: true)
        let p = ExecCredentialProvider(config: .init(command: cmd))
        #expect {
            try p.credential()
        } throws: { e in
            guard case KubeClientError.execPluginFailed(_, let r, _) = e else { return false }
            return r.contains(reason)
        }
    }

    @Test("interactiveMode Always cannot work without a terminal; unknown apiVersion is refused")
    func unsupportedModes() {
        let always = ExecCredentialProvider(config: .init(command: "/bin/true", interactiveMode: "Always"))
        #expect(throws: KubeClientError.self) { try always.credential() }
        let alpha = ExecCredentialProvider(config: .init(command: "/bin/true", apiVersion: "client.authentication.k8s.io/v1alpha1"))
        #expect { try alpha.credential() } throws: { e in
            guard case KubeClientError.execPluginFailed(_, let r, _) = e else { return false }
            return r.contains("invalid apiVersion")
        }
    }
}
