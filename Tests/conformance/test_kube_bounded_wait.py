"""Issue 9, bounded waiting: every Kubernetes call of the driver ends by the RPC's deadline and by its own limit
(--kube-api-timeout, at most 10 s). Against an API server that accepts connections and never answers (real TCP,
the TLS handshake never completes), 16 CreateVolume calls hang until their deadline while Probe keeps answering.
The tests decide by state: Probe answers while every hung call is still open (never queued behind them), a hung call
never ends before its deadline, and it ends well before the limit it would otherwise have waited for. The timings
(Probe's median and maximum, the issue's 100 ms goal) are printed, not asserted: run with -s to see them."""
import socket
import statistics
import threading
import time

import grpc
import pytest

from csihelp import Csi, asan_built

C = grpc.StatusCode


@pytest.fixture()
def hung_apiserver(tmp_path):
    """A listener that accepts every connection and never sends a byte; yields a kubeconfig naming it."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    port = listener.getsockname()[1]
    held = []
    stop = threading.Event()

    def accept_forever():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except OSError:
                continue
            held.append(connection)

    thread = threading.Thread(target=accept_forever, daemon=True)
    thread.start()
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: hung
  cluster:
    server: https://127.0.0.1:{port}
    insecure-skip-tls-verify: true
contexts:
- name: hung
  context:
    cluster: hung
    user: u
current-context: hung
users:
- name: u
  user:
    token: t0ken
""")
    yield kubeconfig, held
    stop.set()
    thread.join()
    for connection in held:
        connection.close()
    listener.close()


def pvc_params(name):
    return {"csi.storage.k8s.io/pvc/name": name, "csi.storage.k8s.io/pvc/namespace": "default"}


def test_16_create_volume_hang_until_their_deadline_while_probe_answers(start_driver, hung_apiserver, csi_pb,
                                                                      driver_binary):
    kubeconfig, held = hung_apiserver
    csi = Csi(csi_pb[0])
    pb = csi_pb[0]
    d = start_driver(extra_args=["--kubeconfig", str(kubeconfig)])
    deadline = 3.0
    results = [None] * 16

    def create(i):
        start = time.monotonic()
        try:
            d.controller.CreateVolume(csi.create_request(f"pvc-hung-{i}", params=pvc_params(f"claim-{i}")),
                                      timeout=deadline)
            results[i] = ("OK", time.monotonic() - start)
        except grpc.RpcError as error:
            results[i] = (error.code(), time.monotonic() - start)

    threads = [threading.Thread(target=create, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    probes = []
    answered_while_all_open = 0
    while any(t.is_alive() for t in threads):
        start = time.monotonic()
        d.identity.Probe(pb.ProbeRequest(), timeout=30)
        probes.append(time.monotonic() - start)
        if all(r is None for r in results):
            answered_while_all_open += 1
        time.sleep(0.02)
    for t in threads:
        t.join()
    times = sorted(r[1] for r in results)
    print(f"\nhung API server: 16 CreateVolume with a {deadline:.0f} s deadline: codes {sorted({str(r[0]) for r in results})}, "
          f"ended after min {times[0]:.3f} s, median {statistics.median(times):.3f} s, max {times[-1]:.3f} s; "
          f"{len(probes)} Probe calls meanwhile: median {statistics.median(probes) * 1000:.2f} ms, "
          f"max {max(probes) * 1000:.2f} ms; connections held by the server: {len(held)}")
    print(f"Probe against issue 9's goal of 100 ms: max {max(probes) * 1000:.2f} ms "
          f"({'met' if max(probes) < 0.100 else 'missed'}{', ASan build' if asan_built(driver_binary) else ''})")
    assert all(r[0] == C.DEADLINE_EXCEEDED for r in results), results
    # Never before the deadline (a slow machine only makes this later). The driver's own limit is 10 s: a wait that
    # ignored the deadline would end there, far beyond this bound.
    assert times[0] >= deadline - 0.05 and times[-1] < deadline + 5.0, times
    # Probe is never queued behind the hung calls: it is answered while all 16 are still open.
    assert answered_while_all_open >= 5, (answered_while_all_open, len(probes))
    assert held, "the driver never connected to the API server"
    # Every handler came back: with all 16 handler threads freed, a call that makes no Kubernetes call is answered.
    d.controller.ControllerGetCapabilities(pb.ControllerGetCapabilitiesRequest(), timeout=30)
    volume = csi.create(d.controller, "no-pvc-named")  # no PVC parameters: no Kubernetes call
    assert volume.volume_id


def test_without_deadline_the_default_limit_ends_the_wait_unavailable(start_driver, hung_apiserver, csi_pb):
    kubeconfig, _ = hung_apiserver
    csi = Csi(csi_pb[0])
    d = start_driver(extra_args=["--kubeconfig", str(kubeconfig), "--kube-api-timeout", "1"])
    start = time.monotonic()
    with pytest.raises(grpc.RpcError) as info:
        d.controller.CreateVolume(csi.create_request("pvc-hung-long", params=pvc_params("claim")), timeout=30)
    elapsed = time.monotonic() - start
    print(f"\nhung API server: CreateVolume with a 30 s deadline and --kube-api-timeout 1: "
          f"{info.value.code()} after {elapsed:.3f} s: {info.value.details()}")
    assert info.value.code() == C.UNAVAILABLE, info.value.details()
    assert "claim" in info.value.details()
    # Not before the 1 s limit; and long before the call's 30 s deadline, which is what ignoring the limit would give.
    assert 0.95 <= elapsed < 15


def test_kube_api_timeout_above_10_s_is_refused(driver_binary, tmp_path):
    import subprocess
    result = subprocess.run([str(driver_binary), "--endpoint", f"unix://{tmp_path}/csi.sock", "--state-dir",
                             str(tmp_path / "state"), "--node-id", "n1", "--kube-api-timeout", "11"],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 64, result.stderr
    assert "--kube-api-timeout" in result.stderr
