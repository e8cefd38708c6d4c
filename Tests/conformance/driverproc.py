"""Start and stop the built `evs-csi-driver` on a private unix socket, for the conformance tests.

`DriverProcess` owns one temp dir `/tmp/evs-XXXX` (short: unix socket paths are limited to 107 bytes)
holding `csi.sock`, the state dir `state/` (unless one is given, e.g. to restart on the same state) and
`mnt/` for staging/target paths. It starts the binary, waits until the socket answers Probe, and gives
gRPC stubs for the three services. `stop()` sends SIGTERM and returns the exit code; `kill()` SIGKILLs;
`restart()` starts again on the same state dir and socket.

`leaks(prefix)` lists mounts and loop devices that refer to paths under `prefix` (from
/proc/self/mountinfo and /sys/block/loop*/loop/backing_file, falling back to `losetup -a`).
"""
import os
import pathlib
import shutil
import signal
import subprocess
import tempfile
import time

import grpc

START_TIMEOUT = 20.0

# gRPC status codes by name, for readable assertions.
Code = grpc.StatusCode


class DriverProcess:
    """One `evs-csi-driver` process (and its restarts) with its temp dirs."""

    def __init__(self, binary, csi_pb, *, node_id="node-1", extra_args=(), state_dir=None, mode="all",
                 zones=("cn-north-4/cn-north-4a",)):
        self.binary = str(binary)
        self.pb, self.pb_grpc = csi_pb
        self.node_id = node_id
        self.extra_args = list(extra_args)
        self.mode = mode
        self.zones = list(zones)
        self.tmp = pathlib.Path(tempfile.mkdtemp(prefix="evs-", dir="/tmp"))
        self.socket = self.tmp / "csi.sock"
        assert len(str(self.socket).encode()) <= 107
        self.state_dir = pathlib.Path(state_dir) if state_dir else self.tmp / "state"
        self.mnt = self.tmp / "mnt"
        self.mnt.mkdir()
        self.log_path = self.tmp / "driver.log"
        self.proc = None
        self.channel = None
        self.identity = self.controller = self.node = None
        self.exit_codes = []

    # ---- process lifecycle

    def args(self):
        args = [self.binary, "--endpoint", f"unix://{self.socket}", "--state-dir", str(self.state_dir),
                "--mode", self.mode, "--shutdown-grace", "5", "--log-level", "info"]
        if self.node_id is not None:
            args += ["--node-id", self.node_id]
        for zone in self.zones:
            args += ["--zone", zone]
        return args + self.extra_args

    def start(self, timeout=START_TIMEOUT):
        assert self.proc is None or self.proc.poll() is not None, "driver already running"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args(), stdout=log, stderr=subprocess.STDOUT)
        log.close()
        deadline = time.monotonic() + timeout
        while not self.socket.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"driver exited with {self.proc.returncode} before listening:\n{self.log()}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise RuntimeError(f"driver did not create {self.socket} within {timeout}s:\n{self.log()}")
            time.sleep(0.02)
        self.channel = grpc.insecure_channel(f"unix://{self.socket}")
        grpc.channel_ready_future(self.channel).result(timeout=max(1.0, deadline - time.monotonic()))
        self.identity = self.pb_grpc.IdentityStub(self.channel)
        self.controller = self.pb_grpc.ControllerStub(self.channel)
        self.node = self.pb_grpc.NodeStub(self.channel)
        self.identity.Probe(self.pb.ProbeRequest(), timeout=10)
        return self

    def _close_channel(self):
        if self.channel is not None:
            self.channel.close()
            self.channel = None

    def stop(self, timeout=30.0):
        """SIGTERM; returns the exit code (None if it was not running)."""
        self._close_channel()
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"driver did not exit within {timeout}s of SIGTERM:\n{self.log()}")
        self.exit_codes.append(rc)
        return rc

    def kill(self):
        """SIGKILL (a crash) while calls may be in flight; waits for the process to be gone, then closes the channel."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._close_channel()

    def restart(self, timeout=START_TIMEOUT):
        """Stops (SIGTERM) if running and starts again on the same state dir and socket."""
        if self.proc is not None and self.proc.poll() is None:
            rc = self.stop()
            assert rc == 0, f"driver exited with {rc} on SIGTERM:\n{self.log()}"
        return self.start(timeout)

    def register_node(self, node_id):
        """Makes `node_id` a node the emulator knows, the way a node plugin does: a `--mode node` process on this
        state dir registers it on start (the registration outlives the process). ControllerPublishVolume to a
        node nobody registered is NOT_FOUND."""
        node = DriverProcess(self.binary, (self.pb, self.pb_grpc), node_id=node_id, mode="node",
                             state_dir=self.state_dir, zones=self.zones)
        try:
            node.start()
            rc = node.stop()
            assert rc == 0, f"node plugin {node_id} exited with {rc}:\n{node.log()}"
        finally:
            node.cleanup()
        assert node_id in registered_nodes(self.state_dir)

    def log(self):
        try:
            return self.log_path.read_text(errors="replace")[-8000:]
        except OSError:
            return ""

    def cleanup(self):
        """Removes the temp dir (only when nothing is mounted or attached under it)."""
        if not leaks(self.tmp) and not leaks(self.state_dir):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __iter__(self):
        """(process, channel, identity, controller, node, state_dir)"""
        return iter((self.proc, self.channel, self.identity, self.controller, self.node, self.state_dir))

    # ---- paths

    def disk_image(self, volume_id):
        return self.state_dir / "disks" / f"{volume_id}.img"

    def snapshot_image(self, snapshot_id):
        return self.state_dir / "snapshots" / f"{snapshot_id}.img"

    def path(self, name):
        """A fresh path under mnt/ (not created)."""
        return str(self.mnt / name)


def registered_nodes(state_dir):
    """The node ids registered in a state dir (`nodes/`, one file per node holding its id)."""
    nodes = pathlib.Path(state_dir) / "nodes"
    if not nodes.is_dir():
        return []
    return sorted(f.read_text() for f in nodes.iterdir() if f.is_file() and ".tmp." not in f.name)


# ---- leak checks


def _unescape(field):
    # mountinfo escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) + 0 and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mounts_under(prefix):
    """Mount points (and mount sources) from /proc/self/mountinfo under `prefix`."""
    prefix = str(prefix).rstrip("/")
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            mount_point = _unescape(parts[4])
            root = _unescape(parts[3])
            if mount_point == prefix or mount_point.startswith(prefix + "/") or root.startswith(prefix + "/"):
                found.append(mount_point)
    return found


def loop_devices_under(prefix):
    """Loop devices whose backing file is under `prefix`."""
    prefix = str(prefix).rstrip("/") + "/"
    found = []
    sys_block = pathlib.Path("/sys/block")
    if sys_block.is_dir():
        for dev in sorted(sys_block.glob("loop*")):
            backing = dev / "loop" / "backing_file"
            try:
                path = backing.read_text().strip()
            except OSError:
                continue
            if path.startswith(prefix):
                found.append(f"/dev/{dev.name}: {path}")
        return found
    if shutil.which("losetup"):
        out = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
        found = [line for line in out.splitlines() if prefix in line]
    return found


def losetup_a_under(prefix):
    """`losetup -a` lines naming a path under `prefix` (empty when losetup is missing)."""
    if not shutil.which("losetup"):
        return []
    out = subprocess.run(["losetup", "-a"], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if str(prefix).rstrip("/") + "/" in line]


def leaks(prefix):
    """Everything still mounted or attached that refers to `prefix`."""
    return mounts_under(prefix) + loop_devices_under(prefix)


def force_cleanup(prefix):
    """Best effort: lazily unmount everything under `prefix` (deepest first) and detach its loop devices."""
    for mount_point in sorted(mounts_under(prefix), key=len, reverse=True):
        subprocess.run(["umount", "-l", mount_point], capture_output=True)
    for line in loop_devices_under(prefix):
        subprocess.run(["losetup", "-d", line.split(":")[0]], capture_output=True)


def reset_state(proc, pb):
    """Detaches and deletes every volume and snapshot of a running driver and empties its mnt/ dir, so the
    next test starts from an empty backend."""
    controller = proc.controller
    # deleting while walking pages would skip entries: take the first page again until it is empty
    for _ in range(1000):
        snapshots = controller.ListSnapshots(pb.ListSnapshotsRequest(), timeout=30).entries
        if not snapshots:
            break
        for entry in snapshots:
            controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=entry.snapshot.snapshot_id), timeout=30)
    for _ in range(1000):
        volumes = controller.ListVolumes(pb.ListVolumesRequest(), timeout=30).entries
        if not volumes:
            break
        for entry in volumes:
            volume_id = entry.volume.volume_id
            if entry.status.published_node_ids:
                controller.ControllerUnpublishVolume(
                    pb.ControllerUnpublishVolumeRequest(volume_id=volume_id), timeout=30)
            controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume_id), timeout=30)
    if not mounts_under(proc.mnt):
        shutil.rmtree(proc.mnt, ignore_errors=True)
        proc.mnt.mkdir(exist_ok=True)
