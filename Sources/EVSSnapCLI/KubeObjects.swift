import Foundation
import JSONCore
import TimeCore

/// Read-only typed views over the few fields the plugin uses. Each keeps the raw object for `-o yaml|json`.

/// Common metadata accessors.
public protocol KubeObjectView: Sendable {
    /// The object as the server sent it.
    var raw: JSON { get }
}

extension KubeObjectView {
    public var name: String { raw["metadata"]["name"].string ?? "" }
    public var namespace: String? { raw["metadata"]["namespace"].string }
    public var labels: [String: String] { raw["metadata"]["labels"].stringMap }
    public var annotations: [String: String] { raw["metadata"]["annotations"].stringMap }
    public var creationTimestamp: Date? { KubeTime.parse(raw["metadata"]["creationTimestamp"].string) }
    public var deletionTimestamp: Date? { KubeTime.parse(raw["metadata"]["deletionTimestamp"].string) }
}

/// A PersistentVolumeClaim.
public struct PVC: KubeObjectView {
    public var raw: JSON
    public init(_ raw: JSON) { self.raw = raw }
    /// `status.phase`: Pending, Bound, Lost.
    public var phase: String { raw["status"]["phase"].string ?? "Pending" }
    /// `spec.volumeName`: the bound PV.
    public var volumeName: String? { raw["spec"]["volumeName"].string.flatMap { $0.isEmpty ? nil : $0 } }
    /// `spec.storageClassName`, or the beta annotation.
    public var storageClassName: String? {
        raw["spec"]["storageClassName"].string ?? annotations["volume.beta.kubernetes.io/storage-class"]
    }
    /// `spec.resources.requests.storage` as written.
    public var requestedStorage: String? { raw["spec"]["resources"]["requests"]["storage"].string }
    /// `status.capacity.storage`.
    public var capacity: String? { raw["status"]["capacity"]["storage"].string }
    /// `spec.accessModes`.
    public var accessModes: [String] { raw["spec"]["accessModes"].elements.compactMap(\.string) }
    /// The provisioner the PV controller (or the provisioner itself) wrote on the PVC, and the annotation key.
    public var provisionerAnnotation: (key: String, value: String)? {
        for key in PVC.provisionerKeys { if let v = annotations[key], !v.isEmpty { return (key, v) } }
        return nil
    }
    static let provisionerKeys = ["volume.kubernetes.io/storage-provisioner", "volume.beta.kubernetes.io/storage-provisioner",
                                  "pv.kubernetes.io/provisioned-by"]
    /// `spec.dataSource` kind/name when it restores a VolumeSnapshot.
    public var restoredFromSnapshot: String? {
        let ds = raw["spec"]["dataSource"].isNull ? raw["spec"]["dataSourceRef"] : raw["spec"]["dataSource"]
        guard ds["kind"].string == "VolumeSnapshot" else { return nil }
        return ds["name"].string
    }
}

/// A PersistentVolume.
public struct PV: KubeObjectView {
    public var raw: JSON
    public init(_ raw: JSON) { self.raw = raw }
    /// `spec.csi.driver`: the authority on whether this is an Everest disk (R3).
    public var csiDriver: String? { raw["spec"]["csi"]["driver"].string }
    /// `spec.csi.volumeHandle`: the EVS disk id.
    public var volumeHandle: String? { raw["spec"]["csi"]["volumeHandle"].string }
    /// `spec.csi.fsType`.
    public var fsType: String? { raw["spec"]["csi"]["fsType"].string }
    /// `spec.csi.volumeAttributes`.
    public var volumeAttributes: [String: String] { raw["spec"]["csi"]["volumeAttributes"].stringMap }
    /// `spec.capacity.storage`.
    public var capacity: String? { raw["spec"]["capacity"]["storage"].string }
    /// `spec.storageClassName`.
    public var storageClassName: String? { raw["spec"]["storageClassName"].string }
    /// `status.phase`.
    public var phase: String { raw["status"]["phase"].string ?? "" }
    /// `spec.accessModes`.
    public var accessModes: [String] { raw["spec"]["accessModes"].elements.compactMap(\.string) }
    /// Whether the PV is a FlexVolume (old, not CSI: R3).
    public var isFlexVolume: Bool { !raw["spec"]["flexVolume"].isNull }
    /// The FlexVolume driver, if any.
    public var flexDriver: String? { raw["spec"]["flexVolume"]["driver"].string }
    /// Values of a node-affinity match expression key (topology), in order of appearance.
    public func nodeAffinityValues(key: String) -> [String] {
        var values: [String] = []
        for term in raw["spec"]["nodeAffinity"]["required"]["nodeSelectorTerms"].elements {
            for expr in term["matchExpressions"].elements where expr["key"].string == key {
                values += expr["values"].elements.compactMap(\.string)
            }
        }
        return values
    }
}

/// A VolumeSnapshot.
public struct VolumeSnapshot: KubeObjectView {
    public var raw: JSON
    public init(_ raw: JSON) { self.raw = raw }
    /// `spec.source.persistentVolumeClaimName`.
    public var sourcePVC: String? { raw["spec"]["source"]["persistentVolumeClaimName"].string }
    /// `spec.source.volumeSnapshotContentName` (pre-provisioned snapshots).
    public var sourceContent: String? { raw["spec"]["source"]["volumeSnapshotContentName"].string }
    /// `spec.volumeSnapshotClassName`.
    public var className: String? { raw["spec"]["volumeSnapshotClassName"].string }
    /// `status.boundVolumeSnapshotContentName`.
    public var boundContentName: String? { raw["status"]["boundVolumeSnapshotContentName"].string }
    /// `status.readyToUse` (false when missing).
    public var readyToUse: Bool { raw["status"]["readyToUse"].bool ?? false }
    /// Whether `status.readyToUse` is present at all.
    public var hasReadyStatus: Bool { raw["status"]["readyToUse"].bool != nil }
    /// `status.restoreSize`.
    public var restoreSize: String? { raw["status"]["restoreSize"].string }
    /// `status.error.message`.
    public var errorMessage: String? { raw["status"]["error"]["message"].string }
    /// `status.creationTime`.
    public var creationTime: Date? { KubeTime.parse(raw["status"]["creationTime"].string) }
}

/// A VolumeSnapshotContent.
public struct VolumeSnapshotContent: KubeObjectView {
    public var raw: JSON
    public init(_ raw: JSON) { self.raw = raw }
    /// `spec.driver`.
    public var driver: String? { raw["spec"]["driver"].string }
    /// `spec.source.volumeHandle`: the disk the snapshot was taken of.
    public var volumeHandle: String? { raw["spec"]["source"]["volumeHandle"].string }
    /// `spec.source.snapshotHandle` (pre-provisioned) or `status.snapshotHandle`.
    public var snapshotHandle: String? {
        raw["status"]["snapshotHandle"].string ?? raw["spec"]["source"]["snapshotHandle"].string
    }
    /// `spec.volumeSnapshotRef` namespace and name.
    public var snapshotRef: (namespace: String, name: String)? {
        guard let n = raw["spec"]["volumeSnapshotRef"]["name"].string else { return nil }
        return (raw["spec"]["volumeSnapshotRef"]["namespace"].string ?? "", n)
    }
    /// `spec.deletionPolicy`.
    public var deletionPolicy: String? { raw["spec"]["deletionPolicy"].string }
    /// `status.readyToUse`.
    public var readyToUse: Bool { raw["status"]["readyToUse"].bool ?? false }
    /// `status.restoreSize` in bytes.
    public var restoreSizeBytes: Int64? { raw["status"]["restoreSize"].int64 }
    /// `status.error.message`.
    public var errorMessage: String? { raw["status"]["error"]["message"].string }
}

/// A StorageClass.
public struct StorageClass: KubeObjectView {
    public var raw: JSON
    public init(_ raw: JSON) { self.raw = raw }
    public var provisioner: String { raw["provisioner"].string ?? "" }
    public var parameters: [String: String] { raw["parameters"].stringMap }
}

/// A VolumeSnapshotClass.
public struct VolumeSnapshotClass: KubeObjectView {
    public var raw: JSON
    public init(_ raw: JSON) { self.raw = raw }
    public var driver: String { raw["driver"].string ?? "" }
    public var deletionPolicy: String { raw["deletionPolicy"].string ?? "" }
}

/// A core/v1 Event.
public struct KubeEvent: KubeObjectView {
    public var raw: JSON
    public init(_ raw: JSON) { self.raw = raw }
    public var type: String { raw["type"].string ?? "" }
    public var reason: String { raw["reason"].string ?? "" }
    public var message: String { raw["message"].string ?? "" }
    public var count: Int64 { raw["count"].int64 ?? 1 }
    public var source: String {
        raw["source"]["component"].string ?? raw["reportingComponent"].string ?? ""
    }
    /// When the event last happened (lastTimestamp, eventTime, or creation).
    public var lastSeen: Date? {
        KubeTime.parse(raw["lastTimestamp"].string) ?? KubeTime.parse(raw["eventTime"].string) ?? creationTimestamp
    }
}

/// RFC 3339 timestamps as the API server writes them, read and written by TimeCore (the one timestamp reader of
/// the plugin, the driver's EVS backend and the schedules: fast enough for a 1,000-row `list`, offsets read right).
public enum KubeTime {
    /// Parses `2026-11-27T20:50:10Z`, `2026-11-27T20:50:10.123456Z` or `2026-11-28T04:50:10+08:00`; nil for an
    /// absent, empty or malformed value.
    public static func parse(_ s: String?) -> Date? {
        guard let s, let instant = RFC3339.parse(s) else { return nil }
        return Date(timeIntervalSince1970: instant.secondsSince1970)
    }

    /// Formats a date as `2026-11-27T20:50:10Z` (whole seconds, UTC).
    public static func format(_ d: Date) -> String {
        Civil.rfc3339(Int64(d.timeIntervalSince1970.rounded(.down)))
    }

    /// kubectl's AGE column: `45s`, `5m`, `3h`, `12d`, `2y` (with the finer unit while small, like `3m20s`).
    public static func age(from d: Date?, now: Date) -> String {
        guard let d else { return "<unknown>" }
        let s = Int(now.timeIntervalSince(d).rounded(.down))
        if s < 0 { return "0s" }
        if s < 120 { return "\(s)s" }
        let m = s / 60
        if m < 10 { return s % 60 == 0 ? "\(m)m" : "\(m)m\(s % 60)s" }
        if m < 180 { return "\(m)m" }
        let h = m / 60
        if h < 8 { return m % 60 == 0 ? "\(h)h" : "\(h)h\(m % 60)m" }
        if h < 48 { return "\(h)h" }
        let days = h / 24
        if days < 8 { return h % 24 == 0 ? "\(days)d" : "\(days)d\(h % 24)h" }
        if days < 365 * 2 { return "\(days)d" }
        return "\(days / 365)y"
    }
}
