#!/usr/bin/env bash
# make test-lean: the lean promise of the driver (docs/driver.md "The lean build"), checked without timing.
#  1. SwiftPM's dependency closure of the evs-csi-driver target reaches no product but swift-log's Logging (no NIO,
#     AsyncHTTPClient, NIOSSL, Yams, ArgumentParser) and neither KubeClient nor the plugin's targets.
#  2. Each built driver given (debug and/or release) has no Foundation, NIO or XCTest library among its NEEDED
#     entries (readelf -d), and no symbol of a Foundation or NIO module (nm: Swift mangles the module name in).
# Usage: lean-check.sh SWIFT DRIVER...   (a driver path that does not exist is reported and skipped)
set -euo pipefail
swift=$1; shift
closure=$("$swift" package describe --type json | python3 -c '
import json, sys
d = json.load(sys.stdin)
targets = {t["name"]: t for t in d["targets"]}
seen, products, todo = set(), set(), ["evs-csi-driver"]
while todo:
    name = todo.pop()
    if name in seen or name not in targets:
        continue
    seen.add(name)
    todo += targets[name].get("target_dependencies", [])
    products |= set(targets[name].get("product_dependencies", []))
print(" ".join(sorted(seen)))
print(" ".join(sorted(products)))
')
targets=$(sed -n 1p <<<"$closure"); products=$(sed -n 2p <<<"$closure")
echo "lean: evs-csi-driver's targets: $targets"
echo "lean: evs-csi-driver's products from other packages: ${products:-none}"
fail=0
for p in $products; do
    [ "$p" = Logging ] || { echo "lean: FAIL: the driver depends on product $p (only swift-log's Logging is allowed)"; fail=1; }
done
for t in KubeClient EVSSnapCLI KubeTestSupport; do
    grep -qw "$t" <<<"$targets" && { echo "lean: FAIL: the driver depends on target $t"; fail=1; }
done
modules='Foundation|FoundationEssentials|FoundationInternationalization|FoundationNetworking|_FoundationICU|XCTest|NIO[A-Za-z0-9]*|AsyncHTTPClient|Yams|ArgumentParser'
for driver in "$@"; do
    if [ ! -x "$driver" ]; then
        python3 "$(dirname "$0")/../Tests/testbin.py" note \
            "test-lean: SKIPPED for $driver: not built (make driver-release builds it); the other checks ran"
        continue
    fi
    needed=$(readelf -d "$driver" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
    echo "lean: $driver NEEDED: $needed"
    bad=$(tr ' ' '\n' <<<"$needed" | grep -E "^lib($modules)[.-]" | tr '\n' ' ' || true)
    [ -z "$bad" ] || { echo "lean: FAIL: $driver links $bad"; fail=1; }
    # Swift symbols name their module as <length><name>: $s10Foundation4DataV..., $s7NIOCore10ByteBufferV...
    syms=$(nm "$driver" 2>/dev/null | grep -oE '\$s(10Foundation|19FoundationEssentials|31FoundationInternationalization|7NIOCore|8NIOPosix|6NIOSSL|8NIOHTTP1|15AsyncHTTPClient|4Yams|14ArgumentParser)[0-9A-Za-z_]' \
        | sed -E 's/^\$s[0-9]+//; s/.$//' | sort | uniq -c | tr '\n' ' ' || true)
    [ -z "$syms" ] || { echo "lean: FAIL: $driver has symbols of: $syms"; fail=1; }
done
[ $fail -eq 0 ] && echo "lean: ok" || exit 1
