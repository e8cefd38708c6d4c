internal import CGRPCCore
@preconcurrency import Glibc
import Synchronization

/// Severity of a log line from the gRPC core (`gpr_log_severity`).
public enum RPCLogLevel: Int, Sendable, Comparable, CustomStringConvertible {
    /// GPR_LOG_SEVERITY_DEBUG.
    case debug
    /// GPR_LOG_SEVERITY_INFO.
    case info
    /// GPR_LOG_SEVERITY_ERROR.
    case error

    public static func < (lhs: RPCLogLevel, rhs: RPCLogLevel) -> Bool { lhs.rawValue < rhs.rawValue }

    public var description: String {
        switch self {
        case .debug: "debug"
        case .info: "info"
        case .error: "error"
        }
    }
}

/// Where the gRPC core's own log lines (`gpr_log`) go. By default only errors are written, to stderr.
/// The setting is process-wide because `gpr_set_log_function` is.
public enum RPCLogging {
    /// A sink for one core log line: level, message, and the core's `file:line`.
    public typealias Handler = @Sendable (_ level: RPCLogLevel, _ message: String, _ location: String) -> Void

    private struct Sink {
        var minimumLevel: RPCLogLevel = .error
        var handler: Handler?
        var installed = false
    }

    /// Guards the current sink; read by whichever core thread logs.
    private static let sink = Mutex(Sink())

    /// Routes core log lines at or above `minimumLevel` to `handler` (nil: stderr).
    /// Call before the first server or client is created to also catch start-up lines.
    public static func route(minimumLevel: RPCLogLevel = .error, to handler: Handler? = nil) {
        sink.withLock {
            $0.minimumLevel = minimumLevel
            $0.handler = handler
        }
        let severity: gpr_log_severity =
            switch minimumLevel {
            case .debug: GPR_LOG_SEVERITY_DEBUG
            case .info: GPR_LOG_SEVERITY_INFO
            case .error: GPR_LOG_SEVERITY_ERROR
            }
        // The core formats only lines at or above this verbosity, so filtering costs nothing below it.
        gpr_set_log_verbosity(severity)
        installIfNeeded()
    }

    /// Installs the C trampoline once (before the first grpc_init).
    static func installIfNeeded() {
        let install = sink.withLock { sink -> Bool in
            defer { sink.installed = true }
            return !sink.installed
        }
        if install {
            gpr_set_log_function { arguments in
                guard let arguments else { return }
                RPCLogging.emit(arguments.pointee)
            }
        }
    }

    private static func emit(_ arguments: gpr_log_func_args) {
        let level: RPCLogLevel =
            switch arguments.severity {
            case GPR_LOG_SEVERITY_DEBUG: .debug
            case GPR_LOG_SEVERITY_INFO: .info
            default: .error
            }
        let (minimum, handler) = sink.withLock { ($0.minimumLevel, $0.handler) }
        guard level >= minimum else { return }
        let message = arguments.message.map { String(cString: $0) } ?? ""
        let file = arguments.file.map { String(cString: $0) } ?? "?"
        let location = "\(file):\(arguments.line)"
        if let handler {
            handler(level, message, location)
        } else {
            fputs("grpc \(level): \(message) (\(location))\n", stderr)
        }
    }
}
