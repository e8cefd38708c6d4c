"""A kubelet-less Kubernetes cluster on 127.0.0.1 from the real testbin binaries, for end-to-end tests.

    cluster = Cluster(testbin, kubectl).start()     # etcd, kube-apiserver, kube-controller-manager,
                                                    # snapshot CRDs, snapshot-controller (~10-15 s)
    admin = cluster.admin                           # User: .api (REST client), .kubectl(...), .kubeconfig
    alice = cluster.user("alice", groups=["team-a"])          # a client certificate signed by the cluster CA
    bot = cluster.service_account_user("ns", "sa-name")       # a bound ServiceAccount token (TokenRequest)
    stack = CSIStack(cluster, "disk.csi.everest.io", [driver argv...], socket, node_name="node-1", ...)
    stack.start()                                   # driver, Node + CSINode as kubelet would, four sidecars
    ...
    cluster.stop()                                  # every process by pid, the temp dir

Everything runs as child processes of the test process, listens on 127.0.0.1 only (ports picked free at start),
and lives in one temp dir. Each process is started in its own session with PR_SET_PDEATHSIG=SIGKILL, so it dies
with the test process even when that is SIGKILLed; a normal or interrupted run stops them by pid (SIGTERM, then
SIGKILL after a grace period). Every wait is bounded and its timeout names what it waited for.

Only the Python standard library, plus grpcio for the CSI calls in CSIStack.
"""
import contextlib
import ctypes
import http.client
import json
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.parse

LOOPBACK = "127.0.0.1"
PR_SET_PDEATHSIG = 1


class HarnessError(RuntimeError):
    """The harness could not do what a test asked (a process died, a wait timed out)."""


def free_port():
    """A TCP port free on 127.0.0.1 right now (the kernel's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def _die_with_parent():
    # In the child, before exec: its own session (our signals to it are ours alone) and SIGKILL when the
    # parent dies, so a killed test run leaves no process behind.
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


def interrupt_on_sigterm():
    """SIGTERM (a global timeout) raises KeyboardInterrupt in the main thread, as Ctrl-C does, so that
    finally blocks and pytest's fixture finalizers run and stop what was started."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, interrupt)


def wait_for(what, predicate, timeout=60.0, interval=0.05):
    """Polls `predicate()` until it returns a truthy value (returned); HarnessError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last_error = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (ApiError, OSError, HarnessError) as error:  # not there yet, or the server is still starting
            last_error = error
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error})" if last_error else ""
            raise HarnessError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(interval)


# ---------------------------------------------------------------- processes


class Process:
    """One child process with its log file; stopped by its pid only."""

    def __init__(self, name, argv, log_path, env=None):
        self.name, self.argv, self.log_path = name, [str(a) for a in argv], pathlib.Path(log_path)
        with open(self.log_path, "ab") as log:
            log.write(f"=== {time.strftime('%H:%M:%S')} {' '.join(self.argv)}\n".encode())
            log.flush()
            self.popen = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                          env=env, start_new_session=True, preexec_fn=_die_with_parent)
        self.pid = self.popen.pid

    def alive(self):
        return self.popen.poll() is None

    def check_alive(self):
        if not self.alive():
            raise HarnessError(f"{self.name} exited with {self.popen.returncode}; log {self.log_path}:\n{self.log()}")

    def stop(self, grace=10.0):
        """SIGTERM, then SIGKILL after `grace` seconds; returns the exit code."""
        if self.alive():
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        return self.popen.returncode

    def log(self, tail=6000):
        try:
            return self.log_path.read_text(errors="replace")[-tail:]
        except OSError:
            return ""


class ProcessGroup:
    """Processes started in order and stopped in reverse order."""

    def __init__(self, log_dir):
        self.log_dir = pathlib.Path(log_dir)
        self.processes = []

    def start(self, name, argv, env=None, settle=0.3):
        proc = Process(name, argv, self.log_dir / f"{name}.log", env=env)
        self.processes.append(proc)
        time.sleep(settle)
        proc.check_alive()
        return proc

    def stop_all(self):
        codes = {}
        while self.processes:
            proc = self.processes.pop()
            codes[proc.name] = proc.stop()
        return codes

    def check_alive(self):
        for proc in self.processes:
            proc.check_alive()


# ---------------------------------------------------------------- certificates


class PKI:
    """A cluster CA and certificates signed by it (ECDSA P-256, made with the openssl command)."""

    def __init__(self, directory):
        self.dir = pathlib.Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ca_crt, self.ca_key = self.dir / "ca.crt", self.dir / "ca.key"
        self._openssl("req", "-x509", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                      "-nodes", "-keyout", self.ca_key, "-out", self.ca_crt, "-days", "2", "-subj", "/CN=evssnap-test-ca")

    def _openssl(self, *args):
        result = subprocess.run(["openssl", *map(str, args)], cwd=self.dir, capture_output=True, text=True)
        if result.returncode != 0:
            raise HarnessError(f"openssl {' '.join(map(str, args))}: {result.stderr}")

    def _key(self, name):
        key = self.dir / f"{name}.key"
        self._openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", key)
        return key

    def sign(self, name, subject, extensions):
        """(crt, key) for `subject` (e.g. /O=group/CN=user) with the given x509v3 extension lines."""
        key, csr, crt, ext = (self._key(name), self.dir / f"{name}.csr", self.dir / f"{name}.crt",
                              self.dir / f"{name}.ext")
        ext.write_text("\n".join(extensions) + "\n")
        self._openssl("req", "-new", "-key", key, "-out", csr, "-subj", subject)
        self._openssl("x509", "-req", "-in", csr, "-CA", self.ca_crt, "-CAkey", self.ca_key, "-CAcreateserial",
                      "-out", crt, "-days", "2", "-extfile", ext)
        csr.unlink()
        return crt, key

    def server(self, name):
        return self.sign(name, "/CN=kube-apiserver", [
            "basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage=serverAuth",
            "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,"
            "DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:10.96.0.1"])

    def client(self, name, user, groups=()):
        """A client certificate: Kubernetes reads CN as the user name and each O as a group."""
        subject = "".join(f"/O={g}" for g in groups) + f"/CN={user}"
        return self.sign(name, subject, [
            "basicConstraints=CA:FALSE", "keyUsage=critical,digitalSignature,keyEncipherment",
            "extendedKeyUsage=clientAuth"])

    def service_account_keys(self):
        key = self._key("sa")
        pub = self.dir / "sa.pub"
        self._openssl("ec", "-in", key, "-pubout", "-out", pub)
        return key, pub


# ---------------------------------------------------------------- API access


class ApiError(Exception):
    def __init__(self, status, body, method, path):
        self.status, self.body, self.method, self.path = status, body, method, path
        try:
            self.reason = json.loads(body).get("reason", "")
            self.message = json.loads(body).get("message", body)
        except (ValueError, AttributeError):
            self.reason, self.message = "", body
        super().__init__(f"{method} {path}: HTTP {status} {self.reason}: {self.message}")


class Api:
    """A small REST client for the API server (stdlib http.client over TLS); one keep-alive connection."""

    def __init__(self, server, ca, cert=None, key=None, token=None, timeout=30.0):
        url = urllib.parse.urlparse(server)
        self.host, self.port = url.hostname, url.port
        self.context = ssl.create_default_context(cafile=str(ca))
        if cert:
            self.context.load_cert_chain(str(cert), str(key))
        self.token, self.timeout = token, timeout
        self.connection = None

    def request(self, method, path, body=None, content_type="application/json", query=None, raw=False):
        """The parsed JSON answer (the text with raw=True); ApiError for HTTP >= 400."""
        if query:
            path = f"{path}?{urllib.parse.urlencode(query)}"
        headers = {"Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = content_type
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        for attempt in (0, 1):  # one retry on a connection the server closed while idle
            if self.connection is None:
                self.connection = http.client.HTTPSConnection(self.host, self.port, context=self.context,
                                                              timeout=self.timeout)
            try:
                self.connection.request(method, path, body=data, headers=headers)
                response = self.connection.getresponse()
                payload = response.read()
                break
            except (http.client.HTTPException, OSError):
                self.close()
                if attempt:
                    raise
        if response.status >= 400:
            raise ApiError(response.status, payload.decode(errors="replace"), method, path)
        if raw:
            return payload.decode(errors="replace")
        return json.loads(payload) if payload else None

    def close(self):
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def get(self, path, **query):
        return self.request("GET", path, query=query or None)

    def get_or_none(self, path):
        try:
            return self.get(path)
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def create(self, path, obj):
        return self.request("POST", path, obj)

    def merge_patch(self, path, patch):
        return self.request("PATCH", path, patch, content_type="application/merge-patch+json")

    def delete(self, path, missing_ok=True):
        try:
            return self.request("DELETE", path)
        except ApiError as error:
            if missing_ok and error.status == 404:
                return None
            raise

    def wait_gone(self, path, timeout=60.0):
        wait_for(f"{path} to be gone", lambda: self.get_or_none(path) is None, timeout, interval=0.05)


# Paths of the kinds the tests use.
def pvc_path(ns, name=""):
    return f"/api/v1/namespaces/{ns}/persistentvolumeclaims" + (f"/{name}" if name else "")


def pv_path(name=""):
    return "/api/v1/persistentvolumes" + (f"/{name}" if name else "")


def vs_path(ns, name=""):
    return f"/apis/snapshot.storage.k8s.io/v1/namespaces/{ns}/volumesnapshots" + (f"/{name}" if name else "")


def vsc_path(name=""):
    return "/apis/snapshot.storage.k8s.io/v1/volumesnapshotcontents" + (f"/{name}" if name else "")


def va_path(name=""):
    return "/apis/storage.k8s.io/v1/volumeattachments" + (f"/{name}" if name else "")


def events_of(api, ns, kind, name):
    """Messages of the events about one object, oldest first, as 'Reason: message'."""
    items = api.get(f"/api/v1/namespaces/{ns}/events",
                    fieldSelector=f"involvedObject.kind={kind},involvedObject.name={name}")["items"]
    items.sort(key=lambda e: e.get("lastTimestamp") or e.get("eventTime") or "")
    return [f"{e.get('reason')}: {e.get('message')}" for e in items]


class User:
    """An identity on the cluster: a kubeconfig for kubectl (and the plugin), and an Api client."""

    def __init__(self, cluster, name, kubeconfig, api):
        self.cluster, self.name, self.kubeconfig, self.api = cluster, name, pathlib.Path(kubeconfig), api

    def kubectl(self, *args, check=True, input=None, timeout=60.0, env=None):
        """Runs kubectl as this user; returns the CompletedProcess (text). check=True raises on exit != 0."""
        return self.cluster.run_kubectl(self.kubeconfig, args, check=check, input=input, timeout=timeout, env=env)

    def apply(self, manifest, *extra):
        """kubectl apply -f of a file path or a YAML/JSON text."""
        if isinstance(manifest, (str, bytes)) and not os.path.exists(str(manifest)):
            return self.kubectl("apply", "-f", "-", *extra, input=manifest)
        return self.kubectl("apply", "-f", str(manifest), *extra)


# ---------------------------------------------------------------- the control plane


class Cluster:
    """etcd + kube-apiserver + kube-controller-manager + snapshot CRDs + snapshot-controller on 127.0.0.1."""

    # kube-controller-manager's controllers: none that manages nodes or routes (there is no kubelet here).
    CONTROLLERS = ("*,-node-ipam-controller,-node-lifecycle-controller,-cloud-node-lifecycle-controller,"
                   "-node-route-controller,-service-lb-controller")

    def __init__(self, testbin, kubectl, crd_dir, workdir=None, verbosity=2, controllers=None):
        self.bin = pathlib.Path(testbin)
        self.controllers = controllers or self.CONTROLLERS
        self.kubectl_path = str(kubectl)
        self.crd_dir = pathlib.Path(crd_dir)
        self.dir = pathlib.Path(workdir or tempfile.mkdtemp(prefix="evssnap-cluster-", dir="/tmp"))
        self.verbosity = str(verbosity)
        self.logs = self.dir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.processes = ProcessGroup(self.logs)
        self.server = None
        self.admin = None
        self.pki = None
        self._users = {}
        self.timings = {}

    # ---- lifecycle

    def start(self, timeout=120.0):
        t0 = time.monotonic()
        try:
            self._start(timeout)
        except Exception as error:
            logs = "\n".join(f"--- {p.name} (pid {p.pid}, exit {p.popen.poll()}):\n{p.log(3000)}"
                             for p in self.processes.processes)
            self.stop()
            raise HarnessError(f"cluster did not start: {error}\n{logs}") from error
        except BaseException:
            self.stop()
            raise
        self.timings["cluster up"] = time.monotonic() - t0
        return self

    def _start(self, timeout):
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "snapshot-controller"):
            if not (self.bin / name).is_file():
                raise HarnessError(f"{self.bin / name} is missing")
        t0 = time.monotonic()
        phase = lambda name: self.timings.__setitem__(f"cluster up: {name}", time.monotonic() - t0)
        self.pki = PKI(self.dir / "pki")
        api_crt, api_key = self.pki.server("apiserver")
        admin_crt, admin_key = self.pki.client("admin", "evssnap-admin", ["system:masters"])
        kcm_crt, kcm_key = self.pki.client("kcm", "system:kube-controller-manager")
        sa_key, sa_pub = self.pki.service_account_keys()
        phase("certificates")

        etcd_client, etcd_peer, api_port = free_port(), free_port(), free_port()
        self.server = f"https://{LOOPBACK}:{api_port}"
        self.processes.start("etcd", [
            self.bin / "etcd", "--name", "evssnap", "--data-dir", self.dir / "etcd",
            "--listen-client-urls", f"http://{LOOPBACK}:{etcd_client}",
            "--advertise-client-urls", f"http://{LOOPBACK}:{etcd_client}",
            "--listen-peer-urls", f"http://{LOOPBACK}:{etcd_peer}",
            "--initial-advertise-peer-urls", f"http://{LOOPBACK}:{etcd_peer}",
            "--listen-metrics-urls", f"http://{LOOPBACK}:{free_port()}",
            "--unsafe-no-fsync", "--log-level", "warn"], settle=0.1)
        wait_for("etcd", lambda: self._alive_and(lambda: self._http_ok(LOOPBACK, etcd_client, "/health")), timeout)
        phase("etcd healthy")

        self.processes.start("kube-apiserver", [
            self.bin / "kube-apiserver", "--bind-address", LOOPBACK, "--advertise-address", LOOPBACK,
            "--secure-port", api_port, "--etcd-servers", f"http://{LOOPBACK}:{etcd_client}",
            "--tls-cert-file", api_crt, "--tls-private-key-file", api_key, "--client-ca-file", self.pki.ca_crt,
            "--service-account-issuer", "https://kubernetes.default.svc.cluster.local",
            "--service-account-key-file", sa_pub, "--service-account-signing-key-file", sa_key,
            "--service-cluster-ip-range", "10.96.0.0/24", "--authorization-mode", "RBAC,Node",
            "--enable-admission-plugins", "NamespaceLifecycle,ServiceAccount,DefaultStorageClass,"
            "StorageObjectInUseProtection,PersistentVolumeClaimResize,ResourceQuota",
            "--endpoint-reconciler-type", "none", "--allow-privileged", "--profiling=false", "--v", self.verbosity],
            settle=0.1)
        self.admin = self._cert_user("evssnap-admin", admin_crt, admin_key)

        def apiserver_ready():
            self.processes.check_alive()
            return self.admin.api.request("GET", "/readyz", raw=True).strip() == "ok"
        wait_for("kube-apiserver /readyz", apiserver_ready, timeout, interval=0.2)
        phase("kube-apiserver ready")

        kcm_kubeconfig = self._write_kubeconfig("kcm", "system:kube-controller-manager", cert=kcm_crt, key=kcm_key)
        self.processes.start("kube-controller-manager", [
            self.bin / "kube-controller-manager", "--kubeconfig", kcm_kubeconfig, "--secure-port", "0",
            "--leader-elect=false",
            "--controllers", self.controllers,
            "--use-service-account-credentials", "--service-account-private-key-file", sa_key,
            "--root-ca-file", self.pki.ca_crt, "--cluster-signing-cert-file", self.pki.ca_crt,
            "--cluster-signing-key-file", self.pki.ca_key, "--v", self.verbosity], settle=0.1)

        crds = sorted(self.crd_dir.glob("*snapshot*.yaml"))
        if not crds:
            raise HarnessError(f"no snapshot CRDs in {self.crd_dir}")
        args = ["apply", "--server-side", "--force-conflicts"]
        for crd in crds:
            args += ["-f", str(crd)]
        self.admin.kubectl(*args)
        self.admin.kubectl("wait", "--for", "condition=established", "--timeout", "60s",
                           "crd/volumesnapshots.snapshot.storage.k8s.io",
                           "crd/volumesnapshotcontents.snapshot.storage.k8s.io",
                           "crd/volumesnapshotclasses.snapshot.storage.k8s.io")
        phase("snapshot CRDs established")
        self.processes.start("snapshot-controller", [
            self.bin / "snapshot-controller", "--kubeconfig", self.admin.kubeconfig, "--leader-election=false",
            "--retry-interval-max", "5s", "--v", self.verbosity], settle=0.1)
        # The default ServiceAccount shows that kube-controller-manager works.
        wait_for("kube-controller-manager (ServiceAccount default/default)",
                 lambda: self._alive_and(lambda: self.admin.api.get_or_none(
                     "/api/v1/namespaces/default/serviceaccounts/default")), timeout, interval=0.2)
        phase("kube-controller-manager working")

    def _alive_and(self, predicate):
        self.processes.check_alive()
        return predicate()

    @staticmethod
    def _http_ok(host, port, path):
        connection = http.client.HTTPConnection(host, port, timeout=2)
        try:
            connection.request("GET", path)
            return connection.getresponse().status == 200
        finally:
            connection.close()

    def stop(self):
        """Stops every process this cluster started (by pid), then removes its temp dir. Returns exit codes."""
        for user in self._users.values():
            user.api.close()
        if self.admin:
            self.admin.api.close()
        codes = self.processes.stop_all()
        shutil.rmtree(self.dir, ignore_errors=True)
        return codes

    def check_alive(self):
        self.processes.check_alive()

    def log(self, name, tail=6000):
        path = self.logs / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    # ---- identities

    def _write_kubeconfig(self, name, user, cert=None, key=None, token=None):
        path = self.dir / f"{name}.kubeconfig"
        path.unlink(missing_ok=True)
        k = [self.kubectl_path, "config", "--kubeconfig", str(path)]
        steps = [["set-cluster", "evssnap-test", "--server", self.server,
                  "--certificate-authority", str(self.pki.ca_crt), "--embed-certs"],
                 ["set-credentials", user] + (["--client-certificate", str(cert), "--client-key", str(key),
                                               "--embed-certs"] if cert else ["--token", token]),
                 ["set-context", "evssnap-test", "--cluster", "evssnap-test", "--user", user],
                 ["use-context", "evssnap-test"]]
        for step in steps:
            result = subprocess.run(k + step, capture_output=True, text=True, timeout=30)
            if result.returncode != 0:
                raise HarnessError(f"kubectl config {step[0]}: {result.stderr}")
        path.chmod(0o600)
        return path

    def _cert_user(self, user, crt, key, name=None):
        name = name or user.replace(":", "-")
        kubeconfig = self._write_kubeconfig(name, user, cert=crt, key=key)
        return User(self, user, kubeconfig, Api(self.server, self.pki.ca_crt, cert=crt, key=key))

    def user(self, name, groups=()):
        """A user authenticated by a client certificate (CN=name, O=each group); no permissions until bound."""
        if name not in self._users:
            crt, key = self.pki.client(f"user-{name}", name, groups)
            self._users[name] = self._cert_user(name, crt, key, name=f"user-{name}")
        return self._users[name]

    def service_account_user(self, namespace, name, seconds=3600):
        """A ServiceAccount (which must exist) authenticated by a bound token from the TokenRequest API."""
        request = {"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                   "spec": {"expirationSeconds": seconds}}
        token = self.admin.api.create(f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
                                      request)["status"]["token"]
        user = f"system:serviceaccount:{namespace}:{name}"
        kubeconfig = self._write_kubeconfig(f"sa-{namespace}-{name}", user, token=token)
        return User(self, user, kubeconfig, Api(self.server, self.pki.ca_crt, token=token))

    # ---- kubectl

    def run_kubectl(self, kubeconfig, args, check=True, input=None, timeout=60.0, env=None):
        # KUBECONFIG, not --kubeconfig: kubectl refuses flags before a plugin's name.
        argv = [self.kubectl_path, *map(str, args)]
        full_env = dict(os.environ, **(env or {}))
        full_env["KUBECONFIG"] = str(kubeconfig)
        result = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=timeout, env=full_env)
        if check and result.returncode != 0:
            raise HarnessError(f"kubectl {' '.join(argv[1:])} exited with {result.returncode}:\n"
                               f"stdout: {result.stdout}\nstderr: {result.stderr}")
        return result


# ---------------------------------------------------------------- a CSI driver with its sidecars


def csi_bindings(proto_dir, out_dir):
    """(csi_pb2, csi_pb2_grpc) compiled from proto_dir/csi.proto with grpcio-tools into out_dir."""
    import importlib
    import sys

    import grpc_tools
    from grpc_tools import protoc
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    rc = protoc.main(["grpc_tools.protoc", f"-I{proto_dir}", f"-I{well_known}", f"--python_out={out_dir}",
                      f"--grpc_python_out={out_dir}", str(pathlib.Path(proto_dir) / "csi.proto")])
    if rc != 0:
        raise HarnessError(f"grpc_tools.protoc failed on {proto_dir}/csi.proto")
    sys.path.insert(0, str(out_dir))
    try:
        return importlib.import_module("csi_pb2"), importlib.import_module("csi_pb2_grpc")
    finally:
        sys.path.remove(str(out_dir))


class CSIStack:
    """A CSI driver process on a unix socket, registered as kubelet would register it (Node and CSINode from
    NodeGetInfo), with csi-provisioner, csi-snapshotter, csi-attacher and csi-resizer on its socket.

    `driver_argv` is the driver's command line; it must listen on `socket`. The sidecars run as `identity`
    (a User whose kubeconfig they use). `sidecar_args` maps a sidecar name to extra flags."""

    SIDECARS = ("csi-provisioner", "csi-snapshotter", "csi-attacher", "csi-resizer")

    def __init__(self, cluster, name, driver_argv, socket_path, csi_pb, node_name, identity, sidecar_args=None,
                 driver_env=None):
        self.cluster, self.name, self.driver_argv = cluster, name, list(driver_argv)
        self.socket = pathlib.Path(socket_path)
        self.pb, self.pb_grpc = csi_pb
        self.node_name, self.identity = node_name, identity
        self.sidecar_args = sidecar_args or {}
        self.driver_env = driver_env
        self.logs = cluster.logs
        self.processes = ProcessGroup(self.logs)
        self.driver = None
        self.channel = None
        self.node_id = None
        self.topology = {}

    def start(self, timeout=60.0):
        import grpc
        t0 = time.monotonic()
        try:
            self.driver = self.processes.start(f"{self.name}-driver", self.driver_argv, env=self.driver_env, settle=0)
            wait_for(f"{self.name} driver socket {self.socket}",
                     lambda: self.driver.check_alive() or self.socket.exists(), timeout, interval=0.02)
            self.channel = grpc.insecure_channel(f"unix://{self.socket}")
            grpc.channel_ready_future(self.channel).result(timeout=timeout)
            self.identity_stub = self.pb_grpc.IdentityStub(self.channel)
            self.controller = self.pb_grpc.ControllerStub(self.channel)
            self.node = self.pb_grpc.NodeStub(self.channel)
            info = self.identity_stub.GetPluginInfo(self.pb.GetPluginInfoRequest(), timeout=10)
            if info.name != self.name:
                raise HarnessError(f"driver on {self.socket} is {info.name!r}, expected {self.name!r}")
            self.register_node()
            sock = str(self.socket)
            base = ["--csi-address", sock, "--kubeconfig", str(self.identity.kubeconfig), "--v", "2"]
            common = {
                "csi-provisioner": ["--leader-election=false", "--extra-create-metadata",
                                    "--feature-gates", "Topology=true", "--timeout", "60s"],
                "csi-snapshotter": ["--leader-election=false", "--extra-create-metadata", "--timeout", "60s"],
                "csi-attacher": ["--leader-election=false", "--timeout", "60s"],
                "csi-resizer": ["--leader-election=false", "--timeout", "60s"],
            }
            for sidecar in self.SIDECARS:
                self.processes.start(f"{self.name}-{sidecar}", [self.cluster.bin / sidecar, *base, *common[sidecar],
                                                               *self.sidecar_args.get(sidecar, [])], settle=0)
            time.sleep(0.3)
            self.processes.check_alive()
        except BaseException:
            self.stop()
            raise
        self.cluster.timings[f"{self.name} stack up"] = time.monotonic() - t0
        return self

    def register_node(self):
        """What kubelet's plugin registration does: NodeGetInfo, then the Node's topology labels and a CSINode
        entry mapping this driver to its node id with its topology keys."""
        info = self.node.NodeGetInfo(self.pb.NodeGetInfoRequest(), timeout=10)
        self.node_id = info.node_id
        self.topology = dict(info.accessible_topology.segments) if info.HasField("accessible_topology") else {}
        api = self.cluster.admin.api
        node = api.get_or_none(f"/api/v1/nodes/{self.node_name}")
        if node is None:
            api.create("/api/v1/nodes", {"apiVersion": "v1", "kind": "Node",
                                         "metadata": {"name": self.node_name,
                                                      "labels": {"kubernetes.io/hostname": self.node_name,
                                                                 **self.topology}}})
        else:
            api.merge_patch(f"/api/v1/nodes/{self.node_name}", {"metadata": {"labels": self.topology}})
        entry = {"name": self.name, "nodeID": self.node_id, "topologyKeys": sorted(self.topology)}
        if info.max_volumes_per_node:
            entry["allocatable"] = {"count": info.max_volumes_per_node}
        csinode_path = f"/apis/storage.k8s.io/v1/csinodes/{self.node_name}"
        csinode = api.get_or_none(csinode_path)
        if csinode is None:
            api.create("/apis/storage.k8s.io/v1/csinodes", {
                "apiVersion": "storage.k8s.io/v1", "kind": "CSINode", "metadata": {"name": self.node_name},
                "spec": {"drivers": [entry]}})
        else:
            drivers = [d for d in csinode["spec"].get("drivers") or [] if d["name"] != self.name] + [entry]
            csinode["spec"]["drivers"] = drivers
            api.request("PUT", csinode_path, csinode)

    def check_alive(self):
        self.processes.check_alive()

    def stop(self):
        """Sidecars, then the driver (SIGTERM by pid); the CSINode entry removed. Returns the exit codes."""
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        codes = self.processes.stop_all()
        with contextlib.suppress(Exception):
            api = self.cluster.admin.api
            csinode_path = f"/apis/storage.k8s.io/v1/csinodes/{self.node_name}"
            csinode = api.get_or_none(csinode_path)
            if csinode is not None:
                csinode["spec"]["drivers"] = [d for d in csinode["spec"].get("drivers") or [] if d["name"] != self.name]
                api.request("PUT", csinode_path, csinode)
        return codes

    def log(self, part="driver", tail=6000):
        return self.cluster.log(f"{self.name}-{part}", tail)
