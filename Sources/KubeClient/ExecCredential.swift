import Foundation
import JSONCore
import KubeCore
import Synchronization
import TimeCore

/// A credential obtained from an exec plugin (`ExecCredential.status`).
public struct ExecCredential: Sendable, Equatable, CustomStringConvertible {
    /// Bearer token, if the plugin returned one.
    public var token: String?
    /// PEM client certificate, if the plugin returned one.
    public var clientCertificatePEM: [UInt8]?
    /// PEM client key, if the plugin returned one.
    public var clientKeyPEM: [UInt8]?
    /// When the credential expires; nil means it is kept until the server answers 401.
    public var expiration: Date?
    public init(token: String? = nil, clientCertificatePEM: [UInt8]? = nil, clientKeyPEM: [UInt8]? = nil, expiration: Date? = nil) {
        self.token = token; self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM; self.expiration = expiration
    }
    public var description: String {
        "ExecCredential(token: \(token == nil ? "none" : Redactor.mask), clientCertificate: \(clientCertificatePEM != nil), expiration: \(expiration.map { "\($0)" } ?? "none"))"
    }
}

/// Runs a client.authentication.k8s.io (v1 or v1beta1) exec plugin and caches its credential until it expires.
///
/// The plugin gets the kubeconfig's args and env on top of the process environment, plus `KUBERNETES_EXEC_INFO`
/// holding an ExecCredential with `spec.interactive: false` (and `spec.cluster` when `provideClusterInfo`).
public final class ExecCredentialProvider: Sendable {
    public let config: Kubeconfig.ExecConfig
    /// Cluster info passed when `provideClusterInfo` is set.
    let clusterServer: String
    let clusterCAData: [UInt8]?
    let insecure: Bool
    let tlsServerName: String?
    /// Clock, injectable for tests.
    let now: @Sendable () -> Date
    /// Cached credential. Guarded by the mutex; read and replaced by `credential(forceRefresh:)` from any task.
    private let cache = Mutex<ExecCredential?>(nil)
    /// Number of times the plugin ran (for tests and `-v` logs).
    private let runs = Atomic<Int>(0)
    /// Held while the plugin runs, so concurrent requests with an empty cache run it once, not once each.
    private let runLock = Mutex<Void>(())

    public init(config: Kubeconfig.ExecConfig, clusterServer: String = "", clusterCAData: [UInt8]? = nil,
                insecureSkipTLSVerify: Bool = false, tlsServerName: String? = nil,
                now: @escaping @Sendable () -> Date = { Date() }) {
        self.config = config; self.clusterServer = clusterServer; self.clusterCAData = clusterCAData
        self.insecure = insecureSkipTLSVerify; self.tlsServerName = tlsServerName; self.now = now
    }

    /// How many times the plugin has been run.
    public var runCount: Int { runs.load(ordering: .relaxed) }

    /// Drops the cached credential (the client calls this on a 401).
    public func invalidate() { cache.withLock { $0 = nil } }

    /// The cached credential when still valid, else a fresh one from the plugin.
    public func credential(forceRefresh: Bool = false) throws -> ExecCredential {
        let t = now()
        if !forceRefresh, let c = cache.withLock({ $0 }), c.expiration.map({ $0 > t }) ?? true {
            return c
        }
        return try runLock.withLock { _ in
            // Another caller may have refreshed the cache while we waited for the lock.
            if !forceRefresh, let c = cache.withLock({ $0 }), c.expiration.map({ $0 > now() }) ?? true {
                return c
            }
            let fresh = try run()
            cache.withLock { $0 = fresh }
            return fresh
        }
    }

    /// ``credential(forceRefresh:)`` on a dispatch queue, so the blocking plugin run never holds a thread of the
    /// Swift concurrency pool.
    public func fetchCredential(forceRefresh: Bool = false) async throws -> ExecCredential {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result { try self.credential(forceRefresh: forceRefresh) })
            }
        }
    }

    /// Runs the plugin once and parses its output (no caching).
    public func run() throws -> ExecCredential {
        runs.add(1, ordering: .relaxed)
        let supported = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]
        guard supported.contains(config.apiVersion) else {
            throw KubeClientError.execPluginFailed(command: config.command,
                reason: "exec plugin: invalid apiVersion \"\(config.apiVersion)\"", stderr: "")
        }
        if config.interactiveMode == "Always" {
            throw KubeClientError.execPluginFailed(command: config.command,
                reason: "exec plugin cannot support interactive mode: standard input is not a terminal", stderr: "")
        }
        guard let executable = resolveExecutable(config.command) else {
            throw KubeClientError.execPluginNotFound(command: config.command, installHint: config.installHint)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: executable)
        p.arguments = config.args
        var env = ProcessInfo.processInfo.environment
        for e in config.env { env[e.name] = e.value }
        env["KUBERNETES_EXEC_INFO"] = execInfoJSON()
        p.environment = env
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch {
            throw KubeClientError.execPluginFailed(command: config.command, reason: "cannot start: \(error)", stderr: config.installHint ?? "")
        }
        // Read both pipes concurrently so a chatty plugin cannot block on a full pipe.
        let errData = Mutex<Data>(Data())
        let errHandle = err.fileHandleForReading
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            let d = errHandle.readDataToEndOfFile()
            errData.withLock { $0 = d }
            group.leave()
        }
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        p.waitUntilExit()
        let stderrText = Redactor.shared.redact(String(decoding: errData.withLock { $0 }.prefix(4096), as: UTF8.self))
        guard p.terminationReason == .exit, p.terminationStatus == 0 else {
            let why = p.terminationReason == .exit ? "exit status \(p.terminationStatus)" : "killed by signal \(p.terminationStatus)"
            var stderrPlus = stderrText
            if let hint = config.installHint, !hint.isEmpty { stderrPlus += (stderrPlus.isEmpty ? "" : "\n") + hint }
            throw KubeClientError.execPluginFailed(command: config.command, reason: why, stderr: stderrPlus)
        }
        return try parse(stdout, stderr: stderrText)
    }

    func parse(_ data: Data, stderr: String) throws -> ExecCredential {
        func fail(_ reason: String) -> KubeClientError {
            .execPluginFailed(command: config.command, reason: reason, stderr: stderr)
        }
        guard let obj = try? JSON.parse(Array(data)), obj.object != nil else {
            throw fail("decoding stdout: output is not an ExecCredential JSON object")
        }
        guard obj["kind"].string == "ExecCredential" else { throw fail("decoding stdout: kind is not ExecCredential") }
        guard let v = obj["apiVersion"].string, v == config.apiVersion else {
            throw fail("exec plugin is configured to use API version \(config.apiVersion), plugin returned version \(obj["apiVersion"].string ?? "")")
        }
        let status = obj["status"]
        guard status.object != nil else { throw fail("exec plugin didn't return a status field") }
        var cred = ExecCredential()
        if let t = status["token"].string, !t.isEmpty { cred.token = t; Redactor.shared.register(t) }
        let cert = status["clientCertificateData"].string
        let key = status["clientKeyData"].string
        if (cert == nil) != (key == nil) {
            throw fail("exec plugin returned only one of clientCertificateData and clientKeyData")
        }
        if let cert, let key {
            cred.clientCertificatePEM = Array(cert.utf8); cred.clientKeyPEM = Array(key.utf8)
            Redactor.shared.register(key)
        }
        if cred.token == nil && cred.clientCertificatePEM == nil {
            throw fail("exec plugin didn't return a token or cert/key pair")
        }
        if let exp = status["expirationTimestamp"].string {
            guard let d = parseRFC3339(exp) else { throw fail("invalid expirationTimestamp \"\(exp)\"") }
            cred.expiration = d
        }
        return cred
    }

    /// The ExecCredential given to the plugin in `KUBERNETES_EXEC_INFO` (keys sorted, as JSONCore writes them).
    func execInfoJSON() -> String {
        var spec: JSON = ["interactive": false]
        if config.provideClusterInfo {
            var cluster: JSON = ["server": .string(clusterServer), "insecure-skip-tls-verify": .bool(insecure)]
            if let ca = clusterCAData { cluster["certificate-authority-data"] = .string(Base64.encode(ca)) }
            if let n = tlsServerName { cluster["tls-server-name"] = .string(n) }
            spec["cluster"] = cluster
        }
        let obj: JSON = ["apiVersion": .string(config.apiVersion), "kind": "ExecCredential", "spec": spec]
        return obj.description
    }

    func resolveExecutable(_ command: String) -> String? {
        let fm = FileManager.default
        if command.contains("/") { return fm.isExecutableFile(atPath: command) ? command : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/\(command)"
            if fm.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }
}

/// Parses RFC 3339 timestamps (with or without fractional seconds, any offset) with TimeCore's one reader.
func parseRFC3339(_ s: String) -> Date? {
    RFC3339.parse(s).map { Date(timeIntervalSince1970: $0.secondsSince1970) }
}
