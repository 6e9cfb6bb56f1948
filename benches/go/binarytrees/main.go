// binarytrees (the benchmarks game's, one goroutine per depth): Go twin of
// crates/gort/examples/binarytrees_gc.rs. Flags: -n DEPTH. Prints one JSON line last.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

type Node struct{ left, right *Node }

func bottomUp(d int) *Node {
	if d <= 0 {
		return &Node{}
	}
	return &Node{bottomUp(d - 1), bottomUp(d - 1)}
}

func (n *Node) check() int {
	if n.left == nil {
		return 1
	}
	return 1 + n.left.check() + n.right.check()
}

func main() {
	n := flag.Int("n", 21, "maximum depth")
	flag.Parse()
	start := time.Now()
	maxDepth := *n
	if maxDepth < 6 {
		maxDepth = 6
	}
	total := 0
	stretch := bottomUp(maxDepth + 1).check()
	fmt.Fprintf(os.Stderr, "stretch tree of depth %d\t check: %d\n", maxDepth+1, stretch)
	total += stretch
	longLived := bottomUp(maxDepth)
	results := make([]int, maxDepth+1)
	done := make(chan bool)
	for d := 4; d <= maxDepth; d += 2 {
		go func(d int) {
			iters := 1 << uint(maxDepth-d+4)
			c := 0
			for i := 0; i < iters; i++ {
				c += bottomUp(d).check()
			}
			results[d] = c
			done <- true
		}(d)
	}
	for d := 4; d <= maxDepth; d += 2 {
		<-done
	}
	for d := 4; d <= maxDepth; d += 2 {
		fmt.Fprintf(os.Stderr, "%d\t trees of depth %d\t check: %d\n", 1<<uint(maxDepth-d+4), d, results[d])
		total += results[d]
	}
	ll := longLived.check()
	fmt.Fprintf(os.Stderr, "long lived tree of depth %d\t check: %d\n", maxDepth, ll)
	total += ll
	el := time.Since(start)
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	var maxPause uint64
	for _, p := range ms.PauseNs {
		if p > maxPause {
			maxPause = p
		}
	}
	out, _ := json.Marshal(map[string]interface{}{
		"bench": "binarytrees", "impl": "go", "procs": runtime.GOMAXPROCS(0), "depth": maxDepth,
		"result": total, "total_ms": float64(el.Nanoseconds()) / 1e6,
		"max_pause_ms": float64(maxPause) / 1e6, "num_gc": ms.NumGC,
	})
	fmt.Println(string(out))
}
