"""evssnap-scheduler as a process against the fake API server (Tests/fake-apiserver, --evssnap-crd), with a real
SIGKILL in the middle of a rotation, and the architecture claims of the schedule modules.

The kill: a schedule keeping 1 snapshot of PVC static-evs already holds one, so the next slot must delete it before
it creates the new one. Every request on the namespace's VolumeSnapshots is slowed by the fake (--slow), the test
watches the fake's request log and SIGKILLs the scheduler as soon as its DELETE has arrived (the fake still carries
the deletion out). A restart then must create exactly one snapshot: neither two new ones nor a lost slot.
"""
import json
import os
import pathlib
import re
import shutil
import signal
import sys
import subprocess
import time

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
FAKE = ROOT / "Tests" / "fake-apiserver" / "fake_apiserver.py"
sys.path.insert(0, str(FAKE.parent))
from fake_client import call  # noqa: E402
VS = "/apis/snapshot.storage.k8s.io/v1/namespaces/apps/volumesnapshots"
SCHED = "/apis/evssnap.io/v1alpha1/namespaces/apps/snapshotschedules"


@pytest.fixture()
def apiserver(tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed by the fake apiserver")
    proc = subprocess.Popen(["python3", str(FAKE), "--evssnap-crd", "--dir", str(tmp_path), "--slow", f"{VS}:1.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.skip(f"fake apiserver did not start: {proc.stderr.read()[-2000:]}")
    yield json.loads(line)
    proc.terminate()
    proc.wait(timeout=10)


def stamp(t):
    return time.strftime("%Y%m%dt%H%Mz", time.gmtime(t))


def own(info):
    items = call(info, "GET", VS)["items"]
    return sorted(i["metadata"]["name"] for i in items if (i["metadata"].get("labels") or {}).get("evssnap.io/schedule") == "s")


def test_sigkill_mid_rotation_then_restart_makes_exactly_one(apiserver, evssnap_bin):
    scheduler = evssnap_bin("evssnap-scheduler")
    info = apiserver
    call(info, "POST", SCHED, {"apiVersion": "evssnap.io/v1alpha1", "kind": "SnapshotSchedule",
                               "metadata": {"name": "s", "namespace": "apps"},
                               "spec": {"claimNames": ["static-evs"], "schedule": "* * * * *", "timeZone": "UTC",
                                        "retention": {"maxCount": 1}}})
    minute = int(time.time()) // 60 * 60
    # The schedule's last slot was two minutes ago, and it kept that slot's snapshot (ready).
    old = f"s-static-evs-{stamp(minute - 120)}"
    call(info, "PATCH", f"{SCHED}/s/status", {"status": {"lastScheduleTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(minute - 120))}},
         "application/merge-patch+json")
    call(info, "POST", VS, {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
                            "metadata": {"name": old, "namespace": "apps",
                                         "labels": {"evssnap.io/schedule": "s", "evssnap.io/slot": stamp(minute - 120)}},
                            "spec": {"source": {"persistentVolumeClaimName": "static-evs"}, "volumeSnapshotClassName": "csi-disk-snapclass"}})
    assert call(info, "GET", f"{VS}/{old}")["status"]["readyToUse"] is True
    call(info, "DELETE", "/__fake__/requests")

    args = [str(scheduler), "--once", "--kubeconfig", info["kubeconfig"], "--namespace", "apps"]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    killed = False
    while time.monotonic() < deadline and proc.poll() is None:
        log = call(info, "GET", "/__fake__/requests")
        if any(r["method"] == "DELETE" and r["path"].startswith(f"{VS}/{old}") for r in log):
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.05)
    proc.wait(timeout=10)
    assert killed, f"the scheduler never deleted {old}: {proc.stderr.read()[-2000:] if proc.stderr else ''}"
    log = call(info, "GET", "/__fake__/requests")
    assert not any(r["method"] == "POST" and r["path"].startswith(VS) for r in log), "it created before it was killed"
    # The fake finishes the deletion it was answering when the client died.
    deadline = time.monotonic() + 15
    while old in own(info) and time.monotonic() < deadline:
        time.sleep(0.1)
    after_kill = own(info)
    assert after_kill == [], after_kill

    restart = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert restart.returncode == 0, restart.stderr[-2000:]
    after_restart = own(info)
    assert len(after_restart) == 1 and after_restart[0] != old, after_restart
    status = call(info, "GET", f"{SCHED}/s")["status"]
    assert status["lastResult"] == "1 created"
    assert status["claims"][0]["lastSnapshot"] == after_restart[0]
    # A second pass in the same minute makes nothing more.
    again = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    if int(time.time()) // 60 * 60 == minute:
        assert own(info) == after_restart
    print(f"\nkill mid-rotation (process): before [{old}], after SIGKILL {after_kill}, after restart {after_restart}")


def imports(path):
    return set(re.findall(r"^(?:@\w+ )?(?:public |internal |private )?import (\w+)", path.read_text(), re.M))


def test_schedule_modules_depend_as_documented():
    domain = list((ROOT / "Sources" / "SnapshotSchedules").glob("*.swift"))
    assert domain
    for f in domain:
        assert imports(f) <= {"TimeCore"}, f"{f.name} imports {imports(f)}: the schedule domain depends on nothing but TimeCore"
    # TimeCore, the one time code the domain uses, is a leaf: it imports nothing, not even Foundation.
    leaf = list((ROOT / "Sources" / "TimeCore").glob("*.swift"))
    assert leaf
    for f in leaf:
        assert imports(f) == set(), f"{f.name} imports {imports(f)}: TimeCore depends on nothing"
    controller = list((ROOT / "Sources" / "ScheduleController").glob("*.swift"))
    kube = [f.name for f in controller if "KubeClient" in imports(f)]
    assert kube == ["KubeScheduleAPI.swift"], kube
    main = ROOT / "Sources" / "evssnap-scheduler" / "main.swift"
    assert len(main.read_text().splitlines()) < 120, "the executable stays thin"
