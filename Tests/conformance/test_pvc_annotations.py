"""Everest's "PVC annotation wins over the StorageClass parameter" through the real driver (--kubeconfig)
against Tests/fake-apiserver: the seed's restore scenario (class csi-disk says SAS, the restore PVC's
annotation says SSD) must restore as SSD and pass R8, and a PVC that cannot be read fails the call."""
import json
import pathlib
import shutil
import ssl
import subprocess
import urllib.request

import grpc
import pytest

from csihelp import GIB, TYPE_KEY, Csi, expect_error

C = grpc.StatusCode
FAKE = pathlib.Path(__file__).resolve().parents[1] / "fake-apiserver" / "fake_apiserver.py"


@pytest.fixture(scope="module")
def apiserver(tmp_path_factory):
    if not FAKE.is_file():
        pytest.skip(f"{FAKE} is missing")
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed by the fake apiserver")
    directory = tmp_path_factory.mktemp("apiserver")
    proc = subprocess.Popen(["python3", str(FAKE), "--no-seed", "--dir", str(directory)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.skip(f"fake apiserver did not start: {proc.stderr.read()[-2000:]}")
    info = json.loads(line)
    yield info
    proc.terminate()
    proc.wait(timeout=10)


def create_pvc(info, name, annotations, namespace="default"):
    context = ssl.create_default_context(cafile=info["ca"])
    context.load_cert_chain(info["clientCert"], info["clientKey"])
    body = {
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "annotations": annotations},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "csi-disk",
                 "resources": {"requests": {"storage": "2Gi"}}},
    }
    request = urllib.request.Request(f"{info['url']}/api/v1/namespaces/{namespace}/persistentvolumeclaims",
                                     data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, context=context, timeout=10) as response:
        assert response.status == 201


def pvc_params(name, **extra):
    return {"csi.storage.k8s.io/pvc/name": name, "csi.storage.k8s.io/pvc/namespace": "default", **extra}


def test_pvc_annotation_overrides_class_parameter_for_new_disk_and_restore(start_driver, apiserver, csi_pb):
    csi = Csi(csi_pb[0])
    d = start_driver(extra_args=["--kubeconfig", apiserver["kubeconfig"]])
    create_pvc(apiserver, "data", {TYPE_KEY: "SSD"})
    source = csi.create(d.controller, "pvc-data", 2, params=pvc_params("data", **{TYPE_KEY: "SAS"}))
    assert source.volume_context[TYPE_KEY] == "SSD"
    snap = csi.snapshot(d.controller, "snap-data", source.volume_id)
    # the seed's restore PVC: annotation SSD, class csi-disk with SAS -> restored as SSD, R8 satisfied
    create_pvc(apiserver, "data-restore", {TYPE_KEY: "SSD"})
    restored = csi.create(d.controller, "pvc-data-restore", 2, snapshot=snap.snapshot_id,
                          params=pvc_params("data-restore", **{TYPE_KEY: "SAS"}))
    assert restored.volume_context[TYPE_KEY] == "SSD"
    # without the annotation the class parameter SAS is what R8 compares: refused, naming R8
    create_pvc(apiserver, "plain-restore", {})
    expect_error(C.INVALID_ARGUMENT, d.controller.CreateVolume, csi.create_request(
        "pvc-plain-restore", required=2 * GIB, snapshot=snap.snapshot_id,
        params=pvc_params("plain-restore", **{TYPE_KEY: "SAS"})), match="R8")


def test_missing_pvc_falls_back_to_class_parameters(start_driver, apiserver, csi_pb):
    csi = Csi(csi_pb[0])
    d = start_driver(extra_args=["--kubeconfig", apiserver["kubeconfig"]])
    volume = csi.create(d.controller, "pvc-ghost", params=pvc_params("no-such-pvc", **{TYPE_KEY: "ESSD"}))
    assert volume.volume_context[TYPE_KEY] == "ESSD"


def test_unusable_kubeconfig_exits_1(driver_binary, tmp_path):
    bad = tmp_path / "kubeconfig"
    bad.write_text("this: is not\n  a kubeconfig: [")
    sock_dir = pathlib.Path("/tmp") / f"evs-kc-{tmp_path.name[-8:]}"
    sock_dir.mkdir(exist_ok=True)
    try:
        result = subprocess.run([str(driver_binary), "--endpoint", f"unix://{sock_dir}/csi.sock", "--state-dir",
                                 str(tmp_path / "state"), "--node-id", "n1", "--kubeconfig", str(bad)],
                                capture_output=True, text=True, timeout=30)
    finally:
        shutil.rmtree(sock_dir, ignore_errors=True)
    assert result.returncode == 1, result.stderr
