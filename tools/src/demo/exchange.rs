//! The demo exchange: the strategy side of the acceptor engine. It takes each new session's
//! handle, decodes Conga orders (SBE or JSON, per session), matches them in the price-time book
//! of `fixp_tools::book`, and answers with Conga ExecutionReports and OrderCancelRejects.
//!
//! This is application code on its own thread: it uses ordinary collections.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use fixp_tools::book::{self, Exchange, OrderKey, Report};
use fixp_ws::codec::conga::{
    CongaMessage, CxlRejReason, ExecType, ExecutionReport, Fill, Fills, Id8, OrdStatus,
    OrderCancelReject, Price, Side,
};
use fixp_ws::engine::{EngineHandle, FromEngine, SessionHandle};
use fixp_ws::session::Event;

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

struct Member {
    handle: SessionHandle,
    finished: bool,
}

/// Runs the exchange until `stop` is set, then shuts the engine down and returns it (joined).
pub fn run(
    mut engine: EngineHandle,
    stop: Arc<AtomicBool>,
    verbose: bool,
) -> (EngineHandle, ExchangeStats) {
    let mut members: Vec<Member> = Vec::new();
    let mut exchange = Exchange::new();
    let mut orders: HashMap<OrderKey, (Id8, Side)> = HashMap::new();
    let mut reports = Vec::new();
    let mut stats = ExchangeStats::default();
    let mut exec_id: u64 = 0;
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
            stats.sessions += 1;
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
                    FromEngine::Message(message) => match decode(message.bytes(), encoding) {
                        Ok(CongaMessage::NewOrderSingle(order)) => {
                            stats.orders += 1;
                            let key = OrderKey {
                                owner: owner as u64,
                                cl_ord_id: order.cl_ord_id.to_wire(),
                            };
                            orders.insert(key, (order.symbol, order.side));
                            exchange.submit(
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
                                &mut reports,
                            );
                        }
                        Ok(CongaMessage::OrderCancelRequest(cancel)) => {
                            stats.cancels += 1;
                            exchange.cancel(
                                OrderKey {
                                    owner: owner as u64,
                                    cl_ord_id: cancel.cl_ord_id.to_wire(),
                                },
                                &mut reports,
                            );
                        }
                        Ok(_) | Err(_) => stats.rejected += 1,
                    },
                    FromEngine::Event(Event::Finalized | Event::Terminated(_)) => {
                        member.finished = true;
                    }
                    FromEngine::Event(_)
                    | FromEngine::SendRejected(_)
                    | FromEngine::MessageTooLong(_) => {}
                }
            }
            for report in reports.drain(..) {
                exec_id += 1;
                let (target, message) = to_conga(&report, &orders, exec_id);
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
                stats.reports += 1;
            }
        }
        if work == 0 {
            std::thread::yield_now();
        }
    }
    engine.shutdown();
    let _ = engine.join();
    (engine, stats)
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
