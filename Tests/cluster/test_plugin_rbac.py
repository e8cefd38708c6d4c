"""kubectl evssnap for the users CCE has (issue 14), on the real kube-apiserver with our driver and the sidecars.

Three users in namespace team-a, with deploy/rbac-user.yaml applied:
  alice    the Role evssnap-user only (what an application team gets): the seed's flow (create --wait, list,
           describe, restore --wait, delete) works and nothing is refused for lack of a cluster-scoped read; the
           rules whose facts are cluster-scoped fall back to the namespace's objects or say "not verified"
  bob      the Role and the read-only ClusterRole evssnap-reader: the same flow, every check verified
  mallory  no Role: every command ends with kubectl's own Forbidden text and exit 1
"""
import json
import re

import pytest

from conftest import REPO_ROOT
from e2e import made_objects, wait_bound
from kubecluster import pvc_path, vs_path

NS = "team-a"
RBAC_USER = REPO_ROOT / "deploy" / "rbac-user.yaml"
RULES_PLUGIN_CHECKS = ["R1", "R2", "R3", "R4", "R5"]


def seed_pvc(name, storage="10Gi", snapshot=None):
    """deploy/examples/01-pvc-data-ssd.yaml (or 04-pvc-restore.yaml with `snapshot`) in team-a under another name."""
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": name, "namespace": NS,
                        "annotations": {"everest.io/disk-volume-type": "SSD"},
                        "labels": {"failure-domain.beta.kubernetes.io/region": "cn-north-4",
                                   "failure-domain.beta.kubernetes.io/zone": "cn-north-4a"}},
           "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "csi-disk",
                    "resources": {"requests": {"storage": storage}}}}
    if snapshot:
        pvc["spec"]["dataSource"] = {"name": snapshot, "kind": "VolumeSnapshot", "apiGroup": "snapshot.storage.k8s.io"}
    return pvc


@pytest.fixture(scope="module")
def team(cluster, admin, evs):
    """Namespace team-a, deploy/rbac-user.yaml applied there, and the three users bound as the docstring says."""
    if admin.api.get_or_none(f"/api/v1/namespaces/{NS}") is None:
        admin.kubectl("create", "namespace", NS)
    admin.kubectl("apply", "-n", NS, "-f", str(RBAC_USER))
    users = {name: cluster.user(name) for name in ("alice", "bob", "mallory")}
    for name in ("alice", "bob"):
        admin.kubectl("create", "rolebinding", f"{name}-evssnap", "-n", NS, "--role", "evssnap-user", "--user", name)
    admin.kubectl("create", "clusterrolebinding", "bob-evssnap-reader", "--clusterrole", "evssnap-reader", "--user", "bob")
    yield users
    admin.kubectl("delete", "clusterrolebinding", "bob-evssnap-reader", "--ignore-not-found")
    admin.kubectl("delete", "-n", NS, "rolebinding", "alice-evssnap", "bob-evssnap", "--ignore-not-found")


def run_flow(admin, user, plugin, workdir):
    """The seed's flow as `user`, through kubectl evssnap; returns {step: CompletedProcess}."""
    name = user.name
    src, snap, restored = f"data-{name}", f"snap-{name}", f"data-{name}-restore"
    steps = {}
    with made_objects(admin.api) as made:
        # The PVC, applied by the user (the Role allows get and create of PVCs).
        made.add(pvc_path(NS, src))
        user.kubectl("apply", "-f", "-", input=json.dumps(seed_pvc(src)))
        wait_bound(admin.api, NS, src)
        steps["check"] = plugin(user, "check", src, "-n", NS)
        steps["create --dry-run=server"] = plugin(user, "create", src, "-n", NS, "--name", snap, "--dry-run=server")
        made.add(vs_path(NS, snap))
        steps["create --wait"] = plugin(user, "create", src, "-n", NS, "--name", snap, "--wait", "--timeout", "90s")
        steps["list"] = plugin(user, "list", "-n", NS)
        steps["list -o wide"] = plugin(user, "list", "-n", NS, "-o", "wide")
        steps["describe"] = plugin(user, "describe", snap, "-n", NS)
        # The seed's own restore PVC writes storage: '10' (10 bytes).
        seed_restore = workdir / f"{restored}.json"
        seed_restore.write_text(json.dumps(seed_pvc(restored, storage="10", snapshot=snap)))
        steps["check -f (seed's '10')"] = plugin(user, "check", "-f", str(seed_restore), "-n", NS)
        made.add(pvc_path(NS, restored))
        steps["restore --wait"] = plugin(user, "restore", snap, "--to", restored, "-n", NS, "--wait", "--timeout", "90s")
        steps["delete"] = plugin(user, "delete", snap, "-n", NS)
    return steps


@pytest.fixture(scope="module")
def flows(team, admin, plugin, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("rbac-flows")
    return {name: run_flow(admin, team[name], plugin, workdir) for name in ("alice", "bob")}


FLOW_STEPS = ["create --dry-run=server", "create --wait", "list", "list -o wide", "describe", "restore --wait", "delete"]


@pytest.mark.parametrize("user", ["alice", "bob"])
@pytest.mark.parametrize("step", FLOW_STEPS)
def test_flow_step_succeeds_without_a_forbidden(flows, user, step):
    r = flows[user][step]
    assert r.returncode == 0, f"{user} {step}: exit {r.returncode}\nstdout: {r.stdout}\nstderr: {r.stderr}"
    assert "Forbidden" not in r.stderr, r.stderr


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_flow_results(flows, user):
    steps = flows[user]
    assert f"volumesnapshot/snap-{user} is ready to use" in steps["create --wait"].stderr
    assert f"snap-{user}" in steps["list"].stdout and "true" in steps["list"].stdout
    assert f"persistentvolumeclaim/data-{user}-restore is Bound" in steps["restore --wait"].stderr
    assert f"\"snap-{user}\" deleted" in steps["delete"].stdout
    assert "Restore Must Match" in steps["describe"].stdout and "SSD" in steps["describe"].stdout


def test_namespaced_user_gets_unverified_warnings_naming_the_permission(flows):
    create = flows["alice"]["create --wait"]
    assert "warning: R2 not verified: cannot get csidrivers at the cluster scope" in create.stderr, create.stderr
    assert "cannot get volumesnapshotclasses at the cluster scope" in create.stderr
    describe = flows["alice"]["describe"].stdout
    assert "not readable: cannot get volumesnapshotcontents at the cluster scope" in describe, describe
    restore = flows["alice"]["restore --wait"].stderr
    assert "warning: R10 not verified: cannot get storageclasses at the cluster scope" in restore, restore


def test_namespaced_user_check_prints_each_rule_and_exits_0(flows):
    check = flows["alice"]["check"]
    assert check.returncode == 0, check.stdout + check.stderr
    lines = check.stdout.splitlines()
    verdicts = {m.group(2): m.group(1) for m in (re.match(r"^\[(ok|FAIL|unverified)\]\s+(R\d+)", l) for l in lines) if m}
    assert set(verdicts) == set(RULES_PLUGIN_CHECKS), check.stdout
    assert verdicts["R2"] == "unverified" and "FAIL" not in verdicts.values(), check.stdout
    # R3 from the PVC's provisioner annotation, R5 from the namespace's VolumeSnapshots.
    assert verdicts["R3"] == "ok" and "volume.kubernetes.io/storage-provisioner" in check.stdout, check.stdout
    assert verdicts["R5"] == "ok" and "counted from the VolumeSnapshots of PVC" in check.stdout, check.stdout
    assert "evssnap-reader" in check.stderr


def test_clusterrole_user_has_every_check_verified(flows):
    for step, r in flows["bob"].items():
        assert "not verified" not in r.stdout + r.stderr, f"{step}: {r.stdout}{r.stderr}"
    check = flows["bob"]["check"]
    assert check.returncode == 0, check.stdout + check.stderr
    for rule in RULES_PLUGIN_CHECKS:
        assert re.search(rf"^\[ok\]\s+{rule} ", check.stdout, re.M), check.stdout


@pytest.mark.parametrize("user", ["alice", "bob"])
def test_check_f_names_the_size_that_would_match_the_seeds_10(flows, user):
    r = flows[user]["check -f (seed's '10')"]
    assert r.returncode == 2, r.stdout + r.stderr
    assert "R10: restore PVC resources.requests.storage '10' has no unit, so it is 10 bytes (1Gi), not the source's 10Gi; write '10Gi'" in r.stdout, r.stdout
    assert "R12: storage quantity '10' has no unit" in r.stdout, r.stdout


# ---- mallory: no Role at all

MALLORY = [
    (["create", "data-alice", "-n", NS], ["get", "pvc", "data-alice", "-n", NS]),
    (["list", "-n", NS], ["get", "volumesnapshots.snapshot.storage.k8s.io", "-n", NS]),
    (["describe", "snap-x", "-n", NS], ["get", "volumesnapshots.snapshot.storage.k8s.io", "snap-x", "-n", NS]),
    (["delete", "snap-x", "-n", NS], ["get", "volumesnapshots.snapshot.storage.k8s.io", "snap-x", "-n", NS]),
    (["restore", "snap-x", "--to", "x", "-n", NS], ["get", "volumesnapshots.snapshot.storage.k8s.io", "snap-x", "-n", NS]),
    (["check", "data-alice", "-n", NS], ["get", "pvc", "data-alice", "-n", NS]),
]


@pytest.mark.parametrize("ours,theirs", MALLORY, ids=[" ".join(m[0][:1]) for m in MALLORY])
def test_user_without_the_role_gets_kubectls_forbidden(team, plugin, ours, theirs):
    mallory = team["mallory"]
    r = plugin(mallory, *ours)
    k = mallory.kubectl(*theirs, check=False)
    assert k.returncode == 1 and k.stderr.startswith("Error from server (Forbidden): "), k.stderr
    assert r.returncode == 1, f"exit {r.returncode}\n{r.stdout}{r.stderr}"
    assert r.stderr.strip().splitlines()[-1] == k.stderr.strip(), f"ours: {r.stderr}\nkubectl: {k.stderr}"
