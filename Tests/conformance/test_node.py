"""CSI Node conformance of evs-csi-driver: real loop devices, file systems and bind mounts.

Needs root and /dev/loop-control (skipped otherwise, with the reason). Every test ends with nothing
mounted or loop-attached under the driver's temp dir or state dir (checked by the `start_driver`
fixture's teardown, and explicitly with /proc/self/mountinfo and `losetup -a` in the full cycle).
"""
import errno
import os
import pathlib

import grpc
import pytest

import driverproc
from csihelp import GIB, ZONE_KEY, expect_error, has_sys_resource

C = grpc.StatusCode


def _loop_reason():
    if os.geteuid() != 0:
        return "needs root (loop devices and mounts)"
    if not os.path.exists("/dev/loop-control"):
        return "/dev/loop-control is missing (no loop device support)"
    return None


needs_loop = pytest.mark.skipif(_loop_reason() is not None, reason=_loop_reason() or "")


class Vol:
    """A created + ControllerPublished volume and its node paths."""

    def __init__(self, d, csi, name, gib=1, params=None, block=False, fs_type="", mode="SINGLE_NODE_WRITER",
                 readonly_attach=False, snapshot=None):
        self.d, self.csi, self.pb = d, csi, csi.pb
        self.cap = csi.cap(mode, block=block, fs_type=fs_type)
        self.volume = csi.create(d.controller, name, gib, params=params, caps=[self.cap], snapshot=snapshot)
        self.id = self.volume.volume_id
        self.context = dict(self.volume.volume_context)
        self.publish_context = dict(d.controller.ControllerPublishVolume(self.pb.ControllerPublishVolumeRequest(
            volume_id=self.id, node_id=d.node_id, volume_capability=self.cap, readonly=readonly_attach,
            volume_context=self.context)).publish_context)
        self.staging = d.path(f"{name}-staging")
        self.target = d.path(f"{name}-target")

    def stage_request(self, **overrides):
        fields = dict(volume_id=self.id, publish_context=self.publish_context, staging_target_path=self.staging,
                      volume_capability=self.cap, volume_context=self.context)
        fields.update(overrides)
        return self.pb.NodeStageVolumeRequest(**{k: v for k, v in fields.items() if v is not None})

    def stage(self, **overrides):
        self.d.node.NodeStageVolume(self.stage_request(**overrides), timeout=60)

    def publish_request(self, readonly=False, target=None, **overrides):
        fields = dict(volume_id=self.id, publish_context=self.publish_context, staging_target_path=self.staging,
                      target_path=target or self.target, volume_capability=self.cap, readonly=readonly,
                      volume_context=self.context)
        fields.update(overrides)
        return self.pb.NodePublishVolumeRequest(**{k: v for k, v in fields.items() if v is not None})

    def publish(self, readonly=False, target=None, **overrides):
        self.d.node.NodePublishVolume(self.publish_request(readonly, target, **overrides), timeout=60)

    def unpublish(self, target=None):
        self.d.node.NodeUnpublishVolume(self.pb.NodeUnpublishVolumeRequest(
            volume_id=self.id, target_path=target or self.target), timeout=60)

    def unstage(self):
        self.d.node.NodeUnstageVolume(self.pb.NodeUnstageVolumeRequest(
            volume_id=self.id, staging_target_path=self.staging), timeout=60)

    def detach(self):
        self.d.controller.ControllerUnpublishVolume(self.pb.ControllerUnpublishVolumeRequest(
            volume_id=self.id, node_id=self.d.node_id))

    def teardown(self, targets=()):
        for target in (*targets, self.target):
            self.unpublish(target)
        self.unstage()
        self.detach()


def mount_entry(path):
    """(fstype, options) of the topmost mount at `path`, or None."""
    found = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            parts = line.split()
            if driverproc._unescape(parts[4]) == str(path):
                sep = parts.index("-")
                found = (parts[sep + 1], parts[5])
    return found


# ---------------------------------------------------------------- info and capabilities (no privileges needed)


def test_node_get_info(start_driver, pb):
    d = start_driver(node_id="worker-1", zones=["cn-north-4/cn-north-4b", "cn-north-4/cn-north-4a"],
                     extra_args=["--max-volumes-per-node", "23"])
    info = d.node.NodeGetInfo(pb.NodeGetInfoRequest())
    assert info.node_id == "worker-1"
    assert info.max_volumes_per_node == 23
    assert dict(info.accessible_topology.segments) == {ZONE_KEY: "cn-north-4b"}


def test_node_get_info_defaults(driver, pb):
    info = driver.node.NodeGetInfo(pb.NodeGetInfoRequest())
    assert info.node_id == "node-1" and info.max_volumes_per_node == 59
    assert dict(info.accessible_topology.segments) == {ZONE_KEY: "cn-north-4a"}


def test_node_get_capabilities(driver, pb):
    RPC = pb.NodeServiceCapability.RPC.Type
    caps = driver.node.NodeGetCapabilities(pb.NodeGetCapabilitiesRequest()).capabilities
    names = [RPC.Name(c.rpc.type) for c in caps]
    assert sorted(names) == sorted(["STAGE_UNSTAGE_VOLUME", "GET_VOLUME_STATS", "EXPAND_VOLUME", "VOLUME_CONDITION",
                                    "SINGLE_NODE_MULTI_WRITER"])


# ---------------------------------------------------------------- errors per spec


@needs_loop
def test_stage_errors(driver, csi, pb):
    v = Vol(driver, csi, "st")
    expect_error(C.INVALID_ARGUMENT, driver.node.NodeStageVolume, v.stage_request(volume_id=""))
    expect_error(C.INVALID_ARGUMENT, driver.node.NodeStageVolume, v.stage_request(staging_target_path=""))
    expect_error(C.INVALID_ARGUMENT, driver.node.NodeStageVolume, v.stage_request(volume_capability=None))
    expect_error(C.NOT_FOUND, driver.node.NodeStageVolume, v.stage_request(volume_id="no-such-volume"))
    expect_error(C.INVALID_ARGUMENT, driver.node.NodeStageVolume,
                 v.stage_request(volume_capability=csi.cap(fs_type="vfat")))
    expect_error(C.INVALID_ARGUMENT, driver.node.NodeUnstageVolume, pb.NodeUnstageVolumeRequest(
        staging_target_path=v.staging))
    expect_error(C.INVALID_ARGUMENT, driver.node.NodeUnstageVolume, pb.NodeUnstageVolumeRequest(volume_id=v.id))
    # nothing staged: unstage is a no-op success
    v.unstage()
    v.detach()


@needs_loop
def test_publish_errors(driver, csi, pb):
    v = Vol(driver, csi, "pe")
    expect_error(C.FAILED_PRECONDITION, driver.node.NodePublishVolume, v.publish_request())  # before stage
    v.stage()
    expect_error(C.INVALID_ARGUMENT, driver.node.NodePublishVolume, v.publish_request(volume_id=""))
    expect_error(C.INVALID_ARGUMENT, driver.node.NodePublishVolume, v.publish_request(target_path=""))
    expect_error(C.INVALID_ARGUMENT, driver.node.NodePublishVolume, v.publish_request(staging_target_path=""))
    expect_error(C.INVALID_ARGUMENT, driver.node.NodePublishVolume, v.publish_request(volume_capability=None))
    expect_error(C.NOT_FOUND, driver.node.NodePublishVolume, v.publish_request(volume_id="no-such-volume"))
    expect_error(C.INVALID_ARGUMENT, driver.node.NodeUnpublishVolume, pb.NodeUnpublishVolumeRequest(
        target_path=v.target))
    expect_error(C.INVALID_ARGUMENT, driver.node.NodeUnpublishVolume, pb.NodeUnpublishVolumeRequest(volume_id=v.id))
    assert not os.path.exists(v.target)
    # not published: unpublish is a no-op success
    v.unpublish()
    v.unstage()
    v.detach()


@needs_loop
def test_stats_and_expand_errors(driver, csi, pb):
    v = Vol(driver, csi, "se")
    expect_error(C.INVALID_ARGUMENT, driver.node.NodeGetVolumeStats, pb.NodeGetVolumeStatsRequest(volume_id=v.id))
    expect_error(C.INVALID_ARGUMENT, driver.node.NodeGetVolumeStats, pb.NodeGetVolumeStatsRequest(volume_path=v.target))
    expect_error(C.NOT_FOUND, driver.node.NodeGetVolumeStats, pb.NodeGetVolumeStatsRequest(
        volume_id="no-such-volume", volume_path=str(driver.mnt)))
    expect_error(C.NOT_FOUND, driver.node.NodeGetVolumeStats, pb.NodeGetVolumeStatsRequest(
        volume_id=v.id, volume_path=v.target))  # path does not exist
    expect_error(C.INVALID_ARGUMENT, driver.node.NodeExpandVolume, pb.NodeExpandVolumeRequest(volume_id=v.id))
    expect_error(C.INVALID_ARGUMENT, driver.node.NodeExpandVolume, pb.NodeExpandVolumeRequest(volume_path=v.target))
    expect_error(C.NOT_FOUND, driver.node.NodeExpandVolume, pb.NodeExpandVolumeRequest(
        volume_id="no-such-volume", volume_path=str(driver.mnt)))
    v.detach()


@needs_loop
def test_staging_path_used_by_another_volume_is_refused(driver, csi):
    a = Vol(driver, csi, "a")
    b = Vol(driver, csi, "b")
    a.stage()
    expect_error((C.ALREADY_EXISTS, C.FAILED_PRECONDITION), driver.node.NodeStageVolume,
                 b.stage_request(staging_target_path=a.staging))
    a.unstage()
    a.detach()
    b.detach()


# ---------------------------------------------------------------- idempotency, read-only, block, xfs


@needs_loop
def test_stage_publish_unpublish_unstage_are_idempotent(driver, csi):
    v = Vol(driver, csi, "idem")
    v.stage()
    v.stage()
    assert mount_entry(v.staging)[0] == "ext4"
    v.publish()
    v.publish()
    pathlib.Path(v.target, "hello").write_text("world")
    assert pathlib.Path(v.staging, "hello").read_text() == "world"
    v.unpublish()
    v.unpublish()
    assert not os.path.exists(v.target)
    v.unstage()
    v.unstage()
    assert mount_entry(v.staging) is None
    assert not driverproc.loop_devices_under(driver.state_dir)
    v.detach()


@needs_loop
def test_read_only_publish(driver, csi):
    v = Vol(driver, csi, "ro")
    v.stage()
    v.publish()
    pathlib.Path(v.target, "f").write_text("data")
    ro_target = driver.path("ro-target-2")
    v.publish(readonly=True, target=ro_target)
    assert "ro" in mount_entry(ro_target)[1].split(",")
    assert pathlib.Path(ro_target, "f").read_text() == "data"
    with pytest.raises(OSError) as raised:
        pathlib.Path(ro_target, "g").write_text("x")
    assert raised.value.errno == errno.EROFS
    # CSI: the same target with an incompatible read-only state is ALREADY_EXISTS
    expect_error(C.ALREADY_EXISTS, driver.node.NodePublishVolume, v.publish_request(readonly=False, target=ro_target))
    v.teardown(targets=[ro_target])


@needs_loop
@pytest.mark.parametrize("block", [False, True], ids=["mount", "block"])
def test_single_node_single_writer_refuses_a_second_target(driver, csi, block):
    """CSI: a SINGLE_NODE_SINGLE_WRITER volume already published at one target path is FAILED_PRECONDITION at
    another, and no second mount is made; the same target stays idempotent; once unpublished, another target
    works. SINGLE_NODE_MULTI_WRITER allows several targets on the node."""
    v = Vol(driver, csi, "snsw" + ("b" if block else "m"), block=block, mode="SINGLE_NODE_SINGLE_WRITER")
    v.stage()
    v.publish()
    v.publish()
    second = v.target + "-2"
    before = driverproc.mounts_under(driver.tmp)
    details = expect_error(C.FAILED_PRECONDITION, driver.node.NodePublishVolume, v.publish_request(target=second))
    assert "SINGLE_NODE_SINGLE_WRITER" in details and v.target in details
    assert driverproc.mounts_under(driver.tmp) == before and not os.path.exists(second)
    # the read-only publish of a block volume uses another loop device of the same image: refused all the same
    expect_error(C.FAILED_PRECONDITION, driver.node.NodePublishVolume, v.publish_request(readonly=True, target=second))
    v.unpublish()
    v.publish(target=second)
    v.unpublish(target=second)
    multi = csi.cap("SINGLE_NODE_MULTI_WRITER", block=block)
    v.publish(volume_capability=multi)
    v.publish(target=second, volume_capability=multi)
    v.teardown(targets=[second])


@needs_loop
def test_read_only_attach_of_a_blank_disk_cannot_be_formatted(driver, csi):
    v = Vol(driver, csi, "roblank", readonly_attach=True)
    expect_error(C.FAILED_PRECONDITION, driver.node.NodeStageVolume, v.stage_request())
    assert mount_entry(v.staging) is None
    v.detach()


@needs_loop
def test_read_only_attach_stages_read_only(driver, csi, pb):
    """ControllerPublishVolume.readonly (what PUBLISH_READONLY advertises) reaches the node: the disk is
    staged read-only, its files are readable and writes fail."""
    v = Vol(driver, csi, "roattach")
    v.stage()
    v.publish()
    pathlib.Path(v.target, "kept").write_text("written rw")
    v.teardown()
    v.publish_context = dict(driver.controller.ControllerPublishVolume(pb.ControllerPublishVolumeRequest(
        volume_id=v.id, node_id=driver.node_id, volume_capability=csi.cap("SINGLE_NODE_READER_ONLY"),
        readonly=True)).publish_context)
    v.cap = csi.cap("SINGLE_NODE_READER_ONLY")
    v.stage()
    assert "ro" in mount_entry(v.staging)[1].split(",")
    v.publish(readonly=True)
    assert pathlib.Path(v.target, "kept").read_text() == "written rw"
    with pytest.raises(OSError) as raised:
        pathlib.Path(v.target, "new").write_text("x")
    assert raised.value.errno == errno.EROFS
    v.teardown()


@needs_loop
def test_block_access(driver, csi):
    v = Vol(driver, csi, "blk", block=True)
    v.stage()
    v.stage()
    v.publish()
    v.publish()
    payload = os.urandom(8192)
    fd = os.open(v.target, os.O_RDWR)
    try:
        assert os.lseek(fd, 0, os.SEEK_END) == GIB
        os.pwrite(fd, payload, 1 << 20)
        os.fsync(fd)
    finally:
        os.close(fd)
    with open(driver.disk_image(v.id), "rb") as image:
        image.seek(1 << 20)
        assert image.read(8192) == payload
    stats = driver.node.NodeGetVolumeStats(v.pb.NodeGetVolumeStatsRequest(volume_id=v.id, volume_path=v.target))
    assert [u.total for u in stats.usage] == [GIB]
    # read-only block publish: writes fail
    ro_target = driver.path("blk-ro")
    v.publish(readonly=True, target=ro_target)
    fd = os.open(ro_target, os.O_RDONLY)
    try:
        assert os.pread(fd, 8192, 1 << 20) == payload
    finally:
        os.close(fd)
    with pytest.raises(OSError):
        fd = os.open(ro_target, os.O_WRONLY)
        try:
            os.pwrite(fd, b"x" * 512, 0)
            os.fsync(fd)
        finally:
            os.close(fd)
    v.teardown(targets=[ro_target])
    assert not os.path.exists(v.target)


@needs_loop
def test_xfs(driver, csi, pb):
    v = Vol(driver, csi, "xfs", params={"csi.storage.k8s.io/fstype": "xfs"}, fs_type="xfs")
    v.stage()
    assert mount_entry(v.staging)[0] == "xfs"
    v.publish()
    pathlib.Path(v.target, "x").write_bytes(b"xfs data")
    stats = driver.node.NodeGetVolumeStats(pb.NodeGetVolumeStatsRequest(volume_id=v.id, volume_path=v.target))
    units = {pb.VolumeUsage.Unit.Name(u.unit): u for u in stats.usage}
    assert 0.8 * GIB < units["BYTES"].total <= GIB
    v.teardown()
    # restage: the file system is found, not remade
    v2 = v
    v2.stage()
    v2.publish()
    assert pathlib.Path(v.target, "x").read_bytes() == b"xfs data"
    v.teardown()


@needs_loop
def test_fs_type_from_volume_context_when_capability_has_none(driver, csi):
    v = Vol(driver, csi, "ctxfs", params={"csi.storage.k8s.io/fstype": "xfs"})
    v.stage()
    assert mount_entry(v.staging)[0] == "xfs"
    v.unstage()
    v.detach()


@needs_loop
def test_node_get_volume_stats(driver, csi, pb):
    v = Vol(driver, csi, "stats")
    v.stage()
    v.publish()
    pathlib.Path(v.target, "blob").write_bytes(os.urandom(4 << 20))
    os.sync()
    stats = driver.node.NodeGetVolumeStats(pb.NodeGetVolumeStatsRequest(volume_id=v.id, volume_path=v.target))
    units = {pb.VolumeUsage.Unit.Name(u.unit): u for u in stats.usage}
    assert set(units) == {"BYTES", "INODES"}
    b = units["BYTES"]
    assert 0.8 * GIB < b.total <= GIB and b.used >= 4 << 20 and 0 < b.available < b.total
    assert units["INODES"].total > 0 and units["INODES"].used > 0
    assert not stats.volume_condition.abnormal
    # the staging path works too
    staged = driver.node.NodeGetVolumeStats(pb.NodeGetVolumeStatsRequest(volume_id=v.id, volume_path=v.staging))
    assert {pb.VolumeUsage.Unit.Name(u.unit) for u in staged.usage} == {"BYTES", "INODES"}
    v.teardown()


@needs_loop
@pytest.mark.parametrize("fs", ["ext4", "xfs"])
def test_node_expand_after_controller_expand(driver, csi, pb, fs):
    v = Vol(driver, csi, f"grow-{fs}", params={"csi.storage.k8s.io/fstype": fs}, fs_type=fs)
    v.stage()
    v.publish()
    pathlib.Path(v.target, "keep").write_text("kept")
    before = os.statvfs(v.target)
    response = driver.controller.ControllerExpandVolume(pb.ControllerExpandVolumeRequest(
        volume_id=v.id, capacity_range=pb.CapacityRange(required_bytes=2 * GIB), volume_capability=v.cap))
    assert response.capacity_bytes == 2 * GIB and response.node_expansion_required
    if fs == "ext4" and not has_sys_resource():
        # a mounted ext4 grows only with CAP_SYS_RESOURCE: refused, nothing unmounted, grown by the next stage
        expect_error(C.FAILED_PRECONDITION, driver.node.NodeExpandVolume, pb.NodeExpandVolumeRequest(
            volume_id=v.id, volume_path=v.target, staging_target_path=v.staging, volume_capability=v.cap),
            match=("CAP_SYS_RESOURCE", "next staged"))
        assert mount_entry(v.target) is not None and mount_entry(v.staging) is not None
        v.unpublish()
        v.unstage()
        v.stage()
        v.publish()
    grown = driver.node.NodeExpandVolume(pb.NodeExpandVolumeRequest(
        volume_id=v.id, volume_path=v.target, staging_target_path=v.staging, volume_capability=v.cap,
        capacity_range=pb.CapacityRange(required_bytes=2 * GIB)))
    assert grown.capacity_bytes >= 2 * GIB - (64 << 20)
    after = os.statvfs(v.target)
    assert after.f_blocks * after.f_frsize > 1.8 * before.f_blocks * before.f_frsize
    assert pathlib.Path(v.target, "keep").read_text() == "kept"
    # idempotent
    driver.node.NodeExpandVolume(pb.NodeExpandVolumeRequest(volume_id=v.id, volume_path=v.target))
    v.teardown()


# ---------------------------------------------------------------- the full cycle


@needs_loop
def test_full_cycle_snapshot_restore_through_mounts(driver, csi, pb):
    """Create, attach, stage, publish, write files, sync, snapshot (R4: in-use is allowed), overwrite,
    restore (R7: a new disk), attach/stage/publish the restored disk and read the original files back;
    then tear everything down and check mountinfo and `losetup -a`."""
    files = {f"dir/file-{i}.bin": os.urandom(1000 + 4096 * i) for i in range(5)}
    files["notes.txt"] = b"original notes\n"

    src = Vol(driver, csi, "src")
    src.stage()
    src.publish()
    for name, data in files.items():
        path = pathlib.Path(src.target, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    os.sync()

    snap = csi.snapshot(driver.controller, "snap-full", src.id)
    assert snap.ready_to_use and snap.size_bytes == GIB

    for name in files:
        pathlib.Path(src.target, name).write_bytes(b"overwritten")
    pathlib.Path(src.target, "new-after-snapshot").write_text("not in the snapshot")
    os.sync()

    restored = Vol(driver, csi, "restored", snapshot=snap.snapshot_id)
    assert restored.volume.content_source.snapshot.snapshot_id == snap.snapshot_id
    restored.stage()
    restored.publish()
    for name, data in files.items():
        assert pathlib.Path(restored.target, name).read_bytes() == data, name
    assert not pathlib.Path(restored.target, "new-after-snapshot").exists()
    # the source still has its own (overwritten) data: two independent disks
    assert pathlib.Path(src.target, "notes.txt").read_bytes() == b"overwritten"
    pathlib.Path(restored.target, "notes.txt").write_bytes(b"changed on the restored disk")
    assert pathlib.Path(src.target, "notes.txt").read_bytes() == b"overwritten"

    restored.teardown()
    src.teardown()
    for vol in (src, restored):
        got = driver.controller.ControllerGetVolume(pb.ControllerGetVolumeRequest(volume_id=vol.id))
        assert not got.status.published_node_ids
    assert driverproc.mounts_under(driver.tmp) == []
    assert driverproc.mounts_under(driver.state_dir) == []
    assert driverproc.losetup_a_under(driver.state_dir) == []
    assert driverproc.loop_devices_under(driver.state_dir) == []
    # everything can be deleted now (R13: snapshot first)
    driver.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=restored.id))
    driver.controller.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=snap.snapshot_id))
    driver.controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=src.id))


# ---------------------------------------------------------------- restarts and split deployments


@needs_loop
def test_mounts_survive_a_driver_restart_and_are_cleaned_up_after(start_driver, csi, pb):
    """A node plugin restart (SIGTERM, start on the same state dir) must not take down staged/published
    volumes; the restarted driver answers the repeated calls idempotently and tears them down."""
    driver = start_driver()
    v = Vol(driver, csi, "survive")
    v.stage()
    v.publish()
    pathlib.Path(v.target, "f").write_text("before restart")
    driver.restart()
    assert driver.exit_codes == [0]
    assert mount_entry(v.staging) is not None and mount_entry(v.target) is not None
    assert pathlib.Path(v.target, "f").read_text() == "before restart"
    v.stage()
    v.publish()
    stats = driver.node.NodeGetVolumeStats(pb.NodeGetVolumeStatsRequest(volume_id=v.id, volume_path=v.target))
    assert not stats.volume_condition.abnormal
    v.teardown()


@needs_loop
def test_mount_flags_reach_the_mounts(driver, csi):
    v = Vol(driver, csi, "flags")
    v.cap = csi.cap(flags=["noatime"])
    v.stage()
    assert "noatime" in mount_entry(v.staging)[1].split(",")
    v.cap = csi.cap(flags=["noexec", "nodev"])
    v.publish()
    options = mount_entry(v.target)[1].split(",")
    assert "noexec" in options and "nodev" in options
    v.teardown()


@needs_loop
def test_publish_with_another_volumes_staging_path_is_refused(driver, csi):
    """NodePublishVolume names a volume; the staging path it is given must hold that volume, or a pod
    would get another volume's data under this volume's name."""
    a = Vol(driver, csi, "mine")
    b = Vol(driver, csi, "other")
    a.stage()
    pathlib.Path(a.staging, "secret").write_text("a's data")
    try:
        expect_error((C.FAILED_PRECONDITION, C.INVALID_ARGUMENT, C.ALREADY_EXISTS), driver.node.NodePublishVolume,
                     b.publish_request(staging_target_path=a.staging))
    finally:
        b.unpublish()
        a.unstage()
        a.detach()
        b.detach()


@needs_loop
def test_split_controller_and_node_processes(start_driver, csi, pb):
    """The real deployment: a controller process (--mode controller) and a node plugin (--mode node) on the same
    state directory (deploy/: one hostPath), which the node reads images from but never opens as a database.
    Stage/publish/stats/expand/unpublish/unstage through the node process."""
    ctl = start_driver(mode="controller", node_id=None)
    # the node plugin shares the controller's state dir (deploy/ mounts one hostPath in both) and registers there
    node = start_driver(mode="node", node_id="worker-1", state_dir=ctl.state_dir)
    assert driverproc.registered_nodes(ctl.state_dir) == ["worker-1"]
    cap = csi.cap()
    volume = csi.create(ctl.controller, "split", 1, caps=[cap])
    context = dict(ctl.controller.ControllerPublishVolume(pb.ControllerPublishVolumeRequest(
        volume_id=volume.volume_id, node_id="worker-1", volume_capability=cap)).publish_context)
    staging, target = node.path("split-staging"), node.path("split-target")
    node.node.NodeStageVolume(pb.NodeStageVolumeRequest(
        volume_id=volume.volume_id, publish_context=context, staging_target_path=staging, volume_capability=cap,
        volume_context=dict(volume.volume_context)))
    node.node.NodePublishVolume(pb.NodePublishVolumeRequest(
        volume_id=volume.volume_id, publish_context=context, staging_target_path=staging, target_path=target,
        volume_capability=cap))
    pathlib.Path(target, "f").write_text("split")
    stats = node.node.NodeGetVolumeStats(pb.NodeGetVolumeStatsRequest(volume_id=volume.volume_id, volume_path=target))
    assert not stats.volume_condition.abnormal
    # a publish context naming another file is refused (the node takes the image from the id and its state)
    expect_error(C.INVALID_ARGUMENT, node.node.NodeStageVolume,
                 pb.NodeStageVolumeRequest(volume_id=volume.volume_id, staging_target_path=node.path("x"),
                                           volume_capability=cap,
                                           publish_context={"evssnap.io/device-path": str(node.tmp / "other.img")}))
    try:
        ctl.controller.ControllerExpandVolume(pb.ControllerExpandVolumeRequest(
            volume_id=volume.volume_id, capacity_range=pb.CapacityRange(required_bytes=2 * GIB), volume_capability=cap))
        if not has_sys_resource():
            # a mounted ext4 grows only with CAP_SYS_RESOURCE: refused, and grown by the next stage
            expect_error(C.FAILED_PRECONDITION, node.node.NodeExpandVolume, pb.NodeExpandVolumeRequest(
                volume_id=volume.volume_id, volume_path=target, staging_target_path=staging, volume_capability=cap),
                match="next staged")
            node.node.NodeUnpublishVolume(pb.NodeUnpublishVolumeRequest(volume_id=volume.volume_id, target_path=target))
            node.node.NodeUnstageVolume(pb.NodeUnstageVolumeRequest(volume_id=volume.volume_id,
                                                                    staging_target_path=staging))
            node.node.NodeStageVolume(pb.NodeStageVolumeRequest(
                volume_id=volume.volume_id, publish_context=context, staging_target_path=staging,
                volume_capability=cap, volume_context=dict(volume.volume_context)))
            node.node.NodePublishVolume(pb.NodePublishVolumeRequest(
                volume_id=volume.volume_id, publish_context=context, staging_target_path=staging, target_path=target,
                volume_capability=cap))
        # NodeExpandVolumeRequest carries no publish context: the node finds the disk from the volume path
        grown = node.node.NodeExpandVolume(pb.NodeExpandVolumeRequest(
            volume_id=volume.volume_id, volume_path=target, staging_target_path=staging, volume_capability=cap,
            capacity_range=pb.CapacityRange(required_bytes=2 * GIB)))
        assert grown.capacity_bytes >= 2 * GIB - (64 << 20)
        assert os.statvfs(target).f_blocks * os.statvfs(target).f_frsize > 1.5 * GIB
    finally:
        node.node.NodeUnpublishVolume(pb.NodeUnpublishVolumeRequest(volume_id=volume.volume_id, target_path=target))
        node.node.NodeUnstageVolume(pb.NodeUnstageVolumeRequest(volume_id=volume.volume_id,
                                                                staging_target_path=staging))
    assert driverproc.loop_devices_under(ctl.state_dir) == []
    ctl.controller.ControllerUnpublishVolume(pb.ControllerUnpublishVolumeRequest(
        volume_id=volume.volume_id, node_id="worker-1"))


@needs_loop
def test_concurrent_stage_and_publish_of_one_volume(driver, csi):
    """Parallel NodeStage (and then NodePublish) calls for one volume: each succeeds or is ABORTED, and the
    volume ends up mounted exactly once at the staging path and once at the target, on one loop device."""
    import threading

    v = Vol(driver, csi, "par")

    def parallel(call, request):
        barrier = threading.Barrier(4)
        codes = []

        def run():
            barrier.wait()
            try:
                call(request, timeout=60)
                codes.append(C.OK)
            except grpc.RpcError as error:
                codes.append(error.code())

        threads = [threading.Thread(target=run) for _ in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        assert C.OK in codes and set(codes) <= {C.OK, C.ABORTED}, codes

    parallel(driver.node.NodeStageVolume, v.stage_request())
    parallel(driver.node.NodePublishVolume, v.publish_request())
    mounts = driverproc.mounts_under(driver.mnt)
    assert mounts.count(v.staging) == 1 and mounts.count(v.target) == 1, mounts
    assert len(driverproc.loop_devices_under(driver.state_dir)) == 1
    v.teardown()


@needs_loop
def test_existing_file_system_is_never_reformatted(driver, csi):
    """A disk with an ext4 file system staged for xfs is refused (FAILED_PRECONDITION), and its data is intact."""
    v = Vol(driver, csi, "keepfs")
    v.stage()
    pathlib.Path(v.staging, "precious").write_text("data")
    v.unstage()
    expect_error(C.FAILED_PRECONDITION, driver.node.NodeStageVolume,
                 v.stage_request(volume_capability=csi.cap(fs_type="xfs")), match="xfs")
    assert mount_entry(v.staging) is None
    v.stage()
    assert pathlib.Path(v.staging, "precious").read_text() == "data"
    v.unstage()
    v.detach()


@needs_loop
def test_restage_with_incompatible_capability_is_already_exists(driver, csi):
    """CSI NodeStageVolume: a volume already staged at the path with an incompatible capability is ALREADY_EXISTS."""
    v = Vol(driver, csi, "incompat")
    v.stage()
    try:
        expect_error(C.ALREADY_EXISTS, driver.node.NodeStageVolume, v.stage_request(volume_capability=csi.cap(block=True)))
        expect_error(C.ALREADY_EXISTS, driver.node.NodeStageVolume,
                     v.stage_request(volume_capability=csi.cap(fs_type="xfs")))
    finally:
        v.unstage()
        v.detach()


@needs_loop
def test_unknown_volume_unstage_unpublish_and_unmounted_stats(driver, csi, pb):
    """Unstage/unpublish of an unknown volume succeed (already undone) or say NOT_FOUND, touching nothing;
    stats of a path where the volume is not mounted is NOT_FOUND or an abnormal condition, never healthy."""
    for call, request in [
        (driver.node.NodeUnstageVolume, pb.NodeUnstageVolumeRequest(volume_id="nope", staging_target_path=driver.path("s"))),
        (driver.node.NodeUnpublishVolume, pb.NodeUnpublishVolumeRequest(volume_id="nope", target_path=driver.path("t"))),
    ]:
        try:
            call(request, timeout=30)
        except grpc.RpcError as error:
            assert error.code() == C.NOT_FOUND, error
    v = Vol(driver, csi, "unmounted")
    os.makedirs(v.staging)
    try:
        stats = driver.node.NodeGetVolumeStats(pb.NodeGetVolumeStatsRequest(volume_id=v.id, volume_path=v.staging))
        assert stats.volume_condition.abnormal, stats
    except grpc.RpcError as error:
        assert error.code() == C.NOT_FOUND, error
    v.detach()
