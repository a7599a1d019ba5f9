//! Test-only helpers for the session tests: a tiny binary encoding (until the SBE and JSON
//! encodings land), a simulated link between two sessions, and event collectors.
#![allow(dead_code)]

use fixp_ws::codec::fixp::{
    EstablishmentRejectCode, FlowType, NegotiationRejectCode, RetransmitRejectCode, TerminationCode,
};
use fixp_ws::codec::{Encoding, FixpMessage, FrameKind, Inbound, SessionId};
use fixp_ws::session::{
    AcceptAll, Acceptor, AcceptorConfig, Authenticator, ConnectionId, Event, MemoryStore, Session,
    SessionConfig, Transmit,
};

/// The encoding the session tests run on: the project's SBE encoding.
pub type TestEncoding = fixp_ws::codec::sbe::SbeEncoding;

/// SBE header of the test application messages: blockLength 8, template 1, schema 100
/// (Conga's orders schema id, so not FIXP), version 0.
pub const APP_HEADER: [u8; 8] = [8, 0, 1, 0, 100, 0, 0, 0];

/// Encodes a session message with [`TestEncoding`].
pub fn enc(msg: &FixpMessage<'_>) -> Vec<u8> {
    let mut buf = [0u8; 512];
    let n = TestEncoding::new().encode(msg, &mut buf).unwrap();
    buf[..n].to_vec()
}

/// Decodes a frame with [`TestEncoding`] into an owned description for assertions.
pub fn dec(frame: &[u8]) -> Decoded {
    let mut e = TestEncoding::new();
    match e.decode(frame, FrameKind::Binary).unwrap() {
        Inbound::Application(b) => Decoded::App(b.to_vec()),
        Inbound::Fixp(m) => Decoded::Fixp(format!("{m:?}"), owned(m)),
    }
}

/// An owned, comparable copy of the fields tests look at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Msg {
    Negotiate {
        id: SessionId,
        ts: u64,
        flow: FlowType,
    },
    NegotiationResponse {
        id: SessionId,
        ts: u64,
        flow: FlowType,
    },
    NegotiationReject {
        id: SessionId,
        ts: u64,
        code: NegotiationRejectCode,
    },
    Establish {
        id: SessionId,
        ts: u64,
        keepalive: u32,
        next: Option<u64>,
    },
    EstablishmentAck {
        id: SessionId,
        ts: u64,
        keepalive: u32,
        next: Option<u64>,
    },
    EstablishmentReject {
        id: SessionId,
        ts: u64,
        code: EstablishmentRejectCode,
    },
    Sequence(u64),
    UnsequencedHeartbeat,
    RetransmitRequest {
        ts: u64,
        from: u64,
        count: u32,
    },
    Retransmission {
        ts: u64,
        next: u64,
        count: u32,
    },
    RetransmitReject {
        ts: u64,
        code: RetransmitRejectCode,
    },
    FinishedSending(Option<u64>),
    FinishedReceiving,
    Terminate {
        code: TerminationCode,
        reason: String,
    },
    Applied {
        from: u64,
        count: u32,
    },
    NotApplied {
        from: u64,
        count: u32,
    },
    Other,
}

fn owned(m: FixpMessage<'_>) -> Msg {
    match m {
        FixpMessage::Negotiate {
            session_id,
            timestamp,
            client_flow,
            ..
        } => Msg::Negotiate {
            id: session_id,
            ts: timestamp,
            flow: client_flow,
        },
        FixpMessage::NegotiationResponse {
            session_id,
            request_timestamp,
            server_flow,
            ..
        } => Msg::NegotiationResponse {
            id: session_id,
            ts: request_timestamp,
            flow: server_flow,
        },
        FixpMessage::NegotiationReject {
            session_id,
            request_timestamp,
            code,
            ..
        } => Msg::NegotiationReject {
            id: session_id,
            ts: request_timestamp,
            code,
        },
        FixpMessage::Establish {
            session_id,
            timestamp,
            keepalive_interval,
            next_seq_no,
            ..
        } => Msg::Establish {
            id: session_id,
            ts: timestamp,
            keepalive: keepalive_interval,
            next: next_seq_no,
        },
        FixpMessage::EstablishmentAck {
            session_id,
            request_timestamp,
            keepalive_interval,
            next_seq_no,
        } => Msg::EstablishmentAck {
            id: session_id,
            ts: request_timestamp,
            keepalive: keepalive_interval,
            next: next_seq_no,
        },
        FixpMessage::EstablishmentReject {
            session_id,
            request_timestamp,
            code,
            ..
        } => Msg::EstablishmentReject {
            id: session_id,
            ts: request_timestamp,
            code,
        },
        FixpMessage::Sequence { next_seq_no } => Msg::Sequence(next_seq_no),
        FixpMessage::UnsequencedHeartbeat => Msg::UnsequencedHeartbeat,
        FixpMessage::RetransmitRequest {
            timestamp,
            from_seq_no,
            count,
            ..
        } => Msg::RetransmitRequest {
            ts: timestamp,
            from: from_seq_no,
            count,
        },
        FixpMessage::Retransmission {
            request_timestamp,
            next_seq_no,
            count,
            ..
        } => Msg::Retransmission {
            ts: request_timestamp,
            next: next_seq_no,
            count,
        },
        FixpMessage::RetransmitReject {
            request_timestamp,
            code,
            ..
        } => Msg::RetransmitReject {
            ts: request_timestamp,
            code,
        },
        FixpMessage::FinishedSending { last_seq_no, .. } => Msg::FinishedSending(last_seq_no),
        FixpMessage::FinishedReceiving { .. } => Msg::FinishedReceiving,
        FixpMessage::Terminate { code, reason, .. } => Msg::Terminate {
            code,
            reason: String::from_utf8_lossy(reason).into_owned(),
        },
        FixpMessage::Applied { from_seq_no, count } => Msg::Applied {
            from: from_seq_no,
            count,
        },
        FixpMessage::NotApplied { from_seq_no, count } => Msg::NotApplied {
            from: from_seq_no,
            count,
        },
        _ => Msg::Other,
    }
}

/// A decoded outbound frame.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decoded {
    /// An application message (bytes include the tag).
    App(Vec<u8>),
    /// A FIXP message (debug text, owned copy).
    Fixp(String, Msg),
}

/// What a session put on the wire, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Out {
    /// A FIXP message.
    Msg(Msg),
    /// An application message with its payload (without the tag).
    App(Vec<u8>),
    /// A Close.
    Close(u16, String),
}

/// Application message bytes with payload `n` (SBE header + 8 bytes).
pub fn app(n: u64) -> Vec<u8> {
    let mut v = APP_HEADER.to_vec();
    v.extend_from_slice(&n.to_le_bytes());
    v
}

/// The payload number of an application message made by [`app`].
pub fn app_value(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes[8..16].try_into().unwrap())
}

/// Drains a session's transmits.
pub fn drain<S: fixp_ws::session::RetransmitStore>(s: &mut Session<TestEncoding, S>) -> Vec<Out> {
    let mut out = Vec::new();
    while let Some(t) = s.poll_transmit() {
        out.push(to_out(t));
    }
    out
}

/// Converts one transmit.
pub fn to_out(t: Transmit<'_>) -> Out {
    match t {
        Transmit::Frame { bytes, .. } => match dec(bytes) {
            Decoded::App(b) => Out::App(b[8..].to_vec()),
            Decoded::Fixp(_, m) => Out::Msg(m),
        },
        Transmit::Close { code, reason } => Out::Close(code, reason.to_string()),
    }
}

/// An owned event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Ev {
    /// Anything but a message (debug text).
    Other(String),
    /// A message: seq and payload number.
    Message(u64, u64),
}

/// Drains a session's events.
pub fn events<S: fixp_ws::session::RetransmitStore>(s: &mut Session<TestEncoding, S>) -> Vec<Ev> {
    let mut out = Vec::new();
    while let Some(e) = s.poll_event() {
        out.push(match e {
            Event::Message { seq, bytes } => Ev::Message(seq, app_value(bytes)),
            other => Ev::Other(format!("{other:?}")),
        });
    }
    out
}

/// Messages delivered in `evs`, as (seq, payload).
pub fn messages(evs: &[Ev]) -> Vec<(u64, u64)> {
    evs.iter()
        .filter_map(|e| match e {
            Ev::Message(s, v) => Some((*s, *v)),
            _ => None,
        })
        .collect()
}

/// True if some event's debug text contains `needle`.
pub fn has(evs: &[Ev], needle: &str) -> bool {
    evs.iter()
        .any(|e| matches!(e, Ev::Other(t) if t.contains(needle)))
}

/// A fixed session id.
pub fn sid(n: u8) -> SessionId {
    SessionId::from_random_bytes([n; 16])
}

/// One millisecond in ns.
pub const MS: u64 = 1_000_000;

/// The server-side test acceptor type.
pub type TestAcceptor = TestAcceptorWith<AcceptAll>;

/// The server-side test acceptor type with authenticator `A`.
pub type TestAcceptorWith<A> =
    Acceptor<TestEncoding, MemoryStore, A, fn(SessionId) -> (TestEncoding, MemoryStore)>;

/// A fresh test store.
pub fn store() -> MemoryStore {
    MemoryStore::new(4096, 64)
}

fn factory(_: SessionId) -> (TestEncoding, MemoryStore) {
    (TestEncoding::new(), store())
}

/// An acceptor with `server_flow`.
pub fn acceptor(server_flow: FlowType) -> TestAcceptor {
    acceptor_with(server_flow, AcceptAll)
}

/// An acceptor with `server_flow` that authenticates with `authenticator`.
pub fn acceptor_with<A: Authenticator>(
    server_flow: FlowType,
    authenticator: A,
) -> TestAcceptorWith<A> {
    let mut config = AcceptorConfig::default();
    config.session.flow = server_flow;
    Acceptor::new(
        config,
        TestEncoding::new(),
        authenticator,
        factory as fn(SessionId) -> (TestEncoding, MemoryStore),
    )
}

/// A client with `flow`.
pub fn client(flow: FlowType, id: SessionId) -> Session<TestEncoding, MemoryStore> {
    let config = SessionConfig {
        flow,
        ..SessionConfig::default()
    };
    Session::client(config, TestEncoding::new(), store(), id)
}

/// Client + acceptor over one simulated connection; frames move only when `pump` runs.
pub struct Pair<A: Authenticator = AcceptAll> {
    /// The client.
    pub client: Session<TestEncoding, MemoryStore>,
    /// The server table.
    pub server: TestAcceptorWith<A>,
    /// The current connection.
    pub conn: ConnectionId,
    /// Simulated time, ns.
    pub now: u64,
    /// Everything the client sent, in order.
    pub client_log: Vec<Out>,
    /// Everything the server sent, in order.
    pub server_log: Vec<Out>,
    /// Whether the connection is up.
    pub connected: bool,
    /// The TLS client identity the server sees on the connection.
    pub peer: Option<fixp_ws::session::PeerIdentity>,
}

impl Pair {
    /// A pair with the given flows; not yet connected.
    pub fn new(client_flow: FlowType, server_flow: FlowType) -> Self {
        Pair::with(client(client_flow, sid(7)), acceptor(server_flow))
    }
}

impl<A: Authenticator> Pair<A> {
    /// A pair of this client and server; not yet connected.
    pub fn with(client: Session<TestEncoding, MemoryStore>, server: TestAcceptorWith<A>) -> Self {
        Pair {
            client,
            server,
            conn: ConnectionId(1),
            now: 1_700_000_000_000_000_000,
            client_log: Vec::new(),
            server_log: Vec::new(),
            connected: false,
            peer: None,
        }
    }

    /// Connects (new connection id) and runs the handshake to completion.
    pub fn connect(&mut self) {
        self.conn = ConnectionId(self.conn.0 + 1);
        self.connected = true;
        self.client.handle_connected(self.now);
        self.pump();
    }

    /// Moves frames both ways until quiet. Closes tear the connection down.
    pub fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit() {
                moved = true;
                let bytes = frame_bytes(&t);
                let out = to_out(t);
                self.client_log.push(out.clone());
                if !self.connected {
                    continue;
                }
                match out {
                    Out::Close(code, _) => {
                        self.server.handle_close(self.now, self.conn, code);
                        self.connected = false;
                        self.server.handle_disconnected(self.now, self.conn);
                    }
                    _ => {
                        self.server.handle_frame_from(
                            self.now,
                            self.conn,
                            self.peer.as_ref(),
                            &bytes,
                            FrameKind::Binary,
                        );
                    }
                }
            }
            while let Some((conn, t)) = self.server.poll_transmit() {
                moved = true;
                let bytes = frame_bytes(&t);
                let out = to_out(t);
                self.server_log.push(out.clone());
                if !self.connected || conn != self.conn {
                    continue;
                }
                match out {
                    Out::Close(code, _) => {
                        self.client.handle_close(self.now, code);
                        self.connected = false;
                        self.server.handle_disconnected(self.now, self.conn);
                        self.client.handle_disconnected(self.now);
                    }
                    _ => {
                        self.client
                            .handle_frame(self.now, &bytes, FrameKind::Binary);
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("livelock");
    }

    /// Drops the connection without a Close.
    pub fn drop_connection(&mut self) {
        self.connected = false;
        self.client.handle_disconnected(self.now);
        self.server.handle_disconnected(self.now, self.conn);
    }

    /// Advances time by `ns` and fires timers on both sides.
    pub fn advance(&mut self, ns: u64) {
        self.now += ns;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.pump();
    }

    /// The server session.
    pub fn server_session(&mut self) -> &mut Session<TestEncoding, MemoryStore> {
        let id = self.client.session_id();
        self.server.session_mut(id).unwrap()
    }

    /// Server events (owned).
    pub fn server_events(&mut self) -> Vec<Ev> {
        let mut out = Vec::new();
        while let Some((_, e)) = self.server.poll_event() {
            out.push(match e {
                Event::Message { seq, bytes } => Ev::Message(seq, app_value(bytes)),
                other => Ev::Other(format!("{other:?}")),
            });
        }
        out
    }
}

/// The bytes of a frame transmit (empty for a Close).
pub fn frame_bytes(t: &Transmit<'_>) -> Vec<u8> {
    match t {
        Transmit::Frame { bytes, .. } => bytes.to_vec(),
        Transmit::Close { .. } => Vec::new(),
    }
}

/// Re-encodes an [`Out`] into wire bytes (for forwarding).
pub fn raw(out: &Out) -> Vec<u8> {
    match out {
        Out::App(p) => {
            let mut v = APP_HEADER.to_vec();
            v.extend_from_slice(p);
            v
        }
        Out::Msg(m) => enc(&to_fixp(m)),
        Out::Close(..) => Vec::new(),
    }
}

fn to_fixp(m: &Msg) -> FixpMessage<'static> {
    let id = sid(0);
    match *m {
        // Forwarded without its reason text (the message model borrows it).
        Msg::Terminate { code, .. } => FixpMessage::Terminate {
            session_id: id,
            code,
            reason: &[],
        },
        Msg::Negotiate { id, ts, flow } => FixpMessage::Negotiate {
            session_id: id,
            timestamp: ts,
            client_flow: flow,
            credentials: &[],
        },
        Msg::NegotiationResponse { id, ts, flow } => FixpMessage::NegotiationResponse {
            session_id: id,
            request_timestamp: ts,
            server_flow: flow,
            credentials: &[],
        },
        Msg::NegotiationReject { id, ts, code } => FixpMessage::NegotiationReject {
            session_id: id,
            request_timestamp: ts,
            code,
            reason: &[],
        },
        Msg::Establish {
            id,
            ts,
            keepalive,
            next,
        } => FixpMessage::Establish {
            session_id: id,
            timestamp: ts,
            keepalive_interval: keepalive,
            next_seq_no: next,
            credentials: &[],
        },
        Msg::EstablishmentAck {
            id,
            ts,
            keepalive,
            next,
        } => FixpMessage::EstablishmentAck {
            session_id: id,
            request_timestamp: ts,
            keepalive_interval: keepalive,
            next_seq_no: next,
        },
        Msg::EstablishmentReject { id, ts, code } => FixpMessage::EstablishmentReject {
            session_id: id,
            request_timestamp: ts,
            code,
            reason: &[],
        },
        Msg::Sequence(n) => FixpMessage::Sequence { next_seq_no: n },
        Msg::UnsequencedHeartbeat => FixpMessage::UnsequencedHeartbeat,
        Msg::RetransmitRequest { ts, from, count } => FixpMessage::RetransmitRequest {
            session_id: id,
            timestamp: ts,
            from_seq_no: from,
            count,
        },
        Msg::Retransmission { ts, next, count } => FixpMessage::Retransmission {
            session_id: id,
            request_timestamp: ts,
            next_seq_no: next,
            count,
        },
        Msg::RetransmitReject { ts, code } => FixpMessage::RetransmitReject {
            session_id: id,
            request_timestamp: ts,
            code,
            reason: &[],
        },
        Msg::FinishedSending(l) => FixpMessage::FinishedSending {
            session_id: id,
            last_seq_no: l,
        },
        Msg::FinishedReceiving => FixpMessage::FinishedReceiving { session_id: id },
        Msg::Applied { from, count } => FixpMessage::Applied {
            from_seq_no: from,
            count,
        },
        Msg::NotApplied { from, count } => FixpMessage::NotApplied {
            from_seq_no: from,
            count,
        },
        Msg::Other => FixpMessage::UnsequencedHeartbeat,
    }
}

/// Runs a fresh client's handshake at time `now` against a scripted server (server keepalive
/// 1000 ms, EstablishmentAck NextSeqNo `ack_next`). Frames and events are left undrained.
pub fn establish<S: fixp_ws::session::RetransmitStore>(
    c: &mut Session<TestEncoding, S>,
    server_flow: FlowType,
    ack_next: Option<u64>,
    now: u64,
) {
    c.handle_connected(now);
    let Out::Msg(Msg::Negotiate { id, ts, .. }) = drain(c)[0].clone() else {
        panic!("Negotiate expected")
    };
    feed(
        c,
        now,
        &FixpMessage::NegotiationResponse {
            session_id: id,
            request_timestamp: ts,
            server_flow,
            credentials: &[],
        },
    );
    let Out::Msg(Msg::Establish { ts, .. }) = drain(c)[0].clone() else {
        panic!("Establish expected")
    };
    feed(
        c,
        now,
        &FixpMessage::EstablishmentAck {
            session_id: id,
            request_timestamp: ts,
            keepalive_interval: 1000,
            next_seq_no: ack_next,
        },
    );
}

/// A client established against a scripted server (server keepalive 1000 ms), with its
/// handshake frames drained. Returns the session and the current time.
pub fn established_client(
    client_flow: FlowType,
    server_flow: FlowType,
    ack_next: Option<u64>,
) -> (Session<TestEncoding, MemoryStore>, u64) {
    let mut c = client(client_flow, sid(3));
    let now = 1_000_000_000;
    establish(&mut c, server_flow, ack_next, now);
    assert_eq!(c.state(), fixp_ws::session::SessionState::Established);
    drain(&mut c);
    events(&mut c);
    (c, now)
}

/// Feeds one FIXP message to a session.
pub fn feed<S: fixp_ws::session::RetransmitStore>(
    s: &mut Session<TestEncoding, S>,
    now: u64,
    msg: &FixpMessage<'_>,
) {
    s.handle_frame(now, &enc(msg), FrameKind::Binary);
}

/// Feeds one application message with payload `n`.
pub fn feed_app<S: fixp_ws::session::RetransmitStore>(
    s: &mut Session<TestEncoding, S>,
    now: u64,
    n: u64,
) {
    s.handle_frame(now, &app(n), FrameKind::Binary);
}

/// The Close in `out`, if any.
pub fn close_of(out: &[Out]) -> Option<(u16, String)> {
    out.iter().find_map(|o| match o {
        Out::Close(c, r) => Some((*c, r.clone())),
        _ => None,
    })
}
