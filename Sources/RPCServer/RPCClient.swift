internal import CGRPCCore
import Glibc
import Synchronization

/// The outcome of one unary call: the status, and the response message (empty unless OK).
public struct RPCClientResponse: Sendable {
    /// The status from the server, or from the core (UNAVAILABLE, DEADLINE_EXCEEDED, …).
    public var status: RPCStatus
    /// The response message bytes.
    public var message: [UInt8]
}

/// A unary gRPC client over an insecure channel of the C core (for tests and the load generator).
///
/// Completions are delivered on the client's completion-queue thread(s); a completion handler must
/// not block and must not call `close()`.
public final class RPCClient: Sendable {
    private let core: ClientCore

    /// The endpoint this client talks to.
    public let endpoint: RPCEndpoint

    /// Creates a channel to `endpoint` (`unix:///path` or `tcp://host:port`); it connects lazily.
    public init(endpoint text: String, completionQueueThreads: Int = 1, maxReceiveMessageSize: Int = 4 * 1024 * 1024)
        throws(RPCSetupError)
    {
        precondition(completionQueueThreads > 0, "completionQueueThreads must be > 0")
        let endpoint = try RPCEndpoint(parsing: text)
        self.endpoint = endpoint
        core = try ClientCore(endpoint: endpoint, threads: completionQueueThreads, maxReceive: maxReceiveMessageSize)
    }

    deinit {
        if core.isQueueThread() {
            // The last reference went away inside a completion: closing here would join this thread.
            let core = self.core
            spawnThread(name: "rpc-client-close", detached: true) { core.close() }
        } else {
            core.close()
        }
    }

    /// Starts a unary call; `completion` runs once on a completion-queue thread.
    /// `timeout` nil: no deadline. After `close()`, completes at once with UNAVAILABLE.
    public func start(
        _ method: String, request: [UInt8], timeout: Duration? = nil,
        completion: @escaping @Sendable (RPCClientResponse) -> Void
    ) {
        core.start(method: method, request: request, timeout: timeout, completion: completion)
    }

    /// A unary call, awaited.
    public func call(_ method: String, request: [UInt8], timeout: Duration? = nil) async -> RPCClientResponse {
        await withCheckedContinuation { continuation in
            start(method, request: request, timeout: timeout) { continuation.resume(returning: $0) }
        }
    }

    /// A unary call that blocks the calling thread (not for Swift concurrency contexts).
    public func callBlocking(_ method: String, request: [UInt8], timeout: Duration? = nil) -> RPCClientResponse {
        let done = ConditionLock()
        let result = Mutex<RPCClientResponse?>(nil)
        start(method, request: request, timeout: timeout) { response in
            done.withLock { result.withLock { $0 = response } }
            done.broadcast()
        }
        done.lock()
        while result.withLock({ $0 == nil }) { done.wait() }
        done.unlock()
        return result.withLock { $0! }
    }

    /// Waits for the calls in flight, then destroys the channel and the queue. Safe to call twice.
    public func close() {
        core.close()
    }
}

/// The channel, its completion queue and the in-flight count.
final class ClientCore: @unchecked Sendable {  // Sendable: C handles are thread-safe in the core; `closed` is guarded by `closeLock`.
    /// Owned; destroyed in `close`.
    private let channel: OpaquePointer
    private let queue: CompletionQueue
    /// Calls in flight.
    private let activity = ActivityCounter()
    /// True once `close` has begun.
    private let closeLock = Mutex(false)

    init(endpoint: RPCEndpoint, threads: Int, maxReceive: Int) throws(RPCSetupError) {
        GRPCLibrary.retain()
        let credentials = grpc_insecure_credentials_create()
        let maxReceive = Int32(clamping: maxReceive)
        let channel = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH.withCString { key in
            var arg = cgrpc_integer_arg(UnsafeMutablePointer(mutating: key), maxReceive)
            return withUnsafeMutablePointer(to: &arg) { argPointer in
                var args = grpc_channel_args(num_args: 1, args: argPointer)
                return grpc_channel_create(endpoint.grpcAddress, credentials, &args)
            }
        }
        grpc_channel_credentials_release(credentials)
        guard let channel else {
            GRPCLibrary.release()
            throw .channelFailed(endpoint: endpoint.description)
        }
        self.channel = channel
        queue = CompletionQueue()
        queue.startThreads(count: threads, name: "rpc-client-cq")
    }

    func isQueueThread() -> Bool {
        queue.isDrainingThread()
    }

    func start(method: String, request: [UInt8], timeout: Duration?, completion: @escaping @Sendable (RPCClientResponse) -> Void) {
        guard activity.enterUnlessClosed() else {
            completion(RPCClientResponse(status: RPCStatus(code: .unavailable, message: "client closed"), message: []))
            return
        }
        let methodSlice = method.withCString { grpc_slice_from_copied_string($0) }
        let call = grpc_channel_create_call(
            channel, nil, cgrpc_propagate_defaults(), queue.handle, methodSlice, nil, coreDeadline(after: timeout), nil)
        grpc_slice_unref(methodSlice)
        guard let call else { fatalError("grpc_channel_create_call returned NULL for \(method)") }
        let activity = self.activity
        let batch = Batch { batch, _ in
            let status = batch.receivedStatus
            let message = batch.takeReceivedMessage() ?? []
            grpc_call_unref(call)
            completion(RPCClientResponse(status: status, message: status.code == .ok ? message : []))
            activity.leave()
        }
        batch.sendInitialMetadata()
        batch.sendMessage(request)
        batch.sendCloseFromClient()
        batch.receiveInitialMetadata()
        batch.receiveMessage()
        batch.receiveStatusOnClient()
        batch.start(on: call)
    }

    func close() {
        let first = closeLock.withLock { closed -> Bool in
            defer { closed = true }
            return !closed
        }
        guard first else { return }
        activity.close()
        _ = activity.waitUntilZero(timeout: nil)
        grpc_channel_destroy(channel)
        queue.shutdownAndDestroy()
        GRPCLibrary.release()
    }
}
