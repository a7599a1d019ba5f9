//! The local admin endpoint: a thread of its own that serves the engine's session status and
//! ends sessions, over HTTP/1.1 on a Unix socket (the default: file permissions are the access
//! control, the socket is made `0600`) or on a loopback TCP port (so `curl` works without
//! `--unix-socket`; non-loopback addresses are refused).
//!
//! Requests (one per connection, answered with `Connection: close`):
//!
//! | request | answer |
//! |---|---|
//! | `GET /sessions` | JSON: `engine` (counters, latency percentiles) and `sessions` |
//! | `GET /sessions.txt` | the same as a table for people |
//! | `GET /sessions/<SessionId>` | JSON of one session (404 if unknown) |
//! | `POST /sessions/<SessionId>/finalize` | finalize it (202, or 404/409; 503 busy) |
//! | `POST /sessions/<SessionId>/terminate` | unbind it with Close 1000 (same codes) |
//!
//! It reads the [`StatusReader`] and refreshes its own clone of the [`EngineMetrics`]; ending
//! a session is a command through the [`SessionControl`] queue. Nothing it does waits for the
//! engine thread or makes it wait.
//!
//! Owns: the endpoint's socket, its thread, the HTTP subset and the JSON and table renderings.
//! May not touch: the engine (only through [`OpsHandle`]).

use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use crate::codec::fixp::FlowType;
use crate::codec::SessionId;
use crate::engine::log::{role_name, state_name, EndAction, EndOutcome};
use crate::engine::metrics::{EngineMetrics, Stage};
use crate::engine::ops::{ControlError, OpsHandle, StoppableThread};
use crate::engine::status::{SessionStatusRecord, TransportKind};
use crate::transport::WireEncoding;

/// How long a request may take to arrive or its answer to leave.
const IO_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the accept loop looks for a stop request when idle.
const ACCEPT_IDLE: Duration = Duration::from_millis(20);
/// How long an end command waits for the engine's answer.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest request head read.
const MAX_REQUEST: usize = 8192;

/// Where the admin endpoint listens.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminEndpoint {
    /// A Unix socket at this path (made `0600`; a stale socket file is replaced).
    Unix(PathBuf),
    /// HTTP on a loopback address (port 0: any free port; see [`AdminServer::endpoint`]).
    Http(SocketAddr),
}

impl AdminEndpoint {
    /// An address (`127.0.0.1:9000`) is loopback HTTP; anything else is a Unix socket path.
    pub fn parse(text: &str) -> Self {
        match text.parse::<SocketAddr>() {
            Ok(addr) => AdminEndpoint::Http(addr),
            Err(_) => AdminEndpoint::Unix(PathBuf::from(text)),
        }
    }
}

impl std::fmt::Display for AdminEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdminEndpoint::Unix(path) => write!(f, "unix:{}", path.display()),
            AdminEndpoint::Http(addr) => write!(f, "http://{addr}"),
        }
    }
}

/// Why the admin endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Binding or spawning failed.
    #[error("admin endpoint: {0}")]
    Io(#[from] io::Error),
    /// HTTP is served on loopback addresses only.
    #[error("admin endpoint: {0} is not a loopback address")]
    NotLoopback(SocketAddr),
    /// Another server answers on this Unix socket.
    #[error("admin endpoint: {0} is in use by a running server")]
    InUse(PathBuf),
}

enum Socket {
    Unix(UnixListener, PathBuf),
    Tcp(TcpListener),
}

/// The running admin endpoint. Stopping it (or dropping it) ends its thread and removes its
/// Unix socket file.
#[derive(Debug)]
pub struct AdminServer {
    endpoint: AdminEndpoint,
    thread: StoppableThread,
}

impl AdminServer {
    /// Binds `endpoint` and serves `ops` (and, with `metrics`, engine-wide latency
    /// percentiles) on a thread named `fixp-admin`.
    pub fn start(
        endpoint: &AdminEndpoint,
        ops: OpsHandle,
        metrics: Option<EngineMetrics>,
    ) -> Result<Self, AdminError> {
        let (socket, bound) = match endpoint {
            AdminEndpoint::Unix(path) => {
                let listener = bind_unix(path)?;
                (
                    Socket::Unix(listener, path.clone()),
                    AdminEndpoint::Unix(path.clone()),
                )
            }
            AdminEndpoint::Http(addr) => {
                if !addr.ip().is_loopback() {
                    return Err(AdminError::NotLoopback(*addr));
                }
                let listener = TcpListener::bind(addr)?;
                listener.set_nonblocking(true)?;
                let local = listener.local_addr()?;
                (Socket::Tcp(listener), AdminEndpoint::Http(local))
            }
        };
        let mut service = Service { ops, metrics };
        let thread =
            StoppableThread::spawn("fixp-admin", move |stop| serve(&socket, stop, &mut service))?;
        Ok(AdminServer {
            endpoint: bound,
            thread,
        })
    }

    /// Where it listens (with the port chosen for port 0).
    pub fn endpoint(&self) -> &AdminEndpoint {
        &self.endpoint
    }

    /// Ends the thread and removes the Unix socket file.
    pub fn stop(mut self) {
        self.thread.stop();
    }
}

fn bind_unix(path: &Path) -> Result<UnixListener, AdminError> {
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(AdminError::InUse(path.to_path_buf()));
        }
        // A socket file left by a process that is gone.
        std::fs::remove_file(path)?;
    }
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// What the endpoint needs of an accepted stream of either kind.
trait AcceptedStream: Read + Write {
    /// Makes it blocking, with [`IO_TIMEOUT`] both ways.
    fn prepare(&self) -> io::Result<()>;
}

impl AcceptedStream for UnixStream {
    fn prepare(&self) -> io::Result<()> {
        self.set_nonblocking(false)?;
        self.set_read_timeout(Some(IO_TIMEOUT))?;
        self.set_write_timeout(Some(IO_TIMEOUT))
    }
}

impl AcceptedStream for TcpStream {
    fn prepare(&self) -> io::Result<()> {
        self.set_nonblocking(false)?;
        self.set_read_timeout(Some(IO_TIMEOUT))?;
        self.set_write_timeout(Some(IO_TIMEOUT))
    }
}

fn serve(socket: &Socket, stop: &AtomicBool, service: &mut Service) {
    while !stop.load(Ordering::Acquire) {
        let served = match socket {
            Socket::Unix(listener, _) => {
                listener.accept().map(|(stream, _)| service.answer(stream))
            }
            Socket::Tcp(listener) => listener.accept().map(|(stream, _)| service.answer(stream)),
        }
        .is_ok();
        if !served {
            std::thread::sleep(ACCEPT_IDLE);
        }
    }
    if let Socket::Unix(_, path) = socket {
        let _ = std::fs::remove_file(path);
    }
}

/// One answer: status code, content type, body.
struct Reply {
    status: u16,
    json: bool,
    body: String,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Reply {
            status,
            json: true,
            body: body.to_string(),
        }
    }

    fn text(status: u16, body: impl Into<String>) -> Self {
        Reply {
            status,
            json: false,
            body: body.into(),
        }
    }

    fn error(status: u16, message: &str) -> Self {
        Reply::json(status, json!({ "error": message }))
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        413 => "Payload Too Large",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Error",
    }
}

struct Service {
    ops: OpsHandle,
    metrics: Option<EngineMetrics>,
}

impl Service {
    fn answer(&mut self, mut stream: impl AcceptedStream) {
        if stream.prepare().is_err() {
            return;
        }
        let reply = match read_head(&mut stream) {
            Ok(head) => self.route(&head),
            Err(reply) => reply,
        };
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            reply.status,
            reason_phrase(reply.status),
            if reply.json {
                "application/json"
            } else {
                "text/plain; charset=utf-8"
            },
            reply.body.len()
        );
        let _ = stream.write_all(head.as_bytes());
        let _ = stream.write_all(reply.body.as_bytes());
        let _ = stream.flush();
    }

    fn route(&mut self, head: &[u8]) -> Reply {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut request = httparse::Request::new(&mut headers);
        match request.parse(head) {
            Ok(httparse::Status::Complete(_)) => {}
            _ => return Reply::error(400, "malformed request"),
        }
        let (Some(method), Some(target)) = (request.method, request.path) else {
            return Reply::error(400, "malformed request");
        };
        let path = target.split('?').next().unwrap_or("");
        let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
        match (method, parts.as_slice()) {
            ("GET", [""]) => Reply::text(200, HELP),
            ("GET", ["sessions"]) => Reply::json(200, self.sessions_json()),
            ("GET", ["sessions.txt"]) => Reply::text(200, self.sessions_table()),
            ("GET", ["sessions", id]) => match parse_session_id(id) {
                None => Reply::error(400, "not a SessionId"),
                Some(id) => match self.ops.status().session(id) {
                    Some(record) => Reply::json(200, session_json(&record, epoch_now())),
                    None => Reply::error(404, "unknown session"),
                },
            },
            ("POST", ["sessions", id, action]) => {
                let action = match *action {
                    "finalize" => EndAction::Finalize,
                    "terminate" => EndAction::Terminate,
                    _ => return Reply::error(404, "unknown action: finalize or terminate"),
                };
                match parse_session_id(id) {
                    None => Reply::error(400, "not a SessionId"),
                    Some(id) => self.end(id, action),
                }
            }
            (_, ["sessions", ..]) | (_, [""]) | (_, ["sessions.txt"]) => {
                Reply::error(405, "method not allowed")
            }
            _ => Reply::error(404, "no such resource"),
        }
    }

    fn end(&self, id: SessionId, action: EndAction) -> Reply {
        let outcome = self.ops.control().end(id, action, COMMAND_TIMEOUT);
        let status = match outcome {
            Ok(EndOutcome::Finalizing | EndOutcome::Terminated) => 202,
            Ok(EndOutcome::UnknownSession) => 404,
            Ok(EndOutcome::AlreadyFinished | EndOutcome::NotBound) => 409,
            Err(ControlError::Busy) => 503,
            Err(ControlError::NoReply) => 504,
        };
        let mut body = json!({ "session_id": id.to_string(), "action": action.name() });
        match outcome {
            Ok(outcome) => body["outcome"] = outcome.name().into(),
            Err(e) => {
                body["error"] = match e {
                    ControlError::Busy => "busy",
                    ControlError::NoReply => "no_reply",
                }
                .into();
            }
        }
        Reply::json(status, body)
    }

    fn latency(&mut self) -> Option<[(&'static str, Histogram<u64>); 3]> {
        let metrics = self.metrics.as_mut()?;
        metrics.refresh();
        Some([
            ("inbound", metrics.stage(Stage::Inbound).clone()),
            ("outbound", metrics.stage(Stage::Outbound).clone()),
            ("duty_cycle", metrics.stage(Stage::DutyCycle).clone()),
        ])
    }

    fn sessions_json(&mut self) -> Value {
        let now = epoch_now();
        let sessions: Vec<Value> = self
            .ops
            .status()
            .sessions()
            .iter()
            .map(|record| session_json(record, now))
            .collect();
        json!({ "engine": self.engine_json(now), "sessions": sessions })
    }

    fn engine_json(&mut self, now: u64) -> Value {
        let latency: Option<Map<String, Value>> = self.latency().map(|stages| {
            stages
                .iter()
                .map(|(name, h)| ((*name).to_owned(), percentiles_json(h)))
                .collect()
        });
        let ops = &self.ops;
        let c = ops.counters();
        let status = ops.status();
        json!({
            "now_ns": now,
            "status_rounds": status.rounds(),
            "status_round_ns": status.round_ns(),
            "session_capacity": status.capacity(),
            "cycles": c.cycles.load(Ordering::Relaxed),
            "accepted": c.accepted.load(Ordering::Relaxed),
            "handshake_failures": c.handshake_failures.load(Ordering::Relaxed),
            "reconnects": c.reconnects.load(Ordering::Relaxed),
            "slow_consumers": c.slow_consumers.load(Ordering::Relaxed),
            "log_records": ops.log_records(),
            "log_records_lost": ops.log_records_lost(),
            "latency_ns": latency,
        })
    }

    fn sessions_table(&mut self) -> String {
        let now = epoch_now();
        let records = self.ops.status().sessions();
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<36}  {:<6} {:<14} {:<25} {:>8} {:>8} {:>8}  {:<11} {:<9} {:>9} {:>9}  {:<7} PEER",
            "SESSION ID",
            "ROLE",
            "STATE",
            "FLOWS (OURS/PEER)",
            "NEXT OUT",
            "NEXT IN",
            "HEARD",
            "OUTBOX/EVT",
            "QUEUES",
            "MSGS IN",
            "MSGS OUT",
            "VIA",
        );
        for r in &records {
            let flows = format!(
                "{}/{}",
                r.outbound_flow.name(),
                r.inbound_flow.map_or("-", FlowType::name)
            );
            let queues = if r.queues.queue_capacity > 0 {
                format!("{}/{}", r.queues.to_engine, r.queues.from_engine)
            } else {
                "-".to_owned()
            };
            let _ = writeln!(
                out,
                "{:<36}  {:<6} {:<14} {:<25} {:>8} {:>8} {:>8}  {:<11} {:<9} {:>9} {:>9}  {:<7} {}",
                r.session_id.to_string(),
                role_name(r.role),
                state_name(r.state),
                flows,
                r.next_seq_to_send,
                r.next_seq_expected,
                ago(r.last_heard_ns, now),
                format!("{}/{}", r.queues.outbox, r.queues.events),
                queues,
                r.counters.messages_in,
                r.counters.messages_out,
                r.transport.map_or("-", |t| t.name()),
                r.peer.map_or_else(|| "-".to_owned(), |p| p.to_string()),
            );
        }
        let _ = writeln!(out, "{} session(s)", records.len());
        if let Some(stages) = self.latency() {
            for (name, h) in &stages {
                if h.is_empty() {
                    let _ = writeln!(out, "latency {name:<10} no samples");
                    continue;
                }
                let _ = writeln!(
                    out,
                    "latency {name:<10} n={:<9} p50={} p90={} p99={} p99.9={} max={}",
                    h.len(),
                    duration(h.value_at_quantile(0.5)),
                    duration(h.value_at_quantile(0.9)),
                    duration(h.value_at_quantile(0.99)),
                    duration(h.value_at_quantile(0.999)),
                    duration(h.max()),
                );
            }
        }
        let c = self.ops.counters();
        let _ = writeln!(
            out,
            "engine: accepted={} handshake_failures={} reconnects={} slow_consumers={} log_records_lost={}",
            c.accepted.load(Ordering::Relaxed),
            c.handshake_failures.load(Ordering::Relaxed),
            c.reconnects.load(Ordering::Relaxed),
            c.slow_consumers.load(Ordering::Relaxed),
            self.ops.log_records_lost(),
        );
        out
    }
}

const HELP: &str = "fixp-ws admin endpoint\n\
GET  /sessions                            every session (JSON)\n\
GET  /sessions.txt                        every session (table)\n\
GET  /sessions/<SessionId>                one session (JSON)\n\
POST /sessions/<SessionId>/finalize       finalize it (FinishedSending, then Close 1000)\n\
POST /sessions/<SessionId>/terminate      unbind it (Close 1000)\n";

/// Reads the request head (up to the blank line); the reply to send if that fails.
fn read_head<S: Read>(stream: &mut S) -> Result<Vec<u8>, Reply> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    loop {
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(head);
        }
        if head.len() > MAX_REQUEST {
            return Err(Reply::error(413, "request too large"));
        }
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => return Err(Reply::error(400, "incomplete request")),
            Ok(n) => head.extend_from_slice(buf.get(..n).unwrap_or(&[])),
        }
    }
}

/// A SessionId in its UUID text form (hyphens optional).
pub fn parse_session_id(text: &str) -> Option<SessionId> {
    let hex: Vec<u8> = text.bytes().filter(|&b| b != b'-').collect();
    if hex.len() != 32 {
        return None;
    }
    let mut id = [0u8; 16];
    for (byte, pair) in id.iter_mut().zip(hex.chunks(2)) {
        let text = std::str::from_utf8(pair).ok()?;
        *byte = u8::from_str_radix(text, 16).ok()?;
    }
    Some(SessionId(id))
}

fn epoch_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

fn ago(at_ns: u64, now: u64) -> String {
    if at_ns == 0 {
        return "-".to_owned();
    }
    duration(now.saturating_sub(at_ns))
}

/// A duration in ns, µs, ms or s.
fn duration(ns: u64) -> String {
    match ns {
        0..=9_999 => format!("{ns}ns"),
        10_000..=9_999_999 => format!("{}us", ns / 1_000),
        10_000_000..=9_999_999_999 => format!("{}ms", ns / 1_000_000),
        _ => format!("{}s", ns / 1_000_000_000),
    }
}

fn json_range(range: Option<(u64, u64)>) -> Value {
    range.map_or(
        Value::Null,
        |(from, end)| json!({ "from": from, "end": end }),
    )
}

fn percentiles_json(h: &Histogram<u64>) -> Value {
    if h.is_empty() {
        return json!({ "count": 0 });
    }
    json!({
        "count": h.len(),
        "p50": h.value_at_quantile(0.5),
        "p90": h.value_at_quantile(0.9),
        "p99": h.value_at_quantile(0.99),
        "p99_9": h.value_at_quantile(0.999),
        "max": h.max(),
    })
}

/// One session as JSON (the endpoint's record format, documented in `docs/operations.md`).
fn session_json(r: &SessionStatusRecord, now: u64) -> Value {
    let heard_ago = (r.last_heard_ns != 0).then(|| now.saturating_sub(r.last_heard_ns) / 1_000_000);
    let q = &r.queues;
    let c = &r.counters;
    let queues = json!({
        "outbox": q.outbox,
        "outbox_capacity": q.outbox_capacity,
        "events": q.events,
        "event_capacity": q.event_capacity,
        "recovery": q.recovery,
        "recovery_capacity": q.recovery_capacity,
        "to_engine": q.to_engine,
        "from_engine": q.from_engine,
        "queue_capacity": q.queue_capacity,
    });
    let counters = json!({
        "messages_in": c.messages_in,
        "messages_out": c.messages_out,
        "events": c.events,
        "connections": c.connections,
        "strategy_backpressure": c.strategy_backpressure,
        "session_backpressure": c.session_backpressure,
        "tolerated_deviations": c.tolerated_deviations,
        "duplicates_dropped": c.duplicates_dropped,
        "retransmit_requests": c.retransmit_requests,
        "retransmit_requested_messages": c.retransmit_requested_messages,
        "replays": c.replays,
        "replayed_messages": c.replayed_messages,
    });
    json!({
        "session_id": r.session_id.to_string(),
        "index": r.index,
        "generation": r.generation,
        "role": role_name(r.role),
        "mode": r.mode.name(),
        "encoding": match r.encoding {
            WireEncoding::Sbe => "sbe",
            WireEncoding::Json => "json",
        },
        "state": state_name(r.state),
        "bound": r.bound,
        "outbound_flow": r.outbound_flow.name(),
        "inbound_flow": r.inbound_flow.map(FlowType::name),
        "next_seq_to_send": r.next_seq_to_send,
        "next_seq_expected": r.next_seq_expected,
        "last_heard_ns": r.last_heard_ns,
        "last_heard_ago_ms": heard_ago,
        "finished_sending": r.finished_sending,
        "peer_finished_sending": r.peer_finished_sending,
        "queues": queues,
        "counters": counters,
        "recovering": json_range(r.recovering),
        "replaying": json_range(r.replaying),
        "transport": r.transport.map(TransportKind::name),
        "peer": r.peer.map(|p| p.to_string()),
        "updated_ns": r.updated_ns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_parse_with_or_without_hyphens() {
        let id = SessionId::from_random_bytes([7; 16]);
        assert_eq!(parse_session_id(&id.to_string()), Some(id));
        assert_eq!(parse_session_id(&id.to_string().replace('-', "")), Some(id));
        assert_eq!(parse_session_id("not-a-session"), None);
        assert_eq!(parse_session_id(&"g".repeat(32)), None);
    }

    #[test]
    fn endpoints_parse_as_addresses_or_paths() {
        assert_eq!(
            AdminEndpoint::parse("127.0.0.1:9000"),
            AdminEndpoint::Http("127.0.0.1:9000".parse().expect("addr"))
        );
        assert_eq!(
            AdminEndpoint::parse("run/admin.sock"),
            AdminEndpoint::Unix(PathBuf::from("run/admin.sock"))
        );
    }

    #[test]
    fn ranges_and_empty_histograms_have_their_json_form() {
        assert_eq!(json_range(None), Value::Null);
        assert_eq!(json_range(Some((2, 5))), json!({ "from": 2, "end": 5 }));
        let empty = Histogram::<u64>::new(3).expect("histogram");
        assert_eq!(percentiles_json(&empty), json!({ "count": 0 }));
    }

    #[test]
    fn durations_pick_a_readable_unit() {
        assert_eq!(duration(999), "999ns");
        assert_eq!(duration(25_000), "25us");
        assert_eq!(duration(42_000_000), "42ms");
        assert_eq!(duration(12_000_000_000), "12s");
        assert_eq!(ago(0, 5), "-");
    }
}
