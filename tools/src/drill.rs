//! `fixp-drill`: crash drills for journaled sessions (issue #9).
//!
//! - `exchange`, `trader`: the two child processes, each a journaled engine with its own small
//!   strategy (`drill/exchange.rs`, `drill/trader.rs`), writing an append-only witness log;
//! - `run --rounds 20 --seed S`: starts both over TLS WebSocket on loopback (a self-signed
//!   certificate made once per run; `--plain` for ws://), `kill -9`s one of them (seeded
//!   choice; at times both, or the peer while a retransmission arrives) at a seeded point of
//!   the order stream, restarts it on the same journal, twenty times, lets the trader finalize
//!   (with one more seeded kill during finalization), then checks exactly-once delivery both
//!   ways and runs `fixp-journal verify` on every journal; then the corruption drill;
//! - `corrupt`: the corruption drill alone (a flipped byte in a journaled order that the
//!   exchange has not received: `verify` reports it, and the restarted trader never sends it);
//! - `check --dir D --orders N`: the checks alone, on a kept run directory.
//!
//! Exit code: 0 when every check passed, 1 on a violation, 2 on an error.

#[path = "drill/check.rs"]
mod check;
#[path = "drill/corrupt.rs"]
mod corrupt;
#[path = "drill/exchange.rs"]
mod exchange;
#[path = "drill/proto.rs"]
mod proto;
#[path = "drill/run.rs"]
mod run;
#[path = "drill/trader.rs"]
mod trader;

use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Parser, Subcommand};
use fixp_ws::engine::{EngineConfig, EngineHandle, IdleMode, Strategy};
use fixp_ws::journal::{JournalConfig, RingConfig};

/// The WebSocket path both children use.
pub(crate) const PATH: &str = "/drill";

#[derive(Parser)]
#[command(
    name = "fixp-drill",
    about = "Crash drills: kill -9 a journaled exchange and trader, check exactly once"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The exchange child (journaled acceptor).
    Exchange(exchange::ExchangeArgs),
    /// The trader child (journaled initiator).
    Trader(trader::TraderArgs),
    /// The crash drill: rounds of kill -9 and restart, then the checks and the corruption drill.
    Run(run::RunArgs),
    /// The corruption drill alone.
    Corrupt(run::DrillArgs),
    /// The checks alone, on the directory of a finished `run --keep`.
    Check(run::CheckArgs),
}

/// What both children are told: where the exchange listens, the journal, the witness log, the
/// journal segment size and where to die.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct ChildArgs {
    /// The exchange's address (it listens there; the trader connects there).
    #[arg(long)]
    pub addr: std::net::SocketAddr,
    /// Plain ws:// instead of TLS.
    #[arg(long)]
    pub plain: bool,
    /// Journal directory (the exchange's acceptor journal, the trader's session journal).
    #[arg(long)]
    pub journal: std::path::PathBuf,
    /// Witness log.
    #[arg(long)]
    pub witness: std::path::PathBuf,
    /// Bytes of each of the two journal segments per direction.
    #[arg(long, default_value_t = 1 << 20)]
    pub segment_bytes: usize,
    /// Kill this process at a crash site: `order-received:K` or `report-sent:K` (exchange),
    /// `order-sent:K` or `report-received:K` (trader).
    #[arg(long)]
    pub crash_at: Option<proto::CrashPoint>,
}

impl ChildArgs {
    /// Creates the journal directory and opens the witness log.
    pub fn open(&self) -> Result<proto::Witness, String> {
        std::fs::create_dir_all(&self.journal)
            .map_err(|e| format!("{}: {e}", self.journal.display()))?;
        proto::Witness::open(&self.witness).map_err(|e| format!("{}: {e}", self.witness.display()))
    }
}

/// Engine settings of both children: blocking idle (a drill shares the machine), quick
/// reconnects.
pub(crate) fn child_engine_config() -> EngineConfig {
    EngineConfig {
        idle: IdleMode::Block(Duration::from_millis(2)),
        reconnect_min: Duration::from_millis(20),
        reconnect_max: Duration::from_millis(200),
        timings: false,
        ..EngineConfig::default()
    }
}

/// Journal rings of both children: two segments of `segment_bytes` per direction.
pub(crate) fn journal_config(segment_bytes: usize) -> JournalConfig {
    let ring = RingConfig {
        segment_bytes,
        segment_count: 2,
        max_messages: 1 << 14,
    };
    JournalConfig {
        outbound: ring,
        inbound: ring,
        ..JournalConfig::default()
    }
}

/// Waits for `done` (the session finalized) or the engine's end, then shuts the engine down.
pub(crate) fn wait_done<S: Strategy>(
    mut engine: EngineHandle<S>,
    done: &AtomicBool,
) -> Result<(), String> {
    while !done.load(Ordering::Acquire) && !engine.is_finished() {
        std::thread::sleep(Duration::from_millis(5));
    }
    engine.shutdown();
    engine.join()?;
    if done.load(Ordering::Acquire) {
        Ok(())
    } else {
        Err("engine stopped before the session was finalized".into())
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let outcome = match &cli.command {
        Command::Exchange(args) => exchange::run(args).map(|()| true),
        Command::Trader(args) => trader::run(args).map(|()| true),
        Command::Run(args) => run::run(args),
        Command::Corrupt(args) => run::corrupt_only(args),
        Command::Check(args) => Ok(run::check_only(args)),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(e) => {
            eprintln!("fixp-drill: {e}");
            ExitCode::from(2)
        }
    }
}
