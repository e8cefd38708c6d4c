#!/usr/bin/env python3
"""Prepare the driver for `make bench-rpc` and write the request payloads rpc-bench sends.

Usage: rpc_payloads.py SOCKET OUTDIR
Creates one volume with 10 snapshots on the running driver (through grpcio, generated from proto/csi.proto),
then writes raw request bytes: probe.bin, list_snapshots.bin (a page of 10), create_snapshot.bin (an
idempotent CreateSnapshot of an existing name: the backend looks it up and answers the same snapshot).
"""
import pathlib
import sys
import tempfile

import grpc
from grpc_tools import protoc
import grpc_tools

ROOT = pathlib.Path(__file__).resolve().parents[1]


def bindings():
    out = tempfile.mkdtemp(prefix="evssnap-pb-")
    wk = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    assert protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"-I{wk}", f"--python_out={out}",
                        f"--grpc_python_out={out}", str(ROOT / "proto" / "csi.proto")]) == 0
    sys.path.insert(0, out)
    import csi_pb2, csi_pb2_grpc  # noqa: E402
    return csi_pb2, csi_pb2_grpc


def main():
    socket, outdir = sys.argv[1], pathlib.Path(sys.argv[2])
    pb, rpc = bindings()
    ctl = rpc.ControllerStub(grpc.insecure_channel(f"unix://{socket}"))
    cap = pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(fs_type="ext4"),
                              access_mode=pb.VolumeCapability.AccessMode(mode=1))
    vol = ctl.CreateVolume(pb.CreateVolumeRequest(
        name="bench-volume", capacity_range=pb.CapacityRange(required_bytes=1 << 30), volume_capabilities=[cap]))
    vid = vol.volume.volume_id
    for i in range(7):
        ctl.CreateSnapshot(pb.CreateSnapshotRequest(name=f"bench-snap-{i}", source_volume_id=vid))
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "probe.bin").write_bytes(pb.ProbeRequest().SerializeToString())
    (outdir / "list_snapshots.bin").write_bytes(pb.ListSnapshotsRequest(max_entries=10).SerializeToString())
    (outdir / "create_snapshot.bin").write_bytes(
        pb.CreateSnapshotRequest(name="bench-snap-0", source_volume_id=vid).SerializeToString())


if __name__ == "__main__":
    main()
