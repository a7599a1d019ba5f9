//! The `fixp-journal` binary on journals written through the library.

use std::path::{Path, PathBuf};
use std::process::Command;

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::{FixpMessage, SessionId};
use fixp_ws::journal::{
    JournalConfig, JournalReader, RingConfig, SessionJournal, ENCODING_JSON, ENCODING_SBE_LE,
};

fn tool(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fixp-journal"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

/// An SBE FIXP Sequence frame, encoded by the codec.
fn sbe_frame(seq: u64) -> Vec<u8> {
    let mut buf = [0u8; 64];
    let msg = FixpMessage::Sequence { next_seq_no: seq };
    let n = SbeEncoding::encode_message(&msg, &mut buf).unwrap();
    buf[..n].to_vec()
}

fn write_session(root: &Path) -> PathBuf {
    let ring = RingConfig {
        segment_bytes: 16384,
        segment_count: 2,
        max_messages: 256,
    };
    let cfg = JournalConfig {
        outbound: ring,
        inbound: ring,
        keep_generations: 1,
        flush_interval: None,
    };
    let mut sj = SessionJournal::open(root, cfg).unwrap();
    let g = sj
        .start_generation(
            SessionId::from_random_bytes([3; 16]),
            FlowType::Recoverable,
            FlowType::Idempotent,
        )
        .unwrap();
    for seq in 1..=10u64 {
        g.outbound
            .append(seq, 1_000 + seq, ENCODING_SBE_LE, &sbe_frame(seq))
            .unwrap();
    }
    for seq in 1..=4u64 {
        let body = format!("{{\"@type\":\"NewOrderSingle\",\"ClOrdID\":\"o{seq}\"}}");
        g.inbound
            .append(seq, 2_000 + seq, ENCODING_JSON, body.as_bytes())
            .unwrap();
    }
    g.dir.clone()
}

#[test]
fn dump_json_filters_and_decodes() {
    let root = tempfile::tempdir().unwrap();
    write_session(root.path());
    let path = root.path().to_str().unwrap();
    let (code, out) = tool(&[
        "dump",
        path,
        "--json",
        "--direction",
        "out",
        "--from-seq",
        "3",
        "--to-seq",
        "5",
    ]);
    assert_eq!(code, 0);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["seq"], 3);
    assert_eq!(lines[0]["timestamp_ns"], 1003);
    assert_eq!(lines[0]["template"], "Sequence");
    assert_eq!(lines[0]["message"]["templateId"], 8);
    assert_eq!(lines[0]["message"]["fixp"], "Sequence { next_seq_no: 3 }");

    let (_, out) = tool(&[
        "dump",
        path,
        "--json",
        "--template",
        "NewOrderSingle",
        "--from-ns",
        "2002",
    ]);
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["direction"], "in");
    assert_eq!(lines[0]["message"]["ClOrdID"], "o2");

    let (code, out) = tool(&["dump", path]);
    assert_eq!(code, 0);
    assert!(out.starts_with("# session "));
    assert_eq!(out.lines().filter(|l| l.starts_with("out ")).count(), 10);
}

#[test]
fn stats_counts_records() {
    let root = tempfile::tempdir().unwrap();
    write_session(root.path());
    let (code, out) = tool(&["stats", root.path().to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.contains("records      10 (0 corrupt)"), "{out}");
    assert!(out.contains("seq          1..=10"), "{out}");
    assert!(out.contains("records      4 (0 corrupt)"), "{out}");
    assert!(out.contains("time_ns      2001..=2004"), "{out}");
}

#[test]
fn follow_prints_existing_then_stops_at_count() {
    let root = tempfile::tempdir().unwrap();
    let gen = write_session(root.path());
    let out_dir = gen.join("out");
    let (code, out) = tool(&[
        "follow",
        out_dir.to_str().unwrap(),
        "--from-start",
        "--count",
        "7",
        "--json",
    ]);
    assert_eq!(code, 0);
    let seqs: Vec<u64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (1..=7).collect::<Vec<_>>());
}

#[test]
fn verify_reports_the_corrupt_record() {
    let root = tempfile::tempdir().unwrap();
    let gen = write_session(root.path());
    let path = root.path().to_str().unwrap();
    let (code, out) = tool(&["verify", path]);
    assert_eq!(code, 0, "{out}");

    let out_dir = gen.join("out");
    let mut target = None;
    JournalReader::open(&out_dir).unwrap().scan(|r| {
        if r.record.seq == 6 {
            target = Some((r.segment.to_path_buf(), r.record.offset));
        }
    });
    let (file, offset) = target.unwrap();
    let mut bytes = std::fs::read(&file).unwrap();
    bytes[offset + 33] ^= 0x01;
    std::fs::write(&file, bytes).unwrap();

    let (code, out) = tool(&["verify", path]);
    assert_eq!(code, 1, "{out}");
    let expected = format!(
        "CORRUPT out: checksum mismatch in {} at offset {offset} seq 6",
        file.display()
    );
    assert!(out.contains(&expected), "{out}");
    assert!(
        out.contains("out: 9 intact records, seq 1..=10, 1 problems"),
        "{out}"
    );
}

#[test]
fn missing_journal_is_a_clean_error() {
    let root = tempfile::tempdir().unwrap();
    let (code, _) = tool(&["verify", root.path().to_str().unwrap()]);
    assert_eq!(code, 2);
}
