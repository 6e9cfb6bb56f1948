//! tokio twin of crates/gort/examples/http_hello.rs: an HTTP/1.1 hello-world server on
//! a current-thread runtime (one thread, as gort at GORT_MAXPROCS=1 and Go at
//! GOMAXPROCS=1), one task per connection, keep-alive, the same hand-written parsing.
//! Flags: `--addr HOST:PORT` (default 127.0.0.1:8080).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "bench code")]

use std::process::ExitCode;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const RESPONSE: &[u8] =
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n\r\nHello, World!";
const BAD_REQUEST: &[u8] =
    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
const MAX_HEAD: usize = 8192;

struct Head {
    len: usize,
    body: usize,
    close: bool,
}

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

async fn serve(mut c: TcpStream) {
    let _ = c.set_nodelay(true);
    let mut buf = vec![0u8; 4096];
    let mut have = 0;
    let mut out = Vec::with_capacity(RESPONSE.len() * 4);
    loop {
        match c.read(&mut buf[have..]).await {
            Ok(0) | Err(_) => return,
            Ok(n) => have += n,
        }
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
            if c.write_all(&out).await.is_err() {
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
            buf.resize(buf.len() * 2, 0);
        }
    }
}

fn main() -> ExitCode {
    let mut addr = "127.0.0.1:8080".to_string();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" | "-addr" => match args.next() {
                Some(v) => addr = v,
                None => {
                    eprintln!("tokio_http_hello: --addr needs a value");
                    return ExitCode::from(2);
                }
            },
            other => {
                eprintln!("tokio_http_hello: unknown argument {other:?}");
                return ExitCode::from(2);
            }
        }
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()
        .unwrap();
    rt.block_on(async move {
        let l = match TcpListener::bind(&addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("tokio_http_hello: cannot listen on {addr}: {e}");
                return ExitCode::from(1);
            }
        };
        eprintln!(
            "tokio_http_hello: listening on http://{}",
            l.local_addr().unwrap()
        );
        loop {
            match l.accept().await {
                Ok((c, _)) => {
                    tokio::spawn(serve(c));
                }
                Err(e) => eprintln!("tokio_http_hello: accept: {e}"),
            }
        }
    })
}
