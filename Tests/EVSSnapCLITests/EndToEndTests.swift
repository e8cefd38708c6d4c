import EVSSnapCLI
import Foundation
import KubeTestSupport
import Testing

/// End to end against the fake HTTPS API server of Tests/fake-apiserver (seeded from the recorded cluster:
/// PVCs data-ssd, old-flex, static-evs, data-ssd-restore; snapshots snap-1..3), through KubeClient:
/// kubeconfig with a client certificate, TLS, REST, discovery. Skipped (loudly) without python3/openssl.
@Suite("end to end (fake API server)", .enabled(if: FakeAPIServer.isAvailable, "needs python3 and openssl for Tests/fake-apiserver"))
struct EndToEndTests {
    /// Runs `kubectl evssnap ARGS --kubeconfig <fake's>` in-process with the live KubeClient connection.
    static func run(_ server: FakeServer, _ args: [String]) async -> RunResult {
        let out = BufferSink(), err = BufferSink()
        let env = EVSSnapMain.liveEnvironment(console: Console(out: out, err: err, isTerminal: false), pollInterval: .milliseconds(50))
        let code = await EVSSnapMain.run(arguments: args + ["--kubeconfig", server.info.kubeconfig], in: env)
        return RunResult(code: code, out: out.text, err: err.text)
    }

    @Test("list, describe, check: read paths over HTTPS")
    func reads() async throws {
        let server = try FakeServer.start()
        defer { server.stop() }
        let list = await Self.run(server, ["list", "-n", "apps"])
        #expect(list.code == 0, "\(list.err)")
        #expect(list.out.hasPrefix("NAME     SOURCE PVC   READY   RESTORE SIZE   CLASS                AGE\nsnap-1   data-ssd     true    10Gi           csi-disk-snapclass"))
        #expect(list.out.contains("\nsnap-3 "))
        let wide = await Self.run(server, ["list", "-A", "-o", "wide"])
        #expect(wide.code == 0, "\(wide.err)")
        #expect(wide.out.hasPrefix("NAMESPACE   NAME "))
        #expect(wide.out.contains("3/7"))
        let describe = await Self.run(server, ["describe", "snap-1"])
        #expect(describe.code == 0, "\(describe.err)")
        #expect(describe.out.contains("Source PVC:         data-ssd"))
        #expect(describe.out.contains("  Disk Type:        SSD\n"))
        #expect(describe.out.contains("SnapshotReady"))
        let check = await Self.run(server, ["check", "data-ssd"])
        #expect(check.code == 0, "\(check.out)\(check.err)")
        #expect(check.out.contains("[ok]         R1 cluster version v1.36.2 ≥ 1.15"))
        #expect(check.out.contains("[ok]         R5 disk "))
        let verbose = await Self.run(server, ["list", "-v", "6"])
        #expect(verbose.err.contains("GET \(server.info.url)/apis/snapshot.storage.k8s.io/v1/namespaces/apps/volumesnapshots?limit=500 200 OK"), "\(verbose.err)")
        let missing = await Self.run(server, ["describe", "snap-missing"])
        #expect(missing.code == 1)
        #expect(missing.err == "Error from server (NotFound): volumesnapshots.snapshot.storage.k8s.io \"snap-missing\" not found\n")
    }

    @Test("create --wait, restore --wait, delete --wait; and the refusals on the same cluster")
    func writes() async throws {
        let server = try FakeServer.start()
        defer { server.stop() }
        let created = await Self.run(server, ["create", "data-ssd", "--name", "e2e-1", "--wait", "--timeout", "20s"])
        #expect(created.code == 0, "\(created.err)")
        #expect(created.out == "volumesnapshot.snapshot.storage.k8s.io/e2e-1 created\n")
        #expect(created.err.contains("volumesnapshot/e2e-1 is ready to use (restore size 10Gi)"))

        let r3 = await Self.run(server, ["create", "old-flex"])
        #expect(r3.code == 2)
        #expect(r3.err.hasPrefix("error: R3: PVC apps/old-flex uses FlexVolume class sas"))

        let restored = await Self.run(server, ["restore", "e2e-1", "--to", "e2e-restore", "--wait", "--timeout", "20s"])
        #expect(restored.code == 0, "\(restored.err)")
        #expect(restored.err.contains("persistentvolumeclaim/e2e-restore is Bound"))
        let r7 = await Self.run(server, ["restore", "e2e-1", "--to", "e2e-restore"])
        #expect(r7.code == 2)
        #expect(r7.err.hasPrefix("error: R7: restore target apps/e2e-restore already exists"))

        let serverDry = await Self.run(server, ["restore", "snap-1", "--to", "dry", "--dry-run=server", "-o", "name"])
        #expect(serverDry.code == 0, "\(serverDry.err)")
        #expect(serverDry.out == "persistentvolumeclaim/dry\n")

        let deleted = await Self.run(server, ["delete", "e2e-1", "--wait", "--timeout", "20s"])
        #expect(deleted.code == 0, "\(deleted.err)")
        let gone = await Self.run(server, ["describe", "e2e-1"])
        #expect(gone.code == 1)
    }

    @Test("R5 over the API: the 8th snapshot of a disk is refused")
    func quota() async throws {
        let server = try FakeServer.start()
        defer { server.stop() }
        // The seed has 3 snapshots of data-ssd; 4 more reach the limit of 7.
        for i in 1...4 {
            let r = await Self.run(server, ["create", "data-ssd", "--name", "q-\(i)", "--wait"])
            #expect(r.code == 0, "\(r.err)")
        }
        let eighth = await Self.run(server, ["create", "data-ssd", "--name", "q-5"])
        #expect(eighth.code == 2)
        #expect(eighth.err.contains("R5: disk already has 7 snapshots, the limit is 7"))
        let wide = await Self.run(server, ["list", "data-ssd", "-o", "wide"])
        #expect(wide.out.contains("7/7"))
    }

    @Test("cluster-level refusals: old cluster (R1), no snapshot API (R2)")
    func clusterRefusals() async throws {
        let old = try FakeServer.start(arguments: ["--version", "v1.14.3"])
        defer { old.stop() }
        let r1 = await Self.run(old, ["create", "data-ssd"])
        #expect(r1.code == 2)
        #expect(r1.err.hasPrefix("error: R1: cluster version v1.14 is older than v1.15"))

        let bare = try FakeServer.start(arguments: ["--snapshot-versions", "none"])
        defer { bare.stop() }
        let r2 = await Self.run(bare, ["check"])
        #expect(r2.code == 2)
        #expect(r2.out.contains("[FAIL]       R2: the cluster does not serve snapshot.storage.k8s.io"))
        let list = await Self.run(bare, ["list"])
        #expect(list.code == 2)
    }

    @Test("the built kubectl-evssnap binary against the fake, as a subprocess")
    func binary() async throws {
        let bin = try #require(Self.binaryPath(), "kubectl-evssnap not built next to the test bundle")
        let server = try FakeServer.start()
        defer { server.stop() }
        let list = try Self.exec(bin, ["list", "--kubeconfig", server.info.kubeconfig])
        #expect(list.code == 0, "\(list.err)")
        #expect(list.out.contains("snap-1"))
        let refused = try Self.exec(bin, ["create", "static-evs", "--kubeconfig", server.info.kubeconfig, "--class", "nope"])
        #expect(refused.code == 2)
        #expect(refused.err.hasPrefix("error: R2: VolumeSnapshotClass nope not found"))
        let usage = try Self.exec(bin, ["list", "--bogus"])
        #expect(usage.code == 64)
        let noConfig = try Self.exec(bin, ["list", "--kubeconfig", "/nonexistent/kubeconfig"])
        #expect(noConfig.code == 1)
        #expect(!noConfig.err.contains("USAGE"))
    }

    /// `.build/<config>/kubectl-evssnap`, next to the test bundle.
    static func binaryPath() -> String? {
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for _ in 0..<4 {
            let candidate = dir.appendingPathComponent("kubectl-evssnap").path
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
            dir = dir.deletingLastPathComponent()
        }
        return nil
    }

    static func exec(_ path: String, _ args: [String]) throws -> RunResult {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = args
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        try p.run()
        let o = out.fileHandleForReading.readDataToEndOfFile()
        let e = err.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return RunResult(code: p.terminationStatus, out: String(decoding: o, as: UTF8.self), err: String(decoding: e, as: UTF8.self))
    }
}

/// Starts Tests/fake-apiserver/fake_apiserver.py like KubeTestSupport's `FakeAPIServer`, but stops it without
/// `Process.waitUntilExit()`, which deadlocks when called from a Swift Testing task on Linux (seen here: the
/// test's `defer { server.stop() }` never returned). The script also exits by itself when this process ends.
final class FakeServer: @unchecked Sendable {
    // @unchecked Sendable: `process` is only terminated (thread-safe in Foundation) after start returns.
    let info: FakeAPIServer.Info
    private let process: Process

    private init(info: FakeAPIServer.Info, process: Process) { self.info = info; self.process = process }

    static func start(arguments: [String] = []) throws -> FakeServer {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", FakeAPIServer.scriptPath] + arguments
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        p.standardInput = FileHandle.nullDevice
        try p.run()
        var buffer = Data()
        let deadline = Date().addingTimeInterval(30)
        while !buffer.contains(UInt8(ascii: "\n")) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty || Date() > deadline {
                p.terminate()
                throw CLIError.runtime("fake API server did not start")
            }
            buffer.append(chunk)
        }
        let info = try JSONDecoder().decode(FakeAPIServer.Info.self, from: buffer.prefix { $0 != UInt8(ascii: "\n") })
        return FakeServer(info: info, process: p)
    }

    /// Sends SIGTERM; does not wait.
    func stop() { if process.isRunning { process.terminate() } }
}
