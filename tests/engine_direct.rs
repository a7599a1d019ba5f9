//! Direct reads (`EngineConfig::direct_reads`): a busy-polling server engine with at most that
//! many connections reads them itself every cycle and asks epoll only every 32 cycles. Over
//! `wss://`, `ws://` and `tcp+tls://`: orders are answered in order while the mode holds; a
//! connection that arrives meanwhile (seen through epoll) is accepted and joins it; one past
//! the limit switches the engine back to epoll, and the mode resumes (with the latecomer
//! listed) when another one closes, every session still answered; a peer's finalization is
//! seen by a direct read. The
//! clients use the blocking idle strategy, so only the server's thread is busy. No timing
//! assertions: the `direct_cycles` counter says which mode ran.

mod engine_support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use engine_support::*;
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::engine::{
    Context, EngineHandle, IdleMode, InboundMessage, SessionHandle, Strategy, ToEngine,
};
use fixp_ws::session::{Event, SessionState};
use fixp_ws::transport::WireEncoding;

/// Answers every order with its ExecutionReport, encoded in place.
struct Reporter {
    errors: Shared<Vec<String>>,
}

impl Strategy for Reporter {
    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        let encoding = ctx.encoding(message.session).expect("known");
        if let Err(e) = ctx.send_with(message.session, |slot| {
            encode_report(message.bytes, encoding, slot)
        }) {
            let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
            errors.push(format!("reply: {e}"));
        }
    }
}

/// One client engine and its session, with what it received so far.
struct Client {
    _engine: EngineHandle,
    handle: SessionHandle,
    seen: Seen,
    next: u64,
}

impl Client {
    fn connect<S: Strategy>(server: &Server<S>, carrier: Carrier, seed: u64) -> Client {
        let mut builder =
            fixp_ws::engine::EngineBuilder::new(test_config(1000)).expect("client engine");
        let config = initiator_via(
            server,
            carrier,
            WireEncoding::Sbe,
            FlowType::Recoverable,
            1000,
            seed,
        );
        let handle = builder.initiate(config).expect("initiate");
        let mut client = Client {
            _engine: builder.start().expect("start"),
            handle,
            seen: Seen::default(),
            next: 0,
        };
        wait_until(&mut client.handle, &mut client.seen, "established", |s| {
            s.has(Event::StateChanged(SessionState::Established))
        });
        client
    }

    /// Sends `n` orders and waits for their reports, in order.
    fn round_trips(&mut self, n: u64) {
        let first = self.next;
        for i in first..first + n {
            send(&mut self.handle, &order(i, WireEncoding::Sbe));
        }
        self.next += n;
        let want = self.next as usize;
        wait_until(&mut self.handle, &mut self.seen, "reports", |s| {
            s.messages.len() >= want
        });
        let numbers: Vec<u64> = self
            .seen
            .messages
            .iter()
            .map(|(_, bytes)| report_number(bytes, WireEncoding::Sbe))
            .collect();
        assert_eq!(numbers, (0..self.next).collect::<Vec<_>>());
    }

    fn finalize(&mut self) {
        self.handle
            .command(ToEngine::Finalize)
            .expect("queue has room");
        wait_until(&mut self.handle, &mut self.seen, "finalized", |s| {
            s.has(Event::Finalized)
        });
    }
}

fn direct_cycles<S: Strategy>(server: &mut Server<S>) -> u64 {
    server
        .engine
        .metrics()
        .counters()
        .direct_cycles
        .load(Ordering::Relaxed)
}

/// Waits until the server has run direct cycles beyond `past`.
fn await_direct_cycles<S: Strategy>(server: &mut Server<S>, past: u64, what: &str) -> u64 {
    let start = Instant::now();
    loop {
        let now = direct_cycles(server);
        if now > past {
            return now;
        }
        assert!(start.elapsed() < GUARD, "no direct cycles: {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn run(tls: bool, carrier: Carrier) {
    let errors = shared::<Vec<String>>();
    let mut config = test_config(1000);
    config.idle = IdleMode::BusyPoll;
    config.direct_reads = 2;
    let strategy = Reporter {
        errors: errors.clone(),
    };
    let mut server = match carrier {
        Carrier::WebSocket => start_inline_server(tls, config, strategy),
        Carrier::Tcp => start_inline_tcp_server(tls, config, strategy),
    };
    let label = format!("tls {tls}, {carrier:?}");

    // One connection: direct.
    let mut a = Client::connect(&server, carrier, 1);
    let seen = await_direct_cycles(&mut server, 0, &label);
    a.round_trips(50);
    // A second one arrives through epoll and joins the list: still direct.
    let mut b = Client::connect(&server, carrier, 2);
    b.round_trips(50);
    a.round_trips(50);
    let seen = await_direct_cycles(&mut server, seen, &label);

    // A third: past the limit, every read goes through epoll again (the engine publishes
    // the counter at the switch, before the third handshake can finish).
    let mut c = Client::connect(&server, carrier, 3);
    let off = direct_cycles(&mut server);
    for client in [&mut a, &mut b, &mut c] {
        client.round_trips(50);
    }
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(
        direct_cycles(&mut server),
        off,
        "{label}: epoll with 3 connections"
    );
    assert!(off >= seen);

    // The first one leaves: the two that stay are read directly again (the list is rebuilt:
    // the third found it full).
    a.finalize();
    await_direct_cycles(&mut server, off, &label);
    b.round_trips(50);
    c.round_trips(50);
    // A finalization seen by a direct read.
    c.finalize();
    b.round_trips(10);
    assert!(
        errors.lock().unwrap_or_else(|e| e.into_inner()).is_empty(),
        "{label}: {:?}",
        errors.lock().unwrap_or_else(|e| e.into_inner())
    );
}

#[test]
fn busy_server_reads_directly_within_the_limit_over_every_transport() {
    run(true, Carrier::WebSocket);
    run(false, Carrier::WebSocket);
    run(true, Carrier::Tcp);
}

#[test]
fn direct_reads_are_off_outside_busy_poll_or_at_zero() {
    for (idle, limit) in [
        (IdleMode::Block(Duration::from_millis(20)), 2),
        (IdleMode::BusyPoll, 0),
    ] {
        let mut config = test_config(1000);
        config.idle = idle;
        config.direct_reads = limit;
        let mut server = start_inline_server(
            true,
            config,
            Reporter {
                errors: shared::<Vec<String>>(),
            },
        );
        let mut a = Client::connect(&server, Carrier::WebSocket, 9);
        a.round_trips(20);
        assert_eq!(direct_cycles(&mut server), 0, "{idle:?}, limit {limit}");
    }
}
