import Testing
@testable import HTTPTransport

@Suite("HTTPTransport over real TLS (python3 ssl server)", .enabled(if: TestServer.isAvailable, "needs python3 and openssl"))
struct HTTPTransportTests {
    @Test("GET over HTTPS with a CA file: status, headers and body come back")
    func getWithCAFile() throws {
        let server = try TestServer()
        let transport = HTTPTransport(configuration: .init(tls: .init(trust: .caFile(server.info.ca))))
        let response = try transport.send(HTTPRequest(url: server.url("/echo"), headers: [HTTPHeader("X-Test", "one two")]))
        #expect(response.status == 200)
        #expect(response.header("x-method") == "GET")
        #expect(response.header("X-PATH") == "/echo")
        #expect(response.header("X-Header-X-Test") == "one two")
        #expect(response.body.isEmpty)
    }

    @Test("POST, PUT, PATCH, DELETE carry their method and the exact body bytes (binary, with NUL)")
    func methodsAndBodies() throws {
        let server = try TestServer()
        let transport = HTTPTransport(configuration: .init(tls: .init(trust: .caPEM(try server.read(server.info.ca)))))
        let body: [UInt8] = [0, 1, 2, 255, 10, 13, 0] + Array("json".utf8)
        for method in ["POST", "PUT", "PATCH", "DELETE"] {
            let response = try transport.send(HTTPRequest(method: method, url: server.url("/echo"), body: body))
            #expect(response.status == 200)
            #expect(response.header("X-Method") == method)
            #expect(response.body == body, "\(method)")
        }
        let empty = try transport.send(HTTPRequest(method: "POST", url: server.url("/echo")))
        #expect(empty.header("X-Method") == "POST")
        #expect(empty.header("X-Header-Content-Length") == "0")
    }

    @Test("a non-2xx status is a response, not an error")
    func statuses() throws {
        let server = try TestServer()
        let transport = HTTPTransport(configuration: .init(tls: .init(trust: .caFile(server.info.ca))))
        for status in [201, 404, 429, 500, 503] {
            let response = try transport.send(HTTPRequest(url: server.url("/status/\(status)")))
            #expect(response.status == status)
            #expect(response.text == "status \(status)")
            #expect(response.isSuccess == (status < 300))
        }
    }

    @Test("a server certificate from another CA, or from the system bundle, is a TLS error")
    func untrustedServer() throws {
        let server = try TestServer()
        for trust in [TLSOptions.Trust.caFile(server.info.caOther), .system] {
            let transport = HTTPTransport(configuration: .init(tls: .init(trust: trust)))
            #expect {
                try transport.send(HTTPRequest(url: server.url("/echo")))
            } throws: { error in
                guard case .tls = error as? HTTPTransportError else { return false }
                return true
            }
        }
        let insecure = HTTPTransport(configuration: .init(tls: .init(trust: .insecureSkipVerify)))
        #expect(try insecure.send(HTTPRequest(url: server.url("/echo"))).status == 200)
    }

    @Test("the host name is verified: a certificate for localhost only is refused at 127.0.0.1")
    func hostNameVerification() throws {
        let server = try TestServer(dnsNameOnly: true)
        let transport = HTTPTransport(configuration: .init(tls: .init(trust: .caFile(server.info.ca))))
        #expect(try transport.send(HTTPRequest(url: server.url("/echo", host: "localhost"))).status == 200)
        #expect {
            try transport.send(HTTPRequest(url: server.url("/echo", host: "127.0.0.1")))
        } throws: { error in
            guard case .tls = error as? HTTPTransportError else { return false }
            return true
        }
    }

    @Test("client certificate from files and from PEM data; a server that requires one refuses a client without")
    func clientCertificates() throws {
        let server = try TestServer(requireClientCertificate: true)
        let files = HTTPTransport(configuration: .init(tls: .init(
            trust: .caFile(server.info.ca), clientIdentity: .files(certificate: server.info.clientCert, key: server.info.clientKey))))
        #expect(try files.send(HTTPRequest(url: server.url("/echo"))).header("X-Client-CN") == "client")
        let pem = HTTPTransport(configuration: .init(tls: .init(
            trust: .caFile(server.info.ca),
            clientIdentity: .pem(certificate: try server.read(server.info.clientCert), key: try server.read(server.info.clientKey)))))
        #expect(try pem.send(HTTPRequest(url: server.url("/echo"))).header("X-Client-CN") == "client")
        let none = HTTPTransport(configuration: .init(tls: .init(trust: .caFile(server.info.ca))))
        #expect(throws: HTTPTransportError.self) { try none.send(HTTPRequest(url: server.url("/echo"))) }
    }

    @Test("bearer token: fixed, or read from a file; a request's own Authorization wins")
    func bearer() throws {
        let server = try TestServer()
        let fixed = HTTPTransport(configuration: .init(tls: .init(trust: .caFile(server.info.ca)), authorization: .bearer("s3cret")))
        #expect(try fixed.send(HTTPRequest(url: server.url("/echo"))).header("X-Authorization") == "Bearer s3cret")
        let own = try fixed.send(HTTPRequest(url: server.url("/echo"), headers: [HTTPHeader("authorization", "Basic x")]))
        #expect(own.header("X-Authorization") == "Basic x")
        let path = server.directory + "/token"
        try Array("file-token\n".utf8).write(to: path)
        let fromFile = HTTPTransport(configuration: .init(tls: .init(trust: .caFile(server.info.ca)), authorization: .bearerTokenFile(path)))
        #expect(try fromFile.send(HTTPRequest(url: server.url("/echo"))).header("X-Authorization") == "Bearer file-token")
        let missing = HTTPTransport(configuration: .init(tls: .init(trust: .caFile(server.info.ca)), authorization: .bearerTokenFile(path + "-gone")))
        #expect(throws: HTTPTransportError.self) { try missing.send(HTTPRequest(url: server.url("/echo"))) }
    }

    @Test("a server that accepts and never answers: the request ends at its timeout, and at its deadline")
    func hangingServer() throws {
        let server = try TestServer()
        let transport = HTTPTransport(configuration: .init(tls: .init(trust: .caFile(server.info.ca))))
        let clock = ContinuousClock()
        for useDeadline in [false, true] {
            let request = useDeadline
                ? HTTPRequest(url: server.url("/hang"), timeout: .seconds(30), deadline: .now + .milliseconds(300))
                : HTTPRequest(url: server.url("/hang"), timeout: .milliseconds(300))
            let start = clock.now
            do {
                _ = try transport.send(request)
                Issue.record("the hanging request returned")
            } catch {
                guard case .timeout = error else { Issue.record("expected .timeout, got \(error)"); continue }
            }
            // Never before the limit in force; and far from the 30 s that ignoring the deadline would take (a busy
            // machine only makes this later, so the upper bound is a wide one, not a race).
            let elapsed = clock.now - start
            #expect(elapsed >= .milliseconds(290) && elapsed < .seconds(10), "took \(elapsed)")
        }
        // A deadline already past fails without a request: the error says it was never sent.
        #expect(throws: HTTPTransportError.timeout("the deadline passed before the request was sent")) {
            try transport.send(HTTPRequest(url: server.url("/echo"), deadline: .now - .milliseconds(1)))
        }
        // The default timeout applies when the request sets none.
        let short = HTTPTransport(configuration: .init(tls: .init(trust: .caFile(server.info.ca)), defaultTimeout: .milliseconds(200)))
        let begin = clock.now
        #expect(throws: HTTPTransportError.self) { try short.send(HTTPRequest(url: server.url("/hang"))) }
        #expect(clock.now - begin < .seconds(10))  // the 200 ms default, not a hang
    }

    @Test("plain HTTP works; connection refused and unresolvable host are their own errors")
    func plainAndConnectErrors() throws {
        let server = try TestServer(plain: true)
        let transport = HTTPTransport()
        #expect(try transport.send(HTTPRequest(url: server.url("/status/204"))).status == 204)
        #expect(throws: HTTPTransportError.self) { try transport.send(HTTPRequest(url: "http://127.0.0.1:1/")) }
        do { _ = try transport.send(HTTPRequest(url: "http://127.0.0.1:1/")) } catch {
            guard case .connect = error else { Issue.record("expected .connect, got \(error)"); return }
        }
        do { _ = try transport.send(HTTPRequest(url: "http://no-such-host.invalid/", timeout: .seconds(5))) } catch {
            guard case .resolve = error else { Issue.record("expected .resolve, got \(error)"); return }
        }
    }

    @Test("bad requests: another scheme, CR/LF in a header, an empty method")
    func invalidRequests() throws {
        let transport = HTTPTransport()
        for request in [HTTPRequest(url: "file:///etc/passwd"), HTTPRequest(url: "ftp://127.0.0.1/"),
                        HTTPRequest(url: "http://127.0.0.1:1/", headers: [HTTPHeader("X-A", "b\r\nX-Injected: 1")]),
                        HTTPRequest(url: "http://127.0.0.1:1/", headers: [HTTPHeader("Bad:Name", "v")]),
                        HTTPRequest(method: "", url: "http://127.0.0.1:1/")] {
            #expect {
                try transport.send(request)
            } throws: { error in
                guard case .invalidRequest = error as? HTTPTransportError else { return false }
                return true
            }
        }
    }

    @Test("a body over the limit is .responseTooLarge; at the limit it arrives whole")
    func responseLimit() throws {
        let server = try TestServer(plain: true)
        let transport = HTTPTransport(configuration: .init(maxResponseBytes: 100_000))
        #expect(try transport.send(HTTPRequest(url: server.url("/bytes/100000"))).body.count == 100_000)
        #expect(throws: HTTPTransportError.responseTooLarge(limit: 100_000)) {
            try transport.send(HTTPRequest(url: server.url("/bytes/100001")))
        }
    }

    @Test("16 threads share one transport; handles are reused; every answer is its own")
    func concurrentUse() async throws {
        let server = try TestServer()
        let transport = HTTPTransport(configuration: .init(tls: .init(trust: .caFile(server.info.ca))))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<16 {
                group.addTask {
                    for round in 0..<5 {
                        let body = Array("w\(worker)r\(round)".utf8)
                        let response = try transport.send(HTTPRequest(method: "POST", url: server.url("/echo"), body: body))
                        #expect(response.body == body)
                    }
                }
            }
            try await group.waitForAll()
        }
    }

    @Test("time limits: the tighter of timeout and deadline, in whole milliseconds, at least 1")
    func timeLimits() throws {
        #expect(try HTTPTransport.timeLimit(request: HTTPRequest(url: "x", timeout: .milliseconds(1500)), default: .seconds(10)) == 1500)
        #expect(try HTTPTransport.timeLimit(request: HTTPRequest(url: "x"), default: .seconds(10)) == 10_000)
        #expect(try HTTPTransport.timeLimit(request: HTTPRequest(url: "x", timeout: .microseconds(10)), default: .seconds(1)) == 1)
        let near = try HTTPTransport.timeLimit(request: HTTPRequest(url: "x", deadline: .now + .seconds(2)), default: .seconds(10))
        #expect(near > 1900 && near <= 2000)
        #expect(throws: HTTPTransportError.self) {
            try HTTPTransport.timeLimit(request: HTTPRequest(url: "x", timeout: .zero), default: .seconds(1))
        }
    }

    @Test("header block parsing keeps only the final response's headers")
    func headerParsing() {
        let block = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: text/plain \r\nX-Empty:\r\nX-Colon: a:b\r\n\r\n"
        #expect(Exchange.parseHeaders(block) == [HTTPHeader("Content-Type", "text/plain"), HTTPHeader("X-Empty", ""),
                                                 HTTPHeader("X-Colon", "a:b")])
    }
}

extension Array where Element == UInt8 {
    func write(to path: String) throws {
        try Data(self).write(to: URL(fileURLWithPath: path))
    }
}

import Foundation
