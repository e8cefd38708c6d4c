// SQLiteDB: the small part of a SQLite library the emulator needs, over SQLite's C API (Debian libsqlite3), without
// Foundation. Its names follow GRDB's (DatabasePool, DatabaseQueue, Database, Row, StatementArguments,
// DatabaseMigrator), so the emulator's SQL and its crash-safety argument are unchanged: the same SQLite, the same
// WAL journal, the same `synchronous` setting, one writer in IMMEDIATE transactions, readers in their own
// transactions on their own connections.
internal import CSQLite
#if canImport(Glibc)
import Glibc
#endif

/// A pthread mutex guarding a value that is not Sendable (a connection): `withLock` runs its body while holding it.
final class Locked<Value>: @unchecked Sendable {  // Sendable: `value` is only touched under `mutex`.
    private var value: Value
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>  // owned: destroyed and freed in deinit

    init(_ value: Value) {
        self.value = value
        mutex = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&value)
    }
}

/// A SQLite failure: the result code, the extended code, SQLite's message and the SQL involved.
public struct DatabaseError: Error, Sendable, CustomStringConvertible {
    /// The primary result code (`SQLITE_BUSY` = 5, `SQLITE_CONSTRAINT` = 19, ...).
    public let resultCode: Int32
    public let extendedResultCode: Int32
    public let message: String
    public let sql: String?

    public var description: String {
        "SQLite error \(extendedResultCode): \(message)" + (sql.map { " - while executing `\($0)`" } ?? "")
    }

    /// The code of a constraint violation (UNIQUE, NOT NULL, CHECK, FOREIGN KEY).
    public var isConstraintViolation: Bool { resultCode == SQLITE_CONSTRAINT }
}

/// One value as SQLite stores it.
public enum DatabaseValue: Sendable, Equatable {
    case null
    case integer(Int64)
    case real(Double)
    case text(String)
    case blob([UInt8])
}

/// A Swift type that can be bound as a statement argument and read from a column.
public protocol DatabaseValueConvertible: Sendable {
    var databaseValue: DatabaseValue { get }
    /// nil if the stored value cannot be this type.
    static func fromDatabaseValue(_ value: DatabaseValue) -> Self?
}

extension String: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { .text(self) }
    public static func fromDatabaseValue(_ value: DatabaseValue) -> String? {
        switch value {
        case .text(let text): text
        case .integer(let n): String(n)
        case .real(let d): String(d)
        case .blob(let bytes): String(decoding: bytes, as: UTF8.self)
        case .null: nil
        }
    }
}

extension Int64: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { .integer(self) }
    public static func fromDatabaseValue(_ value: DatabaseValue) -> Int64? {
        switch value {
        case .integer(let n): n
        case .real(let d): Int64(exactly: d)
        case .text(let text): Int64(text)
        default: nil
        }
    }
}

extension Int: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { .integer(Int64(self)) }
    public static func fromDatabaseValue(_ value: DatabaseValue) -> Int? { Int64.fromDatabaseValue(value).map { Int($0) } }
}

extension Int32: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { .integer(Int64(self)) }
    public static func fromDatabaseValue(_ value: DatabaseValue) -> Int32? {
        Int64.fromDatabaseValue(value).flatMap { Int32(exactly: $0) }
    }
}

extension Double: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { .real(self) }
    public static func fromDatabaseValue(_ value: DatabaseValue) -> Double? {
        switch value {
        case .real(let d): d
        case .integer(let n): Double(n)
        case .text(let text): Double(text)
        default: nil
        }
    }
}

extension Bool: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { .integer(self ? 1 : 0) }
    public static func fromDatabaseValue(_ value: DatabaseValue) -> Bool? { Int64.fromDatabaseValue(value).map { $0 != 0 } }
}

extension [UInt8]: DatabaseValueConvertible {
    public var databaseValue: DatabaseValue { .blob(self) }
    public static func fromDatabaseValue(_ value: DatabaseValue) -> [UInt8]? {
        switch value {
        case .blob(let bytes): bytes
        case .text(let text): Array(text.utf8)
        default: nil
        }
    }
}

/// Positional statement arguments, written as an array literal: `[id.rawValue, 42, nil]`.
public struct StatementArguments: Sendable, ExpressibleByArrayLiteral {
    public var values: [DatabaseValue]

    public init(_ values: [any DatabaseValueConvertible]) { self.values = values.map(\.databaseValue) }
    public init(arrayLiteral elements: (any DatabaseValueConvertible)?...) {
        values = elements.map { $0?.databaseValue ?? .null }
    }

    public static func += (lhs: inout StatementArguments, rhs: StatementArguments) { lhs.values += rhs.values }
    public mutating func append(_ value: (any DatabaseValueConvertible)?) { values.append(value?.databaseValue ?? .null) }

    /// Appends `other`'s values (GRDB's signature: the Bool says whether names clashed, never here).
    @discardableResult
    public mutating func append(contentsOf other: StatementArguments) -> Bool {
        values += other.values
        return false
    }
}

/// One result row, by column name (the first column of that name wins, as in GRDB).
public struct Row: Sendable {
    public let columns: [String]
    public let values: [DatabaseValue]

    public func value(named column: String) -> DatabaseValue? {
        columns.firstIndex(of: column).map { values[$0] }
    }

    /// The column converted to `Value`; a missing column or a value of another type is a programming error (traps,
    /// naming the column), as in GRDB.
    public subscript<Value: DatabaseValueConvertible>(_ column: String) -> Value {
        guard let stored = value(named: column) else { preconditionFailure("no column \(column) in row \(columns)") }
        guard let converted = Value.fromDatabaseValue(stored) else {
            preconditionFailure("column \(column): cannot read \(stored) as \(Value.self)")
        }
        return converted
    }

    /// The column converted to `Value`, nil when NULL.
    public subscript<Value: DatabaseValueConvertible>(_ column: String) -> Value? {
        guard let stored = value(named: column) else { preconditionFailure("no column \(column) in row \(columns)") }
        if stored == .null { return nil }
        guard let converted = Value.fromDatabaseValue(stored) else {
            preconditionFailure("column \(column): cannot read \(stored) as \(Value.self)")
        }
        return converted
    }

    public static func fetchAll(_ db: Database, sql: String, arguments: StatementArguments = []) throws -> [Row] {
        try db.query(sql, arguments, limit: nil)
    }

    public static func fetchOne(_ db: Database, sql: String, arguments: StatementArguments = []) throws -> Row? {
        try db.query(sql, arguments, limit: 1).first
    }
}

extension DatabaseValueConvertible {
    /// The first column of every row (rows whose first column is NULL or of another type are skipped, as GRDB does
    /// not; the emulator never selects such rows).
    public static func fetchAll(_ db: Database, sql: String, arguments: StatementArguments = []) throws -> [Self] {
        try db.query(sql, arguments, limit: nil).compactMap { $0.values.first.flatMap(Self.fromDatabaseValue) }
    }

    /// The first column of the first row; nil without rows or when it is NULL.
    public static func fetchOne(_ db: Database, sql: String, arguments: StatementArguments = []) throws -> Self? {
        try db.query(sql, arguments, limit: 1).first?.values.first.flatMap(Self.fromDatabaseValue)
    }
}

/// A connection handed to a `read` or `write` closure; valid only inside it, on the calling thread.
public final class Database {
    /// Owned: closed in deinit.
    let handle: OpaquePointer
    let path: String

    init(path: String, readOnly: Bool, busyTimeoutMilliseconds: Int32) throws(DatabaseError) {
        var connection: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE))
            | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_EXRESCODE
        let rc = sqlite3_open_v2(path, &connection, flags, nil)
        guard rc == SQLITE_OK, let connection else {
            let message = connection.map { String(cString: sqlite3_errmsg($0)) } ?? "out of memory"
            if let connection { sqlite3_close_v2(connection) }
            throw DatabaseError(resultCode: rc & 0xff, extendedResultCode: rc, message: "cannot open \(path): \(message)", sql: nil)
        }
        handle = connection
        self.path = path
        sqlite3_busy_timeout(handle, busyTimeoutMilliseconds)
    }

    private var isClosed = false

    deinit { close() }

    /// Closes the connection (idempotent); using it afterwards throws SQLITE_MISUSE.
    func close() {
        if !isClosed { sqlite3_close_v2(handle) }
        isClosed = true
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    public var changesCount: Int { Int(sqlite3_changes(handle)) }

    /// Runs every statement of `sql` (several may be separated by `;` when there are no arguments).
    public func execute(sql: String, arguments: StatementArguments = []) throws {
        if arguments.values.isEmpty {
            var message: UnsafeMutablePointer<CChar>?
            let rc = sqlite3_exec(handle, sql, nil, nil, &message)
            if rc != SQLITE_OK {
                let text = message.map { String(cString: $0) } ?? String(cString: sqlite3_errmsg(handle))
                sqlite3_free(message)
                throw DatabaseError(resultCode: rc & 0xff, extendedResultCode: sqlite3_extended_errcode(handle),
                                    message: text, sql: sql)
            }
            return
        }
        _ = try query(sql, arguments, limit: 0)
    }

    func error(_ rc: Int32, _ sql: String) -> DatabaseError {
        DatabaseError(resultCode: rc & 0xff, extendedResultCode: sqlite3_extended_errcode(handle),
                      message: String(cString: sqlite3_errmsg(handle)), sql: sql)
    }

    /// Prepares, binds, steps to completion (or `limit` rows; 0: runs without collecting) and finalizes.
    func query(_ sql: String, _ arguments: StatementArguments, limit: Int?) throws(DatabaseError) -> [Row] {
        var statement: OpaquePointer?
        let prepared = sqlite3_prepare_v2(handle, sql, -1, &statement, nil)
        guard prepared == SQLITE_OK, let statement else { throw error(prepared, sql) }
        defer { sqlite3_finalize(statement) }
        let expected = Int(sqlite3_bind_parameter_count(statement))
        guard expected == arguments.values.count else {
            throw DatabaseError(resultCode: SQLITE_RANGE, extendedResultCode: SQLITE_RANGE,
                                message: "\(arguments.values.count) arguments for \(expected) parameters", sql: sql)
        }
        for (offset, value) in arguments.values.enumerated() {
            let index = Int32(offset + 1)
            let rc: Int32
            switch value {
            case .null: rc = sqlite3_bind_null(statement, index)
            case .integer(let n): rc = sqlite3_bind_int64(statement, index, n)
            case .real(let d): rc = sqlite3_bind_double(statement, index, d)
            case .text(let text): rc = sqlite3_bind_text(statement, index, text, -1, csqlite_transient())
            case .blob(let bytes):
                rc = bytes.withUnsafeBytes { sqlite3_bind_blob(statement, index, $0.baseAddress, Int32($0.count), csqlite_transient()) }
            }
            if rc != SQLITE_OK { throw error(rc, sql) }
        }
        let count = Int(sqlite3_column_count(statement))
        let names = (0..<count).map { String(cString: sqlite3_column_name(statement, Int32($0))) }
        var rows: [Row] = []
        while true {
            let rc = sqlite3_step(statement)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error(rc, sql) }
            if limit == 0 { continue }
            var values: [DatabaseValue] = []
            values.reserveCapacity(count)
            for column in 0..<Int32(count) {
                switch sqlite3_column_type(statement, column) {
                case SQLITE_INTEGER: values.append(.integer(sqlite3_column_int64(statement, column)))
                case SQLITE_FLOAT: values.append(.real(sqlite3_column_double(statement, column)))
                case SQLITE_TEXT:
                    let text = sqlite3_column_text(statement, column).map { String(cString: $0) } ?? ""
                    values.append(.text(text))
                case SQLITE_BLOB:
                    let length = Int(sqlite3_column_bytes(statement, column))
                    if let bytes = sqlite3_column_blob(statement, column), length > 0 {
                        values.append(.blob(Array(UnsafeRawBufferPointer(start: bytes, count: length))))
                    } else {
                        values.append(.blob([]))
                    }
                default: values.append(.null)
                }
            }
            rows.append(Row(columns: names, values: values))
            if let limit, rows.count >= limit { break }
        }
        return rows
    }

    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws.
    func inTransaction<T>(_ kind: String, _ body: (Database) throws -> T) throws -> T {
        if isClosed {
            throw DatabaseError(resultCode: SQLITE_MISUSE, extendedResultCode: SQLITE_MISUSE, message: "connection closed", sql: nil)
        }
        try execute(sql: "BEGIN \(kind) TRANSACTION")
        let result: T
        do {
            result = try body(self)
        } catch {
            try? execute(sql: "ROLLBACK TRANSACTION")
            throw error
        }
        do {
            try execute(sql: "COMMIT TRANSACTION")
        } catch {
            try? execute(sql: "ROLLBACK TRANSACTION")
            throw error
        }
        return result
    }
}

/// Settings of a pool or queue.
public struct Configuration: Sendable {
    /// How long a connection waits for a lock another process or connection holds (sqlite3_busy_timeout).
    public var busyTimeout: Duration = .seconds(10)
    /// SQL run on every new connection (PRAGMAs), before any other use.
    public var prepareSQL: [String] = []
    /// Most idle reader connections a pool keeps open (more are opened while needed, then closed).
    public var maximumReaderCount: Int = 4
    /// `PRAGMA foreign_keys = ON` on every connection (GRDB's default too).
    public var foreignKeysEnabled = true

    public init() {}

    func prepare(_ db: Database) throws {
        if foreignKeysEnabled { try db.execute(sql: "PRAGMA foreign_keys = ON") }
        for sql in prepareSQL { try db.execute(sql: sql) }
    }

    var busyTimeoutMilliseconds: Int32 {
        let (seconds, attoseconds) = busyTimeout.components
        return Int32(clamping: seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }
}

/// One serialized connection: every read and write runs on it, one at a time.
public final class DatabaseQueue: Sendable {
    private let connection: Locked<Database>  // one thread at a time on the connection (opened NOMUTEX)
    public let path: String

    public init(path: String, configuration: Configuration = Configuration()) throws {
        let db = try Database(path: path, readOnly: false, busyTimeoutMilliseconds: configuration.busyTimeoutMilliseconds)
        try configuration.prepare(db)
        connection = Locked(db)
        self.path = path
    }

    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        try connection.withLock { db in try db.inTransaction("DEFERRED", body) }
    }

    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        try connection.withLock { db in try db.inTransaction("IMMEDIATE", body) }
    }

    /// Runs `body` outside any transaction (PRAGMAs that refuse to run in one, such as journal_mode).
    public func writeWithoutTransaction<T>(_ body: (Database) throws -> T) throws -> T {
        try connection.withLock { db in try body(db) }
    }

    /// Closes the connection now (later reads and writes throw).
    public func close() throws {
        connection.withLock { $0.close() }
    }
}

/// A WAL database: one writer connection (writes serialized, each in an IMMEDIATE transaction) and up to
/// `maximumReaderCount` reader connections, each read in its own DEFERRED transaction (a consistent snapshot that
/// a concurrent write never blocks).
public final class DatabasePool: Sendable {
    public let path: String
    private let configuration: Configuration
    private let writer: Locked<Database>
    /// Idle reader connections (each used by one thread at a time).
    private let readers: Locked<[Database]>

    public init(path: String, configuration: Configuration = Configuration()) throws {
        self.path = path
        self.configuration = configuration
        let db = try Database(path: path, readOnly: false, busyTimeoutMilliseconds: configuration.busyTimeoutMilliseconds)
        // WAL before anything else, as GRDB's DatabasePool does; it persists in the file.
        let mode = try String.fetchOne(db, sql: "PRAGMA journal_mode = WAL")
        guard mode?.lowercased() == "wal" else {
            throw DatabaseError(resultCode: SQLITE_ERROR, extendedResultCode: SQLITE_ERROR,
                                message: "could not enable WAL (journal_mode is \(mode ?? "unknown"))", sql: nil)
        }
        try configuration.prepare(db)
        writer = Locked(db)
        readers = Locked([])
    }

    public func write<T>(_ body: (Database) throws -> T) throws -> T {
        try writer.withLock { db in try db.inTransaction("IMMEDIATE", body) }
    }

    public func writeWithoutTransaction<T>(_ body: (Database) throws -> T) throws -> T {
        try writer.withLock { db in try body(db) }
    }

    public func read<T>(_ body: (Database) throws -> T) throws -> T {
        let db = try takeReader()
        defer {
            let maximum = configuration.maximumReaderCount
            readers.withLock { idle in if idle.count < maximum { idle.append(db) } }  // else closed by deinit
        }
        return try db.inTransaction("DEFERRED", body)
    }

    private func takeReader() throws -> Database {
        if let idle = readers.withLock({ $0.popLast() }) { return idle }
        let db = try Database(path: path, readOnly: false, busyTimeoutMilliseconds: configuration.busyTimeoutMilliseconds)
        try configuration.prepare(db)
        try db.execute(sql: "PRAGMA query_only = 1")
        return db
    }
}

/// Named, ordered schema migrations, each applied once (recorded in `grdb_migrations`, the table GRDB used, so a
/// state directory written by earlier versions of the emulator opens unchanged).
public struct DatabaseMigrator {
    private var migrations: [(String, (Database) throws -> Void)] = []

    public init() {}

    public mutating func registerMigration(_ identifier: String, migrate: @escaping (Database) throws -> Void) {
        migrations.append((identifier, migrate))
    }

    public func migrate(_ pool: DatabasePool) throws {
        try pool.write { db in try apply(db) }
    }

    public func migrate(_ queue: DatabaseQueue) throws {
        try queue.write { db in try apply(db) }
    }

    private func apply(_ db: Database) throws {
        try db.execute(sql: "CREATE TABLE IF NOT EXISTS grdb_migrations (identifier TEXT NOT NULL PRIMARY KEY)")
        let done = Set(try String.fetchAll(db, sql: "SELECT identifier FROM grdb_migrations"))
        for (identifier, migrate) in migrations where !done.contains(identifier) {
            try migrate(db)
            try db.execute(sql: "INSERT INTO grdb_migrations (identifier) VALUES (?)", arguments: [identifier])
        }
    }
}
