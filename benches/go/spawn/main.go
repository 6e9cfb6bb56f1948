// spawn: start N goroutines that each signal a WaitGroup. Go twin of
// crates/gort/examples/spawn.rs; prints one JSON summary line last.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"time"
)

func main() {
	n := flag.Int("n", 1000000, "goroutines")
	flag.Parse()
	var wg sync.WaitGroup
	start := time.Now()
	wg.Add(*n)
	for i := 0; i < *n; i++ {
		go func() { wg.Done() }()
	}
	wg.Wait()
	el := time.Since(start)
	fmt.Printf("{\"bench\":\"spawn\",\"impl\":\"go\",\"procs\":%d,\"n\":%d,\"total_ms\":%.3f,\"ns_per_op\":%.1f}\n",
		runtime.GOMAXPROCS(0), *n, float64(el.Nanoseconds())/1e6, float64(el.Nanoseconds())/float64(*n))
}
