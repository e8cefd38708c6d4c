import EVSSnapshotRules

/// Everything the driver is started with (the executable binds its flags into this).
public struct DriverConfiguration: Sendable {
    /// Which CSI services this process serves.
    public enum Mode: String, Sendable, CaseIterable {
        /// Identity + Controller (the controller Deployment).
        case controller
        /// Identity + Node (the node DaemonSet).
        case node
        /// Identity + Controller + Node (a single process, as on a one-node test cluster and under csi-sanity).
        case all

        /// Whether the Controller service is served.
        public var servesController: Bool { self != .node }
        /// Whether the Node service is served.
        public var servesNode: Bool { self != .controller }
    }

    /// The version reported by GetPluginInfo and `--version`.
    public static let vendorVersion = "0.1.0"

    /// The topology key of a node's and a disk's availability zone (accessible_topology segments).
    public static let zoneTopologyKey = "topology.kubernetes.io/zone"

    /// The CSI endpoint: `unix:///path` or `tcp://host:port`.
    public var endpoint: String
    /// The name the driver registers under (GetPluginInfo); Everest's by default.
    public var driverName: String
    /// This node's id (NodeGetInfo); required when the Node service is served.
    public var nodeID: String
    /// The services to serve.
    public var mode: Mode
    /// The emulator's state directory (SQLite metadata, disk and snapshot images).
    public var stateDirectory: String
    /// The zones the emulator offers; the first is this node's zone.
    public var topologies: [Topology]
    /// Rule settings: snapshot quota (R5), capacity match (R8), ...
    public var rules: RuleSettings
    /// EVS's attach limit per server (ControllerPublishVolume, NodeGetInfo.max_volumes_per_node).
    public var maxVolumesPerNode: Int
    /// Unix socket file mode (after bind).
    public var socketMode: UInt32
    /// Threads running handlers.
    public var handlerThreads: Int
    /// Calls that may wait for a busy handler thread; more are answered RESOURCE_EXHAUSTED at once.
    public var maxQueuedCalls: Int
    /// How long calls in flight may run after SIGTERM before they are cancelled.
    public var shutdownGrace: Duration
    /// Largest request accepted.
    public var maxReceiveMessageSize: Int

    /// Creates a configuration with Everest's defaults.
    public init(
        endpoint: String, driverName: String = EverestNames.driverName, nodeID: String = "", mode: Mode = .all,
        stateDirectory: String, topologies: [Topology] = [Topology(region: "cn-north-4", zone: "cn-north-4a")],
        rules: RuleSettings = .default, maxVolumesPerNode: Int = 59, socketMode: UInt32 = 0o660,
        handlerThreads: Int = 8, maxQueuedCalls: Int = 256, shutdownGrace: Duration = .seconds(10), maxReceiveMessageSize: Int = 4 << 20
    ) {
        self.endpoint = endpoint; self.driverName = driverName; self.nodeID = nodeID; self.mode = mode
        self.stateDirectory = stateDirectory; self.topologies = topologies; self.rules = rules
        self.maxVolumesPerNode = maxVolumesPerNode; self.socketMode = socketMode
        self.handlerThreads = handlerThreads; self.maxQueuedCalls = maxQueuedCalls; self.shutdownGrace = shutdownGrace
        self.maxReceiveMessageSize = maxReceiveMessageSize
    }
}
