//! Clients that run as an engine's **inline** strategy and time their own messages on the
//! engine thread: [`Pinger`] (round trips, flat out or at a fixed rate, over one or many
//! sessions round robin) and [`Sender`] (one way, windowed by the receiver's count). The
//! runner's client thread only waits, through [`RemoteClient`] (a [`Remote`]): it sleeps, so a
//! busy run has exactly the two engine threads busy.
//!
//! The hand-off is a [`Control`] block: the strategy warms up by itself once every session is
//! established and parks; the runner enters the measured phase (every engine thread follows
//! it), sets `go`, and waits until the strategy has put its result there.
//!
//! Owns: the client strategies and their control block. May not touch: the engines'
//! configuration or the servers (the rows own those), nor the runner's phases.

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fixp_ws::engine::{
    Context, EngineHandle, InboundMessage, InlineSendError, SessionKey, Strategy,
};
use fixp_ws::session::{Event, SendError, SessionState};
use fixp_ws::transport::WireEncoding;
use hdrhistogram::Histogram;

use super::engine_wss::{encode, is_report_for, order};
use crate::runner::{
    clock_ns, histogram, Amount, Bell, Driver, Follower, PhaseProbe, Remote, RemoteRun, Res,
    RunConfig, Wait, LIVENESS_CHECK,
};

const CONNECTING: u8 = 0;
const WARMED: u8 = 1;
const MEASURED: u8 = 2;
const FAILED: u8 = 3;

/// A one-way sender keeps at most this many messages sent and not yet counted by the receiver
/// (the engine never refuses a frame for a full socket: it buffers it, and closes a connection
/// whose buffer overflows as a slow consumer).
const WINDOW: u64 = 2048;
/// Sends per duty cycle of the one-way sender (then the engine writes them).
const SENDS_PER_CYCLE: u64 = 256;
/// A blocking engine polls with millisecond timeouts (rounded up): a fixed-rate client wakes
/// this long before its next send and spins the rest.
const WAKE_EARLY: Duration = Duration::from_micros(1100);

/// What the client strategy is to do, from the run's options.
#[derive(Clone, Copy, Debug)]
pub(super) struct Plan {
    warmup: u64,
    count: u64,
    interval: Option<Duration>,
    amount: Amount,
    sessions: usize,
    wait: Wait,
}

impl Plan {
    /// The plan of a run with `sessions` sessions.
    pub(super) fn new(config: &RunConfig, sessions: usize) -> Self {
        // Every session warms up, twice at least: the first messages on a fresh connection
        // allocate (buffers that grow once), and must not fall into the measurement.
        let n = sessions.max(1) as u64;
        let warmup = if n > 1 {
            config.warmup.max(2 * n).div_ceil(n) * n
        } else {
            config.warmup
        };
        Plan {
            warmup,
            count: config.count,
            interval: config
                .rate
                .map(|r| Duration::from_nanos(1_000_000_000 / r.max(1))),
            amount: config.amount,
            sessions,
            wait: config.wait,
        }
    }

    /// How long the whole run may take before the runner gives up on it.
    fn deadline(&self) -> Duration {
        // Generous: a round trip slowed by a storm or shared cores can take milliseconds.
        let per = self
            .interval
            .unwrap_or_default()
            .max(Duration::from_millis(10));
        let amount = match self.amount {
            Amount::Duration(d) => d,
            Amount::Count(_) => Duration::ZERO,
        };
        Duration::from_secs(60)
            + per * u32::try_from(self.warmup + self.count).unwrap_or(u32::MAX)
            + amount
    }
}

/// What the client strategy and the runner's client thread share.
pub(super) struct Control {
    stage: AtomicU8,
    go: AtomicBool,
    /// Set by the server's strategy when it could not answer an order.
    server_failed: Arc<AtomicBool>,
    /// The receiver of a one-way row (its confirmed count opens the sender's window).
    receiver: Option<Follower>,
    result: Mutex<Option<RemoteRun>>,
    error: Mutex<Option<String>>,
    /// Rung on every stage change (the runner's client thread sleeps on it).
    bell: Bell,
}

impl Control {
    /// A control block for a client whose server reports failures in `server_failed`.
    pub(super) fn new(server_failed: Arc<AtomicBool>, receiver: Option<Follower>) -> Self {
        Control {
            stage: AtomicU8::new(CONNECTING),
            go: AtomicBool::new(false),
            server_failed,
            receiver,
            result: Mutex::new(None),
            error: Mutex::new(None),
            bell: Bell::default(),
        }
    }

    /// Stops the run with `why` (off the hot path: only on failure).
    fn fail(&self, why: String) {
        if let Ok(mut e) = self.error.lock() {
            e.get_or_insert(why);
        }
        self.set_stage(FAILED);
    }

    /// Moves the run to `stage` and wakes the runner's thread waiting for it.
    fn set_stage(&self, stage: u8) {
        self.stage.store(stage, Ordering::Release);
        self.bell.ring();
    }

    /// Hands the result over (after the last measured message).
    fn finish(&self, run: RemoteRun) {
        if let Ok(mut r) = self.result.lock() {
            *r = Some(run);
        }
        self.set_stage(MEASURED);
    }
}

/// Where an inline client got to, for the error when it did not finish in time.
pub(super) trait Progress {
    /// Its stage and counts, one line.
    fn progress(&self) -> String;
}

/// The runner's handle on an inline client: its engine and control block.
pub(super) struct RemoteClient<S: Strategy + Progress> {
    engine: EngineHandle<S>,
    control: Arc<Control>,
    plan: Plan,
    /// Kept alive (and removed) with the client: its journal directory.
    _keep: Box<dyn Send>,
}

impl<S: Strategy + Progress> RemoteClient<S> {
    /// The handle of a started engine whose strategy shares `control`.
    pub(super) fn new(
        engine: EngineHandle<S>,
        control: Arc<Control>,
        plan: Plan,
        keep: Box<dyn Send>,
    ) -> Self {
        RemoteClient {
            engine,
            control,
            plan,
            _keep: keep,
        }
    }

    /// Sleeps until the strategy reaches `stage`; an engine that stopped, a failed strategy or
    /// server, or the deadline is an error naming `what`.
    fn wait_for(&mut self, stage: u8, what: &str) -> Res<()> {
        let deadline = Instant::now() + self.plan.deadline();
        loop {
            let rung = self.control.bell.count();
            match self.control.stage.load(Ordering::Acquire) {
                FAILED => {
                    let why = self.control.error.lock().ok().and_then(|e| e.clone());
                    return Err(why.unwrap_or_else(|| "the client strategy failed".into()));
                }
                s if s >= stage => return Ok(()),
                _ => {}
            }
            if self.control.server_failed.load(Ordering::Relaxed) {
                return Err("the exchange could not answer an order".into());
            }
            if self.engine.is_finished() {
                return Err(format!("the client engine stopped before {what}"));
            }
            if Instant::now() > deadline {
                // Stop the engine to read where its strategy got to.
                self.engine.shutdown();
                let joined = self.engine.join();
                let at = self
                    .engine
                    .take_strategy()
                    .map_or_else(|| format!("engine: {joined:?}"), |s| s.progress());
                return Err(format!("{what} did not finish in time ({at})"));
            }
            self.control.bell.wait_past(rung, LIVENESS_CHECK);
        }
    }
}

impl<S: Strategy + Progress> Remote for RemoteClient<S> {
    fn warm_up(&mut self) -> Res<()> {
        self.wait_for(WARMED, "the warm-up")
    }

    fn measure(&mut self) -> Res<RemoteRun> {
        self.control.go.store(true, Ordering::Release);
        self.wait_for(MEASURED, "the measured messages")?;
        self.control
            .result
            .lock()
            .ok()
            .and_then(|mut r| r.take())
            .ok_or_else(|| "the client strategy left no result".into())
    }
}

impl<S: Strategy + Progress> Driver for RemoteClient<S> {
    fn step(&mut self) -> Res<()> {
        Err("an inline client is driven on its engine thread".into())
    }

    fn finish(&mut self) -> Res<()> {
        self.engine.shutdown();
        self.engine.join()
    }

    fn remote(&mut self) -> Option<&mut dyn Remote> {
        Some(self)
    }
}

/// Where a client strategy is in its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    /// Waiting for every session to be established.
    Connecting,
    /// Sending the warm-up.
    Warming,
    /// Warm-up done; waiting for `go`.
    Parked,
    /// Sending the measured messages.
    Measuring,
    /// Result handed over (or failed).
    Finished,
}

/// The sessions a client strategy has seen established, and the stage they move it to.
struct Sessions {
    keys: Vec<SessionKey>,
    expected: usize,
}

impl Sessions {
    fn new(expected: usize) -> Self {
        Sessions {
            keys: Vec::with_capacity(expected),
            expected,
        }
    }

    /// Takes an event in; true once the last expected session is established. A termination
    /// before the end is a failure.
    fn on_event(
        &mut self,
        control: &Control,
        stage: Stage,
        key: SessionKey,
        event: &Event<'_>,
    ) -> bool {
        match event {
            Event::StateChanged(SessionState::Established) if stage == Stage::Connecting => {
                if !self.keys.contains(&key) {
                    self.keys.push(key);
                }
                self.keys.len() == self.expected
            }
            Event::Terminated(reason) if stage != Stage::Finished => {
                control.fail(format!("a session ended: {reason}"));
                false
            }
            _ => false,
        }
    }
}

/// Round trips from an inline strategy: order `k` goes on session `k mod N` (encoded straight
/// into its outbound slot), its ExecutionReport is checked and timed, the next order follows
/// (flat out: at once; at a fixed rate: at its intended time, from `on_cycle`).
pub(super) struct Pinger {
    control: Arc<Control>,
    probe: PhaseProbe,
    plan: Plan,
    encoding: WireEncoding,
    sessions: Sessions,
    stage: Stage,
    /// Orders sent so far (every stage): the next order's number.
    next: u64,
    /// Answers received in this stage.
    done: u64,
    /// The order waiting for its answer, and its session.
    in_flight: Option<(u64, SessionKey)>,
    first: Instant,
    intended: Instant,
    sent_at: Instant,
    /// When a blocking engine must wake for the next send (engine clock).
    wake_ns: Option<u64>,
    /// Taken when handed over.
    latency: Option<Histogram<u64>>,
    service: Option<Histogram<u64>>,
}

impl Pinger {
    /// A client that runs `plan` over `plan.sessions` sessions in `encoding`.
    pub(super) fn new(
        control: Arc<Control>,
        probe: PhaseProbe,
        plan: Plan,
        encoding: WireEncoding,
    ) -> Res<Self> {
        let now = Instant::now();
        Ok(Pinger {
            control,
            probe,
            plan,
            encoding,
            sessions: Sessions::new(plan.sessions),
            stage: Stage::Connecting,
            next: 0,
            done: 0,
            in_flight: None,
            first: now,
            intended: now,
            sent_at: now,
            wake_ns: None,
            latency: Some(histogram()?),
            service: Some(histogram()?),
        })
    }

    fn fail(&mut self, why: String) {
        self.stage = Stage::Finished;
        self.control.fail(why);
    }

    /// Sends the next order on its session, timed from now.
    fn send_next(&mut self, ctx: &mut Context<'_>) {
        let k = self.next;
        let Some(&key) = self
            .sessions
            .keys
            .get((k % self.plan.sessions as u64) as usize)
        else {
            return self.fail("no session to send on".into());
        };
        self.sent_at = Instant::now();
        if self.plan.interval.is_none() || self.stage != Stage::Measuring {
            self.intended = self.sent_at;
        }
        let encoding = self.encoding;
        match ctx.send_with(key, |slot| encode(&order(k), encoding, slot)) {
            Ok(_) => {
                self.next += 1;
                self.in_flight = Some((k, key));
            }
            Err(e) => self.fail(format!("order {k} refused: {e}")),
        }
    }

    /// Starts the warm-up (or parks at once without one).
    fn start(&mut self, ctx: &mut Context<'_>) {
        self.done = 0;
        if self.plan.warmup == 0 {
            self.park();
        } else {
            self.stage = Stage::Warming;
            self.send_next(ctx);
        }
    }

    fn park(&mut self) {
        self.stage = Stage::Parked;
        self.control.set_stage(WARMED);
    }

    /// At a fixed rate: sends the order due now, or notes when to wake for it.
    fn pace(&mut self, ctx: &mut Context<'_>) -> usize {
        let now = Instant::now();
        if now >= self.intended {
            self.wake_ns = None;
            self.send_next(ctx);
            return 1;
        }
        let left = self.intended - now;
        // A deadline in the past makes a blocking engine poll without waiting: it spins.
        self.wake_ns = Some(match left.checked_sub(WAKE_EARLY) {
            Some(sleep) if self.plan.wait == Wait::Blocking => ctx
                .now()
                .saturating_add(u64::try_from(sleep.as_nanos()).unwrap_or(u64::MAX)),
            _ => 0,
        });
        0
    }
}

impl Progress for Pinger {
    fn progress(&self) -> String {
        format!(
            "{:?}: {} of {} sessions established, {} orders sent, {} answered in this stage, in flight {:?}",
            self.stage,
            self.sessions.keys.len(),
            self.sessions.expected,
            self.next,
            self.done,
            self.in_flight.map(|(k, _)| k)
        )
    }
}

impl Strategy for Pinger {
    fn on_event(&mut self, ctx: &mut Context<'_>, session: SessionKey, event: Event<'static>) {
        if self
            .sessions
            .on_event(&self.control, self.stage, session, &event)
        {
            self.start(ctx);
        }
        if self.control.stage.load(Ordering::Relaxed) == FAILED {
            self.stage = Stage::Finished;
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        let end = Instant::now();
        let Some((k, key)) = self.in_flight.take() else {
            return self.fail("an answer with no order in flight".into());
        };
        if key != message.session || !is_report_for(message.bytes, self.encoding, k) {
            return self.fail(format!("order {k} was not answered by its ExecutionReport"));
        }
        self.done += 1;
        match self.stage {
            Stage::Warming if self.done == self.plan.warmup => self.park(),
            Stage::Warming => self.send_next(ctx),
            Stage::Measuring => {
                if let (Some(latency), Some(service)) = (&mut self.latency, &mut self.service) {
                    latency.saturating_record(ns(end.saturating_duration_since(self.intended)));
                    service.saturating_record(ns(end.saturating_duration_since(self.sent_at)));
                }
                if self.done == self.plan.count {
                    self.stage = Stage::Finished;
                    if let (Some(latency), Some(service)) =
                        (self.latency.take(), self.service.take())
                    {
                        self.control.finish(RemoteRun::Latency { latency, service });
                    }
                } else if let Some(interval) = self.plan.interval {
                    self.intended =
                        self.first + interval * u32::try_from(self.done).unwrap_or(u32::MAX);
                    self.pace(ctx);
                } else {
                    self.send_next(ctx);
                }
            }
            _ => {}
        }
    }

    fn on_cycle(&mut self, ctx: &mut Context<'_>) -> usize {
        self.probe.follow();
        match self.stage {
            Stage::Parked if self.control.go.load(Ordering::Acquire) => {
                self.stage = Stage::Measuring;
                self.done = 0;
                self.first = Instant::now();
                self.intended = self.first;
                self.send_next(ctx);
                1
            }
            Stage::Measuring if self.in_flight.is_none() => self.pace(ctx),
            _ => 0,
        }
    }

    fn next_deadline(&self) -> Option<u64> {
        self.wake_ns
    }
}

/// One way from an inline strategy: `--size` application messages on one session as fast as
/// the outbox takes them, at most [`WINDOW`] ahead of the receiver's count.
pub(super) struct Sender {
    control: Arc<Control>,
    probe: PhaseProbe,
    plan: Plan,
    message: Vec<u8>,
    sessions: Sessions,
    stage: Stage,
    /// Messages sent in every stage, and in this one.
    total: u64,
    sent: u64,
    first_send_ns: u64,
    started: Instant,
}

impl Sender {
    /// A sender of `message` that runs `plan`.
    pub(super) fn new(
        control: Arc<Control>,
        probe: PhaseProbe,
        plan: Plan,
        message: Vec<u8>,
    ) -> Res<Self> {
        Ok(Sender {
            control,
            probe,
            plan,
            message,
            sessions: Sessions::new(1),
            stage: Stage::Connecting,
            total: 0,
            sent: 0,
            first_send_ns: 0,
            started: Instant::now(),
        })
    }

    /// True while this stage has more to send.
    fn wants_more(&self) -> bool {
        match (self.stage, self.plan.amount) {
            (Stage::Warming, _) => self.sent < self.plan.warmup,
            (Stage::Measuring, Amount::Count(n)) => self.sent < n,
            (Stage::Measuring, Amount::Duration(d)) => self.started.elapsed() < d,
            _ => false,
        }
    }

    /// Sends what the window and the outbox take this cycle.
    fn send_some(&mut self, ctx: &mut Context<'_>) -> usize {
        let Some(&key) = self.sessions.keys.first() else {
            return 0;
        };
        let confirmed = self
            .control
            .receiver
            .as_ref()
            .map_or(u64::MAX, Follower::delivered);
        let mut sent = 0;
        while sent < SENDS_PER_CYCLE
            && self.wants_more()
            && self.total < confirmed.saturating_add(WINDOW)
        {
            match ctx.send(key, &self.message) {
                Ok(_) => {
                    sent += 1;
                    self.sent += 1;
                    self.total += 1;
                }
                Err(InlineSendError::Session(SendError::Backpressure)) => break,
                Err(e) => {
                    self.stage = Stage::Finished;
                    self.control.fail(format!("send refused: {e}"));
                    return 0;
                }
            }
        }
        if !self.wants_more() {
            match self.stage {
                Stage::Warming => {
                    self.stage = Stage::Parked;
                    self.control.set_stage(WARMED);
                }
                Stage::Measuring => {
                    self.stage = Stage::Finished;
                    self.control.finish(RemoteRun::Throughput {
                        sent: self.sent,
                        first_send_ns: self.first_send_ns,
                    });
                }
                _ => {}
            }
        }
        usize::try_from(sent).unwrap_or(usize::MAX)
    }
}

impl Progress for Sender {
    fn progress(&self) -> String {
        let confirmed = self.control.receiver.as_ref().map(Follower::delivered);
        format!(
            "{:?}: {} sent, {} in this stage, receiver confirmed {confirmed:?}",
            self.stage, self.total, self.sent
        )
    }
}

impl Strategy for Sender {
    fn on_event(&mut self, ctx: &mut Context<'_>, session: SessionKey, event: Event<'static>) {
        if self
            .sessions
            .on_event(&self.control, self.stage, session, &event)
        {
            self.stage = Stage::Warming;
            self.send_some(ctx);
        }
        if self.control.stage.load(Ordering::Relaxed) == FAILED {
            self.stage = Stage::Finished;
        }
    }

    fn on_message(&mut self, _ctx: &mut Context<'_>, _message: InboundMessage<'_>) {}

    fn on_cycle(&mut self, ctx: &mut Context<'_>) -> usize {
        self.probe.follow();
        match self.stage {
            Stage::Parked if self.control.go.load(Ordering::Acquire) => {
                self.stage = Stage::Measuring;
                self.sent = 0;
                self.started = Instant::now();
                self.first_send_ns = clock_ns();
                self.send_some(ctx).max(1)
            }
            Stage::Warming | Stage::Measuring => self.send_some(ctx),
            _ => 0,
        }
    }

    /// While it has more to send (the window may be closed: the receiver's count comes from
    /// another thread, with no readiness to wake on), a blocking engine must not sleep.
    fn next_deadline(&self) -> Option<u64> {
        self.wants_more().then_some(0)
    }
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX).max(1)
}
