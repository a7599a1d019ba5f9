//! The demo trader: the strategy side of an initiator session. It waits for establishment,
//! sends N limit orders alternating buy and sell at one price (so every sell trades against
//! the buy before it), a cancel of a resting order and a cancel of an unknown one, reads every
//! report, then finalizes the session.

use std::time::{Duration, Instant};

use fixp_ws::codec::conga::{
    CongaMessage, Id8, NewOrderSingle, OrdType, OrderCancelRequest, Price, Side,
};
use fixp_ws::engine::{FromEngine, SessionHandle, ToEngine};
use fixp_ws::session::{Event, SessionState};

use super::wire::{decode, describe, encode, now_ns};

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
    /// Reports received in all.
    pub reports: u64,
    /// Wall time from the first order to the last report.
    pub elapsed: Duration,
}

/// Errors of a trading run.
#[derive(Debug, thiserror::Error)]
pub enum TradeError {
    /// Nothing happened for too long.
    #[error("timed out: {0}")]
    Timeout(String),
    /// The session ended before the run did.
    #[error("session ended: {0}")]
    Ended(String),
}

fn wait(
    handle: &mut SessionHandle,
    what: &str,
    limit: Duration,
    mut on: impl FnMut(FromEngine) -> Result<bool, TradeError>,
) -> Result<(), TradeError> {
    let mut last_progress = Instant::now();
    loop {
        match handle.poll() {
            Some(item) => {
                last_progress = Instant::now();
                if on(item)? {
                    return Ok(());
                }
            }
            None => {
                if last_progress.elapsed() > limit {
                    return Err(TradeError::Timeout(what.to_owned()));
                }
                std::thread::yield_now();
            }
        }
    }
}

fn push(handle: &mut SessionHandle, bytes: &[u8]) -> Result<(), TradeError> {
    let start = Instant::now();
    while handle.send(bytes).is_err() {
        if start.elapsed() > Duration::from_secs(10) {
            return Err(TradeError::Timeout("engine queue stayed full".into()));
        }
        std::thread::yield_now();
    }
    Ok(())
}

/// Trades `orders` orders on an established-or-establishing session, prints reports (all of
/// them when `print_limit` allows), finalizes and returns the summary.
pub fn trade(
    handle: &mut SessionHandle,
    orders: u64,
    print_limit: usize,
    label: &str,
) -> Result<TradeSummary, TradeError> {
    let encoding = handle.encoding();
    let limit = Duration::from_secs(15);
    wait(handle, "establishment", limit, |item| match item {
        FromEngine::Event(Event::StateChanged(SessionState::Established)) => Ok(true),
        FromEngine::Event(Event::NegotiationRejected(c)) => {
            Err(TradeError::Ended(format!("negotiation rejected: {c:?}")))
        }
        FromEngine::Event(Event::EstablishmentRejected(c)) => {
            // For example a journaled session that was finalized: the session negotiates a new
            // SessionId on the engine's next connection (digest A1).
            println!("[{label}] establishment rejected ({c:?}); negotiating a new session");
            Ok(false)
        }
        _ => Ok(false),
    })?;
    println!(
        "[{label}] session {} established ({encoding:?})",
        handle.session_id()
    );
    let symbol = Id8::new("ACME").unwrap_or_default();
    let mut buf = [0u8; 2048];
    let mut summary = TradeSummary {
        orders,
        ..TradeSummary::default()
    };
    let start = Instant::now();
    for i in 0..orders {
        let side = if i % 2 == 0 { Side::Buy } else { Side::Sell };
        let order = CongaMessage::NewOrderSingle(NewOrderSingle {
            cl_ord_id: Id8::new(&format!("c{i}")).unwrap_or_default(),
            symbol,
            side,
            transact_time: now_ns(),
            order_qty: 10,
            ord_type: OrdType::Limit,
            price: Some(Price(10_000)),
        });
        let len =
            encode(&order, encoding, &mut buf).map_err(|e| TradeError::Ended(e.to_string()))?;
        push(handle, buf.get(..len).unwrap_or(&[]))?;
    }
    // An odd count leaves the last buy resting: cancel it. Then cancel an unknown order.
    let mut cancels = Vec::new();
    if orders % 2 == 1 {
        cancels.push(format!("c{}", orders - 1));
    }
    cancels.push("nosuch".to_owned());
    for cl in &cancels {
        let cancel = CongaMessage::OrderCancelRequest(OrderCancelRequest {
            cl_ord_id: Id8::new(cl).unwrap_or_default(),
            symbol,
            side: Side::Buy,
            transact_time: now_ns(),
        });
        let len =
            encode(&cancel, encoding, &mut buf).map_err(|e| TradeError::Ended(e.to_string()))?;
        push(handle, buf.get(..len).unwrap_or(&[]))?;
    }
    summary.cancels = cancels.len() as u64;
    // Reports: New + Trade (resting side) + Trade (aggressor) per pair; New + Canceled for a
    // resting last buy; one cancel reject.
    let expected = (orders / 2) * 3 + if orders % 2 == 1 { 2 } else { 0 } + 1;
    let mut printed = 0usize;
    wait(handle, "reports", limit, |item| {
        match item {
            FromEngine::Message(message) => {
                summary.reports += 1;
                match decode(message.bytes(), encoding) {
                    Ok(report) => {
                        if printed < print_limit {
                            printed += 1;
                            println!("[{label}] seq {:>5}  {}", message.seq, describe(&report));
                        }
                        match report {
                            CongaMessage::ExecutionReport(er) => {
                                let name = er.exec_type.name().to_owned();
                                match summary.by_type.iter_mut().find(|(n, _)| *n == name) {
                                    Some((_, count)) => *count += 1,
                                    None => summary.by_type.push((name, 1)),
                                }
                            }
                            CongaMessage::OrderCancelReject(_) => summary.cancel_rejects += 1,
                            _ => {}
                        }
                    }
                    Err(e) => println!("[{label}] undecodable report: {e}"),
                }
            }
            FromEngine::Event(Event::Terminated(reason)) => {
                println!("[{label}] binding ended: {reason} (the engine reconnects)");
            }
            FromEngine::Event(_) => {}
            FromEngine::SendRejected(e) => return Err(TradeError::Ended(e.to_string())),
            FromEngine::MessageTooLong(e) => return Err(TradeError::Ended(e.to_string())),
        }
        Ok(summary.reports >= expected)
    })?;
    summary.elapsed = start.elapsed();
    if printed < summary.reports as usize {
        println!(
            "[{label}] ... {} more reports not printed",
            summary.reports as usize - printed
        );
    }
    // Finalize: FinishedSending → the exchange finishes its flow → Close 1000.
    handle
        .command(ToEngine::Finalize)
        .map_err(|_| TradeError::Timeout("engine queue full".into()))?;
    wait(handle, "finalization", limit, |item| {
        Ok(matches!(item, FromEngine::Event(Event::Finalized)))
    })?;
    println!("[{label}] session finalized (Close 1000)");
    Ok(summary)
}
