import CSIMessages
import EVSSnapshotRules

/// The CSI Identity service: who the driver is, what it offers, whether it is ready.
public struct IdentityService: Sendable {
    let driverName: String
    let servesController: Bool
    let health: @Sendable () -> BackendHealth

    /// `health` answers Probe; it is the backend's health check.
    public init(driverName: String, servesController: Bool, health: @escaping @Sendable () -> BackendHealth) {
        self.driverName = driverName
        self.servesController = servesController
        self.health = health
    }

    /// GetPluginInfo: the driver name and the build's version.
    public func getPluginInfo(_ request: CSI.GetPluginInfoRequest) -> CSI.GetPluginInfoResponse {
        CSI.GetPluginInfoResponse(
            name: driverName, vendorVersion: DriverConfiguration.vendorVersion,
            manifest: ["backend": "evs-emulator", "everest-compatible": "true"])
    }

    /// GetPluginCapabilities: the Controller service (when served) and zone topology.
    public func getPluginCapabilities(_ request: CSI.GetPluginCapabilitiesRequest) -> CSI.GetPluginCapabilitiesResponse {
        var kinds: [CSI.PluginCapability.Service.Kind] = [.volumeAccessibilityConstraints]
        if servesController { kinds.insert(.controllerService, at: 0) }
        var capabilities = kinds.map { CSI.PluginCapability(type: .service(.init(type: $0))) }
        // Disks grow while attached (ControllerExpandVolume + NodeExpandVolume).
        capabilities.append(CSI.PluginCapability(type: .volumeExpansion(.init(type: .online))))
        return CSI.GetPluginCapabilitiesResponse(capabilities: capabilities)
    }

    /// Probe: ready reflects the backend's health.
    public func probe(_ request: CSI.ProbeRequest) -> CSI.ProbeResponse {
        CSI.ProbeResponse(ready: health().isHealthy)
    }
}
