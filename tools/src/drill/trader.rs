//! `fixp-drill trader`: a journaled initiator (client flow Recoverable) that sends the numbered
//! orders 1..=N (order k goes out as sequence number k), at most `window` unanswered, and never
//! beyond the gate the drill writes on its stdin (one number per line). Once every order is
//! answered it finalizes the session and exits.
//!
//! At start it reads its journals (read-only, before the engine takes them): the next order is
//! the outbound journal's last number + 1, and reports journaled inbound but never witnessed (a
//! crash between the engine's journal append and the hand-over) are written as recovered.
//!
//! Witness lines: `J k` (order k's send returned, so it is journaled), `R seq k` (report for k
//! handed over as seq), `C seq k` (recovered from the journal), `E text` (a session event),
//! `F` (finalized), `X text` (something the drill must flag).
//!
//! Owns: the trader child's strategy and engine. May not touch: the drill's checks.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::SessionId;
use fixp_ws::engine::{
    Context, EngineBuilder, InboundMessage, InitiatorConfig, JournalSetup, SessionKey, Strategy,
};
use fixp_ws::session::{Event, SessionConfig, SessionState};
use fixp_ws::transport::{
    client_config_from_ca_pem, ClientTarget, Subprotocol, WireEncoding, WsOptions,
};

use super::proto::{self, CrashPoint, Numbered, Site, Witness};
use super::{child_engine_config, journal_config, wait_done, ChildArgs, PATH};

/// How the trader child is started.
#[derive(clap::Args, Debug, Clone)]
pub struct TraderArgs {
    /// The exchange's address, journal, witness, crash point.
    #[command(flatten)]
    pub child: ChildArgs,
    /// CA (the exchange's certificate) PEM; omit with --plain.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Orders in all.
    #[arg(long)]
    pub orders: u64,
    /// Unanswered orders at most.
    #[arg(long, default_value_t = 8)]
    pub window: u64,
    /// Seed of the SessionId (used only when the journal holds no session yet).
    #[arg(long, default_value_t = 1)]
    pub session_seed: u64,
}

/// The trader strategy.
pub struct DrillTrader {
    witness: Witness,
    key: Option<SessionKey>,
    next: u64,
    reports: u64,
    orders: u64,
    window: u64,
    gate: Arc<AtomicU64>,
    finalizing: bool,
    crash: Option<CrashPoint>,
    done: Arc<AtomicBool>,
}

impl DrillTrader {
    fn established(&self, ctx: &Context<'_>, key: SessionKey) -> bool {
        ctx.session(key)
            .is_some_and(|s| s.status.state == SessionState::Established)
    }
}

impl Strategy for DrillTrader {
    fn on_session(&mut self, _ctx: &mut Context<'_>, session: SessionKey) {
        self.key = Some(session);
    }

    fn on_message(&mut self, _ctx: &mut Context<'_>, m: InboundMessage<'_>) {
        match proto::numbered(m.bytes) {
            Some(Numbered::Report(k)) => {
                CrashPoint::check(self.crash, Site::ReportReceived, k);
                self.witness.line('R', &[&m.seq, &k]);
                self.reports += 1;
            }
            other => self
                .witness
                .line('X', &[&"unexpected message", &m.seq, &format!("{other:?}")]),
        }
    }

    fn on_event(&mut self, _ctx: &mut Context<'_>, _session: SessionKey, event: Event<'static>) {
        match event {
            Event::Finalized => {
                CrashPoint::check(self.crash, Site::Finalized, self.orders);
                self.witness.line('F', &[]);
                self.done.store(true, Ordering::Release);
            }
            Event::Terminated(reason) => self.witness.line('E', &[&format!("{reason:?}")]),
            Event::RetransmitRejected {
                from_seq_no,
                count,
                code,
            } => self.witness.line(
                'X',
                &[
                    &"retransmit rejected",
                    &from_seq_no,
                    &count,
                    &format!("{code:?}"),
                ],
            ),
            _ => {}
        }
    }

    fn on_cycle(&mut self, ctx: &mut Context<'_>) -> usize {
        let Some(key) = self.key else {
            return 0;
        };
        if self.finalizing || !self.established(ctx, key) {
            return 0;
        }
        let gate = self.gate.load(Ordering::Acquire);
        let mut sent = 0;
        while self.next <= self.orders.min(gate)
            && (self.next - 1).saturating_sub(self.reports) < self.window
        {
            let k = self.next;
            match ctx.send_with(key, |slot| proto::encode(&proto::order(k), slot)) {
                Ok(seq) => {
                    CrashPoint::check(self.crash, Site::OrderSent, k);
                    self.witness.line('J', &[&k]);
                    if seq != k {
                        self.witness
                            .line('X', &[&"order", &k, &"sent as seq", &seq]);
                    }
                    self.next += 1;
                    sent += 1;
                }
                Err(_) => break,
            }
        }
        if self.next > self.orders && self.reports >= self.orders && ctx.finalize(key).is_ok() {
            self.finalizing = true;
            CrashPoint::check(self.crash, Site::FinishSent, self.orders);
        }
        sent
    }
}

/// Reads the journals under `root` and the witness: writes `C` lines for reports journaled
/// but never witnessed; returns (the next order number, the reports received so far).
fn recover(root: &Path, witness_path: &Path, witness: &mut Witness) -> (u64, u64) {
    let lines = proto::read_witness(witness_path);
    let (mut seen, _) = proto::witnessed(&lines, &['R', 'C']);
    let (out, inbound) = proto::read_session(root);
    for (seq, n) in inbound.numbered() {
        if let (Some(Numbered::Report(k)), false) = (n, seen.contains_key(&seq)) {
            witness.line('C', &[&seq, &k]);
            seen.insert(seq, k);
        }
    }
    (out.last_seq().unwrap_or(0) + 1, seen.len() as u64)
}

/// Reads gate numbers from stdin into `gate` until stdin closes.
fn read_gate(gate: Arc<AtomicU64>) {
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if let Ok(n) = line.trim().parse::<u64>() {
                gate.fetch_max(n, Ordering::AcqRel);
            }
        }
    });
}

/// Runs the trader child until its session is finalized.
pub fn run(args: &TraderArgs) -> Result<(), String> {
    let child = &args.child;
    let mut witness = child.open()?;
    let (next, reports) = recover(&child.journal, &child.witness, &mut witness);
    if proto::newest_generation(&child.journal).is_some_and(|g| g.join("finalized").exists()) {
        // Killed after the engine marked the session finalized (before the strategy saw it):
        // the session is over; the engine would negotiate a new one.
        witness.line('F', &[&"restored"]);
        return Ok(());
    }
    let gate = Arc::new(AtomicU64::new(0));
    read_gate(Arc::clone(&gate));
    let done = Arc::new(AtomicBool::new(false));
    let strategy = DrillTrader {
        witness,
        key: None,
        next,
        reports,
        orders: args.orders,
        window: args.window.max(1),
        gate,
        finalizing: false,
        crash: child.crash_at,
        done: Arc::clone(&done),
    };
    let tls = match (&args.ca, child.plain) {
        (_, true) => None,
        (Some(ca), false) => {
            let pem = std::fs::read_to_string(ca).map_err(|e| format!("{}: {e}", ca.display()))?;
            Some(client_config_from_ca_pem(&pem).map_err(|e| e.to_string())?)
        }
        (None, false) => return Err("--ca, or --plain".into()),
    };
    let mut seed = [0u8; 16];
    seed[..8].copy_from_slice(&args.session_seed.to_le_bytes());
    seed[8..].copy_from_slice(&(!args.session_seed).to_le_bytes());
    let session = InitiatorConfig {
        target: ClientTarget {
            addr: child.addr,
            host: "localhost".into(),
            tls,
        },
        transport: WsOptions {
            path: PATH.into(),
            subprotocols: vec![Subprotocol::FixpSbe],
            ..WsOptions::default()
        }
        .into(),
        encoding: WireEncoding::Sbe,
        session: SessionConfig {
            flow: FlowType::Recoverable,
            keepalive_interval_ms: 500,
            ..SessionConfig::default()
        },
        session_id: SessionId::from_random_bytes(seed),
        journal: Some(JournalSetup {
            dir: child.journal.clone(),
            config: journal_config(child.segment_bytes),
        }),
    };
    let mut builder =
        EngineBuilder::with_strategy(child_engine_config(), strategy).map_err(|e| e.to_string())?;
    builder
        .initiate_inline(session)
        .map_err(|e| e.to_string())?;
    let engine = builder.start().map_err(|e| e.to_string())?;
    wait_done(engine, &done)
}
