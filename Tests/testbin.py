#!/usr/bin/env python3
"""Where the real reference programs come from: the folder named by $EVSSNAP_TESTBIN, and nowhere else.

This is envtest's convention (KUBEBUILDER_ASSETS): whoever runs the tests brings the binaries; the project builds
none of them and carries none of their code (docs/driver.md "csi-sanity", docs/cluster.md "End-to-end test").

    folder = testbin.require("test-cluster", testbin.CLUSTER)   # a pathlib.Path, or None: skip
    testbin.skip(pytest, "test-cluster", testbin.CLUSTER)      # the same for a pytest test: skips or fails it
    testbin.require(...) raises TestbinError when the folder is set but lacks a binary or holds one that cannot run

Three outcomes, the same for every suite:
  - EVSSNAP_TESTBIN unset: the suite skips; `skip_line()` is the one line it prints (what it skipped, what to
    provide) and `record_skip()` adds that line to $EVSSNAP_SKIPPED, which `make test` prints at its end;
  - set, with everything the suite needs runnable: the folder;
  - set, but a binary is missing, not executable, not a program this machine runs, or cannot load its libraries:
    an error naming each of them. A half-provided folder is a failure, never a skip.

From a shell (mk/sanity.mk, tools/bench-plugin.sh, bench/bench-rpc.sh):
    python3 Tests/testbin.py require SUITE BINARY...
prints the folder and exits 0; prints the skip line (and records it) and exits 3; or prints the error, exits 1.
    python3 Tests/testbin.py note LINE
prints LINE and records it: a recipe's skip for another reason (no podman, not root).
Only the standard library: any python3 runs it.
"""
import os
import pathlib
import subprocess
import sys

ENV = "EVSSNAP_TESTBIN"
SKIPPED_ENV = "EVSSNAP_SKIPPED"
EXIT_SKIP = 3

CSI_SANITY = ("csi-sanity",)
# A kubelet-less control plane with the snapshot controller (Tests/cluster/kubecluster.py, tools/bench-plugin.sh).
CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-controller-manager", "snapshot-controller")
# The four sidecars deploy/controller.yaml runs beside the driver.
SIDECARS = ("csi-provisioner", "csi-attacher", "csi-resizer", "csi-snapshotter")
CLUSTER = CONTROL_PLANE + SIDECARS
HOSTPATH = ("hostpathplugin",)
# A node: kubelet and kube-scheduler, and the two sidecars deploy/node.yaml runs beside the driver (Tests/realnode).
NODE = ("kube-scheduler", "kubelet", "csi-node-driver-registrar", "livenessprobe")

# How to get each one, for the skip line and the error (docs/driver.md and docs/cluster.md say more).
HOW_TO_GET = {
    "csi-sanity": "go install github.com/kubernetes-csi/csi-test/v5/cmd/csi-sanity@latest",
    "etcd": "setup-envtest (sigs.k8s.io/controller-runtime/tools/setup-envtest) or an etcd 3.6 release",
    "kube-apiserver": "setup-envtest, or a Kubernetes server release (kubernetes-server-linux-amd64.tar.gz)",
    "kube-controller-manager": "a Kubernetes server release (kubernetes-server-linux-amd64.tar.gz)",
    "snapshot-controller": "kubernetes-csi/external-snapshotter (make, or its release image)",
    "csi-snapshotter": "kubernetes-csi/external-snapshotter (make, or its release image)",
    "csi-provisioner": "kubernetes-csi/external-provisioner (make, or its release image)",
    "csi-attacher": "kubernetes-csi/external-attacher (make, or its release image)",
    "csi-resizer": "kubernetes-csi/external-resizer (make, or its release image)",
    "hostpathplugin": "kubernetes-csi/csi-driver-host-path (make, or its release image)",
    "kube-scheduler": "a Kubernetes server release (kubernetes-server-linux-amd64.tar.gz)",
    "kubelet": "a Kubernetes node or server release (kubernetes-node-linux-amd64.tar.gz)",
    "csi-node-driver-registrar": "kubernetes-csi/node-driver-registrar (make, or its release image)",
    "livenessprobe": "kubernetes-csi/livenessprobe (make, or its release image)",
}

_checked = {}
# The skip lines recorded in this process, in order: the pytest sessions print them at their end.
NOTED = []


class TestbinError(Exception):
    """EVSSNAP_TESTBIN is set, but does not hold what a suite needs in a form this machine can run."""


def folder():
    """The folder named by EVSSNAP_TESTBIN, or None when it is unset or empty."""
    value = os.environ.get(ENV, "").strip()
    return pathlib.Path(value) if value else None


def problem(path):
    """Why `path` cannot serve as a reference binary, or None when it runs. Running means: the kernel executes
    it and the dynamic loader finds its libraries; `--help` is asked for and its exit status ignored (Go programs
    exit 0 or 2 there). Checked once per path and process."""
    key = str(path)
    if key in _checked:
        return _checked[key]
    reason = None
    if not path.exists():
        reason = "missing"
    elif not path.is_file():
        reason = "not a file"
    elif not os.access(path, os.X_OK):
        reason = "not executable (chmod +x)"
    else:
        try:
            out = subprocess.run([str(path), "--help"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, timeout=60, env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
            text = out.stdout.decode(errors="replace")
            if "error while loading shared libraries" in text:
                reason = "cannot load its libraries: " + text.strip().splitlines()[0]
            elif out.returncode in (126, 127):
                reason = f"cannot run (exit {out.returncode}): {text.strip()[:200]}"
        except OSError as error:  # ENOEXEC (another architecture, a truncated file), EACCES, ...
            reason = f"cannot run: {error.strerror or error}"
        except subprocess.TimeoutExpired:
            reason = "did not answer --help within 60 s"
    _checked[key] = reason
    return reason


def skip_line(suite, needs):
    return (f"{suite}: SKIPPED: {ENV} is not set; provide a folder holding {', '.join(needs)} "
            f"and run with {ENV}=/that/folder (docs/driver.md, docs/cluster.md: how to get them)")


def record_skip(line):
    """Adds `line` to NOTED and to the file named by EVSSNAP_SKIPPED (once), which `make test` lists at its end."""
    if line not in NOTED:
        NOTED.append(line)
    target = os.environ.get(SKIPPED_ENV)
    if not target:
        return
    path = pathlib.Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists() and line in path.read_text().splitlines():
        return
    with open(path, "a") as f:
        f.write(line + "\n")


def require(suite, needs):
    """The testbin folder with every binary of `needs` runnable, or None (skip) when EVSSNAP_TESTBIN is unset.
    Raises TestbinError naming each binary that is missing or cannot run."""
    base = folder()
    if base is None:
        return None
    if not base.is_dir():
        raise TestbinError(f"{suite}: {ENV}={base} is not a folder")
    problems = [(name, problem(base / name)) for name in needs]
    problems = [(name, why) for name, why in problems if why]
    if problems:
        lines = [f"{suite}: {ENV}={base} does not hold what this suite needs:"]
        lines += [f"  {name}: {why} (get it: {HOW_TO_GET.get(name, 'see docs/cluster.md')})" for name, why in problems]
        raise TestbinError("\n".join(lines))
    return base


def skip(pytest, suite, needs):
    """For pytest: the folder holding `needs`; when EVSSNAP_TESTBIN is unset, records the skip line and skips the
    test; when the folder lacks one of them or holds one that cannot run, fails the test naming it."""
    try:
        base = require(suite, needs)
    except TestbinError as error:
        pytest.fail(str(error), pytrace=False)
    if base is None:
        line = skip_line(suite, needs)
        record_skip(line)
        pytest.skip(line)
    return base


def terminal_summary(terminalreporter):
    """For a conftest's pytest_terminal_summary: the skip lines of this session, one each."""
    for line in NOTED:
        terminalreporter.write_line(line)


def main(argv):
    if len(argv) == 2 and argv[0] == "note":
        print(argv[1])
        record_skip(argv[1])
        return 0
    if len(argv) < 3 or argv[0] != "require":
        print("usage: testbin.py require SUITE BINARY... | testbin.py note LINE", file=sys.stderr)
        return 64
    suite, needs = argv[1], argv[2:]
    try:
        base = require(suite, needs)
    except TestbinError as error:
        print(error, file=sys.stderr)
        return 1
    if base is None:
        line = skip_line(suite, needs)
        print(line, file=sys.stderr)
        record_skip(line)
        return EXIT_SKIP
    print(base)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
