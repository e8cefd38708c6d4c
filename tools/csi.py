#!/usr/bin/env python3
"""A small CSI client for trying the driver by hand (`make run` prints examples).

    tools/csi.py [--socket PATH] probe | info
    tools/csi.py create-volume NAME SIZE [--type SSD] [--fstype xfs] [--scsi] [--kms KEY]
    tools/csi.py restore NAME SNAPSHOT-ID [SIZE] [--type SSD] ...
    tools/csi.py delete-volume VOLUME-ID
    tools/csi.py create-snapshot NAME VOLUME-ID
    tools/csi.py delete-snapshot SNAPSHOT-ID
    tools/csi.py list-snapshots [--volume VOLUME-ID] | list-volumes

SIZE is a Kubernetes quantity of whole binary units (10Gi, 512Mi). Errors print the gRPC status and the
driver's message (which names the Everest rule, e.g. R8) and exit 1.
"""
import argparse
import pathlib
import sys
import tempfile

import grpc
import grpc_tools
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parents[1]
UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30, "Ti": 1 << 40}


def bindings():
    out = tempfile.mkdtemp(prefix="evssnap-pb-")
    wk = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    if protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"-I{wk}", f"--python_out={out}",
                    f"--grpc_python_out={out}", str(ROOT / "proto" / "csi.proto")]) != 0:
        sys.exit("cannot compile proto/csi.proto")
    sys.path.insert(0, out)
    import csi_pb2, csi_pb2_grpc  # noqa: E402
    return csi_pb2, csi_pb2_grpc


def size(text):
    for unit, factor in UNITS.items():
        if text.endswith(unit):
            return int(text[: -len(unit)]) * factor
    return int(text)


def main():
    p = argparse.ArgumentParser(description="Talk to evs-csi-driver over its unix socket.")
    p.add_argument("--socket", default=str(ROOT / "run" / "csi.sock"))
    p.add_argument("command")
    p.add_argument("args", nargs="*")
    p.add_argument("--type"), p.add_argument("--fstype"), p.add_argument("--kms"), p.add_argument("--volume")
    p.add_argument("--scsi", action="store_true")
    a = p.parse_args()
    pb, rpc = bindings()
    channel = grpc.insecure_channel(f"unix://{a.socket}")
    ident, ctl = rpc.IdentityStub(channel), rpc.ControllerStub(channel)
    params = {}
    if a.type: params["everest.io/disk-volume-type"] = a.type
    if a.fstype: params["csi.storage.k8s.io/fstype"] = a.fstype
    if a.kms: params["everest.io/crypt-key-id"] = a.kms
    if a.scsi: params["everest.io/passthrough"] = "true"
    cap = pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(fs_type=a.fstype or ""),
                              access_mode=pb.VolumeCapability.AccessMode(mode=1))
    c, args = a.command, a.args
    try:
        if c == "probe": print(ident.Probe(pb.ProbeRequest()))
        elif c == "info": print(ident.GetPluginInfo(pb.GetPluginInfoRequest()))
        elif c == "create-volume":
            print(ctl.CreateVolume(pb.CreateVolumeRequest(
                name=args[0], capacity_range=pb.CapacityRange(required_bytes=size(args[1])),
                volume_capabilities=[cap], parameters=params)))
        elif c == "restore":
            req = pb.CreateVolumeRequest(name=args[0], volume_capabilities=[cap], parameters=params,
                                         volume_content_source=pb.VolumeContentSource(
                                             snapshot=pb.VolumeContentSource.SnapshotSource(snapshot_id=args[1])))
            if len(args) > 2: req.capacity_range.required_bytes = size(args[2])
            print(ctl.CreateVolume(req))
        elif c == "delete-volume": ctl.DeleteVolume(pb.DeleteVolumeRequest(volume_id=args[0])); print("deleted")
        elif c == "create-snapshot":
            print(ctl.CreateSnapshot(pb.CreateSnapshotRequest(name=args[0], source_volume_id=args[1])))
        elif c == "delete-snapshot": ctl.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=args[0])); print("deleted")
        elif c == "list-snapshots": print(ctl.ListSnapshots(pb.ListSnapshotsRequest(source_volume_id=a.volume or "")))
        elif c == "list-volumes": print(ctl.ListVolumes(pb.ListVolumesRequest()))
        else: p.error(f"unknown command {c}")
    except grpc.RpcError as e:
        sys.exit(f"{e.code().name}: {e.details()}")
    except IndexError:
        p.error(f"{c}: missing arguments (see the module docstring: {__file__})")


if __name__ == "__main__":
    main()
