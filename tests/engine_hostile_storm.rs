//! Hostile peers of established sessions (issue #9, "Must show"):
//!
//! - a **resend storm**: a peer asks for its whole journal again and again (each time as soon
//!   as the last replay ended, the fastest FIXP allows: a second request during a replay ends
//!   the session) while a second session trades; the second session completes its traffic,
//!   and the replay cap per duty cycle visibly cut the storm into slices;
//! - a **slow consumer**: a peer that stops reading is closed after the slow-consumer timeout
//!   (not at overflow: the engine held far less than its send-buffer bound), with its buffer
//!   bounded by `send_buffer_bytes` as the engine's own peak counter shows.
//!
//! The storm's effect on the second session's latency is measured in the perf harness (row
//! `engine-resend-storm`), never asserted here. No test asserts on time.

mod engine_support;
mod hostile_support;

use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_support::*;
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::FixpMessage;
use fixp_ws::engine::{EngineCounters, FromEngine};
use fixp_ws::session::{Event, SessionState, TerminateReason};
use fixp_ws::transport::WireEncoding;
use hostile_support::*;

const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Reads until `n` application messages arrived; panics on anything but heartbeats.
fn read_apps(client: &mut RawClient<TcpStream>, n: usize) {
    for _ in 0..n {
        match client.next() {
            Read1::App(_) => {}
            other => panic!("expected an application message, got {other:?}"),
        }
    }
}

#[test]
fn a_resend_storm_leaves_a_second_session_flowing() {
    const JOURNAL: u32 = 1000;
    const ORDERS: u64 = 200;
    let mut config = test_config(1000);
    config.limits.replay_per_session = 50;
    config.limits.replay_per_cycle = 50;
    let log = shared::<Record>();
    let mut server = start_inline_server(false, config, Recorder::new(log.clone()));

    // The attacker's session builds up a journal of JOURNAL reports.
    let id = session_id(1);
    let mut attacker = RawClient::open(
        connect_from(HOST, server.addr).expect("connect"),
        server.addr.port(),
        false,
    );
    let (negotiated, established) = attacker.logon(id, now_ns(), 1000);
    assert_eq!(negotiated, Read1::Fixp("NegotiationResponse".into()));
    assert_eq!(established, Read1::Fixp("EstablishmentAck".into()));
    for i in 0..u64::from(JOURNAL) {
        attacker.send_app(&order(i, WireEncoding::Sbe));
        read_apps(&mut attacker, 1);
    }

    // The storm: the whole journal, again and again, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let rounds = Arc::new(AtomicU64::new(0));
    let storm = {
        let (stop, rounds) = (Arc::clone(&stop), Arc::clone(&rounds));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                attacker.send(&FixpMessage::RetransmitRequest {
                    session_id: id,
                    timestamp: now_ns(),
                    from_seq_no: 1,
                    count: JOURNAL,
                });
                assert_eq!(attacker.next(), Read1::Fixp("Retransmission".into()));
                read_apps(&mut attacker, JOURNAL as usize);
                rounds.fetch_add(1, Ordering::Release);
            }
            attacker
        })
    };
    let start = Instant::now();
    while rounds.load(Ordering::Acquire) < 2 {
        assert!(start.elapsed() < GUARD, "the storm never got going");
        std::thread::sleep(Duration::from_millis(1));
    }

    // A second session trades through the storm.
    let (mut client_engine, mut client) =
        start_client(&server, WireEncoding::Sbe, FlowType::Idempotent, 1000, 2);
    let mut seen = Seen::default();
    wait_until(&mut client, &mut seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    let during = rounds.load(Ordering::Acquire);
    trade_in_order(&mut client, &mut seen, ORDERS);
    finalize(&mut client, &mut seen);
    client_engine.shutdown();
    client_engine.join().expect("client engine");

    stop.store(true, Ordering::Release);
    let mut attacker = storm.join().expect("the storm thread");
    let total = rounds.load(Ordering::Acquire);
    // The attacker's session is still up: the storm was served, slice by slice.
    attacker.send_app(&order(JOURNAL as u64, WireEncoding::Sbe));
    read_apps(&mut attacker, 1);
    let counters: &EngineCounters = server.engine.metrics().counters();
    let (replayed, deferred) = (load(&counters.replayed), load(&counters.replay_deferred));
    println!(
        "{total} full replays ({during} before the second session established, {replayed} \
         messages, deferred at the cap {deferred} times) while {ORDERS} orders traded"
    );
    assert_eq!(replayed, total * u64::from(JOURNAL));
    // Each request found the attacker's socket drained (it read the whole last replay before
    // asking again), so the cap, not the socket, stopped its first slice at least.
    assert!(
        deferred >= total,
        "every replay was cut at the cap ({deferred} deferrals for {total} replays)"
    );
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

#[test]
fn a_peer_that_stops_reading_is_closed_at_the_slow_consumer_timeout_with_its_buffer_bounded() {
    const SEND_BUFFER: usize = 256 * 1024;
    const QUEUE: usize = 64;
    let mut config = test_config(60_000);
    config.slow_consumer_timeout = Duration::from_millis(300);
    config.send_buffer_bytes = SEND_BUFFER;
    config.queue_capacity = QUEUE;
    let mut server = start_server(false, config);

    // A client that establishes, then never reads again, with a small receive buffer so the
    // engine's socket fills soon.
    let stream = connect_from(HOST, server.addr).expect("connect");
    socket2::SockRef::from(&stream)
        .set_recv_buffer_size(4096)
        .expect("receive buffer");
    let mut client = RawClient::open(stream, server.addr.port(), false);
    let (_, established) = client.logon(session_id(3), now_ns(), 60_000);
    assert_eq!(established, Read1::Fixp("EstablishmentAck".into()));
    let mut served = accept(&mut server);

    // Send until the engine has to hold frames itself (the socket and the transport's backlog
    // are full), then stop: only the timeout can end the binding now.
    let payload = order(1, WireEncoding::Sbe);
    let start = Instant::now();
    let mut sent = 0u64;
    while load(&server.engine.metrics().counters().send_buffer_peak) == 0 {
        assert!(
            start.elapsed() < GUARD,
            "the socket never filled ({sent} sent)"
        );
        if served.send(&payload).is_ok() {
            sent += 1;
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
    }
    let reason = loop {
        assert!(start.elapsed() < GUARD, "never closed ({sent} sent)");
        match served.poll() {
            Some(FromEngine::Event(Event::Terminated(reason))) => break reason,
            Some(_) => {}
            None => std::thread::sleep(Duration::from_millis(1)),
        }
    };
    assert_eq!(
        reason,
        TerminateReason::OutboxOverflow,
        "after {sent} messages"
    );
    let counters = server.engine.metrics().counters();
    assert_eq!(load(&counters.slow_consumers), 1);
    let peak = load(&counters.send_buffer_peak) as usize;
    println!("{sent} messages sent; the engine held at most {peak} bytes for the peer");
    // Once the engine held a frame the test stopped sending, so it held at most what was
    // queued then (the queue's capacity and the one send in flight), far below the bound:
    // the timeout closed the connection, not an overflow.
    let most = (QUEUE + 2) * (payload.len() + 16);
    assert!(most < SEND_BUFFER);
    assert!(peak <= most, "{peak} bytes held, at most {most} expected");
    drop(client);
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}
