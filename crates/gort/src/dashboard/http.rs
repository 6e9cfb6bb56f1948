//! The few bits of HTTP/1.1 the dashboard needs, over any `Read + Write`: one request
//! head per connection, plain responses, and a server-sent-events stream.

use std::io::{self, Read, Write};

/// The most bytes of a request head read (a browser's is well under 2 KiB).
const MAX_HEAD: usize = 16 * 1024;

/// A parsed request line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Request {
    /// `GET`, `POST`, ...
    pub(crate) method: String,
    /// The path without the query.
    pub(crate) path: String,
    /// `key=value` pairs of the query string (no percent-decoding: the dashboard's
    /// parameters are numbers and names).
    pub(crate) query: Vec<(String, String)>,
}

impl Request {
    /// The query parameter `key`, if present.
    pub(crate) fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads and parses a request head; `None` for a closed or malformed connection.
/// A request body is not read (the dashboard's POSTs carry their data in the query).
pub(crate) fn read_request(r: &mut impl Read) -> io::Result<Option<Request>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
        let n = r.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
    }
    Ok(parse_request_line(&String::from_utf8_lossy(&head)))
}

/// Parses `METHOD /path?query HTTP/1.x`.
pub(crate) fn parse_request_line(head: &str) -> Option<Request> {
    let line = head.lines().next()?;
    let mut parts = line.split(' ');
    let method = parts.next()?.to_string();
    let target = parts.next()?;
    if !parts.next()?.starts_with("HTTP/1.") {
        return None;
    }
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (k.to_string(), v.to_string())
        })
        .collect();
    Some(Request {
        method,
        path: path.to_string(),
        query,
    })
}

/// Writes a complete response and flushes it (`Connection: close`).
pub(crate) fn respond(
    w: &mut impl Write,
    status: &str,
    content_type: &str,
    body: &[u8],
) -> io::Result<()> {
    write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
        body.len()
    )?;
    w.write_all(body)?;
    w.flush()
}

/// Starts a server-sent-events response.
pub(crate) fn start_events(w: &mut impl Write) -> io::Result<()> {
    w.write_all(
        b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n",
    )?;
    w.flush()
}

/// Sends one event whose data is `data` (a single line, e.g. JSON).
pub(crate) fn send_event(w: &mut impl Write, data: &str) -> io::Result<()> {
    debug_assert!(!data.contains('\n'));
    write!(w, "data: {data}\n\n")?;
    w.flush()
}
