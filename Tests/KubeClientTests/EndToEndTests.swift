import Foundation
import JSONCore
import Synchronization
import Testing
@testable import KubeClient
import KubeCore
import KubeTestSupport

/// Collects log lines and warnings.
final class Sink: Sendable {
    let lines = Mutex<[String]>([])
    func add(_ s: String) { lines.withLock { $0.append(s) } }
    var all: [String] { lines.withLock { $0 } }
}

/// REST calls as the plugin and the scheduler make them: `send` with KubeCore's paths, bodies read as JSON.
extension KubeClient {
    func get(_ type: ResourceType, name: String, namespace: String? = nil) async throws -> JSON {
        try JSON.parse(try await send(method: "GET", path: type.path(namespace: type.namespaced ? namespace ?? config.namespace : nil, name: name),
                                      resource: type.qualifiedName, name: name).body)
    }
    /// One page; `namespace` "" lists every namespace.
    func list(_ type: ResourceType, namespace: String? = nil, options: ListOptions = ListOptions()) async throws -> JSON {
        let ns = type.namespaced ? namespace ?? config.namespace : nil
        return try JSON.parse(try await send(method: "GET", path: type.path(namespace: ns),
                                             query: options.queryItems.map { URLQueryItem(name: $0.name, value: $0.value) },
                                             resource: type.qualifiedName).body)
    }
    /// Every item, page by page.
    func listAll(_ type: ResourceType, namespace: String? = nil, pageSize: Int) async throws -> [JSON] {
        var items: [JSON] = []
        var options = ListOptions(limit: pageSize)
        repeat {
            let page = try await list(type, namespace: namespace, options: options)
            items += page["items"].elements
            options.continueToken = page["metadata"]["continue"].string.flatMap { $0.isEmpty ? nil : $0 }
        } while options.continueToken != nil
        return items
    }
    func create(_ object: JSON, _ type: ResourceType, namespace: String? = nil,
                query: [URLQueryItem] = []) async throws -> (object: JSON, warnings: [String]) {
        let r = try await send(method: "POST", path: type.path(namespace: type.namespaced ? namespace ?? config.namespace : nil),
                               query: query,
                               body: Data(object.description.utf8), resource: type.qualifiedName, name: object["metadata"]["name"].string)
        return (try JSON.parse(r.body), r.warnings)
    }
    @discardableResult
    func delete(_ type: ResourceType, name: String) async throws -> JSON {
        try JSON.parse(try await send(method: "DELETE", path: type.path(namespace: config.namespace, name: name),
                                      resource: type.qualifiedName, name: name).body)
    }
    func version() async throws -> JSON { try JSON.parse(try await send(method: "GET", path: "/version").body) }
}

func snapshot(_ name: String, pvc: String = "data-ssd") -> JSON {
    ["apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot", "metadata": ["name": .string(name)],
     "spec": ["source": ["persistentVolumeClaimName": .string(pvc)], "volumeSnapshotClassName": "csi-disk-snapclass"]]
}

/// KubeClient against the fake API server over real TLS (generated CA, server and client certificates).
@Suite("end to end against the fake API server", .enabled(if: FakeAPIServer.isAvailable, "needs python3 and openssl"))
struct EndToEndTests {
    func quiet(_ sink: Sink? = nil, verbosity: Int = 0) -> KubeClient.Options {
        KubeClient.Options(verbosity: verbosity, log: { sink?.add($0) }, warningHandler: { sink?.add("Warning: \($0)") })
    }

    @Test("list PVCs page by page over mutual TLS (client certificate CN=admin, O=system:masters)")
    func listPVCsWithPaging() async throws {
        let server = try await FakeAPIServer.startAsync()
        defer { server.stop() }
        let config = try server.clientConfig()
        #expect(config.namespace == "apps")
        try await KubeClient.with(config, options: quiet()) { client in
            let first = try await client.list(.persistentVolumeClaims, options: ListOptions(limit: 1))
            #expect(first["items"].elements.count == 1)
            #expect(first["metadata"]["remainingItemCount"].int == 3)
            let token = try #require(first["metadata"]["continue"].string)
            let second = try await client.list(.persistentVolumeClaims, options: ListOptions(limit: 1, continueToken: token))
            #expect(second["items"][0]["metadata"]["name"] != first["items"][0]["metadata"]["name"])

            let all = try await client.listAll(.persistentVolumeClaims, pageSize: 1)
            #expect(all.map { $0["metadata"]["name"].string ?? "" }.sorted() == ["data-ssd", "data-ssd-restore", "old-flex", "static-evs"])
            let listRequests = try await server.requests(using: client).filter { $0.path.hasPrefix("/api/v1/namespaces/apps/persistentvolumeclaims?") }
            // 2 single pages + 4 pages of listAll, all authenticated by the client certificate.
            #expect(listRequests.count == 6)
            #expect(listRequests.allSatisfy { $0.user == "admin" && $0.userAgent == "kubectl-evssnap" })
            #expect(listRequests.filter { $0.path.contains("continue=") }.count == 4)

            let everywhere = try await client.listAll(.volumeSnapshots, namespace: "", pageSize: 2)
            #expect(everywhere.count == 3)
        }
    }

    @Test("in-cluster configuration: service-account token file and CA, against the fake over TLS")
    func inCluster() async throws {
        let server = try await FakeAPIServer.startAsync(arguments: ["--token", "sa-token-abcdef=system:serviceaccount:apps:evssnap,system:masters"])
        defer { server.stop() }
        let t = TempDir()
        t.write("sa/token", "sa-token-abcdef\n")
        t.write("sa/ca.crt", try String(contentsOfFile: server.info.ca, encoding: .utf8))
        t.write("sa/namespace", "apps")
        let environment = LoadingEnvironment(variables: ["KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "\(server.info.port)"],
                                             homeDirectory: t.path, serviceAccountDirectory: t.path + "/sa")
        let config = try ClientConfig.load(environment: environment)
        #expect(config.source == .inCluster)
        try await KubeClient.with(config, options: quiet()) { client in
            let pvcs = try await client.listAll(.persistentVolumeClaims, pageSize: 2)
            #expect(pvcs.count == 4)
            let users = try await server.requests(using: client).compactMap(\.user)
            #expect(users.contains("system:serviceaccount:apps:evssnap"))
        }
    }

    @Test("bearer token auth; an unknown token gets kubectl's 401 wording")
    func tokens() async throws {
        let server = try await FakeAPIServer.startAsync()
        defer { server.stop() }
        var config = try server.clientConfig(token: true)
        #expect(config.credentials.token == server.info.token)
        try await KubeClient.with(config, options: quiet()) { client in
            let pvc = try await client.get(.persistentVolumeClaims, name: "data-ssd")
            #expect(pvc["spec"]["resources"]["requests"]["storage"] == "10Gi")
        }
        config.credentials.token = "not-a-known-token"
        try await KubeClient.with(config, options: quiet()) { client in
            await #expect {
                _ = try await client.get(.persistentVolumeClaims, name: "data-ssd")
            } throws: { e in
                (e as? KubeAPIError)?.description == "error: You must be logged in to the server (Unauthorized)"
            }
        }
    }

    @Test("errors: 404 NotFound, 403 Forbidden for a user without rights, 409 AlreadyExists, 422 Invalid")
    func errors() async throws {
        let server = try await FakeAPIServer.startAsync(arguments: ["--forbid", "list:volumesnapshots", "--forbid", "create:volumesnapshots"])
        defer { server.stop() }
        try await KubeClient.with(try server.clientConfig(), options: quiet()) { admin in
            await #expect {
                _ = try await admin.get(.volumeSnapshots, name: "snap-missing")
            } throws: { e in
                (e as? KubeAPIError)?.description == #"Error from server (NotFound): volumesnapshots.snapshot.storage.k8s.io "snap-missing" not found"#
            }
            await #expect {
                _ = try await admin.create(snapshot("snap-1"), .volumeSnapshots)
            } throws: { e in
                (e as? KubeAPIError)?.description == #"Error from server (AlreadyExists): volumesnapshots.snapshot.storage.k8s.io "snap-1" already exists"#
            }
            await #expect {
                _ = try await admin.create(snapshot("Bad_Name"), .volumeSnapshots)
            } throws: { e in
                guard let e = e as? KubeAPIError else { return false }
                return e.isInvalid && e.description.hasPrefix(#"The VolumeSnapshot "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name""#)
            }
        }
        // A user outside system:masters, with its own certificate signed by the cluster CA.
        let (cert, key) = try server.makeClientCertificate(commonName: "system:serviceaccount:apps:reader")
        var reader = try server.clientConfig()
        reader.credentials = .init(clientCertificatePEM: Array(try Data(contentsOf: URL(fileURLWithPath: cert))),
                                   clientKeyPEM: Array(try Data(contentsOf: URL(fileURLWithPath: key))))
        try await KubeClient.with(reader, options: quiet()) { client in
            await #expect {
                _ = try await client.list(.volumeSnapshots)
            } throws: { e in
                (e as? KubeAPIError)?.description == #"Error from server (Forbidden): volumesnapshots.snapshot.storage.k8s.io is forbidden: User "system:serviceaccount:apps:reader" cannot list resource "volumesnapshots" in API group "snapshot.storage.k8s.io" in the namespace "apps""#
            }
            // Reading PVCs is still allowed.
            let pvcs = try await client.list(.persistentVolumeClaims)
            #expect(!pvcs["items"].elements.isEmpty)
        }
    }

    @Test("create with dryRun=All returns warnings and persists nothing; create, get ready, delete, then 404")
    func createDelete() async throws {
        let server = try await FakeAPIServer.startAsync()
        defer { server.stop() }
        let sink = Sink()
        try await KubeClient.with(try server.clientConfig(), options: quiet(sink)) { client in
            let typo: JSON = .object([
                "apiVersion": .string("snapshot.storage.k8s.io/v1"), "kind": .string("VolumeSnapshot"),
                "metadata": .object(["name": .string("snap-typo")]),
                "spec": .object(["source": .object(["persistentVolumeClaimName": .string("data-ssd")]),
                                 "volumeSnapshotClassName": .string("csi-disk-snapclass"), "sourcePVC": .string("data-ssd")]),
            ])
            let dry = try await client.create(typo, .volumeSnapshots,
                                              query: [URLQueryItem(name: "dryRun", value: "All"), URLQueryItem(name: "fieldManager", value: "kubectl-evssnap")])
            #expect(dry.warnings == [#"unknown field "spec.sourcePVC""#])
            #expect(sink.all.contains(#"Warning: unknown field "spec.sourcePVC""#))
            #expect(dry.object["metadata"]["uid"].string != nil && dry.object["metadata"]["resourceVersion"].isNull)
            let names = try await client.listAll(.volumeSnapshots, pageSize: 500).compactMap { $0["metadata"]["name"].string }
            #expect(!names.contains("snap-typo"))
            let seen = try await server.requests(using: client)
            #expect(seen.contains { $0.method == "POST" && $0.path.hasSuffix("?dryRun=All&fieldManager=kubectl-evssnap") && $0.contentType == "application/json" })

            let made = try await client.create(snapshot("snap-e2e"), .volumeSnapshots, namespace: "apps")
            #expect(made.object["metadata"]["resourceVersion"].string != nil)
            var ready = false
            for _ in 0..<50 where !ready {
                let got = try await client.get(.volumeSnapshots, name: "snap-e2e")
                ready = got["status"]["readyToUse"] == .bool(true)
                if !ready { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(ready)
            let deleted = try await client.delete(.volumeSnapshots, name: "snap-e2e")
            #expect(deleted["metadata"]["deletionTimestamp"].string != nil)
            await #expect(throws: KubeAPIError.self) {
                _ = try await client.get(.volumeSnapshots, name: "snap-e2e")
            }
        }
    }

    @Test("events: core/v1 field selectors on involvedObject; events.k8s.io/v1 rejects them with 400")
    func events() async throws {
        let server = try await FakeAPIServer.startAsync()
        defer { server.stop() }
        try await KubeClient.with(try server.clientConfig(), options: quiet()) { client in
            let core = try await client.list(.events, options: ListOptions(fieldSelector: "involvedObject.name=snap-1"))
            #expect(core["items"].elements.map { $0["reason"].string } == ["CreatingSnapshot", "SnapshotCreated", "SnapshotReady"])
            let both = try await client.list(.events, options: ListOptions(
                fieldSelector: "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=data-ssd-restore")).elementsOfItems
            #expect(!both.isEmpty && both.allSatisfy { $0["involvedObject"]["kind"] == "PersistentVolumeClaim" })
            await #expect {
                _ = try await client.list(.eventsV1, options: ListOptions(fieldSelector: "involvedObject.name=snap-1"))
            } throws: { e in
                (e as? KubeAPIError)?.description == "Error from server (BadRequest): field label not supported: involvedObject.name"
            }
            let v1 = try await client.list(.eventsV1, options: ListOptions(fieldSelector: "regarding.name=snap-1"))
            #expect(v1["items"].elements.count == 3)
        }
    }

    @Test("restore PVC from a snapshot: binds at the snapshot size; smaller stays Pending with a Warning and holds the snapshot")
    func restore() async throws {
        let server = try await FakeAPIServer.startAsync()
        defer { server.stop() }
        try await KubeClient.with(try server.clientConfig(), options: quiet()) { client in
            func pvc(_ name: String, _ size: String) -> JSON {
                ["apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": ["name": .string(name)], "spec": [
                    "accessModes": ["ReadWriteOnce"], "resources": ["requests": ["storage": .string(size)]], "storageClassName": "csi-disk",
                    "dataSource": ["apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "snap-3"]]]
            }
            _ = try await client.create(pvc("r-ok", "10Gi"), .persistentVolumeClaims)
            _ = try await client.create(pvc("r-small", "5Gi"), .persistentVolumeClaims)
            var phase: String?
            for _ in 0..<50 where phase != "Bound" {
                phase = try await client.get(.persistentVolumeClaims, name: "r-ok")["status"]["phase"].string
                if phase != "Bound" { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(phase == "Bound")
            var warnings: [JSON] = []
            for _ in 0..<50 where warnings.isEmpty {
                warnings = try await client.list(.events, options: ListOptions(fieldSelector: "involvedObject.name=r-small")).elementsOfItems
                if warnings.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(warnings.first?["type"] == "Warning")
            #expect(warnings.first?["message"].string?.contains("requested volume size 5368709120 is less than the size 10737418240 for the source snapshot snap-3") == true)
            let small = try await client.get(.persistentVolumeClaims, name: "r-small")
            #expect(small["status"]["phase"] == "Pending")
            try await client.delete(.volumeSnapshots, name: "snap-3")
            let held = try await client.get(.volumeSnapshots, name: "snap-3")
            #expect(held["metadata"]["deletionTimestamp"].string != nil)
        }
    }

    @Test("discovery as the plugin reads it: /version, the snapshot group's served versions in /apis, plain-text 404 of an unserved version", arguments: [
        ("v1", "v1.36.2", ["v1"]), ("v1beta1", "v1.19.4", ["v1beta1"]), ("none", "v1.36.2", []),
    ] as [(String, String, [String])])
    func discovery(served: String, version: String, expected: [String]) async throws {
        let server = try await FakeAPIServer.startAsync(arguments: ["--snapshot-versions", served, "--version", version])
        defer { server.stop() }
        try await KubeClient.with(try server.clientConfig(), options: quiet()) { client in
            #expect(try await client.version()["gitVersion"].string == version)
            let groups = try JSON.parse(try await client.send(method: "GET", path: "/apis").body)
            let snapshot = groups["groups"].elements.first { $0["name"].string == ResourceType.snapshotGroup }
            #expect((snapshot?["versions"].elements ?? []).compactMap { $0["version"].string } == expected)
            if let v = expected.first {
                let list = try await client.list(ResourceType.volumeSnapshots.withVersion(v))
                #expect(list["items"].elements.allSatisfy { $0["apiVersion"].string == "snapshot.storage.k8s.io/\(v)" })
            } else {
                // The unserved path answers plain text; the client still produces kubectl's NotFound.
                await #expect {
                    _ = try await client.list(.volumeSnapshots)
                } throws: { e in
                    (e as? KubeAPIError)?.description == "Error from server (NotFound): the server could not find the requested resource (get volumesnapshots.snapshot.storage.k8s.io)"
                }
            }
        }
    }

    @Test("exec plugin: a stale token gets 401, the plugin runs again and the request succeeds")
    func execRerunOn401() async throws {
        let server = try await FakeAPIServer.startAsync(arguments: ["--token", "fresh-exec-token-2=admin,system:masters"])
        defer { server.stop() }
        let t = TempDir()
        let plugin = t.write("plugin.sh", """
        #!/bin/sh
        n=$(cat "\(t.path)/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "\(t.path)/count"
        if [ $n -eq 1 ]; then tok=stale-exec-token-1; else tok=fresh-exec-token-2; fi
        printf '{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","status":{"token":"%s"}}' $tok
        """, executable: true)
        var config = try server.clientConfig()
        config.credentials = .init(exec: .init(command: plugin, apiVersion: "client.authentication.k8s.io/v1beta1"))
        let sink = Sink()
        try await KubeClient.with(config, options: quiet(sink, verbosity: 9)) { client in
            let ns = try await client.get(.namespaces, name: "apps")
            #expect(ns["status"]["phase"] == "Active")
            #expect(client.execProvider?.runCount == 2)
            _ = try await client.get(.namespaces, name: "apps")
            #expect(client.execProvider?.runCount == 2)  // cached (no expiry given)
        }
        let logs = sink.all.joined(separator: "\n")
        #expect(logs.contains("401 Unauthorized"))
        #expect(!logs.contains("stale-exec-token-1") && !logs.contains("fresh-exec-token-2"))
    }

    @Test("verbose logs: -v=6 method/URL/status/duration, -v=8 bodies, never the token")
    func verboseLogs() async throws {
        let server = try await FakeAPIServer.startAsync()
        defer { server.stop() }
        let sink = Sink()
        try await KubeClient.with(try server.clientConfig(token: true), options: quiet(sink, verbosity: 8)) { client in
            _ = try await client.get(.persistentVolumeClaims, name: "data-ssd")
        }
        let lines = sink.all
        #expect(lines.contains { $0.hasPrefix("GET \(server.info.url)/api/v1/namespaces/apps/persistentvolumeclaims/data-ssd 200 OK in ") && $0.hasSuffix(" milliseconds") })
        #expect(lines.contains { $0.hasPrefix("Request Header: Authorization: Bearer <redacted>") })
        #expect(lines.contains { $0.hasPrefix("Response Body: {") && $0.contains("data-ssd") })
        #expect(!lines.joined().contains(server.info.token))
        let six = Sink()
        try await KubeClient.with(try server.clientConfig(token: true), options: quiet(six, verbosity: 6)) { client in
            _ = try await client.version()
        }
        #expect(six.all.count == 1)
    }

    @Test("TLS: verification on by default (unknown CA refused), a CA from the kubeconfig, insecure-skip-tls-verify")
    func tls() async throws {
        let server = try await FakeAPIServer.startAsync()
        defer { server.stop() }
        var noCA = try server.clientConfig()
        noCA.tls.caPEM = nil  // system roots do not know the fake's CA
        try await KubeClient.with(noCA, options: quiet()) { client in
            await #expect(throws: KubeClientError.self) { _ = try await client.version() }
        }
        var insecure = try server.clientConfig()
        insecure.tls = .init(caPEM: nil, insecureSkipVerify: true)
        try await KubeClient.with(insecure, options: quiet()) { client in
            let major = try await client.version()["major"].string
            #expect(major == "1")
        }
    }

    @Test("tls-server-name: verification uses it for SNI and the name check while connecting to the server address")
    func tlsServerName() async throws {
        // The server certificate names only api.internal (no IP SAN): NIOSSL accepts an IP SAN that matches the
        // connected address whatever the expected name, so a real negative test needs a certificate without one.
        let server = try await FakeAPIServer.startAsync(arguments: ["--san", "DNS:api.internal"])
        defer { server.stop() }
        try await KubeClient.with(try server.clientConfig(), options: quiet()) { client in
            await #expect(throws: KubeClientError.self) { _ = try await client.version() }
        }
        var wrongName = try server.clientConfig()
        wrongName.tls.serverName = "not-the-server.example"
        try await KubeClient.with(wrongName, options: quiet()) { client in
            await #expect(throws: KubeClientError.self) { _ = try await client.version() }
        }
        var rightName = try server.clientConfig()
        rightName.tls.serverName = "api.internal"
        try await KubeClient.with(rightName, options: quiet()) { client in
            let major = try await client.version()["major"].string
            #expect(major == "1")
        }
    }

    @Test("--request-timeout: a slow answer becomes a timeout error")
    func requestTimeout() async throws {
        let server = try await FakeAPIServer.startAsync(arguments: ["--slow", "/api/v1/namespaces/apps/persistentvolumeclaims:30"])
        defer { server.stop() }
        let config = try server.clientConfig(overrides: ConfigOverrides(requestTimeout: .milliseconds(400)))
        try await KubeClient.with(config, options: quiet()) { client in
            let started = ContinuousClock.now
            do {
                let list = try await client.list(.persistentVolumeClaims)
                Issue.record("expected a timeout, got \(list["items"].elements.count) items after \(ContinuousClock.now - started)")
            } catch KubeClientError.timeout(_, let secs) {
                #expect(secs == 0.4)
                // The answer would come after 30 s: well before that is the 0.4 s timeout, however busy the machine.
                #expect(ContinuousClock.now - started < .seconds(15))
            }
        }
        // Other paths are not slowed. Asked without the 0.4 s limit: a new TLS connection on a loaded machine can take
        // longer than that, and this part is about the server's answer, not a race with the clock.
        try await KubeClient.with(try server.clientConfig(), options: quiet()) { client in
            let major = try await client.version()["major"].string
            #expect(major == "1")
        }
    }

    @Test("watch: events stream until the server ends it; a too old resourceVersion throws Expired")
    func watch() async throws {
        let server = try await FakeAPIServer.startAsync()
        defer { server.stop() }
        try await KubeClient.with(try server.clientConfig(), options: quiet()) { client in
            var names: [String] = []
            for try await ev in client.watch(.volumeSnapshots, options: ListOptions(timeoutSeconds: 1)) {
                #expect(ev.type == "ADDED")
                names.append(ev.object["metadata"]["name"].string ?? "")
            }
            #expect(names.sorted() == ["snap-1", "snap-2", "snap-3"])
            await #expect {
                for try await _ in client.watch(.volumeSnapshots, options: ListOptions(resourceVersion: "1")) {}
            } throws: { e in
                (e as? KubeAPIError)?.isExpired == true
            }
        }
    }
}

extension JSON {
    /// `items` of a list answer.
    var elementsOfItems: [JSON] { self["items"].elements }
}
