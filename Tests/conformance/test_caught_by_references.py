"""What the real references (csi-sanity, the CSI sidecars) have caught in this project, held here without them.

`make test` runs csi-sanity and the sidecars only when EVSSNAP_TESTBIN names a folder holding them (docs/driver.md
"csi-sanity"). Each behaviour they once caught is asserted here, in our own words and from the CSI spec, so that a
run without them still sees it come back. The cases already held elsewhere are named, not repeated:
  - ControllerPublishVolume to an unknown node is NOT_FOUND: test_controller.py
    test_controller_publish_to_a_node_that_does_not_exist_is_not_found;
  - re-publishing to the same node in the other read-only mode is ALREADY_EXISTS: test_controller.py
    test_controller_publish_again_with_the_other_readonly_is_already_exists;
  - a second target of a SINGLE_NODE_SINGLE_WRITER volume is FAILED_PRECONDITION, with nothing mounted:
    test_node.py test_single_node_single_writer_refuses_a_second_target;
  - R5 over the limit is FAILED_PRECONDITION naming R5: test_controller.py
    test_create_snapshot_r5_seventh_ok_eighth_failed_precondition and ..._quota_is_a_setting.
This file adds what was missing.
"""
import concurrent.futures

import grpc
import pytest

from csihelp import expect_error

C = grpc.StatusCode
# Not an id this driver could have issued (EVS ids are UUIDs): judged NOT_FOUND, but only once the request's
# required fields are known to be present.
MALFORMED_ID = "some-vol-id"
# csi-snapshotter's view of a CreateSnapshot error (external-snapshotter, pkg/sidecar-controller): codes that mean
# "the operation may still be in progress" are retried and keep the VolumeSnapshotContent waiting; any other code
# is final. A refusal by a rule must be final, or a refused VolumeSnapshot could never be deleted cleanly.
SNAPSHOTTER_RETRIES = {C.CANCELLED, C.DEADLINE_EXCEEDED, C.UNAVAILABLE, C.RESOURCE_EXHAUSTED, C.ABORTED}


# ---------------------------------------------------------------- missing fields before the id's format

def test_controller_publish_missing_fields_are_invalid_argument_before_the_id_is_judged(driver, csi, pb):
    """CSI ControllerPublishVolume: a missing node_id or volume_capability is INVALID_ARGUMENT. Judging the
    malformed volume id first (NOT_FOUND) hid that from csi-sanity's "should fail when no node id is provided"
    with --backend evs (commit 7744f65)."""
    cap = csi.cap()
    expect_error(C.INVALID_ARGUMENT, driver.controller.ControllerPublishVolume,
                 pb.ControllerPublishVolumeRequest(volume_id=MALFORMED_ID, volume_capability=cap),
                 match="node_id")
    expect_error(C.INVALID_ARGUMENT, driver.controller.ControllerPublishVolume,
                 pb.ControllerPublishVolumeRequest(volume_id=MALFORMED_ID, node_id=driver.node_id),
                 match="volume_capability")
    # with every field present, the malformed id is an unknown volume
    expect_error(C.NOT_FOUND, driver.controller.ControllerPublishVolume,
                 pb.ControllerPublishVolumeRequest(volume_id=MALFORMED_ID, node_id=driver.node_id,
                                                   volume_capability=cap))


def test_node_missing_fields_are_invalid_argument_before_the_id_is_judged(driver, csi, pb, tmp_path):
    """CSI NodeStage/NodePublish/NodeGetVolumeStats/NodeExpandVolume: a missing path or capability is
    INVALID_ARGUMENT, whatever the volume id looks like (csi-sanity's Node specs send made-up ids; commit b735c97).
    Nothing is created at the paths."""
    staging, target = tmp_path / "staging", tmp_path / "target"
    cap = csi.cap()
    node = driver.node
    cases = [
        (node.NodeStageVolume, pb.NodeStageVolumeRequest(volume_id=MALFORMED_ID, volume_capability=cap),
         "staging_target_path"),
        (node.NodeStageVolume, pb.NodeStageVolumeRequest(volume_id=MALFORMED_ID, staging_target_path=str(staging)),
         "volume_capability"),
        (node.NodePublishVolume, pb.NodePublishVolumeRequest(volume_id=MALFORMED_ID, staging_target_path=str(staging),
                                                            volume_capability=cap), "target_path"),
        (node.NodePublishVolume, pb.NodePublishVolumeRequest(volume_id=MALFORMED_ID, staging_target_path=str(staging),
                                                            target_path=str(target)), "volume_capability"),
        (node.NodeGetVolumeStats, pb.NodeGetVolumeStatsRequest(volume_id=MALFORMED_ID), "volume_path"),
        (node.NodeExpandVolume, pb.NodeExpandVolumeRequest(volume_id=MALFORMED_ID), "volume_path"),
    ]
    for call, request, field in cases:
        expect_error(C.INVALID_ARGUMENT, call, request, match=field)
    assert not staging.exists() and not target.exists()


# ---------------------------------------------------------------- starting_token

@pytest.mark.parametrize("token", ["evs1-\x001", "\x00", "evs1-1\x00"], ids=["inside", "alone", "after"])
def test_a_starting_token_no_page_issued_is_aborted_even_with_a_nul(driver, pb, token):
    """CSI ListVolumes/ListSnapshots: "Invalid starting_token: ABORTED". A token holding a NUL is as invalid as any
    other foreign token; the decoder's INVALID_ARGUMENT for a NUL in a string does not apply to it."""
    for call, make in [(driver.controller.ListSnapshots, pb.ListSnapshotsRequest),
                       (driver.controller.ListVolumes, pb.ListVolumesRequest)]:
        expect_error(C.ABORTED, call, make(starting_token=token), match="starting_token")


def test_a_nul_in_any_other_string_is_still_invalid_argument(driver, pb):
    expect_error(C.INVALID_ARGUMENT, driver.controller.ListSnapshots, pb.ListSnapshotsRequest(snapshot_id="a\x00b"),
                 match="NUL")


# ---------------------------------------------------------------- R5 under concurrency

def test_r5_refusals_at_the_limit_under_concurrency_are_final(start_driver, csi, pb):
    """R5 (at most N snapshots per disk): eight CreateSnapshot calls with distinct names race for the last place.
    Retrying what csi-snapshotter retries, as it would, every call ends OK or FAILED_PRECONDITION naming R5:
    exactly one is made, the disk holds exactly the limit, and no refusal carries a code the snapshotter retries."""
    d = start_driver(extra_args=["--max-snapshots-per-disk", "3"])
    volume = csi.create(d.controller, "pvc-r5-race")
    csi.snapshot(d.controller, "held-0", volume.volume_id)
    csi.snapshot(d.controller, "held-1", volume.volume_id)

    def until_final(name):
        request = pb.CreateSnapshotRequest(name=name, source_volume_id=volume.volume_id)
        for _ in range(200):
            try:
                d.controller.CreateSnapshot(request, timeout=30)
                return "ok", ""
            except grpc.RpcError as error:
                if error.code() not in SNAPSHOTTER_RETRIES:
                    return error.code(), error.details()
        return "never final", ""

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        outcomes = list(pool.map(until_final, [f"race-{i}" for i in range(8)]))
    made = [o for o in outcomes if o[0] == "ok"]
    refused = [o for o in outcomes if o[0] != "ok"]
    assert len(made) == 1, outcomes
    assert all(code == C.FAILED_PRECONDITION and details.startswith("R5") for code, details in refused), outcomes
    listed = d.controller.ListSnapshots(pb.ListSnapshotsRequest(source_volume_id=volume.volume_id)).entries
    assert len(listed) == 3
