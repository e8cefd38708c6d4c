// The embedded EVS emulator: metadata in SQLite (GRDB, WAL), data in sparse image files.
//
// Crash safety (the driver may be SIGKILLed between any two lines):
// - Create = intent row in `creating` state (transaction 1), data written under a temporary name,
//   fsync'ed and renamed into place (the rename is the commit point of the data), then the row is
//   marked `available` (transaction 2). On open, `reconcile()` finishes a `creating` row whose data file
//   exists and removes one whose file does not, so a retried create with the same name either returns
//   the finished object or makes it anew.
// - Delete = row marked `deleting` (transaction 1), file removed, row deleted (transaction 2);
//   reconcile finishes what was started.
// - Files without a row (orphans, `.tmp` leftovers) are removed by reconcile; a row in a final state
//   is never touched, so no completed object is lost.
// - One process per state directory: an exclusive flock(2) on `<stateDir>/lock`, released by the kernel
//   when the process dies.
//
// Concurrency: every check-and-change of metadata runs in one SQLite write transaction (GRDB serialises
// writers); data is copied outside any transaction, protected by the object's transitional status
// (`creating`, `extending`, `deleting`), which other operations refuse with `operationInFlight`.
import EVSSnapshotRules
import Foundation
import GRDB
import Glibc

/// What `reconcile()` repaired after a crash. Lists hold ids or file paths.
public struct ReconcileReport: Sendable, Equatable {
    /// `creating` rows whose data file was complete: marked available.
    public var finished: [String] = []
    /// `creating` rows without data: removed (a retry makes them anew).
    public var rolledBack: [String] = []
    /// `deleting` rows: file and row removed.
    public var completedDeletes: [String] = []
    /// `extending` disks put back to available / in-use with the size their file has.
    public var settledExtends: [String] = []
    /// Temporary files (`*.tmp`) removed.
    public var removedTemporaryFiles: [String] = []
    /// Image files with no row removed.
    public var removedOrphanFiles: [String] = []
    /// Attachment rows of disks that no longer exist, removed.
    public var removedAttachments: Int = 0

    /// True when there was nothing to repair.
    public var isEmpty: Bool { self == ReconcileReport() }
}

/// The embedded EVS backend. Thread-safe; one instance per state directory and process.
public final class EVSEmulator: BlockStorageBackend {
    /// The configuration it was opened with.
    public let configuration: EmulatorConfiguration
    /// What the reconcile at open repaired.
    public let openReport: ReconcileReport

    /// The metadata database (GRDB serialises its writes; reads run concurrently in WAL mode).
    let database: DatabasePool
    /// The flock'ed `<stateDir>/lock` descriptor, held for the emulator's lifetime and closed in deinit.
    private let lockDescriptor: Int32
    private let disksDirectory: String
    private let snapshotsDirectory: String

    private static let gib: Int64 = 1 << 30
    private static let imageSuffix = ".img"

    /// Opens (or creates) the state directory, migrates the schema and reconciles leftovers of a crash.
    /// Throws `storage` when the directory cannot be used or another process holds it.
    public init(configuration: EmulatorConfiguration) throws(BackendError) {
        self.configuration = configuration
        let state = configuration.stateDirectory
        disksDirectory = state + "/disks"
        snapshotsDirectory = state + "/snapshots"
        do {
            try DataFiles.makeDirectory(state)
            try DataFiles.makeDirectory(disksDirectory)
            try DataFiles.makeDirectory(snapshotsDirectory)
        } catch {
            throw .storage(error.description)
        }
        let lockPath = state + "/lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .storage("open \(lockPath): errno \(errno)") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw .storage("state directory \(state) is in use by another process (flock \(lockPath))")
        }
        lockDescriptor = fd
        do {
            var grdb = Configuration()
            grdb.busyMode = .timeout(10)
            grdb.label = "evs-emulator"
            let synchronous = configuration.durableWrites ? "FULL" : "NORMAL"
            grdb.prepareDatabase { db in
                try db.execute(sql: "PRAGMA synchronous = \(synchronous)")
            }
            database = try DatabasePool(path: state + "/evs.sqlite", configuration: grdb)
            try MetadataStore.migrator.migrate(database)
        } catch {
            close(fd)
            throw .storage("metadata database: \(error)")
        }
        openReport = try Self.reconcile(database: database, disksDirectory: disksDirectory,
                                        snapshotsDirectory: snapshotsDirectory, durable: configuration.durableWrites)
    }

    deinit {
        close(lockDescriptor)
    }

    // MARK: Paths

    /// The image file holding a disk's data (a sparse file of the disk's capacity).
    public func diskImagePath(_ id: DiskID) -> String { Self.imagePath(disksDirectory, id.rawValue) }

    /// The image file holding a snapshot's data.
    public func snapshotImagePath(_ id: SnapshotID) -> String { Self.imagePath(snapshotsDirectory, id.rawValue) }

    private static func imagePath(_ directory: String, _ id: String) -> String { directory + "/" + id + imageSuffix }

    // MARK: Disks

    public func createDisk(name: String, spec: DiskSpec, source: SnapshotID?) throws(BackendError) -> Disk {
        try createDiskReportingMethod(name: name, spec: spec, source: source).disk
    }

    /// `createDisk`, also telling how a restore's data was copied (nil for an empty disk or an existing one).
    public func createDiskReportingMethod(name: String, spec: DiskSpec, source: SnapshotID?)
        throws(BackendError) -> (disk: Disk, method: DataCopyMethod?) {
        try rule { () throws(EverestRuleViolation) in
            try EverestRules.checkName(name)                                                       // R14
            if source == nil { try EverestRules.checkCapacity(gib: spec.capacityGiB) }              // R12
        }
        enum Plan { case existing(Disk), create(Disk) }
        let plan: Plan = try write { db in
            if let (existing, existingSource) = try MetadataStore.disk(named: name, in: db) {
                if existing.status == .creating || existing.status == .deleting {
                    throw EverestRuleViolation.operationInFlight(key: name)
                }
                try Self.checkCompatible(existing, source: existingSource, with: spec, requestedSource: source)
                return .existing(existing)
            }
            let id = DiskID(Self.newID())
            let disk: Disk
            if let source {
                guard let snapshot = try MetadataStore.snapshot(id: source, in: db) else {
                    throw BackendError.notFound(kind: "snapshot", id: source.rawValue)
                }
                // R14, R11, R12, R8, R9 in the order the plugin applies them; R6/R9 decide encryption and zone.
                let plan = try EverestRules.checkRestore(spec.restoreRequest(name: name), snapshot: snapshot,
                                                         settings: self.configuration.rules)
                disk = Disk(id: id, name: name, capacityGiB: plan.capacityGiB, type: plan.type, mode: plan.mode,
                            encryption: plan.encryption, sharing: plan.sharing, topology: plan.topology,
                            status: .creating, fsType: plan.fsType)
            } else {
                let type = spec.type ?? .sas
                if !type.isCreatable { throw EverestRuleViolation.typeNotCreatable(type) }
                disk = Disk(id: id, name: name, capacityGiB: spec.capacityGiB, type: type, mode: spec.mode ?? .vbd,
                            encryption: spec.encryption ?? .plain, sharing: spec.sharing ?? .nonShared,
                            topology: try self.chooseTopology(spec), status: .creating,
                            fsType: spec.fsType ?? .ext4)
            }
            try MetadataStore.insert(disk, sourceSnapshot: source, in: db)
            return .create(disk)
        }
        guard case .create(var disk) = plan else {
            if case .existing(let disk) = plan { return (disk, nil) }
            fatalError("unreachable")
        }
        let path = diskImagePath(disk.id)
        let bytes = Int64(disk.capacityGiB) * Self.gib
        var method: DataCopyMethod?
        do {
            if let source {
                method = try DataFiles.cloneFile(from: snapshotImagePath(source), to: path, growTo: bytes,
                                                 allowReflink: configuration.useReflink,
                                                 durable: configuration.durableWrites)
            } else {
                try DataFiles.createSparse(at: path, bytes: bytes, durable: configuration.durableWrites)
            }
        } catch {
            // Roll back the intent so that a retry starts afresh; the data file was never published.
            try? write { db in try MetadataStore.deleteDiskRow(disk.id, in: db) }
            throw Self.convert(error)
        }
        try write { db in try MetadataStore.setStatus(.available, disk: disk.id, in: db) }
        disk.status = .available
        return (disk, method)
    }

    /// Same name: same source, capacity, stated attributes and an allowed zone, or `alreadyExists`.
    private static func checkCompatible(_ disk: Disk, source: SnapshotID?, with spec: DiskSpec,
                                        requestedSource: SnapshotID?) throws(BackendError) {
        var differences: [String] = []
        if source != requestedSource {
            differences.append("source \(source?.rawValue ?? "none") != \(requestedSource?.rawValue ?? "none")")
        }
        if disk.capacityGiB != spec.capacityGiB {
            differences.append("capacity \(disk.capacityGiB)GiB != \(spec.capacityGiB)GiB")
        }
        // A new disk's unstated attribute means the default; a restore's means the source's (= the disk's).
        let restore = requestedSource != nil
        let type = spec.type ?? (restore ? disk.type : .sas)
        let mode = spec.mode ?? (restore ? disk.mode : .vbd)
        let encryption = spec.encryption ?? (restore ? disk.encryption : .plain)
        let sharing = spec.sharing ?? (restore ? disk.sharing : .nonShared)
        if type != disk.type { differences.append("type \(disk.type) != \(type)") }
        if mode != disk.mode { differences.append("mode \(disk.mode) != \(mode)") }
        if encryption != disk.encryption { differences.append("encryption \(disk.encryption) != \(encryption)") }
        if sharing != disk.sharing { differences.append("sharing \(disk.sharing) != \(sharing)") }
        if let fsType = spec.fsType, fsType != disk.fsType {
            differences.append("fstype \(disk.fsType) != \(fsType)")
        }
        if !spec.allowedZones.isEmpty && !spec.allowedZones.contains(disk.topology.zone) {
            differences.append("zone \(disk.topology.zone) not in [\(spec.allowedZones.joined(separator: ", "))]")
        }
        if !differences.isEmpty {
            throw .alreadyExists(name: disk.name, detail: "disk \(disk.id) differs: " + differences.joined(separator: "; "))
        }
    }

    /// The configured topology for a new disk: the first preferred zone that is allowed, else the first allowed.
    private func chooseTopology(_ spec: DiskSpec) throws(BackendError) -> Topology {
        let offered = configuration.topologies
        let allowed = spec.allowedZones.isEmpty ? offered : offered.filter { spec.allowedZones.contains($0.zone) }
        guard let first = allowed.first else {
            throw .topologyUnavailable(requested: spec.allowedZones, available: offered.map(\.zone))
        }
        for zone in spec.preferredZones {
            if let match = allowed.first(where: { $0.zone == zone }) { return match }
        }
        return first
    }

    public func deleteDisk(_ id: DiskID) throws(BackendError) {
        let proceed: Bool = try write { db in
            guard let (disk, _) = try MetadataStore.disk(id: id, in: db) else { return false }  // idempotent
            switch disk.status {
            case .deleting: return true  // finish an interrupted delete
            case .creating, .extending, .attaching, .detaching:
                throw EverestRuleViolation.operationInFlight(key: id.rawValue)
            default: break
            }
            try EverestRules.checkDiskDeletable(id, snapshotCount: try MetadataStore.snapshotCount(of: id, in: db)) // R13
            let nodes = try MetadataStore.attachedNodes(of: id, in: db)
            if !nodes.isEmpty {
                throw BackendError.busy("R13: disk \(id) is attached to node \(nodes.joined(separator: ", ")); detach it first")
            }
            try MetadataStore.setStatus(.deleting, disk: id, in: db)
            return true
        }
        guard proceed else { return }
        do {
            try DataFiles.remove(diskImagePath(id) + DataFiles.temporarySuffix, durable: false)
            try DataFiles.remove(diskImagePath(id), durable: configuration.durableWrites)
        } catch {
            throw .storage(error.description)  // stays `deleting`; a retry or reconcile finishes it
        }
        try write { db in try MetadataStore.deleteDiskRow(id, in: db) }
    }

    public func getDisk(_ id: DiskID) throws(BackendError) -> Disk? {
        try read { db in try MetadataStore.disk(id: id, in: db)?.disk }
    }

    /// The snapshot a disk was restored from, or nil (also nil for an unknown disk).
    public func sourceSnapshot(ofDisk id: DiskID) throws(BackendError) -> SnapshotID? {
        try read { db in try MetadataStore.disk(id: id, in: db)?.source }
    }

    public func listDisks(maxEntries: Int, startingToken: String?) throws(BackendError) -> BackendPage<Disk> {
        let after = try MetadataStore.seq(fromToken: startingToken)
        return try read { db in try MetadataStore.listDisks(maxEntries: maxEntries, afterSeq: after, in: db) }
    }

    // MARK: Snapshots

    public func createSnapshot(name: String, sourceDisk: DiskID) throws(BackendError) -> Snapshot {
        try createSnapshotReportingMethod(name: name, sourceDisk: sourceDisk).snapshot
    }

    /// `createSnapshot`, also telling how the data was copied (nil when an existing snapshot is returned).
    public func createSnapshotReportingMethod(name: String, sourceDisk: DiskID)
        throws(BackendError) -> (snapshot: Snapshot, method: DataCopyMethod?) {
        try rule { () throws(EverestRuleViolation) in try EverestRules.checkSnapshotName(name) }  // R14
        enum Plan { case existing(Snapshot), create(Snapshot) }
        let plan: Plan = try write { db in
            if let existing = try MetadataStore.snapshot(named: name, in: db) {
                guard existing.sourceDiskID == sourceDisk else {
                    throw BackendError.alreadyExists(
                        name: name, detail: "snapshot \(existing.id) is of disk \(existing.sourceDiskID), not \(sourceDisk)")
                }
                if existing.status == .creating || existing.status == .deleting {
                    throw EverestRuleViolation.operationInFlight(key: name)
                }
                return .existing(existing)
            }
            guard let (disk, _) = try MetadataStore.disk(id: sourceDisk, in: db) else {
                throw BackendError.notFound(kind: "disk", id: sourceDisk.rawValue)
            }
            // R14, R3, R4 (disk status), R5 (quota) in the plugin's order; R6: `Snapshot(of:)` takes the
            // disk's encryption (EverestRules.snapshotEncryption).
            try EverestRules.checkCreateSnapshot(name: name, disk: disk,
                                                 existingSnapshots: try MetadataStore.snapshotCount(of: disk.id, in: db),
                                                 settings: self.configuration.rules)
            let snapshot = Snapshot(id: SnapshotID(Self.newID()), name: name, of: disk, status: .creating,
                                    createdAt: Self.now())
            try MetadataStore.insert(snapshot, in: db)
            return .create(snapshot)
        }
        guard case .create(var snapshot) = plan else {
            if case .existing(let snapshot) = plan { return (snapshot, nil) }
            fatalError("unreachable")
        }
        let method: DataCopyMethod
        do {
            method = try DataFiles.cloneFile(from: diskImagePath(sourceDisk), to: snapshotImagePath(snapshot.id),
                                             allowReflink: configuration.useReflink,
                                             durable: configuration.durableWrites)
        } catch {
            try? write { db in try MetadataStore.deleteSnapshotRow(snapshot.id, in: db) }
            throw Self.convert(error)
        }
        try write { db in try MetadataStore.setStatus(.available, snapshot: snapshot.id, in: db) }
        snapshot.status = .available
        return (snapshot, method)
    }

    public func deleteSnapshot(_ id: SnapshotID) throws(BackendError) {
        let proceed: Bool = try write { db in
            guard let snapshot = try MetadataStore.snapshot(id: id, in: db) else { return false }  // idempotent
            if snapshot.status == .deleting { return true }  // finish an interrupted delete
            try EverestRules.checkSnapshotDeletable(id, status: snapshot.status)                       // R13
            try EverestRules.checkNoPendingRestore(snapshot: id,
                                                   pendingRestorePVCs: try MetadataStore.pendingRestores(of: id, in: db)) // R11
            try MetadataStore.setStatus(.deleting, snapshot: id, in: db)
            return true
        }
        guard proceed else { return }
        do {
            try DataFiles.remove(snapshotImagePath(id) + DataFiles.temporarySuffix, durable: false)
            try DataFiles.remove(snapshotImagePath(id), durable: configuration.durableWrites)
        } catch {
            throw .storage(error.description)
        }
        try write { db in try MetadataStore.deleteSnapshotRow(id, in: db) }
    }

    public func getSnapshot(_ id: SnapshotID) throws(BackendError) -> Snapshot? {
        try read { db in try MetadataStore.snapshot(id: id, in: db) }
    }

    public func listSnapshots(snapshotID: SnapshotID?, sourceDiskID: DiskID?, maxEntries: Int,
                              startingToken: String?) throws(BackendError) -> BackendPage<Snapshot> {
        let after = try MetadataStore.seq(fromToken: startingToken)
        return try read { db in
            try MetadataStore.listSnapshots(snapshotID: snapshotID, sourceDiskID: sourceDiskID,
                                            maxEntries: maxEntries, afterSeq: after, in: db)
        }
    }

    // MARK: Attachments

    public func attach(disk id: DiskID, node: String) throws(BackendError) -> DiskAttachment {
        let path = diskImagePath(id)
        return try write { db in
            guard let (disk, _) = try MetadataStore.disk(id: id, in: db) else {
                throw BackendError.notFound(kind: "disk", id: id.rawValue)
            }
            switch disk.status {
            case .available, .inUse: break
            case .error: throw BackendError.busy("disk \(id) is in status error and cannot be attached")
            default: throw EverestRuleViolation.operationInFlight(key: id.rawValue)
            }
            let nodes = try MetadataStore.attachedNodes(of: id, in: db)
            if nodes.contains(node) { return DiskAttachment(diskID: id, nodeID: node, devicePath: path) }
            if !nodes.isEmpty && !disk.shared {
                throw BackendError.busy("disk \(id) is not shared and is attached to node \(nodes[0])")
            }
            let count = try MetadataStore.attachmentCount(node: node, in: db)
            if count >= self.configuration.maxAttachmentsPerNode {
                throw BackendError.limitExceeded(
                    "node \(node) has \(count) disks attached, the limit is \(self.configuration.maxAttachmentsPerNode)")
            }
            try MetadataStore.insertAttachment(disk: id, node: node, in: db)
            try MetadataStore.setStatus(.inUse, disk: id, in: db)
            return DiskAttachment(diskID: id, nodeID: node, devicePath: path)
        }
    }

    public func detach(disk id: DiskID, node: String?) throws(BackendError) {
        try write { db in
            guard let (disk, _) = try MetadataStore.disk(id: id, in: db) else {
                throw BackendError.notFound(kind: "disk", id: id.rawValue)
            }
            try MetadataStore.deleteAttachments(disk: id, node: node, in: db)
            if disk.status == .inUse, try MetadataStore.attachedNodes(of: id, in: db).isEmpty {
                try MetadataStore.setStatus(.available, disk: id, in: db)
            }
        }
    }

    public func attachments(of id: DiskID) throws(BackendError) -> [DiskAttachment] {
        let path = diskImagePath(id)
        return try read { db in
            try MetadataStore.attachedNodes(of: id, in: db).map { DiskAttachment(diskID: id, nodeID: $0, devicePath: path) }
        }
    }

    // MARK: Expand

    public func expand(disk id: DiskID, newCapacityGiB: Int) throws(BackendError) -> Disk {
        try rule { () throws(EverestRuleViolation) in try EverestRules.checkCapacity(gib: newCapacityGiB) }  // R12
        let unchanged: Disk? = try write { db in
            guard let (disk, _) = try MetadataStore.disk(id: id, in: db) else {
                throw BackendError.notFound(kind: "disk", id: id.rawValue)
            }
            if newCapacityGiB <= disk.capacityGiB { return disk }  // grow only; idempotent
            switch disk.status {
            case .available, .inUse: break
            case .error: throw BackendError.busy("disk \(id) is in status error and cannot be extended")
            default: throw EverestRuleViolation.operationInFlight(key: id.rawValue)
            }
            if try MetadataStore.creatingSnapshotCount(of: id, in: db) > 0 {
                throw EverestRuleViolation.operationInFlight(key: id.rawValue)  // a snapshot is copying the file
            }
            try MetadataStore.setStatus(.extending, disk: id, in: db)
            return nil
        }
        if let unchanged { return unchanged }
        var growError: BackendError?
        do {
            try DataFiles.grow(diskImagePath(id), to: Int64(newCapacityGiB) * Self.gib, durable: configuration.durableWrites)
        } catch {
            growError = Self.convert(error)
        }
        let disk: Disk = try write { db in
            guard let (disk, _) = try MetadataStore.disk(id: id, in: db) else {
                throw BackendError.notFound(kind: "disk", id: id.rawValue)
            }
            let attached = try !MetadataStore.attachedNodes(of: id, in: db).isEmpty
            let gib = growError == nil ? newCapacityGiB : disk.capacityGiB
            try MetadataStore.setCapacity(gib, status: attached ? .inUse : .available, disk: id, in: db)
            return try MetadataStore.disk(id: id, in: db)!.disk
        }
        if let growError { throw growError }
        return disk
    }

    // MARK: Capacity and health

    public func capacity() throws(BackendError) -> BackendCapacity {
        let info: (magic: UInt64, free: UInt64, total: UInt64)
        do { info = try DataFiles.fileSystemInfo(disksDirectory) } catch { throw .storage(error.description) }
        let provisioned = try read { db in try MetadataStore.provisionedGiB(in: db) }
        return BackendCapacity(totalBytes: Int64(info.total), freeBytes: Int64(info.free),
                               provisionedBytes: provisioned * Self.gib)
    }

    public func health() -> BackendHealth {
        // Cheap enough for every Probe (livenessprobe polls it): one trivial query proves the database answers;
        // counting rows would cost O(objects) per call.
        do {
            _ = try database.read { db in try Int.fetchOne(db, sql: "SELECT 1") }
            guard access(disksDirectory, W_OK) == 0, access(snapshotsDirectory, W_OK) == 0 else {
                return BackendHealth(isHealthy: false, detail: "state directory \(configuration.stateDirectory) is not writable")
            }
            return BackendHealth(isHealthy: true, detail: "metadata database answers; data directories writable")
        } catch {
            return BackendHealth(isHealthy: false, detail: "metadata database: \(error)")
        }
    }

    /// The file system type of the state directory (`xfs`, `btrfs`, `ext4`, or the magic number in hex).
    public func dataFileSystem() -> String {
        guard let info = try? DataFiles.fileSystemInfo(disksDirectory) else { return "unknown" }
        switch info.magic {
        case 0x5846_5342: return "xfs"
        case 0x9123_683E: return "btrfs"
        case 0xEF53: return "ext4"
        case 0x0102_1994: return "tmpfs"
        default: return "0x" + String(info.magic, radix: 16)
        }
    }

    // MARK: Reconcile

    /// Repairs what a crash left half-done (see the file header) and returns what it did. Runs at open,
    /// before any operation: running it while operations are in flight would roll them back.
    static func reconcile(database: DatabasePool, disksDirectory: String, snapshotsDirectory: String,
                          durable: Bool) throws(BackendError) -> ReconcileReport {
        func write<T>(_ body: (Database) throws -> T) throws(BackendError) -> T {
            try Self.write(database, body)
        }
        func read<T>(_ body: (Database) throws -> T) throws(BackendError) -> T {
            try Self.read(database, body)
        }
        var report = ReconcileReport()
        struct Pending { var disks: [DiskID] = []; var snapshots: [SnapshotID] = [] }
        let toDelete: Pending = try write { db in
            var pending = Pending()
            for row in try Row.fetchAll(db, sql: "SELECT id, status, capacityGiB FROM disk WHERE status IN ('creating', 'deleting', 'extending', 'attaching', 'detaching')") {
                let id = DiskID(row["id"] as String)
                let status: String = row["status"]
                let path = imagePath(disksDirectory, id.rawValue)
                switch status {
                case "creating":
                    if DataFiles.exists(path) {
                        try MetadataStore.setStatus(.available, disk: id, in: db)
                        report.finished.append(id.rawValue)
                    } else {
                        try MetadataStore.deleteDiskRow(id, in: db)
                        report.rolledBack.append(id.rawValue)
                    }
                case "deleting":
                    pending.disks.append(id)
                default:  // extending (attaching/detaching are never stored by this emulator)
                    let fileGiB = Int((DataFiles.sizeAndBlocks(path)?.size ?? 0) / Self.gib)
                    let attached = try !MetadataStore.attachedNodes(of: id, in: db).isEmpty
                    try MetadataStore.setCapacity(max(row["capacityGiB"] as Int, fileGiB),
                                                  status: attached ? .inUse : .available, disk: id, in: db)
                    report.settledExtends.append(id.rawValue)
                }
            }
            for row in try Row.fetchAll(db, sql: "SELECT id, status FROM snapshot WHERE status IN ('creating', 'deleting')") {
                let id = SnapshotID(row["id"] as String)
                if (row["status"] as String) == "deleting" {
                    pending.snapshots.append(id)
                } else if DataFiles.exists(imagePath(snapshotsDirectory, id.rawValue)) {
                    try MetadataStore.setStatus(.available, snapshot: id, in: db)
                    report.finished.append(id.rawValue)
                } else {
                    try MetadataStore.deleteSnapshotRow(id, in: db)
                    report.rolledBack.append(id.rawValue)
                }
            }
            try db.execute(sql: "DELETE FROM attachment WHERE diskID NOT IN (SELECT id FROM disk)")
            report.removedAttachments = db.changesCount
            return pending
        }
        do {
            for id in toDelete.disks {
                try DataFiles.remove(imagePath(disksDirectory, id.rawValue), durable: durable)
                try write { db in try MetadataStore.deleteDiskRow(id, in: db) }
                report.completedDeletes.append(id.rawValue)
            }
            for id in toDelete.snapshots {
                try DataFiles.remove(imagePath(snapshotsDirectory, id.rawValue), durable: durable)
                try write { db in try MetadataStore.deleteSnapshotRow(id, in: db) }
                report.completedDeletes.append(id.rawValue)
            }
            let (diskIDs, snapshotIDs) = try read { db in
                (Set(try String.fetchAll(db, sql: "SELECT id FROM disk")),
                 Set(try String.fetchAll(db, sql: "SELECT id FROM snapshot")))
            }
            for (directory, known) in [(disksDirectory, diskIDs), (snapshotsDirectory, snapshotIDs)] {
                let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
                for name in names.sorted() {
                    let path = directory + "/" + name
                    if name.hasSuffix(DataFiles.temporarySuffix) {
                        try DataFiles.remove(path, durable: durable)
                        report.removedTemporaryFiles.append(path)
                    } else if name.hasSuffix(Self.imageSuffix), !known.contains(String(name.dropLast(Self.imageSuffix.count))) {
                        try DataFiles.remove(path, durable: durable)
                        report.removedOrphanFiles.append(path)
                    }
                }
            }
        } catch let error as DataFileError {
            throw .storage(error.description)
        } catch let error as BackendError {
            throw error
        } catch {
            throw .storage("\(error)")
        }
        return report
    }

    // MARK: Helpers

    /// The current time rounded to milliseconds, so that it reads back from SQLite bit for bit.
    static func now() -> Date {
        Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    /// An EVS-like id: a lower-case UUID.
    static func newID() -> String { UUID().uuidString.lowercased() }

    private func write<T>(_ body: (Database) throws -> T) throws(BackendError) -> T {
        try Self.write(database, body)
    }

    private func read<T>(_ body: (Database) throws -> T) throws(BackendError) -> T {
        try Self.read(database, body)
    }

    private static func write<T>(_ database: DatabasePool, _ body: (Database) throws -> T) throws(BackendError) -> T {
        do { return try database.write(body) } catch { throw convert(error) }
    }

    private static func read<T>(_ database: DatabasePool, _ body: (Database) throws -> T) throws(BackendError) -> T {
        do { return try database.read(body) } catch { throw convert(error) }
    }

    private func rule(_ body: () throws(EverestRuleViolation) -> Void) throws(BackendError) {
        do { try body() } catch { throw .rule(error) }
    }

    /// Every error leaving the emulator is a `BackendError`.
    static func convert(_ error: any Error) -> BackendError {
        switch error {
        case let error as BackendError: return error
        case let violation as EverestRuleViolation: return .rule(violation)
        case let error as DataFileError:
            if error.errno == ENOSPC || error.errno == EDQUOT {
                return .limitExceeded("no space left for data: \(error.description)")
            }
            if error.errno == EFBIG {
                return .limitExceeded("the state directory's file system cannot hold a file this large: \(error.description)")
            }
            return .storage(error.description)
        default: return .storage("\(error)")
        }
    }
}
