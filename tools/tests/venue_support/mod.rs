//! Shared helpers of the venue tests: a venue driven with a simulated clock, and short
//! constructors for messages.
#![allow(dead_code)]

use fixp_tools::venue::exchange::{SessionProfile, Venue, VenueSettings};
use fixp_tools::venue::instrument::InstrumentTable;
use fixp_tools::venue::message::*;
use fixp_tools::venue::types::*;
use fixp_tools::venue::{AppMessage, Outbound, SessionRef};

/// Simulated time zero (2026-01-01T00:00:00Z).
pub const T0: u64 = 1_767_225_600_000_000_000;
/// One millisecond in ns.
pub const MS: u64 = 1_000_000;

pub fn sym(s: &str) -> Symbol {
    Symbol::new(s).unwrap()
}

pub fn cid(s: &str) -> ClientId {
    ClientId::new(s).unwrap()
}

pub fn px(s: &str) -> Price {
    Price::parse(s).unwrap()
}

pub fn qty(s: &str) -> Qty {
    Qty::parse(s).unwrap()
}

/// A venue over the default instruments with a simulated clock.
pub struct Harness {
    pub venue: Venue,
    pub now: u64,
}

impl Harness {
    pub fn new(settings: VenueSettings) -> Self {
        Harness {
            venue: Venue::new(settings, InstrumentTable::default_set()),
            now: T0,
        }
    }

    pub fn join(&mut self, session: u64, market_maker: bool) -> SessionRef {
        let s = SessionRef(session);
        self.venue
            .session_started(s, SessionProfile { market_maker });
        s
    }

    /// Sends one message; returns what the venue sent.
    pub fn send(&mut self, from: SessionRef, message: impl Into<VenueMessage>) -> Vec<Outbound> {
        let mut out = Vec::new();
        self.venue
            .handle(from, &AppMessage::Venue(message.into()), self.now, &mut out);
        out
    }

    /// Moves the clock and ticks.
    pub fn advance(&mut self, by: u64) -> Vec<Outbound> {
        self.now += by;
        let mut out = Vec::new();
        self.venue.tick(self.now, &mut out);
        out
    }

    /// A limit order (`price: Some`) or a market order.
    pub fn order(
        &mut self,
        from: SessionRef,
        cl: &str,
        symbol: &str,
        side: Side,
        price: Option<&str>,
        q: &str,
    ) -> Vec<Outbound> {
        let order = NewOrderSingle {
            cl_ord_id: cid(cl),
            symbol: sym(symbol),
            side,
            ord_type: if price.is_some() {
                OrdType::Limit
            } else {
                OrdType::Market
            },
            price: price.map(px),
            order_qty: qty(q),
            transact_time: self.now,
        };
        self.send(from, order)
    }

    pub fn limit(
        &mut self,
        from: SessionRef,
        cl: &str,
        symbol: &str,
        side: Side,
        price: &str,
        q: &str,
    ) -> Vec<Outbound> {
        self.order(from, cl, symbol, side, Some(price), q)
    }

    pub fn market(
        &mut self,
        from: SessionRef,
        cl: &str,
        symbol: &str,
        side: Side,
        q: &str,
    ) -> Vec<Outbound> {
        self.order(from, cl, symbol, side, None, q)
    }

    pub fn cancel(
        &mut self,
        from: SessionRef,
        cl: &str,
        orig: &str,
        symbol: &str,
        side: Side,
    ) -> Vec<Outbound> {
        let cancel = OrderCancelRequest {
            cl_ord_id: cid(cl),
            orig_cl_ord_id: cid(orig),
            symbol: sym(symbol),
            side,
            transact_time: self.now,
        };
        self.send(from, cancel)
    }
}

/// The venue messages sent to `to`, in order.
pub fn to(out: &[Outbound], to: SessionRef) -> Vec<VenueMessage> {
    out.iter()
        .filter(|o| o.to == to)
        .filter_map(|o| match &o.message {
            AppMessage::Venue(m) => Some(m.clone()),
            AppMessage::Conga(_) => None,
        })
        .collect()
}

/// The ExecutionReports in `messages`.
pub fn reports(messages: &[VenueMessage]) -> Vec<ExecutionReport> {
    messages
        .iter()
        .filter_map(|m| match m {
            VenueMessage::ExecutionReport(er) => Some(er.clone()),
            _ => None,
        })
        .collect()
}

/// (exec type, status, leaves, cum, fills as (price, qty)) of a report, for compact asserts.
pub fn brief(er: &ExecutionReport) -> (ExecType, OrdStatus, String, String, Vec<(String, String)>) {
    (
        er.exec_type,
        er.ord_status,
        er.leaves_qty.to_string(),
        er.cum_qty.to_string(),
        er.fills
            .iter()
            .map(|f| (f.price.to_string(), f.qty.to_string()))
            .collect(),
    )
}
