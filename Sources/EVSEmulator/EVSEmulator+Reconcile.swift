// Reconcile: repairs at open what a crash left half-done (see the header of EVSEmulator.swift).
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

extension EVSEmulator {
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
}
