//! The demo trader: once established, sends N limit orders alternating buy and sell at one
//! price (so every sell trades against the buy before it), a cancel of a resting order and a
//! cancel of an unknown one, reads every report, then finalizes the session. With `latency`
//! it keeps one order in flight and times each NewOrderSingle → first report.
//!
//! One core ([`TraderCore`]) holds that logic; two drivers run it: [`InlineTrader`], a
//! strategy on the engine thread (the default), and [`trade_threaded`], a loop on the calling
//! thread over a [`SessionHandle`].

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fixp_ws::codec::conga::{
    CongaMessage, Id8, NewOrderSingle, OrdType, OrderCancelRequest, Price, Side,
};
use fixp_ws::codec::SessionId;
use fixp_ws::engine::{
    Context, EngineHandle, FromEngine, InboundMessage, InlineSendError, SessionCounterSnapshot,
    SessionHandle, SessionKey, Strategy, ToEngine,
};
use fixp_ws::session::{Event, SendError, SessionState};
use fixp_ws::transport::WireEncoding;
use hdrhistogram::Histogram;

use fixp_tools::venue::message::VenueMessage;
use fixp_tools::venue::wire::{self, WireFormat};
use fixp_tools::venue::{AppMessage, Dialect};

use super::wire::{describe, encode, now_ns};

/// What came back.
#[derive(Clone, Debug, Default)]
pub struct TradeSummary {
    /// Orders sent.
    pub orders: u64,
    /// Cancels sent.
    pub cancels: u64,
    /// ExecutionReports by ExecType name.
    pub by_type: Vec<(String, u64)>,
    /// OrderCancelRejects.
    pub cancel_rejects: u64,
    /// Orders the venue refused with a BusinessMessageReject (its message-rate limit, for
    /// example; each is sent again after a short back-off), and the first reason it gave.
    pub business_rejects: (u64, Option<String>),
    /// Reports received in all.
    pub reports: u64,
    /// Wall time from the first order to the last report.
    pub elapsed: Duration,
    /// NewOrderSingle → first report, ns (latency mode).
    pub latency: Option<Histogram<u64>>,
    /// The session's counters at the end.
    pub counters: Option<SessionCounterSnapshot>,
}

/// Errors of a trading run.
#[derive(Debug, Clone, thiserror::Error)]
pub enum TradeError {
    /// Nothing happened for too long.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The session ended before the run did.
    #[error("session ended: {0}")]
    Ended(String),
}

/// How long a run may go without progress.
const NO_PROGRESS: Duration = Duration::from_secs(15);

/// How long the trader waits before sending again an order the venue refused.
const REJECT_BACKOFF: Duration = Duration::from_millis(1);

/// The trading logic, independent of how messages reach it.
pub struct TraderCore {
    encoding: WireEncoding,
    symbol: Id8,
    orders: u64,
    cancels: Vec<Id8>,
    sent: u64,
    expected: u64,
    latency: bool,
    /// Latency mode: when the message in flight went out, its reports still to come, and
    /// whether its first report was timed.
    in_flight: Option<(Instant, u64, bool)>,
    /// An order was refused: the next message waits until then.
    retry_at: Option<Instant>,
    histogram: Option<Histogram<u64>>,
    print_limit: usize,
    printed: Vec<(u64, CongaMessage)>,
    notes: Vec<String>,
    summary: TradeSummary,
    start: Option<Instant>,
    established: bool,
    finalize_requested: bool,
    finalized: bool,
    /// How the finalized binding ends on the wire (printed).
    ending: &'static str,
    failed: Option<TradeError>,
}

impl TraderCore {
    /// A run of `orders` orders in `encoding`, keeping the first `print_limit` reports to print.
    pub fn new(encoding: WireEncoding, orders: u64, print_limit: usize, latency: bool) -> Self {
        // An odd count leaves the last buy resting: cancel it. Then cancel an unknown order.
        let mut cancels = Vec::new();
        if orders % 2 == 1 {
            cancels.push(Id8::new(&format!("c{}", orders - 1)).unwrap_or_default());
        }
        cancels.push(Id8::new("nosuch").unwrap_or_default());
        // Reports: New + Trade (resting side) + Trade (aggressor) per pair; New + Canceled for
        // a resting last buy; one cancel reject.
        let expected = (orders / 2) * 3 + if orders % 2 == 1 { 2 } else { 0 } + 1;
        TraderCore {
            encoding,
            symbol: Id8::new("ACME").unwrap_or_default(),
            orders,
            summary: TradeSummary {
                orders,
                cancels: cancels.len() as u64,
                ..TradeSummary::default()
            },
            cancels,
            sent: 0,
            expected,
            latency,
            in_flight: None,
            retry_at: None,
            histogram: latency
                .then(|| Histogram::new_with_bounds(1, 60_000_000_000, 3).ok())
                .flatten(),
            print_limit,
            printed: Vec::with_capacity(print_limit),
            notes: Vec::new(),
            start: None,
            established: false,
            finalize_requested: false,
            finalized: false,
            ending: "Close 1000",
            failed: None,
        }
    }

    /// Says how the binding of the finalized session ends on the wire (default "Close 1000").
    pub fn set_ending(&mut self, ending: &'static str) {
        self.ending = ending;
    }

    /// The session is established (again).
    pub fn on_established(&mut self, session_id: SessionId) {
        if !self.established {
            self.established = true;
            self.notes.push(format!(
                "session {session_id} established ({:?})",
                self.encoding
            ));
            self.start = Some(Instant::now());
        }
    }

    /// The next message to send now, if any (call [`TraderCore::sent`] once it went out).
    pub fn next_message(&self) -> Option<CongaMessage> {
        if !self.established || self.in_flight.is_some() || self.failed.is_some() {
            return None;
        }
        if self.retry_at.is_some_and(|at| Instant::now() < at) {
            return None;
        }
        if self.sent < self.orders {
            let i = self.sent;
            return Some(CongaMessage::NewOrderSingle(NewOrderSingle {
                cl_ord_id: Id8::new(&format!("c{i}")).unwrap_or_default(),
                symbol: self.symbol,
                side: if i.is_multiple_of(2) {
                    Side::Buy
                } else {
                    Side::Sell
                },
                transact_time: now_ns(),
                order_qty: 10,
                ord_type: OrdType::Limit,
                price: Some(Price(10_000)),
            }));
        }
        let cancel = self.cancels.get((self.sent - self.orders) as usize)?;
        Some(CongaMessage::OrderCancelRequest(OrderCancelRequest {
            cl_ord_id: *cancel,
            symbol: self.symbol,
            side: Side::Buy,
            transact_time: now_ns(),
        }))
    }

    /// The message [`TraderCore::next_message`] gave went out.
    pub fn sent(&mut self) {
        self.retry_at = None;
        if self.latency {
            let reports = if self.sent < self.orders {
                // A buy is answered with New; a sell with two Trades (resting and aggressor).
                if self.sent.is_multiple_of(2) {
                    1
                } else {
                    2
                }
            } else {
                1
            };
            self.in_flight = Some((Instant::now(), reports, self.sent >= self.orders));
        }
        self.sent += 1;
    }

    /// A report arrived.
    pub fn on_report(&mut self, seq: u64, bytes: &[u8]) {
        // The clock first: the latency is the order's to its first report.
        let answered_ns = self
            .in_flight
            .as_ref()
            .filter(|(_, _, timed)| !timed)
            .map(|(at, _, _)| u64::try_from(at.elapsed().as_nanos()).unwrap_or(u64::MAX));
        let format = match self.encoding {
            WireEncoding::Sbe => WireFormat::Sbe,
            WireEncoding::Json => WireFormat::Json,
        };
        let report = match wire::decode(bytes, format, Dialect::Conga) {
            Ok(AppMessage::Venue(VenueMessage::BusinessMessageReject(reject))) => {
                // The order in flight was refused unprocessed (the venue's message-rate limit,
                // say): back off and send it again, so the book goes on as the counts expect.
                let (count, first) = &mut self.summary.business_rejects;
                *count += 1;
                first.get_or_insert(reject.text);
                if self.in_flight.take().is_some() {
                    self.sent = self.sent.saturating_sub(1);
                    self.retry_at = Some(Instant::now() + REJECT_BACKOFF);
                }
                return;
            }
            Ok(AppMessage::Conga(report)) => Some(report),
            Ok(AppMessage::Venue(other)) => {
                self.notes
                    .push(format!("unexpected venue message {}", other.type_name()));
                None
            }
            Err(e) => {
                self.notes.push(format!("undecodable report: {e}"));
                None
            }
        };
        if let Some((_, left, timed)) = self.in_flight.as_mut() {
            if let (Some(ns), Some(h)) = (answered_ns, self.histogram.as_mut()) {
                h.saturating_record(ns.max(1));
            }
            *timed = true;
            *left = left.saturating_sub(1);
            if *left == 0 {
                self.in_flight = None;
            }
        }
        self.summary.reports += 1;
        if let Some(report) = report {
            if self.printed.len() < self.print_limit {
                self.printed.push((seq, report));
            }
            match report {
                CongaMessage::ExecutionReport(er) => {
                    let name = er.exec_type.name();
                    match self.summary.by_type.iter_mut().find(|(n, _)| n == name) {
                        Some((_, count)) => *count += 1,
                        None => self.summary.by_type.push((name.to_owned(), 1)),
                    }
                }
                CongaMessage::OrderCancelReject(_) => self.summary.cancel_rejects += 1,
                _ => {}
            }
        }
        if self.summary.reports >= self.expected {
            self.summary.elapsed = self.start.map(|s| s.elapsed()).unwrap_or_default();
        }
    }

    /// A refused order waits for its retry.
    pub fn retrying(&self) -> bool {
        self.retry_at.is_some()
    }

    /// Every report arrived and finalization was not asked for yet.
    pub fn wants_finalize(&self) -> bool {
        self.summary.reports >= self.expected && !self.finalize_requested
    }

    /// Finalization was asked for.
    pub fn finalize_requested(&mut self) {
        self.finalize_requested = true;
    }

    /// A session event (never a message).
    pub fn on_event(&mut self, event: Event<'_>) {
        match event {
            Event::Finalized => self.finalized = true,
            Event::NegotiationRejected(c) => {
                self.fail(TradeError::Ended(format!("negotiation rejected: {c:?}")))
            }
            Event::EstablishmentRejected(c) => {
                // For example a journaled session that was finalized: the session negotiates a
                // new SessionId on the engine's next connection (digest A1).
                self.notes.push(format!(
                    "establishment rejected ({c:?}); negotiating a new session"
                ));
            }
            Event::Terminated(reason) if !self.finalized && !self.finalize_requested => self
                .notes
                .push(format!("binding ended: {reason} (the engine reconnects)")),
            _ => {}
        }
    }

    /// The run failed.
    pub fn fail(&mut self, error: TradeError) {
        if self.failed.is_none() {
            self.failed = Some(error);
        }
    }

    /// Finalized, or failed.
    pub fn done(&self) -> bool {
        self.finalized || self.failed.is_some()
    }

    /// Prints what was kept (established, the first reports, notes) under `label`.
    pub fn print(&self, label: &str) {
        for note in &self.notes {
            println!("[{label}] {note}");
        }
        for (seq, report) in &self.printed {
            println!("[{label}] seq {seq:>5}  {}", describe(report));
        }
        if (self.printed.len() as u64) < self.summary.reports {
            println!(
                "[{label}] ... {} more reports not printed",
                self.summary.reports - self.printed.len() as u64
            );
        }
        if self.finalized {
            println!("[{label}] session finalized ({})", self.ending);
        }
    }

    /// The outcome.
    pub fn finish(mut self) -> Result<TradeSummary, TradeError> {
        if let Some(e) = self.failed.take() {
            return Err(e);
        }
        if !self.finalized {
            return Err(TradeError::Timeout("finalization".into()));
        }
        self.summary.latency = self.histogram.take();
        Ok(self.summary)
    }
}

/// Progress an inline trader reports to the thread that waits for it.
#[derive(Debug, Default)]
pub struct Progress {
    steps: AtomicU64,
    done: AtomicBool,
}

impl Progress {
    fn step(&self) {
        self.steps.fetch_add(1, Ordering::Relaxed);
    }
}

/// The trader as an inline strategy of its initiator engine.
pub struct InlineTrader {
    core: TraderCore,
    key: Option<SessionKey>,
    blocked: bool,
    counters: Option<SessionCounterSnapshot>,
    progress: Arc<Progress>,
}

impl InlineTrader {
    /// Runs `core`, reporting to `progress`.
    pub fn new(core: TraderCore, progress: Arc<Progress>) -> Self {
        InlineTrader {
            core,
            key: None,
            blocked: false,
            counters: None,
            progress,
        }
    }

    /// Sends what the core has to send now, while the session's outbox takes it.
    fn pump(&mut self, ctx: &mut Context<'_>) -> usize {
        let Some(key) = self.key else {
            return 0;
        };
        self.blocked = false;
        let encoding = self.core.encoding;
        let mut sent = 0;
        while let Some(message) = self.core.next_message() {
            match ctx.send_with(key, |slot| encode(&message, encoding, slot)) {
                Ok(_) => {
                    self.core.sent();
                    sent += 1;
                }
                Err(InlineSendError::Session(SendError::Backpressure)) => {
                    self.blocked = true;
                    break;
                }
                // Between bindings: sending resumes when the session is established again.
                Err(InlineSendError::Session(SendError::NotEstablished)) => break,
                Err(e) => {
                    self.core.fail(TradeError::Ended(e.to_string()));
                    break;
                }
            }
        }
        if self.core.wants_finalize() {
            self.core.finalize_requested();
            let _ = ctx.finalize(key);
        }
        sent
    }

    fn after(&mut self) {
        self.progress.step();
        if self.core.done() {
            self.progress.done.store(true, Ordering::Release);
        }
    }
}

impl Strategy for InlineTrader {
    fn on_session(&mut self, _ctx: &mut Context<'_>, session: SessionKey) {
        self.key = Some(session);
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        self.core.on_report(message.seq, message.bytes);
        self.pump(ctx);
        self.after();
    }

    fn on_event(&mut self, ctx: &mut Context<'_>, session: SessionKey, event: Event<'static>) {
        if event == Event::StateChanged(SessionState::Established) {
            if let Some(info) = ctx.session(session) {
                self.core.on_established(info.session_id);
            }
            self.pump(ctx);
        }
        self.core.on_event(event);
        if event == Event::Finalized {
            self.counters = ctx.counters(session);
        }
        self.after();
    }

    fn on_cycle(&mut self, ctx: &mut Context<'_>) -> usize {
        if self.blocked || self.core.retrying() {
            self.pump(ctx)
        } else {
            0
        }
    }

    fn next_deadline(&self) -> Option<u64> {
        // A refused order waits a millisecond for its retry: poll until then.
        (self.blocked || self.core.retrying()).then_some(0)
    }
}

/// Waits for an inline trader's run (no progress for 15 s fails it), then shuts its engine
/// down and returns the engine (joined) and the trader's core.
pub fn trade_inline(
    mut engine: EngineHandle<InlineTrader>,
    progress: &Progress,
) -> (EngineHandle<InlineTrader>, Result<TraderCore, TradeError>) {
    let mut seen = progress.steps.load(Ordering::Relaxed);
    let mut last = Instant::now();
    let mut timed_out = false;
    while !progress.done.load(Ordering::Acquire) {
        std::thread::sleep(Duration::from_millis(1));
        let now = progress.steps.load(Ordering::Relaxed);
        if now != seen {
            seen = now;
            last = Instant::now();
        } else if last.elapsed() > NO_PROGRESS {
            timed_out = true;
            break;
        }
    }
    engine.shutdown();
    let joined = engine.join();
    let outcome = match (engine.take_strategy(), joined) {
        (_, Err(e)) => Err(TradeError::Ended(format!("engine: {e}"))),
        (None, Ok(())) => Err(TradeError::Ended("no strategy".into())),
        (Some(trader), Ok(())) => {
            let mut core = trader.core;
            core.summary.counters = trader.counters;
            if timed_out {
                core.fail(TradeError::Timeout("no progress".into()));
            }
            Ok(core)
        }
    };
    (engine, outcome)
}

/// Runs `core` over a thread-mode handle on the calling thread until it is done (no progress
/// for 15 s fails it).
pub fn trade_threaded(handle: &mut SessionHandle, mut core: TraderCore) -> TraderCore {
    let encoding = handle.encoding();
    let mut last = Instant::now();
    let mut buf = [0u8; 2048];
    while !core.done() {
        let mut progress = false;
        while let Some(message) = core.next_message() {
            let Ok(len) = encode(&message, encoding, &mut buf) else {
                core.fail(TradeError::Ended("encode".into()));
                break;
            };
            if handle.send(buf.get(..len).unwrap_or(&[])).is_err() {
                break;
            }
            core.sent();
            progress = true;
        }
        if core.wants_finalize() && handle.command(ToEngine::Finalize).is_ok() {
            core.finalize_requested();
        }
        while let Some(item) = handle.poll() {
            progress = true;
            match item {
                FromEngine::Message(message) => core.on_report(message.seq, message.bytes()),
                FromEngine::Event(Event::StateChanged(SessionState::Established)) => {
                    core.on_established(handle.session_id());
                }
                FromEngine::Event(event) => core.on_event(event),
                FromEngine::SendRejected(e) => core.fail(TradeError::Ended(e.to_string())),
                FromEngine::MessageTooLong(e) => core.fail(TradeError::Ended(e.to_string())),
                FromEngine::Engine(_) => {}
            }
        }
        if progress {
            last = Instant::now();
        } else if last.elapsed() > NO_PROGRESS {
            core.fail(TradeError::Timeout("no progress".into()));
        } else {
            std::thread::yield_now();
        }
    }
    core.summary.counters = Some(handle.counters().snapshot());
    core
}

#[cfg(test)]
mod tests {
    use super::*;
    use fixp_tools::venue::message::BusinessMessageReject;

    fn throttled() -> Vec<u8> {
        let reject = VenueMessage::BusinessMessageReject(BusinessMessageReject {
            ref_template_id: 0,
            ref_schema_id: 0,
            reject_reason: fixp_tools::venue::types::RejectReason::Other,
            text: "over limits.max_messages_per_second".into(),
        });
        let mut out = [0u8; 512];
        let n = reject.encode_sbe(&mut out).expect("encodes");
        out[..n].to_vec()
    }

    fn order_id(message: Option<CongaMessage>) -> String {
        match message {
            Some(CongaMessage::NewOrderSingle(o)) => o.cl_ord_id.as_str().to_owned(),
            other => panic!("not an order: {other:?}"),
        }
    }

    #[test]
    fn a_refused_order_is_sent_again_after_the_back_off_and_counted() {
        let mut core = TraderCore::new(WireEncoding::Sbe, 2, 0, true);
        core.on_established(SessionId::from_random_bytes([7; 16]));
        assert_eq!(order_id(core.next_message()), "c0");
        core.sent();
        core.on_report(1, &throttled());
        assert!(core.retrying());
        assert_eq!(core.summary.business_rejects.0, 1);
        assert_eq!(
            core.summary.business_rejects.1.as_deref(),
            Some("over limits.max_messages_per_second")
        );
        assert_eq!(core.summary.reports, 0, "a reject is not a report");
        std::thread::sleep(REJECT_BACKOFF * 2);
        assert_eq!(order_id(core.next_message()), "c0", "the same order again");
        core.sent();
        assert!(!core.retrying());
    }
}
