import CSIMessages
import EVSSnapshotRules
import NodeOps
import RPCServer

/// The one place that turns errors into gRPC statuses (EVEREST.md "Error mapping"). The domain speaks its
/// own vocabulary (`RefusalKind`, `BackendError`); this maps it. Every switch is exhaustive: a new case does
/// not compile until it is mapped here. RPCServer only answers what it raises itself (unknown method,
/// deadline or cancel before the handler, a call without a message); a handler's error reaches the wire only
/// through `status(for:)`. An error of a type not listed becomes INTERNAL with its text.
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
            return RPCStatus(code: code(for: violation.kind), message: violation.message)
        case let error as NodeOpsError:
            return RPCStatus(code: code(for: error), message: error.description)
        case let error as CSIDecodeError:
            return RPCStatus(code: code(for: error), message: error.description)
        default:
            return RPCStatus(code: .internal, message: "internal error: \(error)")
        }
    }

    /// A rule violation's kind → gRPC code (EVEREST.md's table: R4/R5/R11/R13 FAILED_PRECONDITION, R8 capacity
    /// OUT_OF_RANGE, R9 RESOURCE_EXHAUSTED, ...).
    static func code(for kind: RefusalKind) -> RPCStatusCode {
        switch kind {
        case .invalidRequest: .invalidArgument
        case .outOfRange: .outOfRange
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        case .stateConflict: .failedPrecondition
        // The CSI spec's code for "cannot provision in the requested topology".
        case .notPlaceable: .resourceExhausted
        case .inProgress: .aborted
        }
    }

    /// A payload that cannot be decoded is INVALID_ARGUMENT, except a `starting_token` that no page could have
    /// issued (a NUL or invalid UTF-8 in it): the CSI spec's ListVolumes/ListSnapshots error tables make an invalid
    /// `starting_token` ABORTED, whichever way it is invalid.
    static func code(for error: CSIDecodeError) -> RPCStatusCode {
        switch error {
        case .malformed: .invalidArgument
        case .invalidUTF8(let field), .embeddedNUL(let field):
            field.hasSuffix("Request.starting_token") ? .aborted : .invalidArgument
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
        case .deadlineExceeded, .deadlineExceededDuring: .deadlineExceeded
        case .nodeOperation: .internal
        case .kubernetesUnavailable: .unavailable
        }
    }

    /// BackendError → gRPC code.
    static func code(for error: BackendError) -> RPCStatusCode {
        switch error {
        case .notFound: .notFound
        case .alreadyExists: .alreadyExists
        // CSI: a starting token the plugin did not issue is ABORTED.
        case .invalidToken: .aborted
        case .busy: .failedPrecondition
        case .limitExceeded, .topologyUnavailable: .resourceExhausted
        case .rule(let violation): code(for: violation.kind)
        case .storage: .internal
        // A remote storage service (the EVS cloud backend).
        case .unavailable: .unavailable
        case .deadlineExceeded: .deadlineExceeded
        case .permissionDenied: .permissionDenied
        case .invalid: .invalidArgument
        }
    }

    /// NodeOpsError → gRPC code, as the CSI spec lists them for the Node RPCs.
    static func code(for error: NodeOpsError) -> RPCStatusCode {
        switch error {
        case .notMounted, .notAttached, .fsMismatch, .blankReadOnly, .symbolicLink, .onlineResizeNotPermitted: .failedPrecondition
        case .alreadyInUseElsewhere, .mountOptionsDiffer: .alreadyExists
        case .notFound: .notFound
        case .unsupportedFileSystem: .invalidArgument
        case .commandFailed, .syscallFailed: .internal
        }
    }
}
