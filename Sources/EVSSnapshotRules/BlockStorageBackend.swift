// The EVS backend as the CSI driver's Controller service sees it: plain Swift, no gRPC.
// The emulator (EVSEmulator) implements it; so can a client of the EVS cloud API, where disks and snapshots
// are made asynchronously (docs/driver.md "Adding a backend"). The Node service sees only `NodeDiskLocator`.
// Every operation that creates something is idempotent by name, every delete by id, as CSI requires.

/// What a new disk asks for (CreateVolume). An attribute left nil is unstated: a new disk gets Everest's
/// default (SAS, VBD, plain, non-shared, ext4); a restored disk gets the snapshot's value (R6, R8).
/// A stated attribute of a restore must equal the source's (R8).
public struct DiskSpec: Sendable, Hashable, Codable {
    /// Capacity in whole GiB, 1...32768 (R12); the driver rounds the CSI capacity range up.
    public var capacityGiB: Int
    /// Sub-type, or nil for the default / the source's.
    public var type: VolumeType?
    /// VBD or SCSI, or nil for the default / the source's.
    public var mode: DiskMode?
    /// Encryption, or nil for the default (plain) / the source's (R6).
    public var encryption: Encryption?
    /// Sharing, or nil for the default (non-shared) / the source's.
    public var sharing: Sharing?
    /// File system, or nil for the default (ext4) / the source's.
    public var fsType: FileSystemType?
    /// Zones the request's topology requirement allows (`requisite`); empty means any configured zone (R9).
    public var allowedZones: [String]
    /// Zones in the order the request prefers them (`preferred`); the first configured one wins.
    public var preferredZones: [String]
    /// Provisioned IOPS (GPSSD2), nil when unstated.
    public var iops: Int? = nil
    /// Provisioned throughput in MiB/s (GPSSD2), nil when unstated.
    public var throughput: Int? = nil

    /// Creates a spec; every attribute defaults to unstated.
    public init(capacityGiB: Int, type: VolumeType? = nil, mode: DiskMode? = nil, encryption: Encryption? = nil,
                sharing: Sharing? = nil, fsType: FileSystemType? = nil, allowedZones: [String] = [],
                preferredZones: [String] = []) {
        self.capacityGiB = capacityGiB; self.type = type; self.mode = mode; self.encryption = encryption
        self.sharing = sharing; self.fsType = fsType; self.allowedZones = allowedZones; self.preferredZones = preferredZones
    }

    /// A spec that states every attribute of `attributes` (StorageClass parameters and PVC annotations).
    public init(capacityGiB: Int, attributes: DiskAttributes, allowedZones: [String] = [], preferredZones: [String] = []) {
        self.init(capacityGiB: capacityGiB, type: attributes.type, mode: attributes.mode,
                  encryption: attributes.encryption, sharing: attributes.sharing, fsType: attributes.fsType,
                  allowedZones: allowedZones, preferredZones: preferredZones)
        iops = attributes.iops
        throughput = attributes.throughput
    }

    /// The R8/R9 view of this spec as a restore of a snapshot into a disk called `name`.
    public func restoreRequest(name: String) -> RestoreRequest {
        RestoreRequest(name: name, capacityGiB: capacityGiB, type: type, mode: mode, encryption: encryption,
                       sharing: sharing, fsType: fsType, allowedZones: allowedZones)
    }

    /// Where a new disk of this spec goes among the `offered` topologies (a backend's configured zones): the first
    /// preferred zone that is allowed, else the first allowed one; `topologyUnavailable` when none is allowed.
    /// Both backends choose so.
    public func topology(offered: [Topology]) throws(BackendError) -> Topology {
        let allowed = allowedZones.isEmpty ? offered : offered.filter { allowedZones.contains($0.zone) }
        guard let first = allowed.first else {
            throw .topologyUnavailable(requested: allowedZones, available: offered.map(\.zone))
        }
        for zone in preferredZones {
            if let match = allowed.first(where: { $0.zone == zone }) { return match }
        }
        return first
    }
}

/// One page of a listing. `nextToken` is nil on the last page; otherwise pass it back as `startingToken`.
public struct BackendPage<Item: Sendable>: Sendable {
    /// The entries of this page, in a stable order (creation order).
    public var items: [Item]
    /// Opaque token for the next page, or nil when there is none.
    public var nextToken: String?

    /// Creates a page.
    public init(items: [Item], nextToken: String?) { self.items = items; self.nextToken = nextToken }
}

extension BackendPage: Equatable where Item: Equatable {}

/// A disk attached to a node (ControllerPublishVolume).
public struct DiskAttachment: Sendable, Hashable, Codable {
    /// The attached disk.
    public var diskID: DiskID
    /// The node (CSI node id) it is attached to.
    public var nodeID: String
    /// Where the node finds the disk's data: for the emulator, the image file (to be loop-mounted); for a cloud,
    /// the device the cloud reports (a hint: the node's `NodeDiskLocator` has the last word). It reaches the
    /// node through the publish context.
    public var devicePath: String

    /// Creates an attachment record.
    public init(diskID: DiskID, nodeID: String, devicePath: String) {
        self.diskID = diskID; self.nodeID = nodeID; self.devicePath = devicePath
    }
}

/// Space of the backend's storage (GetCapacity).
public struct BackendCapacity: Sendable, Hashable, Codable {
    /// Bytes the storage can hold in all.
    public var totalBytes: Int64
    /// Bytes still free for data.
    public var freeBytes: Int64
    /// Sum of the capacities of all disks (sparse: may exceed `totalBytes`).
    public var provisionedBytes: Int64

    /// Creates a capacity report.
    public init(totalBytes: Int64, freeBytes: Int64, provisionedBytes: Int64) {
        self.totalBytes = totalBytes; self.freeBytes = freeBytes; self.provisionedBytes = provisionedBytes
    }
}

/// Whether the backend can serve requests (Probe).
public struct BackendHealth: Sendable, Hashable, Codable {
    /// True when metadata and data storage answer.
    public var isHealthy: Bool
    /// One line: what was checked, or what failed.
    public var detail: String

    /// Creates a health report.
    public init(isHealthy: Bool, detail: String) { self.isHealthy = isHealthy; self.detail = detail }
}

/// The backend's errors: a small vocabulary, plus the Everest rule violations passed through unchanged.
/// The driver's StatusMapping is the one place that gives each a gRPC code.
public enum BackendError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The disk or snapshot with this id does not exist (NOT_FOUND).
    case notFound(kind: String, id: String)
    /// The name is taken by an object with another source or incompatible parameters (ALREADY_EXISTS).
    case alreadyExists(name: String, detail: String)
    /// A listing's `startingToken` was not issued by this backend (the driver answers ABORTED).
    case invalidToken(String)
    /// The object is in use: a non-shared disk attached elsewhere, a disk in error (FAILED_PRECONDITION).
    case busy(String)
    /// A limit other than R5 is reached: attachments per node, free space (RESOURCE_EXHAUSTED).
    case limitExceeded(String)
    /// No configured zone satisfies the request's topology (RESOURCE_EXHAUSTED).
    case topologyUnavailable(requested: [String], available: [String])
    /// An Everest rule refused the request (R4, R5, R8, R9, R11, R12, R13, R14, ...); see its own status code.
    case rule(EverestRuleViolation)
    /// The metadata database or the file system failed (INTERNAL); the text says which call and file.
    case storage(String)
    /// A remote storage service did not answer or answered 429/5xx, also after retries (UNAVAILABLE: try again).
    case unavailable(String)
    /// The call's deadline passed while the remote service was still working (DEADLINE_EXCEEDED: try again).
    case deadlineExceeded(String)
    /// The remote service refused the credentials or the permission (PERMISSION_DENIED).
    case permissionDenied(String)
    /// The remote service refused the request as invalid after the rules passed it (INVALID_ARGUMENT).
    case invalid(String)

    /// The rule id for rule violations, nil for the rest.
    public var rule: RuleID? {
        if case .rule(let violation) = self { violation.rule } else { nil }
    }

    /// One line for logs and CSI status messages; rule violations start with their rule id.
    public var description: String {
        switch self {
        case .notFound(let kind, let id): "\(kind) \(id) not found"
        case .alreadyExists(let name, let detail): "name \(name) already exists: \(detail)"
        case .invalidToken(let token): "invalid starting token '\(token)'"
        case .busy(let detail): detail
        case .limitExceeded(let detail): detail
        case .topologyUnavailable(let requested, let available):
            "no zone of [\(requested.joined(separator: ", "))] is available (zones: \(available.joined(separator: ", ")))"
        case .rule(let violation): violation.message
        case .storage(let detail): "storage failure: \(detail)"
        case .unavailable(let detail): "storage service unavailable: \(detail)"
        case .deadlineExceeded(let detail): detail
        case .permissionDenied(let detail): detail
        case .invalid(let detail): "refused by the storage service: \(detail)"
        }
    }
}

/// An EVS-like block storage backend. All methods are thread-safe and synchronous: they block on local I/O
/// (the emulator) or on the cloud's API, within a bounded wait. Unless a method says otherwise, a failure
/// leaves no partly made object behind.
///
/// Asynchronous storage: a cloud makes disks and snapshots in the background. `createDisk` returns only an
/// available disk: a backend that is still waiting for one throws `.rule(.operationInFlight)` (ABORTED), and the
/// CO retries with the same name, which finds the same disk. `createSnapshot` may return a snapshot still
/// `creating` (readyToUse false); the CO calls again by name until it is `available`.
public protocol BlockStorageBackend: Sendable {
    /// Creates a disk called `name`, empty or restored from snapshot `source`.
    ///
    /// Idempotent by name: if a disk called `name` exists with the same source, capacity and stated
    /// attributes (and a zone the spec allows), that disk is returned; any other disk of that name is
    /// `alreadyExists`. A disk of that name still being created elsewhere is
    /// `.rule(.operationInFlight)`.
    ///
    /// Rules: R14 name, R12 capacity. For a restore: the snapshot must exist (`notFound`) and be
    /// available (R11); stated attributes must equal the source's (R8); the disk is created in the
    /// snapshot's zone, which `spec.allowedZones` must allow (R9); it inherits the snapshot's
    /// encryption (R6).
    func createDisk(name: String, spec: DiskSpec, source: SnapshotID?) throws(BackendError) -> Disk

    /// Deletes a disk and its data. Idempotent: deleting an unknown id succeeds.
    /// Refused while the disk has snapshots (R13 `diskHasSnapshots`) or is attached (R13 `diskAttached`).
    func deleteDisk(_ id: DiskID) throws(BackendError)

    /// The disk with this id, or nil.
    func getDisk(_ id: DiskID) throws(BackendError) -> Disk?

    /// Disks in creation order, at most `maxEntries` (0 = all) after `startingToken`.
    /// Tokens are opaque and stay valid while disks come and go; a foreign token is `invalidToken`.
    func listDisks(maxEntries: Int, startingToken: String?) throws(BackendError) -> BackendPage<Disk>

    /// Snapshots disk `sourceDisk` into a snapshot called `name`. The snapshot returned may still be
    /// `creating` on asynchronous storage; a later call with the same name returns it as it is then.
    ///
    /// Idempotent by name: the same name and source returns the existing snapshot; the same name with
    /// another source is `alreadyExists`. Rules: R14 name; the disk must exist (`notFound`), be
    /// available or in-use (R4) and have fewer snapshots than the quota (R5); the snapshot is stored
    /// with the disk's encryption (R6).
    func createSnapshot(name: String, sourceDisk: DiskID) throws(BackendError) -> Snapshot

    /// Deletes a snapshot and its data. Idempotent: deleting an unknown id succeeds.
    /// Refused unless the snapshot is available or in error (R13), and while a disk is still being
    /// restored from it (R11 `restorePending`).
    func deleteSnapshot(_ id: SnapshotID) throws(BackendError)

    /// The snapshot with this id, or nil.
    func getSnapshot(_ id: SnapshotID) throws(BackendError) -> Snapshot?

    /// Snapshots in creation order matching every given filter, at most `maxEntries` (0 = all) after
    /// `startingToken`. An unknown `snapshotID` or `sourceDiskID` gives an empty page, not an error.
    /// A foreign token is `invalidToken`.
    func listSnapshots(snapshotID: SnapshotID?, sourceDiskID: DiskID?, maxEntries: Int,
                       startingToken: String?) throws(BackendError) -> BackendPage<Snapshot>

    /// Attaches a disk to node `node` (the CSI node id, which a cloud backend maps to its server id), read-only or
    /// read-write; the disk becomes `in-use`. Idempotent: attaching again to the same node in the same mode returns
    /// the same attachment; in the other mode it is `alreadyExists`. A non-shared disk attached to another node is
    /// `busy`; a node at its attachment limit is `limitExceeded`; an unknown disk, or a node that does not exist,
    /// is `notFound` (kind `disk`, or `node` / `server`).
    func attach(disk: DiskID, node: String, readOnly: Bool) throws(BackendError) -> DiskAttachment

    /// Detaches a disk from `node`, or from every node when `node` is nil; the disk becomes `available`
    /// when no attachment remains. Idempotent: detaching what is not attached succeeds.
    /// An unknown disk is `notFound`.
    func detach(disk: DiskID, node: String?) throws(BackendError)

    /// The nodes a disk is attached to.
    func attachments(of disk: DiskID) throws(BackendError) -> [DiskAttachment]

    /// Grows a disk to `newCapacityGiB` (R12 bounds). Never shrinks: a smaller or equal size returns the
    /// disk unchanged (idempotent). An unknown disk is `notFound`.
    func expand(disk: DiskID, newCapacityGiB: Int) throws(BackendError) -> Disk

    /// Changes a disk's provisioned performance (ControllerModifyVolume): the iops and/or throughput `change`
    /// states, keeping the other; the change was read by `EverestRules.checkMutableParameters`. Returns the
    /// disk as it is afterwards. Idempotent: a disk that already has the values, or an empty change, is
    /// returned unchanged. An unknown disk is `notFound`; a disk type without provisioned performance is
    /// `.rule(.performanceNotProvisioned)` (`EverestRules.checkPerformanceChange`); a disk that is neither
    /// available nor in-use is `.rule(.operationInFlight)` (or `busy` in error), as EVS allows the change only then.
    func modifyPerformance(disk: DiskID, change: PerformanceChange) throws(BackendError) -> Disk

    /// Space of the storage that holds the data.
    func capacity() throws(BackendError) -> BackendCapacity

    /// Whether metadata and data storage answer.
    func health() -> BackendHealth

    /// Whether one disk can serve its data (CSI VOLUME_CONDITION): unhealthy when its status is `error`
    /// or its data is gone or unreadable; the detail says which.
    func diskHealth(_ disk: Disk) -> BackendHealth
}

extension BlockStorageBackend {
    /// A backend that cannot look at a disk's data judges by the disk's status alone.
    public func diskHealth(_ disk: Disk) -> BackendHealth {
        disk.status == .error
            ? BackendHealth(isHealthy: false, detail: "disk \(disk.id) is in error")
            : BackendHealth(isHealthy: true, detail: "disk \(disk.id) is \(disk.status)")
    }
}
