#!/usr/bin/env python3
"""Per-call instruction counts by function, from callgrind runs of N1 and N2 calls:

    cg_diff.py FLOOR_N1.out FLOOR_N2.out MMC_N1.out MMC_N2.out CALLS [TOP [BASE,OTHER]]

The difference between the two runs of a client removes start-up and shut-down, leaving
(N2 - N1) calls; CALLS is N2 - N1. Prints, for the TOP functions where mmc and the floor differ
most, each one's self instructions per call in both, and the totals. Used by bench/run's
callgrind mode to say where the extra instructions of mmc go; with BASE,OTHER the columns are
named so (bench/run compares mmc.request_all, "all", with the single call, "single")."""
import re, subprocess, sys
from collections import defaultdict

LINE = re.compile(r"^\s*([\d,]+)\s+\([^)]*\)\s+(.*)$")


def self_costs(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", "--auto=no", path],
                         capture_output=True, text=True, check=True).stdout
    costs = defaultdict(int)
    for line in out.splitlines():
        m = LINE.match(line)
        if m and "PROGRAM TOTALS" not in m.group(2) and not m.group(2).startswith("=>"):
            name = m.group(2)
            # ???:0x... addresses of stripped libraries: keep the library, lose the address
            name = re.sub(r"^\?\?\?:0x[0-9a-f]+ ", "(stripped) ", name)
            name = re.sub(r"^\./[^:]*:", "", name)
            costs[name] += int(m.group(1).replace(",", ""))
    return costs


def per_call(a, b, calls):
    keys = set(a) | set(b)
    return {k: (b.get(k, 0) - a.get(k, 0)) / calls for k in keys}


def main():
    f1, f2, m1, m2, calls = sys.argv[1:6]
    top = int(sys.argv[6]) if len(sys.argv) > 6 else 25
    base, other = sys.argv[7].split(",") if len(sys.argv) > 7 else ("floor", "mmc")
    calls = int(calls)
    floor = per_call(self_costs(f1), self_costs(f2), calls)
    mmc = per_call(self_costs(m1), self_costs(m2), calls)
    diff = sorted(set(floor) | set(mmc), key=lambda k: -(mmc.get(k, 0) - floor.get(k, 0)))
    print("%10s %10s %10s  %s" % (other, base, "extra", "function (self instructions per call)"))
    for k in diff[:top]:
        print("%10.0f %10.0f %10.0f  %s" % (mmc.get(k, 0), floor.get(k, 0),
                                            mmc.get(k, 0) - floor.get(k, 0), k[:110]))
    print("%10.0f %10.0f %10.0f  all functions" % (sum(mmc.values()), sum(floor.values()),
                                                   sum(mmc.values()) - sum(floor.values())))


main()
