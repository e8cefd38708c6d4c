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

    /// A request's disk id: required, and in EVS's format. A malformed id names no disk: NOT_FOUND (csi-sanity
    /// sends ids like `fake-vol-id` and expects NOT_FOUND), and it never reaches the backend or a path.
    static func diskID(_ text: String, _ field: String) throws(DriverError) -> DiskID {
        try require(text, field)
        guard let id = DiskID(validating: text) else {
            throw .notFound(kind: "volume", id: EVSIdentifier.problem(text, kind: "disk"))
        }
        return id
    }

    /// A request's snapshot id: required, and in EVS's format; a malformed one is NOT_FOUND (see `diskID`).
    static func snapshotID(_ text: String, _ field: String) throws(DriverError) -> SnapshotID {
        try require(text, field)
        guard let id = SnapshotID(validating: text) else {
            throw .notFound(kind: "snapshot", id: EVSIdentifier.problem(text, kind: "snapshot"))
        }
        return id
    }

    /// A node path (staging or target): required, absolute and normalized: no empty, `.` or `..` component,
    /// no trailing `/`, no NUL, not `/` itself, at most PATH_MAX bytes. INVALID_ARGUMENT otherwise, so the
    /// node never mounts on or removes something a request named indirectly.
    static func nodePath(_ text: String, _ field: String) throws(DriverError) -> String {
        try require(text, field)
        if let problem = pathProblem(text) {
            throw .invalidField(field: field, reason: "\(EVSIdentifier.quoted(text)) \(problem)")
        }
        return text
    }

    /// A path a read-only or find call looks a volume up at (NodeGetVolumeStats, NodeExpandVolume): required
    /// (INVALID_ARGUMENT), and a malformed one shows no volume: NOT_FOUND (csi-sanity asks for `some/path`).
    static func lookupPath(_ text: String, _ field: String, volume: String) throws(DriverError) -> String {
        try require(text, field)
        if let problem = pathProblem(text) {
            throw .notFound(kind: "volume", id: "\(EVSIdentifier.quoted(volume)) at \(field) \(EVSIdentifier.quoted(text)): it \(problem)")
        }
        return text
    }

    /// Why `text` is not an absolute, normalized path, or nil.
    static func pathProblem(_ text: String) -> String? {
        if text.utf8.count > 4096 { return "is longer than PATH_MAX (4096 bytes)" }
        if text.utf8.contains(0) { return "contains a NUL byte" }
        guard text.hasPrefix("/") else { return "is not an absolute path" }
        if text == "/" { return "is the root directory" }
        for component in text.dropFirst().split(separator: "/", omittingEmptySubsequences: false) {
            if component.isEmpty { return "is not normalized (empty component or trailing /)" }
            if component == "." || component == ".." { return "is not normalized (has a '\(component)' component)" }
        }
        return nil
    }

    /// R12: the capacity range in whole GiB (`defaultGiB` when no bound is set); a negative bound, or a
    /// limit below the required bytes, is INVALID_ARGUMENT; a range no whole GiB fits is OUT_OF_RANGE.
    /// Every int64 is answered without arithmetic overflow; messages carry the request's values.
    static func capacityGiB(_ range: CSI.CapacityRange?, defaultGiB: Int) throws -> Int {
        guard let range else { return defaultGiB }
        if range.requiredBytes < 0 || range.limitBytes < 0 {
            throw DriverError.invalidField(
                field: "capacity_range",
                reason: "bytes must not be negative (required_bytes \(range.requiredBytes), limit_bytes \(range.limitBytes))")
        }
        if range.limitBytes > 0 && range.requiredBytes > range.limitBytes {
            throw DriverError.invalidField(
                field: "capacity_range",
                reason: "required_bytes \(range.requiredBytes) exceeds limit_bytes \(range.limitBytes)")
        }
        // Only a limit: the default size when it fits under the limit. For a restore the default is the
        // snapshot's size, the only one R8 accepts; taking the limit instead made a limit-only restore fail R8.
        if range.requiredBytes == 0, range.limitBytes > 0, defaultGiB > 0, Int64(defaultGiB) <= range.limitBytes / gib {
            return defaultGiB
        }
        do {
            return try EverestRules.capacityGiB(requiredBytes: range.requiredBytes, limitBytes: range.limitBytes,
                                                defaultGiB: defaultGiB)
        } catch {  // the rules throw only EverestRuleViolation (typed throws)
            throw DriverError.capacityOutOfRange(
                "\(error.message) (capacity_range required_bytes \(range.requiredBytes), limit_bytes \(range.limitBytes))")
        }
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
