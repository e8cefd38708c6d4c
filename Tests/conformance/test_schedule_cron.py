"""Cron and time-zone arithmetic of Sources/SnapshotSchedules against independent implementations.

`schedule-next` (a small Swift executable over the domain module) prints the next firings of cron expressions in
IANA zones. They are compared with:
  - PyPI croniter (a separate cron implementation) over generated expressions and start instants, in UTC and in
    Asia/Shanghai, America/New_York and Europe/Berlin;
  - a brute-force oracle on DST days: every UTC minute in a window, its wall time from Python's zoneinfo,
    croniter.match for whether the wall minute is a slot, and the documented DST policy (docs/schedules.md:
    a skipped slot fires once when the clocks jump, a repeated slot fires once, at its first occurrence).

Properties checked on every answer: each firing is strictly later than the one before, is a slot of the
expression (croniter.match on its wall time, or a jump instant), and no slot lies between (the oracle).
"""
import datetime
import os
import random
import subprocess
from zoneinfo import ZoneInfo

import pytest

croniter_mod = pytest.importorskip("croniter", reason="croniter is not installed (make deps-py)")
croniter = croniter_mod.croniter

ZONES = ["UTC", "Asia/Shanghai", "America/New_York", "Europe/Berlin"]
UTC = datetime.timezone.utc
COUNT = 5


def run_helper(path, requests):
    text = "".join(f"{z}\t{t}\t{n}\t{e}\n" for (z, t, n, e) in requests)
    out = subprocess.run([str(path)], input=text, capture_output=True, text=True, timeout=600, check=True).stdout
    lines = out.splitlines()
    assert len(lines) == len(requests)
    return lines


def gen_field(rng, lo, hi, names=None):
    kind = rng.random()
    if kind < 0.25:
        return "*"
    if kind < 0.40:
        return f"*/{rng.randint(2, max(2, (hi - lo) // 2))}"
    if kind < 0.55:
        # a < b: croniter 7 misreads one-value ranges such as `20-20` (`* 20-20 * * *` fires at 17:29 there)
        a = rng.randint(lo, hi - 1)
        b = rng.randint(a + 1, hi)
        return f"{a}-{b}" + (f"/{rng.randint(1, 5)}" if rng.random() < 0.4 else "")
    if kind < 0.75:
        return ",".join(str(v) for v in sorted(set(rng.randint(lo, hi) for _ in range(rng.randint(2, 4)))))
    if names and kind < 0.85:
        return rng.choice(names)
    return str(rng.randint(lo, hi))


def gen_expression(rng):
    if rng.random() < 0.05:
        return rng.choice(["@hourly", "@daily", "@weekly", "@monthly", "@yearly"])
    minute = gen_field(rng, 0, 59)
    hour = gen_field(rng, 0, 23)
    dom = gen_field(rng, 1, 28) if rng.random() < 0.5 else "*"
    month = gen_field(rng, 1, 12, ["jan", "mar", "jun", "oct", "dec"]) if rng.random() < 0.4 else "*"
    dow = gen_field(rng, 0, 6, ["mon", "fri", "sun"]) if rng.random() < 0.4 else "*"
    return f"{minute} {hour} {dom} {month} {dow}"


def croniter_next(expr, zone, start, n):
    it = croniter(expr, datetime.datetime.fromtimestamp(start, ZoneInfo(zone)))
    return [int(it.get_next(datetime.datetime).timestamp()) for _ in range(n)]


def transitions(zone, lo, hi):
    """UTC instants (minute precision) in [lo, hi] where the zone's offset changes."""
    tz = ZoneInfo(zone)
    out, t = [], lo - lo % 3600
    prev = datetime.datetime.fromtimestamp(t, tz).utcoffset()
    while t <= hi:
        t += 3600
        off = datetime.datetime.fromtimestamp(t, tz).utcoffset()
        if off != prev:
            lo_m = t - 3600
            while datetime.datetime.fromtimestamp(lo_m + 60, tz).utcoffset() == prev:
                lo_m += 60
            out.append(lo_m + 60)
            prev = off
    return out


def oracle_next(expr, zone, start, n, horizon=3 * 86400):
    """Brute force over UTC minutes with the documented DST policy."""
    tz = ZoneInfo(zone)
    fires, t = [], start - start % 60 + 60
    end = start + horizon
    while len(fires) < n and t <= end:
        cur = datetime.datetime.fromtimestamp(t, tz)
        prev = datetime.datetime.fromtimestamp(t - 60, tz)
        hit = False
        if cur.utcoffset() > prev.utcoffset():  # a gap ends at t: skipped wall minutes fire now
            w = prev.replace(tzinfo=None) + datetime.timedelta(minutes=1)
            while w <= cur.replace(tzinfo=None) and not hit:
                hit = croniter.match(expr, w)
                w += datetime.timedelta(minutes=1)
        naive = cur.replace(tzinfo=None)
        repeated_second = cur.fold == 1 and naive.replace(fold=0).replace(tzinfo=tz).utcoffset() != cur.utcoffset()
        if not hit and not repeated_second and croniter.match(expr, naive):
            hit = True
        if hit:
            fires.append(t)
        t += 60
    return fires


@pytest.fixture(scope="module")
def helper(evssnap_bin):
    return evssnap_bin("schedule-next")


def test_generated_expressions_match_croniter(helper):
    rng = random.Random(22)
    lo = int(datetime.datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    hi = int(datetime.datetime(2028, 12, 31, tzinfo=UTC).timestamp())
    requests = []
    for i in range(2000):
        requests.append((ZONES[i % len(ZONES)], rng.randint(lo, hi), COUNT, gen_expression(rng)))
    answers = run_helper(helper, requests)
    same = dst_diff = 0
    failures = []
    for (zone, start, n, expr), line in zip(requests, answers):
        assert not line.startswith("error"), (expr, line)
        ours = [int(x) for x in line.split()]
        theirs = croniter_next(expr, zone, start, n)
        assert len(ours) == n, (zone, start, expr, line)
        assert all(b > a for a, b in zip([start] + ours, ours)), (zone, start, expr, ours)
        if ours == theirs:
            same += 1
            continue
        # Differences are allowed only where the zone's clocks change inside the compared span, and there the
        # oracle decides (it must agree with ours).
        span_hi = max(ours[-1], theirs[-1])
        if transitions(zone, start, span_hi):
            dst_diff += 1
            horizon = min(span_hi - start, 10 * 86400)
            kept = [t for t in ours if t <= start + horizon]
            assert kept == oracle_next(expr, zone, start, len(kept) + 1, horizon), (zone, start, expr, ours, theirs)
        else:
            failures.append((zone, start, expr, ours, theirs))
    print(f"\ncroniter comparison: {len(requests)} expressions x {COUNT} firings: {same} identical, "
          f"{dst_diff} differ only across a DST change, {len(failures)} other differences")
    assert not failures, failures[:5]


DST_DAYS = [
    ("America/New_York", datetime.datetime(2026, 3, 8, 0, 0, tzinfo=UTC)),    # 02:00 -> 03:00 EDT (07:00Z)
    ("America/New_York", datetime.datetime(2026, 11, 1, 0, 0, tzinfo=UTC)),   # 02:00 EDT -> 01:00 EST (06:00Z)
    ("Europe/Berlin", datetime.datetime(2026, 3, 28, 22, 0, tzinfo=UTC)),     # 02:00 -> 03:00 CEST (01:00Z)
    ("Europe/Berlin", datetime.datetime(2026, 10, 24, 22, 0, tzinfo=UTC)),    # 03:00 CEST -> 02:00 CET (01:00Z)
    ("Asia/Shanghai", datetime.datetime(2026, 6, 1, 0, 0, tzinfo=UTC)),       # no DST since 1991
    ("America/New_York", datetime.datetime(2040, 3, 11, 0, 0, tzinfo=UTC)),   # past the file's table: POSIX footer
    ("Europe/Berlin", datetime.datetime(2045, 10, 28, 22, 0, tzinfo=UTC)),
]
DST_EXPRESSIONS = ["30 2 * * *", "0 2 * * *", "*/15 * * * *", "*/20 1-3 * * *", "30 1 * * *", "0 3 * * *",
                   "59 1 * * *", "0 * * * *", "15,45 2 * * *", "0 0 * * *", "@hourly", "0,30 0-4 * * sun"]


@pytest.mark.parametrize("zone,day", DST_DAYS, ids=[f"{z}-{d:%Y%m%d}" for z, d in DST_DAYS])
def test_dst_days_match_the_oracle(helper, zone, day):
    start = int(day.timestamp())
    horizon = 10 * 3600  # the clocks change within the first 7 hours of every entry
    requests = [(zone, start, 200, e) for e in DST_EXPRESSIONS]
    answers = run_helper(helper, requests)
    agree_croniter = 0
    for (_, _, n, expr), line in zip(requests, answers):
        ours = [int(x) for x in line.split() if int(x) <= start + horizon]
        assert ours == oracle_next(expr, zone, start, 10**6, horizon), \
            (zone, expr, [datetime.datetime.fromtimestamp(t, ZoneInfo(zone)).isoformat() for t in ours])
        agree_croniter += ours == croniter_next(expr, zone, start, len(ours))
    print(f"\n{zone} {day:%Y-%m-%d}: {len(requests)} expressions agree with the oracle; {agree_croniter} also with croniter")


def test_daily_fires_once_per_local_day_through_dst(helper):
    for zone in ZONES:
        start = int(datetime.datetime(2026, 1, 1, tzinfo=UTC).timestamp())
        for expr in ["30 2 * * *", "30 1 * * *", "0 0 * * *"]:
            line = run_helper(helper, [(zone, start, 365, expr)])[0]
            days = [datetime.datetime.fromtimestamp(int(t), ZoneInfo(zone)).date() for t in line.split()]
            assert len(days) == 365 and len(set(days)) == 365, (zone, expr)


@pytest.mark.parametrize("expr,why", [
    ("30 2 31 2 *", "never fires"), ("0 0 30 2 *", "never fires"), ("0 0 31 4,6,9,11 *", "never fires"),
    ("60 * * * *", "outside"), ("* 24 * * *", "outside"), ("* * 0 * *", "outside"), ("* * * 13 *", "outside"),
    ("* * * * 8", "outside"), ("*/0 * * * *", "step"), ("5-1 * * * *", "backwards"), ("* * * *", "fields"),
    ("@fortnightly", "fields"), ("1,,2 * * * *", "empty"), ("x * * * *", "not a number"),
])
def test_refused_expressions(helper, expr, why):
    line = run_helper(helper, [("UTC", 0, 1, expr)])[0]
    assert line.startswith("error") and why in line, line


def test_leap_day_and_unknown_zone(helper):
    start = int(datetime.datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    lines = run_helper(helper, [("UTC", start, 2, "0 12 29 2 *"), ("Mars/Olympus", 0, 1, "* * * * *"),
                                ("../etc/passwd", 0, 1, "* * * * *")])
    assert [datetime.datetime.fromtimestamp(int(t), UTC).year for t in lines[0].split()] == [2028, 2032]
    assert lines[0].split() == [str(t) for t in croniter_next("0 12 29 2 *", "UTC", start, 2)]
    assert "unknown time zone 'Mars/Olympus'" in lines[1]
    assert "not an IANA zone name" in lines[2]
