//! The dashboard's HTTP side without a browser: the page is self-contained (no
//! external URL), `/api/state` is strict JSON describing the running program, the SSE
//! stream delivers successive samples, controls reach their handler, unknown ones are
//! 404, and `GORT_DEBUG=dashboard=` with a bad address is an error naming GORT_DEBUG.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "test code"
)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gort::chan::Chan;
use gort::dashboard::Controls;
use gort_trace::testing::json::{Json, parse};

/// One HTTP/1.1 request; returns (status line, body).
fn request(addr: std::net::SocketAddr, method: &str, path: &str) -> (String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap();
    (head.lines().next().unwrap().to_string(), body.to_string())
}

fn arr(j: &Json) -> &[Json] {
    match j {
        Json::Arr(v) => v,
        other => panic!("not an array: {other:?}"),
    }
}

#[test]
fn dashboard_serves_page_state_events_and_controls() {
    let config = {
        let mut c = gort::Config::default();
        c.maxprocs = 2;
        c
    };
    gort::run_with(config, || {
        let pressed = Arc::new(AtomicU64::new(0));
        let p2 = Arc::clone(&pressed);
        let controls = Controls {
            buttons: vec![("poke".into(), "Poke".into())],
            handler: Arc::new(move |name: &str, n: Option<u64>| {
                p2.fetch_add(n.unwrap_or(1), Ordering::SeqCst);
                Ok(format!("{name} ok"))
            }),
        };
        let dash = gort::dashboard::serve("127.0.0.1:0".parse().unwrap(), Some(controls)).unwrap();
        let addr = dash.local_addr();
        // Some goroutines to see: three parked on a channel.
        let c = Chan::<u8>::new(0);
        for _ in 0..3 {
            let c = c.clone();
            gort::go(move || {
                let _ = c.recv();
            });
        }
        // The HTTP client is plain blocking code: run it off the scheduler's Ps.
        gort::syscall(|| {
            let (status, page) = request(addr, "GET", "/");
            assert_eq!(status, "HTTP/1.1 200 OK");
            assert!(page.contains("<html") && page.contains("EventSource"));
            // Self-contained: no script, style or image from elsewhere.
            for bad in ["src=\"http", "href=\"http", "@import", "url(http"] {
                assert!(!page.contains(bad), "external asset {bad:?} in the page");
            }

            // Samples come every 500 ms: wait for one that saw the three parked.
            let (j, body) = (0..40)
                .find_map(|_| {
                    let (status, body) = request(addr, "GET", "/api/state");
                    assert_eq!(status, "HTTP/1.1 200 OK");
                    let j = parse(&body).unwrap_or_else(|e| panic!("{e}: {body}"));
                    let waiting = j.get("goroutines")?.get("waiting")?.num()?;
                    if waiting >= 3.0 {
                        Some((j, body))
                    } else {
                        std::thread::sleep(std::time::Duration::from_millis(100));
                        None
                    }
                })
                .expect("no sample saw the parked goroutines");
            assert_eq!(j.get("gomaxprocs").unwrap().num(), Some(2.0));
            assert_eq!(arr(j.get("procs").unwrap()).len(), 2);
            assert!(!arr(j.get("threads").unwrap()).is_empty());
            let g = j.get("goroutines").unwrap();
            assert!(g.get("waiting").unwrap().num().unwrap() >= 3.0, "{body}");

            let (status, list) = request(addr, "GET", "/api/controls");
            assert_eq!(status, "HTTP/1.1 200 OK");
            assert_eq!(list, r#"[["poke","Poke"]]"#);
            let (status, msg) = request(addr, "POST", "/api/control/poke?n=5");
            assert_eq!(
                (status.as_str(), msg.as_str()),
                ("HTTP/1.1 200 OK", "poke ok")
            );
            assert_eq!(pressed.load(Ordering::SeqCst), 5);
            let (status, _) = request(addr, "POST", "/api/control/nope");
            assert_eq!(status, "HTTP/1.1 404 Not Found");
            let (status, _) = request(addr, "GET", "/nope");
            assert_eq!(status, "HTTP/1.1 404 Not Found");

            let (_, dump) = request(addr, "GET", "/api/goroutines");
            assert!(dump.contains("[chan receive]:"), "{dump}");

            // Two successive samples over SSE, each strict JSON with a new number.
            let mut s = TcpStream::connect(addr).unwrap();
            write!(s, "GET /events HTTP/1.1\r\nHost: test\r\n\r\n").unwrap();
            let mut r = BufReader::new(s);
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            assert_eq!(line.trim_end(), "HTTP/1.1 200 OK");
            let mut seqs = Vec::new();
            while seqs.len() < 2 {
                line.clear();
                assert!(r.read_line(&mut line).unwrap() > 0, "stream ended");
                if let Some(data) = line.strip_prefix("data: ") {
                    let j = parse(data.trim_end()).unwrap();
                    seqs.push(j.get("seq").unwrap().num().unwrap());
                }
            }
            assert!(seqs[1] > seqs[0], "{seqs:?}");
        });
        for _ in 0..3 {
            c.send(0);
        }
        drop(dash);
    })
    .unwrap();
}

#[test]
fn a_bad_dashboard_address_names_gort_debug() {
    let e = gort::dashboard::parse_debug_value("schedtrace=10,dashboard=:6060")
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("GORT_DEBUG") && e.contains("dashboard=HOST:PORT"),
        "{e}"
    );
    assert_eq!(
        gort::dashboard::parse_debug_value("dashboard=127.0.0.1:0").unwrap(),
        Some("127.0.0.1:0".parse().unwrap())
    );
}
