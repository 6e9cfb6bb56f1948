#!/usr/bin/env python3
"""End-to-end test of the live dashboard in headless Chromium (issue 10).

Starts the `lab` example on a free port, opens its page in headless Chromium with
`?press=sleep&n=50&after=2&stop=6` (the page's own script presses the "sleepers"
control once two live samples have arrived, as a person would, and closes its event
stream after six), and checks the DOM Chromium dumps: live samples arrived over SSE,
the control was pressed and accepted, and the goroutine count on the page grew by the
50 sleepers. With --screenshot, a second run presses "CPU-bound" and "garbage" and
saves the page.

    python3 tests/browser/dashboard_e2e.py [--lab PATH] [--screenshot docs/dashboard.png]

Needs `chromium` (Debian: apt-get install -y chromium). Without --lab it builds the
example with cargo. Prints `1 passed, 0 failed` (or exits non-zero with the reason).
Standard library only.
"""
import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-dev-shm-usage",
                  "--hide-scrollbars"]


def find_chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("dashboard_e2e: no chromium on PATH (apt-get install -y chromium)")


def build_lab(repo):
    env = dict(os.environ)
    out = subprocess.run(
        ["cargo", "build", "-q", "-p", "gort", "--example", "lab", "--message-format=json"],
        cwd=repo, env=env, check=True, capture_output=True, text=True).stdout
    for line in out.splitlines():
        m = re.search(r'"executable":"([^"]+/examples/lab)"', line)
        if m:
            return m.group(1)
    sys.exit("dashboard_e2e: cargo did not report the lab executable")


def start_lab(lab, seconds):
    p = subprocess.Popen([lab, "-addr", "127.0.0.1:0", "-exit-after", str(seconds)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    m = re.search(r"http://([0-9.:]+)/", line)
    if not m:
        p.kill()
        sys.exit(f"dashboard_e2e: lab printed {line!r}, stderr {p.stderr.read()!r}")
    return p, m.group(1)


def chromium(browser, args, timeout):
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([browser, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=timeout)


def attr(dom, name):
    m = re.search(r"<body[^>]*\s" + re.escape(name) + r'="([^"]*)"', dom)
    return m.group(1) if m else None


def text_of(dom, elem_id):
    m = re.search(r'id="' + re.escape(elem_id) + r'"[^>]*>([^<]*)<', dom)
    return m.group(1) if m else None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lab", help="the lab example's executable (default: cargo build)")
    ap.add_argument("--screenshot", help="also write a screenshot of a busy dashboard here")
    a = ap.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    browser = find_chromium()
    lab = a.lab or build_lab(repo)

    # The page presses the control after 2 samples and closes its event stream after 6
    # (3 s later), which lets Chromium dump the DOM; the sleepers sleep 5-6 s, so the
    # last sample still counts them. The lab is stopped afterwards.
    proc, addr = start_lab(lab, 60)
    try:
        r = chromium(browser, ["--virtual-time-budget=15000", "--dump-dom",
                               f"http://{addr}/?press=sleep&n=50&after=2&stop=6"], timeout=90)
    finally:
        proc.kill()
        proc.wait(timeout=30)
    lab_err = proc.stderr.read()
    dom = r.stdout
    failures = []
    samples = int(attr(dom, "data-samples") or 0)
    if samples < 3:
        failures.append(f"only {samples} live samples reached the page")
    if attr(dom, "data-last-control") != "sleep":
        failures.append("the control was not pressed")
    result = text_of(dom, "control-result") or ""
    if "sleep 50" not in result or not result.startswith("\u2713"):
        failures.append(f"the control's answer was {result!r}")
    def num(v):
        return int(v) if v and v.isdigit() else -1
    before = num(attr(dom, "data-before"))
    after = num(text_of(dom, "g-total"))
    if attr(dom, "data-error"):
        failures.append(f"the page's script failed: {attr(dom, 'data-error')}")
    # The 50 sleepers show in the wait-reason table; the total is only a sanity check,
    # since transient goroutines (the page's own connections, the collector's helpers)
    # come and go between the two samples.
    sleeping = re.findall(r'<td[^>]*>sleep</td><td[^>]*>(\d+)</td>', dom)
    asleep = max((int(n) for n in sleeping), default=-1)
    if asleep < 50:
        failures.append(f"the page shows {asleep} goroutines waiting in sleep, not the 50 pressed for")
    if before < 0 or after < 50 or after <= before:
        failures.append(f"goroutines on the page went from {before} to {after}, not up by about 50")
    procs = len(re.findall(r'class="p (?:running|idle|syscall|dead|gcstop)"', dom))
    if procs < 1:
        failures.append("no P cards on the page")
    if failures:
        print("dashboard_e2e: FAILED:\n  " + "\n  ".join(failures))
        print("body: " + str(re.findall(r"<body[^>]*>", dom)) + " status: " + str(text_of(dom, "status")))
        print(f"(chromium exit {r.returncode}; stderr tail: {r.stderr[-300:]!r})")
        print(f"(lab exit {proc.returncode}; stderr: {lab_err[-1000:]!r})")
        print("0 passed, 1 failed")
        sys.exit(1)
    print(f"dashboard_e2e: {samples} samples, control pressed, goroutines {before} -> {after} ({asleep} asleep), {procs} P cards")

    if a.screenshot:
        proc, addr = start_lab(lab, 60)
        try:
            out = os.path.abspath(a.screenshot)
            chromium(browser, ["--window-size=1400,1250", "--virtual-time-budget=5000",
                               f"--screenshot={out}",
                               f"http://{addr}/?press=cpu,garbage&n=12&after=2&stop=6"], timeout=90)
        finally:
            proc.kill()
            proc.wait(timeout=30)
        print(f"dashboard_e2e: screenshot in {a.screenshot}")
    print("1 passed, 0 failed")


if __name__ == "__main__":
    main()
