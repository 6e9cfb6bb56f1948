// parked: N goroutines blocked on one channel; resident bytes per goroutine.
// Go twin of crates/gort/examples/parked.rs; prints one JSON summary line last:
// rss_per_g_bytes after the goroutines stayed parked for -settle-ms (as the gort twin),
// rss_per_g_bytes_unsettled as soon as they all exist.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"
)

func rssKiB() int {
	b, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			var v int
			fmt.Sscanf(strings.TrimSpace(l[6:]), "%d", &v)
			return v
		}
	}
	return 0
}

func main() {
	n := flag.Int("n", 1000000, "goroutines")
	settle := flag.Int("settle-ms", 5000, "milliseconds parked before the steady-state figure")
	flag.Parse()
	before := rssKiB()
	gate := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(*n)
	start := time.Now()
	for i := 0; i < *n; i++ {
		go func() { <-gate; wg.Done() }()
	}
	for runtime.NumGoroutine() < *n+1 {
		runtime.Gosched()
	}
	up := time.Since(start)
	unsettled := rssKiB()
	time.Sleep(time.Duration(*settle) * time.Millisecond)
	after := rssKiB()
	release := time.Now()
	close(gate)
	wg.Wait()
	rel := time.Since(release)
	perG := func(kib int) float64 { return float64(kib-before) * 1024 / float64(*n) }
	fmt.Printf("{\"bench\":\"parked\",\"impl\":\"go\",\"procs\":%d,\"n\":%d,\"spawn_ms\":%.3f,\"rss_per_g_bytes\":%.0f,\"rss_per_g_bytes_unsettled\":%.0f,\"settle_ms\":%d,\"release_ms\":%.3f,\"total_rss_mib\":%d}\n",
		runtime.GOMAXPROCS(0), *n, float64(up.Nanoseconds())/1e6, perG(after), perG(unsettled), *settle, float64(rel.Nanoseconds())/1e6, after>>10)
}
