import Testing
@testable import EVSSnapshotRules

/// The one codec of the published settings (the driver writes them on its CSIDriver object, the plugin reads them).
@Suite("Published rule settings")
struct RuleSettingsTests {
    @Test("settings read back through the one codec")
    func roundTrip() throws {
        let settings = RuleSettings(maxSnapshotsPerDisk: 12, capacityMatch: .atLeast,
                                    minimumClusterVersion: KubeVersion(major: 1, minor: 20), driverName: "evs.example.com",
                                    defaultSnapshotClass: "snapclass-x", defaultStorageClass: "csi-x")
        #expect(try RuleSettings.published(driverName: "evs.example.com", annotations: settings.publishedAnnotations) == settings)
        #expect(Set(settings.publishedAnnotations.keys) == Set(RuleSettings.PublishedKey.all))
        #expect(RuleSettings.default.publishedAnnotations["evssnap.io/max-snapshots-per-disk"] == "7")
    }

    @Test("no published key: nil (the defaults apply); some keys: the others keep their defaults")
    func absent() throws {
        #expect(try RuleSettings.published(driverName: "d", annotations: ["kubectl.kubernetes.io/last-applied-configuration": "{}"]) == nil)
        let partial = try RuleSettings.published(driverName: "d", annotations: ["evssnap.io/max-snapshots-per-disk": "3"])
        #expect(partial == RuleSettings(maxSnapshotsPerDisk: 3, driverName: "d"))
    }

    static let unreadable: [(String, String)] = [
        ("evssnap.io/max-snapshots-per-disk", "0"), ("evssnap.io/max-snapshots-per-disk", "seven"),
        ("evssnap.io/capacity-match", "bigger"), ("evssnap.io/minimum-cluster-version", "new"),
        ("evssnap.io/default-storage-class", ""),
    ]

    @Test("a value that cannot be read is an error naming the key and value, never a silent default", arguments: unreadable)
    func unreadableValue(key: String, value: String) {
        let error = #expect(throws: RuleSettingsDecodingError.self) {
            _ = try RuleSettings.published(driverName: "d", annotations: [key: value])
        }
        #expect(error?.key == key && error?.value == value)
        #expect(error?.description.hasPrefix("annotation \(key)='\(value)' is not") == true)
    }
}
