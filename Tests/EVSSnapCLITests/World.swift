import EVSSnapCLI
import Foundation
import JSONCore
import struct KubeClient.ResourceType

/// A small cluster shaped like the recorded one (k8s-fixtures): namespace apps, StorageClass csi-disk
/// (SAS, passthrough true), the Everest CSIDriver and csi-disk-snapclass; PVC data-ssd (annotation SSD)
/// bound to an Everest PV of disk d-ssd in cn-north-4a; PVC old-flex on a FlexVolume PV; PVC static-evs
/// on an encrypted SCSI static PV; snapshot snap-1 of data-ssd, ready.
enum World {
    static let vs = ResourceType.volumeSnapshots.withVersion("v1")
    static let vsc = ResourceType.volumeSnapshotContents.withVersion("v1")
    static let vsclass = ResourceType.volumeSnapshotClasses.withVersion("v1")
    static let now = KubeTime.parse("2026-11-27T21:05:01Z")!

    static func standard() -> InMemoryCluster {
        let c = InMemoryCluster()
        c.put(.csiDrivers, ["metadata": ["name": "disk.csi.everest.io"], "spec": ["attachRequired": true]])
        c.put(vsclass, ["apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass",
                        "metadata": ["name": "csi-disk-snapclass"], "driver": "disk.csi.everest.io", "deletionPolicy": "Delete"])
        c.put(.storageClasses, storageClass("csi-disk", params: [
            "csi.storage.k8s.io/csi-driver-name": "disk.csi.everest.io", "csi.storage.k8s.io/fstype": "ext4",
            "everest.io/disk-volume-type": "SAS", "everest.io/passthrough": "true"]))
        c.put(.storageClasses, storageClass("sas", provisioner: "flexvolume-huawei.com/fuxivol", params: [:]))
        c.put(.persistentVolumeClaims, pvc("data-ssd", volume: "pvc-data-ssd", annotations: ["everest.io/disk-volume-type": "SSD"]))
        c.put(.persistentVolumes, pv("pvc-data-ssd", handle: "d-ssd", claim: "data-ssd",
                                     attributes: ["everest.io/disk-volume-type": "SAS", "everest.io/passthrough": "true"]))
        c.put(.persistentVolumeClaims, pvc("old-flex", storageClass: "sas", volume: "pv-flex-old"))
        c.put(.persistentVolumes, ["metadata": ["name": "pv-flex-old"],
                                   "spec": ["capacity": ["storage": "10Gi"], "storageClassName": "sas",
                                            "flexVolume": ["driver": "huawei.com/fuxivol", "fsType": "ext4"]],
                                   "status": ["phase": "Bound"]])
        c.put(.persistentVolumeClaims, pvc("static-evs", volume: "pv-static-evs",
                                           annotations: ["everest.io/disk-volume-type": "SAS", "everest.io/crypt-key-id": "kms-1"]))
        c.put(.persistentVolumes, pv("pv-static-evs", handle: "d-static", claim: "static-evs", fsType: "xfs",
                                     attributes: ["everest.io/disk-mode": "SCSI", "everest.io/disk-volume-type": "SAS",
                                                  "everest.io/crypt-key-id": "kms-1"]))
        addSnapshot(c, "snap-1", pvc: "data-ssd", disk: "d-ssd")
        return c
    }

    static func storageClass(_ name: String, provisioner: String = "disk.csi.everest.io", params: [String: String],
                             zones: [String]? = nil) -> JSON {
        var o: JSON = ["apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": ["name": .string(name)],
                            "provisioner": .string(provisioner), "parameters": .object(params.mapValues { .string($0) })]
        if let zones {
            o["allowedTopologies"] = [["matchLabelExpressions": [["key": "topology.kubernetes.io/zone", "values": .array(zones.map { .string($0) })]]]]
        }
        return o
    }

    static func pvc(_ name: String, namespace: String = "apps", phase: String = "Bound", storageClass: String = "csi-disk",
                    volume: String? = nil, storage: String = "10Gi", annotations: [String: String] = [:],
                    dataSource: String? = nil) -> JSON {
        var o: JSON = [
            "apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": ["name": .string(name), "namespace": .string(namespace), "creationTimestamp": "2026-11-27T20:00:00Z",
                         "labels": ["failure-domain.beta.kubernetes.io/region": "cn-north-4",
                                    "failure-domain.beta.kubernetes.io/zone": "cn-north-4a"],
                         "annotations": .object(annotations.mapValues { .string($0) })],
            "spec": ["accessModes": ["ReadWriteOnce"], "storageClassName": .string(storageClass),
                     "resources": ["requests": ["storage": .string(storage)]]],
            "status": ["phase": .string(phase)],
        ]
        if let volume {
            o["spec"]["volumeName"] = .string(volume)
            o["status"]["capacity"] = ["storage": .string(storage)]
        }
        if let dataSource {
            o["spec"]["dataSource"] = ["apiGroup": "snapshot.storage.k8s.io", "kind": "VolumeSnapshot", "name": .string(dataSource)]
        }
        return o
    }

    static func pv(_ name: String, driver: String = "disk.csi.everest.io", handle: String, claim: String,
                   phase: String = "Bound", capacity: String = "10Gi", fsType: String = "ext4",
                   attributes: [String: String] = [:]) -> JSON {
        ["apiVersion": "v1", "kind": "PersistentVolume", "metadata": ["name": .string(name)],
         "spec": ["capacity": ["storage": .string(capacity)], "storageClassName": "csi-disk",
                  "claimRef": ["name": .string(claim), "namespace": "apps"],
                  "csi": ["driver": .string(driver), "volumeHandle": .string(handle), "fsType": .string(fsType),
                          "volumeAttributes": .object(attributes.mapValues { .string($0) })]],
         "status": ["phase": .string(phase)]]
    }

    /// A VolumeSnapshot and (unless `content` is false) its content.
    static func addSnapshot(_ c: InMemoryCluster, _ name: String, namespace: String = "apps", pvc: String, disk: String,
                            ready: Bool = true, error: String? = nil, content: Bool = true, created: String = "2026-11-27T20:50:00Z") {
        var status: JSON = ["readyToUse": .bool(ready)]
        if content { status["boundVolumeSnapshotContentName"] = .string("snapcontent-\(name)") }
        if ready { status["restoreSize"] = "10Gi"; status["creationTime"] = .string(created) }
        if let error { status["error"] = ["message": .string(error), "time": .string(created)] }
        c.put(vs, ["apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
                   "metadata": ["name": .string(name), "namespace": .string(namespace), "creationTimestamp": .string(created)],
                   "spec": ["source": ["persistentVolumeClaimName": .string(pvc)], "volumeSnapshotClassName": "csi-disk-snapclass"],
                   "status": status])
        if content {
            var cs: JSON = ["readyToUse": .bool(ready)]
            if ready { cs["restoreSize"] = .int(10_737_418_240); cs["snapshotHandle"] = .string("s-\(name)") }
            if let error { cs["error"] = ["message": .string(error)] }
            c.put(vsc, ["apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotContent",
                        "metadata": ["name": .string("snapcontent-\(name)")],
                        "spec": ["driver": "disk.csi.everest.io", "deletionPolicy": "Delete",
                                 "source": ["volumeHandle": .string(disk)],
                                 "volumeSnapshotRef": ["name": .string(name), "namespace": .string(namespace)]],
                        "status": cs])
        }
    }
}

/// What one run of the plugin produced.
struct RunResult {
    var code: Int32
    var out: String
    var err: String
}

/// Runs `kubectl evssnap ARGS` in-process against `cluster`, with output captured and the clock fixed.
func evssnap(_ args: [String], cluster: InMemoryCluster = World.standard(), tty: Bool = false, namespace: String = "apps") async -> RunResult {
    let out = BufferSink(), err = BufferSink()
    let env = CommandEnvironment(
        console: Console(out: out, err: err, isTerminal: tty),
        connect: { _ in ClusterConnection(api: cluster, defaultNamespace: namespace) },
        now: { World.now }, pollInterval: .milliseconds(1), helpColumns: 80)
    let code = await EVSSnapMain.run(arguments: args, in: env)
    return RunResult(code: code, out: out.text, err: err.text)
}
