#!/usr/bin/env bash
# make fuzz: run each libFuzzer target for SECONDS over its corpus and print the executions, per target and in all.
# New inputs go to $BIN_DIR/../corpus/<target> (the committed corpus, Tests/fuzz/corpus/<target>, is only read);
# a crash is saved under $BIN_DIR/../artifacts/ and ends the run with status 1 after the remaining targets ran.
# Usage: run.sh BIN_DIR SECONDS "EXTRA_FLAGS" TARGET...
set -uo pipefail
bin_dir=$1; seconds=$2; extra=$3; shift 3
here=$(cd "$(dirname "$0")" && pwd)
work=$(dirname "$bin_dir")
mkdir -p "$work/artifacts" "$work/logs"
# The Swift backtracer reads freed memory under ASan (a false report); libFuzzer prints its own stack.
export SWIFT_BACKTRACE=enable=no
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/../lsan-suppressions.txt}
total=0; failed=()
printf '%-46s %12s %10s %8s %s\n' target executions exec/s corpus result
for t in "$@"; do
    mkdir -p "$work/corpus/$t"
    dict=(); [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
    log="$work/logs/$t.log"
    # shellcheck disable=SC2086
    "$bin_dir/$t" -max_total_time="$seconds" -timeout=20 -print_final_stats=1 -artifact_prefix="$work/artifacts/$t-" \
        "${dict[@]}" $extra "$work/corpus/$t" "$here/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    if [ -z "$runs" ]; then runs=$(grep -oE '^#[0-9]+' "$log" | tail -1 | tr -d '#'); fi
    runs=${runs:-0}
    speed=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    size=$(ls "$work/corpus/$t" "$here/corpus/$t" | grep -vc ':$\|^$')
    result=ok
    if [ $rc -ne 0 ] || grep -q -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|Fatal error|SUMMARY: ' "$log"; then
        result="CRASH (see $log)"; failed+=("$t")
    fi
    total=$((total + runs))
    printf '%-46s %12d %10s %8s %s\n' "$t" "$runs" "${speed:--}" "$size" "$result"
done
printf '%-46s %12d\n' "all ${#} targets" "$total"
if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: ${#failed[@]} target(s) crashed: ${failed[*]}; inputs in $work/artifacts/"
    exit 1
fi
echo "fuzz: 0 crashes, 0 sanitizer reports"
