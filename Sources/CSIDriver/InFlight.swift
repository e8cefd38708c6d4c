import Synchronization

/// Keys (volume and snapshot names or ids) that have a call in flight. A second call for a key
/// already held is refused with ABORTED, as the CSI spec asks; calls on other keys run in parallel.
public final class InFlight: Sendable {
    /// Guards the set of held keys; taken only for the insert/remove, never across backend work.
    private let held = Mutex<Set<String>>([])

    /// Creates an empty set.
    public init() {}

    /// Runs `body` while holding every key of `keys`; throws `DriverError.operationPending` for the
    /// first key another call holds (holding none of them then).
    public func run<T>(_ keys: [String], _ body: () throws -> T) throws -> T {
        let unique = Array(Set(keys.filter { !$0.isEmpty }))
        let busy: String? = held.withLock { set in
            if let taken = unique.first(where: { set.contains($0) }) { return taken }
            set.formUnion(unique)
            return nil
        }
        if let busy { throw DriverError.operationPending(key: busy) }
        defer { held.withLock { set in set.subtract(unique) } }
        return try body()
    }

    /// How many keys are held now (tests and metrics).
    public var count: Int { held.withLock { $0.count } }
}
