//! Crash test: a child process (this test binary, re-executed) appends a stream to a session
//! journal and reports every appended sequence number on stdout; the parent kills it with
//! SIGKILL after a random number of reports, reopens the journal and checks that everything
//! reported is intact, nothing torn is left, and the recovered next numbers follow the last
//! intact record. 30 runs on the same journal, each continuing the stream of the one before.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::SessionId;
use fixp_ws::journal::{
    JournalConfig, JournalReader, RingConfig, SessionJournal, ENCODING_JSON, ENCODING_SBE_LE,
};
use fixp_ws::session::RetransmitStore;
use rand::{Rng, SeedableRng};

const CHILD_ENV: &str = "FIXP_JOURNAL_CRASH_CHILD";
const RUNS: usize = 30;

fn config() -> JournalConfig {
    let ring = RingConfig {
        segment_bytes: 64 * 1024,
        segment_count: 3,
        max_messages: 1 << 14,
    };
    JournalConfig {
        outbound: ring,
        inbound: ring,
        keep_generations: 2,
        flush_interval: None,
    }
}

fn session_id() -> SessionId {
    SessionId::from_random_bytes([0x42; 16])
}

/// The payload of outbound record `seq`: its length and bytes both depend on `seq`.
fn payload(seq: u64) -> Vec<u8> {
    let len = 16 + (seq as usize * 7) % 300;
    (0..len).map(|i| (seq as usize ^ i) as u8).collect()
}

/// Parses a child's `SEQ <outbound> <inbound>` report (the test harness may print its own text
/// before it on the same line).
fn parse_report(line: &str) -> Option<(u64, u64)> {
    let rest = &line[line.find("SEQ ")? + 4..];
    let mut it = rest.split(' ').map(|n| n.parse::<u64>());
    Some((it.next()?.ok()?, it.next()?.ok()?))
}

/// The child: continue the stream until killed (bounded anyway).
#[test]
fn crash_child_entry() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return; // Not a child run.
    };
    let mut sj = SessionJournal::open(Path::new(&dir), config()).unwrap();
    if sj.session().is_none() {
        sj.start_generation(session_id(), FlowType::Recoverable, FlowType::Idempotent)
            .unwrap();
    }
    let g = sj.generation_mut().unwrap();
    let mut out = std::io::stdout().lock();
    let start = g.outbound.next_seq();
    for seq in start..start + 1_000_000 {
        let body = payload(seq);
        let in_seq = g.inbound.next_seq();
        g.inbound
            .append(in_seq, seq, ENCODING_JSON, b"{\"@type\":\"Sequence\"}")
            .unwrap();
        RetransmitStore::append(&mut g.outbound, seq, seq * 10, &body).unwrap();
        writeln!(out, "SEQ {seq} {in_seq}").unwrap();
    }
}

#[test]
fn killed_writer_loses_nothing_reported() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(0x5eed_f1c5);
    let mut expected_next = 1u64;
    let mut wrapped = false;
    let mut generation: Option<u64> = None;
    for run in 0..RUNS {
        let reports_before_kill: usize = rng.random_range(0..3000);
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "crash_child_entry",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut last_reported: Option<(u64, u64)> = None;
        let mut seen = 0;
        while seen < reports_before_kill {
            let Some(Ok(line)) = lines.next() else { break };
            let Some((out_seq, in_seq)) = parse_report(&line) else {
                continue;
            };
            if last_reported.is_none() {
                assert_eq!(
                    out_seq, expected_next,
                    "run {run}: stream restarted wrongly"
                );
            }
            last_reported = Some((out_seq, in_seq));
            seen += 1;
        }
        child.kill().unwrap(); // SIGKILL
                               // Reports already in the pipe were appended before the kill: they count too.
        for line in lines.map_while(Result::ok) {
            if let Some(report) = parse_report(&line) {
                last_reported = Some(report);
            }
        }
        child.wait().unwrap();

        let sj = SessionJournal::open(dir.path(), config()).unwrap();
        let Some(g) = sj.generation() else {
            assert!(
                last_reported.is_none(),
                "run {run}: reported but no generation"
            );
            continue;
        };
        assert_eq!(g.meta.session_id, session_id());
        // A kill while the first generation was being created may leave an unfinished directory
        // (skipped, never resumed); once records exist, the generation never changes.
        if expected_next > 1 {
            assert_eq!(Some(g.meta.generation), generation, "run {run}");
        }
        generation = Some(g.meta.generation);
        let out_report = g.outbound.recovery_report();
        assert_eq!(
            out_report.torn_tail, None,
            "run {run}: kill -9 left a torn record"
        );
        assert!(out_report.corrupt.is_empty(), "run {run}");
        assert_eq!(g.inbound.recovery_report().torn_tail, None);

        let next_out = sj.next_outbound_seq().unwrap();
        let next_in = sj.next_inbound_seq().unwrap();
        if let Some((out_seq, in_seq)) = last_reported {
            // At most one more append may have completed after the last report.
            assert!(
                next_out == out_seq + 1 || next_out == out_seq + 2,
                "run {run}: reported {out_seq}, recovered next {next_out}"
            );
            assert!(next_in == in_seq + 1 || next_in == in_seq + 2, "run {run}");
        } else {
            assert!(next_out <= expected_next + 1);
        }
        // Every held record is intact, and the held range ends at the last intact record.
        let (first, last) = g.outbound.held().unwrap_or((next_out, next_out - 1));
        assert_eq!(last + 1, next_out);
        wrapped |= first > 1;
        for seq in first..=last {
            let rec = g.outbound.record(seq).unwrap();
            assert_eq!(rec.payload, &payload(seq)[..], "run {run}: record {seq}");
            assert_eq!(rec.timestamp_ns, seq * 10);
            assert_eq!(rec.encoding, ENCODING_SBE_LE);
        }
        let verify = JournalReader::open(&g.dir.join("out")).unwrap().verify();
        assert!(
            verify.problems.is_empty(),
            "run {run}: {:?}",
            verify.problems
        );
        expected_next = next_out;
    }
    assert!(wrapped, "the stream never wrapped the ring");
    assert!(expected_next > 1000);
}
