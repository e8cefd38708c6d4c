"""Fixtures for the driver on `--backend evs` against the fake EVS + ECS + IAM service (Tests/fake-evs).

Reuses Tests/conformance's helpers (driverproc, the csi_pb bindings of our proto/csi.proto).

  fake          one fake service per module (fresh state for each test: POST /_fake/reset)
  evs_driver    factory: evs_driver(credentials="aksk"|"password", extra_args=[...]) -> DriverProcess on the fake
"""
import importlib.util
import json
import os
import pathlib
import ssl
import subprocess
import sys
import urllib.request

import pytest

HERE = pathlib.Path(__file__).resolve().parent
CONFORMANCE = HERE.parent / "conformance"
sys.path.insert(0, str(CONFORMANCE))
import driverproc  # noqa: E402
sys.path.insert(0, str(HERE.parent))
import testbin  # noqa: E402


def pytest_terminal_summary(terminalreporter):
    testbin.terminal_summary(terminalreporter)

_spec = importlib.util.spec_from_file_location("conformance_conftest", CONFORMANCE / "conftest.py")
_conformance = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_conformance)
repo_root = _conformance.repo_root
bin_dir = _conformance.bin_dir
evssnap_bin = _conformance.evssnap_bin
csi_pb = _conformance.csi_pb
driver_binary = _conformance.driver_binary
pb = _conformance.pb


class Fake:
    """A running fake_evs.py and its control endpoint."""

    def __init__(self, args=()):
        self.proc = subprocess.Popen([sys.executable, str(HERE.parent / "fake-evs" / "fake_evs.py"), *args],
                                     stdout=subprocess.PIPE, text=True)
        self.info = json.loads(self.proc.stdout.readline())
        self.ctx = ssl.create_default_context(cafile=self.info["ca"])

    def __getitem__(self, key):
        return self.info[key]

    def control(self, method, path, body=None):
        req = urllib.request.Request(self.info["url"] + path, method=method,
                                     data=None if body is None else json.dumps(body).encode())
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as r:
            return json.loads(r.read() or b"{}")

    def reset(self):
        self.control("POST", "/_fake/reset")

    def faults(self, faults, **settings):
        self.control("POST", "/_fake/faults", {"faults": faults, **settings})

    def state(self):
        return self.control("GET", "/_fake/state")

    def request_log(self):
        """Every API request since the last reset: time, method, path, status, code, fault fired."""
        return self.control("GET", "/_fake/log")["requests"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


@pytest.fixture(scope="module")
def fake():
    f = Fake(["--job-seconds", "0.05", "--snapshot-seconds", "0.2"])
    yield f
    f.stop()


def driver_supports_evs(binary):
    out = subprocess.run([str(binary), "--help"], capture_output=True, text=True)
    return "--backend" in out.stdout + out.stderr


@pytest.fixture
def evs_driver(driver_binary, csi_pb, fake):
    if not driver_supports_evs(driver_binary):
        pytest.skip("this evs-csi-driver build has no --backend flag")
    fake.reset()
    started = []

    def start(credentials="aksk", extra_args=(), node_id=None):
        creds = fake["credentials_aksk"] if credentials == "aksk" else fake["credentials_password"]
        args = ["--backend", "evs", "--project-id", fake["project_id"], "--cloud-credentials", creds,
                "--evs-endpoint", fake["url"], "--ecs-endpoint", fake["ecs_url"], "--iam-endpoint", fake["iam_url"],
                "--cloud-ca-file", fake["ca"], "--cloud-poll-interval-ms", "50", *extra_args]
        proc = driverproc.DriverProcess(driver_binary, csi_pb, node_id=node_id or fake["servers"][0], extra_args=args,
                                        zones=[f"{fake['region']}/{z}" for z in fake["zones"]])
        started.append(proc)
        return proc.start()

    yield start
    for proc in started:
        if proc.proc is not None and proc.proc.poll() is None:
            rc = proc.stop()
            assert rc == 0, f"driver exited with {rc}; log:\n{proc.log()}"
        proc.cleanup()
