import Foundation
import JSONCore

/// `metadata` of an object.
public struct ObjectMeta: Codable, Sendable, Equatable {
    public var name: String?
    public var generateName: String?
    public var namespace: String?
    public var uid: String?
    public var resourceVersion: String?
    public var generation: Int64?
    public var creationTimestamp: String?
    public var deletionTimestamp: String?
    public var deletionGracePeriodSeconds: Int64?
    public var labels: [String: String]?
    public var annotations: [String: String]?
    public var finalizers: [String]?
    public init(name: String? = nil, namespace: String? = nil, labels: [String: String]? = nil,
                annotations: [String: String]? = nil) {
        self.name = name; self.namespace = namespace; self.labels = labels; self.annotations = annotations
    }
}

/// `metadata` of a list: resourceVersion, continue token and remainingItemCount.
public struct ListMeta: Codable, Sendable, Equatable {
    public var resourceVersion: String?
    /// Token for the next page; nil or empty on the last page.
    public var `continue`: String?
    public var remainingItemCount: Int64?
    public init(resourceVersion: String? = nil, continue: String? = nil, remainingItemCount: Int64? = nil) {
        self.resourceVersion = resourceVersion; self.continue = `continue`; self.remainingItemCount = remainingItemCount
    }
}

/// A `*List` answer.
public struct ObjectList<Item: Codable & Sendable>: Codable, Sendable {
    public var apiVersion: String?
    public var kind: String?
    public var metadata: ListMeta
    public var items: [Item]
    public init(apiVersion: String? = nil, kind: String? = nil, metadata: ListMeta = ListMeta(), items: [Item] = []) {
        self.apiVersion = apiVersion; self.kind = kind; self.metadata = metadata; self.items = items
    }
    enum CodingKeys: String, CodingKey { case apiVersion, kind, metadata, items }
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        apiVersion = try c.decodeIfPresent(String.self, forKey: .apiVersion)
        kind = try c.decodeIfPresent(String.self, forKey: .kind)
        metadata = try c.decodeIfPresent(ListMeta.self, forKey: .metadata) ?? ListMeta()
        // `items: null` is how Go encodes an empty slice in some lists.
        items = try c.decodeIfPresent([Item].self, forKey: .items) ?? []
    }
}

/// A typed local object reference (`dataSource`, `dataSourceRef`).
public struct TypedObjectReference: Codable, Sendable, Equatable {
    public var apiGroup: String?
    public var kind: String
    public var name: String
    public var namespace: String?
    public init(apiGroup: String? = nil, kind: String, name: String, namespace: String? = nil) {
        self.apiGroup = apiGroup; self.kind = kind; self.name = name; self.namespace = namespace
    }
}

/// An object reference (`claimRef`, `involvedObject`, `volumeSnapshotRef`).
public struct ObjectReference: Codable, Sendable, Equatable {
    public var apiVersion: String?
    public var kind: String?
    public var namespace: String?
    public var name: String?
    public var uid: String?
    public var resourceVersion: String?
    public var fieldPath: String?
    public init(apiVersion: String? = nil, kind: String? = nil, namespace: String? = nil, name: String? = nil, uid: String? = nil) {
        self.apiVersion = apiVersion; self.kind = kind; self.namespace = namespace; self.name = name; self.uid = uid
    }
}

/// `resources` of a PVC spec.
public struct VolumeResourceRequirements: Codable, Sendable, Equatable {
    public var requests: [String: String]?
    public var limits: [String: String]?
    public init(requests: [String: String]? = nil, limits: [String: String]? = nil) {
        self.requests = requests; self.limits = limits
    }
}

/// PersistentVolumeClaim (core/v1).
public struct PersistentVolumeClaim: Codable, Sendable, Equatable {
    /// `spec` of PersistentVolumeClaim.
    public struct Spec: Codable, Sendable, Equatable {
        public var accessModes: [String]?
        public var resources: VolumeResourceRequirements?
        public var storageClassName: String?
        public var volumeName: String?
        public var volumeMode: String?
        public var dataSource: TypedObjectReference?
        public var dataSourceRef: TypedObjectReference?
        public init(accessModes: [String]? = nil, resources: VolumeResourceRequirements? = nil,
                    storageClassName: String? = nil, volumeName: String? = nil, volumeMode: String? = nil,
                    dataSource: TypedObjectReference? = nil, dataSourceRef: TypedObjectReference? = nil) {
            self.accessModes = accessModes; self.resources = resources; self.storageClassName = storageClassName
            self.volumeName = volumeName; self.volumeMode = volumeMode; self.dataSource = dataSource
            self.dataSourceRef = dataSourceRef
        }
    }
    /// `status` of PersistentVolumeClaim.
    public struct Status: Codable, Sendable, Equatable {
        public var phase: String?
        public var accessModes: [String]?
        public var capacity: [String: String]?
    }
    public var apiVersion: String? = "v1"
    public var kind: String? = "PersistentVolumeClaim"
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: Status?
    public init(metadata: ObjectMeta, spec: Spec? = nil) { self.metadata = metadata; self.spec = spec }
}

/// PersistentVolume (core/v1), with the CSI and FlexVolume sources.
public struct PersistentVolume: Codable, Sendable, Equatable {
    /// `spec.csi` of PersistentVolume.
    public struct CSISource: Codable, Sendable, Equatable {
        public var driver: String
        public var volumeHandle: String
        public var fsType: String?
        public var readOnly: Bool?
        public var volumeAttributes: [String: String]?
    }
    /// `spec.flexVolume` of PersistentVolume.
    public struct FlexVolumeSource: Codable, Sendable, Equatable {
        public var driver: String
        public var fsType: String?
        public var options: [String: String]?
    }
    /// `spec` of PersistentVolume.
    public struct Spec: Codable, Sendable, Equatable {
        public var capacity: [String: String]?
        public var accessModes: [String]?
        public var persistentVolumeReclaimPolicy: String?
        public var storageClassName: String?
        public var volumeMode: String?
        public var claimRef: ObjectReference?
        public var csi: CSISource?
        public var flexVolume: FlexVolumeSource?
    }
    /// `status` of PersistentVolume.
    public struct Status: Codable, Sendable, Equatable {
        public var phase: String?
    }
    public var apiVersion: String? = "v1"
    public var kind: String? = "PersistentVolume"
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: Status?
}

/// StorageClass (storage.k8s.io/v1).
public struct StorageClass: Codable, Sendable, Equatable {
    public var apiVersion: String? = "storage.k8s.io/v1"
    public var kind: String? = "StorageClass"
    public var metadata: ObjectMeta
    public var provisioner: String
    public var parameters: [String: String]?
    public var reclaimPolicy: String?
    public var volumeBindingMode: String?
    public var allowVolumeExpansion: Bool?
}

/// VolumeSnapshot (snapshot.storage.k8s.io/v1 and v1beta1 have the same shape for these fields).
public struct VolumeSnapshot: Codable, Sendable, Equatable {
    /// `spec.source` of VolumeSnapshot: exactly one of the two names is set.
    public struct Source: Codable, Sendable, Equatable {
        public var persistentVolumeClaimName: String?
        public var volumeSnapshotContentName: String?
        public init(persistentVolumeClaimName: String? = nil, volumeSnapshotContentName: String? = nil) {
            self.persistentVolumeClaimName = persistentVolumeClaimName
            self.volumeSnapshotContentName = volumeSnapshotContentName
        }
    }
    /// `spec` of VolumeSnapshot.
    public struct Spec: Codable, Sendable, Equatable {
        public var source: Source
        public var volumeSnapshotClassName: String?
        public init(source: Source, volumeSnapshotClassName: String? = nil) {
            self.source = source; self.volumeSnapshotClassName = volumeSnapshotClassName
        }
    }
    /// `status.error` of a snapshot or content.
    public struct SnapshotError: Codable, Sendable, Equatable {
        public var message: String?
        public var time: String?
    }
    /// `status` of VolumeSnapshot.
    public struct Status: Codable, Sendable, Equatable {
        public var boundVolumeSnapshotContentName: String?
        public var creationTime: String?
        public var readyToUse: Bool?
        /// Quantity string, e.g. `10Gi`.
        public var restoreSize: String?
        public var error: SnapshotError?
    }
    public var apiVersion: String? = "snapshot.storage.k8s.io/v1"
    public var kind: String? = "VolumeSnapshot"
    public var metadata: ObjectMeta
    public var spec: Spec
    public var status: Status?
    public init(apiVersion: String = "snapshot.storage.k8s.io/v1", metadata: ObjectMeta, spec: Spec) {
        self.apiVersion = apiVersion; self.metadata = metadata; self.spec = spec
    }
}

/// VolumeSnapshotContent (cluster-scoped). Its status carries int64 nanoseconds and bytes.
public struct VolumeSnapshotContent: Codable, Sendable, Equatable {
    /// `spec.source` of VolumeSnapshot: exactly one of the two names is set.ontent.
    public struct Source: Codable, Sendable, Equatable {
        public var volumeHandle: String?
        public var snapshotHandle: String?
    }
    /// `spec` of VolumeSnapshotContent.
    public struct Spec: Codable, Sendable, Equatable {
        public var deletionPolicy: String?
        public var driver: String?
        public var source: Source?
        public var sourceVolumeMode: String?
        public var volumeSnapshotClassName: String?
        public var volumeSnapshotRef: ObjectReference?
    }
    /// `status` of VolumeSnapshotContent.
    public struct Status: Codable, Sendable, Equatable {
        public var snapshotHandle: String?
        /// Nanoseconds since the epoch.
        public var creationTime: Int64?
        public var readyToUse: Bool?
        /// Bytes.
        public var restoreSize: Int64?
        public var error: VolumeSnapshot.SnapshotError?
    }
    public var apiVersion: String? = "snapshot.storage.k8s.io/v1"
    public var kind: String? = "VolumeSnapshotContent"
    public var metadata: ObjectMeta
    public var spec: Spec?
    public var status: Status?
}

/// VolumeSnapshotClass (cluster-scoped).
public struct VolumeSnapshotClass: Codable, Sendable, Equatable {
    public var apiVersion: String? = "snapshot.storage.k8s.io/v1"
    public var kind: String? = "VolumeSnapshotClass"
    public var metadata: ObjectMeta
    public var driver: String
    public var deletionPolicy: String?
    public var parameters: [String: String]?
}

/// CSIDriver (storage.k8s.io/v1).
public struct CSIDriver: Codable, Sendable, Equatable {
    /// `spec` of CSIDriver.
    public struct Spec: Codable, Sendable, Equatable {
        public var attachRequired: Bool?
        public var podInfoOnMount: Bool?
        public var volumeLifecycleModes: [String]?
        public var fsGroupPolicy: String?
        public var storageCapacity: Bool?
        public var requiresRepublish: Bool?
        public var seLinuxMount: Bool?
    }
    public var apiVersion: String? = "storage.k8s.io/v1"
    public var kind: String? = "CSIDriver"
    public var metadata: ObjectMeta
    public var spec: Spec?
}

/// Event (core/v1), as listed with `fieldSelector=involvedObject.name=...`.
public struct Event: Codable, Sendable, Equatable {
    /// `source` of Event.
    public struct Source: Codable, Sendable, Equatable {
        public var component: String?
        public var host: String?
    }
    public var apiVersion: String? = "v1"
    public var kind: String? = "Event"
    public var metadata: ObjectMeta
    public var involvedObject: ObjectReference
    public var reason: String?
    public var message: String?
    /// `Normal` or `Warning`.
    public var type: String?
    public var count: Int?
    public var firstTimestamp: String?
    public var lastTimestamp: String?
    public var eventTime: String?
    public var source: Source?
    public var reportingComponent: String?
}

/// Namespace (core/v1).
public struct Namespace: Codable, Sendable, Equatable {
    /// `status` of Namespace.
    public struct Status: Codable, Sendable, Equatable { public var phase: String? }
    public var apiVersion: String? = "v1"
    public var kind: String? = "Namespace"
    public var metadata: ObjectMeta
    public var status: Status?
}

/// `/version`.
public struct VersionInfo: Codable, Sendable, Equatable {
    public var major: String
    public var minor: String
    public var gitVersion: String
    public var gitCommit: String?
    public var platform: String?
    public var goVersion: String?
    public var buildDate: String?
    /// Minor version as a number (`"36+"` on some distributions gives 36).
    public var minorNumber: Int? { Int(minor.prefix { $0.isNumber }) }
    public var majorNumber: Int? { Int(major.prefix { $0.isNumber }) }
}

/// `/apis` (APIGroupList) and `/apis/GROUP` (APIGroup).
public struct APIGroupList: Codable, Sendable, Equatable {
    /// One served version in APIGroupList.
    public struct GroupVersion: Codable, Sendable, Equatable {
        public var groupVersion: String
        public var version: String
    }
    /// One API group in APIGroupList.
    public struct Group: Codable, Sendable, Equatable {
        public var name: String
        public var versions: [GroupVersion]
        public var preferredVersion: GroupVersion?
    }
    public var kind: String?
    public var groups: [Group]
}

/// `/apis/GROUP/VERSION` (APIResourceList).
public struct APIResourceList: Codable, Sendable, Equatable {
    /// One resource in APIResourceList.
    public struct Resource: Codable, Sendable, Equatable {
        public var name: String
        public var singularName: String?
        public var namespaced: Bool
        public var kind: String
        public var verbs: [String]?
        public var shortNames: [String]?
    }
    public var kind: String?
    public var groupVersion: String
    public var resources: [Resource]
}

/// One event of a watch stream.
public struct WatchEvent<Object: Codable & Sendable>: Sendable {
    /// `ADDED`, `MODIFIED`, `DELETED`, `BOOKMARK` (ERROR events are thrown as ``KubeAPIError``).
    public var type: String
    public var object: Object
}
