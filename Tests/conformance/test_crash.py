"""Crash safety of evs-csi-driver's emulator: SIGKILL at random moments while a few threads run mixed
Controller RPCs, restart on the same state dir, and check what a CO relies on:

- every listed volume/snapshot is fully usable (its image exists with the listed size; snapshots ready),
- no image file is orphaned (every *.img in disks/ and snapshots/ belongs to a listed object; no temp files),
- everything that completed before the kill is still there, with the same id and source,
- every delete that completed stays deleted, every completed expand keeps its size,
- a retried CreateVolume/CreateSnapshot with the same name returns the same object when it exists, or
  creates it when it had not completed.

Seeded RNG (EVSSNAP_CRASH_SEED overrides), ~10 rounds, the whole test well under 60 s.
"""
import os
import random
import threading
import time

import grpc
import pytest

from csihelp import GIB, Csi

C = grpc.StatusCode
ROUNDS = 10
SEED = int(os.environ.get("EVSSNAP_CRASH_SEED", "20261127"))
# Codes a well-behaved driver may answer these random calls with (races between the workers).
EXPECTED_REFUSALS = {C.FAILED_PRECONDITION, C.NOT_FOUND, C.RESOURCE_EXHAUSTED, C.ABORTED}
# Codes that mean "the driver died under the call": the outcome is unknown.
CRASH_CODES = {C.UNAVAILABLE, C.CANCELLED, C.DEADLINE_EXCEEDED, C.UNKNOWN}


class Model:
    """What the client knows: per name, the create's outcome; per id, the delete's outcome."""

    def __init__(self):
        self.lock = threading.Lock()
        self.volumes = {}       # name -> volume id (create answered OK)
        self.volume_spec = {}   # name -> (gib, snapshot id or None) as requested
        self.snapshots = {}     # name -> (snapshot id, source volume id) (create answered OK)
        self.snapshot_src = {}  # name -> source volume id requested
        self.uncertain_volumes = set()    # names whose create outcome is unknown
        self.uncertain_snapshots = set()
        self.deleted = set()    # ids whose delete answered OK
        self.deleting = set()   # ids whose delete outcome is unknown
        self.unexpected = []
        self.counter = 0
        self.capacity = {}      # volume id -> capacity_bytes last answered (create or expand)

    def next_name(self, prefix):
        with self.lock:
            self.counter += 1
            return f"{prefix}-{self.counter}"

    def live_volume_ids(self):
        with self.lock:
            return [v for v in self.volumes.values() if v not in self.deleted and v not in self.deleting]

    def live_snapshots(self):
        with self.lock:
            return [(s, src) for s, src in self.snapshots.values() if s not in self.deleted and s not in self.deleting]


def worker(d, csi, model, rng, stop):
    pb = csi.pb
    controller = d.controller
    while not stop.is_set():
        op = rng.choices(["volume", "snapshot", "restore", "delete_snapshot", "delete_volume", "expand"],
                         [3, 3, 2, 2, 2, 1])[0]
        try:
            if op == "volume":
                name = model.next_name("vol")
                gib = rng.choice([1, 2])
                with model.lock:
                    model.volume_spec[name] = (gib, None)
                    model.uncertain_volumes.add(name)
                volume = csi.create(controller, name, gib)
                with model.lock:
                    model.volumes[name] = volume.volume_id
                    model.capacity[volume.volume_id] = volume.capacity_bytes
                    model.uncertain_volumes.discard(name)
            elif op == "snapshot":
                sources = model.live_volume_ids()
                if not sources:
                    continue
                source = rng.choice(sources)
                name = model.next_name("snap")
                with model.lock:
                    model.snapshot_src[name] = source
                    model.uncertain_snapshots.add(name)
                snap = csi.snapshot(controller, name, source)
                with model.lock:
                    model.snapshots[name] = (snap.snapshot_id, source)
                    model.uncertain_snapshots.discard(name)
            elif op == "restore":
                snaps = model.live_snapshots()
                if not snaps:
                    continue
                snap_id, _ = rng.choice(snaps)
                name = model.next_name("restore")
                with model.lock:
                    model.volume_spec[name] = (None, snap_id)
                    model.uncertain_volumes.add(name)
                volume = csi.create(controller, name, None, snapshot=snap_id)
                with model.lock:
                    model.volumes[name] = volume.volume_id
                    model.uncertain_volumes.discard(name)
            elif op == "delete_snapshot":
                snaps = model.live_snapshots()
                if not snaps:
                    continue
                snap_id, _ = rng.choice(snaps)
                with model.lock:
                    model.deleting.add(snap_id)
                controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=snap_id), timeout=30)
                with model.lock:
                    model.deleting.discard(snap_id)
                    model.deleted.add(snap_id)
            elif op == "expand":
                volumes = model.live_volume_ids()
                if not volumes:
                    continue
                volume_id = rng.choice(volumes)
                with model.lock:
                    want = model.capacity.get(volume_id, GIB) + GIB
                response = controller.ControllerExpandVolume(pb.ControllerExpandVolumeRequest(
                    volume_id=volume_id, capacity_range=pb.CapacityRange(required_bytes=want)), timeout=30)
                with model.lock:
                    model.capacity[volume_id] = max(model.capacity.get(volume_id, 0), response.capacity_bytes)
            else:
                volumes = model.live_volume_ids()
                if not volumes:
                    continue
                volume_id = rng.choice(volumes)
                with model.lock:
                    model.deleting.add(volume_id)
                controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume_id), timeout=30)
                with model.lock:
                    model.deleting.discard(volume_id)
                    model.deleted.add(volume_id)
        except ValueError:
            return  # "Cannot invoke RPC on closed channel": the driver was killed before this call started
        except grpc.RpcError as error:
            code = error.code()
            if code in CRASH_CODES:
                return  # the driver is gone: this call's outcome stays "uncertain"
            with model.lock:
                if op in ("volume", "restore"):
                    model.uncertain_volumes.discard(name)
                    model.volume_spec.pop(name, None)
                elif op == "snapshot":
                    model.uncertain_snapshots.discard(name)
                    model.snapshot_src.pop(name, None)
                elif op != "expand":
                    # the delete was refused: the object is still there
                    model.deleting.discard(snap_id if op == "delete_snapshot" else volume_id)
                if code not in EXPECTED_REFUSALS:
                    model.unexpected.append((op, code, error.details()))


def list_all(d, pb):
    volumes, token = {}, ""
    while True:
        page = d.controller.ListVolumes(pb.ListVolumesRequest(max_entries=50, starting_token=token), timeout=30)
        for e in page.entries:
            assert e.volume.volume_id not in volumes, "ListVolumes returned a volume twice"
            volumes[e.volume.volume_id] = e.volume
            assert not e.status.volume_condition.abnormal, e.status.volume_condition.message
        token = page.next_token
        if not token:
            break
    snapshots, token = {}, ""
    while True:
        page = d.controller.ListSnapshots(pb.ListSnapshotsRequest(max_entries=50, starting_token=token), timeout=30)
        for e in page.entries:
            assert e.snapshot.snapshot_id not in snapshots, "ListSnapshots returned a snapshot twice"
            snapshots[e.snapshot.snapshot_id] = e.snapshot
        token = page.next_token
        if not token:
            break
    return volumes, snapshots


def check_state(d, pb, model, round_):
    volumes, snapshots = list_all(d, pb)
    where = f"round {round_}"
    # every listed object is usable
    for vid, volume in volumes.items():
        image = d.disk_image(vid)
        assert image.is_file(), f"{where}: volume {vid} listed without its image"
        assert image.stat().st_size == volume.capacity_bytes, f"{where}: volume {vid} image size"
    for sid, snap in snapshots.items():
        image = d.snapshot_image(sid)
        assert snap.ready_to_use, f"{where}: snapshot {sid} listed but not ready"
        assert image.is_file(), f"{where}: snapshot {sid} listed without its image"
        assert image.stat().st_size == snap.size_bytes, f"{where}: snapshot {sid} image size"
        assert snap.source_volume_id in volumes, f"{where}: snapshot {sid} of a volume that is gone (R13)"
    # no orphaned or temporary data file
    for sub, known in (("disks", volumes), ("snapshots", snapshots)):
        for entry in os.listdir(d.state_dir / sub):
            assert entry.endswith(".img") and entry[:-4] in known, f"{where}: orphaned file {sub}/{entry}"
    # completed creates are there (unless a delete of them was started), completed deletes are gone
    with model.lock:
        for name, vid in model.volumes.items():
            if vid in model.deleted:
                assert vid not in volumes, f"{where}: deleted volume {vid} came back"
            elif vid not in model.deleting:
                assert vid in volumes, f"{where}: completed volume {name} ({vid}) lost"
                assert volumes[vid].capacity_bytes >= model.capacity.get(vid, 0), f"{where}: {vid} shrank"
        for name, (sid, source) in model.snapshots.items():
            if sid in model.deleted:
                assert sid not in snapshots, f"{where}: deleted snapshot {sid} came back"
            elif sid not in model.deleting:
                assert sid in snapshots, f"{where}: completed snapshot {name} ({sid}) lost"
                assert snapshots[sid].source_volume_id == source
        # an uncertain delete is settled now: the object is there or not, and stays so
        for oid in list(model.deleting):
            if oid not in volumes and oid not in snapshots:
                model.deleted.add(oid)
            model.deleting.discard(oid)
    return volumes, snapshots


def retry_uncertain(d, csi, model, volumes, snapshots, round_):
    """Retries every create whose outcome is unknown: the same object if it exists, else a new one."""
    pb = csi.pb
    by_name_volume = {}
    with model.lock:
        names = sorted(model.uncertain_volumes)
        snap_names = sorted(model.uncertain_snapshots)
    for name in names:
        gib, snap_id = model.volume_spec[name]
        try:
            volume = csi.create(d.controller, name, gib, snapshot=snap_id)
        except grpc.RpcError as error:
            # a restore whose snapshot is gone (deleted before the restore began) cannot be retried
            assert snap_id is not None and snap_id not in snapshots and error.code() == C.NOT_FOUND, \
                f"round {round_}: retry of {name}: {error.code()} {error.details()}"
            with model.lock:
                model.uncertain_volumes.discard(name)
            continue
        assert volume.capacity_bytes == (gib or 0) * GIB or snap_id is not None
        by_name_volume[name] = volume.volume_id
        with model.lock:
            model.volumes[name] = volume.volume_id
            model.uncertain_volumes.discard(name)
    for name in snap_names:
        source = model.snapshot_src[name]
        try:
            snap = csi.snapshot(d.controller, name, source)
        except grpc.RpcError as error:
            assert (source not in volumes and error.code() == C.NOT_FOUND
                    or error.code() == C.FAILED_PRECONDITION and error.details().startswith("R5")), \
                f"round {round_}: retry of snapshot {name}: {error.code()} {error.details()}"
            with model.lock:
                model.uncertain_snapshots.discard(name)
            continue
        assert snap.source_volume_id == source
        with model.lock:
            model.snapshots[name] = (snap.snapshot_id, source)
            model.uncertain_snapshots.discard(name)
    # a retry returned the already-listed object when there was one; a second retry is the same again
    after_volumes, after_snapshots = list_all(d, pb)
    for name, vid in by_name_volume.items():
        assert vid in after_volumes
        gib, snap_id = model.volume_spec[name]
        assert csi.create(d.controller, name, gib, snapshot=snap_id).volume_id == vid
    assert set(volumes) <= set(after_volumes), f"round {round_}: a retry removed a volume"
    assert set(snapshots) <= set(after_snapshots), f"round {round_}: a retry removed a snapshot"


def test_crash_safety_under_sigkill(start_driver, csi_pb):
    started = time.monotonic()
    pb = csi_pb[0]
    csi = Csi(pb)
    rng = random.Random(SEED)
    d = start_driver(extra_args=["--max-snapshots-per-disk", "3"])
    model = Model()
    stats = []  # (round, volumes, snapshots, creates retried)
    for round_ in range(ROUNDS):
        stop = threading.Event()
        threads = [threading.Thread(target=worker, args=(d, csi, model, random.Random(rng.random()), stop))
                   for _ in range(3)]
        [t.start() for t in threads]
        time.sleep(rng.uniform(0.05, 0.8))
        d.kill()
        stop.set()
        [t.join(timeout=30) for t in threads]
        assert not any(t.is_alive() for t in threads)
        d.start()
        volumes, snapshots = check_state(d, pb, model, round_)
        with model.lock:
            retried = len(model.uncertain_volumes) + len(model.uncertain_snapshots)
        stats.append((round_, len(volumes), len(snapshots), retried))
        retry_uncertain(d, csi, model, volumes, snapshots, round_)
        check_state(d, pb, model, round_)
    assert not model.unexpected, model.unexpected
    with model.lock:
        assert len(model.volumes) >= ROUNDS, "the workers did too little work to test anything"
        assert model.snapshots, "no snapshot was ever created"
    elapsed = time.monotonic() - started
    reconciled_rounds = d.log_path.read_text(errors="replace").count("reconciled state left by an earlier run")
    # the kills did land in the middle of operations (the emulator had something to repair)
    assert reconciled_rounds >= 1, "no restart found anything to reconcile: the kills hit no operation"
    print(f"crash rounds (round, volumes, snapshots, uncertain creates): {stats}; "
          f"restarts that reconciled: {reconciled_rounds}; {elapsed:.1f}s")
