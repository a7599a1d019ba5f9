//! Hostile and unusual peers: garbage before and after the upgrade never panics the server or
//! stops it serving others; fragmented messages are reassembled and delivered once.

mod transport_support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream as StdTcpStream};
use std::time::Duration;

use fixp_ws::codec::FrameKind;
use fixp_ws::transport::WsOptions;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use transport_support::Loop;

const UPGRADE: &str = "GET /fixp HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: fixp-sbe\r\n\r\n";

/// Sends `garbage` (after a valid upgrade if `upgrade`), shuts down its sending side and reads
/// until the server closes. Returns what the server sent.
fn hostile_peer(addr: std::net::SocketAddr, upgrade: bool, garbage: Vec<u8>) -> Vec<u8> {
    let mut socket = StdTcpStream::connect(addr).expect("connect");
    socket
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    let mut received = Vec::new();
    if upgrade {
        socket.write_all(UPGRADE.as_bytes()).expect("upgrade");
        let mut byte = [0u8; 1];
        while !received.ends_with(b"\r\n\r\n") {
            socket.read_exact(&mut byte).expect("response");
            received.push(byte[0]);
        }
        assert!(received.starts_with(b"HTTP/1.1 101"), "upgrade accepted");
    }
    let _ = socket.write_all(&garbage);
    let _ = socket.shutdown(Shutdown::Write);
    let _ = socket.read_to_end(&mut received);
    received
}

#[test]
fn garbage_before_and_after_the_upgrade_never_breaks_the_server() {
    let mut lp = Loop::new(false, WsOptions::default());
    lp.echo = true;
    let addr = lp.addr;
    let mut rng = SmallRng::seed_from_u64(0x5eed_f1c5);
    const ROUNDS: usize = 150;
    let cases: Vec<(bool, Vec<u8>)> = (0..ROUNDS)
        .map(|i| {
            let len = rng.random_range(0..600);
            let mut garbage: Vec<u8> = (0..len).map(|_| rng.random()).collect();
            if i % 3 == 0 && !garbage.is_empty() {
                // A plausible masked frame header with a random opcode and length.
                garbage[0] = 0x80 | rng.random_range(0..16u8);
            }
            (i % 2 == 0, garbage)
        })
        .collect();
    let peers = std::thread::spawn(move || {
        for (upgrade, garbage) in cases {
            hostile_peer(addr, upgrade, garbage);
        }
    });
    lp.run_until(|lp| {
        lp.servers.len() == ROUNDS
            && lp
                .servers
                .iter()
                .all(|s| s.closed.is_some() || s.error.is_some())
    });
    peers.join().expect("hostile peers finished");

    // Still serving.
    let c = lp.connect(&WsOptions::default());
    lp.run_until(|lp| lp.clients[c].opened);
    let conn = lp.clients[c].conn.as_mut().expect("client");
    let _ = conn.send(FrameKind::Binary, b"still here").expect("send");
    lp.run_until(|lp| !lp.clients[c].inbox.is_empty());
    assert_eq!(
        lp.clients[c].inbox[0],
        (FrameKind::Binary, b"still here".to_vec())
    );
}

#[test]
fn fragmented_messages_are_reassembled_and_delivered_once() {
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::protocol::frame::Frame;
    use tungstenite::Message;

    let mut lp = Loop::new(false, WsOptions::default());
    let url = format!("ws://127.0.0.1:{}/fixp", lp.addr.port());
    let peer = std::thread::spawn(move || {
        let request = tungstenite::ClientRequestBuilder::new(url.parse().expect("uri"))
            .with_sub_protocol("fixp-json");
        let (mut ws, _) = tungstenite::connect(request).expect("blocking client");
        let parts: [&[u8]; 3] = [b"{\"@type\":", b"\"Sequence\",", b"\"nextSeqNo\":2}"];
        ws.send(Message::Frame(Frame::message(
            parts[0].to_vec(),
            OpCode::Data(Data::Text),
            false,
        )))
        .expect("first");
        ws.send(Message::Frame(Frame::message(
            parts[1].to_vec(),
            OpCode::Data(Data::Continue),
            false,
        )))
        .expect("middle");
        ws.send(Message::Frame(Frame::message(
            parts[2].to_vec(),
            OpCode::Data(Data::Continue),
            true,
        )))
        .expect("last");
        ws.close(None).expect("close");
        while ws.read().is_ok() {}
    });
    lp.run_until(|lp| lp.servers.first().is_some_and(|s| s.closed.is_some()));
    peer.join().expect("peer");
    assert_eq!(
        lp.servers[0].inbox,
        [(
            FrameKind::Text,
            br#"{"@type":"Sequence","nextSeqNo":2}"#.to_vec()
        )]
    );
}
