#!/usr/bin/env python3
"""Write the seed corpus of the fuzz targets: valid CSI requests, encoded by grpcio's protobuf (an independent
encoder, generated from our proto/csi.proto), under Tests/fuzz/corpus/<target>/seed-*.

  fuzz-decode-<Request>/  one file per request: the bytes of a valid <Request> (several variants each)
  fuzz-services/          call sequences in the harness's format: [method][length, 2 bytes LE][request]...,
                          method = index in proto order (Identity, Controller, Node), ids as placeholders
                          (@v0 @v1 @v2 volumes, @s0 @s1 snapshots, @nv @ns the last created, @img-v0 image path)

Usage: seed_corpus.py [OUTDIR]   (default Tests/fuzz/corpus; existing seed-* files are replaced, others kept)
"""
import pathlib
import sys
import tempfile

import grpc_tools
from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parents[2]
GIB = 1 << 30


def bindings():
    out = tempfile.mkdtemp(prefix="evssnap-fuzz-pb-")
    wk = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    assert protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"-I{wk}", f"--python_out={out}",
                        str(ROOT / "proto" / "csi.proto")]) == 0
    sys.path.insert(0, out)
    import csi_pb2  # noqa: E402
    return csi_pb2


def requests(pb):
    """Request name -> list of (variant name, message)."""
    mount = pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(fs_type="ext4", mount_flags=["noatime"]),
                                access_mode=pb.VolumeCapability.AccessMode(mode=pb.VolumeCapability.AccessMode.SINGLE_NODE_WRITER))
    xfs = pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(fs_type="xfs"),
                              access_mode=pb.VolumeCapability.AccessMode(mode=pb.VolumeCapability.AccessMode.SINGLE_NODE_MULTI_WRITER))
    block = pb.VolumeCapability(block=pb.VolumeCapability.BlockVolume(),
                                access_mode=pb.VolumeCapability.AccessMode(mode=pb.VolumeCapability.AccessMode.SINGLE_NODE_WRITER))
    zone = pb.Topology(segments={"topology.kubernetes.io/zone": "cn-north-4a"})
    params = {"everest.io/disk-volume-type": "SSD", "csi.storage.k8s.io/fstype": "ext4",
              "csi.storage.k8s.io/pvc/name": "data", "csi.storage.k8s.io/pvc/namespace": "apps"}
    staging = "/var/lib/kubelet/plugins/kubernetes.io/csi/everest-csi-provisioner/abc/globalmount"
    target = "/var/lib/kubelet/pods/0d6f/volumes/kubernetes.io~csi/pvc-1/mount"
    ctx = {"evssnap.io/device-path": "@img-v0", "evssnap.io/read-only": "false"}
    return {
        "GetPluginInfoRequest": [("empty", pb.GetPluginInfoRequest())],
        "GetPluginCapabilitiesRequest": [("empty", pb.GetPluginCapabilitiesRequest())],
        "ProbeRequest": [("empty", pb.ProbeRequest())],
        "CreateVolumeRequest": [
            ("plain", pb.CreateVolumeRequest(name="pvc-1", capacity_range=pb.CapacityRange(required_bytes=GIB),
                                             volume_capabilities=[mount])),
            ("full", pb.CreateVolumeRequest(
                name="pvc-2", capacity_range=pb.CapacityRange(required_bytes=10 * GIB, limit_bytes=20 * GIB),
                volume_capabilities=[mount, xfs], parameters=params, secrets={"token": "s3cr3t"},
                accessibility_requirements=pb.TopologyRequirement(requisite=[zone], preferred=[zone]),
                mutable_parameters={"iops": "3000"})),
            ("block", pb.CreateVolumeRequest(name="pvc-3", capacity_range=pb.CapacityRange(required_bytes=3 * GIB // 2),
                                             volume_capabilities=[block])),
            ("restore", pb.CreateVolumeRequest(
                name="pvc-restore", volume_capabilities=[mount], parameters={"everest.io/disk-volume-type": "SAS"},
                volume_content_source=pb.VolumeContentSource(snapshot=pb.VolumeContentSource.SnapshotSource(snapshot_id="@s0")))),
            ("clone", pb.CreateVolumeRequest(
                name="pvc-clone", volume_capabilities=[mount],
                volume_content_source=pb.VolumeContentSource(volume=pb.VolumeContentSource.VolumeSource(volume_id="@v0")))),
            ("extreme", pb.CreateVolumeRequest(
                name="pvc-big", capacity_range=pb.CapacityRange(required_bytes=(1 << 63) - 1, limit_bytes=(1 << 63) - 1),
                volume_capabilities=[mount])),
        ],
        "DeleteVolumeRequest": [("plain", pb.DeleteVolumeRequest(volume_id="@v1", secrets={"token": "s"}))],
        "ControllerPublishVolumeRequest": [
            ("plain", pb.ControllerPublishVolumeRequest(volume_id="@v1", node_id="@node", volume_capability=mount,
                                                        readonly=True, volume_context={"k": "v"})),
            ("block", pb.ControllerPublishVolumeRequest(volume_id="@v2", node_id="other-node", volume_capability=block)),
        ],
        "ControllerUnpublishVolumeRequest": [
            ("plain", pb.ControllerUnpublishVolumeRequest(volume_id="@v0", node_id="@node")),
            ("all-nodes", pb.ControllerUnpublishVolumeRequest(volume_id="@v1")),
        ],
        "ValidateVolumeCapabilitiesRequest": [
            ("plain", pb.ValidateVolumeCapabilitiesRequest(volume_id="@v0", volume_capabilities=[mount, block],
                                                           parameters=params, volume_context={"a": "b"})),
        ],
        "ListVolumesRequest": [
            ("all", pb.ListVolumesRequest()),
            ("page", pb.ListVolumesRequest(max_entries=1, starting_token="1")),
        ],
        "GetCapacityRequest": [
            ("plain", pb.GetCapacityRequest(volume_capabilities=[mount], parameters=params, accessible_topology=zone)),
        ],
        "ControllerGetCapabilitiesRequest": [("empty", pb.ControllerGetCapabilitiesRequest())],
        "CreateSnapshotRequest": [
            ("plain", pb.CreateSnapshotRequest(source_volume_id="@v0", name="snap-1", parameters={"a": "b"},
                                               secrets={"token": "s"})),
            ("of-restored", pb.CreateSnapshotRequest(source_volume_id="@v2", name="snap-2")),
        ],
        "DeleteSnapshotRequest": [("plain", pb.DeleteSnapshotRequest(snapshot_id="@s1"))],
        "ListSnapshotsRequest": [
            ("all", pb.ListSnapshotsRequest()),
            ("by-source", pb.ListSnapshotsRequest(source_volume_id="@v0", max_entries=2)),
            ("by-id", pb.ListSnapshotsRequest(snapshot_id="@s0")),
            ("page", pb.ListSnapshotsRequest(max_entries=1, starting_token="1")),
        ],
        "GetSnapshotRequest": [("plain", pb.GetSnapshotRequest(snapshot_id="@s0"))],
        "ControllerExpandVolumeRequest": [
            ("plain", pb.ControllerExpandVolumeRequest(volume_id="@v1", capacity_range=pb.CapacityRange(required_bytes=4 * GIB),
                                                       volume_capability=mount)),
            ("extreme", pb.ControllerExpandVolumeRequest(volume_id="@v1", capacity_range=pb.CapacityRange(
                required_bytes=(1 << 63) - 6))),
        ],
        "ControllerGetVolumeRequest": [("plain", pb.ControllerGetVolumeRequest(volume_id="@v0"))],
        "ControllerModifyVolumeRequest": [
            ("plain", pb.ControllerModifyVolumeRequest(volume_id="@v0", mutable_parameters={"iops": "5000"})),
            ("qos", pb.ControllerModifyVolumeRequest(volume_id="@v0", mutable_parameters={
                "everest.io/disk-iops": "6000", "everest.io/disk-throughput": "250"})),
        ],
        "NodeStageVolumeRequest": [
            ("mount", pb.NodeStageVolumeRequest(volume_id="@v0", publish_context=ctx, staging_target_path=staging,
                                                volume_capability=mount, volume_context={"everest.io/disk-volume-type": "SAS"})),
            ("block", pb.NodeStageVolumeRequest(volume_id="@v1", staging_target_path=staging, volume_capability=block)),
        ],
        "NodeUnstageVolumeRequest": [("plain", pb.NodeUnstageVolumeRequest(volume_id="@v0", staging_target_path=staging))],
        "NodePublishVolumeRequest": [
            ("mount", pb.NodePublishVolumeRequest(volume_id="@v0", publish_context=ctx, staging_target_path=staging,
                                                  target_path=target, volume_capability=mount, readonly=True)),
            ("block", pb.NodePublishVolumeRequest(volume_id="@v1", staging_target_path=staging, target_path=target + "-dev",
                                                  volume_capability=block)),
        ],
        "NodeUnpublishVolumeRequest": [("plain", pb.NodeUnpublishVolumeRequest(volume_id="@v0", target_path=target))],
        "NodeGetVolumeStatsRequest": [
            ("plain", pb.NodeGetVolumeStatsRequest(volume_id="@v0", volume_path=target, staging_target_path=staging)),
        ],
        "NodeExpandVolumeRequest": [
            ("plain", pb.NodeExpandVolumeRequest(volume_id="@v0", volume_path=target, staging_target_path=staging,
                                                 capacity_range=pb.CapacityRange(required_bytes=2 * GIB),
                                                 volume_capability=mount)),
        ],
        "NodeGetCapabilitiesRequest": [("empty", pb.NodeGetCapabilitiesRequest())],
        "NodeGetInfoRequest": [("empty", pb.NodeGetInfoRequest())],
    }


def methods(pb):
    """(method name, request type name) in proto order, as CSIMethod.allCases."""
    out = []
    for service in ("Identity", "Controller", "Node"):
        for m in pb.DESCRIPTOR.services_by_name[service].methods:
            out.append((m.name, m.input_type.name))
    return out


def frame(index, payload):
    assert len(payload) < 1 << 16
    return bytes([index, len(payload) & 0xFF, len(payload) >> 8]) + payload


def main():
    outdir = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "Tests" / "fuzz" / "corpus"
    pb = bindings()
    table = requests(pb)
    order = methods(pb)
    assert {r for _, r in order} == set(table), "every request type of the proto has seeds"

    def write(target, name, data):
        folder = outdir / target
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"seed-{name}").write_bytes(data)

    for request, variants in table.items():
        for name, message in variants:
            write(f"fuzz-decode-{request}", name, message.SerializeToString())

    index = {request: i for i, (_, request) in enumerate(order)}
    # One call per input: every method, every variant.
    for request, variants in table.items():
        for name, message in variants:
            write("fuzz-services", f"{request}-{name}", frame(index[request], message.SerializeToString()))
    # Sequences: create then use what was created (@nv, @ns), the node's stage/publish/unpublish/unstage cycle.
    def seq(*calls):
        return b"".join(frame(index[type(m).__name__], m.SerializeToString()) for m in calls)
    mount = table["CreateVolumeRequest"][0][1].volume_capabilities[0]
    write("fuzz-services", "seq-volume-life", seq(
        pb.CreateVolumeRequest(name="seq-1", capacity_range=pb.CapacityRange(required_bytes=GIB), volume_capabilities=[mount]),
        pb.ControllerExpandVolumeRequest(volume_id="@nv", capacity_range=pb.CapacityRange(required_bytes=2 * GIB)),
        pb.CreateSnapshotRequest(source_volume_id="@nv", name="seq-snap-1"),
        pb.CreateVolumeRequest(name="seq-2", volume_capabilities=[mount], volume_content_source=pb.VolumeContentSource(
            snapshot=pb.VolumeContentSource.SnapshotSource(snapshot_id="@ns"))),
        pb.DeleteSnapshotRequest(snapshot_id="@ns"),
        pb.DeleteVolumeRequest(volume_id="@nv"),
    ))
    stage, publish = table["NodeStageVolumeRequest"][0][1], table["NodePublishVolumeRequest"][0][1]
    write("fuzz-services", "seq-node-cycle", seq(
        stage, publish, table["NodeGetVolumeStatsRequest"][0][1], table["NodeExpandVolumeRequest"][0][1],
        table["NodeUnpublishVolumeRequest"][0][1], table["NodeUnstageVolumeRequest"][0][1],
    ))
    write("fuzz-services", "seq-publish-cycle", seq(
        table["ControllerPublishVolumeRequest"][0][1], table["ControllerGetVolumeRequest"][0][1],
        pb.ListVolumesRequest(max_entries=2), table["ControllerUnpublishVolumeRequest"][1][1],
    ))
    print(f"seeds written under {outdir}")


if __name__ == "__main__":
    main()
