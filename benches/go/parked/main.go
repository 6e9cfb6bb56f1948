// parked: N goroutines blocked on one channel; resident bytes per goroutine.
// Go twin of crates/gort/examples/parked.rs; prints one JSON summary line last.
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
	after := rssKiB()
	close(gate)
	wg.Wait()
	fmt.Printf("{\"bench\":\"parked\",\"impl\":\"go\",\"procs\":%d,\"n\":%d,\"spawn_ms\":%.3f,\"rss_per_g_bytes\":%.0f,\"total_rss_mib\":%d}\n",
		runtime.GOMAXPROCS(0), *n, float64(up.Nanoseconds())/1e6, float64(after-before)*1024/float64(*n), after>>10)
}
