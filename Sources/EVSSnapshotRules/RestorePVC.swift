// R10: the shape of the PVC that restores a snapshot, built from the source, and the check of any restore PVC:
// the one the plugin writes and one the user wrote (`kubectl evssnap check -f pvc.yaml`).

/// The fields of a restore PVC that R10 governs (a value, not a Kubernetes object): the PVC the plugin writes,
/// or one the user wrote, as read from its YAML.
public struct RestorePVCShape: Sendable, Hashable, Codable {
    /// `metadata.name`.
    public var name: String
    /// `metadata.namespace`.
    public var namespace: String
    /// `spec.storageClassName`.
    public var storageClassName: String?
    /// `metadata.annotations` (disk type, and fstype for xfs sources).
    public var annotations: [String: String]
    /// `metadata.labels` (region and zone).
    public var labels: [String: String]
    /// `spec.accessModes`.
    public var accessModes: [String]
    /// `spec.resources.requests.storage`, as written.
    public var storage: String
    /// `spec.dataSource`.
    public var dataSource: DataSource?

    /// `spec.dataSource` of a restore PVC.
    public struct DataSource: Sendable, Hashable, Codable {
        /// `VolumeSnapshot`.
        public var kind: String
        /// `snapshot.storage.k8s.io`.
        public var apiGroup: String?
        /// The VolumeSnapshot name.
        public var name: String
        /// Creates a data source.
        public init(kind: String = "VolumeSnapshot", apiGroup: String? = EverestNames.snapshotGroup, name: String) {
            self.kind = kind; self.apiGroup = apiGroup; self.name = name
        }
    }

    /// Creates a shape.
    public init(name: String, namespace: String, storageClassName: String?, annotations: [String: String],
                labels: [String: String], accessModes: [String], storage: String, dataSource: DataSource?) {
        self.name = name; self.namespace = namespace; self.storageClassName = storageClassName
        self.annotations = annotations; self.labels = labels; self.accessModes = accessModes
        self.storage = storage; self.dataSource = dataSource
    }
}

/// A StorageClass as R10 needs it.
public struct StorageClassFacts: Sendable, Hashable, Codable {
    /// `metadata.name`.
    public var name: String
    /// `provisioner`.
    public var provisioner: String
    /// `parameters`.
    public var parameters: [String: String]
    /// Creates the facts.
    public init(name: String, provisioner: String, parameters: [String: String] = [:]) {
        self.name = name; self.provisioner = provisioner; self.parameters = parameters
    }
}

extension EverestRules {
    /// R10: the restore PVC for `snapshot` (whose source attributes it copies), named `pvcName` in `namespace`,
    /// restoring the VolumeSnapshot `volumeSnapshotName`. `storageClassName` defaults to `settings.defaultStorageClass`.
    public static func restorePVC(
        name pvcName: String, namespace: String, volumeSnapshotName: String, snapshot: Snapshot,
        storageClassName: String? = nil, settings: RuleSettings = .default
    ) -> RestorePVCShape {
        var annotations = [EverestNames.diskVolumeType: snapshot.sourceType.rawValue]
        if snapshot.sourceFSType == .xfs { annotations[EverestNames.fsType] = FileSystemType.xfs.rawValue }
        return RestorePVCShape(
            name: pvcName, namespace: namespace,
            storageClassName: storageClassName ?? settings.defaultStorageClass,
            annotations: annotations,
            labels: [EverestNames.regionLabel: snapshot.sourceTopology.region,
                     EverestNames.zoneLabel: snapshot.sourceTopology.zone],
            accessModes: ["ReadWriteOnce"],
            storage: Quantity(gibibytes: snapshot.sizeGiB).canonical,
            dataSource: .init(name: volumeSnapshotName))
    }

    /// R10: whether a StorageClass provisions through the driver: its provisioner is the driver, or CCE's
    /// `everest-csi-provisioner` with the `csi.storage.k8s.io/csi-driver-name` parameter naming the driver.
    public static func isDriverStorageClass(_ storageClass: StorageClassFacts, settings: RuleSettings = .default) -> Bool {
        storageClass.provisioner == settings.driverName
            || (storageClass.provisioner == EverestNames.cceProvisioner
                && storageClass.parameters[EverestNames.csiDriverNameParameter] == settings.driverName)
    }

    /// R10: every way `pvc` differs from the restore shape `snapshot` requires, in the order of EVEREST.md's R10.
    /// `storageClass` is the class the PVC names as found in the cluster (nil: not found); it must provision
    /// through the driver. Region/zone labels and the fstype annotation may be absent (Everest fills them) but
    /// not different. The storage request is compared as a rounded GiB capacity under `settings.capacityMatch`
    /// (R8/R12); a quantity without a unit is bytes, and the message says so.
    public static func restorePVCMismatches(
        _ pvc: RestorePVCShape, snapshot: Snapshot, volumeSnapshotName: String? = nil,
        storageClass: StorageClassFacts?, settings: RuleSettings = .default
    ) -> [EverestRuleViolation] {
        var found: [EverestRuleViolation] = []
        func differ(_ field: String, _ expected: String, _ actual: String?) {
            found.append(.restorePVCField(field: field, expected: expected, found: actual ?? "<none>"))
        }
        let driverClass = "a StorageClass of \(settings.driverName)"
        if let name = pvc.storageClassName {
            if let storageClass {
                if !isDriverStorageClass(storageClass, settings: settings) {
                    differ("storageClassName", driverClass, "\(name) (provisioner \(storageClass.provisioner))")
                }
            } else {
                differ("storageClassName", driverClass, "\(name) (not found)")
            }
        } else {
            differ("storageClassName", driverClass, nil)
        }
        let type = pvc.annotations[EverestNames.diskVolumeType]
        if type != snapshot.sourceType.rawValue {
            differ("annotation \(EverestNames.diskVolumeType)", snapshot.sourceType.rawValue, type)
        }
        let fs = pvc.annotations[EverestNames.fsType]
        if snapshot.sourceFSType == .xfs ? fs != "xfs" : (fs != nil && fs != snapshot.sourceFSType.rawValue) {
            differ("annotation \(EverestNames.fsType)", snapshot.sourceFSType.rawValue, fs)
        }
        if let region = pvc.labels[EverestNames.regionLabel], region != snapshot.sourceTopology.region {
            differ("label \(EverestNames.regionLabel)", snapshot.sourceTopology.region, region)
        }
        if let zone = pvc.labels[EverestNames.zoneLabel], zone != snapshot.sourceTopology.zone {
            differ("label \(EverestNames.zoneLabel)", snapshot.sourceTopology.zone, zone)
        }
        if pvc.accessModes != ["ReadWriteOnce"] {
            differ("accessModes", "ReadWriteOnce", pvc.accessModes.joined(separator: ","))
        }
        let expectedStorage = Quantity(gibibytes: snapshot.sizeGiB).canonical
        if let q = Quantity(pvc.storage) {
            let gib = q.roundedUpGiB
            let ok = settings.capacityMatch == .equal ? gib == snapshot.sizeGiB : gib >= snapshot.sizeGiB
            if !ok {
                found.append(.restorePVCStorage(found: pvc.storage, foundGiB: gib, unitless: !q.hasUnit,
                                                expected: expectedStorage))
            }
        } else {
            differ("resources.requests.storage", expectedStorage, pvc.storage)
        }
        if let ds = pvc.dataSource {
            if ds.kind != "VolumeSnapshot" { differ("dataSource.kind", "VolumeSnapshot", ds.kind) }
            if ds.apiGroup != EverestNames.snapshotGroup {
                differ("dataSource.apiGroup", EverestNames.snapshotGroup, ds.apiGroup)
            }
            if let wanted = volumeSnapshotName, ds.name != wanted { differ("dataSource.name", wanted, ds.name) }
        } else {
            differ("dataSource", "VolumeSnapshot \(volumeSnapshotName ?? snapshot.name)", nil)
        }
        return found
    }

    /// R10: throws the first difference found by `restorePVCMismatches`.
    public static func checkRestorePVC(
        _ pvc: RestorePVCShape, snapshot: Snapshot, volumeSnapshotName: String? = nil,
        storageClass: StorageClassFacts?, settings: RuleSettings = .default
    ) throws(EverestRuleViolation) {
        if let first = restorePVCMismatches(pvc, snapshot: snapshot, volumeSnapshotName: volumeSnapshotName,
                                            storageClass: storageClass, settings: settings).first {
            throw first
        }
    }
}
