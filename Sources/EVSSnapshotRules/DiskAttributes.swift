// A disk's attributes from StorageClass parameters and PVC annotations
// (EVEREST.md "Where a disk's attributes come from"): annotation > parameter > default.

/// The attributes a new disk is created with.
public struct DiskAttributes: Sendable, Hashable, Codable {
    /// Sub-type (default SAS).
    public var type: VolumeType
    /// VBD (default) or SCSI.
    public var mode: DiskMode
    /// Plain (default) or KMS.
    public var encryption: Encryption
    /// Non-shared (default) or shared.
    public var sharing: Sharing
    /// ext4 (default) or xfs.
    public var fsType: FileSystemType
    /// Provisioned IOPS (GPSSD2).
    public var iops: Int?
    /// Provisioned throughput in MiB/s (GPSSD2).
    public var throughput: Int?
    /// `everest.io/disk-volume-tags` as given.
    public var tags: String?

    /// Creates attributes; defaults are Everest's.
    public init(type: VolumeType = .sas, mode: DiskMode = .vbd, encryption: Encryption = .plain,
                sharing: Sharing = .nonShared, fsType: FileSystemType = .ext4, iops: Int? = nil,
                throughput: Int? = nil, tags: String? = nil) {
        self.type = type; self.mode = mode; self.encryption = encryption; self.sharing = sharing
        self.fsType = fsType; self.iops = iops; self.throughput = throughput; self.tags = tags
    }

    /// The `everest.io/*` keys Everest knows.
    public static let knownEverestKeys: Set<String> = [
        EverestNames.diskVolumeType, EverestNames.passthrough, EverestNames.cryptKeyID,
        EverestNames.diskVolumeTags, EverestNames.diskIOPS, EverestNames.diskThroughput,
        EverestNames.diskMode, EverestNames.diskShared,
    ]

    /// Builds the attributes from StorageClass `parameters` and PVC `annotations`. For each key the annotation
    /// wins over the parameter, which wins over the default. Unknown `everest.io/*` keys are refused in
    /// parameters; in annotations only known keys are read (PVCs carry other tools' annotations, and an
    /// unknown `everest.io/*` annotation is refused too). Other keys (e.g. `csi.storage.k8s.io/*`) are ignored.
    /// `mutableParameters` (CreateVolume's, from a VolumeAttributesClass) are checked by
    /// `EverestRules.checkMutableParameters` against the type the rest states, and take precedence over
    /// parameters and annotations, as the CSI spec requires of `mutable_parameters`.
    /// Refuses: unknown type, SATA (not creatable), GPSSD2 without iops and throughput, bad numbers, bad fstype.
    public init(parameters: [String: String], annotations: [String: String] = [:],
                mutableParameters: [String: String] = [:]) throws(EverestRuleViolation) {
        for key in (parameters.keys.sorted() + annotations.keys.sorted())
        where key.hasPrefix(EverestNames.everestPrefix) && !Self.knownEverestKeys.contains(key) {
            throw .unknownParameter(key: key)
        }
        func value(_ key: String) -> String? { annotations[key] ?? parameters[key] }

        var attributes = DiskAttributes()
        if let text = value(EverestNames.diskVolumeType) {
            guard let type = VolumeType(parameter: text) else {
                throw .invalidParameter(key: EverestNames.diskVolumeType, value: text)
            }
            guard type.isCreatable else { throw .typeNotCreatable(type) }
            attributes.type = type
        }
        // Mode: `passthrough: "true"` (StorageClass/PVC form) or `disk-mode: SCSI` (PV attribute form).
        if let text = value(EverestNames.diskMode) {
            guard let mode = DiskMode(rawValue: text.uppercased()) else {
                throw .invalidParameter(key: EverestNames.diskMode, value: text)
            }
            attributes.mode = mode
        }
        if let text = value(EverestNames.passthrough) {
            switch text.lowercased() {
            case "true": attributes.mode = .scsi
            case "false": attributes.mode = .vbd
            default: throw .invalidParameter(key: EverestNames.passthrough, value: text)
            }
        }
        attributes.encryption = Encryption(cryptKeyID: value(EverestNames.cryptKeyID))
        if let text = value(EverestNames.diskShared) {
            switch text.lowercased() {
            case "true": attributes.sharing = .shared
            case "false": attributes.sharing = .nonShared
            default: throw .invalidParameter(key: EverestNames.diskShared, value: text)
            }
        }
        if let text = value(EverestNames.fsType) {
            guard let fs = FileSystemType(rawValue: text) else { throw .invalidParameter(key: EverestNames.fsType, value: text) }
            attributes.fsType = fs
        }
        for key in [EverestNames.diskIOPS, EverestNames.diskThroughput] {
            guard let text = value(key) else { continue }
            let number = try Self.performanceValue(key: key, text: text)
            if key == EverestNames.diskIOPS { attributes.iops = number } else { attributes.throughput = number }
        }
        let change = try EverestRules.checkMutableParameters(mutableParameters, diskType: attributes.type)
        if let iops = change.iops { attributes.iops = iops }
        if let throughput = change.throughput { attributes.throughput = throughput }
        if attributes.type.requiresProvisionedPerformance {
            if attributes.iops == nil { throw .missingParameter(key: EverestNames.diskIOPS, type: attributes.type) }
            if attributes.throughput == nil {
                throw .missingParameter(key: EverestNames.diskThroughput, type: attributes.type)
            }
        }
        attributes.tags = value(EverestNames.diskVolumeTags)
        self = attributes
    }

    /// The value of `everest.io/disk-iops` or `everest.io/disk-throughput`: a positive whole number, else
    /// `invalidParameter`. The one parser of both, at creation and in a modification.
    public static func performanceValue(key: String, text: String) throws(EverestRuleViolation) -> Int {
        guard let number = Int(text), number > 0 else { throw .invalidParameter(key: key, value: text) }
        return number
    }

    /// The provisioned performance that PVC `annotations` and StorageClass `parameters` state (annotation wins),
    /// nil where neither does: what a restored GPSSD2 disk is made with (R8 compares type, mode, encryption, sharing
    /// and capacity with the source, not performance, which EVS sets per disk).
    public static func statedPerformance(parameters: [String: String], annotations: [String: String] = [:])
        throws(EverestRuleViolation) -> PerformanceChange {
        var stated = PerformanceChange()
        if let text = annotations[EverestNames.diskIOPS] ?? parameters[EverestNames.diskIOPS] {
            stated.iops = try performanceValue(key: EverestNames.diskIOPS, text: text)
        }
        if let text = annotations[EverestNames.diskThroughput] ?? parameters[EverestNames.diskThroughput] {
            stated.throughput = try performanceValue(key: EverestNames.diskThroughput, text: text)
        }
        return stated
    }

    /// The restore request these attributes state, for R8 (every attribute stated).
    public func restoreRequest(name: String, capacityGiB: Int, allowedZones: [String] = []) -> RestoreRequest {
        RestoreRequest(name: name, capacityGiB: capacityGiB, type: type, mode: mode, encryption: encryption,
                       sharing: sharing, fsType: fsType, allowedZones: allowedZones)
    }

    /// R8: the restore request that StorageClass `parameters` and PVC `annotations` state, leaving nil every
    /// attribute that neither states (so the source's value is used instead of Everest's default).
    /// Validates the keys and values like `init(parameters:annotations:)`, except that GPSSD2's iops and
    /// throughput are not required (a restore inherits the source's performance).
    public static func restoreRequest(
        parameters: [String: String], annotations: [String: String] = [:], name: String, capacityGiB: Int,
        allowedZones: [String] = []
    ) throws(EverestRuleViolation) -> RestoreRequest {
        var request = RestoreRequest(name: name, capacityGiB: capacityGiB, allowedZones: allowedZones)
        var merged = parameters.merging(annotations) { _, annotation in annotation }
        // Parse with a placeholder for GPSSD2's performance so only the stated keys matter.
        if VolumeType(parameter: merged[EverestNames.diskVolumeType] ?? "")?.requiresProvisionedPerformance == true {
            if merged[EverestNames.diskIOPS] == nil { merged[EverestNames.diskIOPS] = "1" }
            if merged[EverestNames.diskThroughput] == nil { merged[EverestNames.diskThroughput] = "1" }
        }
        let parsed = try DiskAttributes(parameters: merged)
        if merged[EverestNames.diskVolumeType] != nil { request.type = parsed.type }
        if merged[EverestNames.passthrough] != nil || merged[EverestNames.diskMode] != nil { request.mode = parsed.mode }
        if merged[EverestNames.cryptKeyID] != nil { request.encryption = parsed.encryption }
        if merged[EverestNames.diskShared] != nil { request.sharing = parsed.sharing }
        if merged[EverestNames.fsType] != nil { request.fsType = parsed.fsType }
        return request
    }
}
