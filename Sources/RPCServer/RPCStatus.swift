/// A gRPC status code (the 17 codes of grpc/status.h and the gRPC spec).
public enum RPCStatusCode: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// Not an error; returned on success.
    case ok = 0
    /// The operation was cancelled, typically by the caller.
    case cancelled = 1
    /// Unknown error.
    case unknown = 2
    /// The client specified an invalid argument.
    case invalidArgument = 3
    /// The deadline expired before the operation could complete.
    case deadlineExceeded = 4
    /// Some requested entity was not found.
    case notFound = 5
    /// The entity that a client attempted to create already exists.
    case alreadyExists = 6
    /// The caller does not have permission to execute the operation.
    case permissionDenied = 7
    /// Some resource has been exhausted (also: a message over the size limit).
    case resourceExhausted = 8
    /// The system is not in a state required for the operation's execution.
    case failedPrecondition = 9
    /// The operation was aborted, typically due to a concurrency issue.
    case aborted = 10
    /// The operation was attempted past the valid range.
    case outOfRange = 11
    /// The operation (method or service) is not implemented.
    case unimplemented = 12
    /// Internal error: an invariant expected by the system is broken.
    case `internal` = 13
    /// The service is currently unavailable.
    case unavailable = 14
    /// Unrecoverable data loss or corruption.
    case dataLoss = 15
    /// The request does not have valid authentication credentials.
    case unauthenticated = 16

    /// The spec's upper-case name, e.g. `RESOURCE_EXHAUSTED`.
    public var description: String {
        switch self {
        case .ok: "OK"
        case .cancelled: "CANCELLED"
        case .unknown: "UNKNOWN"
        case .invalidArgument: "INVALID_ARGUMENT"
        case .deadlineExceeded: "DEADLINE_EXCEEDED"
        case .notFound: "NOT_FOUND"
        case .alreadyExists: "ALREADY_EXISTS"
        case .permissionDenied: "PERMISSION_DENIED"
        case .resourceExhausted: "RESOURCE_EXHAUSTED"
        case .failedPrecondition: "FAILED_PRECONDITION"
        case .aborted: "ABORTED"
        case .outOfRange: "OUT_OF_RANGE"
        case .unimplemented: "UNIMPLEMENTED"
        case .internal: "INTERNAL"
        case .unavailable: "UNAVAILABLE"
        case .dataLoss: "DATA_LOSS"
        case .unauthenticated: "UNAUTHENTICATED"
        }
    }
}

/// A gRPC status: a code and a message. A handler throws one to answer with that status;
/// the client returns one with every response.
public struct RPCStatus: Error, Sendable, Equatable, CustomStringConvertible {
    /// The status code.
    public var code: RPCStatusCode
    /// The human-readable message (`grpc-message`); empty for OK.
    public var message: String

    /// Creates a status.
    public init(code: RPCStatusCode, message: String = "") {
        self.code = code
        self.message = message
    }

    /// The OK status.
    public static let ok = RPCStatus(code: .ok)

    /// `CODE: message`.
    public var description: String {
        message.isEmpty ? code.description : "\(code): \(message)"
    }
}
