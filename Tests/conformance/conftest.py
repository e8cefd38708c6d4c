"""Shared fixtures for the evssnap conformance tests (pytest).

Fixtures:
  repo_root   the repository root
  bin_dir     the directory of the built Swift executables: $EVSSNAP_BIN, else `swift build --show-bin-path`
  evssnap_bin callable name -> path of a built executable (skips the test if it is not built)
  csi_pb      (csi_pb2, csi_pb2_grpc), generated at test time by grpcio-tools from our proto/csi.proto
  driver_binary   the built evs-csi-driver (skips when it is not built)
  start_driver    factory: a fresh evs-csi-driver process (driverproc.DriverProcess) with the given flags;
                  teardown SIGTERMs it, asserts exit 0 and that nothing is left mounted/attached
  shared_driver   one default driver per module (same teardown checks, once per module)
  driver          the shared driver emptied before each test (no volumes, no snapshots, empty mnt/);
                  unpacks as (process, channel, identity, controller, node, state_dir)
"""
import importlib
import os
import pathlib
import subprocess
import sys

import pytest

REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def repo_root():
    return REPO_ROOT


@pytest.fixture(scope="session")
def bin_dir():
    env = os.environ.get("EVSSNAP_BIN")
    if env:
        return pathlib.Path(env)
    out = subprocess.run(["swift", "build", "--show-bin-path"], cwd=REPO_ROOT,
                         capture_output=True, text=True, check=True)
    return pathlib.Path(out.stdout.strip())


@pytest.fixture(scope="session")
def evssnap_bin(bin_dir):
    def find(name):
        path = bin_dir / name
        if not path.is_file():
            pytest.skip(f"{name} is not built in {bin_dir} (run `swift build --product {name}`)")
        return path
    return find


@pytest.fixture(scope="session")
def csi_pb(tmp_path_factory):
    """Python bindings for proto/csi.proto, compiled into a per-session temp dir."""
    from grpc_tools import protoc
    import grpc_tools

    out = tmp_path_factory.mktemp("csi_pb")
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    rc = protoc.main([
        "grpc_tools.protoc",
        f"-I{REPO_ROOT / 'proto'}",
        f"-I{well_known}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        str(REPO_ROOT / "proto" / "csi.proto"),
    ])
    assert rc == 0, "grpc_tools.protoc failed on proto/csi.proto"
    sys.path.insert(0, str(out))
    try:
        return importlib.import_module("csi_pb2"), importlib.import_module("csi_pb2_grpc")
    finally:
        sys.path.remove(str(out))


# ---- the driver process (see driverproc.py)

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import driverproc  # noqa: E402


@pytest.fixture(scope="session")
def driver_binary(evssnap_bin):
    """Path of the built evs-csi-driver (skips when it is not built)."""
    return evssnap_bin("evs-csi-driver")


@pytest.fixture
def start_driver(driver_binary, csi_pb):
    """Factory: start_driver(node_id=..., extra_args=[...], state_dir=..., zones=[...]) -> DriverProcess.

    Teardown, for every process started: SIGTERM and exit code 0 (a process the test already stopped or
    killed is left as is), then nothing mounted or loop-attached under its temp dir or state dir; leaks
    are cleaned up best-effort before the assertion fails, so later tests start clean."""
    started = []

    def start(**kwargs):
        proc = driverproc.DriverProcess(driver_binary, csi_pb, **kwargs)
        started.append(proc)
        return proc.start()

    yield start

    problems = []
    for proc in started:
        if proc.proc is not None and proc.proc.poll() is None:
            rc = proc.stop()
            if rc != 0:
                problems.append(f"driver exited with {rc} on SIGTERM; log:\n{proc.log()}")
        for prefix in {proc.tmp, proc.state_dir}:
            left = driverproc.leaks(prefix)
            if left:
                problems.append(f"left mounted/attached under {prefix}: {left}")
                driverproc.force_cleanup(prefix)
        proc.cleanup()
    assert not problems, "\n".join(problems)


@pytest.fixture(scope="module")
def shared_driver(driver_binary, csi_pb):
    """One default driver per test module (starting and stopping one costs ~0.3 s, times ~150 tests).
    Module teardown: SIGTERM, exit code 0, nothing mounted or attached under its dirs."""
    proc = driverproc.DriverProcess(driver_binary, csi_pb).start()
    yield proc
    rc = proc.stop()
    left = driverproc.leaks(proc.tmp) + driverproc.leaks(proc.state_dir)
    if left:
        driverproc.force_cleanup(proc.tmp)
        driverproc.force_cleanup(proc.state_dir)
    proc.cleanup()
    assert rc in (0, None), f"driver exited with {rc} on SIGTERM; log:\n{proc.log()}"
    assert not left, f"left mounted/attached: {left}"


@pytest.fixture
def driver(shared_driver, csi_pb):
    """The module's driver (--mode all, node id node-1, zone cn-north-4/cn-north-4a), emptied before each
    test. Unpacks as (process, channel, identity, controller, node, state_dir).

    After each test: the process is still alive, nothing is mounted or loop-attached under its dirs (leaks
    are cleaned up, then the test fails), and every volume and snapshot is detached and deleted."""
    proc = shared_driver
    if proc.proc.poll() is not None:
        proc.start()  # an earlier test killed it: start again on the same state
    driverproc.reset_state(proc, csi_pb[0])
    yield proc
    problems = []
    if proc.proc.poll() is not None:
        problems.append(f"driver died during the test (exit {proc.proc.returncode}); log:\n{proc.log()}")
    for prefix in (proc.tmp, proc.state_dir):
        left = driverproc.leaks(prefix)
        if left:
            problems.append(f"left mounted/attached under {prefix}: {left}")
            driverproc.force_cleanup(prefix)
    assert not problems, "\n".join(problems)


@pytest.fixture
def pb(csi_pb):
    """The generated csi_pb2 module (messages only)."""
    return csi_pb[0]


@pytest.fixture
def csi(csi_pb):
    """Request builders over csi_pb2 (csihelp.Csi)."""
    from csihelp import Csi
    return Csi(csi_pb[0])
