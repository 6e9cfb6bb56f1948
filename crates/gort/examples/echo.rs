//! echo: a TCP echo server, one goroutine per connection (gort::net on the netpoller).
//! `cargo run --release --example echo -- --addr 127.0.0.1:7007`, then e.g.
//! `nc 127.0.0.1 7007`. Flags: `--addr HOST:PORT` (default 127.0.0.1:7007).

use std::io::{Read, Write};
use std::process::ExitCode;

use gort::net::{TcpListener, TcpStream};

const USAGE: &str = "usage: echo [--addr HOST:PORT]";

/// The listen address from the command line, or a message for a bad one.
fn parse_args() -> Result<String, String> {
    let mut addr = "127.0.0.1:7007".to_string();
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

fn serve(mut c: TcpStream) {
    let _ = c.set_nodelay(true);
    let mut buf = [0u8; 16 * 1024];
    loop {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                if c.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
        }
    }
}

#[gort::main]
fn main() -> ExitCode {
    let addr = match parse_args() {
        Ok(a) => a,
        Err(msg) => {
            eprintln!("echo: {msg}");
            return ExitCode::from(2);
        }
    };
    let l = match TcpListener::bind(&addr) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("echo: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!(
        "echo: listening on {} (GOMAXPROCS {})",
        l.local_addr().map_or(addr, |a| a.to_string()),
        gort::gomaxprocs()
    );
    loop {
        match l.accept() {
            Ok((c, _)) => gort::go(move || serve(c)),
            Err(e) => eprintln!("echo: accept: {e}"),
        }
    }
}
