// The embedded EVS emulator: metadata in SQLite (SQLiteDB over the C API, WAL), data in sparse image files.
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
// Concurrency: every check-and-change of metadata runs in one SQLite write transaction (SQLiteDB serialises
// writers); data is copied outside any transaction, protected by the object's transitional status
// (`creating`, `extending`, `deleting`), which other operations refuse with `operationInFlight`.
import EVSSnapshotRules
import SQLiteDB
import Glibc

/// The embedded EVS backend. Thread-safe; one instance per state directory and process.
public final class EVSEmulator: BlockStorageBackend {
    /// The configuration it was opened with.
    public let configuration: EmulatorConfiguration
    /// What the reconcile at open repaired.
    public let openReport: ReconcileReport

    /// The metadata database (writes serialised on one connection; reads run concurrently in WAL mode).
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
            var settings = SQLiteDB.Configuration()
            settings.busyTimeout = .seconds(10)
            let synchronous = configuration.durableWrites ? "FULL" : "NORMAL"
            settings.prepareSQL = ["PRAGMA synchronous = \(synchronous)"]
            database = try DatabasePool(path: state + "/evs.sqlite", configuration: settings)
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
    static func now() -> Timestamp {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        let milliseconds = Double(time.tv_sec) * 1000 + Double(time.tv_nsec / 1_000_000)
        return Timestamp(timeIntervalSince1970: milliseconds / 1000)
    }

    /// An EVS-like id: a lower-case random (version 4) UUID, from /dev/urandom.
    static func newID() -> String {
        var bytes = [UInt8](repeating: 0, count: 16)
        let fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)
        precondition(fd >= 0, "cannot open /dev/urandom: errno \(errno)")
        defer { close(fd) }
        var filled = 0
        while filled < 16 {
            let n = bytes.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, 16 - filled) }
            if n > 0 { filled += n } else { precondition(n < 0 && errno == EINTR, "cannot read /dev/urandom: errno \(errno)") }
        }
        bytes[6] = (bytes[6] & 0x0F) | 0x40
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = Array("0123456789abcdef")
        var text = ""
        for (index, byte) in bytes.enumerated() {
            if index == 4 || index == 6 || index == 8 || index == 10 { text.append("-") }
            text.append(hex[Int(byte >> 4)])
            text.append(hex[Int(byte & 0x0F)])
        }
        return text
    }

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
