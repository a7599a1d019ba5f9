//! Fuzzes the session core with structured input: a client `Session` and a server `Acceptor`
//! joined by a simulated link, driven by a sequence of operations (connect, lose the
//! transport, move frames, drop frames, advance the simulated clock, send, finalize, inject
//! well-formed FIXP messages with fuzzed fields or raw bytes into either side, on the live
//! connection or on fresh ones). Encoding (SBE or JSON), flows and authentication (none or
//! HMAC) come from the input too.
//!
//! Invariants checked after every operation:
//! - nothing panics;
//! - deliveries on a Recoverable flow are strictly increasing, per session, for ever;
//! - nothing is delivered after `Finalized`;
//! - no deadline is in the past, and after `handle_timeout(now)` every deadline is after `now`;
//! - no frame leaves a side after it sent Close on that binding (client) or connection
//!   (acceptor), and frames fit `max_frame_len`; Close codes are the documented ones and
//!   reasons fit 123 bytes.
#![no_main]

use std::collections::{HashMap, HashSet, VecDeque};

use arbitrary::Arbitrary;
use fixp_ws::codec::fixp::{
    EstablishmentRejectCode, FlowType, NegotiationRejectCode, RetransmitRejectCode, TerminationCode,
};
use fixp_ws::codec::json::JsonEncoding;
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::{Encoding, FixpMessage, FrameKind, Inbound, SessionId};
use fixp_ws::session::auth::{HmacAuthenticator, HmacConfig, HmacKey, Secret};
use fixp_ws::session::{
    AcceptAll, Acceptor, AcceptorConfig, AuthDecision, AuthRequest, Authenticator,
    ClientCredentials, ConnectionId, Event, MemoryStore, Session, SessionConfig, SessionState,
    Transmit, MAX_CLOSE_REASON,
};
use libfuzzer_sys::fuzz_target;

const T0: u64 = 1_700_000_000_000_000_000;
const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const MAX_FRAME: usize = 512;
const MAX_IN_FLIGHT: usize = 4096;

#[derive(Arbitrary, Debug)]
struct Input {
    client_flow: u8,
    server_flow: u8,
    json: bool,
    hmac: bool,
    ops: Vec<Op>,
}

#[derive(Arbitrary, Debug)]
enum Op {
    Connect,
    Lose,
    Pump(u8),
    DropToServer,
    DropToClient,
    Advance(u32),
    ClientSend(u8),
    ServerSend(u8),
    ClientFinalize,
    ServerFinalize,
    ServerUnbind,
    InjectToServer {
        msg: Msg,
        fresh_connection: bool,
    },
    InjectToClient(Msg),
    RawToServer {
        bytes: Vec<u8>,
        text: bool,
        fresh_connection: bool,
    },
    RawToClient {
        bytes: Vec<u8>,
        text: bool,
    },
    /// A reference vector from `data/` (SBE vectors or Conga's JSON examples, as the
    /// encoding is), with our SessionId put in if asked and one byte patched if asked.
    InjectVector {
        index: u8,
        to_server: bool,
        our_id: bool,
        patch: Option<(u16, u8)>,
    },
    CloseToServer(u16),
    CloseToClient(u16),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Id {
    Ours,
    Other([u8; 16]),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Ts {
    /// The last request timestamp the receiving side sent (what an honest answer echoes).
    Echo,
    Now,
    Value(u64),
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Num {
    Small(u8),
    Any(u64),
}

impl Num {
    fn get(self) -> u64 {
        match self {
            Num::Small(n) => u64::from(n),
            Num::Any(n) => n,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Msg {
    Negotiate {
        id: Id,
        ts: Ts,
        flow: u8,
        credentials: Vec<u8>,
    },
    NegotiationResponse {
        id: Id,
        ts: Ts,
        flow: u8,
    },
    NegotiationReject {
        id: Id,
        ts: Ts,
        code: u8,
        reason: Vec<u8>,
    },
    Topic {
        id: Id,
        flow: u8,
        keepalive: u32,
    },
    Establish {
        id: Id,
        ts: Ts,
        keepalive: u32,
        next: Option<Num>,
        credentials: Vec<u8>,
    },
    EstablishmentAck {
        id: Id,
        ts: Ts,
        keepalive: u32,
        next: Option<Num>,
    },
    EstablishmentReject {
        id: Id,
        ts: Ts,
        code: u8,
    },
    Sequence(Num),
    Context {
        id: Id,
        next: Num,
    },
    UnsequencedHeartbeat,
    RetransmitRequest {
        id: Id,
        ts: Ts,
        from: Num,
        count: u32,
    },
    Retransmission {
        id: Id,
        ts: Ts,
        next: Num,
        count: u32,
    },
    RetransmitReject {
        id: Id,
        ts: Ts,
        code: u8,
    },
    Terminate {
        id: Id,
        code: u8,
    },
    FinishedSending {
        id: Id,
        last: Option<Num>,
    },
    FinishedReceiving {
        id: Id,
    },
    Applied {
        from: Num,
        count: u32,
    },
    NotApplied {
        from: Num,
        count: u32,
    },
    MessageTemplate {
        encoding_type: u32,
        effective_time: Option<u64>,
        template: Vec<u8>,
    },
    App(u8),
}

/// The FIXP SBE reference vectors (real-logic generated, `data/sbe-conformance`).
const SBE_VECTORS: &[&[u8]] = &[
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/01_Negotiate.bin"),
    include_bytes!(
        "../../data/sbe-conformance/rl-generated-vectors/fixp/02_NegotiationResponse.bin"
    ),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/03_NegotiationReject.bin"),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/04_Topic.bin"),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/05_Establish.bin"),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/06_EstablishmentAck.bin"),
    include_bytes!(
        "../../data/sbe-conformance/rl-generated-vectors/fixp/07_EstablishmentReject.bin"
    ),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/08_Sequence.bin"),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/09_Context.bin"),
    include_bytes!(
        "../../data/sbe-conformance/rl-generated-vectors/fixp/10_UnsequencedHeartbeat.bin"
    ),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/11_RetransmitRequest.bin"),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/12_Retransmission.bin"),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/13_RestransmitReject.bin"),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/14_Terminate.bin"),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/15_FinishedSending.bin"),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/16_FinishedReceiving.bin"),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/17_Applied.bin"),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/18_NotApplied.bin"),
    include_bytes!("../../data/sbe-conformance/rl-generated-vectors/fixp/19_MessageTemplate.bin"),
];

/// Conga's JSON session and application examples (`data/spec/conga-json-examples`).
const JSON_VECTORS: &[&[u8]] = &[
    include_bytes!("../../data/spec/conga-json-examples/session/Negotiate.json"),
    include_bytes!("../../data/spec/conga-json-examples/session/Negotiate-with-credentials.json"),
    include_bytes!("../../data/spec/conga-json-examples/session/NegotiationResponse.json"),
    include_bytes!("../../data/spec/conga-json-examples/session/NegotiationReject.json"),
    include_bytes!("../../data/spec/conga-json-examples/session/Establish.json"),
    include_bytes!("../../data/spec/conga-json-examples/session/EstablishmentAck.json"),
    include_bytes!("../../data/spec/conga-json-examples/session/EstablishmentReject.json"),
    include_bytes!("../../data/spec/conga-json-examples/session/Sequence.json"),
    include_bytes!("../../data/spec/conga-json-examples/session/RetransmitRequest.json"),
    include_bytes!("../../data/spec/conga-json-examples/session/Retransmission.json"),
    include_bytes!("../../data/spec/conga-json-examples/session/NotApplied.json"),
    include_bytes!("../../data/spec/conga-json-examples/session/FinishedSending.json"),
    include_bytes!("../../data/spec/conga-json-examples/session/FinishedReceiving.json"),
    include_bytes!("../../data/spec/conga-json-examples/application/NewOrderSingle.json"),
    include_bytes!("../../data/spec/conga-json-examples/application/ExecutionReport-New.json"),
];

/// Puts `id` in place of the vector's SessionId: bytes 8..24 in SBE (the first field of
/// every session template that has one), the `sessionId` array in JSON.
fn with_session_id(vector: &[u8], id: SessionId, json: bool) -> Vec<u8> {
    let mut out = vector.to_vec();
    if !json {
        if let Some(field) = out.get_mut(8..24) {
            field.copy_from_slice(&id.0);
        }
        return out;
    }
    let key = b"\"sessionId\":[";
    let Some(start) = out
        .windows(key.len())
        .position(|w| w == key)
        .map(|p| p + key.len())
    else {
        return out;
    };
    let Some(len) = out
        .get(start..)
        .and_then(|rest| rest.iter().position(|&b| b == b']'))
    else {
        return out;
    };
    let text: Vec<String> = id.0.iter().map(|&b| (b as i8).to_string()).collect();
    out.splice(start..start + len, text.join(",").into_bytes());
    out
}

fn pick<T: Copy>(all: &[T], n: u8) -> T {
    all[usize::from(n) % all.len()]
}

/// Either authenticator, chosen by the input.
enum FuzzAuth {
    Anyone(AcceptAll),
    Hmac(HmacAuthenticator),
}

impl Authenticator for FuzzAuth {
    fn authenticate(&mut self, request: &AuthRequest<'_>) -> AuthDecision {
        match self {
            FuzzAuth::Anyone(a) => a.authenticate(request),
            FuzzAuth::Hmac(a) => a.authenticate(request),
        }
    }

    fn session_ended(&mut self, id: SessionId) {
        match self {
            FuzzAuth::Anyone(a) => a.session_ended(id),
            FuzzAuth::Hmac(a) => a.session_ended(id),
        }
    }
}

type Server<E> = Acceptor<E, MemoryStore, FuzzAuth, fn(SessionId) -> (E, MemoryStore)>;

/// One frame on the simulated link.
enum Wire {
    Frame(Vec<u8>, FrameKind),
    Close(u16),
}

struct Harness<E: Encoding> {
    client: Session<E, MemoryStore>,
    server: Server<E>,
    encoding: E,
    app_frame: fn(u8) -> Vec<u8>,
    client_id: SessionId,
    now: u64,
    conn: ConnectionId,
    next_conn: u64,
    connected: bool,
    to_server: VecDeque<Wire>,
    to_client: VecDeque<Wire>,
    /// Last Negotiate/Establish/RetransmitRequest timestamp the client sent.
    client_request_ts: u64,
    /// Last RetransmitRequest timestamp the server sent.
    server_request_ts: u64,
    client_closed: bool,
    server_closed: HashSet<ConnectionId>,
    client_last_seq: u64,
    client_finalized: bool,
    server_last_seq: HashMap<SessionId, u64>,
    server_finalized: HashSet<SessionId>,
}

fn check_transmit(t: &Transmit<'_>) {
    match t {
        Transmit::Frame { bytes, .. } => assert!(bytes.len() <= MAX_FRAME, "frame too long"),
        Transmit::Close { code, reason } => {
            assert!(
                matches!(code, 1000 | 1002 | 1008 | 1011),
                "close code {code}"
            );
            assert!(reason.len() <= MAX_CLOSE_REASON, "close reason too long");
        }
    }
}

impl<E: Encoding> Harness<E> {
    fn id(&self, id: Id) -> SessionId {
        match id {
            Id::Ours => self.client_id,
            Id::Other(bytes) => SessionId(bytes),
        }
    }

    fn ts(&self, ts: Ts, echo: u64) -> u64 {
        match ts {
            Ts::Echo => echo,
            Ts::Now => self.now,
            Ts::Value(v) => v,
        }
    }

    fn fresh_connection(&mut self) -> ConnectionId {
        self.next_conn += 1;
        ConnectionId(self.next_conn)
    }

    /// Encodes `msg` as a frame for the side whose last request timestamp is `echo`.
    fn encode(&mut self, msg: &Msg, echo: u64) -> Option<(Vec<u8>, FrameKind)> {
        let flows = FlowType::ALL;
        let fixp = match *msg {
            Msg::App(n) => return Some(((self.app_frame)(n), self.encoding.frame_kind())),
            Msg::Negotiate {
                id,
                ts,
                flow,
                ref credentials,
            } => FixpMessage::Negotiate {
                session_id: self.id(id),
                timestamp: self.ts(ts, echo),
                client_flow: pick(flows, flow),
                credentials,
            },
            Msg::NegotiationResponse { id, ts, flow } => FixpMessage::NegotiationResponse {
                session_id: self.id(id),
                request_timestamp: self.ts(ts, echo),
                server_flow: pick(flows, flow),
                credentials: &[],
            },
            Msg::NegotiationReject {
                id,
                ts,
                code,
                ref reason,
            } => FixpMessage::NegotiationReject {
                session_id: self.id(id),
                request_timestamp: self.ts(ts, echo),
                code: pick(NegotiationRejectCode::ALL, code),
                reason,
            },
            Msg::Topic {
                id,
                flow,
                keepalive,
            } => FixpMessage::Topic {
                session_id: self.id(id),
                flow: pick(flows, flow),
                keepalive_interval: keepalive,
                classification: &[],
            },
            Msg::Establish {
                id,
                ts,
                keepalive,
                next,
                ref credentials,
            } => FixpMessage::Establish {
                session_id: self.id(id),
                timestamp: self.ts(ts, echo),
                keepalive_interval: keepalive,
                next_seq_no: next.map(Num::get),
                credentials,
            },
            Msg::EstablishmentAck {
                id,
                ts,
                keepalive,
                next,
            } => FixpMessage::EstablishmentAck {
                session_id: self.id(id),
                request_timestamp: self.ts(ts, echo),
                keepalive_interval: keepalive,
                next_seq_no: next.map(Num::get),
            },
            Msg::EstablishmentReject { id, ts, code } => FixpMessage::EstablishmentReject {
                session_id: self.id(id),
                request_timestamp: self.ts(ts, echo),
                code: pick(EstablishmentRejectCode::ALL, code),
                reason: &[],
            },
            Msg::Sequence(n) => FixpMessage::Sequence {
                next_seq_no: n.get(),
            },
            Msg::Context { id, next } => FixpMessage::Context {
                session_id: self.id(id),
                next_seq_no: next.get(),
            },
            Msg::UnsequencedHeartbeat => FixpMessage::UnsequencedHeartbeat,
            Msg::RetransmitRequest {
                id,
                ts,
                from,
                count,
            } => FixpMessage::RetransmitRequest {
                session_id: self.id(id),
                timestamp: self.ts(ts, self.now),
                from_seq_no: from.get(),
                count,
            },
            Msg::Retransmission {
                id,
                ts,
                next,
                count,
            } => FixpMessage::Retransmission {
                session_id: self.id(id),
                request_timestamp: self.ts(ts, echo),
                next_seq_no: next.get(),
                count,
            },
            Msg::RetransmitReject { id, ts, code } => FixpMessage::RetransmitReject {
                session_id: self.id(id),
                request_timestamp: self.ts(ts, echo),
                code: pick(RetransmitRejectCode::ALL, code),
                reason: &[],
            },
            Msg::Terminate { id, code } => FixpMessage::Terminate {
                session_id: self.id(id),
                code: pick(TerminationCode::ALL, code),
                reason: &[],
            },
            Msg::FinishedSending { id, last } => FixpMessage::FinishedSending {
                session_id: self.id(id),
                last_seq_no: last.map(Num::get),
            },
            Msg::FinishedReceiving { id } => FixpMessage::FinishedReceiving {
                session_id: self.id(id),
            },
            Msg::Applied { from, count } => FixpMessage::Applied {
                from_seq_no: from.get(),
                count,
            },
            Msg::NotApplied { from, count } => FixpMessage::NotApplied {
                from_seq_no: from.get(),
                count,
            },
            Msg::MessageTemplate {
                encoding_type,
                effective_time,
                ref template,
            } => FixpMessage::MessageTemplate {
                encoding_type,
                effective_time,
                version: b"1",
                template,
            },
        };
        let mut out = vec![0u8; 8192];
        let n = self.encoding.encode(&fixp, &mut out).ok()?;
        out.truncate(n);
        Some((out, self.encoding.frame_kind()))
    }

    fn request_ts_of(&mut self, bytes: &[u8], kind: FrameKind) -> Option<u64> {
        match self.encoding.decode(bytes, kind) {
            Ok(Inbound::Fixp(
                FixpMessage::Negotiate { timestamp, .. }
                | FixpMessage::Establish { timestamp, .. }
                | FixpMessage::RetransmitRequest { timestamp, .. },
            )) => Some(timestamp),
            _ => None,
        }
    }

    /// Drains both sides' transmits onto the link, checking the transmit invariants.
    fn collect(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            check_transmit(&t);
            let wire = match t {
                Transmit::Frame { bytes, kind } => {
                    assert!(!self.client_closed, "client frame after its Close");
                    Wire::Frame(bytes.to_vec(), kind)
                }
                Transmit::Close { code, .. } => {
                    assert!(!self.client_closed, "client Close after its Close");
                    self.client_closed = true;
                    Wire::Close(code)
                }
            };
            if let Wire::Frame(bytes, kind) = &wire {
                if let Some(ts) = self.request_ts_of(bytes, *kind) {
                    self.client_request_ts = ts;
                }
            }
            if self.connected && self.to_server.len() < MAX_IN_FLIGHT {
                self.to_server.push_back(wire);
            }
        }
        while let Some((conn, t)) = self.server.poll_transmit() {
            check_transmit(&t);
            assert!(
                !self.server_closed.contains(&conn),
                "server transmit on {conn:?} after its Close"
            );
            let wire = match t {
                Transmit::Frame { bytes, kind } => Wire::Frame(bytes.to_vec(), kind),
                Transmit::Close { code, .. } => {
                    self.server_closed.insert(conn);
                    Wire::Close(code)
                }
            };
            if conn == self.conn && self.connected && self.to_client.len() < MAX_IN_FLIGHT {
                self.to_client.push_back(wire);
            }
        }
        if let Some((bytes, kind)) = self.to_client.back().and_then(|w| match w {
            Wire::Frame(b, k) => Some((b.clone(), *k)),
            Wire::Close(_) => None,
        }) {
            if let Ok(Inbound::Fixp(FixpMessage::RetransmitRequest { timestamp, .. })) =
                self.encoding.decode(&bytes, kind)
            {
                self.server_request_ts = timestamp;
            }
        }
    }

    /// Drains both sides' events, checking the delivery invariants.
    fn events(&mut self) {
        let recoverable_in = self.client.status().inbound_flow == Some(FlowType::Recoverable);
        while let Some(event) = self.client.poll_event() {
            match event {
                Event::Message { seq, .. } => {
                    assert!(!self.client_finalized, "client delivery after Finalized");
                    if recoverable_in {
                        assert!(
                            seq > self.client_last_seq,
                            "client Recoverable seq {seq} not increasing"
                        );
                        self.client_last_seq = seq;
                    }
                }
                Event::Finalized => self.client_finalized = true,
                _ => {}
            }
        }
        loop {
            let (id, seq, finalized) = match self.server.poll_event() {
                None => break,
                Some((id, Event::Message { seq, .. })) => (id, Some(seq), false),
                Some((id, Event::Finalized)) => (id, None, true),
                Some(_) => continue,
            };
            if finalized {
                self.server_finalized.insert(id);
                continue;
            }
            let Some(seq) = seq else { continue };
            assert!(
                !self.server_finalized.contains(&id),
                "server delivery after Finalized"
            );
            let flow = self
                .server
                .session(id)
                .and_then(|s| s.status().inbound_flow);
            if flow == Some(FlowType::Recoverable) {
                let last = self.server_last_seq.entry(id).or_insert(0);
                assert!(seq > *last, "server Recoverable seq {seq} not increasing");
                *last = seq;
            }
        }
    }

    fn check_deadlines(&self, after_timeout: bool) {
        for deadline in [self.client.next_deadline(), self.server.next_deadline()]
            .into_iter()
            .flatten()
        {
            if after_timeout {
                assert!(
                    deadline > self.now,
                    "deadline {deadline} not after now {}",
                    self.now
                );
            } else {
                assert!(
                    deadline >= self.now,
                    "deadline {deadline} in the past ({})",
                    self.now
                );
            }
        }
    }

    fn lose(&mut self) {
        if self.connected {
            self.connected = false;
            self.client.handle_disconnected(self.now);
            self.server.handle_disconnected(self.now, self.conn);
            self.to_server.clear();
            self.to_client.clear();
        }
    }

    /// Hands a frame to the acceptor the way the engine does: never for a connection the
    /// acceptor already sent Close on (the engine stops reading into the session layer then).
    fn server_frame(&mut self, conn: ConnectionId, bytes: &[u8], kind: FrameKind) {
        if !self.server_closed.contains(&conn) {
            self.server.handle_frame(self.now, conn, bytes, kind);
        }
    }

    fn deliver_to_server(&mut self) -> bool {
        let Some(wire) = self.to_server.pop_front() else {
            return false;
        };
        match wire {
            Wire::Frame(bytes, kind) => self.server_frame(self.conn, &bytes, kind),
            Wire::Close(code) => {
                self.server.handle_close(self.now, self.conn, code);
                self.lose();
            }
        }
        true
    }

    fn deliver_to_client(&mut self) -> bool {
        let Some(wire) = self.to_client.pop_front() else {
            return false;
        };
        match wire {
            Wire::Frame(bytes, kind) => self.client.handle_frame(self.now, &bytes, kind),
            Wire::Close(code) => {
                self.client.handle_close(self.now, code);
                self.lose();
            }
        }
        true
    }

    fn server_session(&mut self) -> Option<&mut Session<E, MemoryStore>> {
        let id = self.client_id;
        self.server.session_mut(id)
    }

    fn run(&mut self, op: &Op) {
        let mut after_timeout = false;
        match op {
            Op::Connect => {
                if !self.connected {
                    self.conn = self.fresh_connection();
                    self.connected = true;
                    self.client_closed = false;
                    self.client.handle_connected(self.now);
                }
            }
            Op::Lose => self.lose(),
            Op::Pump(n) => {
                for _ in 0..=*n {
                    let moved = self.deliver_to_server() | self.deliver_to_client();
                    self.collect();
                    self.events();
                    if !moved {
                        break;
                    }
                }
            }
            Op::DropToServer => {
                self.to_server.pop_front();
            }
            Op::DropToClient => {
                self.to_client.pop_front();
            }
            Op::Advance(us) => {
                self.now += u64::from(*us) * 1000;
                self.client.handle_timeout(self.now);
                self.server.handle_timeout(self.now);
                after_timeout = true;
            }
            Op::ClientSend(n) => {
                let frame = (self.app_frame)(*n);
                let _ = self.client.send(self.now, &frame);
            }
            Op::ServerSend(n) => {
                let (now, frame) = (self.now, (self.app_frame)(*n));
                if let Some(s) = self.server_session() {
                    let _ = s.send(now, &frame);
                }
            }
            Op::ClientFinalize => self.client.finalize(self.now),
            Op::ServerFinalize => {
                let now = self.now;
                if let Some(s) = self.server_session() {
                    s.finalize(now);
                }
            }
            Op::ServerUnbind => {
                let now = self.now;
                if let Some(s) = self.server_session() {
                    s.terminate(now, fixp_ws::session::TerminateReason::Unbind);
                }
            }
            Op::InjectToServer {
                msg,
                fresh_connection,
            } => {
                let echo = self.server_request_ts;
                if let Some((bytes, kind)) = self.encode(msg, echo) {
                    let conn = if *fresh_connection || !self.connected {
                        self.fresh_connection()
                    } else {
                        self.conn
                    };
                    self.server_frame(conn, &bytes, kind);
                }
            }
            Op::InjectToClient(msg) => {
                let echo = self.client_request_ts;
                if let Some((bytes, kind)) = self.encode(msg, echo) {
                    self.client.handle_frame(self.now, &bytes, kind);
                }
            }
            Op::RawToServer {
                bytes,
                text,
                fresh_connection,
            } => {
                let conn = if *fresh_connection || !self.connected {
                    self.fresh_connection()
                } else {
                    self.conn
                };
                let kind = if *text {
                    FrameKind::Text
                } else {
                    FrameKind::Binary
                };
                self.server_frame(conn, bytes, kind);
            }
            Op::RawToClient { bytes, text } => {
                let kind = if *text {
                    FrameKind::Text
                } else {
                    FrameKind::Binary
                };
                self.client.handle_frame(self.now, bytes, kind);
            }
            Op::InjectVector {
                index,
                to_server,
                our_id,
                patch,
            } => {
                let json = self.encoding.frame_kind() == FrameKind::Text;
                let vectors = if json { JSON_VECTORS } else { SBE_VECTORS };
                let vector = pick(vectors, *index);
                let mut bytes = if *our_id {
                    with_session_id(vector, self.client_id, json)
                } else {
                    vector.to_vec()
                };
                if let Some((at, value)) = patch {
                    let len = bytes.len().max(1);
                    if let Some(b) = bytes.get_mut(usize::from(*at) % len) {
                        *b = *value;
                    }
                }
                let kind = self.encoding.frame_kind();
                if *to_server {
                    let conn = if self.connected {
                        self.conn
                    } else {
                        self.fresh_connection()
                    };
                    self.server_frame(conn, &bytes, kind);
                } else {
                    self.client.handle_frame(self.now, &bytes, kind);
                }
            }
            Op::CloseToServer(code) => {
                if self.connected {
                    self.server.handle_close(self.now, self.conn, *code);
                }
            }
            Op::CloseToClient(code) => self.client.handle_close(self.now, *code),
        }
        self.collect();
        self.events();
        self.check_deadlines(after_timeout);
        let status = self.client.status();
        assert!(status.next_seq_to_send >= 1 && status.next_seq_expected >= 1);
        if self.client.state() == SessionState::Finalized {
            assert!(self.client_finalized || self.client.has_event());
        }
    }
}

fn key() -> HmacKey {
    HmacKey::new("fuzz", &Secret::from_bytes(SECRET)).expect("valid key")
}

fn run<E: FuzzEncoding>(input: &Input, new_encoding: fn() -> E, app_frame: fn(u8) -> Vec<u8>) {
    let flows = FlowType::ALL;
    let client_id = SessionId::from_random_bytes([0x5a; 16]);
    let client_config = SessionConfig {
        flow: pick(flows, input.client_flow),
        max_frame_len: MAX_FRAME,
        outbox_capacity: 32,
        event_capacity: 32,
        recovery_capacity: 32,
        credentials: if input.hmac {
            ClientCredentials::hmac(key())
        } else {
            ClientCredentials::None
        },
        ..SessionConfig::default()
    };
    let mut acceptor_config = AcceptorConfig {
        capacity: 8,
        max_connections: 16,
        finalized_history: 16,
        ..AcceptorConfig::default()
    };
    acceptor_config.session.flow = pick(flows, input.server_flow);
    acceptor_config.session.max_frame_len = MAX_FRAME;
    acceptor_config.session.outbox_capacity = 32;
    acceptor_config.session.event_capacity = 32;
    acceptor_config.session.recovery_capacity = 32;
    let auth = if input.hmac {
        FuzzAuth::Hmac(HmacAuthenticator::new(vec![key()], HmacConfig::default()).expect("keys"))
    } else {
        FuzzAuth::Anyone(AcceptAll)
    };
    let factory: fn(SessionId) -> (E, MemoryStore) =
        |_| (E::default_for_fuzz(), MemoryStore::new(32, MAX_FRAME));
    let mut h = Harness {
        client: Session::client(
            client_config,
            new_encoding(),
            MemoryStore::new(32, MAX_FRAME),
            client_id,
        ),
        server: Acceptor::new(acceptor_config, new_encoding(), auth, factory),
        encoding: new_encoding(),
        app_frame,
        client_id,
        now: T0,
        conn: ConnectionId(0),
        next_conn: 0,
        connected: false,
        to_server: VecDeque::new(),
        to_client: VecDeque::new(),
        client_request_ts: 0,
        server_request_ts: 0,
        client_closed: false,
        server_closed: HashSet::new(),
        client_last_seq: 0,
        client_finalized: false,
        server_last_seq: HashMap::new(),
        server_finalized: HashSet::new(),
    };
    for op in input.ops.iter().take(256) {
        h.run(op);
    }
}

/// A default-constructed encoding for the acceptor's per-session factory (a plain `fn`
/// pointer cannot capture the constructor).
trait FuzzEncoding: Encoding {
    fn default_for_fuzz() -> Self;
}

impl FuzzEncoding for SbeEncoding {
    fn default_for_fuzz() -> Self {
        SbeEncoding::new()
    }
}

impl FuzzEncoding for JsonEncoding {
    fn default_for_fuzz() -> Self {
        JsonEncoding::new()
    }
}

/// SBE application message: a header of schema 100 (not FIXP) and one payload byte.
fn sbe_app(n: u8) -> Vec<u8> {
    vec![8, 0, 1, 0, 100, 0, 0, 0, n, 0, 0, 0, 0, 0, 0, 0]
}

/// JSON application message: an object whose `@type` is not a FIXP message.
fn json_app(n: u8) -> Vec<u8> {
    format!(r#"{{"@type":"NewOrderSingle","n":{n}}}"#).into_bytes()
}

fuzz_target!(|input: Input| {
    if input.json {
        run_with::<JsonEncoding>(&input, json_app);
    } else {
        run_with::<SbeEncoding>(&input, sbe_app);
    }
});

fn run_with<E: FuzzEncoding>(input: &Input, app_frame: fn(u8) -> Vec<u8>) {
    run::<E>(input, E::default_for_fuzz, app_frame);
}
