import Synchronization

/// What a handler knows about the call it serves.
public struct RPCCallContext: Sendable {
    /// The full method path, e.g. `/csi.v1.Controller/CreateSnapshot`.
    public let method: String
    /// When the client's deadline expires (ContinuousClock), or nil if the client set none.
    public let deadline: ContinuousClock.Instant?
    /// The peer address as the core reports it (`unix:` or `ipv4:127.0.0.1:53412`).
    public let peer: String
    private let flags: CallFlags

    init(method: String, deadline: ContinuousClock.Instant?, peer: String, flags: CallFlags) {
        self.method = method
        self.deadline = deadline
        self.peer = peer
        self.flags = flags
    }

    /// Time left before the deadline (negative once past it), or nil without a deadline.
    public var remaining: Duration? {
        deadline.map { $0 - .now }
    }

    /// Whether the deadline has passed.
    public var isExpired: Bool {
        deadline.map { $0 <= .now } ?? false
    }

    /// Whether the call is already over from the core's point of view: cancelled by the client,
    /// by its deadline, or by server shutdown. A handler may stop early; its answer is dropped.
    public var isCancelled: Bool {
        flags.cancelled.load(ordering: .relaxed)
    }
}

/// Flags shared between a call's completion events and its handler.
final class CallFlags: Sendable {
    /// Set when RECV_CLOSE_ON_SERVER completes with `cancelled` != 0.
    let cancelled = Atomic<Bool>(false)
}
