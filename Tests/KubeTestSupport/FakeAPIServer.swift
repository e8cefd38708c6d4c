import Foundation
import KubeClient

/// Runs `Tests/fake-apiserver/fake_apiserver.py` (a fake kube-apiserver over HTTPS, seeded from the recorded fixtures)
/// as a subprocess for tests. Needs `python3` and `openssl` on PATH; check ``isAvailable`` and skip otherwise.
///
///     let server = try await FakeAPIServer.startAsync(arguments: ["--snapshot-versions", "v1beta1"])
///     defer { server.stop() }
///     let config = try server.clientConfig()            // kubeconfig with the generated client certificate, namespace apps
///     try await KubeClient.with(config) { client in ... }
///
/// Knobs are the script's flags (see its header): `--version`, `--snapshot-versions`, `--no-seed`, `--token T=USER[,GROUP]`,
/// `--forbid VERB:RESOURCE[:USER]`, `--snapshot-ready-delay S`, `--restore-bind-delay S`, `--fail METHOD:PATHPREFIX:CODE`.
// @unchecked Sendable: `process` is only touched by `stop()`/`deinit`, and `Process` itself is thread-safe for terminate/wait.
public final class FakeAPIServer: @unchecked Sendable {
    /// What the script prints on start.
    public struct Info: Decodable, Sendable {
        /// `https://127.0.0.1:PORT`
        public var url: String
        public var port: Int
        /// Temp dir with the certificates and kubeconfigs.
        public var dir: String
        /// CA certificate (PEM) that signed the server and client certificates.
        public var ca: String
        /// CA key, to sign more client certificates in tests.
        public var caKey: String
        /// Client certificate CN=admin, O=system:masters.
        public var clientCert: String
        public var clientKey: String
        /// Bearer token of a system:masters user.
        public var token: String
        /// Kubeconfig using the client certificate (context `fake`, namespace `apps`, relative cert paths).
        public var kubeconfig: String
        /// Kubeconfig using the bearer token (context `fake-token`).
        public var kubeconfigToken: String
    }

    /// One request the fake saw (from `GET /__fake__/requests`).
    public struct RecordedRequest: Decodable, Sendable {
        public var method: String
        /// Path with query, as sent.
        public var path: String
        /// Authenticated user, or nil when the token was rejected.
        public var user: String?
        public var userAgent: String?
        public var contentType: String?
        public var accept: String?
    }

    public let info: Info
    private let process: Process
    /// The script's stderr, kept for start failures; removed by `stop()`.
    private let logPath: String

    /// Absolute path of `fake_apiserver.py`, found from this source file (works in any checkout).
    public static var scriptPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("fake-apiserver/fake_apiserver.py").path
    }

    /// True when python3 and openssl can be found, so the fake can run.
    public static var isAvailable: Bool {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        func has(_ tool: String) -> Bool {
            path.split(separator: ":").contains { FileManager.default.isExecutableFile(atPath: "\($0)/\(tool)") }
        }
        return has("python3") && has("openssl") && FileManager.default.fileExists(atPath: scriptPath)
    }

    private init(info: Info, process: Process, logPath: String) {
        self.info = info; self.process = process; self.logPath = logPath
    }

    /// ``start(arguments:timeout:)`` on a dispatch queue: use this from async tests, so waiting for the fake (it makes
    /// its certificates first) does not hold one of the few threads of the Swift concurrency pool.
    public static func startAsync(arguments: [String] = [], timeout: Double = 30) async throws -> FakeAPIServer {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try start(arguments: arguments, timeout: timeout) })
            }
        }
    }

    /// Starts the fake and waits for its info line (up to `timeout` seconds). Blocks the calling thread.
    public static func start(arguments: [String] = [], timeout: Double = 30) throws -> FakeAPIServer {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", scriptPath] + arguments
        let out = Pipe()
        let errPath = FileManager.default.temporaryDirectory.appendingPathComponent("fake-apiserver-\(UUID().uuidString).log").path
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        p.standardOutput = out
        p.standardError = FileHandle(forWritingAtPath: errPath)
        p.standardInput = FileHandle.nullDevice
        try p.run()
        let handle = out.fileHandleForReading
        var buffer = Data()
        let deadline = Date().addingTimeInterval(timeout)
        while !buffer.contains(UInt8(ascii: "\n")) {
            let chunk = handle.availableData
            if chunk.isEmpty || Date() > deadline {
                p.terminate()
                let err = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
                try? FileManager.default.removeItem(atPath: errPath)
                throw FakeServerError.startFailed(err.isEmpty ? "no info line on stdout" : err)
            }
            buffer.append(chunk)
        }
        let line = buffer.prefix { $0 != UInt8(ascii: "\n") }
        let info = try JSONDecoder().decode(Info.self, from: line)
        return FakeAPIServer(info: info, process: p, logPath: errPath)
    }

    /// Stops the server (idempotent).
    public func stop() {
        defer { try? FileManager.default.removeItem(atPath: logPath) }
        guard process.isRunning else { return }
        process.terminate()
        // SIGTERM may be ignored when inherited that way; escalate after 2 s rather than hang the test run.
        let deadline = Date().addingTimeInterval(2)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
    }

    deinit { stop() }

    /// Loads the generated kubeconfig the way kubectl would (`--kubeconfig`), optionally with the token user.
    public func clientConfig(token: Bool = false, overrides: ConfigOverrides = ConfigOverrides()) throws -> ClientConfig {
        var o = overrides
        o.kubeconfig = token ? info.kubeconfigToken : info.kubeconfig
        return try ClientConfig.load(o, environment: LoadingEnvironment(variables: [:], homeDirectory: "/nonexistent"))
    }

    /// Requests seen so far (the debug endpoint needs no credentials).
    public func requests(using client: KubeClient) async throws -> [RecordedRequest] {
        let r = try await client.send(method: "GET", path: "/__fake__/requests")
        return try JSONDecoder().decode([RecordedRequest].self, from: r.body)
    }

    /// Signs a new client certificate with the fake's CA (EC P-256). Returns (certPath, keyPath).
    public func makeClientCertificate(commonName: String, organization: String? = nil) throws -> (cert: String, key: String) {
        let base = "\(info.dir)/client-\(commonName.replacingOccurrences(of: ":", with: "_"))"
        let subj = (organization.map { "/O=\($0)" } ?? "") + "/CN=\(commonName)"
        try FakeAPIServer.run("/usr/bin/env", ["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                                                "-keyout", "\(base).key", "-out", "\(base).csr", "-subj", subj])
        try FakeAPIServer.run("/usr/bin/env", ["openssl", "x509", "-req", "-in", "\(base).csr", "-CA", info.ca, "-CAkey", info.caKey,
                                                "-CAcreateserial", "-out", "\(base).pem", "-days", "1"])
        return ("\(base).pem", "\(base).key")
    }

    static func run(_ exe: String, _ args: [String]) throws {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = args
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        guard p.terminationStatus == 0 else { throw FakeServerError.commandFailed(([exe] + args).joined(separator: " ")) }
    }
}

/// Failures starting or driving the fake API server.
public enum FakeServerError: Error, CustomStringConvertible {
    /// The script exited or printed no info line; carries its stderr.
    case startFailed(String)
    /// A helper command (openssl) failed.
    case commandFailed(String)
    public var description: String {
        switch self {
        case .startFailed(let s): return "fake apiserver did not start: \(s)"
        case .commandFailed(let s): return "command failed: \(s)"
        }
    }
}

extension KubeClient {
    /// Runs `body` with a client and shuts it down afterwards, also when `body` throws (tests open many clients).
    @discardableResult
    public static func with<R: Sendable>(_ config: ClientConfig, options: Options = Options(),
                                         _ body: (KubeClient) async throws -> R) async throws -> R {
        let client = try KubeClient(config: config, options: options)
        do {
            let r = try await body(client)
            try? await client.shutdown()
            return r
        } catch {
            try? await client.shutdown()
            throw error
        }
    }
}
