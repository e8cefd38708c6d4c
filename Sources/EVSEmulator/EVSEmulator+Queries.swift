// Queries: get and list disks and snapshots, capacity, health; no state changes.
import EVSSnapshotRules
import Foundation
import GRDB
import Glibc

extension EVSEmulator {
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
}
