"""Issue 9: no request can crash the driver or reach outside its own state, over the wire against the real binary.

- wire integers: the requests that killed the driver (SIGILL on an arithmetic overflow), then a property sweep
  over int64 capacities (CreateVolume, ControllerExpandVolume, NodeExpandVolume) and int32 max_entries / int64
  page tokens (ListVolumes, ListSnapshots), each outcome checked against an oracle in Python's big integers;
- ids: malformed ids (path traversal included) are unknown ids: NOT_FOUND, or OK where CSI makes the call
  idempotent; nothing outside the state directory is touched;
- node trust: the image comes from the volume id and the driver's state, never from publish_context; node paths
  must be absolute and normalized; unpublish/unstage remove only what the driver made;
- tcp endpoints only on loopback; VOLUME_CONDITION for a missing image; an unreadable compressed message.
"""
import hashlib
import os
import pathlib
import socket
import subprocess
import time

import grpc
import pytest

import driverproc
from csihelp import GIB, expect_error

C = grpc.StatusCode
INT64_MIN, INT64_MAX = -(1 << 63), (1 << 63) - 1
INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
MAX_GIB = 32768
UNKNOWN_ID = "0b9d2f4e-3c1a-4e5f-8a7b-6c5d4e3f2a1b"  # well formed, never issued


def _loop_reason():
    if os.geteuid() != 0:
        return "needs root (loop devices and mounts)"
    if not os.path.exists("/dev/loop-control"):
        return "/dev/loop-control is missing (no loop device support)"
    return None


needs_loop = pytest.mark.skipif(_loop_reason() is not None, reason=_loop_reason() or "")


def int64_values():
    """INT64_MIN, negatives, 0, 1, k·2^30 ± 1 for every 256th k up to R12's maximum and past it, 2^n·2^30 ± 1
    up to INT64_MAX, and the issue's two crashing values."""
    values = {INT64_MIN, INT64_MIN + 1, -GIB, -2, -1, 0, 1, 2, INT64_MAX - 1, INT64_MAX, 9223372036854775802}
    for k in list(range(0, MAX_GIB + 3, 256)) + [1, 2, 3, MAX_GIB - 1, MAX_GIB, MAX_GIB + 1]:
        for delta in (-1, 0, 1):
            values.add(k * GIB + delta)
            values.add(-k * GIB + delta)
    for n in range(0, 34):
        for delta in (-1, 0, 1):
            v = (1 << (30 + n)) + delta
            if INT64_MIN <= v <= INT64_MAX:
                values.add(v)
    return sorted(values)


def capacity_oracle(required, limit, default_gib):
    """(gib, None) or (None, code): CSI's capacity range in whole GiB within R12's 1..32768."""
    if required < 0 or limit < 0 or (limit > 0 and required > limit):
        return None, C.INVALID_ARGUMENT
    if required > 0:
        gib = -(-required // GIB)
    elif limit > 0:
        if default_gib * GIB <= limit:
            return default_gib, None
        gib = limit // GIB
    else:
        return default_gib, None
    if limit > 0 and gib * GIB > limit:
        return None, C.OUT_OF_RANGE
    if not 1 <= gib <= MAX_GIB:
        return None, C.OUT_OF_RANGE
    return gib, None


def host_max_file_bytes(directory):
    """The largest sparse file `directory`'s file system takes (ext4: 16 TiB - 4 KiB), found by truncate."""
    probe = pathlib.Path(directory).parent / ".size-probe"
    low, high = GIB, MAX_GIB * GIB
    try:
        with open(probe, "wb") as f:
            try:
                f.truncate(high)
                return high
            except OSError:
                pass
            while high - low > GIB:
                mid = (low + high) // 2 // GIB * GIB
                try:
                    f.truncate(mid)
                    low = mid
                except OSError:
                    high = mid
        return low
    finally:
        probe.unlink()


# ---------------------------------------------------------------- wire integers


def test_issue_crashing_capacities_are_out_of_range_and_the_driver_lives(driver, csi, pb):
    """The two CreateVolume requests that ended the process with 'arithmetic overflow' (SIGILL) on main."""
    for required, limit in [(INT64_MAX, INT64_MAX), (9223372036854775802, None), (INT64_MAX, None),
                            (INT64_MAX - (1 << 30), INT64_MAX)]:
        request = csi.create_request("pvc-huge", required=required, limit=limit)
        details = expect_error(C.OUT_OF_RANGE, driver.controller.CreateVolume, request, match="R12")
        assert str(required or 0) in details and str(limit or 0) in details, details
        assert driver.proc.poll() is None, driver.log()
    driver.identity.Probe(pb.ProbeRequest(), timeout=5)
    assert not driver.controller.ListVolumes(pb.ListVolumesRequest()).entries


def test_property_capacities_over_the_wire(driver, csi, pb, request):
    """CreateVolume, ControllerExpandVolume and NodeExpandVolume with every value of int64_values() as
    required and limit bytes: the oracle's size or status, nothing left behind, the driver alive."""
    values = int64_values()
    fs_max_gib = host_max_file_bytes(driver.state_dir / "disks") // GIB
    calls = 0
    for required, limit in [(v, 0) for v in values] + [(0, v) for v in values] + [(v, v) for v in values]:
        want_gib, want_code = capacity_oracle(required, limit, 1)
        try:
            volume = driver.controller.CreateVolume(csi.create_request(
                f"pvc-p{calls}", required=required, limit=limit), timeout=30).volume
            assert want_gib is not None and volume.capacity_bytes == want_gib * GIB, (required, limit, want_code)
            driver.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id))
        except grpc.RpcError as error:
            if want_gib is not None:  # only the host's file size limit may refuse a valid size
                assert error.code() == C.RESOURCE_EXHAUSTED and want_gib > fs_max_gib, (required, limit, error)
            else:
                assert error.code() == want_code, (required, limit, error.code(), error.details())
                assert str(required) in error.details() and str(limit) in error.details(), error.details()
        calls += 1
    assert not driver.controller.ListVolumes(pb.ListVolumesRequest()).entries

    grow = csi.create(driver.controller, "pvc-grow", 1)
    current = 1
    for required, limit in [(v, 0) for v in values] + [(0, v) for v in values]:
        want_gib, want_code = capacity_oracle(required, limit, current)
        rng = pb.CapacityRange(required_bytes=required, limit_bytes=limit)
        try:
            got = driver.controller.ControllerExpandVolume(pb.ControllerExpandVolumeRequest(
                volume_id=grow.volume_id, capacity_range=rng), timeout=30).capacity_bytes // GIB
            assert want_gib is not None and got == max(want_gib, current), (required, limit)
            current = got
        except grpc.RpcError as error:
            if want_gib is not None:
                assert error.code() == C.RESOURCE_EXHAUSTED and want_gib > fs_max_gib, (required, limit, error)
            else:
                assert error.code() == want_code, (required, limit, error.details())
        calls += 1
        # The node checks the range before anything else; a valid one finds the volume not staged here.
        invalid = required < 0 or limit < 0 or (limit > 0 and required > limit)
        expect_error(C.INVALID_ARGUMENT if invalid else C.FAILED_PRECONDITION, driver.node.NodeExpandVolume,
                     pb.NodeExpandVolumeRequest(volume_id=grow.volume_id, volume_path=driver.path("not-staged"),
                                                capacity_range=rng))
        calls += 1
    assert driver.proc.poll() is None
    request.config.cache.set("hardening/capacity_calls", calls)
    print(f"capacity property over the wire: {calls} calls")


def test_property_listing_integers_over_the_wire(driver, csi, pb):
    """ListVolumes/ListSnapshots: every int32 power of two (±), the extremes, and page tokens of int64 values."""
    ids = []
    for i in range(3):
        v = csi.create(driver.controller, f"pvc-l{i}", 1)
        ids.append(v.volume_id)
        csi.snapshot(driver.controller, f"snap-l{i}", v.volume_id)
    max_entries = sorted({INT32_MIN, INT32_MIN + 1, -1, 0, 1, 2, 3, 4, INT32_MAX - 1, INT32_MAX}
                         | {1 << n for n in range(31) if (1 << n) <= INT32_MAX} | {-(1 << n) for n in range(32)})
    calls = 0
    for n in max_entries:
        for call, make in [(driver.controller.ListVolumes, pb.ListVolumesRequest),
                           (driver.controller.ListSnapshots, pb.ListSnapshotsRequest)]:
            if n < 0:
                expect_error(C.INVALID_ARGUMENT, call, make(max_entries=n), match=str(n))
            else:
                assert len(call(make(max_entries=n)).entries) == (3 if n == 0 else min(3, n))
            calls += 1
    for seq in int64_values():
        for token in (f"evs1-{seq}", str(seq), f"evs1-{seq}0"):
            for call, make in [(driver.controller.ListVolumes, pb.ListVolumesRequest),
                               (driver.controller.ListSnapshots, pb.ListSnapshotsRequest)]:
                try:
                    entries = call(make(starting_token=token)).entries
                    assert token.startswith("evs1-") and len(entries) <= 3, token
                except grpc.RpcError as error:
                    assert error.code() == C.ABORTED, (token, error.details())
                calls += 1
    assert driver.proc.poll() is None
    print(f"listing property over the wire: {calls} calls")


# ---------------------------------------------------------------- ids


MALFORMED_IDS = ["fake-vol-id", "../../../../etc/passwd", "..", "/etc/passwd", "a/b", "x" * 5000,  # (NUL: the decoder refuses it)
                 UNKNOWN_ID.upper().replace("-", "/"), UNKNOWN_ID + ".img", UNKNOWN_ID[:-1] + "g"]


def test_malformed_and_unknown_ids(driver, csi, pb, tmp_path):
    """A well-formed unknown id and a malformed one are both unknown: NOT_FOUND, or OK where CSI says idempotent
    (DeleteVolume, DeleteSnapshot, ControllerUnpublishVolume), or an empty list. The victim file next to the
    state directory is never touched."""
    victim = driver.state_dir.parent / "victim.img"
    victim.write_bytes(b"v" * 4096)
    cap = csi.cap()
    for vid in [UNKNOWN_ID, UNKNOWN_ID.upper()] + MALFORMED_IDS:
        ctl = driver.controller
        expect_error(C.NOT_FOUND, ctl.ControllerGetVolume, pb.ControllerGetVolumeRequest(volume_id=vid))
        expect_error(C.NOT_FOUND, ctl.ControllerPublishVolume, pb.ControllerPublishVolumeRequest(
            volume_id=vid, node_id="node-1", volume_capability=cap))
        expect_error(C.NOT_FOUND, ctl.ValidateVolumeCapabilities, pb.ValidateVolumeCapabilitiesRequest(
            volume_id=vid, volume_capabilities=[cap]))
        expect_error(C.NOT_FOUND, ctl.ControllerExpandVolume, pb.ControllerExpandVolumeRequest(
            volume_id=vid, capacity_range=pb.CapacityRange(required_bytes=GIB)))
        expect_error(C.NOT_FOUND, ctl.CreateSnapshot, pb.CreateSnapshotRequest(name="s", source_volume_id=vid))
        expect_error(C.NOT_FOUND, ctl.GetSnapshot, pb.GetSnapshotRequest(snapshot_id=vid))
        expect_error(C.NOT_FOUND, ctl.CreateVolume, csi.create_request("pvc-from", snapshot=vid))
        ctl.DeleteVolume(pb.DeleteVolumeRequest(volume_id=vid))
        ctl.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=vid))
        ctl.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(volume_id=vid, node_id="node-1"))
        assert not ctl.ListSnapshots(pb.ListSnapshotsRequest(snapshot_id=vid)).entries
        assert not ctl.ListSnapshots(pb.ListSnapshotsRequest(source_volume_id=vid)).entries
        expect_error(C.NOT_FOUND, driver.node.NodeStageVolume, pb.NodeStageVolumeRequest(
            volume_id=vid, staging_target_path=driver.path("stg"), volume_capability=cap))
        expect_error(C.NOT_FOUND, driver.node.NodeGetVolumeStats, pb.NodeGetVolumeStatsRequest(
            volume_id=vid, volume_path=driver.path("stg")))
    assert victim.read_bytes() == b"v" * 4096
    assert sorted(os.listdir(driver.state_dir / "disks")) == []
    assert driver.proc.poll() is None


# ---------------------------------------------------------------- node trust boundaries


@needs_loop
def test_publish_context_cannot_point_the_node_at_a_host_file(driver, csi, pb):
    """Regression (issue 9): publish_context {"evssnap.io/device-path": "/tmp/victim.img"} made NodeStageVolume
    loop-attach, mkfs and mount that host file. Now: INVALID_ARGUMENT, the file unchanged, nothing attached."""
    victim = driver.tmp / "victim.img"
    with open(victim, "wb") as f:
        f.write(b"precious" * 512)
        f.truncate(64 << 20)
    before = hashlib.sha256(victim.read_bytes()).hexdigest()
    cap = csi.cap()
    volume = csi.create(driver.controller, "pvc-trust", 1)
    context = dict(driver.controller.ControllerPublishVolume(pb.ControllerPublishVolumeRequest(
        volume_id=volume.volume_id, node_id="node-1", volume_capability=cap)).publish_context)
    staging = driver.path("trust-staging")
    for path in (str(victim), "/tmp/victim.img", str(driver.state_dir / "disks" / "..") + "/../victim.img"):
        forged = dict(context, **{"evssnap.io/device-path": path})
        expect_error(C.INVALID_ARGUMENT, driver.node.NodeStageVolume, pb.NodeStageVolumeRequest(
            volume_id=volume.volume_id, publish_context=forged, staging_target_path=staging,
            volume_capability=cap), match="evssnap.io/device-path")
        expect_error(C.INVALID_ARGUMENT, driver.node.NodePublishVolume, pb.NodePublishVolumeRequest(
            volume_id=volume.volume_id, publish_context=forged, staging_target_path=staging,
            target_path=driver.path("trust-target"), volume_capability=cap))
    assert hashlib.sha256(victim.read_bytes()).hexdigest() == before
    assert driverproc.mounts_under(driver.tmp) == [] and driverproc.loop_devices_under(driver.tmp) == []
    # The publish context that names the volume's own image still works, and so does none at all.
    for ctx in (context, {}):
        driver.node.NodeStageVolume(pb.NodeStageVolumeRequest(
            volume_id=volume.volume_id, publish_context=ctx, staging_target_path=staging, volume_capability=cap),
            timeout=60)
    driver.node.NodeUnstageVolume(pb.NodeUnstageVolumeRequest(volume_id=volume.volume_id,
                                                              staging_target_path=staging), timeout=60)
    driver.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(
        volume_id=volume.volume_id, node_id="node-1"))


@needs_loop
def test_node_only_process_takes_the_image_from_its_state_directory(start_driver, csi, pb):
    """A node-only process (the DaemonSet) finds `<state>/disks/<id>.img` itself: it stages without a publish
    context, and refuses one that names another file."""
    ctl = start_driver(mode="controller", node_id=None)
    node = start_driver(mode="node", node_id="worker-1", state_dir=ctl.state_dir)
    victim = node.tmp / "victim.img"
    with open(victim, "wb") as f:
        f.truncate(64 << 20)
    cap = csi.cap()
    volume = csi.create(ctl.controller, "pvc-node-only", 1)
    ctl.controller.ControllerPublishVolume(pb.ControllerPublishVolumeRequest(
        volume_id=volume.volume_id, node_id="worker-1", volume_capability=cap))
    staging = node.path("staging")
    expect_error(C.INVALID_ARGUMENT, node.node.NodeStageVolume, pb.NodeStageVolumeRequest(
        volume_id=volume.volume_id, publish_context={"evssnap.io/device-path": str(victim)},
        staging_target_path=staging, volume_capability=cap))
    assert victim.read_bytes() == bytes(64 << 20)
    expect_error(C.NOT_FOUND, node.node.NodeStageVolume, pb.NodeStageVolumeRequest(
        volume_id=UNKNOWN_ID, staging_target_path=staging, volume_capability=cap))
    node.node.NodeStageVolume(pb.NodeStageVolumeRequest(
        volume_id=volume.volume_id, staging_target_path=staging, volume_capability=cap), timeout=60)
    node.node.NodeUnstageVolume(pb.NodeUnstageVolumeRequest(volume_id=volume.volume_id,
                                                            staging_target_path=staging), timeout=60)
    ctl.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(
        volume_id=volume.volume_id, node_id="worker-1"))


BAD_PATHS = ["relative/path", "./x", "/tmp/../etc", "/tmp/./x", "/tmp//x", "/tmp/x/", "/", "/tmp/x/..",
             "/" + "a" * 5000]


def test_node_paths_must_be_absolute_and_normalized(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-paths", 1)
    cap = csi.cap()
    for bad in BAD_PATHS:
        expect_error(C.INVALID_ARGUMENT, driver.node.NodeStageVolume, pb.NodeStageVolumeRequest(
            volume_id=volume.volume_id, staging_target_path=bad, volume_capability=cap), match="staging_target_path")
        expect_error(C.INVALID_ARGUMENT, driver.node.NodePublishVolume, pb.NodePublishVolumeRequest(
            volume_id=volume.volume_id, staging_target_path=driver.path("s"), target_path=bad,
            volume_capability=cap), match="target_path")
        expect_error(C.INVALID_ARGUMENT, driver.node.NodeUnpublishVolume, pb.NodeUnpublishVolumeRequest(
            volume_id=volume.volume_id, target_path=bad), match="target_path")
        expect_error(C.INVALID_ARGUMENT, driver.node.NodeUnstageVolume, pb.NodeUnstageVolumeRequest(
            volume_id=volume.volume_id, staging_target_path=bad), match="staging_target_path")
        # Calls that look a volume up at a path find nothing at a malformed one: NOT_FOUND (csi-sanity: some/path).
        expect_error(C.NOT_FOUND, driver.node.NodeGetVolumeStats, pb.NodeGetVolumeStatsRequest(
            volume_id=volume.volume_id, volume_path=bad), match="volume_path")
        expect_error(C.NOT_FOUND, driver.node.NodeExpandVolume, pb.NodeExpandVolumeRequest(
            volume_id=volume.volume_id, volume_path=bad), match="volume_path")


def test_unpublish_and_unstage_remove_only_what_the_driver_made(driver, csi, pb):
    """NodeUnpublishVolume used to unlink whatever non-directory sat at the target path. Now a host file at the
    target (or at the staging path's `block`) stays, and a symbolic link is refused without being followed."""
    victim = driver.tmp / "victim.conf"
    victim.write_text("keep me")
    target = pathlib.Path(driver.path("target-file"))
    target.write_text("not the driver's")
    driver.node.NodeUnpublishVolume(pb.NodeUnpublishVolumeRequest(volume_id=UNKNOWN_ID, target_path=str(target)))
    assert target.read_text() == "not the driver's"
    link = pathlib.Path(driver.path("target-link"))
    link.symlink_to(victim)
    expect_error(C.FAILED_PRECONDITION, driver.node.NodeUnpublishVolume, pb.NodeUnpublishVolumeRequest(
        volume_id=UNKNOWN_ID, target_path=str(link)), match="symbolic link")
    assert victim.read_text() == "keep me" and link.is_symlink()
    staging = pathlib.Path(driver.path("staging-with-block"))
    staging.mkdir()
    (staging / "block").write_text("a file the driver did not make")
    driver.node.NodeUnstageVolume(pb.NodeUnstageVolumeRequest(volume_id=UNKNOWN_ID, staging_target_path=str(staging)))
    assert (staging / "block").read_text() == "a file the driver did not make"
    staging_link = pathlib.Path(driver.path("staging-link"))
    staging_link.symlink_to(staging)
    expect_error(C.FAILED_PRECONDITION, driver.node.NodeUnstageVolume, pb.NodeUnstageVolumeRequest(
        volume_id=UNKNOWN_ID, staging_target_path=str(staging_link)), match="symbolic link")
    # An empty directory at the target is still removed (CSI: the SP deletes the target path).
    empty = pathlib.Path(driver.path("target-dir"))
    empty.mkdir()
    driver.node.NodeUnpublishVolume(pb.NodeUnpublishVolumeRequest(volume_id=UNKNOWN_ID, target_path=str(empty)))
    assert not empty.exists()


# ---------------------------------------------------------------- VOLUME_CONDITION


def test_volume_condition_reports_a_missing_image(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-cond", 1)
    healthy = driver.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=volume.volume_id))
    assert not healthy.status.volume_condition.abnormal, healthy.status.volume_condition.message
    image = driver.disk_image(volume.volume_id)
    moved = image.with_suffix(".moved")
    image.rename(moved)
    try:
        got = driver.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=volume.volume_id))
        condition = got.status.volume_condition
        assert condition.abnormal and "missing" in condition.message and volume.volume_id in condition.message
        listed = [e for e in driver.controller.ListVolumes(pb.ListVolumesRequest()).entries
                  if e.volume.volume_id == volume.volume_id]
        assert listed[0].status.volume_condition.abnormal
        stats_error = None
        try:
            driver.node.NodeGetVolumeStats(pb.NodeGetVolumeStatsRequest(volume_id=volume.volume_id,
                                                                        volume_path=driver.path("nothing")))
        except grpc.RpcError as error:
            stats_error = error
        assert stats_error is not None and stats_error.code() == C.NOT_FOUND  # nothing at the path
        # A truncated image (shorter than the disk) is abnormal too.
        with open(image, "wb") as f:
            f.truncate(GIB // 2)
        got = driver.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=volume.volume_id))
        assert got.status.volume_condition.abnormal and "less than" in got.status.volume_condition.message
    finally:
        moved.replace(image)
    again = driver.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=volume.volume_id))
    assert not again.status.volume_condition.abnormal


@needs_loop
def test_node_volume_stats_reports_a_missing_image(driver, csi, pb):
    cap = csi.cap()
    volume = csi.create(driver.controller, "pvc-stats-cond", 1)
    driver.controller.ControllerPublishVolume(pb.ControllerPublishVolumeRequest(
        volume_id=volume.volume_id, node_id="node-1", volume_capability=cap))
    staging = driver.path("cond-staging")
    driver.node.NodeStageVolume(pb.NodeStageVolumeRequest(
        volume_id=volume.volume_id, staging_target_path=staging, volume_capability=cap), timeout=60)
    image = driver.disk_image(volume.volume_id)
    moved = image.with_suffix(".moved")
    try:
        ok = driver.node.NodeGetVolumeStats(pb.NodeGetVolumeStatsRequest(volume_id=volume.volume_id, volume_path=staging))
        assert not ok.volume_condition.abnormal, ok.volume_condition.message
        os.link(image, moved)
        image.unlink()
        bad = driver.node.NodeGetVolumeStats(pb.NodeGetVolumeStatsRequest(volume_id=volume.volume_id, volume_path=staging))
        assert bad.volume_condition.abnormal and "missing" in bad.volume_condition.message, bad.volume_condition.message
    finally:
        if moved.exists() and not image.exists():
            os.link(moved, image)
        if moved.exists():
            moved.unlink()
        driver.node.NodeUnstageVolume(pb.NodeUnstageVolumeRequest(volume_id=volume.volume_id,
                                                                  staging_target_path=staging), timeout=60)
        driver.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(
            volume_id=volume.volume_id, node_id="node-1"))


# ---------------------------------------------------------------- tcp endpoints


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("host", ["0.0.0.0", "[::]", "10.0.0.1", "example.com", "[2001:db8::1]"])
def test_tcp_endpoint_off_loopback_is_refused(driver_binary, tmp_path, host):
    result = subprocess.run([str(driver_binary), "--endpoint", f"tcp://{host}:{_free_port()}", "--state-dir",
                             str(tmp_path / "state"), "--node-id", "n"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 64, (result.returncode, result.stderr)
    assert "not a loopback address" in result.stderr and "no authentication" in result.stderr, result.stderr


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]"])
def test_tcp_endpoint_on_loopback_serves(driver_binary, csi_pb, tmp_path, host):
    pb, pb_grpc = csi_pb
    if host == "[::1]" and not socket.has_ipv6:
        pytest.skip("no IPv6")
    port = _free_port()
    proc = subprocess.Popen([str(driver_binary), "--endpoint", f"tcp://{host}:{port}", "--state-dir",
                             str(tmp_path / "state"), "--node-id", "n"], stderr=subprocess.PIPE, text=True)
    try:
        channel = grpc.insecure_channel(f"{host}:{port}")
        grpc.channel_ready_future(channel).result(timeout=30)
        assert pb_grpc.IdentityStub(channel).Probe(pb.ProbeRequest(), timeout=10).ready.value
        channel.close()
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0, proc.stderr.read()


# ---------------------------------------------------------------- compressed messages


def test_undecompressable_message_is_an_error_not_an_empty_request(start_driver):
    """A message flagged gzip-compressed whose bytes are not gzip: INTERNAL (gRPC's compression spec), where it
    used to be decoded as an empty request. Sent with a raw HTTP/2 client (h2)."""
    h2 = pytest.importorskip("h2.connection")
    import h2.config
    import h2.events

    driver = start_driver()
    conn = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8"))
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(10)
    sock.connect(str(driver.socket))
    conn.initiate_connection()
    stream = conn.get_next_available_stream_id()
    conn.send_headers(stream, [(":method", "POST"), (":scheme", "http"), (":path", "/csi.v1.Controller/ListVolumes"),
                               (":authority", "localhost"), ("content-type", "application/grpc"), ("te", "trailers"),
                               ("grpc-encoding", "gzip"), ("grpc-accept-encoding", "identity,gzip")])
    garbage = b"\x00not gzip at all\xff" * 4
    conn.send_data(stream, b"\x01" + len(garbage).to_bytes(4, "big") + garbage, end_stream=True)
    sock.sendall(conn.data_to_send())
    headers, reset = {}, None
    deadline = time.monotonic() + 10
    while not headers.get("grpc-status") and reset is None and time.monotonic() < deadline:
        data = sock.recv(65536)
        if not data:
            break
        for event in conn.receive_data(data):
            if isinstance(event, (h2.events.ResponseReceived, h2.events.TrailersReceived)):
                headers.update(dict(event.headers))
            if isinstance(event, h2.events.StreamReset):
                reset = event.error_code
        sock.sendall(conn.data_to_send())
    sock.close()
    # Either the core resets the stream itself (libgrpc 1.51 does: RST_STREAM INTERNAL_ERROR) or the server answers
    # INTERNAL/UNIMPLEMENTED (RPCServer, when a buffer reaches it that does not decompress); never OK.
    assert (reset is not None and reset != 0) or headers.get("grpc-status") in ("13", "12"), (reset, headers)
    assert driver.proc.poll() is None
    driver.identity.Probe(driver.pb.ProbeRequest(), timeout=5)

