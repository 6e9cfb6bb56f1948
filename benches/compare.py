#!/usr/bin/env python3
"""Side-by-side benchmark driver: gort's examples against Go, tokio and may, alternately.

Usage (through xtask):
    cargo xtask bench sched [--runs N] [--procs P] [--only a,b] [--peers go,tokio,may]
                            [--quick] [--no-build] [--timeout S]
    cargo xtask bench net [--runs N] [--procs P] [--quick] ...   (servers under wrk)
    cargo xtask bench gc [--runs N] [--procs P] [--quick] ...    (Gc heaps; Go only)

Implementations of each workload (same flags, one JSON summary line printed last):
  gort   crates/gort/examples/<w>.rs
  go     benches/go/<w>/main.go
  tokio  benches/gort-sched-bench/src/bin/tokio_<w>.rs   (a standalone crate, built into
  may    benches/gort-sched-bench/src/bin/may_<w>.rs      <target>/peers, never by the workspace)

For every workload the driver runs each implementation once per round, rotating the
order every round (the machines are shared and noisy, so no side always goes first),
takes each run's primary figure and the process's peak RSS (wait4's ru_maxrss), and
prints per implementation the median and range, and per peer the median of the
per-round ratios gort/peer (below 1.0 means gort is faster or smaller). A run that
exits non-zero, times out or prints a wrong result counts as failed: the error is
reported with the count of failed runs, and the medians use the good runs only (may,
for one, fails past ~32k live coroutines for want of memory mappings, sometimes only
in some runs); after a time-out that implementation is not run again for that
workload. Only public tools: cargo, go, python3.
"""
import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GO_DIR = os.path.join(ROOT, "benches", "go")
PEER_CRATE = os.path.join(ROOT, "benches", "gort-sched-bench")
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
GO_BIN = os.path.join(TARGET, "go-bench")
PEER_TARGET = os.path.join(TARGET, "peers")

PEERS = ["go", "tokio", "may"]


def skynet_ok(s):
    n = s["size"]
    return s["result"] == n * (n - 1) // 2


def pingpong_ok(s):
    return s["v"] == s["n"]


def binarytrees_ok(s):
    n = s["depth"]
    want = (2 ** (n + 2) - 1) + (2 ** (n + 1) - 1)
    want += sum((1 << (n - d + 4)) * (2 ** (d + 1) - 1) for d in range(4, n + 1, 2))
    return s["result"] == want


# workload -> primary JSON key, unit, full-size args, --quick args, result check
WORKLOADS = {
    "spawn": dict(key="ns_per_op", unit="ns/goroutine", args=["-n", "1000000"],
                  quick=["-n", "100000"], check=None),
    "skynet": dict(key="total_ms", unit="ms", args=["-size", "1000000"],
                   quick=["-size", "100000"], check=skynet_ok),
    "pingpong": dict(key="ns_per_op", unit="ns/round trip", args=["-n", "2000000"],
                     quick=["-n", "200000"], check=pingpong_ok),
    "parked": dict(key="rss_per_g_bytes", unit="bytes/goroutine", args=["-n", "1000000"],
                   quick=["-n", "100000"], check=None),
    # gc area: collected heaps; `extra` figures get their own ratio lines.
    "binarytrees": dict(key="total_ms", unit="ms", args=["-n", "21"], quick=["-n", "16"],
                        example="binarytrees_gc",
                        check=binarytrees_ok, peers=["go"], extra=["max_pause_ms"]),
    "gcpause": dict(key="total_ms", unit="ms", args=["-live", "4000000", "-churn", "50000000"],
                    quick=["-live", "400000", "-churn", "5000000"], check=None, peers=["go"],
                    extra=["max_pause_ms", "p99_pause_ms"]),
}
AREAS = {"sched": ["spawn", "skynet", "pingpong", "parked"], "net": ["http_hello"],
         "gc": ["binarytrees", "gcpause"]}
# net area: servers loaded by wrk (Debian's package) rather than self-timed programs.
NET_WORKLOADS = {
    "http_hello": dict(wrk=["-t1", "-c64", "-d5s", "--latency"],
                       quick=["-t1", "-c64", "-d1s", "--latency"], peers=["go", "tokio"]),
}


def binary(impl, workload):
    """Path of the program implementing `workload` in `impl`."""
    example = WORKLOADS.get(workload, {}).get("example", workload)
    return {
        "gort": os.path.join(TARGET, "release", "examples", example),
        "go": os.path.join(GO_BIN, workload),
        "tokio": os.path.join(PEER_TARGET, "release", f"tokio_{workload}"),
        "may": os.path.join(PEER_TARGET, "release", f"may_{workload}"),
    }[impl]


def sh(cmd, **kw):
    print("+ " + " ".join(cmd), file=sys.stderr)
    subprocess.run(cmd, check=True, **kw)


def build(names, impls):
    """Builds every program needed; returns the implementations that built. gort must."""
    sh(["cargo", "build", "--release", "--quiet", "-p", "gort"]
       + [a for n in names for a in ("--example", WORKLOADS.get(n, {}).get("example", n))],
       cwd=ROOT)
    built = ["gort"]
    if "go" in impls:
        try:
            os.makedirs(GO_BIN, exist_ok=True)
            for n in names:
                sh(["go", "build", "-o", binary("go", n), "./" + n], cwd=GO_DIR,
                   env={**os.environ, "GOFLAGS": "-mod=mod"})
            built.append("go")
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"warning: Go twins did not build ({e}); skipping go", file=sys.stderr)
    rust_peers = [p for p in ("tokio", "may") if p in impls]
    if rust_peers:
        try:
            sh(["cargo", "build", "--release", "--quiet",
                "--manifest-path", os.path.join(PEER_CRATE, "Cargo.toml"),
                "--target-dir", PEER_TARGET]
               + [a for p in rust_peers for n in names for a in ("--bin", f"{p}_{n}")],
               cwd=PEER_CRATE)
            built += rust_peers
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"warning: {PEER_CRATE} did not build ({e}); skipping "
                  + ",".join(rust_peers), file=sys.stderr)
    return built


def one_line(text, limit=240):
    """A failed program's error, folded to one line: its first panic's message if it
    panicked (several workers may panic at once), else the tail of its stderr."""
    lines = [l.strip() for l in text.splitlines() if l.strip()]
    first = next((k for k, l in enumerate(lines) if l.startswith("panic")), None)
    s = " ".join(lines[first:first + 2] if first is not None else lines[-3:])
    s = re.sub(r"/\S*/registry/src/[^/]+/", "", s)  # cargo registry paths: crate-x.y/...
    return s if len(s) <= limit else "..." + s[-limit:]


def run_one(cmd, env, timeout, check):
    """Runs one program; returns (summary, None) or (None, error message).

    Output goes to temporary files (a chatty failing program cannot fill a pipe and
    stall), and the driver reaps the child itself with wait4 for its peak RSS."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env)
        while True:
            pid, status, ru = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - start > timeout:
                proc.kill()
                os.wait4(proc.pid, 0)
                proc.returncode = -9
                return None, f"timed out after {timeout:g} s"
            time.sleep(0.01)
        wall = time.monotonic() - start
        code = proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        text = out.read().decode(errors="replace")
        errors = err.read().decode(errors="replace")
    lines = [l for l in text.splitlines() if l.strip().startswith("{")]
    if code != 0 or not lines:
        return None, f"exit {code}: {one_line(errors)}"
    try:
        summary = json.loads(lines[-1])
    except json.JSONDecodeError as e:
        return None, f"bad summary line ({e}): {lines[-1][:200]}"
    if check and not check(summary):
        return None, f"wrong result: {lines[-1][:200]}"
    summary["_wall_s"] = wall
    summary["_maxrss_kib"] = ru.ru_maxrss
    return summary, None


def fmt(x):
    return f"{x:.3g}" if x < 1000 else f"{x:.0f}"


def bench_workload(name, impls, a, env):
    """Runs one workload's implementations alternately; prints its table."""
    w = WORKLOADS[name]
    args = w["quick"] if a.quick else w["args"]
    figures = {i: [] for i in impls}            # impl -> primary figure per good run
    rss = {i: [] for i in impls}                # impl -> peak RSS (KiB) per good run
    rounds = []                                 # per round: impl -> summary
    failures = {i: [] for i in impls}           # impl -> error of each failed run
    timed_out = set()                           # impls not run again (a time-out is costly)
    for r in range(a.runs):
        k = r % len(impls)
        res = {}
        for i in impls[k:] + impls[:k]:
            if i in timed_out:
                continue
            s, e = run_one([binary(i, name)] + args, env, a.timeout, w["check"])
            if e is not None:
                failures[i].append(e)
                if e.startswith("timed out"):
                    timed_out.add(i)
                continue
            if s.get("procs") != a.procs:
                print(f"warning: {i} {name} ran with procs={s.get('procs')}", file=sys.stderr)
            res[i] = s
            figures[i].append(s[w["key"]])
            rss[i].append(s["_maxrss_kib"])
        rounds.append(res)

    print(f"\n{name}: {w['unit']} ({w['key']}), args {' '.join(args)}")
    print(f"  {'impl':6} {'median':>9} {'min':>9} {'max':>9} {'runs':>4} {'maxrss MiB':>10}"
          f"   {'gort/impl':>9} {'(min-max)':>11} {'rss gort/impl':>13}")
    for i in impls:
        if figures[i]:
            f = figures[i]
            line = (f"  {i:6} {fmt(statistics.median(f)):>9} {fmt(min(f)):>9} "
                    f"{fmt(max(f)):>9} {len(f):>4} "
                    f"{statistics.median(rss[i]) / 1024:>10.0f}")
            pairs = [(rd["gort"], rd[i]) for rd in rounds if "gort" in rd and i in rd]
            if i != "gort" and pairs:
                ratios = [g[w["key"]] / p[w["key"]] for g, p in pairs]
                rr = [g["_maxrss_kib"] / p["_maxrss_kib"] for g, p in pairs]
                line += (f"   {statistics.median(ratios):9.2f} "
                         f"{min(ratios):5.2f}-{max(ratios):<5.2f} "
                         f"{statistics.median(rr):13.2f}")
            print(line)
            for x in w.get("extra", []):
                vals = [rd[i][x] for rd in rounds if i in rd]
                xl = f"    {x:22} median {fmt(statistics.median(vals))}"
                if i != "gort" and pairs:
                    xr = [g[x] / p[x] for g, p in pairs if p[x] > 0]
                    if xr:
                        xl += f"   gort/{i} {statistics.median(xr):.2f}"
                print(xl)
        if failures[i]:
            print(f"  {i:6} FAILED {len(failures[i])} of {len(failures[i]) + len(figures[i])}"
                  f" runs; first: {failures[i][0]}")
    sys.stdout.flush()


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout=10.0):
    """Waits until something accepts on `port` (False if `proc` died or time ran out)."""
    import socket
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            return False
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def parse_wrk(text):
    """(requests/s, p99 in ms) from `wrk --latency` output, or None."""
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    p99 = re.search(r"^\s*99%\s+([\d.]+)(us|ms|s)\b", text, re.M)
    if not rps or not p99:
        return None
    scale = {"us": 1e-3, "ms": 1.0, "s": 1e3}[p99.group(2)]
    return float(rps.group(1)), float(p99.group(1)) * scale


def net_one(impl, name, args, env, timeout):
    """Starts `impl`'s server, loads it with wrk, stops it: ((rps, p99), None) or
    (None, error)."""
    port = free_port()
    with tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([binary(impl, name), "--addr", f"127.0.0.1:{port}"],
                                stdout=subprocess.DEVNULL, stderr=err, env=env)
        try:
            if not wait_listening(port, proc):
                err.seek(0)
                return None, "server did not listen: " + one_line(
                    err.read().decode(errors="replace"))
            try:
                w = subprocess.run(["wrk"] + args + [f"http://127.0.0.1:{port}/"],
                                   capture_output=True, text=True, timeout=timeout)
            except (OSError, subprocess.TimeoutExpired) as e:
                return None, f"wrk: {e}"
            if proc.poll() is not None:
                err.seek(0)
                return None, f"server exited {proc.returncode}: " + one_line(
                    err.read().decode(errors="replace"))
            got = parse_wrk(w.stdout)
            if got is None or "Non-2xx" in w.stdout or "Socket errors" in w.stdout:
                return None, "wrk: " + one_line(w.stdout + w.stderr)
            return got, None
        finally:
            proc.kill()
            proc.wait()


def bench_net(name, impls, a, env):
    """Runs one server workload's implementations alternately under wrk; prints its
    table: requests/s and p99 latency, and per peer the median per-round ratios."""
    w = NET_WORKLOADS[name]
    args = w["quick"] if a.quick else w["wrk"]
    rounds, failures = [], {i: [] for i in impls}
    for r in range(a.runs):
        k = r % len(impls)
        res = {}
        for i in impls[k:] + impls[:k]:
            got, e = net_one(i, name, args, env, a.timeout)
            if e is not None:
                failures[i].append(e)
            else:
                res[i] = got
        rounds.append(res)
    print(f"\n{name}: wrk {' '.join(args)}; requests/s and p99 latency (ms)")
    print(f"  {'impl':6} {'req/s med':>9} {'min':>9} {'max':>9} {'p99 med':>8} {'runs':>4}"
          f"   {'req/s gort/impl':>15} {'(min-max)':>11} {'p99 gort/impl':>13}")
    for i in impls:
        got = [rd[i] for rd in rounds if i in rd]
        if got:
            rps = [g[0] for g in got]
            p99 = [g[1] for g in got]
            line = (f"  {i:6} {statistics.median(rps):9.0f} {min(rps):9.0f} {max(rps):9.0f} "
                    f"{statistics.median(p99):8.2f} {len(got):>4}")
            pairs = [(rd["gort"], rd[i]) for rd in rounds if "gort" in rd and i in rd]
            if i != "gort" and pairs:
                rr = [g[0] / p[0] for g, p in pairs]
                pr = [g[1] / p[1] for g, p in pairs]
                line += (f"   {statistics.median(rr):15.2f} {min(rr):5.2f}-{max(rr):<5.2f} "
                         f"{statistics.median(pr):13.2f}")
            print(line)
            for x in w.get("extra", []):
                vals = [rd[i][x] for rd in rounds if i in rd]
                xl = f"    {x:22} median {fmt(statistics.median(vals))}"
                if i != "gort" and pairs:
                    xr = [g[x] / p[x] for g, p in pairs if p[x] > 0]
                    if xr:
                        xl += f"   gort/{i} {statistics.median(xr):.2f}"
                print(xl)
        if failures[i]:
            print(f"  {i:6} FAILED {len(failures[i])} of {len(failures[i]) + len(got)}"
                  f" runs; first: {failures[i][0]}")
    sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("area", choices=sorted(AREAS))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--procs", type=int, default=None,
                    help="GOMAXPROCS for every implementation (default 2; net: 1)")
    ap.add_argument("--only", default="", help="workloads, comma-separated (default all)")
    ap.add_argument("--peers", default=",".join(PEERS),
                    help="peers of gort, comma-separated (default go,tokio,may)")
    ap.add_argument("--quick", action="store_true", help="small sizes (smoke test)")
    ap.add_argument("--no-build", action="store_true")
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run")
    a = ap.parse_args()
    if a.procs is None:
        a.procs = 1 if a.area == "net" else 2
    names = [n for n in AREAS[a.area] if not a.only or n in a.only.split(",")]
    peers = [p for p in a.peers.split(",") if p]
    if a.area == "gc":
        # Only Go has twins of the gc workloads.
        peers = [p for p in peers if all(p in WORKLOADS[n].get("peers", PEERS) for n in names)]
    if a.area == "net":
        # Peers without a twin of every net workload are left out (may has none).
        peers = [p for p in peers if all(p in NET_WORKLOADS[n]["peers"] for n in names)]
    unknown = [p for p in peers if p not in PEERS]
    if unknown:
        ap.error(f"unknown peers {unknown}; choose from {PEERS}")
    impls = ["gort"] + [p for p in PEERS if p in peers]
    if not a.no_build:
        built = build(names, impls)
        impls = [i for i in impls if i in built]
    env = {**os.environ, "GORT_MAXPROCS": str(a.procs), "GOMAXPROCS": str(a.procs)}
    better = ("req/s >1 and p99 <1: gort better" if a.area == "net"
              else "<1: gort faster/smaller")
    print(f"# {time.strftime('%Y-%m-%d')} {os.cpu_count()} cores, procs={a.procs}, "
          f"runs={a.runs}, order rotated each round; impls {','.join(impls)}; "
          f"gort/impl = median of per-round ratios ({better})")
    for n in names:
        if a.area == "net":
            bench_net(n, impls, a, env)
        else:
            bench_workload(n, impls, a, env)


if __name__ == "__main__":
    main()
