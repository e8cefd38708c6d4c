// The hazard in this file: the core holds raw pointers into our objects between the moment a tag is
// handed over and the moment its event comes back. Every such object is retained once for C
// (`Unmanaged.passRetained`) and taken back exactly once: when its event arrives, or at once if the
// core refused the operation (no event will ever come). Everything the core writes into lives in
// heap memory allocated by the tag object and freed only after the event.
internal import CGRPCCore
import Glibc

/// Base class of every object handed to the core as a tag.
class CompletionTag: @unchecked Sendable {  // Sendable: handed between threads through the core's queue.
    /// Called exactly once, on a completion-queue thread, when the core reports this tag's event.
    func complete(ok: Bool) {
        fatalError("CompletionTag.complete must be overridden")
    }

    /// One retained reference for C; balanced by `takeBack` or `releaseRefused`.
    final func passRetained() -> UnsafeMutableRawPointer {
        Unmanaged.passRetained(self).toOpaque()
    }

    /// Takes back the reference handed to C when its event has arrived.
    static func takeBack(_ tag: UnsafeMutableRawPointer) -> CompletionTag {
        Unmanaged<CompletionTag>.fromOpaque(tag).takeRetainedValue()
    }
}

/// The single check of the `grpc_call_error` convention. Any non-OK value means we broke the
/// core's contract (grpc.h), so no event will arrive: the tag's reference is released here and the
/// process traps, because a bug must not turn into a status.
func checkCallError(_ error: grpc_call_error, tag: UnsafeMutableRawPointer, _ what: StaticString) {
    if error != GRPC_CALL_OK {
        Unmanaged<CompletionTag>.fromOpaque(tag).release()
        let name = String(cString: grpc_call_error_to_string(error))
        fatalError("\(what) refused by the gRPC core: \(name)")
    }
}

/// One `grpc_completion_queue` created for `next`, and the threads draining it.
/// Owns the queue handle: `shutdownAndDestroy` is the only place that destroys it.
final class CompletionQueue: @unchecked Sendable {  // Sendable: the handle is thread-safe in the core; `threads` is touched by the owner only.
    /// Owned.
    let handle: OpaquePointer
    /// Written by `startThreads` before any event can arrive; emptied by `shutdownAndDestroy`.
    private var threads: [pthread_t] = []
    /// A copy of the thread ids that is never modified after `startThreads`.
    private var threadIDs: [pthread_t] = []
    private var destroyed = false

    init() {
        guard let handle = grpc_completion_queue_create_for_next(nil) else {
            fatalError("grpc_completion_queue_create_for_next returned NULL")
        }
        self.handle = handle
    }

    /// Starts `count` threads calling `grpc_completion_queue_next` until the queue is shut down.
    func startThreads(count: Int, name: String) {
        let handle = UncheckedHandle(handle)
        for index in 0..<count {
            threads.append(spawnThread(name: "\(name)\(index)") { CompletionQueue.drain(handle.pointer) })
        }
        threadIDs = threads
    }

    /// Whether the calling thread is one of this queue's threads.
    func isDrainingThread() -> Bool {
        let me = pthread_self()
        return threadIDs.contains { pthread_equal($0, me) != 0 }
    }

    /// Shuts the queue down, lets the threads (or, if none were started, this thread) take every
    /// remaining event, joins them and destroys the queue. Only call this when nothing in the core
    /// can still post to the queue (see the shutdown trap in GRPC-CORE-NOTES.md).
    func shutdownAndDestroy() {
        precondition(!destroyed, "completion queue destroyed twice")
        destroyed = true
        grpc_completion_queue_shutdown(handle)
        if threads.isEmpty {
            CompletionQueue.drain(handle)
        }
        for thread in threads { pthread_join(thread, nil) }
        threads = []
        grpc_completion_queue_destroy(handle)
    }

    private static func drain(_ queue: OpaquePointer) {
        while true {
            let event = grpc_completion_queue_next(queue, gpr_inf_future(GPR_CLOCK_REALTIME), nil)
            switch event.type {
            case GRPC_OP_COMPLETE:
                CompletionTag.takeBack(event.tag).complete(ok: event.success != 0)
            case GRPC_QUEUE_SHUTDOWN:
                return
            default:
                continue
            }
        }
    }
}

/// A C handle captured by a thread body. The core's functions on it are thread-safe.
struct UncheckedHandle: @unchecked Sendable {
    let pointer: OpaquePointer
    init(_ pointer: OpaquePointer) { self.pointer = pointer }
}

/// Keeps the core initialised: one `grpc_init` per server or client, balanced by `grpc_shutdown`
/// after that owner has destroyed all its C objects.
enum GRPCLibrary {
    static func retain() {
        RPCLogging.installIfNeeded()
        grpc_init()
    }

    static func release() {
        grpc_shutdown()
    }
}

/// Copies a slice's bytes.
func bytes(of slice: UnsafePointer<grpc_slice>) -> [UInt8] {
    let length = cgrpc_slice_length(slice)
    guard length > 0, let start = cgrpc_slice_start(slice) else { return [] }
    return Array(UnsafeBufferPointer(start: start, count: length))
}

/// Decodes a slice as UTF-8 (invalid bytes repaired).
func string(of slice: UnsafePointer<grpc_slice>) -> String {
    String(decoding: bytes(of: slice), as: UTF8.self)
}

/// Reads a received byte buffer into an array and destroys the buffer; nil when it cannot be read (a compressed
/// message that does not decompress: an error for the call, never an empty message).
func consumeByteBuffer(_ buffer: UnsafeMutablePointer<grpc_byte_buffer>) -> [UInt8]? {
    var all = grpc_slice()
    let readable = cgrpc_byte_buffer_read_all_checked(buffer, &all) != 0
    grpc_byte_buffer_destroy(buffer)
    let result = bytes(of: &all)
    grpc_slice_unref(all)
    return readable ? result : nil
}

/// The time left until a core deadline, or nil for "no deadline" (infinite future or absurdly far).
func remaining(until deadline: gpr_timespec) -> Duration? {
    if deadline.tv_sec == Int64.max { return nil }
    let monotonic = gpr_convert_clock_type(deadline, GPR_CLOCK_MONOTONIC)
    if monotonic.tv_sec == Int64.max { return nil }
    let left = gpr_time_sub(monotonic, gpr_now(GPR_CLOCK_MONOTONIC))
    if left.tv_sec > 100 * 365 * 86_400 { return nil }
    return .seconds(left.tv_sec) + .nanoseconds(Int64(left.tv_nsec))
}

/// A core deadline `duration` from now, or the infinite future.
func coreDeadline(after duration: Duration?) -> gpr_timespec {
    guard let duration else { return gpr_inf_future(GPR_CLOCK_MONOTONIC) }
    let (seconds, attoseconds) = duration.components
    if seconds > 100 * 365 * 86_400 { return gpr_inf_future(GPR_CLOCK_MONOTONIC) }
    let nanos = max(0, seconds) * 1_000_000_000 + (seconds < 0 ? 0 : attoseconds / 1_000_000_000)
    return gpr_time_add(gpr_now(GPR_CLOCK_MONOTONIC), gpr_time_from_nanos(nanos, GPR_TIMESPAN))
}
