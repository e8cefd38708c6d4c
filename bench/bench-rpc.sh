#!/usr/bin/env bash
# make bench-rpc: issue 11's table in ONE run, release builds. Three servers side by side, each in its own process:
#   our driver (evs-csi-driver), hostpathplugin (the reference driver, from $EVSSNAP_TESTBIN; without it the
#   hostpathplugin column is left out, with one line saying so) and rpc-bench's empty-handler echo server.
# For each: RSS at idle and after 100k calls (anonymous and file-backed, /proc/PID/status); GetPluginInfo at 16 and 64
# in flight from rpc-bench (C core client), ROUNDS rounds alternating between the servers, median printed with its
# p99; start-up from exec to a served Probe (median of 5); binary size. Then, unless RPC_BENCH_METHODS=0, the
# driver's Probe, ListSnapshots and CreateSnapshot beside the in-process echo (the older part of this bench).
set -euo pipefail
cd "$(dirname "$0")/.."
SWIFT=${SWIFT:-swift}
ROUNDS=${RPC_BENCH_ROUNDS:-3}
SECONDS_PER_LEVEL=${RPC_BENCH_SECONDS:-3}
LEVELS=${RPC_BENCH_LEVELS:-16,64}
WARM_CALLS=${RPC_BENCH_WARM_CALLS:-100000}
METHOD_LEVELS=${RPC_BENCH_IN_FLIGHT:-1,16,64}
# As shipped: `make bench-rpc` passes mk/lean.mk's DRIVER_RELEASE_FLAGS (Swift runtime, gRPC core, SQLite and libstdc++
# static; needs `make lean-libs`), and rpc-bench is linked the same way. Run alone, a plain static-stdlib release build.
RELEASE_FLAGS=${RPC_BENCH_RELEASE_FLAGS:--c release --static-swift-stdlib}
$SWIFT build $RELEASE_FLAGS --product evs-csi-driver >/dev/null
$SWIFT build $RELEASE_FLAGS --product rpc-bench >/dev/null
bin=$($SWIFT build $RELEASE_FLAGS --show-bin-path)
servers=(driver echo)
rc=0; testbin=$(python3 Tests/testbin.py require "bench-rpc (hostpathplugin column)" hostpathplugin) || rc=$?
case $rc in 0) servers=(driver hostpath echo) ;; 3) ;; *) exit 1 ;; esac
work=$(mktemp -d /tmp/evssnap-bench-XXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

driver_cmd=("$bin/evs-csi-driver" --endpoint "unix://$work/driver.sock" --state-dir "$work/state" --node-id bench --log-level warning)
hostpath_cmd=("$testbin/hostpathplugin" --endpoint "unix://$work/hostpath.sock" --nodeid bench --drivername hostpath.csi.k8s.io
              --statedir "$work/hostpath-state" --v 0)
echo_cmd=("$bin/rpc-bench" --serve-echo "unix://$work/echo.sock" --method /csi.v1.Identity/GetPluginInfo)

wait_socket() { for _ in $(seq 400); do [ -S "$1" ] && return 0; sleep 0.05; done; echo "bench-rpc: $1 never appeared" >&2; exit 1; }
"${driver_cmd[@]}" >"$work/driver.log" 2>&1 & driver=$!; pids+=("$driver")
if [ -n "$testbin" ]; then "${hostpath_cmd[@]}" >"$work/hostpath.log" 2>&1 & hostpath=$!; pids+=("$hostpath"); fi
"${echo_cmd[@]}" >"$work/echo.log" 2>&1 & echo_pid=$!; pids+=("$echo_pid")
for s in "${servers[@]}"; do wait_socket "$work/$s.sock"; done
sleep 1

results="$work/results.txt"
: >"$results"
memory() { # label pid phase
  awk -v label="$1" -v phase="$3" '/^VmRSS:|^RssAnon:|^RssFile:/ { v[$1] = $2 }
    END { printf "mem %s %s %d %d %d\n", label, phase, v["VmRSS:"], v["RssAnon:"], v["RssFile:"] }' "/proc/$2/status" >>"$results"
}
memory driver "$driver" idle; memory echo "$echo_pid" idle; [ -z "$testbin" ] || memory hostpath "$hostpath" idle

load() { # label socket in-flight-list seconds|calls:N
  local what=(--duration "$4"); [[ $4 == calls:* ]] && what=(--calls "${4#calls:}")
  "$bin/rpc-bench" --endpoint "unix://$work/$2.sock" --method /csi.v1.Identity/GetPluginInfo --in-flight "$3" "${what[@]}" \
    --warmup 1000 | awk -v label="$1" '/^ +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+ / { printf "rate %s %s %s %s %s\n", label, $1, $4, $6, $3 }'
}
echo "warming each server with $WARM_CALLS GetPluginInfo calls (16 in flight)..."
for s in "${servers[@]}"; do load "$s" "$s" 16 "calls:$WARM_CALLS" >/dev/null; done
memory driver "$driver" after; memory echo "$echo_pid" after; [ -z "$testbin" ] || memory hostpath "$hostpath" after

for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS: GetPluginInfo at $LEVELS in flight, ${SECONDS_PER_LEVEL} s per level: ${servers[*]}"
  for s in "${servers[@]}"; do load "$s" "$s" "$LEVELS" "$SECONDS_PER_LEVEL" >>"$results"; done
done

for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
pids=()
echo "start-up, exec to a served Probe (5 runs each)..."
[ -z "$testbin" ] || "$bin/rpc-bench" --startup --endpoint "unix://$work/su-hostpath.sock" --runs 5 -- "$testbin/hostpathplugin" \
  --endpoint "unix://$work/su-hostpath.sock" --nodeid bench --drivername hostpath.csi.k8s.io --statedir "$work/su-hp" |
  awk '{ for (i = 1; i <= NF; i++) if ($i == "median") print "startup hostpath", $(i+1) }' >>"$results"
"$bin/rpc-bench" --startup --endpoint "unix://$work/su-echo.sock" --runs 5 --method /csi.v1.Identity/GetPluginInfo -- \
  "$bin/rpc-bench" --serve-echo "unix://$work/su-echo.sock" --method /csi.v1.Identity/GetPluginInfo |
  awk '{ for (i = 1; i <= NF; i++) if ($i == "median") print "startup echo", $(i+1) }' >>"$results"
"$bin/rpc-bench" --startup --endpoint "unix://$work/su-driver.sock" --runs 5 -- "$bin/evs-csi-driver" \
  --endpoint "unix://$work/su-driver.sock" --state-dir "$work/su-state" --node-id bench --log-level warning |
  awk '{ for (i = 1; i <= NF; i++) if ($i == "median") print "startup driver", $(i+1) }' >>"$results"
echo "size driver $(stat -c %s "$bin/evs-csi-driver")" >>"$results"
[ -z "$testbin" ] || echo "size hostpath $(stat -c %s "$testbin/hostpathplugin")" >>"$results"
echo "size echo $(stat -c %s "$bin/rpc-bench")" >>"$results"
# What an image ships (tools/image-rootfs.sh strips the driver): the same three, stripped of symbols and debug info.
for s in driver:"$bin/evs-csi-driver" ${testbin:+hostpath:"$testbin/hostpathplugin"} echo:"$bin/rpc-bench"; do
  strip -o "$work/stripped" "${s#*:}" && echo "stripped ${s%%:*} $(stat -c %s "$work/stripped")" >>"$results"
done

python3 bench/bench_rpc_table.py "$results" "$ROUNDS" "$SECONDS_PER_LEVEL" "$WARM_CALLS"

[ "${RPC_BENCH_METHODS:-1}" = 0 ] && exit 0
# The driver's own methods beside the in-process echo (payloads made through grpcio by rpc_payloads.py).
sock="$work/csi.sock"
"$bin/evs-csi-driver" --endpoint "unix://$sock" --state-dir "$work/state2" --node-id bench --log-level warning &
pid=$!; pids+=("$pid")
wait_socket "$sock"
.venv/bin/python bench/rpc_payloads.py "$sock" "$work/payloads"
# CreateSnapshot repeats one name: with more than one in flight the driver answers ABORTED (an operation on
# that name is in flight, as the CSI spec asks), so it is measured at one call in flight only.
for spec in Identity/Probe:probe:$METHOD_LEVELS Controller/ListSnapshots:list_snapshots:$METHOD_LEVELS \
            Controller/CreateSnapshot:create_snapshot:1; do
  IFS=: read -r method file levels <<<"$spec"
  echo; echo "== /csi.v1.$method (baseline: in-process echo with an empty handler) =="
  "$bin/rpc-bench" --endpoint "unix://$sock" --method "/csi.v1.$method" --payload-file "$work/payloads/$file.bin" \
    --in-flight "$levels" --duration "$SECONDS_PER_LEVEL" --server-pid "$pid" --compare-echo
done
