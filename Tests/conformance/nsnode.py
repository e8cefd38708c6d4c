"""The node plugin as kubelet's container runs it, without kubelet: `evs-csi-driver --mode node` in a mount
namespace of its own, started again in a NEW namespace after every stop or kill.

What a container has, and this reproduces (deploy/node.yaml):
- its own mount namespace (runc: CLONE_NEWNS), which dies with the container, and with it every mount the
  container made that did not propagate out;
- the state directory as a hostPath bind mount at /var/lib/evssnap (private: mounts do not propagate), so the
  images are opened through a bind mount that belongs to that one namespace. A loop device the plugin bound
  keeps the file open through that mount; once the namespace is gone the kernel reports the backing file
  relative to the detached mount (`/disks/<id>.img`), as seen on a real node after a DaemonSet restart;
- kubelet's directories with Bidirectional propagation: the staging and target paths (here `<tmp>/mnt`, a
  bind mount of itself made shared on the host) are peers, so what the plugin mounts there is the host's.

The namespace is made by `unshare --mount --propagation unchanged` and a short shell script that, inside it,
makes the mount holding /var/lib private, covers /var/lib with a tmpfs (nothing leaks to the host's /var/lib)
and bind-mounts the host state directory on /var/lib/evssnap before exec'ing the driver; the driver's pid is
the process's pid, so SIGKILL ends the namespace with it.

`wrap` is a command prefix run inside the namespace in front of the driver (`setpriv` to drop a capability);
`Killer` attaches strace to kill the driver at a chosen system call.
"""
import os
import pathlib
import shutil
import signal
import subprocess

import driverproc

# Where deploy/node.yaml mounts the state directory (the hostPath /var/lib/evssnap) in the node container.
CONTAINER_STATE_DIR = "/var/lib/evssnap"

_NAMESPACE_SCRIPT = r"""
set -e
state="$1"; shift
holder=$(findmnt -n -o TARGET -T /var/lib)
mount --make-private "$holder"
mount -t tmpfs -o mode=0755,size=1m evssnap-var-lib /var/lib
mkdir /var/lib/evssnap
mount --bind "$state" /var/lib/evssnap
exec "$@"
"""


def namespace_tools_missing():
    """Why these tests cannot run here, or None."""
    for tool in ("unshare", "findmnt", "mount", "umount"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed (util-linux/mount)"
    return None


class Killer:
    """strace attached to a running driver (all its threads, and the tools it starts: -f), SIGKILLing it on entering
    its `n`-th `syscall`. Attached after start-up, so the counts start at the node call: strace counts per thread,
    and the call's handler thread makes every NodeOps system call. The system call itself is not made: the driver
    dies with everything before it done and nothing after. A tool the driver runs (blkid, mkfs, resize2fs) that
    reaches its own n-th `syscall` first is killed instead."""

    def __init__(self, pid, syscall, n):
        self.proc = subprocess.Popen(
            ["strace", "-f", "-p", str(pid), "-o", "/dev/null", "-e", f"trace={syscall}",
             "-e", f"inject={syscall}:signal=KILL:when={n}"], stderr=subprocess.PIPE, text=True)
        # strace says "Process N attached" (with its threads) once every thread is traced
        for line in self.proc.stderr:
            if "attached" in line:
                break
        else:
            raise RuntimeError(f"strace did not attach to {pid}: exit {self.proc.wait()}")

    def close(self):
        """Detaches (SIGTERM: strace lets its tracees go on) unless the driver died and strace ended with it."""
        if self.proc.poll() is None:
            self.proc.terminate()
        self.proc.wait()
        self.proc.stderr.close()


class NamespacedDriver(driverproc.DriverProcess):
    """`evs-csi-driver` in its own mount namespace, on `state_dir` (deploy/ mounts one hostPath in the controller
    and the node plugin), seen inside as /var/lib/evssnap, as both deploy/controller.yaml and deploy/node.yaml
    mount it. `mode` node (the default) or controller. Counts its starts and kills."""

    def __init__(self, binary, csi_pb, *, state_dir, node_id="worker-1", mode="node", wrap=(), **kwargs):
        super().__init__(binary, csi_pb, node_id=node_id, mode=mode, state_dir=state_dir, **kwargs)
        self.wrap = list(wrap)
        self.starts = 0
        self.kills = 0
        # kubelet's directories: shared with the plugin's namespaces (Bidirectional), its own peer group.
        subprocess.run(["mount", "--bind", str(self.mnt), str(self.mnt)], check=True)
        subprocess.run(["mount", "--make-private", str(self.mnt)], check=True)
        subprocess.run(["mount", "--make-shared", str(self.mnt)], check=True)

    def args(self):
        driver = [self.binary, "--endpoint", f"unix://{self.socket}", "--state-dir", CONTAINER_STATE_DIR,
                  "--mode", self.mode, "--shutdown-grace", "5", "--log-level", "info"]
        if self.node_id is not None:
            driver += ["--node-id", self.node_id]
        for zone in self.zones:
            driver += ["--zone", zone]
        return (["unshare", "--mount", "--propagation", "unchanged", "--", "/bin/sh", "-c", _NAMESPACE_SCRIPT,
                 "evssnap-ns", str(self.state_dir)] + self.wrap + driver + self.extra_args)

    def start(self, timeout=driverproc.START_TIMEOUT):
        if self.socket.exists():
            self.socket.unlink()  # a killed driver leaves its socket; wait for the new one, not the old
        self.starts += 1
        return super().start(timeout)

    def restart_in_new_namespace(self, wrap=()):
        """Stops the driver (SIGTERM, exit 0 expected) or finds it dead, and starts it in a new namespace."""
        if self.proc is not None and self.proc.poll() is None:
            rc = self.stop()
            assert rc == 0, f"node plugin exited with {rc} on SIGTERM:\n{self.log()}"
        self._close_channel()
        self.wrap = list(wrap)
        return self.start()

    def kill(self):
        """SIGKILL the driver and whatever wraps it (strace's tracee first: strace alone would detach it)."""
        if self.proc is not None and self.proc.poll() is None:
            for pid in reversed(_descendants(self.proc.pid)):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        super().kill()

    def killer(self, syscall, n):
        """A `Killer` attached to the running driver."""
        return Killer(self.proc.pid, syscall, n)

    def died(self, timeout=30):
        """Whether the driver has ended, waiting up to `timeout` s for it (killed at a system call, it ends once
        strace lets it go). Counts a kill when it has."""
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return False
        self.kills += 1
        self._close_channel()
        return True

    def namespace_mounts(self):
        """The plugin namespace's mount table (its /proc/<pid>/mountinfo), for checks that it holds the
        state directory at /var/lib/evssnap."""
        return pathlib.Path(f"/proc/{self.proc.pid}/mountinfo").read_text()

    def close(self):
        """Stops the driver, cleans up what is left under mnt/ (reported by the caller first) and the shared
        bind of mnt/ itself, and removes the temp dir."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.stop()
            except AssertionError:
                self.kill()  # reported by the test that left it hanging
        self._close_channel()
        for mount_point in sorted(driverproc.mounts_under(self.mnt), key=len, reverse=True):
            if mount_point != str(self.mnt):
                subprocess.run(["umount", "-l", mount_point], capture_output=True)
        subprocess.run(["umount", "-l", str(self.mnt)], capture_output=True)
        for device in loop_devices_under(self.state_dir):
            subprocess.run(["losetup", "-d", device], capture_output=True)
        if not driverproc.leaks(self.tmp):
            shutil.rmtree(self.tmp, ignore_errors=True)

    def leaks_besides_mnt(self):
        """Mounts under the temp dir other than the shared bind of mnt/ itself, and loop devices of the state dir."""
        return [m for m in driverproc.mounts_under(self.tmp) if m != str(self.mnt)] + \
            loop_devices_under(self.state_dir)


LOOP_GET_STATUS64 = 0x4C05
LOOP_INFO64_SIZE = 232  # struct loop_info64 (<linux/loop.h>): lo_device and lo_inode are its first two u64


def loop_devices_of(image):
    """Loop devices (/dev/loopN) whose backing file is `image`, compared by device and inode numbers: the
    kernel's LOOP_GET_STATUS64 (lo_device, lo_inode) against os.stat(image), independent of the driver's code.
    (The backing_file text in sysfs cannot tell: it names the file as seen through the mount it was opened by.)"""
    return _loop_devices_backed_by([os.stat(image)])


def loop_devices_under(directory):
    """Loop devices backed by any file under `directory` (by device and inode numbers)."""
    stats = [os.stat(p) for p in pathlib.Path(directory).rglob("*") if p.is_file()] if os.path.isdir(directory) else []
    return _loop_devices_backed_by(stats)


def _loop_devices_backed_by(stats):
    import fcntl
    import struct
    wanted = {(st.st_dev, st.st_ino) for st in stats}
    found = []
    for entry in sorted(pathlib.Path("/sys/block").glob("loop*")):
        if not (entry / "loop").is_dir():
            continue
        try:
            fd = os.open(f"/dev/{entry.name}", os.O_RDONLY)
        except OSError:
            continue
        try:
            info = bytearray(LOOP_INFO64_SIZE)
            fcntl.ioctl(fd, LOOP_GET_STATUS64, info)
        except OSError:
            continue  # unbound meanwhile
        finally:
            os.close(fd)
        device, inode = struct.unpack_from("=QQ", info)
        if (os.makedev((device >> 8) & 0xFFF, (device & 0xFF) | ((device >> 12) & 0xFFF00)), inode) in wanted:
            found.append(f"/dev/{entry.name}")
    return found


def _descendants(pid):
    """`pid`'s descendants, parents before children (from /proc/<pid>/task/*/children)."""
    found, queue = [], [pid]
    while queue:
        current = queue.pop(0)
        for task in pathlib.Path(f"/proc/{current}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            queue += children
    return found
