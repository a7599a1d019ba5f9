//! Engine life cycle: graceful shutdown closes every binding with a proper Close frame (or
//! finalizes), and a peer that stops reading is disconnected as a slow consumer with a reason.

mod engine_support;

use std::net::TcpStream;
use std::time::{Duration, Instant};

use engine_support::*;
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::{Encoding, FixpMessage};
use fixp_ws::engine::{FromEngine, ShutdownMode};
use fixp_ws::session::{Event, SessionState, TerminateReason};
use fixp_ws::transport::{WireEncoding, WsOptions};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::{Bytes, Message};

#[test]
fn server_shutdown_closes_each_session_with_1000() {
    let mut server = start_server(true, test_config(100));
    let (mut client_engine, mut client) =
        start_client(&server, WireEncoding::Sbe, FlowType::Idempotent, 100, 11);
    let mut seen = Seen::default();
    wait_until(&mut client, &mut seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    let mut served = accept(&mut server);
    server.engine.shutdown();
    server.engine.join().expect("server engine");
    wait_until(&mut client, &mut seen, "closed by the server", |s| {
        s.has(Event::Terminated(TerminateReason::PeerClosed(1000)))
    });
    let mut server_seen = Seen::default();
    server_seen.take(&mut served);
    assert!(
        server_seen.has(Event::Terminated(TerminateReason::Unbind)),
        "{:?}",
        server_seen.events
    );
    client_engine.shutdown();
    client_engine.join().expect("client engine");
}

#[test]
fn client_shutdown_in_finalize_mode_finalizes_both_sides() {
    let mut server = start_server(true, test_config(100));
    let mut config = test_config(100);
    config.shutdown_mode = ShutdownMode::Finalize;
    let (mut client_engine, mut client) = start_client_with(
        &server,
        WireEncoding::Json,
        FlowType::Idempotent,
        100,
        12,
        config,
    );
    let mut seen = Seen::default();
    wait_until(&mut client, &mut seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    let mut served = accept(&mut server);
    send(&mut client, &order(1, WireEncoding::Json));
    let mut server_seen = Seen::default();
    wait_until(&mut served, &mut server_seen, "order", |s| {
        !s.messages.is_empty()
    });
    client_engine.shutdown();
    client_engine.join().expect("client engine");
    seen.take(&mut client);
    assert!(seen.has(Event::Finalized), "{:?}", seen.events);
    assert!(seen.has(Event::Terminated(TerminateReason::Finished)));
    wait_until(&mut served, &mut server_seen, "server finalized", |s| {
        s.has(Event::Finalized)
    });
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

#[test]
fn a_peer_that_stops_reading_is_closed_as_a_slow_consumer() {
    let mut config = test_config(100);
    config.slow_consumer_timeout = Duration::from_millis(200);
    config.send_buffer_bytes = 64 * 1024;
    let server_tls = None;
    let mut builder = fixp_ws::engine::EngineBuilder::new(config).expect("engine");
    builder.authenticator(fixp_ws::session::AcceptAll);
    let addr = builder
        .listen(
            "127.0.0.1:0".parse().expect("addr"),
            server_tls,
            WsOptions {
                max_backlog_bytes: 64 * 1024,
                ..WsOptions::default()
            },
        )
        .expect("listen");
    let mut engine = builder.start().expect("start");

    // A raw client that negotiates and establishes, then never reads again.
    let stream = TcpStream::connect(addr).expect("tcp");
    let mut request = format!("ws://127.0.0.1:{}/fixp", addr.port())
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("fixp-sbe"),
    );
    let (mut ws, _) = tungstenite::client(request, stream).expect("upgrade");
    let mut sbe = SbeEncoding::new();
    let id = session_id(77);
    let mut buf = [0u8; 256];
    for msg in [
        FixpMessage::Negotiate {
            session_id: id,
            timestamp: 1,
            client_flow: FlowType::Idempotent,
            credentials: &[],
        },
        FixpMessage::Establish {
            session_id: id,
            timestamp: 2,
            keepalive_interval: 60_000,
            next_seq_no: Some(1),
            credentials: &[],
        },
    ] {
        let n = sbe.encode(&msg, &mut buf).expect("encode");
        ws.send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
            .expect("send");
    }
    let start = Instant::now();
    let mut served = loop {
        if let Some(h) = engine.accept() {
            break h;
        }
        assert!(start.elapsed() < GUARD, "no session");
        std::thread::sleep(Duration::from_millis(1));
    };
    // The exchange floods the session until the engine gives up on the peer.
    let payload = order(1, WireEncoding::Sbe);
    let mut reason = None;
    let mut sent = 0u64;
    while reason.is_none() {
        assert!(start.elapsed() < GUARD, "never closed ({sent} sent)");
        if served.send(&payload).is_ok() {
            sent += 1;
        } else {
            std::thread::sleep(Duration::from_millis(1));
        }
        while let Some(item) = served.poll() {
            if let FromEngine::Event(Event::Terminated(r)) = item {
                reason = Some(r);
            }
        }
    }
    assert_eq!(
        reason,
        Some(TerminateReason::OutboxOverflow),
        "after {sent} messages"
    );
    engine.shutdown();
    engine.join().expect("engine");
    let slow = engine
        .metrics()
        .counters()
        .slow_consumers
        .load(std::sync::atomic::Ordering::Relaxed);
    assert_eq!(slow, 1);
    drop(ws);
}
