#!/usr/bin/env python3
"""Run the real csi-sanity (kubernetes-csi/csi-test) against the built evs-csi-driver, and check what it leaves.

    run_csi_sanity.py --driver BIN/evs-csi-driver --csi-sanity TESTBIN/csi-sanity --run default|attachlimit

One run: a fresh temp dir /tmp/evs-sanity-XXXX (short: unix socket paths are limited to 107 bytes) holding the
socket, the emulator's state, csi-sanity's mount and staging folders; the driver in --mode all with --node-id
sanity-node, in its own session; csi-sanity with a JUnit report. The run fails when:
  - a spec failed;
  - a spec was skipped that docs/driver.md ("csi-sanity" section) does not name with the capability that skips it;
  - fewer specs passed than --min-passed;
  - after the driver stopped (SIGTERM, exit 0 expected): a mount under the temp dir (/proc/self/mountinfo), a loop
    device on a file under it (`losetup -j` on every file of the state, and /sys/block/loop*/loop/backing_file, which
    also shows deleted images), or a process of the driver's session or naming the temp dir is left;
  - the secrets run (attachlimit) finds a secret's value in the driver's debug log;
  - the run with mutable parameters (attachlimit) finds fewer than 2 ControllerModifyVolume calls answered OK that
    carried them (the two "should modify" specs) in the driver's debug log: the specs must really modify.
Whatever was left is reported, then removed (unmounted, detached, killed by pid) so the machine stays clean.
Only the standard library: it runs with any python3.
"""
import argparse
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

REPO = pathlib.Path(__file__).resolve().parents[2]
NODE_ID = "sanity-node"
SECRET_VALUES = {  # csi-sanity sends these in every RPC that carries secrets; none may reach the log
    "CreateVolumeSecret": "sanity-create-volume-secret-value",
    "DeleteVolumeSecret": "sanity-delete-volume-secret-value",
    "ControllerPublishVolumeSecret": "sanity-controller-publish-secret-value",
    "ControllerUnpublishVolumeSecret": "sanity-controller-unpublish-secret-value",
    "ControllerValidateVolumeCapabilitiesSecret": "sanity-validate-secret-value",
    "NodeStageVolumeSecret": "sanity-node-stage-secret-value",
    "NodePublishVolumeSecret": "sanity-node-publish-secret-value",
    "CreateSnapshotSecret": "sanity-create-snapshot-secret-value",
    "DeleteSnapshotSecret": "sanity-delete-snapshot-secret-value",
    "ListSnapshotsSecret": "sanity-list-snapshots-secret-value",
    "ControllerExpandVolumeSecret": "sanity-controller-expand-secret-value",
    "NodeExpandVolumeSecret": "sanity-node-expand-secret-value",
    "ModifyVolumeSecret": "sanity-modify-volume-secret-value",
}
# The second run makes every volume a GPSSD2 disk with provisioned performance (--csi.testvolumeparameters) and
# has the ModifyVolume specs change it (--csi.testvolumemutableparameters), so they really modify something; the
# default run sends no parameters (SAS disks), where ModifyVolume with no mutable parameters is a no-op.
GPSSD2_PARAMETERS = {"everest.io/disk-volume-type": "GPSSD2", "everest.io/disk-iops": "3000",
                     "everest.io/disk-throughput": "125"}
GPSSD2_MUTABLE_PARAMETERS = {"everest.io/disk-iops": "6000", "everest.io/disk-throughput": "250"}
RUNS = {
    "default": {"args": [], "log_level": "info", "secrets": False},
    "attachlimit": {"args": ["--csi.testnodevolumeattachlimit", "--csi.testvolumesize=1073741824"],
                    "log_level": "debug", "secrets": True,
                    "parameters": GPSSD2_PARAMETERS, "mutable_parameters": GPSSD2_MUTABLE_PARAMETERS},
}


def say(text):
    print(f"csi-sanity: {text}", flush=True)


# ---- what docs/driver.md says csi-sanity skips, and why

def documented_skips(doc):
    """Rows `| spec text | capability |` of the table under the heading that names csi-sanity's skipped specs."""
    rows, inside = [], False
    for line in doc.read_text().splitlines():
        if line.startswith("#"):
            inside = "csi-sanity" in line and "skip" in line.lower()
            continue
        if inside and line.startswith("|") and not set(line) <= set("|- "):
            cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
            if len(cells) >= 2 and cells[0] and cells[0].lower() != "spec" and cells[1]:
                rows.append((cells[0], cells[1]))
    return rows


# ---- leftovers

def unescape(field):
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def mounts_under(prefix):
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = unescape(line.split()[4])
            if point == prefix or point.startswith(prefix + "/"):
                found.append(point)
    return found


def loops_under(prefix):
    """Loop devices on a file under `prefix`: `losetup -j` on every file there, and sysfs (deleted files too)."""
    found = set()
    if shutil.which("losetup"):
        for path in pathlib.Path(prefix).rglob("*"):
            try:
                if not path.is_file() or path.is_symlink():
                    continue
            except OSError:
                continue
            out = subprocess.run(["losetup", "-j", str(path)], capture_output=True, text=True).stdout
            for line in out.splitlines():
                found.add(line.split(":")[0])
    for backing in pathlib.Path("/sys/block").glob("loop*/loop/backing_file"):
        try:
            if backing.read_text().strip().startswith(prefix + "/"):
                found.add("/dev/" + backing.parent.parent.name)
        except OSError:
            pass
    return sorted(found)


def processes_of(session, prefix):
    """Pids in the driver's session (its children, e.g. mkfs), or whose command line names the temp dir."""
    found = []
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        sid = int(fields[3])
        if sid == session or prefix in cmdline:
            found.append((int(proc.name), cmdline.strip()))
    return found


def remove_leftovers(mounts, loops, procs):
    for pid, _ in procs:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for point in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", point], capture_output=True)
    for device in loops:
        subprocess.run(["losetup", "-d", device], capture_output=True)


# ---- one run

def run(args):
    spec = RUNS[args.run]
    tmp = tempfile.mkdtemp(prefix="evs-sanity-", dir="/tmp")
    sock, state, mnt, stg = f"{tmp}/csi.sock", f"{tmp}/state", f"{tmp}/mnt", f"{tmp}/stg"
    junit, log_path, out_path = f"{tmp}/junit.xml", f"{tmp}/driver.log", f"{tmp}/csi-sanity.out"
    problems = []

    driver_args = [args.driver, "--endpoint", f"unix://{sock}", "--state-dir", state, "--node-id", NODE_ID,
                   "--mode", "all", "--log-level", spec["log_level"], "--shutdown-grace", "5"]
    with open(log_path, "wb") as log:
        driver = subprocess.Popen(driver_args, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while not os.path.exists(sock):
        if driver.poll() is not None or time.monotonic() > deadline:
            driver.kill()
            driver.wait()
            say(f"the driver did not start:\n{pathlib.Path(log_path).read_text(errors='replace')[-4000:]}")
            return 1
        time.sleep(0.05)

    sanity_args = [args.csi_sanity, f"--csi.endpoint=unix://{sock}", f"--csi.mountdir={mnt}",
                   f"--csi.stagingdir={stg}", f"--ginkgo.junit-report={junit}", "--ginkgo.no-color",
                   f"--ginkgo.timeout={args.timeout}s"] + spec["args"]
    for key, flag in (("parameters", "testvolumeparameters"), ("mutable_parameters", "testvolumemutableparameters")):
        if spec.get(key):
            path = f"{tmp}/{key}.yaml"
            pathlib.Path(path).write_text("".join(f'{name}: "{value}"\n' for name, value in spec[key].items()))
            sanity_args.append(f"--csi.{flag}={path}")
    if spec["secrets"]:
        secrets = f"{tmp}/secrets.yaml"
        pathlib.Path(secrets).write_text("".join(f"{key}:\n  secretKey: {value}\n" for key, value in SECRET_VALUES.items()))
        sanity_args.append(f"--csi.secrets={secrets}")
    say(f"run '{args.run}': {' '.join(sanity_args[1:])}")
    started = time.monotonic()
    with open(out_path, "wb") as out:
        try:
            # csi-sanity's own temp files go to the run's folder (its cwd) and are removed with it
            rc = subprocess.run(sanity_args, stdout=out, stderr=subprocess.STDOUT, cwd=tmp,
                                timeout=args.timeout + 60).returncode
        except subprocess.TimeoutExpired:
            rc = None
            problems.append(f"csi-sanity did not finish within {args.timeout + 60} s")
    seconds = time.monotonic() - started

    driver.send_signal(signal.SIGTERM)
    try:
        driver_rc = driver.wait(timeout=30)
    except subprocess.TimeoutExpired:
        driver.kill()
        driver_rc = driver.wait()
        problems.append("the driver did not exit within 30 s of SIGTERM")
    if driver_rc != 0:
        problems.append(f"the driver exited with {driver_rc} on SIGTERM")

    # ---- the results
    counts = {"passed": 0, "failed": 0, "skipped": 0, "pending": 0}
    failed, skipped = [], []
    if os.path.exists(junit):
        for case in ET.parse(junit).getroot().iter("testcase"):
            status = case.get("status")
            name = case.get("name", "").removeprefix("[It] ")
            if status == "passed":
                counts["passed"] += 1
            elif status == "skipped":
                counts["skipped"] += 1
                reason = case.find("skipped")
                skipped.append((name, (reason.get("message", "") if reason is not None else "").removeprefix("skipped - ")))
            elif status == "pending":
                counts["pending"] += 1
            else:  # failed, panicked, interrupted, timedout
                counts["failed"] += 1
                failure = case.find("failure")
                message = failure.get("message", "") if failure is not None else status
                failed.append((name, message.strip().splitlines()[0] if message.strip() else status))
    else:
        problems.append(f"csi-sanity wrote no report (exit {rc}); its output ends:\n"
                        + pathlib.Path(out_path).read_text(errors="replace")[-3000:])
    say(f"run '{args.run}': {counts['passed']} passed, {counts['failed']} failed, {counts['skipped']} skipped, "
        f"{counts['pending']} pending ({seconds:.1f} s)")
    for name, message in failed:
        say(f"  FAILED {name}: {message}")
    if counts["failed"]:
        problems.append(f"{counts['failed']} specs failed")
    if rc not in (0, None) and not counts["failed"]:
        problems.append(f"csi-sanity exited with {rc}")
    if counts["passed"] < args.min_passed:
        problems.append(f"{counts['passed']} specs passed, at least {args.min_passed} expected")

    documented = documented_skips(REPO / "docs" / "driver.md")
    for name, reason in skipped:
        why = [cap for text, cap in documented if text in name]
        if why:
            say(f"  skipped {name} ({reason}): {why[0]}")
        else:
            problems.append(f"skipped spec not named in docs/driver.md (csi-sanity section): {name} ({reason})")

    if spec["secrets"]:
        log_text = pathlib.Path(log_path).read_text(errors="replace")
        leaked = [key for key, value in SECRET_VALUES.items() if value in log_text]
        if leaked:
            problems.append(f"secret values in the driver's log: {', '.join(leaked)}")
        else:
            say(f"  no secret value in the driver's debug log ({len(log_text.splitlines())} lines)")

    if spec.get("mutable_parameters"):
        wanted = [f'"{key}": "{value}"' for key, value in spec["mutable_parameters"].items()]
        modified = [line for line in pathlib.Path(log_path).read_text(errors="replace").splitlines()
                    if "method=/csi.v1.Controller/ControllerModifyVolume" in line and "code=OK" in line
                    and all(text in line for text in wanted)]
        if len(modified) < 2:
            problems.append(f"{len(modified)} ControllerModifyVolume calls with {', '.join(wanted)} answered OK, 2 expected")
        else:
            say(f"  {len(modified)} ControllerModifyVolume calls changed a GPSSD2 disk to {', '.join(wanted)}")

    # ---- what is left behind
    time.sleep(0.2)
    mounts, loops, procs = mounts_under(tmp), loops_under(tmp), processes_of(driver.pid, tmp)
    say(f"  left behind: {len(mounts)} mounts, {len(loops)} loop devices, {len(procs)} processes under {tmp}")
    for point in mounts:
        problems.append(f"mount left: {point}")
    for device in loops:
        problems.append(f"loop device left: {device}")
    for pid, cmdline in procs:
        problems.append(f"process left: {pid} {cmdline}")
    if mounts or loops or procs:
        remove_leftovers(mounts, loops, procs)

    if problems:
        for problem in problems:
            say(f"FAIL ({args.run}): {problem}")
        keep = pathlib.Path(args.keep_logs) if args.keep_logs else None
        if keep:
            keep.mkdir(parents=True, exist_ok=True)
            for name in ("driver.log", "csi-sanity.out", "junit.xml"):
                if os.path.exists(f"{tmp}/{name}"):
                    shutil.copy(f"{tmp}/{name}", keep / f"{args.run}-{name}")
            say(f"logs kept in {keep}")
    if not mounts_under(tmp) and not loops_under(tmp):
        shutil.rmtree(tmp, ignore_errors=True)
    return 1 if problems else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--driver", required=True, help="the built evs-csi-driver")
    parser.add_argument("--csi-sanity", required=True, help="the csi-sanity binary")
    parser.add_argument("--run", choices=sorted(RUNS), required=True)
    parser.add_argument("--min-passed", type=int, default=0, help="fail when fewer specs pass")
    parser.add_argument("--timeout", type=int, default=600, help="csi-sanity's own time limit, seconds")
    parser.add_argument("--keep-logs", help="copy the logs of a failed run here")
    args = parser.parse_args()
    if os.geteuid() != 0:
        say("needs root (the Node specs stage and mount real loop devices)")
        return 1
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
