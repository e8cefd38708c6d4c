import Foundation
import RPCServer
import Synchronization

/// A fresh unix socket path under /tmp (well below the 107-byte limit).
func temporarySocketPath() -> String {
    "/tmp/rpcsrv-\(getpid())-\(UUID().uuidString.prefix(8)).sock"
}

/// A started server on a temporary unix socket with an echo method, plus a client to it.
struct Harness {
    let server: RPCServer
    let client: RPCClient
    let endpoint: String

    init(
        maxReceive: Int = 4 * 1024 * 1024, handlerThreads: Int = 4,
        register: (RPCServer) -> Void = { _ in }
    ) throws {
        endpoint = "unix://" + temporarySocketPath()
        server = try RPCServer(
            configuration: .init(endpoint: endpoint, maxReceiveMessageSize: maxReceive, handlerThreads: handlerThreads))
        server.register("/test.Echo/Echo") { _, request in request }
        register(server)
        try server.start()
        client = try RPCClient(endpoint: endpoint)
    }

    /// Shuts both down (client first, so its calls are over).
    func stop(grace: Duration = .seconds(1)) {
        client.close()
        server.shutdown(grace: grace)
    }
}

/// Open file descriptors of this process.
func openFileDescriptorCount() -> Int {
    (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd").count) ?? -1
}

/// A value set from a handler thread and read by the test.
final class Box<Value: Sendable>: Sendable {
    private let value: Mutex<Value>
    init(_ value: Value) { self.value = Mutex(value) }
    func set(_ newValue: Value) { value.withLock { $0 = newValue } }
    func update(_ body: (inout Value) -> Void) { value.withLock { body(&$0) } }
    var get: Value { value.withLock { $0 } }
}

/// Polls `condition` every millisecond for at most `timeout`.
func waitFor(_ timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let end = ContinuousClock.now + timeout
    while ContinuousClock.now < end {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(1))
    }
    return condition()
}
