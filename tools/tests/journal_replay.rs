//! `fixp-journal replay` on journals written by a live session pair (client journaled, server
//! through an `Acceptor`), and on tampered copies of them.

use std::path::Path;
use std::process::Command;

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::json::JsonEncoding;
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::{Encoding, FixpMessage, SessionId};
use fixp_ws::journal::{
    read_meta, JournalConfig, JournalReader, RingConfig, SessionJournal, ENCODING_JSON,
    ENCODING_SBE_LE,
};
use fixp_ws::session::{
    AcceptAll, Acceptor, AcceptorConfig, ConnectionId, Event, MemoryStore, RetransmitStore,
    Session, SessionConfig, StoreError, Transmit,
};
use serde_json::Value;

const CONN: ConnectionId = ConnectionId(1);

fn config() -> JournalConfig {
    let ring = RingConfig {
        segment_bytes: 64 << 10,
        segment_count: 2,
        max_messages: 1024,
    };
    JournalConfig {
        outbound: ring,
        inbound: ring,
        keep_generations: 1,
        flush_interval: None,
    }
}

/// The client's retransmit store: the outbound journal of its current generation.
struct Journaled(SessionJournal);

impl RetransmitStore for Journaled {
    fn append(&mut self, seq: u64, timestamp_ns: u64, frame: &[u8]) -> Result<(), StoreError> {
        let g = self.0.generation_mut().ok_or(StoreError::NotHeld { seq })?;
        RetransmitStore::append(&mut g.outbound, seq, timestamp_ns, frame)
    }

    fn held(&self) -> Option<(u64, u64)> {
        self.0.generation()?.outbound.held_range()
    }

    fn get(&self, seq: u64) -> Result<&[u8], StoreError> {
        self.0
            .generation()
            .ok_or(StoreError::NotHeld { seq })?
            .outbound
            .get(seq)
    }
}

/// An application message (SBE header of schema 100, not FIXP) with an 8-byte body.
fn app(tag: u8, n: u64) -> Vec<u8> {
    let mut m = vec![8, 0, 1, 0, 100, 0, 0, 0];
    m.extend_from_slice(&(n * 256 + u64::from(tag)).to_le_bytes());
    m
}

fn factory<E: Default>(_: SessionId) -> (E, MemoryStore) {
    (E::default(), MemoryStore::new(1024, 1024))
}

/// Moves frames both ways until quiet; the client journals what it is delivered.
fn shuttle<E: Encoding, F: FnMut(SessionId) -> (E, MemoryStore)>(
    now: u64,
    client: &mut Session<E, Journaled>,
    server: &mut Acceptor<E, MemoryStore, AcceptAll, F>,
    encoding: u16,
) {
    loop {
        let mut moved = false;
        while let Some(t) = client.poll_transmit() {
            if let Transmit::Frame { bytes, kind } = t {
                let frame = bytes.to_vec();
                server.handle_frame(now, CONN, &frame, kind);
                moved = true;
            }
        }
        while let Some((_, t)) = server.poll_transmit() {
            if let Transmit::Frame { bytes, kind } = t {
                let frame = bytes.to_vec();
                client.handle_frame(now, &frame, kind);
                moved = true;
            }
        }
        while let Some(event) = client.poll_event() {
            if let Event::Message { seq, bytes } = event {
                let bytes = bytes.to_vec();
                let g = client.store_mut().0.generation_mut().unwrap();
                g.inbound
                    .append_after_gap(seq, now, encoding, &bytes)
                    .unwrap();
            }
        }
        if !moved {
            return;
        }
    }
}

/// A live SBE session: the client sends 20 orders, the server answers each with a report; the
/// client's journal records both directions. Returns the SessionId.
fn record_session(root: &Path, server_flow: FlowType) -> SessionId {
    record_session_with::<SbeEncoding>(root, server_flow, ENCODING_SBE_LE, app)
}

fn record_session_with<E: Encoding + Default>(
    root: &Path,
    server_flow: FlowType,
    encoding: u16,
    app: fn(u8, u64) -> Vec<u8>,
) -> SessionId {
    let id = SessionId::from_random_bytes([9; 16]);
    let mut journal = SessionJournal::open(root, config()).unwrap();
    journal
        .start_generation(id, FlowType::Recoverable, server_flow)
        .unwrap()
        .outbound
        .set_store_encoding(encoding);
    let mut client = Session::client(
        SessionConfig {
            flow: FlowType::Recoverable,
            ..SessionConfig::default()
        },
        E::default(),
        Journaled(journal),
        id,
    );
    let mut server = Acceptor::new(
        AcceptorConfig {
            session: SessionConfig {
                flow: server_flow,
                ..SessionConfig::default()
            },
            ..AcceptorConfig::default()
        },
        E::default(),
        AcceptAll,
        factory::<E>,
    );
    let mut now = 1_000_000u64;
    client.handle_connected(now);
    shuttle(now, &mut client, &mut server, encoding);
    for n in 1..=20u64 {
        now += 700_000_000; // heartbeats fall between some of the messages
        client.handle_timeout(now);
        client.send(now, &app(1, n)).unwrap();
        shuttle(now, &mut client, &mut server, encoding);
        while server.poll_event().is_some() {}
        now += 3_000;
        server
            .session_mut(id)
            .unwrap()
            .send(now, &app(2, n))
            .unwrap();
        shuttle(now, &mut client, &mut server, encoding);
    }
    id
}

fn replay(path: &Path, extra: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_fixp-journal"))
        .arg("replay")
        .arg(path)
        .arg("--json")
        .args(extra)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
    (out.status.code().unwrap_or(-1), value)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|b| format!("{b:02x}")).collect()
}

/// Copies a generation into a new journal root, letting `edit` change or drop records.
fn copy_with(src: &Path, dst: &Path, edit: impl Fn(&str, u64, &[u8]) -> Option<Vec<u8>>) {
    let gen_dir = fixp_ws::journal::list_generations(src)
        .unwrap()
        .pop()
        .unwrap()
        .1;
    let meta = read_meta(&gen_dir).unwrap();
    let mut journal = SessionJournal::open(dst, config()).unwrap();
    let g = journal
        .start_generation(meta.session_id, meta.outbound_flow, meta.inbound_flow)
        .unwrap();
    for (dir, target) in [("out", &mut g.outbound), ("in", &mut g.inbound)] {
        let reader = JournalReader::open(&gen_dir.join(dir)).unwrap();
        let mut records = Vec::new();
        reader.scan(|r| {
            records.push((
                r.record.seq,
                r.record.timestamp_ns,
                r.record.encoding,
                r.record.payload.to_vec(),
            ))
        });
        for (seq, ts, encoding, payload) in records {
            if let Some(p) = edit(dir, seq, &payload) {
                target.append_after_gap(seq, ts, encoding, &p).unwrap();
            }
        }
    }
}

#[test]
fn replay_of_a_recorded_session_matches_and_is_deterministic() {
    for flow in [FlowType::Recoverable, FlowType::Idempotent] {
        let root = tempfile::tempdir().unwrap();
        let id = record_session(root.path(), flow);
        let (code, report) = replay(root.path(), &[]);
        assert_eq!(code, 0, "{report}");
        assert_eq!(report["result"], "match");
        assert_eq!(report["session_id"], id.to_string());
        assert_eq!(report["inbound_flow"], flow.name());
        assert_eq!(report["inbound_records"], 20);
        assert_eq!(report["outbound_records"], 20);
        assert_eq!(report["delivered"], 20);
        assert_eq!(report["sent"], 20);
        assert_eq!(report["deterministic"], true);
        assert!(report["transcript_bytes"].as_u64().unwrap() > 0);
        assert!(report["divergence"].is_null());
    }
}

#[test]
fn replay_of_a_window_starts_mid_session() {
    let root = tempfile::tempdir().unwrap();
    record_session(root.path(), FlowType::Recoverable);
    let (code, report) = replay(root.path(), &["--from-seq", "5", "--to-seq", "12"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["inbound_records"], 8);
    assert_eq!(report["outbound_records"], 8);
    assert_eq!(report["delivered"], 8);
    assert_eq!(report["sent"], 8);
    // Numbers before the window are asked for and refused by the scripted peer: a note only.
    let notes = report["notes"].as_array().unwrap();
    assert!(notes.is_empty(), "{notes:?}");
}

#[test]
fn a_flipped_byte_in_the_inbound_journal_is_a_divergence() {
    let root = tempfile::tempdir().unwrap();
    record_session(root.path(), FlowType::Recoverable);
    // The first inbound record's payload follows the segment header and the record header.
    let gen_dir = fixp_ws::journal::list_generations(root.path())
        .unwrap()
        .pop()
        .unwrap()
        .1;
    let seg = gen_dir.join("in").join("seg-0000.log");
    let mut bytes = std::fs::read(&seg).unwrap();
    bytes[fixp_ws::journal::SEGMENT_HEADER_LEN + fixp_ws::journal::RECORD_HEADER_LEN + 8] ^= 0xff;
    std::fs::write(&seg, bytes).unwrap();
    let (code, report) = replay(root.path(), &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["result"], "divergence");
    let d = &report["divergence"];
    assert_eq!(d["direction"], "in");
    assert_eq!(d["seq"], 1);
    assert!(d["reason"].as_str().unwrap().contains("checksum"), "{d}");
}

#[test]
fn a_record_missing_from_a_recoverable_inbound_journal_is_a_divergence() {
    let root = tempfile::tempdir().unwrap();
    record_session(root.path(), FlowType::Recoverable);
    let copy = tempfile::tempdir().unwrap();
    copy_with(root.path(), copy.path(), |dir, seq, p| {
        (dir != "in" || seq != 7).then(|| p.to_vec())
    });
    let (code, report) = replay(copy.path(), &[]);
    assert_eq!(code, 1, "{report}");
    let d = &report["divergence"];
    assert_eq!(d["direction"], "in");
    assert_eq!(d["seq"], 7);
    assert!(d["reason"].as_str().unwrap().contains("7..=7"), "{d}");

    // The same hole on an Idempotent inbound flow is legitimate: a gap note, no divergence.
    let root = tempfile::tempdir().unwrap();
    record_session(root.path(), FlowType::Idempotent);
    let copy = tempfile::tempdir().unwrap();
    copy_with(root.path(), copy.path(), |dir, seq, p| {
        (dir != "in" || seq != 7).then(|| p.to_vec())
    });
    let (code, report) = replay(copy.path(), &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["delivered"], 19);
    let notes = report["notes"].to_string();
    assert!(notes.contains("inbound gap 7..=7"), "{notes}");
}

#[test]
fn tampered_records_with_valid_checksums_are_divergences_with_both_payloads() {
    let root = tempfile::tempdir().unwrap();
    record_session(root.path(), FlowType::Recoverable);

    // An inbound record replaced by a FIXP session message: the session would not deliver it.
    let mut sequence = [0u8; 64];
    let n = SbeEncoding::encode_message(&FixpMessage::Sequence { next_seq_no: 4 }, &mut sequence)
        .unwrap();
    let sequence = sequence[..n].to_vec();
    let copy = tempfile::tempdir().unwrap();
    let forged = sequence.clone();
    copy_with(root.path(), copy.path(), move |dir, seq, p| {
        Some(if dir == "in" && seq == 4 {
            forged.clone()
        } else {
            p.to_vec()
        })
    });
    let (code, report) = replay(copy.path(), &[]);
    assert_eq!(code, 1, "{report}");
    let d = &report["divergence"];
    assert_eq!(d["direction"], "in");
    assert_eq!(d["seq"], 4);
    assert_eq!(d["recorded"], hex(&sequence));
    assert_eq!(d["replayed"], hex(&app(2, 5)));

    // An outbound record renumbered: the session numbers its sends consecutively.
    let copy = tempfile::tempdir().unwrap();
    copy_with(root.path(), copy.path(), |dir, seq, p| {
        (dir != "out" || seq != 10).then(|| p.to_vec())
    });
    let (code, report) = replay(copy.path(), &[]);
    assert_eq!(code, 1, "{report}");
    let d = &report["divergence"];
    assert_eq!(d["direction"], "out");
    assert_eq!(d["seq"], 11);
    assert_eq!(d["recorded"], hex(&app(1, 11)));
    assert_eq!(d["replayed"], hex(&app(1, 11)));
    assert!(
        d["reason"].as_str().unwrap().contains("numbered it 10"),
        "{d}"
    );
}

#[test]
fn text_report_and_errors() {
    let root = tempfile::tempdir().unwrap();
    record_session(root.path(), FlowType::Idempotent);
    let out = Command::new(env!("CARGO_BIN_EXE_fixp-journal"))
        .arg("replay")
        .arg(root.path())
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.starts_with("# session "), "{text}");
    assert!(
        text.contains("window: 20 inbound, 20 outbound records; replayed: 20 delivered, 20 sent")
    );
    assert!(text.contains("deterministic: yes"), "{text}");
    assert!(text.trim_end().ends_with("MATCH"), "{text}");

    // A direction directory has no meta file: replay needs the generation.
    let gen_dir = fixp_ws::journal::list_generations(root.path())
        .unwrap()
        .pop()
        .unwrap()
        .1;
    let out = Command::new(env!("CARGO_BIN_EXE_fixp-journal"))
        .arg("replay")
        .arg(gen_dir.join("in"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("meta file"));
}

/// A Conga-style JSON application message.
fn json_app(tag: u8, n: u64) -> Vec<u8> {
    let kind = if tag == 1 {
        "NewOrderSingle"
    } else {
        "ExecutionReport"
    };
    format!("{{\"@type\":\"{kind}\",\"ClOrdID\":\"o{n}\"}}").into_bytes()
}

#[test]
fn json_session_replays_and_shows_json_payloads() {
    let root = tempfile::tempdir().unwrap();
    record_session_with::<JsonEncoding>(
        root.path(),
        FlowType::Recoverable,
        ENCODING_JSON,
        json_app,
    );
    let (code, report) = replay(root.path(), &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["delivered"], 20);
    assert_eq!(report["sent"], 20);

    let copy = tempfile::tempdir().unwrap();
    copy_with(root.path(), copy.path(), |dir, seq, p| {
        Some(if dir == "in" && seq == 3 {
            br#"{"@type":"Sequence","nextSeqNo":3}"#.to_vec()
        } else {
            p.to_vec()
        })
    });
    let (code, report) = replay(copy.path(), &[]);
    assert_eq!(code, 1, "{report}");
    let d = &report["divergence"];
    assert_eq!(d["seq"], 3, "{report}");
    assert_eq!(d["recorded"], r#"{"@type":"Sequence","nextSeqNo":3}"#);
    assert_eq!(
        d["replayed"],
        r#"{"@type":"ExecutionReport","ClOrdID":"o4"}"#
    );
}

/// A FIXP server over WSS on its own thread: accepts one connection, answers every application
/// message with one of its own, and returns what it was delivered once the client closes.
fn wss_server() -> (
    std::net::SocketAddr,
    String,
    std::thread::JoinHandle<Vec<Vec<u8>>>,
) {
    use fixp_ws::transport::{
        HandshakeProgress, ReadStatus, ServerIdentity, WsListener, WsOptions,
    };
    use mio::{Events, Poll, Token};
    use std::time::{Duration, Instant};

    let identity = ServerIdentity::self_signed().unwrap();
    let poll = Poll::new().unwrap();
    let listener = WsListener::bind(
        "127.0.0.1:0".parse().unwrap(),
        Some(identity.server_config().unwrap()),
        WsOptions::default(),
        poll.registry(),
        Token(0),
    )
    .unwrap();
    let addr = listener.local_addr().unwrap();
    let handle = std::thread::spawn(move || {
        let (mut poll, mut listener) = (poll, listener);
        let mut events = Events::with_capacity(16);
        let mut acceptor = Acceptor::new(
            AcceptorConfig::default(),
            SbeEncoding::new(),
            AcceptAll,
            factory::<SbeEncoding>,
        );
        let mut conn = None;
        let mut delivered = Vec::new();
        let start = Instant::now();
        let mut now = 1u64;
        while start.elapsed() < Duration::from_secs(20) {
            poll.poll(&mut events, Some(Duration::from_millis(5)))
                .unwrap();
            now += 1_000_000;
            if conn.is_none() {
                conn = listener.accept(poll.registry(), Token(1)).unwrap();
            }
            let Some(c) = conn.as_mut() else { continue };
            if c.poll_handshake().unwrap() != HandshakeProgress::Open {
                continue;
            }
            // A client that vanished without a Close ends the connection too.
            let status = c
                .read_frames(|kind, bytes| acceptor.handle_frame(now, CONN, bytes, kind))
                .unwrap_or(ReadStatus::Closed(Default::default()));
            let before = delivered.len();
            while let Some((id, event)) = acceptor.poll_event() {
                if let Event::Message { bytes, .. } = event {
                    delivered.push((id, bytes.to_vec()));
                }
            }
            for (k, (id, _)) in delivered.iter().enumerate().skip(before) {
                let answer = app(2, k as u64 + 1);
                if let Some(session) = acceptor.session_mut(*id) {
                    let _ = session.send(now, &answer);
                }
            }
            while let Some((_, t)) = acceptor.poll_transmit() {
                // The client may already have closed: late answers are dropped.
                let _ = match t {
                    Transmit::Frame { bytes, kind } => c.send(kind, bytes),
                    Transmit::Close { code, reason } => c.close(code, reason),
                };
            }
            if c.flush_pending() {
                let _ = c.flush();
            }
            if matches!(status, ReadStatus::Closed(_)) {
                break;
            }
        }
        delivered.into_iter().map(|(_, b)| b).collect()
    });
    (addr, identity.cert_pem.clone(), handle)
}

#[test]
fn replay_to_a_live_peer_resends_the_window_in_order() {
    let root = tempfile::tempdir().unwrap();
    record_session(root.path(), FlowType::Recoverable);
    let (addr, cert_pem, server) = wss_server();
    let ca = root.path().join("ca.pem");
    std::fs::write(&ca, cert_pem).unwrap();
    let url = format!("wss://localhost:{}/fixp", addr.port());
    let out = Command::new(env!("CARGO_BIN_EXE_fixp-journal"))
        .arg("replay")
        .arg(root.path())
        .args([
            "--from-seq",
            "3",
            "--to-seq",
            "17",
            "--json",
            "--to",
            &url,
            "--ca",
        ])
        .arg(&ca)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(report["sent"], 15);
    // Answers that arrive after the client's quiet period are not waited for: at most 15.
    assert!(report["received"].as_u64().unwrap() <= 15, "{report}");
    assert_ne!(
        report["session_id"],
        SessionId::from_random_bytes([9; 16]).to_string()
    );
    let delivered = server.join().unwrap();
    let expected: Vec<Vec<u8>> = (3..=17).map(|n| app(1, n)).collect();
    assert_eq!(delivered, expected);

    // wss:// without a CA is refused before connecting.
    let out = Command::new(env!("CARGO_BIN_EXE_fixp-journal"))
        .arg("replay")
        .arg(root.path())
        .args(["--to", &url])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--ca"));
}
