#!/usr/bin/env bash
# make bench-rpc: the driver under closed-loop load from rpc-bench (C core client, not Python), at 1, 16 and 64
# calls in flight, for Probe, ListSnapshots (a page of 7) and an idempotent CreateSnapshot; each printed beside the
# gRPC layer's empty echo handler measured in the same run (the baseline), with the driver's RSS and fds.
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
SECONDS_PER_LEVEL=${RPC_BENCH_SECONDS:-5}
IN_FLIGHT=${RPC_BENCH_IN_FLIGHT:-1,16,64}
$SWIFT build -c release --product evs-csi-driver >/dev/null
$SWIFT build -c release --product rpc-bench >/dev/null
bin=$($SWIFT build -c release --show-bin-path)
work=$(mktemp -d /tmp/evssnap-bench-XXXX)
sock="$work/csi.sock"
cleanup() { [ -n "${pid:-}" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
"$bin/evs-csi-driver" --endpoint "unix://$sock" --state-dir "$work/state" --node-id bench --log-level warning &
pid=$!
for _ in $(seq 200); do [ -S "$sock" ] && break; sleep 0.05; done
.venv/bin/python bench/rpc_payloads.py "$sock" "$work/payloads"
echo "driver pid $pid; idle RSS: $(awk '/VmRSS/ {print $2, $3}' /proc/$pid/status)"
# CreateSnapshot repeats one name: with more than one in flight the driver answers ABORTED (an operation on
# that name is in flight, as the CSI spec asks), so it is measured at one call in flight only.
for spec in Identity/Probe:probe:$IN_FLIGHT Controller/ListSnapshots:list_snapshots:$IN_FLIGHT \
            Controller/CreateSnapshot:create_snapshot:1; do
  IFS=: read -r method file levels <<<"$spec"
  echo; echo "== /csi.v1.$method (baseline: in-process echo with an empty handler) =="
  "$bin/rpc-bench" --endpoint "unix://$sock" --method "/csi.v1.$method" --payload-file "$work/payloads/$file.bin" \
    --in-flight "$levels" --duration "$SECONDS_PER_LEVEL" --server-pid "$pid" --compare-echo
done
