// SQLite metadata through SQLiteDB (a small wrapper with GRDB's names over SQLite's C API): the schema, row <-> domain value mapping, and the queries the
// emulator runs. Every function takes a `Database` and runs inside the caller's transaction.
//
// Sort key: each table has `seq INTEGER PRIMARY KEY AUTOINCREMENT` (never reused), so listings are in
// creation order and a page token is "the last seq seen": entries created during a listing appear at its
// end, deleted ones simply vanish, and nothing is skipped or repeated (unlike an OFFSET).
import EVSSnapshotRules
import SQLiteDB

enum MetadataStore {
    /// The schema, as migrations (applied in order, each once).
    static var migrator: DatabaseMigrator {
        var migrator = DatabaseMigrator()
        migrator.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE disk (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL UNIQUE,
                    capacityGiB INTEGER NOT NULL,
                    type TEXT NOT NULL,
                    mode TEXT NOT NULL,
                    cryptKeyID TEXT,
                    shared INTEGER NOT NULL,
                    fsType TEXT NOT NULL,
                    region TEXT NOT NULL,
                    zone TEXT NOT NULL,
                    status TEXT NOT NULL,
                    sourceSnapshotID TEXT,
                    createdAt DOUBLE NOT NULL,
                    updatedAt DOUBLE NOT NULL
                );
                CREATE INDEX disk_by_source_snapshot ON disk(sourceSnapshotID) WHERE sourceSnapshotID IS NOT NULL;
                CREATE INDEX disk_by_status ON disk(status);
                CREATE TABLE snapshot (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL UNIQUE,
                    sourceDiskID TEXT NOT NULL,
                    sizeGiB INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    cryptKeyID TEXT,
                    sourceType TEXT NOT NULL,
                    sourceMode TEXT NOT NULL,
                    sourceShared INTEGER NOT NULL,
                    sourceFSType TEXT NOT NULL,
                    region TEXT NOT NULL,
                    zone TEXT NOT NULL,
                    createdAt DOUBLE NOT NULL,
                    updatedAt DOUBLE NOT NULL
                );
                CREATE INDEX snapshot_by_source ON snapshot(sourceDiskID, seq);
                CREATE INDEX snapshot_by_status ON snapshot(status);
                CREATE TABLE attachment (
                    diskID TEXT NOT NULL,
                    nodeID TEXT NOT NULL,
                    attachedAt DOUBLE NOT NULL,
                    PRIMARY KEY (diskID, nodeID)
                );
                CREATE INDEX attachment_by_node ON attachment(nodeID);
                """)
        }
        // v2: an attachment's mode (Cinder's attach mode "rw"/"ro"): ControllerPublishVolume's readonly flag,
        // so a re-publish to the same node with the other mode is refused instead of silently accepted.
        migrator.registerMigration("v2") { db in
            try db.execute(sql: "ALTER TABLE attachment ADD COLUMN readOnly INTEGER NOT NULL DEFAULT 0")
        }
        // v3: a GPSSD2 disk's provisioned performance (EVS ModifyVolumeQoS changes it in place; NULL for other
        // types and for disks made before v3).
        migrator.registerMigration("v3") { db in
            try db.execute(sql: """
                ALTER TABLE disk ADD COLUMN iops INTEGER;
                ALTER TABLE disk ADD COLUMN throughput INTEGER;
                """)
        }
        return migrator
    }

    // MARK: Mapping

    static func disk(from row: Row) -> Disk {
        Disk(
            id: DiskID(row["id"] as String),
            name: row["name"],
            capacityGiB: row["capacityGiB"],
            type: VolumeType(rawValue: row["type"]) ?? .sas,
            mode: DiskMode(rawValue: row["mode"]) ?? .vbd,
            encryption: Encryption(cryptKeyID: row["cryptKeyID"]),
            sharing: Sharing(row["shared"] as Bool),
            topology: Topology(region: row["region"], zone: row["zone"]),
            status: DiskStatus(rawValue: row["status"]) ?? .error,
            fsType: FileSystemType(rawValue: row["fsType"]) ?? .ext4,
            iops: row["iops"], throughput: row["throughput"])
    }

    static func snapshot(from row: Row) -> Snapshot {
        Snapshot(
            id: SnapshotID(row["id"] as String),
            name: row["name"],
            sourceDiskID: DiskID(row["sourceDiskID"] as String),
            sizeGiB: row["sizeGiB"],
            status: SnapshotStatus(rawValue: row["status"]) ?? .error,
            createdAt: Timestamp(timeIntervalSince1970: row["createdAt"]),
            encryption: Encryption(cryptKeyID: row["cryptKeyID"]),
            sourceType: VolumeType(rawValue: row["sourceType"]) ?? .sas,
            sourceMode: DiskMode(rawValue: row["sourceMode"]) ?? .vbd,
            sourceSharing: Sharing(row["sourceShared"] as Bool),
            sourceTopology: Topology(region: row["region"], zone: row["zone"]),
            sourceFSType: FileSystemType(rawValue: row["sourceFSType"]) ?? .ext4)
    }

    // MARK: Disks

    static func insert(_ disk: Disk, sourceSnapshot: SnapshotID?, in db: Database) throws {
        let now = EVSEmulator.now().timeIntervalSince1970
        try db.execute(sql: """
            INSERT INTO disk (id, name, capacityGiB, type, mode, cryptKeyID, shared, fsType, region, zone, status,
                              sourceSnapshotID, createdAt, updatedAt, iops, throughput)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [disk.id.rawValue, disk.name, disk.capacityGiB, disk.type.rawValue, disk.mode.rawValue,
                             disk.encryption.keyID, disk.shared, disk.fsType.rawValue, disk.topology.region,
                             disk.topology.zone, disk.status.rawValue, sourceSnapshot?.rawValue, now, now,
                             disk.iops, disk.throughput])
    }

    static func disk(id: DiskID, in db: Database) throws -> (disk: Disk, source: SnapshotID?)? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM disk WHERE id = ?", arguments: [id.rawValue]) else {
            return nil
        }
        return (disk(from: row), (row["sourceSnapshotID"] as String?).map(SnapshotID.init(rawValue:)))
    }

    static func disk(named name: String, in db: Database) throws -> (disk: Disk, source: SnapshotID?)? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM disk WHERE name = ?", arguments: [name]) else {
            return nil
        }
        return (disk(from: row), (row["sourceSnapshotID"] as String?).map(SnapshotID.init(rawValue:)))
    }

    static func setStatus(_ status: DiskStatus, disk id: DiskID, in db: Database) throws {
        try db.execute(sql: "UPDATE disk SET status = ?, updatedAt = ? WHERE id = ?",
                       arguments: [status.rawValue, EVSEmulator.now().timeIntervalSince1970, id.rawValue])
    }

    static func setCapacity(_ gib: Int, status: DiskStatus, disk id: DiskID, in db: Database) throws {
        try db.execute(sql: "UPDATE disk SET capacityGiB = ?, status = ?, updatedAt = ? WHERE id = ?",
                       arguments: [gib, status.rawValue, EVSEmulator.now().timeIntervalSince1970, id.rawValue])
    }

    static func setPerformance(iops: Int?, throughput: Int?, disk id: DiskID, in db: Database) throws {
        try db.execute(sql: "UPDATE disk SET iops = ?, throughput = ?, updatedAt = ? WHERE id = ?",
                       arguments: [iops, throughput, EVSEmulator.now().timeIntervalSince1970, id.rawValue])
    }

    static func deleteDiskRow(_ id: DiskID, in db: Database) throws {
        try db.execute(sql: "DELETE FROM attachment WHERE diskID = ?", arguments: [id.rawValue])
        try db.execute(sql: "DELETE FROM disk WHERE id = ?", arguments: [id.rawValue])
    }

    /// Disks whose restore from `snapshot` is still running (R11).
    static func pendingRestores(of snapshot: SnapshotID, in db: Database) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT name FROM disk WHERE sourceSnapshotID = ? AND status = 'creating'",
                            arguments: [snapshot.rawValue])
    }

    static func provisionedGiB(in db: Database) throws -> Int64 {
        try Int64.fetchOne(db, sql: "SELECT COALESCE(SUM(capacityGiB), 0) FROM disk") ?? 0
    }

    // MARK: Snapshots

    static func insert(_ snapshot: Snapshot, in db: Database) throws {
        let now = snapshot.createdAt.timeIntervalSince1970
        try db.execute(sql: """
            INSERT INTO snapshot (id, name, sourceDiskID, sizeGiB, status, cryptKeyID, sourceType, sourceMode,
                                  sourceShared, sourceFSType, region, zone, createdAt, updatedAt)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """, arguments: [snapshot.id.rawValue, snapshot.name, snapshot.sourceDiskID.rawValue, snapshot.sizeGiB,
                             snapshot.status.rawValue, snapshot.encryption.keyID, snapshot.sourceType.rawValue,
                             snapshot.sourceMode.rawValue, snapshot.sourceSharing.isShared,
                             snapshot.sourceFSType.rawValue, snapshot.sourceTopology.region,
                             snapshot.sourceTopology.zone, now, now])
    }

    static func snapshot(id: SnapshotID, in db: Database) throws -> Snapshot? {
        try Row.fetchOne(db, sql: "SELECT * FROM snapshot WHERE id = ?", arguments: [id.rawValue]).map(snapshot(from:))
    }

    static func snapshot(named name: String, in db: Database) throws -> Snapshot? {
        try Row.fetchOne(db, sql: "SELECT * FROM snapshot WHERE name = ?", arguments: [name]).map(snapshot(from:))
    }

    static func snapshotCount(of disk: DiskID, in db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM snapshot WHERE sourceDiskID = ?", arguments: [disk.rawValue]) ?? 0
    }

    static func creatingSnapshotCount(of disk: DiskID, in db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM snapshot WHERE sourceDiskID = ? AND status = 'creating'",
                         arguments: [disk.rawValue]) ?? 0
    }

    static func setStatus(_ status: SnapshotStatus, snapshot id: SnapshotID, in db: Database) throws {
        try db.execute(sql: "UPDATE snapshot SET status = ?, updatedAt = ? WHERE id = ?",
                       arguments: [status.rawValue, EVSEmulator.now().timeIntervalSince1970, id.rawValue])
    }

    static func deleteSnapshotRow(_ id: SnapshotID, in db: Database) throws {
        try db.execute(sql: "DELETE FROM snapshot WHERE id = ?", arguments: [id.rawValue])
    }

    // MARK: Attachments

    static func attachedNodes(of disk: DiskID, in db: Database) throws -> [String] {
        try String.fetchAll(db, sql: "SELECT nodeID FROM attachment WHERE diskID = ? ORDER BY nodeID",
                            arguments: [disk.rawValue])
    }

    static func attachmentCount(node: String, in db: Database) throws -> Int {
        try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM attachment WHERE nodeID = ?", arguments: [node]) ?? 0
    }

    static func insertAttachment(disk: DiskID, node: String, readOnly: Bool, in db: Database) throws {
        try db.execute(sql: "INSERT INTO attachment (diskID, nodeID, readOnly, attachedAt) VALUES (?, ?, ?, ?)",
                       arguments: [disk.rawValue, node, readOnly, EVSEmulator.now().timeIntervalSince1970])
    }

    /// The mode of disk `disk`'s attachment to `node` (true: read-only), nil when it is not attached there.
    static func attachmentIsReadOnly(disk: DiskID, node: String, in db: Database) throws -> Bool? {
        try Bool.fetchOne(db, sql: "SELECT readOnly FROM attachment WHERE diskID = ? AND nodeID = ?",
                          arguments: [disk.rawValue, node])
    }

    static func deleteAttachments(disk: DiskID, node: String?, in db: Database) throws {
        if let node {
            try db.execute(sql: "DELETE FROM attachment WHERE diskID = ? AND nodeID = ?", arguments: [disk.rawValue, node])
        } else {
            try db.execute(sql: "DELETE FROM attachment WHERE diskID = ?", arguments: [disk.rawValue])
        }
    }

    // MARK: Listing

    /// Page tokens: `"evs1-" + seq`. Anything else is `invalidToken`.
    static let tokenPrefix = "evs1-"

    static func token(forSeq seq: Int64) -> String { tokenPrefix + String(seq) }

    static func seq(fromToken token: String?) throws(BackendError) -> Int64 {
        guard let token, !token.isEmpty else { return 0 }
        guard token.hasPrefix(tokenPrefix), let seq = Int64(token.dropFirst(tokenPrefix.count)), seq > 0 else {
            throw .invalidToken(token)
        }
        return seq
    }

    /// The SQL and arguments of a snapshot listing page (also used to check its query plan).
    static func snapshotListingQuery(snapshotID: SnapshotID?, sourceDiskID: DiskID?, afterSeq: Int64,
                                     limit: Int) -> (sql: String, arguments: StatementArguments) {
        var sql = "SELECT * FROM snapshot WHERE seq > ? AND status != 'deleting'"
        var arguments: StatementArguments = [afterSeq]
        if let snapshotID {
            sql += " AND id = ?"
            _ = arguments.append(contentsOf: [snapshotID.rawValue])
        }
        if let sourceDiskID {
            sql += " AND sourceDiskID = ?"
            _ = arguments.append(contentsOf: [sourceDiskID.rawValue])
        }
        sql += " ORDER BY seq"
        if limit > 0 {
            sql += " LIMIT ?"
            _ = arguments.append(contentsOf: [limit + 1])
        }
        return (sql, arguments)
    }

    static func listSnapshots(snapshotID: SnapshotID?, sourceDiskID: DiskID?, maxEntries: Int, afterSeq: Int64,
                              in db: Database) throws -> BackendPage<Snapshot> {
        let query = snapshotListingQuery(snapshotID: snapshotID, sourceDiskID: sourceDiskID, afterSeq: afterSeq,
                                         limit: maxEntries)
        let rows = try Row.fetchAll(db, sql: query.sql, arguments: query.arguments)
        return page(rows, maxEntries: maxEntries, map: snapshot(from:))
    }

    static func listDisks(maxEntries: Int, afterSeq: Int64, in db: Database) throws -> BackendPage<Disk> {
        var sql = "SELECT * FROM disk WHERE seq > ? AND status != 'deleting' ORDER BY seq"
        var arguments: StatementArguments = [afterSeq]
        if maxEntries > 0 {
            sql += " LIMIT ?"
            _ = arguments.append(contentsOf: [maxEntries + 1])
        }
        let rows = try Row.fetchAll(db, sql: sql, arguments: arguments)
        return page(rows, maxEntries: maxEntries, map: disk(from:))
    }

    /// Cuts `rows` (fetched with LIMIT maxEntries + 1) into a page; the token is the last returned seq.
    private static func page<T>(_ rows: [Row], maxEntries: Int, map: (Row) -> T) -> BackendPage<T> {
        guard maxEntries > 0, rows.count > maxEntries else { return BackendPage(items: rows.map(map), nextToken: nil) }
        let kept = rows.prefix(maxEntries)
        let lastSeq: Int64 = kept.last!["seq"]
        return BackendPage(items: kept.map(map), nextToken: token(forSeq: lastSeq))
    }
}
