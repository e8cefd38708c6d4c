// The narrow seam between the schedule controller and Kubernetes: the reads and writes it needs, as plain
// values, and the clock it reads. KubeScheduleAPI.swift implements it over KubeClient (the only file here that
// imports it); tests may put anything behind it, and drive the clock by hand.
import SnapshotSchedules

/// A SnapshotSchedule object as the controller reads it.
public struct ScheduleObject: Sendable, Hashable {
    public var namespace: String
    public var name: String
    public var uid: String
    public var generation: Int
    /// metadata.creationTimestamp (seconds since the epoch): no slot before it runs.
    public var created: Int64
    /// The spec, or why it could not be read (a field of the wrong type; the CRD's schema normally prevents it).
    public var spec: Result<ScheduleSpec, ScheduleSpecError>
    /// status.lastScheduleTime: the last slot fully carried out.
    public var lastScheduleTime: Int64?

    public init(namespace: String, name: String, uid: String = "", generation: Int = 1, created: Int64,
                spec: Result<ScheduleSpec, ScheduleSpecError>, lastScheduleTime: Int64? = nil) {
        self.namespace = namespace; self.name = name; self.uid = uid; self.generation = generation
        self.created = created; self.spec = spec; self.lastScheduleTime = lastScheduleTime
    }
}

/// A PVC, with what the rules need.
public struct ClaimInfo: Sendable, Hashable {
    public var namespace: String
    public var name: String
    public var uid: String
    public var phase: String
    public var storageClassName: String?
    public var volumeName: String?
    public init(namespace: String, name: String, uid: String = "", phase: String, storageClassName: String? = nil, volumeName: String? = nil) {
        self.namespace = namespace; self.name = name; self.uid = uid; self.phase = phase
        self.storageClassName = storageClassName; self.volumeName = volumeName
    }
}

/// A PV's CSI part.
public struct VolumeInfo: Sendable, Hashable {
    public var name: String
    public var csiDriver: String?
    public var volumeHandle: String?
    public init(name: String, csiDriver: String?, volumeHandle: String?) { self.name = name; self.csiDriver = csiDriver; self.volumeHandle = volumeHandle }
}

/// A VolumeSnapshot.
public struct SnapshotInfo: Sendable, Hashable {
    public var name: String
    public var sourcePVC: String?
    public var labels: [String: String]
    public var created: Int64
    public var readyToUse: Bool
    public var error: String?
    public var deleting: Bool
    public init(name: String, sourcePVC: String?, labels: [String: String] = [:], created: Int64, readyToUse: Bool,
                error: String? = nil, deleting: Bool = false) {
        self.name = name; self.sourcePVC = sourcePVC; self.labels = labels; self.created = created
        self.readyToUse = readyToUse; self.error = error; self.deleting = deleting
    }
}

/// What a new scheduled VolumeSnapshot carries.
public struct SnapshotRequest: Sendable, Hashable {
    public var namespace: String
    public var name: String
    public var pvc: String
    public var snapshotClassName: String
    public var labels: [String: String]
    public var annotations: [String: String]
}

/// A Kubernetes Event about a PVC.
public struct ClaimEvent: Sendable, Hashable {
    public var claim: ClaimInfo
    /// `Warning` or `Normal`.
    public var type: String
    public var reason: String
    public var message: String
}

/// The status the controller writes (`status` of the SnapshotSchedule).
public struct ScheduleStatus: Sendable, Hashable {
    public struct ClaimResult: Sendable, Hashable {
        public var pvc: String
        public var snapshot: String?
        /// `Created`, `Exists`, `Refused`, `Waiting`, `Failed`.
        public var result: String
        public var message: String
    }
    public struct Condition: Sendable, Hashable {
        public var type: String
        public var status: Bool
        public var reason: String
        public var message: String
    }
    public var observedGeneration: Int
    public var lastScheduleTime: Int64?
    public var lastRunTime: Int64?
    public var nextScheduleTime: Int64?
    public var lastResult: String?
    /// nil: left as it is (an idle pass writes only the times).
    public var claims: [ClaimResult]?
    /// nil: left as it is.
    public var conditions: [Condition]?
}

/// Kubernetes as the schedule controller sees it. Every call may throw `ScheduleAPIError` or a transport error;
/// the controller treats anything but `.notFound`/`.alreadyExists` as "try again at the next pass".
public protocol ScheduleAPI: Sendable {
    /// Every SnapshotSchedule (all namespaces, or the one the controller watches).
    func listSchedules() async throws -> [ScheduleObject]
    func getSchedule(namespace: String, name: String) async throws -> ScheduleObject?
    /// PVCs of a namespace with a label selector (`a=b,c=d`).
    func listClaims(namespace: String, labelSelector: String) async throws -> [ClaimInfo]
    func getClaim(namespace: String, name: String) async throws -> ClaimInfo?
    func getVolume(name: String) async throws -> VolumeInfo?
    /// The VolumeSnapshots of a namespace.
    func listSnapshots(namespace: String) async throws -> [SnapshotInfo]
    /// Creates it; throws `.alreadyExists` when the name is taken.
    func createSnapshot(_ request: SnapshotRequest) async throws
    /// Deletes it; a snapshot already gone is not an error.
    func deleteSnapshot(namespace: String, name: String) async throws
    /// Waits, at most `timeout`, until none of `names` exists in `namespace`; returns whether they are all gone.
    func waitUntilGone(namespace: String, names: Set<String>, timeout: Duration) async throws -> Bool
    /// Replaces the schedule's status (the status subresource).
    func writeStatus(namespace: String, name: String, status: ScheduleStatus) async throws
    func recordEvent(_ event: ClaimEvent) async throws
    /// The annotations of the CSIDriver object `driverName` (where the driver publishes R5's limit), nil if absent.
    func driverAnnotations(driverName: String) async throws -> [String: String]?
}

/// The API's own errors.
public enum ScheduleAPIError: Error, Sendable, Hashable, CustomStringConvertible {
    case notFound(String)
    case alreadyExists(String)
    /// Any other answer: HTTP code and message.
    case server(code: Int, message: String)

    public var description: String {
        switch self {
        case .notFound(let w): return "\(w) not found"
        case .alreadyExists(let w): return "\(w) already exists"
        case .server(let c, let m): return "HTTP \(c): \(m)"
        }
    }
}

/// The controller's clock: wall time in seconds since the epoch, and a sleep that tests can end at once.
public protocol ScheduleClock: Sendable {
    func now() -> Int64
    /// Returns at `instant` or earlier (when woken); throws when cancelled.
    func sleep(until instant: Int64) async throws
}

/// The system clock.
public struct SystemClock: ScheduleClock {
    public init() {}
    public func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }
    public func sleep(until instant: Int64) async throws {
        let s = max(0, instant - now())
        try await Task.sleep(for: .seconds(s))
    }
}

#if canImport(Glibc)
import Glibc
#endif
