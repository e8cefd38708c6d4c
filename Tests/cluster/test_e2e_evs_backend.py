"""The seed's flow on the real control plane and sidecars with the driver on `--backend evs`, against the fake EVS +
ECS + IAM service (Tests/fake-evs): the PVC of deploy/examples/01-pvc-data-ssd.yaml Bound, `kubectl evssnap create
--wait`, `list`, `describe`, `restore --wait` to a Bound PVC whose EVS disk (as the fake reports it) has the
source's attributes; then everything deleted and the fake holding no disk and no snapshot.

The driver registers under the same name as the session's emulator stack (`evs` fixture, disk.csi.everest.io), so
the two cannot serve one cluster at once: this module runs in its own pytest session (`make test-evs`) and skips
when other modules of the session use the emulator stack. Nothing attaches here (no kubelet, no ECS server): see
docs/evs.md for what that leaves unproven.
"""
import importlib.util
import pathlib
import shutil
import sys
import tempfile
import time

import pytest

import kubecluster as kc
from conftest import EVS_DRIVER, REPO_ROOT, _apply_deploy, csi_stack, driver_argv
from e2e import check_plugin_describe, check_plugin_list, made_objects, timed, volume_handle, wait_bound
from kubecluster import pvc_path, vs_path, vsc_path

NS = "default"


_spec = importlib.util.spec_from_file_location("evs_conftest", REPO_ROOT / "Tests" / "evs" / "conftest.py")
_evs_conftest = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_evs_conftest)
Fake = _evs_conftest.Fake

MODULE_START = time.monotonic()


@pytest.fixture(scope="module")
def fake():
    # EVS-like pace: a job takes 0.3 s, a snapshot stays `creating` 1 s (CreateSnapshot answers ready_to_use=false
    # first; the snapshotter asks again).
    f = Fake(["--job-seconds", "0.3", "--snapshot-seconds", "1.0"])
    yield f
    f.stop()


@pytest.fixture(scope="module")
def evs_cloud(request, cluster, admin, built, csi_pb, fake, timings):
    """deploy/ applied and the driver with `--backend evs` on the fake (AK/SK credentials, the fake's CA), with the
    four sidecars as the emulator stack has them. Teardown: the fake holds no disk and no snapshot."""
    others = sorted({item.nodeid.split("::")[0] for item in request.session.items
                     if "evs" in getattr(item, "fixturenames", ()) and item.module.__name__ != __name__})
    if others:
        pytest.skip(f"runs in its own pytest session (make test-evs): {', '.join(others)} use the emulator stack "
                    f"under the same driver name {EVS_DRIVER}")
    t0 = time.monotonic()
    _apply_deploy(admin, ["namespace.yaml", "rbac.yaml", "csidriver.yaml", "storageclass.yaml",
                          "volumesnapshotclass.yaml"])
    identity = cluster.service_account_user("evssnap", "evs-csi-controller")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="evs-cloud-e2e-", dir="/tmp"))
    sock = tmp / "csi.sock"
    server = fake["servers"][0]  # the node's ECS server id is its CSI node id
    zones = [f"{fake['region']}/{fake['zones'][0]}", f"{fake['region']}/{fake['zones'][1]}"]
    argv = driver_argv(built, sock, server, tmp / "state", zones, identity) + [
            "--backend", "evs", "--project-id", fake["project_id"], "--cloud-credentials", fake["credentials_aksk"],
            "--evs-endpoint", fake["url"], "--ecs-endpoint", fake["ecs_url"], "--iam-endpoint", fake["iam_url"],
            "--cloud-ca-file", fake["ca"], "--cloud-poll-interval-ms", "100"]
    stack = csi_stack(cluster, EVS_DRIVER, argv, sock, csi_pb, identity)
    stack.start()
    timings["evs backend: evs-csi-driver --backend evs + 4 sidecars up"] = time.monotonic() - t0
    yield stack
    left = []
    try:
        kc.wait_for("the fake to hold no disk and no snapshot",
                    lambda: not (s := fake.state())["volumes"] and not s["snapshots"], 30, 0.2)
    except kc.HarnessError:
        state = fake.state()
        left = state["volumes"] + state["snapshots"]
    driver = stack.driver
    stack.stop()
    shutil.rmtree(tmp, ignore_errors=True)
    assert driver.popen.returncode == 0, f"evs-csi-driver exited with {driver.popen.returncode} on SIGTERM"
    assert not left, f"left in the fake EVS after the tests: {left}"
    log = (pathlib.Path(stack.logs) / f"{EVS_DRIVER}-driver.log").read_text(errors="replace")
    for secret in (fake["secret_key"], fake["password"]):
        assert secret not in log, "a cloud secret appears in the driver's log"


def fake_volume(fake, volume_id):
    return next((v for v in fake.state()["volumes"] if v["id"] == volume_id), None)


def attributes(volume):
    """What R8 requires equal, as EVS expresses it (docs/evs.md: volume_type, multiattach, hw:passthrough,
    __system__encrypted/__system__cmkid), plus the zone (R9), the size and the driver's file-system record."""
    meta = volume["metadata"]
    return {"volume_type": volume["volume_type"], "availability_zone": volume["availability_zone"],
            "size": volume["size"], "multiattach": volume["multiattach"],
            "passthrough": meta.get("hw:passthrough", "false"), "encrypted": meta.get("__system__encrypted", "0"),
            "cmkid": meta.get("__system__cmkid", ""), "fstype": meta.get("evssnap.io/fstype")}


def test_seed_flow_on_the_evs_backend(admin, evs_cloud, fake, plugin, timings):
    api = admin.api
    flow_start = time.monotonic()
    with made_objects(api) as made:
        # 1. The seed's PVC (csi-disk says SAS, the annotation SSD): the driver reads the annotation through the
        #    cluster and asks EVS for an SSD disk in the labelled zone.
        made.add(pvc_path(NS, "data-ssd"))
        t0 = time.monotonic()
        admin.kubectl("apply", "-f", str(REPO_ROOT / "deploy" / "examples" / "01-pvc-data-ssd.yaml"))
        source = wait_bound(api, NS, "data-ssd")
        timings["evs backend: PVC data-ssd Bound (kubectl apply)"] = time.monotonic() - t0
        disk_id, pv = volume_handle(api, source)
        assert pv["spec"]["csi"]["driver"] == EVS_DRIVER
        disk = fake_volume(fake, disk_id)
        assert disk is not None, f"PV {pv['metadata']['name']} names disk {disk_id}, unknown to the fake EVS"
        assert disk["status"] == "available" and disk["metadata"]["evssnap.io/csi-volume-name"] == pv["metadata"]["name"]
        assert attributes(disk) == {"volume_type": "SSD", "availability_zone": "cn-north-4a", "size": 10,
                                    "multiattach": False, "passthrough": "false", "encrypted": "0", "cmkid": "",
                                    "fstype": "ext4"}, disk

        # 2. kubectl evssnap create --wait: EVS says `creating` first (ready_to_use=false), then `available`.
        made.add(vs_path(NS, "snap-1"))
        result, seconds = timed(plugin, admin, "create", "data-ssd", "--name", "snap-1", "--wait", "--timeout", "90s")
        timings["evs backend: kubectl evssnap create --wait (wall)"] = seconds
        assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"
        assert "volumesnapshot/snap-1 is ready to use" in result.stdout + result.stderr
        vs = api.get(vs_path(NS, "snap-1"))
        assert vs["status"]["readyToUse"] is True
        content = api.get(vsc_path(vs["status"]["boundVolumeSnapshotContentName"]))
        handle = content["status"]["snapshotHandle"]
        snaps = [s for s in fake.state()["snapshots"] if s["volume_id"] == disk_id]
        assert [(s["id"], s["status"], s["size"]) for s in snaps] == [(handle, "available", 10)], snaps
        assert snaps[0]["metadata"]["evssnap.io/source-volume-type"] == "SSD"

        # 3. kubectl evssnap list
        check_plugin_list(plugin, admin, "snap-1", "data-ssd")

        # 4. kubectl evssnap describe
        check_plugin_describe(plugin, admin, "snap-1",
                              ("snap-1", "data-ssd", handle, disk_id, "SSD", "cn-north-4a", EVS_DRIVER))

        # 5. kubectl evssnap restore --wait: EVS creates the new disk from the snapshot (snapshot_id), identical.
        made.add(pvc_path(NS, "data-ssd-restore"))
        result, seconds = timed(plugin, admin, "restore", "snap-1", "--to", "data-ssd-restore", "--wait",
                                "--timeout", "90s")
        timings["evs backend: kubectl evssnap restore --wait (wall)"] = seconds
        assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"
        restored = api.get(pvc_path(NS, "data-ssd-restore"))
        assert restored["status"]["phase"] == "Bound"
        assert restored["spec"]["dataSource"]["name"] == "snap-1"
        new_id, _ = volume_handle(api, restored)
        new = fake_volume(fake, new_id)
        assert new is not None and new_id != disk_id
        assert new["snapshot_id"] == handle and new["status"] == "available", new
        assert attributes(new) == attributes(disk), (new, disk)
        t0 = time.monotonic()
    timings["evs backend: delete restore PVC, snapshot, PVC (disks and snapshot gone)"] = time.monotonic() - t0

    # 6. Deleted in R13's order (restore PVC, snapshot, PVC): the fake holds nothing.
    state = fake.state()
    assert state["volumes"] == [] and state["snapshots"] == [], state
    # Nothing attached: no ECS call was made (no kubelet, no pod).
    assert not any("cloudservers" in key for key in state["requests"]), state["requests"]
    timings["evs backend: seed flow total"] = time.monotonic() - flow_start
    elapsed = time.monotonic() - MODULE_START
    timings["evs backend: module incl. cluster start"] = elapsed
    # No wall-clock assertion: make test-evs bounds the session with `timeout` (EVS_CLUSTER_TEST_TIMEOUT).
