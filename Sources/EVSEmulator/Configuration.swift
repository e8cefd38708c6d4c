import EVSSnapshotRules

/// How an `EVSEmulator` is set up: where it keeps its state, which zones it offers, and the rule settings.
public struct EmulatorConfiguration: Sendable {
    /// The state directory: `evs.sqlite` (metadata) plus `disks/` and `snapshots/` (image files).
    public var stateDirectory: String
    /// Region/zone pairs this emulator offers; new disks go to the first one the request allows.
    public var topologies: [Topology]
    /// R5 snapshot quota per disk (`maxSnapshotsPerDisk`, default 7) and R8 capacity rule (`capacityMatch`).
    public var rules: RuleSettings
    /// Most disks attached to one node at once (`limitExceeded` beyond it).
    public var maxAttachmentsPerNode: Int
    /// fsync data files, directories and SQLite commits (`PRAGMA synchronous=FULL`). Turn off only in tests
    /// or benchmarks that do not simulate power loss; a SIGKILL is survived either way.
    public var durableWrites: Bool
    /// Try FICLONE reflinks before copying (turned off only to test or measure the copy path).
    public var useReflink: Bool

    /// The default zone: `cn-north-4` / `cn-north-4a`.
    public static let defaultTopology = Topology(region: "cn-north-4", zone: "cn-north-4a")

    /// Creates a configuration; everything but the state directory has a default.
    public init(stateDirectory: String, topologies: [Topology] = [EmulatorConfiguration.defaultTopology],
                rules: RuleSettings = .default, maxAttachmentsPerNode: Int = 24, durableWrites: Bool = true,
                useReflink: Bool = true) {
        self.stateDirectory = stateDirectory
        self.topologies = topologies.isEmpty ? [EmulatorConfiguration.defaultTopology] : topologies
        self.rules = rules
        self.maxAttachmentsPerNode = maxAttachmentsPerNode
        self.durableWrites = durableWrites
        self.useReflink = useReflink
    }
}
