"""A SnapshotSchedule on the real control plane (kube-apiserver, snapshot-controller, csi-snapshotter, our driver):
`kubectl evssnap schedule create --cron "* * * * *" --keep 2`, evssnap-scheduler running as its own ServiceAccount
(deploy/scheduler.yaml's RBAC) for three slots; exactly 2 snapshots of the schedule stay, both readyToUse.
Runs only with EVSSNAP_TESTBIN (the real binaries); docs/schedules.md."""
import os
import re
import subprocess

import pytest
import yaml

if not os.environ.get("EVSSNAP_TESTBIN"):
    pytest.skip("EVSSNAP_TESTBIN is not set: no real API server for the schedule test", allow_module_level=True)

from conftest import REPO_ROOT  # noqa: E402
from e2e import ensure_namespace, made_objects, pvc, wait_bound  # noqa: E402
from kubecluster import pvc_path, vs_path, wait_for  # noqa: E402

NS = "e2e-schedules"
SCHED = f"/apis/evssnap.io/v1alpha1/namespaces/{NS}/snapshotschedules"


def test_every_minute_for_three_minutes_keeps_two_ready(cluster, admin, evs, plugin, built, tmp_path, timings):
    api = admin.api
    admin.apply(REPO_ROOT / "deploy" / "snapshotschedule-crd.yaml")
    wait_for("the SnapshotSchedule CRD to be served", lambda: api.get_or_none(SCHED) is not None, 60, 0.2)
    # The scheduler's ServiceAccount and RBAC; not its Deployment (this cluster has no kubelet): it runs as a process.
    docs = [d for d in yaml.safe_load_all((REPO_ROOT / "deploy" / "scheduler.yaml").read_text()) if d and d["kind"] != "Deployment"]
    admin.apply(yaml.safe_dump_all(docs))
    scheduler_user = cluster.service_account_user("evssnap", "evssnap-scheduler")
    ensure_namespace(api, NS)
    with made_objects(api) as made:
        made.create(pvc_path(NS), pvc("sched-src", NS, "10Gi"))
        wait_bound(api, NS, "sched-src")
        made.add(f"{SCHED}/every-minute")
        r = plugin(admin, "schedule", "create", "every-minute", "-n", NS, "--pvc", "sched-src", "--cron", "* * * * *",
                   "--keep", "2")
        assert r.returncode == 0, r.stderr
        log = open(tmp_path / "scheduler.log", "w")
        proc = subprocess.Popen([str(built("evssnap-scheduler")), "--kubeconfig", str(scheduler_user.kubeconfig),
                                 "--namespace", NS, "--poll-interval", "5"], stdout=log, stderr=subprocess.STDOUT)
        slots = set()
        try:
            def three_slots():
                status = api.get(f"{SCHED}/every-minute").get("status") or {}
                if status.get("lastScheduleTime"):
                    slots.add(status["lastScheduleTime"])
                return len(slots) >= 3
            wait_for("three slots of the schedule carried out", three_slots, 300, 1.0)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()
        assert proc.returncode == 0, (tmp_path / "scheduler.log").read_text()[-4000:]

        def own():
            items = api.get(vs_path(NS))["items"]
            return [i for i in items if (i["metadata"].get("labels") or {}).get("evssnap.io/schedule") == "every-minute"]
        for s in own():
            made.add(vs_path(NS, s["metadata"]["name"]))

        def two_ready():
            mine = own()
            return len(mine) == 2 and all((s.get("status") or {}).get("readyToUse") is True for s in mine)
        wait_for("exactly 2 snapshots of the schedule, both readyToUse", two_ready, 60, 0.5)
        names = sorted(s["metadata"]["name"] for s in own())
        print(f"\nschedule every-minute, --keep 2, slots {sorted(slots)}: kept {names}")
        shown = plugin(admin, "schedule", "list", "-n", NS)
        print(shown.stdout)
        row = next(line for line in shown.stdout.splitlines() if line.startswith("every-minute "))
        cells = re.split(r"\s{3,}", row)
        assert cells[4:6] == ["2", "2"], cells  # KEEP, KEPT
