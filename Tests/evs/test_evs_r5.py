"""R5 on `--backend evs`, at the gRPC surface: a refusal csi-snapshotter treats as final.

csi-snapshotter retries a CreateSnapshot error whose code says "may still be in progress" (CANCELLED,
DEADLINE_EXCEEDED, UNAVAILABLE, RESOURCE_EXHAUSTED, ABORTED) and keeps the VolumeSnapshotContent waiting; any other
code is final. R5's refusal must be final on every backend, and EVS must never see a create for it
(Tests/conformance/test_caught_by_references.py holds the emulator's side).
"""
import grpc

from csihelp import GIB, Csi, expect_error

Code = grpc.StatusCode
CREATE_SNAPSHOT = "POST /v2/{id}/cloudsnapshots"


def snapshot_posts(fake):
    return sum(n for key, n in fake.state()["requests"].items() if key.startswith(CREATE_SNAPSHOT))


def test_r5_on_the_evs_backend_is_failed_precondition_before_evs_is_called(evs_driver, fake, pb):
    proc = evs_driver(extra_args=["--max-snapshots-per-disk", "2"])
    csi = Csi(pb)
    volume = csi.create(proc.controller, "pvc-r5", gib=10)
    made = [csi.snapshot(proc.controller, f"snap-{i}", volume.volume_id) for i in range(2)]
    posts = snapshot_posts(fake)
    details = expect_error(Code.FAILED_PRECONDITION, proc.controller.CreateSnapshot,
                           pb.CreateSnapshotRequest(name="snap-2", source_volume_id=volume.volume_id), match=("R5", "2"))
    assert details.startswith("R5"), details
    assert snapshot_posts(fake) == posts, "EVS saw a create for a snapshot R5 refused"
    assert len(fake.state()["snapshots"]) == 2
    # the retry of one already made is still answered (idempotency comes before the limit)
    assert csi.snapshot(proc.controller, "snap-1", volume.volume_id).snapshot_id == made[1].snapshot_id
    for snapshot in made:
        proc.controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=snapshot.snapshot_id), timeout=30)
    proc.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id), timeout=30)
    assert fake.state()["volumes"] == [] and fake.state()["snapshots"] == []
