internal import CGRPCCore
import Glibc
import Synchronization

/// A gRPC server for unary calls over gRPC's C core, routed by method path.
///
/// Threads: `completionQueueThreads` threads drain one completion queue; handlers run on a
/// separate pool of `handlerThreads` threads (they may block on file I/O), never on the queue
/// threads nor on Swift's cooperative pool.
///
/// Lifecycle: `init` → `register` each method → `start` → … → `shutdown(grace:)`. Dropping the
/// last reference to a running server shuts it down with no grace period.
///
/// Overload: a call that finds every handler thread busy waits in a queue of at most `maxQueuedCalls`
/// (for a free thread, or for its deadline); a call that finds the queue full is answered
/// RESOURCE_EXHAUSTED at once, on the queue thread, and its request freed: memory stays flat however
/// many calls a client sends.
///
/// Known limits: unary calls only; request and response metadata are neither read nor sent.
public final class RPCServer: Sendable {
    /// Server settings.
    public struct Configuration: Sendable {
        /// `unix:///path` (default form) or `tcp://host:port`.
        public var endpoint: String
        /// Threads draining the completion queue.
        public var completionQueueThreads: Int
        /// Largest request accepted; a larger one is answered RESOURCE_EXHAUSTED by the core
        /// (channel arg `grpc.max_receive_message_length`).
        public var maxReceiveMessageSize: Int
        /// Threads running handlers.
        public var handlerThreads: Int
        /// Calls requested from the core ahead of time, per registered method.
        public var pendingRequestsPerMethod: Int
        /// Calls that may wait for a busy handler thread; one more is answered RESOURCE_EXHAUSTED at once.
        public var maxQueuedCalls: Int

        /// The default `maxQueuedCalls`: room for a CO's worker pool (external-provisioner runs 100 workers) on
        /// top of the handler threads, far below what would hold memory.
        public static let defaultMaxQueuedCalls = 256

        /// Creates a configuration; only the endpoint is required.
        public init(
            endpoint: String, completionQueueThreads: Int = 2, maxReceiveMessageSize: Int = 4 * 1024 * 1024,
            handlerThreads: Int = 4, pendingRequestsPerMethod: Int = 8,
            maxQueuedCalls: Int = Configuration.defaultMaxQueuedCalls
        ) {
            self.endpoint = endpoint
            self.completionQueueThreads = completionQueueThreads
            self.maxReceiveMessageSize = maxReceiveMessageSize
            self.handlerThreads = handlerThreads
            self.pendingRequestsPerMethod = pendingRequestsPerMethod
            self.maxQueuedCalls = maxQueuedCalls
        }
    }

    /// A unary handler: request bytes in, response bytes out. It throws only an `RPCStatus` (typed throws):
    /// the server maps no error of its callers, only what it raises itself (unknown method, deadline or cancel
    /// before the handler ran, a call without a message). The CSI driver's errors are mapped by its StatusMapping.
    public typealias Handler = @Sendable (RPCCallContext, [UInt8]) throws(RPCStatus) -> [UInt8]

    /// Where a method's handler runs.
    public enum Lane: Sendable {
        /// On the handler pool (the default): the handler may block (file I/O, a network call).
        case handlerPool
        /// On the completion-queue thread that received the call, with no hand-off: for handlers that never
        /// block and finish in microseconds (Identity calls, capability lists). They keep answering while every
        /// handler thread is busy, and save the thread hop.
        case inline
    }

    private enum State {
        case configuring([String: (Handler, Lane)])
        case running(ServerCore)
        case stopped
    }

    /// The settings this server was made with.
    public let configuration: Configuration
    /// The parsed endpoint.
    public let endpoint: RPCEndpoint
    /// Guards the lifecycle; held for the whole of `start` and `shutdown`, so concurrent calls queue up.
    private let state = Mutex(State.configuring([:]))
    private let port = Atomic<Int>(0)

    /// Validates the configuration; nothing is bound until `start`.
    public init(configuration: Configuration) throws(RPCSetupError) {
        precondition(configuration.completionQueueThreads > 0, "completionQueueThreads must be > 0")
        precondition(configuration.handlerThreads > 0, "handlerThreads must be > 0")
        precondition(configuration.pendingRequestsPerMethod > 0, "pendingRequestsPerMethod must be > 0")
        precondition(configuration.maxQueuedCalls >= 0, "maxQueuedCalls must be >= 0")
        self.configuration = configuration
        self.endpoint = try RPCEndpoint(parsing: configuration.endpoint)
    }

    deinit {
        shutdown(grace: .zero)
    }

    /// Routes the method `path` (`/package.Service/Method`) to `handler`. Only before `start`;
    /// registering after start or registering a path twice is a programming error (traps).
    public func register(_ path: String, lane: Lane = .handlerPool, handler: @escaping Handler) {
        precondition(path.hasPrefix("/") && path.dropFirst().contains("/"), "method path must look like /package.Service/Method: \(path)")
        state.withLock { state in
            guard case .configuring(var handlers) = state else {
                preconditionFailure("RPCServer.register(\(path)) after start")
            }
            precondition(handlers[path] == nil, "method \(path) registered twice")
            handlers[path] = (handler, lane)
            state = .configuring(handlers)
        }
    }

    /// Binds the endpoint and starts serving. Throws `RPCSetupError.bindFailed` naming the
    /// endpoint if it cannot listen. Starting twice is a programming error (traps).
    public func start() throws(RPCSetupError) {
        try state.withLock { (state) throws(RPCSetupError) in
            guard case .configuring(let handlers) = state else {
                preconditionFailure("RPCServer.start called twice or after shutdown")
            }
            let core = try ServerCore.start(configuration: configuration, endpoint: endpoint, handlers: handlers)
            port.store(core.boundPort, ordering: .relaxed)
            state = .running(core)
        }
    }

    /// For a `tcp://` endpoint, the port actually bound (useful with port 0); nil otherwise or before start.
    public var boundPort: Int? {
        guard case .tcp = endpoint else { return nil }
        let value = port.load(ordering: .relaxed)
        return value == 0 ? nil : value
    }

    /// Stops the server gracefully: no new calls; calls in flight may finish within `grace`; then
    /// every call still alive is cancelled and awaited; then the server, the completion queue and the
    /// handler threads are torn down and the core released. Returns when all of that is done, and an
    /// empty list. Safe to call twice, and before `start`; never from a handler (it would wait for its
    /// own call).
    ///
    /// A handler that does not return after the cancel (stuck in a system call: a mount, a lock, a disk
    /// that does not answer) would block this for ever. With `abandonAfter`, it waits that much longer
    /// and then returns the methods of the handlers still running: nothing is torn down under them (that
    /// would free what they use); the teardown happens on a thread of its own when the last one returns,
    /// or never, if the process exits first, which is what a caller given a non-empty list should do.
    @discardableResult
    public func shutdown(grace: Duration, abandonAfter: Duration? = nil) -> [String] {
        state.withLock { state in
            var stuck: [String] = []
            if case .running(let core) = state {
                stuck = core.shutdown(grace: grace, abandonAfter: abandonAfter)
            }
            state = .stopped
            return stuck
        }
    }
}

/// A registered method as the core knows it.
final class RegisteredMethod: Sendable {
    let path: String
    let handler: RPCServer.Handler
    let lane: RPCServer.Lane
    /// The core's handle from `grpc_server_register_method` (owned by the server).
    let handle: UncheckedRawPointer

    init(path: String, handler: @escaping RPCServer.Handler, lane: RPCServer.Lane, handle: UnsafeMutableRawPointer) {
        self.path = path
        self.handler = handler
        self.lane = lane
        self.handle = UncheckedRawPointer(handle)
    }
}

/// A raw pointer the core owns and treats as thread-safe.
struct UncheckedRawPointer: @unchecked Sendable {
    let pointer: UnsafeMutableRawPointer
    init(_ pointer: UnsafeMutableRawPointer) { self.pointer = pointer }
}

/// The running server: owns the `grpc_server`, the completion queue and the handler pool.
final class ServerCore: @unchecked Sendable {  // Sendable: C handles are thread-safe in the core; `accepting` is atomic; the rest is immutable after start.
    /// Owned; destroyed in `shutdown`.
    let server: OpaquePointer
    let queue: CompletionQueue
    let pool: HandlerPool
    let methods: [RegisteredMethod]
    let pendingRequestsPerMethod: Int
    let boundPort: Int
    /// Outstanding request tags, live calls and the shutdown tag.
    let activity = ActivityCounter()
    /// False once shutdown began: completed requests are no longer re-armed.
    let accepting = Atomic<Bool>(true)
    /// The methods of the handlers running now, by a per-call number (what a shutdown that gives up names).
    let running = Mutex<[UInt64: String]>([:])
    let nextCall = Atomic<UInt64>(0)

    private init(
        server: OpaquePointer, queue: CompletionQueue, pool: HandlerPool, methods: [RegisteredMethod],
        pendingRequestsPerMethod: Int, boundPort: Int
    ) {
        self.server = server
        self.queue = queue
        self.pool = pool
        self.methods = methods
        self.pendingRequestsPerMethod = pendingRequestsPerMethod
        self.boundPort = boundPort
    }

    static func start(
        configuration: RPCServer.Configuration, endpoint: RPCEndpoint, handlers: [String: (RPCServer.Handler, RPCServer.Lane)]
    ) throws(RPCSetupError) -> ServerCore {
        GRPCLibrary.retain()
        let queue = CompletionQueue()
        let maxReceive = Int32(clamping: configuration.maxReceiveMessageSize)
        let server = GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH.withCString { key in
            var arg = cgrpc_integer_arg(UnsafeMutablePointer(mutating: key), maxReceive)
            return withUnsafeMutablePointer(to: &arg) { argPointer in
                var args = grpc_channel_args(num_args: 1, args: argPointer)
                return grpc_server_create(&args, nil)
            }
        }
        guard let server else { fatalError("grpc_server_create returned NULL") }
        grpc_server_register_completion_queue(server, queue.handle, nil)

        let methods = handlers.sorted { $0.key < $1.key }.map { path, entry in
            guard let handle = grpc_server_register_method(server, path, nil, GRPC_SRM_PAYLOAD_READ_INITIAL_BYTE_BUFFER, 0)
            else { fatalError("grpc_server_register_method refused \(path)") }
            return RegisteredMethod(path: path, handler: entry.0, lane: entry.1, handle: handle)
        }

        let credentials = grpc_insecure_server_credentials_create()
        let port = grpc_server_add_http2_port(server, endpoint.grpcAddress, credentials)
        grpc_server_credentials_release(credentials)
        if port == 0 {
            // Never started: no call exists, nothing can post to the queue.
            grpc_server_destroy(server)
            queue.shutdownAndDestroy()
            GRPCLibrary.release()
            throw .bindFailed(endpoint: endpoint.description, reason: bindFailureReason(endpoint))
        }
        grpc_server_start(server)

        let core = ServerCore(
            server: server, queue: queue,
            pool: HandlerPool(threads: configuration.handlerThreads, maxQueued: configuration.maxQueuedCalls, name: "rpc-handler"),
            methods: methods, pendingRequestsPerMethod: configuration.pendingRequestsPerMethod,
            boundPort: Int(port))
        queue.startThreads(count: configuration.completionQueueThreads, name: "rpc-cq")
        for method in methods {
            for _ in 0..<configuration.pendingRequestsPerMethod { core.requestRegisteredCall(method) }
        }
        for _ in 0..<max(2, configuration.pendingRequestsPerMethod / 2) { core.requestUnregisteredCall() }
        return core
    }

    /// Best-effort explanation of a failed bind.
    private static func bindFailureReason(_ endpoint: RPCEndpoint) -> String {
        switch endpoint {
        case .unix(let path):
            let directory = path.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            var info = stat()
            if !directory.isEmpty, stat(directory, &info) != 0 {
                return "directory \(directory) does not exist"
            }
            if !directory.isEmpty, info.st_mode & S_IFMT != S_IFDIR {
                return "\(directory) is not a directory"
            }
            if lstat(path, &info) == 0, info.st_mode & S_IFMT != S_IFSOCK {
                return "\(path) exists and is not a socket"
            }
            return "bind failed (permission denied on \(directory.isEmpty ? "/" : directory)?)"
        case .tcp:
            return "bind failed (address in use, unknown host, or permission denied)"
        }
    }

    // MARK: Requesting calls

    /// Asks the core for the next call to `method` (the request arrives with it).
    func requestRegisteredCall(_ method: RegisteredMethod) {
        let request = CallRequest(core: self, method: method)
        activity.enter()
        let tag = request.passRetained()
        let rc = grpc_server_request_registered_call(
            server, method.handle.pointer, request.slot(\.call), request.slot(\.deadline),
            request.slot(\.request_metadata), request.slot(\.payload), queue.handle, queue.handle, tag)
        checkCallError(rc, tag: tag, "grpc_server_request_registered_call")
    }

    /// Asks the core for the next call to a method nobody registered.
    func requestUnregisteredCall() {
        let request = CallRequest(core: self, method: nil)
        activity.enter()
        let tag = request.passRetained()
        let rc = grpc_server_request_call(
            server, request.slot(\.call), request.slot(\.details), request.slot(\.request_metadata),
            queue.handle, queue.handle, tag)
        checkCallError(rc, tag: tag, "grpc_server_request_call")
    }

    // MARK: Serving calls

    /// A call to a registered method has arrived (completion-queue thread).
    func serve(call: OpaquePointer, method: RegisteredMethod, deadline: gpr_timespec, payload: UnsafeMutablePointer<grpc_byte_buffer>?) {
        let arrival = ContinuousClock.now
        let left = remaining(until: deadline)
        let serverCall = ServerCall(call: call, batches: 2, activity: activity)
        serverCall.watchForClose()
        let payload = UncheckedByteBuffer(payload)
        let work: @Sendable () -> Void = {
            let request = payload.pointer.map(consumeByteBuffer)
            let context = RPCCallContext(
                method: method.path, deadline: left.map { arrival + $0 }, peer: serverCall.peer(), flags: serverCall.flags)
            let status: RPCStatus
            var response: [UInt8]? = nil
            if context.isExpired {
                status = RPCStatus(code: .deadlineExceeded, message: "deadline expired before the handler started")
            } else if context.isCancelled {
                // Cancelled while queued (client gone, server shutting down): nobody would see the answer.
                status = RPCStatus(code: .cancelled, message: "call cancelled before the handler started")
            } else if case .some(.none) = request {
                // gRPC's compression spec: a message that cannot be decompressed fails the call with INTERNAL.
                status = RPCStatus(code: .internal, message: "the request message could not be decompressed")
            } else if let request = request ?? nil {
                let id = self.nextCall.add(1, ordering: .relaxed).newValue
                self.running.withLock { $0[id] = method.path }
                do throws(RPCStatus) {
                    response = try method.handler(context, request)
                    status = .ok
                } catch {
                    status = error
                }
                self.running.withLock { _ = $0.removeValue(forKey: id) }
            } else {
                status = RPCStatus(code: .internal, message: "unary call without a request message")
            }
            serverCall.answer(response: response, status: status)
        }
        switch method.lane {
        case .inline: work()
        case .handlerPool:
            if !pool.submit(work) {
                // Overloaded: refuse now, on this queue thread, instead of holding the call and its request.
                payload.pointer.map(grpc_byte_buffer_destroy)
                serverCall.answer(response: nil, status: RPCStatus(
                    code: .resourceExhausted,
                    message: "server busy: \(pool.maxQueued) calls already wait for the \(pool.threadCount) handler threads; retry later"))
            }
        }
    }

    /// A call to an unknown service or method has arrived: UNIMPLEMENTED (completion-queue thread).
    func reject(call: OpaquePointer, method: String) {
        let serverCall = ServerCall(call: call, batches: 1, activity: activity)
        serverCall.reject(status: RPCStatus(code: .unimplemented, message: "unknown method \(method)"))
    }

    // MARK: Shutdown

    /// See `RPCServer.shutdown(grace:abandonAfter:)`. Called once, under the server's state lock.
    func shutdown(grace: Duration, abandonAfter: Duration?) -> [String] {
        accepting.store(false, ordering: .sequentiallyConsistent)
        activity.enter()
        let tag = ShutdownTag(activity: activity).passRetained()
        grpc_server_shutdown_and_notify(server, queue.handle, tag)
        if !activity.waitUntilZero(timeout: grace) {
            grpc_server_cancel_all_calls(server)
            if !activity.waitUntilZero(timeout: abandonAfter) {
                // Handlers that ignore the cancel: leave the core to them and tear it down after the last.
                let stuck = running.withLock { Array($0.values) }.sorted()
                _ = spawnThread(name: "rpc-teardown", detached: true) { [self] in
                    _ = activity.waitUntilZero(timeout: nil)
                    teardown()
                }
                return stuck.isEmpty ? ["(a call still ending in the core)"] : stuck
            }
        }
        teardown()
        return []
    }

    /// Nothing is outstanding: the shutdown tag came back, every requested call was failed back,
    /// and every call has seen its last batch. Only now may the queue go (GRPC-CORE-NOTES.md).
    private func teardown() {
        grpc_server_destroy(server)
        queue.shutdownAndDestroy()
        pool.stop()
        GRPCLibrary.release()
    }
}

/// A received byte buffer handed from the queue thread to a handler thread (sole owner).
struct UncheckedByteBuffer: @unchecked Sendable {
    let pointer: UnsafeMutablePointer<grpc_byte_buffer>?
    init(_ pointer: UnsafeMutablePointer<grpc_byte_buffer>?) { self.pointer = pointer }
}

/// The tag of `grpc_server_request_call` / `grpc_server_request_registered_call`: owns the slots
/// the core fills in when a call arrives.
final class CallRequest: CompletionTag, @unchecked Sendable {  // Sendable: see CompletionTag.
    private let core: ServerCore
    /// nil: an unregistered-call request.
    private let method: RegisteredMethod?
    /// Owned; freed in `complete`.
    let slots: UnsafeMutablePointer<cgrpc_request_slots>

    init(core: ServerCore, method: RegisteredMethod?) {
        self.core = core
        self.method = method
        slots = .allocate(capacity: 1)
        slots.initialize(to: cgrpc_request_slots())
        super.init()
        grpc_metadata_array_init(slot(\.request_metadata))
        grpc_call_details_init(slot(\.details))
    }

    func slot<T>(_ field: KeyPath<cgrpc_request_slots, T>) -> UnsafeMutablePointer<T> {
        let offset = MemoryLayout<cgrpc_request_slots>.offset(of: field)!
        return (UnsafeMutableRawPointer(slots) + offset).assumingMemoryBound(to: T.self)
    }

    override func complete(ok: Bool) {
        let call = slots.pointee.call
        let deadline = slots.pointee.deadline
        let payload = slots.pointee.payload
        let methodName = method == nil ? string(of: slot(\.details.method)) : ""
        grpc_metadata_array_destroy(slot(\.request_metadata))
        grpc_call_details_destroy(slot(\.details))
        slots.deinitialize(count: 1)
        slots.deallocate()

        if ok, let call {
            core.activity.enter()  // the call; before this tag leaves, so the count never dips to zero
            if core.accepting.load(ordering: .sequentiallyConsistent) {
                if let method { core.requestRegisteredCall(method) } else { core.requestUnregisteredCall() }
            }
            if let method {
                core.serve(call: call, method: method, deadline: deadline, payload: payload)
            } else {
                core.reject(call: call, method: methodName)
            }
        } else if let payload {
            grpc_byte_buffer_destroy(payload)
        }
        core.activity.leave()  // this tag
    }
}

/// The tag of `grpc_server_shutdown_and_notify`.
final class ShutdownTag: CompletionTag, @unchecked Sendable {  // Sendable: see CompletionTag.
    private let activity: ActivityCounter
    init(activity: ActivityCounter) { self.activity = activity }
    override func complete(ok: Bool) { activity.leave() }
}
