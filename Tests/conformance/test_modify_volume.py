"""ControllerModifyVolume and CreateVolume's mutable_parameters (a VolumeAttributesClass) over the real socket.

EVS changes a GPSSD2 disk's provisioned iops and throughput in place (ModifyVolumeQoS); Everest's keys for them are
everest.io/disk-iops and everest.io/disk-throughput. Every other key is refused: a disk's type, mode, encryption
and sharing are fixed at creation (R8 in /work/shared/EVEREST.md). The values are read back from the volume
context (ControllerGetVolume, ListVolumes) and from the emulator's SQLite metadata, also after a restart.
"""
import sqlite3

import grpc

from csihelp import TYPE_KEY, expect_error

C = grpc.StatusCode
IOPS = "everest.io/disk-iops"
THROUGHPUT = "everest.io/disk-throughput"
GPSSD2 = {TYPE_KEY: "GPSSD2", IOPS: "3000", THROUGHPUT: "125"}


def modify(driver, pb, volume_id, params, timeout=30):
    return driver.controller.ControllerModifyVolume(
        pb.ControllerModifyVolumeRequest(volume_id=volume_id, mutable_parameters=params), timeout=timeout)


def context_of(driver, pb, volume_id):
    return dict(driver.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=volume_id)).volume.volume_context)


def stored(driver, volume_id):
    """(iops, throughput) in the emulator's metadata, read with Python's own SQLite (read-only, WAL-aware)."""
    db = sqlite3.connect(f"file:{driver.state_dir}/evs.sqlite?mode=ro", uri=True, timeout=10)
    try:
        return db.execute("SELECT iops, throughput FROM disk WHERE id = ?", (volume_id,)).fetchone()
    finally:
        db.close()


def test_modify_volume_capability_is_advertised(driver, pb):
    RPC = pb.ControllerServiceCapability.RPC.Type
    caps = driver.controller.ControllerGetCapabilities(pb.ControllerGetCapabilitiesRequest()).capabilities
    assert "MODIFY_VOLUME" in {RPC.Name(c.rpc.type) for c in caps}


def test_gpssd2_iops_and_throughput_change_and_read_back(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-qos", params=GPSSD2)
    assert volume.volume_context[IOPS] == "3000" and volume.volume_context[THROUGHPUT] == "125"
    assert stored(driver, volume.volume_id) == (3000, 125)

    modify(driver, pb, volume.volume_id, {IOPS: "6000"})
    context = context_of(driver, pb, volume.volume_id)
    assert context[IOPS] == "6000" and context[THROUGHPUT] == "125"  # the unstated one is kept
    modify(driver, pb, volume.volume_id, {IOPS: "7000", THROUGHPUT: "250"})
    listed = driver.controller.ListVolumes(pb.ListVolumesRequest()).entries
    entry = next(e.volume for e in listed if e.volume.volume_id == volume.volume_id)
    assert entry.volume_context[IOPS] == "7000" and entry.volume_context[THROUGHPUT] == "250"
    assert stored(driver, volume.volume_id) == (7000, 250)
    assert context[TYPE_KEY] == "GPSSD2"


def test_modify_is_idempotent_and_an_empty_map_is_a_no_op(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-idem-qos", params=GPSSD2)
    for _ in range(2):
        modify(driver, pb, volume.volume_id, {IOPS: "5000", THROUGHPUT: "200"})
    assert stored(driver, volume.volume_id) == (5000, 200)
    modify(driver, pb, volume.volume_id, {})
    assert stored(driver, volume.volume_id) == (5000, 200)
    sas = csi.create(driver.controller, "pvc-idem-sas")
    modify(driver, pb, sas.volume_id, {})  # nothing asked of a SAS disk: nothing refused


def test_modify_survives_a_restart(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-durable-qos", params=GPSSD2)
    modify(driver, pb, volume.volume_id, {THROUGHPUT: "300"})
    driver.restart()
    context = context_of(driver, pb, volume.volume_id)
    assert context[IOPS] == "3000" and context[THROUGHPUT] == "300"


def test_sas_disk_is_refused_with_the_rule(driver, csi, pb):
    sas = csi.create(driver.controller, "pvc-sas-qos")
    details = expect_error(C.INVALID_ARGUMENT, modify, driver, pb, sas.volume_id, {IOPS: "5000"},
                           match=("disk type SAS", "GPSSD2 disks only", sas.volume_id))
    assert details.startswith("ATTR: ")
    assert IOPS not in context_of(driver, pb, sas.volume_id)
    assert stored(driver, sas.volume_id) == (None, None)


def test_fixed_and_unknown_keys_are_refused_naming_key_and_accepted_keys(driver, csi, pb):
    volume = csi.create(driver.controller, "pvc-fixed-qos", params=GPSSD2)
    for key, value in ((TYPE_KEY, "ESSD"), ("everest.io/passthrough", "true"), ("everest.io/crypt-key-id", "k"),
                       ("everest.io/disk-shared", "true")):
        details = expect_error(C.INVALID_ARGUMENT, modify, driver, pb, volume.volume_id, {key: value, IOPS: "9000"},
                               match=(key, IOPS, THROUGHPUT, "fixed at creation"))
        assert details.startswith("R8: ")
    details = expect_error(C.INVALID_ARGUMENT, modify, driver, pb, volume.volume_id, {"sanity-unknown": "x"},
                           match=("sanity-unknown", IOPS, THROUGHPUT))
    assert details.startswith("ATTR: ")
    expect_error(C.INVALID_ARGUMENT, modify, driver, pb, volume.volume_id, {IOPS: "lots"}, match=("lots", IOPS))
    expect_error(C.INVALID_ARGUMENT, modify, driver, pb, volume.volume_id, {THROUGHPUT: "0"}, match=THROUGHPUT)
    assert stored(driver, volume.volume_id) == (3000, 125)  # nothing half-applied (the iops of the refused calls)


def test_missing_and_unknown_volume_ids(driver, pb):
    expect_error(C.INVALID_ARGUMENT, modify, driver, pb, "", {IOPS: "5000"}, match="volume_id")
    expect_error(C.NOT_FOUND, modify, driver, pb, "00000000-0000-4000-8000-0000000000ff", {IOPS: "5000"})
    expect_error(C.NOT_FOUND, modify, driver, pb, "fake-vol-id", {})


def test_create_volume_takes_mutable_parameters(driver, csi, pb):
    request = csi.create_request("pvc-vac", params=GPSSD2)
    request.mutable_parameters.update({IOPS: "8000"})
    volume = driver.controller.CreateVolume(request, timeout=30).volume
    # the class's values win over the StorageClass's (CSI: mutable_parameters take precedence)
    assert volume.volume_context[IOPS] == "8000" and volume.volume_context[THROUGHPUT] == "125"
    assert driver.controller.CreateVolume(request, timeout=30).volume.volume_id == volume.volume_id  # idempotent
    # a class may supply GPSSD2's required numbers
    request = csi.create_request("pvc-vac-only", params={TYPE_KEY: "GPSSD2"})
    request.mutable_parameters.update({IOPS: "4000", THROUGHPUT: "150"})
    assert stored(driver, driver.controller.CreateVolume(request, timeout=30).volume.volume_id) == (4000, 150)


def test_create_volume_refuses_bad_mutable_parameters_and_makes_nothing(driver, csi, pb):
    for params, mutable, match in (
            ({}, {IOPS: "3000"}, "disk type SAS"),
            (GPSSD2, {TYPE_KEY: "SSD"}, "R8: "),
            (GPSSD2, {"sanity-modify-volume-unsupported": "1"}, "sanity-modify-volume-unsupported"),
            (GPSSD2, {THROUGHPUT: "fast"}, "fast")):
        request = csi.create_request("pvc-bad-vac", params=params)
        request.mutable_parameters.update(mutable)
        expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume, request, match=match)
    assert not driver.controller.ListVolumes(pb.ListVolumesRequest()).entries


def test_restored_gpssd2_disk_gets_the_stated_performance_then_the_class(driver, csi, pb):
    source = csi.create(driver.controller, "pvc-qos-src", params=GPSSD2)
    snapshot = csi.snapshot(driver.controller, "snap-qos", source.volume_id)
    restored = csi.create(driver.controller, "pvc-qos-restored", snapshot=snapshot.snapshot_id,
                          params={**GPSSD2, IOPS: "3500"})
    assert stored(driver, restored.volume_id) == (3500, 125)
    request = csi.create_request("pvc-qos-restored-vac", required=1 << 30, snapshot=snapshot.snapshot_id, params=GPSSD2)
    request.mutable_parameters.update({THROUGHPUT: "400"})
    with_class = driver.controller.CreateVolume(request, timeout=30).volume
    assert with_class.volume_context[IOPS] == "3000" and with_class.volume_context[THROUGHPUT] == "400"
    request = csi.create_request("pvc-qos-restored-bad", required=1 << 30, snapshot=snapshot.snapshot_id)
    request.mutable_parameters.update({"everest.io/crypt-key-id": "k"})
    expect_error(C.INVALID_ARGUMENT, driver.controller.CreateVolume, request, match="R8: ")
    for volume_id in (restored.volume_id, with_class.volume_id):
        driver.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume_id), timeout=30)
