//! `fixp-perf`: loopback latency and throughput of bare TCP, WebSocket, WSS, FIXP over WSS and
//! full engines (inline and thread strategies, SBE and JSON, 1 to 1 000 sessions), each row
//! reported as HdrHistogram percentiles (or messages/s), as ratios to the floors
//! measured in the same run, and as allocations per message.
//!
//! Latency rows run flat out (ping-pong) or at a fixed rate with coordinated-omission
//! correction (`--rate`); throughput rows send one way and the receiver confirms the count.
//! Every row runs a server thread and a client thread; both poll with mio: `busy` polls with a
//! zero timeout in a loop, `blocking` sleeps in `epoll_wait` until readiness.
//!
//! Modules: [`runner`] (threads, phases, schedule, counting), [`rows`] (the registry and the
//! rows), [`report`] (tables, JSON, files), [`hgrm`] (HdrHistogram's text format), [`plot`]
//! (the SVG).
#![deny(missing_docs)]

mod hgrm;
mod plot;
mod report;
mod rows;
mod runner;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;

use crate::report::{Report, RunInfo};
use crate::runner::{Amount, Res, RunConfig, Wait};

/// Counts allocations only on the threads the runner tracks (the measured phase of the server
/// and client threads), never libtest's or main's.
#[global_allocator]
static ALLOC: fixp_ws::alloc_count::CountingAllocator = fixp_ws::alloc_count::CountingAllocator;

/// Command line.
#[derive(Parser, Debug)]
#[command(
    name = "fixp-perf",
    version,
    about = "Loopback latency and throughput: TCP, WS and WSS floors, FIXP over WSS"
)]
struct Cli {
    /// Rows to run (default: all; `--list` names them). The floors tcp, ws and wss always run,
    /// and wss-oneway runs with any throughput row.
    #[arg(long, value_delimiter = ',')]
    rows: Vec<String>,
    /// Lists the rows and exits.
    #[arg(long)]
    list: bool,
    /// Message size in bytes (for FIXP: the whole SBE application message, at least 8).
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Measured messages per latency row.
    #[arg(long, default_value_t = 20_000)]
    count: u64,
    /// Unmeasured messages first, per row.
    #[arg(long, default_value_t = 2_000)]
    warmup: u64,
    /// Send the latency rows' messages at this fixed rate (messages/s) and measure each from
    /// its intended send time (coordinated-omission correction). Default: flat out.
    #[arg(long)]
    rate: Option<u64>,
    /// Messages each throughput row sends one way (measured, after the warm-up).
    #[arg(long, default_value_t = 200_000)]
    messages: u64,
    /// Send for this many seconds instead of `--messages`.
    #[arg(long)]
    seconds: Option<f64>,
    /// Run the whole set of rows this many times, interleaved, and merge each row's results:
    /// load from other processes then hits every row alike.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// Wait mode of every thread.
    #[arg(long, value_enum, default_value_t = Wait::Busy)]
    wait: Wait,
    /// Pin the server thread to the first core and the client thread to the second, e.g.
    /// `--pin 0,1` (core ids as the OS numbers them). Default: not pinned.
    #[arg(long, value_delimiter = ',')]
    pin: Option<Vec<usize>>,
    /// Print the JSON summary instead of the tables.
    #[arg(long)]
    json: bool,
    /// Print the tables as Markdown (the form perf/RESULTS.md uses).
    #[arg(long)]
    markdown: bool,
    /// Write `<row>.hgrm`, `summary.json` and `latency.svg` into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// CI smoke run: every row but the 100- and 1 000-session ones, 2 000 messages after 200
    /// (5 000 one way), blocking waits,
    /// outputs written (to a fresh temporary directory unless `--out` is given). Overrides
    /// `--rows`, `--count`, `--warmup`, `--messages`, `--seconds` and `--wait`. It asserts
    /// nothing about latency.
    #[arg(long)]
    smoke: bool,
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "unknown".into())
}

fn run(mut cli: Cli) -> Res<()> {
    if cli.list {
        for spec in rows::ROWS {
            let kind = format!("{:?}", spec.kind).to_lowercase();
            let floor = if spec.floor { ", floor" } else { "" };
            println!("{:<16} {kind}{floor}: {}", spec.name, spec.about);
        }
        return Ok(());
    }
    if cli.smoke {
        cli.rows.clear();
        cli.count = 2_000;
        cli.warmup = 200;
        cli.messages = 5_000;
        cli.seconds = None;
        cli.wait = Wait::Blocking;
        if cli.out.is_none() {
            cli.out =
                Some(std::env::temp_dir().join(format!("fixp-perf-smoke-{}", std::process::id())));
        }
    }
    if cli.count == 0 {
        return Err("--count must be at least 1".into());
    }
    if cli.rate == Some(0) {
        return Err("--rate must be at least 1 message/s".into());
    }
    let amount = match cli.seconds {
        Some(s) if s.is_finite() && s > 0.0 => Amount::Duration(Duration::from_secs_f64(s)),
        Some(_) => return Err("--seconds must be a positive number".into()),
        None if cli.messages == 0 => return Err("--messages must be at least 1".into()),
        None => Amount::Count(cli.messages),
    };
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
        rate: cli.rate,
        amount,
        wait: cli.wait,
        server_core,
        client_core,
    };
    let selected = rows::select(&cli.rows, cli.smoke)?;
    let load_before = load_average();
    let started = Instant::now();
    let results = runner::run_rows(&config, &selected, cli.repeat)?;
    let report = Report {
        info: RunInfo {
            config,
            repeat: cli.repeat.max(1),
            pinned: cli.pin.clone(),
            cores: cores.len(),
            load: (load_before, load_average()),
            seconds: started.elapsed().as_secs_f64(),
        },
        rows: &results,
    };
    if let Some(dir) = &cli.out {
        let written = report.write(dir)?;
        eprintln!(
            "fixp-perf: wrote {} into {}",
            written.join(", "),
            dir.display()
        );
    }
    if cli.json {
        println!("{}", report.json());
    } else if cli.markdown {
        print!("{}", report.markdown());
    } else {
        print!("{}", report.text());
    }
    Ok(())
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fixp-perf: {e}");
            ExitCode::from(2)
        }
    }
}
