#!/usr/bin/env python3
"""Tracing overhead of two builds side by side, alternating runs in one command.

    python3 benches/trace_overhead_ab.py NEW_EXAMPLES_DIR PREV_EXAMPLES_DIR [ROUNDS]

Each round runs skynet (1M) and pingpong (2M round trips) from the previous build and
this one, each with tracing off and with GORT_TRACE=/dev/null (the JSON export at the end
of run is not in the workload's own timer). Prints per build the per-round on/off ratios
and their median, and the median new-off/prev-off ratio (the untraced cost of the change).
"""
import json, os, statistics, subprocess, sys
NEW = sys.argv[1].rstrip("/") + "/"; OLD = sys.argv[2].rstrip("/") + "/"
rounds = int(sys.argv[3]) if len(sys.argv) > 3 else 5
W = {"skynet": (["-size", "1000000"], "total_ms"), "pingpong": (["-n", "2000000"], "ns_per_op")}
def run(path, args, key, traced):
    e = dict(os.environ); e.pop("GORT_TRACE", None)
    if traced:
        e["GORT_TRACE"] = "/dev/null"
    out = subprocess.run([path] + args, capture_output=True, text=True, env=e, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])[key]
res = {}
for r in range(rounds):
    for w, (args, key) in W.items():
        for build, d in (("prev", OLD), ("new", NEW)):
            for traced in (False, True):
                res.setdefault((w, build, traced), []).append(run(d + w, args, key, traced))
for w, (args, key) in W.items():
    print(f"{w} ({key})")
    for build in ("prev", "new"):
        off = res[(w, build, False)]; on = res[(w, build, True)]
        ratios = [n / o for n, o in zip(on, off)]
        print(f"  {build}: off {off}\n        on  {on}\n        on/off median {statistics.median(ratios):.3f} per round {[round(x, 3) for x in ratios]}")
    d = [n / p for n, p in zip(res[(w, 'new', False)], res[(w, 'prev', False)])]
    print(f"  new-off/prev-off median {statistics.median(d):.3f} per round {[round(x, 3) for x in d]}")
