"""Wire compatibility of the Swift protobuf-c codec (CSIMessages) with Python `protobuf`.

Both directions, through the `csi-wire-check` helper:
  python encode -> Swift decode + re-encode -> python decode: equal message
  Swift sample  -> python decode: every field has the value the Swift generator put there
"""
import subprocess

import pytest


@pytest.fixture(scope="module")
def wire(evssnap_bin):
    tool = evssnap_bin("csi-wire-check")

    def run(*args, data=b"", check=True):
        proc = subprocess.run([str(tool), *args], input=data, capture_output=True, timeout=30)
        if check:
            assert proc.returncode == 0, proc.stderr.decode()
        return proc
    return run


def message_class(pb2, path):
    cls = getattr(pb2, path.split(".")[0])
    for part in path.split(".")[1:]:
        cls = getattr(cls, part)
    return cls


def all_message_paths(pb2):
    out = []

    def walk(desc, prefix):
        for nested in desc.nested_types:
            if not nested.GetOptions().map_entry:
                out.append(prefix + nested.name)
                walk(nested, prefix + nested.name + ".")
    for name, desc in pb2.DESCRIPTOR.message_types_by_name.items():
        out.append(name)
        walk(desc, name + ".")
    return sorted(out)


def swift_roundtrip(wire, msg):
    out = wire("roundtrip", msg.DESCRIPTOR.full_name.removeprefix("csi.v1."), data=msg.SerializeToString())
    back = type(msg)()
    back.ParseFromString(out.stdout)
    return back


# --- python -> Swift -> python -------------------------------------------------------------

def create_volume_requests(pb):
    caps_mount = pb.VolumeCapability(
        mount=pb.VolumeCapability.MountVolume(fs_type="xfs", mount_flags=["noatime", "nodiratime"],
                                              volume_mount_group="1000"),
        access_mode=pb.VolumeCapability.AccessMode(mode=pb.VolumeCapability.AccessMode.SINGLE_NODE_WRITER))
    caps_block = pb.VolumeCapability(
        block=pb.VolumeCapability.BlockVolume(),
        access_mode=pb.VolumeCapability.AccessMode(mode=pb.VolumeCapability.AccessMode.MULTI_NODE_MULTI_WRITER))
    topo = pb.TopologyRequirement(
        requisite=[pb.Topology(segments={"topology.kubernetes.io/zone": "cn-north-4a"}),
                   pb.Topology(segments={"topology.kubernetes.io/zone": "cn-north-4b"})],
        preferred=[pb.Topology(segments={"topology.kubernetes.io/zone": "cn-north-4b"})])
    base = dict(
        name="pvc-7f1c-ünïcödé",
        capacity_range=pb.CapacityRange(required_bytes=10 * 2**30, limit_bytes=20 * 2**30),
        parameters={"type": "SSD", "everest.io/disk-volume-type": "SAS", "empty": ""},
        secrets={"access-key": "AK", "secret-key": "SK"},
        accessibility_requirements=topo,
        mutable_parameters={"iops": "3000"},
    )
    return [
        pb.CreateVolumeRequest(volume_capabilities=[caps_mount], **base,
                               volume_content_source=pb.VolumeContentSource(
                                   snapshot=pb.VolumeContentSource.SnapshotSource(snapshot_id="snap-1"))),
        pb.CreateVolumeRequest(volume_capabilities=[caps_block, caps_mount], **base,
                               volume_content_source=pb.VolumeContentSource(
                                   volume=pb.VolumeContentSource.VolumeSource(volume_id="vol-9"))),
        pb.CreateVolumeRequest(name="minimal"),
        pb.CreateVolumeRequest(),
    ]


def test_create_volume_request_python_to_swift(csi_pb, wire):
    pb, _ = csi_pb
    for req in create_volume_requests(pb):
        assert swift_roundtrip(wire, req) == req


def test_create_snapshot_response_python_to_swift(csi_pb, wire):
    pb, _ = csi_pb
    snap = pb.Snapshot(size_bytes=10 * 2**30, snapshot_id="snap-4c2a", source_volume_id="vol-1",
                       ready_to_use=True, group_snapshot_id="")
    snap.creation_time.seconds = 1_764_000_000
    snap.creation_time.nanos = 5
    resp = pb.CreateSnapshotResponse(snapshot=snap)
    back = swift_roundtrip(wire, resp)
    assert back == resp
    assert back.snapshot.HasField("creation_time")
    assert (back.snapshot.creation_time.seconds, back.snapshot.creation_time.nanos) == (1_764_000_000, 5)
    # ready_to_use=false and an epoch timestamp are still carried (presence of the Timestamp).
    resp2 = pb.CreateSnapshotResponse(snapshot=pb.Snapshot(snapshot_id="s"))
    resp2.snapshot.creation_time.SetInParent()
    back2 = swift_roundtrip(wire, resp2)
    assert back2 == resp2 and back2.snapshot.HasField("creation_time")


def test_get_plugin_info_response_python_to_swift(csi_pb, wire):
    pb, _ = csi_pb
    resp = pb.GetPluginInfoResponse(name="evs.csi.huaweicloud.com", vendor_version="1.0.0",
                                    manifest={f"k{i}": f"v{i}" for i in range(40)} | {"": "empty-key"})
    assert swift_roundtrip(wire, resp) == resp


def test_probe_response_wrapper_presence(csi_pb, wire):
    pb, _ = csi_pb
    for resp in (pb.ProbeResponse(), pb.ProbeResponse(ready={"value": False}), pb.ProbeResponse(ready={"value": True})):
        back = swift_roundtrip(wire, resp)
        assert back == resp
        assert back.HasField("ready") == resp.HasField("ready")


def test_get_capacity_response_int64_wrappers(csi_pb, wire):
    pb, _ = csi_pb
    resp = pb.GetCapacityResponse(available_capacity=2**40, maximum_volume_size={"value": 0},
                                  minimum_volume_size={"value": 2**30})
    back = swift_roundtrip(wire, resp)
    assert back == resp and back.HasField("maximum_volume_size")


def test_unknown_enum_value_survives(csi_pb, wire):
    pb, _ = csi_pb
    mode = pb.VolumeCapability.AccessMode()
    mode.ParseFromString(bytes([0x08, 42]))  # mode = 42, unknown to the spec
    assert swift_roundtrip(wire, mode).mode == 42


# --- Swift sample -> python, field by field ---------------------------------------------------

def sample(wire, pb, path, variant=0):
    out = wire("sample", path, str(variant))
    msg = message_class(pb, path)()
    msg.ParseFromString(out.stdout)
    return msg


def test_swift_create_volume_request_sample(csi_pb, wire):
    pb, _ = csi_pb
    m = sample(wire, pb, "CreateVolumeRequest", 0)
    assert m.name == "name-0-é"
    assert (m.capacity_range.required_bytes, m.capacity_range.limit_bytes) == (1_000_000_000_007, 2_000_000_000_007)
    assert len(m.volume_capabilities) == 2
    block, mount = m.volume_capabilities
    assert block.WhichOneof("access_type") == "block"
    assert block.access_mode.mode == pb.VolumeCapability.AccessMode.SINGLE_NODE_MULTI_WRITER
    assert mount.WhichOneof("access_type") == "mount"
    assert mount.mount.fs_type == "fs_type-1-é"
    assert list(mount.mount.mount_flags) == ["mount_flags-a-1", "mount_flags-b"]
    assert mount.mount.volume_mount_group == "volume_mount_group-1-é"
    assert dict(m.parameters) == {"parameters-k1": "v1-0", "parameters-k2-é": "v2"}
    assert dict(m.secrets) == {"secrets-k1": "v1-0", "secrets-k2-é": "v2"}
    assert dict(m.mutable_parameters) == {"mutable_parameters-k1": "v1-0", "mutable_parameters-k2-é": "v2"}
    assert m.volume_content_source.WhichOneof("type") == "snapshot"
    assert m.volume_content_source.snapshot.snapshot_id == "snapshot_id-0-é"
    req = m.accessibility_requirements
    assert [dict(t.segments) for t in req.requisite] == [
        {"segments-k1": "v1-0", "segments-k2-é": "v2"}, {"segments-k1": "v1-1", "segments-k2-é": "v2"}]
    assert [dict(t.segments) for t in req.preferred] == [dict(t.segments) for t in req.requisite]

    m1 = sample(wire, pb, "CreateVolumeRequest", 1)
    assert m1.volume_content_source.WhichOneof("type") == "volume"
    assert m1.volume_content_source.volume.volume_id == "volume_id-1-é"
    assert [c.WhichOneof("access_type") for c in m1.volume_capabilities] == ["mount", "block"]


def test_swift_create_snapshot_response_sample(csi_pb, wire):
    pb, _ = csi_pb
    s = sample(wire, pb, "CreateSnapshotResponse").snapshot
    assert s.size_bytes == 1_000_000_000_007
    assert s.snapshot_id == "snapshot_id-0-é"
    assert s.source_volume_id == "source_volume_id-0-é"
    assert s.HasField("creation_time")
    assert (s.creation_time.seconds, s.creation_time.nanos) == (1_700_000_000, 123_456_789)
    assert s.ready_to_use is True
    assert s.group_snapshot_id == "group_snapshot_id-0-é"


def test_swift_get_plugin_info_response_sample(csi_pb, wire):
    pb, _ = csi_pb
    m = sample(wire, pb, "GetPluginInfoResponse")
    assert m.name == "name-0-é"
    assert m.vendor_version == "vendor_version-0-é"
    assert dict(m.manifest) == {"manifest-k1": "v1-0", "manifest-k2-é": "v2"}


def test_swift_probe_response_sample_keeps_false(csi_pb, wire):
    pb, _ = csi_pb
    m = sample(wire, pb, "ProbeResponse", 0)
    assert m.HasField("ready") and m.ready.value is False
    assert sample(wire, pb, "ProbeResponse", 1).ready.value is True


def test_every_swift_sample_parses_in_python_and_round_trips(csi_pb, wire):
    """All messages: Swift bytes parse in python with no unknown fields, and python's re-encoding
    decodes in Swift back to the same message."""
    from google.protobuf import unknown_fields

    pb, _ = csi_pb
    paths = all_message_paths(pb)
    assert len(paths) == 78
    for path in paths:
        for variant in (0, 1):
            m = sample(wire, pb, path, variant)
            assert len(unknown_fields.UnknownFieldSet(m)) == 0, path
            assert swift_roundtrip(wire, m) == m, path


# --- what Swift rejects -------------------------------------------------------------------------

@pytest.mark.parametrize("payload,text", [
    (bytes([0x0A, 0x05, 0x61]), "malformed CreateVolumeRequest payload"),
    (bytes([0x0A, 0x02, 0x61, 0xFF]), "field CreateVolumeRequest.name is not valid UTF-8"),
    (bytes([0x0A, 0x02, 0x61, 0x00]), "field CreateVolumeRequest.name contains a NUL character"),
])
def test_swift_rejects(wire, payload, text):
    proc = wire("roundtrip", "CreateVolumeRequest", data=payload, check=False)
    assert proc.returncode == 1
    assert text in proc.stderr.decode()
    assert proc.stdout == b""
