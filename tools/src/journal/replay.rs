//! `fixp-journal replay`: drives a fresh session core with a recorded window of a session's
//! journals and checks that what it delivers and sends matches what was recorded.
//!
//! What is recorded (the contract the engine follows): the outbound journal holds every
//! application message we sent, under its sequence number, with the send time (the session's
//! [`RetransmitStore`](fixp_ws::session::RetransmitStore) appends exactly that); the inbound
//! journal holds every application message the session delivered (`Event::Message`), under
//! its sequence number, with the receive time (`append_after_gap`, since an Idempotent inbound
//! flow may skip numbers). Session-level messages (handshake, heartbeats, retransmission
//! control) are not journaled.
//!
//! The replay builds a client [`Session`] with the generation's SessionId and outbound flow
//! type, and a scripted peer that answers its Negotiate and Establish (peer flow = the recorded
//! inbound flow, keepalive 0 so silence between records is not a lapse) and answers every
//! RetransmitRequest with `RetransmitReject(OutOfRange)`: the peer only has the window (the
//! replaying session is a client whichever side recorded; application sequencing is the same
//! in both roles). The
//! window's records are then merged by timestamp: an inbound record becomes a peer frame (a
//! `Sequence` first whenever its number is not the next one), an outbound record becomes a
//! `Session::send`, each at the recorded time on a simulated clock; due timers fire first.
//!
//! Checked: (1) the messages the session delivers (number and bytes) equal the inbound
//! records; (2) the numbers the session gives our sends (offset to the window's first
//! number) equal the outbound records' numbers; (3) a Recoverable inbound flow has no hole
//! inside the window (the session would have asked for it); (4) every record's checksum holds;
//! (5) the whole run (every frame out, every event) is byte-for-byte identical when run twice.
//! The first failure is reported as a divergence with its sequence number, the recorded
//! payload and the replayed one. It cannot check the application's decisions (which message
//! answered which): those are not in the journal.

use std::fmt::Write as _;

use fixp_ws::codec::fixp::{FlowType, RetransmitRejectCode};
use fixp_ws::codec::json::JsonEncoding;
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::{Encoding, FixpMessage, FrameKind, Inbound, SessionId};
use fixp_ws::journal::{JournalReader, SessionMeta, ENCODING_JSON, ENCODING_SBE_LE};
use fixp_ws::session::{Event, MemoryStore, Session, SessionConfig, Transmit};
use serde_json::{json, Value};

/// One journal record, copied out of the mapping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Sequence number.
    pub seq: u64,
    /// Send (outbound) or receive (inbound) time, ns.
    pub timestamp_ns: u64,
    /// SOFH encoding type.
    pub encoding: u16,
    /// The message bytes.
    pub payload: Vec<u8>,
    /// Whether the record's checksum held.
    pub checksum_ok: bool,
}

/// The part of the journals to replay. Sequence bounds apply to each direction's own
/// numbering; time bounds to both.
#[derive(Clone, Copy, Debug, Default)]
pub struct Window {
    /// First sequence number.
    pub from_seq: Option<u64>,
    /// Last sequence number.
    pub to_seq: Option<u64>,
    /// Earliest timestamp, ns.
    pub from_ns: Option<u64>,
    /// Latest timestamp, ns.
    pub to_ns: Option<u64>,
}

impl Window {
    fn contains(&self, seq: u64, ts: u64) -> bool {
        !(self.from_seq.is_some_and(|s| seq < s)
            || self.to_seq.is_some_and(|s| seq > s)
            || self.from_ns.is_some_and(|t| ts < t)
            || self.to_ns.is_some_and(|t| ts > t))
    }
}

/// Reads the window's records of one direction, oldest first.
pub fn read_window(reader: &JournalReader, window: &Window) -> Vec<Record> {
    let mut out = Vec::new();
    reader.scan(|r| {
        let rec = &r.record;
        if window.contains(rec.seq, rec.timestamp_ns) {
            out.push(Record {
                seq: rec.seq,
                timestamp_ns: rec.timestamp_ns,
                encoding: rec.encoding,
                payload: rec.payload.to_vec(),
                checksum_ok: rec.checksum_ok,
            });
        }
    });
    out
}

/// The first place where the replay and the journal disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// `"in"` or `"out"`.
    pub direction: &'static str,
    /// The sequence number concerned.
    pub seq: u64,
    /// What the journal holds there.
    pub recorded: Option<Vec<u8>>,
    /// What the session core produced there.
    pub replayed: Option<Vec<u8>>,
    /// Why it is a divergence.
    pub reason: String,
}

/// What one run of the session core produced.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Run {
    /// Delivered application messages: (seq, bytes).
    delivered: Vec<(u64, Vec<u8>)>,
    /// Sent application messages: (session seq, bytes).
    sent: Vec<(u64, Vec<u8>)>,
    /// RetransmitRequests the session made: (from, count).
    requests: Vec<(u64, u32)>,
    /// Things worth reporting that are not divergences.
    notes: Vec<String>,
    /// Every frame out and in and every event, in order, with times: compared across runs.
    transcript: String,
}

/// The replay's result.
#[derive(Clone, Debug)]
pub struct Report {
    /// Inbound records in the window.
    pub inbound: usize,
    /// Outbound records in the window.
    pub outbound: usize,
    /// Messages the session delivered.
    pub delivered: usize,
    /// Messages the session sent.
    pub sent: usize,
    /// Whether two runs produced identical transcripts.
    pub deterministic: bool,
    /// Bytes of the transcript (frames and events) compared across the runs.
    pub transcript_bytes: usize,
    /// Gaps, rejections and other remarks.
    pub notes: Vec<String>,
    /// The first divergence, if any.
    pub divergence: Option<Divergence>,
}

/// Replays `inbound` and `outbound` (one window of one generation) twice and compares.
pub fn replay(
    meta: &SessionMeta,
    inbound: &[Record],
    outbound: &[Record],
) -> Result<Report, String> {
    let encoding = inbound
        .iter()
        .chain(outbound)
        .map(|r| r.encoding)
        .next()
        .unwrap_or(ENCODING_SBE_LE);
    if inbound
        .iter()
        .chain(outbound)
        .any(|r| r.encoding != encoding)
    {
        return Err("the window mixes encodings; replay one encoding at a time".into());
    }
    let runs = match encoding {
        ENCODING_SBE_LE => (
            run(SbeEncoding::new, meta, inbound, outbound),
            run(SbeEncoding::new, meta, inbound, outbound),
        ),
        ENCODING_JSON => (
            run(JsonEncoding::new, meta, inbound, outbound),
            run(JsonEncoding::new, meta, inbound, outbound),
        ),
        other => return Err(format!("unsupported encoding 0x{other:04x}")),
    };
    let (first, second) = runs;
    let divergence = compare(meta, inbound, outbound, &first);
    Ok(Report {
        inbound: inbound.len(),
        outbound: outbound.len(),
        delivered: first.delivered.len(),
        sent: number_sends(&first.sent).len(),
        deterministic: first == second,
        transcript_bytes: first.transcript.len(),
        notes: first.notes,
        divergence,
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Drives one fresh session through the window.
fn run<E: Encoding>(
    make: fn() -> E,
    meta: &SessionMeta,
    inbound: &[Record],
    outbound: &[Record],
) -> Run {
    let kind = make().frame_kind();
    let largest = inbound
        .iter()
        .chain(outbound)
        .map(|r| r.payload.len())
        .max()
        .unwrap_or(0);
    let config = SessionConfig {
        flow: meta.outbound_flow,
        max_frame_len: largest.max(1024),
        ..SessionConfig::default()
    };
    let store = MemoryStore::new(outbound.len() + 1, config.max_frame_len);
    let mut session = Session::client(config, make(), store, meta.session_id);
    let mut peer = ScriptedPeer {
        encoding: make(),
        kind,
        meta: *meta,
        first_inbound: inbound.first().map_or(1, |r| r.seq),
        next_inbound: None,
        buf: vec![0u8; largest.max(1024) + 256],
    };
    let mut out = Run::default();
    let mut steps: Vec<(u64, bool, &Record)> = inbound
        .iter()
        .map(|r| (r.timestamp_ns, true, r))
        .chain(outbound.iter().map(|r| (r.timestamp_ns, false, r)))
        .collect();
    // Stable: at equal times, inbound before outbound, each in journal order.
    steps.sort_by_key(|&(ts, is_in, _)| (ts, !is_in));
    let mut now = steps.first().map_or(1, |s| s.0);
    session.handle_connected(now);
    pump(&mut session, &mut peer, now, &mut out);
    for (ts, is_in, rec) in steps {
        now = now.max(ts);
        fire_timers(&mut session, &mut peer, now, &mut out);
        if is_in {
            peer.deliver(&mut session, now, rec, &mut out);
        } else if let Err(e) = session.send(now, &rec.payload) {
            let _ = writeln!(out.transcript, "{now} send-refused {e}");
            out.notes
                .push(format!("outbound seq {}: send refused: {e}", rec.seq));
        }
        pump(&mut session, &mut peer, now, &mut out);
    }
    out
}

/// Runs the session's timers that are due by `now`, each at its own deadline.
fn fire_timers<E: Encoding>(
    session: &mut Session<E, MemoryStore>,
    peer: &mut ScriptedPeer<E>,
    now: u64,
    out: &mut Run,
) {
    // Bounded: a keepalive re-arms past its deadline, so this ends; the cap guards odd clocks.
    for _ in 0..1_000_000 {
        match session.next_deadline() {
            Some(deadline) if deadline <= now => {
                session.handle_timeout(deadline);
                pump(session, peer, deadline, out);
            }
            _ => return,
        }
    }
}

/// Drains the session's frames (answering them as the peer) and events until both are empty.
fn pump<E: Encoding>(
    session: &mut Session<E, MemoryStore>,
    peer: &mut ScriptedPeer<E>,
    now: u64,
    out: &mut Run,
) {
    loop {
        let mut answer: Option<Vec<u8>> = None;
        match session.poll_transmit() {
            Some(Transmit::Frame { bytes, .. }) => {
                let _ = writeln!(out.transcript, "{now} tx {}", hex(bytes));
                answer = peer.answer(bytes, out);
            }
            Some(Transmit::Close { code, reason }) => {
                let _ = writeln!(out.transcript, "{now} close {code} {reason}");
                out.notes
                    .push(format!("session closed the binding: {code} {reason}"));
            }
            None => {}
        }
        while let Some(event) = session.poll_event() {
            let _ = writeln!(out.transcript, "{now} ev {event:?}");
            match event {
                Event::Message { seq, bytes } => out.delivered.push((seq, bytes.to_vec())),
                Event::Gap { from_seq_no, count } => out.notes.push(format!(
                    "inbound gap {from_seq_no}..={} (Idempotent: NotApplied sent)",
                    from_seq_no + u64::from(count) - 1
                )),
                Event::Terminated(reason) => out.notes.push(format!("terminated: {reason}")),
                _ => {}
            }
        }
        if let Some(frame) = answer {
            let _ = writeln!(out.transcript, "{now} rx {}", hex(&frame));
            session.handle_frame(now, &frame, peer.kind);
            continue;
        }
        if !session.has_transmit() && !session.has_event() {
            return;
        }
    }
}

/// The peer as far as the journal knows it: handshake answers and the recorded inbound flow.
struct ScriptedPeer<E: Encoding> {
    encoding: E,
    kind: FrameKind,
    meta: SessionMeta,
    first_inbound: u64,
    next_inbound: Option<u64>,
    buf: Vec<u8>,
}

impl<E: Encoding> ScriptedPeer<E> {
    fn encode(&mut self, msg: &FixpMessage<'_>) -> Option<Vec<u8>> {
        let n = self.encoding.encode(msg, &mut self.buf).ok()?;
        self.buf.get(..n).map(<[u8]>::to_vec)
    }

    /// The peer's answer to one frame our session sent, if it needs one.
    fn answer(&mut self, frame: &[u8], out: &mut Run) -> Option<Vec<u8>> {
        let session_id: SessionId = self.meta.session_id;
        let inbound_flow = self.meta.inbound_flow;
        let first = self.first_inbound;
        let reply = match self.encoding.decode(frame, self.kind) {
            Ok(Inbound::Application(bytes)) => {
                out.sent.push((0, bytes.to_vec()));
                return None;
            }
            Ok(Inbound::Fixp(FixpMessage::Sequence { next_seq_no })) => {
                out.sent.push((next_seq_no, Vec::new()));
                return None;
            }
            Ok(Inbound::Fixp(FixpMessage::Negotiate { timestamp, .. })) => {
                FixpMessage::NegotiationResponse {
                    session_id,
                    request_timestamp: timestamp,
                    server_flow: inbound_flow,
                    credentials: &[],
                }
            }
            Ok(Inbound::Fixp(FixpMessage::Establish { timestamp, .. })) => {
                FixpMessage::EstablishmentAck {
                    session_id,
                    request_timestamp: timestamp,
                    keepalive_interval: 0,
                    next_seq_no: (inbound_flow == FlowType::Recoverable).then_some(first),
                }
            }
            Ok(Inbound::Fixp(FixpMessage::RetransmitRequest {
                timestamp,
                from_seq_no,
                count,
                ..
            })) => {
                out.requests.push((from_seq_no, count));
                FixpMessage::RetransmitReject {
                    session_id,
                    request_timestamp: timestamp,
                    code: RetransmitRejectCode::OutOfRange,
                    reason: b"not in the replayed window",
                }
            }
            _ => return None,
        };
        self.encode(&reply)
    }

    /// Sends one inbound record to the session, with a Sequence first when the number jumps.
    fn deliver<S: fixp_ws::session::RetransmitStore>(
        &mut self,
        session: &mut Session<E, S>,
        now: u64,
        rec: &Record,
        out: &mut Run,
    ) {
        let sequenced = matches!(
            self.meta.inbound_flow,
            FlowType::Recoverable | FlowType::Idempotent
        );
        if sequenced && self.next_inbound != Some(rec.seq) {
            if let Some(frame) = self.encode(&FixpMessage::Sequence {
                next_seq_no: rec.seq,
            }) {
                let _ = writeln!(out.transcript, "{now} rx {}", hex(&frame));
                session.handle_frame(now, &frame, self.kind);
            }
        }
        self.next_inbound = Some(rec.seq + 1);
        let _ = writeln!(out.transcript, "{now} rx {}", hex(&rec.payload));
        session.handle_frame(now, &rec.payload, self.kind);
    }
}

/// Compares one run with the records; returns the first divergence.
fn compare(
    meta: &SessionMeta,
    inbound: &[Record],
    outbound: &[Record],
    run: &Run,
) -> Option<Divergence> {
    for (dir, records) in [("in", inbound), ("out", outbound)] {
        if let Some(r) = records.iter().find(|r| !r.checksum_ok) {
            return Some(Divergence {
                direction: dir,
                seq: r.seq,
                recorded: Some(r.payload.clone()),
                replayed: None,
                reason: "record checksum mismatch (tampered or damaged)".into(),
            });
        }
    }
    // (3) A hole in a Recoverable inbound flow inside the window.
    if meta.inbound_flow == FlowType::Recoverable {
        let first = inbound.first().map_or(1, |r| r.seq);
        if let Some(&(from, count)) = run
            .requests
            .iter()
            .find(|(from, count)| from + u64::from(*count) > first)
        {
            let seq = from.max(first);
            return Some(Divergence {
                direction: "in",
                seq,
                recorded: None,
                replayed: None,
                reason: format!(
                    "Recoverable inbound flow: the session asked for {from}..={} again; \
                     the journal has no record of them",
                    from + u64::from(count) - 1
                ),
            });
        }
    }
    // (1) Deliveries.
    let unsequenced_in = matches!(meta.inbound_flow, FlowType::Unsequenced | FlowType::None);
    let n = inbound.len().max(run.delivered.len());
    for i in 0..n {
        let rec = inbound.get(i);
        let got = run.delivered.get(i);
        let same = match (rec, got) {
            (Some(r), Some((seq, bytes))) => {
                (unsequenced_in || r.seq == *seq) && r.payload == *bytes
            }
            _ => false,
        };
        if !same {
            return Some(Divergence {
                direction: "in",
                seq: rec.map_or_else(|| got.map_or(0, |g| g.0), |r| r.seq),
                recorded: rec.map(|r| r.payload.clone()),
                replayed: got.map(|g| g.1.clone()),
                reason: match (rec, got) {
                    (Some(r), Some((seq, _))) if !unsequenced_in && r.seq != *seq => format!(
                        "recorded as inbound seq {}, the session delivered it as {seq}",
                        r.seq
                    ),
                    (Some(_), None) => {
                        "recorded as delivered; the session did not deliver it".into()
                    }
                    (None, Some(_)) => "delivered by the session; not recorded".into(),
                    _ => "payload differs from what the session delivered".into(),
                },
            });
        }
    }
    // (2) Sends: the session numbers from 1; the window starts at the first record's number.
    let sequenced_out = matches!(
        meta.outbound_flow,
        FlowType::Recoverable | FlowType::Idempotent
    );
    let sent = number_sends(&run.sent);
    let offset = outbound.first().map_or(0, |r| r.seq.saturating_sub(1));
    let n = outbound.len().max(sent.len());
    for i in 0..n {
        let rec = outbound.get(i);
        let got = sent.get(i);
        let replayed_seq = got.map(|g| g.0 + offset);
        let same = match (rec, got) {
            (Some(r), Some((_, bytes))) => {
                (!sequenced_out || Some(r.seq) == replayed_seq) && r.payload == *bytes
            }
            _ => false,
        };
        if !same {
            return Some(Divergence {
                direction: "out",
                seq: rec.map_or(replayed_seq.unwrap_or(0), |r| r.seq),
                recorded: rec.map(|r| r.payload.clone()),
                replayed: got.map(|g| g.1.clone()),
                reason: match (rec, replayed_seq) {
                    (Some(r), Some(s)) if sequenced_out && r.seq != s => format!(
                        "recorded as outbound seq {}, the session numbered it {s}",
                        r.seq
                    ),
                    (Some(_), None) => "recorded as sent; the session did not send it".into(),
                    (None, Some(_)) => "sent by the session; not recorded".into(),
                    _ => "payload differs from what the session sent".into(),
                },
            });
        }
    }
    None
}

/// Turns the peer's view of our frames (Sequence markers as empty entries, then application
/// messages) into numbered sends.
fn number_sends(raw: &[(u64, Vec<u8>)]) -> Vec<(u64, Vec<u8>)> {
    let mut next = 1u64;
    let mut out = Vec::with_capacity(raw.len());
    for (marker, bytes) in raw {
        if bytes.is_empty() && *marker != 0 {
            next = *marker;
        } else {
            out.push((next, bytes.clone()));
            next += 1;
        }
    }
    out
}

/// A payload for display: JSON text as a string, anything else as hex.
pub fn show(encoding: u16, bytes: &[u8]) -> Value {
    match (encoding, std::str::from_utf8(bytes)) {
        (ENCODING_JSON, Ok(text)) => Value::String(text.to_owned()),
        _ => Value::String(hex(bytes)),
    }
}

impl Report {
    /// The report as one JSON object.
    pub fn to_json(&self, meta: &SessionMeta, encoding: u16) -> Value {
        json!({
            "session_id": meta.session_id.to_string(),
            "generation": meta.generation,
            "outbound_flow": meta.outbound_flow.name(),
            "inbound_flow": meta.inbound_flow.name(),
            "inbound_records": self.inbound,
            "outbound_records": self.outbound,
            "delivered": self.delivered,
            "sent": self.sent,
            "deterministic": self.deterministic,
            "transcript_bytes": self.transcript_bytes,
            "result": if self.divergence.is_none() && self.deterministic { "match" } else { "divergence" },
            "notes": self.notes,
            "divergence": self.divergence.as_ref().map(|d| json!({
                "direction": d.direction,
                "seq": d.seq,
                "reason": d.reason,
                "recorded": d.recorded.as_deref().map(|b| show(encoding, b)),
                "replayed": d.replayed.as_deref().map(|b| show(encoding, b)),
            })),
        })
    }
}
