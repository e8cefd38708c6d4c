import CSIMessages
import EVSSnapshotRules
import Logging
import RPCServer

/// Binds typed CSI handlers to the byte-level RPC server: decode the request, run the handler,
/// encode the response; every error goes through `StatusMapping`, and every call is logged here once
/// (method, code, duration; at debug level the request with its secrets redacted).
public struct CSIEndpoint: Sendable {
    private let server: RPCServer
    private let logger: Logger

    /// Wraps a configured (not yet started) server.
    public init(server: RPCServer, logger: Logger) {
        self.server = server
        self.logger = logger
    }

    /// Routes `method` to `handler`, which takes and returns Swift values.
    public func route<Request: CSIMessage, Response: CSIMessage>(
        _ method: CSIMethod, _ handler: @escaping @Sendable (Request, RPCCallContext) throws -> Response
    ) {
        let logger = self.logger
        let quiet = Self.quietMethods.contains(method)
        server.register(method.rawValue) { context, bytes throws(RPCStatus) in
            let start = ContinuousClock.now
            var request: Request?
            do {
                if context.isExpired { throw DriverError.deadlineExceeded }
                let decoded = try Request(serializedBytes: bytes)
                request = decoded
                // Backends that wait on a remote service (EVS) poll and retry within the call's deadline.
                let response = try CallDeadline.$current.withValue(context.deadline) { try handler(decoded, context) }
                Self.log(logger, method, quiet: quiet, request: decoded, status: .ok, since: start)
                return response.serializedBytes()
            } catch {
                let status = StatusMapping.status(for: error)
                Self.log(logger, method, quiet: quiet, request: request, status: status, since: start)
                throw status
            }
        }
    }

    /// Health traffic (livenessprobe, sidecars' capability polls) is logged at debug level only.
    static let quietMethods: Set<CSIMethod> = [
        .probe, .getPluginInfo, .getPluginCapabilities, .controllerGetCapabilities, .nodeGetCapabilities,
    ]

    private static func log(
        _ logger: Logger, _ method: CSIMethod, quiet: Bool, request: (any CSIMessage)?, status: RPCStatus,
        since start: ContinuousClock.Instant
    ) {
        let level: Logger.Level =
            switch status.code {
            case .ok: quiet ? .debug : .info
            case .internal, .unknown, .dataLoss: .error
            default: .warning
            }
        guard logger.logLevel <= level else { return }  // nothing to build for a line nobody reads
        let elapsed = ContinuousClock.now - start
        let micros = elapsed.components.seconds * 1_000_000 + elapsed.components.attoseconds / 1_000_000_000_000
        var metadata: Logger.Metadata = [
            "method": "\(method.rawValue)", "code": "\(status.code)", "duration_us": "\(micros)",
        ]
        if !status.message.isEmpty { metadata["message"] = "\(status.message)" }
        if logger.logLevel <= .debug, let request { metadata["request"] = "\(request.redactedDescription)" }
        logger.log(level: level, "call", metadata: metadata)
    }
}
