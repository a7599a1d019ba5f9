//! Per-session limits and cancel-on-disconnect in the engine (raw clients over ws://; the
//! rules are the same over TLS):
//!
//! - the inbound throttle: over the rate, `Reject` drops the message (consumed, not handed
//!   over) and tells the strategy [`EngineEvent::InboundThrottled`]; `Disconnect` closes 1008;
//! - the outbound throttle: an inline send over the limit is refused with the time the next is
//!   allowed, so is a handle's send, and a command that bypasses the handle is held by the
//!   engine (never sent over the limit);
//! - the Negotiate-to-Establish timeout closes 1008 and forgets the session (its id may be
//!   negotiated again), as does a client that negotiates and leaves;
//! - cancel-on-disconnect: fires after the window when the transport is lost and the session is
//!   not back, is reported when it comes back, never fires when the session comes back within
//!   the window or ends normally (unless configured), in both modes.
//!
//! Limits use rates of one token per hour (only the burst matters within a test), so the
//! outcome never depends on timing. No test asserts on time.

mod engine_support;
mod hostile_support;

use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::time::Duration;

use engine_support::*;
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::{FixpMessage, SessionId};
use fixp_ws::engine::{
    CancelOnDisconnect, Context, EngineEvent, HandleSendError, InboundLimit, InboundMessage,
    InlineSendError, MessageSlot, Strategy, ToEngine,
};
use fixp_ws::session::limits::{ExcessAction, RateLimit};
use fixp_ws::session::{Event, SessionState, TerminateReason};
use fixp_ws::transport::WireEncoding;
use hostile_support::*;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::CloseFrame;

const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const HOUR_NS: u64 = 3_600_000_000_000;

/// `burst` at once, then one an hour.
fn burst(n: u32) -> RateLimit {
    RateLimit::new(1, HOUR_NS, n).expect("limit")
}

fn raw<S: Strategy>(server: &Server<S>) -> RawClient<TcpStream> {
    RawClient::open(
        connect_from(HOST, server.addr).expect("connect"),
        server.addr.port(),
        false,
    )
}

fn logged_on<S: Strategy>(server: &Server<S>, id: SessionId) -> RawClient<TcpStream> {
    let mut client = raw(server);
    let (negotiated, established) = client.logon(id, now_ns(), 10_000);
    assert_eq!(negotiated, Read1::Fixp("NegotiationResponse".into()));
    assert_eq!(established, Read1::Fixp("EstablishmentAck".into()));
    client
}

fn reestablish<S: Strategy>(server: &Server<S>, id: SessionId) -> RawClient<TcpStream> {
    let mut client = raw(server);
    client.send(&FixpMessage::Establish {
        session_id: id,
        timestamp: now_ns(),
        keepalive_interval: 10_000,
        next_seq_no: Some(1),
        credentials: &[],
    });
    assert_eq!(client.next(), Read1::Fixp("EstablishmentAck".into()));
    client
}

fn shut<S: Strategy>(mut server: Server<S>) {
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

fn record<R>(log: &Shared<Record>, f: impl FnOnce(&Record) -> R) -> R {
    f(&log.lock().unwrap_or_else(|e| e.into_inner()))
}

#[test]
fn messages_over_the_inbound_rate_are_dropped_and_reported_to_the_strategy() {
    let mut config = test_config(100);
    config.limits.inbound = Some(InboundLimit {
        rate: burst(5),
        action: ExcessAction::Reject {
            reason: "order rate exceeded",
        },
    });
    let log = shared::<Record>();
    let server = start_inline_server(false, config, Recorder::new(log.clone()));
    let mut client = logged_on(&server, session_id(1));
    for i in 1..=10 {
        client.send_app(&order(i, WireEncoding::Sbe));
    }
    for i in 1..=5 {
        let Read1::App(report) = client.next() else {
            panic!("a report");
        };
        assert_eq!(report_number(&report, WireEncoding::Sbe), i);
    }
    wait_for(&log, "five throttled", |r| r.engine.len() == 5);
    record(&log, |r| {
        let seqs: Vec<u64> = r.messages.iter().map(|(_, seq)| *seq).collect();
        assert_eq!(seqs, vec![1, 2, 3, 4, 5], "within the rate: handed over");
        let throttled: Vec<EngineEvent> = r.engine.iter().map(|(_, e)| *e).collect();
        let expected: Vec<EngineEvent> = (6..=10)
            .map(|seq| EngineEvent::InboundThrottled {
                seq,
                reason: "order rate exceeded",
            })
            .collect();
        assert_eq!(throttled, expected, "over it: numbers consumed, reported");
    });
    shut(server);
}

#[test]
fn the_disconnect_action_closes_with_1008() {
    let mut config = test_config(100);
    config.limits.inbound = Some(InboundLimit {
        rate: burst(3),
        action: ExcessAction::Disconnect,
    });
    let log = shared::<Record>();
    let server = start_inline_server(false, config, Recorder::new(log.clone()));
    let mut client = logged_on(&server, session_id(2));
    for i in 1..=5 {
        client.send_app(&order(i, WireEncoding::Sbe));
    }
    let mut reports = 0;
    let code = loop {
        match client.next() {
            Read1::App(_) => reports += 1,
            Read1::Close(code) => break code,
            Read1::Fixp(other) => panic!("unexpected {other}"),
        }
    };
    assert_eq!((reports, code), (3, 1008));
    wait_for(&log, "terminated", |r| {
        r.events
            .iter()
            .any(|(_, e)| *e == Event::Terminated(TerminateReason::RateLimited))
    });
    record(&log, |r| assert_eq!(r.messages.len(), 3));
    shut(server);
}

/// Sends five reports at once to every order's session; records what each send returned.
struct Burst {
    results: Shared<Vec<Result<u64, InlineSendError>>>,
    allowed: Shared<Option<(u64, u64)>>,
}

impl Strategy for Burst {
    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        let mut results = self.results.lock().unwrap_or_else(|e| e.into_inner());
        for i in 0..5 {
            let report = order(100 + i, WireEncoding::Sbe);
            results.push(ctx.send(message.session, &report));
        }
        let next = ctx.next_send_allowed(message.session).expect("known");
        *self.allowed.lock().unwrap_or_else(|e| e.into_inner()) = Some((ctx.now(), next));
    }
}

#[test]
fn inline_sends_over_the_outbound_limit_are_refused_with_the_next_allowed_time() {
    let mut config = test_config(100);
    config.limits.outbound = Some(burst(3));
    let results = shared::<Vec<Result<u64, InlineSendError>>>();
    let allowed = shared::<Option<(u64, u64)>>();
    let server = start_inline_server(
        false,
        config,
        Burst {
            results: results.clone(),
            allowed: allowed.clone(),
        },
    );
    let mut client = logged_on(&server, session_id(3));
    client.send_app(&order(1, WireEncoding::Sbe));
    for _ in 0..3 {
        assert!(matches!(client.next(), Read1::App(_)));
    }
    wait_for(&results, "five attempts", |r| r.len() == 5);
    let results = results.lock().unwrap_or_else(|e| e.into_inner()).clone();
    assert_eq!(&results[..3], &[Ok(1), Ok(2), Ok(3)]);
    let (now, next) = allowed
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .expect("seen");
    assert!(next > now, "the next send is allowed later");
    for refused in &results[3..] {
        assert_eq!(*refused, Err(InlineSendError::Throttled { retry_at: next }));
    }
    shut(server);
}

#[test]
fn a_handle_over_the_outbound_limit_is_refused_and_the_engine_holds_what_bypasses_it() {
    let log = shared::<Record>();
    let server = start_inline_server(false, test_config(100), Recorder::new(log.clone()));
    let mut config = test_config(100);
    config.limits.outbound = Some(burst(3));
    let (mut client_engine, mut client) = start_client_with(
        &server,
        WireEncoding::Sbe,
        FlowType::Idempotent,
        100,
        4,
        config,
    );
    let mut seen = Seen::default();
    wait_until(&mut client, &mut seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    for i in 0..3 {
        client
            .send(&order(i, WireEncoding::Sbe))
            .expect("within the limit");
    }
    let next = client.next_send_allowed();
    match client.send(&order(3, WireEncoding::Sbe)) {
        Err(HandleSendError::Throttled { retry_at }) => {
            assert_eq!(retry_at, next);
            assert!(retry_at > client.now());
        }
        other => panic!("expected a throttled send, got {other:?}"),
    }
    // A command queued around the handle's check is held by the engine, not sent.
    let slot = MessageSlot::new(&order(4, WireEncoding::Sbe), 0, 0).expect("slot");
    client.command(ToEngine::Send(slot)).expect("queued");
    wait_for(&log, "three orders", |r| r.messages.len() == 3);
    let start = std::time::Instant::now();
    while client.counters().snapshot().outbound_throttled < 2 {
        assert!(start.elapsed() < GUARD, "the engine never held the send");
        std::thread::sleep(Duration::from_millis(1));
    }
    client_engine.shutdown();
    client_engine.join().expect("client engine");
    record(&log, |r| {
        assert_eq!(r.messages.len(), 3, "never over the limit")
    });
    shut(server);
}

#[test]
fn a_session_not_established_in_time_is_closed_and_forgotten() {
    let mut config = test_config(100);
    config.limits.establish_timeout = Duration::from_millis(300);
    let log = shared::<Record>();
    let mut server = start_inline_server(false, config, Recorder::new(log.clone()));
    let id = session_id(5);
    let mut client = raw(&server);
    client.send(&FixpMessage::Negotiate {
        session_id: id,
        timestamp: now_ns(),
        client_flow: FlowType::Idempotent,
        credentials: &[],
    });
    assert_eq!(client.next(), Read1::Fixp("NegotiationResponse".into()));
    // No Establish: the Negotiate-to-Establish timeout.
    assert_eq!(client.next(), Read1::Close(1008));
    wait_for(&log, "the session forgotten", |r| r.freed.len() == 1);
    let timeouts = server
        .engine
        .metrics()
        .counters()
        .pre_session_timeouts
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(timeouts, 1);
    // The id is free again.
    let _again = logged_on(&server, id);
    shut(server);
}

#[test]
fn a_client_that_negotiates_and_leaves_leaves_nothing_behind() {
    let log = shared::<Record>();
    let server = start_inline_server(false, test_config(100), Recorder::new(log.clone()));
    let id = session_id(6);
    for round in 0..3 {
        let mut client = raw(&server);
        client.send(&FixpMessage::Negotiate {
            session_id: id,
            timestamp: now_ns(),
            client_flow: FlowType::Idempotent,
            credentials: &[],
        });
        assert_eq!(client.next(), Read1::Fixp("NegotiationResponse".into()));
        drop(client);
        wait_for(&log, "the session forgotten", |r| {
            r.freed.len() == round + 1
        });
    }
    shut(server);
}

fn cod_server(policy: CancelOnDisconnect) -> (Server<Recorder>, Shared<Record>) {
    let mut config = test_config(100);
    config.cancel_on_disconnect = Some(policy);
    let log = shared::<Record>();
    (
        start_inline_server(false, config, Recorder::new(log.clone())),
        log,
    )
}

fn established_count(r: &Record) -> usize {
    r.events
        .iter()
        .filter(|(_, e)| *e == Event::StateChanged(SessionState::Established))
        .count()
}

#[test]
fn cancel_on_disconnect_fires_after_the_window_and_is_reported_on_reestablishment() {
    let (server, log) = cod_server(CancelOnDisconnect::after(Duration::ZERO));
    let id = session_id(7);
    drop(logged_on(&server, id)); // the TCP connection is gone, no Close
    wait_for(&log, "cancel-on-disconnect", |r| !r.engine.is_empty());
    let _back = reestablish(&server, id);
    wait_for(&log, "the report", |r| r.engine.len() == 2);
    record(&log, |r| {
        let key = r.sessions[0];
        let (at_key, cancel) = r.engine[0];
        let EngineEvent::CancelOnDisconnect {
            disconnected_at,
            fired_at,
        } = cancel
        else {
            panic!("expected a cancel, got {cancel:?}");
        };
        assert!(fired_at >= disconnected_at);
        assert_eq!(at_key, key);
        assert_eq!(
            r.engine[1],
            (
                key,
                EngineEvent::ReestablishedAfterCancel {
                    canceled_at: fired_at
                }
            )
        );
        assert!(r
            .events
            .iter()
            .any(|(_, e)| *e == Event::Terminated(TerminateReason::TransportLost)));
    });
    shut(server);
}

#[test]
fn coming_back_within_the_window_cancels_nothing() {
    let (server, log) = cod_server(CancelOnDisconnect::after(Duration::from_secs(3600)));
    let id = session_id(8);
    drop(logged_on(&server, id));
    wait_for(&log, "the loss", |r| {
        r.events
            .iter()
            .any(|(_, e)| *e == Event::Terminated(TerminateReason::TransportLost))
    });
    let _back = reestablish(&server, id);
    wait_for(&log, "established again", |r| established_count(r) == 2);
    record(&log, |r| assert!(r.engine.is_empty(), "{:?}", r.engine));
    shut(server);
}

/// Closes normally (1000) without finalizing, then comes back; returns the engine events.
fn unbind_and_return(policy: CancelOnDisconnect, id: SessionId) -> Vec<EngineEvent> {
    let (server, log) = cod_server(policy);
    let mut client = logged_on(&server, id);
    client
        .ws
        .close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "bye".into(),
        }))
        .expect("close");
    while !matches!(client.next(), Read1::Close(_)) {}
    wait_for(&log, "the unbind", |r| {
        r.events
            .iter()
            .any(|(_, e)| *e == Event::Terminated(TerminateReason::PeerClosed(1000)))
    });
    let _back = reestablish(&server, id);
    wait_for(&log, "established again", |r| established_count(r) == 2);
    if policy.on_unbind {
        wait_for(&log, "the report", |r| r.engine.len() == 2);
    }
    let events = record(&log, |r| r.engine.iter().map(|(_, e)| *e).collect());
    shut(server);
    events
}

#[test]
fn a_normal_unbind_triggers_only_when_configured() {
    let quiet = unbind_and_return(CancelOnDisconnect::after(Duration::ZERO), session_id(9));
    assert!(quiet.is_empty(), "{quiet:?}");
    let policy = CancelOnDisconnect {
        on_unbind: true,
        ..CancelOnDisconnect::after(Duration::ZERO)
    };
    let fired = unbind_and_return(policy, session_id(10));
    assert!(matches!(fired[0], EngineEvent::CancelOnDisconnect { .. }));
    assert!(matches!(
        fired[1],
        EngineEvent::ReestablishedAfterCancel { .. }
    ));
}

#[test]
fn thread_mode_strategies_get_cancel_on_disconnect_too() {
    let mut config = test_config(100);
    config.cancel_on_disconnect = Some(CancelOnDisconnect::after(Duration::ZERO));
    let mut server = start_server(false, config);
    let id = session_id(11);
    let client = logged_on(&server, id);
    let mut served = accept(&mut server);
    drop(client);
    let mut seen = Seen::default();
    wait_until(&mut served, &mut seen, "cancel-on-disconnect", |s| {
        s.engine
            .iter()
            .any(|e| matches!(e, EngineEvent::CancelOnDisconnect { .. }))
    });
    let _back = reestablish(&server, id);
    wait_until(&mut served, &mut seen, "the report", |s| {
        s.engine
            .iter()
            .any(|e| matches!(e, EngineEvent::ReestablishedAfterCancel { .. }))
    });
    shut(server);
}
