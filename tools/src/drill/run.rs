//! The drill's driver: starts the children, raises the trader's gate, kills (`kill -9`) and
//! restarts them at seeded points of the stream, waits for the finalization, then hands the
//! directory to the checks.
//!
//! Kill points are chosen by message count (reports in the trader's witness), never by time;
//! the gate bounds the stream so that every round's kill lands while orders are in flight.
//!
//! Owns: child processes, the working directory, the seeded schedule. May not touch: the
//! children's engines (it only sees their files) or the verdicts (`check.rs`).

use std::fs::OpenOptions;
use std::io::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use std::os::unix::process::ExitStatusExt;

use super::proto::{self, CrashPoint, Site};
use super::{check, corrupt};

/// Settings shared by `run` and `corrupt`.
#[derive(clap::Args, Debug, Clone)]
pub struct DrillArgs {
    /// Working directory (journals, witnesses, child output); default: a fresh one under the
    /// system temp directory, removed after a pass.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Plain ws:// on loopback instead of TLS WebSocket.
    #[arg(long)]
    pub plain: bool,
    /// Unanswered orders the trader may have at once.
    #[arg(long, default_value_t = 8)]
    pub window: u64,
    /// Seconds any one wait may take before the drill reports a stall.
    #[arg(long, default_value_t = 60)]
    pub timeout_s: u64,
    /// Keep the working directory even after a pass.
    #[arg(long)]
    pub keep: bool,
}

/// `fixp-drill run`.
#[derive(clap::Args, Debug, Clone)]
pub struct RunArgs {
    #[command(flatten)]
    pub common: DrillArgs,
    /// Kill-and-restart rounds.
    #[arg(long, default_value_t = 20)]
    pub rounds: u64,
    /// Seed of the kill schedule (victim and point).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Orders per round.
    #[arg(long, default_value_t = 40)]
    pub per_round: u64,
    /// Skip the corruption drill.
    #[arg(long)]
    pub skip_corruption: bool,
}

/// `fixp-drill check`.
#[derive(clap::Args, Debug, Clone)]
pub struct CheckArgs {
    /// The kept working directory of a finished run.
    #[arg(long)]
    pub dir: PathBuf,
    /// The orders of that run (printed in its first line).
    #[arg(long)]
    pub orders: u64,
    /// The run's last kill was the trader at its `Finalized` event: the exchange's session may
    /// stay open.
    #[arg(long)]
    pub exchange_may_stay_open: bool,
}

/// One of the two children.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// The exchange (acceptor).
    Exchange,
    /// The trader (initiator).
    Trader,
}

impl Who {
    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Who::Exchange => "exchange",
            Who::Trader => "trader",
        }
    }

    /// The other child.
    pub fn other(self) -> Who {
        match self {
            Who::Exchange => Who::Trader,
            Who::Trader => Who::Exchange,
        }
    }
}

impl std::fmt::Display for Who {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.pad(self.name())
    }
}

/// SplitMix64: the seeded schedule (a few lines; no crate needed).
pub struct Schedule(u64);

impl Schedule {
    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number below `n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// Where a drill keeps its files.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The working directory.
    pub dir: PathBuf,
}

impl Paths {
    /// The exchange's acceptor journal root.
    pub fn exchange_journal(&self) -> PathBuf {
        self.dir.join("exchange-journal")
    }
    /// The trader's session journal root.
    pub fn trader_journal(&self) -> PathBuf {
        self.dir.join("trader-journal")
    }
    /// A child's witness log.
    pub fn witness(&self, who: Who) -> PathBuf {
        self.dir.join(format!("{who}.witness"))
    }
    /// A child's stdout and stderr.
    fn output(&self, who: Who) -> PathBuf {
        self.dir.join(format!("{who}.out"))
    }
}

/// Journal segments sized so that each direction's stream of `orders` records moves to its
/// second segment during the drill (an order record takes 80 bytes, a report 96) but never
/// recycles the first.
fn segment_bytes(orders: u64) -> u64 {
    (orders * 64).div_ceil(4096).max(2) * 4096
}

/// The two children and what the drill tells them.
pub struct Drill {
    /// Its files.
    pub paths: Paths,
    exe: PathBuf,
    addr: SocketAddr,
    plain: bool,
    orders: u64,
    window: u64,
    timeout: Duration,
    gate: u64,
    session_seed: u64,
    exchange: Option<Child>,
    trader: Option<(Child, ChildStdin)>,
}

impl Drill {
    /// A drill in `dir` (created) for `orders` orders: a certificate for the run unless plain,
    /// and a free loopback port.
    pub fn new(dir: &Path, args: &DrillArgs, orders: u64) -> Result<Drill, String> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        if !args.plain {
            let certified =
                rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                    .map_err(|e| e.to_string())?;
            let write = |name: &str, text: String| {
                std::fs::write(dir.join(name), text).map_err(|e| format!("{name}: {e}"))
            };
            write("cert.pem", certified.cert.pem())?;
            write("key.pem", certified.signing_key.serialize_pem())?;
        }
        // A free port, released for the exchange to bind (and to bind again after each kill).
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| e.to_string())?;
        Ok(Drill {
            paths: Paths {
                dir: dir.to_path_buf(),
            },
            exe: std::env::current_exe().map_err(|e| e.to_string())?,
            addr,
            plain: args.plain,
            orders,
            window: args.window,
            timeout: Duration::from_secs(args.timeout_s),
            gate: 0,
            // A SessionId of this drill only (drills may run side by side).
            session_seed: u64::from(std::process::id()) << 32 | u64::from(addr.port()),
            exchange: None,
            trader: None,
        })
    }

    /// The directory of the drill's executable (where `fixp-journal` is built too).
    pub fn bin_dir(&self) -> PathBuf {
        dir_of(&self.exe)
    }

    fn command(&self, who: Who) -> Result<Command, String> {
        let out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.paths.output(who))
            .map_err(|e| e.to_string())?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut command = Command::new(&self.exe);
        command.stdout(out).stderr(err);
        let dir = &self.paths.dir;
        let addr = self.addr.to_string();
        match who {
            Who::Exchange => {
                command.arg("exchange").arg("--addr").arg(&addr);
                command.arg("--journal").arg(self.paths.exchange_journal());
                if self.plain {
                    command.arg("--plain");
                } else {
                    command.arg("--cert").arg(dir.join("cert.pem"));
                    command.arg("--key").arg(dir.join("key.pem"));
                }
            }
            Who::Trader => {
                command.arg("trader").arg("--addr").arg(&addr);
                command.arg("--journal").arg(self.paths.trader_journal());
                command.arg("--orders").arg(self.orders.to_string());
                command.arg("--window").arg(self.window.to_string());
                command
                    .arg("--session-seed")
                    .arg(self.session_seed.to_string());
                if self.plain {
                    command.arg("--plain");
                } else {
                    command.arg("--ca").arg(dir.join("cert.pem"));
                }
                command.stdin(Stdio::piped());
            }
        }
        command.arg("--witness").arg(self.paths.witness(who));
        command
            .arg("--segment-bytes")
            .arg(segment_bytes(self.orders).to_string());
        Ok(command)
    }

    /// Starts a child (on its journal, as after a crash), to die at `crash` if given.
    pub fn start(&mut self, who: Who, crash: Option<CrashPoint>) -> Result<(), String> {
        let mut command = self.command(who)?;
        if let Some(point) = crash {
            command.arg("--crash-at").arg(point.to_string());
        }
        let mut child = command.spawn().map_err(|e| format!("{who}: {e}"))?;
        match who {
            Who::Exchange => self.exchange = Some(child),
            Who::Trader => {
                let stdin = child.stdin.take().ok_or("trader stdin")?;
                self.trader = Some((child, stdin));
                let gate = self.gate;
                self.set_gate(gate)?;
            }
        }
        Ok(())
    }

    /// Lets the trader send orders up to `gate`.
    pub fn set_gate(&mut self, gate: u64) -> Result<(), String> {
        self.gate = gate;
        if let Some((_, stdin)) = self.trader.as_mut() {
            // A trader that already finished has closed its stdin; its exit is checked apart.
            let _ = writeln!(stdin, "{gate}").and_then(|()| stdin.flush());
        }
        Ok(())
    }

    fn child(&mut self, who: Who) -> Option<&mut Child> {
        match who {
            Who::Exchange => self.exchange.as_mut(),
            Who::Trader => self.trader.as_mut().map(|(c, _)| c),
        }
    }

    /// `kill -9` of a child, and waits for it to be gone.
    pub fn kill(&mut self, who: Who) -> Result<(), String> {
        if let Some(child) = self.child(who) {
            // SIGKILL (also ends a stopped process).
            let _ = child.kill();
            child.wait().map_err(|e| format!("{who}: {e}"))?;
        }
        match who {
            Who::Exchange => self.exchange = None,
            Who::Trader => self.trader = None,
        }
        Ok(())
    }

    /// Stops a child (SIGSTOP) and waits until the kernel reports it stopped.
    pub fn stop(&mut self, who: Who) -> Result<(), String> {
        self.signal(who, "STOP")?;
        let pid = self.child(who).map(|c| c.id()).unwrap_or(0);
        let stat = format!("/proc/{pid}/stat");
        self.wait_for(&format!("{who} stopped"), |_| {
            // The state is the field after the parenthesised command name.
            std::fs::read_to_string(&stat)
                .ok()
                .and_then(|s| {
                    s.rsplit_once(')')
                        .map(|(_, rest)| rest.trim_start().starts_with('T'))
                })
                .unwrap_or(false)
        })
    }

    /// Sends `signal` (`STOP`, `CONT`) to a child.
    fn signal(&mut self, who: Who, signal: &str) -> Result<(), String> {
        let pid = self
            .child(who)
            .map(|c| c.id())
            .ok_or(format!("{who} not running"))?;
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.to_string())
            .status()
            .map_err(|e| e.to_string())?;
        status
            .success()
            .then_some(())
            .ok_or(format!("kill -{signal} {who} failed"))
    }

    /// Distinct reports in the trader's witness.
    pub fn reports(&self) -> u64 {
        let lines = proto::read_witness(&self.paths.witness(Who::Trader));
        proto::witnessed(&lines, &['R', 'C']).0.len() as u64
    }

    /// The highest order the trader witnessed as journaled.
    pub fn journaled(&self) -> u64 {
        proto::read_witness(&self.paths.witness(Who::Trader))
            .iter()
            .filter(|l| l.tag == 'J')
            .filter_map(|l| l.number(0))
            .max()
            .unwrap_or(0)
    }

    /// Waits (polling the files) until `done` holds; a child that exits meanwhile, or the
    /// timeout, is a stall.
    pub fn wait_for(&mut self, what: &str, done: impl Fn(&Drill) -> bool) -> Result<(), String> {
        let start = Instant::now();
        while !done(self) {
            for who in [Who::Exchange, Who::Trader] {
                if let Some(Ok(Some(status))) = self.child(who).map(|c| c.try_wait()) {
                    return Err(format!(
                        "stalled: {who} exited ({status}) while waiting for {what} (see {})",
                        self.paths.output(who).display()
                    ));
                }
            }
            if start.elapsed() > self.timeout {
                return Err(format!("stalled: no {what} within {:?}", self.timeout));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        Ok(())
    }

    /// Waits for a child to kill itself at its crash point (SIGKILL); the other child ending
    /// meanwhile, another exit, or the timeout is a stall.
    pub fn wait_death(&mut self, who: Who) -> Result<(), String> {
        let status = self.wait_exit_while(who, Some(who.other()))?;
        if status.signal() == Some(9) {
            Ok(())
        } else {
            Err(format!(
                "stalled: {who} ended with {status} before its crash point (see {})",
                self.paths.output(who).display()
            ))
        }
    }

    /// Waits for a child to exit by itself.
    pub fn wait_exit(&mut self, who: Who) -> Result<ExitStatus, String> {
        self.wait_exit_while(who, None)
    }

    /// Waits for `who` to exit while `alive` (if given) keeps running.
    fn wait_exit_while(&mut self, who: Who, alive: Option<Who>) -> Result<ExitStatus, String> {
        let start = Instant::now();
        loop {
            let child = self.child(who).ok_or(format!("{who} not running"))?;
            if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
                match who {
                    Who::Exchange => self.exchange = None,
                    Who::Trader => self.trader = None,
                }
                return Ok(status);
            }
            if let Some(other) = alive {
                if let Some(Ok(Some(status))) = self.child(other).map(|c| c.try_wait()) {
                    return Err(format!(
                        "stalled: {other} exited ({status}) while waiting for {who} (see {})",
                        self.paths.output(other).display()
                    ));
                }
            }
            if start.elapsed() > self.timeout {
                return Err(format!(
                    "stalled: {who} did not end within {:?}",
                    self.timeout
                ));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for Drill {
    fn drop(&mut self) {
        for who in [Who::Exchange, Who::Trader] {
            let _ = self.kill(who);
        }
    }
}

/// One round of the drill's plan: who dies, where and at which order.
#[derive(Clone, Copy, Debug)]
pub struct Round {
    /// The round (from 1).
    pub number: u64,
    /// Who is killed.
    pub victim: Who,
    /// Where and at which order number.
    pub point: CrashPoint,
    /// An outside kill of both children at once.
    pub both: bool,
    /// The point is a message being retransmitted after the previous round's kill.
    pub replay: bool,
}

/// The seeded plan: round r's order number lies in `[(r-1)·P + W + 1, r·P]`, so consecutive
/// points are more than a window apart and each round's kill happens before the next one's
/// point can be reached. Two kinds of round are chained to the one before: after a kill with
/// messages journaled but not yet written to the socket (`order-sent`, `report-sent`), the
/// next round may kill the peer while it receives one of them again (the same number, now a
/// retransmission); and an outside kill may take both children at once.
pub fn plan(seed: u64, rounds: u64, per_round: u64, window: u64) -> Vec<Round> {
    let mut schedule = Schedule(seed);
    let mut plan: Vec<Round> = Vec::new();
    for number in 1..=rounds {
        let replay = plan.last().and_then(|last| match last.point.site {
            Site::OrderSent | Site::ReportSent if schedule.below(2) == 0 => Some(*last),
            _ => None,
        });
        if let Some(last) = replay {
            let (victim, site) = match last.victim {
                Who::Trader => (Who::Exchange, Site::OrderReceived),
                Who::Exchange => (Who::Trader, Site::ReportReceived),
            };
            plan.push(Round {
                number,
                victim,
                point: CrashPoint {
                    site,
                    at: last.point.at,
                },
                both: false,
                replay: true,
            });
            continue;
        }
        let at = (number - 1) * per_round + window + 1 + schedule.below(per_round - window);
        let victim = if schedule.next() & 1 == 0 {
            Who::Exchange
        } else {
            Who::Trader
        };
        let site = match (victim, schedule.below(3)) {
            (_, 0) => Site::Outside,
            (Who::Exchange, 1) => Site::OrderReceived,
            (Who::Exchange, _) => Site::ReportSent,
            (Who::Trader, 1) => Site::OrderSent,
            (Who::Trader, _) => Site::ReportReceived,
        };
        plan.push(Round {
            number,
            victim,
            point: CrashPoint { site, at },
            both: site == Site::Outside && schedule.below(3) == 0,
            replay: false,
        });
    }
    plan
}

/// The seeded last kill, during finalization (or none): the trader once its FinishedSending is
/// queued, the trader at its `Finalized` event, or the exchange at its `Finalized` event.
pub fn finale(seed: u64, rounds: u64) -> Option<Round> {
    let mut schedule = Schedule(seed ^ 0x5eed_f1a1);
    let (victim, site) = match schedule.below(4) {
        0 => (Who::Trader, Site::FinishSent),
        1 => (Who::Trader, Site::Finalized),
        2 => (Who::Exchange, Site::Finalized),
        _ => return None,
    };
    Some(Round {
        number: rounds + 1,
        victim,
        point: CrashPoint { site, at: 0 },
        both: false,
        replay: false,
    })
}

/// The crash point a child started before round `from` carries: its next round's, unless the
/// drill kills it from outside then.
fn next_point(plan: &[Round], from: usize, who: Who) -> Option<CrashPoint> {
    plan.iter()
        .skip(from)
        .find(|r| r.victim == who)
        .map(|r| r.point)
        .filter(|p| p.site != Site::Outside)
}

/// The directory holding `exe`.
fn dir_of(exe: &Path) -> PathBuf {
    exe.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// The working directory for a run: `--dir`, else a fresh one under the temp directory.
fn work_dir(args: &DrillArgs, label: &str) -> PathBuf {
    args.dir.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("fixp-drill-{label}-{}", std::process::id()))
    })
}

/// Whether the plan ends with the trader's kill at its `Finalized` event, after which the
/// exchange's session stays open (see `check::check`).
fn may_stay_open(plan: &[Round]) -> bool {
    plan.last()
        .is_some_and(|r| r.victim == Who::Trader && r.point.site == Site::Finalized)
}

/// The kill rounds of `plan`, then the trader's finalization.
fn kill_rounds(drill: &mut Drill, plan: &[Round]) -> Result<(), String> {
    let window = drill.window;
    drill.start(Who::Exchange, next_point(plan, 0, Who::Exchange))?;
    drill.start(Who::Trader, next_point(plan, 0, Who::Trader))?;
    for (i, round) in plan.iter().enumerate() {
        // The gate holds the stream a window past the next outside kill's point, so the
        // drill's kill lands before any later point can be reached.
        let gate = plan
            .iter()
            .skip(i)
            .find(|r| r.point.site == Site::Outside)
            .map_or(drill.orders, |r| r.point.at + window);
        drill.set_gate(gate)?;
        let (victim, at) = (round.victim, round.point.at);
        let mut victims = vec![victim];
        if round.both {
            victims.push(victim.other());
        }
        if round.point.site == Site::Outside {
            drill.wait_for(&format!("round {}: {at} reports", round.number), |d| {
                d.reports() >= at
            })?;
            for &who in &victims {
                drill.kill(who)?;
            }
        } else {
            drill.wait_death(victim)?;
        }
        println!(
            "round {:>2}: kill -9 {:<17} at {:<20} ({:>4} reports, {:>4} orders journaled){}",
            round.number,
            if round.both { "both" } else { victim.name() },
            round.point.to_string(),
            drill.reports(),
            drill.journaled(),
            if round.replay {
                ", while it is retransmitted"
            } else {
                ""
            }
        );
        for &who in &victims {
            drill.start(who, next_point(plan, i + 1, who))?;
        }
    }
    drill.set_gate(drill.orders)?;
    let status = drill.wait_exit(Who::Trader)?;
    if !status.success() {
        return Err(format!(
            "trader ended with {status} (see {})",
            drill.paths.output(Who::Trader).display()
        ));
    }
    // The exchange serves on, as an exchange does; once its session is finalized it is stopped
    // (at once if the trader died at its Finalized event: then the exchange's stays open).
    if !may_stay_open(plan) {
        drill.wait_for("the exchange's session finalized", |d| {
            proto::read_witness(&d.paths.witness(Who::Exchange))
                .iter()
                .any(|l| l.tag == 'F')
        })?;
    }
    drill.kill(Who::Exchange)
}

/// `fixp-drill run`: Ok(true) when every check passed.
pub fn run(args: &RunArgs) -> Result<bool, String> {
    let dir = work_dir(&args.common, "run");
    let per_round = args.per_round.max(args.common.window + 2);
    let orders = (args.rounds + 1) * per_round;
    let mut plan = plan(args.seed, args.rounds, per_round, args.common.window);
    plan.extend(finale(args.seed, args.rounds));
    let mut drill = Drill::new(&dir, &args.common, orders)?;
    let transport = if args.common.plain { "ws://" } else { "wss://" };
    println!(
        "crash drill: {} rounds, seed {}, {orders} orders, window {}, {transport} loopback, in {}",
        args.rounds,
        args.seed,
        args.common.window,
        dir.display()
    );
    let shown: Vec<String> = plan
        .iter()
        .map(|r| {
            let who = if r.both { "both" } else { r.victim.name() };
            let replay = if r.replay { "(retransmitted)" } else { "" };
            format!("{who}@{}{replay}", r.point)
        })
        .collect();
    println!("plan: {}", shown.join(" "));
    let mut outcome = match kill_rounds(&mut drill, &plan) {
        Ok(()) => check::check(&drill.paths, orders, &drill.bin_dir(), may_stay_open(&plan)),
        Err(stall) => check::Outcome::failed(stall),
    };
    drop(drill);
    for v in &outcome.violations {
        println!("VIOLATION {v}");
    }
    for note in &outcome.notes {
        println!("note: {note}");
    }
    let by = |who| plan.iter().filter(|r| r.victim == who || r.both).count();
    let replays = plan.iter().filter(|r| r.replay).count();
    let finale = plan
        .iter()
        .filter(|r| matches!(r.point.site, Site::FinishSent | Site::Finalized))
        .map(|r| format!("{}@{}", r.victim, r.point.site.name()))
        .next()
        .unwrap_or_else(|| "none".into());
    let both = plan.iter().filter(|r| r.both).count();
    let inside = plan
        .iter()
        .filter(|r| r.point.site != Site::Outside)
        .count();
    let corruption = if args.skip_corruption {
        "skipped".to_owned()
    } else {
        let result = corrupt::drill(&dir.join("corruption"), &args.common);
        match result {
            Ok(line) => line,
            Err(v) => {
                println!("VIOLATION corruption: {v}");
                outcome.violations.push(v);
                "FAIL".to_owned()
            }
        }
    };
    let pass = outcome.violations.is_empty();
    println!(
        "crash drill {}: rounds={} seed={} kills exchange={} trader={} (at a crash site {inside}, from outside {}, both at once {both}, while retransmitted {replays}, during finalization {finale}) orders={} reports={} \
         recovered-from-journal exchange={} trader={} journals verified={} violations={} \
         corruption: {corruption}",
        if pass { "PASS" } else { "FAIL" },
        args.rounds,
        args.seed,
        by(Who::Exchange),
        by(Who::Trader),
        plan.len() - inside,
        outcome.orders,
        outcome.reports,
        outcome.recovered_exchange,
        outcome.recovered_trader,
        outcome.verified,
        outcome.violations.len(),
    );
    finish(&dir, &args.common, pass)
}

/// `fixp-drill check`: true when every check passed.
pub fn check_only(args: &CheckArgs) -> bool {
    let paths = Paths {
        dir: args.dir.clone(),
    };
    let exe = std::env::current_exe().unwrap_or_default();
    let outcome = check::check(
        &paths,
        args.orders,
        &dir_of(&exe),
        args.exchange_may_stay_open,
    );
    for v in &outcome.violations {
        println!("VIOLATION {v}");
    }
    println!(
        "check {}: orders={} reports={} violations={}",
        if outcome.violations.is_empty() {
            "PASS"
        } else {
            "FAIL"
        },
        outcome.orders,
        outcome.reports,
        outcome.violations.len()
    );
    outcome.violations.is_empty()
}

/// `fixp-drill corrupt`: Ok(true) when the corruption drill passed.
pub fn corrupt_only(args: &DrillArgs) -> Result<bool, String> {
    let dir = work_dir(args, "corrupt");
    let pass = match corrupt::drill(&dir, args) {
        Ok(line) => {
            println!("corruption drill PASS: {line}");
            true
        }
        Err(v) => {
            println!("VIOLATION corruption: {v}");
            println!("corruption drill FAIL");
            false
        }
    };
    finish(&dir, args, pass)
}

/// Removes the working directory after a pass (unless kept or given); keeps it on a failure.
fn finish(dir: &Path, args: &DrillArgs, pass: bool) -> Result<bool, String> {
    if pass && !args.keep && args.dir.is_none() {
        let _ = std::fs::remove_dir_all(dir);
    } else {
        println!("files kept in {}", dir.display());
    }
    Ok(pass)
}
