#!/usr/bin/env python3
"""Prints issue 11's table from bench-rpc.sh's raw results (one run): every figure of our driver beside
hostpathplugin's and the echo server's, ratios, and the goals checked.

Input lines: `mem LABEL PHASE VmRSS RssAnon RssFile` (KiB), `rate LABEL INFLIGHT CALLS_PER_S P99_MS ERRORS`,
`startup LABEL MS`, `size LABEL BYTES`."""
import statistics
import sys

path, rounds, seconds, warm = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
mem, rates, startup, size, stripped = {}, {}, {}, {}, {}
for line in open(path):
    f = line.split()
    if not f:
        continue
    if f[0] == "mem":
        mem[(f[1], f[2])] = tuple(int(x) / 1024 for x in f[3:6])
    elif f[0] == "rate":
        rates.setdefault((f[1], int(f[2])), []).append((float(f[3]), float(f[4]), int(f[5])))
    elif f[0] == "startup":
        startup[f[1]] = float(f[2])
    elif f[0] == "size":
        size[f[1]] = int(f[2]) / 1e6
    elif f[0] == "stripped":
        stripped[f[1]] = int(f[2]) / 1e6

labels = ["driver", "hostpath", "echo"]
names = {"driver": "our driver", "hostpath": "hostpathplugin", "echo": "echo server"}
width = 26


def row(title, cells):
    print(f"| {title:<44} | " + " | ".join(f"{c:>{width}}" for c in cells) + " |")


print()
print(f"issue 11, measured in one run (release builds; {rounds} rounds of {seconds} s per level, alternating; medians)")
row("", [names[l] for l in labels])
print("|" + "-" * 46 + "|" + "|".join("-" * (width + 2) for _ in labels) + "|")


def memcell(label, phase):
    if (label, phase) not in mem:
        return "-"
    total, anon, file = mem[(label, phase)]
    return f"{total:.1f} MiB ({anon:.1f} a, {file:.1f} f)"


row("RSS at idle (anonymous, file-backed)", [memcell(l, "idle") for l in labels])
row(f"RSS after {int(warm) // 1000}k GetPluginInfo calls", [memcell(l, "after") for l in labels])
medians = {}
for level in sorted({k[1] for k in rates}):
    cells, p99s = [], []
    for l in labels:
        samples = rates.get((l, level), [])
        if not samples:
            cells.append("-"); continue
        rate = statistics.median(s[0] for s in samples)
        p99 = statistics.median(s[1] for s in samples)
        errors = sum(s[2] for s in samples)
        medians[(l, level)] = (rate, p99)
        cells.append(f"{rate / 1000:.1f}k/s, p99 {p99:.2f} ms" + (f" ({errors} err)" if errors else ""))
    row(f"GetPluginInfo, {level} in flight", cells)
    ratio = []
    for l in labels:
        parts = [f"{medians[(l, level)][0] / medians[(base, level)][0]:.2f}x {short}"
                 for base, short in (("echo", "echo"), ("hostpath", "hp"))
                 if (l, level) in medians and (base, level) in medians]
        ratio.append(", ".join(parts) or "-")
    row(f"  the same as ratios", ratio)
row("start-up: exec to a served Probe (median of 5)", [f"{startup[l]:.1f} ms" if l in startup else "-" for l in labels])
row("binary size", [f"{size[l]:.1f} MB" if l in size else "-" for l in labels])
row("  stripped (as in an image)", [f"{stripped[l]:.1f} MB" if l in stripped else "-" for l in labels])

print()
print("goals (issue 11):" + ("" if "hostpath" in size else " (the hostpathplugin ones need EVSSNAP_TESTBIN)"))


def goal(text, ok):
    print(f"  [{'ok' if ok else 'MISSED'}] {text}")


if ("driver", "idle") in mem:
    goal(f"RSS at idle <= 15 MiB: {mem[('driver', 'idle')][0]:.1f} MiB", mem[("driver", "idle")][0] <= 15)
if ("driver", "after") in mem and ("hostpath", "after") in mem:
    d, h = mem[("driver", "after")][0], mem[("hostpath", "after")][0]
    goal(f"RSS after {int(warm) // 1000}k calls <= hostpathplugin's: {d:.1f} vs {h:.1f} MiB", d <= h)
for level in sorted({k[1] for k in rates}):
    if ("driver", level) in medians and ("echo", level) in medians:
        d, e = medians[("driver", level)], medians[("echo", level)]
        goal(f"{level} in flight: >= 0.95x echo: {d[0] / e[0]:.2f}x", d[0] >= 0.95 * e[0])
    if all((l, level) in medians for l in labels):
        d, h, e = (medians[(l, level)] for l in labels)
        goal(f"{level} in flight: >= 1.0x hostpathplugin: {d[0] / h[0]:.2f}x", d[0] >= h[0])
        goal(f"{level} in flight: p99 <= hostpathplugin's: {d[1]:.2f} vs {h[1]:.2f} ms", d[1] <= h[1])
if "driver" in startup:
    goal(f"start-up < 50 ms: {startup['driver']:.1f} ms", startup["driver"] < 50)
