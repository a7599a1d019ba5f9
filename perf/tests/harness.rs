//! The harness end to end on loopback: every row completes its round trips and reports
//! ordered percentiles and ratios to its own TCP baseline. No latency thresholds.

use std::process::Command;

use serde_json::Value;

fn run(args: &[&str]) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_fixp-perf"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn check(report: &Value, rows: &[&str], count: u64) {
    let got: Vec<&str> = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["row"].as_str().unwrap())
        .collect();
    assert_eq!(got, rows);
    let tcp = &report["rows"][0];
    for row in report["rows"].as_array().unwrap() {
        assert_eq!(row["count"], count, "{row}");
        let ns = &row["ns"];
        let order = ["p50", "p90", "p99", "p99.9", "p99.99", "max"];
        for pair in order.windows(2) {
            assert!(
                ns[pair[0]].as_u64().unwrap() <= ns[pair[1]].as_u64().unwrap(),
                "{row}"
            );
        }
        let expected = ns["p50"].as_f64().unwrap() / tcp["ns"]["p50"].as_f64().unwrap();
        let ratio = row["ratio_to_tcp"]["p50"].as_f64().unwrap();
        assert!((ratio - expected).abs() <= 0.006, "{row}");
    }
    assert_eq!(tcp["ratio_to_tcp"]["p99"], 1.0);
}

#[test]
fn every_row_busy_polling() {
    // Two interleaved rounds of 100: each row's histograms are merged.
    let report = run(&[
        "--count", "100", "--warmup", "20", "--repeat", "2", "--json",
    ]);
    check(&report, &["tcp", "ws", "wss", "fixp-wss"], 200);
    assert_eq!(report["repeat"], 2);
    assert_eq!(report["wait"], "busy");
    assert_eq!(report["size"], 64);
}

#[test]
fn fixp_row_blocking_with_large_messages_adds_the_baseline() {
    let report = run(&[
        "--rows", "fixp", "--size", "2000", "--count", "100", "--warmup", "10", "--wait",
        "blocking", "--json",
    ]);
    check(&report, &["tcp", "fixp-wss"], 100);
    assert_eq!(report["wait"], "blocking");
}

#[test]
fn unknown_core_is_a_clear_error() {
    let out = Command::new(env!("CARGO_BIN_EXE_fixp-perf"))
        .args(["--pin", "0,4096", "--count", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("core 4096 is not available"));
}
