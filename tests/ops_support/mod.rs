//! Support for the operations tests: a raw WebSocket client that speaks FIXP in SBE by hand
//! (to provoke rejects and violations), and waiting for published status.
#![allow(dead_code)]

use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::{Encoding, FixpMessage, SessionId};
use fixp_ws::engine::{SessionStatusRecord, StatusReader};
use tungstenite::client::IntoClientRequest;
use tungstenite::http::HeaderValue;
use tungstenite::{Bytes, Message, WebSocket};

/// Safety net against hangs only.
pub const GUARD: Duration = Duration::from_secs(20);

/// A raw `ws://` client offering `fixp-sbe`.
pub fn raw_client(addr: SocketAddr) -> WebSocket<TcpStream> {
    let stream = TcpStream::connect(addr).expect("tcp");
    stream
        .set_read_timeout(Some(Duration::from_millis(20)))
        .expect("timeout");
    let mut request = format!("ws://127.0.0.1:{}/fixp", addr.port())
        .into_client_request()
        .expect("request");
    request.headers_mut().insert(
        "Sec-WebSocket-Protocol",
        HeaderValue::from_static("fixp-sbe"),
    );
    tungstenite::client(request, stream).expect("upgrade").0
}

pub fn send_fixp(ws: &mut WebSocket<TcpStream>, message: &FixpMessage<'_>) {
    let mut buf = [0u8; 256];
    let n = SbeEncoding::new()
        .encode(message, &mut buf)
        .expect("encode");
    ws.send(Message::Binary(Bytes::copy_from_slice(&buf[..n])))
        .expect("send");
}

/// Reads until the server closes (or the connection ends).
pub fn read_to_close(ws: &mut WebSocket<TcpStream>) {
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < GUARD, "no Close");
        match ws.read() {
            Ok(Message::Close(_)) => return,
            Ok(_) => {}
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// Negotiates and establishes `id` with client flow `flow` by hand (a keepalive interval of
/// 5 s: the raw client sends no heartbeats, and no test lasts that long in silence).
pub fn negotiate_and_establish(ws: &mut WebSocket<TcpStream>, id: SessionId, flow: FlowType) {
    send_fixp(
        ws,
        &FixpMessage::Negotiate {
            session_id: id,
            timestamp: 1_700_000_000_000_000_000,
            client_flow: flow,
            credentials: &[],
        },
    );
    send_fixp(
        ws,
        &FixpMessage::Establish {
            session_id: id,
            timestamp: 1_700_000_000_000_000_001,
            keepalive_interval: 5_000,
            next_seq_no: Some(1),
            credentials: &[],
        },
    );
}

/// Sends an Establish for a session never negotiated (answered with EstablishmentReject).
pub fn establish_unknown(ws: &mut WebSocket<TcpStream>, id: SessionId) {
    send_fixp(
        ws,
        &FixpMessage::Establish {
            session_id: id,
            timestamp: 1_700_000_000_000_000_000,
            keepalive_interval: 100,
            next_seq_no: None,
            credentials: &[],
        },
    );
}

/// Sends a frame no encoding decodes (a protocol violation).
pub fn send_garbage(ws: &mut WebSocket<TcpStream>) {
    ws.send(Message::Binary(Bytes::from_static(&[0xff, 0x00, 0x01])))
        .expect("send garbage");
}

/// Waits until the published records satisfy `done`; returns them.
pub fn wait_status(
    reader: &StatusReader,
    what: &str,
    done: impl Fn(&[SessionStatusRecord]) -> bool,
) -> Vec<SessionStatusRecord> {
    let start = Instant::now();
    loop {
        let records = reader.sessions();
        if done(&records) {
            return records;
        }
        assert!(
            start.elapsed() < GUARD,
            "timed out waiting for {what}: {records:#?}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}
