import CSIMessages
import EVSSnapshotRules
import Synchronization

/// The CSI Identity service: who the driver is, what it offers, whether it is ready.
public struct IdentityService: Sendable {
    let driverName: String
    let servesController: Bool
    let health: HealthCache

    /// `health` answers Probe; it is the backend's health check, run at most once per `healthInterval`
    /// (livenessprobe and the sidecars poll Probe; a storm of them must not hammer the database).
    public init(driverName: String, servesController: Bool, healthInterval: Duration = .seconds(1),
                health: @escaping @Sendable () -> BackendHealth) {
        self.driverName = driverName
        self.servesController = servesController
        self.health = HealthCache(interval: healthInterval, check: health)
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
        CSI.ProbeResponse(ready: health.current().isHealthy)
    }
}

/// The last health check and when it ran; a check older than `interval` is run again by the caller that finds it
/// stale (others keep answering with the last result meanwhile).
final class HealthCache: Sendable {
    private let interval: Duration
    private let check: @Sendable () -> BackendHealth
    /// Guards the last result and whether a check is running; never held while checking.
    private let state = Mutex<(result: BackendHealth, at: ContinuousClock.Instant, running: Bool)?>(nil)

    init(interval: Duration, check: @escaping @Sendable () -> BackendHealth) {
        self.interval = interval
        self.check = check
    }

    func current() -> BackendHealth {
        let now = ContinuousClock.now
        let cached: BackendHealth? = state.withLock { state in
            if let s = state, now - s.at < interval || s.running { return s.result }
            if state != nil { state!.running = true }
            return nil
        }
        if let cached { return cached }
        let fresh = check()
        state.withLock { $0 = (fresh, ContinuousClock.now, false) }
        return fresh
    }
}
