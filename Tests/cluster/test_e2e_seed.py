"""The seed's flow (shared/seed, CCE "Snapshots and backups") on the real API server and sidecars, through
`kubectl evssnap` only: the PVC of deploy/examples/01-pvc-data-ssd.yaml Bound, `create --wait`, `list`,
`describe`, `restore --wait` to a Bound PVC whose disk has the source's attributes and data (R8, R9)."""
import os
import time

import pytest

from conftest import REPO_ROOT, EVS_DRIVER
from e2e import GI, check_plugin_describe, check_plugin_list, made_objects, timed, volume_handle, wait_bound
from kubecluster import pvc_path, vs_path, vsc_path

NS = "default"  # the example's namespace, as the seed page has it
MARK_OFFSET = 64 << 20  # where a MiB of known bytes is written on the source disk before the snapshot


def test_deploy_is_accepted_by_the_real_api_server(admin, evs):
    """Everything under deploy/ (kustomization: Deployment and DaemonSet included) passes the real API server's
    validation and admission (server-side dry run)."""
    result = admin.kubectl("apply", "--dry-run=server", "-k", str(REPO_ROOT / "deploy"), check=False)
    assert result.returncode == 0, result.stderr
    for kind in ("csidriver.storage.k8s.io/disk.csi.everest.io", "storageclass.storage.k8s.io/csi-disk",
                 "volumesnapshotclass.snapshot.storage.k8s.io/csi-disk-snapclass",
                 "deployment.apps/evs-csi-controller", "daemonset.apps/evs-csi-node"):
        assert kind in result.stdout, result.stdout


def test_seed_flow_through_kubectl_evssnap(admin, evs, plugin, timings):
    api = admin.api
    with made_objects(api) as made:
        # 1. The seed's PVC: csi-disk (SAS) with the annotation everest.io/disk-volume-type: SSD and the
        #    region/zone labels. The driver reads the annotation through the cluster (--extra-create-metadata).
        made.add(pvc_path(NS, "data-ssd"))
        t0 = time.monotonic()
        admin.kubectl("apply", "-f", str(REPO_ROOT / "deploy" / "examples" / "01-pvc-data-ssd.yaml"))
        source = wait_bound(api, NS, "data-ssd")
        timings["seed: PVC data-ssd Bound (kubectl apply)"] = time.monotonic() - t0
        disk_id, pv = volume_handle(api, source)
        assert pv["spec"]["csi"]["driver"] == EVS_DRIVER
        disk = evs.disk(disk_id)
        assert disk is not None, f"PV {pv['metadata']['name']} names disk {disk_id}, unknown to the emulator"
        assert (disk["type"], disk["region"], disk["zone"], disk["capacityGiB"], disk["status"]) == \
            ("SSD", "cn-north-4", "cn-north-4a", 10, "available"), disk

        # Known bytes on the disk, as a pod would have written them (no kubelet here: straight to the image).
        mark = os.urandom(1 << 20)
        with open(evs.disk_image(disk_id), "r+b") as image:
            image.seek(MARK_OFFSET)
            image.write(mark)
            image.flush()
            os.fsync(image.fileno())

        # 2. kubectl evssnap create --wait
        made.add(vs_path(NS, "snap-1"))
        result, seconds = timed(plugin, admin, "create", "data-ssd", "--name", "snap-1", "--wait", "--timeout", "90s")
        timings["seed: kubectl evssnap create --wait (wall)"] = seconds
        assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"
        assert "volumesnapshot.snapshot.storage.k8s.io/snap-1 created" in result.stdout + result.stderr
        assert "volumesnapshot/snap-1 is ready to use" in result.stdout + result.stderr
        vs = api.get(vs_path(NS, "snap-1"))
        assert vs["status"]["readyToUse"] is True
        assert vs["status"]["restoreSize"] in ("10Gi", str(10 * GI)), vs["status"]
        content = api.get(vsc_path(vs["status"]["boundVolumeSnapshotContentName"]))
        handle = content["status"]["snapshotHandle"]
        snaps = evs.snapshots(disk_id)
        assert [(s["id"], s["status"], s["sourceType"], s["sizeGiB"]) for s in snaps] == \
            [(handle, "available", "SSD", 10)], snaps

        # 3. kubectl evssnap list
        check_plugin_list(plugin, admin, "snap-1", "data-ssd")

        # 4. kubectl evssnap describe: the snapshot, its content and the disk attributes a restore must match.
        check_plugin_describe(plugin, admin, "snap-1",
                              ("snap-1", "data-ssd", handle, disk_id, "SSD", "cn-north-4a", EVS_DRIVER))

        # 5. kubectl evssnap restore --wait: a new PVC of R10's shape, Bound to a disk identical to the source.
        made.add(pvc_path(NS, "data-ssd-restore"))
        result, seconds = timed(plugin, admin, "restore", "snap-1", "--to", "data-ssd-restore", "--wait",
                                "--timeout", "90s")
        timings["seed: kubectl evssnap restore --wait (wall)"] = seconds
        assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"
        restored = api.get(pvc_path(NS, "data-ssd-restore"))
        assert restored["status"]["phase"] == "Bound"
        assert restored["metadata"]["annotations"]["everest.io/disk-volume-type"] == "SSD"
        for label in ("failure-domain.beta.kubernetes.io/region", "failure-domain.beta.kubernetes.io/zone"):
            assert restored["metadata"]["labels"][label] == source["metadata"]["labels"][label]
        assert restored["spec"]["dataSource"]["name"] == "snap-1"
        new_id, _ = volume_handle(api, restored)
        new = evs.disk(new_id)
        same = ("type", "mode", "cryptKeyID", "shared", "fsType", "region", "zone", "capacityGiB")
        assert {k: new[k] for k in same} == {k: disk[k] for k in same}, (new, disk)
        assert new["sourceSnapshotID"] == handle
        with open(evs.disk_image(new_id), "rb") as image:
            image.seek(MARK_OFFSET)
            assert image.read(len(mark)) == mark, "the restored disk does not hold the source's data"
        assert os.path.getsize(evs.disk_image(new_id)) == 10 * GI

    # Cleanup (restore PVC, snapshot, PVC, in that order: R13) left nothing in the emulator.
    assert evs.disk(disk_id) is None and evs.disk(new_id) is None
    assert evs.snapshots(disk_id) == []
    assert not evs.disk_image(disk_id).exists() and not evs.disk_image(new_id).exists()
