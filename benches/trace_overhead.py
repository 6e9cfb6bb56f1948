#!/usr/bin/env python3
"""Execution-tracer overhead on skynet and pingpong, alternating runs in one command.

    python3 benches/trace_overhead.py NEW_EXAMPLES_DIR PREV_EXAMPLES_DIR [ROUNDS]

Each round runs, per workload: the previous commit's binary ("prev"), this commit's with
tracing off ("off") and with GORT_TRACE=FILE ("on"). Prints the per-round ratios
off/prev (disabled overhead) and on/off (enabled overhead; the workload's own timer, so
the JSON export at the end of run is not included) and their medians.
"""
import json, os, statistics, subprocess, sys, tempfile
NEW=sys.argv[1].rstrip("/")+"/"; OLD=sys.argv[2].rstrip("/")+"/"
W={"skynet":(["-size","1000000"],"total_ms"),"pingpong":(["-n","2000000"],"ns_per_op")}
rounds=int(sys.argv[3]) if len(sys.argv)>3 else 5
def run(path, args, key, env=None):
    e=dict(os.environ); e.pop("GORT_TRACE",None)
    if env: e.update(env)
    out=subprocess.run([path]+args,capture_output=True,text=True,env=e,check=True).stdout
    return json.loads(out.strip().splitlines()[-1])[key]
res={}
TRACE=os.path.join(tempfile.gettempdir(),"gort-trace-overhead.json")
for r in range(rounds):
    for w,(args,key) in W.items():
        for name,path,env in [("prev",OLD+w,None),("off",NEW+w,None),("on",NEW+w,{"GORT_TRACE":TRACE})]:
            res.setdefault((w,name),[]).append(run(path,args,key,env))
            if env and os.path.exists(TRACE):
                os.remove(TRACE)  # GiBs per traced run
for w,(args,key) in W.items():
    pr=res[(w,"prev")]; off=res[(w,"off")]; on=res[(w,"on")]
    d=[o/p for o,p in zip(off,pr)]; e=[n/o for n,o in zip(on,off)]
    print(f"{w} ({key}): prev {pr}\n  off {off}\n  on {on}")
    print(f"  disabled overhead off/prev: median {statistics.median(d):.3f} per-round {[round(x,3) for x in d]}")
    print(f"  enabled overhead on/off: median {statistics.median(e):.3f} per-round {[round(x,3) for x in e]}")
