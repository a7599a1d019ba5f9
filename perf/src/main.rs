//! `fixp-perf`: loopback ping-pong latency of bare TCP, WebSocket, WSS and FIXP over WSS,
//! each reported as HdrHistogram percentiles and as a ratio to the bare-TCP baseline measured
//! in the same run.
//!
//! Every row runs a server thread (echo) and a client thread (measures). The client sends one
//! message, waits for the echo, and records the round trip (`Instant`, ns); the first
//! `--warmup` round trips are not recorded. Both threads poll with mio: `busy` polls with a
//! zero timeout in a loop, `blocking` sleeps in `epoll_wait` until readiness.
#![deny(missing_docs)]

mod rows;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use core_affinity::CoreId;
use hdrhistogram::Histogram;
use serde_json::{json, Value};

/// What a row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum Row {
    /// Bare TCP (mio, non-blocking, TCP_NODELAY): the baseline.
    Tcp,
    /// WebSocket over TCP through the project's transport (`ws://`).
    Ws,
    /// WebSocket over TLS 1.3 (rustls, ring) through the project's transport (`wss://`).
    Wss,
    /// An application message through client and server FIXP sessions, the SBE codec and WSS.
    Fixp,
}

impl Row {
    fn name(self) -> &'static str {
        match self {
            Row::Tcp => "tcp",
            Row::Ws => "ws",
            Row::Wss => "wss",
            Row::Fixp => "fixp-wss",
        }
    }
}

/// How the threads wait for the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Wait {
    /// Poll with a zero timeout in a loop (one core per thread at 100%).
    Busy,
    /// Sleep in `epoll_wait` until the socket is ready.
    Blocking,
}

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "fixp-perf",
    version,
    about = "Loopback ping-pong latency: TCP baseline, WS, WSS, FIXP over WSS"
)]
struct Cli {
    /// Rows to run (tcp always runs: it is the baseline).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [Row::Tcp, Row::Ws, Row::Wss, Row::Fixp])]
    rows: Vec<Row>,
    /// Message size in bytes (for FIXP: the whole SBE application message, at least 8).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Measured round trips per row.
    #[arg(long, default_value_t = 20_000)]
    count: u64,
    /// Round trips before measuring, per row.
    #[arg(long, default_value_t = 2_000)]
    warmup: u64,
    /// Run the whole set of rows this many times, interleaved, and merge each row's
    /// histograms: load from other processes then hits every row alike.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Wait mode of both threads.
    #[arg(long, value_enum, default_value_t = Wait::Busy)]
    wait: Wait,
    /// Pin the server thread to the first core and the client thread to the second, e.g.
    /// `--pin 0,1` (core ids as the OS numbers them). Default: not pinned.
    #[arg(long, value_delimiter = ',')]
    pin: Option<Vec<usize>>,
    /// One JSON object instead of a table.
    #[arg(long)]
    json: bool,
}

/// Settings one row runs with.
#[derive(Clone, Copy, Debug)]
pub struct RunConfig {
    /// Message size.
    pub size: usize,
    /// Measured round trips.
    pub count: u64,
    /// Unmeasured round trips first.
    pub warmup: u64,
    /// Wait mode.
    pub wait: Wait,
    /// Core of the server thread.
    pub server_core: Option<CoreId>,
    /// Core of the client thread.
    pub client_core: Option<CoreId>,
}

impl RunConfig {
    /// The mio poll timeout for this wait mode (blocking wakes up now and then to notice a
    /// stop request).
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.wait {
            Wait::Busy => Some(Duration::ZERO),
            Wait::Blocking => Some(Duration::from_millis(50)),
        }
    }
}

/// The client's round-trip recorder.
pub struct Recorder {
    histogram: Histogram<u64>,
    warmup: u64,
    seen: u64,
}

impl Recorder {
    fn new(warmup: u64) -> Result<Self, String> {
        let histogram = Histogram::new_with_bounds(1, 60_000_000_000, 3)
            .map_err(|e| format!("histogram: {e}"))?;
        Ok(Recorder {
            histogram,
            warmup,
            seen: 0,
        })
    }

    /// Records the round trip that started at `start` (skipped during warm-up).
    pub fn record(&mut self, start: Instant) {
        let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.seen += 1;
        if self.seen > self.warmup {
            self.histogram.saturating_record(ns.max(1));
        }
    }
}

/// Percentiles of one row, ns.
#[derive(Clone, Debug)]
struct Summary {
    row: Row,
    count: u64,
    values: [u64; 6],
    mean: f64,
}

const QUANTILES: [(&str, f64); 5] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
];

fn summarize(row: Row, h: &Histogram<u64>) -> Summary {
    let mut values = [0u64; 6];
    for (slot, (_, q)) in values.iter_mut().zip(QUANTILES) {
        *slot = h.value_at_quantile(q);
    }
    values[5] = h.max();
    Summary {
        row,
        count: h.len(),
        values,
        mean: h.mean(),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn run(cli: &Cli) -> Result<(), String> {
    if cli.count == 0 {
        return Err("--count must be at least 1".into());
    }
    // Read the core list once, before anything is pinned: a pinned thread (and every thread it
    // spawns) sees only its own core.
    let cores = core_affinity::get_core_ids().unwrap_or_default();
    let pick = |id: usize| {
        cores
            .iter()
            .copied()
            .find(|c| c.id == id)
            .ok_or_else(|| format!("core {id} is not available (have {:?})", cores))
    };
    let (server_core, client_core) = match &cli.pin {
        Some(ids) => match ids.as_slice() {
            [s, c] => (Some(pick(*s)?), Some(pick(*c)?)),
            _ => return Err("--pin takes two core ids: server,client".into()),
        },
        None => (None, None),
    };
    let config = RunConfig {
        size: cli.size.max(1),
        count: cli.count,
        warmup: cli.warmup,
        wait: cli.wait,
        server_core,
        client_core,
    };
    let mut rows = cli.rows.clone();
    rows.push(Row::Tcp);
    rows.sort();
    rows.dedup();
    let load_before = load_average();
    let started = Instant::now();
    let mut merged: Vec<Option<Histogram<u64>>> = vec![None; rows.len()];
    for _ in 0..cli.repeat.max(1) {
        for (row, total) in rows.iter().zip(merged.iter_mut()) {
            let recorder = Recorder::new(config.warmup)?;
            let recorder = match row {
                Row::Tcp => rows::tcp(&config, recorder),
                Row::Ws => rows::websocket(&config, recorder, false),
                Row::Wss => rows::websocket(&config, recorder, true),
                Row::Fixp => rows::fixp(&config, recorder),
            }
            .map_err(|e| format!("{}: {e}", row.name()))?;
            match total {
                Some(h) => h
                    .add(&recorder.histogram)
                    .map_err(|e| format!("histogram: {e}"))?,
                None => *total = Some(recorder.histogram),
            }
        }
    }
    let summaries: Vec<Summary> = rows
        .iter()
        .zip(&merged)
        .filter_map(|(row, h)| h.as_ref().map(|h| summarize(*row, h)))
        .collect();
    let elapsed = started.elapsed();
    let load_after = load_average();
    let baseline = summaries
        .iter()
        .find(|s| s.row == Row::Tcp)
        .map(|s| s.values)
        .unwrap_or([1; 6]);
    let ratio = |v: u64, b: u64| v as f64 / b.max(1) as f64;
    if cli.json {
        let rows: Vec<Value> = summaries
            .iter()
            .map(|s| {
                let mut ns = serde_json::Map::new();
                let mut rel = serde_json::Map::new();
                for (i, name) in QUANTILES.iter().map(|q| q.0).chain(["max"]).enumerate() {
                    ns.insert(name.into(), json!(s.values[i]));
                    rel.insert(
                        name.into(),
                        json!((ratio(s.values[i], baseline[i]) * 100.0).round() / 100.0),
                    );
                }
                json!({
                    "row": s.row.name(),
                    "count": s.count,
                    "mean_ns": s.mean.round(),
                    "ns": ns,
                    "ratio_to_tcp": rel,
                })
            })
            .collect();
        let out = json!({
            "size": config.size,
            "count": config.count,
            "warmup": config.warmup,
            "repeat": cli.repeat.max(1),
            "wait": format!("{:?}", config.wait).to_lowercase(),
            "pinned": cli.pin,
            "cores": cores.len(),
            "load_before": load_before,
            "load_after": load_after,
            "seconds": elapsed.as_secs_f64(),
            "rows": rows,
        });
        println!("{out}");
        return Ok(());
    }
    println!(
        "fixp-perf: {} B, {} round trips after {} warm-up, x{}, {:?}, pinned {:?}, {} cores, \
         load {load_before} -> {load_after}, {:.1} s",
        config.size,
        config.count,
        config.warmup,
        cli.repeat.max(1),
        config.wait,
        cli.pin,
        cores.len(),
        elapsed.as_secs_f64()
    );
    println!(
        "{:<9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9}  | ratio to tcp: {:>5} {:>5} {:>5} {:>6}",
        "row (µs)", "p50", "p90", "p99", "p99.9", "p99.99", "max", "p50", "p99", "p99.9", "p99.99"
    );
    for s in &summaries {
        let us = |v: u64| v as f64 / 1000.0;
        println!(
            "{:<9} {:>8.2} {:>8.2} {:>8.2} {:>8.1} {:>8.1} {:>9.1}  |               {:>5.2} {:>5.2} {:>5.2} {:>6.2}",
            s.row.name(),
            us(s.values[0]),
            us(s.values[1]),
            us(s.values[2]),
            us(s.values[3]),
            us(s.values[4]),
            us(s.values[5]),
            ratio(s.values[0], baseline[0]),
            ratio(s.values[2], baseline[2]),
            ratio(s.values[3], baseline[3]),
            ratio(s.values[4], baseline[4]),
        );
    }
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fixp-perf: {e}");
            ExitCode::from(2)
        }
    }
}
