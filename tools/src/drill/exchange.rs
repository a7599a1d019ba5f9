//! `fixp-drill exchange`: a journaled acceptor (server flow Recoverable) that answers each
//! order with one ExecutionReport carrying the order's number.
//!
//! Exactly once across `kill -9`: the engine journals an inbound message before it hands it
//! over, so a crash can leave an order journaled but unanswered. At start the exchange reads its
//! journals (read-only, before the engine takes them): orders in the inbound journal with no
//! report in the outbound journal are answered once the session is back, and orders it never
//! witnessed are written to its witness as recovered (`C`). The outbound journal is the record
//! of what was answered, so nothing is answered twice.
//!
//! Witness lines: `O seq k` (order k handed over), `C seq k` (recovered from the journal),
//! `A seq k` (report for k sent as seq), `E text` (a session event), `F` (finalized), `X text`
//! (something the drill must flag).
//!
//! Owns: the exchange child's strategy and engine. May not touch: the drill's checks.

use std::collections::{BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::engine::{Context, EngineBuilder, InboundMessage, JournalSetup, SessionKey, Strategy};
use fixp_ws::session::{AcceptAll, Event, SessionState};
use fixp_ws::transport::{ServerIdentity, WsOptions};

use super::proto::{self, CrashPoint, Numbered, Site, Witness};
use super::{child_engine_config, journal_config, wait_done, ChildArgs, PATH};

/// How the exchange child is started.
#[derive(clap::Args, Debug, Clone)]
pub struct ExchangeArgs {
    /// Address, journal, witness, crash point.
    #[command(flatten)]
    pub child: ChildArgs,
    /// Certificate PEM (omit with --plain).
    #[arg(long)]
    pub cert: Option<PathBuf>,
    /// Private key PEM (omit with --plain).
    #[arg(long)]
    pub key: Option<PathBuf>,
}

/// The exchange strategy.
pub struct DrillExchange {
    witness: Witness,
    key: Option<SessionKey>,
    pending: VecDeque<u64>,
    now: u64,
    crash: Option<CrashPoint>,
}

impl DrillExchange {
    /// Sends the reports waiting for the session; stops at the first refusal (retried later).
    fn flush(&mut self, ctx: &mut Context<'_>) -> usize {
        let Some(key) = self.key else {
            return 0;
        };
        let mut sent = 0;
        while let Some(&k) = self.pending.front() {
            match ctx.send_with(key, |slot| proto::encode(&proto::report(k), slot)) {
                Ok(seq) => {
                    CrashPoint::check(self.crash, Site::ReportSent, k);
                    self.witness.line('A', &[&seq, &k]);
                    self.pending.pop_front();
                    sent += 1;
                }
                Err(_) => break,
            }
        }
        sent
    }
}

impl Strategy for DrillExchange {
    fn on_session(&mut self, ctx: &mut Context<'_>, session: SessionKey) {
        self.key = Some(session);
        self.flush(ctx);
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, m: InboundMessage<'_>) {
        match proto::numbered(m.bytes) {
            Some(Numbered::Order(k)) => {
                CrashPoint::check(self.crash, Site::OrderReceived, k);
                self.witness.line('O', &[&m.seq, &k]);
                if k != m.seq {
                    self.witness
                        .line('X', &[&"order", &k, &"arrived as seq", &m.seq]);
                }
                self.pending.push_back(k);
                self.flush(ctx);
            }
            other => self
                .witness
                .line('X', &[&"unexpected message", &m.seq, &format!("{other:?}")]),
        }
    }

    fn on_event(&mut self, ctx: &mut Context<'_>, _session: SessionKey, event: Event<'static>) {
        match event {
            Event::StateChanged(SessionState::Established) => {
                self.flush(ctx);
            }
            Event::Finalized => {
                CrashPoint::check(self.crash, Site::Finalized, u64::MAX);
                self.witness.line('F', &[]);
            }
            Event::Terminated(reason) => self.witness.line('E', &[&format!("{reason:?}")]),
            _ => {}
        }
    }

    fn on_cycle(&mut self, ctx: &mut Context<'_>) -> usize {
        self.now = ctx.now();
        if self.pending.is_empty() {
            0
        } else {
            self.flush(ctx)
        }
    }

    fn next_deadline(&self) -> Option<u64> {
        (!self.pending.is_empty()).then_some(self.now + 2_000_000)
    }
}

/// Reads the journals under `root` and the witness: writes `C` lines for orders journaled but
/// never witnessed, returns the orders journaled inbound that have no report journaled outbound.
fn recover(root: &Path, witness_path: &Path, witness: &mut Witness) -> VecDeque<u64> {
    let lines = proto::read_witness(witness_path);
    let (seen, _) = proto::witnessed(&lines, &['O', 'C']);
    let mut pending = VecDeque::new();
    for session in proto::acceptor_session_roots(root) {
        let (out, inbound) = proto::read_session(&session);
        let answered: BTreeSet<u64> = out
            .numbered()
            .values()
            .filter_map(|n| match n {
                Some(Numbered::Report(k)) => Some(*k),
                _ => None,
            })
            .collect();
        for (seq, n) in inbound.numbered() {
            let Some(Numbered::Order(k)) = n else {
                continue;
            };
            if !seen.contains_key(&seq) {
                witness.line('C', &[&seq, &k]);
            }
            if !answered.contains(&k) {
                pending.push_back(k);
            }
        }
    }
    pending
}

/// Runs the exchange child until it is killed.
pub fn run(args: &ExchangeArgs) -> Result<(), String> {
    let child = &args.child;
    let mut witness = child.open()?;
    let sessions = proto::acceptor_session_roots(&child.journal);
    if !sessions.is_empty() && sessions.iter().all(|s| s.join("finalized").exists()) {
        // Killed after the engine marked the session finalized (before the strategy saw it).
        witness.line('F', &[&"restored"]);
    }
    let pending = recover(&child.journal, &child.witness, &mut witness);
    let strategy = DrillExchange {
        witness,
        key: None,
        pending,
        now: 0,
        crash: child.crash_at,
    };
    let mut config = child_engine_config();
    config.acceptor.session.flow = FlowType::Recoverable;
    config.acceptor.client_flows = vec![FlowType::Recoverable];
    config.acceptor_journal = Some(JournalSetup {
        dir: child.journal.clone(),
        config: journal_config(child.segment_bytes),
    });
    let tls = match (&args.cert, &args.key, child.plain) {
        (_, _, true) => None,
        (Some(cert), Some(key), false) => Some(
            ServerIdentity::from_pem_files(cert, key)
                .and_then(|id| id.server_config())
                .map_err(|e| e.to_string())?,
        ),
        _ => return Err("--cert and --key, or --plain".into()),
    };
    let mut builder = EngineBuilder::with_strategy(config, strategy).map_err(|e| e.to_string())?;
    builder.authenticator(Box::new(AcceptAll));
    builder
        .listen(
            child.addr,
            tls,
            WsOptions {
                path: PATH.into(),
                ..WsOptions::default()
            },
        )
        .map_err(|e| e.to_string())?;
    let engine = builder.start().map_err(|e| e.to_string())?;
    // An exchange serves until the drill kills it (after its session finalized).
    wait_done(engine, &AtomicBool::new(false))
}
