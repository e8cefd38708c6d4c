import Foundation

/// Runs `Tests/http-test-server/https_server.py` (real TLS through Python's ssl) for the duration of a test.
/// Needs python3 and openssl; the server exits when this object closes its stdin.
final class TestServer: @unchecked Sendable {  // Sendable: immutable after init; `process` only stopped in deinit.
    struct Info: Decodable {
        var port: Int
        var ca: String
        var caOther: String
        var clientCert: String
        var clientKey: String
    }

    static var isAvailable: Bool {
        ["/usr/bin/python3", "/usr/bin/openssl"].allSatisfy { FileManager.default.isExecutableFile(atPath: $0) }
    }

    let info: Info
    let directory: String
    let scheme: String
    private let process: Process
    private let stdin: Pipe

    init(plain: Bool = false, requireClientCertificate: Bool = false, dnsNameOnly: Bool = false) throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("http-test-\(UUID().uuidString)").path
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("http-test-server/https_server.py").path
        process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/python3")
        process.arguments = [script, directory] + (plain ? ["--plain"] : []) + (requireClientCertificate ? ["--require-client-cert"] : [])
            + (dnsNameOnly ? ["--dns-name-only"] : [])
        let stdout = Pipe()
        stdin = Pipe()
        process.standardOutput = stdout
        process.standardInput = stdin
        try process.run()
        var line = Data()
        while true {
            let byte = stdout.fileHandleForReading.readData(ofLength: 1)
            if byte.isEmpty || byte == Data([10]) { break }
            line.append(byte)
        }
        info = try JSONDecoder().decode(Info.self, from: line)
        scheme = plain ? "http" : "https"
    }

    func url(_ path: String, host: String = "127.0.0.1") -> String { "\(scheme)://\(host):\(info.port)\(path)" }

    func read(_ path: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path))) }

    deinit {
        try? stdin.fileHandleForWriting.close()
        process.waitUntilExit()
        try? FileManager.default.removeItem(atPath: directory)
    }
}
