"""Identity service and the gRPC transport of evs-csi-driver, from an independent client (grpcio).

Covers: GetPluginInfo / GetPluginCapabilities / Probe; unknown method and service; malformed, truncated and
oversize payloads; invalid UTF-8 and embedded NUL; deadlines; 64 calls in flight; SIGTERM with calls in
flight; and after every abuse, the server still answering Probe.
"""
import concurrent.futures
import os
import signal
import threading
import time

import grpc
import pytest

from driverproc import DriverProcess

Code = grpc.StatusCode


@pytest.fixture
def driver(evssnap_bin, csi_pb):
    d = DriverProcess(evssnap_bin("evs-csi-driver"), csi_pb).start()
    yield d
    rc = d.stop()
    assert rc == 0, f"driver exited with {rc}:\n{d.log()}"
    d.cleanup()


def raw(driver, path):
    """A raw-bytes unary callable for `path` (no serialization on either side)."""
    return driver.channel.unary_unary(path, request_serializer=None, response_deserializer=None)


def assert_healthy(driver):
    assert driver.identity.Probe(driver.pb.ProbeRequest(), timeout=5).ready.value is True


def rpc_error(fn, *args, **kwargs):
    with pytest.raises(grpc.RpcError) as info:
        fn(*args, **kwargs)
    return info.value


# ---- Identity


def test_get_plugin_info_names_the_everest_driver_and_version(driver):
    info = driver.identity.GetPluginInfo(driver.pb.GetPluginInfoRequest())
    assert info.name == "disk.csi.everest.io"
    assert info.vendor_version == "0.1.0"
    assert info.manifest["backend"] == "evs-emulator"


def test_driver_name_flag_changes_plugin_name(evssnap_bin, csi_pb):
    d = DriverProcess(evssnap_bin("evs-csi-driver"), csi_pb, extra_args=["--driver-name", "disk.test.example"]).start()
    try:
        assert d.identity.GetPluginInfo(d.pb.GetPluginInfoRequest()).name == "disk.test.example"
    finally:
        assert d.stop() == 0
        d.cleanup()


def test_plugin_capabilities_controller_and_topology(driver):
    pb = driver.pb
    caps = driver.identity.GetPluginCapabilities(pb.GetPluginCapabilitiesRequest()).capabilities
    services = {c.service.type for c in caps if c.HasField("service")}
    assert services == {pb.PluginCapability.Service.CONTROLLER_SERVICE,
                        pb.PluginCapability.Service.VOLUME_ACCESSIBILITY_CONSTRAINTS}


def test_node_only_mode_does_not_advertise_controller(evssnap_bin, csi_pb):
    d = DriverProcess(evssnap_bin("evs-csi-driver"), csi_pb, mode="node").start()
    try:
        pb = d.pb
        caps = d.identity.GetPluginCapabilities(pb.GetPluginCapabilitiesRequest()).capabilities
        services = {c.service.type for c in caps if c.HasField("service")}
        assert pb.PluginCapability.Service.CONTROLLER_SERVICE not in services
        err = rpc_error(d.controller.ControllerGetCapabilities, pb.ControllerGetCapabilitiesRequest())
        assert err.code() == Code.UNIMPLEMENTED
        assert d.node.NodeGetInfo(pb.NodeGetInfoRequest()).node_id == "node-1"
    finally:
        assert d.stop() == 0
        d.cleanup()


def test_probe_is_ready(driver):
    assert_healthy(driver)


# ---- unknown methods and services


def test_unknown_method_is_unimplemented(driver):
    err = rpc_error(raw(driver, "/csi.v1.Identity/NoSuchMethod"), b"", timeout=5)
    assert err.code() == Code.UNIMPLEMENTED
    assert_healthy(driver)


def test_unknown_service_is_unimplemented(driver):
    err = rpc_error(raw(driver, "/csi.v1.GroupController/GroupControllerGetCapabilities"), b"", timeout=5)
    assert err.code() == Code.UNIMPLEMENTED
    err = rpc_error(raw(driver, "/no.such.Service/Call"), b"\x0a\x01x", timeout=5)
    assert err.code() == Code.UNIMPLEMENTED
    assert_healthy(driver)


# ---- payload abuse


@pytest.mark.parametrize("payload", [
    b"\xff\xff\xff",                       # invalid tag / varint
    b"\x0a\x10only-five",                  # length-delimited field longer than the payload (truncated)
    b"\x0a",                               # a tag with no length
    b"\x08\x96",                           # a varint cut in half
], ids=["garbage", "truncated-length", "tag-only", "cut-varint"])
def test_malformed_payload_is_invalid_argument(driver, payload):
    err = rpc_error(raw(driver, "/csi.v1.Controller/CreateVolume"), payload, timeout=5)
    assert err.code() == Code.INVALID_ARGUMENT
    assert "malformed" in err.details()
    assert_healthy(driver)


def test_truncated_real_request_is_invalid_argument(driver):
    pb = driver.pb
    good = pb.CreateSnapshotRequest(name="snap-x", source_volume_id="vol-x").SerializeToString()
    for cut in range(1, len(good)):
        if cut in (len(b"\x0a\x05vol-x"),):   # a cut at a field boundary is a valid, shorter message
            continue
        err = rpc_error(raw(driver, "/csi.v1.Controller/CreateSnapshot"), good[:cut], timeout=5)
        assert err.code() == Code.INVALID_ARGUMENT, f"cut at {cut}: {err.code()} {err.details()}"
    assert_healthy(driver)


def test_oversize_payload_is_resource_exhausted(driver):
    pb = driver.pb
    big = pb.CreateVolumeRequest(name="big", parameters={"k": "x" * (5 << 20)}).SerializeToString()
    err = rpc_error(raw(driver, "/csi.v1.Controller/CreateVolume"), big, timeout=30)
    assert err.code() == Code.RESOURCE_EXHAUSTED
    assert_healthy(driver)


def test_invalid_utf8_names_the_field(driver):
    # CreateSnapshotRequest{source_volume_id=1: "vol", name=2: b"\xc3\x28"} built by hand: Python's protobuf
    # refuses to encode invalid UTF-8.
    payload = b"\x0a\x03vol" + b"\x12\x02\xc3\x28"
    err = rpc_error(raw(driver, "/csi.v1.Controller/CreateSnapshot"), payload, timeout=5)
    assert err.code() == Code.INVALID_ARGUMENT
    assert "CreateSnapshotRequest.name" in err.details() and "UTF-8" in err.details()
    assert_healthy(driver)


def test_invalid_utf8_in_a_map_value_names_the_field(driver):
    # CreateVolumeRequest{name=1: "v", parameters=4: {"k": b"\xff"}}
    entry = b"\x0a\x01k" + b"\x12\x01\xff"
    payload = b"\x0a\x01v" + b"\x22" + bytes([len(entry)]) + entry
    err = rpc_error(raw(driver, "/csi.v1.Controller/CreateVolume"), payload, timeout=5)
    assert err.code() == Code.INVALID_ARGUMENT
    assert "CreateVolumeRequest.parameters" in err.details()
    assert_healthy(driver)


def test_embedded_nul_is_refused(driver):
    payload = b"\x0a\x03vol" + b"\x12\x03a\x00b"
    err = rpc_error(raw(driver, "/csi.v1.Controller/CreateSnapshot"), payload, timeout=5)
    assert err.code() == Code.INVALID_ARGUMENT
    assert "NUL" in err.details()
    assert_healthy(driver)


# ---- deadlines and concurrency


def test_deadline_shorter_than_the_call_is_deadline_exceeded(driver):
    """A snapshot of a disk holding 128 MiB (a data copy plus fsyncs, or a reflink plus SQLite's fsyncs) cannot
    finish within 1 ms: the client gets DEADLINE_EXCEEDED, and the server stays healthy. (A microsecond timeout
    on a cheap call is not reliable: the call may finish first.)"""
    pb = driver.pb
    cap = pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(),
                              access_mode=pb.VolumeCapability.AccessMode(mode=1))
    vol = driver.controller.CreateVolume(pb.CreateVolumeRequest(
        name="deadline", capacity_range=pb.CapacityRange(required_bytes=1 << 30), volume_capabilities=[cap]))
    with open(driver.disk_image(vol.volume.volume_id), "r+b") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(128):
            f.write(chunk)
    err = rpc_error(driver.controller.CreateSnapshot, pb.CreateSnapshotRequest(
        name="deadline-snap", source_volume_id=vol.volume.volume_id), timeout=0.001)
    assert err.code() == Code.DEADLINE_EXCEEDED
    assert_healthy(driver)


def test_64_calls_in_flight_all_answered(driver):
    pb = driver.pb
    cap = pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(),
                              access_mode=pb.VolumeCapability.AccessMode(mode=1))
    start = threading.Barrier(64)

    def call(i):
        start.wait()
        if i % 2:
            return driver.identity.Probe(pb.ProbeRequest(), timeout=30).ready.value
        v = driver.controller.CreateVolume(pb.CreateVolumeRequest(
            name=f"conc-{i}", capacity_range=pb.CapacityRange(required_bytes=1 << 30),
            volume_capabilities=[cap]), timeout=30)
        return bool(v.volume.volume_id)

    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        results = list(pool.map(call, range(64)))
    assert results == [True] * 64
    listed = driver.controller.ListVolumes(pb.ListVolumesRequest(), timeout=10).entries
    assert len(listed) == 32
    assert_healthy(driver)


def test_sigterm_with_calls_in_flight_finishes_them_and_exits_0(evssnap_bin, csi_pb):
    """Snapshots of a disk holding 64 MiB of data (a sparse-aware copy on this file system) are in flight when
    SIGTERM arrives: they complete within the grace period and the driver exits 0."""
    d = DriverProcess(evssnap_bin("evs-csi-driver"), csi_pb, extra_args=["--shutdown-grace", "60"]).start()
    try:
        pb = d.pb
        cap = pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(),
                                  access_mode=pb.VolumeCapability.AccessMode(mode=1))
        vol = d.controller.CreateVolume(pb.CreateVolumeRequest(
            name="busy", capacity_range=pb.CapacityRange(required_bytes=1 << 30), volume_capabilities=[cap]))
        with open(d.disk_image(vol.volume.volume_id), "r+b") as f:
            chunk = os.urandom(1 << 20)
            for _ in range(64):
                f.write(chunk)
        futures = [d.controller.CreateSnapshot.future(pb.CreateSnapshotRequest(
            name=f"busy-snap-{i}", source_volume_id=vol.volume.volume_id), timeout=60) for i in range(3)]
        # Wait until the driver has accepted all three (each inserts its snapshot row before copying), not a guess.
        deadline = time.monotonic() + 20
        while len(d.controller.ListSnapshots(pb.ListSnapshotsRequest(), timeout=10).entries) < 3:
            assert time.monotonic() < deadline and not any(f.done() and f.exception() for f in futures), d.log()
            time.sleep(0.001)
        d.proc.send_signal(signal.SIGTERM)
        outcomes = []
        for fut in futures:
            try:
                outcomes.append(fut.result().snapshot.ready_to_use)
            except grpc.RpcError as e:
                outcomes.append(e.code())
        rc = d.proc.wait(timeout=60)
        assert rc == 0, d.log()
        # Calls accepted before SIGTERM complete within the grace period.
        assert outcomes == [True, True, True], (outcomes, d.log())
    finally:
        d.kill()
        d.cleanup()
