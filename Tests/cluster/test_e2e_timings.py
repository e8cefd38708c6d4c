"""PVC Bound, snapshot ready and restore Bound with our driver, as ratios to the same steps with hostpathplugin
(csi-driver-host-path, testbin) in the same run: same cluster, same four sidecars with the same flags and
identity, same manifests but for the class names. Paired rounds, alternating which driver goes first; the
figures are medians."""
import statistics
import time

from e2e import ensure_namespace, made_objects, pvc, timed, volume_snapshot, wait_bound, wait_ready
from kubecluster import pvc_path, vs_path

ROUNDS = 3
STEPS = ("PVC Bound", "snapshot readyToUse", "restore PVC Bound")
DRIVERS = {"evs": ("csi-disk", "csi-disk-snapclass"), "hostpath": ("csi-hostpath-sc", "csi-hostpath-snapclass")}


def one_flow(api, ns, storage_class, snapshot_class, tag):
    """Times the three steps, each from the create call until the object is there (REST polls every 20 ms)."""
    with made_objects(api) as made:
        created = time.monotonic()
        made.create(pvc_path(ns), pvc(f"src-{tag}", ns, "10Gi", storage_class=storage_class))
        wait_bound(api, ns, f"src-{tag}")
        bound = time.monotonic()
        made.create(vs_path(ns), volume_snapshot(f"snap-{tag}", ns, f"src-{tag}", snapshot_class))
        wait_ready(api, ns, f"snap-{tag}")
        ready = time.monotonic()
        made.create(pvc_path(ns), pvc(f"restore-{tag}", ns, "10Gi", storage_class=storage_class,
                                      snapshot=f"snap-{tag}"))
        wait_bound(api, ns, f"restore-{tag}")
        restored = time.monotonic()
    return {"PVC Bound": bound - created, "snapshot readyToUse": ready - bound, "restore PVC Bound": restored - ready}


def test_timings_against_hostpathplugin(admin, evs, hostpath, timings):
    api = admin.api
    samples = {driver: {step: [] for step in STEPS} for driver in DRIVERS}
    for driver in DRIVERS:
        ensure_namespace(api, f"e2e-timing-{driver}")
    disks_before = {d["id"] for d in evs.disks()}
    for round_no in range(ROUNDS):
        order = list(DRIVERS) if round_no % 2 == 0 else list(reversed(DRIVERS))
        for driver in order:
            storage_class, snapshot_class = DRIVERS[driver]
            result = one_flow(api, f"e2e-timing-{driver}", storage_class, snapshot_class, f"r{round_no}")
            for step in STEPS:
                samples[driver][step].append(result[step])
    for step in STEPS:
        ours, base = statistics.median(samples["evs"][step]), statistics.median(samples["hostpath"][step])
        timings[f"{step}: evs-csi-driver (median of {ROUNDS})"] = ours
        timings[f"{step}: hostpathplugin (median of {ROUNDS})"] = base
        timings[f"{step}: ratio evs / hostpath"] = f"{ours / base:8.2f}x"
    # Every flow finished within its bounded waits and was deleted (made_objects); the emulator keeps nothing.
    assert {d["id"] for d in evs.disks()} == disks_before
