"""The node plugin restarted the way kubelet restarts its container (issue 19): `--mode node` in a mount
namespace of its own with the state directory bind-mounted at /var/lib/evssnap (deploy/node.yaml), stopped or
killed and started again in a NEW namespace between calls (see nsnode.py). A controller process (--mode
controller) on the host shares the state directory, as deploy/ shares one hostPath.

Needs root, loop devices and util-linux's unshare (skipped otherwise, with the reason). Every test ends with
nothing mounted or loop-attached under its directories.
"""
import os
import pathlib
import shutil

import grpc
import pytest

import driverproc
import nsnode
from csihelp import GIB, expect_error, has_sys_resource

C = grpc.StatusCode
NODE_ID = "worker-1"


def _reason():
    if os.geteuid() != 0:
        return "needs root (loop devices, mounts and mount namespaces)"
    if not os.path.exists("/dev/loop-control"):
        return "/dev/loop-control is missing (no loop device support)"
    if shutil.which("setpriv") is None:
        return "setpriv is not installed (util-linux)"
    return nsnode.namespace_tools_missing()


pytestmark = pytest.mark.skipif(_reason() is not None, reason=_reason() or "")


class Stack:
    """A controller on the host and a namespaced node plugin on its state directory."""

    def __init__(self, ctl, node, csi):
        self.ctl, self.node, self.csi, self.pb = ctl, node, csi, csi.pb

    def volume(self, name, gib=1, block=False, fs_type=""):
        return NVol(self, name, gib, block, fs_type)


class NVol:
    """A created, ControllerPublished volume; node calls go to whichever node plugin process runs now."""

    def __init__(self, stack, name, gib, block, fs_type):
        self.s, self.pb = stack, stack.pb
        self.cap = stack.csi.cap(block=block, fs_type=fs_type)
        volume = stack.csi.create(stack.ctl.controller, name, gib, caps=[self.cap])
        self.id, self.context = volume.volume_id, dict(volume.volume_context)
        self.publish_context = dict(stack.ctl.controller.ControllerPublishVolume(
            self.pb.ControllerPublishVolumeRequest(volume_id=self.id, node_id=NODE_ID, volume_capability=self.cap,
                                                   volume_context=self.context)).publish_context)
        self.staging = stack.node.path(f"{name}-staging")
        self.target = stack.node.path(f"{name}-target")
        self.image = str(stack.ctl.disk_image(self.id))

    @property
    def n(self):
        return self.s.node.node

    def stage_request(self):
        return self.pb.NodeStageVolumeRequest(
            volume_id=self.id, publish_context=self.publish_context, staging_target_path=self.staging,
            volume_capability=self.cap, volume_context=self.context)

    def publish_request(self, target=None):
        return self.pb.NodePublishVolumeRequest(
            volume_id=self.id, publish_context=self.publish_context, staging_target_path=self.staging,
            target_path=target or self.target, volume_capability=self.cap, volume_context=self.context)

    def unpublish_request(self, target=None):
        return self.pb.NodeUnpublishVolumeRequest(volume_id=self.id, target_path=target or self.target)

    def unstage_request(self):
        return self.pb.NodeUnstageVolumeRequest(volume_id=self.id, staging_target_path=self.staging)

    def expand_request(self, path=None):
        return self.pb.NodeExpandVolumeRequest(volume_id=self.id, volume_path=path or self.target,
                                               staging_target_path=self.staging, volume_capability=self.cap)

    def stats_request(self, path=None):
        return self.pb.NodeGetVolumeStatsRequest(volume_id=self.id, volume_path=path or self.target)

    def stage(self):
        self.n.NodeStageVolume(self.stage_request(), timeout=60)

    def publish(self, target=None):
        self.n.NodePublishVolume(self.publish_request(target), timeout=60)

    def unpublish(self, target=None):
        self.n.NodeUnpublishVolume(self.unpublish_request(target), timeout=60)

    def unstage(self):
        self.n.NodeUnstageVolume(self.unstage_request(), timeout=60)

    def controller_expand(self, gib):
        self.s.ctl.controller.ControllerExpandVolume(self.pb.ControllerExpandVolumeRequest(
            volume_id=self.id, capacity_range=self.pb.CapacityRange(required_bytes=gib * GIB),
            volume_capability=self.cap), timeout=60)

    def loops(self):
        return nsnode.loop_devices_of(self.image)


@pytest.fixture
def stack(driver_binary, csi_pb, csi):
    """Controller on the host + node plugin in its own namespace; teardown: nothing left mounted or attached."""
    state = driverproc.DriverProcess(driver_binary, csi_pb)  # only its temp dir: the shared state directory
    state.state_dir.mkdir()
    ctl = nsnode.NamespacedDriver(driver_binary, csi_pb, state_dir=state.state_dir, node_id=None, mode="controller")
    node = nsnode.NamespacedDriver(driver_binary, csi_pb, state_dir=state.state_dir, node_id=NODE_ID)
    try:
        ctl.start()
        node.start()
        yield Stack(ctl, node, csi)
        left = node.leaks_besides_mnt()
    finally:
        node.close()
        ctl.close()
        state.cleanup()
    assert not left, f"left mounted/attached: {left}"


def test_namespace_is_the_containers(stack):
    """The harness itself: the plugin's namespace holds the state directory at /var/lib/evssnap (a bind mount the
    host does not see), and what the plugin mounts at a staging path is the host's (Bidirectional)."""
    inside = stack.node.namespace_mounts()
    assert any(line.split()[4] == nsnode.CONTAINER_STATE_DIR for line in inside.splitlines()), inside
    host = pathlib.Path("/proc/self/mountinfo").read_text()
    assert not any(line.split()[4] == nsnode.CONTAINER_STATE_DIR for line in host.splitlines())
    v = stack.volume("ns")
    v.stage()
    assert v.staging in driverproc.mounts_under(stack.node.mnt)
    assert len(v.loops()) == 1
    v.unstage()
    assert v.loops() == []


# ---------------------------------------------------------------- the three failures of issue 19


def test_second_publish_after_restart_in_new_namespace(stack):
    """Issue 19, failure 1: a second pod on a volume staged before the plugin restarted. The staging path holds
    the volume (the same image by device and inode), whatever path text the kernel now reports for it."""
    v = stack.volume("second")
    v.stage()
    v.publish()
    pathlib.Path(v.target, "data").write_text("written by the first pod")
    stack.node.restart_in_new_namespace()
    second = stack.node.path("second-target-2")
    v.publish(second)
    assert pathlib.Path(second, "data").read_text() == "written by the first pod"
    assert len(v.loops()) == 1
    v.unpublish(second)
    v.unpublish()
    v.unstage()
    assert v.loops() == []


def fs_blocks(path):
    vfs = os.statvfs(path)
    return vfs.f_blocks * vfs.f_frsize


@pytest.mark.parametrize("fs", ["ext4", "xfs"])
def test_expand_after_restart_in_new_namespace(stack, fs):
    """Issue 19, failure 2: NodeExpandVolume of a volume staged and published before the plugin restarted finds
    its loop device. xfs grows online (CAP_SYS_ADMIN); ext4 grows online with CAP_SYS_RESOURCE, and without it
    (this harness's own capabilities decide) is refused, nothing unmounted, and grows on the next stage."""
    v = stack.volume(f"grow-{fs}", fs_type=fs)
    v.stage()
    v.publish()
    before = fs_blocks(v.target)
    v.controller_expand(2)
    stack.node.restart_in_new_namespace()
    if fs == "ext4" and not has_sys_resource():
        mounts = driverproc.mounts_under(stack.node.mnt)
        expect_error(C.FAILED_PRECONDITION, v.n.NodeExpandVolume, v.expand_request(),
                     match=("CAP_SYS_RESOURCE", "grows when the volume is next staged", "nothing was unmounted"))
        assert driverproc.mounts_under(stack.node.mnt) == mounts
        v.unpublish()
        v.unstage()
        v.stage()
        v.publish()
    grown = v.n.NodeExpandVolume(v.expand_request(), timeout=120)
    assert grown.capacity_bytes == 2 * GIB
    assert fs_blocks(v.target) > 1.8 * before
    assert len(v.loops()) == 1
    v.unpublish()
    v.unstage()


def test_stage_again_after_restart_in_new_namespace(stack):
    """Issue 19, failure 3: kubelet restarted too and calls NodeStageVolume again on a volume staged before the
    plugin restarted: the same volume already staged there is success, on the same loop device."""
    v = stack.volume("restage")
    v.stage()
    before = v.loops()
    stack.node.restart_in_new_namespace()
    v.stage()
    assert v.loops() == before and len(before) == 1
    v.publish()
    v.unpublish()
    v.unstage()


def test_stats_after_restart_in_new_namespace(stack):
    """NodeGetVolumeStats of a volume staged before the restart: healthy, not "backing image is missing"."""
    v = stack.volume("stats")
    v.stage()
    v.publish()
    stack.node.restart_in_new_namespace()
    stats = v.n.NodeGetVolumeStats(v.stats_request(), timeout=30)
    assert not stats.volume_condition.abnormal, stats.volume_condition.message
    v.unpublish()
    v.unstage()


# ---------------------------------------------------------------- growing a volume in use


def test_expand_in_use_without_sys_resource_is_refused_and_grows_on_next_stage(stack):
    """ext4 in use by a workload (a file held open through the target), the plugin without CAP_SYS_RESOURCE
    (setpriv drops it from the bounding set): NodeExpandVolume is FAILED_PRECONDITION saying the resize finishes
    when the volume is next staged; no mount is touched and the workload keeps writing. Staged again, the file
    system has the new size and the data."""
    v = stack.volume("inuse")
    v.stage()
    v.publish()
    stack.node.restart_in_new_namespace(wrap=["setpriv", "--inh-caps=-sys_resource", "--bounding-set=-sys_resource", "--"])
    before = fs_blocks(v.target)
    held = open(os.path.join(v.target, "log"), "w")
    try:
        held.write("before\n")
        held.flush()
        v.controller_expand(2)
        mounts = driverproc.mounts_under(stack.node.mnt)
        details = expect_error(C.FAILED_PRECONDITION, v.n.NodeExpandVolume, v.expand_request(),
                               match=("CAP_SYS_RESOURCE", "grows when the volume is next staged"))
        assert "nothing was unmounted" in details
        assert driverproc.mounts_under(stack.node.mnt) == mounts
        assert fs_blocks(v.target) == before
        held.write("after\n")
        held.flush()
        os.fsync(held.fileno())
    finally:
        held.close()
    assert pathlib.Path(v.target, "log").read_text() == "before\nafter\n"
    # the pod stops, kubelet unstages; the next pod's stage grows the file system before mounting it
    v.unpublish()
    v.unstage()
    v.stage()
    v.publish()
    assert fs_blocks(v.target) > 1.8 * before
    assert pathlib.Path(v.target, "log").read_text() == "before\nafter\n"
    # kubelet's NodeExpandVolume after the stage: nothing left to grow, success without the capability
    assert v.n.NodeExpandVolume(v.expand_request(), timeout=60).capacity_bytes == 2 * GIB
    v.unpublish()
    v.unstage()


@pytest.mark.skipif(not has_sys_resource(), reason="this machine's root lacks CAP_SYS_RESOURCE: online ext4 growth cannot run here")
def test_expand_ext4_in_use_online_with_sys_resource(stack):
    """With CAP_SYS_RESOURCE (deploy/node.yaml grants it) an ext4 in use grows online, the workload's file open."""
    v = stack.volume("online")
    v.stage()
    v.publish()
    before = fs_blocks(v.target)
    with open(os.path.join(v.target, "log"), "w") as held:
        held.write("x")
        v.controller_expand(2)
        assert v.n.NodeExpandVolume(v.expand_request(), timeout=120).capacity_bytes == 2 * GIB
    assert fs_blocks(v.target) > 1.8 * before
    v.unpublish()
    v.unstage()


# ---------------------------------------------------------------- the namespace-restart suite
#
# Every node call of a volume's life (stage, publish, a second publish, stats with volume condition, expand,
# both unpublishes, unstage), for an ext4, an xfs and a block volume:
# 1. with the plugin started again in a new namespace between any two calls, each call made again after the
#    restart (idempotent: the same answer, the same state);
# 2. with the plugin killed in the middle of each call: SIGKILL on entering its n-th ioctl, mount, umount2,
#    mkdir, rmdir or unlink (strace attached after start-up), for n = 1, 2, ... until the call completes (or KILL_POINTS_MAX); then
#    started in a new namespace, the call made again must succeed and leave exactly the state the call makes
#    (mounts, one loop device of the image, a healthy volume condition); the call is undone (its inverse) and
#    the next kill point is tried. The strace injection applies to the tools the driver runs too (blkid,
#    mkfs, resize2fs): a tool killed makes the call fail with the driver alive, which must be retried as well.
# Counts calls, starts in a new namespace, kills (the driver killed) and failures; failures must be 0.

KILL_SYSCALLS = ("ioctl", "mount", "umount2", "mkdir", "rmdir", "unlink")
KILL_POINTS_MAX = 40
CRASH_CODES = {C.UNAVAILABLE, C.CANCELLED, C.UNKNOWN}


class Tally:
    def __init__(self):
        self.calls = 0
        self.tool_kills = 0
        self.capped = []
        self.failures = []

    def summary(self, node):
        return (f"calls={self.calls} restarts={node.starts} kills={node.kills} tool_kills={self.tool_kills} "
                f"failures={len(self.failures)}" + (f" capped={self.capped}" if self.capped else ""))


class Life:
    """One volume's node calls, the state each leaves, and each call's inverse."""

    def __init__(self, stack, tally, fs):
        self.s, self.t, self.fs = stack, tally, fs
        self.block = fs == "block"
        self.v = stack.volume(f"life-{fs}", block=self.block, fs_type="" if self.block else fs)
        self.a = self.v.target
        self.b = stack.node.path(f"life-{fs}-target-2")
        self.staged = False
        self.published = set()
        self.gib = 1
        self.marked = False  # a file written through the first target, checked at every target since

    # each call: makes the RPC (counted), returns None or raises grpc.RpcError / AssertionError
    def rpc(self, method, request, timeout=120):
        self.t.calls += 1
        return getattr(self.v.n, method)(request, timeout=timeout)

    def stats_ok(self, path):
        stats = self.rpc("NodeGetVolumeStats", self.v.stats_request(path), timeout=30)
        assert not stats.volume_condition.abnormal, f"{path}: {stats.volume_condition.message}"

    def ext4_refused(self):
        return self.fs == "ext4" and not has_sys_resource()

    def expand(self):
        try:
            response = self.rpc("NodeExpandVolume", self.v.expand_request(self.a))
        except grpc.RpcError as error:
            if self.ext4_refused() and error.code() == C.FAILED_PRECONDITION and "next staged" in error.details():
                return
            raise
        assert response.capacity_bytes == self.gib * GIB, response

    def steps(self):
        v = self.v
        return [
            ("stage", lambda: self.rpc("NodeStageVolume", v.stage_request()),
             lambda: self.rpc("NodeUnstageVolume", v.unstage_request()), ("staged", True)),
            ("publish", lambda: self.rpc("NodePublishVolume", v.publish_request(self.a)),
             lambda: self.rpc("NodeUnpublishVolume", v.unpublish_request(self.a)), ("add", self.a)),
            ("second publish", lambda: self.rpc("NodePublishVolume", v.publish_request(self.b)),
             lambda: self.rpc("NodeUnpublishVolume", v.unpublish_request(self.b)), ("add", self.b)),
            ("stats", lambda: self.stats_ok(self.a), None, None),
            ("expand", self.expand, None, ("expand", None)),
            ("unpublish", lambda: self.rpc("NodeUnpublishVolume", v.unpublish_request(self.a)),
             lambda: self.rpc("NodePublishVolume", v.publish_request(self.a)), ("remove", self.a)),
            ("second unpublish", lambda: self.rpc("NodeUnpublishVolume", v.unpublish_request(self.b)),
             lambda: self.rpc("NodePublishVolume", v.publish_request(self.b)), ("remove", self.b)),
            ("unstage", lambda: self.rpc("NodeUnstageVolume", v.unstage_request()),
             lambda: self.rpc("NodeStageVolume", v.stage_request()), ("staged", False)),
        ]

    def apply(self, effect):
        if effect is None:
            return
        kind, value = effect
        if kind == "staged":
            self.staged = value
        elif kind == "add":
            self.published.add(value)
        elif kind == "remove":
            self.published.discard(value)

    def grow_disk(self):
        """ControllerExpandVolume by 1 GiB, so that the next NodeExpandVolume has something to do."""
        self.gib += 1
        self.v.controller_expand(self.gib)

    def check(self, label):
        """The state the calls so far make: exactly these mounts, one loop device of the image while staged,
        none after; a healthy condition at each target; the volume's data file intact."""
        node = self.s.node
        staging = self.v.staging + ("/block" if self.block else "")
        want = ({staging} if self.staged else set()) | self.published
        mine = {self.v.staging, staging, self.a, self.b}
        got = [m for m in driverproc.mounts_under(node.mnt) if m in mine]
        problems = []
        if sorted(got) != sorted(want):
            problems.append(f"mounts {sorted(got)}, want {sorted(want)}")
        loops = self.v.loops()
        if len(loops) != (1 if self.staged else 0):
            problems.append(f"loop devices of the image {loops}, want {1 if self.staged else 0}")
        for target in sorted(self.published):
            if self.marked and not pathlib.Path(target, "mark").is_file():
                problems.append(f"{target}/mark lost")
        if problems:
            self.t.failures.append(f"{self.fs} {label}: " + "; ".join(problems))


def run_step(life, node, name, do, label):
    """Runs `do` on a freshly started plugin; failures are recorded, not raised."""
    try:
        do()
        return True
    except (grpc.RpcError, AssertionError) as error:
        detail = f"{error.code()}: {error.details()}" if isinstance(error, grpc.RpcError) else str(error)
        life.t.failures.append(f"{life.fs} {label}: {name} failed: {detail}\n{node.log()[-1500:]}")
        return False


def advance(life, node, name, do, effect, label):
    """Carries out one step of the volume's life (the disk grown first for expand), then applies its effect, marks
    the published file system and checks the state; False when the call failed (recorded)."""
    if name == "expand":
        life.grow_disk()
    if not run_step(life, node, name, do, label):
        return False
    life.apply(effect)
    if name == "publish" and not life.block:
        pathlib.Path(life.a, "mark").write_text("life")
        life.marked = True
    life.check(f"after {name}")
    return True


@pytest.mark.parametrize("fs", ["ext4", "xfs", "block"])
def test_every_node_call_across_restarts_in_new_namespaces(stack, fs):
    """Part 1: the plugin started again in a new namespace between any two calls; every call made again after the
    restart succeeds and changes nothing."""
    tally = Tally()
    life = Life(stack, tally, fs)
    node = stack.node
    for name, do, _undo, effect in life.steps():
        if not advance(life, node, name, do, effect, f"{name}"):
            break
        node.restart_in_new_namespace()
        if not run_step(life, node, name, do, f"{name} again after a restart"):
            break
        life.check(f"after {name} again after a restart")
        node.restart_in_new_namespace()
    print(f"\nnamespace-restart suite, restarts, {fs}: {tally.summary(node)}")
    assert not tally.failures, "\n".join(tally.failures)


@pytest.mark.skipif(shutil.which("strace") is None, reason="strace is not installed (make deps installs it)")
@pytest.mark.parametrize("fs", ["ext4", "xfs", "block"])
def test_every_node_call_killed_in_the_middle(stack, fs):
    """Part 2: the plugin killed at each system call of each node call, started again in a new namespace, and the
    call retried: it succeeds and leaves what the call makes; then undone, and the next kill point tried."""
    tally = Tally()
    life = Life(stack, tally, fs)
    node = stack.node
    for name, do, undo, effect in life.steps():
        for syscall in KILL_SYSCALLS:
            for n in range(1, KILL_POINTS_MAX + 1):
                if name == "expand":
                    life.grow_disk()
                label = f"{name} killed at {syscall} #{n}"
                completed = False
                node.restart_in_new_namespace()
                killer = node.killer(syscall, n)
                try:
                    do()
                    completed = True
                except grpc.RpcError as error:
                    if error.code() in CRASH_CODES:
                        if not node.died():
                            tally.failures.append(f"{fs} {label}: {error.code()} but the plugin is alive")
                    else:
                        tally.tool_kills += 1  # a tool the plugin ran was killed: the call failed, plugin alive
                except AssertionError as error:
                    tally.failures.append(f"{fs} {label}: {error}")
                finally:
                    killer.close()
                if completed and node.proc.poll() is not None:
                    node.died()  # killed after answering (a later system call of the call's thread)
                node.restart_in_new_namespace()
                if not run_step(life, node, name, do, f"retry after {label}"):
                    break
                applied_before = (life.staged, set(life.published))
                life.apply(effect)
                life.check(f"after retry after {label}")
                if undo is not None:
                    if not run_step(life, node, f"undo of {name}", undo, f"undo after {label}"):
                        break
                    life.staged, life.published = applied_before
                    life.check(f"after undo after {label}")
                if completed:
                    break
            else:
                tally.capped.append(f"{name}/{syscall}")
            if tally.failures:
                break
        if tally.failures:
            break
        # advance to the state after this call
        if not advance(life, node, name, do, effect, f"{name} (advance)"):
            break
    print(f"\nnamespace-restart suite, kills, {fs}: {tally.summary(node)}")
    assert not tally.failures, tally.summary(node) + "\n" + "\n".join(tally.failures[:5])
