"""kubectl evssnap ends quietly when its reader goes away (issue 13): `kubectl evssnap list -A | head -3` must not
crash. Every command's stdout (and stderr) goes to a pipe whose reader has closed; the plugin must end as kubectl
does on a broken pipe (killed by SIGPIPE, status 141 in a shell) with no message and no backtrace.

Against the fake API server of Tests/fake-apiserver (seeded from the recorded cluster), through the real kubectl.
"""
import os
import signal
import subprocess

import pytest

from test_kubectl_dispatch import KUBECTL, fake_cluster, plugin_path  # noqa: F401 (fixtures)

# Each command with output on stdout, run in namespace apps of the seeded fake cluster.
COMMANDS = [
    ["version"],
    ["--help"],
    ["create", "--help"],
    ["list", "-A"],
    ["list", "-o", "wide"],
    ["list", "-o", "yaml"],
    ["list", "-o", "json"],
    ["list", "-o", "name"],
    ["describe", "snap-1"],
    ["check"],
    ["check", "data-ssd"],
    ["create", "data-ssd", "--name", "epipe-snap", "--dry-run=client", "-o", "yaml"],
    ["restore", "snap-1", "--to", "epipe-restore", "--dry-run=client", "-o", "yaml"],
]


def run_into_closed_pipe(argv, env, stream):
    """Runs argv with `stream` (stdout or stderr) on a pipe whose read end is already closed."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the program writes anything: every write gets EPIPE
    try:
        other = subprocess.PIPE
        kwargs = {"stdout": write_end, "stderr": other} if stream == "stdout" else {"stdout": other, "stderr": write_end}
        proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, **kwargs)
    finally:
        os.close(write_end)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, (err if stream == "stdout" else out) or b""


def assert_quiet_sigpipe(rc, other_stream, what):
    text = other_stream.decode(errors="replace")
    assert "Fatal error" not in text and "Stack dump" not in text and "Current stack trace" not in text, f"{what}: {text}"
    assert rc == -signal.SIGPIPE, f"{what}: exit {rc} (kubectl ends by SIGPIPE), other stream: {text!r}"


@pytest.mark.parametrize("args", COMMANDS, ids=lambda a: " ".join(a))
def test_each_command_ends_quietly_when_stdout_is_closed(plugin_path, fake_cluster, args):  # noqa: F811
    _, env = plugin_path
    extra = []
    if args != ["version"] and "--help" not in args:
        extra = ["--kubeconfig", fake_cluster["kubeconfig"]] + ([] if "-A" in args else ["-n", "apps"])
    rc, err = run_into_closed_pipe([KUBECTL, "evssnap", *args, *extra], env, "stdout")
    assert_quiet_sigpipe(rc, err, " ".join(args))
    assert err == b"", err.decode()


def test_delete_ends_quietly_when_stdout_is_closed_and_still_deletes(plugin_path, fake_cluster):  # noqa: F811
    _, env = plugin_path
    kc = ["--kubeconfig", fake_cluster["kubeconfig"], "-n", "apps"]
    made = subprocess.run([KUBECTL, "evssnap", "create", "data-ssd", "--name", "epipe-del", *kc], env=env,
                          capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    rc, err = run_into_closed_pipe([KUBECTL, "evssnap", "delete", "epipe-del", "--force", *kc], env, "stdout")
    assert_quiet_sigpipe(rc, err, "delete")
    gone = subprocess.run([KUBECTL, "get", "volumesnapshots.snapshot.storage.k8s.io", "epipe-del", *kc], env=env,
                          capture_output=True, text=True, timeout=60)
    assert gone.returncode == 1 and "NotFound" in gone.stderr, gone.stdout + gone.stderr


def test_errors_on_a_closed_stderr_end_quietly(plugin_path, fake_cluster):  # noqa: F811
    _, env = plugin_path
    kc = ["--kubeconfig", fake_cluster["kubeconfig"]]
    # "No snapshots found in nowhere namespace." goes to stderr; a NotFound error too.
    for args in (["list", "-n", "nowhere"], ["describe", "nope", "-n", "apps"]):
        rc, out = run_into_closed_pipe([KUBECTL, "evssnap", *args, *kc], env, "stderr")
        assert_quiet_sigpipe(rc, out, " ".join(args))


def test_kubectl_itself_ends_the_same_way(plugin_path, fake_cluster):  # noqa: F811
    """The bar: kubectl's own behaviour on a closed stdout, measured here, is what the plugin does above."""
    _, env = plugin_path
    rc, err = run_into_closed_pipe([KUBECTL, "get", "volumesnapshots.snapshot.storage.k8s.io", "-A",
                                    "--kubeconfig", fake_cluster["kubeconfig"]], env, "stdout")
    # (The fake server's partial discovery makes kubectl log memcache lines on stderr; the end is what counts.)
    assert rc == -signal.SIGPIPE and b"panic" not in err, (rc, err)


def test_a_reader_that_stops_after_three_lines(plugin_path, fake_cluster):  # noqa: F811
    """`kubectl evssnap list -A -o yaml | head -3`: the reader takes a little, then closes mid-output."""
    _, env = plugin_path
    proc = subprocess.Popen(f'"{KUBECTL}" evssnap list -A -o yaml --kubeconfig "{fake_cluster["kubeconfig"]}" | head -3; '
                            'echo "status=${PIPESTATUS[0]}" >&2',
                            shell=True, executable="/bin/bash", env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.communicate(timeout=60)
    assert len(out.decode().splitlines()) == 3, out
    text = err.decode()
    assert "Fatal error" not in text and "Stack dump" not in text, text
    # 0 when the output fit in the pipe before head closed it; 141 (SIGPIPE) otherwise; never a crash (134, 132).
    assert text.strip().splitlines()[-1] in ("status=0", "status=141"), text
