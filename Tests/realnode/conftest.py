"""Fixtures of the real-node end-to-end test (docs/cluster.md, "Real-node test"; realnode.py says what runs where).

  testbin   $EVSSNAP_TESTBIN holding the control plane, the sidecars, kube-scheduler, kubelet,
            csi-node-driver-registrar and livenessprobe (Tests/testbin.py): unset, the suite skips with one line
  cluster   kubecluster.Cluster with the node lifecycle controller on (it lifts the not-ready taint)
  node      RealNode: containerd + kubelet + kube-scheduler, and every image deploy/ and the test pods name loaded
            into containerd: `make image`'s from podman, the sidecars as FROM scratch images of the testbin
            binaries, busybox from Debian's busybox-static. Torn down by pid, its mounts, bridge and folders removed.
  timings   {step: seconds}, printed at the end
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "0")
HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "cluster"))
sys.path.insert(0, str(HERE.parent))
import kubecluster as kc  # noqa: E402
import realnode as rn  # noqa: E402
import testbin as tb  # noqa: E402

REPO_ROOT = HERE.parents[1]
CRD_DIR = pathlib.Path(os.environ.get("EVSSNAP_CRDS") or REPO_ROOT.parent / "shared" / "testbin" / "crd")
SUITE = os.environ.get("EVSSNAP_SUITE", "test-realnode")
NEEDS = tb.CLUSTER + tb.NODE
STATE_DIR = pathlib.Path("/var/lib/evssnap")  # deploy/node.yaml's and controller.yaml's hostPath
# The images `make image` builds (mk/image.mk); the scheduler's is optional until `make image` builds it.
PROJECT_IMAGES = ("localhost/evssnap/evs-csi-driver:0.1.0", "localhost/evssnap/evs-csi-driver-controller:0.1.0")
OPTIONAL_IMAGES = ("localhost/evssnap/evssnap-scheduler:0.1.0",)
BUSYBOX_IMAGE = "docker.io/library/busybox:1.37.0"  # the name deploy/examples use
TIMINGS = {}
# Where a failed run's logs are copied (make sets it under the build folder); unset: not kept.
KEEP_LOGS = pathlib.Path(os.environ["EVSSNAP_REALNODE_LOGS"]) if os.environ.get("EVSSNAP_REALNODE_LOGS") else None
# The flow's shared facts (the written data's sha256) and its first failed step, after which the rest skip.
FLOW = {"failed": None}


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.when in ("setup", "call") and report.failed and not FLOW["failed"]:
        FLOW["failed"] = item.name


def pytest_configure(config):
    kc.interrupt_on_sigterm()


def pytest_terminal_summary(terminalreporter):
    tb.terminal_summary(terminalreporter)
    if TIMINGS:
        terminalreporter.section("evssnap real-node timings (seconds)")
        for step, seconds in TIMINGS.items():
            terminalreporter.write_line(f"  {step:<60} {seconds:8.3f}")


@pytest.fixture(scope="session")
def timings():
    return TIMINGS


@pytest.fixture(scope="session")
def testbin():
    base = tb.skip(pytest, SUITE, NEEDS)
    if os.geteuid() != 0:
        line = f"{SUITE}: SKIPPED: needs root (kubelet, containerd, loop devices and mounts)"
        tb.record_skip(line)
        pytest.skip(line)
    return base


@pytest.fixture(scope="session")
def kubectl():
    path = pathlib.Path(os.environ.get("KUBECTL") or REPO_ROOT / ".venv" / "bin" / "kubectl")
    if not path.is_file():
        pytest.fail(f"no kubectl at {path} (run `make deps-py`)", pytrace=False)
    return path


def deploy_images():
    """Every image reference deploy/ names."""
    refs = set()
    for path in (REPO_ROOT / "deploy").glob("*.yaml"):
        refs.update(re.findall(r"^\s*image:\s*(\S+)", path.read_text(), re.M))
    return refs


@pytest.fixture(scope="session")
def cluster(testbin, kubectl):
    c = kc.Cluster(testbin, kubectl, CRD_DIR, controllers=(
        "*,-node-ipam-controller,-cloud-node-lifecycle-controller,-node-route-controller,-service-lb-controller"))
    c.start()
    TIMINGS["control plane up"] = c.timings["cluster up"]
    yield c
    c.stop()


def _podman_image_exists(ref):
    return subprocess.run(["podman", "image", "exists", ref], capture_output=True).returncode == 0


@pytest.fixture(scope="session")
def node(testbin, cluster):
    for ref in PROJECT_IMAGES:
        if not shutil.which("podman") or not _podman_image_exists(ref):
            pytest.fail(f"image {ref} is not in podman's store: run `make image` first (make test-realnode does)",
                        pytrace=False)
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="evssnap-realnode-", dir="/tmp"))
    n = rn.RealNode(cluster, testbin, scratch)
    try:
        n.preflight(STATE_DIR)
    except kc.HarnessError as error:
        shutil.rmtree(scratch, ignore_errors=True)
        pytest.fail(str(error), pytrace=False)
    try:
        n.start()
        TIMINGS.update(n.timings)
        _load_images(n, testbin, scratch)
        yield n
    finally:
        if FLOW["failed"] and KEEP_LOGS:  # the containers' logs go with their pods: copied before the teardown
            shutil.rmtree(KEEP_LOGS, ignore_errors=True)
            shutil.copytree(scratch / "pod-logs", KEEP_LOGS / "pods", symlinks=False, dirs_exist_ok=True)
        problems = n.stop(cluster.admin.api)
        problems += clean_state_dir()
        if FLOW["failed"] and KEEP_LOGS:
            # The logs of kubelet, containerd, the control plane and the pods' containers, for the failed step.
            shutil.copytree(scratch / "logs", KEEP_LOGS / "node")
            shutil.copytree(cluster.logs, KEEP_LOGS / "cluster")
            print(f"real-node: logs of the failed run in {KEEP_LOGS}")
        shutil.rmtree(scratch, ignore_errors=True)
        if problems:
            print("real-node teardown:\n  " + "\n  ".join(problems))


def _load_images(n, testbin, scratch):
    t0 = time.monotonic()
    for ref in PROJECT_IMAGES + tuple(r for r in OPTIONAL_IMAGES if _podman_image_exists(r)):
        archive = scratch / "project.tar"
        subprocess.run(["podman", "save", "--format", "docker-archive", "-o", str(archive), ref], check=True,
                       capture_output=True)
        n.load_archive(archive)
        archive.unlink()
    images = [(BUSYBOX_IMAGE, rn.busybox_files(), None, ["sh"])]
    for ref in sorted(deploy_images()):
        if ref.startswith("registry.k8s.io/sig-storage/"):
            binary = testbin / ref.rsplit("/", 1)[1].split(":")[0]
            images.append(rn.binary_image(ref, binary))
    archive = rn.write_image_archive(scratch / "reference.tar", images)
    n.load_archive(archive)
    archive.unlink()
    TIMINGS["images loaded into containerd"] = time.monotonic() - t0
    missing = [r for r in deploy_images() | {BUSYBOX_IMAGE} if r not in n.image_refs()
               and r not in OPTIONAL_IMAGES]
    if missing:
        raise kc.HarnessError(f"images not in containerd after loading: {missing}")


def clean_state_dir():
    """After a failed run: detach loop devices on the driver's disk images, unmount, remove /var/lib/evssnap
    (the pre-flight made sure it was not there before the suite)."""
    problems = []
    for point in rn.mounts_under(STATE_DIR):
        rn.run("umount", point, check=False)
        problems.append(f"{point} was still mounted: unmounted")
    for device, backing in rn.loop_devices_backed_by(STATE_DIR):
        problems.append(f"loop device {device} still on {backing}: detached")
        rn.run("losetup", "-d", device, check=False)
    shutil.rmtree(STATE_DIR, ignore_errors=True)
    return problems
