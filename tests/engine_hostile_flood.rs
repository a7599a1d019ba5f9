//! Connection floods against an acceptor engine (issue #9, "Must show"):
//!
//! - thousands of idle and half-open (a TLS ClientHello, then nothing) connections from
//!   127.0.0.2 while a client from 127.0.0.1 negotiates, establishes and trades over TLS: the
//!   client succeeds, 127.0.0.2 never holds more than its share of the pre-session pool, and the
//!   engine thread's allocation count does not move while thousands of connections are refused;
//! - 10 000 connection attempts from one address beyond its cap are refused, each before any
//!   TLS or WebSocket state exists, without one allocation on the engine thread, and another
//!   address still gets in;
//! - a client that completes TLS and sends nothing is dropped at the handshake timeout, and one
//!   that opens the WebSocket and sends no Negotiate is closed (1008) at the negotiate timeout.
//!
//! Allocations are counted on the engine thread only (`count_allocations`; the inline strategy
//! reads its own thread's count), so other tests and threads never disturb the count. No test
//! asserts on time.

mod engine_support;
mod hostile_support;

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use engine_support::*;
use fixp_ws::alloc_count::CountingAllocator;
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::engine::{EngineCounters, EngineHandle};
use fixp_ws::session::{Event, SessionState};
use fixp_ws::transport::{client_config_from_ca_pem, WireEncoding};
use hostile_support::*;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

const LEGIT: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const FLOODER: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn counters<S: fixp_ws::engine::Strategy>(engine: &mut EngineHandle<S>) -> &EngineCounters {
    engine.metrics().counters()
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// Waits until `done` holds for the engine's counters.
fn wait_counters<S: fixp_ws::engine::Strategy>(
    engine: &mut EngineHandle<S>,
    what: &str,
    done: impl Fn(&EngineCounters) -> bool,
) {
    let start = std::time::Instant::now();
    while !done(counters(engine)) {
        assert!(start.elapsed() < GUARD, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Opens `n` connections from `from`: even ones idle, odd ones half-open (a ClientHello).
fn open_batch(
    n: usize,
    from: IpAddr,
    server: std::net::SocketAddr,
    hello: &[u8],
) -> Vec<TcpStream> {
    (0..n)
        .map(|i| {
            let mut stream = connect_from(from, server).expect("connect");
            if i % 2 == 1 {
                stream.write_all(hello).expect("hello");
            }
            stream
        })
        .collect()
}

#[test]
fn a_flood_from_one_address_does_not_keep_a_client_from_another_from_trading() {
    let fds = open_file_limit();
    let batch = 1000.min(fds.saturating_sub(200) / 2);
    assert!(batch >= 100, "open files limit too low: {fds}");
    let mut config = test_config(100);
    // Half-open handshakes stay for the whole test (they hold their pool places).
    config.handshake_timeout = Duration::from_secs(120);
    config.count_allocations = true;
    let pool_per_address = config.limits.pre_session.per_address as usize;
    let log = shared::<Record>();
    let recorder = Recorder::new(log.clone());
    let (allocations, cycles) = (
        Arc::clone(&recorder.allocations),
        Arc::clone(&recorder.cycles),
    );
    let mut server = start_inline_server(true, config, recorder);
    let cert = server.cert_pem.clone().expect("tls");
    let hello = client_hello(&cert);

    // Round 0: the flooder's first connections fill its share of the pre-session pool (each
    // half-open handshake is answered: the engine holds it); the rest are refused.
    let mut held = Vec::new();
    let mut refused = 0;
    for mut stream in (0..100).map(|_| {
        let mut s = connect_from(FLOODER, server.addr).expect("connect");
        s.write_all(&hello).expect("hello");
        s
    }) {
        stream.set_read_timeout(Some(GUARD)).expect("read timeout");
        let mut first = [0u8; 1];
        match std::io::Read::read(&mut stream, &mut first) {
            Ok(n) if n > 0 => held.push(stream),
            _ => refused += 1,
        }
    }
    assert_eq!(
        held.len(),
        pool_per_address,
        "the flooder's share of the pool"
    );
    assert_eq!(refused, 100 - pool_per_address);
    let before = settled_allocations(&allocations, &cycles);

    // Thousands more, idle and half-open: every one refused before any TLS state exists, and
    // the engine thread does not allocate once.
    for round in 0..3 {
        let mut streams = open_batch(batch, FLOODER, server.addr, &hello);
        for stream in &mut streams {
            assert!(
                read_to_close(stream).is_empty(),
                "round {round}: refused, no answer"
            );
        }
    }
    let after = settled_allocations(&allocations, &cycles);
    println!(
        "{} flood connections refused; engine-thread allocations {before} -> {after}",
        load(&counters(&mut server.engine).connections_refused)
    );
    assert_eq!(after, before, "refused connections cost no allocation");
    assert_eq!(
        load(&counters(&mut server.engine).connections_refused),
        (100 - pool_per_address + 3 * batch) as u64
    );
    assert_eq!(
        load(&counters(&mut server.engine).pre_session_open),
        pool_per_address as u64
    );

    // The flood goes on (batches of idle and half-open connections held, then refused) while
    // a client from 127.0.0.1 negotiates, establishes and trades over TLS.
    let stop = Arc::new(AtomicBool::new(false));
    let flooded = Arc::new(AtomicU64::new(0));
    let flood = {
        let (stop, flooded, hello, addr) = (
            Arc::clone(&stop),
            Arc::clone(&flooded),
            hello.clone(),
            server.addr,
        );
        std::thread::spawn(move || {
            while !stop.load(Ordering::Acquire) {
                let mut streams = open_batch(200, FLOODER, addr, &hello);
                for stream in &mut streams {
                    read_to_close(stream);
                }
                flooded.fetch_add(streams.len() as u64, Ordering::Release);
            }
        })
    };
    while flooded.load(Ordering::Acquire) < 200 {
        std::thread::sleep(Duration::from_millis(1));
    }
    let (mut client_engine, mut client) =
        start_client(&server, WireEncoding::Sbe, FlowType::Idempotent, 100, 77);
    let mut seen = Seen::default();
    wait_until(&mut client, &mut seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    const ORDERS: u64 = 50;
    trade_in_order(&mut client, &mut seen, ORDERS);
    finalize(&mut client, &mut seen);
    stop.store(true, Ordering::Release);
    flood.join().expect("flood thread");
    println!(
        "the client traded {ORDERS} orders while {} more flood connections were refused",
        flooded.load(Ordering::Acquire)
    );
    assert!(
        load(&counters(&mut server.engine).pre_session_open) <= pool_per_address as u64 + 1,
        "the flooder never held more than its share"
    );
    assert_eq!(load(&counters(&mut server.engine).pre_session_evicted), 0);
    drop(held);
    client_engine.shutdown();
    client_engine.join().expect("client engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

#[test]
fn ten_thousand_attempts_beyond_the_cap_are_refused_without_an_allocation() {
    const ATTEMPTS: usize = 10_000;
    const CAP: u32 = 4;
    let from = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 3));
    let fds = open_file_limit();
    let batch = 500.min(fds.saturating_sub(200) / 2);
    let mut config = test_config(100);
    config.handshake_timeout = Duration::from_secs(120);
    config.limits.negotiate_timeout = Duration::from_secs(120);
    config.count_allocations = true;
    config.limits.per_listener.per_address = CAP;
    let log = shared::<Record>();
    let recorder = Recorder::new(log.clone());
    let (allocations, cycles) = (
        Arc::clone(&recorder.allocations),
        Arc::clone(&recorder.cycles),
    );
    let mut server = start_inline_server(false, config, recorder);
    // The address's cap is taken by connections that stay (idle, before the upgrade).
    let held: Vec<TcpStream> = (0..CAP)
        .map(|_| connect_from(from, server.addr).expect("connect"))
        .collect();
    wait_counters(&mut server.engine, "the held connections", |c| {
        load(&c.pre_session_open) == u64::from(CAP)
    });
    let before = settled_allocations(&allocations, &cycles);
    let mut left = ATTEMPTS;
    while left > 0 {
        let n = batch.min(left);
        let mut streams: Vec<TcpStream> = (0..n)
            .map(|_| connect_from(from, server.addr).expect("connect"))
            .collect();
        for stream in &mut streams {
            assert!(read_to_close(stream).is_empty());
        }
        left -= n;
    }
    wait_counters(&mut server.engine, "every attempt refused", |c| {
        load(&c.connections_refused) == ATTEMPTS as u64
    });
    let after = settled_allocations(&allocations, &cycles);
    println!("{ATTEMPTS} attempts refused; engine-thread allocations {before} -> {after}");
    assert_eq!(after, before, "a refused attempt costs no allocation");
    assert_eq!(
        load(&counters(&mut server.engine).pre_session_open),
        u64::from(CAP),
        "the held connections are still there"
    );
    // Another address is not affected.
    let mut other = RawClient::open(
        connect_from(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 4)), server.addr).expect("connect"),
        server.addr.port(),
        false,
    );
    let (negotiated, established) = other.logon(session_id(4242), now_ns(), 1000);
    assert_eq!(negotiated, Read1::Fixp("NegotiationResponse".into()));
    assert_eq!(established, Read1::Fixp("EstablishmentAck".into()));
    drop(held);
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

#[test]
fn silent_clients_are_dropped_at_the_handshake_and_negotiate_timeouts() {
    let mut config = test_config(100);
    config.handshake_timeout = Duration::from_millis(300);
    config.limits.negotiate_timeout = Duration::from_millis(300);
    let mut server = start_inline_server(true, config, Recorder::new(shared::<Record>()));
    let tls = client_config_from_ca_pem(server.cert_pem.as_deref().expect("tls")).expect("tls");

    // TLS completes, then nothing: the WebSocket upgrade never comes.
    let mut silent = tls_stream(LEGIT, server.addr, Arc::clone(&tls));
    read_to_close(&mut silent.sock);
    wait_counters(&mut server.engine, "handshake timeout", |c| {
        load(&c.handshake_failures) == 1
    });

    // TLS and WebSocket complete, then no Negotiate: Close 1008.
    let mut quiet = RawClient::open(
        tls_stream(LEGIT, server.addr, tls),
        server.addr.port(),
        true,
    );
    assert_eq!(quiet.next(), Read1::Close(1008));
    wait_counters(&mut server.engine, "negotiate timeout", |c| {
        load(&c.pre_session_timeouts) == 1
    });
    drop(quiet);
    wait_counters(&mut server.engine, "the pool empty again", |c| {
        load(&c.pre_session_open) == 0
    });
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}
