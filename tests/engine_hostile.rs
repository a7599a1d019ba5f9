//! Hostile or broken peers against the acceptor engine, with a raw blocking tungstenite client
//! over ws:// (the rules are the same with TLS; TLS is covered by the loopback tests): an
//! unknown subprotocol is refused at the upgrade, an oversized frame is closed with 1009, and a
//! peer that only sends WebSocket Pings still times out (Pings are not FIXP traffic).

mod engine_support;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use engine_support::*;
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::fixp::TemplateId;
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::{Encoding, FixpMessage, Inbound};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Bytes, Message, WebSocket};

fn raw_client(addr: SocketAddr, subprotocol: &str) -> Result<WebSocket<TcpStream>, String> {
    let stream = TcpStream::connect(addr).expect("tcp");
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let mut request = format!("ws://127.0.0.1:{}/fixp", addr.port())
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_str(subprotocol).expect("header"),
    );
    match tungstenite::client(request, stream) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(e.to_string()),
        Err(tungstenite::HandshakeError::Interrupted(_)) => Err("interrupted".into()),
    }
}

/// Reads until a Close arrives; returns its code. Runs `between` after every idle read.
fn read_until_close(
    ws: &mut WebSocket<TcpStream>,
    mut between: impl FnMut(&mut WebSocket<TcpStream>),
) -> (u16, Vec<Vec<u8>>) {
    let start = Instant::now();
    let mut frames = Vec::new();
    loop {
        assert!(start.elapsed() < GUARD, "no Close from the server");
        match ws.read() {
            Ok(Message::Close(frame)) => {
                return (frame.map_or(1005, |f| u16::from(f.code)), frames);
            }
            Ok(Message::Binary(b)) => frames.push(b.to_vec()),
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                between(ws)
            }
            Err(e) => panic!("read failed before Close: {e}"),
        }
    }
}

#[test]
fn unknown_subprotocol_is_refused_at_the_upgrade() {
    let mut server = start_server(false, test_config(100));
    let refused = raw_client(server.addr, "chat, superchat").expect_err("must be refused");
    assert!(refused.contains("400"), "{refused}");
    // The same server accepts a known one.
    let mut ok = raw_client(server.addr, "chat, fixp-sbe").expect("fixp-sbe accepted");
    ok.close(None).expect("close");
    server.engine.shutdown();
    server.engine.join().expect("engine");
    let failures = server
        .engine
        .metrics()
        .counters()
        .handshake_failures
        .load(Ordering::Relaxed);
    assert_eq!(failures, 1);
}

#[test]
fn oversized_frame_is_closed_with_1009() {
    let mut server = start_server(false, test_config(100));
    let mut ws = raw_client(server.addr, "fixp-sbe").expect("open");
    let big = vec![0u8; 64 * 1024 + 1];
    ws.send(Message::Binary(Bytes::from(big))).expect("send");
    let (code, _) = read_until_close(&mut ws, |_| {});
    assert_eq!(code, u16::from(CloseCode::Size));
    assert_eq!(code, 1009);
    server.engine.shutdown();
    server.engine.join().expect("engine");
}

#[test]
fn pings_without_fixp_traffic_still_time_the_session_out() {
    let mut server = start_server(false, test_config(100));
    let mut ws = raw_client(server.addr, "fixp-sbe").expect("open");
    let mut sbe = SbeEncoding::new();
    let id = session_id(99);
    let mut buf = [0u8; 256];
    let mut send = |ws: &mut WebSocket<TcpStream>, msg: &FixpMessage<'_>| {
        let n = sbe.encode(msg, &mut buf).expect("encode");
        ws.send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
            .expect("send");
    };
    send(
        &mut ws,
        &FixpMessage::Negotiate {
            session_id: id,
            timestamp: 1_700_000_000_000_000_000,
            client_flow: FlowType::Idempotent,
            credentials: &[],
        },
    );
    send(
        &mut ws,
        &FixpMessage::Establish {
            session_id: id,
            timestamp: 1_700_000_000_000_000_001,
            keepalive_interval: 100,
            next_seq_no: Some(1),
            credentials: &[],
        },
    );
    // From now on only Pings: tungstenite answers them on both sides, no FIXP message flows.
    let mut pings = 0u32;
    let (code, frames) = read_until_close(&mut ws, |ws| {
        pings += 1;
        let _ = ws.send(Message::Ping(Bytes::from_static(b"alive?")));
    });
    assert_eq!(code, 1002, "closed for peer silence");
    assert!(pings > 0);
    // The server answered the handshake before timing out.
    let decoded: Vec<_> = frames
        .iter()
        .filter_map(|f| match SbeEncoding::decode_frame(f) {
            Ok(Inbound::Fixp(m)) => Some(m.template()),
            _ => None,
        })
        .collect();
    assert_eq!(decoded.first(), Some(&TemplateId::NegotiationResponse));
    assert_eq!(decoded.get(1), Some(&TemplateId::EstablishmentAck));
    server.engine.shutdown();
    server.engine.join().expect("engine");
}

#[test]
fn a_connection_that_never_upgrades_is_dropped_at_the_handshake_timeout() {
    use std::io::Read;
    let mut config = test_config(100);
    config.handshake_timeout = Duration::from_millis(200);
    let mut server = start_server(false, config);
    let mut silent = TcpStream::connect(server.addr).expect("tcp");
    silent.set_read_timeout(Some(GUARD)).expect("read timeout");
    let mut byte = [0u8; 1];
    // The engine drops the socket: EOF (or a reset), not a timeout of ours.
    match silent.read(&mut byte) {
        Ok(0) => {}
        Ok(n) => panic!("unexpected {n} bytes"),
        Err(e) => assert!(
            matches!(
                e.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::ConnectionAborted
            ),
            "{e}"
        ),
    }
    server.engine.shutdown();
    server.engine.join().expect("engine");
    let failures = server
        .engine
        .metrics()
        .counters()
        .handshake_failures
        .load(Ordering::Relaxed);
    assert_eq!(failures, 1);
}
