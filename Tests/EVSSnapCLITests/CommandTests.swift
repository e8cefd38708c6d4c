import EVSSnapCLI
import Foundation
import JSONCore
import Testing
import struct KubeClient.ResourceType

@Suite("create")
struct CreateTests {
    @Test("creates the VolumeSnapshot with the default name and says so the kubectl way")
    func createDefault() async {
        let cluster = World.standard()
        let r = await evssnap(["create", "data-ssd"], cluster: cluster)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out == "volumesnapshot.snapshot.storage.k8s.io/data-ssd-snap-20261127-210501 created\n")
        let vs = cluster.object(World.vs, namespace: "apps", name: "data-ssd-snap-20261127-210501")
        #expect(vs?["spec"]["source"]["persistentVolumeClaimName"].string == "data-ssd")
        #expect(vs?["spec"]["volumeSnapshotClassName"].string == "csi-disk-snapclass")
    }

    @Test("default name: PVC-snap-YYYYMMDD-HHMMSS in UTC, at most 63 characters")
    func defaultName() {
        #expect(CreateCommandNames.defaultName(pvc: "data-ssd", at: World.now) == "data-ssd-snap-20261127-210501")
        let long = CreateCommandNames.defaultName(pvc: String(repeating: "a", count: 80), at: World.now)
        #expect(long.count == 63)
        #expect(long.hasSuffix("-snap-20261127-210501"))
    }

    @Test("--dry-run=client writes nothing; --dry-run=server sends dryRun; -o yaml/json/name")
    func dryRuns() async throws {
        let cluster = World.standard()
        let client = await evssnap(["create", "data-ssd", "--name", "s1", "--dry-run=client"], cluster: cluster)
        #expect(client.out == "volumesnapshot.snapshot.storage.k8s.io/s1 created (dry run)\n")
        #expect(cluster.writes.isEmpty)
        let server = await evssnap(["create", "data-ssd", "--name", "s1", "--dry-run=server", "-o", "name"], cluster: cluster)
        #expect(server.out == "volumesnapshot.snapshot.storage.k8s.io/s1\n")
        #expect(cluster.writes == [.init(verb: "create", plural: "volumesnapshots", name: "s1", dryRun: .server)])
        let yaml = await evssnap(["create", "data-ssd", "--name", "s2", "--dry-run=client", "-o", "yaml"], cluster: cluster)
        #expect(yaml.out == """
            apiVersion: snapshot.storage.k8s.io/v1
            kind: VolumeSnapshot
            metadata:
              name: s2
              namespace: apps
            spec:
              source:
                persistentVolumeClaimName: data-ssd
              volumeSnapshotClassName: csi-disk-snapclass

            """)
        let json = await evssnap(["create", "data-ssd", "--name", "s2", "--dry-run=client", "-o", "json"], cluster: cluster)
        #expect(try JSON.parse(json.out)["metadata"]["name"].string == "s2")
        #expect(json.out.hasPrefix("{\n    \"apiVersion\": \"snapshot.storage.k8s.io/v1\",\n"))
    }

    @Test("--wait shows progress until readyToUse")
    func waitReady() async {
        let cluster = World.standard()
        cluster.afterGet.withLock {
            $0 = { c, name, count in
                guard name == "s-wait" else { return }
                guard var o = c.object(World.vs, namespace: "apps", name: name) else { return }
                if count == 2 { o["status"] = ["readyToUse": false, "boundVolumeSnapshotContentName": "snapcontent-x"] }
                if count == 3 { o["status"] = ["readyToUse": true, "restoreSize": "10Gi", "boundVolumeSnapshotContentName": "snapcontent-x"] }
                c.put(World.vs, o)
            }
        }
        let r = await evssnap(["create", "data-ssd", "--name", "s-wait", "--wait"], cluster: cluster)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err.contains("volumesnapshot/s-wait: waiting for the snapshot controller"))
        #expect(r.err.contains("volumesnapshot/s-wait is ready to use (restore size 10Gi)"))
    }

    @Test("--wait ends with the error text of the VolumeSnapshot or its content, exit 1")
    func waitError() async {
        let cluster = World.standard()
        cluster.afterGet.withLock {
            $0 = { c, name, _ in
                guard name == "s-err", var o = c.object(World.vs, namespace: "apps", name: name), o["status"].isNull else { return }
                o["status"] = ["readyToUse": false, "error": ["message": "rpc error: code = ResourceExhausted desc = R5: quota"]]
                c.put(World.vs, o)
            }
        }
        let r = await evssnap(["create", "data-ssd", "--name", "s-err", "--wait"], cluster: cluster)
        #expect(r.code == 1)
        #expect(r.err.contains("error: volumesnapshot/s-err failed: rpc error: code = ResourceExhausted desc = R5: quota"))
    }

    @Test("--wait gives up after --timeout, exit 1")
    func waitTimeout() async {
        let r = await evssnap(["create", "data-ssd", "--name", "slow", "--wait", "--timeout", "50ms"])
        #expect(r.code == 1)
        #expect(r.err.contains("error: timed out after 0.05s waiting for volumesnapshot/slow to be ready"))
    }

    @Test("API errors look like kubectl's, exit 1, no usage")
    func apiErrors() async {
        let missing = await evssnap(["create", "nope"])
        #expect(missing.code == 1)
        #expect(missing.err == "Error from server (NotFound): persistentvolumeclaims \"nope\" not found\n")
        let cluster = World.standard()
        cluster.fail("volumesnapshots", with: APIError(code: 403, reason: "Forbidden", message: "volumesnapshots.snapshot.storage.k8s.io is forbidden: User \"system:serviceaccount:apps:reader\" cannot create resource \"volumesnapshots\""))
        let forbidden = await evssnap(["create", "data-ssd"], cluster: cluster)
        #expect(forbidden.code == 1)
        #expect(forbidden.err.hasPrefix("Error from server (Forbidden): volumesnapshots.snapshot.storage.k8s.io is forbidden"))
        let exists = await evssnap(["create", "data-ssd", "--name", "snap-1"])
        #expect(exists.err == "Error from server (AlreadyExists): volumesnapshots.snapshot.storage.k8s.io \"snap-1\" already exists\n")
    }
}

@Suite("list")
struct ListTests {
    static func cluster() -> InMemoryCluster {
        let c = World.standard()
        World.addSnapshot(c, "snap-2", pvc: "data-ssd", disk: "d-ssd", created: "2026-11-27T21:00:00Z")
        World.addSnapshot(c, "snap-static", pvc: "static-evs", disk: "d-static", ready: false, error: "failed")
        World.addSnapshot(c, "other", namespace: "web", pvc: "www", disk: "d-www", created: "2026-11-25T21:05:01Z")
        return c
    }

    @Test("table")
    func table() async {
        let r = await evssnap(["list"], cluster: Self.cluster())
        #expect(r.code == 0)
        #expect(r.out == """
            NAME          SOURCE PVC   READY   RESTORE SIZE   CLASS                AGE
            snap-1        data-ssd     true    10Gi           csi-disk-snapclass   15m
            snap-2        data-ssd     true    10Gi           csi-disk-snapclass   5m1s
            snap-static   static-evs   Error   <none>         csi-disk-snapclass   15m

            """)
    }

    @Test("-A adds NAMESPACE first")
    func allNamespaces() async {
        let r = await evssnap(["list", "-A"], cluster: Self.cluster())
        #expect(r.out.hasPrefix("NAMESPACE   NAME          SOURCE PVC   READY   RESTORE SIZE   CLASS                AGE\n"))
        #expect(r.out.contains("\nweb         other         www          true    10Gi           csi-disk-snapclass   2d\n"))
    }

    @Test("-o wide adds content, disk and the disk's count against the quota")
    func wide() async {
        let r = await evssnap(["list", "data-ssd", "-o", "wide"], cluster: Self.cluster())
        #expect(r.out == """
            NAME     SOURCE PVC   READY   RESTORE SIZE   CLASS                AGE    SNAPSHOT CONTENT     DISK    QUOTA
            snap-1   data-ssd     true    10Gi           csi-disk-snapclass   15m    snapcontent-snap-1   d-ssd   2/7
            snap-2   data-ssd     true    10Gi           csi-disk-snapclass   5m1s   snapcontent-snap-2   d-ssd   2/7

            """)
    }

    @Test("-o name, json and yaml")
    func formats() async {
        let names = await evssnap(["list", "-o", "name"], cluster: Self.cluster())
        #expect(names.out == """
            volumesnapshot.snapshot.storage.k8s.io/snap-1
            volumesnapshot.snapshot.storage.k8s.io/snap-2
            volumesnapshot.snapshot.storage.k8s.io/snap-static

            """)
        let json = await evssnap(["list", "-o", "json"], cluster: Self.cluster())
        let list = try? JSON.parse(json.out)
        #expect(list?["kind"].string == "List")
        #expect(list?["items"].elements.map { $0["metadata"]["name"].string ?? "" } == ["snap-1", "snap-2", "snap-static"])
        let yaml = await evssnap(["list", "snap-1", "-o", "yaml"], cluster: Self.cluster())
        #expect(yaml.out.hasPrefix("apiVersion: v1\nitems: []\nkind: List\n"))
    }

    @Test("empty: kubectl's wording on stderr")
    func empty() async {
        let r = await evssnap(["list", "-n", "empty"], cluster: Self.cluster())
        #expect(r.code == 0)
        #expect(r.out == "")
        #expect(r.err == "No snapshots found in empty namespace.\n")
        let apps = await evssnap(["list"], cluster: World.standard(), namespace: "apps")
        #expect(apps.code == 0)
        let none = InMemoryCluster()
        let r2 = await evssnap(["list"], cluster: none)
        #expect(r2.err == "No snapshots found in apps namespace.\n")
    }
}

@Suite("restore, delete, describe, check, version")
struct OtherCommandTests {
    @Test("restore builds the R10 PVC from the source PV and PVC")
    func restorePVC() async {
        let cluster = World.standard()
        let r = await evssnap(["restore", "snap-1", "--to", "data-ssd-restore"], cluster: cluster)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out == "persistentvolumeclaim/data-ssd-restore created\n")
        let pvc = cluster.object(.persistentVolumeClaims, namespace: "apps", name: "data-ssd-restore")
        #expect(pvc?["metadata"]["annotations"]["everest.io/disk-volume-type"].string == "SSD")
        #expect(pvc?["metadata"]["annotations"]["csi.storage.k8s.io/fstype"].isNull == true)
        #expect(pvc?["metadata"]["labels"]["failure-domain.beta.kubernetes.io/zone"].string == "cn-north-4a")
        #expect(pvc?["metadata"]["labels"]["failure-domain.beta.kubernetes.io/region"].string == "cn-north-4")
        #expect(pvc?["spec"]["accessModes"] == ["ReadWriteOnce"])
        #expect(pvc?["spec"]["storageClassName"].string == "csi-disk")
        #expect(pvc?["spec"]["resources"]["requests"]["storage"].string == "10Gi")
        #expect(pvc?["spec"]["dataSource"] == ["apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": "snap-1"])
    }

    @Test("restore of an xfs source carries the fstype annotation; -o yaml")
    func restoreXFS() async {
        let cluster = World.standard()
        World.addSnapshot(cluster, "snap-static", pvc: "static-evs", disk: "d-static")
        cluster.put(.storageClasses, World.storageClass("csi-scsi-kms", params: ["everest.io/passthrough": "true", "everest.io/crypt-key-id": "kms-1"]))
        let r = await evssnap(["restore", "snap-static", "--to", "copy", "--storage-class", "csi-scsi-kms", "--dry-run=client", "-o", "yaml"], cluster: cluster)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out == """
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata:
              annotations:
                csi.storage.k8s.io/fstype: xfs
                everest.io/disk-volume-type: SAS
              labels:
                failure-domain.beta.kubernetes.io/region: cn-north-4
                failure-domain.beta.kubernetes.io/zone: cn-north-4a
              name: copy
              namespace: apps
            spec:
              accessModes:
              - ReadWriteOnce
              dataSource:
                apiGroup: snapshot.storage.k8s.io
                kind: VolumeSnapshot
                name: snap-static
              resources:
                requests:
                  storage: 10Gi
              storageClassName: csi-scsi-kms

            """)
        #expect(cluster.writes.isEmpty)
    }

    @Test("restore --wait waits for Bound and shows the latest Warning event")
    func restoreWait() async {
        let cluster = World.standard()
        cluster.afterGet.withLock {
            $0 = { c, name, count in
                guard name == "copy", var o = c.object(.persistentVolumeClaims, namespace: "apps", name: name) else { return }
                if count == 2 {
                    c.put(.events, ["metadata": ["name": "copy.1", "namespace": "apps"], "type": "Warning", "reason": "ProvisioningFailed",
                                    "message": "waiting for the driver", "involvedObject": ["name": "copy", "kind": "PersistentVolumeClaim"],
                                    "lastTimestamp": "2026-11-27T21:05:00Z"])
                }
                if count == 4 { o["status"] = ["phase": "Bound"]; o["spec"]["volumeName"] = "pv-copy"; c.put(.persistentVolumeClaims, o) }
            }
        }
        let r = await evssnap(["restore", "snap-1", "--to", "copy", "--wait"], cluster: cluster)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.err.contains("persistentvolumeclaim/copy is Pending: ProvisioningFailed waiting for the driver"))
        #expect(r.err.contains("persistentvolumeclaim/copy is Bound to pv-copy"))
    }

    @Test("delete several, one missing: the others are deleted, exit 1; --ignore-not-found")
    func deleteMany() async {
        let cluster = World.standard()
        World.addSnapshot(cluster, "snap-2", pvc: "data-ssd", disk: "d-ssd")
        let r = await evssnap(["delete", "snap-1", "gone", "snap-2"], cluster: cluster)
        #expect(r.code == 1)
        #expect(r.out == "volumesnapshot.snapshot.storage.k8s.io \"snap-1\" deleted\nvolumesnapshot.snapshot.storage.k8s.io \"snap-2\" deleted\n")
        #expect(r.err == "Error from server (NotFound): volumesnapshots.snapshot.storage.k8s.io \"gone\" not found\n")
        let ignored = await evssnap(["delete", "gone", "--ignore-not-found"], cluster: cluster)
        #expect(ignored.code == 0)
    }

    @Test("delete --wait waits until the object is gone")
    func deleteWait() async {
        let r = await evssnap(["delete", "snap-1", "--wait"])
        #expect(r.code == 0)
        #expect(r.err.contains("volumesnapshot/snap-1 deleted"))
    }

    @Test("describe shows snapshot, content, source, restore constraints and events")
    func describe() async {
        let cluster = World.standard()
        cluster.put(.events, ["metadata": ["name": "snap-1.a", "namespace": "apps"], "type": "Normal", "reason": "SnapshotReady",
                              "message": "Snapshot apps/snap-1 is ready to use.", "involvedObject": ["name": "snap-1", "kind": "VolumeSnapshot"],
                              "source": ["component": "snapshot-controller"], "count": 1, "lastTimestamp": "2026-11-27T20:51:00Z"])
        cluster.put(.events, ["metadata": ["name": "other.b", "namespace": "apps"], "type": "Normal", "reason": "X",
                              "message": "not mine", "involvedObject": ["name": "data-ssd", "kind": "PersistentVolumeClaim"]])
        let r = await evssnap(["describe", "snap-1"], cluster: cluster)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out == """
            Name:               snap-1
            Namespace:          apps
            Labels:             <none>
            Annotations:        <none>
            Class:              csi-disk-snapclass
            Source PVC:         data-ssd
            Status:             available
            Ready To Use:       true
            Restore Size:       10Gi
            Creation Time:      2026-11-27T20:50:00Z
            Content:
              Name:             snapcontent-snap-1
              Driver:           disk.csi.everest.io
              Volume Handle:    d-ssd
              Snapshot Handle:  s-snap-1
              Deletion Policy:  Delete
              Ready To Use:     true
            Source:
              PVC:              apps/data-ssd (Bound, 10Gi, class csi-disk)
              PV:               pvc-data-ssd (Bound, driver disk.csi.everest.io)
            Restore Must Match:
              Disk:             d-ssd
              Disk Type:        SSD
              Disk Mode:        SCSI
              Encryption:       plain
              Sharing:          non-shared
              Capacity:         10Gi
              Region/Zone:      cn-north-4/cn-north-4a
              FS Type:          ext4
            Events:
              Type     Reason          Age    From                  Message
              ----     ------          ----   ----                  -------
              Normal   SnapshotReady   14m    snapshot-controller   Snapshot apps/snap-1 is ready to use.

            """)
    }

    @Test("check without PVC: cluster rules only, ✔ marks on a terminal")
    func checkCluster() async {
        let r = await evssnap(["check"], tty: true)
        #expect(r.code == 0)
        #expect(r.out == """
            ✔ R1 cluster version v1.36.2 ≥ 1.15
            ✔ R2 CSI driver disk.csi.everest.io registered, snapshot.storage.k8s.io/v1 served, VolumeSnapshotClass csi-disk-snapclass of disk.csi.everest.io

            """)
    }

    @Test("check PVC: every rule passed, ASCII marks when not a terminal")
    func checkPVC() async {
        let r = await evssnap(["check", "data-ssd"])
        #expect(r.code == 0)
        #expect(r.out == """
            [ok]         R1 cluster version v1.36.2 ≥ 1.15
            [ok]         R2 CSI driver disk.csi.everest.io registered, snapshot.storage.k8s.io/v1 served, VolumeSnapshotClass csi-disk-snapclass of disk.csi.everest.io
            [ok]         R3 PVC apps/data-ssd is bound to PV pvc-data-ssd of CSI driver disk.csi.everest.io
            [ok]         R4 disk d-ssd is available or in-use
            [ok]         R5 disk d-ssd has 1 of 7 snapshots

            """)
    }

    @Test("source PVC deleted: describe and restore find the disk through the content's volumeHandle")
    func sourcePVCGone() async {
        let cluster = World.standard()
        cluster.remove(.persistentVolumeClaims, namespace: "apps", name: "data-ssd")
        let d = await evssnap(["describe", "snap-1"], cluster: cluster)
        #expect(d.code == 0, "\(d.err)")
        #expect(d.out.contains("  PVC:              data-ssd (not found)\n"))
        #expect(d.out.contains("  Disk:             d-ssd\n"))
        // Without the PVC's annotation the PV's attributes say SAS.
        #expect(d.out.contains("  Disk Type:        SAS\n"))
        let r = await evssnap(["restore", "snap-1", "--to", "copy", "--dry-run=client", "-o", "json"], cluster: cluster)
        #expect(r.code == 0, "\(r.err)")
    }

    @Test("an old SATA disk can be described and snapshotted")
    func sataSource() async {
        let cluster = World.standard()
        cluster.put(.persistentVolumeClaims, World.pvc("old-sata", volume: "pv-sata", annotations: ["everest.io/disk-volume-type": "SATA"]))
        cluster.put(.persistentVolumes, World.pv("pv-sata", handle: "d-sata", claim: "old-sata", attributes: ["everest.io/disk-volume-type": "SATA"]))
        World.addSnapshot(cluster, "snap-sata", pvc: "old-sata", disk: "d-sata")
        let d = await evssnap(["describe", "snap-sata"], cluster: cluster)
        #expect(d.code == 0, "\(d.err)")
        #expect(d.out.contains("  Disk Type:        SATA\n"))
        let c = await evssnap(["create", "old-sata", "--name", "s2"], cluster: cluster)
        #expect(c.code == 0, "\(c.err)")
    }

    @Test("source disk unknown: restore stops with a runtime error (exit 1), nothing created")
    func sourceDiskGone() async {
        let cluster = World.standard()
        cluster.remove(.persistentVolumeClaims, namespace: "apps", name: "data-ssd")
        cluster.remove(.persistentVolumes, namespace: nil, name: "pvc-data-ssd")
        let r = await evssnap(["restore", "snap-1", "--to", "copy"], cluster: cluster)
        #expect(r.code == 1)
        #expect(r.err.hasPrefix("error: cannot find the source disk of volumesnapshot/snap-1"))
        #expect(cluster.writes.isEmpty)
    }

    @Test("check PVC with a unit-less request: the R12 warning is listed")
    func checkWarning() async {
        let cluster = World.standard()
        cluster.put(.persistentVolumeClaims, World.pvc("tiny", volume: "pv-tiny", storage: "10"))
        cluster.put(.persistentVolumes, World.pv("pv-tiny", handle: "d-tiny", claim: "tiny", capacity: "1Gi"))
        let r = await evssnap(["check", "tiny"], cluster: cluster)
        #expect(r.code == 0, "\(r.err)")
        #expect(r.out.contains("[warn]       R12: storage quantity '10' has no unit"))
    }

    @Test("version needs no cluster")
    func version() async {
        let r = await evssnap(["version"], cluster: InMemoryCluster())
        #expect(r.code == 0)
        #expect(r.out == "kubectl-evssnap v0.1.0\n")
    }
}
