//! [`Trader`]: a client of the venue over one FIXP session: connect, send orders, cancels,
//! requests for quotes, quotes and accepts, and receive reports and book updates.
//!
//! Each trader runs its own initiator engine with its session in thread mode: the calling
//! thread sends through the session handle and [`Trader::pump`]s what the engine delivered.
//! Messages are the venue's (schema 101, SBE or its JSON form; [`crate::venue::wire`]).
//! Market data for the symbols it [`subscribe`](Trader::subscribe)s to is applied to a
//! [`BookBuilder`] per symbol, which resynchronises from a fresh snapshot after a gap or a
//! reconnect. Every NewOrderSingle is timed to its first ExecutionReport (send → the engine's
//! read of the report, both on the engine clock), unless the binding ended in between.
//!
//! Owns: the client's view (received messages, books, latency). May not touch: the venue's
//! rules, the engine's internals.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::time::{Duration, Instant};

use fixp_ws::codec::SessionId;
use fixp_ws::engine::{
    EngineBuilder, EngineConfig, EngineHandle, FromEngine, HandleSendError, InitiatorConfig,
    SessionCounterSnapshot, SessionHandle, ToEngine,
};
use fixp_ws::session::{Event, SessionState};
use fixp_ws::transport::WireEncoding;
use hdrhistogram::Histogram;

use crate::venue::market_data::{Applied, BookBuilder};
use crate::venue::message::{
    Leg, MarketDataRequest, NewOrderSingle, OrderCancelRequest, Quote, QuoteAccept, QuoteRequest,
    QuoteRequestCancel, VenueMessage,
};
use crate::venue::types::{ClientId, OrdType, Price, Qty, Side, SubscriptionType, Symbol};
use crate::venue::wire::{self, WireFormat};
use crate::venue::{AppMessage, Dialect};

/// Why a trader operation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraderError {
    /// The engine could not be built or started.
    #[error("engine: {0}")]
    Engine(String),
    /// Nothing matching arrived in time.
    #[error("{trader}: timed out waiting for {what}")]
    Timeout {
        /// The trader's name.
        trader: String,
        /// What it waited for.
        what: String,
    },
    /// A message could not be encoded or queued.
    #[error("send: {0}")]
    Send(String),
    /// The session ended (finalized or rejected) before the operation.
    #[error("session ended: {0}")]
    Ended(String),
    /// The trader is disconnected ([`Trader::disconnect_abruptly`]).
    #[error("not connected")]
    NotConnected,
}

/// How to reach the venue and as whom.
#[derive(Clone, Debug)]
pub struct TraderConfig {
    /// A name for messages and errors.
    pub name: String,
    /// The session (target, transport, encoding, SessionId, journal). With a journal a
    /// [`Trader::reconnect`] resumes the same session.
    pub initiator: InitiatorConfig,
    /// The trader's engine.
    pub engine: EngineConfig,
    /// How long a wait may last.
    pub timeout: Duration,
}

/// Something the trader received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The session sequence number it carried.
    pub seq: u64,
    /// The message.
    pub message: VenueMessage,
}

struct Connection {
    engine: EngineHandle,
    handle: SessionHandle,
}

/// A venue client over one FIXP session.
pub struct Trader {
    config: TraderConfig,
    format: WireFormat,
    conn: Option<Connection>,
    session_id: SessionId,
    buf: Vec<u8>,
    inbox: VecDeque<Received>,
    received: Vec<Received>,
    sent: Vec<VenueMessage>,
    books: BTreeMap<Symbol, BookBuilder>,
    md_req_id: u64,
    /// NewOrderSingle send times (engine clock) until their first report.
    pending: HashMap<ClientId, u64>,
    latency: Histogram<u64>,
    established: bool,
    establishments: u64,
    finalized: bool,
    ended: Option<String>,
    resyncs: u64,
    undecodable: u64,
    counters: Option<SessionCounterSnapshot>,
    /// Snapshot requests of [`Trader::check_sync`] still unanswered.
    checks: Vec<u64>,
    sync_checks: Vec<SyncCheck>,
}

/// The outcome of [`Trader::check_sync`]: the copy built from incrementals against a fresh
/// snapshot of the venue's book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncCheck {
    /// The instrument.
    pub symbol: Symbol,
    /// The snapshot's sequence number.
    pub snapshot_seq: u64,
    /// The copy's sequence number when the snapshot came (`None`: it was resynchronising).
    pub copy_seq: Option<u64>,
    /// Levels in the snapshot.
    pub levels: usize,
    /// The copy held exactly the snapshot's levels at the snapshot's sequence number.
    pub matched: bool,
}

impl Trader {
    /// Connects and waits until the session is established.
    pub fn connect(config: TraderConfig) -> Result<Trader, TraderError> {
        let format = match config.initiator.encoding {
            WireEncoding::Sbe => WireFormat::Sbe,
            WireEncoding::Json => WireFormat::Json,
        };
        let latency = Histogram::new_with_bounds(1, 60_000_000_000, 3)
            .map_err(|e| TraderError::Engine(e.to_string()))?;
        let mut trader = Trader {
            session_id: config.initiator.session_id,
            config,
            format,
            conn: None,
            buf: vec![0; 64 * 1024],
            inbox: VecDeque::new(),
            received: Vec::new(),
            sent: Vec::new(),
            books: BTreeMap::new(),
            md_req_id: 0,
            pending: HashMap::new(),
            latency,
            established: false,
            establishments: 0,
            finalized: false,
            ended: None,
            resyncs: 0,
            undecodable: 0,
            counters: None,
            checks: Vec::new(),
            sync_checks: Vec::new(),
        };
        trader.start_engine()?;
        trader.wait_established()?;
        Ok(trader)
    }

    fn start_engine(&mut self) -> Result<(), TraderError> {
        let engine_error = |e: fixp_ws::engine::EngineError| TraderError::Engine(e.to_string());
        let mut builder = EngineBuilder::new(self.config.engine.clone()).map_err(engine_error)?;
        let handle = builder
            .initiate(self.config.initiator.clone())
            .map_err(engine_error)?;
        let engine = builder.start().map_err(engine_error)?;
        self.conn = Some(Connection { engine, handle });
        Ok(())
    }

    /// The trader's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The session's id (the one the journal resumed, if any).
    pub fn session_id(&self) -> SessionId {
        self.conn
            .as_ref()
            .map_or(self.session_id, |c| c.handle.session_id())
    }

    /// True while the session is established.
    pub fn is_established(&self) -> bool {
        self.established
    }

    /// How many times the session was established (2 after one re-establishment).
    pub fn establishments(&self) -> u64 {
        self.establishments
    }

    /// Every message received so far, in order.
    pub fn received(&self) -> &[Received] {
        &self.received
    }

    /// Every message sent so far, in order.
    pub fn sent(&self) -> &[VenueMessage] {
        &self.sent
    }

    /// The copy of `symbol`'s book (after [`subscribe`](Trader::subscribe)).
    pub fn book(&self, symbol: &Symbol) -> Option<&BookBuilder> {
        self.books.get(symbol)
    }

    /// Market-data resynchronisations asked for (gaps and reconnects).
    pub fn resyncs(&self) -> u64 {
        self.resyncs
    }

    /// Frames that did not decode as venue messages.
    pub fn undecodable(&self) -> u64 {
        self.undecodable
    }

    /// NewOrderSingle → first ExecutionReport, in ns.
    pub fn latency(&self) -> &Histogram<u64> {
        &self.latency
    }

    /// The session's counters (live, or as they were when the engine stopped).
    pub fn counters(&self) -> Option<SessionCounterSnapshot> {
        self.conn
            .as_ref()
            .map(|c| c.handle.counters().snapshot())
            .or(self.counters)
    }

    /// Encodes and queues `message` (waiting while the queue to the engine is full).
    pub fn send(&mut self, message: impl Into<VenueMessage>) -> Result<(), TraderError> {
        let message = message.into();
        let Some(conn) = self.conn.as_mut() else {
            return Err(TraderError::NotConnected);
        };
        if let Some(reason) = &self.ended {
            return Err(TraderError::Ended(reason.clone()));
        }
        let app = AppMessage::Venue(message);
        let len = wire::encode(&app, self.format, &mut self.buf)
            .map_err(|e| TraderError::Send(e.to_string()))?;
        let bytes = self.buf.get(..len).unwrap_or(&[]);
        let deadline = Instant::now() + self.config.timeout;
        let sent_at = conn.handle.now();
        loop {
            match conn.handle.send(bytes) {
                Ok(()) => break,
                Err(HandleSendError::Backpressure | HandleSendError::Throttled { .. })
                    if Instant::now() < deadline =>
                {
                    std::thread::yield_now();
                }
                Err(e) => return Err(TraderError::Send(e.to_string())),
            }
        }
        let AppMessage::Venue(message) = app else {
            return Ok(());
        };
        // Timed only while established: an order sent into an outage measures the outage.
        if let (VenueMessage::NewOrderSingle(order), true) = (&message, self.established) {
            self.pending.insert(order.cl_ord_id, sent_at);
        }
        self.sent.push(message);
        Ok(())
    }

    /// A limit order.
    pub fn limit(
        &mut self,
        cl_ord_id: &str,
        symbol: Symbol,
        side: Side,
        qty: Qty,
        price: Price,
    ) -> Result<(), TraderError> {
        self.order(cl_ord_id, symbol, side, qty, Some(price))
    }

    /// A market order (sweeps the other side of the book up to `qty`).
    pub fn market(
        &mut self,
        cl_ord_id: &str,
        symbol: Symbol,
        side: Side,
        qty: Qty,
    ) -> Result<(), TraderError> {
        self.order(cl_ord_id, symbol, side, qty, None)
    }

    fn order(
        &mut self,
        cl_ord_id: &str,
        symbol: Symbol,
        side: Side,
        qty: Qty,
        price: Option<Price>,
    ) -> Result<(), TraderError> {
        let transact_time = self.now();
        self.send(NewOrderSingle {
            cl_ord_id: client_id(cl_ord_id)?,
            symbol,
            side,
            ord_type: if price.is_some() {
                OrdType::Limit
            } else {
                OrdType::Market
            },
            price,
            order_qty: qty,
            transact_time,
        })
    }

    /// Cancels order `orig_cl_ord_id`.
    pub fn cancel(
        &mut self,
        cl_ord_id: &str,
        orig_cl_ord_id: &str,
        symbol: Symbol,
        side: Side,
    ) -> Result<(), TraderError> {
        let transact_time = self.now();
        self.send(OrderCancelRequest {
            cl_ord_id: client_id(cl_ord_id)?,
            orig_cl_ord_id: client_id(orig_cl_ord_id)?,
            symbol,
            side,
            transact_time,
        })
    }

    /// Asks market makers for quotes on `legs` (one leg: an outright), `qty` package units.
    pub fn request_quotes(
        &mut self,
        quote_req_id: &str,
        side: Option<Side>,
        qty: Qty,
        legs: Vec<Leg>,
        expire_time: Option<u64>,
    ) -> Result<(), TraderError> {
        let transact_time = self.now();
        self.send(QuoteRequest {
            quote_req_id: client_id(quote_req_id)?,
            side,
            order_qty: qty,
            expire_time,
            transact_time,
            legs,
        })
    }

    /// Cancels the trader's own request `rfq_id`.
    pub fn cancel_request(&mut self, quote_req_id: &str, rfq_id: u64) -> Result<(), TraderError> {
        let transact_time = self.now();
        self.send(QuoteRequestCancel {
            quote_req_id: client_id(quote_req_id)?,
            rfq_id,
            transact_time,
        })
    }

    /// Quotes on request `rfq_id` (a market maker): `side` is the maker's, `leg_prices` one per
    /// leg of a multi-leg request (empty for an outright).
    #[allow(clippy::too_many_arguments)]
    pub fn quote(
        &mut self,
        cl_quote_id: &str,
        rfq_id: u64,
        side: Side,
        price: Price,
        qty: Qty,
        valid_until: Option<u64>,
        leg_prices: Vec<Price>,
    ) -> Result<(), TraderError> {
        let transact_time = self.now();
        self.send(Quote {
            cl_quote_id: client_id(cl_quote_id)?,
            rfq_id,
            side,
            price,
            order_qty: qty,
            valid_until,
            all_or_none: true,
            transact_time,
            leg_prices,
        })
    }

    /// Accepts quote `quote_id` of request `rfq_id` for `qty` (fill-or-kill).
    pub fn accept(
        &mut self,
        cl_ord_id: &str,
        rfq_id: u64,
        quote_id: u64,
        qty: Qty,
    ) -> Result<(), TraderError> {
        let transact_time = self.now();
        self.send(QuoteAccept {
            cl_ord_id: client_id(cl_ord_id)?,
            rfq_id,
            quote_id,
            order_qty: qty,
            transact_time,
        })
    }

    /// Subscribes to `symbol`'s book: a snapshot, then incrementals, kept in [`Trader::book`].
    pub fn subscribe(&mut self, symbol: Symbol) -> Result<(), TraderError> {
        self.books
            .entry(symbol)
            .or_insert_with(|| BookBuilder::new(symbol));
        self.md_req_id += 1;
        self.send(MarketDataRequest {
            md_req_id: self.md_req_id,
            symbol,
            subscription_type: SubscriptionType::Subscribe,
        })
    }

    /// Proves the copy of `symbol`'s book current: asks for a snapshot and, when it comes,
    /// compares it with the copy built from incrementals (both at the same sequence number,
    /// since the flow is in order) before applying it.
    pub fn check_sync(&mut self, symbol: Symbol) -> Result<SyncCheck, TraderError> {
        self.md_req_id += 1;
        let id = self.md_req_id;
        self.checks.push(id);
        self.send(MarketDataRequest {
            md_req_id: id,
            symbol,
            subscription_type: SubscriptionType::Snapshot,
        })?;
        let before = self.sync_checks.len();
        self.wait_until("a snapshot", |t| t.checks.iter().all(|c| *c != id))?;
        self.sync_checks
            .get(before..)
            .and_then(|new| new.iter().find(|c| c.symbol == symbol))
            .cloned()
            .ok_or_else(|| TraderError::Timeout {
                trader: self.config.name.clone(),
                what: "a snapshot".into(),
            })
    }

    /// Every [`Trader::check_sync`] so far.
    pub fn sync_checks(&self) -> &[SyncCheck] {
        &self.sync_checks
    }

    /// Now, on the engine clock (epoch ns; the wall clock before the first connection).
    pub fn now(&self) -> u64 {
        self.conn
            .as_ref()
            .map_or_else(wall_clock_ns, |c| c.handle.now())
    }

    /// Takes in what the engine delivered; returns how many items it handled.
    pub fn pump(&mut self) -> Result<usize, TraderError> {
        let mut handled = 0;
        loop {
            let Some(conn) = self.conn.as_mut() else {
                return Ok(handled);
            };
            let Some(item) = conn.handle.poll() else {
                return Ok(handled);
            };
            handled += 1;
            self.on_item(item)?;
        }
    }

    fn on_item(&mut self, item: FromEngine) -> Result<(), TraderError> {
        match item {
            FromEngine::Message(slot) => {
                match wire::decode(slot.bytes(), self.format, Dialect::Venue) {
                    Ok(AppMessage::Venue(message)) => {
                        self.on_message(slot.seq, slot.recv_ns, message)?
                    }
                    Ok(AppMessage::Conga(_)) | Err(_) => self.undecodable += 1,
                }
            }
            FromEngine::Event(Event::StateChanged(SessionState::Established)) => {
                self.established = true;
                self.establishments += 1;
                if self.establishments > 1 {
                    self.resync_all()?;
                }
            }
            FromEngine::Event(Event::Terminated(_)) => {
                self.established = false;
                // Orders in flight across the outage are not timed.
                self.pending.clear();
            }
            FromEngine::Event(Event::Finalized) => {
                self.finalized = true;
                self.established = false;
            }
            FromEngine::Event(Event::NegotiationRejected(code)) => {
                self.ended = Some(format!("negotiation rejected: {code:?}"));
            }
            FromEngine::Event(Event::EstablishmentRejected(code)) => {
                self.ended = Some(format!("establishment rejected: {code:?}"));
            }
            FromEngine::SendRejected(e) => return Err(TraderError::Send(e.to_string())),
            FromEngine::MessageTooLong(e) => return Err(TraderError::Send(e.to_string())),
            FromEngine::Event(_) | FromEngine::Engine(_) => {}
        }
        Ok(())
    }

    fn on_message(
        &mut self,
        seq: u64,
        recv_ns: u64,
        message: VenueMessage,
    ) -> Result<(), TraderError> {
        if let VenueMessage::ExecutionReport(er) = &message {
            if let Some(sent_at) = self.pending.remove(&er.cl_ord_id) {
                self.latency
                    .saturating_record(recv_ns.saturating_sub(sent_at).max(1));
            }
        }
        if let VenueMessage::MarketDataSnapshot(snapshot) = &message {
            if let Some(at) = self.checks.iter().position(|id| *id == snapshot.md_req_id) {
                self.checks.swap_remove(at);
                let copy = self.books.get(&snapshot.symbol);
                let copy_seq = copy.and_then(BookBuilder::seq);
                self.sync_checks.push(SyncCheck {
                    symbol: snapshot.symbol,
                    snapshot_seq: snapshot.seq_no,
                    copy_seq,
                    levels: snapshot.levels.len(),
                    matched: copy_seq == Some(snapshot.seq_no)
                        && copy.is_some_and(|c| c.all_levels() == snapshot.levels),
                });
            }
        }
        let mut resync = None;
        for book in self.books.values_mut() {
            if book.apply(&message) == Applied::Resync {
                resync = Some(book.symbol());
            }
        }
        if let Some(symbol) = resync {
            self.request_snapshot(symbol)?;
        }
        let received = Received { seq, message };
        self.received.push(received.clone());
        self.inbox.push_back(received);
        Ok(())
    }

    fn request_snapshot(&mut self, symbol: Symbol) -> Result<(), TraderError> {
        self.resyncs += 1;
        self.md_req_id += 1;
        let request = self
            .books
            .get(&symbol)
            .map(|b| b.resync_request(self.md_req_id));
        match request {
            Some(request) => self.send(request),
            None => Ok(()),
        }
    }

    /// After a reconnect every copy may have missed updates: each asks for a fresh snapshot.
    fn resync_all(&mut self) -> Result<(), TraderError> {
        let symbols: Vec<Symbol> = self.books.keys().copied().collect();
        for symbol in symbols {
            if let Some(book) = self.books.get_mut(&symbol) {
                book.interrupted();
            }
            self.request_snapshot(symbol)?;
        }
        Ok(())
    }

    /// Pumps until `done(self)` holds, or fails after the timeout.
    pub fn wait_until(
        &mut self,
        what: &str,
        mut done: impl FnMut(&Trader) -> bool,
    ) -> Result<(), TraderError> {
        let deadline = Instant::now() + self.config.timeout;
        let mut idle = 0u32;
        loop {
            if self.pump()? > 0 {
                idle = 0;
            }
            if done(self) {
                return Ok(());
            }
            if let Some(reason) = &self.ended {
                return Err(TraderError::Ended(reason.clone()));
            }
            if Instant::now() >= deadline {
                return Err(TraderError::Timeout {
                    trader: self.config.name.clone(),
                    what: what.to_owned(),
                });
            }
            idle += 1;
            if idle < 64 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    /// Waits for the first message not yet taken that `pick` accepts, and takes it (the others
    /// stay, in order).
    pub fn expect<T>(
        &mut self,
        what: &str,
        mut pick: impl FnMut(&VenueMessage) -> Option<T>,
    ) -> Result<T, TraderError> {
        let mut found = None;
        self.wait_until(what, |t| {
            t.inbox
                .iter()
                .position(|r| pick(&r.message).is_some())
                .map(|at| found = Some(at))
                .is_some()
        })?;
        let at = found.unwrap_or(0);
        let taken = self.inbox.remove(at).map(|r| r.message);
        taken
            .as_ref()
            .and_then(pick)
            .ok_or_else(|| TraderError::Timeout {
                trader: self.config.name.clone(),
                what: what.to_owned(),
            })
    }

    /// The messages not taken yet, oldest first.
    pub fn inbox(&self) -> impl Iterator<Item = &Received> {
        self.inbox.iter()
    }

    /// True when messages wait to be taken.
    pub fn pending_inbox(&self) -> bool {
        !self.inbox.is_empty()
    }

    /// Takes every message not yet taken.
    pub fn take_inbox(&mut self) -> Vec<Received> {
        self.inbox.drain(..).collect()
    }

    /// Waits until the session is established.
    pub fn wait_established(&mut self) -> Result<(), TraderError> {
        self.wait_until("establishment", |t| t.established)
    }

    /// Drops the TCP connection without a closing handshake, as a network failure would; the
    /// engine reconnects with back-off and re-establishes the session, and FIXP recovery
    /// (Recoverable flows both ways) brings over whatever was in flight. Messages sent
    /// meanwhile wait in the engine until the session is established again.
    pub fn drop_connection(&mut self) -> Result<(), TraderError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(TraderError::NotConnected);
        };
        conn.handle
            .command(ToEngine::DropConnection)
            .map_err(|_| TraderError::Send("queue to the engine is full".into()))
    }

    /// A forced disconnect: drops the TCP connection without a closing handshake (as a network
    /// failure would) and stops the engine, so the trader stays away until
    /// [`Trader::reconnect`]. Whatever the engine delivered before is still taken in.
    pub fn disconnect_abruptly(&mut self) -> Result<(), TraderError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(TraderError::NotConnected);
        };
        if conn.handle.command(ToEngine::DropConnection).is_err() {
            return Err(TraderError::Send("queue to the engine is full".into()));
        }
        // The session reports the lost transport; the engine is stopped before it reconnects.
        self.wait_until("the connection to drop", |t| !t.established)?;
        self.stop()
    }

    /// Connects again after [`Trader::disconnect_abruptly`]: with a journal, the same session
    /// is re-established (same SessionId, numbers continuing) and what the venue sent
    /// meanwhile arrives; the book copies resynchronise from fresh snapshots.
    pub fn reconnect(&mut self) -> Result<(), TraderError> {
        if self.conn.is_some() {
            return Ok(());
        }
        if self.config.initiator.journal.is_none() {
            return Err(TraderError::Engine(
                "reconnect needs a journaled session (TraderConfig.initiator.journal)".into(),
            ));
        }
        let before = self.establishments;
        self.start_engine()?;
        self.wait_until("re-establishment", |t| t.establishments > before)
    }

    /// Finalizes the session (both flows finished, Close 1000) and stops the engine.
    pub fn finalize(&mut self) -> Result<(), TraderError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(TraderError::NotConnected);
        };
        let deadline = Instant::now() + self.config.timeout;
        while conn.handle.command(ToEngine::Finalize).is_err() {
            if Instant::now() >= deadline {
                return Err(TraderError::Send("queue to the engine stays full".into()));
            }
            std::thread::yield_now();
        }
        self.wait_until("finalization", |t| t.finalized)?;
        self.stop()
    }

    /// True once the session is finalized.
    pub fn is_finalized(&self) -> bool {
        self.finalized
    }

    /// Stops the engine (an established session is unbound, not finalized).
    pub fn stop(&mut self) -> Result<(), TraderError> {
        let Some(mut conn) = self.conn.take() else {
            return Ok(());
        };
        conn.engine.shutdown();
        let joined = conn.engine.join();
        self.counters = Some(conn.handle.counters().snapshot());
        while let Some(item) = conn.handle.poll() {
            self.on_item(item)?;
        }
        joined.map_err(TraderError::Engine)
    }
}

impl Drop for Trader {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.as_mut() {
            conn.engine.shutdown();
            let _ = conn.engine.join();
        }
    }
}

/// A client id from text (1 to 16 printable ASCII characters).
pub fn client_id(text: &str) -> Result<ClientId, TraderError> {
    ClientId::new(text).ok_or_else(|| TraderError::Send(format!("bad client id {text:?}")))
}

/// Unix-epoch nanoseconds now, from the wall clock.
pub fn wall_clock_ns() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// One readable line for a venue message.
pub fn describe(message: &VenueMessage) -> String {
    let opt = |p: Option<Price>| p.map_or_else(|| "market".to_owned(), |p| p.to_string());
    match message {
        VenueMessage::NewOrderSingle(m) => format!(
            "NewOrderSingle {} {:?} {} {} @ {}",
            m.cl_ord_id,
            m.side,
            m.order_qty,
            m.symbol,
            opt(m.price)
        ),
        VenueMessage::OrderCancelRequest(m) => {
            format!(
                "OrderCancelRequest {} for {}",
                m.cl_ord_id, m.orig_cl_ord_id
            )
        }
        VenueMessage::ExecutionReport(m) => {
            let fills: Vec<String> = m
                .fills
                .iter()
                .map(|f| format!("{}@{}", f.qty, f.price))
                .collect();
            let mut line = format!(
                "ExecutionReport {} {:?}/{:?} {:?} {} leaves={} cum={}",
                m.cl_ord_id, m.exec_type, m.ord_status, m.side, m.symbol, m.leaves_qty, m.cum_qty
            );
            if !fills.is_empty() {
                line.push_str(&format!(" fills=[{}]", fills.join(", ")));
            }
            if let Some(reason) = m.reject_reason {
                line.push_str(&format!(" reason={reason:?}"));
            }
            if let Some(rfq) = m.rfq_id {
                line.push_str(&format!(" rfq={rfq}"));
            }
            line
        }
        VenueMessage::OrderCancelReject(m) => format!(
            "OrderCancelReject {} for {} {:?}",
            m.cl_ord_id, m.orig_cl_ord_id, m.cxl_rej_reason
        ),
        VenueMessage::QuoteRequest(m) => {
            let legs: Vec<String> = m
                .legs
                .iter()
                .map(|l| format!("{:?} {}x{}", l.side, l.ratio, l.symbol))
                .collect();
            format!(
                "QuoteRequest {} {} of [{}]",
                m.quote_req_id,
                m.order_qty,
                legs.join(", ")
            )
        }
        VenueMessage::QuoteRequestStatus(m) => format!(
            "QuoteRequestStatus rfq={} {:?} qty={}",
            m.rfq_id, m.status, m.order_qty
        ),
        VenueMessage::Quote(m) => format!(
            "Quote {} rfq={} {:?} {} @ {}",
            m.cl_quote_id, m.rfq_id, m.side, m.order_qty, m.price
        ),
        VenueMessage::QuoteStatusReport(m) => {
            let mut line = format!(
                "QuoteStatusReport rfq={} quote={} {:?} {:?} {} @ {}",
                m.rfq_id,
                m.quote_id.unwrap_or(0),
                m.status,
                m.side,
                m.order_qty,
                m.price
            );
            if let Some(reason) = m.reject_reason {
                line.push_str(&format!(" reason={reason:?}"));
            }
            line
        }
        VenueMessage::QuoteRequestCancel(m) => {
            format!("QuoteRequestCancel {} rfq={}", m.quote_req_id, m.rfq_id)
        }
        VenueMessage::QuoteAccept(m) => format!(
            "QuoteAccept {} rfq={} quote={} {}",
            m.cl_ord_id, m.rfq_id, m.quote_id, m.order_qty
        ),
        VenueMessage::MarketDataSnapshot(m) => format!(
            "MarketDataSnapshot {} seq={} levels={}",
            m.symbol,
            m.seq_no,
            m.levels.len()
        ),
        VenueMessage::MarketDataIncremental(m) => format!(
            "MarketDataIncremental {} seq={} changes={}",
            m.symbol,
            m.seq_no,
            m.changes.len()
        ),
        VenueMessage::MarketDataTrade(m) => format!(
            "MarketDataTrade {} seq={} {}@{}{}",
            m.symbol,
            m.seq_no,
            m.qty,
            m.price,
            if m.block { " block" } else { "" }
        ),
        other => other.type_name().to_owned(),
    }
}

/// One line for a book copy: `bids 1x0.01 0.4x0.0095 | asks - (seq 10)`, best first.
pub fn book_line(book: &BookBuilder) -> String {
    let side = |s: Side| {
        let levels: Vec<String> = book
            .levels(s)
            .iter()
            .map(|l| format!("{}x{}", l.qty, l.price))
            .collect();
        if levels.is_empty() {
            "-".to_owned()
        } else {
            levels.join(" ")
        }
    };
    format!(
        "bids {} | asks {} (seq {})",
        side(Side::Buy),
        side(Side::Sell),
        book.seq().map_or_else(|| "-".into(), |s| s.to_string())
    )
}
