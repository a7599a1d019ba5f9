//! Inline strategies (application logic on the engine thread) over real loopback WebSocket,
//! `ws://` and `wss://`: replies encoded in place on the same session, sends to other sessions
//! from the same callback, back-pressure as a returned value, events (establishment,
//! terminations with reasons, finalization), re-establishment after a dropped connection, and
//! keys of forgotten sessions. Blocking idle strategy; no timing assertions.

mod engine_support;

use engine_support::*;
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::engine::{
    Context, EngineBuilder, EngineError, FromEngine, InboundMessage, InlineSendError, SessionInfo,
    SessionKey, Strategy, ToEngine,
};
use fixp_ws::session::{Event, Role, SendError, SessionState, TerminateReason};
use fixp_ws::transport::WireEncoding;

/// Everything an inline strategy saw.
#[derive(Default, Debug)]
struct Seen {
    sessions: Vec<(SessionKey, SessionInfo)>,
    messages: Vec<(SessionKey, u64, Vec<u8>)>,
    events: Vec<(SessionKey, Event<'static>)>,
    freed: Vec<SessionKey>,
    /// A send to a freed key was refused as unknown.
    stale_key_refused: bool,
    errors: Vec<String>,
}

impl Seen {
    fn has(&self, key: SessionKey, event: Event<'static>) -> bool {
        self.events.contains(&(key, event))
    }
}

/// Answers every order with an ExecutionReport encoded straight into the session's outbound
/// slot.
struct Reporter {
    seen: Shared<Seen>,
}

impl Strategy for Reporter {
    fn on_session(&mut self, ctx: &mut Context<'_>, session: SessionKey) {
        let info = ctx.session(session).expect("a new session is known");
        lock(&self.seen).sessions.push((session, info));
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        let encoding = ctx.encoding(message.session).expect("known");
        let reply = ctx.send_with(message.session, |slot| {
            encode_report(message.bytes, encoding, slot)
        });
        let mut seen = lock(&self.seen);
        if let Err(e) = reply {
            seen.errors.push(format!("reply: {e}"));
        }
        seen.messages
            .push((message.session, message.seq, message.bytes.to_vec()));
    }

    fn on_event(&mut self, _ctx: &mut Context<'_>, session: SessionKey, event: Event<'static>) {
        lock(&self.seen).events.push((session, event));
    }

    fn on_session_freed(&mut self, ctx: &mut Context<'_>, session: SessionKey) {
        let refused = ctx.send(session, b"late") == Err(InlineSendError::UnknownSession);
        let mut seen = lock(&self.seen);
        seen.freed.push(session);
        seen.stale_key_refused = refused;
    }
}

fn lock<T>(shared: &Shared<T>) -> std::sync::MutexGuard<'_, T> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

#[test]
fn inline_reply_in_place_then_finalize_over_ws_and_wss() {
    for (tls, encoding) in [
        (false, WireEncoding::Sbe),
        (true, WireEncoding::Sbe),
        (true, WireEncoding::Json),
    ] {
        let seen = shared::<Seen>();
        let mut server =
            start_inline_server(tls, test_config(1000), Reporter { seen: seen.clone() });
        assert!(
            server.engine.accept().is_none(),
            "inline sessions have no handle"
        );
        let (mut client_engine, mut client) =
            start_client(&server, encoding, FlowType::Idempotent, 1000, 11);
        let mut got = engine_support::Seen::default();
        wait_until(&mut client, &mut got, "established", |s| {
            s.has(Event::StateChanged(SessionState::Established))
        });
        const N: u64 = 50;
        for i in 0..N {
            send(&mut client, &order(i, encoding));
        }
        wait_until(&mut client, &mut got, "reports", |s| {
            s.messages.len() as u64 >= N
        });
        let numbers: Vec<u64> = got
            .messages
            .iter()
            .map(|(_, bytes)| report_number(bytes, encoding))
            .collect();
        assert_eq!(numbers, (0..N).collect::<Vec<_>>(), "{tls} {encoding:?}");
        let seqs: Vec<u64> = got.messages.iter().map(|(seq, _)| *seq).collect();
        assert_eq!(seqs, (1..=N).collect::<Vec<_>>());
        client.command(ToEngine::Finalize).expect("queue has room");
        wait_until(&mut client, &mut got, "finalized", |s| {
            s.has(Event::Finalized)
        });
        wait_for(&seen, "server forgets the session", |s| !s.freed.is_empty());
        {
            let s = lock(&seen);
            assert!(s.errors.is_empty(), "{:?}", s.errors);
            assert_eq!(s.sessions.len(), 1);
            let (key, info) = s.sessions[0];
            assert_eq!(info.role, Role::Server);
            assert_eq!(info.encoding, encoding);
            assert!(info.inline && info.bound);
            let seqs: Vec<u64> = s.messages.iter().map(|m| m.1).collect();
            assert_eq!(seqs, (1..=N).collect::<Vec<_>>());
            assert!(s.messages.iter().all(|m| m.0 == key));
            for (i, m) in s.messages.iter().enumerate() {
                assert_eq!(
                    order_number(&m.2, encoding),
                    i as u64,
                    "bytes where they lay"
                );
            }
            let established = s
                .events
                .iter()
                .position(|e| *e == (key, Event::StateChanged(SessionState::Established)));
            assert!(established.is_some(), "{:?}", s.events);
            assert!(s.has(key, Event::Finalized), "{:?}", s.events);
            assert_eq!(s.freed, vec![key]);
            assert!(s.stale_key_refused, "a freed key names nothing");
        }
        client_engine.shutdown();
        client_engine.join().expect("client engine");
        server.engine.shutdown();
        server.engine.join().expect("server engine");
        let strategy = server
            .engine
            .take_strategy()
            .expect("strategy back after join");
        assert_eq!(lock(&strategy.seen).sessions.len(), 1);
    }
}

/// Replies to the sender and forwards each order to every other session, in the same
/// callback; an order numbered 99 makes it terminate the sender's binding.
struct Relay {
    keys: Vec<SessionKey>,
    seen: Shared<Seen>,
}

impl Strategy for Relay {
    fn on_session(&mut self, ctx: &mut Context<'_>, session: SessionKey) {
        self.keys.push(session);
        let info = ctx.session(session).expect("known");
        lock(&self.seen).sessions.push((session, info));
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        let encoding = ctx.encoding(message.session).expect("known");
        let mut errors = Vec::new();
        if order_number(message.bytes, encoding) == 99 {
            if let Err(e) = ctx.terminate(message.session) {
                errors.push(format!("terminate: {e}"));
            }
        } else {
            if let Err(e) = ctx.send_with(message.session, |slot| {
                encode_report(message.bytes, encoding, slot)
            }) {
                errors.push(format!("reply: {e}"));
            }
            for &other in self.keys.iter().filter(|&&k| k != message.session) {
                if let Err(e) = ctx.send(other, message.bytes) {
                    errors.push(format!("forward: {e}"));
                }
            }
        }
        let mut seen = lock(&self.seen);
        seen.errors.extend(errors);
        seen.messages
            .push((message.session, message.seq, message.bytes.to_vec()));
    }

    fn on_event(&mut self, _ctx: &mut Context<'_>, session: SessionKey, event: Event<'static>) {
        lock(&self.seen).events.push((session, event));
    }
}

#[test]
fn inline_strategy_sends_to_other_sessions_from_the_same_callback() {
    let encoding = WireEncoding::Sbe;
    let seen = shared::<Seen>();
    let mut server = start_inline_server(
        true,
        test_config(1000),
        Relay {
            keys: Vec::new(),
            seen: seen.clone(),
        },
    );
    let (mut engine_a, mut a) = start_client(&server, encoding, FlowType::Idempotent, 1000, 21);
    let (mut engine_b, mut b) = start_client(&server, encoding, FlowType::Idempotent, 1000, 22);
    let (mut got_a, mut got_b) = (
        engine_support::Seen::default(),
        engine_support::Seen::default(),
    );
    for (handle, got) in [(&mut a, &mut got_a), (&mut b, &mut got_b)] {
        wait_until(handle, got, "established", |s| {
            s.has(Event::StateChanged(SessionState::Established))
        });
    }
    wait_for(&seen, "two sessions", |s| s.sessions.len() == 2);
    for i in 0..20 {
        send(&mut a, &order(i, encoding));
    }
    wait_until(&mut a, &mut got_a, "reports to A", |s| {
        s.messages.len() >= 20
    });
    wait_until(&mut b, &mut got_b, "orders forwarded to B", |s| {
        s.messages.len() >= 20
    });
    for i in 100..105 {
        send(&mut b, &order(i, encoding));
    }
    wait_until(&mut a, &mut got_a, "orders forwarded to A", |s| {
        s.messages.len() >= 25
    });
    let a_reports: Vec<u64> = got_a.messages[..20]
        .iter()
        .map(|m| report_number(&m.1, encoding))
        .collect();
    assert_eq!(a_reports, (0..20).collect::<Vec<_>>());
    let a_forwarded: Vec<u64> = got_a.messages[20..]
        .iter()
        .map(|m| order_number(&m.1, encoding))
        .collect();
    assert_eq!(a_forwarded, (100..105).collect::<Vec<_>>());
    let b_forwarded: Vec<u64> = got_b.messages[..20]
        .iter()
        .map(|m| order_number(&m.1, encoding))
        .collect();
    assert_eq!(b_forwarded, (0..20).collect::<Vec<_>>());
    // The strategy ends A's binding from its callback: Close 1000, reason Unbind.
    send(&mut a, &order(99, encoding));
    wait_until(&mut a, &mut got_a, "A's binding ended", |s| s.terminated());
    assert!(
        got_a.has(Event::Terminated(TerminateReason::PeerClosed(1000))),
        "{:?}",
        got_a.events
    );
    wait_for(&seen, "server saw its terminate", |s| {
        s.events
            .iter()
            .any(|e| e.1 == Event::Terminated(TerminateReason::Unbind))
    });
    assert!(lock(&seen).errors.is_empty(), "{:?}", lock(&seen).errors);
    for engine in [&mut engine_a, &mut engine_b] {
        engine.shutdown();
        engine.join().expect("client engine");
    }
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

/// On an order, sends `total` messages to its session: as many as fit in one callback, the
/// rest from `on_cycle` as the outbox drains (asking for a cycle at once meanwhile).
struct Burst {
    total: u64,
    target: Option<SessionKey>,
    next: u64,
    backpressured: u64,
    errors: Vec<String>,
    done: Shared<(u64, u64, Vec<String>)>,
}

impl Burst {
    fn pump(&mut self, ctx: &mut Context<'_>) -> usize {
        let Some(key) = self.target else {
            return 0;
        };
        let mut sent = 0;
        while self.next < self.total {
            match ctx.send(key, &order(self.next, WireEncoding::Sbe)) {
                Ok(_) => {
                    self.next += 1;
                    sent += 1;
                }
                Err(InlineSendError::Session(SendError::Backpressure)) => {
                    self.backpressured += 1;
                    break;
                }
                Err(e) => {
                    self.errors.push(e.to_string());
                    break;
                }
            }
        }
        let mut done = lock(&self.done);
        *done = (self.next, self.backpressured, self.errors.clone());
        sent
    }
}

impl Strategy for Burst {
    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        self.target = Some(message.session);
        self.pump(ctx);
    }

    fn on_cycle(&mut self, ctx: &mut Context<'_>) -> usize {
        self.pump(ctx)
    }

    fn next_deadline(&self) -> Option<u64> {
        (self.target.is_some() && self.next < self.total).then_some(0)
    }
}

/// What a [`Burst`] server sent to one thread-mode client: (the order numbers the client got,
/// sends, back-pressured sends, errors).
type BurstOutcome = (Vec<u64>, u64, u64, Vec<String>);

/// An inline server bursts `total` orders at a client (over `carrier`, TLS or not) from one
/// callback and the cycles after, into an outbox of `outbox` slots.
fn burst(carrier: Carrier, tls: bool, outbox: usize, total: u64) -> BurstOutcome {
    let encoding = WireEncoding::Sbe;
    let mut config = test_config(1000);
    config.acceptor.session.outbox_capacity = outbox;
    let done = shared::<(u64, u64, Vec<String>)>();
    let strategy = Burst {
        total,
        target: None,
        next: 0,
        backpressured: 0,
        errors: Vec::new(),
        done: done.clone(),
    };
    let mut server = match carrier {
        Carrier::WebSocket => start_inline_server(tls, config, strategy),
        Carrier::Tcp => start_inline_tcp_server(tls, config, strategy),
    };
    let mut builder = EngineBuilder::new(test_config(1000)).expect("engine");
    let mut client = builder
        .initiate(initiator_via(
            &server,
            carrier,
            encoding,
            FlowType::Idempotent,
            1000,
            31,
        ))
        .expect("initiate");
    let mut client_engine = builder.start().expect("start");
    let mut got = engine_support::Seen::default();
    wait_until(&mut client, &mut got, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    send(&mut client, &order(0, encoding));
    wait_until(&mut client, &mut got, "the whole burst", |s| {
        s.messages.len() as u64 >= total
    });
    let numbers: Vec<u64> = got
        .messages
        .iter()
        .map(|m| order_number(&m.1, encoding))
        .collect();
    let (sent, backpressured, errors) = lock(&done).clone();
    client_engine.shutdown();
    client_engine.join().expect("client engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
    (numbers, sent, backpressured, errors)
}

#[test]
fn inline_back_pressure_is_a_returned_value_and_nothing_is_lost() {
    const TOTAL: u64 = 300;
    let (numbers, sent, backpressured, errors) = burst(Carrier::WebSocket, false, 8, TOTAL);
    assert_eq!(
        numbers,
        (0..TOTAL).collect::<Vec<_>>(),
        "all, in order, once"
    );
    assert_eq!(sent, TOTAL);
    assert!(
        backpressured >= 1,
        "{TOTAL} sends into an 8-slot outbox in one callback must meet back-pressure"
    );
    assert!(errors.is_empty(), "{errors:?}");
}

#[test]
fn inline_bursts_written_in_batches_arrive_whole_and_in_order_over_tls() {
    // A full 1 024-slot outbox is one batch of about 70 KiB per settle: several WebSocket
    // batch buffers or one SOFH write, sealed in many TLS records.
    const TOTAL: u64 = 5_000;
    for carrier in [Carrier::WebSocket, Carrier::Tcp] {
        let (numbers, sent, _, errors) = burst(carrier, true, 1024, TOTAL);
        assert!(errors.is_empty(), "{carrier:?}: {errors:?}");
        assert_eq!(sent, TOTAL, "{carrier:?}");
        assert!(
            numbers.iter().copied().eq(0..TOTAL),
            "{carrier:?}: all, in order, once"
        );
    }
}

/// An inline initiator: an order on each establishment; the first report makes it drop its
/// connection, the second finalizes.
#[derive(Default, Debug)]
struct TraderLog {
    established: u64,
    reports: Vec<u64>,
    events: Vec<Event<'static>>,
    finalized: bool,
    errors: Vec<String>,
}

struct Trader {
    key: Option<SessionKey>,
    log: Shared<TraderLog>,
}

impl Strategy for Trader {
    fn on_session(&mut self, ctx: &mut Context<'_>, session: SessionKey) {
        assert_eq!(ctx.session(session).map(|i| i.role), Some(Role::Client));
        self.key = Some(session);
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        let number = report_number(message.bytes, WireEncoding::Sbe);
        let outcome = match number {
            1 => ctx.drop_connection(message.session),
            _ => ctx.finalize(message.session),
        };
        let mut log = lock(&self.log);
        if let Err(e) = outcome {
            log.errors.push(e.to_string());
        }
        log.reports.push(number);
    }

    fn on_event(&mut self, ctx: &mut Context<'_>, session: SessionKey, event: Event<'static>) {
        let mut log = lock(&self.log);
        log.events.push(event);
        match event {
            Event::StateChanged(SessionState::Established) => {
                log.established += 1;
                let number = log.established;
                if let Err(e) = ctx.send(session, &order(number, WireEncoding::Sbe)) {
                    log.errors.push(format!("send: {e}"));
                }
            }
            Event::Finalized => log.finalized = true,
            _ => {}
        }
    }
}

/// A client engine whose inline strategy is a [`Trader`] logging into `log`.
fn trader_engine(log: &Shared<TraderLog>) -> EngineBuilder<Trader> {
    EngineBuilder::with_strategy(
        test_config(1000),
        Trader {
            key: None,
            log: log.clone(),
        },
    )
    .expect("engine")
}

#[test]
fn inline_initiator_reestablishes_after_a_dropped_connection_and_finalizes() {
    let seen = shared::<Seen>();
    let mut server = start_inline_server(true, test_config(1000), Reporter { seen: seen.clone() });
    let log = shared::<TraderLog>();
    let mut builder = trader_engine(&log);
    let key = builder
        .initiate_inline(initiator(
            &server,
            WireEncoding::Sbe,
            FlowType::Idempotent,
            1000,
            41,
        ))
        .expect("initiate");
    let mut client_engine = builder.start().expect("start");
    wait_for(&log, "finalized", |l| l.finalized);
    {
        let l = lock(&log);
        assert!(l.errors.is_empty(), "{:?}", l.errors);
        assert_eq!(l.established, 2, "established again after the drop");
        assert_eq!(l.reports, vec![1, 2]);
        assert!(
            l.events
                .contains(&Event::Terminated(TerminateReason::TransportLost)),
            "{:?}",
            l.events
        );
    }
    wait_for(&seen, "server forgets the session", |s| !s.freed.is_empty());
    {
        let s = lock(&seen);
        assert_eq!(s.sessions.len(), 1, "the same session, bound twice");
        let server_key = s.sessions[0].0;
        let seqs: Vec<(SessionKey, u64)> = s.messages.iter().map(|m| (m.0, m.1)).collect();
        assert_eq!(seqs, vec![(server_key, 1), (server_key, 2)]);
        assert!(
            s.has(
                server_key,
                Event::Terminated(TerminateReason::TransportLost)
            ),
            "{:?}",
            s.events
        );
        assert!(s.has(server_key, Event::Finalized));
    }
    client_engine.shutdown();
    client_engine.join().expect("client engine");
    let trader = client_engine.take_strategy().expect("strategy");
    assert_eq!(trader.key, Some(key));
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

#[test]
fn inline_sessions_need_a_strategy_and_thread_sessions_still_work_beside_them() {
    let server = start_server(false, test_config(1000));
    let mut builder = EngineBuilder::new(test_config(1000)).expect("engine");
    let refused = builder.initiate_inline(initiator(
        &server,
        WireEncoding::Sbe,
        FlowType::Idempotent,
        1000,
        51,
    ));
    assert!(matches!(refused, Err(EngineError::NoStrategy)));
    // One engine, an inline initiator and a thread-mode one to the same (thread-mode) server.
    let log = shared::<TraderLog>();
    let mut server = server;
    let mut builder = trader_engine(&log);
    builder
        .initiate_inline(initiator(
            &server,
            WireEncoding::Sbe,
            FlowType::Idempotent,
            1000,
            52,
        ))
        .expect("inline");
    let mut threaded = builder
        .initiate(initiator(
            &server,
            WireEncoding::Sbe,
            FlowType::Idempotent,
            1000,
            53,
        ))
        .expect("thread mode");
    let mut engine = builder.start().expect("start");
    let mut echo = [accept(&mut server), accept(&mut server)];
    let mut got = engine_support::Seen::default();
    wait_until(&mut threaded, &mut got, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    send(&mut threaded, &order(7, WireEncoding::Sbe));
    // The server side is a thread-mode echo of reports.
    let start = std::time::Instant::now();
    let mut answered = 0;
    while answered < 2 || got.messages.is_empty() {
        for handle in &mut echo {
            while let Some(item) = handle.poll() {
                if let FromEngine::Message(m) = item {
                    let mut out = [0u8; 512];
                    let n = encode_report(m.bytes(), WireEncoding::Sbe, &mut out).expect("report");
                    send(handle, &out[..n]);
                    answered += 1;
                }
            }
        }
        got.take(&mut threaded);
        assert!(start.elapsed() < GUARD, "stalled: {got:?}");
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(report_number(&got.messages[0].1, WireEncoding::Sbe), 7);
    wait_for(&log, "the inline trader's first report", |l| {
        !l.reports.is_empty()
    });
    engine.shutdown();
    engine.join().expect("engine");
    server.engine.shutdown();
    server.engine.join().expect("server");
}
