//! The common runner: what every row of a run shares.
//!
//! A row is a setup function (in [`crate::rows`]) that binds its server and returns a [`Pair`]:
//! a server loop and a connector that yields a [`Driver`] for one round trip or one send. The
//! runner owns everything else: the threads and their pinning, the warm-up, the phase handshake
//! with the server (so allocations are counted on both threads over exactly the measured
//! messages), the fixed-rate schedule with coordinated-omission correction, the one-way
//! throughput loop with the receiver's confirmed count, and `--repeat` interleaving.
//!
//! Owns: threads, phases, schedule, histograms, allocation counts. May not touch: sockets or
//! sessions (the rows do that) and the report (in [`crate::report`]).

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use clap::ValueEnum;
use core_affinity::CoreId;
use fixp_ws::alloc_count;
use hdrhistogram::Histogram;

use crate::rows::{Kind, RowSpec};

/// Errors of the harness: a message naming what failed.
pub type Res<T> = Result<T, String>;

/// How the threads wait for the socket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Wait {
    /// Poll with a zero timeout in a loop (one core per thread at 100%).
    Busy,
    /// Sleep in `epoll_wait` until the socket is ready.
    Blocking,
}

/// How much a throughput row sends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Amount {
    /// A fixed number of messages.
    Count(u64),
    /// As many messages as fit in this time.
    Duration(Duration),
}

/// Settings every row of a run shares.
#[derive(Clone, Copy, Debug)]
pub struct RunConfig {
    /// Message size in bytes.
    pub size: usize,
    /// Measured messages per latency row and repeat.
    pub count: u64,
    /// Unmeasured messages first, per row and repeat.
    pub warmup: u64,
    /// Fixed send rate of the latency rows (messages/s); `None` is flat out (ping-pong).
    pub rate: Option<u64>,
    /// What a throughput row sends per repeat.
    pub amount: Amount,
    /// Wait mode of every thread.
    pub wait: Wait,
    /// Core of the server thread.
    pub server_core: Option<CoreId>,
    /// Core of the client thread.
    pub client_core: Option<CoreId>,
}

impl RunConfig {
    /// The mio poll timeout for this wait mode (blocking wakes up now and then to notice a
    /// phase change or a stop request).
    pub fn poll_timeout(&self) -> Option<Duration> {
        match self.wait {
            Wait::Busy => Some(Duration::ZERO),
            Wait::Blocking => Some(Duration::from_millis(50)),
        }
    }
}

/// The server loop of a row: serves until [`ServerCtx::running`] says stop.
pub type ServerFn = Box<dyn FnOnce(&mut ServerCtx) -> Res<()> + Send>;
/// Connects the client side of a row (on the client thread) and returns its driver.
pub type ConnectFn = Box<dyn FnOnce() -> Res<Box<dyn Driver>> + Send>;

/// What a row's setup returns: the two sides, each run on its own thread by the runner.
pub struct Pair {
    /// The server side.
    pub server: ServerFn,
    /// The client side.
    pub connect: ConnectFn,
}

/// The client side of a connected row.
pub trait Driver {
    /// One unit of work: a latency row sends one message and returns when the answer is back;
    /// a throughput row sends one message and returns as soon as the transport took it.
    fn step(&mut self) -> Res<()>;
    /// Drives I/O once without sending (flush, read, wait for readiness): the runner calls it
    /// while a throughput row's receiver catches up. Latency rows never need it.
    fn pump(&mut self) -> Res<()> {
        Ok(())
    }
    /// Ends the connection politely.
    fn finish(&mut self) -> Res<()> {
        Ok(())
    }
}

const WARMUP: u8 = 0;
const MEASURE: u8 = 1;
const DONE: u8 = 2;
const STOP: u8 = 3;
const EXITED: u8 = u8::MAX;

/// State the two sides of a row share.
struct Shared {
    /// The phase the client side has entered.
    phase: AtomicU8,
    /// The phase the server side has seen (EXITED once its loop returned).
    server_phase: AtomicU8,
    /// Allocations the server thread made while tracked.
    server_allocations: AtomicU64,
    /// Application messages the receiver was delivered (throughput rows).
    delivered: AtomicU64,
    /// When the last of them was delivered, ns since `epoch`.
    last_delivery_ns: AtomicU64,
    epoch: Instant,
}

impl Shared {
    fn new() -> Self {
        Shared {
            phase: AtomicU8::new(WARMUP),
            server_phase: AtomicU8::new(WARMUP),
            server_allocations: AtomicU64::new(0),
            delivered: AtomicU64::new(0),
            last_delivery_ns: AtomicU64::new(0),
            epoch: Instant::now(),
        }
    }

    fn since_epoch(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    fn delivered(&self) -> u64 {
        self.delivered.load(Ordering::Acquire)
    }

    /// Enters `phase` and waits until the server has seen it, so that the server's counting
    /// starts before the first measured message and stops after the last.
    fn enter(&self, phase: u8, wait: Wait) -> Res<()> {
        self.phase.store(phase, Ordering::Release);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = self.server_phase.load(Ordering::Acquire);
            if seen == EXITED {
                return Err("the server thread stopped early".into());
            }
            if seen >= phase {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err("the server did not follow the phase change".into());
            }
            match wait {
                Wait::Busy => std::hint::spin_loop(),
                Wait::Blocking => thread::sleep(Duration::from_micros(50)),
            }
        }
    }
}

/// The server thread's view of the run.
pub struct ServerCtx {
    shared: Arc<Shared>,
    seen: u8,
    tracked_from: Option<u64>,
}

impl ServerCtx {
    fn new(shared: Arc<Shared>) -> Self {
        ServerCtx {
            shared,
            seen: WARMUP,
            tracked_from: None,
        }
    }

    /// Call at the top of every server loop iteration: follows the client's phase (switching
    /// allocation counting on this thread on for the measured phase) and says whether to keep
    /// serving.
    pub fn running(&mut self) -> bool {
        let phase = self.shared.phase.load(Ordering::Acquire);
        if phase != self.seen {
            if phase == MEASURE {
                alloc_count::track_current_thread(true);
                self.tracked_from = Some(alloc_count::current_thread_allocations());
            } else {
                self.stop_counting();
            }
            self.seen = phase;
            self.shared.server_phase.store(phase, Ordering::Release);
        }
        phase != STOP
    }

    /// Counts `n` application messages delivered to the receiver (throughput rows only: it
    /// reads the clock).
    pub fn delivered(&self, n: u64) {
        if n > 0 {
            let now = self.shared.since_epoch();
            self.shared.last_delivery_ns.store(now, Ordering::Relaxed);
            self.shared.delivered.fetch_add(n, Ordering::Release);
        }
    }

    fn stop_counting(&mut self) {
        if let Some(from) = self.tracked_from.take() {
            alloc_count::track_current_thread(false);
            let made = alloc_count::current_thread_allocations() - from;
            self.shared
                .server_allocations
                .fetch_add(made, Ordering::Relaxed);
        }
    }

    fn exit(&mut self) {
        self.stop_counting();
        self.shared.server_phase.store(EXITED, Ordering::Release);
    }
}

/// Allocations made during the measured phase, per side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Allocations {
    /// On the client (measuring or sending) thread.
    pub client: u64,
    /// On the server (echoing or receiving) thread.
    pub server: u64,
}

impl Allocations {
    fn add(&mut self, other: Allocations) {
        self.client += other.client;
        self.server += other.server;
    }

    /// Both sides together.
    pub fn total(&self) -> u64 {
        self.client + self.server
    }
}

/// A new latency histogram: 1 ns to 60 s, 3 significant digits (never resizes while recording).
pub fn histogram() -> Res<Histogram<u64>> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).map_err(|e| format!("histogram: {e}"))
}

/// What one latency row measured (merged over repeats).
pub struct LatencyResult {
    /// Latency of each message from its intended send time (equal to `service` flat out).
    pub latency: Histogram<u64>,
    /// Time from the actual send to the answer.
    pub service: Histogram<u64>,
    /// Allocations over the measured messages.
    pub allocations: Allocations,
}

impl LatencyResult {
    fn merge(&mut self, other: LatencyResult) -> Res<()> {
        self.latency
            .add(&other.latency)
            .map_err(|e| format!("histogram: {e}"))?;
        self.service
            .add(&other.service)
            .map_err(|e| format!("histogram: {e}"))?;
        self.allocations.add(other.allocations);
        Ok(())
    }
}

/// What one throughput row measured (summed over repeats).
pub struct ThroughputResult {
    /// Measured messages, as the receiver confirmed them.
    pub messages: u64,
    /// Time from the first measured send to the last delivery.
    pub elapsed: Duration,
    /// Messages per second of each repeat.
    pub runs: Vec<f64>,
    /// Allocations over the measured messages.
    pub allocations: Allocations,
}

/// The result of one row.
pub enum Measured {
    /// A latency row.
    Latency(LatencyResult),
    /// A throughput row.
    Throughput(ThroughputResult),
}

/// One row's results, in registry order.
pub struct RowResult {
    /// The row.
    pub spec: &'static RowSpec,
    /// What it measured.
    pub measured: Measured,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}

/// Waits until `at`: spinning in busy mode; sleeping until shortly before, then spinning, in
/// blocking mode (the sleep's wake-up slack would otherwise be charged to the message).
fn pace_until(at: Instant, wait: Wait) {
    const SPIN_MARGIN: Duration = Duration::from_micros(100);
    if wait == Wait::Blocking {
        let now = Instant::now();
        if at > now + SPIN_MARGIN {
            thread::sleep(at - now - SPIN_MARGIN);
        }
    }
    while Instant::now() < at {
        std::hint::spin_loop();
    }
}

/// The measured messages of a latency row, on the client thread with counting on.
fn measure_latency(
    config: &RunConfig,
    driver: &mut dyn Driver,
    latency: &mut Histogram<u64>,
    service: &mut Histogram<u64>,
) -> Res<()> {
    let interval_ns = config.rate.map(|rate| 1_000_000_000 / rate.max(1));
    let first = Instant::now();
    for k in 0..config.count {
        let (intended, start) = match interval_ns {
            Some(interval) => {
                let at = first + Duration::from_nanos(k.saturating_mul(interval));
                pace_until(at, config.wait);
                (at, Instant::now())
            }
            None => {
                let now = Instant::now();
                (now, now)
            }
        };
        driver.step()?;
        let end = Instant::now();
        latency.saturating_record(ns(end - intended));
        service.saturating_record(ns(end - start));
    }
    Ok(())
}

fn latency_client(config: &RunConfig, shared: &Shared, connect: ConnectFn) -> Res<Measured> {
    let mut driver = connect()?;
    for _ in 0..config.warmup {
        driver.step()?;
    }
    let mut latency = histogram()?;
    let mut service = histogram()?;
    shared.enter(MEASURE, config.wait)?;
    let (measured, client) = alloc_count::count_on_current_thread(|| {
        measure_latency(config, driver.as_mut(), &mut latency, &mut service)
    });
    measured?;
    shared.enter(DONE, config.wait)?;
    driver.finish()?;
    Ok(Measured::Latency(LatencyResult {
        latency,
        service,
        allocations: Allocations { client, server: 0 },
    }))
}

/// Pumps the driver until the receiver has been delivered `expected` messages.
fn await_delivery(driver: &mut dyn Driver, shared: &Shared, expected: u64) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while shared.delivered() < expected {
        if Instant::now() > deadline {
            return Err(format!(
                "the receiver confirmed {} of {expected} messages",
                shared.delivered()
            ));
        }
        driver.pump()?;
    }
    Ok(())
}

fn throughput_client(config: &RunConfig, shared: &Shared, connect: ConnectFn) -> Res<Measured> {
    let mut driver = connect()?;
    for _ in 0..config.warmup {
        driver.step()?;
    }
    await_delivery(driver.as_mut(), shared, config.warmup)?;
    shared.enter(MEASURE, config.wait)?;
    let (sent, client) = alloc_count::count_on_current_thread(|| -> Res<(u64, u64)> {
        let first = shared.since_epoch();
        let start = Instant::now();
        let mut sent = 0u64;
        match config.amount {
            Amount::Count(n) => {
                for _ in 0..n {
                    driver.step()?;
                }
                sent = n;
            }
            Amount::Duration(d) => {
                while start.elapsed() < d {
                    driver.step()?;
                    sent += 1;
                }
            }
        }
        await_delivery(driver.as_mut(), shared, config.warmup + sent)?;
        Ok((first, sent))
    });
    let (first, sent) = sent?;
    shared.enter(DONE, config.wait)?;
    let confirmed = shared.delivered() - config.warmup;
    if confirmed != sent {
        return Err(format!(
            "sent {sent} messages, the receiver confirmed {confirmed}"
        ));
    }
    let last = shared.last_delivery_ns.load(Ordering::Acquire);
    let elapsed = Duration::from_nanos(last.saturating_sub(first).max(1));
    driver.finish()?;
    Ok(Measured::Throughput(ThroughputResult {
        messages: sent,
        elapsed,
        runs: vec![sent as f64 / elapsed.as_secs_f64()],
        allocations: Allocations { client, server: 0 },
    }))
}

fn pin(core: Option<CoreId>, side: &str) -> Res<()> {
    match core {
        Some(core) if !core_affinity::set_for_current(core) => {
            Err(format!("cannot pin the {side} thread to core {}", core.id))
        }
        _ => Ok(()),
    }
}

/// Runs one row once: its server and client threads, each pinned if asked.
fn run_row(config: &RunConfig, spec: &RowSpec) -> Res<Measured> {
    let Pair { server, connect } = (spec.setup)(config)?;
    let shared = Arc::new(Shared::new());
    let server_shared = Arc::clone(&shared);
    let server_core = config.server_core;
    let server = thread::spawn(move || {
        let mut ctx = ServerCtx::new(server_shared);
        let served = pin(server_core, "server").and_then(|()| server(&mut ctx));
        ctx.exit();
        served
    });
    let client_shared = Arc::clone(&shared);
    let cfg = *config;
    let kind = spec.kind;
    let client = thread::spawn(move || {
        pin(cfg.client_core, "client")?;
        match kind {
            Kind::Latency => latency_client(&cfg, &client_shared, connect),
            Kind::Throughput => throughput_client(&cfg, &client_shared, connect),
        }
    });
    let measured = client
        .join()
        .map_err(|_| "client thread panicked".to_string());
    shared.phase.store(STOP, Ordering::Release);
    let served = server
        .join()
        .map_err(|_| "server thread panicked".to_string())?;
    let mut measured = measured??;
    served?;
    let server_allocations = shared.server_allocations.load(Ordering::Relaxed);
    match &mut measured {
        Measured::Latency(r) => r.allocations.server = server_allocations,
        Measured::Throughput(r) => r.allocations.server = server_allocations,
    }
    Ok(measured)
}

fn merge(total: &mut Measured, run: Measured) -> Res<()> {
    match (total, run) {
        (Measured::Latency(t), Measured::Latency(r)) => t.merge(r),
        (Measured::Throughput(t), Measured::Throughput(r)) => {
            t.messages += r.messages;
            t.elapsed += r.elapsed;
            t.runs.extend(r.runs);
            t.allocations.add(r.allocations);
            Ok(())
        }
        _ => Err("a row changed kind between repeats".into()),
    }
}

/// Runs every row `repeat` times, interleaved (all rows, then all rows again), so load from
/// other processes hits every row alike, and merges each row's repeats.
pub fn run_rows(config: &RunConfig, rows: &[&'static RowSpec], repeat: u32) -> Res<Vec<RowResult>> {
    let mut totals: Vec<Option<Measured>> = rows.iter().map(|_| None).collect();
    for _ in 0..repeat.max(1) {
        for (spec, total) in rows.iter().zip(totals.iter_mut()) {
            let run = run_row(config, spec).map_err(|e| format!("{}: {e}", spec.name))?;
            match total {
                Some(t) => merge(t, run)?,
                None => *total = Some(run),
            }
        }
    }
    Ok(rows
        .iter()
        .zip(totals)
        .filter_map(|(spec, measured)| measured.map(|measured| RowResult { spec, measured }))
        .collect())
}
