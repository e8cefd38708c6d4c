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
    let disksDirectory: String
    let snapshotsDirectory: String

    static let gib: Int64 = 1 << 30
    static let imageSuffix = ".img"

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

    static func imagePath(_ directory: String, _ id: String) -> String { directory + "/" + id + imageSuffix }

    // MARK: Helpers

    /// The current time rounded to milliseconds, so that it reads back from SQLite bit for bit.
    static func now() -> Date {
        Date(timeIntervalSince1970: (Date().timeIntervalSince1970 * 1000).rounded() / 1000)
    }

    /// An EVS-like id: a lower-case UUID.
    static func newID() -> String { UUID().uuidString.lowercased() }

    func write<T>(_ body: (Database) throws -> T) throws(BackendError) -> T {
        try Self.write(database, body)
    }

    func read<T>(_ body: (Database) throws -> T) throws(BackendError) -> T {
        try Self.read(database, body)
    }

    static func write<T>(_ database: DatabasePool, _ body: (Database) throws -> T) throws(BackendError) -> T {
        do { return try database.write(body) } catch { throw convert(error) }
    }

    static func read<T>(_ database: DatabasePool, _ body: (Database) throws -> T) throws(BackendError) -> T {
        do { return try database.read(body) } catch { throw convert(error) }
    }

    func rule(_ body: () throws(EverestRuleViolation) -> Void) throws(BackendError) {
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
