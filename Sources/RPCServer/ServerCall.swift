internal import CGRPCCore
import Synchronization

/// One server-side call. Owns one reference to its `grpc_call` and gives it back
/// (`grpc_call_unref`) when the last of its batches has completed; then the server's activity
/// count drops by one. The number of batches is fixed up front, so that an early completion
/// (cancellation) cannot release the call while a handler is still going to answer it.
final class ServerCall: @unchecked Sendable {  // Sendable: the handle is used by one thread at a time per batch; the count is atomic.
    /// Owned (one reference).
    private let call: OpaquePointer
    private let activity: ActivityCounter
    private let pendingBatches: Atomic<Int>
    let flags = CallFlags()

    /// Takes over one reference to `call`; the caller has already counted it in `activity`.
    init(call: OpaquePointer, batches: Int, activity: ActivityCounter) {
        self.call = call
        self.activity = activity
        pendingBatches = Atomic(batches)
    }

    /// The peer address (a copy; `grpc_call_get_peer` allocates).
    func peer() -> String {
        guard let raw = grpc_call_get_peer(call) else { return "" }
        defer { gpr_free(raw) }
        return String(cString: raw)
    }

    /// Batch 1 of a unary call: RECV_CLOSE_ON_SERVER, which records cancellation.
    func watchForClose() {
        let batch = Batch { [self] batch, ok in
            if !ok || batch.cancelled { flags.cancelled.store(true, ordering: .relaxed) }
            batchDone()
        }
        batch.receiveCloseOnServer()
        batch.start(on: call)
    }

    /// Batch 2 of a unary call: initial metadata, the response (on OK) and the status.
    func answer(response: [UInt8]?, status: RPCStatus) {
        let batch = Batch { [self] _, _ in batchDone() }
        batch.sendInitialMetadata()
        if let response, status.code == .ok { batch.sendMessage(response) }
        batch.sendStatus(status)
        batch.start(on: call)
    }

    /// The only batch of a call we refuse without reading it (unregistered method).
    func reject(status: RPCStatus) {
        let batch = Batch { [self] _, _ in batchDone() }
        batch.sendInitialMetadata()
        batch.sendStatus(status)
        batch.receiveCloseOnServer()
        batch.start(on: call)
    }

    private func batchDone() {
        if pendingBatches.subtract(1, ordering: .acquiringAndReleasing).newValue == 0 {
            grpc_call_unref(call)
            activity.leave()
        }
    }
}
