//! The live GMP dashboard: one self-contained web page (no external assets) served by
//! the runtime, updated twice a second over server-sent events, showing each P (run
//! queue, current goroutine, steals, handoffs), each M and its state, goroutines by
//! status and wait reason, recent steals, scheduling-latency percentiles, and — when a
//! collector reports them through the tracer — the GC phase, heap and goal over time
//! and a pause histogram.
//!
//! Turned on by `GORT_DEBUG=dashboard=127.0.0.1:6060` for any [`run`](crate::run), or
//! by [`serve`] (the `lab` example adds controls with [`Controls`]).
//!
//! Endpoints: `GET /` (the page), `GET /events` (SSE: one JSON sample per event),
//! `GET /api/state` (the latest sample), `GET /api/goroutines` (a goroutine dump),
//! `GET /api/controls` (the control names), `POST /api/control/NAME?n=K`.
//!
//! Served by goroutines over gort's own netpoller ([`crate::net`]): one accepting, one
//! per connection (a page holds one stream); a plain thread samples. Scheduling
//! latencies, steals and GC come
//! from the execution tracer run in flight-recorder mode while the dashboard is up, so
//! a program that starts its own trace meanwhile gets [`crate::trace::Error`]
//! `AlreadyStarted`, and one that is tracing when the dashboard starts leaves those
//! panels empty.

mod http;
mod sampler;

use std::io::{self, Write as _};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering}; // tidy: allow(std-sync) the facade has no loom models
use std::sync::{Arc, Condvar, Mutex, MutexGuard}; // tidy: allow(std-sync) the facade has no loom models
use std::time::{Duration, Instant};

use crate::net::{TcpListener, TcpStream};

use gort_sched::debug::SchedHandle;

use crate::Error;

/// The `GORT_DEBUG` key that turns the dashboard on.
pub const DASHBOARD_KEY: &str = "dashboard";

/// What `dashboard=` accepts, for the error message.
const EXPECTED: &str = "dashboard=HOST:PORT with a numeric IP address, e.g. dashboard=127.0.0.1:6060 (other GORT_DEBUG keys are separate, comma-separated)";

/// The dashboard address in a `GORT_DEBUG` value, if it has a `dashboard=` key; a value
/// that is not an IP socket address is an [`Error::InvalidEnv`] naming `GORT_DEBUG`.
pub fn parse_debug_value(value: &str) -> Result<Option<SocketAddr>, Error> {
    for item in value.split(',').map(str::trim) {
        if let Some((k, v)) = item.split_once('=')
            && k.trim() == DASHBOARD_KEY
        {
            return v
                .trim()
                .parse::<SocketAddr>()
                .map(Some)
                .map_err(|_| Error::InvalidEnv {
                    var: "GORT_DEBUG",
                    value: value.to_owned(),
                    expected: EXPECTED,
                });
        }
    }
    Ok(None)
}

/// The dashboard address from the environment's `GORT_DEBUG`, if any.
pub fn addr_from_env() -> Result<Option<SocketAddr>, Error> {
    match std::env::var_os("GORT_DEBUG") {
        Some(v) => parse_debug_value(&v.to_string_lossy()),
        None => Ok(None),
    }
}

/// A control's handler: gets the control's name and its `n` parameter, returns a
/// message for the page or an error message. Called on the connection's goroutine;
/// work that outlives the request belongs in goroutines it starts (or sends to).
pub type ControlFn = dyn Fn(&str, Option<u64>) -> Result<String, String> + Send + Sync;

/// Buttons the page shows: `(name, label)` pairs and the handler they call.
#[derive(Clone)]
pub struct Controls {
    /// `(name, button label)` in display order. A control whose name starts with
    /// `n:` takes a number from the page's input box (sent as `n`).
    pub buttons: Vec<(String, String)>,
    /// Called for `POST /api/control/NAME`.
    pub handler: Arc<ControlFn>,
}

impl core::fmt::Debug for Controls {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Controls")
            .field("buttons", &self.buttons)
            .finish_non_exhaustive()
    }
}

/// The latest sample, shared by the sampler and the connections.
struct Latest {
    /// (sample number, JSON); 0 before the first sample.
    state: Mutex<(u64, String, bool)>,
    cv: Condvar,
}

/// A running dashboard; dropping it stops the sampler, the accepting goroutine (within
/// half a second) and the event streams.
pub struct Dashboard {
    addr: SocketAddr,
    latest: Arc<Latest>,
    sampler: Option<std::thread::JoinHandle<()>>,
    stop: Arc<AtomicBool>,
}

impl core::fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Dashboard")
            .field("addr", &self.addr)
            .finish()
    }
}

impl Dashboard {
    /// The address it listens on (useful with port 0).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        {
            let mut st = lock(&self.latest.state);
            st.2 = true;
        }
        self.latest.cv.notify_all();
        if let Some(h) = self.sampler.take() {
            let _ = h.join();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Serves the dashboard of the calling goroutine's scheduler on `addr` until the
/// returned [`Dashboard`] is dropped or the scheduler ends. Must be called from a
/// goroutine (inside [`run`](crate::run)).
pub fn serve(addr: SocketAddr, controls: Option<Controls>) -> io::Result<Dashboard> {
    let handle = SchedHandle::current().ok_or_else(|| {
        io::Error::other("gort::dashboard::serve must be called from a goroutine")
    })?;
    let listener = TcpListener::bind(addr)?;
    let addr = listener.local_addr()?;
    let latest = Arc::new(Latest {
        state: Mutex::new((0, String::from("{}"), false)),
        cv: Condvar::new(),
    });
    let l2 = Arc::clone(&latest);
    let h2 = handle.clone();
    let sampler = std::thread::Builder::new()
        .name("gort-dashboard-sampler".into())
        .spawn(move || run_sampler(h2, &l2))?;
    let l3 = Arc::clone(&latest);
    let controls = controls.map(Arc::new);
    let stop = Arc::new(AtomicBool::new(false));
    let stop2 = Arc::clone(&stop);
    crate::Builder::new()
        .name("dashboard")
        .spawn(move || accept_loop(&listener, &l3, &handle, controls.as_ref(), &stop2))
        .map_err(io::Error::other)?;
    Ok(Dashboard {
        addr,
        latest,
        sampler: Some(sampler),
        stop,
    })
}

/// Starts the dashboard if `GORT_DEBUG` asks for one (called by `run` inside the main
/// goroutine); a failure to listen is reported on stderr and the program goes on.
pub(crate) fn start_from_env(addr: Option<SocketAddr>) -> Option<Dashboard> {
    let addr = addr?;
    match serve(addr, None) {
        Ok(d) => {
            eprintln!("gort: dashboard on http://{}/", d.local_addr());
            Some(d)
        }
        Err(e) => {
            eprintln!("gort: GORT_DEBUG=dashboard={addr}: cannot listen: {e}");
            None
        }
    }
}

/// The accepting goroutine: a goroutine per connection, until the dashboard is
/// dropped (checked every half second through an accept deadline).
fn accept_loop(
    listener: &TcpListener,
    latest: &Arc<Latest>,
    handle: &SchedHandle,
    controls: Option<&Arc<Controls>>,
    stop: &AtomicBool,
) {
    while !stop.load(Ordering::Relaxed) {
        listener.set_deadline(Some(Instant::now() + Duration::from_millis(500)));
        let Ok((conn, _)) = listener.accept() else {
            continue;
        };
        let (latest, handle, controls) = (Arc::clone(latest), handle.clone(), controls.cloned());
        let spawned = crate::Builder::new().name("dashboard-conn").spawn(move || {
            let _ = serve_conn(conn, &latest, &handle, controls.as_deref());
        });
        if spawned.is_err() {
            return;
        }
    }
}

/// The sampler thread: a sample every period until stopped or the scheduler ends.
fn run_sampler(handle: SchedHandle, latest: &Latest) {
    let mut s = sampler::Sampler::new(handle);
    loop {
        if s.finished() {
            break;
        }
        let json = s.sample();
        let mut st = lock(&latest.state);
        if st.2 {
            break;
        }
        st.0 += 1;
        st.1 = json;
        latest.cv.notify_all();
        let (st, _) = latest
            .cv
            .wait_timeout(st, sampler::PERIOD)
            .unwrap_or_else(|e| e.into_inner());
        if st.2 {
            break;
        }
    }
    s.finish();
    lock(&latest.state).2 = true;
    latest.cv.notify_all();
}

/// The page.
const PAGE: &str = include_str!("page.html");

/// Handles one connection (one request).
fn serve_conn(
    mut conn: TcpStream,
    latest: &Latest,
    handle: &SchedHandle,
    controls: Option<&Controls>,
) -> io::Result<()> {
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let Some(req) = http::read_request(&mut conn)? else {
        return Ok(());
    };
    let text = "text/plain; charset=utf-8";
    let json = "application/json";
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/") => http::respond(
            &mut conn,
            "200 OK",
            "text/html; charset=utf-8",
            PAGE.as_bytes(),
        ),
        ("GET", "/api/state") => {
            let body = wait_sample(latest, 0).map_or_else(|| "{}".to_string(), |(_, j)| j);
            http::respond(&mut conn, "200 OK", json, body.as_bytes())
        }
        ("GET", "/api/goroutines") => {
            // Symbolizing blocks this thread for a while: let the P go meanwhile.
            let dump = crate::syscall(|| handle.goroutines());
            http::respond(&mut conn, "200 OK", text, dump.as_bytes())
        }
        ("GET", "/api/controls") => {
            let mut body = String::from("[");
            for (i, (name, label)) in controls
                .map(|c| c.buttons.as_slice())
                .unwrap_or(&[])
                .iter()
                .enumerate()
            {
                if i > 0 {
                    body.push(',');
                }
                body.push_str(&format!("[\"{}\",\"{}\"]", escape(name), escape(label)));
            }
            body.push(']');
            http::respond(&mut conn, "200 OK", json, body.as_bytes())
        }
        ("POST", path) if path.starts_with("/api/control/") => {
            let name = &path["/api/control/".len()..];
            let n = req.param("n").and_then(|v| v.parse().ok());
            let known = controls.filter(|c| c.buttons.iter().any(|(b, _)| b == name));
            match known.map(|c| (c.handler)(name, n)) {
                Some(Ok(msg)) => http::respond(&mut conn, "200 OK", text, msg.as_bytes()),
                Some(Err(msg)) => http::respond(&mut conn, "400 Bad Request", text, msg.as_bytes()),
                None => http::respond(&mut conn, "404 Not Found", text, b"no such control"),
            }
        }
        ("GET", "/events") => {
            conn.set_read_timeout(None)?;
            http::start_events(&mut conn)?;
            let mut seen = 0;
            while let Some((n, j)) = wait_sample(latest, seen) {
                seen = n;
                http::send_event(&mut conn, &j)?;
            }
            conn.flush()
        }
        _ => http::respond(&mut conn, "404 Not Found", text, b"not found"),
    }
}

/// Waits (on a goroutine: sleeping, not blocking its thread) for a sample newer than
/// `seen`; `None` once the dashboard stopped.
fn wait_sample(latest: &Latest, seen: u64) -> Option<(u64, String)> {
    loop {
        {
            let st = lock(&latest.state);
            if st.0 > seen {
                return Some((st.0, st.1.clone()));
            }
            if st.2 {
                return None;
            }
        }
        crate::time::sleep(Duration::from_millis(50));
    }
}

/// Escapes a string for a JSON string literal.
fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dashboard_addresses_parse_and_bad_ones_name_gort_debug() {
        assert_eq!(parse_debug_value("schedtrace=100").ok(), Some(None));
        assert_eq!(
            parse_debug_value("gctrace=1,dashboard=127.0.0.1:6060").ok(),
            Some(Some(
                "127.0.0.1:6060".parse().unwrap_or_else(|_| unreachable!())
            ))
        );
        let e = parse_debug_value("dashboard=localhost")
            .err()
            .map(|e| e.to_string());
        let e = e.unwrap_or_default();
        assert!(
            e.contains("GORT_DEBUG") && e.contains("dashboard=HOST:PORT"),
            "{e}"
        );
    }

    #[test]
    fn request_lines_parse() {
        let r = http::parse_request_line(
            "POST /api/control/n:spawn_cpu?n=8&x HTTP/1.1\r\nHost: a\r\n\r\n",
        );
        let r = r.unwrap_or_else(|| unreachable!());
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("POST", "/api/control/n:spawn_cpu")
        );
        assert_eq!(r.param("n"), Some("8"));
        assert_eq!(r.param("x"), Some(""));
        assert!(http::parse_request_line("GET /").is_none());
        assert!(http::parse_request_line("GET / SPDY/3").is_none());
    }
}
