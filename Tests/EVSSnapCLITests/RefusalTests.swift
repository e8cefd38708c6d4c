import EVSSnapCLI
import Testing
import struct KubeClient.ResourceType

/// Every refusal path: the rule id in the message, exit code 2, and nothing written to the cluster.
struct RefusalCase: CustomTestStringConvertible, Sendable {
    var name: String
    var rule: String
    var args: [String]
    var expect: String
    var setup: @Sendable (InMemoryCluster) -> Void = { _ in }
    var testDescription: String { "\(rule): \(name)" }
}

let refusalCases: [RefusalCase] = [
    RefusalCase(name: "cluster older than v1.15", rule: "R1", args: ["create", "data-ssd"],
                expect: "R1: cluster version v1.14 is older than v1.15") { c in
        c.state.withLock { $0.version = ServerVersion(gitVersion: "v1.14.10", major: "1", minor: "14") }
    },
    RefusalCase(name: "no CSIDriver object", rule: "R2", args: ["create", "data-ssd"],
                expect: "R2: CSI driver disk.csi.everest.io is not registered") { c in
        c.remove(.csiDrivers, namespace: nil, name: "disk.csi.everest.io")
    },
    RefusalCase(name: "snapshot API not served", rule: "R2", args: ["create", "data-ssd"],
                expect: "R2: the cluster does not serve snapshot.storage.k8s.io") { c in
        c.state.withLock { $0.served = [:] }
    },
    RefusalCase(name: "class missing", rule: "R2", args: ["create", "data-ssd", "--class", "nope"],
                expect: "R2: VolumeSnapshotClass nope not found"),
    RefusalCase(name: "class of another driver", rule: "R2", args: ["create", "data-ssd", "--class", "nas"],
                expect: "R2: VolumeSnapshotClass nas uses driver nas.csi.everest.io, not disk.csi.everest.io") { c in
        c.put(World.vsclass, ["metadata": ["name": "nas"], "driver": "nas.csi.everest.io", "deletionPolicy": "Delete"])
    },
    RefusalCase(name: "FlexVolume PVC", rule: "R3", args: ["create", "old-flex"],
                expect: "R3: PVC apps/old-flex uses FlexVolume class sas"),
    RefusalCase(name: "PV of another CSI driver (SFS)", rule: "R3", args: ["create", "shared-fs"],
                expect: "R3: PVC apps/shared-fs uses CSI driver nas.csi.everest.io, not disk.csi.everest.io") { c in
        c.put(.persistentVolumeClaims, World.pvc("shared-fs", volume: "pv-nas"))
        c.put(.persistentVolumes, World.pv("pv-nas", driver: "nas.csi.everest.io", handle: "sfs-1", claim: "shared-fs"))
    },
    RefusalCase(name: "PVC Pending", rule: "R4", args: ["create", "waiting"],
                expect: "R4: PVC apps/waiting is Pending, not Bound") { c in
        c.put(.persistentVolumeClaims, World.pvc("waiting", phase: "Pending"))
    },
    RefusalCase(name: "PV Failed = disk in error", rule: "R4", args: ["create", "broken"],
                expect: "R4: disk status error does not allow a snapshot") { c in
        c.put(.persistentVolumeClaims, World.pvc("broken", volume: "pv-broken"))
        c.put(.persistentVolumes, World.pv("pv-broken", handle: "d-broken", claim: "broken", phase: "Failed"))
    },
    RefusalCase(name: "PVC being resized = disk extending", rule: "R4", args: ["create", "growing"],
                expect: "R4: disk status extending does not allow a snapshot") { c in
        var p = World.pvc("growing", volume: "pv-growing")
        p["status"]["conditions"] = [["type": "Resizing", "status": "True"]]
        c.put(.persistentVolumeClaims, p)
        c.put(.persistentVolumes, World.pv("pv-growing", handle: "d-growing", claim: "growing"))
    },
    RefusalCase(name: "7 snapshots already (contents and a content-less snapshot)", rule: "R5", args: ["create", "data-ssd"],
                expect: "R5: disk already has 7 snapshots, the limit is 7 (disk d-ssd): delete one with `kubectl evssnap delete NAME` first") { c in
        for i in 2...6 { World.addSnapshot(c, "snap-\(i)", pvc: "data-ssd", disk: "d-ssd") }
        World.addSnapshot(c, "snap-new", pvc: "data-ssd", disk: "d-ssd", ready: false, content: false)
    },
    RefusalCase(name: "reserved snapshot name prefix", rule: "R14", args: ["create", "data-ssd", "--name", "autobk_snapshot_x"],
                expect: "R14: snapshot name autobk_snapshot_x starts with the reserved prefix autobk_snapshot_"),
    RefusalCase(name: "restore onto an existing PVC", rule: "R7", args: ["restore", "snap-1", "--to", "data-ssd"],
                expect: "R7: restore target apps/data-ssd already exists"),
    RefusalCase(name: "restore a snapshot not ready yet", rule: "R11", args: ["restore", "snap-2", "--to", "new-pvc"],
                expect: "R11: snapshot is creating, not ready to use") { c in
        World.addSnapshot(c, "snap-2", pvc: "data-ssd", disk: "d-ssd", ready: false)
    },
    RefusalCase(name: "restore a failed snapshot", rule: "R11", args: ["restore", "snap-bad", "--to", "new-pvc"],
                expect: "R11: snapshot is error, not ready to use") { c in
        World.addSnapshot(c, "snap-bad", pvc: "data-ssd", disk: "d-ssd", ready: false, error: "rpc error: code = NotFound")
    },
    RefusalCase(name: "restore class with another disk mode", rule: "R8", args: ["restore", "snap-1", "--to", "new-pvc", "--storage-class", "csi-vbd"],
                expect: "R8: restored disk mode VBD differs from source disk mode SCSI (disk d-ssd)") { c in
        c.put(.storageClasses, World.storageClass("csi-vbd", params: ["everest.io/passthrough": "false"]))
    },
    RefusalCase(name: "restore class that encrypts a plain source", rule: "R8", args: ["restore", "snap-1", "--to", "new-pvc", "--storage-class", "csi-kms"],
                expect: "R8: restored disk encryption kms:key-9 differs from source disk encryption plain") { c in
        c.put(.storageClasses, World.storageClass("csi-kms", params: ["everest.io/crypt-key-id": "key-9"]))
    },
    RefusalCase(name: "restore class limited to another zone", rule: "R9", args: ["restore", "snap-1", "--to", "new-pvc", "--storage-class", "csi-b"],
                expect: "R9: snapshot zone cn-north-4a is not among the allowed zones cn-north-4b") { c in
        c.put(.storageClasses, World.storageClass("csi-b", params: [:], zones: ["cn-north-4b"]))
    },
    RefusalCase(name: "restore class of another provisioner", rule: "R10", args: ["restore", "snap-1", "--to", "new-pvc", "--storage-class", "sas"],
                expect: "R10: restore PVC storageClassName is 'sas (provisioner flexvolume-huawei.com/fuxivol)'"),
    RefusalCase(name: "restore class that does not exist", rule: "R10", args: ["restore", "snap-1", "--to", "new-pvc", "--storage-class", "gone"],
                expect: "R10: restore PVC storageClassName is 'gone (not found)'"),
    RefusalCase(name: "delete while a restore from it is Pending", rule: "R11", args: ["delete", "snap-1"],
                expect: "R11: PVC apps/restoring restored from this snapshot is still Pending") { c in
        c.put(.persistentVolumeClaims, World.pvc("restoring", phase: "Pending", dataSource: "snap-1"))
    },
    RefusalCase(name: "delete a snapshot still being created", rule: "R13", args: ["delete", "snap-2"],
                expect: "R13: snapshot is creating; only available or error snapshots can be deleted") { c in
        World.addSnapshot(c, "snap-2", pvc: "data-ssd", disk: "d-ssd", ready: false)
    },
]

@Test("refusals exit 2 with the rule id and change nothing", arguments: refusalCases)
func refusal(_ c: RefusalCase) async {
    let cluster = World.standard()
    c.setup(cluster)
    let r = await evssnap(c.args, cluster: cluster)
    #expect(r.code == 2, "stderr: \(r.err)")
    #expect(r.err.contains(c.expect), "stderr: \(r.err)")
    #expect(r.err.hasPrefix("error: \(c.rule):"), "stderr: \(r.err)")
    #expect(!r.err.contains("USAGE"))
    #expect(cluster.writes.isEmpty)
}

@Test("check prints each refusal as failed, exit 2", arguments: refusalCases.filter { $0.args[0] == "create" && $0.rule != "R14" })
func checkReportsRefusal(_ c: RefusalCase) async {
    let cluster = World.standard()
    c.setup(cluster)
    var args = ["check", c.args[1]]
    if let i = c.args.firstIndex(of: "--class") { args += ["--class", c.args[i + 1]] }
    let r = await evssnap(args, cluster: cluster)
    #expect(r.code == 2)
    #expect(r.out.contains("[FAIL]       \(c.expect)"), "stdout: \(r.out)")
}

@Test("R5: the 7th snapshot of a disk is still allowed")
func seventhSnapshotAllowed() async {
    let cluster = World.standard()
    for i in 2...6 { World.addSnapshot(cluster, "snap-\(i)", pvc: "data-ssd", disk: "d-ssd") }
    let r = await evssnap(["create", "data-ssd", "--name", "snap-7"], cluster: cluster)
    #expect(r.code == 0, "\(r.err)")
    #expect(cluster.writes == [.init(verb: "create", plural: "volumesnapshots", name: "snap-7", dryRun: .none)])
}

@Test("R5: snapshots of other disks do not count")
func otherDisksDoNotCount() async {
    let cluster = World.standard()
    for i in 2...9 { World.addSnapshot(cluster, "other-\(i)", pvc: "static-evs", disk: "d-static") }
    let r = await evssnap(["check", "data-ssd"], cluster: cluster)
    #expect(r.code == 0)
    #expect(r.out.contains("[ok]         R5 disk d-ssd has 1 of 7 snapshots"))
}

@Test("R3: the PV's driver decides, whatever the class's provisioner says (CCE everest-csi-provisioner)")
func cceProvisionerClassAccepted() async {
    let cluster = World.standard()
    cluster.put(.storageClasses, World.storageClass("csi-disk", provisioner: "everest-csi-provisioner",
                                                    params: ["csi.storage.k8s.io/csi-driver-name": "disk.csi.everest.io"]))
    let r = await evssnap(["create", "data-ssd", "--name", "s"], cluster: cluster)
    #expect(r.code == 0, "\(r.err)")
    let restore = await evssnap(["restore", "snap-1", "--to", "copy", "--dry-run=client"], cluster: cluster)
    #expect(restore.code == 0, "\(restore.err)")
}

@Test("delete --force skips R11")
func forceDelete() async {
    let cluster = World.standard()
    cluster.put(.persistentVolumeClaims, World.pvc("restoring", phase: "Pending", dataSource: "snap-1"))
    let r = await evssnap(["delete", "snap-1", "--force"], cluster: cluster)
    #expect(r.code == 0)
    #expect(r.out == "volumesnapshot.snapshot.storage.k8s.io \"snap-1\" deleted\n")
    #expect(cluster.object(World.vs, namespace: "apps", name: "snap-1") == nil)
}

@Test("R12: a storage request without a unit is warned about on stderr")
func unitlessQuantityWarning() async {
    let cluster = World.standard()
    cluster.put(.persistentVolumeClaims, World.pvc("tiny", volume: "pv-tiny", storage: "10"))
    cluster.put(.persistentVolumes, World.pv("pv-tiny", handle: "d-tiny", claim: "tiny", capacity: "1Gi"))
    let r = await evssnap(["create", "tiny", "--name", "t"], cluster: cluster)
    #expect(r.code == 0, "\(r.err)")
    #expect(r.err.hasPrefix("Warning: R12: storage quantity '10' has no unit"))
}
