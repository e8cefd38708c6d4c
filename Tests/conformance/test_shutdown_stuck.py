"""SIGTERM while a handler is stuck in a system call (a disk, a mount or a lock that does not answer).

The driver cancels calls still running after --shutdown-grace; a handler inside the kernel does not see the cancel.
Before, shutdown then waited for it without end, so the process outlived kubelet's grace period and was SIGKILLed.
Now it gives the handlers 5 s more (Driver.abandonAfterCancel), logs the calls it abandons and exits 0.

The stuck call is real: this test holds a POSIX write lock on the volume's disk image, as another node plugin
process attaching it would (NodeOps' find-or-attach lock, docs/node.md), so NodeStageVolume waits in
fcntl(F_SETLKW) inside the kernel for as long as the test wants.
"""
import fcntl
import os
import threading
import time

import grpc
import pytest

from test_node import Vol, needs_loop

FCNTL = 72  # the fcntl system call's number on x86_64, as /proc/PID/task/TID/syscall shows it


@needs_loop
def test_sigterm_with_a_handler_stuck_in_a_syscall_exits_after_grace_plus_abandon(start_driver, csi):
    d = start_driver()
    v = Vol(d, csi, "stuck-lock")
    image = d.disk_image(v.id)
    held = os.open(image, os.O_RDWR)
    fcntl.lockf(held, fcntl.LOCK_EX)
    outcome = {}

    def stage():
        try:
            v.stage()
            outcome["code"] = grpc.StatusCode.OK
        except grpc.RpcError as error:
            outcome["code"] = error.code()

    call = threading.Thread(target=stage, daemon=True)
    try:
        call.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not _in_syscall(d.proc.pid, FCNTL) and "code" not in outcome:
            time.sleep(0.05)
        assert "code" not in outcome, f"NodeStageVolume ended without the lock: {outcome}"
        assert _in_syscall(d.proc.pid, FCNTL), "no driver thread waits in fcntl for the image's lock"
        begin = time.monotonic()
        rc = d.stop(timeout=40)   # before the fix: no exit while the lock is held
        took = time.monotonic() - begin
        log = d.log()
        assert rc == 0, f"exit {rc}:\n{log}"
        # --shutdown-grace 5 (driverproc) + 5 s abandon, with the lock still held.
        assert took < 20, f"the driver took {took:.1f}s to exit"
        assert "abandoning calls" in log and "NodeStageVolume" in log, log
        call.join(timeout=10)
        assert outcome.get("code") not in (None, grpc.StatusCode.OK), outcome
        print(f"SIGTERM with NodeStageVolume waiting for the image's lock: exit 0 after {took:.1f}s "
              f"(grace 5 s + 5 s); the call ended {outcome['code'].name}")
    finally:
        os.close(held)   # releases the lock
    # What the abandoned call left is taken up by the next start: stage and unstage work, nothing leaks
    # (the fixture's teardown checks mounts and loop devices under the driver's dirs).
    d.start()
    v.stage()
    v.unstage()


def _in_syscall(pid, number):
    """A thread of `pid` is inside system call `number` right now."""
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/syscall") as f:
                if f.read().split()[0] == str(number):
                    return True
        except (OSError, IndexError):
            continue
    return False
