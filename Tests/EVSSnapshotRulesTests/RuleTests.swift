import Foundation
import Testing
@testable import EVSSnapshotRules

private typealias R = EverestRules
func violation(_ body: () throws -> Void) -> EverestRuleViolation? {
    Fixture.throwsViolation(body)
}

@Suite("R1 cluster version")
struct R1Tests {
    static let gitVersions: [(String, Bool)] = [
        ("v1.36.2", true), ("v1.15.3-eks-1", true), ("v1.15.0", true), ("v1.14.10", false), ("v1.9.0", false),
        ("v2.0.0", true), ("1.20.1", true),
    ]

    @Test("R1: gitVersion accepted from v1.15", arguments: gitVersions)
    func gitVersion(text: String, accepted: Bool) {
        let v = violation { _ = try R.checkClusterVersion(gitVersion: text) }
        #expect((v == nil) == accepted)
        if let v { #expect(v.rule == .r1 && v.kind == .stateConflict) }
    }

    static let majorMinorFields: [(String, String, Bool)] = [("1", "15+", true), ("1", "15", true), ("1", "14+", false),
                                                       ("1", "36", true)]

    @Test("R1: major/minor fields, including \"15+\"", arguments: majorMinorFields)
    func majorMinor(major: String, minor: String, accepted: Bool) {
        #expect((violation { _ = try R.checkClusterVersion(major: major, minor: minor) } == nil) == accepted)
    }

    @Test("R1: unreadable version refused", arguments: ["", "vX.Y", "v1", "latest"])
    func unreadable(text: String) {
        #expect(violation { _ = try R.checkClusterVersion(gitVersion: text) } == .clusterVersionUnreadable(text))
    }

    @Test("R1: parsed versions")
    func parsed() {
        #expect(KubeVersion(gitVersion: "v1.15.3-eks-1") == KubeVersion(major: 1, minor: 15))
        #expect(KubeVersion(major: "1", minor: "15+") == KubeVersion(major: 1, minor: 15))
        #expect(KubeVersion(gitVersion: "v1.36.2")?.description == "v1.36")
    }
}

@Suite("R2 Everest CSI present")
struct R2Tests {
    let drivers = ["disk.csi.everest.io", "other.csi.io"]
    let snapClass = SnapshotClassInfo(name: "csi-disk-snapclass", driver: "disk.csi.everest.io")

    @Test("R2: driver, v1 group and bound class accepted; v1 preferred, v1beta1 on old clusters")
    func accepted() throws {
        #expect(try R.checkEverestPresent(registeredDrivers: drivers, servedSnapshotVersions: ["v1", "v1beta1"],
                                          snapshotClass: snapClass) == "v1")
        #expect(try R.checkEverestPresent(registeredDrivers: drivers, servedSnapshotVersions: ["v1beta1"],
                                          snapshotClass: snapClass) == "v1beta1")
    }

    @Test("R2: driver not registered refused")
    func noDriver() {
        let v = violation { _ = try R.checkEverestPresent(registeredDrivers: ["other.csi.io"],
                                                          servedSnapshotVersions: ["v1"], snapshotClass: snapClass) }
        #expect(v == .driverNotRegistered(driver: "disk.csi.everest.io"))
    }

    @Test("R2: snapshot group not served refused")
    func noGroup() {
        let v = violation { _ = try R.checkEverestPresent(registeredDrivers: drivers, servedSnapshotVersions: [],
                                                          snapshotClass: snapClass) }
        #expect(v == .snapshotAPINotServed(group: "snapshot.storage.k8s.io", served: []))
    }

    @Test("R2: snapshot class missing or bound to another driver refused")
    func classProblems() {
        let missing = violation { _ = try R.checkEverestPresent(registeredDrivers: drivers, servedSnapshotVersions: ["v1"],
                                                                snapshotClass: nil, className: "my-class") }
        #expect(missing == .snapshotClassMissing(name: "my-class"))
        let wrong = violation {
            _ = try R.checkEverestPresent(registeredDrivers: drivers, servedSnapshotVersions: ["v1"],
                                          snapshotClass: SnapshotClassInfo(name: "csi-disk-snapclass", driver: "other.csi.io"))
        }
        #expect(wrong == .snapshotClassWrongDriver(name: "csi-disk-snapclass", driver: "other.csi.io",
                                                   expected: "disk.csi.everest.io"))
    }

    @Test("R2: a custom driver name from settings")
    func customDriver() throws {
        let settings = RuleSettings(driverName: "evs.example")
        #expect(try R.checkEverestPresent(registeredDrivers: ["evs.example"], servedSnapshotVersions: ["v1"],
                                          snapshotClass: SnapshotClassInfo(name: "c", driver: "evs.example"),
                                          settings: settings) == "v1")
    }
}

@Suite("R3 EVS PVCs only")
struct R3Tests {
    static let cases: [(PVCFacts, EverestRuleViolation?)] = [
        (PVCFacts(name: "a", storageClassName: "csi-disk", volumeName: "pv-a", csiDriver: "disk.csi.everest.io"), nil),
        (PVCFacts(name: "b", storageClassName: "csi-disk-topology", volumeName: "pv-b", csiDriver: "disk.csi.everest.io"), nil),
        (PVCFacts(name: "c", storageClassName: "my-evs", volumeName: "pv-c", csiDriver: "disk.csi.everest.io"),
         .notCSIStorageClass(pvc: "c", storageClass: "my-evs")),
        (PVCFacts(name: "c2", storageClassName: "", volumeName: "pv-c2", csiDriver: "disk.csi.everest.io"), nil),
        (PVCFacts(name: "c3", volumeName: "pv-c3", csiDriver: "disk.csi.everest.io"), nil),
        (PVCFacts(name: "d", storageClassName: "sas", volumeName: "pv-d", flexVolumeDriver: "huawei.com/fuxivol"),
         .flexVolumePVC(pvc: "d", storageClass: "sas")),
        (PVCFacts(name: "e", storageClassName: "ssd", volumeName: "pv-e"), .flexVolumePVC(pvc: "e", storageClass: "ssd")),
        (PVCFacts(name: "f", storageClassName: "csi-nas", volumeName: "pv-f", csiDriver: "nas.csi.everest.io"),
         .otherDriver(pvc: "f", driver: "nas.csi.everest.io", expected: "disk.csi.everest.io")),
        (PVCFacts(name: "g", storageClassName: "local", volumeName: "pv-g"), .notCSIVolume(pvc: "g")),
        (PVCFacts(name: "h", phase: "Pending", storageClassName: "csi-disk"), .pvcHasNoVolume(pvc: "h")),
    ]

    @Test("R3: only PVs of the Everest CSI driver, from csi* classes (or none: a static PV)", arguments: cases)
    func evsOnly(pvc: PVCFacts, expected: EverestRuleViolation?) {
        #expect(violation { try R.checkEVSVolume(pvc) } == expected)
    }

    @Test("R3: storage format from the PV and class")
    func storageFormat() {
        #expect(PVCFacts(name: "a", csiDriver: "disk.csi.everest.io").storageFormat == .csi)
        #expect(PVCFacts(name: "a", storageClassName: "sata").storageFormat == .flexVolume)
        #expect(R.isCSIStorageClassName("csi-disk") && !R.isCSIStorageClassName("sas"))
    }

    @Test("R3: a FlexVolume disk is refused by its storage format")
    func diskFormat() {
        var disk = Fixture.disk
        #expect(violation { try R.checkStorageFormat(disk) } == nil)
        disk.storageFormat = .flexVolume
        #expect(violation { try R.checkStorageFormat(disk) } == .notCSIVolume(pvc: disk.name))
    }
}

@Suite("R4 disk state")
struct R4Tests {
    @Test("R4: disk status decides", arguments: DiskStatus.allCases)
    func status(status: DiskStatus) {
        var disk = Fixture.disk
        disk.status = status
        let v = violation { try R.checkSnapshottable(disk) }
        if status == .available || status == .inUse {
            #expect(v == nil)
        } else {
            #expect(v == .diskNotSnapshottable(disk: "d-1a2b", status: status))
        }
    }

    @Test("R4: PVC must be Bound", arguments: [("Bound", true), ("Pending", false), ("Lost", false)])
    func bound(phase: String, accepted: Bool) {
        let v = violation { try R.checkPVCBound(PVCFacts(name: "p", phase: phase)) }
        #expect(v == (accepted ? nil : .pvcNotBound(pvc: "p", phase: phase)))
    }
}

@Suite("R5 snapshot quota")
struct R5Tests {
    @Test("R5: the 7th snapshot is allowed, the 8th refused", arguments: [(0, true), (5, true), (6, true), (7, false), (9, false)])
    func quota(existing: Int, accepted: Bool) {
        let v = violation { try R.checkSnapshotQuota(disk: "d-1a2b", existingSnapshots: existing) }
        #expect(v == (accepted ? nil : .snapshotQuotaReached(disk: "d-1a2b", count: existing, limit: 7)))
    }

    @Test("R5: the limit is a setting")
    func configurable() {
        let settings = RuleSettings(maxSnapshotsPerDisk: 64)
        #expect(violation { try R.checkSnapshotQuota(disk: "d", existingSnapshots: 7, settings: settings) } == nil)
        #expect(violation { try R.checkSnapshotQuota(disk: "d", existingSnapshots: 64, settings: settings) } != nil)
    }
}

@Suite("R6 encryption follows the disk")
struct R6Tests {
    @Test("R6: snapshot and restored disk inherit the disk's encryption",
          arguments: [Encryption.plain, .kms(keyID: "key-1")])
    func inherits(encryption: Encryption) {
        var disk = Fixture.disk
        disk.encryption = encryption
        #expect(R.snapshotEncryption(of: disk) == encryption)
        let snapshot = Snapshot(id: "s", name: "s", of: disk)
        #expect(snapshot.encryption == encryption)
        #expect(R.restoredEncryption(from: snapshot) == encryption)
    }
}

@Suite("R7 new disks only")
struct R7Tests {
    @Test("R7: a new name is accepted, an existing PVC name refused")
    func targetName() {
        #expect(violation { try R.checkRestoreTargetIsNew(name: "pvc-new", existingNames: ["pvc-evs-test"]) } == nil)
        #expect(violation { try R.checkRestoreTargetIsNew(name: "pvc-evs-test", existingNames: ["pvc-evs-test"]) }
                == .restoreTargetExists(name: "pvc-evs-test"))
    }

    @Test("R7: a volume is made from a snapshot or from nothing, never cloned")
    func clone() {
        #expect(violation { try R.checkNotClone(sourceVolume: nil) } == nil)
        #expect(violation { try R.checkNotClone(sourceVolume: "d-1a2b") } == .cloneNotSupported(sourceVolume: "d-1a2b"))
    }
}

@Suite("R8 restored disk matches its source")
struct R8Tests {
    static func request(_ change: (inout RestoreRequest) -> Void) -> RestoreRequest {
        var r = Fixture.matchingRequest
        change(&r)
        return r
    }

    /// Each attribute differing alone, and the violation it must produce.
    static let singleDifferences: [(String, RestoreRequest, EverestRuleViolation)] = [
        ("type", request { $0.type = .sas }, .typeDiffers(requested: .sas, source: .ssd, disk: "d-1a2b")),
        ("mode", request { $0.mode = .scsi }, .modeDiffers(requested: .scsi, source: .vbd, disk: "d-1a2b")),
        ("encryption", request { $0.encryption = .kms(keyID: "k") },
         .encryptionDiffers(requested: .kms(keyID: "k"), source: .plain, disk: "d-1a2b")),
        ("sharing", request { $0.sharing = .shared },
         .sharingDiffers(requested: .shared, source: .nonShared, disk: "d-1a2b")),
        ("capacity larger", request { $0.capacityGiB = 20 },
         .capacityDiffers(requestedGiB: 20, sourceGiB: 10, match: .equal, disk: "d-1a2b")),
        ("capacity smaller", request { $0.capacityGiB = 5 },
         .capacityDiffers(requestedGiB: 5, sourceGiB: 10, match: .equal, disk: "d-1a2b")),
    ]

    @Test("R8: one attribute differing alone is refused", arguments: singleDifferences)
    func differsAlone(attribute: String, request: RestoreRequest, expected: EverestRuleViolation) {
        #expect(R.restoreMismatches(request, snapshot: Fixture.snapshot) == [expected])
        #expect(violation { try R.checkRestoreMatchesSource(request, snapshot: Fixture.snapshot) } == expected)
    }

    @Test("R8: matching or unstated attributes are accepted")
    func accepted() {
        #expect(violation { try R.checkRestoreMatchesSource(Fixture.matchingRequest, snapshot: Fixture.snapshot) } == nil)
        let unstated = RestoreRequest(name: "pvc-test", capacityGiB: 10)
        #expect(violation { try R.checkRestoreMatchesSource(unstated, snapshot: Fixture.snapshot) } == nil)
    }

    @Test("R8: capacity setting at-least allows larger, still refuses smaller")
    func atLeast() {
        let settings = RuleSettings(capacityMatch: .atLeast)
        #expect(R.restoreMismatches(Self.request { $0.capacityGiB = 20 }, snapshot: Fixture.snapshot,
                                    settings: settings).isEmpty)
        #expect(R.restoreMismatches(Self.request { $0.capacityGiB = 9 }, snapshot: Fixture.snapshot, settings: settings)
                == [.capacityDiffers(requestedGiB: 9, sourceGiB: 10, match: .atLeast, disk: "d-1a2b")])
    }

    @Test("R8: all differences reported in order")
    func all() {
        let r = RestoreRequest(name: "x", capacityGiB: 1, type: .sas, mode: .scsi, encryption: .kms(keyID: "k"),
                               sharing: .shared)
        #expect(R.restoreMismatches(r, snapshot: Fixture.snapshot).map(\.rule) == Array(repeating: .r8, count: 5))
    }
}

@Suite("R9 same place")
struct R9Tests {
    @Test("R9: zone match accepted, mismatch refused",
          arguments: [([String](), true), (["cn-north-4b"], true), (["cn-north-4a", "cn-north-4b"], true),
                      (["cn-north-4a"], false), (["cn-north-4c", "cn-north-4a"], false)])
    func zones(allowed: [String], accepted: Bool) {
        let v = violation { try R.checkZone(snapshot: Fixture.snapshot, allowedZones: allowed) }
        #expect(v == (accepted ? nil : .zoneNotAllowed(zone: "cn-north-4b", allowed: allowed, snapshot: "s-9f8e")))
    }

    @Test("R9: the restored disk goes to the snapshot's region and zone")
    func topology() {
        #expect(R.restoreTopology(for: Fixture.snapshot) == Topology(region: "cn-north-4", zone: "cn-north-4b"))
    }
}

@Suite("R10 restore PVC shape")
struct R10Tests {
    @Test("R10: the built restore PVC")
    func built() {
        let pvc = R.restorePVC(name: "pvc-test", namespace: "default", volumeSnapshotName: "cce-disksnap-test",
                               snapshot: Fixture.snapshot)
        #expect(pvc.storageClassName == "csi-disk")
        #expect(pvc.annotations == ["everest.io/disk-volume-type": "SSD"])
        #expect(pvc.labels == ["failure-domain.beta.kubernetes.io/region": "cn-north-4",
                               "failure-domain.beta.kubernetes.io/zone": "cn-north-4b"])
        #expect(pvc.accessModes == ["ReadWriteOnce"])
        #expect(pvc.storage == "10Gi")
        #expect(pvc.dataSource == .init(kind: "VolumeSnapshot", apiGroup: "snapshot.storage.k8s.io",
                                        name: "cce-disksnap-test"))
        #expect(R.restorePVCMismatches(pvc, snapshot: Fixture.snapshot, volumeSnapshotName: "cce-disksnap-test",
                                       storageClass: Self.csiDisk).isEmpty)
    }

    @Test("R10: xfs sources get the fstype annotation")
    func xfs() {
        var snapshot = Fixture.snapshot
        snapshot.sourceFSType = .xfs
        let pvc = R.restorePVC(name: "p", namespace: "n", volumeSnapshotName: "v", snapshot: snapshot)
        #expect(pvc.annotations["csi.storage.k8s.io/fstype"] == "xfs")
        var without = pvc
        without.annotations["csi.storage.k8s.io/fstype"] = nil
        #expect(violation { try R.checkRestorePVC(without, snapshot: snapshot, storageClass: Self.csiDisk) }
                == .restorePVCField(field: "annotation csi.storage.k8s.io/fstype", expected: "xfs", found: "<none>"))
    }

    static let csiDisk = StorageClassFacts(name: "csi-disk", provisioner: "disk.csi.everest.io")

    static let base = R.restorePVC(name: "pvc-test", namespace: "default", volumeSnapshotName: "cce-disksnap-test",
                                   snapshot: Fixture.snapshot)
    static func changed(_ change: (inout RestorePVCShape) -> Void) -> RestorePVCShape {
        var p = base
        change(&p)
        return p
    }

    static let refused: [(String, RestorePVCShape, String)] = [
        ("type", changed { $0.annotations["everest.io/disk-volume-type"] = "SAS" }, "annotation everest.io/disk-volume-type"),
        ("zone", changed { $0.labels["failure-domain.beta.kubernetes.io/zone"] = "cn-north-4a" },
         "label failure-domain.beta.kubernetes.io/zone"),
        ("access", changed { $0.accessModes = ["ReadWriteMany"] }, "accessModes"),
        ("storage 10x", changed { $0.storage = "10x" }, "resources.requests.storage"),
        ("no class", changed { $0.storageClassName = nil }, "storageClassName"),
        ("dataSource kind", changed { $0.dataSource?.kind = "PersistentVolumeClaim" }, "dataSource.kind"),
        ("no dataSource", changed { $0.dataSource = nil }, "dataSource"),
    ]

    @Test("R10: a user-given shape differing in one field is refused", arguments: refused)
    func refusedShape(label: String, pvc: RestorePVCShape, field: String) {
        let v = violation { try R.checkRestorePVC(pvc, snapshot: Fixture.snapshot, storageClass: Self.csiDisk) }
        guard case .restorePVCField(let f, _, _)? = v else { Issue.record("expected R10 violation, got \(String(describing: v))"); return }
        #expect(f == field)
        #expect(v?.rule == .r10)
    }

    @Test("R10: 10G and missing labels are accepted (10G rounds up to 10 GiB)")
    func accepted() {
        let pvc = Self.changed { $0.storage = "10G"; $0.labels = [:]; $0.storageClassName = "csi-disk-topology" }
        let topology = StorageClassFacts(name: "csi-disk-topology", provisioner: "everest-csi-provisioner",
                                         parameters: ["csi.storage.k8s.io/csi-driver-name": "disk.csi.everest.io"])
        #expect(violation { try R.checkRestorePVC(pvc, snapshot: Fixture.snapshot, storageClass: topology) } == nil)
    }

    @Test("R10: the seed's storage '10' is 10 bytes; the message says so and names the size that matches")
    func seedStorage() {
        let v = violation { try R.checkRestorePVC(Self.changed { $0.storage = "10" }, snapshot: Fixture.snapshot,
                                                  storageClass: Self.csiDisk) }
        #expect(v == .restorePVCStorage(found: "10", foundGiB: 1, unitless: true, expected: "10Gi"))
        #expect(v?.message.contains("10 bytes") == true && v?.message.hasSuffix("write '10Gi'") == true)
        let bigger = violation { try R.checkRestorePVC(Self.changed { $0.storage = "20Gi" }, snapshot: Fixture.snapshot,
                                                       storageClass: Self.csiDisk) }
        #expect(bigger == .restorePVCStorage(found: "20Gi", foundGiB: 20, unitless: false, expected: "10Gi"))
    }

    static let classes: [(StorageClassFacts?, String?)] = [
        (StorageClassFacts(name: "csi-disk", provisioner: "disk.csi.everest.io"), nil),
        (StorageClassFacts(name: "csi-disk", provisioner: "everest-csi-provisioner",
                           parameters: ["csi.storage.k8s.io/csi-driver-name": "disk.csi.everest.io"]), nil),
        (StorageClassFacts(name: "csi-disk", provisioner: "everest-csi-provisioner"), "csi-disk (provisioner everest-csi-provisioner)"),
        (StorageClassFacts(name: "csi-disk", provisioner: "flexvolume-huawei.com/fuxivol"),
         "csi-disk (provisioner flexvolume-huawei.com/fuxivol)"),
        (nil, "csi-disk (not found)"),
    ]

    @Test("R10: the class must provision through the driver (its own name, or CCE's provisioner naming it)", arguments: classes)
    func storageClass(facts: StorageClassFacts?, found: String?) {
        let v = violation { try R.checkRestorePVC(Self.base, snapshot: Fixture.snapshot, storageClass: facts) }
        #expect(v == found.map { .restorePVCField(field: "storageClassName", expected: "a StorageClass of disk.csi.everest.io", found: $0) })
    }
}

@Suite("R11 snapshot readiness")
struct R11Tests {
    @Test("R11: only available snapshots restore", arguments: SnapshotStatus.allCases)
    func ready(status: SnapshotStatus) {
        var s = Fixture.snapshot
        s.status = status
        let v = violation { try R.checkReadyToRestore(s) }
        #expect(v == (status == .available ? nil : .snapshotNotReady(snapshot: "s-9f8e", status: status)))
    }

    @Test("R11: a pending restore blocks deletion")
    func pending() {
        #expect(violation { try R.checkNoPendingRestore(snapshot: "s-9f8e", pendingRestorePVCs: []) } == nil)
        #expect(violation { try R.checkNoPendingRestore(snapshot: "s-9f8e", pendingRestorePVCs: ["pvc-test"]) }
                == .restorePending(snapshot: "s-9f8e", pvc: "pvc-test"))
    }
}

@Suite("R12 sizes")
struct R12Tests {
    static let capacities: [(String, Int?)] = [
        ("10", 1), ("10Gi", 10), ("10G", 10), ("1.5Gi", 2), ("100Mi", 1), ("32768Gi", 32768), ("32Ti", 32768),
        ("32769Gi", nil), ("0", nil), ("-1Gi", nil), ("1Pi", nil),
    ]

    @Test("R12: quantity to GiB with bounds 1...32768", arguments: capacities)
    func capacity(text: String, gib: Int?) {
        let result = Result { () throws(EverestRuleViolation) -> Int in try R.capacityGiB(fromQuantity: text) }
        switch (result, gib) {
        case (.success(let got), let want?): #expect(got == want)
        case (.failure(let v), nil): #expect(v.rule == .r12 && v.kind == .outOfRange)
        default: Issue.record("\(text): got \(result), expected \(String(describing: gib))")
        }
    }

    @Test("R12: 32768 accepted, 32769 refused; 1 accepted, 0 refused")
    func bounds() {
        #expect(violation { try R.checkCapacity(gib: 32768) } == nil)
        #expect(violation { try R.checkCapacity(gib: 32769) } == .capacityOutOfRange(requestedGiB: 32769, min: 1, max: 32768))
        #expect(violation { try R.checkCapacity(gib: 1) } == nil)
        #expect(violation { try R.checkCapacity(gib: 0) } != nil)
    }

    @Test("R12: malformed quantity refused as an invalid request", arguments: ["10GB", "Gi", "1.5.3", ""])
    func malformed(text: String) {
        let v = violation { _ = try R.capacityGiB(fromQuantity: text) }
        #expect(v?.rule == .r12 && v?.kind == .invalidRequest)
    }

    @Test("R12: a bare number warns, a unit does not", arguments: [("10", true), ("10Gi", false), ("10G", false)])
    func warning(text: String, warns: Bool) {
        #expect((R.quantityWarning(text) != nil) == warns)
    }

    @Test("R12: the seed's storage '10' warning text")
    func warningText() {
        #expect(R.quantityWarning("10")?.message
                == "R12: storage quantity '10' has no unit, so Kubernetes reads it as 10 bytes and the disk gets 1Gi; write '10Gi' for 10 GiB")
    }

    static let ranges: [(Int64, Int64, Int?)] = [
        (10 << 30, 0, 10), ((10 << 30) + 1, 0, 11), (1, 0, 1), (0, 0, 1), (0, 5 << 30, 5),
        (10 << 30, 10 << 30, 10), ((10 << 30) + 1, 10 << 30, nil), (32769 << 30, 0, nil),
    ]

    @Test("R12: CSI capacity range to GiB", arguments: ranges)
    func capacityRange(required: Int64, limit: Int64, gib: Int?) {
        let r = Result { () throws(EverestRuleViolation) -> Int in
            try R.capacityGiB(requiredBytes: required, limitBytes: limit)
        }
        #expect((try? r.get()) == gib)
    }
}

@Suite("R13 deleting")
struct R13Tests {
    @Test("R13: snapshot deletable when available or error; unknown is fine",
          arguments: SnapshotStatus.allCases.map(Optional.some) + [nil])
    func snapshot(status: SnapshotStatus?) {
        let v = violation { try R.checkSnapshotDeletable("s-9f8e", status: status) }
        if let status, status != .available, status != .error {
            #expect(v == .snapshotNotDeletable(snapshot: "s-9f8e", status: status))
        } else {
            #expect(v == nil)
        }
    }

    @Test("R13: disk with snapshots refused, without accepted")
    func disk() {
        #expect(violation { try R.checkDiskDeletable("d-1a2b", snapshotCount: 0) } == nil)
        #expect(violation { try R.checkDiskDeletable("d-1a2b", snapshotCount: 2) } == .diskHasSnapshots(disk: "d-1a2b", count: 2))
    }
}

@Suite("R14 names")
struct R14Tests {
    @Test("R14: 128 characters accepted, 129 refused, empty refused")
    func lengths() {
        #expect(violation { try R.checkName(String(repeating: "a", count: 128)) } == nil)
        let long = String(repeating: "a", count: 129)
        #expect(violation { try R.checkName(long) } == .nameTooLong(name: long, length: 129, max: 128))
        #expect(violation { try R.checkName("") } == .nameEmpty)
    }

    @Test("R14: reserved snapshot prefix refused",
          arguments: [("autobk_snapshot_1", false), ("autobk_snapshot", true), ("my_autobk_snapshot_1", true),
                      ("snapshot-1", true)])
    func reserved(name: String, accepted: Bool) {
        let v = violation { try R.checkSnapshotName(name) }
        #expect(v == (accepted ? nil : .reservedSnapshotName(name: name, prefix: "autobk_snapshot_")))
    }
}
