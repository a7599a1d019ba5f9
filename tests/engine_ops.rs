//! Operations on live engines over loopback (blocking idle strategy, no timing assertions):
//! the published session status of an initiator/acceptor pair follows messages and state
//! changes; the admin endpoint (Unix socket and loopback HTTP) lists sessions and ends one;
//! log records of a reject and a violation reach a `tracing` subscriber with their fields;
//! a full log queue counts its losses and never holds the engine back.

mod engine_support;
mod ops_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use engine_support::*;
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::FixpMessage;
use fixp_ws::engine::{
    AdminEndpoint, AdminError, AdminServer, EngineConfig, EngineHandle, LogDrain, NoStrategy,
    SessionHandle, SessionStatusRecord, ToEngine, TransportKind,
};
use fixp_ws::session::{Event, Role, SessionState, TerminateReason};
use fixp_ws::transport::WireEncoding;
use ops_support::{
    establish_unknown, negotiate_and_establish, raw_client, read_to_close, send_fixp, send_garbage,
    wait_status,
};
use tracing_subscriber::layer::SubscriberExt;

/// Test engines publish status every millisecond.
fn ops_config() -> EngineConfig {
    let mut config = test_config(100);
    config.ops.status_interval = Some(Duration::from_millis(1));
    config
}

fn one<'a>(
    records: &'a [SessionStatusRecord],
    id: &fixp_ws::codec::SessionId,
) -> &'a SessionStatusRecord {
    records
        .iter()
        .find(|r| r.session_id == *id)
        .expect("the session is published")
}

/// A server and a client engine with one established session, both publishing status.
struct Pair {
    server: Server,
    client_engine: EngineHandle<NoStrategy>,
    client: SessionHandle,
    seen: Seen,
    served: SessionHandle,
}

fn established_pair(encoding: WireEncoding, flow: FlowType, seed: u64) -> Pair {
    let mut server = start_server(false, ops_config());
    let (client_engine, mut client) =
        start_client_with(&server, encoding, flow, 100, seed, ops_config());
    let mut seen = Seen::default();
    wait_until(&mut client, &mut seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    let served = accept(&mut server);
    Pair {
        server,
        client_engine,
        client,
        seen,
        served,
    }
}

#[test]
fn status_of_both_ends_follows_messages_and_state_changes() {
    let Pair {
        mut server,
        mut client_engine,
        mut client,
        mut seen,
        mut served,
    } = established_pair(WireEncoding::Sbe, FlowType::Idempotent, 41);
    let id = client.session_id();
    let server_status = server.engine.ops().status().clone();
    let client_status = client_engine.ops().status().clone();

    let records = wait_status(&server_status, "server: established", |rs| {
        rs.iter()
            .any(|r| r.session_id == id && r.state == SessionState::Established)
    });
    let s = one(&records, &id);
    assert_eq!(s.role, Role::Server);
    assert_eq!(s.mode, fixp_ws::engine::status::ConsumerMode::Thread);
    assert_eq!(s.outbound_flow, FlowType::Recoverable);
    assert_eq!(s.inbound_flow, Some(FlowType::Idempotent));
    assert!(s.bound);
    assert_eq!((s.next_seq_to_send, s.next_seq_expected), (1, 1));
    assert_eq!(s.transport, Some(TransportKind::Ws));
    assert!(s.peer.is_some_and(|p| p.ip().is_loopback()));
    assert!(s.last_heard_ns > 0);
    assert!(
        s.queues.queue_capacity > 0,
        "thread mode: its queues are shown"
    );
    assert_eq!(s.queues.outbox_capacity, 1024);

    let records = wait_status(&client_status, "client: established", |rs| {
        rs.iter()
            .any(|r| r.session_id == id && r.state == SessionState::Established)
    });
    let c = one(&records, &id);
    assert_eq!(c.role, Role::Client);
    assert_eq!(c.outbound_flow, FlowType::Idempotent);
    assert_eq!(c.inbound_flow, Some(FlowType::Recoverable));
    assert_eq!(c.peer, Some(server.addr));
    assert_eq!(c.counters.connections, 1);

    // Five orders in, three answers out: both ends' numbers follow.
    for i in 0..5 {
        send(&mut client, &order(i, WireEncoding::Sbe));
    }
    let mut at_server = Seen::default();
    wait_until(&mut served, &mut at_server, "five orders", |s| {
        s.messages.len() == 5
    });
    for i in 0..3 {
        send(&mut served, &order(100 + i, WireEncoding::Sbe));
    }
    wait_until(&mut client, &mut seen, "three answers", |s| {
        s.messages.len() == 3
    });
    let records = wait_status(&server_status, "server: 5 in, 3 out", |rs| {
        rs.iter().any(|r| {
            r.session_id == id
                && r.next_seq_expected == 6
                && r.next_seq_to_send == 4
                && r.counters.messages_in == 5
                && r.counters.messages_out == 3
        })
    });
    assert_eq!(one(&records, &id).state, SessionState::Established);
    wait_status(&client_status, "client: 5 out, 3 in", |rs| {
        rs.iter().any(|r| {
            r.session_id == id
                && r.next_seq_to_send == 6
                && r.next_seq_expected == 4
                && r.counters.messages_in == 3
                && r.counters.messages_out == 5
        })
    });

    // The client unbinds: the server's record shows it.
    client.command(ToEngine::Terminate).expect("queued");
    let records = wait_status(&server_status, "server: unbound", |rs| {
        rs.iter()
            .any(|r| r.session_id == id && r.state == SessionState::NotEstablished)
    });
    let s = one(&records, &id);
    assert!(!s.bound);
    assert_eq!((s.transport, s.peer), (None, None));
    assert_eq!(s.next_seq_expected, 6, "numbers survive the binding");
    assert!(server_status.rounds() > 0);

    client_engine.shutdown();
    client_engine.join().expect("client engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

// ----- the admin endpoint -----

/// One HTTP request to the endpoint; (status, body).
fn http(endpoint: &AdminEndpoint, method: &str, path: &str) -> (u16, String) {
    let request = format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\n\r\n");
    let mut response = Vec::new();
    match endpoint {
        AdminEndpoint::Unix(path) => {
            let mut stream = std::os::unix::net::UnixStream::connect(path).expect("connect");
            stream.write_all(request.as_bytes()).expect("write");
            stream.read_to_end(&mut response).expect("read");
        }
        AdminEndpoint::Http(addr) => {
            let mut stream = TcpStream::connect(addr).expect("connect");
            stream.write_all(request.as_bytes()).expect("write");
            stream.read_to_end(&mut response).expect("read");
        }
    }
    let text = String::from_utf8(response).expect("utf-8");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, body.to_owned())
}

fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

#[test]
fn admin_endpoint_lists_sessions_and_finalizes_one() {
    let dir = tempfile::tempdir().expect("dir");
    let Pair {
        mut server,
        mut client_engine,
        mut client,
        mut seen,
        served: _served,
    } = established_pair(WireEncoding::Json, FlowType::Recoverable, 42);
    let id = client.session_id();
    let admin = AdminServer::start(
        &AdminEndpoint::Unix(dir.path().join("admin.sock")),
        server.engine.ops().clone(),
        Some(server.engine.metrics().clone()),
    )
    .expect("admin");
    let endpoint = admin.endpoint().clone();
    wait_status(server.engine.ops().status(), "published", |rs| {
        rs.iter()
            .any(|r| r.session_id == id && r.state == SessionState::Established)
    });

    let (status, body) = http(&endpoint, "GET", "/sessions");
    assert_eq!(status, 200, "{body}");
    let listing = json(&body);
    let sessions = listing["sessions"].as_array().expect("sessions");
    assert_eq!(sessions.len(), 1, "{body}");
    let s = &sessions[0];
    assert_eq!(s["session_id"], id.to_string());
    assert_eq!(s["state"], "Established");
    assert_eq!(s["role"], "server");
    assert_eq!(s["encoding"], "json");
    assert_eq!(s["outbound_flow"], "Recoverable");
    assert_eq!(s["inbound_flow"], "Recoverable");
    assert_eq!(s["next_seq_to_send"], 1);
    assert_eq!(s["next_seq_expected"], 1);
    assert_eq!(s["transport"], "ws");
    assert!(s["last_heard_ago_ms"].is_u64(), "{s}");
    assert!(s["queues"]["outbox_capacity"].is_u64());
    let engine = &listing["engine"];
    assert!(engine["accepted"].as_u64() >= Some(1), "{engine}");
    assert!(
        engine["latency_ns"]["inbound"]["count"].is_u64(),
        "{engine}"
    );

    let (status, table) = http(&endpoint, "GET", "/sessions.txt");
    assert_eq!(status, 200);
    assert!(table.contains(&id.to_string()), "{table}");
    assert!(table.contains("Established"), "{table}");
    assert!(table.contains("1 session(s)"), "{table}");

    let (status, body) = http(&endpoint, "GET", &format!("/sessions/{id}"));
    assert_eq!(
        (status, json(&body)["session_id"].clone()),
        (200, id.to_string().into())
    );
    let stranger = session_id(4242);
    assert_eq!(
        http(&endpoint, "GET", &format!("/sessions/{stranger}")).0,
        404
    );
    assert_eq!(http(&endpoint, "GET", "/sessions/nonsense").0, 400);
    assert_eq!(http(&endpoint, "DELETE", "/sessions").0, 405);
    assert_eq!(http(&endpoint, "GET", "/elsewhere").0, 404);
    let (status, body) = http(&endpoint, "POST", &format!("/sessions/{stranger}/finalize"));
    assert_eq!(
        (status, json(&body)["outcome"].clone()),
        (404, "unknown_session".into())
    );

    // Finalize: the server sends FinishedSending; the client finishes its own flow; both end
    // with Close 1000 and Finalized.
    let (status, body) = http(&endpoint, "POST", &format!("/sessions/{id}/finalize"));
    assert_eq!(status, 202, "{body}");
    assert_eq!(json(&body)["outcome"], "finalizing");
    wait_status(
        client_engine.ops().status(),
        "client: peer finished",
        |rs| {
            rs.iter()
                .any(|r| r.session_id == id && r.peer_finished_sending)
        },
    );
    let (status, body) = http(&endpoint, "POST", &format!("/sessions/{id}/finalize"));
    assert_eq!(
        (status, json(&body)["outcome"].clone()),
        (409, "already_finished".into())
    );
    client.command(ToEngine::Finalize).expect("queued");
    wait_until(&mut client, &mut seen, "finalized", |s| {
        s.has(Event::Finalized)
    });
    assert!(
        seen.has(Event::Terminated(TerminateReason::PeerClosed(1000)))
            || seen.has(Event::Terminated(TerminateReason::Finished)),
        "closed with 1000: {seen:?}"
    );
    // The finalized session leaves the table once its connection is gone.
    wait_status(server.engine.ops().status(), "server: forgotten", |rs| {
        rs.iter().all(|r| r.session_id != id)
    });

    admin.stop();
    assert!(!dir.path().join("admin.sock").exists(), "socket removed");
    client_engine.shutdown();
    client_engine.join().expect("client engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

#[test]
fn admin_endpoint_over_loopback_http_terminates_a_session() {
    let Pair {
        mut server,
        mut client_engine,
        mut client,
        mut seen,
        served: _served,
    } = established_pair(WireEncoding::Sbe, FlowType::Idempotent, 43);
    let id = client.session_id();
    let any_port: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let admin = AdminServer::start(
        &AdminEndpoint::Http(any_port),
        server.engine.ops().clone(),
        None,
    )
    .expect("admin");
    let endpoint = admin.endpoint().clone();
    assert!(matches!(endpoint, AdminEndpoint::Http(a) if a.port() != 0));
    let (status, body) = http(&endpoint, "POST", &format!("/sessions/{id}/terminate"));
    assert_eq!(status, 202, "{body}");
    assert_eq!(json(&body)["outcome"], "terminated");
    // The client sees the server's Close 1000, then (an initiator) re-establishes.
    wait_until(&mut client, &mut seen, "closed with 1000", |s| {
        s.has(Event::Terminated(TerminateReason::PeerClosed(1000)))
    });
    wait_status(
        client_engine.ops().status(),
        "client: re-established",
        |rs| {
            rs.iter().any(|r| {
                r.session_id == id
                    && r.state == SessionState::Established
                    && r.counters.connections == 2
            })
        },
    );

    let exposed: SocketAddr = "0.0.0.0:0".parse().expect("addr");
    let refused = AdminServer::start(
        &AdminEndpoint::Http(exposed),
        server.engine.ops().clone(),
        None,
    );
    assert!(
        matches!(refused, Err(AdminError::NotLoopback(_))),
        "{refused:?}"
    );

    drop(admin);
    client_engine.shutdown();
    client_engine.join().expect("client engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

// ----- logs -----

/// One event as the test subscriber saw it.
#[derive(Clone, Debug)]
struct Captured {
    target: String,
    level: tracing::Level,
    fields: BTreeMap<String, String>,
}

impl Captured {
    fn field(&self, name: &str) -> &str {
        self.fields.get(name).map_or("", String::as_str)
    }
}

/// A `tracing` layer that keeps every event's fields.
#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<Captured>>>);

struct Fields<'a>(&'a mut BTreeMap<String, String>);

impl tracing::field::Visit for Fields<'_> {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name().to_owned(), format!("{value:?}"));
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.insert(field.name().to_owned(), value.to_owned());
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        let mut fields = BTreeMap::new();
        event.record(&mut Fields(&mut fields));
        let meta = event.metadata();
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(Captured {
                target: meta.target().to_owned(),
                level: *meta.level(),
                fields,
            });
    }
}

impl Capture {
    fn events(&self) -> Vec<Captured> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Drains `drain` into this subscriber until an event says `message`; returns it.
    fn wait_for(&self, drain: &mut LogDrain, message: &str) -> Captured {
        self.wait_where(drain, message, |e| e.field("message") == message)
    }

    /// Drains `drain` into this subscriber until an event satisfies `found`; returns it.
    fn wait_where(
        &self,
        drain: &mut LogDrain,
        what: &str,
        found: impl Fn(&Captured) -> bool,
    ) -> Captured {
        let dispatch = tracing::Dispatch::new(tracing_subscriber::registry().with(self.clone()));
        let start = Instant::now();
        loop {
            tracing::dispatcher::with_default(&dispatch, || drain.drain());
            if let Some(event) = self.events().into_iter().find(|e| found(e)) {
                return event;
            }
            assert!(
                start.elapsed() < GUARD,
                "no {what:?} event: {:#?}",
                self.events()
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
fn a_reject_and_a_violation_reach_the_subscriber_with_their_fields() {
    let mut server = start_server(false, ops_config());
    let mut drain = server.engine.take_log_drain().expect("logging on");
    assert!(server.engine.take_log_drain().is_none(), "taken once");
    let capture = Capture::default();

    // An Establish for a session never negotiated: EstablishmentReject(Unnegotiated).
    let unknown = session_id(77);
    let mut ws = raw_client(server.addr);
    establish_unknown(&mut ws, unknown);
    read_to_close(&mut ws);
    let reject = capture.wait_for(&mut drain, "rejected");
    assert_eq!(reject.target, "fixp_ws::session");
    assert_eq!(reject.level, tracing::Level::WARN);
    assert_eq!(reject.field("session_id"), unknown.to_string());
    assert_eq!(reject.field("role"), "server");
    assert_eq!(reject.field("reject"), "EstablishmentReject");
    assert_eq!(reject.field("code"), "Unnegotiated");
    assert!(reject.fields.contains_key("connection"), "{reject:?}");
    let refused = capture.wait_for(&mut drain, "closed after reject");
    assert_eq!(refused.level, tracing::Level::DEBUG);

    // A negotiated, established session that sends an undecodable frame.
    let id = session_id(78);
    let mut ws = raw_client(server.addr);
    negotiate_and_establish(&mut ws, id, FlowType::Idempotent);
    let established = capture.wait_for(&mut drain, "established");
    assert_eq!(established.field("session_id"), id.to_string());
    assert_eq!(established.field("next_seq_expected"), "1");
    send_garbage(&mut ws);
    read_to_close(&mut ws);
    let violation = capture.wait_for(&mut drain, "protocol violation");
    assert_eq!(violation.target, "fixp_ws::session");
    assert_eq!(violation.level, tracing::Level::WARN);
    assert_eq!(violation.field("session_id"), id.to_string());
    assert_eq!(violation.field("ended_binding"), "true");
    assert_eq!(violation.field("close_code"), "1002");
    assert!(
        violation.field("reason").starts_with("undecodable frame"),
        "{violation:?}"
    );
    let connected = capture
        .events()
        .into_iter()
        .filter(|e| e.field("message") == "connected")
        .count();
    assert_eq!(connected, 2, "one per raw client");
    assert_eq!(server.engine.ops().log_records_lost(), 0);

    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

#[test]
fn a_full_log_queue_counts_its_losses_and_never_holds_the_engine_back() {
    let mut config = ops_config();
    config.ops.log_capacity = 2;
    let mut server = start_server(false, config);
    let mut drain = server.engine.take_log_drain().expect("logging on");
    let ops = server.engine.ops().clone();
    // Nobody drains while three sessions connect, trade and unbind.
    for seed in 0..3u64 {
        let (mut client_engine, mut client) = start_client(
            &server,
            WireEncoding::Sbe,
            FlowType::Idempotent,
            100,
            60 + seed,
        );
        let mut seen = Seen::default();
        wait_until(&mut client, &mut seen, "established", |s| {
            s.has(Event::StateChanged(SessionState::Established))
        });
        let mut served = accept(&mut server);
        send(&mut client, &order(seed, WireEncoding::Sbe));
        let mut at_server = Seen::default();
        wait_until(&mut served, &mut at_server, "the order", |s| {
            s.messages.len() == 1
        });
        client.command(ToEngine::Terminate).expect("queued");
        wait_until(&mut served, &mut at_server, "unbound", Seen::terminated);
        client_engine.shutdown();
        client_engine.join().expect("client engine");
    }
    // Connected and Established per session, at least: far more than the queue holds.
    assert_eq!(ops.log_records(), 2, "the queue held two");
    assert!(
        ops.log_records_lost() >= 4,
        "lost {}",
        ops.log_records_lost()
    );
    let capture = Capture::default();
    let lost = capture.wait_for(&mut drain, "log queue full: records lost");
    assert_eq!(lost.target, "fixp_ws::log");
    assert_eq!(lost.field("lost"), ops.log_records_lost().to_string());
    assert_eq!(
        capture
            .events()
            .iter()
            .filter(|e| e.target != "fixp_ws::log")
            .count(),
        2,
        "the two records that fitted"
    );
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

#[test]
fn recoveries_are_logged_with_their_ranges_and_counted_in_the_status() {
    let mut server = start_server(false, ops_config());
    let mut drain = server.engine.take_log_drain().expect("logging on");
    let capture = Capture::default();
    let status = server.engine.ops().status().clone();
    let id = session_id(90);
    let mut ws = raw_client(server.addr);
    negotiate_and_establish(&mut ws, id, FlowType::Recoverable);
    let mut served = accept(&mut server);
    for i in 0..5 {
        send(&mut served, &order(i, WireEncoding::Sbe));
    }
    wait_status(&status, "five sent", |rs| {
        rs.iter()
            .any(|r| r.session_id == id && r.next_seq_to_send == 6)
    });

    // The peer asks for 2..5 again: the server replays three messages.
    send_fixp(
        &mut ws,
        &FixpMessage::RetransmitRequest {
            session_id: id,
            timestamp: 1_700_000_000_000_000_002,
            from_seq_no: 2,
            count: 3,
        },
    );
    let started = capture.wait_for(&mut drain, "recovery started");
    assert_eq!(started.field("direction"), "outbound");
    assert_eq!(
        (
            started.field("from"),
            started.field("end"),
            started.field("count")
        ),
        ("2", "5", "3")
    );
    assert_eq!(started.field("session_id"), id.to_string());
    let finished = capture.wait_for(&mut drain, "recovery finished");
    assert_eq!(finished.field("direction"), "outbound");
    assert_eq!((finished.field("from"), finished.field("end")), ("2", "5"));
    wait_status(&status, "one replay of three", |rs| {
        rs.iter().any(|r| {
            r.session_id == id && r.counters.replays == 1 && r.counters.replayed_messages == 3
        })
    });

    // The peer says its next message is 4 (1..3 never arrived): the server asks for them.
    send_fixp(&mut ws, &FixpMessage::Sequence { next_seq_no: 4 });
    let records = wait_status(&status, "a recovery in progress", |rs| {
        rs.iter()
            .any(|r| r.session_id == id && r.recovering.is_some())
    });
    let r = one(&records, &id);
    assert_eq!(r.recovering, Some((1, 4)));
    assert_eq!(
        (
            r.counters.retransmit_requests,
            r.counters.retransmit_requested_messages
        ),
        (1, 3)
    );
    let inbound = capture.wait_where(&mut drain, "inbound recovery", |e| {
        e.field("message") == "recovery started" && e.field("direction") == "inbound"
    });
    assert_eq!((inbound.field("from"), inbound.field("end")), ("1", "4"));

    server.engine.shutdown();
    server.engine.join().expect("server engine");
}
