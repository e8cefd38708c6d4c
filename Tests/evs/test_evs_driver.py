"""The driver with `--backend evs` on the fake EVS + ECS + IAM service: csi-sanity's controller specs (also under
injected faults), and each fault at the gRPC surface. After every run the fake must hold nothing the driver forgot.

csi-sanity's counts are written to $EVSSNAP_RESULTS (default /tmp/evs-sanity-results.txt) for the closing note.
"""
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import threading
import time

import grpc
import pytest

from csihelp import GIB, Csi, expect_error

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import testbin  # noqa: E402

Code = grpc.StatusCode
RESULTS = os.environ.get("EVSSNAP_RESULTS", "/tmp/evs-sanity-results.txt")
SANITY_SUITE = "test-evs (csi-sanity controller specs on --backend evs)"


def find_testbin():
    """The folder holding csi-sanity: $EVSSNAP_TESTBIN only (Tests/testbin.py). Unset: the test skips, with one
    line at the end of the run and in `make test`'s list of skipped suites; set without a runnable csi-sanity:
    the test fails naming it."""
    return str(testbin.skip(pytest, SANITY_SUITE, testbin.CSI_SANITY))


def run_sanity(proc, label, timeout=600, fake=None):
    sanity = os.path.join(find_testbin(), "csi-sanity")
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
    failures = set(re.findall(r"\[FAIL\] (.*)", text))
    if failed or failures:
        # The whole csi-sanity output, the driver's log and the fake's request log, for the diagnosis.
        keep = pathlib.Path(tempfile.mkdtemp(prefix="evs-sanity-failed-"))
        (keep / "csi-sanity.txt").write_text(text)
        (keep / "driver.log").write_text(proc.log())
        if fake is not None:
            (keep / "fake-requests.jsonl").write_text("\n".join(json.dumps(r) for r in fake.request_log()))
        pytest.fail(f"csi-sanity failures ({label}), full logs in {keep}:\n{failures}\n{text[-6000:]}")
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
    run_sanity(proc, "csi-sanity --ginkgo.focus Controller, --backend evs, AK/SK", fake=fake)
    assert_nothing_left(fake, proc)


@pytest.mark.skipif(os.environ.get("EVSSNAP_EVS_CHAOS") == "0",
                    reason="EVSSNAP_EVS_CHAOS=0: the fault run (about 3.5 min) left out on request")
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
        run_sanity(proc, "csi-sanity --ginkgo.focus Controller, --backend evs, IAM token, faults", fake=fake)
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
    # The job is held until released: the call's deadline passes while it runs, whatever the machine's speed.
    fake.faults([{"method": "POST", "path": "cloudvolumes#job", "action": "slow-job", "count": 1, "seconds": -1}])
    expect_error((Code.DEADLINE_EXCEEDED, Code.ABORTED), proc.controller.CreateVolume,
                 csi.create_request("pvc-slow", required=10 * GIB), timeout=1)
    proc.kill()
    fake.control("POST", "/_fake/release")
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


ATTACH_MODE = "evssnap.attach-mode."


def fake_api(fake, method, path, body=None):
    """A request to the fake's EVS API as a client would make it (IAM token), answering (status, parsed body)."""
    import json
    import urllib.error
    import urllib.request
    auth = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": fake["username"], "password": fake["password"], "domain": {"name": fake["domain"]}}}},
        "scope": {"project": {"id": fake["project_id"]}}}}
    req = urllib.request.Request(fake["iam_url"] + "/v3/auth/tokens", method="POST", data=json.dumps(auth).encode())
    with urllib.request.urlopen(req, context=fake.ctx, timeout=10) as r:
        token = r.headers["X-Subject-Token"]
    req = urllib.request.Request(fake["url"] + path.replace("{project_id}", fake["project_id"]), method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"X-Auth-Token": token, "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, context=fake.ctx, timeout=10) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def fake_put_metadata(fake, volume_id, metadata):
    status, answer = fake_api(fake, "POST", f"/v2/{{project_id}}/volumes/{volume_id}/metadata", {"metadata": metadata})
    assert status == 200, answer
    return answer


def fake_volume(fake, volume_id):
    return next(v for v in fake.state()["volumes"] if v["id"] == volume_id)


def test_republish_in_the_other_mode_is_already_exists(evs_driver, fake, pb):
    """ECS attach has no read-only mode: the driver records the publish mode per server in the disk's EVS metadata
    (POST /v2/{project_id}/volumes/{id}/metadata) before the attach, compares it on a re-publish (same mode: the
    same answer, no second attach; other mode: ALREADY_EXISTS) and deletes it after the detach."""
    proc = evs_driver()
    csi = Csi(pb)
    server = fake["servers"][0]
    volume = csi.create(proc.controller, "pvc-modes", gib=10)

    def publish(readonly, timeout=30):
        return proc.controller.ControllerPublishVolume(pb.ControllerPublishVolumeRequest(
            volume_id=volume.volume_id, node_id=server, volume_capability=csi.cap(), readonly=readonly), timeout=timeout)

    first = publish(False)
    disk = fake_volume(fake, volume.volume_id)
    assert disk["status"] == "in-use" and [a["server_id"] for a in disk["attachments"]] == [server]
    assert disk["metadata"][ATTACH_MODE + server] == "rw"
    attaches = fake.state()["requests"]["POST /v1/{id}/cloudservers/{id}/attachvolume"]

    again = publish(False)  # same mode: idempotent, nothing new asked of ECS
    assert dict(again.publish_context) == dict(first.publish_context)
    details = expect_error(Code.ALREADY_EXISTS, publish, True, match=("read-write", "read-only"))
    assert volume.volume_id in details
    state = fake.state()
    assert state["requests"]["POST /v1/{id}/cloudservers/{id}/attachvolume"] == attaches
    assert fake_volume(fake, volume.volume_id)["metadata"][ATTACH_MODE + server] == "rw"

    proc.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(
        volume_id=volume.volume_id, node_id=server), timeout=30)
    disk = fake_volume(fake, volume.volume_id)
    assert disk["status"] == "available" and disk["attachments"] == []
    assert not any(k.startswith(ATTACH_MODE) for k in disk["metadata"]), disk["metadata"]

    # Detached: the other mode is now a fresh publish, recorded as such.
    publish(True)
    assert fake_volume(fake, volume.volume_id)["metadata"][ATTACH_MODE + server] == "ro"
    expect_error(Code.ALREADY_EXISTS, publish, False)
    proc.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(
        volume_id=volume.volume_id, node_id=server), timeout=30)
    proc.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id), timeout=30)
    assert_nothing_left(fake, proc)


def test_mode_record_without_attachment_is_overwritten_and_cleaned(evs_driver, fake, pb):
    """A publish that crashed between recording the mode and attaching leaves only the record: a publish in the
    other mode is not refused (nothing is attached), and an unpublish removes a stray record."""
    proc = evs_driver()
    csi = Csi(pb)
    server = fake["servers"][0]
    volume = csi.create(proc.controller, "pvc-stray", gib=10)
    # The record a crashed read-only publish left, written through the fake's published metadata endpoint.
    fake_put_metadata(fake, volume.volume_id, {ATTACH_MODE + server: "ro"})
    proc.controller.ControllerPublishVolume(pb.ControllerPublishVolumeRequest(
        volume_id=volume.volume_id, node_id=server, volume_capability=csi.cap(), readonly=False), timeout=30)
    assert fake_volume(fake, volume.volume_id)["metadata"][ATTACH_MODE + server] == "rw"
    proc.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(
        volume_id=volume.volume_id, node_id=server), timeout=30)
    fake_put_metadata(fake, volume.volume_id, {ATTACH_MODE + server: "ro"})  # stray again, nothing attached
    proc.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(
        volume_id=volume.volume_id, node_id=server), timeout=30)
    assert not any(k.startswith(ATTACH_MODE) for k in fake_volume(fake, volume.volume_id)["metadata"])
    proc.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id), timeout=30)
    assert_nothing_left(fake, proc)


def test_fake_volume_metadata_endpoints_answer_as_published(evs_driver, fake, pb):
    """The fake's disk metadata endpoints: add/update answers every key, one key is {"meta": {...}}, a missing key
    or disk is 404 with the Cinder-style body of the metadata pages ({"itemNotFound": {...}}), a bad body is 400
    EVS.5400 ({"badRequest": {...}})."""
    proc = evs_driver()
    volume = Csi(pb).create(proc.controller, "pvc-meta", gib=10)
    vid = volume.volume_id
    answer = fake_put_metadata(fake, vid, {"k1": "v1"})
    assert answer["metadata"]["k1"] == "v1" and answer["metadata"]["evssnap.io/csi-volume-name"] == "pvc-meta"
    assert fake_api(fake, "GET", f"/v2/{{project_id}}/volumes/{vid}/metadata/k1") == (200, {"meta": {"k1": "v1"}})
    assert fake_api(fake, "DELETE", f"/v2/{{project_id}}/volumes/{vid}/metadata/k1") == (200, None)
    status, body = fake_api(fake, "DELETE", f"/v2/{{project_id}}/volumes/{vid}/metadata/k1")
    assert status == 404 and body["itemNotFound"]["code"] == "EVS.5404" and body["itemNotFound"]["message"]
    status, body = fake_api(fake, "POST", f"/v2/{{project_id}}/volumes/{vid}/metadata", {"metadata": {"k": 1}})
    assert status == 400 and body["badRequest"]["code"] == "EVS.5400"
    status, body = fake_api(fake, "POST", f"/v2/{{project_id}}/volumes/{vid}/metadata", {"metadata": {"k" * 256: "v"}})
    assert status == 400 and body["badRequest"]["code"] == "EVS.5400"
    status, body = fake_api(fake, "POST", "/v2/{project_id}/volumes/" + "0" * 8 + "-0000-4000-8000-" + "0" * 12
                            + "/metadata", {"metadata": {"k": "v"}})
    assert status == 404 and body["itemNotFound"]["code"] == "EVS.5404"
    proc.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=vid), timeout=30)
    assert_nothing_left(fake, proc)


def test_token_revoked_again_during_a_backoff_is_replaced_again(evs_driver, fake, pb):
    """The chaos run's failure (PERMISSION_DENIED "token expired" mid-run): a request whose token expired gets a
    fresh one, is throttled (429, Retry-After 1 s), and the fresh token is revoked while it waits. The driver
    fetches another token rather than giving up: only a fresh token refused on its first use means bad credentials."""
    proc = evs_driver(credentials="password")
    proc.controller.ListVolumes(pb.ListVolumesRequest(), timeout=30)  # a token is cached
    issued = fake.state()["tokens_issued"]
    # The 2nd list request from now on is throttled (the 1st is the one refused with the expired token).
    fake.faults([{"method": "GET", "path": "cloudvolumes/detail", "action": "429", "count": 1, "every": 2,
                  "retry_after": 1}])
    fake.control("POST", "/_fake/expire-tokens")
    revoker = threading.Timer(0.5, lambda: fake.control("POST", "/_fake/expire-tokens"))
    revoker.start()
    try:
        proc.controller.ListVolumes(pb.ListVolumesRequest(), timeout=30)
    finally:
        revoker.cancel()
    log = [r for r in fake.request_log() if "cloudvolumes/detail" in r["path"]][-4:]
    assert [(r["status"], r["code"]) for r in log] == \
        [(401, "APIGW.0301"), (429, "APIGW.0308"), (401, "APIGW.0301"), (200, None)], log
    assert fake.state()["tokens_issued"] == issued + 2


def test_quota_is_resource_exhausted(evs_driver, fake, pb):
    """EVS answers a create over the project's quota with 400 EVS.1042 (gigabytes) or EVS.1034 (disk count); the
    driver answers RESOURCE_EXHAUSTED (the CSI spec's code for exhausted capacity), not INVALID_ARGUMENT."""
    proc = evs_driver()
    csi = Csi(pb)
    fake.faults([], quota_gib=15)
    try:
        volume = csi.create(proc.controller, "pvc-quota-1", gib=10)
        expect_error(Code.RESOURCE_EXHAUSTED, proc.controller.CreateVolume,
                     csi.create_request("pvc-quota-2", required=10 * GIB), match=("EVS.1042",))
        fake.faults([], quota_gib=-1, quota_volumes=1)
        expect_error(Code.RESOURCE_EXHAUSTED, proc.controller.CreateVolume,
                     csi.create_request("pvc-quota-3", required=10 * GIB), match=("EVS.1034",))
    finally:
        fake.faults([], quota_gib=-1, quota_volumes=-1)
    assert [v["id"] for v in fake.state()["volumes"]] == [volume.volume_id]
    proc.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id), timeout=30)
    assert_nothing_left(fake, proc)


def test_unpublish_of_a_disk_ecs_already_detached_succeeds(evs_driver, fake, pb):
    """ECS answers a detach of a disk it no longer sees attached with 400 Ecs.0111; ControllerUnpublishVolume is
    then done (as huaweicloud-csi-driver's), and the publish-mode record goes."""
    proc = evs_driver()
    csi = Csi(pb)
    server = fake["servers"][0]
    volume = csi.create(proc.controller, "pvc-0111", gib=10)
    proc.controller.ControllerPublishVolume(pb.ControllerPublishVolumeRequest(
        volume_id=volume.volume_id, node_id=server, volume_capability=csi.cap()), timeout=30)
    fake.faults([{"method": "DELETE", "path": "detachvolume", "action": "detached", "count": 1}])
    proc.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(
        volume_id=volume.volume_id, node_id=server), timeout=30)
    assert [r["code"] for r in fake.request_log() if "detachvolume" in r["path"]] == ["Ecs.0111"]
    disk = fake_volume(fake, volume.volume_id)
    assert disk["attachments"] == [] and not any(k.startswith(ATTACH_MODE) for k in disk["metadata"])
    proc.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id), timeout=30)
    assert_nothing_left(fake, proc)
