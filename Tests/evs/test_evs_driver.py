"""The driver with `--backend evs` on the fake EVS + ECS + IAM service: csi-sanity's controller specs (also under
injected faults), and each fault at the gRPC surface. After every run the fake must hold nothing the driver forgot.

csi-sanity's counts are written to $EVSSNAP_RESULTS (default /tmp/evs-sanity-results.txt) for the closing note.
"""
import os
import re
import subprocess
import threading
import time

import grpc
import pytest

from csihelp import GIB, Csi, expect_error

Code = grpc.StatusCode
RESULTS = os.environ.get("EVSSNAP_RESULTS", "/tmp/evs-sanity-results.txt")


def testbin():
    out = subprocess.run(["/work/shared/testbin/install.sh"], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip(f"testbin unavailable: {out.stderr.strip()}")
    return out.stdout.strip().splitlines()[-1]


def run_sanity(proc, label, timeout=600):
    sanity = os.path.join(testbin(), "csi-sanity")
    mnt, stg = proc.tmp / "sanity-mnt", proc.tmp / "sanity-stg"
    args = [sanity, "--csi.endpoint", f"unix://{proc.socket}", "--csi.mountdir", str(mnt), "--csi.stagingdir", str(stg),
            "--ginkgo.focus", "Controller", "--ginkgo.no-color", "--csi.testvolumesize", str(10 * GIB)]
    out = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    text = out.stdout + out.stderr
    m = re.search(r"(\d+) Passed \| (\d+) Failed \| (\d+) Pending \| (\d+) Skipped", text)
    ran = re.search(r"Ran (\d+) of (\d+) Specs", text)
    assert m and ran, f"no csi-sanity summary (exit {out.returncode}):\n{text[-4000:]}"
    passed, failed, pending, skipped = map(int, m.groups())
    with open(RESULTS, "a") as f:
        f.write(f"{label}: ran {ran.group(1)} of {ran.group(2)} specs: {passed} passed, {failed} failed, "
                f"{pending} pending, {skipped} skipped\n")
    failures = "\n".join(re.findall(r"\[FAIL\].*", text))
    assert failed == 0 and out.returncode == 0, f"csi-sanity failures ({label}):\n{failures}\n{text[-6000:]}\n{proc.log()[-4000:]}"
    assert passed > 0
    return passed


def assert_nothing_left(fake, proc):
    state = fake.state()
    assert state["volumes"] == [], f"disks left behind: {state['volumes']}"
    assert state["snapshots"] == [], f"snapshots left behind: {state['snapshots']}"
    log = proc.log()
    for secret in (fake["secret_key"], fake["password"]):
        assert secret not in log, "a secret appears in the driver's log"


def test_csi_sanity_controller_specs(evs_driver, fake):
    proc = evs_driver()
    run_sanity(proc, "csi-sanity --ginkgo.focus Controller, --backend evs, AK/SK")
    assert_nothing_left(fake, proc)


def test_csi_sanity_controller_specs_under_faults(evs_driver, fake):
    """Every 3rd request throttled (429), every 4th GET a 500, every 2nd create answered 500 after it was done,
    every job slow (0.4 s), and IAM tokens revoked every 1.5 s: the specs still pass, nothing is left behind."""
    proc = evs_driver(credentials="password")
    fake.faults([
        {"path": "/v2|/v1", "action": "429", "count": -1, "every": 3},
        {"method": "GET", "path": "/v2", "action": "500", "count": -1, "every": 4},
        {"method": "POST", "path": "cloudvolumes$|cloudsnapshots$", "action": "500-after", "count": -1, "every": 2},
    ], job_seconds=0.4)
    stop = threading.Event()

    def revoke():
        while not stop.wait(1.5):
            fake.control("POST", "/_fake/expire-tokens")

    revoker = threading.Thread(target=revoke, daemon=True)
    revoker.start()
    try:
        run_sanity(proc, "csi-sanity --ginkgo.focus Controller, --backend evs, IAM token, faults")
    finally:
        stop.set()
        revoker.join()
    state = fake.state()
    fired = {f["action"]: f.get("fired", 0) for f in state["faults"]}
    assert fired["429"] > 10 and fired["500"] > 5 and fired["500-after"] > 2, fired
    assert state["tokens_issued"] > 2
    fake.faults([], job_seconds=0.05)
    assert_nothing_left(fake, proc)
    with open(RESULTS, "a") as f:
        f.write(f"  faults fired: {fired}, IAM tokens issued: {state['tokens_issued']}\n")


def test_failed_job_leaves_nothing(evs_driver, fake, pb):
    proc = evs_driver()
    csi = Csi(pb)
    fake.faults([{"method": "POST", "path": "cloudvolumes#job", "action": "fail-job", "count": 1}])
    expect_error(Code.UNAVAILABLE, proc.controller.CreateVolume, csi.create_request("pvc-fail", required=10 * GIB),
                 match=("EVS.2001",))
    assert fake.state()["volumes"] == []
    volume = csi.create(proc.controller, "pvc-fail", gib=10)
    assert [v["id"] for v in fake.state()["volumes"]] == [volume.volume_id]
    proc.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id), timeout=30)
    assert_nothing_left(fake, proc)


def test_slow_job_then_crash_then_retry_finds_the_same_disk(evs_driver, fake, pb):
    """A create outlives its call, the driver is SIGKILLed, a new driver gets the retried call: one disk."""
    proc = evs_driver()
    csi = Csi(pb)
    fake.faults([{"method": "POST", "path": "cloudvolumes#job", "action": "slow-job", "count": 1, "seconds": 2.5}])
    expect_error((Code.DEADLINE_EXCEEDED, Code.ABORTED), proc.controller.CreateVolume,
                 csi.create_request("pvc-slow", required=10 * GIB), timeout=1)
    proc.kill()
    proc.start()
    volume = proc.controller.CreateVolume(csi.create_request("pvc-slow", required=10 * GIB), timeout=30).volume
    volumes = fake.state()["volumes"]
    assert [v["id"] for v in volumes] == [volume.volume_id] and volumes[0]["status"] == "available"
    proc.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id), timeout=30)
    assert_nothing_left(fake, proc)


def test_snapshot_of_in_use_disk_is_ready_later(evs_driver, fake, pb):
    proc = evs_driver()
    csi = Csi(pb)
    fake.faults([], snapshot_seconds=1.0)
    volume = csi.create(proc.controller, "pvc-inuse", gib=10)
    published = proc.controller.ControllerPublishVolume(pb.ControllerPublishVolumeRequest(
        volume_id=volume.volume_id, node_id=fake["servers"][0], volume_capability=csi.cap()), timeout=30)
    assert published.publish_context["evssnap.io/device-path"] == "/dev/disk/by-id/virtio-" + volume.volume_id[:20]
    snapshot = csi.snapshot(proc.controller, "snap-inuse", volume.volume_id)
    assert not snapshot.ready_to_use  # EVS says creating
    again = csi.snapshot(proc.controller, "snap-inuse", volume.volume_id)
    assert again.snapshot_id == snapshot.snapshot_id
    deadline = time.monotonic() + 10
    while True:
        entries = proc.controller.ListSnapshots(pb.ListSnapshotsRequest(snapshot_id=snapshot.snapshot_id), timeout=30).entries
        if entries and entries[0].snapshot.ready_to_use:
            break
        assert time.monotonic() < deadline, "snapshot never became ready"
        time.sleep(0.2)
    assert len(fake.state()["snapshots"]) == 1
    proc.controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=snapshot.snapshot_id), timeout=30)
    proc.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(
        volume_id=volume.volume_id, node_id=fake["servers"][0]), timeout=30)
    proc.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id), timeout=30)
    assert_nothing_left(fake, proc)


def test_rules_refuse_before_any_evs_call(evs_driver, fake, pb):
    """R8: a restore of another type is refused with the rule id; EVS never sees a create for it."""
    proc = evs_driver()
    csi = Csi(pb)
    volume = csi.create(proc.controller, "pvc-src", gib=10, params={"everest.io/disk-volume-type": "SSD"})
    snapshot = csi.snapshot(proc.controller, "snap-src", volume.volume_id)
    deadline = time.monotonic() + 10
    while not proc.controller.ListSnapshots(pb.ListSnapshotsRequest(snapshot_id=snapshot.snapshot_id),
                                            timeout=30).entries[0].snapshot.ready_to_use:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    posts = fake.state()["requests"].get("POST /v2.1/{id}/cloudvolumes", 0)
    expect_error(Code.INVALID_ARGUMENT, proc.controller.CreateVolume,
                 csi.create_request("pvc-restore", required=10 * GIB, snapshot=snapshot.snapshot_id,
                                    params={"everest.io/disk-volume-type": "SAS"}), match=("R8",))
    assert fake.state()["requests"].get("POST /v2.1/{id}/cloudvolumes", 0) == posts
    restored = csi.create(proc.controller, "pvc-restore", gib=10, snapshot=snapshot.snapshot_id)
    assert restored.content_source.snapshot.snapshot_id == snapshot.snapshot_id
    expect_error(Code.FAILED_PRECONDITION, proc.controller.DeleteVolume,
                 pb.DeleteVolumeRequest(volume_id=volume.volume_id), match=("R13",))
    proc.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=restored.volume_id), timeout=30)
    proc.controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=snapshot.snapshot_id), timeout=30)
    proc.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id), timeout=30)
    assert_nothing_left(fake, proc)


def test_bad_credentials_refused_without_leaking(evs_driver, fake, pb, tmp_path):
    bad = tmp_path / "creds"
    bad.mkdir()
    (bad / "access_key").write_text(fake["access_key"])
    (bad / "secret_key").write_text("NOT-THE-SECRET-KEY")
    proc = evs_driver(extra_args=["--cloud-credentials", str(bad)])
    details = expect_error(Code.PERMISSION_DENIED, proc.controller.ListVolumes, pb.ListVolumesRequest())
    assert "APIGW.0301" in details and "NOT-THE-SECRET-KEY" not in details
    assert "NOT-THE-SECRET-KEY" not in proc.log()
