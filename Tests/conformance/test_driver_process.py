"""The evs-csi-driver process: flags, exit codes (0 SIGTERM, 1 state dir, 2 endpoint, 64 usage), the
socket (refusals, stale socket, mode) and the Identity service."""
import os
import pathlib
import shutil
import signal
import socket
import stat
import subprocess
import tempfile

import grpc
import pytest

import driverproc
from csihelp import expect_error

C = grpc.StatusCode


@pytest.fixture
def tmpdir_short():
    path = pathlib.Path(tempfile.mkdtemp(prefix="evs-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def run(binary, *args, timeout=30):
    env = {k: v for k, v in os.environ.items() if k != "NODE_ID"}
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=timeout, env=env)


def test_version(driver_binary):
    result = run(driver_binary, "--version")
    assert result.returncode == 0
    assert result.stdout.strip() == "0.1.0"


def test_help_lists_exit_codes(driver_binary):
    result = run(driver_binary, "--help")
    assert result.returncode == 0
    assert "--endpoint" in result.stdout and "--max-snapshots-per-disk" in result.stdout


def test_socket_directory_missing_exits_2_with_a_clear_message(driver_binary, tmpdir_short):
    missing = tmpdir_short / "nope"
    result = run(driver_binary, "--endpoint", f"unix://{missing}/csi.sock", "--state-dir", str(tmpdir_short / "s"),
                 "--node-id", "n1")
    assert result.returncode == 2, result.stderr
    assert str(missing) in result.stderr and "does not exist" in result.stderr


def test_live_server_on_the_socket_exits_2(start_driver, driver_binary, tmpdir_short):
    first = start_driver()
    result = run(driver_binary, "--endpoint", f"unix://{first.socket}", "--state-dir", str(tmpdir_short / "s"),
                 "--node-id", "n1")
    assert result.returncode == 2, result.stderr
    assert "another server" in result.stderr
    # the first server still answers
    first.identity.Probe(first.pb.ProbeRequest(), timeout=5)


def test_stale_socket_is_replaced(start_driver, csi_pb, driver_binary):
    proc = driverproc.DriverProcess(driver_binary, csi_pb)
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(proc.socket))
    stale.close()  # the file stays, nobody listens
    assert stat.S_ISSOCK(os.lstat(proc.socket).st_mode)
    try:
        proc.start()
        proc.identity.Probe(proc.pb.ProbeRequest(), timeout=5)
        assert proc.stop() == 0
    finally:
        proc.kill()
        proc.cleanup()


def test_regular_file_at_the_socket_path_exits_2(driver_binary, tmpdir_short):
    path = tmpdir_short / "csi.sock"
    path.write_text("not a socket")
    result = run(driver_binary, "--endpoint", f"unix://{path}", "--state-dir", str(tmpdir_short / "s"),
                 "--node-id", "n1")
    assert result.returncode == 2, result.stderr
    assert path.read_text() == "not a socket"


def test_node_mode_without_node_id_exits_64(driver_binary, tmpdir_short):
    for mode in ("node", "all"):
        result = run(driver_binary, "--endpoint", f"unix://{tmpdir_short}/csi.sock", "--state-dir",
                     str(tmpdir_short / "s"), "--mode", mode)
        assert result.returncode == 64, (mode, result.stderr)
        assert "--node-id" in result.stderr
    assert not (tmpdir_short / "csi.sock").exists()


@pytest.mark.parametrize("zone", ["cn-north-4", "a/b/c", "/cn-north-4a", ""])
def test_bad_zone_exits_64(driver_binary, tmpdir_short, zone):
    result = run(driver_binary, "--endpoint", f"unix://{tmpdir_short}/csi.sock", "--state-dir",
                 str(tmpdir_short / "s"), "--node-id", "n1", "--zone", zone)
    assert result.returncode == 64, result.stderr


@pytest.mark.parametrize("flags", [["--mode", "both"], ["--socket-mode", "999"], ["--max-snapshots-per-disk", "0"],
                                   ["--max-volumes-per-node", "0"], ["--log-level", "loud"], ["--no-such-flag"]])
def test_bad_flags_exit_64(driver_binary, tmpdir_short, flags):
    result = run(driver_binary, "--endpoint", f"unix://{tmpdir_short}/csi.sock", "--state-dir",
                 str(tmpdir_short / "s"), "--node-id", "n1", *flags)
    assert result.returncode == 64, result.stderr


def test_unusable_state_dir_exits_1(driver_binary, tmpdir_short):
    blocker = tmpdir_short / "file"
    blocker.write_text("x")
    result = run(driver_binary, "--endpoint", f"unix://{tmpdir_short}/csi.sock", "--state-dir",
                 str(blocker / "state"), "--node-id", "n1")
    assert result.returncode == 1, result.stderr


def test_state_dir_held_by_another_driver_exits_1(start_driver, driver_binary, tmpdir_short):
    first = start_driver()
    result = run(driver_binary, "--endpoint", f"unix://{tmpdir_short}/csi.sock", "--state-dir",
                 str(first.state_dir), "--node-id", "n1")
    assert result.returncode == 1, result.stderr
    assert "in use" in result.stderr


def test_socket_mode_default_0660_and_setting(start_driver):
    d = start_driver()
    assert stat.S_IMODE(os.stat(d.socket).st_mode) == 0o660
    e = start_driver(extra_args=["--socket-mode", "0600"])
    assert stat.S_IMODE(os.stat(e.socket).st_mode) == 0o600


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_termination_signal_exits_0(start_driver, sig):
    d = start_driver()
    d.channel.close()
    d.proc.send_signal(sig)
    assert d.proc.wait(timeout=30) == 0, d.log()


def test_restart_on_same_state_keeps_objects(start_driver, csi_pb):
    pb = csi_pb[0]
    d = start_driver()
    cap = pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(),
                              access_mode=pb.VolumeCapability.AccessMode(mode=1))
    volume = d.controller.CreateVolume(pb.CreateVolumeRequest(name="keep", volume_capabilities=[cap])).volume
    snap = d.controller.CreateSnapshot(pb.CreateSnapshotRequest(name="keep-s", source_volume_id=volume.volume_id)).snapshot
    d.restart()
    assert d.exit_codes == [0]
    assert d.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=volume.volume_id)).volume == volume
    assert d.controller.GetSnapshot(pb.GetSnapshotRequest(snapshot_id=snap.snapshot_id)).snapshot == snap


# ---- Identity


def test_identity(driver, csi_pb):
    pb = csi_pb[0]
    info = driver.identity.GetPluginInfo(pb.GetPluginInfoRequest())
    assert info.name == "disk.csi.everest.io" and info.vendor_version == "0.1.0"
    caps = driver.identity.GetPluginCapabilities(pb.GetPluginCapabilitiesRequest()).capabilities
    services = {pb.PluginCapability.Service.Type.Name(c.service.type) for c in caps if c.HasField("service")}
    assert services == {"CONTROLLER_SERVICE", "VOLUME_ACCESSIBILITY_CONSTRAINTS"}
    expansion = [c.volume_expansion.type for c in caps if c.HasField("volume_expansion")]
    assert expansion == [pb.PluginCapability.VolumeExpansion.Type.Value("ONLINE")]
    probe = driver.identity.Probe(pb.ProbeRequest())
    assert probe.ready.value


def test_driver_name_flag(start_driver, csi_pb):
    d = start_driver(extra_args=["--driver-name", "evs.example.com"])
    assert d.identity.GetPluginInfo(csi_pb[0].GetPluginInfoRequest()).name == "evs.example.com"


def test_controller_mode_serves_no_node_rpcs(start_driver, csi_pb):
    pb = csi_pb[0]
    d = start_driver(mode="controller", node_id=None)
    d.controller.ControllerGetCapabilities(pb.ControllerGetCapabilitiesRequest())
    expect_error(C.UNIMPLEMENTED, d.node.NodeGetInfo, pb.NodeGetInfoRequest())


def test_node_mode_serves_no_controller_rpcs(start_driver, csi_pb):
    pb = csi_pb[0]
    d = start_driver(mode="node", node_id="worker-3")
    assert d.node.NodeGetInfo(pb.NodeGetInfoRequest()).node_id == "worker-3"
    expect_error(C.UNIMPLEMENTED, d.controller.CreateVolume, pb.CreateVolumeRequest(name="x"))
    caps = d.identity.GetPluginCapabilities(pb.GetPluginCapabilitiesRequest()).capabilities
    services = {pb.PluginCapability.Service.Type.Name(c.service.type) for c in caps if c.HasField("service")}
    assert "CONTROLLER_SERVICE" not in services
    # a node-only process does not create the controller's state
    assert not (d.state_dir / "evs.sqlite").exists()
    # but it registers its node id, so that the controller can attach disks to it
    assert driverproc.registered_nodes(d.state_dir) == ["worker-3"]


def test_sigterm_lets_a_call_in_flight_finish(start_driver, csi_pb):
    """--shutdown-grace: a CreateSnapshot whose data copy is under way when SIGTERM arrives completes,
    the process exits 0, and after a restart the snapshot is there and ready."""
    import threading
    import time

    pb = csi_pb[0]
    d = start_driver()
    cap = pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(),
                              access_mode=pb.VolumeCapability.AccessMode(mode=1))
    volume = d.controller.CreateVolume(pb.CreateVolumeRequest(name="busy", volume_capabilities=[cap])).volume
    block = bytes(range(256)) * 4096  # 1 MiB, not zero: the copy must move real data
    with open(d.disk_image(volume.volume_id), "r+b") as image:
        for _ in range(128):
            image.write(block)
    result = {}

    def snapshot():
        try:
            result["snapshot"] = d.controller.CreateSnapshot(
                pb.CreateSnapshotRequest(name="busy-snap", source_volume_id=volume.volume_id), timeout=60).snapshot
        except grpc.RpcError as error:
            result["error"] = (error.code(), error.details())

    thread = threading.Thread(target=snapshot)
    thread.start()
    snapshots = d.state_dir / "snapshots"
    deadline = time.monotonic() + 20
    while not any(snapshots.iterdir()) and "snapshot" not in result and time.monotonic() < deadline:
        time.sleep(0.001)
    in_flight = "snapshot" not in result
    d.proc.send_signal(signal.SIGTERM)
    thread.join(timeout=60)
    assert d.proc.wait(timeout=30) == 0, d.log()
    assert "snapshot" in result, result
    d.start()
    got = d.controller.GetSnapshot(pb.GetSnapshotRequest(snapshot_id=result["snapshot"].snapshot_id)).snapshot
    assert got.ready_to_use and got.size_bytes == 1 << 30
    if not in_flight:
        pytest.skip("the copy finished before SIGTERM could be sent; nothing in flight was tested")


def test_socket_path_too_long_exits_2(driver_binary, tmpdir_short):
    path = tmpdir_short / ("s" * 110 + ".sock")
    result = run(driver_binary, "--endpoint", f"unix://{path}", "--state-dir", str(tmpdir_short / "s"),
                 "--node-id", "n1")
    assert result.returncode == 2, result.stderr
    assert "107" in result.stderr


def test_sigterm_removes_the_socket(start_driver):
    d = start_driver()
    assert d.socket.exists()
    assert d.stop() == 0
    assert not d.socket.exists()


def test_probe_reports_an_unusable_backend(start_driver, csi_pb):
    """Probe.ready follows the backend's health: false while the disks directory is gone, true again once
    it is back (the livenessprobe sidecar restarts a driver that stays unready). The driver runs the health
    check at most once a second, so each change shows within about a second."""
    import time
    pb = csi_pb[0]
    d = start_driver()

    def ready_within(expected, seconds=5.0):
        deadline = time.monotonic() + seconds
        while True:
            probe = d.identity.Probe(pb.ProbeRequest())
            assert probe.HasField("ready")
            if probe.ready.value == expected:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)

    assert ready_within(True)
    disks = d.state_dir / "disks"
    moved = d.state_dir / "disks.away"
    disks.rename(moved)
    try:
        assert ready_within(False), "Probe still ready 5 s after the disks directory went away"
    finally:
        moved.rename(disks)
    assert ready_within(True), "Probe not ready again 5 s after the disks directory came back"
