//! The crash drill, short and deterministic: `fixp-drill run` for six seeded rounds whose kill
//! points cover every crash site (the exchange after an order is handed over and after a
//! report is journaled, the trader after an order is journaled and after a report is handed
//! over, a kill from outside, both at once) and a kill of each side while it receives a
//! retransmission, all chosen by message count, never by time; blocking idle in both children.
//! Then the checks on tampered files (they must fail) and the corruption drill.
//!
//! The children are real processes killed with SIGKILL; every wait has a generous timeout
//! that only fails a drill that stopped making progress.

use std::path::Path;
use std::process::Command;

/// The seed whose six rounds cover every kind of kill (the test checks it does).
const SEED: &str = "8";
const ROUNDS: &str = "6";
/// The drill's orders for six rounds of 40 (and one more round's worth to finish).
const ORDERS: u64 = 280;

fn drill(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fixp-drill"))
        .args(args)
        .output()
        .expect("fixp-drill");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    (out.status.code().unwrap_or(-1), text)
}

/// The drill's files, for a failure message.
fn files(dir: &Path) -> String {
    let mut text = String::new();
    for name in [
        "trader.witness",
        "exchange.witness",
        "trader.out",
        "exchange.out",
    ] {
        let body = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
        let tail: Vec<&str> = body.lines().rev().take(30).collect();
        text.push_str(&format!(
            "--- {name} (last lines, newest first)\n{}\n",
            tail.join("\n")
        ));
    }
    text
}

fn run_kept(dir: &Path) -> String {
    let dir = dir.to_str().expect("utf-8 path");
    let (code, out) = drill(&[
        "run",
        "--rounds",
        ROUNDS,
        "--seed",
        SEED,
        "--skip-corruption",
        "--keep",
        "--dir",
        dir,
    ]);
    assert_eq!(code, 0, "drill failed:\n{out}\n{}", files(Path::new(dir)));
    out
}

fn check(dir: &Path) -> (i32, String) {
    drill(&[
        "check",
        "--dir",
        dir.to_str().expect("utf-8 path"),
        "--orders",
        &ORDERS.to_string(),
    ])
}

#[test]
fn seeded_kill_rounds_deliver_exactly_once_both_ways() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let out = run_kept(tmp.path());
    let plan = out.lines().find(|l| l.starts_with("plan: ")).expect("plan");
    for site in [
        "exchange@order-received",
        "exchange@report-sent",
        "trader@order-sent",
        "trader@report-received",
        "exchange@outside",
        "both@outside",
        "exchange@order-received:31(retransmitted)",
        "trader@report-received:99(retransmitted)",
        "trader@finish-sent:0",
    ] {
        assert!(plan.contains(site), "the plan misses {site}:\n{out}");
    }
    assert_eq!(out.matches("kill -9").count(), 7, "{out}");
    let summary = out
        .lines()
        .find(|l| l.starts_with("crash drill "))
        .expect("summary");
    assert!(summary.starts_with("crash drill PASS"), "{out}");
    assert!(
        summary.contains(&format!("orders={ORDERS} reports={ORDERS}")),
        "{summary}"
    );
    assert!(
        summary.contains("journals verified=2 violations=0"),
        "{summary}"
    );
    // A crash after the engine journaled an inbound message but before the application saw
    // it happened on both sides, and the application recovered it from its journal.
    assert!(
        !summary.contains("recovered-from-journal exchange=0"),
        "{summary}"
    );
    assert!(!summary.contains("trader=0 journals"), "{summary}");

    // The checks on the kept files pass again, and fail once the witness or a journal lies.
    let (code, text) = check(tmp.path());
    assert_eq!(code, 0, "{text}");
    let witness = tmp.path().join("trader.witness");
    let original = std::fs::read_to_string(&witness).expect("witness");
    let first_report = original
        .lines()
        .find(|l| l.starts_with("R "))
        .expect("a report line");
    std::fs::write(&witness, format!("{original}{first_report}\n")).expect("write");
    let (code, text) = check(tmp.path());
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("handed the same number over twice"), "{text}");
    std::fs::write(&witness, &original).expect("restore");
    let segment = tmp
        .path()
        .join("trader-journal/gen-00000001/in/seg-0000.log");
    let mut bytes = std::fs::read(&segment).expect("segment");
    bytes[64 + 40] ^= 0x01; // the payload of the first inbound record
    std::fs::write(&segment, bytes).expect("write");
    let (code, text) = check(tmp.path());
    assert_eq!(code, 1, "{text}");
    assert!(text.contains("failing their checksum [1]"), "{text}");
    assert!(text.contains("fixp-journal verify"), "{text}");
}

#[test]
fn a_trader_killed_at_its_finalized_event_does_not_resume_the_dead_session() {
    // Seed 4 ends with the trader's kill at its Finalized event (after the engine marked the
    // generation finalized, before the strategy saw it). The restarted trader must neither
    // re-establish the finalized SessionId (a protocol violation with the exchange) nor open a
    // second session; the exchange's session stays open (its last FinishedReceiving is lost).
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_str().expect("utf-8 path");
    let (code, out) = drill(&[
        "run",
        "--rounds",
        "1",
        "--seed",
        "4",
        "--skip-corruption",
        "--dir",
        dir,
    ]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("during finalization trader@finalized"),
        "{out}"
    );
    assert!(out.contains("crash drill PASS"), "{out}");
    let trader = std::fs::read_to_string(tmp.path().join("trader.witness")).expect("witness");
    assert!(trader.lines().any(|l| l == "F restored"), "{trader}");
    assert!(!trader.contains("Violation"), "{trader}");
    assert!(tmp
        .path()
        .join("trader-journal/gen-00000001/finalized")
        .exists());
    assert!(!tmp.path().join("trader-journal/gen-00000002").exists());
}

#[test]
fn flipped_byte_is_reported_by_verify_and_never_sent() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().to_str().expect("utf-8 path");
    let (code, out) = drill(&["corrupt", "--keep", "--dir", dir]);
    assert_eq!(code, 0, "{out}\n{}", files(tmp.path()));
    assert!(out.contains("corruption drill PASS"), "{out}");
    assert!(out.contains("Store(Corrupt { seq: 22 })"), "{out}");
    // Independently of the drill's own check: verify still names the record.
    let verify = Command::new(env!("CARGO_BIN_EXE_fixp-journal"))
        .arg("verify")
        .arg(tmp.path().join("trader-journal"))
        .output()
        .expect("fixp-journal");
    let text = String::from_utf8_lossy(&verify.stdout);
    assert_eq!(verify.status.code(), Some(1), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("CORRUPT out: checksum mismatch") && l.ends_with("seq 22")),
        "{text}"
    );
}
