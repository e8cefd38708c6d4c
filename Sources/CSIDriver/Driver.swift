import CSIMessages
import EVSSnapshotRules
import Logging
import RPCServer

/// The running driver: the services over a storage backend and the gRPC server, wired from a configuration.
/// The storage comes from outside (the executable opens the emulator, or another backend): the services see
/// only `BlockStorageBackend` (Controller) and `NodeDiskLocator` (Node).
/// Lifecycle: `init` → `start` → `shutdown`.
public final class Driver: Sendable {
    /// Why the driver could not start; the executable maps each to an exit code.
    public enum StartError: Error, CustomStringConvertible {
        /// Flags that do not fit together.
        case configuration(String)
        /// The endpoint cannot be used (directory missing, socket held by a live server, bind failed).
        case endpoint(String)
        /// The storage backend could not be opened (the executable raises it).
        case backend(String)

        public var description: String {
            switch self {
            case .configuration(let text): text
            case .endpoint(let text): text
            case .backend(let text): text
            }
        }
    }

    /// The configuration this driver runs with.
    public let configuration: DriverConfiguration
    /// The storage the Controller service works on; nil when only the Node service is served.
    public let backend: (any BlockStorageBackend)?
    /// Where the Node service finds a disk's data on this node; nil when only the Controller service is served.
    public let locator: (any NodeDiskLocator)?
    private let server: RPCServer
    private let logger: Logger

    /// Registers the services of `configuration.mode` over `backend` (required when the Controller service is
    /// served) and `locator` (required for the Node service); nothing listens yet.
    public init(configuration: DriverConfiguration, backend: (any BlockStorageBackend)?, locator: (any NodeDiskLocator)?,
                annotations: (any PVCAnnotationSource)? = nil, logger: Logger) throws(StartError) {
        self.configuration = configuration
        self.logger = logger
        if configuration.mode.servesNode && configuration.nodeID.isEmpty {
            throw .configuration("--node-id is required when the Node service is served (--mode node or all)")
        }
        if configuration.topologies.isEmpty { throw .configuration("at least one --zone is required") }
        // The CSI socket has no authentication: whoever reaches it can create, attach and mount disks. A unix
        // socket is guarded by its file mode; TCP is only allowed on loopback (docs/driver.md "Trust boundaries").
        if let endpoint = try? RPCEndpoint(parsing: configuration.endpoint), !endpoint.isLoopback {
            throw .configuration("--endpoint \(configuration.endpoint) is not a loopback address: the CSI endpoint has "
                + "no authentication, so TCP is served only on localhost, 127.0.0.0/8 or ::1 (use a unix socket otherwise)")
        }
        if configuration.mode.servesController && backend == nil {
            throw .configuration("the Controller service needs a storage backend")
        }
        if configuration.mode.servesNode && locator == nil {
            throw .configuration("the Node service needs a locator of disks on this node")
        }
        self.backend = configuration.mode.servesController ? backend : nil
        self.locator = configuration.mode.servesNode ? locator : nil
        do {
            server = try RPCServer(configuration: .init(
                endpoint: configuration.endpoint, maxReceiveMessageSize: configuration.maxReceiveMessageSize,
                handlerThreads: configuration.handlerThreads, maxQueuedCalls: configuration.maxQueuedCalls))
        } catch {
            throw .endpoint("invalid --endpoint \(configuration.endpoint): \(error)")
        }
        if annotations == nil && configuration.mode.servesController {
            logger.notice("no Kubernetes access: PVC annotations are not read; disk attributes come from StorageClass parameters alone")
        }
        register(annotations: annotations)
    }

    private func register(annotations: (any PVCAnnotationSource)?) {
        let endpoint = CSIEndpoint(server: server, logger: logger)
        let backend = self.backend
        let identity = IdentityService(driverName: configuration.driverName,
                                       servesController: configuration.mode.servesController,
                                       health: { backend?.health() ?? BackendHealth(isHealthy: true, detail: "node only") })
        endpoint.route(.getPluginInfo) { (request: CSI.GetPluginInfoRequest, _) in identity.getPluginInfo(request) }
        endpoint.route(.getPluginCapabilities) { (request: CSI.GetPluginCapabilitiesRequest, _) in
            identity.getPluginCapabilities(request)
        }
        endpoint.route(.probe) { (request: CSI.ProbeRequest, _) in identity.probe(request) }

        if configuration.mode.servesController, let backend {
            let controller = ControllerService(backend: backend, driverName: configuration.driverName,
                                               annotations: annotations, logger: logger)
            let zones = configuration.topologies.map(\.zone)
            endpoint.route(.controllerGetCapabilities) { (r: CSI.ControllerGetCapabilitiesRequest, _) in controller.getCapabilities(r) }
            endpoint.route(.createVolume) { (r: CSI.CreateVolumeRequest, context) in
                try controller.createVolume(r, deadline: context.deadline)
            }
            endpoint.route(.deleteVolume) { (r: CSI.DeleteVolumeRequest, _) in try controller.deleteVolume(r) }
            endpoint.route(.controllerPublishVolume) { (r: CSI.ControllerPublishVolumeRequest, _) in try controller.publishVolume(r) }
            endpoint.route(.controllerUnpublishVolume) { (r: CSI.ControllerUnpublishVolumeRequest, _) in
                try controller.unpublishVolume(r)
            }
            endpoint.route(.validateVolumeCapabilities) { (r: CSI.ValidateVolumeCapabilitiesRequest, _) in
                try controller.validateVolumeCapabilities(r)
            }
            endpoint.route(.listVolumes) { (r: CSI.ListVolumesRequest, _) in try controller.listVolumes(r) }
            endpoint.route(.controllerGetVolume) { (r: CSI.ControllerGetVolumeRequest, _) in try controller.getVolume(r) }
            endpoint.route(.getCapacity) { (r: CSI.GetCapacityRequest, _) in try controller.getCapacity(r, zones: zones) }
            endpoint.route(.controllerExpandVolume) { (r: CSI.ControllerExpandVolumeRequest, _) in try controller.expandVolume(r) }
            endpoint.route(.controllerModifyVolume) { (r: CSI.ControllerModifyVolumeRequest, _) in try controller.modifyVolume(r) }
            endpoint.route(.createSnapshot) { (r: CSI.CreateSnapshotRequest, _) in try controller.createSnapshot(r) }
            endpoint.route(.deleteSnapshot) { (r: CSI.DeleteSnapshotRequest, _) in try controller.deleteSnapshot(r) }
            endpoint.route(.listSnapshots) { (r: CSI.ListSnapshotsRequest, _) in try controller.listSnapshots(r) }
            endpoint.route(.getSnapshot) { (r: CSI.GetSnapshotRequest, _) in try controller.getSnapshot(r) }
        }
        if configuration.mode.servesNode, let locator {
            NodeService.register(on: endpoint, configuration: configuration, locator: locator)
        }
    }

    /// Binds the endpoint and starts serving; for a unix socket, refuses a missing directory or a socket a
    /// live server holds, and sets the socket's mode.
    public func start() throws(StartError) {
        let socketPath = SocketGuard.unixPath(of: configuration.endpoint)
        if let socketPath {
            do { try SocketGuard.check(path: socketPath) } catch { throw .endpoint(error.description) }
        }
        do { try server.start() } catch { throw .endpoint("cannot listen on \(configuration.endpoint): \(error)") }
        if let socketPath, !SocketGuard.setMode(path: socketPath, mode: configuration.socketMode) {
            logger.warning("could not set the socket's mode", metadata: ["path": "\(socketPath)"])
        }
        logger.info("serving", metadata: [
            "endpoint": "\(configuration.endpoint)", "driver": "\(configuration.driverName)",
            "mode": "\(configuration.mode.rawValue)", "version": "\(DriverConfiguration.vendorVersion)",
        ])
    }

    /// How long a shutdown waits, after cancelling, for handlers that do not return (stuck in the kernel) before
    /// it gives up on them: grace (10 s) + this stays well inside kubelet's 30 s before SIGKILL.
    public static let abandonAfterCancel: Duration = .seconds(5)

    /// Stops accepting calls, lets calls in flight finish within the grace period, cancels the rest. Returns
    /// true when everything stopped; false when handlers stuck in a system call were abandoned (logged with
    /// their methods): the caller should then exit the process without running more teardown. What they were
    /// doing is safe to abandon: the emulator reconciles at start and every node call is idempotent after a
    /// restart (docs/node.md).
    @discardableResult
    public func shutdown() -> Bool {
        let stuck = server.shutdown(grace: configuration.shutdownGrace, abandonAfter: Self.abandonAfterCancel)
        if stuck.isEmpty {
            logger.info("stopped")
            return true
        }
        logger.warning("stopped, abandoning calls that did not end \(Self.abandonAfterCancel) after being cancelled", metadata: [
            "calls": "\(stuck.joined(separator: ","))"])
        return false
    }
}
