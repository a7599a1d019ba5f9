//! Requests for quotes, modelled on Deribit's block RFQ and Paradigm's DRFQ: a requester asks
//! for a price on one instrument or a multi-leg package; the market makers' sessions receive the
//! request (without the requester's side unless the venue reveals it) and answer with one-sided
//! quotes (price, size, valid-until, all-or-none) that no other maker sees; the requester accepts
//! one quote, fill-or-kill for the request's full size; both sides get ExecutionReports for each
//! leg; quotes and requests expire on [`RfqEngine::tick`].
//!
//! States: a request is Open, then Filled, Expired or Canceled (or Rejected, never opened). A
//! quote is Open, then Filled, Expired, Withdrawn or Canceled (its request ended without it), or
//! Rejected. Everything is sent as `(recipient, message)` pairs; time is passed in.
//!
//! Owns: requests, quotes, their ids and their limits. May not touch: the books, sessions'
//! transport, clocks. Bounded: open requests and quotes per session are limited, and only the
//! last [`CLOSED_MEMORY`] closed requests are remembered (for precise rejects of late messages).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};

use super::instrument::{InstrumentSpec, InstrumentTable};
use super::message::{
    ExecutionReport, Fill, Leg, Quote, QuoteAccept, QuoteCancel, QuoteRequest, QuoteRequestCancel,
    QuoteRequestStatus, QuoteStatusReport,
};
use super::types::{
    ClientId, ExecType, OrdStatus, Price, Qty, QuoteStatus, RejectReason, RfqStatus, Side,
};
use super::{Ids, Outbound, SessionRef, TradeEvent};

/// Most legs a package may have.
pub const MAX_LEGS: usize = 8;
/// How many closed requests are remembered.
pub const CLOSED_MEMORY: usize = 4_096;

/// RFQ timings and limits (nanoseconds for durations).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RfqSettings {
    /// A request's lifetime when it names no expiry.
    pub request_ttl_ns: u64,
    /// The longest lifetime a request may ask for (longer is shortened to it).
    pub max_request_ttl_ns: u64,
    /// A quote's lifetime: its valid-until is at most this far ahead (and never after its
    /// request's end).
    pub quote_ttl_ns: u64,
    /// Most open requests one session may have.
    pub max_open_requests_per_session: usize,
    /// Most open quotes one session may have.
    pub max_open_quotes_per_session: usize,
    /// Most legs a package may have (at most [`MAX_LEGS`]).
    pub max_legs: usize,
    /// Show the requester's side (when it gives one) to the market makers.
    pub reveal_side_to_makers: bool,
}

impl Default for RfqSettings {
    fn default() -> Self {
        RfqSettings {
            request_ttl_ns: 60_000_000_000,
            max_request_ttl_ns: 300_000_000_000,
            quote_ttl_ns: 2_500_000_000,
            max_open_requests_per_session: 16,
            max_open_quotes_per_session: 64,
            max_legs: 4,
            reveal_side_to_makers: false,
        }
    }
}

#[derive(Clone, Debug)]
struct QuoteState {
    id: u64,
    maker: SessionRef,
    cl_quote_id: ClientId,
    side: Side,
    price: Price,
    qty: Qty,
    valid_until: u64,
    all_or_none: bool,
    leg_prices: Vec<Price>,
    status: QuoteStatus,
}

#[derive(Clone, Debug)]
struct RfqState {
    requester: SessionRef,
    quote_req_id: ClientId,
    side: Option<Side>,
    qty: Qty,
    legs: Vec<Leg>,
    expire_at: u64,
    makers: Vec<SessionRef>,
    quotes: Vec<QuoteState>,
}

/// A summary of one open request, for status displays.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RfqSummary {
    /// The venue's id.
    pub rfq_id: u64,
    /// Who asked.
    pub requester: SessionRef,
    /// Units of the package.
    pub qty: Qty,
    /// The legs' instruments, in order.
    pub legs: Vec<Leg>,
    /// When it ends.
    pub expire_at: u64,
    /// Open quotes on it.
    pub open_quotes: usize,
}

/// The RFQ book: open requests with their quotes.
#[derive(Debug, Default)]
pub struct RfqEngine {
    settings: RfqSettings,
    makers: HashSet<SessionRef>,
    open: BTreeMap<u64, RfqState>,
    /// How each remembered closed request ended.
    closed: HashMap<u64, RfqStatus>,
    closed_order: VecDeque<u64>,
    next_rfq: u64,
    next_quote: u64,
}

fn sign(side: Side) -> i64 {
    match side {
        Side::Buy => 1,
        Side::Sell => -1,
    }
}

fn reject_text(reason: RejectReason) -> String {
    match reason {
        RejectReason::UnknownRequest => "no such request".into(),
        RejectReason::WrongRequester => "the request belongs to another session".into(),
        RejectReason::SizeMismatch => {
            "fill-or-kill: the accept must take the request's full size and the quote must offer it"
                .into()
        }
        RejectReason::RequestFilled => "the request is already filled".into(),
        RejectReason::RequestExpired => "the request has expired".into(),
        RejectReason::RequestCanceled => "the request was canceled".into(),
        RejectReason::UnknownQuote => "no such quote".into(),
        RejectReason::QuoteExpired => "the quote has expired".into(),
        RejectReason::QuoteWithdrawn => "the quote was withdrawn".into(),
        RejectReason::SideMismatch => "the quote is on the requester's side".into(),
        RejectReason::NotMarketMaker => "only market maker sessions may quote".into(),
        RejectReason::OwnRequest => "a session may not quote its own request".into(),
        RejectReason::LegPricesMismatch => {
            "leg prices must be one per leg and add up to the package price".into()
        }
        RejectReason::InvalidExpiry => "the time is not in the future".into(),
        RejectReason::DuplicateQuoteId => "clQuoteId is already open on this request".into(),
        RejectReason::DuplicateRequestId => "quoteReqId is already open".into(),
        other => other.name().into(),
    }
}

fn closed_reason(status: RfqStatus) -> RejectReason {
    match status {
        RfqStatus::Filled => RejectReason::RequestFilled,
        RfqStatus::Expired => RejectReason::RequestExpired,
        RfqStatus::Canceled | RfqStatus::Open | RfqStatus::Rejected => {
            RejectReason::RequestCanceled
        }
    }
}

/// Checks a package size against every leg's instrument: `qty × ratio` on the lot, at least the
/// minimum size.
fn check_package_qty(
    qty: Qty,
    legs: &[Leg],
    instruments: &InstrumentTable,
) -> Result<(), (RejectReason, String)> {
    for leg in legs {
        let spec = instruments.get(&leg.symbol).ok_or((
            RejectReason::UnknownInstrument,
            format!("unknown instrument {}", leg.symbol),
        ))?;
        let leg_qty = qty
            .checked_mul(i64::from(leg.ratio))
            .ok_or((RejectReason::InvalidQty, "quantity overflows".to_string()))?;
        spec.check_qty(leg_qty).map_err(|reason| {
            (
                reason,
                format!(
                    "{}: quantity {leg_qty} must be a positive multiple of {} and at least {}",
                    leg.symbol, spec.lot_size, spec.min_size
                ),
            )
        })?;
    }
    Ok(())
}

impl RfqEngine {
    /// No requests.
    pub fn new(settings: RfqSettings) -> Self {
        RfqEngine {
            settings,
            ..RfqEngine::default()
        }
    }

    /// Marks `session` as a market maker (it receives requests and may quote) or not.
    pub fn set_market_maker(&mut self, session: SessionRef, maker: bool) {
        if maker {
            self.makers.insert(session);
        } else {
            self.makers.remove(&session);
        }
    }

    /// The open requests, by id.
    pub fn open_requests(&self) -> Vec<RfqSummary> {
        self.open
            .iter()
            .map(|(id, r)| RfqSummary {
                rfq_id: *id,
                requester: r.requester,
                qty: r.qty,
                legs: r.legs.clone(),
                expire_at: r.expire_at,
                open_quotes: r
                    .quotes
                    .iter()
                    .filter(|q| q.status == QuoteStatus::Open)
                    .count(),
            })
            .collect()
    }

    /// The earliest time [`RfqEngine::tick`] has something to expire (a request's end or an
    /// open quote's valid-until), if anything is open.
    pub fn next_expiry(&self) -> Option<u64> {
        self.open
            .values()
            .flat_map(|r| {
                r.quotes
                    .iter()
                    .filter(|q| q.status == QuoteStatus::Open)
                    .map(|q| q.valid_until)
                    .chain(std::iter::once(r.expire_at))
            })
            .min()
    }

    fn open_requests_of(&self, session: SessionRef) -> usize {
        self.open
            .values()
            .filter(|r| r.requester == session)
            .count()
    }

    fn open_quotes_of(&self, session: SessionRef) -> usize {
        self.open
            .values()
            .flat_map(|r| &r.quotes)
            .filter(|q| q.maker == session && q.status == QuoteStatus::Open)
            .count()
    }

    fn status_message(
        rfq_id: u64,
        rfq: &RfqState,
        status: RfqStatus,
        for_requester: bool,
        reveal: bool,
        now: u64,
    ) -> QuoteRequestStatus {
        QuoteRequestStatus {
            rfq_id,
            quote_req_id: if for_requester {
                rfq.quote_req_id
            } else {
                ClientId::EMPTY
            },
            status,
            side: if for_requester || reveal {
                rfq.side
            } else {
                None
            },
            order_qty: rfq.qty,
            expire_time: rfq.expire_at,
            reject_reason: None,
            transact_time: now,
            legs: rfq.legs.clone(),
            text: String::new(),
        }
    }

    fn quote_report(rfq_id: u64, q: &QuoteState, for_maker: bool, now: u64) -> QuoteStatusReport {
        QuoteStatusReport {
            quote_id: Some(q.id),
            cl_quote_id: if for_maker {
                q.cl_quote_id
            } else {
                ClientId::EMPTY
            },
            rfq_id,
            status: q.status,
            side: q.side,
            price: q.price,
            order_qty: q.qty,
            valid_until: q.valid_until,
            all_or_none: q.all_or_none,
            reject_reason: None,
            transact_time: now,
            leg_prices: q.leg_prices.clone(),
            text: String::new(),
        }
    }

    /// A new request from `from`: opened and sent to every market maker, or rejected.
    pub fn request(
        &mut self,
        from: SessionRef,
        m: &QuoteRequest,
        instruments: &InstrumentTable,
        now: u64,
        out: &mut Vec<Outbound>,
    ) {
        self.expire(now, out);
        let expire_at = match self.check_request(from, m, instruments, now) {
            Ok(expire_at) => expire_at,
            Err((reason, text)) => {
                out.push(Outbound::venue(
                    from,
                    QuoteRequestStatus {
                        rfq_id: 0,
                        quote_req_id: m.quote_req_id,
                        status: RfqStatus::Rejected,
                        side: m.side,
                        order_qty: m.order_qty,
                        expire_time: m.expire_time.unwrap_or(0),
                        reject_reason: Some(reason),
                        transact_time: now,
                        legs: m.legs.clone(),
                        text,
                    },
                ));
                return;
            }
        };
        self.next_rfq += 1;
        let rfq_id = self.next_rfq;
        let mut makers: Vec<SessionRef> =
            self.makers.iter().copied().filter(|s| *s != from).collect();
        makers.sort_unstable();
        let rfq = RfqState {
            requester: from,
            quote_req_id: m.quote_req_id,
            side: m.side,
            qty: m.order_qty,
            legs: m.legs.clone(),
            expire_at,
            makers,
            quotes: Vec::new(),
        };
        let reveal = self.settings.reveal_side_to_makers;
        out.push(Outbound::venue(
            from,
            Self::status_message(rfq_id, &rfq, RfqStatus::Open, true, reveal, now),
        ));
        for maker in &rfq.makers {
            out.push(Outbound::venue(
                *maker,
                Self::status_message(rfq_id, &rfq, RfqStatus::Open, false, reveal, now),
            ));
        }
        self.open.insert(rfq_id, rfq);
    }

    fn check_request(
        &self,
        from: SessionRef,
        m: &QuoteRequest,
        instruments: &InstrumentTable,
        now: u64,
    ) -> Result<u64, (RejectReason, String)> {
        let fail = |reason: RejectReason, text: String| Err((reason, text));
        if self.open_requests_of(from) >= self.settings.max_open_requests_per_session {
            return fail(
                RejectReason::TooManyOpenRequests,
                format!(
                    "at most {} open requests per session",
                    self.settings.max_open_requests_per_session
                ),
            );
        }
        if self
            .open
            .values()
            .any(|r| r.requester == from && r.quote_req_id == m.quote_req_id)
        {
            return fail(
                RejectReason::DuplicateRequestId,
                reject_text(RejectReason::DuplicateRequestId),
            );
        }
        let max_legs = self.settings.max_legs.min(MAX_LEGS);
        if m.legs.is_empty() || m.legs.len() > max_legs {
            return fail(
                RejectReason::InvalidLegs,
                format!("a request has 1 to {max_legs} legs"),
            );
        }
        for (i, leg) in m.legs.iter().enumerate() {
            if leg.ratio == 0 {
                return fail(
                    RejectReason::InvalidLegs,
                    format!("leg {i}: ratio must be at least 1"),
                );
            }
            if m.legs[..i].iter().any(|l| l.symbol == leg.symbol) {
                return fail(
                    RejectReason::InvalidLegs,
                    format!("leg {i}: {} is listed twice", leg.symbol),
                );
            }
        }
        check_package_qty(m.order_qty, &m.legs, instruments)?;
        match m.expire_time {
            None => Ok(now.saturating_add(self.settings.request_ttl_ns)),
            Some(t) if t <= now => fail(
                RejectReason::InvalidExpiry,
                reject_text(RejectReason::InvalidExpiry),
            ),
            Some(t) => Ok(t.min(now.saturating_add(self.settings.max_request_ttl_ns))),
        }
    }

    /// Why a request named by a late message is not open: closed (how), or unknown.
    fn not_open(&self, rfq_id: u64) -> RejectReason {
        self.closed
            .get(&rfq_id)
            .map_or(RejectReason::UnknownRequest, |status| {
                closed_reason(*status)
            })
    }

    /// A quote from market maker `from`: opened (its maker and the requester are told), or
    /// rejected to its maker.
    pub fn quote(
        &mut self,
        from: SessionRef,
        m: &Quote,
        instruments: &InstrumentTable,
        now: u64,
        out: &mut Vec<Outbound>,
    ) {
        self.expire(now, out);
        let valid_until = match self.check_quote(from, m, instruments, now) {
            Ok(valid_until) => valid_until,
            Err((reason, text)) => {
                let mut report = quote_reject(m.cl_quote_id, m.rfq_id, reason, text, now);
                report.side = m.side;
                report.price = m.price;
                report.order_qty = m.order_qty;
                report.valid_until = m.valid_until.unwrap_or(0);
                report.all_or_none = m.all_or_none;
                report.leg_prices = m.leg_prices.clone();
                out.push(Outbound::venue(from, report));
                return;
            }
        };
        self.next_quote += 1;
        let quote = QuoteState {
            id: self.next_quote,
            maker: from,
            cl_quote_id: m.cl_quote_id,
            side: m.side,
            price: m.price,
            qty: m.order_qty,
            valid_until,
            all_or_none: m.all_or_none,
            leg_prices: m.leg_prices.clone(),
            status: QuoteStatus::Open,
        };
        let Some(rfq) = self.open.get_mut(&m.rfq_id) else {
            return;
        };
        out.push(Outbound::venue(
            from,
            Self::quote_report(m.rfq_id, &quote, true, now),
        ));
        out.push(Outbound::venue(
            rfq.requester,
            Self::quote_report(m.rfq_id, &quote, false, now),
        ));
        rfq.quotes.push(quote);
    }

    fn check_quote(
        &self,
        from: SessionRef,
        m: &Quote,
        instruments: &InstrumentTable,
        now: u64,
    ) -> Result<u64, (RejectReason, String)> {
        let fail = |reason: RejectReason| Err((reason, reject_text(reason)));
        let Some(rfq) = self.open.get(&m.rfq_id) else {
            return fail(self.not_open(m.rfq_id));
        };
        if !self.makers.contains(&from) {
            return fail(RejectReason::NotMarketMaker);
        }
        if rfq.requester == from {
            return fail(RejectReason::OwnRequest);
        }
        if self.open_quotes_of(from) >= self.settings.max_open_quotes_per_session {
            return Err((
                RejectReason::TooManyOpenQuotes,
                format!(
                    "at most {} open quotes per session",
                    self.settings.max_open_quotes_per_session
                ),
            ));
        }
        if rfq.quotes.iter().any(|q| {
            q.maker == from && q.cl_quote_id == m.cl_quote_id && q.status == QuoteStatus::Open
        }) {
            return fail(RejectReason::DuplicateQuoteId);
        }
        if self.settings.reveal_side_to_makers && rfq.side == Some(m.side) {
            return fail(RejectReason::SideMismatch);
        }
        check_package_qty(m.order_qty, &rfq.legs, instruments)?;
        check_quote_prices(m, &rfq.legs, instruments)?;
        let latest = now
            .saturating_add(self.settings.quote_ttl_ns)
            .min(rfq.expire_at);
        match m.valid_until {
            None => Ok(latest),
            Some(t) if t <= now => fail(RejectReason::InvalidExpiry),
            Some(t) => Ok(t.min(latest)),
        }
    }

    /// A maker withdraws its open quote.
    pub fn withdraw(
        &mut self,
        from: SessionRef,
        m: &QuoteCancel,
        now: u64,
        out: &mut Vec<Outbound>,
    ) {
        self.expire(now, out);
        let reason = match self.open.get_mut(&m.rfq_id) {
            None => self.not_open(m.rfq_id),
            Some(rfq) => {
                let found = rfq.quotes.iter_mut().find(|q| {
                    q.maker == from
                        && q.cl_quote_id == m.cl_quote_id
                        && q.status == QuoteStatus::Open
                });
                if let Some(q) = found {
                    q.status = QuoteStatus::Withdrawn;
                    out.push(Outbound::venue(
                        from,
                        Self::quote_report(m.rfq_id, q, true, now),
                    ));
                    out.push(Outbound::venue(
                        rfq.requester,
                        Self::quote_report(m.rfq_id, q, false, now),
                    ));
                    return;
                }
                RejectReason::UnknownQuote
            }
        };
        out.push(Outbound::venue(
            from,
            quote_reject(m.cl_quote_id, m.rfq_id, reason, reject_text(reason), now),
        ));
    }

    /// The requester cancels its open request.
    pub fn cancel_request(
        &mut self,
        from: SessionRef,
        m: &QuoteRequestCancel,
        now: u64,
        out: &mut Vec<Outbound>,
    ) {
        self.expire(now, out);
        let reason = match self.open.get(&m.rfq_id) {
            None => self.not_open(m.rfq_id),
            Some(rfq) if rfq.requester != from => RejectReason::WrongRequester,
            Some(_) => {
                self.close(m.rfq_id, RfqStatus::Canceled, now, out);
                return;
            }
        };
        out.push(Outbound::venue(
            from,
            QuoteRequestStatus {
                rfq_id: m.rfq_id,
                quote_req_id: m.quote_req_id,
                status: RfqStatus::Rejected,
                side: None,
                order_qty: Qty::ZERO,
                expire_time: 0,
                reject_reason: Some(reason),
                transact_time: now,
                legs: Vec::new(),
                text: reject_text(reason),
            },
        ));
    }

    /// The requester accepts one quote: fill-or-kill for the request's size. On success both
    /// sides get one ExecutionReport (Trade, Filled) per leg and the request closes Filled;
    /// otherwise the requester gets ER Rejected with the reason, and the request stays as it was.
    /// Block trades for market data are pushed to `trades`.
    #[allow(clippy::too_many_arguments)]
    pub fn accept(
        &mut self,
        from: SessionRef,
        m: &QuoteAccept,
        ids: &mut Ids,
        now: u64,
        out: &mut Vec<Outbound>,
        trades: &mut Vec<TradeEvent>,
    ) {
        self.expire(now, out);
        let chosen = match self.check_accept(from, m) {
            Ok(chosen) => chosen,
            Err(reason) => {
                let symbol = self
                    .open
                    .get(&m.rfq_id)
                    .and_then(|r| r.legs.first())
                    .map(|l| l.symbol)
                    .unwrap_or_default();
                out.push(Outbound::venue(
                    from,
                    ExecutionReport {
                        order_id: 0,
                        cl_ord_id: m.cl_ord_id,
                        exec_id: ids.exec(),
                        exec_type: ExecType::Rejected,
                        ord_status: OrdStatus::Rejected,
                        symbol,
                        side: Side::Buy,
                        price: None,
                        order_qty: m.order_qty,
                        leaves_qty: Qty::ZERO,
                        cum_qty: Qty::ZERO,
                        transact_time: now,
                        reject_reason: Some(reason),
                        rfq_id: Some(m.rfq_id),
                        quote_id: Some(m.quote_id),
                        fills: Vec::new(),
                        text: reject_text(reason),
                    },
                ));
                return;
            }
        };
        let Some(rfq) = self.open.get_mut(&m.rfq_id) else {
            return;
        };
        let Some(quote) = rfq.quotes.get_mut(chosen) else {
            return;
        };
        quote.status = QuoteStatus::Filled;
        let quote = quote.clone();
        let requester_buys = quote.side == Side::Sell;
        for (i, leg) in rfq.legs.iter().enumerate() {
            let qty = Qty(rfq.qty.0.saturating_mul(i64::from(leg.ratio)));
            let price = quote.leg_prices.get(i).copied().unwrap_or(quote.price);
            let requester_side = if requester_buys {
                leg.side
            } else {
                leg.side.opposite()
            };
            let trade_id = ids.trade();
            trades.push(TradeEvent {
                symbol: leg.symbol,
                trade_id,
                price,
                qty,
                aggressor_side: None,
                block: true,
            });
            for (to, cl_ord_id, side) in [
                (rfq.requester, m.cl_ord_id, requester_side),
                (quote.maker, quote.cl_quote_id, requester_side.opposite()),
            ] {
                out.push(Outbound::venue(
                    to,
                    ExecutionReport {
                        order_id: ids.order(),
                        cl_ord_id,
                        exec_id: ids.exec(),
                        exec_type: ExecType::Trade,
                        ord_status: OrdStatus::Filled,
                        symbol: leg.symbol,
                        side,
                        price: Some(price),
                        order_qty: qty,
                        leaves_qty: Qty::ZERO,
                        cum_qty: qty,
                        transact_time: now,
                        reject_reason: None,
                        rfq_id: Some(m.rfq_id),
                        quote_id: Some(quote.id),
                        fills: vec![Fill {
                            price,
                            qty,
                            trade_id,
                        }],
                        text: String::new(),
                    },
                ));
            }
        }
        out.push(Outbound::venue(
            quote.maker,
            Self::quote_report(m.rfq_id, &quote, true, now),
        ));
        self.close(m.rfq_id, RfqStatus::Filled, now, out);
    }

    /// The index of the chosen quote in its request, or why the accept fails.
    fn check_accept(&mut self, from: SessionRef, m: &QuoteAccept) -> Result<usize, RejectReason> {
        let Some(rfq) = self.open.get(&m.rfq_id) else {
            return Err(self.not_open(m.rfq_id));
        };
        if rfq.requester != from {
            return Err(RejectReason::WrongRequester);
        }
        let Some(at) = rfq.quotes.iter().position(|q| q.id == m.quote_id) else {
            return Err(RejectReason::UnknownQuote);
        };
        let quote = &rfq.quotes[at];
        match quote.status {
            QuoteStatus::Open => {}
            QuoteStatus::Withdrawn => return Err(RejectReason::QuoteWithdrawn),
            QuoteStatus::Expired => return Err(RejectReason::QuoteExpired),
            QuoteStatus::Filled => return Err(RejectReason::RequestFilled),
            QuoteStatus::Rejected | QuoteStatus::Canceled => {
                return Err(RejectReason::UnknownQuote)
            }
        }
        if rfq.side == Some(quote.side) {
            return Err(RejectReason::SideMismatch);
        }
        let size_ok = m.order_qty == rfq.qty
            && quote.qty >= rfq.qty
            && (!quote.all_or_none || quote.qty == rfq.qty);
        if !size_ok {
            return Err(RejectReason::SizeMismatch);
        }
        Ok(at)
    }

    /// Ends requests and quotes whose time has come (request: `now ≥ expire time`; quote:
    /// `now ≥ valid-until`), telling everyone concerned. Idempotent for the same `now`.
    pub fn tick(&mut self, now: u64, out: &mut Vec<Outbound>) {
        self.expire(now, out);
    }

    fn expire(&mut self, now: u64, out: &mut Vec<Outbound>) {
        let ended: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, r)| now >= r.expire_at)
            .map(|(id, _)| *id)
            .collect();
        for id in ended {
            self.close(id, RfqStatus::Expired, now, out);
        }
        for (id, rfq) in self.open.iter_mut() {
            for q in rfq.quotes.iter_mut() {
                if q.status == QuoteStatus::Open && now >= q.valid_until {
                    q.status = QuoteStatus::Expired;
                    out.push(Outbound::venue(
                        q.maker,
                        Self::quote_report(*id, q, true, now),
                    ));
                    out.push(Outbound::venue(
                        rfq.requester,
                        Self::quote_report(*id, q, false, now),
                    ));
                }
            }
        }
    }

    /// Closes an open request: its requester and makers are told `status`; its open quotes end
    /// (Expired with an expired request, Canceled otherwise) and their makers are told.
    fn close(&mut self, rfq_id: u64, status: RfqStatus, now: u64, out: &mut Vec<Outbound>) {
        let Some(mut rfq) = self.open.remove(&rfq_id) else {
            return;
        };
        let reveal = self.settings.reveal_side_to_makers;
        out.push(Outbound::venue(
            rfq.requester,
            Self::status_message(rfq_id, &rfq, status, true, reveal, now),
        ));
        for maker in &rfq.makers {
            out.push(Outbound::venue(
                *maker,
                Self::status_message(rfq_id, &rfq, status, false, reveal, now),
            ));
        }
        let quote_end = if status == RfqStatus::Expired {
            QuoteStatus::Expired
        } else {
            QuoteStatus::Canceled
        };
        for q in rfq
            .quotes
            .iter_mut()
            .filter(|q| q.status == QuoteStatus::Open)
        {
            q.status = quote_end;
            out.push(Outbound::venue(
                q.maker,
                Self::quote_report(rfq_id, q, true, now),
            ));
        }
        self.closed.insert(rfq_id, status);
        self.closed_order.push_back(rfq_id);
        while self.closed_order.len() > CLOSED_MEMORY {
            if let Some(old) = self.closed_order.pop_front() {
                self.closed.remove(&old);
            }
        }
    }

    /// A session is gone: its open requests are canceled and its open quotes withdrawn.
    pub fn session_ended(&mut self, session: SessionRef, now: u64, out: &mut Vec<Outbound>) {
        let own: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, r)| r.requester == session)
            .map(|(id, _)| *id)
            .collect();
        for id in own {
            self.close(id, RfqStatus::Canceled, now, out);
        }
        for (id, rfq) in self.open.iter_mut() {
            for q in rfq.quotes.iter_mut() {
                if q.maker == session && q.status == QuoteStatus::Open {
                    q.status = QuoteStatus::Withdrawn;
                    out.push(Outbound::venue(
                        rfq.requester,
                        Self::quote_report(*id, q, false, now),
                    ));
                }
            }
        }
        self.makers.remove(&session);
    }
}

/// A QuoteStatusReport Rejected for a quote that never opened (no QuoteId).
fn quote_reject(
    cl_quote_id: ClientId,
    rfq_id: u64,
    reason: RejectReason,
    text: String,
    now: u64,
) -> QuoteStatusReport {
    QuoteStatusReport {
        quote_id: None,
        cl_quote_id,
        rfq_id,
        status: QuoteStatus::Rejected,
        side: Side::Buy,
        price: Price::ZERO,
        order_qty: Qty::ZERO,
        valid_until: 0,
        all_or_none: false,
        reject_reason: Some(reason),
        transact_time: now,
        leg_prices: Vec::new(),
        text,
    }
}

/// Checks a quote's prices: a single-leg quote's price is on its instrument's tick (leg prices
/// absent or equal to it); a multi-leg quote has one positive on-tick price per leg whose sum
/// (bought legs add, sold legs subtract, times the ratio) is the package price.
fn check_quote_prices(
    m: &Quote,
    legs: &[Leg],
    instruments: &InstrumentTable,
) -> Result<(), (RejectReason, String)> {
    let spec = |leg: &Leg| -> Result<&InstrumentSpec, (RejectReason, String)> {
        instruments.get(&leg.symbol).ok_or((
            RejectReason::UnknownInstrument,
            format!("unknown instrument {}", leg.symbol),
        ))
    };
    let tick_error = |leg: &Leg, price: Price, reason: RejectReason, tick: Price| {
        (
            reason,
            format!(
                "{}: price {price} must be positive and on the tick {tick}",
                leg.symbol
            ),
        )
    };
    let mismatch = || {
        (
            RejectReason::LegPricesMismatch,
            reject_text(RejectReason::LegPricesMismatch),
        )
    };
    if let [leg] = legs {
        if !(m.leg_prices.is_empty() || m.leg_prices == [m.price]) {
            return Err(mismatch());
        }
        let s = spec(leg)?;
        return s
            .check_price(m.price)
            .map_err(|r| tick_error(leg, m.price, r, s.tick_size));
    }
    if m.leg_prices.len() != legs.len() {
        return Err(mismatch());
    }
    let mut net: i128 = 0;
    for (leg, price) in legs.iter().zip(&m.leg_prices) {
        let s = spec(leg)?;
        s.check_price(*price)
            .map_err(|r| tick_error(leg, *price, r, s.tick_size))?;
        net += i128::from(sign(leg.side)) * i128::from(leg.ratio) * i128::from(price.0);
    }
    if net != i128::from(m.price.0) {
        return Err(mismatch());
    }
    Ok(())
}
