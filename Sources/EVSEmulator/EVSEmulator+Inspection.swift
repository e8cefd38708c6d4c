// Internal hooks for tests (`@testable import EVSEmulator`) and for checking query plans.
// They bypass the rules on purpose: they put rows into states a test needs (R4/R11/R13 refusals,
// crash leftovers) or store many rows fast. Not part of the backend API.
import EVSSnapshotRules
import SQLiteDB

extension EVSEmulator {
    /// Forces a disk's status (e.g. `error`, `creating`) to provoke a refusal.
    func forceStatus(_ status: DiskStatus, disk id: DiskID) throws {
        try database.write { db in try MetadataStore.setStatus(status, disk: id, in: db) }
    }

    /// Forces a snapshot's status (e.g. `creating`, `error`).
    func forceStatus(_ status: SnapshotStatus, snapshot id: SnapshotID) throws {
        try database.write { db in try MetadataStore.setStatus(status, snapshot: id, in: db) }
    }

    /// Inserts `count` available snapshot rows of `disk` in one transaction, without data files
    /// (reconcile keeps them: only `creating`/`deleting` rows are checked against files).
    func seedSnapshotRows(count: Int, of disk: Disk) throws {
        try database.write { db in
            for index in 0..<count {
                let snapshot = Snapshot(id: SnapshotID(Self.newID()), name: "seed-\(index)-\(Self.newID().prefix(8))",
                                        of: disk, status: .available, createdAt: EVSEmulator.now())
                try MetadataStore.insert(snapshot, in: db)
            }
        }
    }

    /// SQLite's `EXPLAIN QUERY PLAN` details for a snapshot listing page.
    func snapshotListingPlan(snapshotID: SnapshotID?, sourceDiskID: DiskID?, afterSeq: Int64, limit: Int) throws -> [String] {
        let query = MetadataStore.snapshotListingQuery(snapshotID: snapshotID, sourceDiskID: sourceDiskID,
                                                       afterSeq: afterSeq, limit: limit)
        return try database.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + query.sql, arguments: query.arguments).map { $0["detail"] as String }
        }
    }

    /// SQLite's `EXPLAIN QUERY PLAN` details for an arbitrary statement (e.g. the R5 count).
    func queryPlan(_ sql: String, arguments: StatementArguments = []) throws -> [String] {
        try database.read { db in
            try Row.fetchAll(db, sql: "EXPLAIN QUERY PLAN " + sql, arguments: arguments).map { $0["detail"] as String }
        }
    }
}
