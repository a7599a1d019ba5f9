//! The order life cycle: validation against the instrument (tick, lot, minimum size), matching
//! in the instrument's [`Book`], and the ExecutionReports and OrderCancelRejects that follow,
//! in the venue form or the Conga form (each order is answered in the dialect it came in).
//!
//! Reports follow Conga's behaviour (as [`crate::book`] does): a limit order that does not
//! cross gets ER New; each resting order hit gets ER Trade with its one fill; the aggressor gets
//! one ER carrying all its fills: Filled, PartiallyFilled (the remainder rests) or Canceled (a
//! market remainder, which never rests). A cancel gives ER Canceled or an OrderCancelReject.
//! A bad order gets ER Rejected with a [`RejectReason`] and a readable text.
//!
//! Owns: open orders and their owners. May not touch: sessions, the wire, market data
//! subscriptions (it reports [`MarketEvents`] for the caller to publish).

use std::collections::HashMap;

use fixp_ws::codec::conga::{self, CongaMessage, Id8};

use super::book::{Book, Outcome};
use super::instrument::{InstrumentSpec, InstrumentTable};
use super::message::{
    ExecutionReport, Fill, NewOrderSingle, OrderCancelReject, OrderCancelRequest,
};
use super::types::{
    ClientId, CxlRejReason, ExecType, OrdStatus, OrdType, Price, Qty, RejectReason, Side, Symbol,
};
use super::{AppMessage, Dialect, Ids, MarketEvents, Outbound, SessionRef, TradeEvent};

/// Conga prices have exponent −2: one Conga price unit is this many venue price units.
const CONGA_PRICE_SCALE: i64 = 1_000_000;
/// Conga quantities are whole units: one is this many venue quantity units.
const CONGA_QTY_SCALE: i64 = Qty::ONE;

/// Limits and listing rules of the order side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderSettings {
    /// Most open (resting) orders one session may have.
    pub max_open_orders_per_session: usize,
    /// List a Conga symbol the table lacks as a plain instrument (tick 0.01, lot 1) on first
    /// use, as the old demo exchange did; when false such an order is rejected.
    pub auto_list_conga_symbols: bool,
}

impl Default for OrderSettings {
    fn default() -> Self {
        OrderSettings {
            max_open_orders_per_session: 1_000,
            auto_list_conga_symbols: true,
        }
    }
}

#[derive(Clone, Debug)]
struct OrderState {
    owner: SessionRef,
    dialect: Dialect,
    cl_ord_id: ClientId,
    symbol: Symbol,
    side: Side,
    price: Option<Price>,
    qty: Qty,
    cum: Qty,
}

/// An order as the venue takes it in, from either dialect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRequest {
    /// The client's order id.
    pub cl_ord_id: ClientId,
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// Market or limit.
    pub ord_type: OrdType,
    /// The limit price.
    pub price: Option<Price>,
    /// Quantity.
    pub qty: Qty,
}

impl From<&NewOrderSingle> for OrderRequest {
    fn from(m: &NewOrderSingle) -> Self {
        OrderRequest {
            cl_ord_id: m.cl_ord_id,
            symbol: m.symbol,
            side: m.side,
            ord_type: m.ord_type,
            price: m.price,
            qty: m.order_qty,
        }
    }
}

/// Every instrument's book, the open orders, and the reports.
#[derive(Debug)]
pub struct Orders {
    settings: OrderSettings,
    books: HashMap<Symbol, Book>,
    orders: HashMap<u64, OrderState>,
    open: HashMap<(SessionRef, ClientId), u64>,
    open_per_session: HashMap<SessionRef, usize>,
    outcome: Outcome,
}

fn side_from_conga(side: conga::Side) -> Side {
    match side {
        conga::Side::Buy => Side::Buy,
        conga::Side::Sell => Side::Sell,
    }
}

fn side_to_conga(side: Side) -> conga::Side {
    match side {
        Side::Buy => conga::Side::Buy,
        Side::Sell => conga::Side::Sell,
    }
}

/// A venue quantity in Conga's whole units (saturating: Conga orders only trade instruments with
/// whole lots, so every quantity they see is whole and within their order's i32).
fn conga_qty(qty: Qty) -> i32 {
    i32::try_from(qty.0 / CONGA_QTY_SCALE).unwrap_or(i32::MAX)
}

/// A venue price as a Conga price (saturating above 21 474 836.47, which Conga cannot show).
fn conga_price(price: Price) -> conga::Price {
    conga::Price(i32::try_from(price.0 / CONGA_PRICE_SCALE).unwrap_or(i32::MAX))
}

/// A Conga `char[8]` id for a venue number (the last eight decimal digits).
fn conga_id(n: u64) -> Id8 {
    Id8::new(&(n % 100_000_000).to_string()).unwrap_or_default()
}

/// True when every price and quantity of the instrument has a Conga form.
fn conga_tradable(spec: &InstrumentSpec) -> bool {
    spec.tick_size.0 % CONGA_PRICE_SCALE == 0 && spec.lot_size.0 % CONGA_QTY_SCALE == 0
}

impl Orders {
    /// No books, no orders.
    pub fn new(settings: OrderSettings) -> Self {
        Orders {
            settings,
            books: HashMap::new(),
            orders: HashMap::new(),
            open: HashMap::new(),
            open_per_session: HashMap::new(),
            outcome: Outcome::default(),
        }
    }

    /// The book of `symbol` (`None` before its first order).
    pub fn book(&self, symbol: &Symbol) -> Option<&Book> {
        self.books.get(symbol)
    }

    /// How many orders rest for `session`.
    pub fn open_orders(&self, session: SessionRef) -> usize {
        self.open_per_session.get(&session).copied().unwrap_or(0)
    }

    /// A venue NewOrderSingle.
    #[allow(clippy::too_many_arguments)]
    pub fn new_order(
        &mut self,
        from: SessionRef,
        order: &NewOrderSingle,
        instruments: &InstrumentTable,
        ids: &mut Ids,
        now: u64,
        out: &mut Vec<Outbound>,
        events: &mut MarketEvents,
    ) {
        self.submit(
            from,
            Dialect::Venue,
            order.into(),
            instruments,
            ids,
            now,
            out,
            events,
        );
    }

    /// A Conga message: NewOrderSingle or OrderCancelRequest (Conga cancels by the order's own
    /// ClOrdId). Reports are not inbound messages: they are answered with nothing and `false`.
    #[allow(clippy::too_many_arguments)]
    pub fn conga(
        &mut self,
        from: SessionRef,
        message: &CongaMessage,
        instruments: &mut InstrumentTable,
        ids: &mut Ids,
        now: u64,
        out: &mut Vec<Outbound>,
        events: &mut MarketEvents,
    ) -> bool {
        match message {
            CongaMessage::NewOrderSingle(m) => {
                let symbol = Symbol::new(m.symbol.as_str()).unwrap_or_default();
                if self.settings.auto_list_conga_symbols && instruments.get(&symbol).is_none() {
                    // A plain instrument is valid by construction; a failure leaves it unlisted
                    // and the order is rejected as an unknown instrument.
                    let _ = instruments.insert(InstrumentSpec::plain(symbol));
                }
                let request = OrderRequest {
                    cl_ord_id: ClientId::new(m.cl_ord_id.as_str()).unwrap_or_default(),
                    symbol,
                    side: side_from_conga(m.side),
                    ord_type: match m.ord_type {
                        conga::OrdType::Market => OrdType::Market,
                        conga::OrdType::Limit => OrdType::Limit,
                    },
                    price: m.price.map(|p| Price(i64::from(p.0) * CONGA_PRICE_SCALE)),
                    qty: Qty(i64::from(m.order_qty) * CONGA_QTY_SCALE),
                };
                self.submit(
                    from,
                    Dialect::Conga,
                    request,
                    instruments,
                    ids,
                    now,
                    out,
                    events,
                );
                true
            }
            CongaMessage::OrderCancelRequest(m) => {
                let id = ClientId::new(m.cl_ord_id.as_str()).unwrap_or_default();
                self.cancel_by_client_id(from, Dialect::Conga, id, id, ids, now, out, events);
                true
            }
            CongaMessage::ExecutionReport(_) | CongaMessage::OrderCancelReject(_) => false,
        }
    }

    /// Validates, matches and reports one order.
    #[allow(clippy::too_many_arguments)]
    pub fn submit(
        &mut self,
        from: SessionRef,
        dialect: Dialect,
        order: OrderRequest,
        instruments: &InstrumentTable,
        ids: &mut Ids,
        now: u64,
        out: &mut Vec<Outbound>,
        events: &mut MarketEvents,
    ) {
        let state = OrderState {
            owner: from,
            dialect,
            cl_ord_id: order.cl_ord_id,
            symbol: order.symbol,
            side: order.side,
            price: order.price,
            qty: order.qty,
            cum: Qty::ZERO,
        };
        if let Err((reason, text)) = self.check(from, dialect, &order, instruments) {
            let report = Report {
                order_id: 0,
                exec_type: ExecType::Rejected,
                ord_status: OrdStatus::Rejected,
                leaves: Qty::ZERO,
                fills: Vec::new(),
                reject: Some((reason, text)),
            };
            out.push(report.render(&state, ids, now));
            return;
        }
        let order_id = ids.order();
        let limit = match order.ord_type {
            OrdType::Limit => order.price,
            OrdType::Market => None,
        };
        let mut outcome = std::mem::take(&mut self.outcome);
        self.books.entry(order.symbol).or_default().submit(
            order_id,
            order.side,
            limit,
            order.qty,
            &mut outcome,
        );
        let mut fills = Vec::with_capacity(outcome.matches.len());
        for m in &outcome.matches {
            let trade_id = ids.trade();
            let fill = Fill {
                price: m.price,
                qty: m.qty,
                trade_id,
            };
            fills.push(fill);
            events.trades.push(TradeEvent {
                symbol: order.symbol,
                trade_id,
                price: m.price,
                qty: m.qty,
                aggressor_side: Some(order.side),
                block: false,
            });
            let done = m.resting_leaves.0 == 0;
            let resting = if done {
                self.close(m.resting_id)
            } else {
                self.orders.get(&m.resting_id).cloned()
            };
            let Some(mut resting) = resting else { continue };
            resting.cum = m.resting_cum;
            if let Some(live) = self.orders.get_mut(&m.resting_id) {
                live.cum = m.resting_cum;
            }
            let report = Report {
                order_id: m.resting_id,
                exec_type: ExecType::Trade,
                ord_status: if done {
                    OrdStatus::Filled
                } else {
                    OrdStatus::PartiallyFilled
                },
                leaves: m.resting_leaves,
                fills: vec![fill],
                reject: None,
            };
            out.push(report.render(&resting, ids, now));
        }
        if !outcome.changes.is_empty() {
            events.changes.push((order.symbol, outcome.changes.clone()));
        }
        let mut state = state;
        state.cum = outcome.cum;
        let (exec_type, ord_status) =
            match (fills.is_empty(), outcome.rested, outcome.cum == order.qty) {
                (_, _, true) => (ExecType::Trade, OrdStatus::Filled),
                (true, true, _) => (ExecType::New, OrdStatus::New),
                (false, true, _) => (ExecType::Trade, OrdStatus::PartiallyFilled),
                (_, false, false) => (ExecType::Canceled, OrdStatus::Canceled),
            };
        let report = Report {
            order_id,
            exec_type,
            ord_status,
            leaves: outcome.leaves,
            fills,
            reject: None,
        };
        out.push(report.render(&state, ids, now));
        if outcome.rested {
            self.open.insert((from, order.cl_ord_id), order_id);
            *self.open_per_session.entry(from).or_default() += 1;
            self.orders.insert(order_id, state);
        }
        self.outcome = outcome;
    }

    fn check(
        &self,
        from: SessionRef,
        dialect: Dialect,
        order: &OrderRequest,
        instruments: &InstrumentTable,
    ) -> Result<(), (RejectReason, String)> {
        if self.open.contains_key(&(from, order.cl_ord_id)) {
            return Err((
                RejectReason::DuplicateClOrdId,
                format!("clOrdId {} is already open", order.cl_ord_id),
            ));
        }
        let Some(spec) = instruments.get(&order.symbol) else {
            return Err((
                RejectReason::UnknownInstrument,
                format!("unknown instrument {}", order.symbol),
            ));
        };
        if dialect == Dialect::Conga && !conga_tradable(spec) {
            return Err((
                RejectReason::UnsupportedPrecision,
                format!(
                    "{} needs more precision than Conga orders carry",
                    order.symbol
                ),
            ));
        }
        spec.check_qty(order.qty).map_err(|reason| {
            (
                reason,
                format!(
                    "quantity {} must be a positive multiple of {} and at least {}",
                    order.qty, spec.lot_size, spec.min_size
                ),
            )
        })?;
        match (order.ord_type, order.price) {
            (OrdType::Limit, None) => {
                return Err((
                    RejectReason::MissingPrice,
                    "a limit order needs a price".into(),
                ))
            }
            (OrdType::Market, Some(_)) => {
                return Err((
                    RejectReason::InvalidPrice,
                    "a market order has no price".into(),
                ))
            }
            (OrdType::Limit, Some(price)) => spec.check_price(price).map_err(|reason| {
                (
                    reason,
                    format!(
                        "price {price} must be positive and on the tick {}",
                        spec.tick_size
                    ),
                )
            })?,
            (OrdType::Market, None) => {}
        }
        if self.open_orders(from) >= self.settings.max_open_orders_per_session {
            return Err((
                RejectReason::TooManyOpenOrders,
                format!(
                    "at most {} open orders per session",
                    self.settings.max_open_orders_per_session
                ),
            ));
        }
        Ok(())
    }

    /// Forgets a closed order; returns what it was.
    fn close(&mut self, order_id: u64) -> Option<OrderState> {
        let state = self.orders.remove(&order_id)?;
        self.open.remove(&(state.owner, state.cl_ord_id));
        if let Some(n) = self.open_per_session.get_mut(&state.owner) {
            *n = n.saturating_sub(1);
        }
        Some(state)
    }

    /// A venue OrderCancelRequest.
    pub fn cancel(
        &mut self,
        from: SessionRef,
        request: &OrderCancelRequest,
        ids: &mut Ids,
        now: u64,
        out: &mut Vec<Outbound>,
        events: &mut MarketEvents,
    ) {
        self.cancel_by_client_id(
            from,
            Dialect::Venue,
            request.cl_ord_id,
            request.orig_cl_ord_id,
            ids,
            now,
            out,
            events,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn cancel_by_client_id(
        &mut self,
        from: SessionRef,
        dialect: Dialect,
        cl_ord_id: ClientId,
        orig_cl_ord_id: ClientId,
        ids: &mut Ids,
        now: u64,
        out: &mut Vec<Outbound>,
        events: &mut MarketEvents,
    ) {
        let Some(order_id) = self.open.get(&(from, orig_cl_ord_id)).copied() else {
            out.push(cancel_reject(from, dialect, cl_ord_id, orig_cl_ord_id, now));
            return;
        };
        self.cancel_order(order_id, ids, now, out, events);
    }

    /// Cancels one resting order by venue id, reporting ER Canceled to its owner.
    fn cancel_order(
        &mut self,
        order_id: u64,
        ids: &mut Ids,
        now: u64,
        out: &mut Vec<Outbound>,
        events: &mut MarketEvents,
    ) {
        let Some(state) = self.close(order_id) else {
            return;
        };
        let Some(canceled) = self
            .books
            .get_mut(&state.symbol)
            .and_then(|b| b.cancel(order_id))
        else {
            return;
        };
        events.changes.push((state.symbol, vec![canceled.change]));
        let mut state = state;
        state.cum = canceled.cum;
        let report = Report {
            order_id,
            exec_type: ExecType::Canceled,
            ord_status: OrdStatus::Canceled,
            leaves: Qty::ZERO,
            fills: Vec::new(),
            reject: None,
        };
        out.push(report.render(&state, ids, now));
    }

    /// Cancels every resting order of `session` (cancel on disconnect), in order id order.
    pub fn cancel_all(
        &mut self,
        session: SessionRef,
        ids: &mut Ids,
        now: u64,
        out: &mut Vec<Outbound>,
        events: &mut MarketEvents,
    ) {
        let mut open: Vec<u64> = self
            .orders
            .iter()
            .filter(|(_, o)| o.owner == session)
            .map(|(id, _)| *id)
            .collect();
        open.sort_unstable();
        for id in open {
            self.cancel_order(id, ids, now, out, events);
        }
    }
}

/// One report about one order, before it takes a dialect.
struct Report {
    order_id: u64,
    exec_type: ExecType,
    ord_status: OrdStatus,
    leaves: Qty,
    fills: Vec<Fill>,
    reject: Option<(RejectReason, String)>,
}

impl Report {
    fn render(self, order: &OrderState, ids: &mut Ids, now: u64) -> Outbound {
        let exec_id = ids.exec();
        let message = match order.dialect {
            Dialect::Venue => {
                let (reject_reason, text) = match self.reject {
                    Some((reason, text)) => (Some(reason), text),
                    None => (None, String::new()),
                };
                AppMessage::Venue(
                    ExecutionReport {
                        order_id: self.order_id,
                        cl_ord_id: order.cl_ord_id,
                        exec_id,
                        exec_type: self.exec_type,
                        ord_status: self.ord_status,
                        symbol: order.symbol,
                        side: order.side,
                        price: order.price,
                        order_qty: order.qty,
                        leaves_qty: self.leaves,
                        cum_qty: order.cum,
                        transact_time: now,
                        reject_reason,
                        rfq_id: None,
                        quote_id: None,
                        fills: self.fills,
                        text,
                    }
                    .into(),
                )
            }
            Dialect::Conga => {
                let mut fills = conga::Fills::new();
                for f in &self.fills {
                    // Conga holds MAX_FILLS fills; the counts and cumQty stay exact beyond it.
                    let _ = fills.push(conga::Fill {
                        fill_px: conga_price(f.price),
                        fill_qty: conga_qty(f.qty),
                    });
                }
                AppMessage::Conga(CongaMessage::ExecutionReport(conga::ExecutionReport {
                    order_id: conga_id(self.order_id),
                    cl_ord_id: Id8::new(order.cl_ord_id.as_str()).unwrap_or_default(),
                    exec_id: conga_id(exec_id),
                    exec_type: conga::ExecType::from_name(self.exec_type.name())
                        .unwrap_or(conga::ExecType::Rejected),
                    ord_status: conga::OrdStatus::from_name(self.ord_status.name())
                        .unwrap_or(conga::OrdStatus::Rejected),
                    symbol: Id8::new(order.symbol.as_str()).unwrap_or_default(),
                    side: side_to_conga(order.side),
                    leaves_qty: conga_qty(self.leaves),
                    cum_qty: conga_qty(order.cum),
                    transact_time: now,
                    fills,
                }))
            }
        };
        Outbound {
            to: order.owner,
            message,
        }
    }
}

fn cancel_reject(
    to: SessionRef,
    dialect: Dialect,
    cl_ord_id: ClientId,
    orig_cl_ord_id: ClientId,
    now: u64,
) -> Outbound {
    let message = match dialect {
        Dialect::Venue => AppMessage::Venue(
            OrderCancelReject {
                order_id: None,
                cl_ord_id,
                orig_cl_ord_id,
                ord_status: OrdStatus::Rejected,
                cxl_rej_reason: CxlRejReason::UnknownOrder,
                transact_time: now,
                text: format!("no open order {orig_cl_ord_id}"),
            }
            .into(),
        ),
        Dialect::Conga => {
            AppMessage::Conga(CongaMessage::OrderCancelReject(conga::OrderCancelReject {
                order_id: Id8::new("None").unwrap_or_default(),
                cl_ord_id: Id8::new(cl_ord_id.as_str()).unwrap_or_default(),
                ord_status: conga::OrdStatus::Rejected,
                cxl_rej_reason: conga::CxlRejReason::UnknownOrder,
                transact_time: now,
            }))
        }
    };
    Outbound { to, message }
}
