// Snapshots: create and delete. Crash safety: see EVSEmulator.swift.
import EVSSnapshotRules
import Foundation
import GRDB
import Glibc

extension EVSEmulator {
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
}
