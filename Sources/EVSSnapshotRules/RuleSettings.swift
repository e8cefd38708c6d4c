// The tunable parts of the rules, and the one codec both programs use to share them: the driver publishes
// its effective settings as annotations on its CSIDriver object, the plugin reads them from there
// (docs/rules.md "Settings"). Absent annotations mean EVEREST.md's defaults.

/// How a restored disk's capacity must relate to its source's (R8).
public enum CapacityMatch: String, Sendable, Hashable, Codable, CaseIterable {
    /// Equal to the source capacity (CCE; the default).
    case equal
    /// At least the source capacity (what EVS itself allows).
    case atLeast = "at-least"
}

/// The tunable parts of the rules. Defaults follow EVEREST.md.
public struct RuleSettings: Sendable, Hashable, Codable {
    /// R5: most snapshots one disk may have.
    public var maxSnapshotsPerDisk: Int
    /// R8: capacity rule for restores.
    public var capacityMatch: CapacityMatch
    /// R1: oldest supported cluster version.
    public var minimumClusterVersion: KubeVersion
    /// R2/R3: the CSI driver name.
    public var driverName: String
    /// R2: VolumeSnapshotClass used when the user names none.
    public var defaultSnapshotClass: String
    /// R10: StorageClass of restore PVCs when the user names none.
    public var defaultStorageClass: String

    /// Creates settings; every argument defaults to EVEREST.md's value.
    public init(
        maxSnapshotsPerDisk: Int = 7,
        capacityMatch: CapacityMatch = .equal,
        minimumClusterVersion: KubeVersion = KubeVersion(major: 1, minor: 15),
        driverName: String = EverestNames.driverName,
        defaultSnapshotClass: String = EverestNames.snapshotClass,
        defaultStorageClass: String = EverestNames.storageClass
    ) {
        self.maxSnapshotsPerDisk = maxSnapshotsPerDisk
        self.capacityMatch = capacityMatch
        self.minimumClusterVersion = minimumClusterVersion
        self.driverName = driverName
        self.defaultSnapshotClass = defaultSnapshotClass
        self.defaultStorageClass = defaultStorageClass
    }

    /// EVEREST.md's defaults.
    public static let `default` = RuleSettings()
}

// MARK: - Published settings

/// A published setting that cannot be read: the annotation's key and value, and what was expected.
public struct RuleSettingsDecodingError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The annotation key.
    public var key: String
    /// Its value as found.
    public var value: String
    /// What a valid value looks like.
    public var expected: String
    /// Creates the error.
    public init(key: String, value: String, expected: String) { self.key = key; self.value = value; self.expected = expected }
    /// `annotation evssnap.io/max-snapshots-per-disk='x' is not a whole number ≥ 1`.
    public var description: String { "annotation \(key)='\(value)' is not \(expected)" }
}

extension RuleSettings {
    /// The annotation keys of the published settings, on the CSIDriver object named `driverName`.
    /// The driver name itself is the object's name, so it is not repeated.
    public enum PublishedKey {
        /// R5 `maxSnapshotsPerDisk`, a whole number ≥ 1.
        public static let maxSnapshotsPerDisk = "evssnap.io/max-snapshots-per-disk"
        /// R8 `capacityMatch`: `equal` or `at-least`.
        public static let capacityMatch = "evssnap.io/capacity-match"
        /// R1 `minimumClusterVersion`: `v1.15`.
        public static let minimumClusterVersion = "evssnap.io/minimum-cluster-version"
        /// R2 `defaultSnapshotClass`.
        public static let defaultSnapshotClass = "evssnap.io/default-snapshot-class"
        /// R10 `defaultStorageClass`.
        public static let defaultStorageClass = "evssnap.io/default-storage-class"
        /// Every key, in the order `publishedAnnotations` lists them.
        public static let all = [maxSnapshotsPerDisk, capacityMatch, minimumClusterVersion, defaultSnapshotClass,
                                 defaultStorageClass]
    }

    /// The settings as annotations of the driver's CSIDriver object (every key of `PublishedKey`).
    public var publishedAnnotations: [String: String] {
        [
            PublishedKey.maxSnapshotsPerDisk: String(maxSnapshotsPerDisk),
            PublishedKey.capacityMatch: capacityMatch.rawValue,
            PublishedKey.minimumClusterVersion: minimumClusterVersion.description,
            PublishedKey.defaultSnapshotClass: defaultSnapshotClass,
            PublishedKey.defaultStorageClass: defaultStorageClass,
        ]
    }

    /// The settings the driver `driverName` published in its CSIDriver object's `annotations`. A key that is
    /// absent keeps EVEREST.md's default (a driver that publishes nothing runs with the defaults); other
    /// annotations are ignored; a value that cannot be read is an error, never silently a default.
    public init(driverName: String, publishedAnnotations annotations: [String: String])
        throws(RuleSettingsDecodingError) {
        self.init(driverName: driverName)
        if let text = annotations[PublishedKey.maxSnapshotsPerDisk] {
            guard let value = Int(text), value >= 1 else {
                throw RuleSettingsDecodingError(key: PublishedKey.maxSnapshotsPerDisk, value: text, expected: "a whole number ≥ 1")
            }
            maxSnapshotsPerDisk = value
        }
        if let text = annotations[PublishedKey.capacityMatch] {
            guard let value = CapacityMatch(rawValue: text) else {
                throw RuleSettingsDecodingError(
                    key: PublishedKey.capacityMatch, value: text,
                    expected: CapacityMatch.allCases.map(\.rawValue).joined(separator: " or "))
            }
            capacityMatch = value
        }
        if let text = annotations[PublishedKey.minimumClusterVersion] {
            guard let value = KubeVersion(gitVersion: text) else {
                throw RuleSettingsDecodingError(key: PublishedKey.minimumClusterVersion, value: text, expected: "a version such as v1.15")
            }
            minimumClusterVersion = value
        }
        for (key, path) in [(PublishedKey.defaultSnapshotClass, \RuleSettings.defaultSnapshotClass),
                            (PublishedKey.defaultStorageClass, \RuleSettings.defaultStorageClass)] {
            guard let text = annotations[key] else { continue }
            guard !text.isEmpty else { throw RuleSettingsDecodingError(key: key, value: text, expected: "a class name") }
            self[keyPath: path] = text
        }
    }
}

extension RuleSettings {
    /// The settings the driver `driverName` published, or nil when its annotations hold none of the keys (a
    /// driver that does not publish: EVEREST.md's defaults apply). Throws for a value that cannot be read.
    public static func published(driverName: String, annotations: [String: String])
        throws(RuleSettingsDecodingError) -> RuleSettings? {
        guard PublishedKey.all.contains(where: { annotations[$0] != nil }) else { return nil }
        return try RuleSettings(driverName: driverName, publishedAnnotations: annotations)
    }
}
