#!/usr/bin/env python3
"""Side-by-side benchmark driver: runs gort's examples and their Go twins alternately.

Usage (through xtask):  cargo xtask bench sched [--runs N] [--procs P] [--only a,b] [--quick]

Each program prints one JSON summary line last. For every workload the driver runs gort
and Go in turn (the order flips each round, since the machines are shared and noisy),
takes each run's primary figure and the process's peak RSS (wait4's ru_maxrss), and
prints the median of each side and the median of the per-pair ratios gort/Go (below 1.0
means gort is faster or smaller). Only public tools: cargo, go, python3.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GO_DIR = os.path.join(ROOT, "benches", "go")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
GO_BIN = os.path.join(TARGET, "go-bench")

# workload -> (primary JSON key, unit, gort args, go args, quick gort args, quick go args)
WORKLOADS = {
    "spawn": ("ns_per_op", "ns/goroutine", ["-n", "1000000"], ["-n", "1000000"],
              ["-n", "100000"], ["-n", "100000"]),
    "skynet": ("total_ms", "ms", ["-size", "1000000"], ["-size", "1000000"],
               ["-size", "100000"], ["-size", "100000"]),
    "pingpong": ("ns_per_op", "ns/round trip", ["-n", "2000000"], ["-n", "2000000"],
                 ["-n", "200000"], ["-n", "200000"]),
    "parked": ("rss_per_g_bytes", "bytes/goroutine", ["-n", "1000000"], ["-n", "1000000"],
               ["-n", "100000"], ["-n", "100000"]),
}
AREAS = {"sched": ["spawn", "skynet", "pingpong", "parked"]}


def sh(cmd, **kw):
    print("+ " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, **kw)


def build(names):
    sh(["cargo", "build", "--release", "--quiet", "-p", "gort"]
       + [a for n in names for a in ("--example", n)], cwd=ROOT)
    os.makedirs(GO_BIN, exist_ok=True)
    for n in names:
        sh(["go", "build", "-o", os.path.join(GO_BIN, n), "./" + n], cwd=GO_DIR,
           env={**os.environ, "GOFLAGS": "-mod=mod"})


def run_one(cmd, env):
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out = proc.stdout.read()
    err = proc.stderr.read()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.monotonic() - start
    code = os.waitstatus_to_exitcode(status)
    lines = [l for l in out.decode(errors="replace").splitlines() if l.strip().startswith("{")]
    if code != 0 or not lines:
        raise RuntimeError(f"{cmd[0]} exited {code}: {err.decode(errors='replace')[-2000:]}")
    summary = json.loads(lines[-1])
    summary["_wall_s"] = wall
    summary["_maxrss_kib"] = ru.ru_maxrss
    return summary


def fmt(x):
    return f"{x:.3g}" if x < 1000 else f"{x:.0f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("area", choices=sorted(AREAS))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--procs", type=int, default=2)
    ap.add_argument("--only", default="")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--no-build", action="store_true")
    a = ap.parse_args()
    names = [n for n in AREAS[a.area] if not a.only or n in a.only.split(",")]
    if not a.no_build:
        build(names)
    gort_dir = os.path.join(TARGET, "release", "examples")
    env = {**os.environ, "GORT_MAXPROCS": str(a.procs), "GOMAXPROCS": str(a.procs)}
    print(f"# {time.strftime('%Y-%m-%d')} {os.cpu_count()} cores, procs={a.procs}, "
          f"runs={a.runs} alternating; ratio = median of per-pair gort/go")
    print(f"{'workload':10} {'metric':18} {'gort':>10} {'go':>10} {'ratio':>7} "
          f"{'(min-max)':>13} {'rss ratio':>9}")
    for n in names:
        key, unit, gargs, goargs, qg, qgo = WORKLOADS[n]
        if a.quick:
            gargs, goargs = qg, qgo
        g_cmd = [os.path.join(gort_dir, n)] + gargs
        go_cmd = [os.path.join(GO_BIN, n)] + goargs
        gs, gos, ratios, rss = [], [], [], []
        for r in range(a.runs):
            pair = [("gort", g_cmd), ("go", go_cmd)]
            if r % 2:
                pair.reverse()
            res = {who: run_one(cmd, env) for who, cmd in pair}
            gs.append(res["gort"][key])
            gos.append(res["go"][key])
            ratios.append(res["gort"][key] / res["go"][key])
            rss.append(res["gort"]["_maxrss_kib"] / res["go"]["_maxrss_kib"])
        print(f"{n:10} {unit:18} {fmt(statistics.median(gs)):>10} "
              f"{fmt(statistics.median(gos)):>10} {statistics.median(ratios):7.2f} "
              f"{min(ratios):6.2f}-{max(ratios):<6.2f} {statistics.median(rss):9.2f}")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
