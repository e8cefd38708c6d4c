"""The harness itself: users with client certificates and tokens get exactly what RBAC grants them, and the
processes it starts die with the test run, also when it is interrupted or killed."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

import kubecluster as kc
from conftest import REPO_ROOT


def test_certificate_user_has_only_what_rbac_grants(cluster, admin):
    alice = cluster.user("carol-harness", groups=["harness-team"])
    admin.kubectl("create", "namespace", "e2e-harness", check=False)
    denied = alice.kubectl("get", "pvc", "-n", "e2e-harness", check=False)
    assert denied.returncode == 1
    assert 'User "carol-harness" cannot list resource "persistentvolumeclaims"' in denied.stderr
    # A Role for her group (O=harness-team in the certificate) opens the namespace, nothing else.
    admin.kubectl("create", "role", "pvc-reader", "-n", "e2e-harness", "--verb=get,list",
                  "--resource=persistentvolumeclaims")
    admin.kubectl("create", "rolebinding", "pvc-reader", "-n", "e2e-harness", "--role=pvc-reader",
                  "--group=harness-team")
    kc.wait_for("the RoleBinding to take effect",
                lambda: alice.kubectl("get", "pvc", "-n", "e2e-harness", check=False).returncode == 0, 10, 0.1)
    with pytest.raises(kc.ApiError) as forbidden:
        alice.api.get("/api/v1/persistentvolumeclaims")
    assert forbidden.value.status == 403
    assert alice.api.get("/api/v1/namespaces/e2e-harness/persistentvolumeclaims")["items"] == []
    admin.kubectl("delete", "namespace", "e2e-harness", "--wait=false")


def test_service_account_token_user(cluster, admin):
    admin.kubectl("create", "serviceaccount", "harness-bot", "-n", "default")
    bot = cluster.service_account_user("default", "harness-bot", seconds=600)
    whoami = bot.kubectl("auth", "whoami", "-o", "jsonpath={.status.userInfo.username}")
    assert whoami.stdout == "system:serviceaccount:default:harness-bot"
    assert bot.kubectl("auth", "can-i", "list", "volumesnapshots", check=False).stdout.strip() == "no"
    admin.kubectl("delete", "serviceaccount", "harness-bot", "-n", "default")


CHILD = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, {here!r})
    import kubecluster as kc
    kc.interrupt_on_sigterm()
    group = kc.ProcessGroup({logs!r})
    try:
        proc = group.start("sleeper", ["sleep", "300"], settle=0)
        print(proc.pid, flush=True)
        time.sleep(300)
    finally:
        codes = group.stop_all()
        print("teardown", codes, flush=True)
""")


@pytest.mark.parametrize("how", ["SIGTERM", "SIGKILL"])
def test_started_processes_die_with_the_test_run(tmp_path, how):
    """SIGTERM (the global timeout) runs the teardown; SIGKILL leaves it no chance, PR_SET_PDEATHSIG does it."""
    here = str(REPO_ROOT / "Tests" / "cluster")
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(here=here, logs=str(tmp_path))],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    sleeper = int(child.stdout.readline())
    assert _alive(sleeper)
    child.send_signal(signal.SIGTERM if how == "SIGTERM" else signal.SIGKILL)
    rest, errors = child.communicate(timeout=15)
    if how == "SIGTERM":  # the teardown ran and stopped the sleeper by its pid
        assert "teardown {'sleeper': -15}" in rest, (rest, errors)
    kc.wait_for(f"pid {sleeper} to be gone", lambda: not _alive(sleeper), 5, 0.02)


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False
