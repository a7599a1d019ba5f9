//! Runs one JSON hot path in a loop, for instruction counts under callgrind
//! (`bash bench/json_callgrind.sh` runs every path twice and prints instructions per message).
//!
//! `cargo run --release --example json_profile -- <path> <iterations>`; paths:
//! - `decode-sequence`, `decode-establish`, `decode-negotiate`: `JsonEncoding::decode` of the
//!   Conga session examples;
//! - `classify-order`: `JsonEncoding::decode` of a NewOrderSingle (the session's pass over an
//!   application frame);
//! - `decode-order`: `CongaMessage::decode_json` of a NewOrderSingle;
//! - `encode-report`: `CongaMessage::encode_json` of an ExecutionReport with three fills;
//! - `encode-heartbeat`: `JsonEncoding::encode` of a Sequence;
//! - `session-inbound`: a JSON NewOrderSingle through an established acceptor session
//!   (`Acceptor::handle_frame`, the session's delivered event) and decoded by the application,
//!   as the engine and the exchange strategy do;
//! - `session-outbound`: an ExecutionReport encoded by the application and sent through the
//!   session (`send`, `poll_transmit`);
//! - `ws-text-read`, `ws-binary-read`: tungstenite reading a masked client frame holding the
//!   NewOrderSingle as text or binary from memory (the transport's frame parsing);
//! - `ws-text-send`, `ws-binary-send`: tungstenite writing the ExecutionReport to memory.

use std::hint::black_box;
use std::io::{Read, Write};

use fixp_ws::codec::conga::{
    CongaMessage, ExecType, ExecutionReport, Fill, Fills, Id8, OrdStatus, Price, Side,
};
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::json::JsonEncoding;
use fixp_ws::codec::{Encoding, FixpMessage, FrameKind, Inbound, SessionId};
use fixp_ws::session::{
    AcceptAll, Acceptor, AcceptorConfig, ConnectionId, Event, MemoryStore, Session, SessionConfig,
    Transmit,
};
use tungstenite::protocol::{Role, WebSocket};
use tungstenite::{Bytes, Message};

fn example(kind: &str, name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/spec/conga-json-examples")
        .join(kind)
        .join(name);
    std::fs::read(path).expect("example file")
}

fn report() -> CongaMessage {
    let id = |t: &str| Id8::new(t).expect("id");
    let fills = [(7345, 3), (7350, 10), (7360, 1)].map(|(px, qty)| Fill {
        fill_px: Price(px),
        fill_qty: qty,
    });
    CongaMessage::ExecutionReport(ExecutionReport {
        order_id: id("O12345"),
        cl_ord_id: id("C12345"),
        exec_id: id("E99"),
        exec_type: ExecType::Trade,
        ord_status: OrdStatus::PartiallyFilled,
        symbol: id("BTC-PERP"),
        side: Side::Buy,
        leaves_qty: 6,
        cum_qty: 14,
        transact_time: 1_700_000_000_123_456_789,
        fills: Fills::from_slice(&fills).expect("fills"),
    })
}

type JsonAcceptor =
    Acceptor<JsonEncoding, MemoryStore, AcceptAll, fn(SessionId) -> (JsonEncoding, MemoryStore)>;

fn factory(_: SessionId) -> (JsonEncoding, MemoryStore) {
    (JsonEncoding::new(), MemoryStore::new(1 << 20, 1 << 14))
}

/// A JSON client and acceptor, established over a simulated connection.
fn established() -> (Session<JsonEncoding, MemoryStore>, JsonAcceptor, u64) {
    let config = SessionConfig {
        flow: FlowType::Idempotent,
        ..SessionConfig::default()
    };
    let id = SessionId::from_random_bytes([7; 16]);
    let mut client = Session::client(config, JsonEncoding::new(), MemoryStore::new(4096, 64), id);
    let mut acceptor_config = AcceptorConfig::default();
    acceptor_config.session.flow = FlowType::Idempotent;
    let mut server = Acceptor::new(
        acceptor_config,
        JsonEncoding::new(),
        AcceptAll,
        factory as fn(SessionId) -> (JsonEncoding, MemoryStore),
    );
    let conn = ConnectionId(1);
    let now = 1_700_000_000_000_000_000;
    client.handle_connected(now);
    for _ in 0..8 {
        while let Some(Transmit::Frame { bytes, kind }) = client.poll_transmit() {
            let frame = bytes.to_vec();
            server.handle_frame(now, conn, &frame, kind);
        }
        while let Some((_, Transmit::Frame { bytes, kind })) = server.poll_transmit() {
            let frame = bytes.to_vec();
            client.handle_frame(now, &frame, kind);
        }
    }
    while server.poll_event().is_some() {}
    while client.poll_event().is_some() {}
    (client, server, now)
}

/// A stream that reads the same bytes over and over and discards what is written.
struct Loop {
    bytes: Vec<u8>,
    pos: usize,
}

impl Read for Loop {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let rest = &self.bytes[self.pos..];
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        self.pos = (self.pos + n) % self.bytes.len();
        Ok(n)
    }
}

impl Write for Loop {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The bytes of one masked client frame carrying `payload`.
fn client_frame(payload: &[u8], text: bool) -> Vec<u8> {
    struct Capture(Vec<u8>);
    impl Read for Capture {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            Err(std::io::ErrorKind::WouldBlock.into())
        }
    }
    impl Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut ws = WebSocket::from_raw_socket(Capture(Vec::new()), Role::Client, None);
    let message = if text {
        Message::text(std::str::from_utf8(payload).expect("utf-8").to_owned())
    } else {
        Message::binary(payload.to_vec())
    };
    ws.send(message).expect("send");
    std::mem::take(&mut ws.get_mut().0)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "decode-order".into());
    let iterations: u64 = args
        .next()
        .map(|n| n.parse().expect("iterations"))
        .unwrap_or(100_000);
    let order = example("application", "NewOrderSingle.json");
    let mut json = JsonEncoding::new();
    let mut out = vec![0u8; 4096];
    let mut check = 0u64;
    match path.as_str() {
        "decode-sequence" | "decode-establish" | "decode-negotiate" => {
            let name = match path.as_str() {
                "decode-sequence" => "Sequence.json",
                "decode-establish" => "Establish.json",
                _ => "Negotiate-with-credentials.json",
            };
            let frame = example("session", name);
            for _ in 0..iterations {
                let decoded = json.decode(black_box(&frame), FrameKind::Text);
                check += u64::from(matches!(decoded, Ok(Inbound::Fixp(_))));
            }
        }
        "classify-order" => {
            for _ in 0..iterations {
                let decoded = json.decode(black_box(&order), FrameKind::Text);
                check += u64::from(matches!(decoded, Ok(Inbound::Application(_))));
            }
        }
        "decode-order" => {
            for _ in 0..iterations {
                check += u64::from(CongaMessage::decode_json(black_box(&order)).is_ok());
            }
        }
        "encode-report" => {
            let report = report();
            for _ in 0..iterations {
                check += black_box(&report).encode_json(&mut out).unwrap_or(0) as u64;
            }
        }
        "encode-heartbeat" => {
            let sequence = FixpMessage::Sequence {
                next_seq_no: 1_234_567,
            };
            for _ in 0..iterations {
                check += json.encode(black_box(&sequence), &mut out).unwrap_or(0) as u64;
            }
        }
        "session-inbound" => {
            let (_client, mut server, mut now) = established();
            let conn = ConnectionId(1);
            // The client states its numbering once, then every order follows it.
            let sequence = FixpMessage::Sequence { next_seq_no: 1 };
            let len = json.encode(&sequence, &mut out).expect("encode");
            server.handle_frame(now, conn, &out[..len], FrameKind::Text);
            for _ in 0..iterations {
                now += 1_000;
                // As the engine does: the acceptor routes the frame, then the session's
                // events are taken from the session.
                server.handle_frame(now, conn, black_box(&order), FrameKind::Text);
                let session = server.session_on(conn).expect("session");
                while let Some(event) = session.poll_event() {
                    if let Event::Message { bytes, .. } = event {
                        check += u64::from(CongaMessage::decode_json(bytes).is_ok());
                    }
                }
            }
        }
        "session-outbound" => {
            let (_client, mut server, mut now) = established();
            let id = SessionId::from_random_bytes([7; 16]);
            let session = server.session_mut(id).expect("session");
            let report = report();
            let mut buf = [0u8; 2048];
            for _ in 0..iterations {
                now += 1_000;
                let len = black_box(&report).encode_json(&mut buf).expect("encode");
                session.send(now, &buf[..len]).expect("send");
                while let Some(Transmit::Frame { bytes, .. }) = session.poll_transmit() {
                    check += bytes.len() as u64;
                }
            }
        }
        "ws-text-read" | "ws-binary-read" => {
            let text = path == "ws-text-read";
            let frame = client_frame(&order, text);
            let mut ws = WebSocket::from_raw_socket(
                Loop {
                    bytes: frame,
                    pos: 0,
                },
                Role::Server,
                // The transport's read buffer (`WsOptions::read_buffer_size` default).
                Some(tungstenite::protocol::WebSocketConfig::default().read_buffer_size(4096)),
            );
            for _ in 0..iterations {
                match ws.read().expect("read") {
                    Message::Text(t) => check += t.len() as u64,
                    Message::Binary(b) => check += b.len() as u64,
                    _ => {}
                }
            }
        }
        "ws-text-send" | "ws-binary-send" => {
            let text = path == "ws-text-send";
            let len = report().encode_json(&mut out).expect("encode");
            let mut ws = WebSocket::from_raw_socket(
                Loop {
                    bytes: vec![0],
                    pos: 0,
                },
                Role::Server,
                None,
            );
            let mut scratch = bytes::BytesMut::with_capacity(1 << 16);
            for _ in 0..iterations {
                // As the transport does: copy into its scratch, then frame.
                scratch.extend_from_slice(&out[..len]);
                let payload: Bytes = scratch.split().freeze();
                let message = if text {
                    Message::Text(payload.try_into().expect("utf-8"))
                } else {
                    Message::Binary(payload)
                };
                ws.send(message).expect("send");
                check += 1;
            }
        }
        other => panic!("unknown path {other}"),
    }
    println!("{path}: {iterations} iterations, check {check}");
}
