"""One real Kubernetes node on this machine, for the real-node end-to-end test (docs/cluster.md, "Real-node test").

    node = RealNode(cluster, testbin, scratch)     # cluster: kubecluster.Cluster (node lifecycle controller on)
    node.start()           # host bridge + API forwarder, containerd, images, kube-scheduler, kubelet; Node Ready
    node.load_archive(tar) # a docker-archive tar into containerd's k8s.io namespace
    node.restart_kubelet() # kubelet stopped and started with the same flags; Node Ready by a fresh heartbeat
    node.stop()            # pods, kubelet, containers, containerd; every mount and interface it made; its dirs

What runs where:
  - containerd (Debian's, with Debian's runc and CNI plugins) keeps root, state, socket, CNI config and IPAM
    state under the scratch folder (its defaults, /var/lib/containerd and /run/containerd, are not used; only
    the runc shims put their sockets in /run/containerd/s, and libcni its cache in /var/lib/cni: each removed at
    the end when it was not there before).
  - kubelet's root is /var/lib/kubelet, because deploy/node.yaml names that path; the folder is a bind mount of
    scratch/kubelet, made rshared (deploy/node.yaml's Bidirectional mounts need a shared mount; / is private
    here). Its certificates, pod logs and flexvolume folder are in the scratch folder too.
  - Networking: a bridge `evssnap0` that only this host is on. The node's address is 10.244.77.1 on it (kubelet
    refuses a loopback node address); pods get 10.244.77.x with two routes only: the bridge and 10.96.0.1/32,
    the `kubernetes` Service address, which is also put on the bridge, where a forwarder in this process passes
    10.96.0.1:443 to the API server on 127.0.0.1. There is no default route in a pod, no masquerade, and IP
    forwarding is left as it is (off here), so nothing a pod sends leaves the host.
Nothing is left behind: every process by pid, every mount under the folders it used (deepest first), the bridge.
"""
import calendar
import hashlib
import io
import json
import os
import pathlib
import select
import shutil
import socket
import subprocess
import tarfile
import threading
import time

import kubecluster as kc

BRIDGE = "evssnap0"
NODE_IP = "10.244.77.1"
POD_SUBNET = "10.244.77.0/24"
SERVICE_IP = "10.96.0.1"  # the first address of kubecluster's --service-cluster-ip-range 10.96.0.0/24
KUBELET_ROOT = pathlib.Path("/var/lib/kubelet")
SHIM_SOCKETS = pathlib.Path("/run/containerd")
CNI_CACHE = pathlib.Path("/var/lib/cni")  # libcni's cache of results; containerd 1.6 has no setting for it
PAUSE_IMAGE = "localhost/evssnap-test/pause:1"
BUSYBOX = pathlib.Path("/bin/busybox")


def run(*argv, check=True, timeout=120, input=None):
    result = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=timeout, input=input)
    if check and result.returncode != 0:
        raise kc.HarnessError(f"{' '.join(map(str, argv))} exited with {result.returncode}: "
                              f"{result.stderr.strip() or result.stdout.strip()}")
    return result


def mounts_under(*prefixes):
    """Mount points (from /proc/self/mountinfo) at or below any of `prefixes`, deepest first."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = line.split()[4].replace("\\040", " ")
            for prefix in prefixes:
                prefix = str(prefix).rstrip("/")
                if point == prefix or point.startswith(prefix + "/"):
                    found.append(point)
    return sorted(set(found), key=lambda p: (-p.count("/"), p))


# (device, inode) of every disk or snapshot image seen under the driver's state folder during the run: a loop device
# is the driver's when its backing file is one of them, whatever path text the kernel shows for it (a path seen
# through the plugin container's mount, or a deleted file). Other loop devices on this machine are never touched.
SEEN_IMAGES = set()


def remember_images(folder):
    folder = pathlib.Path(folder)
    if folder.exists():
        for path in folder.rglob("*.img"):
            try:
                st = path.stat()
            except OSError:
                continue
            SEEN_IMAGES.add((os.major(st.st_dev), os.minor(st.st_dev), st.st_ino))


def loop_devices_backed_by(folder):
    """[(device, backing file)] of the loop devices on an image that is, or was, in `folder` (SEEN_IMAGES)."""
    remember_images(folder)
    out = run("losetup", "--list", "--noheadings", "--raw", "--output", "NAME,BACK-MAJ:MIN,BACK-INO,BACK-FILE",
              check=False)
    found = []
    for line in out.stdout.splitlines():
        parts = line.split(None, 3)
        if len(parts) < 4 or not parts[2].isdigit() or ":" not in parts[1].replace("\\x20", ""):
            continue
        name, majmin, ino, backing = parts
        majmin = majmin.replace("\\x20", "")  # --raw escapes the column's padding
        major, minor = (int(x) for x in majmin.split(":"))
        if (major, minor, int(ino)) in SEEN_IMAGES:
            found.append((name, backing))
    return found


# ---------------------------------------------------------------- images


def _tar_bytes(files):
    """An uncompressed tar (bytes) of {path: (mode, bytes | ('symlink', target))}."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = set()
        for path in sorted(files):
            parts = path.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                d = "/".join(parts[:i])
                if d and d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            mode, content = files[path]
            info = tarfile.TarInfo(path)
            info.mode = mode
            if isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def write_image_archive(path, images):
    """A docker-archive tar holding `images`: [(reference, files, entrypoint, cmd)], each one layer FROM scratch.
    `files` as for _tar_bytes. This is what `ctr images import` reads."""
    manifest = []
    with tarfile.open(path, "w") as out:
        def add(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            out.addfile(info, io.BytesIO(data))
        for reference, files, entrypoint, cmd in images:
            layer = _tar_bytes(files)
            layer_id = hashlib.sha256(layer).hexdigest()
            config = {"architecture": "amd64", "os": "linux",
                      "config": {"Entrypoint": entrypoint, "Cmd": cmd, "Env": ["PATH=/bin:/usr/bin"]},
                      "rootfs": {"type": "layers", "diff_ids": [f"sha256:{layer_id}"]},
                      "history": [{"created_by": "evssnap Tests/realnode (test-time image)"}]}
            config_bytes = json.dumps(config).encode()
            config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
            add(f"{layer_id}/layer.tar", layer)
            add(config_name, config_bytes)
            manifest.append({"Config": config_name, "RepoTags": [reference], "Layers": [f"{layer_id}/layer.tar"]})
        add("manifest.json", json.dumps(manifest).encode())
    return path


def busybox_files():
    """Debian's busybox-static as /bin/busybox with a link per applet in /bin."""
    data = BUSYBOX.read_bytes()
    files = {"bin/busybox": (0o755, data)}
    applets = run(BUSYBOX, "--list").stdout.split()
    for applet in applets:
        if applet != "busybox":
            files[f"bin/{applet}"] = (0o777, ("symlink", "busybox"))
    files["etc/passwd"] = (0o644, b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n")
    files["etc/group"] = (0o644, b"root:x:0:\nnobody:x:65534:\n")
    return files


def binary_image(reference, binary):
    """A FROM scratch image of one static binary, its entrypoint."""
    name = pathlib.Path(binary).name
    return (reference, {f"bin/{name}": (0o755, pathlib.Path(binary).read_bytes())}, [f"/bin/{name}"], None)


# ---------------------------------------------------------------- the API forwarder


class Forwarder:
    """TCP from (listen_host, listen_port) to (target_host, target_port), one thread per connection pair."""

    def __init__(self, listen, target):
        self.target = target
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(listen)
        self.server.listen(64)
        self.stopped = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopped:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client):
        try:
            upstream = socket.create_connection(self.target, timeout=10)
        except OSError:
            client.close()
            return
        upstream.settimeout(None)
        pair = {client: upstream, upstream: client}
        try:
            while not self.stopped:
                readable, _, _ = select.select(list(pair), [], [], 1.0)
                for s in readable:
                    data = s.recv(65536)
                    if not data:
                        return
                    pair[s].sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def stop(self):
        self.stopped = True
        self.server.close()


# ---------------------------------------------------------------- the node


class RealNode:
    def __init__(self, cluster, testbin, scratch, node_name="node-1"):
        self.cluster, self.bin, self.dir = cluster, pathlib.Path(testbin), pathlib.Path(scratch)
        self.node_name = node_name
        self.processes = kc.ProcessGroup(self.dir / "logs")
        (self.dir / "logs").mkdir(parents=True, exist_ok=True)
        self.containerd_dir = self.dir / "containerd"
        self.socket = self.containerd_dir / "containerd.sock"
        self.forwarder = None
        self.made = []  # what this node created outside the scratch folder, to remove at stop
        self.timings = {}

    # ---- pre-flight: never take over what is already there

    def preflight(self, state_dir):
        busy = [str(p) for p in (KUBELET_ROOT, pathlib.Path(state_dir)) if p.exists()]
        if busy:
            raise kc.HarnessError(f"{', '.join(busy)} already exist(s): another kubelet or evssnap install is on "
                                  f"this machine; the real-node test uses and removes them, so it will not start")
        if pathlib.Path(f"/sys/class/net/{BRIDGE}").exists():
            raise kc.HarnessError(f"network interface {BRIDGE} already exists (an earlier run's?)")
        for name in ("containerd", "ctr", "containerd-shim-runc-v2"):
            if not shutil.which(name):
                raise kc.HarnessError(f"{name} is not installed (make deps-realnode)")
        if not pathlib.Path("/usr/lib/cni/bridge").exists() or not BUSYBOX.exists():
            raise kc.HarnessError("/usr/lib/cni/bridge or /bin/busybox missing (make deps-realnode)")

    # ---- lifecycle

    def start(self, timeout=180.0):
        t0 = time.monotonic()
        self._network()
        self._containerd(timeout)
        self.timings["containerd up"] = time.monotonic() - t0
        self.load_archive(write_image_archive(self.dir / "pause.tar", [
            (PAUSE_IMAGE, {"bin/busybox": (0o755, BUSYBOX.read_bytes())}, ["/bin/busybox", "sleep", "2147483647"],
             None)]))
        self._kubelet_root()
        self._scheduler()
        self._kubelet(timeout)
        self.timings["node Ready (kubelet started to Ready)"] = time.monotonic() - t0
        return self

    def _network(self):
        if not CNI_CACHE.exists():
            self.made.append(("dir", CNI_CACHE))
        run("ip", "link", "add", BRIDGE, "type", "bridge")
        self.made.append(("link", BRIDGE))
        run("ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
        run("ip", "addr", "add", f"{SERVICE_IP}/32", "dev", BRIDGE)
        run("ip", "link", "set", BRIDGE, "up")
        port = int(self.cluster.server.rsplit(":", 1)[1])
        self.forwarder = Forwarder((SERVICE_IP, 443), (kc.LOOPBACK, port))
        cni = self.dir / "cni"
        (cni / "net.d").mkdir(parents=True, exist_ok=True)
        (cni / "net.d" / "10-evssnap.conflist").write_text(json.dumps({
            "cniVersion": "0.4.0", "name": "evssnap-test",
            "plugins": [{
                "type": "bridge", "bridge": BRIDGE, "isGateway": False, "isDefaultGateway": False,
                "ipMasq": False, "hairpinMode": False,
                "ipam": {"type": "host-local", "dataDir": str(cni / "ipam"),
                         "ranges": [[{"subnet": POD_SUBNET, "gateway": NODE_IP,
                                      "rangeStart": "10.244.77.10", "rangeEnd": "10.244.77.250"}]],
                         "routes": [{"dst": f"{SERVICE_IP}/32", "gw": NODE_IP}]}}]}, indent=1))

    def _containerd(self, timeout):
        d = self.containerd_dir
        d.mkdir(parents=True, exist_ok=True)
        self.shim_dir_existed = SHIM_SOCKETS.exists()
        cri = 'plugins."io.containerd.grpc.v1.cri"'
        config = f"""version = 2
root = "{d / 'root'}"
state = "{d / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp"]
[grpc]
  address = "{self.socket}"
[ttrpc]
  address = "{self.socket}.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "{d / 'opt'}"
[{cri}]
  sandbox_image = "{PAUSE_IMAGE}"
  # kubelet asks for oom_score_adj below containerd's own (-998 for system-node-critical pods); lowering it needs
  # CAP_SYS_RESOURCE, which root lacks on some machines (this one): keep containers at containerd's value or above.
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  [{cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [{cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [{cri}.containerd.runtimes.runc.options]
        BinaryName = "{os.environ.get('EVSSNAP_REALNODE_RUNC', '/usr/sbin/runc')}"
        SystemdCgroup = false
        Root = "{d / 'runc'}"
  [{cri}.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{self.dir / 'cni' / 'net.d'}"
    max_conf_num = 1
"""
        (d / "config.toml").write_text(config)
        self.processes.start("containerd", ["containerd", "--config", d / "config.toml", "--log-level", "info"],
                             settle=0.2)
        kc.wait_for("containerd's socket", lambda: self._alive_and(
            lambda: self.ctr("version", check=False).returncode == 0), timeout, interval=0.2)

    def _kubelet_root(self):
        root = self.dir / "kubelet"
        root.mkdir(parents=True, exist_ok=True)
        KUBELET_ROOT.mkdir(parents=True)
        self.made.append(("dir", KUBELET_ROOT))
        run("mount", "--bind", root, KUBELET_ROOT)
        run("mount", "--make-rshared", KUBELET_ROOT)

    def _scheduler(self):
        self.processes.start("kube-scheduler", [
            self.bin / "kube-scheduler", "--kubeconfig", self.cluster.admin.kubeconfig, "--leader-elect=false",
            "--bind-address", kc.LOOPBACK, "--secure-port", str(kc.free_port()), "--v", "2"], settle=0.1)

    def _kubelet(self, timeout):
        d = self.dir / "kubelet-conf"
        d.mkdir(parents=True, exist_ok=True)
        (self.dir / "pod-logs").mkdir(exist_ok=True)
        resolv = d / "resolv.conf"
        resolv.write_text("# no DNS for the test pods\n")
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "address": kc.LOOPBACK, "port": kc.free_port(), "readOnlyPort": 0,
            "healthzBindAddress": kc.LOOPBACK, "healthzPort": kc.free_port(),
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                               "x509": {"clientCAFile": str(self.cluster.pki.ca_crt)}},
            "authorization": {"mode": "AlwaysAllow"},
            "cgroupDriver": "cgroupfs", "cgroupsPerQOS": False, "enforceNodeAllocatable": [],
            "failSwapOn": False, "failCgroupV1": False, "containerRuntimeEndpoint": f"unix://{self.socket}",
            "imageServiceEndpoint": f"unix://{self.socket}",
            "resolvConf": str(resolv), "podLogsDir": str(self.dir / "pod-logs"),
            "volumePluginDir": str(self.dir / "volume-plugins"),
            "tlsCertFile": "", "serializeImagePulls": False,
            "evictionHard": {"memory.available": "1Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "nodeStatusUpdateFrequency": "2s", "syncFrequency": "10s", "fileCheckFrequency": "10s",
            "staticPodPath": "", "makeIPTablesUtilChains": False, "localStorageCapacityIsolation": True,
        }
        del config["tlsCertFile"]
        (d / "kubelet.json").write_text(json.dumps(config, indent=1))
        self.kubelet_argv = [
            self.bin / "kubelet", "--config", d / "kubelet.json", "--kubeconfig", self.cluster.admin.kubeconfig,
            "--root-dir", KUBELET_ROOT, "--cert-dir", self.dir / "kubelet-pki", "--hostname-override",
            self.node_name, "--node-ip", NODE_IP, "--v", "2"]
        self.processes.start("kubelet", self.kubelet_argv, settle=0.5)
        self._wait_ready(timeout)

    def restart_kubelet(self, timeout=120.0):
        """kubelet stopped (SIGTERM, by pid) and started again with the same flags; the pods keep running."""
        for proc in [p for p in self.processes.processes if p.name == "kubelet"]:
            proc.stop()
            self.processes.processes.remove(proc)
        since = int(time.time()) + 1
        self.processes.start("kubelet", self.kubelet_argv, settle=0.5)
        self._wait_ready(timeout, since)

    def _wait_ready(self, timeout, since=0):
        """Until the Node is Ready, by a heartbeat at or after `since` (seconds since the epoch) when given."""
        def ready():
            self.processes.check_alive()
            node = self.cluster.admin.api.get_or_none(f"/api/v1/nodes/{self.node_name}")
            if not node:
                return False
            for c in node["status"].get("conditions", []):
                if c["type"] == "Ready" and c["status"] == "True":
                    beat = calendar.timegm(time.strptime(c["lastHeartbeatTime"], "%Y-%m-%dT%H:%M:%SZ"))
                    return beat >= since
            return False
        kc.wait_for(f"Node {self.node_name} Ready", ready, timeout, interval=0.5)

    def _alive_and(self, predicate):
        self.processes.check_alive()
        return predicate()

    def check_alive(self):
        self.processes.check_alive()

    def ctr(self, *args, check=True, timeout=300):
        return run("ctr", "--address", self.socket, "--namespace", "k8s.io", *args, check=check, timeout=timeout)

    def load_archive(self, path):
        self.ctr("images", "import", "--no-unpack=false", path)

    def image_refs(self):
        return set(self.ctr("images", "ls", "-q").stdout.split())

    def log(self, name, tail=4000):
        path = self.dir / "logs" / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    # ---- teardown

    def stop(self, api=None):
        """Everything started, in reverse; returns a list of what could not be removed (empty when clean)."""
        problems = []
        if api is not None and self.processes.processes:
            # Pods first, through kubelet, so that it tears down their volumes and networks itself: the workloads
            # while the node plugin still runs (it unstages their volumes), then the DaemonSets and Deployments
            # (or their pods come back), then the rest.
            def delete_pods(keep):
                for pod in api.get("/api/v1/pods")["items"]:
                    ns, name = pod["metadata"]["namespace"], pod["metadata"]["name"]
                    if ns not in keep:
                        api.delete(f"/api/v1/namespaces/{ns}/pods/{name}")
                kc.wait_for("pods gone", lambda: all(p["metadata"]["namespace"] in keep
                                                     for p in api.get("/api/v1/pods")["items"]), 60, interval=0.5)
            try:
                delete_pods(keep=("evssnap",))
                for kind in ("daemonsets", "deployments"):
                    for item in api.get(f"/apis/apps/v1/{kind}")["items"]:
                        meta = item["metadata"]
                        api.delete(f"/apis/apps/v1/namespaces/{meta['namespace']}/{kind}/{meta['name']}")
                delete_pods(keep=())
            except Exception as error:  # noqa: BLE001 - teardown goes on; what is left is reported below
                problems.append(f"pods not removed through kubelet: {error}")
        for name in ("kubelet", "kube-scheduler"):
            for proc in [p for p in self.processes.processes if p.name == name]:
                proc.stop()
                self.processes.processes.remove(proc)
        if any(p.name == "containerd" and p.alive() for p in self.processes.processes):
            # Containers kubelet did not stop: their shims outlive containerd, so kill the tasks through it.
            tasks = self.ctr("tasks", "ls", "-q", check=False).stdout.split()
            for task in tasks:
                self.ctr("tasks", "kill", "--all", "--signal", "SIGKILL", task, check=False)
            for task in tasks:
                for _ in range(50):
                    if self.ctr("tasks", "delete", task, check=False).returncode == 0:
                        break
                    time.sleep(0.1)
            for container in self.ctr("containers", "ls", "-q", check=False).stdout.split():
                self.ctr("containers", "delete", container, check=False)
        self.processes.stop_all()
        if self.forwarder:
            self.forwarder.stop()
        for point in mounts_under(KUBELET_ROOT, self.dir, SHIM_SOCKETS):
            result = run("umount", point, check=False)
            if result.returncode != 0:
                result = run("umount", "-l", point, check=False)
                problems.append(f"{point}: needed a lazy unmount ({result.stderr.strip()})")
        for kind, what in reversed(self.made):
            if kind == "link":
                run("ip", "link", "delete", what, check=False)
            elif kind == "dir":
                shutil.rmtree(what, ignore_errors=True)
        if not getattr(self, "shim_dir_existed", True):
            shutil.rmtree(SHIM_SOCKETS, ignore_errors=True)
        return problems
