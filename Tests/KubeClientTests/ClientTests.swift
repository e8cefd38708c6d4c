import Foundation
import JSONCore
import Testing
@testable import KubeClient

@Suite("client construction")
struct ClientTests {
    @Test("a client released without shutdown() does not trap (deinit starts the shutdown)")
    func releasedWithoutShutdown() async throws {
        do {
            let client = try KubeClient(config: ClientConfig(server: "https://127.0.0.1:1"), options: .init(log: { _ in }))
            #expect(client.config.namespace == "default")
        }
        try await Task.sleep(for: .milliseconds(200))
        // shutdown() twice is fine too.
        let c2 = try KubeClient(config: ClientConfig(server: "https://127.0.0.1:1"))
        try await c2.shutdown()
        try await c2.shutdown()
    }

    @Test("bad TLS material fails at construction, without echoing the key")
    func badTLSMaterial() {
        let creds = ClientConfig.Credentials(clientCertificatePEM: Array("not a cert".utf8), clientKeyPEM: Array("SECRET-KEY-BYTES".utf8))
        #expect {
            _ = try KubeClient(config: ClientConfig(server: "https://h:1", credentials: creds))
        } throws: { e in
            guard case KubeClientError.invalidTLSMaterial(let why) = e else { return false }
            return !why.contains("SECRET-KEY-BYTES")
        }
        #expect(throws: KubeClientError.self) {
            _ = try KubeClient(config: ClientConfig(server: "https://h:1", tls: .init(caPEM: Array("garbage".utf8))))
        }
    }

    @Test("connection refused is a transport error naming the URL")
    func refused() async throws {
        try await KubeClient.with(ClientConfig(server: "https://127.0.0.1:1"), options: .init(log: { _ in })) { client in
            await #expect {
                _ = try await client.send(method: "GET", path: "/version")
            } throws: { e in
                guard case KubeClientError.transport(let url, _) = e else { return false }
                return url == "https://127.0.0.1:1/version"
            }
        }
    }
}
