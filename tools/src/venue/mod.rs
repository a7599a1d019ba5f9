//! The crypto options venue, as a sans-IO library: messages in, time passed in, messages out.
//! No sockets, no threads, no clock reads: the caller (the exchange strategy) decodes frames,
//! calls [`exchange::Venue`], and sends each [`Outbound`] to its session.
//!
//! - [`sbe`], [`message`], [`json`], [`types`]: the application schema (id 101) with its typed
//!   model, SBE and JSON forms; [`wire`] picks the venue or the Conga form of a frame.
//! - [`instrument`]: definitions with tick size, lot size and minimum size; the default set.
//! - [`book`]: one instrument's price-time book (also the matching core of [`crate::book`]).
//! - [`orders`]: the order life cycle over the books (ExecutionReports, OrderCancelRejects) for
//!   venue and Conga clients.
//! - [`rfq`]: requests for quotes, quotes, accept (fill-or-kill), expiry on `tick(now)`.
//! - [`market_data`]: the per-instrument publisher (snapshot + sequenced incrementals) and the
//!   client-side [`market_data::BookBuilder`] that detects gaps and resynchronises.
//! - [`config`]: the TOML configuration of the exchange (listeners to instruments).
//! - [`exchange`]: [`exchange::Venue`], which ties them together.
//!
//! Owns the venue's application rules. May not touch: the engine, sessions' state, the
//! transport. See `docs/venue.md`.

pub mod book;
pub mod config;
pub mod exchange;
pub mod instrument;
pub mod json;
pub mod market_data;
pub mod message;
pub mod orders;
pub mod rfq;
pub mod sbe;
pub mod types;
pub mod wire;

use fixp_ws::codec::conga::CongaMessage;

use message::VenueMessage;

/// The exchange's name for one session (its index, or any id the caller keeps stable).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionRef(pub u64);

/// Which application protocol a client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// The venue schema (id 101) and its JSON form.
    Venue,
    /// Conga's order messages (schema id 100) and their JSON form: plain symbols only.
    Conga,
}

/// An application message of either dialect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AppMessage {
    /// A venue message.
    Venue(VenueMessage),
    /// A Conga order message.
    Conga(CongaMessage),
}

impl AppMessage {
    /// The message's name (its JSON `@type`).
    pub fn type_name(&self) -> &'static str {
        match self {
            AppMessage::Venue(m) => m.type_name(),
            AppMessage::Conga(m) => m.type_name(),
        }
    }
}

impl From<VenueMessage> for AppMessage {
    fn from(m: VenueMessage) -> Self {
        AppMessage::Venue(m)
    }
}

impl From<CongaMessage> for AppMessage {
    fn from(m: CongaMessage) -> Self {
        AppMessage::Conga(m)
    }
}

/// One message the venue sends, and to whom.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outbound {
    /// The recipient session.
    pub to: SessionRef,
    /// The message.
    pub message: AppMessage,
}

impl Outbound {
    /// A venue message to `to`.
    pub fn venue(to: SessionRef, message: impl Into<VenueMessage>) -> Self {
        Outbound {
            to,
            message: AppMessage::Venue(message.into()),
        }
    }
}

/// The venue's id counters: orders, executions and trades are numbered across books and RFQs.
#[derive(Clone, Debug, Default)]
pub struct Ids {
    order: u64,
    exec: u64,
    trade: u64,
}

impl Ids {
    /// The next order id (from 1).
    pub fn order(&mut self) -> u64 {
        self.order += 1;
        self.order
    }

    /// The next execution (report) id (from 1).
    pub fn exec(&mut self) -> u64 {
        self.exec += 1;
        self.exec
    }

    /// The next trade id (from 1).
    pub fn trade(&mut self) -> u64 {
        self.trade += 1;
        self.trade
    }
}

/// A trade the market data publishes (from the book or an RFQ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeEvent {
    /// The instrument.
    pub symbol: types::Symbol,
    /// The venue's trade id.
    pub trade_id: u64,
    /// Price.
    pub price: types::Price,
    /// Quantity.
    pub qty: types::Qty,
    /// The aggressor's side (`None` for a block trade).
    pub aggressor_side: Option<types::Side>,
    /// An RFQ (block) trade.
    pub block: bool,
}

/// What a book event means for market data: trades, then level changes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MarketEvents {
    /// Trades, in order.
    pub trades: Vec<TradeEvent>,
    /// Level changes per instrument, in order.
    pub changes: Vec<(types::Symbol, Vec<message::Level>)>,
}
