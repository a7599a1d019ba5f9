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
use std::sync::{Arc, Condvar, Mutex, OnceLock};
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

/// What a row's setup returns: the two sides, each run on its own thread by the runner, and
/// the other threads (engine threads) that follow the phases and count their allocations.
pub struct Pair {
    /// The server side.
    pub server: ServerFn,
    /// The client side.
    pub connect: ConnectFn,
    /// Threads of the row's own (engines) whose allocations count, each through a
    /// [`PhaseProbe`] it polls.
    pub followers: Vec<Follower>,
}

impl Pair {
    /// A row measured on the runner's two threads only.
    pub fn new(server: ServerFn, connect: ConnectFn) -> Self {
        Pair {
            server,
            connect,
            followers: Vec::new(),
        }
    }
}

/// Nanoseconds since the first call in this process (one clock for every thread of a run).
pub fn clock_ns() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = EPOCH.get_or_init(Instant::now);
    u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

/// Which side's allocations a follower's count adds to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The client (sending, measuring) side.
    Client,
    /// The server (answering, receiving) side.
    Server,
}

/// What a follower thread and the runner share.
struct FollowerState {
    side: Side,
    /// The phase the client side has entered.
    phase: AtomicU8,
    /// The phase the follower has seen.
    seen: AtomicU8,
    /// Allocations the follower thread made while tracked.
    allocations: AtomicU64,
    /// Application messages the follower was delivered (throughput receivers).
    deliveries: Deliveries,
}

/// Application messages a receiver was delivered, and when the last of them was.
#[derive(Default)]
struct Deliveries {
    count: AtomicU64,
    /// [`clock_ns`] of the last delivery.
    last_ns: AtomicU64,
}

impl Deliveries {
    /// Counts `n` messages delivered now (it reads the clock: throughput rows only).
    fn note(&self, n: u64) {
        if n > 0 {
            self.last_ns.store(clock_ns(), Ordering::Relaxed);
            self.count.fetch_add(n, Ordering::Release);
        }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Acquire)
    }

    fn last_ns(&self) -> u64 {
        self.last_ns.load(Ordering::Acquire)
    }
}

/// The runner's view of a thread the row owns (an engine thread): the runner waits at every
/// phase change until the thread has seen it, and adds what it allocated in the measured
/// phase to its side.
#[derive(Clone)]
pub struct Follower(Arc<FollowerState>);

impl Follower {
    /// A follower counted on `side`, and the probe its thread polls.
    pub fn new(side: Side) -> (Follower, PhaseProbe) {
        let state = Arc::new(FollowerState {
            side,
            phase: AtomicU8::new(WARMUP),
            seen: AtomicU8::new(WARMUP),
            allocations: AtomicU64::new(0),
            deliveries: Deliveries::default(),
        });
        let probe = PhaseProbe {
            state: Arc::clone(&state),
            cursor: Cursor::default(),
        };
        (Follower(state), probe)
    }

    /// Messages its thread has counted as delivered so far.
    pub fn delivered(&self) -> u64 {
        self.0.deliveries.count()
    }
}

/// Follows the client's phase on one thread and counts that thread's allocations over the
/// measured phase (the part the runner's server thread and every follower share).
#[derive(Default)]
struct Cursor {
    seen: u8,
    tracked_from: Option<u64>,
}

impl Cursor {
    /// Takes `phase` in; returns true if it is new (the caller then publishes it as seen).
    fn follow(&mut self, phase: u8, allocations: &AtomicU64) -> bool {
        if phase == self.seen {
            return false;
        }
        if phase == MEASURE {
            alloc_count::track_current_thread(true);
            self.tracked_from = Some(alloc_count::current_thread_allocations());
        } else {
            self.stop(allocations);
        }
        self.seen = phase;
        true
    }

    fn stop(&mut self, allocations: &AtomicU64) {
        if let Some(from) = self.tracked_from.take() {
            alloc_count::track_current_thread(false);
            let made = alloc_count::current_thread_allocations() - from;
            allocations.fetch_add(made, Ordering::Relaxed);
        }
    }
}

/// Polled by a follower thread (an engine's strategy, once per duty cycle): one atomic load
/// when nothing changed.
pub struct PhaseProbe {
    state: Arc<FollowerState>,
    cursor: Cursor,
}

impl PhaseProbe {
    /// Follows a phase change, switching this thread's allocation counting on or off.
    pub fn follow(&mut self) {
        let phase = self.state.phase.load(Ordering::Acquire);
        if self.cursor.follow(phase, &self.state.allocations) {
            self.state.seen.store(phase, Ordering::Release);
        }
    }

    /// Counts `n` application messages delivered to this receiver (throughput rows only: it
    /// reads the clock).
    pub fn delivered(&self, n: u64) {
        self.state.deliveries.note(n);
    }
}

/// The client side of a row whose messages are sent and timed on a thread of the row's own
/// (an inline strategy on an engine thread); the runner's client thread only waits.
pub trait Remote {
    /// Runs the warm-up there; returns once its last message is done.
    fn warm_up(&mut self) -> Res<()>;
    /// Runs the measured messages there; returns once the last is done.
    fn measure(&mut self) -> Res<RemoteRun>;
}

/// What a [`Remote`] measured.
pub enum RemoteRun {
    /// A latency row: from the intended send time, and from the actual send.
    Latency {
        /// Latency from the intended send time.
        latency: Histogram<u64>,
        /// Time from the actual send.
        service: Histogram<u64>,
    },
    /// A throughput row: messages handed to the session, and when the first was ([`clock_ns`]).
    Throughput {
        /// Messages sent.
        sent: u64,
        /// The first measured send.
        first_send_ns: u64,
    },
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
    /// A driver whose messages run on another thread ([`Remote`]); `None`: the runner steps it.
    fn remote(&mut self) -> Option<&mut dyn Remote> {
        None
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
    deliveries: Deliveries,
    /// The row's own threads that follow the phases.
    followers: Vec<Follower>,
    /// Rung on every phase change (wakes the server owners that sleep).
    bell: Bell,
}

impl Shared {
    fn new(followers: Vec<Follower>) -> Self {
        Shared {
            phase: AtomicU8::new(WARMUP),
            server_phase: AtomicU8::new(WARMUP),
            server_allocations: AtomicU64::new(0),
            deliveries: Deliveries::default(),
            followers,
            bell: Bell::default(),
        }
    }

    /// Messages delivered to the receiver, the runner's server thread and followers together.
    fn delivered(&self) -> u64 {
        let own = self.deliveries.count();
        own + self
            .followers
            .iter()
            .map(|f| f.0.deliveries.count())
            .sum::<u64>()
    }

    /// When the last message was delivered ([`clock_ns`]).
    fn last_delivery_ns(&self) -> u64 {
        self.followers
            .iter()
            .map(|f| f.0.deliveries.last_ns())
            .fold(self.deliveries.last_ns(), u64::max)
    }

    /// Allocations the followers of `side` made in the measured phase.
    fn follower_allocations(&self, side: Side) -> u64 {
        self.followers
            .iter()
            .filter(|f| f.0.side == side)
            .map(|f| f.0.allocations.load(Ordering::Relaxed))
            .sum()
    }

    /// Enters `phase` and waits until the server and every follower have seen it, so that
    /// their counting starts before the first measured message and stops after the last.
    fn enter(&self, phase: u8, wait: Wait) -> Res<()> {
        self.phase.store(phase, Ordering::Release);
        for f in &self.followers {
            f.0.phase.store(phase, Ordering::Release);
        }
        self.bell.ring();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let seen = self.server_phase.load(Ordering::Acquire);
            if seen == EXITED {
                return Err("the server thread stopped early".into());
            }
            let followed = self
                .followers
                .iter()
                .all(|f| f.0.seen.load(Ordering::Acquire) >= phase);
            if seen >= phase && followed {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(if followed {
                    "the server did not follow the phase change".into()
                } else {
                    "an engine thread did not follow the phase change".into()
                });
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
    cursor: Cursor,
    /// The phase bell's count when [`running`](Self::running) last looked.
    rung: u64,
}

impl ServerCtx {
    fn new(shared: Arc<Shared>) -> Self {
        ServerCtx {
            shared,
            cursor: Cursor::default(),
            rung: 0,
        }
    }

    /// Call at the top of every server loop iteration: follows the client's phase (switching
    /// allocation counting on this thread on for the measured phase) and says whether to keep
    /// serving.
    pub fn running(&mut self) -> bool {
        self.rung = self.shared.bell.count();
        let phase = self.shared.phase.load(Ordering::Acquire);
        if self.cursor.follow(phase, &self.shared.server_allocations) {
            self.shared.server_phase.store(phase, Ordering::Release);
        }
        phase != STOP
    }

    /// Counts `n` application messages delivered to the receiver (throughput rows only: it
    /// reads the clock).
    pub fn delivered(&self, n: u64) {
        self.shared.deliveries.note(n);
    }

    /// For a server loop that only watches (its engines work on threads of their own): sleeps
    /// until the phase changes, or [`LIVENESS_CHECK`] passed.
    pub fn sleep_until_phase_change(&self) {
        self.shared.bell.wait_past(self.rung, LIVENESS_CHECK);
    }

    fn exit(&mut self) {
        self.cursor.stop(&self.shared.server_allocations);
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

/// Waits on the runner's client thread (sleeping: it must not take a core from the row's own
/// busy threads) while a [`Remote`] works.
fn remote_latency(shared: &Shared, remote: &mut dyn Remote) -> Res<Measured> {
    remote.warm_up()?;
    shared.enter(MEASURE, Wait::Blocking)?;
    let (run, client) = alloc_count::count_on_current_thread(|| remote.measure());
    let RemoteRun::Latency { latency, service } = run? else {
        return Err("a latency row measured throughput".into());
    };
    shared.enter(DONE, Wait::Blocking)?;
    Ok(Measured::Latency(LatencyResult {
        latency,
        service,
        allocations: Allocations { client, server: 0 },
    }))
}

fn latency_client(config: &RunConfig, shared: &Shared, connect: ConnectFn) -> Res<Measured> {
    let mut driver = connect()?;
    if let Some(remote) = driver.remote() {
        let measured = remote_latency(shared, remote)?;
        driver.finish()?;
        return Ok(measured);
    }
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

/// Calls `pump` until the receiver has been delivered `expected` messages.
fn await_delivery(shared: &Shared, expected: u64, mut pump: impl FnMut() -> Res<()>) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    while shared.delivered() < expected {
        if Instant::now() > deadline {
            return Err(format!(
                "the receiver confirmed {} of {expected} messages",
                shared.delivered()
            ));
        }
        pump()?;
    }
    Ok(())
}

/// The longest a sleeping thread of a row (the runner's client waiting for a [`Remote`], a
/// server row's owner thread) waits on its [`Bell`] before it checks that the engines it watches
/// still run. On a 2-core machine every wake-up preempts one of the row's busy threads (a
/// periodic 5 ms poll put about 1 % of round trips 20-30 µs late, the whole p99 of the engine
/// rows), so they wake on the bell and otherwise about once a second.
pub const LIVENESS_CHECK: Duration = Duration::from_secs(1);

/// Wakes the sleeping threads of a row when something they wait for changed (a phase, a
/// strategy's stage): a counter behind a mutex and a condition variable. Rung off the measured
/// path only (phase changes, the end of a run).
#[derive(Debug, Default)]
pub struct Bell {
    rung: Mutex<u64>,
    changed: Condvar,
}

impl Bell {
    /// How often the bell has rung: take it before looking at what it guards, then
    /// [`wait_past`](Self::wait_past) it, and no ring between the two is missed.
    pub fn count(&self) -> u64 {
        self.rung.lock().map_or(0, |r| *r)
    }

    /// Rings: every waiter wakes.
    pub fn ring(&self) {
        if let Ok(mut rung) = self.rung.lock() {
            *rung = rung.wrapping_add(1);
        }
        self.changed.notify_all();
    }

    /// Sleeps until the bell has rung since `seen` was counted, or `timeout` passed.
    pub fn wait_past(&self, seen: u64, timeout: Duration) {
        let Ok(rung) = self.rung.lock() else {
            return;
        };
        let _ = self
            .changed
            .wait_timeout_while(rung, timeout, |r| *r == seen);
    }
}

/// Sleeps a little: how the runner's client thread waits for a [`Remote`]'s receiver.
fn nap() -> Res<()> {
    thread::sleep(Duration::from_micros(200));
    Ok(())
}

/// The throughput of a [`Remote`] sender, the runner's client thread sleeping meanwhile.
fn remote_throughput(
    config: &RunConfig,
    shared: &Shared,
    remote: &mut dyn Remote,
) -> Res<Measured> {
    remote.warm_up()?;
    await_delivery(shared, config.warmup, nap)?;
    shared.enter(MEASURE, Wait::Blocking)?;
    let (run, client) = alloc_count::count_on_current_thread(|| -> Res<(u64, u64)> {
        let RemoteRun::Throughput {
            sent,
            first_send_ns,
        } = remote.measure()?
        else {
            return Err("a throughput row measured latency".into());
        };
        await_delivery(shared, config.warmup + sent, nap)?;
        Ok((first_send_ns, sent))
    });
    let (first, sent) = run?;
    shared.enter(DONE, Wait::Blocking)?;
    confirmed_throughput(config, shared, first, sent, client)
}

/// The throughput result once the receiver confirmed `sent` messages after the warm-up.
fn confirmed_throughput(
    config: &RunConfig,
    shared: &Shared,
    first: u64,
    sent: u64,
    client: u64,
) -> Res<Measured> {
    let confirmed = shared.delivered() - config.warmup;
    if confirmed != sent {
        return Err(format!(
            "sent {sent} messages, the receiver confirmed {confirmed}"
        ));
    }
    let elapsed = Duration::from_nanos(shared.last_delivery_ns().saturating_sub(first).max(1));
    Ok(Measured::Throughput(ThroughputResult {
        messages: sent,
        elapsed,
        runs: vec![sent as f64 / elapsed.as_secs_f64()],
        allocations: Allocations { client, server: 0 },
    }))
}

fn throughput_client(config: &RunConfig, shared: &Shared, connect: ConnectFn) -> Res<Measured> {
    let mut driver = connect()?;
    if let Some(remote) = driver.remote() {
        let measured = remote_throughput(config, shared, remote)?;
        driver.finish()?;
        return Ok(measured);
    }
    for _ in 0..config.warmup {
        driver.step()?;
    }
    await_delivery(shared, config.warmup, || driver.pump())?;
    shared.enter(MEASURE, config.wait)?;
    let (sent, client) = alloc_count::count_on_current_thread(|| -> Res<(u64, u64)> {
        let first = clock_ns();
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
        await_delivery(shared, config.warmup + sent, || driver.pump())?;
        Ok((first, sent))
    });
    let (first, sent) = sent?;
    shared.enter(DONE, config.wait)?;
    let measured = confirmed_throughput(config, shared, first, sent, client)?;
    driver.finish()?;
    Ok(measured)
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
    let Pair {
        server,
        connect,
        followers,
    } = (spec.setup)(config)?;
    let shared = Arc::new(Shared::new(followers));
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
    shared.bell.ring();
    let served = server
        .join()
        .map_err(|_| "server thread panicked".to_string())?;
    let mut measured = measured??;
    served?;
    let extra = Allocations {
        client: shared.follower_allocations(Side::Client),
        server: shared.server_allocations.load(Ordering::Relaxed)
            + shared.follower_allocations(Side::Server),
    };
    match &mut measured {
        Measured::Latency(r) => r.allocations.add(extra),
        Measured::Throughput(r) => r.allocations.add(extra),
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
