#!/usr/bin/env python3
"""Run the driver's image with podman, serving on a unix socket in a host folder, and call it from the host.

    probe_image.py --image TAG --podman-run "podman run --runtime /usr/sbin/runc --ulimit ..."

The container (no network) bind-mounts a fresh host folder at /csi and serves unix:///csi/csi.sock in --mode all.
From the host, with grpcio and stubs compiled from proto/csi.proto: Probe (ready), GetPluginInfo (name and version),
NodeGetInfo, and a CreateVolume / ListVolumes / DeleteVolume round trip, which needs the emulator's SQLite and
file layer inside the image. Then SIGTERM (podman stop): exit code 0, and the container is removed.
Prints the time from `podman run` to the first served Probe.

--kube-access gives the container an in-cluster service account (KUBERNETES_SERVICE_HOST/PORT and a token and CA
mounted where client-go reads them), as a pod in a cluster has. `serve`: the image can use it (the controller
image, with libcurl) and the checks above run. `refuse`: the image cannot (the node image, without libcurl), so the
driver must stop at start with exit code 1 and say that libcurl is missing, rather than ignore PVC annotations.
"""
import argparse
import importlib
import os
import pathlib
import shlex
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parents[2]


def say(text):
    print(f"test-image: {text}", flush=True)


def csi_stubs(out):
    import grpc_tools
    from grpc_tools import protoc
    well_known = pathlib.Path(grpc_tools.__file__).parent / "_proto"
    rc = protoc.main(["protoc", f"-I{REPO / 'proto'}", f"-I{well_known}", f"--python_out={out}",
                      f"--grpc_python_out={out}", str(REPO / "proto" / "csi.proto")])
    assert rc == 0, "protoc failed on proto/csi.proto"
    sys.path.insert(0, str(out))
    return importlib.import_module("csi_pb2"), importlib.import_module("csi_pb2_grpc")


def serve(pb, pb_grpc, sock, name, started):
    """The container serves: Probe, GetPluginInfo, NodeGetInfo and a volume round trip, from the host."""
    import grpc
    channel = None
    deadline = time.monotonic() + 60
    while True:
        if sock.exists():
            channel = grpc.insecure_channel(f"unix://{sock}")
            try:
                ready = pb_grpc.IdentityStub(channel).Probe(pb.ProbeRequest(), timeout=2)
                break
            except grpc.RpcError:
                channel.close()
        state = subprocess.run(["podman", "inspect", "--format", "{{.State.Status}}", name],
                               capture_output=True, text=True).stdout.strip()
        if state not in ("running", "created", "configured") or time.monotonic() > deadline:
            logs = subprocess.run(["podman", "logs", name], capture_output=True, text=True)
            raise AssertionError(f"no Probe answered on {sock} (container {state}):\n{logs.stdout}{logs.stderr}")
        time.sleep(0.05)
    say(f"Probe answered {time.monotonic() - started:.2f} s after podman run (ready: {ready.ready.value})")
    assert ready.ready.value, "Probe: not ready"
    identity = pb_grpc.IdentityStub(channel)
    info = identity.GetPluginInfo(pb.GetPluginInfoRequest(), timeout=10)
    say(f"GetPluginInfo: {info.name} {info.vendor_version}")
    assert info.name == "disk.csi.everest.io" and info.vendor_version, info
    node = pb_grpc.NodeStub(channel).NodeGetInfo(pb.NodeGetInfoRequest(), timeout=10)
    assert node.node_id == "image-node", node
    controller = pb_grpc.ControllerStub(channel)
    cap = pb.VolumeCapability(mount=pb.VolumeCapability.MountVolume(),
                              access_mode=pb.VolumeCapability.AccessMode(mode=pb.VolumeCapability.AccessMode.SINGLE_NODE_WRITER))
    volume = controller.CreateVolume(pb.CreateVolumeRequest(
        name="image-test", capacity_range=pb.CapacityRange(required_bytes=1 << 30), volume_capabilities=[cap]),
        timeout=30).volume
    listed = [e.volume.volume_id for e in controller.ListVolumes(pb.ListVolumesRequest(), timeout=10).entries]
    assert listed == [volume.volume_id], listed
    controller.DeleteVolume(pb.DeleteVolumeRequest(volume_id=volume.volume_id), timeout=30)
    say("NodeGetInfo, CreateVolume, ListVolumes, DeleteVolume answered from inside the image")
    channel.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--image", required=True)
    parser.add_argument("--podman-run", required=True, help="the podman run command and its fixed flags")
    parser.add_argument("--kube-access", choices=["refuse", "serve"], help="run with an in-cluster service account")
    args = parser.parse_args()
    import grpc

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="evs-img-", dir="/tmp"))
    sock = tmp / "csi.sock"
    name = f"evssnap-image-test-{os.getpid()}"
    (tmp / "pb").mkdir()
    pb, pb_grpc = csi_stubs(tmp / "pb")
    kube = []
    if args.kube_access:
        account = tmp / "serviceaccount"
        account.mkdir()
        (account / "token").write_text("image-test-token\n")
        (account / "ca.crt").write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
        (account / "namespace").write_text("kube-system\n")
        kube = ["-e", "KUBERNETES_SERVICE_HOST=127.0.0.1", "-e", "KUBERNETES_SERVICE_PORT=6443",
                "-v", f"{account}:/var/run/secrets/kubernetes.io/serviceaccount:ro"]
    command = shlex.split(args.podman_run) + [
        "-d", "--name", name, "--network", "none", "-v", f"{tmp}:/csi", *kube, args.image,
        "--endpoint", "unix:///csi/csi.sock", "--mode", "all", "--node-id", "image-node",
        "--state-dir", "/var/lib/evssnap", "--socket-mode", "0660"]
    say(" ".join(command))
    started = time.monotonic()
    run = subprocess.run(command, capture_output=True, text=True)
    problems = []
    try:
        if run.returncode != 0:
            raise AssertionError(f"podman run failed ({run.returncode}): {run.stderr.strip()}")
        if args.kube_access == "refuse":
            code = subprocess.run(["podman", "wait", name], capture_output=True, text=True, timeout=60).stdout.strip()
            logs = subprocess.run(["podman", "logs", name], capture_output=True, text=True)
            text = logs.stdout + logs.stderr
            assert code == "1", f"the driver exited with {code!r}, not 1, given Kubernetes access without libcurl:\n{text}"
            assert "libcurl" in text, f"the driver's log does not say that libcurl is missing:\n{text}"
            say("with an in-cluster service account and no libcurl the driver stops at start, exit 1: "
                + next(line for line in text.splitlines() if "libcurl" in line).strip()[:200])
        else:
            serve(pb, pb_grpc, sock, name, started)
    except AssertionError as error:
        problems.append(str(error))
    finally:
        if run.returncode == 0 and args.kube_access == "refuse":
            subprocess.run(["podman", "rm", "-f", "-v", name], capture_output=True)
        elif run.returncode == 0:
            subprocess.run(["podman", "stop", "-t", "10", name], capture_output=True)
            code = subprocess.run(["podman", "inspect", "--format", "{{.State.ExitCode}}", name],
                                  capture_output=True, text=True).stdout.strip()
            if code != "0":
                logs = subprocess.run(["podman", "logs", name], capture_output=True, text=True)
                problems.append(f"the driver exited with {code} on SIGTERM:\n{logs.stdout}{logs.stderr}")
            subprocess.run(["podman", "rm", "-f", "-v", name], capture_output=True)
        left = subprocess.run(["podman", "ps", "-a", "--filter", f"name={name}", "--format", "{{.ID}}"],
                              capture_output=True, text=True).stdout.strip()
        if left:
            problems.append(f"container {name} is left: {left}")
        if sock.exists():
            sock.unlink()
        subprocess.run(["rm", "-rf", str(tmp)])
    for problem in problems:
        say(f"FAILED: {problem}")
    if not problems and args.kube_access == "refuse":
        say("passed: given Kubernetes access it cannot use, the image refuses to start and leaves no container")
    elif not problems:
        say("passed: the image serves on a host socket, exits 0 on SIGTERM and leaves no container")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
