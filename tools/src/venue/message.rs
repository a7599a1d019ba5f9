//! The venue's application messages as typed values, and their SBE form (schema 101).
//!
//! Owns: one struct per message of `tools/schemas/venue-sbe-schema.xml`, the [`VenueMessage`]
//! enum over them, and the conversion to and from the generated flyweights in [`super::sbe`].
//! May not touch: sessions, clocks, books. Bad bytes give a [`DecodeError`], never a panic.
//!
//! Groups and text are `Vec`s and `String`s: a message without entries or text allocates
//! nothing (NewOrderSingle, OrderCancelRequest, QuoteAccept, an ER New).

use fixp_ws::codec::{DecodeError, EncodeError};

use super::instrument::InstrumentSpec;
use super::sbe;
use super::types::{
    ClientId, CxlRejReason, ExecType, OrdStatus, OrdType, Price, Qty, QuoteStatus, RejectReason,
    RfqStatus, Side, SubscriptionType, Symbol,
};

/// The venue schema's id (Conga's order schema is 100).
pub const SCHEMA_ID: u16 = sbe::SCHEMA_ID;

/// Asks for every instrument's definition.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentListRequest {
    /// The client's id for the request, echoed in each definition.
    pub request_id: u64,
}

/// One instrument, in reply to an [`InstrumentListRequest`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentDefinition {
    /// The request answered (0 when unsolicited).
    pub request_id: u64,
    /// How many definitions the reply holds.
    pub total_instruments: u32,
    /// The instrument.
    pub instrument: InstrumentSpec,
}

/// A new order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewOrderSingle {
    /// The client's order id (unique among the session's open orders).
    pub cl_ord_id: ClientId,
    /// The instrument.
    pub symbol: Symbol,
    /// Buy or sell.
    pub side: Side,
    /// Market or limit.
    pub ord_type: OrdType,
    /// The limit price (required for a limit order).
    pub price: Option<Price>,
    /// Quantity, a multiple of the instrument's lot size.
    pub order_qty: Qty,
    /// When the client sent it (Unix-epoch ns).
    pub transact_time: u64,
}

/// A request to cancel a resting order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderCancelRequest {
    /// The cancel's own id.
    pub cl_ord_id: ClientId,
    /// The ClOrdId of the order to cancel.
    pub orig_cl_ord_id: ClientId,
    /// The order's instrument.
    pub symbol: Symbol,
    /// The order's side.
    pub side: Side,
    /// When the client sent it (Unix-epoch ns).
    pub transact_time: u64,
}

/// One execution of an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill {
    /// Execution price.
    pub price: Price,
    /// Execution quantity.
    pub qty: Qty,
    /// The venue's trade id (shared by both sides of the trade).
    pub trade_id: u64,
}

/// An order's state after an event: New, Trade (with fills), Canceled, or Rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExecutionReport {
    /// The venue's order id (0 for a rejected order).
    pub order_id: u64,
    /// The client's order id.
    pub cl_ord_id: ClientId,
    /// The venue's id for this report.
    pub exec_id: u64,
    /// What happened.
    pub exec_type: ExecType,
    /// The order's status now.
    pub ord_status: OrdStatus,
    /// The instrument.
    pub symbol: Symbol,
    /// The order's side.
    pub side: Side,
    /// The order's limit price (`None` for a market order).
    pub price: Option<Price>,
    /// The order's quantity.
    pub order_qty: Qty,
    /// Open quantity.
    pub leaves_qty: Qty,
    /// Filled quantity.
    pub cum_qty: Qty,
    /// When the venue acted (Unix-epoch ns).
    pub transact_time: u64,
    /// Why the order was rejected (Rejected only).
    pub reject_reason: Option<RejectReason>,
    /// The request, for a fill from an RFQ (or an accept's reject).
    pub rfq_id: Option<u64>,
    /// The quote, for a fill from an RFQ (or an accept's reject).
    pub quote_id: Option<u64>,
    /// The executions this report carries, in match order.
    pub fills: Vec<Fill>,
    /// Readable detail (reject reasons).
    pub text: String,
}

/// A cancel that could not be carried out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderCancelReject {
    /// The venue's order id, when the order is known.
    pub order_id: Option<u64>,
    /// The cancel's id.
    pub cl_ord_id: ClientId,
    /// The ClOrdId the cancel named.
    pub orig_cl_ord_id: ClientId,
    /// The order's status (Rejected when unknown).
    pub ord_status: OrdStatus,
    /// Why.
    pub cxl_rej_reason: CxlRejReason,
    /// When the venue acted (Unix-epoch ns).
    pub transact_time: u64,
    /// Readable detail.
    pub text: String,
}

/// One leg of a request: buying one unit of the package buys `ratio` of `symbol` on `side`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Leg {
    /// The leg's instrument.
    pub symbol: Symbol,
    /// The leg's side when the package is bought.
    pub side: Side,
    /// Units of the leg per unit of the package (≥ 1).
    pub ratio: u32,
}

/// A request for quotes: one instrument (one leg) or a multi-leg package.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteRequest {
    /// The requester's id for it.
    pub quote_req_id: ClientId,
    /// The requester's side, if it tells.
    pub side: Option<Side>,
    /// Units of the package.
    pub order_qty: Qty,
    /// When the request should end (the venue's default and maximum apply).
    pub expire_time: Option<u64>,
    /// When the client sent it (Unix-epoch ns).
    pub transact_time: u64,
    /// The package, 1 to [`MAX_LEGS`](super::rfq::MAX_LEGS) legs.
    pub legs: Vec<Leg>,
}

/// The requester withdraws its open request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteRequestCancel {
    /// The requester's id for the request.
    pub quote_req_id: ClientId,
    /// The venue's id for the request.
    pub rfq_id: u64,
    /// When the client sent it (Unix-epoch ns).
    pub transact_time: u64,
}

/// A request's state: to its requester, and to the market makers (Open, then how it ended).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteRequestStatus {
    /// The venue's id for the request (0 for a request rejected before it had one).
    pub rfq_id: u64,
    /// The requester's id (empty on the market makers' copies).
    pub quote_req_id: ClientId,
    /// The request's state.
    pub status: RfqStatus,
    /// The requester's side (on makers' copies only if the venue reveals it).
    pub side: Option<Side>,
    /// Units of the package.
    pub order_qty: Qty,
    /// When the request ends.
    pub expire_time: u64,
    /// Why it was rejected (Rejected only).
    pub reject_reason: Option<RejectReason>,
    /// When the venue acted (Unix-epoch ns).
    pub transact_time: u64,
    /// The package.
    pub legs: Vec<Leg>,
    /// Readable detail.
    pub text: String,
}

/// A market maker's one-sided price for a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Quote {
    /// The maker's id for the quote.
    pub cl_quote_id: ClientId,
    /// The request quoted.
    pub rfq_id: u64,
    /// The maker's side: Buy bids for the package, Sell offers it.
    pub side: Side,
    /// Price of one unit of the package (legs bought add, legs sold subtract).
    pub price: Price,
    /// Units of the package the maker trades.
    pub order_qty: Qty,
    /// When the quote ends (the venue's quote lifetime applies when absent or later).
    pub valid_until: Option<u64>,
    /// Fill only for exactly `order_qty`.
    pub all_or_none: bool,
    /// When the client sent it (Unix-epoch ns).
    pub transact_time: u64,
    /// One price per leg, in the request's leg order (required for a multi-leg request).
    pub leg_prices: Vec<Price>,
}

/// The maker withdraws its quote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteCancel {
    /// The maker's id for the quote.
    pub cl_quote_id: ClientId,
    /// The request it quotes.
    pub rfq_id: u64,
    /// When the client sent it (Unix-epoch ns).
    pub transact_time: u64,
}

/// A quote's state: to its maker, and to the request's requester (who sees no maker ids).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteStatusReport {
    /// The venue's id for the quote (`None` for a quote rejected before it had one).
    pub quote_id: Option<u64>,
    /// The maker's id (empty on the requester's copy).
    pub cl_quote_id: ClientId,
    /// The request quoted.
    pub rfq_id: u64,
    /// The quote's state.
    pub status: QuoteStatus,
    /// The maker's side.
    pub side: Side,
    /// Price of one unit of the package.
    pub price: Price,
    /// Units of the package.
    pub order_qty: Qty,
    /// When the quote ends.
    pub valid_until: u64,
    /// Fill only for exactly `order_qty`.
    pub all_or_none: bool,
    /// Why it was rejected (Rejected only).
    pub reject_reason: Option<RejectReason>,
    /// When the venue acted (Unix-epoch ns).
    pub transact_time: u64,
    /// One price per leg.
    pub leg_prices: Vec<Price>,
    /// Readable detail.
    pub text: String,
}

/// The requester takes one quote, fill-or-kill.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuoteAccept {
    /// The requester's order id for the resulting trade.
    pub cl_ord_id: ClientId,
    /// The request.
    pub rfq_id: u64,
    /// The venue's id of the chosen quote.
    pub quote_id: u64,
    /// Units of the package: must equal the request's size.
    pub order_qty: Qty,
    /// When the client sent it (Unix-epoch ns).
    pub transact_time: u64,
}

/// Subscribe to, unsubscribe from, or ask for a snapshot of one book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketDataRequest {
    /// The client's id for the request.
    pub md_req_id: u64,
    /// The instrument.
    pub symbol: Symbol,
    /// Snapshot (once), Subscribe (snapshot, then incrementals), Unsubscribe.
    pub subscription_type: SubscriptionType,
}

/// A market data request that could not be served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketDataRequestReject {
    /// The request.
    pub md_req_id: u64,
    /// The instrument it named.
    pub symbol: Symbol,
    /// Why.
    pub reject_reason: RejectReason,
    /// Readable detail.
    pub text: String,
}

/// One price level (in a snapshot) or one level's new state (in an incremental).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Level {
    /// Bid (Buy) or offer (Sell).
    pub side: Side,
    /// The level's price.
    pub price: Price,
    /// Open quantity at the level; 0 in an incremental removes the level.
    pub qty: Qty,
    /// Resting orders at the level.
    pub order_count: u32,
}

/// Every level of one book as of `seq_no`: bids best first, then offers best first.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketDataSnapshot {
    /// The request answered (0 when the venue sends it unasked).
    pub md_req_id: u64,
    /// The instrument.
    pub symbol: Symbol,
    /// The sequence number of the last book event the snapshot includes.
    pub seq_no: u64,
    /// When the venue took it (Unix-epoch ns).
    pub transact_time: u64,
    /// The levels.
    pub levels: Vec<Level>,
}

/// The level changes of one book event; it applies on top of `seq_no − 1`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketDataIncremental {
    /// The instrument.
    pub symbol: Symbol,
    /// This event's number in the book's sequence.
    pub seq_no: u64,
    /// When the event happened (Unix-epoch ns).
    pub transact_time: u64,
    /// Each touched level's new state.
    pub changes: Vec<Level>,
}

/// A trade on one instrument; it takes a number in the book's sequence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MarketDataTrade {
    /// The instrument.
    pub symbol: Symbol,
    /// This event's number in the book's sequence.
    pub seq_no: u64,
    /// The venue's trade id.
    pub trade_id: u64,
    /// Trade price.
    pub price: Price,
    /// Trade quantity.
    pub qty: Qty,
    /// The aggressor's side (`None` for a block trade).
    pub aggressor_side: Option<Side>,
    /// An RFQ (block) trade, which never touched the book.
    pub block: bool,
    /// When it happened (Unix-epoch ns).
    pub transact_time: u64,
}

/// An application message the venue could not process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BusinessMessageReject {
    /// The rejected message's template id (0 if unknown).
    pub ref_template_id: u16,
    /// The rejected message's schema id (0 for JSON without one).
    pub ref_schema_id: u16,
    /// Why.
    pub reject_reason: RejectReason,
    /// Readable detail (the decode error).
    pub text: String,
}

macro_rules! venue_messages {
    ($($name:ident => $decoder:ident),+ $(,)?) => {
        /// Every message of the venue schema.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub enum VenueMessage {
            $(
                #[doc = concat!("`", stringify!($name), "`.")]
                $name($name),
            )+
        }

        impl VenueMessage {
            /// The message's name: the SBE message name and the JSON `@type`.
            pub fn type_name(&self) -> &'static str {
                match self {
                    $(VenueMessage::$name(_) => stringify!($name),)+
                }
            }

            /// The message's SBE template id.
            pub fn template_id(&self) -> u16 {
                match self {
                    $(VenueMessage::$name(_) => sbe::$decoder::TEMPLATE_ID,)+
                }
            }
        }

        $(
            impl From<$name> for VenueMessage {
                fn from(m: $name) -> Self {
                    VenueMessage::$name(m)
                }
            }
        )+
    };
}

venue_messages!(
    InstrumentListRequest => InstrumentListRequestDecoder,
    InstrumentDefinition => InstrumentDefinitionDecoder,
    NewOrderSingle => NewOrderSingleDecoder,
    OrderCancelRequest => OrderCancelRequestDecoder,
    ExecutionReport => ExecutionReportDecoder,
    OrderCancelReject => OrderCancelRejectDecoder,
    QuoteRequest => QuoteRequestDecoder,
    QuoteRequestCancel => QuoteRequestCancelDecoder,
    QuoteRequestStatus => QuoteRequestStatusDecoder,
    Quote => QuoteDecoder,
    QuoteCancel => QuoteCancelDecoder,
    QuoteStatusReport => QuoteStatusReportDecoder,
    QuoteAccept => QuoteAcceptDecoder,
    MarketDataRequest => MarketDataRequestDecoder,
    MarketDataRequestReject => MarketDataRequestRejectDecoder,
    MarketDataSnapshot => MarketDataSnapshotDecoder,
    MarketDataIncremental => MarketDataIncrementalDecoder,
    MarketDataTrade => MarketDataTradeDecoder,
    BusinessMessageReject => BusinessMessageRejectDecoder,
);

/// Every message name, in schema order.
pub const MESSAGE_NAMES: &[&str] = &[
    "InstrumentListRequest",
    "InstrumentDefinition",
    "NewOrderSingle",
    "OrderCancelRequest",
    "ExecutionReport",
    "OrderCancelReject",
    "QuoteRequest",
    "QuoteRequestCancel",
    "QuoteRequestStatus",
    "Quote",
    "QuoteCancel",
    "QuoteStatusReport",
    "QuoteAccept",
    "MarketDataRequest",
    "MarketDataRequestReject",
    "MarketDataSnapshot",
    "MarketDataIncremental",
    "MarketDataTrade",
    "BusinessMessageReject",
];

// ---------------------------------------------------------------------------------------------
// SBE decoding
// ---------------------------------------------------------------------------------------------

fn text_field<const N: usize>(
    bytes: &[u8],
    field: &'static str,
) -> Result<super::types::FixedStr<N>, DecodeError> {
    super::types::FixedStr::from_sbe(bytes).ok_or(DecodeError::InvalidField { field })
}

fn var_text(bytes: &[u8], field: &'static str) -> Result<String, DecodeError> {
    std::str::from_utf8(bytes)
        .map(str::to_owned)
        .map_err(|_| DecodeError::InvalidField { field })
}

fn boolean(raw: Result<sbe::BooleanEnum, DecodeError>) -> Result<bool, DecodeError> {
    Ok(raw? == sbe::BooleanEnum::True)
}

/// Collects a decoded group into a `Vec`, stopping at the first bad entry.
fn group<I: Iterator, T>(
    entries: I,
    convert: impl Fn(I::Item) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    entries.map(convert).collect()
}

/// Reads the legs group of a QuoteRequest or a QuoteRequestStatus decoder (their entry
/// decoders are distinct generated types with the same fields).
macro_rules! legs_of {
    ($d:expr) => {
        group($d.legs(), |l| {
            Ok(Leg {
                symbol: text_field(l.leg_symbol(), "LegSymbol")?,
                side: l.leg_side()?,
                ratio: l.leg_ratio(),
            })
        })?
    };
}

/// Reads a levels group (snapshot levels or incremental changes).
macro_rules! levels_of {
    ($entries:expr) => {
        group($entries, |l| {
            Ok(Level {
                side: l.side()?,
                price: Price(l.price().mantissa()),
                qty: Qty(l.qty().mantissa()),
                order_count: l.order_count(),
            })
        })?
    };
}

/// Reads the leg prices group of a Quote or a QuoteStatusReport decoder.
macro_rules! leg_prices_of {
    ($d:expr) => {
        group($d.leg_prices(), |p| Ok(Price(p.leg_price().mantissa())))?
    };
}

impl VenueMessage {
    /// Decodes one venue SBE message (schema 101, little-endian). The frame must hold exactly one
    /// message (surplus → `TrailingBytes`); another schema → `UnknownSchema`.
    pub fn decode_sbe(frame: &[u8]) -> Result<Self, DecodeError> {
        use sbe::Message as M;
        let msg = M::decode(frame)?;
        if let Some(extra) = frame.len().checked_sub(msg.sbe_end()).filter(|n| *n > 0) {
            return Err(DecodeError::TrailingBytes { extra });
        }
        Ok(match msg {
            M::InstrumentListRequest(d) => InstrumentListRequest {
                request_id: d.request_id(),
            }
            .into(),
            M::InstrumentDefinition(d) => InstrumentDefinition {
                request_id: d.request_id(),
                total_instruments: d.total_instruments(),
                instrument: InstrumentSpec {
                    symbol: text_field(d.symbol(), "Symbol")?,
                    kind: d.kind()?,
                    underlying: text_field(d.underlying(), "Underlying")?,
                    expiry: d.expiry(),
                    strike: d.strike().mantissa().map(Price),
                    put_call: d.put_call()?,
                    tick_size: Price(d.tick_size().mantissa()),
                    lot_size: Qty(d.lot_size().mantissa()),
                    min_size: Qty(d.min_size().mantissa()),
                    price_exponent: d.price_exponent(),
                },
            }
            .into(),
            M::NewOrderSingle(d) => NewOrderSingle {
                cl_ord_id: text_field(d.cl_ord_id(), "ClOrdId")?,
                symbol: text_field(d.symbol(), "Symbol")?,
                side: d.side()?,
                ord_type: d.ord_type()?,
                price: d.price().mantissa().map(Price),
                order_qty: Qty(d.order_qty().mantissa()),
                transact_time: d.transact_time(),
            }
            .into(),
            M::OrderCancelRequest(d) => OrderCancelRequest {
                cl_ord_id: text_field(d.cl_ord_id(), "ClOrdId")?,
                orig_cl_ord_id: text_field(d.orig_cl_ord_id(), "OrigClOrdId")?,
                symbol: text_field(d.symbol(), "Symbol")?,
                side: d.side()?,
                transact_time: d.transact_time(),
            }
            .into(),
            M::ExecutionReport(d) => ExecutionReport {
                order_id: d.order_id(),
                cl_ord_id: text_field(d.cl_ord_id(), "ClOrdId")?,
                exec_id: d.exec_id(),
                exec_type: d.exec_type()?,
                ord_status: d.ord_status()?,
                symbol: text_field(d.symbol(), "Symbol")?,
                side: d.side()?,
                price: d.price().mantissa().map(Price),
                order_qty: Qty(d.order_qty().mantissa()),
                leaves_qty: Qty(d.leaves_qty().mantissa()),
                cum_qty: Qty(d.cum_qty().mantissa()),
                transact_time: d.transact_time(),
                reject_reason: d.reject_reason()?,
                rfq_id: d.rfq_id(),
                quote_id: d.quote_id(),
                fills: group(d.fills(), |f| {
                    Ok(Fill {
                        price: Price(f.fill_px().mantissa()),
                        qty: Qty(f.fill_qty().mantissa()),
                        trade_id: f.trade_id(),
                    })
                })?,
                text: var_text(d.text(), "Text")?,
            }
            .into(),
            M::OrderCancelReject(d) => OrderCancelReject {
                order_id: d.order_id(),
                cl_ord_id: text_field(d.cl_ord_id(), "ClOrdId")?,
                orig_cl_ord_id: text_field(d.orig_cl_ord_id(), "OrigClOrdId")?,
                ord_status: d.ord_status()?,
                cxl_rej_reason: d.cxl_rej_reason()?,
                transact_time: d.transact_time(),
                text: var_text(d.text(), "Text")?,
            }
            .into(),
            M::QuoteRequest(d) => QuoteRequest {
                quote_req_id: text_field(d.quote_req_id(), "QuoteReqId")?,
                side: d.side()?,
                order_qty: Qty(d.order_qty().mantissa()),
                expire_time: d.expire_time(),
                transact_time: d.transact_time(),
                legs: legs_of!(d),
            }
            .into(),
            M::QuoteRequestCancel(d) => QuoteRequestCancel {
                quote_req_id: text_field(d.quote_req_id(), "QuoteReqId")?,
                rfq_id: d.rfq_id(),
                transact_time: d.transact_time(),
            }
            .into(),
            M::QuoteRequestStatus(d) => QuoteRequestStatus {
                rfq_id: d.rfq_id(),
                quote_req_id: text_field(d.quote_req_id(), "QuoteReqId")?,
                status: d.status()?,
                side: d.side()?,
                order_qty: Qty(d.order_qty().mantissa()),
                expire_time: d.expire_time(),
                reject_reason: d.reject_reason()?,
                transact_time: d.transact_time(),
                legs: legs_of!(d),
                text: var_text(d.text(), "Text")?,
            }
            .into(),
            M::Quote(d) => Quote {
                cl_quote_id: text_field(d.cl_quote_id(), "ClQuoteId")?,
                rfq_id: d.rfq_id(),
                side: d.side()?,
                price: Price(d.price().mantissa()),
                order_qty: Qty(d.order_qty().mantissa()),
                valid_until: d.valid_until(),
                all_or_none: boolean(d.all_or_none())?,
                transact_time: d.transact_time(),
                leg_prices: leg_prices_of!(d),
            }
            .into(),
            M::QuoteCancel(d) => QuoteCancel {
                cl_quote_id: text_field(d.cl_quote_id(), "ClQuoteId")?,
                rfq_id: d.rfq_id(),
                transact_time: d.transact_time(),
            }
            .into(),
            M::QuoteStatusReport(d) => QuoteStatusReport {
                quote_id: d.quote_id(),
                cl_quote_id: text_field(d.cl_quote_id(), "ClQuoteId")?,
                rfq_id: d.rfq_id(),
                status: d.status()?,
                side: d.side()?,
                price: Price(d.price().mantissa()),
                order_qty: Qty(d.order_qty().mantissa()),
                valid_until: d.valid_until(),
                all_or_none: boolean(d.all_or_none())?,
                reject_reason: d.reject_reason()?,
                transact_time: d.transact_time(),
                leg_prices: leg_prices_of!(d),
                text: var_text(d.text(), "Text")?,
            }
            .into(),
            M::QuoteAccept(d) => QuoteAccept {
                cl_ord_id: text_field(d.cl_ord_id(), "ClOrdId")?,
                rfq_id: d.rfq_id(),
                quote_id: d.quote_id(),
                order_qty: Qty(d.order_qty().mantissa()),
                transact_time: d.transact_time(),
            }
            .into(),
            M::MarketDataRequest(d) => MarketDataRequest {
                md_req_id: d.md_req_id(),
                symbol: text_field(d.symbol(), "Symbol")?,
                subscription_type: d.subscription_type()?,
            }
            .into(),
            M::MarketDataRequestReject(d) => MarketDataRequestReject {
                md_req_id: d.md_req_id(),
                symbol: text_field(d.symbol(), "Symbol")?,
                reject_reason: d.reject_reason()?,
                text: var_text(d.text(), "Text")?,
            }
            .into(),
            M::MarketDataSnapshot(d) => MarketDataSnapshot {
                md_req_id: d.md_req_id(),
                symbol: text_field(d.symbol(), "Symbol")?,
                seq_no: d.seq_no(),
                transact_time: d.transact_time(),
                levels: levels_of!(d.levels()),
            }
            .into(),
            M::MarketDataIncremental(d) => MarketDataIncremental {
                symbol: text_field(d.symbol(), "Symbol")?,
                seq_no: d.seq_no(),
                transact_time: d.transact_time(),
                changes: levels_of!(d.changes()),
            }
            .into(),
            M::MarketDataTrade(d) => MarketDataTrade {
                symbol: text_field(d.symbol(), "Symbol")?,
                seq_no: d.seq_no(),
                trade_id: d.trade_id(),
                price: Price(d.price().mantissa()),
                qty: Qty(d.qty().mantissa()),
                aggressor_side: d.aggressor_side()?,
                block: boolean(d.block())?,
                transact_time: d.transact_time(),
            }
            .into(),
            M::BusinessMessageReject(d) => BusinessMessageReject {
                ref_template_id: d.ref_template_id(),
                ref_schema_id: d.ref_schema_id(),
                reject_reason: d.reject_reason()?,
                text: var_text(d.text(), "Text")?,
            }
            .into(),
        })
    }
}

// ---------------------------------------------------------------------------------------------
// SBE encoding
// ---------------------------------------------------------------------------------------------

/// Writes the legs group of a QuoteRequest or a QuoteRequestStatus (their entries have the
/// same three fields; the generated entry encoders are distinct types).
macro_rules! put_legs {
    ($encoder:expr, $legs:expr) => {{
        let mut group = $encoder.legs()?;
        for leg in $legs {
            let mut entry = group.next_entry()?;
            entry
                .set_leg_symbol(leg.symbol.as_str().as_bytes())?
                .set_leg_side(leg.side)
                .set_leg_ratio(leg.ratio);
        }
    }};
}

/// Writes the leg prices group of a Quote or a QuoteStatusReport.
macro_rules! put_leg_prices {
    ($encoder:expr, $prices:expr) => {{
        let mut group = $encoder.leg_prices()?;
        for price in $prices {
            group.next_entry()?.leg_price().set_mantissa(price.0);
        }
    }};
}

/// Writes a levels group (snapshot levels or incremental changes).
macro_rules! put_levels {
    ($group:expr, $levels:expr) => {{
        let mut group = $group;
        for level in $levels {
            let mut entry = group.next_entry()?;
            entry
                .set_side(level.side)
                .set_order_count(level.order_count);
            entry.price().set_mantissa(level.price.0);
            entry.qty().set_mantissa(level.qty.0);
        }
    }};
}

impl VenueMessage {
    /// Encodes the message as venue SBE (header included) into `out`; returns the length.
    pub fn encode_sbe(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        match self {
            VenueMessage::InstrumentListRequest(m) => {
                let mut e = sbe::InstrumentListRequestEncoder::new(out)?;
                e.set_request_id(m.request_id);
                Ok(e.encoded_length())
            }
            VenueMessage::InstrumentDefinition(m) => {
                let i = &m.instrument;
                let mut e = sbe::InstrumentDefinitionEncoder::new(out)?;
                e.set_request_id(m.request_id)
                    .set_total_instruments(m.total_instruments)
                    .set_symbol(i.symbol.as_str().as_bytes())?
                    .set_kind(i.kind)
                    .set_underlying(i.underlying.as_str().as_bytes())?
                    .set_expiry(i.expiry)
                    .set_put_call(i.put_call)
                    .set_price_exponent(i.price_exponent);
                e.strike().set_mantissa(i.strike.map(|p| p.0));
                e.tick_size().set_mantissa(i.tick_size.0);
                e.lot_size().set_mantissa(i.lot_size.0);
                e.min_size().set_mantissa(i.min_size.0);
                Ok(e.encoded_length())
            }
            VenueMessage::NewOrderSingle(m) => {
                let mut e = sbe::NewOrderSingleEncoder::new(out)?;
                e.set_cl_ord_id(m.cl_ord_id.as_str().as_bytes())?
                    .set_symbol(m.symbol.as_str().as_bytes())?
                    .set_side(m.side)
                    .set_ord_type(m.ord_type)
                    .set_transact_time(m.transact_time);
                e.price().set_mantissa(m.price.map(|p| p.0));
                e.order_qty().set_mantissa(m.order_qty.0);
                Ok(e.encoded_length())
            }
            VenueMessage::OrderCancelRequest(m) => {
                let mut e = sbe::OrderCancelRequestEncoder::new(out)?;
                e.set_cl_ord_id(m.cl_ord_id.as_str().as_bytes())?
                    .set_orig_cl_ord_id(m.orig_cl_ord_id.as_str().as_bytes())?
                    .set_symbol(m.symbol.as_str().as_bytes())?
                    .set_side(m.side)
                    .set_transact_time(m.transact_time);
                Ok(e.encoded_length())
            }
            VenueMessage::ExecutionReport(m) => {
                let mut e = sbe::ExecutionReportEncoder::new(out)?;
                e.set_order_id(m.order_id)
                    .set_cl_ord_id(m.cl_ord_id.as_str().as_bytes())?
                    .set_exec_id(m.exec_id)
                    .set_exec_type(m.exec_type)
                    .set_ord_status(m.ord_status)
                    .set_symbol(m.symbol.as_str().as_bytes())?
                    .set_side(m.side)
                    .set_transact_time(m.transact_time)
                    .set_reject_reason(m.reject_reason)
                    .set_rfq_id(m.rfq_id)
                    .set_quote_id(m.quote_id);
                e.price().set_mantissa(m.price.map(|p| p.0));
                e.order_qty().set_mantissa(m.order_qty.0);
                e.leaves_qty().set_mantissa(m.leaves_qty.0);
                e.cum_qty().set_mantissa(m.cum_qty.0);
                {
                    let mut group = e.fills()?;
                    for fill in &m.fills {
                        let mut entry = group.next_entry()?;
                        entry.set_trade_id(fill.trade_id);
                        entry.fill_px().set_mantissa(fill.price.0);
                        entry.fill_qty().set_mantissa(fill.qty.0);
                    }
                }
                e.put_text(m.text.as_bytes())?;
                Ok(e.encoded_length())
            }
            VenueMessage::OrderCancelReject(m) => {
                let mut e = sbe::OrderCancelRejectEncoder::new(out)?;
                e.set_order_id(m.order_id)
                    .set_cl_ord_id(m.cl_ord_id.as_str().as_bytes())?
                    .set_orig_cl_ord_id(m.orig_cl_ord_id.as_str().as_bytes())?
                    .set_ord_status(m.ord_status)
                    .set_cxl_rej_reason(m.cxl_rej_reason)
                    .set_transact_time(m.transact_time);
                e.put_text(m.text.as_bytes())?;
                Ok(e.encoded_length())
            }
            VenueMessage::QuoteRequest(m) => {
                let mut e = sbe::QuoteRequestEncoder::new(out)?;
                e.set_quote_req_id(m.quote_req_id.as_str().as_bytes())?
                    .set_side(m.side)
                    .set_expire_time(m.expire_time)
                    .set_transact_time(m.transact_time);
                e.order_qty().set_mantissa(m.order_qty.0);
                put_legs!(e, &m.legs);
                Ok(e.encoded_length())
            }
            VenueMessage::QuoteRequestCancel(m) => {
                let mut e = sbe::QuoteRequestCancelEncoder::new(out)?;
                e.set_quote_req_id(m.quote_req_id.as_str().as_bytes())?
                    .set_rfq_id(m.rfq_id)
                    .set_transact_time(m.transact_time);
                Ok(e.encoded_length())
            }
            VenueMessage::QuoteRequestStatus(m) => {
                let mut e = sbe::QuoteRequestStatusEncoder::new(out)?;
                e.set_rfq_id(m.rfq_id)
                    .set_quote_req_id(m.quote_req_id.as_str().as_bytes())?
                    .set_status(m.status)
                    .set_side(m.side)
                    .set_expire_time(m.expire_time)
                    .set_reject_reason(m.reject_reason)
                    .set_transact_time(m.transact_time);
                e.order_qty().set_mantissa(m.order_qty.0);
                put_legs!(e, &m.legs);
                e.put_text(m.text.as_bytes())?;
                Ok(e.encoded_length())
            }
            VenueMessage::Quote(m) => {
                let mut e = sbe::QuoteEncoder::new(out)?;
                e.set_cl_quote_id(m.cl_quote_id.as_str().as_bytes())?
                    .set_rfq_id(m.rfq_id)
                    .set_side(m.side)
                    .set_valid_until(m.valid_until)
                    .set_all_or_none(m.all_or_none.into())
                    .set_transact_time(m.transact_time);
                e.price().set_mantissa(m.price.0);
                e.order_qty().set_mantissa(m.order_qty.0);
                put_leg_prices!(e, &m.leg_prices);
                Ok(e.encoded_length())
            }
            VenueMessage::QuoteCancel(m) => {
                let mut e = sbe::QuoteCancelEncoder::new(out)?;
                e.set_cl_quote_id(m.cl_quote_id.as_str().as_bytes())?
                    .set_rfq_id(m.rfq_id)
                    .set_transact_time(m.transact_time);
                Ok(e.encoded_length())
            }
            VenueMessage::QuoteStatusReport(m) => {
                let mut e = sbe::QuoteStatusReportEncoder::new(out)?;
                e.set_quote_id(m.quote_id)
                    .set_cl_quote_id(m.cl_quote_id.as_str().as_bytes())?
                    .set_rfq_id(m.rfq_id)
                    .set_status(m.status)
                    .set_side(m.side)
                    .set_valid_until(m.valid_until)
                    .set_all_or_none(m.all_or_none.into())
                    .set_reject_reason(m.reject_reason)
                    .set_transact_time(m.transact_time);
                e.price().set_mantissa(m.price.0);
                e.order_qty().set_mantissa(m.order_qty.0);
                put_leg_prices!(e, &m.leg_prices);
                e.put_text(m.text.as_bytes())?;
                Ok(e.encoded_length())
            }
            VenueMessage::QuoteAccept(m) => {
                let mut e = sbe::QuoteAcceptEncoder::new(out)?;
                e.set_cl_ord_id(m.cl_ord_id.as_str().as_bytes())?
                    .set_rfq_id(m.rfq_id)
                    .set_quote_id(m.quote_id)
                    .set_transact_time(m.transact_time);
                e.order_qty().set_mantissa(m.order_qty.0);
                Ok(e.encoded_length())
            }
            VenueMessage::MarketDataRequest(m) => {
                let mut e = sbe::MarketDataRequestEncoder::new(out)?;
                e.set_md_req_id(m.md_req_id)
                    .set_symbol(m.symbol.as_str().as_bytes())?
                    .set_subscription_type(m.subscription_type);
                Ok(e.encoded_length())
            }
            VenueMessage::MarketDataRequestReject(m) => {
                let mut e = sbe::MarketDataRequestRejectEncoder::new(out)?;
                e.set_md_req_id(m.md_req_id)
                    .set_symbol(m.symbol.as_str().as_bytes())?
                    .set_reject_reason(m.reject_reason);
                e.put_text(m.text.as_bytes())?;
                Ok(e.encoded_length())
            }
            VenueMessage::MarketDataSnapshot(m) => {
                let mut e = sbe::MarketDataSnapshotEncoder::new(out)?;
                e.set_md_req_id(m.md_req_id)
                    .set_symbol(m.symbol.as_str().as_bytes())?
                    .set_seq_no(m.seq_no)
                    .set_transact_time(m.transact_time);
                put_levels!(e.levels()?, &m.levels);
                Ok(e.encoded_length())
            }
            VenueMessage::MarketDataIncremental(m) => {
                let mut e = sbe::MarketDataIncrementalEncoder::new(out)?;
                e.set_symbol(m.symbol.as_str().as_bytes())?
                    .set_seq_no(m.seq_no)
                    .set_transact_time(m.transact_time);
                put_levels!(e.changes()?, &m.changes);
                Ok(e.encoded_length())
            }
            VenueMessage::MarketDataTrade(m) => {
                let mut e = sbe::MarketDataTradeEncoder::new(out)?;
                e.set_symbol(m.symbol.as_str().as_bytes())?
                    .set_seq_no(m.seq_no)
                    .set_trade_id(m.trade_id)
                    .set_aggressor_side(m.aggressor_side)
                    .set_block(m.block.into())
                    .set_transact_time(m.transact_time);
                e.price().set_mantissa(m.price.0);
                e.qty().set_mantissa(m.qty.0);
                Ok(e.encoded_length())
            }
            VenueMessage::BusinessMessageReject(m) => {
                let mut e = sbe::BusinessMessageRejectEncoder::new(out)?;
                e.set_ref_template_id(m.ref_template_id)
                    .set_ref_schema_id(m.ref_schema_id)
                    .set_reject_reason(m.reject_reason);
                e.put_text(m.text.as_bytes())?;
                Ok(e.encoded_length())
            }
        }
    }
}
