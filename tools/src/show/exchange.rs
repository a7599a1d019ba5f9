//! [`VenueExchange`]: the venue ([`crate::venue::exchange::Venue`]) as an inline engine
//! strategy, and [`engine_config`], which maps a [`VenueConfig`] onto the engine's settings.
//!
//! Each application frame is decoded where it lies with [`crate::venue::wire::decode`] (the
//! session's encoding and JSON dialect), handed to the `Venue` with the cycle's clock, and each
//! [`Outbound`] is encoded straight into its recipient's outbound slot with
//! [`Context::send_with`]. `Venue::tick` runs on the cycle when an RFQ or quote is due to
//! expire ([`Strategy::next_deadline`] wakes a blocking engine for it).
//!
//! A message for a session that is not bound (its client is away) or whose outbox is full waits,
//! in order, in that session's backlog and goes out once the session is established again: a
//! client that comes back gets every report it missed, in order, on its Recoverable flow.
//!
//! Owns: the mapping between engine sessions and the venue's [`SessionRef`]s, the backlogs.
//! May not touch: the venue's rules (all in [`crate::venue`]), the engine's internals.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::SessionId;
use fixp_ws::engine::{
    Context, EngineConfig, EngineEvent, IdleMode, InboundLimit, InboundMessage, InlineSendError,
    JournalSetup, SessionKey, Strategy,
};
use fixp_ws::journal::{JournalConfig, RingConfig};
use fixp_ws::session::limits::{ExcessAction, RateLimit};
use fixp_ws::session::{Event, SendError, SessionState};
use fixp_ws::transport::WireEncoding;

use crate::venue::config::{FlowName, IdleName, VenueConfig};
use crate::venue::exchange::Venue;
use crate::venue::message::BusinessMessageReject;
use crate::venue::types::RejectReason;
use crate::venue::wire::{self, WireFormat};
use crate::venue::{AppMessage, Dialect, Outbound, SessionRef};

/// Counters other threads read while the exchange runs (relaxed atomics).
#[derive(Debug, Default)]
pub struct ExchangeProbe {
    /// Sessions that bound for the first time.
    pub sessions: AtomicU64,
    /// Establishments (first ones and re-establishments).
    pub established: AtomicU64,
    /// Bindings that ended (the session may come back).
    pub unbound: AtomicU64,
    /// Sessions finalized.
    pub finalized: AtomicU64,
    /// Application messages received.
    pub messages_in: AtomicU64,
    /// Application messages sent.
    pub messages_out: AtomicU64,
    /// Messages held for a session that was away (sent once it was back).
    pub held: AtomicU64,
    /// Messages dropped because their session had ended for good.
    pub dropped: AtomicU64,
    /// Frames that did not decode (answered with BusinessMessageReject).
    pub undecodable: AtomicU64,
    /// Messages over the inbound rate limit (answered with BusinessMessageReject).
    pub throttled: AtomicU64,
}

impl ExchangeProbe {
    fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Reads a counter.
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Ordering::Relaxed)
    }
}

/// One engine session, as the exchange knows it.
#[derive(Debug)]
struct Member {
    key: SessionKey,
    session: SessionRef,
    session_id: SessionId,
    format: WireFormat,
    dialect: Dialect,
    /// Established and bound: sends may succeed.
    ready: bool,
    /// Finalized: the venue was told it ended.
    ended: bool,
    backlog: VecDeque<AppMessage>,
}

/// The venue as an inline strategy: every acceptor session of its engine is a venue session.
pub struct VenueExchange {
    venue: Venue,
    config: VenueConfig,
    /// By `SessionKey::index()`.
    members: Vec<Option<Member>>,
    /// Where each venue session's member is.
    by_ref: HashMap<SessionRef, usize>,
    next_ref: u64,
    out: Vec<Outbound>,
    /// A bound session's outbox was full: retry on the next cycle.
    blocked: bool,
    probe: Arc<ExchangeProbe>,
}

impl VenueExchange {
    /// An exchange with the venue `config` describes (settings, instruments, sessions).
    pub fn new(config: VenueConfig) -> Self {
        VenueExchange {
            venue: Venue::new(config.venue_settings(), config.instrument_table()),
            config,
            members: Vec::new(),
            by_ref: HashMap::new(),
            next_ref: 1,
            out: Vec::with_capacity(64),
            blocked: false,
            probe: Arc::new(ExchangeProbe::default()),
        }
    }

    /// The counters, for other threads.
    pub fn probe(&self) -> Arc<ExchangeProbe> {
        Arc::clone(&self.probe)
    }

    /// The venue (books, RFQs, market data sequences).
    pub fn venue(&self) -> &Venue {
        &self.venue
    }

    /// The venue's name for the session with this SessionId, if it ever bound.
    pub fn session_ref(&self, id: SessionId) -> Option<SessionRef> {
        self.members
            .iter()
            .flatten()
            .find(|m| m.session_id == id)
            .map(|m| m.session)
    }

    fn member(&mut self, key: SessionKey) -> Option<&mut Member> {
        self.members
            .get_mut(key.index())
            .and_then(Option::as_mut)
            .filter(|m| m.key == key)
    }

    /// Sends what the venue produced, in order; what cannot go now waits in its backlog.
    fn dispatch(&mut self, ctx: &mut Context<'_>) {
        let mut out = std::mem::take(&mut self.out);
        for o in out.drain(..) {
            let member = self
                .by_ref
                .get(&o.to)
                .and_then(|i| self.members.get_mut(*i))
                .and_then(Option::as_mut)
                .filter(|m| m.session == o.to);
            let Some(member) = member else {
                ExchangeProbe::bump(&self.probe.dropped);
                continue;
            };
            if member.ended {
                ExchangeProbe::bump(&self.probe.dropped);
                continue;
            }
            if member.backlog.is_empty() {
                match send(ctx, member, &o.message) {
                    Sent::Yes => {
                        ExchangeProbe::bump(&self.probe.messages_out);
                        continue;
                    }
                    Sent::Gone => {
                        ExchangeProbe::bump(&self.probe.dropped);
                        continue;
                    }
                    Sent::Later => {}
                }
            }
            if member.ready {
                self.blocked = true;
            } else {
                ExchangeProbe::bump(&self.probe.held);
            }
            member.backlog.push_back(o.message);
        }
        self.out = out;
    }

    /// Sends every ready session's backlog while its outbox takes it.
    fn flush(&mut self, ctx: &mut Context<'_>) -> usize {
        let mut sent = 0;
        self.blocked = false;
        for member in self.members.iter_mut().flatten() {
            if !member.ready {
                continue;
            }
            while let Some(message) = member.backlog.front() {
                match send(ctx, member, message) {
                    Sent::Yes => {
                        ExchangeProbe::bump(&self.probe.messages_out);
                        sent += 1;
                    }
                    Sent::Gone => ExchangeProbe::bump(&self.probe.dropped),
                    Sent::Later => {
                        self.blocked = true;
                        break;
                    }
                }
                member.backlog.pop_front();
            }
        }
        sent
    }

    fn end_member(&mut self, ctx: &mut Context<'_>, key: SessionKey) {
        let now = ctx.now();
        let Some(member) = self.member(key) else {
            return;
        };
        if member.ended {
            return;
        }
        member.ended = true;
        member.ready = false;
        member.backlog.clear();
        let session = member.session;
        let mut out = std::mem::take(&mut self.out);
        self.venue.session_ended(session, now, &mut out);
        self.out = out;
        self.dispatch(ctx);
    }
}

enum Sent {
    Yes,
    Later,
    Gone,
}

fn send(ctx: &mut Context<'_>, member: &Member, message: &AppMessage) -> Sent {
    match ctx.send_with(member.key, |slot| {
        wire::encode(message, member.format, slot)
    }) {
        Ok(_) => Sent::Yes,
        Err(InlineSendError::Session(SendError::Backpressure | SendError::NotEstablished)) => {
            Sent::Later
        }
        // Finished, too large, or a store error: it can never go.
        Err(_) => Sent::Gone,
    }
}

fn format_of(encoding: WireEncoding) -> WireFormat {
    match encoding {
        WireEncoding::Sbe => WireFormat::Sbe,
        WireEncoding::Json => WireFormat::Json,
    }
}

impl Strategy for VenueExchange {
    fn on_session(&mut self, ctx: &mut Context<'_>, key: SessionKey) {
        let Some(info) = ctx.session(key) else {
            return;
        };
        let session = SessionRef(self.next_ref);
        self.next_ref += 1;
        let id = info.session_id;
        let profile = self.config.session_profile(&id.0);
        self.venue.session_started(session, profile);
        let member = Member {
            key,
            session,
            session_id: id,
            format: format_of(info.encoding),
            dialect: self.config.json_dialect(&id.0),
            // Set by the Established event, which follows.
            ready: false,
            ended: false,
            backlog: VecDeque::new(),
        };
        let index = key.index();
        self.by_ref.insert(session, index);
        if self.members.len() <= index {
            self.members.resize_with(index + 1, || None);
        }
        if let Some(slot) = self.members.get_mut(index) {
            *slot = Some(member);
        }
        ExchangeProbe::bump(&self.probe.sessions);
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        let now = ctx.now();
        let Some(member) = self.member(message.session) else {
            return;
        };
        let (session, format, dialect) = (member.session, member.format, member.dialect);
        ExchangeProbe::bump(&self.probe.messages_in);
        let mut out = std::mem::take(&mut self.out);
        match wire::decode(message.bytes, format, dialect) {
            Ok(app) => self.venue.handle(session, &app, now, &mut out),
            Err(e) => {
                ExchangeProbe::bump(&self.probe.undecodable);
                out.push(self.venue.undecodable(session, message.bytes, format, &e));
            }
        }
        self.out = out;
        self.dispatch(ctx);
    }

    fn on_event(&mut self, ctx: &mut Context<'_>, key: SessionKey, event: Event<'static>) {
        match event {
            Event::StateChanged(SessionState::Established) => {
                if let Some(member) = self.member(key) {
                    member.ready = true;
                    ExchangeProbe::bump(&self.probe.established);
                }
                self.flush(ctx);
            }
            Event::Terminated(_) => {
                if let Some(member) = self.member(key) {
                    if member.ready {
                        member.ready = false;
                        ExchangeProbe::bump(&self.probe.unbound);
                    }
                }
            }
            Event::Finalized => {
                self.end_member(ctx, key);
                ExchangeProbe::bump(&self.probe.finalized);
            }
            _ => {}
        }
    }

    fn on_engine_event(&mut self, ctx: &mut Context<'_>, key: SessionKey, event: EngineEvent) {
        // A message over the session's rate was consumed but not handed over: say so.
        if let EngineEvent::InboundThrottled { reason, .. } = event {
            let Some(member) = self.member(key) else {
                return;
            };
            let session = member.session;
            ExchangeProbe::bump(&self.probe.throttled);
            self.out.push(Outbound::venue(
                session,
                BusinessMessageReject {
                    ref_template_id: 0,
                    ref_schema_id: 0,
                    reject_reason: RejectReason::Other,
                    text: reason.to_owned(),
                },
            ));
            self.dispatch(ctx);
        }
    }

    fn on_cycle(&mut self, ctx: &mut Context<'_>) -> usize {
        let now = ctx.now();
        let mut work = 0;
        if self.venue.next_expiry().is_some_and(|at| now >= at) {
            let mut out = std::mem::take(&mut self.out);
            self.venue.tick(now, &mut out);
            work += out.len();
            self.out = out;
            self.dispatch(ctx);
        }
        if self.blocked {
            work += self.flush(ctx);
        }
        work
    }

    fn next_deadline(&self) -> Option<u64> {
        if self.blocked {
            return Some(0);
        }
        self.venue.next_expiry()
    }

    fn on_session_freed(&mut self, ctx: &mut Context<'_>, key: SessionKey) {
        self.end_member(ctx, key);
        if let Some(slot) = self.members.get_mut(key.index()) {
            if let Some(member) = slot.take_if(|m| m.key == key) {
                self.by_ref.remove(&member.session);
            }
        }
    }
}

/// The engine settings `config` asks for: idle strategy, pinning, acceptor flows and keepalive,
/// limits, and the acceptor journal under `journal_dir` (when `config.journal.enabled`).
pub fn engine_config(config: &VenueConfig, journal_dir: Option<&std::path::Path>) -> EngineConfig {
    let mut engine = EngineConfig {
        idle: match config.engine.idle {
            IdleName::BusyPoll => IdleMode::BusyPoll,
            IdleName::SpinThenYield => IdleMode::SpinThenYield,
            IdleName::Block => {
                IdleMode::Block(Duration::from_millis(config.engine.block_ms.max(1)))
            }
        },
        queue_capacity: config.engine.queue_capacity,
        max_connections: config.limits.max_connections,
        handshake_timeout: Duration::from_millis(u64::from(config.session.handshake_timeout_ms)),
        retransmit_capacity: 8192,
        ..EngineConfig::default()
    };
    let session = &config.session;
    engine.acceptor.session.flow = flow(session.server_flow);
    engine.acceptor.session.keepalive_interval_ms = session.keepalive_ms;
    engine.acceptor.keepalive_range_ms = (session.min_keepalive_ms, session.max_keepalive_ms);
    engine.acceptor.client_flows = session.client_flows.iter().copied().map(flow).collect();
    engine.acceptor.max_connections = config.limits.max_connections;
    let rate = config.limits.max_messages_per_second;
    engine.limits.inbound =
        RateLimit::new(rate, 1_000_000_000, rate)
            .ok()
            .map(|rate| InboundLimit {
                rate,
                action: ExcessAction::Reject {
                    reason: "over limits.max_messages_per_second",
                },
            });
    if config.journal.enabled {
        let dir = journal_dir.map_or_else(|| config.journal.dir.clone(), |d| d.to_path_buf());
        engine.acceptor_journal = Some(JournalSetup {
            dir,
            config: journal_rings(config.journal.capacity_bytes),
        });
    }
    engine
}

/// Rings for `capacity_bytes` per direction: two segments, one index slot per 64 bytes.
pub fn journal_rings(capacity_bytes: u64) -> JournalConfig {
    let half = usize::try_from(capacity_bytes / 2).unwrap_or(usize::MAX / 2);
    let segment_bytes = (half / 4096).max(2) * 4096;
    let ring = RingConfig {
        segment_bytes,
        segment_count: 2,
        max_messages: (segment_bytes / 32).max(1024),
    };
    JournalConfig {
        outbound: ring,
        inbound: ring,
        ..JournalConfig::default()
    }
}

fn flow(name: FlowName) -> FlowType {
    match name {
        FlowName::Recoverable => FlowType::Recoverable,
        FlowName::Idempotent => FlowType::Idempotent,
        FlowName::Unsequenced => FlowType::Unsequenced,
        FlowName::None => FlowType::None,
    }
}
