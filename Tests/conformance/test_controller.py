"""CSI Controller conformance of evs-csi-driver over its real unix socket.

For every Controller RPC: the error codes the CSI spec defines for it and each Everest refusal
(rules R1-R14 in /work/shared/EVEREST.md), idempotency, pagination, concurrency, and the data path of
snapshot + restore on the emulator's image files.
"""
import errno
import hashlib
import os
import pathlib
import random
import threading
import time

import grpc
import pytest

from csihelp import GIB, TYPE_KEY, ZONE_KEY, expect_error

C = grpc.StatusCode
TWO_ZONES = ("cn-north-4/cn-north-4a", "cn-north-4/cn-north-4b")


# ---------------------------------------------------------------- CreateVolume


def test_create_volume_missing_name_or_capabilities_is_invalid_argument(driver, csi):
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume, csi.create_request(""), match="name")
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume, csi.create_request("v", caps=[]),
                 match="volume_capabilities")


def test_create_volume_capability_without_access_mode_or_type_is_invalid_argument(driver, csi, pb):
    capability = pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume())
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume, csi.create_request("v", caps=[capability]))
    capability = pb.VolumeCapability(access_mode=pb.VolumeCapability.AccessMode(mode=1))
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume, csi.create_request("v", caps=[capability]))
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume,
                 csi.create_request("v", caps=[csi.cap(fs_type="vfat")]), match="vfat")


def test_create_volume_is_idempotent_by_name(driver, csi):
    first = csi.create(driver.controller, "pvc-idem", 2)
    again = csi.create(driver.controller, "pvc-idem", 2)
    assert first.volume_id and again.volume_id == first.volume_id
    assert again.capacity_bytes == first.capacity_bytes == 2 * GIB
    listed = driver.controller.ListVolumes(csi.pb.ListVolumesRequest()).entries
    assert [e.volume.volume_id for e in listed] == [first.volume_id]


def test_create_volume_same_name_other_capacity_or_type_is_already_exists(driver, csi):
    csi.create(driver.controller, "pvc-x", 1, params={TYPE_KEY: "SSD"})
    expect_error(C.ALREADY_EXISTS, driver.controller.CreateVolume,
                 csi.create_request("pvc-x", required=2 * GIB, params={TYPE_KEY: "SSD"}), match="capacity")
    expect_error(C.ALREADY_EXISTS, driver.controller.CreateVolume,
                 csi.create_request("pvc-x", required=GIB, params={TYPE_KEY: "SAS"}), match="type")
    # no parameter means the default SAS, which differs from the existing SSD too
    expect_error(C.ALREADY_EXISTS, driver.controller.CreateVolume, csi.create_request("pvc-x", required=GIB))


@pytest.mark.parametrize("required,limit,gib", [
    (1, None, 1),                            # R12: 1 byte -> 1 GiB
    (GIB + GIB // 2, None, 2),               # R12: 1.5 GiB -> 2 GiB
    (None, None, 1),                         # no range: the 1 GiB minimum
    (GIB, GIB, 1),                           # exact
    (None, 3 * GIB, None),                   # limit only: any whole GiB up to 3 GiB
    (8192 * GIB, None, 8192),                # large (sparse image)
])
def test_create_volume_r12_capacity_rounds_up_to_whole_gib(driver, csi, required, limit, gib):
    volume = csi.create(driver.controller, "pvc-r12", None, required=required, limit=limit)
    assert volume.capacity_bytes % GIB == 0
    if gib is not None:
        assert volume.capacity_bytes == gib * GIB
    else:
        assert GIB <= volume.capacity_bytes <= limit
    assert driver.disk_image(volume.volume_id).stat().st_size == volume.capacity_bytes


def _file_system_holds(directory, size):
    """Whether `directory`'s file system takes a sparse file of `size` bytes (ext4 stops at 16 TiB)."""
    probe = pathlib.Path(directory) / ".size-probe"
    try:
        with open(probe, "wb") as f:
            f.truncate(size)
        return True
    except OSError as error:
        assert error.errno == errno.EFBIG, error
        return False
    finally:
        probe.unlink(missing_ok=True)


def test_create_volume_r12_maximum_32768_gib(driver, csi, pb):
    """R12: 32768 GiB is allowed. The emulator keeps it in a sparse file; on a host file system whose file
    size limit is lower (ext4: 16 TiB) the refusal is a clean RESOURCE_EXHAUSTED that says why, with nothing
    left behind. Which of the two must happen is decided first, by trying that size on the same file system."""
    fits = _file_system_holds(driver.state_dir, 32768 * GIB)
    if fits:
        volume = csi.create(driver.controller, "pvc-max", 32768)
        assert volume.capacity_bytes == 32768 * GIB
        assert driver.disk_image(volume.volume_id).stat().st_size == 32768 * GIB
        return
    expect_error(C.RESOURCE_EXHAUSTED, driver.controller.CreateVolume, csi.create_request("pvc-max", required=32768 * GIB),
                 match="cannot hold a file this large")
    assert os.listdir(driver.state_dir / "disks") == []
    assert not driver.controller.ListVolumes(pb.ListVolumesRequest()).entries


def test_create_volume_r12_above_maximum_is_out_of_range(driver, csi):
    expect_error(C.OUT_OF_RANGE, driver.controller.CreateVolume,
                 csi.create_request("pvc-big", required=32768 * GIB + 1), match="R12")
    expect_error(C.OUT_OF_RANGE, driver.controller.CreateVolume,
                 csi.create_request("pvc-big", required=40000 * GIB))
    assert not driver.controller.ListVolumes(csi.pb.ListVolumesRequest()).entries


def test_create_volume_r12_limit_below_required_is_refused(driver, csi):
    expect_error((C.INVALID_ARGUMENT, C.OUT_OF_RANGE), driver.controller.CreateVolume,
                 csi.create_request("pvc-l", required=2 * GIB, limit=GIB))


def test_create_volume_r12_limit_below_minimum_is_out_of_range(driver, csi):
    # the smallest EVS disk is 1 GiB; a limit of 1 MiB cannot be met
    expect_error(C.OUT_OF_RANGE, driver.controller.CreateVolume, csi.create_request("pvc-l", limit=1 << 20))


def test_create_volume_r12_no_whole_gib_in_range_is_out_of_range(driver, csi):
    # 1.2 GiB .. 1.7 GiB contains no whole GiB
    expect_error(C.OUT_OF_RANGE, driver.controller.CreateVolume,
                 csi.create_request("pvc-l", required=int(1.2 * GIB), limit=int(1.7 * GIB)))


def test_create_volume_negative_bytes_is_invalid_argument(driver, csi):
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume, csi.create_request("pvc-n", required=-1))


def test_create_volume_unknown_everest_parameter_is_invalid_argument(driver, csi):
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume,
                 csi.create_request("pvc-p", params={"everest.io/foo": "bar"}), match="everest.io/foo")


def test_create_volume_other_prefixes_are_ignored(driver, csi):
    volume = csi.create(driver.controller, "pvc-p", params={
        "csi.storage.k8s.io/pvc/name": "data", "csi.storage.k8s.io/pvc/namespace": "default",
        "example.com/whatever": "x"})
    assert volume.volume_id


@pytest.mark.parametrize("vtype", ["SAS", "SSD", "GPSSD", "ESSD"])
def test_create_volume_each_creatable_type(driver, csi, vtype):
    volume = csi.create(driver.controller, f"pvc-{vtype.lower()}", params={TYPE_KEY: vtype})
    assert volume.volume_context[TYPE_KEY] == vtype


def test_create_volume_default_type_is_sas_vbd_plain(driver, csi):
    context = csi.create(driver.controller, "pvc-def").volume_context
    assert context[TYPE_KEY] == "SAS"
    assert context.get("everest.io/disk-mode", "VBD") == "VBD"
    assert "everest.io/crypt-key-id" not in context
    assert context.get("csi.storage.k8s.io/fstype", "ext4") == "ext4"


def test_create_volume_sata_is_refused(driver, csi):
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume,
                 csi.create_request("pvc-sata", params={TYPE_KEY: "SATA"}), match="SATA")


def test_create_volume_unknown_type_is_invalid_argument(driver, csi):
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume,
                 csi.create_request("pvc-t", params={TYPE_KEY: "FLOPPY"}))


def test_create_volume_gpssd2_needs_iops_and_throughput(driver, csi):
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume,
                 csi.create_request("pvc-g2", params={TYPE_KEY: "GPSSD2"}), match="everest.io/disk-iops")
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume,
                 csi.create_request("pvc-g2", params={TYPE_KEY: "GPSSD2", "everest.io/disk-iops": "3000"}),
                 match="everest.io/disk-throughput")
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume,
                 csi.create_request("pvc-g2", params={TYPE_KEY: "GPSSD2", "everest.io/disk-iops": "many",
                                                      "everest.io/disk-throughput": "125"}))
    volume = csi.create(driver.controller, "pvc-g2", params={
        TYPE_KEY: "GPSSD2", "everest.io/disk-iops": "3000", "everest.io/disk-throughput": "125"})
    assert volume.volume_context[TYPE_KEY] == "GPSSD2"


def test_create_volume_passthrough_encryption_sharing_and_fstype_reach_the_context(driver, csi):
    volume = csi.create(driver.controller, "pvc-attrs", params={
        "everest.io/passthrough": "true", "everest.io/crypt-key-id": "key-1",
        "everest.io/disk-shared": "true", "csi.storage.k8s.io/fstype": "xfs"})
    context = volume.volume_context
    assert context["everest.io/disk-mode"] == "SCSI"
    assert context["everest.io/crypt-key-id"] == "key-1"
    assert context["everest.io/disk-shared"] == "true"
    assert context["csi.storage.k8s.io/fstype"] == "xfs"


def test_create_volume_multi_node_mode_needs_shared_disk(driver, csi):
    caps = [csi.cap("MULTI_NODE_MULTI_WRITER", block=True)]
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume, csi.create_request("pvc-mn", caps=caps))
    volume = csi.create(driver.controller, "pvc-mn", caps=caps, params={"everest.io/disk-shared": "true"})
    assert volume.volume_id


def test_create_volume_topology_requisite_not_offered_is_resource_exhausted(start_driver, csi):
    d = start_driver(zones=TWO_ZONES)
    expect_error(C.RESOURCE_EXHAUSTED, d.controller.CreateVolume,
                 csi.create_request("pvc-z", requisite=["cn-north-4z"]))
    assert not d.controller.ListVolumes(csi.pb.ListVolumesRequest()).entries


def test_create_volume_topology_reported_and_requisite_or_preferred_honoured(start_driver, csi):
    d = start_driver(zones=TWO_ZONES)
    default = csi.create(d.controller, "pvc-default")
    assert [dict(t.segments) for t in default.accessible_topology] == [{ZONE_KEY: "cn-north-4a"}]
    b = csi.create(d.controller, "pvc-b", requisite=["cn-north-4b"])
    assert [dict(t.segments) for t in b.accessible_topology] == [{ZONE_KEY: "cn-north-4b"}]
    preferred = csi.create(d.controller, "pvc-pref", requisite=["cn-north-4a", "cn-north-4b"],
                           preferred=["cn-north-4b"])
    assert [dict(t.segments) for t in preferred.accessible_topology] == [{ZONE_KEY: "cn-north-4b"}]
    # idempotent retry with a requisite that excludes the existing disk's zone is a different request
    expect_error(C.ALREADY_EXISTS, d.controller.CreateVolume, csi.create_request(
        "pvc-b", required=GIB, requisite=["cn-north-4a"]))


def test_create_volume_clone_is_invalid_argument(driver, csi):
    source = csi.create(driver.controller, "pvc-src")
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume,
                 csi.create_request("pvc-clone", clone=source.volume_id))


# ---------------------------------------------------------------- restore from a snapshot (R6, R8, R9, R11)


@pytest.fixture
def ssd_snapshot(driver, csi):
    """An SSD 2 GiB source disk in cn-north-4a and a snapshot of it."""
    source = csi.create(driver.controller, "pvc-ssd", 2, params={TYPE_KEY: "SSD"})
    snap = csi.snapshot(driver.controller, "snap-ssd", source.volume_id)
    return source, snap


def test_restore_inherits_source_attributes_and_echoes_content_source(driver, csi, ssd_snapshot):
    source, snap = ssd_snapshot
    restored = csi.create(driver.controller, "pvc-restored", 2, snapshot=snap.snapshot_id,
                          params={TYPE_KEY: "SSD"})
    assert restored.volume_id != source.volume_id
    assert restored.content_source.snapshot.snapshot_id == snap.snapshot_id
    assert restored.capacity_bytes == 2 * GIB
    assert restored.volume_context[TYPE_KEY] == "SSD"
    # without any stated attribute or capacity the source's are taken
    plain = csi.create(driver.controller, "pvc-restored-2", None, snapshot=snap.snapshot_id)
    assert plain.capacity_bytes == 2 * GIB and plain.volume_context[TYPE_KEY] == "SSD"
    assert plain.content_source.snapshot.snapshot_id == snap.snapshot_id
    # idempotent
    again = csi.create(driver.controller, "pvc-restored", 2, snapshot=snap.snapshot_id, params={TYPE_KEY: "SSD"})
    assert again.volume_id == restored.volume_id
    assert again.content_source.snapshot.snapshot_id == snap.snapshot_id


@pytest.mark.parametrize("params,what", [
    ({TYPE_KEY: "SAS"}, "type"),
    ({"everest.io/passthrough": "true"}, "mode"),
    ({"everest.io/crypt-key-id": "kms-1"}, "encryption"),
    ({"everest.io/disk-shared": "true"}, "sharing"),
])
def test_restore_r8_attribute_differing_alone_is_invalid_argument(driver, csi, ssd_snapshot, params, what):
    _, snap = ssd_snapshot
    caps = [csi.cap("MULTI_NODE_MULTI_WRITER", block=True)] if what == "sharing" else None
    details = expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume,
                           csi.create_request("pvc-r8", required=2 * GIB, snapshot=snap.snapshot_id,
                                              params=params, caps=caps), match="R8")
    assert what in details
    assert len(driver.controller.ListVolumes(csi.pb.ListVolumesRequest()).entries) == 1


def test_restore_r8_capacity_differing_is_out_of_range(driver, csi, ssd_snapshot):
    _, snap = ssd_snapshot
    for gib in (1, 3):
        expect_error(C.OUT_OF_RANGE, driver.controller.CreateVolume,
                     csi.create_request("pvc-r8c", required=gib * GIB, snapshot=snap.snapshot_id), match="R8")


def test_restore_r8_capacity_limit_only(driver, csi, ssd_snapshot):
    _, snap = ssd_snapshot
    expect_error(C.OUT_OF_RANGE, driver.controller.CreateVolume,
                 csi.create_request("pvc-lim", limit=GIB, snapshot=snap.snapshot_id))
    volume = csi.create(driver.controller, "pvc-lim", None, limit=5 * GIB, snapshot=snap.snapshot_id)
    assert volume.capacity_bytes == 2 * GIB


def test_restore_r8_compares_with_the_size_at_snapshot_time(driver, csi, pb):
    """A snapshot keeps the size its disk had when it was taken; expanding the disk later changes neither
    the snapshot's size_bytes nor what a restore of it must ask for."""
    volume = csi.create(driver.controller, "pvc-grow")
    small = csi.snapshot(driver.controller, "snap-small", volume.volume_id)
    driver.controller.ControllerExpandVolume(pb.ControllerExpandVolumeRequest(
        volume_id=volume.volume_id, capacity_range=pb.CapacityRange(required_bytes=3 * GIB)))
    big = csi.snapshot(driver.controller, "snap-big", volume.volume_id)
    assert small.size_bytes == GIB and big.size_bytes == 3 * GIB
    got = driver.controller.GetSnapshot(pb.GetSnapshotRequest(snapshot_id=small.snapshot_id)).snapshot
    assert got.size_bytes == GIB
    assert driver.snapshot_image(small.snapshot_id).stat().st_size == GIB
    expect_error(C.OUT_OF_RANGE, driver.controller.CreateVolume,
                 csi.create_request("pvc-from-small", required=3 * GIB, snapshot=small.snapshot_id), match="R8")
    assert csi.create(driver.controller, "pvc-from-small", 1, snapshot=small.snapshot_id).capacity_bytes == GIB
    assert csi.create(driver.controller, "pvc-from-big", 3, snapshot=big.snapshot_id).capacity_bytes == 3 * GIB


def test_restore_r6_encrypted_source_gives_encrypted_disk(driver, csi):
    source = csi.create(driver.controller, "pvc-enc", params={"everest.io/crypt-key-id": "kms-7"})
    snap = csi.snapshot(driver.controller, "snap-enc", source.volume_id)
    restored = csi.create(driver.controller, "pvc-enc-r", snapshot=snap.snapshot_id)
    assert restored.volume_context["everest.io/crypt-key-id"] == "kms-7"
    # a plain request for an encrypted source is R8 (stated encryption must match); a different key too
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume, csi.create_request(
        "pvc-enc-r2", snapshot=snap.snapshot_id, params={"everest.io/crypt-key-id": "kms-8"}), match="R8")


def test_restore_r9_zone_not_allowed_is_resource_exhausted(start_driver, csi):
    d = start_driver(zones=TWO_ZONES)
    source = csi.create(d.controller, "pvc-a", requisite=["cn-north-4a"])
    snap = csi.snapshot(d.controller, "snap-a", source.volume_id)
    expect_error(C.RESOURCE_EXHAUSTED, d.controller.CreateVolume,
                 csi.create_request("pvc-r9", required=GIB, snapshot=snap.snapshot_id, requisite=["cn-north-4b"]),
                 match="R9")
    restored = csi.create(d.controller, "pvc-r9", snapshot=snap.snapshot_id,
                          requisite=["cn-north-4b", "cn-north-4a"], preferred=["cn-north-4b"])
    assert [dict(t.segments) for t in restored.accessible_topology] == [{ZONE_KEY: "cn-north-4a"}]


def test_restore_unknown_snapshot_is_not_found(driver, csi):
    expect_error(C.NOT_FOUND, driver.controller.CreateVolume,
                 csi.create_request("pvc-nf", snapshot="no-such-snapshot"))


def test_restore_snapshot_id_empty_is_invalid_argument(driver, csi):
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume, csi.create_request("pvc-e", snapshot=""))


def test_restore_same_name_as_existing_plain_disk_is_already_exists(driver, csi, ssd_snapshot):
    """R7: a restore onto an existing name is refused (the name already names another disk)."""
    _, snap = ssd_snapshot
    expect_error(C.ALREADY_EXISTS, driver.controller.CreateVolume,
                 csi.create_request("pvc-ssd", required=2 * GIB, snapshot=snap.snapshot_id))


# ---------------------------------------------------------------- DeleteVolume


def test_delete_volume_idempotent_and_unknown_ok(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-del")
    image = driver.disk_image(volume.volume_id)
    assert image.exists()
    driver.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id))
    assert not image.exists()
    driver.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id))
    driver.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id="never-existed"))
    expect_error(C.INVALID_ARGUMENT, driver.controller.DeleteVolume, pb.DeleteVolumeRequest())
    # the name is free again
    assert csi.create(driver.controller, "pvc-del").volume_id != volume.volume_id


def test_delete_volume_r13_with_snapshots_is_failed_precondition(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-r13")
    snap = csi.snapshot(driver.controller, "snap-r13", volume.volume_id)
    expect_error(C.FAILED_PRECONDITION, driver.controller.DeleteVolume,
                 pb.DeleteVolumeRequest(volume_id=volume.volume_id), match="R13")
    assert driver.disk_image(volume.volume_id).exists()
    driver.controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=snap.snapshot_id))
    driver.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id))


def test_delete_volume_attached_is_failed_precondition(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-att")
    driver.controller.ControllerPublishVolume(pb.ControllerPublishVolumeRequest(
        volume_id=volume.volume_id, node_id="node-1", volume_capability=csi.cap()))
    expect_error(C.FAILED_PRECONDITION, driver.controller.DeleteVolume,
                 pb.DeleteVolumeRequest(volume_id=volume.volume_id), match="node-1")
    driver.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(
        volume_id=volume.volume_id, node_id="node-1"))
    driver.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id))


# ---------------------------------------------------------------- CreateSnapshot


def test_create_snapshot_fields_and_idempotency(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-s", 3)
    before = time.time()
    snap = csi.snapshot(driver.controller, "snap-1", volume.volume_id)
    after = time.time()
    assert snap.snapshot_id and snap.source_volume_id == volume.volume_id
    assert snap.size_bytes == 3 * GIB
    assert snap.ready_to_use
    created = snap.creation_time.seconds + snap.creation_time.nanos / 1e9
    assert before - 2 <= created <= after + 2
    assert driver.snapshot_image(snap.snapshot_id).stat().st_size == 3 * GIB
    again = csi.snapshot(driver.controller, "snap-1", volume.volume_id)
    assert again == snap


def test_create_snapshot_missing_fields_is_invalid_argument(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-s")
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateSnapshot,
                 pb.CreateSnapshotRequest(source_volume_id=volume.volume_id), match="name")
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateSnapshot,
                 pb.CreateSnapshotRequest(name="snap"), match="source_volume_id")


def test_create_snapshot_same_name_other_source_is_already_exists(driver, csi, pb):
    a = csi.create(driver.controller, "pvc-a")
    b = csi.create(driver.controller, "pvc-b")
    csi.snapshot(driver.controller, "snap-n", a.volume_id)
    expect_error(C.ALREADY_EXISTS, driver.controller.CreateSnapshot,
                 pb.CreateSnapshotRequest(name="snap-n", source_volume_id=b.volume_id))


def test_create_snapshot_unknown_source_is_not_found(driver, pb):
    expect_error(C.NOT_FOUND, driver.controller.CreateSnapshot,
                 pb.CreateSnapshotRequest(name="snap-x", source_volume_id="no-such-volume"))


def test_create_snapshot_r5_seventh_ok_eighth_failed_precondition(driver, csi, pb):
    """R5 is FAILED_PRECONDITION, a final code: csi-snapshotter retries RESOURCE_EXHAUSTED as "may still be in
    progress", which would keep a refused VolumeSnapshot from being deleted (EVEREST.md "Error mapping")."""
    volume = csi.create(driver.controller, "pvc-r5")
    snaps = [csi.snapshot(driver.controller, f"snap-{i}", volume.volume_id) for i in range(7)]
    expect_error(C.FAILED_PRECONDITION, driver.controller.CreateSnapshot,
                 pb.CreateSnapshotRequest(name="snap-7", source_volume_id=volume.volume_id), match="R5")
    # a retry of an existing one is still answered (idempotency beats the quota)
    assert csi.snapshot(driver.controller, "snap-3", volume.volume_id) == snaps[3]
    # another disk has its own quota
    other = csi.create(driver.controller, "pvc-r5b")
    csi.snapshot(driver.controller, "snap-other", other.volume_id)
    # deleting one frees a place
    driver.controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=snaps[0].snapshot_id))
    csi.snapshot(driver.controller, "snap-7", volume.volume_id)


def test_create_snapshot_r5_quota_is_a_setting(start_driver, csi, pb):
    d = start_driver(extra_args=["--max-snapshots-per-disk", "2"])
    volume = csi.create(d.controller, "pvc-r5")
    csi.snapshot(d.controller, "s-0", volume.volume_id)
    csi.snapshot(d.controller, "s-1", volume.volume_id)
    expect_error(C.FAILED_PRECONDITION, d.controller.CreateSnapshot,
                 pb.CreateSnapshotRequest(name="s-2", source_volume_id=volume.volume_id), match=("R5", "2"))


def test_create_snapshot_r14_name_length(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-r14")
    ok = csi.snapshot(driver.controller, "s" * 128, volume.volume_id)
    assert ok.ready_to_use
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateSnapshot,
                 pb.CreateSnapshotRequest(name="s" * 129, source_volume_id=volume.volume_id), match="R14")


def test_create_volume_r14_name_length(driver, csi):
    assert csi.create(driver.controller, "v" * 128).volume_id
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume, csi.create_request("v" * 129), match="R14")


def test_r14_counts_characters_not_bytes(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-utf8")
    assert csi.snapshot(driver.controller, "é" * 128, volume.volume_id).ready_to_use
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateSnapshot,
                 pb.CreateSnapshotRequest(name="é" * 129, source_volume_id=volume.volume_id), match="R14")


def test_create_snapshot_r14_reserved_prefix(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-r14")
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateSnapshot,
                 pb.CreateSnapshotRequest(name="autobk_snapshot_daily", source_volume_id=volume.volume_id),
                 match=("R14", "autobk_snapshot_"))
    assert not driver.controller.ListSnapshots(pb.ListSnapshotsRequest()).entries


def test_create_snapshot_concurrent_same_name(driver, csi, pb):
    """Two (or more) CreateSnapshot calls for one name at once: one succeeds, the others are ABORTED
    or return the same snapshot; never two snapshots."""
    volume = csi.create(driver.controller, "pvc-race")
    for round_ in range(5):
        name = f"snap-race-{round_}"
        barrier = threading.Barrier(4)
        results = []

        def call():
            barrier.wait()
            try:
                results.append(("ok", driver.controller.CreateSnapshot(
                    pb.CreateSnapshotRequest(name=name, source_volume_id=volume.volume_id), timeout=30).snapshot))
            except grpc.RpcError as error:
                results.append((error.code(), error.details()))

        threads = [threading.Thread(target=call) for _ in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        oks = [r[1] for r in results if r[0] == "ok"]
        others = [r for r in results if r[0] != "ok"]
        assert oks, results
        assert len({s.snapshot_id for s in oks}) == 1, results
        assert all(code == C.ABORTED for code, _ in others), others
        listed = driver.controller.ListSnapshots(pb.ListSnapshotsRequest(source_volume_id=volume.volume_id)).entries
        assert len(listed) == round_ + 1
        if round_ == 4:
            break
        # keep within the R5 quota
    assert len(driver.controller.ListSnapshots(pb.ListSnapshotsRequest()).entries) == 5


def test_create_volume_concurrent_same_name(driver, csi, pb):
    results = []
    barrier = threading.Barrier(4)

    def call():
        barrier.wait()
        try:
            results.append(("ok", csi.create(driver.controller, "pvc-race", 1)))
        except grpc.RpcError as error:
            results.append((error.code(), error.details()))

    threads = [threading.Thread(target=call) for _ in range(4)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    oks = [r[1] for r in results if r[0] == "ok"]
    assert oks and len({v.volume_id for v in oks}) == 1, results
    assert all(r[0] == C.ABORTED for r in results if r[0] != "ok"), results
    assert len(driver.controller.ListVolumes(pb.ListVolumesRequest()).entries) == 1


# ---------------------------------------------------------------- DeleteSnapshot / GetSnapshot


def test_delete_snapshot_idempotent_unknown_ok(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-ds")
    snap = csi.snapshot(driver.controller, "snap-ds", volume.volume_id)
    image = driver.snapshot_image(snap.snapshot_id)
    assert image.exists()
    driver.controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=snap.snapshot_id))
    assert not image.exists()
    driver.controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=snap.snapshot_id))
    driver.controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id="never-existed"))
    expect_error(C.INVALID_ARGUMENT, driver.controller.DeleteSnapshot, pb.DeleteSnapshotRequest())
    expect_error(C.NOT_FOUND, driver.controller.GetSnapshot, pb.GetSnapshotRequest(snapshot_id=snap.snapshot_id))


def test_delete_snapshot_after_restore_keeps_restored_disk(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-ds")
    snap = csi.snapshot(driver.controller, "snap-ds", volume.volume_id)
    restored = csi.create(driver.controller, "pvc-r", snapshot=snap.snapshot_id)
    driver.controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=snap.snapshot_id))
    got = driver.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=restored.volume_id))
    assert got.volume.volume_id == restored.volume_id
    assert driver.disk_image(restored.volume_id).exists()


def test_get_snapshot(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-gs")
    snap = csi.snapshot(driver.controller, "snap-gs", volume.volume_id)
    assert driver.controller.GetSnapshot(pb.GetSnapshotRequest(snapshot_id=snap.snapshot_id)).snapshot == snap
    expect_error(C.NOT_FOUND, driver.controller.GetSnapshot, pb.GetSnapshotRequest(snapshot_id="nope"))
    expect_error(C.INVALID_ARGUMENT, driver.controller.GetSnapshot, pb.GetSnapshotRequest())


# ---------------------------------------------------------------- ListSnapshots / ListVolumes


def walk(call, request_type, max_entries, **filters):
    """Every entry over all pages; asserts the token protocol (last page has an empty token)."""
    entries, token, pages = [], "", 0
    while True:
        response = call(request_type(max_entries=max_entries, starting_token=token, **filters))
        if max_entries:
            assert len(response.entries) <= max_entries
        entries += list(response.entries)
        pages += 1
        assert pages < 1000
        if not response.next_token:
            return entries, pages
        token = response.next_token


@pytest.fixture
def snapshot_population(driver, csi):
    """Three disks with 3, 2 and 0 snapshots."""
    disks = [csi.create(driver.controller, f"pvc-{i}") for i in range(3)]
    snaps = {d.volume_id: [] for d in disks}
    for disk, count in zip(disks, (3, 2, 0)):
        for j in range(count):
            snaps[disk.volume_id].append(csi.snapshot(driver.controller, f"s-{disk.volume_id[:8]}-{j}", disk.volume_id))
    return disks, snaps


def test_list_snapshots_filters(driver, pb, snapshot_population):
    disks, snaps = snapshot_population
    all_snaps = [s for group in snaps.values() for s in group]
    listed = driver.controller.ListSnapshots(pb.ListSnapshotsRequest()).entries
    assert sorted(e.snapshot.snapshot_id for e in listed) == sorted(s.snapshot_id for s in all_snaps)
    one = all_snaps[3]
    by_id = driver.controller.ListSnapshots(pb.ListSnapshotsRequest(snapshot_id=one.snapshot_id)).entries
    assert [e.snapshot for e in by_id] == [one]
    # spec: an unknown snapshot_id is an empty list, not an error
    assert not driver.controller.ListSnapshots(pb.ListSnapshotsRequest(snapshot_id="nope")).entries
    for disk in disks:
        by_source = driver.controller.ListSnapshots(pb.ListSnapshotsRequest(source_volume_id=disk.volume_id)).entries
        assert sorted(e.snapshot.snapshot_id for e in by_source) == sorted(s.snapshot_id for s in snaps[disk.volume_id])
    assert not driver.controller.ListSnapshots(pb.ListSnapshotsRequest(source_volume_id="nope")).entries
    # both filters: the intersection
    both = driver.controller.ListSnapshots(pb.ListSnapshotsRequest(
        snapshot_id=one.snapshot_id, source_volume_id=disks[2].volume_id)).entries
    assert not both


@pytest.mark.parametrize("max_entries", [1, 2, 3, 100, 0])
def test_list_snapshots_pagination_walks_all_pages(driver, pb, snapshot_population, max_entries):
    _, snaps = snapshot_population
    expected = sorted(s.snapshot_id for group in snaps.values() for s in group)
    entries, pages = walk(driver.controller.ListSnapshots, pb.ListSnapshotsRequest, max_entries)
    ids = [e.snapshot.snapshot_id for e in entries]
    assert len(ids) == len(set(ids)), "an entry appeared twice"
    assert sorted(ids) == expected
    if max_entries in (1, 2):
        assert pages >= len(expected) // max_entries
    # paging with a filter returns every match too
    disk_id = next(k for k, v in snaps.items() if len(v) == 3)
    filtered, _ = walk(driver.controller.ListSnapshots, pb.ListSnapshotsRequest, max_entries, source_volume_id=disk_id)
    assert sorted(e.snapshot.snapshot_id for e in filtered) == sorted(s.snapshot_id for s in snaps[disk_id])


def test_list_snapshots_bad_token_and_negative_max(driver, pb, snapshot_population):
    expect_error(C.ABORTED, driver.controller.ListSnapshots, pb.ListSnapshotsRequest(starting_token="garbage"))
    expect_error(C.INVALID_ARGUMENT, driver.controller.ListSnapshots, pb.ListSnapshotsRequest(max_entries=-1))


def test_list_snapshots_paging_during_concurrent_creates_and_deletes(driver, csi, pb):
    """Entries created/deleted while a client pages never make another entry appear twice, and every
    snapshot that existed for the whole walk is returned."""
    disks = [csi.create(driver.controller, f"pvc-c{i}") for i in range(4)]
    stable = [csi.snapshot(driver.controller, f"stable-{i}", disks[i % 2].volume_id) for i in range(6)]
    stop = threading.Event()
    errors = []

    def churn(disk, prefix):
        rng = random.Random(prefix)
        i = 0
        while not stop.is_set():
            try:
                snap = csi.snapshot(driver.controller, f"{prefix}-{i}", disk.volume_id)
                if rng.random() < 0.7:
                    driver.controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=snap.snapshot_id))
                else:
                    stop.wait(0.01)
            except grpc.RpcError as error:
                if not (error.code() == C.FAILED_PRECONDITION and error.details().startswith("R5")):
                    errors.append((error.code(), error.details()))
                # quota: delete everything this churner made
                for e in driver.controller.ListSnapshots(pb.ListSnapshotsRequest(source_volume_id=disk.volume_id)).entries:
                    driver.controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=e.snapshot.snapshot_id))
            i += 1

    workers = [threading.Thread(target=churn, args=(disks[2], "churn-a")),
               threading.Thread(target=churn, args=(disks[3], "churn-b"))]
    [w.start() for w in workers]
    try:
        for round_ in range(15):
            entries, _ = walk(driver.controller.ListSnapshots, pb.ListSnapshotsRequest, 1 + round_ % 3)
            ids = [e.snapshot.snapshot_id for e in entries]
            assert len(ids) == len(set(ids)), f"duplicate entry while paging: {ids}"
            assert {s.snapshot_id for s in stable} <= set(ids)
    finally:
        stop.set()
        [w.join() for w in workers]
    assert not errors, errors


def test_list_volumes_pagination_and_published_nodes(driver, csi, pb):
    volumes = [csi.create(driver.controller, f"pvc-lv{i}") for i in range(5)]
    driver.register_node("node-7")
    driver.controller.ControllerPublishVolume(pb.ControllerPublishVolumeRequest(
        volume_id=volumes[1].volume_id, node_id="node-7", volume_capability=csi.cap()))
    expected = sorted(v.volume_id for v in volumes)
    for max_entries in (1, 2, 4, 100, 0):
        entries, _ = walk(driver.controller.ListVolumes, pb.ListVolumesRequest, max_entries)
        ids = [e.volume.volume_id for e in entries]
        assert len(ids) == len(set(ids)) and sorted(ids) == expected
        published = {e.volume.volume_id: list(e.status.published_node_ids) for e in entries}
        assert published[volumes[1].volume_id] == ["node-7"]
        assert all(not nodes for vid, nodes in published.items() if vid != volumes[1].volume_id)
        assert all(e.volume.capacity_bytes == GIB for e in entries)
    expect_error(C.ABORTED, driver.controller.ListVolumes, pb.ListVolumesRequest(starting_token="garbage"))
    expect_error(C.INVALID_ARGUMENT, driver.controller.ListVolumes, pb.ListVolumesRequest(max_entries=-1))


def test_list_volumes_paging_during_concurrent_creates_and_deletes(driver, csi, pb):
    stable = [csi.create(driver.controller, f"stable-{i}") for i in range(5)]
    stop = threading.Event()
    errors = []

    def churn():
        i = 0
        while not stop.is_set():
            try:
                volume = csi.create(driver.controller, f"churn-{i}")
                driver.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id))
            except grpc.RpcError as error:
                errors.append((error.code(), error.details()))
            i += 1

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        for round_ in range(15):
            entries, _ = walk(driver.controller.ListVolumes, pb.ListVolumesRequest, 1 + round_ % 2)
            ids = [e.volume.volume_id for e in entries]
            assert len(ids) == len(set(ids)), f"duplicate entry while paging: {ids}"
            assert {v.volume_id for v in stable} <= set(ids)
    finally:
        stop.set()
        worker.join()
    assert not errors, errors


# ---------------------------------------------------------------- ValidateVolumeCapabilities


@pytest.mark.parametrize("mode", ["SINGLE_NODE_WRITER", "SINGLE_NODE_READER_ONLY", "SINGLE_NODE_SINGLE_WRITER",
                                  "SINGLE_NODE_MULTI_WRITER"])
@pytest.mark.parametrize("block", [False, True])
def test_validate_single_node_modes_confirmed(driver, csi, pb, mode, block):
    volume = csi.create(driver.controller, "pvc-v")
    caps = [csi.cap(mode, block=block)]
    response = driver.controller.ValidateVolumeCapabilities(pb.ValidateVolumeCapabilitiesRequest(
        volume_id=volume.volume_id, volume_capabilities=caps, volume_context=dict(volume.volume_context)))
    assert response.HasField("confirmed"), response.message
    assert list(response.confirmed.volume_capabilities) == caps


@pytest.mark.parametrize("mode", ["MULTI_NODE_READER_ONLY", "MULTI_NODE_SINGLE_WRITER", "MULTI_NODE_MULTI_WRITER"])
def test_validate_multi_node_modes_refused_unless_shared(driver, csi, pb, mode):
    plain = csi.create(driver.controller, "pvc-plain")
    shared = csi.create(driver.controller, "pvc-shared", params={"everest.io/disk-shared": "true"})
    caps = [csi.cap(mode, block=True)]
    response = driver.controller.ValidateVolumeCapabilities(pb.ValidateVolumeCapabilitiesRequest(
        volume_id=plain.volume_id, volume_capabilities=caps))
    assert not response.HasField("confirmed") and response.message
    response = driver.controller.ValidateVolumeCapabilities(pb.ValidateVolumeCapabilitiesRequest(
        volume_id=shared.volume_id, volume_capabilities=caps))
    assert response.HasField("confirmed"), response.message


def test_validate_errors(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-v")
    expect_error(C.NOT_FOUND, driver.controller.ValidateVolumeCapabilities,
                 pb.ValidateVolumeCapabilitiesRequest(volume_id="nope", volume_capabilities=[csi.cap()]))
    expect_error(C.INVALID_ARGUMENT, driver.controller.ValidateVolumeCapabilities,
                 pb.ValidateVolumeCapabilitiesRequest(volume_capabilities=[csi.cap()]))
    expect_error(C.INVALID_ARGUMENT, driver.controller.ValidateVolumeCapabilities,
                 pb.ValidateVolumeCapabilitiesRequest(volume_id=volume.volume_id))


def test_validate_unsupported_fstype_not_confirmed(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-v")
    response = driver.controller.ValidateVolumeCapabilities(pb.ValidateVolumeCapabilitiesRequest(
        volume_id=volume.volume_id, volume_capabilities=[csi.cap(fs_type="vfat")]))
    assert not response.HasField("confirmed") and "vfat" in response.message


# ---------------------------------------------------------------- GetCapacity / ControllerGetVolume


def test_get_capacity(driver, pb):
    response = driver.controller.GetCapacity(pb.GetCapacityRequest())
    assert response.available_capacity > 0
    assert GIB <= response.maximum_volume_size.value <= 32768 * GIB
    assert response.minimum_volume_size.value == GIB
    zone = driver.controller.GetCapacity(pb.GetCapacityRequest(
        accessible_topology=pb.Topology(segments={ZONE_KEY: "cn-north-4a"})))
    assert zone.available_capacity > 0
    other = driver.controller.GetCapacity(pb.GetCapacityRequest(
        accessible_topology=pb.Topology(segments={ZONE_KEY: "elsewhere-1a"})))
    assert other.available_capacity == 0


def test_controller_get_volume(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-g", 2, params={TYPE_KEY: "ESSD"})
    got = driver.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=volume.volume_id))
    assert got.volume.volume_id == volume.volume_id and got.volume.capacity_bytes == 2 * GIB
    assert got.volume.volume_context[TYPE_KEY] == "ESSD"
    assert not got.status.published_node_ids and not got.status.volume_condition.abnormal
    driver.register_node("node-2")
    driver.controller.ControllerPublishVolume(pb.ControllerPublishVolumeRequest(
        volume_id=volume.volume_id, node_id="node-2", volume_capability=csi.cap()))
    got = driver.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=volume.volume_id))
    assert list(got.status.published_node_ids) == ["node-2"]
    expect_error(C.NOT_FOUND, driver.controller.ControllerGetVolume, pb.ControllerGetVolumeRequest(volume_id="nope"))
    expect_error(C.INVALID_ARGUMENT, driver.controller.ControllerGetVolume, pb.ControllerGetVolumeRequest())


# ---------------------------------------------------------------- ControllerPublish / Unpublish


def publish(driver, pb, csi, volume_id, node, mode="SINGLE_NODE_WRITER", readonly=False):
    return driver.controller.ControllerPublishVolume(pb.ControllerPublishVolumeRequest(
        volume_id=volume_id, node_id=node, volume_capability=csi.cap(mode), readonly=readonly))


def test_controller_publish_and_unpublish(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-pub")
    driver.register_node("node-2")
    first = publish(driver, pb, csi, volume.volume_id, "node-1")
    assert first.publish_context  # the node needs the device
    assert publish(driver, pb, csi, volume.volume_id, "node-1").publish_context == first.publish_context
    details = expect_error(C.FAILED_PRECONDITION, driver.controller.ControllerPublishVolume,
                           pb.ControllerPublishVolumeRequest(volume_id=volume.volume_id, node_id="node-2",
                                                             volume_capability=csi.cap()))
    assert "node-1" in details
    unpublish = pb.ControllerUnpublishVolumeRequest(volume_id=volume.volume_id, node_id="node-1")
    driver.controller.ControllerUnpublishVolume(unpublish)
    driver.controller.ControllerUnpublishVolume(unpublish)  # idempotent
    # unknown volume: already detached (spec: OK)
    driver.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(volume_id="nope", node_id="node-1"))
    publish(driver, pb, csi, volume.volume_id, "node-2")
    got = driver.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=volume.volume_id))
    assert list(got.status.published_node_ids) == ["node-2"]
    # empty node id: detach from every node
    driver.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(volume_id=volume.volume_id))
    got = driver.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=volume.volume_id))
    assert not got.status.published_node_ids


def test_controller_publish_errors(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-pub")
    expect_error(C.NOT_FOUND, driver.controller.ControllerPublishVolume, pb.ControllerPublishVolumeRequest(
        volume_id="nope", node_id="node-1", volume_capability=csi.cap()))
    expect_error(C.INVALID_ARGUMENT, driver.controller.ControllerPublishVolume, pb.ControllerPublishVolumeRequest(
        node_id="node-1", volume_capability=csi.cap()))
    expect_error(C.INVALID_ARGUMENT, driver.controller.ControllerPublishVolume, pb.ControllerPublishVolumeRequest(
        volume_id=volume.volume_id, volume_capability=csi.cap()))
    expect_error(C.INVALID_ARGUMENT, driver.controller.ControllerPublishVolume, pb.ControllerPublishVolumeRequest(
        volume_id=volume.volume_id, node_id="node-1"))
    expect_error(C.INVALID_ARGUMENT, driver.controller.ControllerUnpublishVolume,
                 pb.ControllerUnpublishVolumeRequest(node_id="node-1"))
    # a multi-node capability on a non-shared disk is not publishable
    expect_error((C.INVALID_ARGUMENT, C.FAILED_PRECONDITION), driver.controller.ControllerPublishVolume,
                 pb.ControllerPublishVolumeRequest(volume_id=volume.volume_id, node_id="node-1",
                                                   volume_capability=csi.cap("MULTI_NODE_MULTI_WRITER")))


def test_controller_publish_to_a_node_that_does_not_exist_is_not_found(driver, csi, pb):
    """EVS attaches only to servers that exist: the emulator knows the nodes whose plugins registered (and the
    driver's own --node-id). Nothing is attached by the refusal; once the node's plugin has started, it works."""
    volume = csi.create(driver.controller, "pvc-ghost")
    details = expect_error(C.NOT_FOUND, driver.controller.ControllerPublishVolume, pb.ControllerPublishVolumeRequest(
        volume_id=volume.volume_id, node_id="ghost-node", volume_capability=csi.cap()))
    assert "node ghost-node" in details
    got = driver.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=volume.volume_id))
    assert not got.status.published_node_ids
    driver.register_node("ghost-node")
    publish(driver, pb, csi, volume.volume_id, "ghost-node")
    driver.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(
        volume_id=volume.volume_id, node_id="ghost-node"))


def test_controller_publish_again_with_the_other_readonly_is_already_exists(driver, csi, pb):
    """CSI: a volume published to a node, published again to it with an incompatible readonly flag, is
    ALREADY_EXISTS (the attachment keeps its mode, as Cinder's attach mode); the same flag is idempotent."""
    volume = csi.create(driver.controller, "pvc-ro")
    first = publish(driver, pb, csi, volume.volume_id, "node-1")
    assert publish(driver, pb, csi, volume.volume_id, "node-1").publish_context == first.publish_context
    details = expect_error(C.ALREADY_EXISTS, driver.controller.ControllerPublishVolume, pb.ControllerPublishVolumeRequest(
        volume_id=volume.volume_id, node_id="node-1", volume_capability=csi.cap(), readonly=True))
    assert "read-write" in details and "read-only" in details
    driver.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(
        volume_id=volume.volume_id, node_id="node-1"))
    ro = publish(driver, pb, csi, volume.volume_id, "node-1", readonly=True)
    assert ro.publish_context["evssnap.io/read-only"] == "true"
    expect_error(C.ALREADY_EXISTS, driver.controller.ControllerPublishVolume, pb.ControllerPublishVolumeRequest(
        volume_id=volume.volume_id, node_id="node-1", volume_capability=csi.cap(), readonly=False))
    driver.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(
        volume_id=volume.volume_id, node_id="node-1"))


def test_controller_publish_shared_disk_on_two_nodes(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-sh", params={"everest.io/disk-shared": "true"},
                        caps=[csi.cap("MULTI_NODE_MULTI_WRITER", block=True)])
    driver.register_node("node-2")
    publish(driver, pb, csi, volume.volume_id, "node-1", "MULTI_NODE_MULTI_WRITER")
    publish(driver, pb, csi, volume.volume_id, "node-2", "MULTI_NODE_MULTI_WRITER")
    got = driver.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=volume.volume_id))
    assert sorted(got.status.published_node_ids) == ["node-1", "node-2"]


def test_controller_publish_attach_limit(start_driver, csi, pb):
    d = start_driver(extra_args=["--max-volumes-per-node", "2"])
    volumes = [csi.create(d.controller, f"pvc-{i}") for i in range(3)]
    publish(d, pb, csi, volumes[0].volume_id, "node-1")
    publish(d, pb, csi, volumes[1].volume_id, "node-1")
    expect_error(C.RESOURCE_EXHAUSTED, d.controller.ControllerPublishVolume, pb.ControllerPublishVolumeRequest(
        volume_id=volumes[2].volume_id, node_id="node-1", volume_capability=csi.cap()))
    # idempotent re-publish of an attached one still works at the limit; another node has its own limit
    publish(d, pb, csi, volumes[1].volume_id, "node-1")
    d.register_node("node-2")
    publish(d, pb, csi, volumes[2].volume_id, "node-2")
    info = d.node.NodeGetInfo(pb.NodeGetInfoRequest())
    assert info.max_volumes_per_node == 2


# ---------------------------------------------------------------- ControllerExpandVolume


def test_controller_expand_volume(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-ex")
    grow = pb.ControllerExpandVolumeRequest(volume_id=volume.volume_id,
                                            capacity_range=pb.CapacityRange(required_bytes=2 * GIB + 1),
                                            volume_capability=csi.cap())
    response = driver.controller.ControllerExpandVolume(grow)
    assert response.capacity_bytes == 3 * GIB and response.node_expansion_required
    assert driver.disk_image(volume.volume_id).stat().st_size == 3 * GIB
    again = driver.controller.ControllerExpandVolume(grow)
    assert again.capacity_bytes == 3 * GIB
    # never shrinks
    smaller = driver.controller.ControllerExpandVolume(pb.ControllerExpandVolumeRequest(
        volume_id=volume.volume_id, capacity_range=pb.CapacityRange(required_bytes=GIB)))
    assert smaller.capacity_bytes == 3 * GIB
    got = driver.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=volume.volume_id))
    assert got.volume.capacity_bytes == 3 * GIB
    block = driver.controller.ControllerExpandVolume(pb.ControllerExpandVolumeRequest(
        volume_id=volume.volume_id, capacity_range=pb.CapacityRange(required_bytes=4 * GIB),
        volume_capability=csi.cap(block=True)))
    assert block.capacity_bytes == 4 * GIB and not block.node_expansion_required


def test_controller_expand_volume_errors(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-ex")
    expect_error(C.NOT_FOUND, driver.controller.ControllerExpandVolume, pb.ControllerExpandVolumeRequest(
        volume_id="nope", capacity_range=pb.CapacityRange(required_bytes=2 * GIB)))
    expect_error(C.INVALID_ARGUMENT, driver.controller.ControllerExpandVolume, pb.ControllerExpandVolumeRequest(
        capacity_range=pb.CapacityRange(required_bytes=2 * GIB)))
    expect_error(C.INVALID_ARGUMENT, driver.controller.ControllerExpandVolume, pb.ControllerExpandVolumeRequest(
        volume_id=volume.volume_id))
    expect_error(C.OUT_OF_RANGE, driver.controller.ControllerExpandVolume, pb.ControllerExpandVolumeRequest(
        volume_id=volume.volume_id, capacity_range=pb.CapacityRange(required_bytes=32769 * GIB)), match="R12")


# ---------------------------------------------------------------- capabilities


def test_controller_get_capabilities_lists_exactly_what_works(driver, csi, pb):
    RPC = pb.ControllerServiceCapability.RPC.Type
    caps = driver.controller.ControllerGetCapabilities(pb.ControllerGetCapabilitiesRequest()).capabilities
    names = {RPC.Name(c.rpc.type) for c in caps}
    assert names == {
        "CREATE_DELETE_VOLUME", "PUBLISH_UNPUBLISH_VOLUME", "LIST_VOLUMES", "GET_CAPACITY", "CREATE_DELETE_SNAPSHOT",
        "LIST_SNAPSHOTS", "PUBLISH_READONLY", "EXPAND_VOLUME", "LIST_VOLUMES_PUBLISHED_NODES", "VOLUME_CONDITION", "GET_VOLUME",
        "GET_SNAPSHOT", "SINGLE_NODE_MULTI_WRITER", "MODIFY_VOLUME",
    }
    assert len(caps) == len(names)
    # PUBLISH_READONLY: the flag reaches the node (test_node.py::test_read_only_attach_stages_read_only)
    ro = csi.create(driver.controller, "pvc-ro")
    context = driver.controller.ControllerPublishVolume(pb.ControllerPublishVolumeRequest(
        volume_id=ro.volume_id, node_id="node-1", volume_capability=csi.cap("SINGLE_NODE_READER_ONLY"),
        readonly=True)).publish_context
    assert "true" in context.values()
    # what is not advertised does not work: cloning is refused (ModifyVolume: test_modify_volume.py)
    assert "CLONE_VOLUME" not in names
    volume = csi.create(driver.controller, "pvc-caps")
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume,
                 csi.create_request("pvc-clone", clone=volume.volume_id))


# ---------------------------------------------------------------- DATA: snapshot + restore preserve bytes


def sha256_file(path, chunk=1 << 20):
    """SHA-256 of an image's content in canonical sparse form: the size, then (offset, bytes) of every
    non-zero 1 MiB chunk. Two images get the same digest exactly when they are byte-equal (holes read as
    zeros), without hashing the zeros of a mostly sparse 1 GiB image (which takes seconds on a busy host)."""
    h = hashlib.sha256()
    zero = bytes(chunk)
    fd = os.open(path, os.O_RDONLY)
    try:
        size = os.fstat(fd).st_size
        h.update(size.to_bytes(8, "little"))
        offset = 0
        while offset < size:
            try:
                offset = os.lseek(fd, offset, os.SEEK_DATA)
            except OSError as error:
                if error.errno == errno.ENXIO:  # no data after offset
                    break
                raise
            offset -= offset % chunk
            data = os.pread(fd, chunk, offset)
            if data != zero[:len(data)]:
                h.update(offset.to_bytes(8, "little"))
                h.update(data)
            offset += chunk
    finally:
        os.close(fd)
    return h.hexdigest()


def write_at(path, offset, data):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(fd, data, offset)
        os.fsync(fd)
    finally:
        os.close(fd)


def test_data_snapshot_restore_preserves_bytes(driver, csi, pb):
    """Random pattern at several offsets of the source image; snapshot; overwrite the source; restore;
    the restored image's SHA-256 equals the source's at pattern time (R7: the snapshot makes a new disk)."""
    rng = random.Random(20261127)
    volume = csi.create(driver.controller, "pvc-data")
    image = driver.disk_image(volume.volume_id)
    offsets = [0, 4096 * 3 + 17, 1 << 20, 300 << 20, GIB - 65536]
    for offset in offsets:
        write_at(image, offset, rng.randbytes(65536 if offset == GIB - 65536 else 40000))
    pattern_sum = sha256_file(image)

    snap = csi.snapshot(driver.controller, "snap-data", volume.volume_id)
    for offset in offsets:
        write_at(image, offset, b"\xff" * 4096)
    assert sha256_file(image) != pattern_sum

    restored = csi.create(driver.controller, "pvc-data-restored", snapshot=snap.snapshot_id)
    restored_image = driver.disk_image(restored.volume_id)
    assert restored_image.stat().st_size == GIB
    assert sha256_file(restored_image) == pattern_sum
    # the snapshot's own image was not changed by the source overwrite either
    assert sha256_file(driver.snapshot_image(snap.snapshot_id)) == pattern_sum


def test_r11_restore_racing_delete_snapshot(driver, csi, pb):
    """R11: DeleteSnapshot racing a restore from that snapshot: either the restore completes with the
    snapshot's data (and the delete then succeeds or is refused FAILED_PRECONDITION while the restore
    copies), or the restore is refused (NOT_FOUND / FAILED_PRECONDITION) because the snapshot is going.
    Never a restored disk with missing data, never a snapshot listed without its image."""
    volume = csi.create(driver.controller, "pvc-race-src")
    image = driver.disk_image(volume.volume_id)
    block = bytes(range(256)) * 4096
    with open(image, "r+b") as f:
        for i in range(24):
            f.seek(i * 8 * len(block))
            f.write(block)
    pattern = sha256_file(image)
    outcomes = set()
    for round_ in range(5):
        snap = csi.snapshot(driver.controller, f"snap-race-{round_}", volume.volume_id)
        barrier = threading.Barrier(2)
        results = {}

        def restore():
            barrier.wait()
            try:
                results["restore"] = csi.create(driver.controller, f"pvc-race-{round_}", snapshot=snap.snapshot_id)
            except grpc.RpcError as error:
                results["restore"] = error

        def delete():
            barrier.wait()
            time.sleep(0.001 * round_)
            try:
                driver.controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=snap.snapshot_id))
                results["delete"] = "ok"
            except grpc.RpcError as error:
                results["delete"] = error

        threads = [threading.Thread(target=restore), threading.Thread(target=delete)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        restored, deleted = results["restore"], results["delete"]
        if isinstance(restored, grpc.RpcError):
            assert restored.code() in (C.NOT_FOUND, C.FAILED_PRECONDITION), restored
            assert deleted == "ok", deleted
            outcomes.add("restore refused")
        else:
            assert sha256_file(driver.disk_image(restored.volume_id)) == pattern
            if deleted != "ok":
                assert deleted.code() in (C.FAILED_PRECONDITION, C.ABORTED), deleted
                assert "R11" in deleted.details() or deleted.code() == C.ABORTED
                outcomes.add("delete refused")
                driver.controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=snap.snapshot_id))
            else:
                outcomes.add("both ok")
            driver.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=restored.volume_id))
        assert not driver.snapshot_image(snap.snapshot_id).exists()
        assert not driver.controller.ListSnapshots(pb.ListSnapshotsRequest(source_volume_id=volume.volume_id)).entries
    print("R11 race outcomes:", sorted(outcomes))


def test_races_on_one_disk_keep_r4_r13_and_sizes(driver, csi, pb):
    """CreateSnapshot, ControllerExpandVolume and DeleteVolume racing on one disk: each call succeeds or is
    refused with a CSI code for the situation (ABORTED, FAILED_PRECONDITION, NOT_FOUND); afterwards R13 holds
    (a deleted disk has no snapshots; a disk with snapshots was not deleted) and every image has the size
    its object reports."""
    rng = random.Random(7)
    allowed = {C.ABORTED, C.FAILED_PRECONDITION, C.NOT_FOUND}
    for round_ in range(12):
        volume = csi.create(driver.controller, f"pvc-rr-{round_}")
        with open(driver.disk_image(volume.volume_id), "r+b") as f:
            f.write(bytes(range(256)) * 4096 * 8)  # 8 MiB of data so the snapshot copy takes a moment
        ops = rng.sample(["snapshot", "expand", "delete", "snapshot2"], 3)
        barrier = threading.Barrier(len(ops))
        results = {}

        def run(op):
            barrier.wait()
            try:
                if op.startswith("snapshot"):
                    results[op] = csi.snapshot(driver.controller, f"s-rr-{round_}-{op}", volume.volume_id)
                elif op == "expand":
                    results[op] = driver.controller.ControllerExpandVolume(pb.ControllerExpandVolumeRequest(
                        volume_id=volume.volume_id, capacity_range=pb.CapacityRange(required_bytes=2 * GIB)))
                else:
                    driver.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id))
                    results[op] = "ok"
            except grpc.RpcError as error:
                results[op] = error

        threads = [threading.Thread(target=run, args=(op,)) for op in ops]
        [t.start() for t in threads]
        [t.join() for t in threads]
        errors = {op: r for op, r in results.items() if isinstance(r, grpc.RpcError)}
        assert all(e.code() in allowed for e in errors.values()), {op: (e.code(), e.details()) for op, e in errors.items()}
        snaps = [e.snapshot for e in driver.controller.ListSnapshots(
            pb.ListSnapshotsRequest(source_volume_id=volume.volume_id)).entries]
        vols = {e.volume.volume_id: e.volume for e in driver.controller.ListVolumes(pb.ListVolumesRequest()).entries}
        if results.get("delete") == "ok":
            assert volume.volume_id not in vols and not snaps, "R13: a disk was deleted while it had snapshots"
            assert not driver.disk_image(volume.volume_id).exists()
        else:
            disk = vols[volume.volume_id]
            assert driver.disk_image(volume.volume_id).stat().st_size == disk.capacity_bytes
        for snap in snaps:
            assert snap.ready_to_use
            assert driver.snapshot_image(snap.snapshot_id).stat().st_size == snap.size_bytes
        for op in ("snapshot", "snapshot2"):
            if op in results and not isinstance(results[op], grpc.RpcError):
                assert results[op].snapshot_id in {s.snapshot_id for s in snaps}
