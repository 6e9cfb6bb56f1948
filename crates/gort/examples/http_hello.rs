//! http_hello: an HTTP/1.1 hello-world server on gort::net, one goroutine per
//! connection, keep-alive, hand-written parsing (request head up to the blank line,
//! `Content-Length` bodies skipped, `Connection: close` honoured). The twin of
//! benches/go/http_hello (Go over raw `net.Conn`) and the tokio server in
//! benches/gort-sched-bench; measured with `wrk -t1 -c64 -d5s --latency`.
//! Flags: `--addr HOST:PORT` (default 127.0.0.1:8080).

use std::io::{Read, Write};
use std::process::ExitCode;

use gort::net::{TcpListener, TcpStream};

const USAGE: &str = "usage: http_hello [--addr HOST:PORT]";

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// Requests with a longer head are refused.
const MAX_HEAD: usize = 8192;

/// The listen address from the command line, or a message for a bad one.
fn parse_args() -> Result<String, String> {
    let mut addr = "127.0.0.1:8080".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().ok_or("--addr needs a value (HOST:PORT)")?,
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    Ok(addr)
}

/// What the head of one request says.
struct Head {
    /// Bytes of head, including the blank line.
    len: usize,
    /// Body bytes that follow.
    body: usize,
    /// The client asked to close (or spoke HTTP/1.0 without keep-alive).
    close: bool,
}

/// Parses one request head at the start of `buf`: `Ok(None)` if incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<Head>, ()> {
    let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if buf.len() > MAX_HEAD {
            Err(())
        } else {
            Ok(None)
        };
    };
    let head = &buf[..end];
    let mut lines = head.split(|&b| b == b'\n');
    let request_line = lines.next().ok_or(())?;
    let mut close = request_line.ends_with(b"HTTP/1.0\r") || request_line.ends_with(b"HTTP/1.0");
    if !request_line.contains(&b' ') {
        return Err(());
    }
    let mut body = 0;
    for line in lines {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(());
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if name.eq_ignore_ascii_case(b"content-length") {
            body = std::str::from_utf8(value)
                .ok()
                .and_then(|v| v.parse().ok())
                .ok_or(())?;
        } else if name.eq_ignore_ascii_case(b"connection") {
            if value.eq_ignore_ascii_case(b"close") {
                close = true;
            } else if value.eq_ignore_ascii_case(b"keep-alive") {
                close = false;
            }
        }
    }
    Ok(Some(Head {
        len: end + 4,
        body,
        close,
    }))
}

/// Serves one connection until the client closes or asks to.
fn serve(mut c: TcpStream) {
    let _ = c.set_nodelay(true);
    let mut buf = vec![0u8; 4096];
    let mut have = 0;
    let mut out = Vec::with_capacity(RESPONSE.len() * 4);
    loop {
        match c.read(&mut buf[have..]) {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
        // Every complete request in the buffer (pipelining), one write for all.
        let mut start = 0;
        let mut close = false;
        loop {
            match parse_head(&buf[start..have]) {
                Ok(Some(h)) if start + h.len + h.body <= have => {
                    out.extend_from_slice(RESPONSE);
                    start += h.len + h.body;
                    if h.close {
                        close = true;
                        break;
                    }
                }
                Ok(_) => break,
                Err(()) => {
                    out.extend_from_slice(BAD_REQUEST);
                    close = true;
                    break;
                }
            }
        }
        if !out.is_empty() {
            if c.write_all(&out).is_err() {
                return;
            }
            out.clear();
        }
        if close {
            return;
        }
        buf.copy_within(start..have, 0);
        have -= start;
        if have == buf.len() {
            // A body larger than the buffer: grow (heads are bounded by MAX_HEAD).
            buf.resize(buf.len() * 2, 0);
        }
    }
}

#[gort::main]
fn main() -> ExitCode {
    let addr = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("http_hello: {msg}");
            return ExitCode::from(2);
        }
    };
    let l = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("http_hello: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "http_hello: listening on http://{} (GOMAXPROCS {})",
        l.local_addr().map_or(addr, |a| a.to_string()),
        gort::gomaxprocs()
    );
    loop {
        match l.accept() {
            Ok((c, _)) => gort::go(move || serve(c)),
            Err(e) => eprintln!("http_hello: accept: {e}"),
        }
    }
}
