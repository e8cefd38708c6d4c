import Foundation
@testable import KubeClient

/// A fresh temp directory. Not removed on deinit: Swift may end an object's lifetime right after its last use,
/// which would delete scripts a test is still running. Everything lives under one directory per test process.
final class TempDir {
    static let root = FileManager.default.temporaryDirectory.appendingPathComponent("kubeclient-tests-\(getpid())").path
    let path: String
    init() {
        path = (TempDir.root as NSString).appendingPathComponent(UUID().uuidString)
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    /// Writes `text` at `name` (subdirectories created) and returns the absolute path.
    @discardableResult
    func write(_ name: String, _ text: String, executable: Bool = false) -> String {
        let p = (path as NSString).appendingPathComponent(name)
        try! FileManager.default.createDirectory(atPath: (p as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        // Plain open(2) with O_CLOEXEC: a descriptor left open in a process another test spawns at the same moment
        // would make exec of this script fail with ETXTBSY ("text file busy").
        let fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, executable ? 0o755 : 0o644)
        precondition(fd >= 0, "open \(p): errno \(errno)")
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress, $0.count) }
        precondition(written == bytes.count, "write \(p)")
        close(fd)
        if executable { chmod(p, 0o755) }
        return p
    }
}

/// The recorded API server fixtures copied into the repository.
enum Fixtures {
    static let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("fake-apiserver/fixtures")

    /// The fixture's response: status, body bytes (re-serialised JSON, or the raw text) and Warning values.
    static func response(_ file: String) throws -> (status: Int, body: Data, warnings: [String]) {
        let data = try Data(contentsOf: dir.appendingPathComponent(file))
        let obj = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        let resp = obj["response"] as! [String: Any]
        let status = resp["status"] as! Int
        let headers = resp["headers"] as? [String: Any] ?? [:]
        let warnings = headers["Warning"] as? [String] ?? []
        let body: Data
        if let text = resp["body"] as? String {
            body = Data(text.utf8)
        } else {
            body = try JSONSerialization.data(withJSONObject: resp["body"]!)
        }
        return (status, body, warnings)
    }

    /// The request path of a fixture.
    static func requestPath(_ file: String) throws -> String {
        let data = try Data(contentsOf: dir.appendingPathComponent(file))
        let obj = try JSONSerialization.jsonObject(with: data) as! [String: Any]
        return (obj["request"] as! [String: Any])["path"] as! String
    }
}

func env(_ vars: [String: String] = [:], home: String = "/nonexistent-home", saDir: String = "/nonexistent-sa") -> LoadingEnvironment {
    LoadingEnvironment(variables: vars, homeDirectory: home, serviceAccountDirectory: saDir)
}
