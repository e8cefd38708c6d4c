import EVSSnapshotRules

/// What the driver itself refuses before the backend is asked: malformed requests and CSI-level
/// conditions that are not Everest rules. Mapped to gRPC codes only in `StatusMapping`.
public enum DriverError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A required field is empty or absent (INVALID_ARGUMENT), e.g. `CreateVolumeRequest.name`.
    case missingField(String)
    /// A field has a value the spec or the driver does not accept (INVALID_ARGUMENT).
    case invalidField(field: String, reason: String)
    /// The request asks for something this driver does not do (INVALID_ARGUMENT), e.g. cloning.
    case unsupported(String)
    /// A volume capability the disk cannot offer (INVALID_ARGUMENT for CreateVolume; the message says which).
    case unsupportedCapability(String)
    /// The requested capacity range cannot be met in whole GiB within 1...32768 (OUT_OF_RANGE, R12).
    case capacityOutOfRange(String)
    /// The volume or snapshot does not exist (NOT_FOUND).
    case notFound(kind: String, id: String)
    /// Another call on the same volume or snapshot is in flight (ABORTED).
    case operationPending(key: String)
    /// The capability set does not match the volume as published or staged (FAILED_PRECONDITION).
    case conflict(String)
    /// The call's deadline expired before the driver started the work (DEADLINE_EXCEEDED).
    case deadlineExceeded
    /// A node-side operation failed on this host (INTERNAL), with the command or syscall that failed.
    case nodeOperation(String)
    /// The call's deadline expired while the driver waited on something (DEADLINE_EXCEEDED); the text says what.
    case deadlineExceededDuring(String)
    /// The Kubernetes API could not be read (UNAVAILABLE: the caller retries): unreachable, too slow, or an error.
    case kubernetesUnavailable(String)

    /// One line naming the field, rule or values involved.
    public var description: String {
        switch self {
        case .missingField(let field): "\(field) is required"
        case .invalidField(let field, let reason): "\(field): \(reason)"
        case .unsupported(let what): what
        case .unsupportedCapability(let what): what
        case .capacityOutOfRange(let what): what
        case .notFound(let kind, let id): "\(kind) \(id) not found"
        case .operationPending(let key): "an operation on \(key) is already in progress"
        case .conflict(let what): what
        case .deadlineExceeded: "the deadline expired before the operation started"
        case .nodeOperation(let what): what
        case .deadlineExceededDuring(let what): "deadline exceeded while \(what)"
        case .kubernetesUnavailable(let what): what
        }
    }
}
