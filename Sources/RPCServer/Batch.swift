internal import CGRPCCore

/// One `grpc_call_start_batch`: the op array plus every slot the ops point to, at stable heap
/// addresses from `start` until the completion event. The batch is its own tag; the core holds one
/// retained reference in between. All C resources (buffers, slices, arrays) are released right after
/// `onComplete` runs, on the completion-queue thread, never in a `deinit`.
final class Batch: CompletionTag, @unchecked Sendable {  // Sendable: built on one thread, completed on another via the core.
    private static let capacity = 6
    /// Owned; `count` of them initialised.
    private let ops: UnsafeMutablePointer<grpc_op>
    private var count = 0
    /// Owned; zero-initialised, so releasing unused slots is a no-op.
    private let slots: UnsafeMutablePointer<cgrpc_batch_slots>
    private let onComplete: (Batch, Bool) -> Void

    /// `onComplete` runs on a completion-queue thread with the event's success flag; the received
    /// values (`cancelled`, `takeReceivedMessage`, `receivedStatus`) are readable only inside it.
    init(onComplete: @escaping (Batch, Bool) -> Void) {
        ops = .allocate(capacity: Self.capacity)
        ops.initialize(repeating: grpc_op(), count: Self.capacity)
        slots = .allocate(capacity: 1)
        slots.initialize(to: cgrpc_batch_slots())
        self.onComplete = onComplete
    }

    private func slot<T>(_ field: KeyPath<cgrpc_batch_slots, T>) -> UnsafeMutablePointer<T> {
        let offset = MemoryLayout<cgrpc_batch_slots>.offset(of: field)!
        return (UnsafeMutableRawPointer(slots) + offset).assumingMemoryBound(to: T.self)
    }

    private func append(_ type: grpc_op_type, _ fill: (inout grpc_op) -> Void = { _ in }) {
        precondition(count < Self.capacity, "too many ops in one batch")
        var op = grpc_op()
        op.op = type
        fill(&op)
        ops[count] = op
        count += 1
    }

    /// GRPC_OP_SEND_INITIAL_METADATA with no metadata.
    func sendInitialMetadata() {
        append(GRPC_OP_SEND_INITIAL_METADATA)
    }

    /// GRPC_OP_SEND_MESSAGE with a copy of `message`.
    func sendMessage(_ message: [UInt8]) {
        let buffer = message.withUnsafeBytes { cgrpc_byte_buffer_copy($0.baseAddress, $0.count) }
        slots.pointee.send_message = buffer
        append(GRPC_OP_SEND_MESSAGE) { $0.data.send_message.send_message = buffer }
    }

    /// GRPC_OP_SEND_STATUS_FROM_SERVER with no trailing metadata.
    func sendStatus(_ status: RPCStatus) {
        var text = status.message
        slots.pointee.status_details = text.withUTF8 { utf8 in
            utf8.withMemoryRebound(to: CChar.self) { grpc_slice_from_copied_buffer($0.baseAddress, $0.count) }
        }
        let details = slot(\.status_details)
        append(GRPC_OP_SEND_STATUS_FROM_SERVER) {
            $0.data.send_status_from_server.status = grpc_status_code(rawValue: numericCast(status.code.rawValue))
            $0.data.send_status_from_server.status_details = details
        }
    }

    /// GRPC_OP_RECV_CLOSE_ON_SERVER: completes when the call is over; `cancelled` tells how.
    func receiveCloseOnServer() {
        let cancelled = slot(\.cancelled)
        append(GRPC_OP_RECV_CLOSE_ON_SERVER) { $0.data.recv_close_on_server.cancelled = cancelled }
    }

    /// GRPC_OP_SEND_CLOSE_FROM_CLIENT.
    func sendCloseFromClient() {
        append(GRPC_OP_SEND_CLOSE_FROM_CLIENT)
    }

    /// GRPC_OP_RECV_INITIAL_METADATA (the metadata is dropped).
    func receiveInitialMetadata() {
        let array = slot(\.recv_initial_metadata)
        grpc_metadata_array_init(array)
        append(GRPC_OP_RECV_INITIAL_METADATA) { $0.data.recv_initial_metadata.recv_initial_metadata = array }
    }

    /// GRPC_OP_RECV_MESSAGE.
    func receiveMessage() {
        let message = slot(\.recv_message)
        append(GRPC_OP_RECV_MESSAGE) { $0.data.recv_message.recv_message = message }
    }

    /// GRPC_OP_RECV_STATUS_ON_CLIENT (trailing metadata dropped).
    func receiveStatusOnClient() {
        let trailing = slot(\.recv_trailing_metadata)
        grpc_metadata_array_init(trailing)
        let status = slot(\.recv_status)
        let details = slot(\.recv_status_details)
        let errorString = slot(\.recv_error_string)
        append(GRPC_OP_RECV_STATUS_ON_CLIENT) {
            $0.data.recv_status_on_client.trailing_metadata = trailing
            $0.data.recv_status_on_client.status = status
            $0.data.recv_status_on_client.status_details = details
            $0.data.recv_status_on_client.error_string = errorString
        }
    }

    /// Hands the batch to the core. A refusal is a bug: the reference is released and we trap.
    func start(on call: OpaquePointer) {
        let tag = passRetained()
        checkCallError(grpc_call_start_batch(call, ops, count, tag, nil), tag: tag, "grpc_call_start_batch")
    }

    override func complete(ok: Bool) {
        onComplete(self, ok)
        releaseResources()
    }

    /// After RECV_CLOSE_ON_SERVER: whether the call ended by cancellation (deadline, client, server).
    var cancelled: Bool { slots.pointee.cancelled != 0 }

    /// After RECV_MESSAGE: the message, or nil if none arrived. Call at most once.
    func takeReceivedMessage() -> [UInt8]? {
        guard let buffer = slots.pointee.recv_message else { return nil }
        slots.pointee.recv_message = nil
        return consumeByteBuffer(buffer)
    }

    /// After RECV_STATUS_ON_CLIENT: the status the server (or the core) gave.
    var receivedStatus: RPCStatus {
        let raw = Int32(truncatingIfNeeded: slots.pointee.recv_status.rawValue)
        let code = RPCStatusCode(rawValue: raw) ?? .unknown
        return RPCStatus(code: code, message: string(of: slot(\.recv_status_details)))
    }

    private func releaseResources() {
        if let buffer = slots.pointee.send_message { grpc_byte_buffer_destroy(buffer) }
        if let buffer = slots.pointee.recv_message { grpc_byte_buffer_destroy(buffer) }
        grpc_slice_unref(slots.pointee.status_details)
        grpc_slice_unref(slots.pointee.recv_status_details)
        grpc_metadata_array_destroy(slot(\.recv_initial_metadata))
        grpc_metadata_array_destroy(slot(\.recv_trailing_metadata))
        gpr_free(UnsafeMutableRawPointer(mutating: slots.pointee.recv_error_string))
        slots.deinitialize(count: 1)
        slots.deallocate()
        ops.deinitialize(count: Self.capacity)
        ops.deallocate()
    }
}
