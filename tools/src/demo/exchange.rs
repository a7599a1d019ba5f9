//! The demo exchange: decodes Conga orders (SBE or JSON, per session), matches them in the
//! price-time book of `fixp_tools::book`, and answers with Conga ExecutionReports and
//! OrderCancelRejects.
//!
//! One core ([`ExchangeCore`]) holds that logic; two drivers run it: [`InlineExchange`], a
//! strategy on the engine thread (the default: each report is encoded straight into its
//! session's outbound slot), and [`run_threaded`], a strategy thread reading
//! [`SessionHandle`]s. This is application code: it uses ordinary collections.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fixp_tools::book::{self, Exchange, OrderKey, Report};
use fixp_ws::codec::conga::{
    CongaMessage, CxlRejReason, ExecType, ExecutionReport, Fill, Fills, Id8, OrdStatus,
    OrderCancelReject, Price, Side,
};
use fixp_ws::engine::{
    Context, EngineEvent, EngineHandle, FromEngine, InboundMessage, InlineSendError, SessionHandle,
    SessionKey, Strategy,
};
use fixp_ws::session::{Event, SendError};
use fixp_ws::transport::WireEncoding;

use super::wire::{decode, encode, now_ns};

/// What the exchange did, for the summary.
#[derive(Clone, Copy, Debug, Default)]
pub struct ExchangeStats {
    /// Sessions served.
    pub sessions: u64,
    /// Orders received.
    pub orders: u64,
    /// Cancel requests received.
    pub cancels: u64,
    /// Reports sent.
    pub reports: u64,
    /// Inbound messages that did not decode as Conga orders.
    pub rejected: u64,
}

/// The matching logic, independent of how messages reach it. Members are numbered in order
/// of arrival (never reused, so a new session never inherits an old one's orders).
#[derive(Default)]
pub struct ExchangeCore {
    exchange: Exchange,
    orders: HashMap<OrderKey, (Id8, Side)>,
    reports: Vec<Report>,
    exec_id: u64,
    /// The counts so far.
    pub stats: ExchangeStats,
}

impl ExchangeCore {
    /// A new member joined: its number.
    pub fn join(&mut self) -> u64 {
        self.stats.sessions += 1;
        self.stats.sessions - 1
    }

    /// Handles one inbound message of member `owner`; each report goes to `send(member,
    /// message)`.
    pub fn on_message(
        &mut self,
        owner: u64,
        bytes: &[u8],
        encoding: WireEncoding,
        send: impl FnMut(u64, &CongaMessage),
    ) {
        match decode(bytes, encoding) {
            Ok(CongaMessage::NewOrderSingle(order)) => {
                self.stats.orders += 1;
                let key = OrderKey {
                    owner,
                    cl_ord_id: order.cl_ord_id.to_wire(),
                };
                self.orders.insert(key, (order.symbol, order.side));
                self.exchange.submit(
                    book::NewOrder {
                        key,
                        symbol: order.symbol.to_wire(),
                        side: match order.side {
                            Side::Buy => book::Side::Buy,
                            Side::Sell => book::Side::Sell,
                        },
                        limit: order.price.map(|p| p.0),
                        qty: order.order_qty,
                    },
                    &mut self.reports,
                );
            }
            Ok(CongaMessage::OrderCancelRequest(cancel)) => {
                self.stats.cancels += 1;
                self.exchange.cancel(
                    OrderKey {
                        owner,
                        cl_ord_id: cancel.cl_ord_id.to_wire(),
                    },
                    &mut self.reports,
                );
            }
            Ok(_) | Err(_) => self.stats.rejected += 1,
        }
        self.emit(send);
    }

    /// Cancel-on-disconnect: cancels every resting order of member `owner`; each ER Canceled
    /// goes to `send`.
    pub fn cancel_member(&mut self, owner: u64, send: impl FnMut(u64, &CongaMessage)) {
        self.exchange.cancel_owner(owner, &mut self.reports);
        self.emit(send);
    }

    /// Sends the reports made so far.
    fn emit(&mut self, mut send: impl FnMut(u64, &CongaMessage)) {
        for report in self.reports.drain(..) {
            self.exec_id += 1;
            let (target, message) = to_conga(&report, &self.orders, self.exec_id);
            self.stats.reports += 1;
            send(target, &message);
        }
    }
}

/// The exchange as an inline strategy: every acceptor session of its engine is a member.
/// A report that meets a full outbox waits, in order, in its member's backlog and goes out
/// from `on_cycle`.
pub struct InlineExchange {
    core: ExchangeCore,
    members: HashMap<SessionKey, u64>,
    keys: Vec<Option<SessionKey>>,
    backlog: Vec<VecDeque<CongaMessage>>,
    /// Reports of orders canceled on disconnect, sent once the member is back.
    canceled: Vec<Vec<CongaMessage>>,
    waiting: usize,
    verbose: bool,
}

impl InlineExchange {
    /// A new exchange (`verbose`: print each new session).
    pub fn new(verbose: bool) -> Self {
        InlineExchange {
            core: ExchangeCore::default(),
            members: HashMap::new(),
            keys: Vec::new(),
            backlog: Vec::new(),
            canceled: Vec::new(),
            waiting: 0,
            verbose,
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> ExchangeStats {
        self.core.stats
    }

    /// Sends what waits for `owner`, in order, while its outbox takes it.
    fn flush(ctx: &mut Context<'_>, key: SessionKey, queue: &mut VecDeque<CongaMessage>) -> usize {
        let mut sent = 0;
        let encoding = ctx.encoding(key).unwrap_or(WireEncoding::Sbe);
        while let Some(message) = queue.front() {
            match ctx.send_with(key, |slot| encode(message, encoding, slot)) {
                Err(InlineSendError::Session(SendError::Backpressure)) => break,
                // Sent, or refused for good (the session ended): either way it leaves.
                _ => {
                    queue.pop_front();
                    sent += 1;
                }
            }
        }
        sent
    }
}

impl Strategy for InlineExchange {
    fn on_session(&mut self, ctx: &mut Context<'_>, session: SessionKey) {
        let owner = self.core.join();
        if self.verbose {
            if let Some(info) = ctx.session(session) {
                println!(
                    "exchange: new session {} ({:?})",
                    info.session_id, info.encoding
                );
            }
        }
        self.members.insert(session, owner);
        self.keys.push(Some(session));
        self.backlog.push(VecDeque::new());
        self.canceled.push(Vec::new());
    }

    fn on_engine_event(&mut self, _ctx: &mut Context<'_>, session: SessionKey, event: EngineEvent) {
        let Some(&owner) = self.members.get(&session) else {
            return;
        };
        let slot = owner as usize;
        match event {
            EngineEvent::CancelOnDisconnect { .. } => {
                let canceled = &mut self.canceled;
                self.core.cancel_member(owner, |target, report| {
                    if let Some(list) = canceled.get_mut(target as usize) {
                        list.push(*report);
                    }
                });
            }
            EngineEvent::ReestablishedAfterCancel { .. } => {
                if let (Some(list), Some(queue)) =
                    (self.canceled.get_mut(slot), self.backlog.get_mut(slot))
                {
                    self.waiting += list.len();
                    queue.extend(list.drain(..));
                }
            }
            EngineEvent::InboundThrottled { .. } => self.core.stats.rejected += 1,
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        let Some(&owner) = self.members.get(&message.session) else {
            return;
        };
        let encoding = ctx.encoding(message.session).unwrap_or(WireEncoding::Sbe);
        let (keys, backlog, waiting) = (&self.keys, &mut self.backlog, &mut self.waiting);
        self.core
            .on_message(owner, message.bytes, encoding, |target, report| {
                let target = target as usize;
                let (Some(Some(key)), Some(queue)) = (keys.get(target), backlog.get_mut(target))
                else {
                    return;
                };
                if queue.is_empty() {
                    let encoding = ctx.encoding(*key).unwrap_or(WireEncoding::Sbe);
                    match ctx.send_with(*key, |slot| encode(report, encoding, slot)) {
                        Err(InlineSendError::Session(SendError::Backpressure)) => {}
                        _ => return,
                    }
                }
                queue.push_back(*report);
                *waiting += 1;
            });
    }

    fn on_cycle(&mut self, ctx: &mut Context<'_>) -> usize {
        if self.waiting == 0 {
            return 0;
        }
        let mut sent = 0;
        for (key, queue) in self.keys.iter().zip(self.backlog.iter_mut()) {
            if let Some(key) = key {
                sent += Self::flush(ctx, *key, queue);
            }
        }
        self.waiting -= sent.min(self.waiting);
        sent
    }

    fn next_deadline(&self) -> Option<u64> {
        (self.waiting > 0).then_some(0)
    }

    fn on_session_freed(&mut self, _ctx: &mut Context<'_>, session: SessionKey) {
        if let Some(owner) = self.members.remove(&session) {
            let owner = owner as usize;
            if let Some(key) = self.keys.get_mut(owner) {
                *key = None;
            }
            if let Some(queue) = self.backlog.get_mut(owner) {
                self.waiting -= queue.len().min(self.waiting);
                queue.clear();
            }
            if let Some(list) = self.canceled.get_mut(owner) {
                list.clear();
            }
        }
    }
}

/// Waits for `stop`, then shuts the inline exchange's engine down and returns it (joined)
/// with the exchange's counts.
pub fn run_inline(
    mut engine: EngineHandle<InlineExchange>,
    stop: Arc<AtomicBool>,
) -> (EngineHandle<InlineExchange>, ExchangeStats) {
    while !stop.load(Ordering::Acquire) && !engine.is_finished() {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    engine.shutdown();
    let _ = engine.join();
    let stats = engine
        .take_strategy()
        .map(|exchange| exchange.stats())
        .unwrap_or_default();
    (engine, stats)
}

struct Member {
    handle: SessionHandle,
    finished: bool,
}

/// The exchange on a strategy thread (`--strategy thread`): takes each new session's handle
/// and runs until `stop` is set, then shuts the engine down and returns it (joined).
pub fn run_threaded(
    mut engine: EngineHandle,
    stop: Arc<AtomicBool>,
    verbose: bool,
) -> (EngineHandle, ExchangeStats) {
    let mut members: Vec<Member> = Vec::new();
    let mut core = ExchangeCore::default();
    let mut outbox: Vec<(u64, CongaMessage)> = Vec::new();
    while !stop.load(Ordering::Acquire) {
        let mut work = 0;
        while let Some(handle) = engine.accept() {
            if verbose {
                println!(
                    "exchange: new session {} ({:?})",
                    handle.session_id(),
                    handle.encoding()
                );
            }
            core.join();
            members.push(Member {
                handle,
                finished: false,
            });
        }
        for owner in 0..members.len() {
            let Some(member) = members.get_mut(owner) else {
                continue;
            };
            let encoding = member.handle.encoding();
            while let Some(item) = member.handle.poll() {
                work += 1;
                match item {
                    FromEngine::Message(message) => {
                        core.on_message(owner as u64, message.bytes(), encoding, |t, m| {
                            outbox.push((t, *m))
                        })
                    }
                    FromEngine::Event(Event::Finalized | Event::Terminated(_)) => {
                        member.finished = true;
                    }
                    FromEngine::Engine(EngineEvent::CancelOnDisconnect { .. }) => {
                        // The reports wait in the handle's queue until the member is back.
                        core.cancel_member(owner as u64, |t, m| outbox.push((t, *m)));
                    }
                    FromEngine::Event(_)
                    | FromEngine::Engine(_)
                    | FromEngine::SendRejected(_)
                    | FromEngine::MessageTooLong(_) => {}
                }
            }
            for (target, message) in outbox.drain(..) {
                let Some(member) = members.get_mut(target as usize) else {
                    continue;
                };
                let mut buf = [0u8; 2048];
                let Ok(len) = encode(&message, member.handle.encoding(), &mut buf) else {
                    continue;
                };
                let bytes = buf.get(..len).unwrap_or(&[]);
                while member.handle.send(bytes).is_err() {
                    if member.finished || stop.load(Ordering::Acquire) {
                        break;
                    }
                    std::thread::yield_now();
                }
            }
        }
        if work == 0 {
            std::thread::yield_now();
        }
    }
    engine.shutdown();
    let _ = engine.join();
    (engine, core.stats)
}

fn id8(text: &str) -> Id8 {
    Id8::new(text).unwrap_or_default()
}

fn order_id(n: u64) -> Id8 {
    id8(&format!("{}", n % 100_000_000))
}

/// The Conga message for a book report, and which member it goes to.
fn to_conga(
    report: &Report,
    orders: &HashMap<OrderKey, (Id8, Side)>,
    exec_id: u64,
) -> (u64, CongaMessage) {
    let exec = order_id(exec_id);
    let transact_time = now_ns();
    let lookup = |key: &OrderKey| {
        orders
            .get(key)
            .copied()
            .unwrap_or((Id8::default(), Side::Buy))
    };
    let cl = |key: &OrderKey| Id8::from_wire(key.cl_ord_id).unwrap_or_default();
    let fills_of = |fills: &[book::Fill]| {
        let mut out = Fills::new();
        for f in fills {
            let _ = out.push(Fill {
                fill_px: Price(f.px),
                fill_qty: f.qty,
            });
        }
        out
    };
    let status_of = |s: book::Status| match s {
        book::Status::New => OrdStatus::New,
        book::Status::PartiallyFilled => OrdStatus::PartiallyFilled,
        book::Status::Filled => OrdStatus::Filled,
        book::Status::Canceled => OrdStatus::Canceled,
    };
    let (key, id, exec_type, ord_status, leaves, cum, fills): (_, _, _, _, _, _, &[book::Fill]) =
        match report {
            Report::New {
                key,
                order_id,
                leaves,
            } => (
                key,
                order_id,
                ExecType::New,
                OrdStatus::New,
                *leaves,
                0,
                &[],
            ),
            Report::Trade {
                key,
                order_id,
                fill,
                leaves,
                cum,
                status,
            } => (
                key,
                order_id,
                ExecType::Trade,
                status_of(*status),
                *leaves,
                *cum,
                std::slice::from_ref(fill),
            ),
            Report::Aggressor {
                key,
                order_id,
                fills,
                leaves,
                cum,
                status,
            } => (
                key,
                order_id,
                if *status == book::Status::Canceled {
                    ExecType::Canceled
                } else {
                    ExecType::Trade
                },
                status_of(*status),
                *leaves,
                *cum,
                fills.as_slice(),
            ),
            Report::Canceled { key, order_id, cum } => (
                key,
                order_id,
                ExecType::Canceled,
                OrdStatus::Canceled,
                0,
                *cum,
                &[],
            ),
            Report::CancelRejected { key } => {
                return (
                    key.owner,
                    CongaMessage::OrderCancelReject(OrderCancelReject {
                        order_id: id8("None"),
                        cl_ord_id: cl(key),
                        ord_status: OrdStatus::Rejected,
                        cxl_rej_reason: CxlRejReason::UnknownOrder,
                        transact_time,
                    }),
                )
            }
        };
    let (symbol, side) = lookup(key);
    (
        key.owner,
        CongaMessage::ExecutionReport(ExecutionReport {
            order_id: order_id(*id),
            cl_ord_id: cl(key),
            exec_id: exec,
            exec_type,
            ord_status,
            symbol,
            side,
            leaves_qty: leaves,
            cum_qty: cum,
            transact_time,
            fills: fills_of(fills),
        }),
    )
}
