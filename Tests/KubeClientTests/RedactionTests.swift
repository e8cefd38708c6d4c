import Foundation
import Testing
@testable import KubeClient

@Suite("redaction: no token or key is ever printed")
struct RedactionTests {
    @Test("secret-shaped fields are masked without registration", arguments: [
        ("Request Header: Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        (#"{"apiVersion":"v1","status":{"token":"s3cr3t-tok\"en"}}"#, "s3cr3t-tok"),
        (#"{"clientKeyData":"-----BEGIN KEY-----xyz"}"#, "xyz"),
        ("    token: FAKE-STATIC-TOKEN-PLACEHOLDER", "FAKE-STATIC-TOKEN-PLACEHOLDER"),
        ("    client-key-data: RkFLRS1DTElFTlQ=", "RkFLRS1DTElFTlQ="),
        ("kubectl --token=abcdef123 get pods", "abcdef123"),
        ("-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI\n-----END EC PRIVATE KEY-----", "MHcCAQEEI"),
        ("-----BEGIN PRIVATE KEY-----\nMIGHAgEA\n-----END PRIVATE KEY-----", "MIGHAgEA"),
    ])
    func patterns(text: String, secret: String) {
        let r = Redactor()
        let out = r.redact(text)
        #expect(!out.contains(secret), "leaked in: \(out)")
        #expect(out.contains(Redactor.mask))
    }

    @Test("registered secrets are masked anywhere, longest first; short values are not registered")
    func registered() {
        let r = Redactor()
        r.register("tok-123456")
        r.register("tok-123456-long")
        r.register("abc")  // too short: would mask ordinary words
        let out = r.redact("url?x=tok-123456-long and tok-123456 and abc")
        #expect(out == "url?x=<redacted> and <redacted> and abc")
    }

    @Test("plain text without secrets is unchanged")
    func unchanged() {
        let line = "GET https://127.0.0.1:6443/apis/snapshot.storage.k8s.io/v1/namespaces/apps/volumesnapshots?limit=1 200 OK in 3 milliseconds"
        #expect(Redactor().redact(line) == line)
    }

    @Test("descriptions of configs and credentials hide tokens and keys")
    func descriptions() {
        let creds = ClientConfig.Credentials(clientCertificatePEM: Array("CERT".utf8), clientKeyPEM: Array("KEYBYTES".utf8),
                                             token: "very-secret-token")
        let cfg = ClientConfig(server: "https://h:1", credentials: creds)
        let text = "\(cfg) \(creds) \(Kubeconfig.AuthInfo(clientKeyData: Array("KEYBYTES".utf8), token: "very-secret-token"))"
        #expect(!text.contains("very-secret-token"))
        #expect(!text.contains("KEYBYTES"))
        let cred = ExecCredential(token: "exec-secret-token")
        #expect(!"\(cred)".contains("exec-secret-token"))
    }
}
