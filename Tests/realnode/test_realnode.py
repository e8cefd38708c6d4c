"""The real-node end-to-end test (issue 19): kubelet on containerd runs deploy/ unchanged with `make image`'s images.

One flow, in order (each step needs the ones before; a failed step skips the rest, naming it):
  install        kubectl apply -k deploy/; the node DaemonSet and the controller ready; CSINode lists the driver
  write          PVC `data` (csi-disk) Bound; a pod writes 50 MiB from /dev/urandom and reports its sha256
  hold           a pod keeps `data` staged and published (sleeps)
  snapshot       VolumeSnapshot of `data` readyToUse
  restore        PVC from the snapshot Bound; a pod reads it back: the same sha256
  node restart   kubectl rollout restart ds/evs-csi-node; the new pod ready (the held volume stays staged)
  second pod     a second pod on `data`, staged before the restart: the same sha256 (issue 19, failure 1)
  kubelet        kubelet restarted (it stages the running pods' volumes again); a third pod: the same sha256
  expand ext4    `data` grown 10Gi -> 12Gi while the holder runs: online with CAP_SYS_RESOURCE; without it
                 FAILED_PRECONDITION, nothing unmounted, and the growth done at the next staging
  expand xfs     an xfs volume grown 1Gi -> 2Gi while a pod uses it: online (CAP_SYS_ADMIN only)
  timings        hostpathplugin on the same node beside our driver: PVC Bound, snapshot readyToUse, restore
                 Bound, 3 paired rounds alternating which goes first, medians
  uninstall      pods, snapshots, PVCs deleted; kubectl delete -k deploy/; then no mount, no loop device, no
                 CSINode driver; the zone label and /var/lib/evssnap are what docs/cluster.md says remains
Pods report by their termination message (no exec, no logs: kubelet's API is not exposed).
"""
import json
import time

import pytest

import kubecluster as kc
import realnode as rn
from conftest import BUSYBOX_IMAGE, FLOW, REPO_ROOT, STATE_DIR, deploy_images

NS = "realnode"
DRIVER = "disk.csi.everest.io"
ZONE_LABEL = "topology.kubernetes.io/zone"
BLOB_MIB = 50


@pytest.fixture(autouse=True)
def _in_order():
    """A step after a failed one skips, naming the failed step (conftest's report hook records it)."""
    if FLOW["failed"]:
        pytest.skip(f"step {FLOW['failed']} failed")
    yield
    rn.remember_images(STATE_DIR)  # the images this step made: their loop devices are the driver's


def timed(timings, step, what, predicate, timeout):
    t0 = time.monotonic()
    value = kc.wait_for(what, predicate, timeout, interval=0.05)
    timings[step] = time.monotonic() - t0
    return value


def pvc(name, size="10Gi", source=None):
    spec = {"accessModes": ["ReadWriteOnce"], "storageClassName": "csi-disk", "resources": {"requests": {
        "storage": size}}}
    if source:
        spec["dataSource"] = {"name": source, "kind": "VolumeSnapshot", "apiGroup": "snapshot.storage.k8s.io"}
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "namespace": NS},
            "spec": spec}


def pod(name, claim, script, read_only=False):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS},
            "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                     "containers": [{"name": "c", "image": BUSYBOX_IMAGE, "imagePullPolicy": "Never",
                                     "command": ["sh", "-c", script],
                                     "volumeMounts": [{"name": "d", "mountPath": "/data", "readOnly": read_only}]}],
                     "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": claim}}]}}


def describe(api, name):
    events = kc.events_of(api, NS, "Pod", name)
    return "; ".join(events[-6:])


def pod_result(api, name, timeout=180):
    """The termination message of a pod that ran to completion (Succeeded); fails with its events otherwise."""
    path = f"/api/v1/namespaces/{NS}/pods/{name}"

    def done():
        p = api.get(path)
        if p["status"].get("phase") == "Failed":
            raise AssertionError(f"pod {name} failed: {json.dumps(p['status'].get('containerStatuses'))}")
        return p if p["status"].get("phase") == "Succeeded" else None
    try:
        p = kc.wait_for(f"pod {name} Succeeded", done, timeout, interval=0.2)
    except kc.HarnessError as error:
        raise AssertionError(f"{error}; events: {describe(api, name)}") from None
    return p["status"]["containerStatuses"][0]["state"]["terminated"].get("message", "").strip()


def pod_running(api, name, timeout=180):
    path = f"/api/v1/namespaces/{NS}/pods/{name}"
    try:
        kc.wait_for(f"pod {name} Running", lambda: api.get(path)["status"].get("phase") == "Running", timeout,
                    interval=0.2)
    except kc.HarnessError as error:
        raise AssertionError(f"{error}; events: {describe(api, name)}") from None


def delete_pod(api, name):
    api.delete(f"/api/v1/namespaces/{NS}/pods/{name}")
    api.wait_gone(f"/api/v1/namespaces/{NS}/pods/{name}", timeout=120)


def pods_report(api, ns):
    """Each pod of `ns` with its containers' states and its last events: what a failed wait shows."""
    lines = []
    for p in api.get(f"/api/v1/namespaces/{ns}/pods")["items"]:
        name = p["metadata"]["name"]
        states = {c["name"]: (c.get("state"), c.get("restartCount")) for c in p["status"].get("containerStatuses")
                  or []}
        events = kc.events_of(api, ns, "Pod", name)
        lines.append(f"{name} {p['status'].get('phase')} {json.dumps(states)} events: "
                     f"{events[-4:]}")
    return "\n".join(lines)


def rollout(admin, kind, timeout="180s"):
    result = admin.kubectl("-n", "evssnap", "rollout", "status", kind, "--timeout", timeout, timeout=200,
                           check=False)
    assert result.returncode == 0, f"{kind} not ready: {result.stdout[-300:]}\n{pods_report(admin.api, 'evssnap')}"


def test_install(cluster, node, timings):
    admin = cluster.admin
    t0 = time.monotonic()
    admin.kubectl("apply", "-k", str(REPO_ROOT / "deploy"))
    rollout(admin, "ds/evs-csi-node")
    rollout(admin, "deploy/evs-csi-controller")
    timings["install: deploy/ applied to node and controller ready"] = time.monotonic() - t0

    def registered():
        csinode = admin.api.get_or_none(f"/apis/storage.k8s.io/v1/csinodes/{node.node_name}")
        return csinode and any(d["name"] == DRIVER for d in csinode["spec"].get("drivers") or [])
    kc.wait_for("CSINode lists disk.csi.everest.io", registered, 60, interval=0.2)
    labels = admin.api.get(f"/api/v1/nodes/{node.node_name}")["metadata"]["labels"]
    assert labels.get(ZONE_LABEL) == "cn-north-4a" or labels.get(ZONE_LABEL), labels
    admin.api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    kc.wait_for("ServiceAccount realnode/default", lambda: admin.api.get_or_none(
        f"/api/v1/namespaces/{NS}/serviceaccounts/default"), 60, interval=0.2)


def test_write(cluster, timings):
    api = cluster.admin.api
    api.create(kc.pvc_path(NS), pvc("data"))
    timed(timings, "PVC Bound (create to Bound)", "PVC data Bound",
          lambda: api.get(kc.pvc_path(NS, "data"))["status"].get("phase") == "Bound", 120)
    api.create(f"/api/v1/namespaces/{NS}/pods", pod(
        "writer", "data", f"head -c {BLOB_MIB * 1024 * 1024} /dev/urandom > /data/blob && sync && "
                          "sha256sum /data/blob | cut -d' ' -f1 > /dev/termination-log"))
    t0 = time.monotonic()
    digest = pod_result(api, "writer")
    timings[f"writer pod: start, {BLOB_MIB} MiB written, sha256"] = time.monotonic() - t0
    assert len(digest) == 64, digest
    FLOW["digest"] = digest
    delete_pod(api, "writer")


def test_hold(cluster):
    api = cluster.admin.api
    api.create(f"/api/v1/namespaces/{NS}/pods", pod("holder", "data", "sleep 3600"))
    pod_running(api, "holder")


def test_snapshot(cluster, timings):
    api = cluster.admin.api
    api.create(kc.vs_path(NS), {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
                                "metadata": {"name": "snap", "namespace": NS},
                                "spec": {"volumeSnapshotClassName": "csi-disk-snapclass",
                                         "source": {"persistentVolumeClaimName": "data"}}})
    timed(timings, "snapshot readyToUse (create to readyToUse)", "VolumeSnapshot snap readyToUse",
          lambda: (api.get(kc.vs_path(NS, "snap")).get("status") or {}).get("readyToUse") is True, 120)


def test_restore(cluster, timings):
    api = cluster.admin.api
    api.create(kc.pvc_path(NS), pvc("restored", source="snap"))
    timed(timings, "restore PVC Bound (create to Bound)", "PVC restored Bound",
          lambda: api.get(kc.pvc_path(NS, "restored"))["status"].get("phase") == "Bound", 120)
    api.create(f"/api/v1/namespaces/{NS}/pods", pod(
        "reader", "restored", "sha256sum /data/blob | cut -d' ' -f1 > /dev/termination-log", read_only=True))
    assert pod_result(api, "reader") == FLOW["digest"]
    delete_pod(api, "reader")


def test_node_restart(cluster, timings):
    admin = cluster.admin
    t0 = time.monotonic()
    admin.kubectl("-n", "evssnap", "rollout", "restart", "ds/evs-csi-node")
    rollout(admin, "ds/evs-csi-node")
    timings["kubectl rollout restart ds/evs-csi-node to ready"] = time.monotonic() - t0
    assert admin.api.get(f"/api/v1/namespaces/{NS}/pods/holder")["status"]["phase"] == "Running"


def test_second_pod_on_staged_volume(cluster):
    api = cluster.admin.api
    api.create(f"/api/v1/namespaces/{NS}/pods", pod(
        "second", "data", "sha256sum /data/blob | cut -d' ' -f1 > /dev/termination-log"))
    assert pod_result(api, "second") == FLOW["digest"]
    delete_pod(api, "second")


def may_grow_ext4_online():
    """Whether a container here can hold CAP_SYS_RESOURCE, which the kernel demands to grow a mounted ext4: only
    when this process's bounding set has it (a container never gets more than the runtime has)."""
    with open("/proc/self/status") as f:
        bounding = int(next(line for line in f if line.startswith("CapBnd:")).split()[1], 16)
    return bool(bounding & (1 << 24))  # CAP_SYS_RESOURCE


def claim_conditions(api, name):
    return {c["type"]: c for c in api.get(kc.pvc_path(NS, name))["status"].get("conditions") or []}


def wait_grown(api, name, size, timeout=180):
    def grown():
        claim = api.get(kc.pvc_path(NS, name))
        return claim["status"].get("capacity", {}).get("storage") == size and not claim["status"].get("conditions")
    try:
        kc.wait_for(f"PVC {name} at {size} with no resize condition", grown, timeout, interval=0.2)
    except kc.HarnessError as error:
        claim = api.get(kc.pvc_path(NS, name))
        events = kc.events_of(api, NS, "PersistentVolumeClaim", name)
        raise AssertionError(f"{error}; status {json.dumps(claim['status'])}; events: {events[-5:]}") from None


def fs_kib(api, pod_name, claim):
    """The size of the claim's file system as a new pod sees it (df), in KiB."""
    api.create(f"/api/v1/namespaces/{NS}/pods", pod(
        pod_name, claim, "df -k /data | tail -1 | awk '{print $2}' > /dev/termination-log"))
    kib = int(pod_result(api, pod_name))
    delete_pod(api, pod_name)
    return kib


def test_kubelet_restart(cluster, node, timings):
    """kubelet restarted on top of the node plugin's restart: it stages the volumes of running pods again
    (NodeStageVolume on a staged volume must succeed); a third pod on `data` reads the same sha256 (issue 19)."""
    api = cluster.admin.api
    t0 = time.monotonic()
    node.restart_kubelet()
    timings["kubelet restart to Node Ready"] = time.monotonic() - t0
    api.create(f"/api/v1/namespaces/{NS}/pods", pod(
        "third", "data", "sha256sum /data/blob | cut -d' ' -f1 > /dev/termination-log"))
    assert pod_result(api, "third") == FLOW["digest"]
    delete_pod(api, "third")
    assert api.get(f"/api/v1/namespaces/{NS}/pods/holder")["status"]["phase"] == "Running"


def test_expand_ext4_in_use(cluster, timings):
    """`data` (ext4, csi-disk) 10Gi -> 12Gi while `holder` runs. With CAP_SYS_RESOURCE it grows online; without
    (this machine's root lacks it, so no container has it) NodeExpandVolume is FAILED_PRECONDITION saying the file
    system grows at the next staging, nothing is unmounted under the running pod, and it does grow then."""
    api = cluster.admin.api
    t0 = time.monotonic()
    api.merge_patch(kc.pvc_path(NS, "data"), {"spec": {"resources": {"requests": {"storage": "12Gi"}}}})
    if may_grow_ext4_online():
        wait_grown(api, "data", "12Gi")
        timings["ext4 in use 10Gi -> 12Gi online (patch to capacity)"] = time.monotonic() - t0
    else:
        error = kc.wait_for("NodeResizeError on PVC data", lambda: claim_conditions(api, "data").get(
            "NodeResizeError"), 120, interval=0.2)
        message = error.get("message", "")
        assert "FailedPrecondition" in message and "next staged" in message and "nothing was unmounted" in message, \
            message
        holder = api.get(f"/api/v1/namespaces/{NS}/pods/holder")
        assert holder["status"]["phase"] == "Running"
        uid = holder["metadata"]["uid"]
        assert [m for m in rn.mounts_under(rn.KUBELET_ROOT / "pods" / uid) if "kubernetes.io~csi" in m], \
            "the holder's volume is no longer mounted"
        timings["ext4 in use: FailedPrecondition (no CAP_SYS_RESOURCE here)"] = time.monotonic() - t0
        # The resize finishes when the volume is next staged: once no pod on the node uses it.
        t0 = time.monotonic()
        delete_pod(api, "holder")
        api.create(f"/api/v1/namespaces/{NS}/pods", pod("holder", "data", "sleep 3600"))
        pod_running(api, "holder")
        wait_grown(api, "data", "12Gi")
        timings["ext4 resize finished at next staging (holder restarted)"] = time.monotonic() - t0
    kib = fs_kib(api, "sizer", "data")
    assert kib > 11 * 1024 * 1024, f"file system is {kib} KiB after growing to 12Gi"
    api.create(f"/api/v1/namespaces/{NS}/pods", pod(
        "after-resize", "data", "sha256sum /data/blob | cut -d' ' -f1 > /dev/termination-log"))
    assert pod_result(api, "after-resize") == FLOW["digest"]
    delete_pod(api, "after-resize")


def test_expand_xfs_online(cluster, timings):
    """An xfs volume (a StorageClass of this test: deploy/'s are ext4) grows while a pod uses it: xfs_growfs
    needs CAP_SYS_ADMIN only, which the privileged node plugin has."""
    api = cluster.admin.api
    cluster.admin.apply(json.dumps({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "realnode-xfs"},
        "provisioner": DRIVER, "parameters": {"everest.io/disk-volume-type": "SAS", "csi.storage.k8s.io/fstype": "xfs"},
        "reclaimPolicy": "Delete", "allowVolumeExpansion": True, "volumeBindingMode": "Immediate"}))
    claim = pvc("xdata", size="1Gi")
    claim["spec"]["storageClassName"] = "realnode-xfs"
    api.create(kc.pvc_path(NS), claim)
    kc.wait_for("PVC xdata Bound", lambda: api.get(kc.pvc_path(NS, "xdata"))["status"].get("phase") == "Bound",
                120, interval=0.1)
    api.create(f"/api/v1/namespaces/{NS}/pods", pod("xholder", "xdata", "sleep 3600"))
    pod_running(api, "xholder")
    before = fs_kib(api, "xsizer-before", "xdata")
    t0 = time.monotonic()
    api.merge_patch(kc.pvc_path(NS, "xdata"), {"spec": {"resources": {"requests": {"storage": "2Gi"}}}})
    wait_grown(api, "xdata", "2Gi")
    timings["xfs in use 1Gi -> 2Gi online (patch to capacity)"] = time.monotonic() - t0
    assert api.get(f"/api/v1/namespaces/{NS}/pods/xholder")["status"]["phase"] == "Running"
    after = fs_kib(api, "xsizer-after", "xdata")
    assert after > before + 900 * 1024, f"xfs file system {before} KiB before, {after} KiB after growing 1Gi"


HOSTPATH_NS = "hostpath-baseline"
HOSTPATH_DRIVER = "hostpath.csi.k8s.io"
HOSTPATH_IMAGE = "localhost/evssnap-test/hostpathplugin:1"


def hostpath_manifests():
    """hostpathplugin (csi-driver-host-path) as a pod on the node, with csi-provisioner and csi-snapshotter run
    with deploy/controller.yaml's flags (but no leader election), its CSIDriver, StorageClass and
    VolumeSnapshotClass: the baseline of the timings, run the same way as the evssnap steps above."""
    sidecar = lambda name, image, extra: {  # noqa: E731
        "name": name, "image": image, "imagePullPolicy": "Never",
        "args": ["--csi-address=/csi/csi.sock", "--v=2", "--timeout=60s", "--extra-create-metadata",
                 "--leader-election=false", *extra],
        "volumeMounts": [{"name": "socket-dir", "mountPath": "/csi"}]}
    images = {ref.rsplit("/", 1)[1].split(":")[0]: ref for ref in deploy_images()}
    return [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": HOSTPATH_NS}},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "hostpath", "namespace": HOSTPATH_NS}},
        {"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
         "metadata": {"name": "realnode-hostpath-baseline"},
         "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
         "subjects": [{"kind": "ServiceAccount", "name": "hostpath", "namespace": HOSTPATH_NS}]},
        {"apiVersion": "storage.k8s.io/v1", "kind": "CSIDriver", "metadata": {"name": HOSTPATH_DRIVER},
         "spec": {"attachRequired": False, "podInfoOnMount": True, "volumeLifecycleModes": ["Persistent"]}},
        {"apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "metadata": {"name": "realnode-hostpath"},
         "provisioner": HOSTPATH_DRIVER, "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate"},
        {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshotClass",
         "metadata": {"name": "realnode-hostpath"}, "driver": HOSTPATH_DRIVER, "deletionPolicy": "Delete"},
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hostpath", "namespace": HOSTPATH_NS},
         "spec": {"serviceAccountName": "hostpath", "terminationGracePeriodSeconds": 2, "containers": [
             {"name": "hostpath", "image": HOSTPATH_IMAGE, "imagePullPolicy": "Never",
              "args": ["--drivername", HOSTPATH_DRIVER, "--endpoint", "unix:///csi/csi.sock", "--nodeid", "node-1",
                       "--statedir", "/csi-data-dir", "--v", "2"],
              "volumeMounts": [{"name": "socket-dir", "mountPath": "/csi"},
                               {"name": "state", "mountPath": "/csi-data-dir"}]},
             # Topology off: hostpathplugin runs here without a registrar, so its CSINode has no topology keys.
             sidecar("csi-provisioner", images["csi-provisioner"], ["--feature-gates=Topology=false"]),
             sidecar("csi-snapshotter", images["csi-snapshotter"], [])],
             "volumes": [{"name": "socket-dir", "emptyDir": {}}, {"name": "state", "emptyDir": {}}]}}]


ROUNDS = 3


def one_round(api, ns, storage_class, snapshot_class, tag):
    """PVC Bound, snapshot readyToUse, restore Bound (seconds from each create until the API server shows it);
    then everything deleted in Everest's order (restore, snapshot, source: R11, R13) and its PVs gone."""
    claim = pvc(f"t-{tag}")
    claim["metadata"]["namespace"], claim["spec"]["storageClassName"] = ns, storage_class
    figures = {}
    t0 = time.monotonic()
    api.create(kc.pvc_path(ns), claim)
    kc.wait_for(f"PVC t-{tag} Bound", lambda: api.get(kc.pvc_path(ns, f"t-{tag}"))["status"].get("phase") == "Bound",
                120, interval=0.02)
    figures["PVC Bound"] = time.monotonic() - t0
    t0 = time.monotonic()
    api.create(kc.vs_path(ns), {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
                                "metadata": {"name": f"s-{tag}", "namespace": ns},
                                "spec": {"volumeSnapshotClassName": snapshot_class,
                                         "source": {"persistentVolumeClaimName": f"t-{tag}"}}})
    kc.wait_for(f"VolumeSnapshot s-{tag} readyToUse", lambda: (api.get(kc.vs_path(ns, f"s-{tag}")).get("status") or {})
                .get("readyToUse") is True, 120, interval=0.02)
    figures["snapshot readyToUse"] = time.monotonic() - t0
    restore = pvc(f"r-{tag}", source=f"s-{tag}")
    restore["metadata"]["namespace"], restore["spec"]["storageClassName"] = ns, storage_class
    t0 = time.monotonic()
    api.create(kc.pvc_path(ns), restore)
    kc.wait_for(f"PVC r-{tag} Bound", lambda: api.get(kc.pvc_path(ns, f"r-{tag}"))["status"].get("phase") == "Bound",
                120, interval=0.02)
    figures["restore PVC Bound"] = time.monotonic() - t0
    for path in (kc.pvc_path(ns, f"r-{tag}"), kc.vs_path(ns, f"s-{tag}"), kc.pvc_path(ns, f"t-{tag}")):
        api.delete(path)
        api.wait_gone(path, timeout=120)
    kc.wait_for("the round's PVs gone", lambda: not [pv for pv in api.get(kc.pv_path())["items"]
                                                    if pv["spec"].get("claimRef", {}).get("name") in
                                                    (f"t-{tag}", f"r-{tag}")], 120, interval=0.2)
    return figures


def test_timings_side_by_side(cluster, node, timings):
    """The issue's Measure: PVC Bound, snapshot readyToUse and restore Bound with our driver (deploy/, as installed
    above) and with hostpathplugin on the same node, ROUNDS paired rounds alternating which goes first; medians."""
    admin, api = cluster.admin, cluster.admin.api
    files = rn.busybox_files()
    files["bin/hostpathplugin"] = (0o755, (node.bin / "hostpathplugin").read_bytes())
    node.load_archive(rn.write_image_archive(node.dir / "hostpath.tar", [
        (HOSTPATH_IMAGE, files, ["/bin/hostpathplugin"], None)]))
    manifests = hostpath_manifests()
    admin.apply(json.dumps({"apiVersion": "v1", "kind": "List", "items": manifests}))
    results = {"evssnap": [], "hostpathplugin": []}
    try:
        try:
            kc.wait_for("hostpath pod Running with its sidecars ready", lambda: all(
                c.get("ready") for c in api.get(f"/api/v1/namespaces/{HOSTPATH_NS}/pods/hostpath")["status"].get(
                    "containerStatuses") or [{}]), 120, interval=0.2)
        except kc.HarnessError as error:
            raise AssertionError(f"{error}: {pods_report(api, HOSTPATH_NS)}") from None
        drivers = {"evssnap": (NS, "csi-disk", "csi-disk-snapclass"),
                   "hostpathplugin": (HOSTPATH_NS, "realnode-hostpath", "realnode-hostpath")}
        for i in range(ROUNDS):
            order = ["evssnap", "hostpathplugin"] if i % 2 == 0 else ["hostpathplugin", "evssnap"]
            for name in order:
                results[name].append(one_round(api, *drivers[name], tag=f"{i}"))
    finally:
        # What a failed round left, while hostpathplugin still runs to delete its volumes.
        for item in api.get(kc.vs_path(HOSTPATH_NS))["items"]:
            api.delete(kc.vs_path(HOSTPATH_NS, item["metadata"]["name"]))
        for item in api.get(kc.pvc_path(HOSTPATH_NS))["items"]:
            api.delete(kc.pvc_path(HOSTPATH_NS, item["metadata"]["name"]))
        kc.wait_for("hostpathplugin's PVs gone", lambda: not [
            pv for pv in api.get(kc.pv_path())["items"] if pv["spec"].get("csi", {}).get("driver") == HOSTPATH_DRIVER],
            60, interval=0.2)
        admin.kubectl("delete", "--wait=true", "-f", "-", input=json.dumps(
            {"apiVersion": "v1", "kind": "List", "items": manifests}), timeout=120, check=False)
    for step in ("PVC Bound", "snapshot readyToUse", "restore PVC Bound"):
        ours = sorted(r[step] for r in results["evssnap"])[ROUNDS // 2]
        theirs = sorted(r[step] for r in results["hostpathplugin"])[ROUNDS // 2]
        timings[f"median of {ROUNDS}: {step}: evssnap"] = ours
        timings[f"median of {ROUNDS}: {step}: hostpathplugin"] = theirs


def test_uninstall(cluster, node, timings):
    admin = cluster.admin
    api = admin.api
    t0 = time.monotonic()
    for item in api.get(f"/api/v1/namespaces/{NS}/pods")["items"]:
        delete_pod(api, item["metadata"]["name"])
    for item in api.get(kc.vs_path(NS))["items"]:
        api.delete(kc.vs_path(NS, item["metadata"]["name"]))
        api.wait_gone(kc.vs_path(NS, item["metadata"]["name"]), timeout=120)
    for item in api.get(kc.pvc_path(NS))["items"]:
        api.delete(kc.pvc_path(NS, item["metadata"]["name"]))
        api.wait_gone(kc.pvc_path(NS, item["metadata"]["name"]), timeout=120)
    api.delete("/apis/storage.k8s.io/v1/storageclasses/realnode-xfs")
    kc.wait_for("every PV gone", lambda: not api.get(kc.pv_path())["items"], 120, interval=0.2)
    kc.wait_for("every VolumeAttachment gone", lambda: not api.get(kc.va_path())["items"], 120, interval=0.2)
    admin.kubectl("delete", "-k", str(REPO_ROOT / "deploy"), "--wait=true", timeout=240)
    kc.wait_for("namespace evssnap gone", lambda: api.get_or_none("/api/v1/namespaces/evssnap") is None, 180,
                interval=0.5)
    timings["uninstall: volumes deleted, kubectl delete -k deploy/"] = time.monotonic() - t0

    def unregistered():
        csinode = api.get_or_none(f"/apis/storage.k8s.io/v1/csinodes/{node.node_name}")
        return not csinode or not any(d["name"] == DRIVER for d in csinode["spec"].get("drivers") or [])
    kc.wait_for("CSINode without disk.csi.everest.io", unregistered, 60, interval=0.2)
    left = {
        "mounts": [m for m in rn.mounts_under(rn.KUBELET_ROOT, STATE_DIR) if m != str(rn.KUBELET_ROOT)],
        "loop devices": rn.loop_devices_backed_by(STATE_DIR),
        # The driver's and the registrar's sockets go with them (SIGTERM); their folder is a hostPath (below).
        "sockets": [str(p) for p in (rn.KUBELET_ROOT / "plugins" / DRIVER / "csi.sock",
                                     rn.KUBELET_ROOT / "plugins_registry" / f"{DRIVER}-reg.sock") if p.exists()],
    }
    assert not any(left.values()), f"uninstall left: {left}"
    # What docs/cluster.md ("Uninstall") says remains, and how it goes.
    labels = api.get(f"/api/v1/nodes/{node.node_name}")["metadata"]["labels"]
    state = sorted(p.name for p in STATE_DIR.iterdir()) if STATE_DIR.exists() else []
    socket_dir = rn.KUBELET_ROOT / "plugins" / DRIVER
    socket_dir_left = sorted(p.name for p in socket_dir.iterdir()) if socket_dir.exists() else None
    assert not socket_dir_left, f"{socket_dir} holds {socket_dir_left} after uninstall"
    images = sorted(str(p.relative_to(STATE_DIR)) for p in STATE_DIR.rglob("*.img")) if STATE_DIR.exists() else []
    assert not images, f"disk or snapshot images left in {STATE_DIR} after every PVC and snapshot was deleted: {images}"
    print(f"uninstall left (docs/cluster.md, Uninstall): zone label {labels.get(ZONE_LABEL)!r}; {STATE_DIR}: {state}; "
          f"{socket_dir}: {'empty' if socket_dir_left is not None else 'absent'}")
    # The documented commands take the rest away; then nothing of evssnap is on the node.
    admin.kubectl("label", "node", node.node_name, f"{ZONE_LABEL}-")
    rn.run("rm", "-rf", STATE_DIR)
    if socket_dir.exists():
        socket_dir.rmdir()
    labels = api.get(f"/api/v1/nodes/{node.node_name}")["metadata"]["labels"]
    assert ZONE_LABEL not in labels and not STATE_DIR.exists()
