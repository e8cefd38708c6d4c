import CSIMessages
import EVSSnapshotRules

/// Checks on CSI requests that come before any backend work: required fields, capabilities,
/// capacity ranges, topology and parameters. Throws `DriverError` or a rule violation.
enum RequestValidation {
    static let gib: Int64 = 1 << 30

    /// A required string field must be non-empty.
    static func require(_ value: String, _ field: String) throws(DriverError) {
        if value.isEmpty { throw .missingField(field) }
    }

    /// Single-node access modes: what an EVS disk offers (one server at a time).
    static let singleNodeModes: Set<CSI.VolumeCapability.AccessMode.Mode> = [
        .singleNodeWriter, .singleNodeReaderOnly, .singleNodeSingleWriter, .singleNodeMultiWriter,
    ]
    /// Multi-node access modes: only shared EVS disks offer them.
    static let multiNodeModes: Set<CSI.VolumeCapability.AccessMode.Mode> = [
        .multiNodeReaderOnly, .multiNodeSingleWriter, .multiNodeMultiWriter,
    ]

    /// Why `capability` cannot be offered by a disk with `sharing`, or nil when it can.
    static func capabilityProblem(_ capability: CSI.VolumeCapability, field: String, sharing: Sharing) -> String? {
        guard let accessType = capability.accessType else { return "\(field).access_type is required" }
        guard let mode = capability.accessMode?.mode else { return "\(field).access_mode is required" }
        if case .mount(let mount) = accessType, !mount.fsType.isEmpty, FileSystemType(rawValue: mount.fsType) == nil {
            return "\(field): file system \(mount.fsType) is not supported (ext4, xfs)"
        }
        if singleNodeModes.contains(mode) { return nil }
        if multiNodeModes.contains(mode) {
            return sharing.isShared ? nil : "\(field): access mode \(name(mode)) needs a shared disk (everest.io/disk-shared)"
        }
        return "\(field): access mode \(name(mode)) is not supported"
    }

    /// Every capability must be offered; `field` names the list in messages.
    static func validateCapabilities(
        _ capabilities: [CSI.VolumeCapability], field: String, sharing: Sharing
    ) throws(DriverError) {
        if capabilities.isEmpty { throw .missingField(field) }
        for (index, capability) in capabilities.enumerated() {
            if let problem = capabilityProblem(capability, field: "\(field)[\(index)]", sharing: sharing) {
                throw .unsupportedCapability(problem)
            }
        }
    }

    /// The zones a topology list names under the zone key, or under the older beta key CCE's PVs also carry
    /// (other segments are ignored).
    static func zones(_ topologies: [CSI.Topology]) -> [String] {
        var seen = Set<String>()
        return topologies
            .compactMap { $0.segments[DriverConfiguration.zoneTopologyKey] ?? $0.segments[EverestNames.zoneLabel] }
            .filter { seen.insert($0).inserted }
    }

    /// R12: the capacity range in whole GiB (`defaultGiB` when no bound is set); a negative bound, or a
    /// limit below the required bytes, is INVALID_ARGUMENT; a range no whole GiB fits is OUT_OF_RANGE.
    static func capacityGiB(_ range: CSI.CapacityRange?, defaultGiB: Int) throws -> Int {
        guard let range else { return defaultGiB }
        if range.requiredBytes < 0 || range.limitBytes < 0 {
            throw DriverError.invalidField(field: "capacity_range", reason: "bytes must not be negative")
        }
        if range.limitBytes > 0 && range.requiredBytes > range.limitBytes {
            throw DriverError.invalidField(
                field: "capacity_range",
                reason: "required_bytes \(range.requiredBytes) exceeds limit_bytes \(range.limitBytes)")
        }
        // Only a limit: the default size when it fits under the limit. For a restore the default is the
        // snapshot's size, the only one R8 accepts; taking the limit instead made a limit-only restore fail R8.
        if range.requiredBytes == 0, range.limitBytes > 0, Int64(defaultGiB) * gib <= range.limitBytes {
            return defaultGiB
        }
        return try EverestRules.capacityGiB(requiredBytes: range.requiredBytes, limitBytes: range.limitBytes,
                                            defaultGiB: defaultGiB)
    }

    /// The sidecars' metadata keys; all other `csi.storage.k8s.io/` keys are passed to the rules as is.
    static let pvcName = EverestNames.pvcNameParameter
    static let pvcNamespace = EverestNames.pvcNamespaceParameter
}

extension RequestValidation {
    /// The spec's enum name of an access mode, e.g. `MULTI_NODE_MULTI_WRITER`, for messages. (A free function, not
    /// a `CustomStringConvertible` conformance: conformances are process-wide and would change how CSIMessages
    /// prints the type everywhere.)
    static func name(_ mode: CSI.VolumeCapability.AccessMode.Mode) -> String {
        switch mode {
        case .unknown: "UNKNOWN"
        case .singleNodeWriter: "SINGLE_NODE_WRITER"
        case .singleNodeReaderOnly: "SINGLE_NODE_READER_ONLY"
        case .multiNodeReaderOnly: "MULTI_NODE_READER_ONLY"
        case .multiNodeSingleWriter: "MULTI_NODE_SINGLE_WRITER"
        case .multiNodeMultiWriter: "MULTI_NODE_MULTI_WRITER"
        case .singleNodeSingleWriter: "SINGLE_NODE_SINGLE_WRITER"
        case .singleNodeMultiWriter: "SINGLE_NODE_MULTI_WRITER"
        case .unrecognized(let raw): "mode \(raw)"
        }
    }
}
