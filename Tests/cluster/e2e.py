"""Helpers for the end-to-end tests: manifests, bounded waits on objects, and cleanup in dependency order."""
import contextlib
import time

import kubecluster as kc
from kubecluster import pvc_path, pv_path, vs_path, vsc_path, va_path, wait_for

GI = 1 << 30
SNAPSHOT_API = "snapshot.storage.k8s.io"


def pvc(name, ns, size="10Gi", storage_class="csi-disk", annotations=None, labels=None, snapshot=None):
    obj = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": name, "namespace": ns},
           "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": storage_class,
                    "resources": {"requests": {"storage": size}}}}
    if annotations:
        obj["metadata"]["annotations"] = annotations
    if labels:
        obj["metadata"]["labels"] = labels
    if snapshot:
        obj["spec"]["dataSource"] = {"name": snapshot, "kind": "VolumeSnapshot", "apiGroup": SNAPSHOT_API}
    return obj


def volume_snapshot(name, ns, source_pvc, snapshot_class="csi-disk-snapclass"):
    return {"apiVersion": f"{SNAPSHOT_API}/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": name, "namespace": ns},
            "spec": {"volumeSnapshotClassName": snapshot_class, "source": {"persistentVolumeClaimName": source_pvc}}}


def wait_bound(api, ns, name, timeout=90.0, interval=0.02):
    """The PVC once Bound."""
    def bound():
        obj = api.get(pvc_path(ns, name))
        return obj if obj.get("status", {}).get("phase") == "Bound" else None
    return wait_for(f"PVC {ns}/{name} to be Bound", bound, timeout, interval)


def wait_ready(api, ns, name, timeout=90.0, interval=0.02):
    """The VolumeSnapshot once readyToUse; fails early with the snapshot's error when it reports one."""
    def ready():
        obj = api.get(vs_path(ns, name))
        status = obj.get("status") or {}
        if status.get("readyToUse"):
            return obj
        return None
    return wait_for(f"VolumeSnapshot {ns}/{name} to be readyToUse", ready, timeout, interval)


def timed(fn, *args, **kwargs):
    """(result, seconds)"""
    t0 = time.monotonic()
    result = fn(*args, **kwargs)
    return result, time.monotonic() - t0


def volume_handle(api, pvc_obj):
    pv = api.get(pv_path(pvc_obj["spec"]["volumeName"]))
    return pv["spec"]["csi"]["volumeHandle"], pv


def ensure_namespace(api, ns):
    if api.get_or_none(f"/api/v1/namespaces/{ns}") is None:
        api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})


class Made:
    """Objects a test made, deleted at the end in reverse order with bounded waits: VolumeAttachments until
    gone, VolumeSnapshots until their content is gone, PVCs until their PV is gone."""

    def __init__(self, api):
        self.api = api
        self.paths = []

    def add(self, path):
        if path not in self.paths:
            self.paths.append(path)
        return path

    def create(self, path_of_collection, obj):
        name = obj["metadata"]["name"]
        created = self.api.create(path_of_collection, obj)
        self.add(f"{path_of_collection}/{name}")
        return created

    def delete_all(self, timeout=60.0):
        errors = []
        for path in reversed(self.paths):
            try:
                self.delete(path, timeout)
            except Exception as error:  # go on with the others; report all at the end
                errors.append(str(error))
        self.paths.clear()
        return errors

    def delete(self, path, timeout=60.0):
        obj = self.api.get_or_none(path)
        if obj is None:
            return
        kind = obj.get("kind")
        self.api.delete(path)
        self.api.wait_gone(path, timeout)
        if kind == "PersistentVolumeClaim" and obj.get("spec", {}).get("volumeName"):
            self.api.wait_gone(pv_path(obj["spec"]["volumeName"]), timeout)
        if kind == "VolumeSnapshot":
            content = (obj.get("status") or {}).get("boundVolumeSnapshotContentName")
            if content:
                self.api.wait_gone(vsc_path(content), timeout)


@contextlib.contextmanager
def made_objects(api):
    """with made_objects(api) as made: ...  -- deletes everything made at the end (errors raised after)."""
    made = Made(api)
    try:
        yield made
    except BaseException:
        made.delete_all()  # the test's own failure is the one to report
        raise
    errors = made.delete_all()
    if errors:
        raise kc.HarnessError("cleanup failed:\n" + "\n".join(errors))


def check_plugin_list(plugin, user, snapshot, source_pvc):
    """`kubectl evssnap list`: a header, and the snapshot's row naming its source PVC, ready."""
    result = plugin(user, "list")
    assert result.returncode == 0, result.stderr
    rows = [line.split() for line in result.stdout.splitlines()]
    assert rows and rows[0][0] == "NAME", result.stdout
    row = next((r for r in rows[1:] if r and r[0] == snapshot), None)
    assert row is not None, result.stdout
    assert source_pvc in row and "true" in row, result.stdout


def check_plugin_describe(plugin, user, snapshot, needles):
    """`kubectl evssnap describe`: every needle (names, ids, disk attributes) is in its output."""
    result = plugin(user, "describe", snapshot)
    assert result.returncode == 0, result.stderr
    for needle in needles:
        assert needle in result.stdout, f"{needle!r} not in describe output:\n{result.stdout}"

