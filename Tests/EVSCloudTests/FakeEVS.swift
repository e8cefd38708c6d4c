// Test support: starts Tests/fake-evs/fake_evs.py (HTTPS on loopback, its own CA) and talks to it through the
// driver's own HTTPTransport (libcurl), trusting the fake's CA: the EVS client runs over real TLS on the transport
// it ships with.
import EVSCloud
import HTTPTransport
import JSONCore
import EVSSnapshotRules
import Foundation

/// One running fake EVS + ECS + IAM service.
final class FakeEVS: @unchecked Sendable {
    let process: Process
    let info: [String: Any]
    let transport: HTTPTransport

    /// The EVS endpoint (and the control endpoints); ECS and IAM have their own, as on the real cloud.
    var url: String { info["url"] as! String }
    var ecsURL: String { info["ecs_url"] as! String }
    var iamURL: String { info["iam_url"] as! String }
    var ca: String { info["ca"] as! String }
    var projectID: String { info["project_id"] as! String }
    var servers: [String] { info["servers"] as! [String] }
    var zones: [String] { info["zones"] as! [String] }
    var accessKey: String { info["access_key"] as! String }
    var secretKey: String { info["secret_key"] as! String }
    var credentialsDirectory: String { info["credentials_aksk"] as! String }
    var credentialsFile: String { info["credentials_password"] as! String }

    static let script: String = {
        var dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        dir = dir.deletingLastPathComponent()  // Tests
        return dir.appendingPathComponent("fake-evs/fake_evs.py").path
    }()

    init(arguments: [String] = ["--job-seconds", "0.1", "--snapshot-seconds", "0.3"]) throws {
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", Self.script] + arguments
        let out = Pipe()
        process.standardOutput = out
        try process.run()
        var line = Data()
        while true {
            let byte = out.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data([0x0a]) { break }
            line.append(byte)
        }
        guard let object = try JSONSerialization.jsonObject(with: line) as? [String: Any] else {
            throw CocoaError(.fileReadCorruptFile)
        }
        info = object
        transport = HTTPTransport(configuration: .init(tls: TLSOptions(trust: .caFile(object["ca"] as! String))))
    }

    deinit {
        process.terminate()
        process.waitUntilExit()
    }

    /// A control call (`/_fake/...`), returning the parsed JSON answer.
    @discardableResult
    func control(_ method: String, _ path: String, _ body: JSON? = nil) throws -> JSON {
        let endpoint = ServiceEndpoint(url)!
        let response = try transport.send(
            HTTPRequest(method: method, endpoint: endpoint, path: path, body: body?.serialized() ?? [], timeout: .seconds(10)))
        return try JSON.parse(response.body)
    }

    func reset() throws { try control("POST", "/_fake/reset") }
    func faults(_ faults: [JSON], settings: [String: JSON] = [:]) throws {
        var body = settings
        body["faults"] = .array(faults)
        try control("POST", "/_fake/faults", .object(body))
    }
    func state() throws -> JSON { try control("GET", "/_fake/state") }
    /// What the fake holds until told (snapshots with "snapshot_seconds": -1, jobs of a slow-job fault with "seconds":
    /// -1) finishes now.
    func release() throws { _ = try control("POST", "/_fake/release") }
    func volumes() throws -> [JSON] { try state()["volumes"].array ?? [] }
    func snapshots() throws -> [JSON] { try state()["snapshots"].array ?? [] }

    /// A client and backend on this fake with the given credentials.
    func backend(credentials: CloudCredentials? = nil, rules: RuleSettings = .default, projectID: String? = nil) -> EVSCloudBackend {
        let configuration = CloudConfiguration(
            evs: ServiceEndpoint(url)!, ecs: ServiceEndpoint(ecsURL)!, iam: ServiceEndpoint(iamURL)!,
            projectID: projectID ?? self.projectID,
            credentials: credentials ?? .accessKey(accessKey: accessKey, secretKey: secretKey, securityToken: nil),
            tokenRefreshMargin: .seconds(1), defaultCallBudget: .seconds(20), initialBackoff: .milliseconds(50),
            maxBackoff: .milliseconds(400), pollInterval: .milliseconds(50), requestTimeout: .seconds(10))
        return EVSCloudBackend(client: CloudClient(configuration: configuration, transport: transport),
                               topologies: zones.map { Topology(region: "cn-north-4", zone: $0) }, rules: rules)
    }

    var passwordCredentials: CloudCredentials {
        .password(user: info["username"] as! String, password: info["password"] as! String, domain: info["domain"] as! String)
    }

    /// Shared by the serialized suites (starting one costs a second of openssl).
    nonisolated(unsafe) static var shared: FakeEVS?
    static func started() throws -> FakeEVS {
        if let shared { try shared.reset(); return shared }
        let fake = try FakeEVS()
        shared = fake
        return fake
    }
}

/// Runs `body` as a CSI call with `seconds` until its deadline; its errors are the backend's.
func withDeadline<T>(_ seconds: Double, _ body: () throws -> T) throws(BackendError) -> T {
    let result: Result<T, BackendError> = CallDeadline.$current.withValue(ContinuousClock.now + .milliseconds(Int64(seconds * 1000))) {
        do { return .success(try body()) } catch let error as BackendError { return .failure(error) } catch {
            return .failure(.storage("test harness: \(error)"))
        }
    }
    return try result.get()
}
