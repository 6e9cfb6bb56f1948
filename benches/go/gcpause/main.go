// gcpause: 4M live small objects, then 50M short-lived allocations of which every
// 16th replaces a live one; reports GC pause percentiles. Go twin of
// crates/gort/examples/gcpause.rs. Flags: -live N -churn N. Prints one JSON line last.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"runtime"
	"sort"
	"time"
)

type Item struct {
	next *Item
	v    uint64
}

var sink *Item

func main() {
	live := flag.Int("live", 4000000, "live objects")
	churn := flag.Int("churn", 50000000, "allocations")
	flag.Parse()
	start := time.Now()
	set := make([]*Item, *live)
	for i := range set {
		set[i] = &Item{v: uint64(i)}
	}
	for i := 0; i < *churn; i++ {
		it := &Item{v: uint64(i)}
		if i%16 == 0 {
			j := (i / 16) % *live
			it.next = set[j]
			if it.next != nil {
				it.next.next = nil
			}
			set[j] = it
		}
		sink = it
	}
	var sum uint64
	for _, it := range set {
		sum += it.v
	}
	el := time.Since(start)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	n := int(ms.NumGC)
	if n > 256 {
		n = 256
	}
	pauses := make([]float64, 0, n)
	for i := 0; i < n; i++ {
		pauses = append(pauses, float64(ms.PauseNs[(int(ms.NumGC)-1-i+256)%256])/1e6)
	}
	sort.Float64s(pauses)
	pct := func(p float64) float64 {
		if len(pauses) == 0 {
			return 0
		}
		return pauses[int(p*float64(len(pauses)-1))]
	}
	out, _ := json.Marshal(map[string]interface{}{
		"bench": "gcpause", "impl": "go", "procs": runtime.GOMAXPROCS(0), "live": *live,
		"churn": *churn, "result": sum, "total_ms": float64(el.Nanoseconds()) / 1e6,
		"p50_pause_ms": pct(0.5), "p99_pause_ms": pct(0.99), "max_pause_ms": pct(1.0),
		"num_gc": ms.NumGC,
	})
	fmt.Println(string(out))
}
