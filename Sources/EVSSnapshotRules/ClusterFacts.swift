// Plain inputs for the rules that check cluster facts (R1, R2, R3), so the plugin can feed them from the API.

/// A Kubernetes major.minor version (R1).
public struct KubeVersion: Sendable, Hashable, Codable, Comparable, CustomStringConvertible {
    /// Major version, 1 for every Kubernetes so far.
    public var major: Int
    /// Minor version.
    public var minor: Int
    /// Creates a version.
    public init(major: Int, minor: Int) { self.major = major; self.minor = minor }

    /// Parses a `gitVersion` such as `v1.36.2` or `v1.15.3-eks-1`; nil when unreadable.
    public init?(gitVersion: String) {
        var text = Substring(gitVersion)
        if text.first == "v" || text.first == "V" { text = text.dropFirst() }
        let parts = text.split(separator: ".", maxSplits: 2, omittingEmptySubsequences: false)
        guard parts.count >= 2, let major = Int(parts[0]) else { return nil }
        let minorDigits = parts[1].prefix(while: { $0.isASCII && $0.isNumber })
        guard !minorDigits.isEmpty, let minor = Int(minorDigits) else { return nil }
        self.init(major: major, minor: minor)
    }

    /// Parses the `major` and `minor` fields of `/version` (`"1"`, `"15+"`); nil when unreadable.
    public init?(major: String, minor: String) {
        let majorDigits = major.prefix(while: { $0.isASCII && $0.isNumber })
        let minorDigits = minor.prefix(while: { $0.isASCII && $0.isNumber })
        guard !majorDigits.isEmpty, !minorDigits.isEmpty, let ma = Int(majorDigits), let mi = Int(minorDigits) else {
            return nil
        }
        self.init(major: ma, minor: mi)
    }

    /// Orders by major, then minor.
    public static func < (lhs: KubeVersion, rhs: KubeVersion) -> Bool {
        (lhs.major, lhs.minor) < (rhs.major, rhs.minor)
    }
    /// `v1.15`.
    public var description: String { "v\(major).\(minor)" }
}

/// A VolumeSnapshotClass as R2 needs it.
public struct SnapshotClassInfo: Sendable, Hashable, Codable {
    /// Class name.
    public var name: String
    /// Its `driver` field.
    public var driver: String
    /// Creates the record.
    public init(name: String, driver: String) { self.name = name; self.driver = driver }
}

/// What R3 and R4 need to know about a PVC and its PV.
public struct PVCFacts: Sendable, Hashable, Codable {
    /// PVC name (`namespace/name` or just the name, as the caller prefers for messages).
    public var name: String
    /// PVC `status.phase` (`Bound`, `Pending`, `Lost`).
    public var phase: String
    /// `spec.storageClassName`, if any.
    public var storageClassName: String?
    /// Bound PV name (`spec.volumeName`), if any.
    public var volumeName: String?
    /// The PV's `spec.csi.driver`, if the PV is a CSI volume.
    public var csiDriver: String?
    /// The PV's `spec.flexVolume.driver`, if the PV is a FlexVolume volume.
    public var flexVolumeDriver: String?

    /// Creates the record.
    public init(name: String, phase: String = "Bound", storageClassName: String? = nil, volumeName: String? = nil,
                csiDriver: String? = nil, flexVolumeDriver: String? = nil) {
        self.name = name; self.phase = phase; self.storageClassName = storageClassName; self.volumeName = volumeName
        self.csiDriver = csiDriver; self.flexVolumeDriver = flexVolumeDriver
    }

    /// R3: CSI or FlexVolume, when known from the PV (FlexVolume also from the class name).
    public var storageFormat: StorageFormat? {
        if csiDriver != nil { return .csi }
        if flexVolumeDriver != nil { return .flexVolume }
        if let sc = storageClassName, EverestNames.flexVolumeClasses.contains(sc) { return .flexVolume }
        return nil
    }
}
