// What may change on a disk after it is made (ControllerModifyVolume; a VolumeAttributesClass at creation):
// GPSSD2's provisioned iops and throughput, which EVS changes in place ("ModifyVolumeQoS"). A disk's type,
// mode, encryption and sharing are fixed at creation (R8's wording in EVEREST.md).

/// A validated change of a disk's provisioned performance. A nil field is left as it is.
public struct PerformanceChange: Sendable, Hashable, Codable {
    /// New provisioned IOPS, or nil to keep the disk's.
    public var iops: Int?
    /// New provisioned throughput in MiB/s, or nil to keep the disk's.
    public var throughput: Int?

    /// Creates a change; both fields default to "keep".
    public init(iops: Int? = nil, throughput: Int? = nil) { self.iops = iops; self.throughput = throughput }

    /// True when it changes nothing (an empty set of mutable parameters).
    public var isEmpty: Bool { iops == nil && throughput == nil }

    /// Whether `disk` already has what this change asks for (the modification is then a no-op).
    public func isSatisfied(by disk: Disk) -> Bool {
        (iops == nil || iops == disk.iops) && (throughput == nil || throughput == disk.throughput)
    }
}

extension EverestRules {
    /// The one check of mutable parameters, for ControllerModifyVolume and CreateVolume's `mutable_parameters`.
    /// An empty map is no change. Otherwise every key must be one of `EverestNames.mutableParameterKeys`
    /// (an Everest attribute fixed at creation is refused with R8, any other key as no attribute at all), the disk
    /// must be of a type with provisioned performance (GPSSD2), and each value is read as at creation
    /// (`DiskAttributes.performanceValue`). `disk` only names the disk in the message.
    public static func checkMutableParameters(_ parameters: [String: String], diskType: VolumeType,
                                              disk: DiskID? = nil) throws(EverestRuleViolation) -> PerformanceChange {
        if parameters.isEmpty { return PerformanceChange() }
        let accepted = EverestNames.mutableParameterKeys
        for key in parameters.keys.sorted() where !accepted.contains(key) {
            if DiskAttributes.knownEverestKeys.contains(key) || key == EverestNames.fsType {
                throw .parameterFixedAtCreation(key: key, accepted: accepted)                              // R8
            }
            throw .parameterNotMutable(key: key, accepted: accepted)
        }
        guard diskType.requiresProvisionedPerformance else {
            throw .performanceNotProvisioned(type: diskType, disk: disk)
        }
        var change = PerformanceChange()
        if let text = parameters[EverestNames.diskIOPS] {
            change.iops = try DiskAttributes.performanceValue(key: EverestNames.diskIOPS, text: text)
        }
        if let text = parameters[EverestNames.diskThroughput] {
            change.throughput = try DiskAttributes.performanceValue(key: EverestNames.diskThroughput, text: text)
        }
        return change
    }

    /// The same check for a change already read, against the disk it is for (what a backend runs before it
    /// changes anything): a change of performance needs a disk type that has it.
    public static func checkPerformanceChange(_ change: PerformanceChange, on disk: Disk) throws(EverestRuleViolation) {
        if !change.isEmpty && !disk.type.requiresProvisionedPerformance {
            throw .performanceNotProvisioned(type: disk.type, disk: disk.id)
        }
    }
}
