// http_hello: an HTTP/1.1 hello-world server over raw net.Conn (not net/http), one
// goroutine per connection, keep-alive, hand-written parsing. Go twin of
// crates/gort/examples/http_hello.rs; measure with `wrk -t1 -c64 -d5s --latency`.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
)

var response = []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!")
var badRequest = []byte("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")

const maxHead = 8192

type head struct {
	len, body int
	close     bool
}

// parseHead parses one request head at the start of buf; ok=false if incomplete.
func parseHead(buf []byte) (h head, ok bool, bad bool) {
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return h, false, len(buf) > maxHead
	}
	lines := bytes.Split(buf[:end], []byte("\n"))
	reqLine := bytes.TrimSuffix(lines[0], []byte("\r"))
	if bytes.IndexByte(reqLine, ' ') < 0 {
		return h, false, true
	}
	h.close = bytes.HasSuffix(reqLine, []byte("HTTP/1.0"))
	for _, line := range lines[1:] {
		line = bytes.TrimSuffix(line, []byte("\r"))
		colon := bytes.IndexByte(line, ':')
		if colon < 0 {
			return h, false, true
		}
		name, value := line[:colon], bytes.TrimSpace(line[colon+1:])
		if bytes.EqualFold(name, []byte("content-length")) {
			n, err := strconv.Atoi(string(value))
			if err != nil {
				return h, false, true
			}
			h.body = n
		} else if bytes.EqualFold(name, []byte("connection")) {
			if bytes.EqualFold(value, []byte("close")) {
				h.close = true
			} else if bytes.EqualFold(value, []byte("keep-alive")) {
				h.close = false
			}
		}
	}
	h.len = end + 4
	return h, true, false
}

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 4096)
	have := 0
	out := make([]byte, 0, len(response)*4)
	for {
		n, err := c.Read(buf[have:])
		if n == 0 || err != nil {
			return
		}
		have += n
		start, closeConn := 0, false
		for {
			h, ok, bad := parseHead(buf[start:have])
			if bad {
				out = append(out, badRequest...)
				closeConn = true
				break
			}
			if !ok || start+h.len+h.body > have {
				break
			}
			out = append(out, response...)
			start += h.len + h.body
			if h.close {
				closeConn = true
				break
			}
		}
		if len(out) > 0 {
			if _, err := c.Write(out); err != nil {
				return
			}
			out = out[:0]
		}
		if closeConn {
			return
		}
		copy(buf, buf[start:have])
		have -= start
		if have == len(buf) {
			nb := make([]byte, len(buf)*2)
			copy(nb, buf)
			buf = nb
		}
	}
}

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "listen address HOST:PORT")
	flag.Parse()
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "http_hello: cannot listen on %s: %v\n", *addr, err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "http_hello: listening on http://%s (GOMAXPROCS %d)\n", l.Addr(), runtime.GOMAXPROCS(0))
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "http_hello: accept: %v\n", err)
			continue
		}
		go serve(c)
	}
}
