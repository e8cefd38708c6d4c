import Foundation

/// A REST resource: group, version, plural name, kind and scope. Builds request paths.
public struct ResourceType: Sendable, Hashable, CustomStringConvertible {
    /// API group; empty for the core group (`/api/v1`).
    public var group: String
    public var version: String
    /// Lower-case plural used in URLs (`volumesnapshots`).
    public var plural: String
    /// Kind of one object (`VolumeSnapshot`).
    public var kind: String
    /// True for namespaced resources.
    public var namespaced: Bool

    public init(group: String, version: String, plural: String, kind: String, namespaced: Bool) {
        self.group = group; self.version = version; self.plural = plural; self.kind = kind; self.namespaced = namespaced
    }

    /// `snapshot.storage.k8s.io/v1`, or `v1` for the core group.
    public var groupVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    /// `volumesnapshots.snapshot.storage.k8s.io`, or `persistentvolumeclaims` for the core group (as in kubectl messages).
    public var qualifiedName: String { group.isEmpty ? plural : "\(plural).\(group)" }
    public var description: String { "\(qualifiedName) (\(groupVersion))" }

    /// The same resource in another version (e.g. snapshot `v1beta1` on old clusters).
    public func withVersion(_ v: String) -> ResourceType {
        var r = self; r.version = v; return r
    }

    /// Percent-encodes one path segment.
    static func segment(_ s: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#")
        return s.addingPercentEncoding(withAllowedCharacters: allowed) ?? s
    }

    /// Request path: `/apis/G/V[/namespaces/NS]/PLURAL[/NAME]`. `namespace` nil on a namespaced resource means all namespaces.
    public func path(namespace: String? = nil, name: String? = nil, subresource: String? = nil) -> String {
        var p = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace, !namespace.isEmpty { p += "/namespaces/\(ResourceType.segment(namespace))" }
        p += "/\(plural)"
        if let name { p += "/\(ResourceType.segment(name))" }
        if let subresource { p += "/\(subresource)" }
        return p
    }

    // Core group.
    public static let namespaces = ResourceType(group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false)
    public static let persistentVolumeClaims = ResourceType(group: "", version: "v1", plural: "persistentvolumeclaims", kind: "PersistentVolumeClaim", namespaced: true)
    public static let persistentVolumes = ResourceType(group: "", version: "v1", plural: "persistentvolumes", kind: "PersistentVolume", namespaced: false)
    public static let events = ResourceType(group: "", version: "v1", plural: "events", kind: "Event", namespaced: true)
    public static let nodes = ResourceType(group: "", version: "v1", plural: "nodes", kind: "Node", namespaced: false)
    // storage.k8s.io
    public static let storageClasses = ResourceType(group: "storage.k8s.io", version: "v1", plural: "storageclasses", kind: "StorageClass", namespaced: false)
    public static let csiDrivers = ResourceType(group: "storage.k8s.io", version: "v1", plural: "csidrivers", kind: "CSIDriver", namespaced: false)
    // events.k8s.io
    public static let eventsV1 = ResourceType(group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", namespaced: true)
    // snapshot.storage.k8s.io (v1; use `withVersion("v1beta1")` with what ``KubeClient/snapshotAPIVersion()`` returns).
    public static let snapshotGroup = "snapshot.storage.k8s.io"
    public static let volumeSnapshots = ResourceType(group: snapshotGroup, version: "v1", plural: "volumesnapshots", kind: "VolumeSnapshot", namespaced: true)
    public static let volumeSnapshotContents = ResourceType(group: snapshotGroup, version: "v1", plural: "volumesnapshotcontents", kind: "VolumeSnapshotContent", namespaced: false)
    public static let volumeSnapshotClasses = ResourceType(group: snapshotGroup, version: "v1", plural: "volumesnapshotclasses", kind: "VolumeSnapshotClass", namespaced: false)
}

/// Options of a list request.
public struct ListOptions: Sendable, Equatable {
    /// `limit`: page size (nil: server default, everything at once).
    public var limit: Int?
    /// `continue` token from the previous page.
    public var continueToken: String?
    /// `labelSelector`, e.g. `app=db`.
    public var labelSelector: String?
    /// `fieldSelector`, e.g. `involvedObject.name=snap-1` (core events) or `metadata.name=x`.
    public var fieldSelector: String?
    /// `resourceVersion` (for watches and consistent reads).
    public var resourceVersion: String?
    /// `timeoutSeconds`: how long the server keeps a watch open.
    public var timeoutSeconds: Int?
    public init(limit: Int? = nil, continueToken: String? = nil, labelSelector: String? = nil,
                fieldSelector: String? = nil, resourceVersion: String? = nil, timeoutSeconds: Int? = nil) {
        self.limit = limit; self.continueToken = continueToken; self.labelSelector = labelSelector
        self.fieldSelector = fieldSelector; self.resourceVersion = resourceVersion; self.timeoutSeconds = timeoutSeconds
    }
    var queryItems: [URLQueryItem] {
        var q: [URLQueryItem] = []
        if let labelSelector { q.append(.init(name: "labelSelector", value: labelSelector)) }
        if let fieldSelector { q.append(.init(name: "fieldSelector", value: fieldSelector)) }
        if let limit { q.append(.init(name: "limit", value: String(limit))) }
        if let continueToken, !continueToken.isEmpty { q.append(.init(name: "continue", value: continueToken)) }
        if let resourceVersion { q.append(.init(name: "resourceVersion", value: resourceVersion)) }
        if let timeoutSeconds { q.append(.init(name: "timeoutSeconds", value: String(timeoutSeconds))) }
        return q
    }
}

/// Options of a create request.
public struct CreateOptions: Sendable, Equatable {
    /// `dryRun=All`: validate and default, persist nothing.
    public var dryRun: Bool
    /// `fieldManager`; defaults to the client's user agent name on the server side when nil.
    public var fieldManager: String?
    /// `fieldValidation` (`Ignore`, `Warn`, `Strict`).
    public var fieldValidation: String?
    public init(dryRun: Bool = false, fieldManager: String? = nil, fieldValidation: String? = nil) {
        self.dryRun = dryRun; self.fieldManager = fieldManager; self.fieldValidation = fieldValidation
    }
    var queryItems: [URLQueryItem] {
        var q: [URLQueryItem] = []
        if dryRun { q.append(.init(name: "dryRun", value: "All")) }
        if let fieldManager { q.append(.init(name: "fieldManager", value: fieldManager)) }
        if let fieldValidation { q.append(.init(name: "fieldValidation", value: fieldValidation)) }
        return q
    }
}

/// Options of a delete request.
public struct DeleteOptions: Sendable, Equatable {
    /// `dryRun=All`.
    public var dryRun: Bool
    /// `propagationPolicy`: `Foreground`, `Background` or `Orphan`.
    public var propagationPolicy: String?
    /// `gracePeriodSeconds`.
    public var gracePeriodSeconds: Int?
    public init(dryRun: Bool = false, propagationPolicy: String? = nil, gracePeriodSeconds: Int? = nil) {
        self.dryRun = dryRun; self.propagationPolicy = propagationPolicy; self.gracePeriodSeconds = gracePeriodSeconds
    }
    var queryItems: [URLQueryItem] {
        var q: [URLQueryItem] = []
        if dryRun { q.append(.init(name: "dryRun", value: "All")) }
        if let propagationPolicy { q.append(.init(name: "propagationPolicy", value: propagationPolicy)) }
        if let gracePeriodSeconds { q.append(.init(name: "gracePeriodSeconds", value: String(gracePeriodSeconds))) }
        return q
    }
}

/// A decoded answer plus the `Warning` headers that came with it (also passed to the client's warning handler).
public struct KubeResult<T: Sendable>: Sendable {
    public var object: T
    /// Warning texts (the quoted part of `299 - "..."`), in arrival order.
    public var warnings: [String]
    public init(object: T, warnings: [String]) { self.object = object; self.warnings = warnings }
}
