import CSIMessages
import EVSSnapshotRules
import NodeOps
import RPCServer

/// The one place that turns errors into gRPC statuses. Every switch is exhaustive: a new error case does
/// not compile until it is mapped here. An error of a type not listed becomes INTERNAL with its text.
public enum StatusMapping {
    /// The gRPC status a handler's error is answered with.
    public static func status(for error: any Error) -> RPCStatus {
        switch error {
        case let status as RPCStatus:
            return status
        case let error as DriverError:
            return RPCStatus(code: code(for: error), message: error.description)
        case let error as BackendError:
            return RPCStatus(code: code(for: error), message: error.description)
        case let violation as EverestRuleViolation:
            return RPCStatus(code: code(for: violation.statusCode), message: violation.message)
        case let error as NodeOpsError:
            return RPCStatus(code: code(for: error), message: error.description)
        case let error as CSIDecodeError:
            return RPCStatus(code: .invalidArgument, message: error.description)
        default:
            return RPCStatus(code: .internal, message: "internal error: \(error)")
        }
    }

    /// DriverError → gRPC code.
    static func code(for error: DriverError) -> RPCStatusCode {
        switch error {
        case .missingField, .invalidField, .unsupported, .unsupportedCapability: .invalidArgument
        case .capacityOutOfRange: .outOfRange
        case .notFound: .notFound
        case .operationPending: .aborted
        case .conflict: .failedPrecondition
        case .deadlineExceeded: .deadlineExceeded
        case .nodeOperation: .internal
        }
    }

    /// BackendError → gRPC code: the backend's own code (EVEREST.md's table, stated once in the domain), put on the wire.
    static func code(for error: BackendError) -> RPCStatusCode {
        code(for: error.statusCode)
    }

    /// NodeOpsError → gRPC code, as the CSI spec lists them for the Node RPCs.
    static func code(for error: NodeOpsError) -> RPCStatusCode {
        switch error {
        case .notMounted, .notAttached, .fsMismatch, .blankReadOnly, .symbolicLink: .failedPrecondition
        case .alreadyInUseElsewhere, .mountOptionsDiffer: .alreadyExists
        case .notFound: .notFound
        case .unsupportedFileSystem: .invalidArgument
        case .commandFailed, .syscallFailed: .internal
        }
    }

    /// The domain's status vocabulary (named after gRPC's codes) → the wire code.
    static func code(for code: CSIStatusCode) -> RPCStatusCode {
        switch code {
        case .ok: .ok
        case .cancelled: .cancelled
        case .unknown: .unknown
        case .invalidArgument: .invalidArgument
        case .deadlineExceeded: .deadlineExceeded
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .permissionDenied: .permissionDenied
        case .resourceExhausted: .resourceExhausted
        case .failedPrecondition: .failedPrecondition
        case .aborted: .aborted
        case .outOfRange: .outOfRange
        case .unimplemented: .unimplemented
        case .internal: .internal
        case .unavailable: .unavailable
        }
    }
}
