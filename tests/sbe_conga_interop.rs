//! Interoperability with Conga's SBE encoding (FIXTradingCommunity/conga; see
//! `docs/interop-conga.md`), both directions, on byte fixtures built the way Conga's code
//! builds them: its client against our acceptor (the exact 33-byte Negotiate from issue #13,
//! an Establish without Credentials, a NewOrderSingle), and our client against Conga's
//! exchange (a NegotiationResponse without Credentials, an EstablishmentAck in a 256-byte
//! buffer, ExecutionReports with and without the fills group, Sequence heartbeats). Sans-IO
//! with a simulated clock, plus one run over a real WebSocket through the engine.

mod engine_support;

use fixp_ws::codec::conga::{CongaMessage, ExecType, OrdStatus, OrdType, Price, Side};
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::sbe::{SbeEncoding, ToleratedDeviations};
use fixp_ws::codec::{DecodeError, Encoding, FixpMessage, FrameKind, Inbound, SessionId};
use fixp_ws::session::{
    AcceptAll, Acceptor, AcceptorConfig, ConnectionId, Event, MemoryStore, Session, SessionConfig,
    SessionState, Transmit,
};

/// Conga's client Negotiate, as captured (issue #13): header (blockLength 25, template 1,
/// schema 2748, version 0), SessionId, a `System.nanoTime()` timestamp, ClientFlow Idempotent;
/// the empty Credentials left out, length prefix included.
const CONGA_NEGOTIATE_HEX: &str =
    "19000100bc0a00009fe141dade954b43ac382eee5a1b4787a96d18a9b705000001";

fn unhex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("hex"))
        .collect()
}

/// Conga's byte fixtures: real-logic flyweights wrapped once per connection, fields at the
/// schema's offsets, little-endian; var data only when Conga calls `putX`.
mod conga {
    pub const FIXP: u16 = 2748;
    pub const ORDERS: u16 = 100;

    pub struct Frame(pub Vec<u8>);

    impl Frame {
        pub fn header(block_length: u16, template: u16, schema: u16) -> Self {
            let mut v = Vec::new();
            for word in [block_length, template, schema, 0] {
                v.extend_from_slice(&word.to_le_bytes());
            }
            Frame(v)
        }
        pub fn bytes(mut self, b: &[u8]) -> Self {
            self.0.extend_from_slice(b);
            self
        }
        pub fn u8(self, v: u8) -> Self {
            self.bytes(&[v])
        }
        pub fn u16(self, v: u16) -> Self {
            self.bytes(&v.to_le_bytes())
        }
        pub fn u32(self, v: u32) -> Self {
            self.bytes(&v.to_le_bytes())
        }
        pub fn i32(self, v: i32) -> Self {
            self.bytes(&v.to_le_bytes())
        }
        pub fn u64(self, v: u64) -> Self {
            self.bytes(&v.to_le_bytes())
        }
        /// A `char[8]` set from a Java String: the text, NUL-padded.
        pub fn chars8(self, text: &str) -> Self {
            let mut field = [0u8; 8];
            field[..text.len()].copy_from_slice(text.as_bytes());
            self.bytes(&field)
        }
        /// The frame as Jetty sends the whole direct buffer (`allocateDirect(256)`) when the
        /// buffer's limit was never set.
        pub fn in_256_byte_buffer(mut self) -> Vec<u8> {
            self.0.resize(256, 0);
            self.0
        }
    }

    /// `SbeSessionMessenger.encodeEstablish` with `credentials == null`: no var data.
    pub fn establish(
        session_id: [u8; 16],
        timestamp: u64,
        keepalive_ms: u32,
        next: u64,
    ) -> Vec<u8> {
        Frame::header(36, 5, FIXP)
            .bytes(&session_id)
            .u64(timestamp)
            .u32(keepalive_ms)
            .u64(next)
            .0
    }

    /// `encodeNegotiationResponse(.., credentials = null)`, as Conga's server calls it.
    pub fn negotiation_response(session_id: [u8; 16], request_timestamp: u64, flow: u8) -> Vec<u8> {
        Frame::header(25, 2, FIXP)
            .bytes(&session_id)
            .u64(request_timestamp)
            .u8(flow)
            .0
    }

    /// `encodeEstablishmentAck`: sets the encoder's limit, not the buffer's, so the whole
    /// 256-byte buffer goes out.
    pub fn establishment_ack(
        session_id: [u8; 16],
        request_timestamp: u64,
        keepalive_ms: u32,
        next: u64,
    ) -> Vec<u8> {
        Frame::header(36, 6, FIXP)
            .bytes(&session_id)
            .u64(request_timestamp)
            .u32(keepalive_ms)
            .u64(next)
            .in_256_byte_buffer()
    }

    /// `encodeSequence`: header and block, 16 bytes.
    pub fn sequence(next: u64) -> Vec<u8> {
        Frame::header(8, 8, FIXP).u64(next).0
    }

    /// `SbeMutableNewOrderSingle`: block 34; Conga sets the price mantissa from the
    /// BigDecimal's unscaled value, and not at all for a Market order (then the buffer's old
    /// bytes stay: `junk`).
    pub fn new_order_single(
        cl_ord_id: &str,
        side: u8,
        qty: i32,
        ord_type: u8,
        price: i32,
    ) -> Vec<u8> {
        Frame::header(34, 14, ORDERS)
            .chars8(cl_ord_id)
            .chars8("AMZN")
            .u8(side)
            .u64(1_527_863_400_123_456_789)
            .i32(qty)
            .u8(ord_type)
            .i32(price)
            .0
    }

    /// `SbeMutableExecutionReport`: block 51, then the FillsGrp dimension and entries only if
    /// `setFillCount` was called (the MatchEngine calls it for New and Trade reports, never
    /// for Canceled ones).
    pub fn execution_report(
        exec_type: u8,
        ord_status: u8,
        fills: Option<&[(i32, i32)]>,
    ) -> Vec<u8> {
        let frame = Frame::header(51, 9, ORDERS)
            .chars8("O1")
            .chars8("C1")
            .chars8("E1")
            .u8(exec_type)
            .u8(ord_status)
            .chars8("AMZN")
            .u8(b'1')
            .i32(0)
            .i32(5)
            .u64(1_527_863_400_123_456_789);
        match fills {
            None => frame.0,
            Some(fills) => {
                let mut frame = frame.u16(8).u16(fills.len() as u16);
                for (px, qty) in fills {
                    frame = frame.i32(*px).i32(*qty);
                }
                frame.0
            }
        }
    }
}

type TestAcceptor =
    Acceptor<SbeEncoding, MemoryStore, AcceptAll, fn(SessionId) -> (SbeEncoding, MemoryStore)>;

fn factory(_: SessionId) -> (SbeEncoding, MemoryStore) {
    (SbeEncoding::new(), MemoryStore::new(4096, 1024))
}

fn acceptor() -> TestAcceptor {
    Acceptor::new(
        AcceptorConfig::default(),
        SbeEncoding::new(),
        AcceptAll,
        factory as fn(SessionId) -> (SbeEncoding, MemoryStore),
    )
}

/// Hands the FIXP message in a frame our side sent to `f`.
fn decoded<T>(frame: &[u8], f: impl FnOnce(FixpMessage<'_>) -> T) -> T {
    match SbeEncoding::new().decode(frame, FrameKind::Binary) {
        Ok(Inbound::Fixp(m)) => f(m),
        other => panic!("not a FIXP message: {other:?}"),
    }
}

/// Every frame the acceptor wants to send on `conn`.
fn server_frames(server: &mut TestAcceptor, conn: ConnectionId) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some((c, t)) = server.poll_transmit() {
        assert_eq!(c, conn);
        match t {
            Transmit::Frame { bytes, kind } => {
                assert_eq!(kind, FrameKind::Binary);
                out.push(bytes.to_vec());
            }
            Transmit::Close { code, reason } => panic!("closed {code}: {reason}"),
        }
    }
    out
}

const NOW: u64 = 1_700_000_000_000_000_000;

#[test]
fn congas_33_byte_negotiate_is_answered_then_establish_and_an_order_go_through() {
    let negotiate = unhex(CONGA_NEGOTIATE_HEX);
    assert_eq!(negotiate.len(), 33);
    let session_id: [u8; 16] = negotiate[8..24].try_into().unwrap();
    let timestamp = u64::from_le_bytes(negotiate[24..32].try_into().unwrap());

    let mut server = acceptor();
    let conn = ConnectionId(1);
    server.handle_frame(NOW, conn, &negotiate, FrameKind::Binary);
    let frames = server_frames(&mut server, conn);
    assert_eq!(frames.len(), 1);
    decoded(&frames[0], |m| {
        assert_eq!(
            m,
            FixpMessage::NegotiationResponse {
                session_id: SessionId(session_id),
                request_timestamp: timestamp,
                server_flow: FlowType::Recoverable,
                credentials: &[],
            }
        )
    });
    // Our encoder keeps writing the zero-length Credentials prefix.
    assert_eq!(frames[0].len(), 35);
    assert_eq!(&frames[0][33..], &[0, 0]);
    assert_eq!(server.tolerated_deviations(), 1);

    // Conga's Establish: no Credentials either; NextSeqNo = next it expects to receive.
    let establish = conga::establish(session_id, timestamp + 1_000, 2000, 1);
    assert_eq!(establish.len(), 44);
    server.handle_frame(NOW + 1, conn, &establish, FrameKind::Binary);
    let frames = server_frames(&mut server, conn);
    let ack = frames
        .iter()
        .find_map(|f| {
            decoded(f, |m| match m {
                FixpMessage::EstablishmentAck {
                    request_timestamp, ..
                } => Some(request_timestamp),
                _ => None,
            })
        })
        .expect("an EstablishmentAck");
    assert_eq!(ack, timestamp + 1_000);
    assert_eq!(server.tolerated_deviations(), 2);
    let id = SessionId(session_id);
    assert_eq!(
        server.session(id).map(|s| s.state()),
        Some(SessionState::Established)
    );

    // A Conga NewOrderSingle (no Sequence first: Conga's client sends none) is delivered as
    // message 1 and decodes.
    let order = conga::new_order_single("C1", b'1', 3, b'2', 7345);
    server.handle_frame(NOW + 2, conn, &order, FrameKind::Binary);
    let mut delivered = Vec::new();
    while let Some((sid, event)) = server.poll_event() {
        if let Event::Message { seq, bytes } = event {
            assert_eq!(sid, id);
            delivered.push((seq, CongaMessage::decode_sbe(bytes).expect("order")));
        }
    }
    assert_eq!(delivered.len(), 1);
    let (seq, CongaMessage::NewOrderSingle(o)) = &delivered[0] else {
        panic!("not an order: {delivered:?}");
    };
    assert_eq!(*seq, 1);
    assert_eq!(
        (o.cl_ord_id.as_str(), o.side, o.order_qty, o.price),
        ("C1", Side::Buy, 3, Some(Price(7345)))
    );
    // A session bound to Conga keeps working: its Sequence heartbeat is ordinary.
    let session = server.session_mut(id).unwrap();
    session.handle_frame(NOW + 3, &conga::sequence(2), FrameKind::Binary);
    assert_eq!(session.state(), SessionState::Established);
}

#[test]
fn other_truncations_keep_their_typed_errors() {
    let negotiate = unhex(CONGA_NEGOTIATE_HEX);
    let mut sbe = SbeEncoding::new();
    // Cut inside the header or the fixed block.
    for n in 0..negotiate.len() {
        assert!(
            matches!(
                sbe.decode(&negotiate[..n], FrameKind::Binary),
                Err(DecodeError::Truncated { .. })
            ),
            "prefix {n}"
        );
    }
    // Half a length prefix.
    let mut half = negotiate.clone();
    half.push(0);
    assert_eq!(
        sbe.decode(&half, FrameKind::Binary),
        Err(DecodeError::Truncated {
            needed: 35,
            available: 34
        })
    );
    // A length prefix pointing past the frame.
    for tail in [&[5u8, 0][..], &[5, 0, b'a', b'b']] {
        let mut overrun = negotiate.clone();
        overrun.extend_from_slice(tail);
        assert_eq!(
            sbe.decode(&overrun, FrameKind::Binary),
            Err(DecodeError::VarDataOverrun {
                length: 5,
                available: tail.len() - 2,
            })
        );
    }
    // Padding that is not NUL is still surplus.
    let mut surplus = negotiate.clone();
    surplus.extend_from_slice(&[0, 0, 0, 7]);
    assert_eq!(
        sbe.decode(&surplus, FrameKind::Binary),
        Err(DecodeError::TrailingBytes { extra: 2 })
    );
    // A template without trailing var data is not completed.
    let short_ack = &conga::establishment_ack([1; 16], 5, 2000, 1)[..8 + 35];
    assert!(matches!(
        sbe.decode(short_ack, FrameKind::Binary),
        Err(DecodeError::Truncated { .. })
    ));
    assert_eq!(sbe.deviations(), ToleratedDeviations::default());

    // Through the acceptor: a Close 1002 naming the typed error, no session.
    let mut server = acceptor();
    let conn = ConnectionId(7);
    server.handle_frame(NOW, conn, &negotiate[..32], FrameKind::Binary);
    match server.poll_transmit() {
        Some((c, Transmit::Close { code, reason })) => {
            assert_eq!((c, code), (conn, 1002));
            assert!(
                reason.contains("truncated: need 33 bytes, have 32"),
                "{reason}"
            );
        }
        other => panic!("expected a Close, got {other:?}"),
    }
    assert!(server.is_empty());
    assert_eq!(server.tolerated_deviations(), 0);
}

#[test]
fn our_client_establishes_and_trades_with_congas_exchange() {
    let id = SessionId::from_random_bytes([0x5a; 16]);
    let config = SessionConfig {
        flow: FlowType::Idempotent,
        ..SessionConfig::default()
    };
    let mut client = Session::client(config, SbeEncoding::new(), MemoryStore::new(64, 64), id);
    let mut now = NOW;
    client.handle_connected(now);
    let sent = |client: &mut Session<SbeEncoding, MemoryStore>| {
        let mut frames = Vec::new();
        while let Some(t) = client.poll_transmit() {
            let Transmit::Frame { bytes, .. } = t else {
                panic!("closed")
            };
            frames.push(bytes.to_vec());
        }
        frames
    };
    let negotiate = sent(&mut client);
    let ts = decoded(&negotiate[0], |m| match m {
        FixpMessage::Negotiate { timestamp, .. } => timestamp,
        other => panic!("{other:?}"),
    });
    // Conga's server: NegotiationResponse without Credentials, ServerFlow Recoverable (0).
    now += 1_000;
    client.handle_frame(
        now,
        &conga::negotiation_response(id.0, ts, 0),
        FrameKind::Binary,
    );
    let establish = sent(&mut client);
    let ts = decoded(&establish[0], |m| match m {
        FixpMessage::Establish { timestamp, .. } => timestamp,
        other => panic!("{other:?}"),
    });
    // EstablishmentAck in a 256-byte buffer; NextSeqNo = next it expects from us.
    now += 1_000;
    let ack = conga::establishment_ack(id.0, ts, 2000, 1);
    assert_eq!(ack.len(), 256);
    client.handle_frame(now, &ack, FrameKind::Binary);
    assert_eq!(client.state(), SessionState::Established);
    assert_eq!(client.status().tolerated_deviations, 2);

    // Our order reaches Conga as its decoder reads it: header, then the 34-byte block.
    let order = CongaMessage::decode_sbe(&conga::new_order_single("C7", b'2', 4, b'2', 105))
        .expect("order");
    let mut out = [0u8; 64];
    let n = order.encode_sbe(&mut out).unwrap();
    assert_eq!(
        &out[..n],
        &conga::new_order_single("C7", b'2', 4, b'2', 105)[..]
    );
    client.send(now, &out[..n]).expect("send");
    let frames = sent(&mut client);
    assert_eq!(frames.last().map(Vec::as_slice), Some(&out[..n]));

    // Conga's reports: a Trade with a fill, and a Canceled one without the fills group.
    now += 1_000;
    let trade = conga::execution_report(b'F', b'2', Some(&[(105, 4)]));
    let canceled = conga::execution_report(b'4', b'4', None);
    assert_eq!(canceled.len(), 8 + 51);
    client.handle_frame(now, &trade, FrameKind::Binary);
    client.handle_frame(now, &canceled, FrameKind::Binary);
    client.handle_frame(now, &conga::sequence(3), FrameKind::Binary);
    let mut reports = Vec::new();
    while let Some(event) = client.poll_event() {
        if let Event::Message { seq, bytes } = event {
            reports.push((seq, CongaMessage::decode_sbe(bytes).expect("report")));
        }
    }
    assert_eq!(client.state(), SessionState::Established);
    let summary: Vec<_> = reports
        .iter()
        .map(|(seq, m)| match m {
            CongaMessage::ExecutionReport(er) => (
                *seq,
                er.exec_type,
                er.ord_status,
                er.fills.as_slice().to_vec(),
            ),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                1,
                ExecType::Trade,
                OrdStatus::Filled,
                vec![fixp_ws::codec::conga::Fill {
                    fill_px: Price(105),
                    fill_qty: 4
                }]
            ),
            (2, ExecType::Canceled, OrdStatus::Canceled, vec![]),
        ]
    );
}

#[test]
fn conga_order_quirks_decode_as_meant() {
    // A Market order's price is whatever Conga's buffer held: no price.
    let market = conga::new_order_single("M1", b'2', 9, b'1', 0x5eed);
    let Ok(CongaMessage::NewOrderSingle(m)) = CongaMessage::decode_sbe(&market) else {
        panic!("market order");
    };
    assert_eq!((m.ord_type, m.price), (OrdType::Market, None));
    // A report cut anywhere but at the fills group is still an error.
    let trade = conga::execution_report(b'F', b'2', Some(&[(105, 4)]));
    for n in 0..trade.len() {
        if n == 8 + 51 {
            continue;
        }
        assert!(CongaMessage::decode_sbe(&trade[..n]).is_err(), "prefix {n}");
    }
    // The strict flyweight still refuses the report without its group.
    let canceled = conga::execution_report(b'4', b'4', None);
    assert!(fixp_ws::codec::sbe::conga::ExecutionReportDecoder::decode(&canceled).is_err());
    assert!(CongaMessage::decode_sbe(&canceled).is_ok());
}

/// Conga's client bytes over a real WebSocket (plain `ws://`, subprotocol `binary`) to an
/// engine serving the demo's acceptor: Negotiate, Establish and an order go through.
#[test]
fn congas_bytes_over_a_websocket_reach_the_strategy() {
    use std::net::TcpStream;
    use tungstenite::client::IntoClientRequest;
    use tungstenite::Message;

    let mut server = engine_support::start_server(false, engine_support::test_config(2000));
    let mut request = format!("ws://{}/fixp", server.addr)
        .into_client_request()
        .expect("request");
    request
        .headers_mut()
        .insert("Sec-WebSocket-Protocol", "binary".parse().unwrap());
    let stream = TcpStream::connect(server.addr).expect("connect");
    stream
        .set_read_timeout(Some(engine_support::GUARD))
        .expect("timeout");
    let (mut ws, response) = tungstenite::client::client(request, stream).expect("upgrade");
    assert_eq!(
        response
            .headers()
            .get("Sec-WebSocket-Protocol")
            .map(|v| v.as_bytes()),
        Some(&b"binary"[..])
    );
    let next_binary = |ws: &mut tungstenite::WebSocket<TcpStream>| loop {
        match ws.read().expect("read") {
            Message::Binary(b) => return b.to_vec(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    };

    let negotiate = unhex(CONGA_NEGOTIATE_HEX);
    let session_id: [u8; 16] = negotiate[8..24].try_into().unwrap();
    let timestamp = u64::from_le_bytes(negotiate[24..32].try_into().unwrap());
    ws.send(Message::binary(negotiate)).expect("send");
    let response = next_binary(&mut ws);
    decoded(&response, |m| {
        assert!(matches!(
            m,
            FixpMessage::NegotiationResponse { request_timestamp, .. } if request_timestamp == timestamp
        ))
    });
    ws.send(Message::binary(conga::establish(
        session_id,
        timestamp + 1,
        2000,
        1,
    )))
    .expect("send");
    let ack = next_binary(&mut ws);
    decoded(&ack, |m| {
        assert!(
            matches!(m, FixpMessage::EstablishmentAck { request_timestamp, .. } if request_timestamp == timestamp + 1)
        )
    });
    let order = conga::new_order_single("W1", b'1', 2, b'2', 9999);
    ws.send(Message::binary(order.clone())).expect("send");

    let mut handle = engine_support::accept(&mut server);
    assert_eq!(handle.session_id(), SessionId(session_id));
    let mut seen = engine_support::Seen::default();
    engine_support::wait_until(&mut handle, &mut seen, "the order", |s| {
        !s.messages.is_empty()
    });
    assert_eq!(seen.messages[0], (1, order));
    let _ = ws.close(None);
    server.engine.shutdown();
    let _ = server.engine.join();
}
