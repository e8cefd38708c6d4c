#!/usr/bin/env python3
"""Run the scheduler's image with podman against the fake API server and check that it does a schedule's work.

    probe_scheduler_image.py --image TAG --podman-run "podman run --runtime /usr/sbin/runc --ulimit ..."

The fake kube-apiserver (Tests/fake-apiserver, --evssnap-crd) listens on the host's loopback. The container gets what
a pod gets: KUBERNETES_SERVICE_HOST/PORT and a service account (the fake's token and CA) mounted where the scheduler
reads it, and the host's zoneinfo read-only at /usr/share/zoneinfo (deploy/scheduler.yaml). It shares the host's
network namespace only to reach 127.0.0.1; nothing leaves the host.

A schedule of PVC static-evs (`* * * * *`, keep 1) whose last slot was two minutes ago is due now: one pass of the
image (`--once`) must exit 0 and leave exactly one VolumeSnapshot labelled with the schedule, for this minute, and
the schedule's status written. Then `--help` exits 0 with the usage (the binary runs FROM scratch), and the
container is gone.
"""
import argparse
import json
import os
import pathlib
import shlex
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = pathlib.Path(__file__).resolve().parents[2]
FAKE = REPO / "Tests" / "fake-apiserver" / "fake_apiserver.py"
VS = "/apis/snapshot.storage.k8s.io/v1/namespaces/apps/volumesnapshots"
SCHED = "/apis/evssnap.io/v1alpha1/namespaces/apps/snapshotschedules"


def say(text):
    print(f"test-image: {text}", flush=True)


def call(info, method, path, body=None, content_type="application/json"):
    context = ssl.create_default_context(cafile=info["ca"])
    context.load_cert_chain(info["clientCert"], info["clientKey"])
    request = urllib.request.Request(info["url"] + path, method=method, headers={"Content-Type": content_type},
                                     data=None if body is None else json.dumps(body).encode())
    with urllib.request.urlopen(request, context=context, timeout=30) as response:
        return json.loads(response.read() or b"null")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", required=True)
    parser.add_argument("--podman-run", required=True, help="the podman run command and its fixed flags")
    args = parser.parse_args()

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="evs-sched-img-", dir="/tmp"))
    fake = subprocess.Popen([sys.executable, str(FAKE), "--evssnap-crd", "--dir", str(tmp / "fake")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    name = f"evssnap-scheduler-image-test-{os.getpid()}"
    problems = []
    try:
        line = fake.stdout.readline()
        if not line:
            raise AssertionError(f"the fake API server did not start: {fake.stderr.read()[-2000:]}")
        info = json.loads(line)
        port = info["url"].rsplit(":", 1)[1].strip("/")
        minute = int(time.time()) // 60 * 60
        call(info, "POST", SCHED, {"apiVersion": "evssnap.io/v1alpha1", "kind": "SnapshotSchedule",
                                   "metadata": {"name": "img", "namespace": "apps"},
                                   "spec": {"claimNames": ["static-evs"], "schedule": "* * * * *", "timeZone": "Asia/Shanghai",
                                            "retention": {"maxCount": 1}}})
        call(info, "PATCH", f"{SCHED}/img/status",
             {"status": {"lastScheduleTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(minute - 120))}},
             "application/merge-patch+json")
        account = tmp / "serviceaccount"
        account.mkdir()
        (account / "token").write_text(info["token"] + "\n")
        (account / "ca.crt").write_text(pathlib.Path(info["ca"]).read_text())
        (account / "namespace").write_text("evssnap\n")
        for f in account.iterdir():
            f.chmod(0o644)
        account.chmod(0o755)
        tmp.chmod(0o755)
        base = shlex.split(args.podman_run) + [
            "--name", name, "--network", "host", "--user", "65534:65534", "--read-only",
            "-e", "KUBERNETES_SERVICE_HOST=127.0.0.1", "-e", f"KUBERNETES_SERVICE_PORT={port}",
            "-v", f"{account}:/var/run/secrets/kubernetes.io/serviceaccount:ro",
            "-v", "/usr/share/zoneinfo:/usr/share/zoneinfo:ro", args.image]
        command = base + ["--once", "--namespace", "apps", "--zoneinfo", "/usr/share/zoneinfo"]
        say(" ".join(command))
        run = subprocess.run(command, capture_output=True, text=True, timeout=120)
        subprocess.run(["podman", "rm", "-f", "-v", name], capture_output=True)
        if run.returncode != 0:
            raise AssertionError(f"one pass of the scheduler image exited {run.returncode}:\n{run.stdout}{run.stderr}")
        items = call(info, "GET", VS)["items"]
        own = sorted(i["metadata"]["name"] for i in items
                     if (i["metadata"].get("labels") or {}).get("evssnap.io/schedule") == "img")
        if len(own) != 1 or not own[0].startswith("img-static-evs-"):
            raise AssertionError(f"expected one snapshot of schedule img, found {own}; log:\n{run.stderr}")
        status = call(info, "GET", f"{SCHED}/img").get("status") or {}
        if not status.get("lastScheduleTime"):
            raise AssertionError(f"the schedule's status was not written: {status}")
        say(f"one pass in the image made {own[0]} and wrote status (last slot {status['lastScheduleTime']}, "
            f"result {status.get('lastResult')!r})")
        helped = subprocess.run(shlex.split(args.podman_run) + ["--name", name, "--network", "none", args.image, "--help"],
                                capture_output=True, text=True, timeout=60)
        subprocess.run(["podman", "rm", "-f", "-v", name], capture_output=True)
        if helped.returncode != 0 or "usage: evssnap-scheduler" not in helped.stdout:
            raise AssertionError(f"--help exited {helped.returncode}: {helped.stdout}{helped.stderr}")
    except (AssertionError, subprocess.TimeoutExpired, OSError, ValueError) as error:
        problems.append(str(error))
    finally:
        subprocess.run(["podman", "rm", "-f", "-v", name], capture_output=True)
        left = subprocess.run(["podman", "ps", "-a", "--filter", f"name={name}", "--format", "{{.ID}}"],
                              capture_output=True, text=True).stdout.strip()
        if left:
            problems.append(f"container {name} is left: {left}")
        fake.terminate()
        try:
            fake.wait(timeout=10)
        except subprocess.TimeoutExpired:
            fake.kill()
        subprocess.run(["rm", "-rf", str(tmp)])
    for problem in problems:
        say(f"FAILED: {problem}")
    if not problems:
        say("passed: the scheduler image does a due schedule's work against an API server and leaves no container")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
