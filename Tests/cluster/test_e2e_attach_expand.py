"""Attach and expand through the real csi-attacher and csi-resizer: a VolumeAttachment made by hand (as the
attach-detach controller makes it) is attached and the disk is in-use; a snapshot of the attached disk succeeds
(R4: in-use disks may be snapshotted); a larger PVC request reaches the PV through ControllerExpandVolume;
detach and delete leave nothing behind."""
import os
import time

from conftest import EVS_DRIVER, NODE_NAME
from e2e import GI, ensure_namespace, made_objects, pvc, timed, volume_handle, wait_bound
from kubecluster import pv_path, pvc_path, va_path, vs_path, wait_for

NS = "e2e-attach"


def test_attach_snapshot_expand_detach(admin, evs, plugin, timings):
    api = admin.api
    ensure_namespace(api, NS)
    with made_objects(api) as made:
        made.create(pvc_path(NS), pvc("disk-a", NS, "10Gi"))
        source = wait_bound(api, NS, "disk-a")
        disk_id, pv = volume_handle(api, source)
        pv_name = pv["metadata"]["name"]

        # Attach: the VolumeAttachment the attach-detach controller would make for a pod on node-1.
        va_name = f"e2e-{pv_name}"
        va = {"apiVersion": "storage.k8s.io/v1", "kind": "VolumeAttachment", "metadata": {"name": va_name},
              "spec": {"attacher": EVS_DRIVER, "nodeName": NODE_NAME,
                       "source": {"persistentVolumeName": pv_name}}}
        made.create(va_path(), va)
        _, seconds = timed(wait_for, f"VolumeAttachment {va_name} attached",
                           lambda: (api.get(va_path(va_name)).get("status") or {}).get("attached"), 60, 0.02)
        timings["attach: VolumeAttachment attached"] = seconds
        assert evs.disk(disk_id)["status"] == "in-use"
        assert evs.attachments(disk_id) == [NODE_NAME]
        assert list(evs.get_volume(disk_id).status.published_node_ids) == [NODE_NAME]

        # R4: a snapshot of an in-use disk is allowed (crash-consistent), through the plugin.
        made.add(vs_path(NS, "attached-snap"))
        result = plugin(admin, "create", "disk-a", "-n", NS, "--name", "attached-snap", "--wait", "--timeout", "90s")
        assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"
        snaps = evs.snapshots(disk_id)
        assert [s["status"] for s in snaps] == ["available"], snaps
        assert evs.disk(disk_id)["status"] == "in-use"

        # Expand while attached (EVS extends in-use disks): csi-resizer -> ControllerExpandVolume -> PV.
        t0 = time.monotonic()
        api.merge_patch(pvc_path(NS, "disk-a"), {"spec": {"resources": {"requests": {"storage": "20Gi"}}}})
        wait_for(f"PV {pv_name} at 20Gi",
                 lambda: api.get(pv_path(pv_name))["spec"]["capacity"]["storage"] == "20Gi", 60, 0.02)
        timings["expand: PV at 20Gi after the PVC patch"] = time.monotonic() - t0
        disk = evs.disk(disk_id)
        assert (disk["capacityGiB"], disk["status"]) == (20, "in-use"), disk
        assert os.path.getsize(evs.disk_image(disk_id)) == 20 * GI
        # The file system's growth is the node's (kubelet's) part: csi-resizer leaves the PVC waiting for it.
        def conditions():
            return [c["type"] for c in (api.get(pvc_path(NS, "disk-a")).get("status") or {}).get("conditions") or []]
        wait_for("PVC disk-a condition FileSystemResizePending", lambda: "FileSystemResizePending" in conditions(),
                 30, 0.02)

        # Detach.
        t0 = time.monotonic()
        api.delete(va_path(va_name))
        api.wait_gone(va_path(va_name), 60)
        timings["detach: VolumeAttachment gone"] = time.monotonic() - t0
        assert evs.attachments(disk_id) == []
        assert evs.disk(disk_id)["status"] == "available"
        assert list(evs.get_volume(disk_id).status.published_node_ids) == []

    # Deleted in order (snapshot, then PVC): nothing left of the disk or its snapshot.
    assert evs.disk(disk_id) is None
    assert evs.snapshots(disk_id) == []
    assert not evs.disk_image(disk_id).exists()
    assert api.get_or_none(pv_path(pv_name)) is None
