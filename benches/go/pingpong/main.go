// pingpong: two goroutines bounce a value over unbuffered channels.
// Go twin of crates/gort/examples/pingpong.rs; prints one JSON summary line last.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"time"
)

func main() {
	n := flag.Int("n", 2000000, "round trips")
	flag.Parse()
	a, b := make(chan int), make(chan int)
	go func() {
		for v := range a {
			b <- v + 1
		}
		close(b)
	}()
	start := time.Now()
	v := 0
	for i := 0; i < *n; i++ {
		a <- v
		v = <-b
	}
	close(a)
	el := time.Since(start)
	fmt.Printf("{\"bench\":\"pingpong\",\"impl\":\"go\",\"procs\":%d,\"n\":%d,\"v\":%d,\"total_ms\":%.3f,\"ns_per_op\":%.1f}\n",
		runtime.GOMAXPROCS(0), *n, v, float64(el.Nanoseconds())/1e6, float64(el.Nanoseconds())/float64(*n))
}
