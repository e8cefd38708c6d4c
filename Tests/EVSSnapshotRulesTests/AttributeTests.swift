import Testing
@testable import EVSSnapshotRules

/// EVEREST.md "Where a disk's attributes come from": annotation > parameter > default.
@Suite("Disk attributes")
struct AttributeTests {
    @Test("defaults: SAS, VBD, plain, non-shared, ext4")
    func defaults() throws {
        #expect(try DiskAttributes(parameters: [:]) == DiskAttributes(type: .sas, mode: .vbd, encryption: .plain,
                                                                      sharing: .nonShared, fsType: .ext4))
    }

    /// (parameter, annotation, resulting type)
    static let typePrecedence: [(String?, String?, VolumeType)] = [
        (nil, nil, .sas), ("SSD", nil, .ssd), (nil, "GPSSD", .gpssd), ("SAS", "SSD", .ssd), ("ESSD", "SAS", .sas),
    ]

    @Test("R8/R10 precedence: annotation > parameter > default (disk type)", arguments: typePrecedence)
    func precedence(parameter: String?, annotation: String?, expected: VolumeType) throws {
        var params: [String: String] = [:]
        var annotations: [String: String] = [:]
        params[EverestNames.diskVolumeType] = parameter
        annotations[EverestNames.diskVolumeType] = annotation
        #expect(try DiskAttributes(parameters: params, annotations: annotations).type == expected)
    }

    @Test("precedence for mode, encryption and fstype")
    func otherPrecedence() throws {
        let a = try DiskAttributes(
            parameters: ["everest.io/passthrough": "false", "everest.io/crypt-key-id": "k-param",
                         "csi.storage.k8s.io/fstype": "ext4"],
            annotations: ["everest.io/passthrough": "true", "everest.io/crypt-key-id": "k-annot",
                          "csi.storage.k8s.io/fstype": "xfs"])
        #expect(a.mode == .scsi)
        #expect(a.encryption == .kms(keyID: "k-annot"))
        #expect(a.fsType == .xfs)
        #expect(try DiskAttributes(parameters: ["everest.io/disk-mode": "SCSI"]).mode == .scsi)
    }

    static let refused: [([String: String], EverestRuleViolation)] = [
        (["everest.io/disk-volume-typo": "SSD"], .unknownParameter(key: "everest.io/disk-volume-typo")),
        (["everest.io/disk-volume-type": "FAST"], .invalidParameter(key: "everest.io/disk-volume-type", value: "FAST")),
        (["everest.io/disk-volume-type": "SATA"], .typeNotCreatable(.sata)),
        (["everest.io/disk-volume-type": "GPSSD2"], .missingParameter(key: "everest.io/disk-iops", type: .gpssd2)),
        (["everest.io/disk-volume-type": "GPSSD2", "everest.io/disk-iops": "3000"],
         .missingParameter(key: "everest.io/disk-throughput", type: .gpssd2)),
        (["everest.io/disk-iops": "many"], .invalidParameter(key: "everest.io/disk-iops", value: "many")),
        (["csi.storage.k8s.io/fstype": "btrfs"], .invalidParameter(key: "csi.storage.k8s.io/fstype", value: "btrfs")),
        (["everest.io/passthrough": "yes"], .invalidParameter(key: "everest.io/passthrough", value: "yes")),
    ]

    @Test("bad parameters are refused", arguments: refused)
    func refusedParameters(parameters: [String: String], expected: EverestRuleViolation) {
        #expect(Fixture.throwsViolation { _ = try DiskAttributes(parameters: parameters) } == expected)
    }

    @Test("GPSSD2 with iops and throughput accepted; unrelated keys ignored")
    func gpssd2() throws {
        let a = try DiskAttributes(parameters: ["everest.io/disk-volume-type": "GPSSD2", "everest.io/disk-iops": "3000",
                                                "everest.io/disk-throughput": "125",
                                                "csi.storage.k8s.io/pvc/name": "p", "other.io/x": "y"])
        #expect(a.type == .gpssd2 && a.iops == 3000 && a.throughput == 125)
    }

    @Test("an unknown everest.io annotation on the PVC is refused too")
    func unknownAnnotation() {
        #expect(Fixture.throwsViolation { _ = try DiskAttributes(parameters: [:], annotations: ["everest.io/bogus": "1"] ) }
                == .unknownParameter(key: "everest.io/bogus"))
    }

    @Test("R8: the seed's restore (annotation SSD over class parameter SAS) matches an SSD source")
    func seedRestore() throws {
        let request = try DiskAttributes.restoreRequest(
            parameters: ["everest.io/disk-volume-type": "SAS"], annotations: ["everest.io/disk-volume-type": "SSD"],
            name: "pvc-test", capacityGiB: 10)
        #expect(request.type == .ssd && request.mode == nil && request.encryption == nil)
        #expect(EverestRules.restoreMismatches(request, snapshot: Fixture.snapshot).isEmpty)
        // Without the annotation the class's SAS is stated, and R8 refuses it.
        let classOnly = try DiskAttributes.restoreRequest(parameters: ["everest.io/disk-volume-type": "SAS"],
                                                          name: "pvc-test", capacityGiB: 10)
        #expect(EverestRules.restoreMismatches(classOnly, snapshot: Fixture.snapshot)
                == [.typeDiffers(requested: .sas, source: .ssd, disk: "d-1a2b")])
    }

    @Test("value types parse the Everest strings")
    func parsing() {
        #expect(VolumeType(parameter: "GPSSD2") == .gpssd2)
        #expect(VolumeType(parameter: "ssd") == nil)
        #expect(!VolumeType.sata.isCreatable && VolumeType.sas.isCreatable)
        #expect(DiskMode(passthrough: "true") == .scsi && DiskMode(passthrough: nil) == .vbd)
        #expect(Encryption(cryptKeyID: "") == .plain && Encryption(cryptKeyID: "k").isEncrypted)
        #expect(DiskStatus(rawValue: "in-use") == .inUse)
        #expect(SnapshotStatus(rawValue: "error_deleting") == .errorDeleting)
        #expect(SnapshotStatus(rawValue: "backing-up") == .backingUp)
        #expect(Set(SnapshotStatus.allCases.map(\.rawValue)) ==
                ["creating", "available", "error", "deleting", "error_deleting", "rollbacking", "backing-up"])
        #expect(Set(DiskStatus.allCases.map(\.rawValue)) ==
                ["creating", "available", "in-use", "attaching", "detaching", "extending", "deleting", "error"])
    }
}
