"""Small request builders and assertions shared by the CSI conformance tests."""
import grpc

GIB = 1 << 30
ZONE_KEY = "topology.kubernetes.io/zone"
TYPE_KEY = "everest.io/disk-volume-type"


class Csi:
    """Builders bound to one generated csi_pb2 module."""

    def __init__(self, pb):
        self.pb = pb

    def cap(self, mode="SINGLE_NODE_WRITER", block=False, fs_type="", flags=()):
        pb = self.pb
        access = pb.VolumeCapability.AccessMode(mode=pb.VolumeCapability.AccessMode.Mode.Value(mode))
        if block:
            return pb.VolumeCapability(block=pb.VolumeCapability.BlockVolume(), access_mode=access)
        return pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(fs_type=fs_type, mount_flags=list(flags)),
                                   access_mode=access)

    def create_request(self, name, *, required=None, limit=None, params=None, snapshot=None, clone=None,
                       requisite=(), preferred=(), caps=None):
        pb = self.pb
        request = pb.CreateVolumeRequest(name=name, parameters=params or {},
                                         volume_capabilities=caps if caps is not None else [self.cap()])
        if required is not None or limit is not None:
            request.capacity_range.CopyFrom(pb.CapacityRange(required_bytes=required or 0, limit_bytes=limit or 0))
        if snapshot is not None:
            request.volume_content_source.snapshot.snapshot_id = snapshot
        if clone is not None:
            request.volume_content_source.volume.volume_id = clone
        for zone in requisite:
            request.accessibility_requirements.requisite.add(segments={ZONE_KEY: zone})
        for zone in preferred:
            request.accessibility_requirements.preferred.add(segments={ZONE_KEY: zone})
        return request

    def create(self, controller, name, gib=1, **kwargs):
        """CreateVolume of `gib` GiB; returns the Volume."""
        if "required" not in kwargs and gib is not None:
            kwargs["required"] = gib * GIB
        return controller.CreateVolume(self.create_request(name, **kwargs), timeout=30).volume

    def snapshot(self, controller, name, volume_id):
        return controller.CreateSnapshot(self.pb.CreateSnapshotRequest(name=name, source_volume_id=volume_id),
                                         timeout=60).snapshot


def expect_error(code, call, *args, match=None, **kwargs):
    """Calls `call` and asserts it fails with grpc status `code` (a grpc.StatusCode or a tuple of them)
    and, when given, that `match` (a string, or each of a tuple) occurs in the details. Returns the details."""
    codes = code if isinstance(code, tuple) else (code,)
    try:
        response = call(*args, timeout=kwargs.pop("timeout", 30), **kwargs)
    except grpc.RpcError as error:
        assert error.code() in codes, f"expected {codes}, got {error.code()}: {error.details()}"
        details = error.details() or ""
        for text in ((match,) if isinstance(match, str) else (match or ())):
            assert text in details, f"{text!r} not in {details!r}"
        return details
    raise AssertionError(f"expected {codes}, got success: {response}")


def asan_built(binary):
    """Whether `binary` is an AddressSanitizer build (`make asan`). Such a build measures ASan's allocator and runs
    2-3 times slower than the driver that ships: memory bounds are not asserted on it, and latency bounds are
    scaled (each test says how)."""
    with open(binary, "rb") as f:
        return b"AddressSanitizer" in f.read()


def has_sys_resource():
    """Whether this process (and so a driver it starts) has CAP_SYS_RESOURCE, which the kernel demands for growing
    a mounted ext4 (without it the driver answers NodeExpandVolume with FAILED_PRECONDITION, and the file system
    grows when the volume is next staged)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapEff:"):
                return bool(int(line.split()[1], 16) & (1 << 24))
    return False
