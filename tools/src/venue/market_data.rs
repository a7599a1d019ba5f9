//! Market data: the venue's per-instrument publisher (a snapshot, then incrementals, each with
//! the book's sequence number) and the client-side [`BookBuilder`] that applies them, detects a
//! gap, and resynchronises from a new snapshot.
//!
//! **Sequencing.** Every instrument has one sequence: each book event (the level changes of one
//! order or cancel) and each trade takes the next number. A snapshot carries the number of the
//! last event it includes; an incremental or trade numbered `n` applies on top of `n − 1`. A
//! client that sees `n > last + 1` has missed something, whatever the cause (a dropped message,
//! a reconnect, an Unsequenced flow, a Recoverable flow that replays only part), and asks for a
//! snapshot; anything numbered `≤ last` is old (a replay) and is ignored. So the builder does
//! not depend on how the session's flow recovers.
//!
//! Owns: subscriptions and sequence numbers (venue side); the client's copy of a book. May not
//! touch: the books themselves (the caller hands level changes and book views in), sessions.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use super::book::Book;
use super::message::{
    Level, MarketDataIncremental, MarketDataRequest, MarketDataRequestReject, MarketDataSnapshot,
    MarketDataTrade, VenueMessage,
};
use super::types::{Price, Qty, RejectReason, Side, SubscriptionType, Symbol};
use super::{Outbound, SessionRef, TradeEvent};

#[derive(Debug, Default)]
struct Feed {
    seq: u64,
    subscribers: BTreeSet<SessionRef>,
}

/// The venue side: subscriptions per instrument and each instrument's sequence.
#[derive(Debug)]
pub struct MarketData {
    feeds: HashMap<Symbol, Feed>,
    max_subscriptions_per_session: usize,
}

impl MarketData {
    /// No subscriptions; a session may hold at most `max_subscriptions_per_session`.
    pub fn new(max_subscriptions_per_session: usize) -> Self {
        MarketData {
            feeds: HashMap::new(),
            max_subscriptions_per_session,
        }
    }

    /// The current sequence number of `symbol` (0 before its first event).
    pub fn seq(&self, symbol: &Symbol) -> u64 {
        self.feeds.get(symbol).map_or(0, |f| f.seq)
    }

    fn subscriptions_of(&self, session: SessionRef) -> usize {
        self.feeds
            .values()
            .filter(|f| f.subscribers.contains(&session))
            .count()
    }

    /// The snapshot of `book` (an instrument with no orders yet is an empty book) as of now.
    pub fn snapshot(
        &self,
        md_req_id: u64,
        symbol: Symbol,
        book: Option<&Book>,
        now: u64,
    ) -> MarketDataSnapshot {
        MarketDataSnapshot {
            md_req_id,
            symbol,
            seq_no: self.seq(&symbol),
            transact_time: now,
            levels: book.map_or_else(Vec::new, Book::all_levels),
        }
    }

    /// A request from `from`. `listed` says whether the instrument exists; `book` is its book.
    /// Snapshot: one snapshot. Subscribe: a snapshot, then every event (subscribing again just
    /// sends a fresh snapshot: the resync path). Unsubscribe: no more events.
    #[allow(clippy::too_many_arguments)]
    pub fn request(
        &mut self,
        from: SessionRef,
        m: &MarketDataRequest,
        listed: bool,
        book: Option<&Book>,
        now: u64,
        out: &mut Vec<Outbound>,
    ) {
        let reject = |reason: RejectReason, text: String| {
            Outbound::venue(
                from,
                MarketDataRequestReject {
                    md_req_id: m.md_req_id,
                    symbol: m.symbol,
                    reject_reason: reason,
                    text,
                },
            )
        };
        if !listed {
            out.push(reject(
                RejectReason::UnknownInstrument,
                format!("unknown instrument {}", m.symbol),
            ));
            return;
        }
        match m.subscription_type {
            SubscriptionType::Snapshot => {}
            SubscriptionType::Subscribe => {
                let already = self
                    .feeds
                    .get(&m.symbol)
                    .is_some_and(|f| f.subscribers.contains(&from));
                if !already && self.subscriptions_of(from) >= self.max_subscriptions_per_session {
                    out.push(reject(
                        RejectReason::TooManySubscriptions,
                        format!(
                            "at most {} subscriptions per session",
                            self.max_subscriptions_per_session
                        ),
                    ));
                    return;
                }
                self.feeds
                    .entry(m.symbol)
                    .or_default()
                    .subscribers
                    .insert(from);
            }
            SubscriptionType::Unsubscribe => {
                let removed = self
                    .feeds
                    .get_mut(&m.symbol)
                    .is_some_and(|f| f.subscribers.remove(&from));
                if !removed {
                    out.push(reject(
                        RejectReason::NotSubscribed,
                        format!("not subscribed to {}", m.symbol),
                    ));
                }
                return;
            }
        }
        out.push(Outbound::venue(
            from,
            self.snapshot(m.md_req_id, m.symbol, book, now),
        ));
    }

    /// One book event's level changes: the next sequence number, sent to every subscriber.
    pub fn book_changed(
        &mut self,
        symbol: Symbol,
        changes: &[Level],
        now: u64,
        out: &mut Vec<Outbound>,
    ) {
        let feed = self.feeds.entry(symbol).or_default();
        feed.seq += 1;
        let message = VenueMessage::from(MarketDataIncremental {
            symbol,
            seq_no: feed.seq,
            transact_time: now,
            changes: changes.to_vec(),
        });
        for s in &feed.subscribers {
            out.push(Outbound::venue(*s, message.clone()));
        }
    }

    /// One trade: the next sequence number, sent to every subscriber.
    pub fn trade(&mut self, trade: &TradeEvent, now: u64, out: &mut Vec<Outbound>) {
        let feed = self.feeds.entry(trade.symbol).or_default();
        feed.seq += 1;
        let message = VenueMessage::from(MarketDataTrade {
            symbol: trade.symbol,
            seq_no: feed.seq,
            trade_id: trade.trade_id,
            price: trade.price,
            qty: trade.qty,
            aggressor_side: trade.aggressor_side,
            block: trade.block,
            transact_time: now,
        });
        for s in &feed.subscribers {
            out.push(Outbound::venue(*s, message.clone()));
        }
    }

    /// A session is gone: its subscriptions end.
    pub fn session_ended(&mut self, session: SessionRef) {
        for feed in self.feeds.values_mut() {
            feed.subscribers.remove(&session);
        }
    }
}

/// What applying one message did to a [`BookBuilder`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applied {
    /// Applied in sequence: the copy is current.
    InSync,
    /// Not for this book, or older than what the copy holds (a replay): ignored.
    Ignored,
    /// A gap: the copy is now stale; send [`BookBuilder::resync_request`] and wait for the
    /// snapshot. Returned once per gap.
    Resync,
    /// Waiting for a snapshot: incrementals are dropped until it comes.
    AwaitingSnapshot,
}

/// The client's copy of one instrument's book, kept from a snapshot and sequenced incrementals.
#[derive(Clone, Debug)]
pub struct BookBuilder {
    symbol: Symbol,
    /// The last sequence number applied (`None`: waiting for a snapshot).
    seq: Option<u64>,
    bids: BTreeMap<Price, (Qty, u32)>,
    asks: BTreeMap<Price, (Qty, u32)>,
    gaps: u64,
    snapshots: u64,
}

impl BookBuilder {
    /// A copy of `symbol`'s book, waiting for its first snapshot.
    pub fn new(symbol: Symbol) -> Self {
        BookBuilder {
            symbol,
            seq: None,
            bids: BTreeMap::new(),
            asks: BTreeMap::new(),
            gaps: 0,
            snapshots: 0,
        }
    }

    /// The instrument.
    pub fn symbol(&self) -> Symbol {
        self.symbol
    }

    /// The last sequence number applied, or `None` while waiting for a snapshot.
    pub fn seq(&self) -> Option<u64> {
        self.seq
    }

    /// True when the copy is current as of [`seq`](Self::seq).
    pub fn is_synced(&self) -> bool {
        self.seq.is_some()
    }

    /// Gaps detected so far.
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// Snapshots applied so far.
    pub fn snapshots(&self) -> u64 {
        self.snapshots
    }

    /// The request that asks the venue for a fresh snapshot.
    pub fn resync_request(&self, md_req_id: u64) -> MarketDataRequest {
        MarketDataRequest {
            md_req_id,
            symbol: self.symbol,
            subscription_type: SubscriptionType::Snapshot,
        }
    }

    /// The session was interrupted (a reconnect): the copy may have missed anything, so it waits
    /// for a snapshot. Returns [`Applied::Resync`] if it was in sync.
    pub fn interrupted(&mut self) -> Applied {
        self.mark_gap()
    }

    fn mark_gap(&mut self) -> Applied {
        if self.seq.take().is_some() {
            self.gaps += 1;
            Applied::Resync
        } else {
            Applied::AwaitingSnapshot
        }
    }

    /// Applies any venue message: snapshots, incrementals and trades of this book; everything
    /// else is [`Applied::Ignored`].
    pub fn apply(&mut self, message: &VenueMessage) -> Applied {
        match message {
            VenueMessage::MarketDataSnapshot(m) => self.on_snapshot(m),
            VenueMessage::MarketDataIncremental(m) if m.symbol == self.symbol => {
                self.sequenced(m.seq_no, Some(&m.changes))
            }
            VenueMessage::MarketDataTrade(m) if m.symbol == self.symbol => {
                self.sequenced(m.seq_no, None)
            }
            _ => Applied::Ignored,
        }
    }

    /// Replaces the copy with a snapshot (unless it is older than what the copy holds).
    pub fn on_snapshot(&mut self, m: &MarketDataSnapshot) -> Applied {
        if m.symbol != self.symbol || self.seq.is_some_and(|s| m.seq_no < s) {
            return Applied::Ignored;
        }
        self.bids.clear();
        self.asks.clear();
        for level in &m.levels {
            self.set(level);
        }
        self.seq = Some(m.seq_no);
        self.snapshots += 1;
        Applied::InSync
    }

    fn sequenced(&mut self, seq_no: u64, changes: Option<&[Level]>) -> Applied {
        let Some(last) = self.seq else {
            return Applied::AwaitingSnapshot;
        };
        if seq_no <= last {
            return Applied::Ignored;
        }
        if seq_no != last + 1 {
            return self.mark_gap();
        }
        for level in changes.unwrap_or(&[]) {
            self.set(level);
        }
        self.seq = Some(seq_no);
        Applied::InSync
    }

    fn set(&mut self, level: &Level) {
        let side = match level.side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        };
        if level.qty.0 == 0 {
            side.remove(&level.price);
        } else {
            side.insert(level.price, (level.qty, level.order_count));
        }
    }

    /// The copy's levels on one side, best first (as [`Book::levels`] gives the venue's).
    pub fn levels(&self, side: Side) -> Vec<Level> {
        let of = |(price, (qty, order_count)): (&Price, &(Qty, u32))| Level {
            side,
            price: *price,
            qty: *qty,
            order_count: *order_count,
        };
        match side {
            Side::Buy => self.bids.iter().rev().map(of).collect(),
            Side::Sell => self.asks.iter().map(of).collect(),
        }
    }

    /// Every level: bids best first, then offers (as [`Book::all_levels`]).
    pub fn all_levels(&self) -> Vec<Level> {
        let mut levels = self.levels(Side::Buy);
        levels.extend(self.levels(Side::Sell));
        levels
    }

    /// True when the copy is in sync and holds exactly the levels of `book` (`None`: empty).
    pub fn matches(&self, book: Option<&Book>) -> bool {
        self.is_synced() && self.all_levels() == book.map_or_else(Vec::new, Book::all_levels)
    }
}
