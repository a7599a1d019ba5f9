//! The session core over the Conga-compatible JSON encoding: a full lifecycle between two of
//! our sessions, and Conga's own frames (from `data/spec/conga-json-examples`) against our
//! acceptor and client.

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::json::JsonEncoding;
use fixp_ws::codec::{Encoding, FixpMessage, FrameKind, Inbound, SessionId};
use fixp_ws::session::{
    AcceptAll, Acceptor, AcceptorConfig, ConnectionId, Event, MemoryStore, Session, SessionConfig,
    SessionState, Transmit,
};

type JsonAcceptor =
    Acceptor<JsonEncoding, MemoryStore, AcceptAll, fn(SessionId) -> (JsonEncoding, MemoryStore)>;

fn factory(_: SessionId) -> (JsonEncoding, MemoryStore) {
    (JsonEncoding::new(), MemoryStore::new(1024, 1024))
}

fn acceptor() -> JsonAcceptor {
    Acceptor::new(
        AcceptorConfig::default(),
        JsonEncoding::new(),
        AcceptAll,
        factory as fn(SessionId) -> (JsonEncoding, MemoryStore),
    )
}

fn example(kind: &str, name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data/spec/conga-json-examples")
        .join(kind)
        .join(name);
    let text = std::fs::read_to_string(path).expect("example");
    text.trim_end().as_bytes().to_vec()
}

/// Frames in both directions until quiet; returns the Close codes seen (client, server).
fn pump(
    client: &mut Session<JsonEncoding, MemoryStore>,
    server: &mut JsonAcceptor,
    conn: ConnectionId,
    now: u64,
) -> (Option<u16>, Option<u16>) {
    let (mut client_close, mut server_close) = (None, None);
    loop {
        let mut moved = false;
        while let Some(t) = client.poll_transmit() {
            moved = true;
            match t {
                Transmit::Frame { bytes, kind } => {
                    assert_eq!(kind, FrameKind::Text);
                    let b = bytes.to_vec();
                    server.handle_frame(now, conn, &b, kind);
                }
                Transmit::Close { code, .. } => {
                    client_close = Some(code);
                    server.handle_close(now, conn, code);
                }
            }
        }
        while let Some((_, t)) = server.poll_transmit() {
            moved = true;
            match t {
                Transmit::Frame { bytes, kind } => {
                    assert_eq!(kind, FrameKind::Text);
                    let b = bytes.to_vec();
                    client.handle_frame(now, &b, kind);
                }
                Transmit::Close { code, .. } => {
                    server_close = Some(code);
                    client.handle_close(now, code);
                }
            }
        }
        if !moved {
            return (client_close, server_close);
        }
    }
}

#[test]
fn json_lifecycle_negotiate_establish_orders_both_ways_and_two_way_finalization() {
    let id = SessionId::from_random_bytes([9; 16]);
    let config = SessionConfig {
        flow: FlowType::Idempotent,
        ..SessionConfig::default()
    };
    let mut client = Session::client(config, JsonEncoding::new(), MemoryStore::new(16, 16), id);
    let mut server = acceptor();
    let conn = ConnectionId(1);
    let now = 1_700_000_000_000_000_000;
    client.handle_connected(now);
    pump(&mut client, &mut server, conn, now);
    assert_eq!(client.state(), SessionState::Established);

    let order = example("application", "NewOrderSingle.json");
    assert_eq!(client.send(now, &order), Ok(1));
    pump(&mut client, &mut server, conn, now);
    let mut got = None;
    while let Some((sid, e)) = server.poll_event() {
        if let Event::Message { seq, bytes } = e {
            got = Some((sid, seq, bytes.to_vec()));
        }
    }
    assert_eq!(got, Some((id, 1, order)));

    let report = example("application", "ExecutionReport-New.json");
    assert_eq!(server.session_mut(id).unwrap().send(now, &report), Ok(1));
    pump(&mut client, &mut server, conn, now);
    let mut got = None;
    while let Some(e) = client.poll_event() {
        if let Event::Message { seq, bytes } = e {
            got = Some((seq, bytes.to_vec()));
        }
    }
    assert_eq!(got, Some((1, report)));

    client.finalize(now);
    pump(&mut client, &mut server, conn, now);
    server.session_mut(id).unwrap().finalize(now);
    let (client_close, _) = pump(&mut client, &mut server, conn, now);
    assert_eq!(client_close, Some(1000));
    assert_eq!(client.state(), SessionState::Finalized);
    assert_eq!(
        server.session(id).map(|s| s.state()),
        Some(SessionState::Finalized)
    );
}

#[test]
fn conga_client_frames_negotiate_establish_and_unsequenced_order_are_accepted() {
    let mut server = acceptor();
    let conn = ConnectionId(1);
    let now = 1_700_000_000_200_000_000;
    server.handle_frame(
        now,
        conn,
        &example("session", "Negotiate.json"),
        FrameKind::Text,
    );
    server.handle_frame(
        now,
        conn,
        &example("session", "Establish.json"),
        FrameKind::Text,
    );
    let mut decoder = JsonEncoding::new();
    let mut templates = Vec::new();
    while let Some((c, t)) = server.poll_transmit() {
        assert_eq!(c, conn);
        let Transmit::Frame { bytes, kind } = t else {
            panic!("unexpected Close")
        };
        let bytes = bytes.to_vec();
        match decoder.decode(&bytes, kind).expect("our JSON decodes") {
            Inbound::Fixp(FixpMessage::NegotiationResponse {
                request_timestamp, ..
            }) => {
                assert_eq!(request_timestamp, 1_700_000_000_123_456_789);
                templates.push("NegotiationResponse");
            }
            Inbound::Fixp(FixpMessage::EstablishmentAck {
                request_timestamp, ..
            }) => {
                assert_eq!(request_timestamp, 1_700_000_000_123_456_790);
                templates.push("EstablishmentAck");
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(templates, ["NegotiationResponse", "EstablishmentAck"]);
    // Conga sends no Sequence: its first order is number 1 (Establish.nextSeqNo on an
    // Idempotent flow is ignored).
    let order = example("application", "NewOrderSingle.json");
    server.handle_frame(now, conn, &order, FrameKind::Text);
    let mut seqs = Vec::new();
    while let Some((_, e)) = server.poll_event() {
        if let Event::Message { seq, .. } = e {
            seqs.push(seq);
        }
    }
    assert_eq!(seqs, [1]);
}

#[test]
fn conga_server_json_in_binary_frames_is_accepted_by_our_client() {
    let id = SessionId([
        63, 42, 140, 30, 91, 125, 78, 33, 154, 16, 196, 110, 1, 35, 69, 103,
    ]);
    let mut client = Session::client(
        SessionConfig::default(),
        JsonEncoding::new(),
        MemoryStore::new(16, 16),
        id,
    );
    // The clock matches Conga's example timestamps, so the responses echo ours.
    client.handle_connected(1_700_000_000_123_456_789);
    while client.poll_transmit().is_some() {}
    client.handle_frame(
        1_700_000_000_123_456_790,
        &example("session", "NegotiationResponse.json"),
        FrameKind::Binary,
    );
    assert_eq!(client.state(), SessionState::Establishing);
    while client.poll_transmit().is_some() {}
    client.handle_frame(
        1_700_000_000_123_456_791,
        &example("session", "EstablishmentAck.json"),
        FrameKind::Binary,
    );
    assert_eq!(client.state(), SessionState::Established);
    assert_eq!(client.status().inbound_flow, Some(FlowType::Recoverable));
}
