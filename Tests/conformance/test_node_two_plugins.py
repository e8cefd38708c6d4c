"""Two node plugin processes on one node staging the same volumes at once (an old plugin still running beside a
new one during an upgrade): find-or-attach must never bind a second loop device to one image.

Each round stages every volume from both processes at the same moment (two staging paths), then counts the loop
devices of each image by device and inode numbers (the kernel's LOOP_GET_STATUS64, nsnode.loop_devices_of), so
the count does not depend on the driver's code. Both processes also ask NodeGetVolumeStats of the first staging
while the other attaches: its readability check opens and closes the image, which ended a classic POSIX lock.
"""
import threading

import grpc

from nsnode import loop_devices_of
from test_node import Vol, needs_loop

ROUNDS = 4
VOLUMES = 3


@needs_loop
def test_two_plugins_staging_one_image_at_once_bind_one_device(start_driver, csi):
    a = start_driver()                                     # controller + node
    b = start_driver(mode="node", state_dir=a.state_dir)   # a second node plugin, same node id, same disks
    pb = csi.pb
    made = 0
    for r in range(ROUNDS):
        vols = [Vol(a, csi, f"two-{r}-{i}") for i in range(VOLUMES)]
        errors = []
        barrier = threading.Barrier(2 * len(vols) + 1)

        def stage(proc, v, staging):
            try:
                barrier.wait(timeout=30)
                proc.node.NodeStageVolume(v.stage_request(staging_target_path=staging), timeout=120)
                proc.node.NodeGetVolumeStats(pb.NodeGetVolumeStatsRequest(volume_id=v.id, volume_path=staging), timeout=60)
            except (grpc.RpcError, threading.BrokenBarrierError) as error:
                errors.append(f"{proc.mode} {v.id}: {error}")

        threads = [threading.Thread(target=stage, args=(p, v, p.path(f"two-{r}-{i}-staging")))
                   for i, v in enumerate(vols) for p in (a, b)]
        for t in threads:
            t.start()
        barrier.wait(timeout=30)
        for t in threads:
            t.join(timeout=180)
        assert not errors, errors
        for v in vols:
            devices = loop_devices_of(a.disk_image(v.id))
            assert len(devices) == 1, f"round {r}: image of {v.id} is bound to {devices}"
            made += 1
        for i, v in enumerate(vols):
            for p in (a, b):
                p.node.NodeUnstageVolume(pb.NodeUnstageVolumeRequest(
                    volume_id=v.id, staging_target_path=p.path(f"two-{r}-{i}-staging")), timeout=60)
            assert loop_devices_of(a.disk_image(v.id)) == [], f"round {r}: {v.id} still bound after both unstages"
            v.detach()
    print(f"two node plugins, {ROUNDS} rounds x {VOLUMES} volumes staged from both at once: {made} images, one loop device each")


@needs_loop
def test_unstage_returns_once_the_device_is_really_unbound(start_driver, csi):
    """Another process has the loop device open for a moment (any plugin's find-or-attach reads LOOP_GET_STATUS64
    from every device; so do udev and losetup). LOOP_CLR_FD then only defers the unbind to the last close: unstage
    must wait for it, so that when it returns no device of the image is bound (seen failing in a CI run with three
    suites at once, before detach waited)."""
    import os
    import time
    d = start_driver()
    v = Vol(d, csi, "held-open")
    v.stage()
    devices = loop_devices_of(d.disk_image(v.id))
    assert len(devices) == 1, devices
    held = os.open(devices[0], os.O_RDONLY)
    closer = threading.Timer(0.5, os.close, args=(held,))
    closer.start()
    begin = time.monotonic()
    v.unstage()
    took = time.monotonic() - begin
    closer.join()
    assert loop_devices_of(d.disk_image(v.id)) == [], "unstage returned while the device was still bound"
    assert took >= 0.4, f"unstage returned after {took:.2f}s, before the other opener closed the device"
    v.detach()
    print(f"unstage with the device held open by another process for 0.5 s: returned after {took:.2f}s, unbound")
