//! The harness end to end on loopback, as CI runs it (`--smoke`): every row completes its
//! messages, percentiles are ordered, every latency row has its ratios to each floor, the
//! scale section matches its rows, the throughput rows are confirmed by the receiver,
//! allocations per message are reported (and counted on the measured threads: every engine
//! row's count equals the WSS floor's, rustls's record buffers, exactly), and the `.hgrm`, JSON
//! and SVG files parse back. No latency thresholds.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

const LATENCY_FLOORS: [&str; 3] = ["tcp", "ws", "wss"];
const ORDER: [&str; 6] = ["p50", "p90", "p99", "p99.9", "p99.99", "max"];
const RATIO_AT: [&str; 4] = ["p50", "p90", "p99", "p99.9"];

fn perf(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fixp-perf"))
        .args(args)
        .output()
        .unwrap()
}

fn run_json(args: &[&str]) -> Value {
    let out = perf(args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn names(rows: &Value) -> Vec<&str> {
    rows.as_array()
        .unwrap()
        .iter()
        .map(|r| r["row"].as_str().unwrap())
        .collect()
}

fn u(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Counts, percentile order, ratios to every floor and allocations of the latency rows.
fn check_latency(report: &Value, rows: &[&str], count: u64) {
    let latency = &report["latency"];
    assert_eq!(names(latency), rows);
    let floor = |name: &str| {
        latency
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["row"] == name)
            .unwrap()
            .clone()
    };
    for row in latency.as_array().unwrap() {
        assert_eq!(u(&row["count"]), count, "{row}");
        for key in ["ns", "service_ns"] {
            for pair in ORDER.windows(2) {
                assert!(
                    u(&row[key][pair[0]]) <= u(&row[key][pair[1]]),
                    "{key} {row}"
                );
            }
            assert!(u(&row[key]["p50"]) > 0, "{row}");
        }
        for name in LATENCY_FLOORS {
            let floor = floor(name);
            for q in RATIO_AT {
                let expected = f(&row["ns"][q]) / f(&floor["ns"][q]);
                let ratio = f(&row["ratios"][name][q]);
                assert!((ratio - expected).abs() <= 0.0006, "{name} {q} {row}");
            }
        }
        let allocs = &row["allocations"];
        let total = u(&allocs["client"]) + u(&allocs["server"]);
        let per = f(&allocs["per_message"]);
        assert!((per - total as f64 / count as f64).abs() <= 0.0001, "{row}");
    }
    for name in LATENCY_FLOORS {
        assert_eq!(floor(name)["floor"], true);
        assert_eq!(floor(name)["ratios"][name]["p99"], 1.0);
    }
    // Counting is on in the measured threads and nowhere else: bare TCP allocates nothing per
    // round trip, and rustls 0.23 allocates a record buffer per encrypted record on both sides.
    let tcp = floor("tcp");
    assert_eq!(tcp["allocations"]["client"], 0, "{tcp}");
    assert_eq!(tcp["allocations"]["server"], 0, "{tcp}");
    let wss = floor("wss");
    assert!(u(&wss["allocations"]["client"]) >= count, "{wss}");
    assert!(u(&wss["allocations"]["server"]) >= count, "{wss}");
    // Every engine row goes through TLS (WebSocket or SOFH) and allocates exactly what the
    // bare WSS floor does, on each side: rustls's record buffers and nothing else, counted on
    // the engine threads and the runner's.
    for row in latency.as_array().unwrap() {
        let name = row["row"].as_str().unwrap();
        if name == "engine-wss-storm" {
            // The client side is engine-wss's; the server also seals every replayed record.
            assert_eq!(row["allocations"]["client"], wss["allocations"]["client"]);
            assert!(u(&row["allocations"]["server"]) > u(&wss["allocations"]["server"]));
        } else if name.starts_with("engine-") {
            for side in ["client", "server"] {
                assert_eq!(
                    row["allocations"][side], wss["allocations"][side],
                    "{side}: {row}"
                );
            }
        }
    }
}

/// The scale section: one entry per scale row of the latency table, its p50 and p99 those of
/// the row, the ratios to the one-session row.
fn check_scale(report: &Value, sessions: &[u64]) {
    let scale = report["scale"].as_array().unwrap();
    let counts: Vec<u64> = scale.iter().map(|s| u(&s["sessions"])).collect();
    assert_eq!(counts, sessions);
    let one = &scale[0];
    assert_eq!(u(&one["sessions"]), 1);
    for entry in scale {
        let name = entry["row"].as_str().unwrap();
        assert_eq!(name, format!("engine-scale-{}", u(&entry["sessions"])));
        let row = report["latency"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["row"] == name)
            .unwrap();
        assert_eq!(entry["p50_ns"], row["ns"]["p50"], "{entry}");
        assert_eq!(entry["p99_ns"], row["ns"]["p99"], "{entry}");
        for (q, key) in [("p50", "p50_ratio_to_1"), ("p99", "p99_ratio_to_1")] {
            let expected = f(&row["ns"][q]) / f(&one[format!("{q}_ns")]);
            assert!((f(&entry[key]) - expected).abs() <= 0.0006, "{key} {entry}");
        }
    }
    assert_eq!(one["p99_ratio_to_1"], 1.0);
}

fn check_throughput(report: &Value, rows: &[&str], messages: Option<u64>) {
    let throughput = &report["throughput"];
    assert_eq!(names(throughput), rows);
    for row in throughput.as_array().unwrap() {
        if let Some(n) = messages {
            assert_eq!(u(&row["messages"]), n, "{row}");
        }
        assert!(u(&row["messages"]) > 0, "{row}");
        assert!(f(&row["seconds"]) > 0.0, "{row}");
        let per_s = f(&row["msgs_per_s"]);
        assert!(per_s > 0.0, "{row}");
        let size = f(&report["options"]["size"]);
        assert!(
            (f(&row["mb_per_s"]) - per_s * size / 1e6).abs() <= 0.01,
            "{row}"
        );
        assert!(f(&row["ratios"]["wss-oneway"]) > 0.0, "{row}");
        assert!(row["allocations"]["per_message"].is_number(), "{row}");
    }
    assert_eq!(throughput[0]["row"], "wss-oneway");
    assert_eq!(throughput[0]["ratios"]["wss-oneway"], 1.0);
}

/// Parses a `.hgrm` back: the header, percentile rows with growing values and counts, the
/// last row at 100% without `1/(1-Percentile)`, and the footer. Returns (total count, max µs).
fn parse_hgrm(path: &Path) -> (u64, f64) {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        ["Value", "Percentile", "TotalCount", "1/(1-Percentile)"]
    );
    assert_eq!(lines.next(), Some(""));
    let mut last: Option<(f64, f64, u64)> = None;
    let mut ended = false;
    let mut footer = Vec::new();
    for line in lines {
        if line.starts_with("#[") {
            footer.push(line);
            continue;
        }
        assert!(!ended, "a row after the 100% row: {line}");
        let cols: Vec<&str> = line.split_whitespace().collect();
        let value: f64 = cols[0].parse().unwrap();
        let percentile: f64 = cols[1].parse().unwrap();
        let total: u64 = cols[2].parse().unwrap();
        match cols.len() {
            4 => {
                let inverse: f64 = cols[3].parse().unwrap();
                assert!(
                    (inverse - 1.0 / (1.0 - percentile)).abs() <= 0.01 * inverse,
                    "{line}"
                );
            }
            3 => {
                assert_eq!(percentile, 1.0, "{line}");
                ended = true;
            }
            _ => panic!("bad row {line}"),
        }
        if let Some((v, p, t)) = last {
            assert!(value >= v && percentile >= p && total >= t, "{line}");
        }
        last = Some((value, percentile, total));
    }
    assert!(ended, "no 100% row");
    assert_eq!(footer.len(), 3, "{footer:?}");
    let field = |line: &str, name: &str| -> String {
        let at = line.find(name).unwrap() + name.len();
        let rest = line[at..].trim_start().trim_start_matches('=').trim_start();
        rest.split([',', ']']).next().unwrap().trim().to_owned()
    };
    assert!(footer[0].starts_with("#[Mean    ="));
    assert!(field(footer[0], "StdDeviation").parse::<f64>().is_ok());
    let max: f64 = field(footer[1], "Max").parse().unwrap();
    let total: u64 = field(footer[1], "Total count").parse().unwrap();
    assert_eq!(field(footer[2], "SubBuckets"), "2048");
    let (last_value, _, last_total) = last.unwrap();
    assert_eq!(last_total, total);
    assert!((last_value - max).abs() < 1e-9);
    (total, max)
}

/// The SVG is well-formed XML with a line and a legend entry per latency row and percentile
/// labels on the x axis.
fn check_svg(path: &Path, labels: &[String]) {
    let text = std::fs::read_to_string(path).unwrap();
    let doc = roxmltree::Document::parse(&text).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let texts: Vec<String> = doc
        .descendants()
        .filter(|n| n.has_tag_name("text"))
        .map(|n| n.text().unwrap_or("").trim().to_owned())
        .collect();
    for label in labels {
        assert!(texts.contains(label), "no legend entry {label}: {texts:?}");
    }
    for tick in ["90%", "99%", "99.9%"] {
        assert!(texts.iter().any(|t| t == tick), "no x label {tick}");
    }
    let lines = doc
        .descendants()
        .filter(|n| n.has_tag_name("polyline"))
        .count();
    // One curve and one legend sample per line.
    assert!(lines >= 2 * labels.len(), "{lines} polylines");
}

fn check_files(dir: &Path, report: &Value, fixed_rate: bool) {
    let mut labels = Vec::new();
    for row in report["latency"].as_array().unwrap() {
        let name = row["row"].as_str().unwrap();
        let (total, max) = parse_hgrm(&dir.join(format!("{name}.hgrm")));
        assert_eq!(total, u(&row["count"]));
        assert!(
            (max - f(&row["ns"]["max"]) / 1000.0).abs() < 0.001,
            "{name}"
        );
        labels.push(name.to_owned());
        let service = dir.join(format!("{name}.service.hgrm"));
        assert_eq!(service.exists(), fixed_rate, "{name}");
        if fixed_rate {
            assert_eq!(parse_hgrm(&service).0, total);
            labels.push(format!("{name} (service time)"));
        }
    }
    check_svg(&dir.join("latency.svg"), &labels);
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["latency"], report["latency"]);
    assert_eq!(summary["scale"], report["scale"]);
    assert_eq!(summary["throughput"], report["throughput"]);
}

/// The latency rows of a smoke run (the 100- and 1 000-session rows are left out of it).
const ALL_LATENCY: [&str; 11] = [
    "tcp",
    "ws",
    "wss",
    "fixp-wss",
    "engine-tcp",
    "engine-wss",
    "engine-wss-thread",
    "engine-wss-json",
    "engine-wss-storm",
    "engine-scale-1",
    "engine-scale-10",
];
const ALL_THROUGHPUT: [&str; 3] = ["wss-oneway", "fixp-wss-oneway", "engine-wss-oneway"];
const SMOKE_SCALE: [u64; 2] = [1, 10];

#[test]
fn smoke_runs_every_row_and_writes_readable_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let report = run_json(&["--smoke", "--json", "--out", out]);
    assert_eq!(report["options"]["wait"], "blocking");
    assert_eq!(report["options"]["rate"], Value::Null);
    check_latency(&report, &ALL_LATENCY, 2000);
    check_scale(&report, &SMOKE_SCALE);
    check_throughput(&report, &ALL_THROUGHPUT, Some(5000));
    // Flat out, latency is the service time.
    for row in report["latency"].as_array().unwrap() {
        assert_eq!(row["ns"], row["service_ns"], "{row}");
    }
    check_files(dir.path(), &report, false);
}

#[test]
fn fixed_rate_charges_latency_from_the_intended_send_time() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().to_str().unwrap();
    let report = run_json(&["--smoke", "--rate", "20000", "--json", "--out", out]);
    assert_eq!(report["options"]["rate"], 20000);
    check_latency(&report, &ALL_LATENCY, 2000);
    check_scale(&report, &SMOKE_SCALE);
    // Every message's latency from its intended time is at least its service time, so every
    // percentile of the first is at least the same percentile of the second.
    for row in report["latency"].as_array().unwrap() {
        for q in ORDER {
            assert!(u(&row["ns"][q]) >= u(&row["service_ns"][q]), "{q} {row}");
        }
    }
    check_files(dir.path(), &report, true);
}

#[test]
fn selected_rows_bring_their_floors_and_repeats_merge() {
    let report = run_json(&[
        "--rows",
        "fixp,engine-wss",
        "--size",
        "2000",
        "--count",
        "100",
        "--warmup",
        "10",
        "--repeat",
        "2",
        "--wait",
        "busy",
        "--json",
    ]);
    check_latency(
        &report,
        &["tcp", "ws", "wss", "fixp-wss", "engine-wss"],
        200,
    );
    assert_eq!(report["scale"], Value::Array(Vec::new()));
    assert_eq!(names(&report["throughput"]), Vec::<&str>::new());
    assert_eq!(report["options"]["repeat"], 2);
    assert_eq!(report["options"]["size"], 2000);
}

#[test]
fn throughput_for_a_duration_is_confirmed_by_the_receiver() {
    let report = run_json(&[
        "--rows",
        "fixp-wss-oneway,engine-wss-oneway",
        "--seconds",
        "0.2",
        "--count",
        "50",
        "--warmup",
        "10",
        "--wait",
        "blocking",
        "--json",
    ]);
    check_throughput(&report, &ALL_THROUGHPUT, None);
    check_latency(&report, &["tcp", "ws", "wss"], 50);
    assert_eq!(report["options"]["throughput_seconds"], 0.2);
}

#[test]
fn markdown_and_list_print_the_tables_and_rows() {
    let out = perf(&[
        "--rows",
        "tcp",
        "--count",
        "50",
        "--warmup",
        "5",
        "--wait",
        "blocking",
        "--markdown",
    ]);
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("| row (µs) | p50 | p90 | p99 | p99.9 | p99.99 | max | allocs/msg |"));
    assert!(text.contains("| ratio to tcp / ws / wss | p50 | p90 | p99 | p99.9 |"));
    assert!(text.contains("| tcp | 1.00 / "));
    let list = String::from_utf8(perf(&["--list"]).stdout).unwrap();
    let big = ["engine-scale-100", "engine-scale-1000"];
    for row in ALL_LATENCY.iter().chain(&ALL_THROUGHPUT).chain(&big) {
        assert!(list.lines().any(|l| l.starts_with(row)), "{row}");
    }
}

#[test]
fn scale_rows_have_their_own_table() {
    let out = perf(&[
        "--rows",
        "engine-scale-1,engine-scale-10",
        "--count",
        "100",
        "--warmup",
        "20",
        "--wait",
        "blocking",
        "--markdown",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains(
        "| sessions | row | p50 (µs) | p99 (µs) | p50 / 1 session | p99 / 1 session | allocs/msg |"
    ));
    assert!(text.contains("| 1 | engine-scale-1 | "), "{text}");
    assert!(text.contains("| 10 | engine-scale-10 | "), "{text}");
    // Exactly rustls's four record buffers per round trip, as on the WSS floor.
    assert!(text.contains(" | 1.00 | 1.00 | 4.00 |"), "{text}");
}

#[test]
fn bad_options_are_clear_errors() {
    for (args, message) in [
        (
            &["--pin", "0,4096", "--count", "1"][..],
            "core 4096 is not available",
        ),
        (
            &["--rows", "nope"][..],
            "unknown row \"nope\" (rows: tcp, ws, wss",
        ),
        (&["--rate", "0"][..], "--rate must be at least 1"),
        (
            &["--seconds", "0"][..],
            "--seconds must be a positive number",
        ),
    ] {
        let out = perf(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
