// skynet: a tree of 1M goroutines; leaves send their number, parents sum ten children.
// Go twin of crates/gort/examples/skynet.rs; prints one JSON summary line last.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"time"
)

func skynet(c chan int, num, size, div int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int, div)
	for i := 0; i < div; i++ {
		sub := num + i*(size/div)
		go skynet(rc, sub, size/div, div)
	}
	sum := 0
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

func main() {
	size := flag.Int("size", 1000000, "leaves")
	flag.Parse()
	start := time.Now()
	c := make(chan int)
	go skynet(c, 0, *size, 10)
	r := <-c
	el := time.Since(start)
	want := (*size - 1) * *size / 2
	fmt.Printf("{\"bench\":\"skynet\",\"impl\":\"go\",\"procs\":%d,\"size\":%d,\"result\":%d,\"total_ms\":%.3f}\n",
		runtime.GOMAXPROCS(0), *size, r, float64(el.Nanoseconds())/1e6)
	if r != want {
		fmt.Fprintf(os.Stderr, "skynet: wrong result %d, want %d\n", r, want)
		os.Exit(1)
	}
}
