#!/usr/bin/env python3
"""Crash soak (`make soak`, part of `make bench`, not of `make test`): 8 clients run 1,000 mixed Controller RPCs in
all (create and delete volumes and snapshots, restore, publish and unpublish) against the real evs-csi-driver while a
killer SIGKILLs it at random points (mid-call, mid-restart, during reconcile) and starts it again on the same state.

A client whose call dies with the driver (UNAVAILABLE, CANCELLED, ...) waits for the driver and retries the same
request (same name). Each create is also repeated once after it succeeded. Afterwards, with the driver stopped:

- 0 orphan files: every file in the state dir is the metadata database, the emulator's lock file, the registration
  of the driver's node, or the image of a listed volume/snapshot;
- 0 half-made rows in the SQLite metadata: every disk available or in-use (in-use exactly when attached), every
  snapshot available with an existing source, every attachment of an existing disk;
- every retry and every repeat of a create returned the id of the first attempt that answered, and no name maps to
  two objects;
- everything whose create answered OK is still there unless the client deleted it, and nothing it deleted came back.

Prints rounds (driver lifetimes), kills, retries, orphans and half-made rows. Exit status 0 only when all hold.
Environment: EVSSNAP_BIN (the build's bin dir), EVSSNAP_SOAK_SEED, EVSSNAP_SOAK_RPCS (default 1000),
EVSSNAP_SOAK_CLIENTS (default 8), EVSSNAP_SOAK_KILLS (kill points, default 20; at least 10 must land).
"""
import os
import pathlib
import random
import sqlite3
import sys
import tempfile
import threading
import time

import grpc
import grpc_tools
from grpc_tools import protoc

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import driverproc  # noqa: E402

GIB = 1 << 30
C = grpc.StatusCode
CRASH_CODES = {C.UNAVAILABLE, C.CANCELLED, C.DEADLINE_EXCEEDED, C.UNKNOWN}
SEED = int(os.environ.get("EVSSNAP_SOAK_SEED", "20261203"))
RPCS = int(os.environ.get("EVSSNAP_SOAK_RPCS", "1000"))
CLIENTS = int(os.environ.get("EVSSNAP_SOAK_CLIENTS", "8"))
KILLS = int(os.environ.get("EVSSNAP_SOAK_KILLS", "20"))
NODE = "soak-node"


def bindings():
    out = tempfile.mkdtemp(prefix="evssnap-soak-pb-")
    wk = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    assert protoc.main(["protoc", f"-I{ROOT / 'proto'}", f"-I{wk}", f"--python_out={out}",
                        f"--grpc_python_out={out}", str(ROOT / "proto" / "csi.proto")]) == 0
    sys.path.insert(0, out)
    import csi_pb2, csi_pb2_grpc  # noqa: E402
    return csi_pb2, csi_pb2_grpc


class Soak:
    def __init__(self, binary, pb, rpc):
        self.pb, self.rpc = pb, rpc
        self.driver = driverproc.DriverProcess(binary, (pb, rpc), node_id=NODE)
        self.lock = threading.Lock()
        self.budget = RPCS          # first attempts left, over all clients
        self.done = threading.Event()
        self.kills = 0
        self.retries = 0
        self.calls = 0              # attempts, retries included
        self.unexpected = []        # (client, op, code, details)
        self.ids = {}               # name -> set of ids any attempt returned
        self.created = {}           # name -> id (create answered OK)
        self.deleted = set()        # ids whose delete answered OK
        self.ops = {}               # op -> first attempts
        self.failure = None         # why the soak could not go on
        self.gate = threading.Condition()
        self.next_kill = None       # the first-attempt count at which the next kill is due (None: no more kills)
        mode = pb.VolumeCapability.AccessMode(mode=pb.VolumeCapability.AccessMode.SINGLE_NODE_WRITER)
        self.cap = pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(fs_type="ext4"), access_mode=mode)

    # ---- the driver and the killer

    def killer(self, rng):
        """Kills tied to progress, not to the clock, so that they land in traffic however fast the driver is: KILLS
        points drawn among the first attempts (RPC numbers). When the clients reach a point, new operations wait
        (take_budget) and the driver is killed at once, a few milliseconds in, while the operations already started
        are mid-call; then it is started again on the same state and the clients go on. Some restarts are killed
        again right away (during reconcile or the first calls)."""
        points = sorted(rng.sample(range(RPCS // 50, RPCS - RPCS // 50), min(KILLS, RPCS // 2)))
        try:
            for point in points:
                with self.gate:
                    self.next_kill = point
                while not self.done.is_set() and RPCS - self.budget < point:
                    time.sleep(0.001)
                if self.done.is_set():
                    break
                time.sleep(rng.uniform(0.0, 0.005))
                self.driver.kill()
                self.kills += 1
                self.driver.start()
                if rng.random() < 0.15:
                    time.sleep(rng.uniform(0.0, 0.01))  # right after the start: during reconcile
                    self.driver.kill()
                    self.kills += 1
                    self.driver.start()
                with self.gate:
                    self.next_kill = None
                    self.gate.notify_all()
        except Exception as error:  # the driver did not come back: stop everything, report it
            self.failure = f"restart after kill {self.kills} failed: {error}"
            self.done.set()
        finally:
            with self.gate:
                self.next_kill = None
                self.gate.notify_all()

    # ---- one RPC with retries: the same request until an answer that is not a crash

    def call(self, stub, client, op, method, request):
        first = True
        for _ in range(100):
            if self.failure:
                raise RuntimeError(self.failure)
            with self.lock:
                self.calls += 1
                if not first:
                    self.retries += 1
            try:
                return getattr(stub, method)(request, timeout=60, wait_for_ready=True)
            except grpc.RpcError as error:
                if error.code() not in CRASH_CODES:
                    raise
            first = False
        raise RuntimeError(f"client {client} {op}: 100 attempts of {method} all died with the driver")

    def take_budget(self, op):
        with self.gate:
            # At a kill point, new work waits until the killer has killed and restarted the driver: the calls
            # already in flight (the other clients' multi-RPC operations, retries) are the ones the kill hits.
            while not self.done.is_set() and self.next_kill is not None and RPCS - self.budget >= self.next_kill:
                self.gate.wait(0.05)
        with self.lock:
            if self.budget <= 0:
                return False
            self.budget -= 1
            self.ops[op] = self.ops.get(op, 0) + 1
            return True

    def record_id(self, name, object_id):
        with self.lock:
            self.ids.setdefault(name, set()).add(object_id)
            self.created.setdefault(name, object_id)

    def client(self, index, rng):
        pb = self.pb
        channel = grpc.insecure_channel(f"unix://{self.driver.socket}", options=[
            ("grpc.initial_reconnect_backoff_ms", 20), ("grpc.min_reconnect_backoff_ms", 20),
            ("grpc.max_reconnect_backoff_ms", 100)])
        ctl = self.rpc.ControllerStub(channel)
        volumes = {}      # name -> id (live)
        published = set() # volume ids published to NODE
        snapshots = {}    # name -> (id, source volume id)
        counter = 0

        def name(prefix):
            nonlocal counter
            counter += 1
            return f"soak-{index}-{prefix}-{counter}"

        def create_volume(volume_name, request):
            volume = self.call(ctl, index, "create", "CreateVolume", request).volume
            self.record_id(volume_name, volume.volume_id)
            # A repeat of a create that succeeded is the same volume (CSI idempotency).
            again = self.call(ctl, index, "create", "CreateVolume", request).volume
            self.record_id(volume_name, again.volume_id)
            volumes[volume_name] = volume.volume_id

        try:
            while True:
                choices = ["volume"]
                if volumes:
                    choices += ["snapshot", "delete_volume"]
                if volumes and len(published) < 4:
                    choices += ["publish"]  # 8 clients x 4 stays under the node's attach limit
                if snapshots:
                    choices += ["restore", "delete_snapshot"]
                if published:
                    choices += ["unpublish"]
                op = rng.choice(choices)
                if not self.take_budget(op):
                    return
                try:
                    if op == "volume":
                        n = name("vol")
                        create_volume(n, pb.CreateVolumeRequest(
                            name=n, capacity_range=pb.CapacityRange(required_bytes=rng.choice([1, 2]) * GIB),
                            volume_capabilities=[self.cap]))
                    elif op == "restore":
                        sname = rng.choice(sorted(snapshots))
                        n = name("restore")
                        create_volume(n, pb.CreateVolumeRequest(
                            name=n, volume_capabilities=[self.cap],
                            volume_content_source=pb.VolumeContentSource(
                                snapshot=pb.VolumeContentSource.SnapshotSource(snapshot_id=snapshots[sname][0]))))
                    elif op == "snapshot":
                        vname = rng.choice(sorted(volumes))
                        source = volumes[vname]
                        if sum(1 for _, s in snapshots.values() if s == source) >= 3:
                            continue  # stay well inside the R5 quota
                        n = name("snap")
                        request = pb.CreateSnapshotRequest(name=n, source_volume_id=source)
                        snap = self.call(ctl, index, op, "CreateSnapshot", request).snapshot
                        self.record_id(n, snap.snapshot_id)
                        again = self.call(ctl, index, op, "CreateSnapshot", request).snapshot
                        self.record_id(n, again.snapshot_id)
                        snapshots[n] = (snap.snapshot_id, source)
                    elif op == "publish":
                        vid = volumes[rng.choice(sorted(volumes))]
                        self.call(ctl, index, op, "ControllerPublishVolume", pb.ControllerPublishVolumeRequest(
                            volume_id=vid, node_id=NODE, volume_capability=self.cap))
                        published.add(vid)
                    elif op == "unpublish":
                        vid = rng.choice(sorted(published))
                        self.call(ctl, index, op, "ControllerUnpublishVolume",
                                  pb.ControllerUnpublishVolumeRequest(volume_id=vid, node_id=NODE))
                        published.discard(vid)
                    elif op == "delete_snapshot":
                        sname = rng.choice(sorted(snapshots))
                        sid = snapshots.pop(sname)[0]
                        self.call(ctl, index, op, "DeleteSnapshot", pb.DeleteSnapshotRequest(snapshot_id=sid))
                        with self.lock:
                            self.deleted.add(sid)
                    elif op == "delete_volume":
                        vname = rng.choice(sorted(volumes))
                        vid = volumes[vname]
                        # R13: a disk with snapshots or attached cannot be deleted; clear it first (more RPCs).
                        for sname in [s for s, (_, src) in snapshots.items() if src == vid]:
                            sid = snapshots.pop(sname)[0]
                            self.call(ctl, index, op, "DeleteSnapshot", pb.DeleteSnapshotRequest(snapshot_id=sid))
                            with self.lock:
                                self.deleted.add(sid)
                        if vid in published:
                            self.call(ctl, index, op, "ControllerUnpublishVolume",
                                      pb.ControllerUnpublishVolumeRequest(volume_id=vid, node_id=NODE))
                            published.discard(vid)
                        self.call(ctl, index, op, "DeleteVolume", pb.DeleteVolumeRequest(volume_id=vid))
                        del volumes[vname]
                        with self.lock:
                            self.deleted.add(vid)
                except grpc.RpcError as error:
                    with self.lock:
                        self.unexpected.append((index, op, error.code(), error.details()))
                except RuntimeError as error:
                    with self.lock:
                        self.unexpected.append((index, op, "gave up", str(error)))
                    return
        finally:
            channel.close()

    # ---- the checks, on the state dir of a stopped driver

    def check(self):
        pb = self.pb
        state = self.driver.state_dir
        self.driver.start()
        volumes, snapshots = {}, {}
        token = ""
        while True:
            page = self.driver.controller.ListVolumes(pb.ListVolumesRequest(max_entries=100, starting_token=token), timeout=30)
            volumes.update({e.volume.volume_id: e.volume for e in page.entries})
            token = page.next_token
            if not token:
                break
        while True:
            page = self.driver.controller.ListSnapshots(pb.ListSnapshotsRequest(max_entries=100, starting_token=token), timeout=30)
            snapshots.update({e.snapshot.snapshot_id: e.snapshot for e in page.entries})
            token = page.next_token
            if not token:
                break
        rc = self.driver.stop()
        problems = []
        if rc != 0:
            problems.append(f"driver exited with {rc} on SIGTERM")

        # Orphans: every file is the database or a listed object's image.
        orphans = []
        for path in sorted(state.rglob("*")):
            if path.is_dir():
                continue
            rel = path.relative_to(state)
            parts = rel.parts
            if len(parts) == 1 and (parts[0].startswith("evs.sqlite") or parts[0] == "lock"):
                continue  # the metadata database (+ WAL) and the emulator's flock(2) file
            if len(parts) == 2 and parts[0] == "nodes" and path.read_text(errors="replace").strip() == NODE:
                continue  # the node registration of the driver's --node-id (EVSEmulator/NodeRegistry.swift)
            if len(parts) == 2 and parts[0] == "disks" and parts[1].endswith(".img") and parts[1][:-4] in volumes:
                continue
            if len(parts) == 2 and parts[0] == "snapshots" and parts[1].endswith(".img") and parts[1][:-4] in snapshots:
                continue
            orphans.append(str(rel))

        # Half-made rows.
        db = sqlite3.connect(f"file:{state / 'evs.sqlite'}?mode=ro", uri=True)
        half = []
        half += [f"disk {i} {n} status {s}" for i, n, s in db.execute(
            "SELECT id, name, status FROM disk WHERE status NOT IN ('available', 'in-use')")]
        half += [f"disk {i} in-use without attachment" for (i,) in db.execute(
            "SELECT id FROM disk WHERE status = 'in-use' AND id NOT IN (SELECT diskID FROM attachment)")]
        half += [f"disk {i} attached but {s}" for i, s in db.execute(
            "SELECT id, status FROM disk WHERE status != 'in-use' AND id IN (SELECT diskID FROM attachment)")]
        half += [f"snapshot {i} {n} status {s}" for i, n, s in db.execute(
            "SELECT id, name, status FROM snapshot WHERE status != 'available'")]
        half += [f"snapshot {i} of missing disk {d}" for i, d in db.execute(
            "SELECT id, sourceDiskID FROM snapshot WHERE sourceDiskID NOT IN (SELECT id FROM disk)")]
        half += [f"attachment of missing disk {d}" for (d,) in db.execute(
            "SELECT diskID FROM attachment WHERE diskID NOT IN (SELECT id FROM disk)")]
        rows = {name: oid for name, oid in db.execute("SELECT name, id FROM disk UNION ALL SELECT name, id FROM snapshot")}
        db.close()

        # Retries returned the first attempt's id; names map to one object; completed work stayed.
        split = {n: ids for n, ids in self.ids.items() if len(ids) != 1}
        for name, oid in self.created.items():
            if oid in self.deleted:
                if oid in volumes or oid in snapshots:
                    problems.append(f"{name} ({oid}) was deleted and came back")
            elif oid not in volumes and oid not in snapshots:
                problems.append(f"{name} ({oid}) answered OK and is gone")
            elif rows.get(name) != oid:
                problems.append(f"{name}: row id {rows.get(name)} != answered {oid}")
        for client, op, code, details in self.unexpected:
            problems.append(f"client {client} {op}: {code} {details}")
        if orphans:
            problems.append(f"orphan files: {orphans}")
        if half:
            problems.append(f"half-made rows: {half}")
        if split:
            problems.append(f"names answered with more than one id: {split}")
        return volumes, snapshots, orphans, half, split, problems


def main():
    bin_dir = pathlib.Path(os.environ.get("EVSSNAP_BIN", ROOT / ".build" / "debug"))
    binary = bin_dir / "evs-csi-driver"
    if not binary.is_file():
        sys.exit(f"soak: {binary} is not built")
    pb, rpc = bindings()
    soak = Soak(binary, pb, rpc)
    rng = random.Random(SEED)
    started = time.monotonic()
    soak.driver.start()
    killer = threading.Thread(target=soak.killer, args=(random.Random(rng.random()),))
    clients = [threading.Thread(target=soak.client, args=(i, random.Random(rng.random()))) for i in range(CLIENTS)]
    killer.start()
    [c.start() for c in clients]
    [c.join() for c in clients]
    soak.done.set()
    killer.join()
    if soak.failure:
        sys.exit(f"crash soak FAILED: {soak.failure}\n{soak.driver.log()}")
    soak.driver.kill()  # the last lifetime ends with a kill too
    soak.kills += 1
    elapsed = time.monotonic() - started
    volumes, snapshots, orphans, half, split, problems = soak.check()
    first = RPCS - soak.budget
    print(f"crash soak: {CLIENTS} clients, {first} RPCs ({', '.join(f'{k} {v}' for k, v in sorted(soak.ops.items()))}), "
          f"{soak.calls} calls with repeats and retries")
    print(f"  rounds {soak.kills + 1} (driver lifetimes), kills {soak.kills} (SIGKILL), retries {soak.retries}, "
          f"orphans {len(orphans)}, half-made rows {len(half)}, names with two ids {len(split)}")
    print(f"  end state: {len(volumes)} volumes, {len(snapshots)} snapshots; {elapsed:.1f} s; seed {SEED}")
    reconciled = soak.driver.log_path.read_text(errors="replace").count("reconciled state left by an earlier run")
    print(f"  restarts that reconciled a crash's leftovers: {reconciled}")
    soak.driver.cleanup()
    if problems:
        print("crash soak FAILED:")
        for p in problems[:50]:
            print("  " + p)
        sys.exit(1)
    if soak.kills < 10 or soak.retries == 0:
        print(f"crash soak FAILED: too few kills ({soak.kills}) or no retry: the kills did not land in traffic")
        sys.exit(1)
    print("crash soak: OK")


if __name__ == "__main__":
    main()
