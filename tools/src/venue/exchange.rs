//! [`Venue`]: the whole exchange's application logic behind one sans-IO entry point.
//!
//! The caller (phase 2's inline strategy) tells it when sessions start and end, hands it each
//! decoded application message with the time, calls [`Venue::tick`] with the time (RFQ expiry),
//! and sends every [`Outbound`] it pushes to its session, in order. Market data goes out as the
//! events happen: to every subscriber, on whatever session it subscribed from.
//!
//! Owns: the wiring between instruments, books, RFQs and market data. May not touch: sockets,
//! threads, clocks (time is an argument), the engine's types.

use std::collections::HashMap;

use fixp_ws::codec::DecodeError;

use super::book::Book;
use super::instrument::InstrumentTable;
use super::market_data::MarketData;
use super::message::{BusinessMessageReject, InstrumentDefinition, VenueMessage};
use super::orders::{OrderSettings, Orders};
use super::rfq::{RfqEngine, RfqSettings, RfqSummary};
use super::types::{RejectReason, Symbol};
use super::wire::WireFormat;
use super::{AppMessage, Ids, MarketEvents, Outbound, SessionRef};

/// Everything the venue's behaviour depends on (the `[venue]`, `[rfq]` and `[limits]` parts of
/// the config).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VenueSettings {
    /// Order limits and listing rules.
    pub orders: OrderSettings,
    /// RFQ timings and limits.
    pub rfq: RfqSettings,
    /// Most market data subscriptions per session.
    pub max_subscriptions_per_session: usize,
    /// Cancel a session's resting orders when it ends.
    pub cancel_orders_on_session_end: bool,
}

impl Default for VenueSettings {
    fn default() -> Self {
        VenueSettings {
            orders: OrderSettings::default(),
            rfq: RfqSettings::default(),
            max_subscriptions_per_session: 64,
            cancel_orders_on_session_end: false,
        }
    }
}

/// What one session is to the venue.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionProfile {
    /// Receives requests for quotes and may quote.
    pub market_maker: bool,
}

/// The exchange: instruments, books, RFQs and market data.
#[derive(Debug)]
pub struct Venue {
    settings: VenueSettings,
    instruments: InstrumentTable,
    orders: Orders,
    rfq: RfqEngine,
    market_data: MarketData,
    sessions: HashMap<SessionRef, SessionProfile>,
    ids: Ids,
    events: MarketEvents,
}

impl Venue {
    /// A venue listing `instruments`.
    pub fn new(settings: VenueSettings, instruments: InstrumentTable) -> Self {
        Venue {
            orders: Orders::new(settings.orders.clone()),
            rfq: RfqEngine::new(settings.rfq.clone()),
            market_data: MarketData::new(settings.max_subscriptions_per_session),
            settings,
            instruments,
            sessions: HashMap::new(),
            ids: Ids::default(),
            events: MarketEvents::default(),
        }
    }

    /// The instrument table (Conga symbols listed on first use included).
    pub fn instruments(&self) -> &InstrumentTable {
        &self.instruments
    }

    /// The book of `symbol` (`None` until its first order).
    pub fn book(&self, symbol: &Symbol) -> Option<&Book> {
        self.orders.book(symbol)
    }

    /// The market data sequence of `symbol`.
    pub fn market_data_seq(&self, symbol: &Symbol) -> u64 {
        self.market_data.seq(symbol)
    }

    /// The open requests for quotes.
    pub fn open_requests(&self) -> Vec<RfqSummary> {
        self.rfq.open_requests()
    }

    /// Resting orders of `session`.
    pub fn open_orders(&self, session: SessionRef) -> usize {
        self.orders.open_orders(session)
    }

    /// The sessions known, with their profiles.
    pub fn sessions(&self) -> impl Iterator<Item = (SessionRef, SessionProfile)> + '_ {
        self.sessions.iter().map(|(s, p)| (*s, *p))
    }

    /// A session is established (again): market makers start receiving requests.
    pub fn session_started(&mut self, session: SessionRef, profile: SessionProfile) {
        self.sessions.insert(session, profile);
        self.rfq.set_market_maker(session, profile.market_maker);
    }

    /// A session has ended (finalized, or gone for good): its requests are canceled, its quotes
    /// withdrawn, its subscriptions dropped, and its resting orders canceled when
    /// `cancel_orders_on_session_end` is set.
    pub fn session_ended(&mut self, session: SessionRef, now: u64, out: &mut Vec<Outbound>) {
        self.rfq.session_ended(session, now, out);
        self.market_data.session_ended(session);
        if self.settings.cancel_orders_on_session_end {
            let mut events = std::mem::take(&mut self.events);
            self.orders
                .cancel_all(session, &mut self.ids, now, out, &mut events);
            self.publish(&mut events, now, out);
            self.events = events;
        }
        self.sessions.remove(&session);
    }

    /// When [`Venue::tick`] next has something to expire (`None`: no open request).
    pub fn next_expiry(&self) -> Option<u64> {
        self.rfq.next_expiry()
    }

    /// Expires requests and quotes whose time has come.
    pub fn tick(&mut self, now: u64, out: &mut Vec<Outbound>) {
        self.rfq.tick(now, out);
    }

    /// One application message from `from`, of either dialect.
    pub fn handle(
        &mut self,
        from: SessionRef,
        message: &AppMessage,
        now: u64,
        out: &mut Vec<Outbound>,
    ) {
        match message {
            AppMessage::Venue(m) => self.handle_venue(from, m, now, out),
            AppMessage::Conga(m) => {
                let mut events = std::mem::take(&mut self.events);
                let handled = self.orders.conga(
                    from,
                    m,
                    &mut self.instruments,
                    &mut self.ids,
                    now,
                    out,
                    &mut events,
                );
                self.publish(&mut events, now, out);
                self.events = events;
                if !handled {
                    out.push(unsupported(
                        from,
                        m.type_name(),
                        super::wire::CONGA_SCHEMA_ID,
                        0,
                    ));
                }
            }
        }
    }

    /// One venue message from `from`.
    pub fn handle_venue(
        &mut self,
        from: SessionRef,
        message: &VenueMessage,
        now: u64,
        out: &mut Vec<Outbound>,
    ) {
        let mut events = std::mem::take(&mut self.events);
        match message {
            VenueMessage::InstrumentListRequest(m) => {
                let total = u32::try_from(self.instruments.len()).unwrap_or(u32::MAX);
                for spec in self.instruments.iter() {
                    out.push(Outbound::venue(
                        from,
                        InstrumentDefinition {
                            request_id: m.request_id,
                            total_instruments: total,
                            instrument: *spec,
                        },
                    ));
                }
            }
            VenueMessage::NewOrderSingle(m) => self.orders.new_order(
                from,
                m,
                &self.instruments,
                &mut self.ids,
                now,
                out,
                &mut events,
            ),
            VenueMessage::OrderCancelRequest(m) => {
                self.orders
                    .cancel(from, m, &mut self.ids, now, out, &mut events)
            }
            VenueMessage::QuoteRequest(m) => self.rfq.request(from, m, &self.instruments, now, out),
            VenueMessage::QuoteRequestCancel(m) => self.rfq.cancel_request(from, m, now, out),
            VenueMessage::Quote(m) => self.rfq.quote(from, m, &self.instruments, now, out),
            VenueMessage::QuoteCancel(m) => self.rfq.withdraw(from, m, now, out),
            VenueMessage::QuoteAccept(m) => {
                self.rfq
                    .accept(from, m, &mut self.ids, now, out, &mut events.trades)
            }
            VenueMessage::MarketDataRequest(m) => {
                let listed = self.instruments.get(&m.symbol).is_some();
                let book = self.orders.book(&m.symbol);
                self.market_data.request(from, m, listed, book, now, out);
            }
            other => out.push(unsupported(
                from,
                other.type_name(),
                super::message::SCHEMA_ID,
                other.template_id(),
            )),
        }
        self.publish(&mut events, now, out);
        self.events = events;
    }

    /// The reply to an application frame that did not decode: a BusinessMessageReject naming the
    /// frame's template and schema (when it has an SBE header) and the decode error.
    pub fn undecodable(
        &self,
        from: SessionRef,
        frame: &[u8],
        format: WireFormat,
        error: &DecodeError,
    ) -> Outbound {
        let (template, schema) = match (format, frame) {
            (WireFormat::Sbe, [_, _, t0, t1, s0, s1, ..]) => (
                u16::from_le_bytes([*t0, *t1]),
                u16::from_le_bytes([*s0, *s1]),
            ),
            _ => (0, 0),
        };
        Outbound::venue(
            from,
            BusinessMessageReject {
                ref_template_id: template,
                ref_schema_id: schema,
                reject_reason: RejectReason::InvalidMessage,
                text: error.to_string(),
            },
        )
    }

    /// Publishes market events: trades, then level changes, each with the next sequence number.
    fn publish(&mut self, events: &mut MarketEvents, now: u64, out: &mut Vec<Outbound>) {
        for trade in events.trades.drain(..) {
            self.market_data.trade(&trade, now, out);
        }
        for (symbol, changes) in events.changes.drain(..) {
            self.market_data.book_changed(symbol, &changes, now, out);
        }
    }
}

fn unsupported(to: SessionRef, type_name: &str, schema: u16, template: u16) -> Outbound {
    Outbound::venue(
        to,
        BusinessMessageReject {
            ref_template_id: template,
            ref_schema_id: schema,
            reject_reason: RejectReason::UnsupportedMessage,
            text: format!("{type_name} is sent by the venue, not to it"),
        },
    )
}
