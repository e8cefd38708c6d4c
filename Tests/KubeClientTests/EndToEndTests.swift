import Foundation
import JSONCore
import Synchronization
import Testing
@testable import KubeClient
import KubeTestSupport

/// Collects log lines and warnings.
final class Sink: Sendable {
    let lines = Mutex<[String]>([])
    func add(_ s: String) { lines.withLock { $0.append(s) } }
    var all: [String] { lines.withLock { $0 } }
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
            let first = try await client.list(PersistentVolumeClaim.self, .persistentVolumeClaims, options: ListOptions(limit: 1))
            #expect(first.items.count == 1)
            #expect(first.metadata.remainingItemCount == 3)
            let token = try #require(first.metadata.continue)
            let second = try await client.list(PersistentVolumeClaim.self, .persistentVolumeClaims,
                                               options: ListOptions(limit: 1, continueToken: token))
            #expect(second.items.first?.metadata.name != first.items.first?.metadata.name)

            let all = try await client.listAll(PersistentVolumeClaim.self, .persistentVolumeClaims, pageSize: 1)
            #expect(all.map { $0.metadata.name ?? "" }.sorted() == ["data-ssd", "data-ssd-restore", "old-flex", "static-evs"])
            let listRequests = try await server.requests(using: client).filter { $0.path.hasPrefix("/api/v1/namespaces/apps/persistentvolumeclaims?") }
            // 2 single pages + 4 pages of listAll, all authenticated by the client certificate.
            #expect(listRequests.count == 6)
            #expect(listRequests.allSatisfy { $0.user == "admin" && $0.userAgent == "kubectl-evssnap" })
            #expect(listRequests.filter { $0.path.contains("continue=") }.count == 4)

            let everywhere = try await client.listAll(VolumeSnapshot.self, .volumeSnapshots, allNamespaces: true, pageSize: 2)
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
            let pvcs = try await client.listAll(PersistentVolumeClaim.self, .persistentVolumeClaims, pageSize: 2)
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
            let pvc = try await client.get(PersistentVolumeClaim.self, .persistentVolumeClaims, name: "data-ssd")
            #expect(pvc.spec?.resources?.requests?["storage"] == "10Gi")
        }
        config.credentials.token = "not-a-known-token"
        try await KubeClient.with(config, options: quiet()) { client in
            await #expect {
                _ = try await client.get(PersistentVolumeClaim.self, .persistentVolumeClaims, name: "data-ssd")
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
                _ = try await admin.get(VolumeSnapshot.self, .volumeSnapshots, name: "snap-missing")
            } throws: { e in
                (e as? KubeAPIError)?.description == #"Error from server (NotFound): volumesnapshots.snapshot.storage.k8s.io "snap-missing" not found"#
            }
            let dup = VolumeSnapshot(metadata: ObjectMeta(name: "snap-1"),
                                     spec: .init(source: .init(persistentVolumeClaimName: "data-ssd"), volumeSnapshotClassName: "csi-disk-snapclass"))
            await #expect {
                _ = try await admin.create(dup, as: VolumeSnapshot.self, .volumeSnapshots)
            } throws: { e in
                (e as? KubeAPIError)?.description == #"Error from server (AlreadyExists): volumesnapshots.snapshot.storage.k8s.io "snap-1" already exists"#
            }
            let bad = VolumeSnapshot(metadata: ObjectMeta(name: "Bad_Name"), spec: dup.spec)
            await #expect {
                _ = try await admin.create(bad, as: VolumeSnapshot.self, .volumeSnapshots)
            } throws: { e in
                guard let e = e as? KubeAPIError else { return false }
                return e.isInvalid && e.description.hasPrefix(#"The VolumeSnapshot "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name""#)
            }
        }
        // A user outside system:masters, with its own certificate signed by the cluster CA.
        let (cert, key) = try server.makeClientCertificate(commonName: "system:serviceaccount:apps:reader")
        var reader = try server.clientConfig()
        reader.credentials = .init(clientCertificatePEM: try Data(contentsOf: URL(fileURLWithPath: cert)),
                                   clientKeyPEM: try Data(contentsOf: URL(fileURLWithPath: key)))
        try await KubeClient.with(reader, options: quiet()) { client in
            await #expect {
                _ = try await client.list(VolumeSnapshot.self, .volumeSnapshots)
            } throws: { e in
                (e as? KubeAPIError)?.description == #"Error from server (Forbidden): volumesnapshots.snapshot.storage.k8s.io is forbidden: User "system:serviceaccount:apps:reader" cannot list resource "volumesnapshots" in API group "snapshot.storage.k8s.io" in the namespace "apps""#
            }
            // Reading PVCs is still allowed.
            let pvcs = try await client.list(PersistentVolumeClaim.self, .persistentVolumeClaims)
            #expect(!pvcs.items.isEmpty)
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
            let dry = try await client.create(typo, as: VolumeSnapshot.self, .volumeSnapshots,
                                              options: CreateOptions(dryRun: true, fieldManager: "kubectl-evssnap"))
            #expect(dry.warnings == [#"unknown field "spec.sourcePVC""#])
            #expect(sink.all.contains(#"Warning: unknown field "spec.sourcePVC""#))
            #expect(dry.object.metadata.uid != nil && dry.object.metadata.resourceVersion == nil)
            let names = try await client.listAll(VolumeSnapshot.self, .volumeSnapshots).compactMap(\.metadata.name)
            #expect(!names.contains("snap-typo"))
            let seen = try await server.requests(using: client)
            #expect(seen.contains { $0.method == "POST" && $0.path.hasSuffix("?dryRun=All&fieldManager=kubectl-evssnap") && $0.contentType == "application/json" })

            let vs = VolumeSnapshot(metadata: ObjectMeta(name: "snap-e2e"),
                                    spec: .init(source: .init(persistentVolumeClaimName: "data-ssd"), volumeSnapshotClassName: "csi-disk-snapclass"))
            let made = try await client.create(vs, as: VolumeSnapshot.self, .volumeSnapshots, namespace: "apps")
            #expect(made.object.metadata.resourceVersion != nil)
            var ready = false
            for _ in 0..<50 where !ready {
                let got = try await client.get(VolumeSnapshot.self, .volumeSnapshots, name: "snap-e2e")
                ready = got.status?.readyToUse == true
                if !ready { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(ready)
            let deleted = try await client.delete(.volumeSnapshots, name: "snap-e2e")
            #expect(deleted.object["metadata"]["deletionTimestamp"].string != nil)
            await #expect(throws: KubeAPIError.self) {
                _ = try await client.get(VolumeSnapshot.self, .volumeSnapshots, name: "snap-e2e")
            }
        }
    }

    @Test("events: core/v1 field selectors on involvedObject; events.k8s.io/v1 rejects them with 400")
    func events() async throws {
        let server = try await FakeAPIServer.startAsync()
        defer { server.stop() }
        try await KubeClient.with(try server.clientConfig(), options: quiet()) { client in
            let core = try await client.list(Event.self, .events, options: ListOptions(fieldSelector: "involvedObject.name=snap-1"))
            #expect(core.items.map(\.reason) == ["CreatingSnapshot", "SnapshotCreated", "SnapshotReady"])
            let both = try await client.list(Event.self, .events, options: ListOptions(
                fieldSelector: "involvedObject.kind=PersistentVolumeClaim,involvedObject.name=data-ssd-restore"))
            #expect(!both.items.isEmpty && both.items.allSatisfy { $0.involvedObject.kind == "PersistentVolumeClaim" })
            await #expect {
                _ = try await client.list(JSON.self, .eventsV1, options: ListOptions(fieldSelector: "involvedObject.name=snap-1"))
            } throws: { e in
                (e as? KubeAPIError)?.description == "Error from server (BadRequest): field label not supported: involvedObject.name"
            }
            let v1 = try await client.list(JSON.self, .eventsV1, options: ListOptions(fieldSelector: "regarding.name=snap-1"))
            #expect(v1.items.count == 3)
        }
    }

    @Test("restore PVC from a snapshot: binds at the snapshot size; smaller stays Pending with a Warning and holds the snapshot")
    func restore() async throws {
        let server = try await FakeAPIServer.startAsync()
        defer { server.stop() }
        try await KubeClient.with(try server.clientConfig(), options: quiet()) { client in
            func pvc(_ name: String, _ size: String) -> PersistentVolumeClaim {
                PersistentVolumeClaim(metadata: ObjectMeta(name: name), spec: .init(
                    accessModes: ["ReadWriteOnce"], resources: .init(requests: ["storage": size]), storageClassName: "csi-disk",
                    dataSource: TypedObjectReference(apiGroup: "snapshot.storage.k8s.io", kind: "VolumeSnapshot", name: "snap-3")))
            }
            _ = try await client.create(pvc("r-ok", "10Gi"), as: PersistentVolumeClaim.self, .persistentVolumeClaims)
            _ = try await client.create(pvc("r-small", "5Gi"), as: PersistentVolumeClaim.self, .persistentVolumeClaims)
            var phase: String?
            for _ in 0..<50 where phase != "Bound" {
                phase = try await client.get(PersistentVolumeClaim.self, .persistentVolumeClaims, name: "r-ok").status?.phase
                if phase != "Bound" { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(phase == "Bound")
            var warnings: [Event] = []
            for _ in 0..<50 where warnings.isEmpty {
                warnings = try await client.list(Event.self, .events, options: ListOptions(fieldSelector: "involvedObject.name=r-small")).items
                if warnings.isEmpty { try await Task.sleep(for: .milliseconds(100)) }
            }
            #expect(warnings.first?.type == "Warning")
            #expect(warnings.first?.message?.contains("requested volume size 5368709120 is less than the size 10737418240 for the source snapshot snap-3") == true)
            let small = try await client.get(PersistentVolumeClaim.self, .persistentVolumeClaims, name: "r-small")
            #expect(small.status?.phase == "Pending")
            try await client.delete(.volumeSnapshots, name: "snap-3")
            let held = try await client.get(VolumeSnapshot.self, .volumeSnapshots, name: "snap-3")
            #expect(held.metadata.deletionTimestamp != nil)
        }
    }

    @Test("discovery: version, snapshot API v1 / v1beta1 / not served, resources of a group version", arguments: [
        ("v1", "v1.36.2", "v1"), ("v1beta1", "v1.19.4", "v1beta1"), ("none", "v1.36.2", nil),
    ] as [(String, String, String?)])
    func discovery(served: String, version: String, expected: String?) async throws {
        let server = try await FakeAPIServer.startAsync(arguments: ["--snapshot-versions", served, "--version", version])
        defer { server.stop() }
        try await KubeClient.with(try server.clientConfig(), options: quiet()) { client in
            let v = try await client.serverVersion()
            #expect(v.gitVersion == version)
            #expect(try await client.hasResource(groupVersion: "storage.k8s.io/v1", plural: "csidrivers"))
            #expect(try await client.apiResources(groupVersion: "snapshot.storage.k8s.io/v1alpha9") == nil)
            if let expected {
                #expect(try await client.snapshotAPIVersion() == expected)
                let (snapshots, _, _) = try await client.snapshotResources()
                let list = try await client.list(VolumeSnapshot.self, snapshots)
                #expect(list.items.allSatisfy { $0.apiVersion == "snapshot.storage.k8s.io/\(expected)" })
                #expect(try await client.hasResource(groupVersion: "snapshot.storage.k8s.io/\(expected)", plural: "volumesnapshots"))
            } else {
                await #expect(throws: KubeClientError.snapshotAPINotServed(servedVersions: [])) {
                    _ = try await client.snapshotAPIVersion()
                }
                // The unserved path answers plain text; the client still produces kubectl's NotFound.
                await #expect {
                    _ = try await client.list(VolumeSnapshot.self, .volumeSnapshots)
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
            let ns = try await client.get(Namespace.self, .namespaces, name: "apps")
            #expect(ns.status?.phase == "Active")
            #expect(client.execProvider?.runCount == 2)
            _ = try await client.get(Namespace.self, .namespaces, name: "apps")
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
            _ = try await client.get(PersistentVolumeClaim.self, .persistentVolumeClaims, name: "data-ssd")
        }
        let lines = sink.all
        #expect(lines.contains { $0.hasPrefix("GET \(server.info.url)/api/v1/namespaces/apps/persistentvolumeclaims/data-ssd 200 OK in ") && $0.hasSuffix(" milliseconds") })
        #expect(lines.contains { $0.hasPrefix("Request Header: Authorization: Bearer <redacted>") })
        #expect(lines.contains { $0.hasPrefix("Response Body: {") && $0.contains("data-ssd") })
        #expect(!lines.joined().contains(server.info.token))
        let six = Sink()
        try await KubeClient.with(try server.clientConfig(token: true), options: quiet(six, verbosity: 6)) { client in
            _ = try await client.serverVersion()
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
            await #expect(throws: KubeClientError.self) { _ = try await client.serverVersion() }
        }
        var insecure = try server.clientConfig()
        insecure.tls = .init(caPEM: nil, insecureSkipVerify: true)
        try await KubeClient.with(insecure, options: quiet()) { client in
            let major = try await client.serverVersion().major
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
            await #expect(throws: KubeClientError.self) { _ = try await client.serverVersion() }
        }
        var wrongName = try server.clientConfig()
        wrongName.tls.serverName = "not-the-server.example"
        try await KubeClient.with(wrongName, options: quiet()) { client in
            await #expect(throws: KubeClientError.self) { _ = try await client.serverVersion() }
        }
        var rightName = try server.clientConfig()
        rightName.tls.serverName = "api.internal"
        try await KubeClient.with(rightName, options: quiet()) { client in
            let major = try await client.serverVersion().major
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
                let list = try await client.list(PersistentVolumeClaim.self, .persistentVolumeClaims)
                Issue.record("expected a timeout, got \(list.items.count) items after \(ContinuousClock.now - started)")
            } catch KubeClientError.timeout(_, let secs) {
                #expect(secs == 0.4)
                // The answer would come after 30 s: well before that is the 0.4 s timeout, however busy the machine.
                #expect(ContinuousClock.now - started < .seconds(15))
            }
            let major = try await client.serverVersion().major  // other paths are not slowed
            #expect(major == "1")
        }
    }

    @Test("watch: events stream until the server ends it; a too old resourceVersion throws Expired")
    func watch() async throws {
        let server = try await FakeAPIServer.startAsync()
        defer { server.stop() }
        try await KubeClient.with(try server.clientConfig(), options: quiet()) { client in
            var names: [String] = []
            for try await ev in client.watch(VolumeSnapshot.self, .volumeSnapshots, options: ListOptions(timeoutSeconds: 1)) {
                #expect(ev.type == "ADDED")
                names.append(ev.object.metadata.name ?? "")
            }
            #expect(names.sorted() == ["snap-1", "snap-2", "snap-3"])
            await #expect {
                for try await _ in client.watch(VolumeSnapshot.self, .volumeSnapshots, options: ListOptions(resourceVersion: "1")) {}
            } throws: { e in
                (e as? KubeAPIError)?.isExpired == true
            }
        }
    }
}
