"""The driver's own refusals when the plugin is bypassed with plain `kubectl apply`: the rule id reaches the
user through the real sidecars and controllers, nothing half-made stays in the emulator, and a refused
object can be deleted at once and does not come back (R5, R8)."""
import time

import yaml

from conftest import MAX_SNAPSHOTS_PER_DISK
from e2e import ensure_namespace, made_objects, pvc, volume_handle, volume_snapshot, wait_bound, wait_ready
from kubecluster import events_of, pvc_path, vs_path, vsc_path, wait_for

NS = "e2e-refusals"
# Longer than the sidecars' longest retry interval (2 s, conftest.RETRY_ARGS), three times over.
QUIET_WINDOW = 6.0


def apply(admin, obj):
    admin.kubectl("apply", "-f", "-", input=yaml.safe_dump(obj))


def test_r5_snapshot_beyond_the_limit(admin, evs, timings):
    api = admin.api
    ensure_namespace(api, NS)
    with made_objects(api) as made:
        made.create(pvc_path(NS), pvc("r5-src", NS, "10Gi"))
        disk_id, _ = volume_handle(api, wait_bound(api, NS, "r5-src"))
        allowed = [f"r5-{i}" for i in range(MAX_SNAPSHOTS_PER_DISK)]
        for name in allowed:
            made.add(vs_path(NS, name))
            apply(admin, volume_snapshot(name, NS, "r5-src"))
        for name in allowed:
            wait_ready(api, NS, name)
        assert len(evs.snapshots(disk_id)) == MAX_SNAPSHOTS_PER_DISK

        # One more, with plain kubectl apply: the driver refuses it with R5 and the message reaches the
        # VolumeSnapshot's status.error.
        made.add(vs_path(NS, "r5-over"))
        t0 = time.monotonic()
        apply(admin, volume_snapshot("r5-over", NS, "r5-src"))

        def refused():
            status = api.get(vs_path(NS, "r5-over")).get("status") or {}
            return status if "R5" in ((status.get("error") or {}).get("message") or "") else None
        status = wait_for("R5 in VolumeSnapshot r5-over's status.error.message", refused, 60, 0.05)
        timings["R5: refusal in VolumeSnapshot status.error"] = time.monotonic() - t0
        assert status.get("readyToUse") is not True
        over = api.get(vs_path(NS, "r5-over"))
        over_uid = over["metadata"]["uid"]
        # Nothing half-made: the disk still has exactly the allowed snapshots, all available.
        snaps = evs.snapshots(disk_id)
        assert [s["status"] for s in snaps] == ["available"] * MAX_SNAPSHOTS_PER_DISK, snaps

        # The refused snapshot can be deleted at once: no retry of CreateSnapshot holds it in Terminating
        # (R5 is FAILED_PRECONDITION, a final error for csi-snapshotter).
        content_name = (over.get("status") or {}).get("boundVolumeSnapshotContentName")
        t0 = time.monotonic()
        api.delete(vs_path(NS, "r5-over"))
        wait_for("VolumeSnapshot r5-over to be deleted (it is refused; nothing should hold it)",
                 lambda: api.get_or_none(vs_path(NS, "r5-over")) is None, 15, 0.05)
        if content_name:
            api.wait_gone(vsc_path(content_name), 15)
        timings["R5: refused VolumeSnapshot deleted"] = time.monotonic() - t0

        # A slot frees: the refused snapshot must not appear after all.
        made.delete(vs_path(NS, allowed[0]))
        assert len(evs.snapshots(disk_id)) == MAX_SNAPSHOTS_PER_DISK - 1
        deadline = time.monotonic() + QUIET_WINDOW
        while time.monotonic() < deadline:
            snaps = evs.snapshots(disk_id)
            names = [s["name"] for s in snaps]
            assert len(snaps) == MAX_SNAPSHOTS_PER_DISK - 1 and not any(over_uid in n for n in names), \
                f"a snapshot appeared for the deleted, refused VolumeSnapshot r5-over: {snaps}"
            contents = api.get(vsc_path())["items"]
            assert not any((c["spec"].get("volumeSnapshotRef") or {}).get("uid") == over_uid for c in contents)
            time.sleep(0.25)


def test_r8_restore_of_another_size(admin, evs, timings):
    api = admin.api
    ensure_namespace(api, NS)
    with made_objects(api) as made:
        made.create(pvc_path(NS), pvc("r8-src", NS, "10Gi"))
        disk_id, _ = volume_handle(api, wait_bound(api, NS, "r8-src"))
        made.add(vs_path(NS, "r8-snap"))
        apply(admin, volume_snapshot("r8-snap", NS, "r8-src"))
        wait_ready(api, NS, "r8-snap")
        disks_before = {d["id"] for d in evs.disks()}

        # Bigger than the source (a smaller one is refused by csi-provisioner itself, before the driver).
        made.add(pvc_path(NS, "r8-bigger"))
        t0 = time.monotonic()
        apply(admin, pvc("r8-bigger", NS, "20Gi", snapshot="r8-snap"))
        events = wait_for("R8 in PVC r8-bigger's events",
                          lambda: [e for e in events_of(api, NS, "PersistentVolumeClaim", "r8-bigger") if "R8" in e],
                          60, 0.05)
        timings["R8: refusal in the PVC's events"] = time.monotonic() - t0
        assert any(e.startswith("ProvisioningFailed:") for e in events), events
        time.sleep(1.0)
        claim = api.get(pvc_path(NS, "r8-bigger"))
        assert claim["status"]["phase"] == "Pending"
        assert not claim["spec"].get("volumeName")
        # Nothing half-made: no new disk, none in `creating`.
        assert {d["id"] for d in evs.disks()} == disks_before
        assert [s["status"] for s in evs.snapshots(disk_id)] == ["available"]
        # The Pending PVC goes away at once.
        made.delete(pvc_path(NS, "r8-bigger"), timeout=15)
    assert evs.disk(disk_id) is None
