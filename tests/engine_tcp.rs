//! Engine ↔ engine over TCP with SOFH framing (SBE), plain `tcp://` and `tcp+tls://`: negotiate,
//! establish and orders both ways; the FIXP Terminate exchange seen on the wire (a recording
//! proxy between the engines) at finalization and at an unbind; a killed connection recovered
//! exactly once and in order (`DropConnection` and an inline `drop_connection`); an oversized
//! SOFH length and a garbage header from a raw peer (closed, counted); and one session
//! negotiated over WSS, re-established over TCP and then over WSS again, in one acceptor table.
//! Blocking idle strategy; no timing assertions.

mod engine_support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use engine_support::*;
use fixp_ws::codec::fixp::{FlowType, TemplateId, TerminationCode};
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::sofh::{Sofh, SBE_LITTLE_ENDIAN, SOFH_LENGTH};
use fixp_ws::codec::{FixpMessage, Inbound};
use fixp_ws::engine::{
    EngineBuilder, EngineHandle, InitiatorConfig, JournalSetup, SessionHandle, Strategy, ToEngine,
};
use fixp_ws::journal::{JournalConfig, RingConfig};
use fixp_ws::session::{Event, SessionState, TerminateReason};
use fixp_ws::transport::{client_config_from_ca_pem, WireEncoding};

const SBE: WireEncoding = WireEncoding::Sbe;

/// A thread-mode client engine with one session.
fn client_engine(config: InitiatorConfig) -> (EngineHandle, SessionHandle) {
    let mut builder = EngineBuilder::new(test_config(100)).expect("engine");
    let handle = builder.initiate(config).expect("initiate");
    (builder.start().expect("start"), handle)
}

/// Sends orders `numbers` and waits for their reports; returns the reports' order numbers.
fn trade(client: &mut SessionHandle, seen: &mut Seen, numbers: std::ops::RangeInclusive<u64>) {
    let expected = seen.messages.len() + numbers.clone().count();
    for i in numbers {
        send(client, &order(i, SBE));
    }
    wait_until(client, seen, "reports", |s| s.messages.len() >= expected);
}

fn report_numbers(seen: &Seen) -> Vec<u64> {
    seen.messages
        .iter()
        .map(|(_, bytes)| report_number(bytes, SBE))
        .collect()
}

fn stop<S: Strategy>(engine: &mut EngineHandle<S>) {
    engine.shutdown();
    engine.join().expect("engine");
}

#[test]
fn orders_both_ways_then_finalization_over_tcp_and_tcp_tls() {
    for tls in [false, true] {
        let book = shared::<Book>();
        let mut server = start_inline_tcp_server(tls, test_config(100), Exchange::new(&book));
        let config = initiator_via(&server, Carrier::Tcp, SBE, FlowType::Idempotent, 100, 1);
        let (mut engine, mut client) = client_engine(config);
        let mut seen = Seen::default();
        wait_until(&mut client, &mut seen, "established", |s| {
            s.has(Event::StateChanged(SessionState::Established))
        });
        trade(&mut client, &mut seen, 1..=50);
        assert_eq!(
            report_numbers(&seen),
            (1..=50).collect::<Vec<_>>(),
            "tls={tls}"
        );
        let seqs: Vec<u64> = seen.messages.iter().map(|m| m.0).collect();
        assert_eq!(seqs, (1..=50).collect::<Vec<_>>());
        client.command(ToEngine::Finalize).expect("queue");
        wait_until(&mut client, &mut seen, "finalized", |s| {
            s.has(Event::Finalized)
        });
        wait_for(&book, "the server forgets the session", |b| {
            !b.freed.is_empty()
        });
        {
            let b = lock(&book);
            assert!(b.errors.is_empty(), "{:?}", b.errors);
            assert_eq!(b.sessions.len(), 1);
            assert_eq!(b.numbers(SBE), (1..=50).collect::<Vec<_>>());
            let key = b.sessions[0];
            assert_eq!(b.count(&Event::Finalized), 1);
            assert!(b
                .events
                .contains(&(key, Event::Terminated(TerminateReason::Finished))));
        }
        // The client started finalization, so it sent Terminate(Finished) and was answered.
        assert!(
            seen.has(Event::Terminated(TerminateReason::Finished)),
            "{:?}",
            seen.events
        );
        stop(&mut engine);
        stop(&mut server.engine);
        let counters = server.engine.metrics().counters();
        assert_eq!(counters.framing_faults.load(Ordering::Relaxed), 0);
        assert_eq!(counters.accepted.load(Ordering::Relaxed), 1);
    }
}

// ----- a recording proxy: what goes over the wire (plain TCP) -----

/// One thing the proxy saw on a connection, in one direction.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Wire {
    /// A FIXP message (Terminate with its code).
    Fixp(TemplateId, Option<TerminationCode>),
    /// An application message.
    App,
    /// The end of the stream.
    Eof,
}

/// Everything seen: (connection number, client → server?, what).
type WireLog = Shared<Vec<(usize, bool, Wire)>>;

/// Forwards `from` to `to`, recording each SOFH frame; at EOF shuts `to`'s write side.
fn forward(mut from: TcpStream, mut to: TcpStream, log: WireLog, conn: usize, upstream: bool) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        if to.write_all(&buf[..n]).is_err() {
            break;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Ok(header) = Sofh::read(&pending) {
            let length = header.message_length as usize;
            if pending.len() < length {
                break;
            }
            let seen = match SbeEncoding::decode_frame(&pending[SOFH_LENGTH..length]) {
                Ok(Inbound::Fixp(FixpMessage::Terminate { code, .. })) => {
                    Wire::Fixp(TemplateId::Terminate, Some(code))
                }
                Ok(Inbound::Fixp(m)) => Wire::Fixp(m.template(), None),
                _ => Wire::App,
            };
            lock(&log).push((conn, upstream, seen));
            pending.drain(..length);
        }
    }
    lock(&log).push((conn, upstream, Wire::Eof));
    let _ = to.shutdown(Shutdown::Write);
}

/// A plain TCP proxy in front of `upstream`, accepting connections until dropped.
struct Proxy {
    addr: SocketAddr,
    log: WireLog,
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Proxy {
    fn start(upstream: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.set_nonblocking(true).expect("nonblocking");
        let addr = listener.local_addr().expect("addr");
        let log = WireLog::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (thread_log, thread_stop) = (log.clone(), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut conn = 0;
            let mut pumps = Vec::new();
            while !thread_stop.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((client, _)) => {
                        client.set_nonblocking(false).expect("blocking");
                        let server = TcpStream::connect(upstream).expect("upstream");
                        for (from, to, up) in [
                            (
                                client.try_clone().expect("clone"),
                                server.try_clone().expect("clone"),
                                true,
                            ),
                            (server, client, false),
                        ] {
                            let log = thread_log.clone();
                            pumps
                                .push(std::thread::spawn(move || forward(from, to, log, conn, up)));
                        }
                        conn += 1;
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            for pump in pumps {
                let _ = pump.join();
            }
        });
        Proxy {
            addr,
            log,
            stop,
            thread: Some(thread),
        }
    }

    /// What went over connection `conn` in one direction, heartbeats left out: Sequence, and
    /// FinishedSending repeated as the heartbeat until FinishedReceiving.
    fn seen(&self, conn: usize, upstream: bool) -> Vec<Wire> {
        let mut seen: Vec<Wire> = lock(&self.log)
            .iter()
            .filter(|(c, up, w)| {
                *c == conn && *up == upstream && *w != Wire::Fixp(TemplateId::Sequence, None)
            })
            .map(|(_, _, w)| w.clone())
            .collect();
        seen.dedup_by(|a, b| a == b && *a == Wire::Fixp(TemplateId::FinishedSending, None));
        seen
    }

    /// Waits until both directions of `conn` reached their end.
    fn wait_closed(&self, conn: usize) {
        let start = Instant::now();
        while !(self.seen(conn, true).contains(&Wire::Eof)
            && self.seen(conn, false).contains(&Wire::Eof))
        {
            assert!(
                start.elapsed() < GUARD,
                "connection {conn} never closed: {:?}",
                lock(&self.log)
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn fixp(template: TemplateId) -> Wire {
    Wire::Fixp(template, None)
}

fn terminate(code: TerminationCode) -> Wire {
    Wire::Fixp(TemplateId::Terminate, Some(code))
}

#[test]
fn the_terminate_exchange_is_on_the_wire_at_an_unbind_and_at_finalization() {
    let book = shared::<Book>();
    let exchange = Exchange {
        unbind_after: Some(2),
        ..Exchange::new(&book)
    };
    let mut server = start_inline_tcp_server(false, test_config(100), exchange);
    let proxy = Proxy::start(server.tcp_addr.expect("tcp"));
    let mut config = initiator_via(&server, Carrier::Tcp, SBE, FlowType::Idempotent, 100, 2);
    config.target.addr = proxy.addr;
    let (mut engine, mut client) = client_engine(config);
    let mut seen = Seen::default();
    // Order 2 makes the exchange unbind: Terminate(Finished) both ways, then both sockets close;
    // the client reconnects and re-establishes the same session.
    trade(&mut client, &mut seen, 1..=2);
    proxy.wait_closed(0);
    wait_until(&mut client, &mut seen, "re-established", |s| {
        s.events
            .iter()
            .filter(|e| **e == Event::StateChanged(SessionState::Established))
            .count()
            == 2
    });
    trade(&mut client, &mut seen, 3..=3);
    client.command(ToEngine::Finalize).expect("queue");
    wait_until(&mut client, &mut seen, "finalized", |s| {
        s.has(Event::Finalized)
    });
    proxy.wait_closed(1);

    let app = Wire::App;
    let up = proxy.seen(0, true);
    let down = proxy.seen(0, false);
    assert_eq!(
        up,
        [
            fixp(TemplateId::Negotiate),
            fixp(TemplateId::Establish),
            app.clone(),
            app.clone(),
            terminate(TerminationCode::Finished),
            Wire::Eof
        ],
        "client → server, first binding (Sequence heartbeats left out)"
    );
    assert_eq!(
        down,
        [
            fixp(TemplateId::NegotiationResponse),
            fixp(TemplateId::EstablishmentAck),
            app.clone(),
            app.clone(),
            terminate(TerminationCode::Finished),
            Wire::Eof
        ],
        "server → client: the unbind, answered Finished (not Logical Flow Interrupted)"
    );
    assert!(seen.has(Event::Terminated(TerminateReason::PeerTerminated(
        TerminationCode::Finished
    ))));
    // The second binding: Establish (no Negotiate), an order, two-way finalization, Terminate
    // from the side that started it, answered, then the end of both streams.
    let up = proxy.seen(1, true);
    let down = proxy.seen(1, false);
    assert_eq!(
        up,
        [
            fixp(TemplateId::Establish),
            app.clone(),
            fixp(TemplateId::FinishedSending),
            fixp(TemplateId::FinishedReceiving),
            terminate(TerminationCode::Finished),
            Wire::Eof
        ]
    );
    assert_eq!(
        down,
        [
            fixp(TemplateId::EstablishmentAck),
            app,
            fixp(TemplateId::FinishedReceiving),
            fixp(TemplateId::FinishedSending),
            terminate(TerminationCode::Finished),
            Wire::Eof
        ]
    );
    {
        let b = lock(&book);
        assert_eq!(b.sessions.len(), 1, "one session across both bindings");
        assert_eq!(b.numbers(SBE), [1, 2, 3]);
        assert_eq!(b.count(&Event::Finalized), 1);
    }
    drop(proxy);
    stop(&mut engine);
    stop(&mut server.engine);
}

#[test]
fn a_killed_tcp_connection_is_recovered_exactly_once_in_order() {
    drop_and_recover(Carrier::Tcp, false, SBE, &[120]);
    drop_and_recover(Carrier::Tcp, true, SBE, &[90, 250]);
}

#[test]
fn a_connection_dropped_by_the_inline_exchange_is_recovered_exactly_once_in_order() {
    for tls in [false, true] {
        const N: u64 = 300;
        let book = shared::<Book>();
        let exchange = Exchange {
            drop_after: Some(100),
            ..Exchange::new(&book)
        };
        let mut server = start_inline_tcp_server(tls, test_config(100), exchange);
        let config = initiator_via(&server, Carrier::Tcp, SBE, FlowType::Recoverable, 100, 3);
        let (mut engine, mut client) = client_engine(config);
        let mut seen = Seen::default();
        // Order 100 makes the exchange drop the connection while the rest is in flight (the
        // reports the exchange queued may be lost with the socket: they are recovered).
        trade(&mut client, &mut seen, 1..=200);
        wait_until(&mut client, &mut seen, "re-established", |s| {
            s.events
                .iter()
                .filter(|e| **e == Event::StateChanged(SessionState::Established))
                .count()
                == 2
        });
        trade(&mut client, &mut seen, 201..=N);
        let expected: Vec<u64> = (1..=N).collect();
        assert_eq!(
            report_numbers(&seen),
            expected,
            "server → client, tls={tls}"
        );
        let seqs: Vec<u64> = seen.messages.iter().map(|m| m.0).collect();
        assert_eq!(seqs, expected);
        let lost = seen
            .events
            .iter()
            .filter(|e| matches!(e, Event::Terminated(TerminateReason::TransportLost)))
            .count();
        assert_eq!(lost, 1, "{:?}", seen.events);
        assert_eq!(client.counters().snapshot().connections, 2);
        {
            let b = lock(&book);
            assert!(b.errors.is_empty(), "{:?}", b.errors);
            assert_eq!(b.numbers(SBE), expected, "client → server");
            assert_eq!(b.sessions.len(), 1);
        }
        stop(&mut engine);
        stop(&mut server.engine);
    }
}

// ----- raw peers -----

/// A raw client over plain TCP or TLS that writes bytes and reads until the end of the stream.
enum RawPeer {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl RawPeer {
    fn connect(server: &Server<impl Strategy>) -> RawPeer {
        let tcp = TcpStream::connect(server.tcp_addr.expect("tcp")).expect("connect");
        tcp.set_read_timeout(Some(GUARD)).expect("timeout");
        match &server.cert_pem {
            None => RawPeer::Plain(tcp),
            Some(pem) => {
                let config = client_config_from_ca_pem(pem).expect("tls");
                let name = "localhost".try_into().expect("name");
                let conn = rustls::ClientConnection::new(config, name).expect("client");
                RawPeer::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
            }
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        match self {
            RawPeer::Plain(s) => s.write_all(bytes),
            RawPeer::Tls(s) => s.write_all(bytes).and_then(|()| s.flush()),
        }
        .expect("write");
    }

    /// Reads until the server ends the stream; returns what came before.
    fn read_to_end(&mut self) -> Vec<u8> {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            let read = match self {
                RawPeer::Plain(s) => s.read(&mut buf),
                RawPeer::Tls(s) => s.read(&mut buf),
            };
            match read {
                Ok(0) => return all,
                Ok(n) => all.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return all,
                Err(e) => panic!("the server did not end the stream: {e}"),
            }
        }
    }
}

fn sofh(length: u32, encoding_type: u16) -> Vec<u8> {
    let mut header = vec![0u8; SOFH_LENGTH];
    header[..4].copy_from_slice(&length.to_be_bytes());
    header[4..].copy_from_slice(&encoding_type.to_be_bytes());
    header
}

#[test]
fn an_oversized_sofh_length_and_a_garbage_header_close_the_connection_and_are_counted() {
    for tls in [false, true] {
        let book = shared::<Book>();
        let mut server = start_inline_tcp_server(tls, test_config(100), Exchange::new(&book));
        let cases: [(&str, Vec<u8>); 3] = [
            ("oversized", sofh(10_000_000, SBE_LITTLE_ENDIAN)),
            ("garbage", b"GET /fixp HTTP/1.1\r\nHost: x\r\n\r\n".to_vec()),
            ("below the header", sofh(3, SBE_LITTLE_ENDIAN)),
        ];
        for (n, (what, bytes)) in cases.iter().enumerate() {
            let mut peer = RawPeer::connect(&server);
            peer.write(bytes);
            let answer = peer.read_to_end();
            assert!(
                answer.is_empty(),
                "{what}: nothing is sent to a broken peer"
            );
            drop(peer);
            let counters = server.engine.metrics().counters();
            let start = Instant::now();
            while counters.framing_faults.load(Ordering::Relaxed) < n as u64 + 1 {
                assert!(start.elapsed() < GUARD, "{what} (tls={tls}) not counted");
                std::thread::sleep(Duration::from_millis(2));
            }
        }
        // The listener still serves a well-behaved client.
        let config = initiator_via(&server, Carrier::Tcp, SBE, FlowType::Idempotent, 100, 4);
        let (mut engine, mut client) = client_engine(config);
        let mut seen = Seen::default();
        trade(&mut client, &mut seen, 1..=3);
        assert_eq!(report_numbers(&seen), [1, 2, 3]);
        stop(&mut engine);
        stop(&mut server.engine);
        let counters = server.engine.metrics().counters();
        assert_eq!(
            counters.framing_faults.load(Ordering::Relaxed),
            3,
            "tls={tls}"
        );
        assert!(
            lock(&book).sessions.len() == 1,
            "no session for a broken peer"
        );
    }
}

// ----- one acceptor table across transports -----

fn journaled(mut config: InitiatorConfig, dir: &std::path::Path) -> InitiatorConfig {
    let ring = RingConfig {
        segment_bytes: 64 * 1024,
        segment_count: 2,
        max_messages: 4096,
    };
    config.journal = Some(JournalSetup {
        dir: dir.to_path_buf(),
        config: JournalConfig {
            outbound: ring,
            inbound: ring,
            ..JournalConfig::default()
        },
    });
    config
}

#[test]
fn a_session_negotiated_over_wss_re_establishes_over_tcp_and_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let book = shared::<Book>();
    let mut server = start_inline_tcp_server(true, test_config(100), Exchange::new(&book));
    let mut id = None;
    let legs = [
        (Carrier::WebSocket, 1..=5),
        (Carrier::Tcp, 6..=10),
        (Carrier::WebSocket, 11..=15),
    ];
    for (leg, (carrier, numbers)) in legs.into_iter().enumerate() {
        let config = initiator_via(&server, carrier, SBE, FlowType::Recoverable, 100, 5);
        let (mut engine, mut client) = client_engine(journaled(config, dir.path()));
        assert_eq!(*id.get_or_insert(client.session_id()), client.session_id());
        let mut seen = Seen::default();
        trade(&mut client, &mut seen, numbers.clone());
        assert_eq!(
            report_numbers(&seen),
            numbers.clone().collect::<Vec<_>>(),
            "{carrier:?}"
        );
        let seqs: Vec<u64> = seen.messages.iter().map(|m| m.0).collect();
        assert_eq!(seqs, numbers.collect::<Vec<_>>(), "numbering continues");
        assert_eq!(
            seen.has(Event::StateChanged(SessionState::Negotiating)),
            leg == 0,
            "only the first binding negotiates"
        );
        // The engine's shutdown unbinds: Close 1000 over WSS, Terminate(Finished) over TCP.
        stop(&mut engine);
        let unbinds = leg + 1;
        wait_for(&book, "the exchange sees the unbind", |b| {
            b.events
                .iter()
                .filter(|(_, e)| matches!(e, Event::Terminated(_)))
                .count()
                == unbinds
        });
    }
    let b = lock(&book);
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert_eq!(
        b.sessions.len(),
        1,
        "one acceptor session, one key, across transports"
    );
    let key = b.sessions[0];
    assert!(b.orders.iter().all(|o| o.0 == key));
    assert_eq!(b.numbers(SBE), (1..=15).collect::<Vec<_>>());
    assert_eq!(b.seqs(), (1..=15).collect::<Vec<_>>());
    let ends: Vec<&Event<'static>> = b
        .events
        .iter()
        .filter(|(_, e)| matches!(e, Event::Terminated(_)))
        .map(|(_, e)| e)
        .collect();
    assert_eq!(
        ends,
        [
            &Event::Terminated(TerminateReason::PeerClosed(1000)),
            &Event::Terminated(TerminateReason::PeerTerminated(TerminationCode::Finished)),
            &Event::Terminated(TerminateReason::PeerClosed(1000)),
        ],
        "each binding ended the way its transport does"
    );
    assert_eq!(b.count(&Event::StateChanged(SessionState::Established)), 3);
    drop(b);
    stop(&mut server.engine);
}
