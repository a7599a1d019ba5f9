//! [`Acceptor`]: the server side's table of sessions, keyed by SessionId, and the handshake
//! rules for fresh connections.
//!
//! An engine owns one acceptor and many connections, each named by a [`ConnectionId`] it never
//! reuses (an id plus epoch). Frames of a connection that is not yet bound to an established
//! session are decoded here: Negotiate creates a session (or is rejected), Establish binds a
//! known, unbound, unfinalized session to the connection (re-establishment needs no new
//! Negotiate). Later frames go straight to the bound [`Session`]. Finalized ids are remembered
//! in a bounded history and can never be negotiated or established again.
//!
//! All tables are allocated at creation with the configured capacities; a full table rejects
//! Negotiate with `Unspecified`.
//!
//! Every Negotiate and Establish on an unbound connection goes to the [`Authenticator`]
//! (with the peer's TLS client certificate when the engine passes one to
//! [`Acceptor::handle_frame_from`]); a refusal is a NegotiationReject or EstablishmentReject
//! with code `Credentials` and the [`AuthFailure`](crate::session::AuthFailure) reason, then
//! Close 1008. The authenticator is told when the acceptor forgets a SessionId.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::codec::fixp::{EstablishmentRejectCode, FlowType, NegotiationRejectCode};
use crate::codec::{Encoding, FixpMessage, FrameKind, Inbound, SessionId};
use crate::session::auth::{AuthDecision, AuthMessage, AuthRequest, Authenticator, PeerIdentity};
use crate::session::core::Session;
use crate::session::ring::SlotRing;
use crate::session::store::RetransmitStore;
use crate::session::types::{
    Event, SessionConfig, SessionState, TerminateReason, Termination, Transmit, Violation,
};

/// A transport connection, as the engine names it. Never reuse one (add an epoch).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnectionId(pub u64);

/// Settings of an [`Acceptor`].
#[derive(Clone, Debug)]
pub struct AcceptorConfig {
    /// Live (negotiated, unfinalized) sessions the table holds.
    pub capacity: usize,
    /// Connections tracked at once.
    pub max_connections: usize,
    /// Finalized SessionIds remembered (oldest forgotten first).
    pub finalized_history: usize,
    /// Client flow types we accept in Negotiate.
    pub client_flows: Vec<FlowType>,
    /// Accepted client KeepaliveInterval, milliseconds, inclusive.
    pub keepalive_range_ms: (u32, u32),
    /// Rejects and closes waiting for unbound connections.
    pub reject_capacity: usize,
    /// Negotiate/Establish timestamps below this are rejected `Unspecified` (for example
    /// `1_000_000_000_000_000_000` to refuse seconds-based values). Default 0: lenient, since
    /// Conga and silverflash send a monotonic clock, not epoch nanoseconds (digest A12).
    pub min_request_timestamp: u64,
    /// Template for each server session (its `flow` is the server flow).
    pub session: SessionConfig,
}

impl Default for AcceptorConfig {
    fn default() -> Self {
        AcceptorConfig {
            capacity: 64,
            max_connections: 128,
            finalized_history: 1024,
            client_flows: vec![
                FlowType::Recoverable,
                FlowType::Idempotent,
                FlowType::Unsequenced,
                FlowType::None,
            ],
            keepalive_range_ms: (100, 60_000),
            reject_capacity: 64,
            min_request_timestamp: 0,
            session: SessionConfig {
                flow: FlowType::Recoverable,
                ..SessionConfig::default()
            },
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum RejectMeta {
    Frame(ConnectionId, FrameKind),
    Close(ConnectionId, u16),
}

/// A reject to send on an unbound connection, then close it.
struct Refusal<'a> {
    msg: FixpMessage<'a>,
    close_code: u16,
    reason: &'static str,
}

/// Why [`Acceptor::restore`] refused a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RestoreError {
    /// The SessionId is nil.
    #[error("nil SessionId")]
    NilSessionId,
    /// The SessionId is already in the table or finalized.
    #[error("SessionId already used")]
    DuplicateId,
    /// No free slot.
    #[error("session table full")]
    TableFull,
}

/// The server side: sessions by SessionId, connections by [`ConnectionId`].
pub struct Acceptor<E: Encoding, S: RetransmitStore, A: Authenticator, F>
where
    F: FnMut(SessionId) -> (E, S),
{
    config: AcceptorConfig,
    encoding: E,
    authenticator: A,
    factory: F,
    sessions: Vec<Option<Session<E, S>>>,
    connection_of: Vec<Option<ConnectionId>>,
    by_id: HashMap<SessionId, usize>,
    by_connection: HashMap<ConnectionId, usize>,
    /// Connections whose transport ends bindings otherwise than `config.session.termination`.
    termination_of: HashMap<ConnectionId, Termination>,
    finalized: VecDeque<SessionId>,
    finalized_set: HashSet<SessionId>,
    rejects: SlotRing<RejectMeta>,
    transmit_cursor: usize,
    event_cursor: usize,
}

impl<E: Encoding, S: RetransmitStore, A: Authenticator, F> std::fmt::Debug for Acceptor<E, S, A, F>
where
    F: FnMut(SessionId) -> (E, S),
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acceptor")
            .field("sessions", &self.by_id.len())
            .field("connections", &self.by_connection.len())
            .field("finalized", &self.finalized.len())
            .finish()
    }
}

impl<E: Encoding, S: RetransmitStore, A: Authenticator, F> Acceptor<E, S, A, F>
where
    F: FnMut(SessionId) -> (E, S),
{
    /// A table with the configured capacities. `encoding` decodes handshake frames;
    /// `factory` makes the encoding and retransmit store of each new session.
    pub fn new(config: AcceptorConfig, encoding: E, authenticator: A, factory: F) -> Self {
        let capacity = config.capacity.max(1);
        let mut sessions = Vec::with_capacity(capacity);
        sessions.resize_with(capacity, || None);
        Acceptor {
            connection_of: vec![None; capacity],
            by_id: HashMap::with_capacity(capacity),
            by_connection: HashMap::with_capacity(config.max_connections),
            termination_of: HashMap::with_capacity(config.max_connections),
            finalized: VecDeque::with_capacity(config.finalized_history),
            finalized_set: HashSet::with_capacity(config.finalized_history),
            rejects: SlotRing::new(
                config.reject_capacity.max(2) * 2,
                config
                    .session
                    .max_frame_len
                    .max(crate::session::MAX_CLOSE_REASON),
            ),
            transmit_cursor: 0,
            event_cursor: 0,
            sessions,
            config,
            encoding,
            authenticator,
            factory,
        }
    }

    /// The authenticator (to read its counters).
    pub fn authenticator(&self) -> &A {
        &self.authenticator
    }

    /// The session with this id.
    pub fn session(&self, id: SessionId) -> Option<&Session<E, S>> {
        let slot = *self.by_id.get(&id)?;
        self.sessions.get(slot)?.as_ref()
    }

    /// The session with this id, mutably (to send, finalize or terminate).
    pub fn session_mut(&mut self, id: SessionId) -> Option<&mut Session<E, S>> {
        let slot = *self.by_id.get(&id)?;
        self.sessions.get_mut(slot)?.as_mut()
    }

    /// The session bound to this connection.
    pub fn session_on(&mut self, connection: ConnectionId) -> Option<&mut Session<E, S>> {
        let slot = *self.by_connection.get(&connection)?;
        self.sessions.get_mut(slot)?.as_mut()
    }

    /// The table slot of the session with this id (stable while the session lives).
    pub fn slot_of(&self, id: SessionId) -> Option<usize> {
        self.by_id.get(&id).copied()
    }

    /// The table slot of the session bound to this connection.
    pub fn slot_on(&self, connection: ConnectionId) -> Option<usize> {
        self.by_connection.get(&connection).copied()
    }

    /// The session in table slot `slot`.
    pub fn session_at(&self, slot: usize) -> Option<&Session<E, S>> {
        self.sessions.get(slot)?.as_ref()
    }

    /// The session in table slot `slot`, mutably.
    pub fn session_at_mut(&mut self, slot: usize) -> Option<&mut Session<E, S>> {
        self.sessions.get_mut(slot)?.as_mut()
    }

    /// The connection the session in `slot` is bound to.
    pub fn connection_at(&self, slot: usize) -> Option<ConnectionId> {
        *self.connection_of.get(slot)?
    }

    /// Slots in the table (its configured capacity).
    pub fn capacity(&self) -> usize {
        self.sessions.len()
    }

    /// True if `id` was finalized (and is still in the bounded history).
    pub fn is_finalized(&self, id: SessionId) -> bool {
        self.finalized_set.contains(&id)
    }

    /// Live sessions in the table.
    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    /// True when the table holds no session.
    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }

    /// Handshake frames (Negotiate, and Establish before a session is bound) that the
    /// acceptor's own encoding accepted despite a tolerated deviation; each session counts its
    /// own in [`Session::status`].
    pub fn tolerated_deviations(&self) -> u64 {
        self.encoding.tolerated_deviations()
    }

    /// One inbound WebSocket message on `connection` (no TLS client certificate).
    pub fn handle_frame(
        &mut self,
        now: u64,
        connection: ConnectionId,
        frame: &[u8],
        kind: FrameKind,
    ) {
        self.handle_frame_from(now, connection, None, frame, kind);
    }

    /// One inbound WebSocket message on `connection`, whose TLS client certificate (if it
    /// presented a verified one) is `peer`: the [`Authenticator`] sees it for Negotiate and
    /// Establish.
    pub fn handle_frame_from(
        &mut self,
        now: u64,
        connection: ConnectionId,
        peer: Option<&PeerIdentity>,
        frame: &[u8],
        kind: FrameKind,
    ) {
        if let Some(&slot) = self.by_connection.get(&connection) {
            if let Some(Some(session)) = self.sessions.get_mut(slot) {
                if session.state() != SessionState::Negotiated {
                    session.handle_frame(now, frame, kind);
                    self.after_session_input(slot);
                    return;
                }
            }
        }
        let request = |message, session_id, request_timestamp, credentials| AuthRequest {
            message,
            session_id,
            request_timestamp,
            credentials,
            now,
            peer,
        };
        let decoded = match self.encoding.decode(frame, kind) {
            Ok(Inbound::Fixp(FixpMessage::Negotiate {
                session_id,
                timestamp,
                client_flow,
                credentials,
            })) => Handshake::Negotiate {
                id: session_id,
                ts: timestamp,
                flow: client_flow,
                auth: self.authenticator.authenticate(&request(
                    AuthMessage::Negotiate,
                    session_id,
                    timestamp,
                    credentials,
                )),
            },
            Ok(Inbound::Fixp(FixpMessage::Establish {
                session_id,
                timestamp,
                keepalive_interval,
                next_seq_no,
                credentials,
            })) => Handshake::Establish {
                id: session_id,
                ts: timestamp,
                keepalive_ms: keepalive_interval,
                next: next_seq_no,
                auth: self.authenticator.authenticate(&request(
                    AuthMessage::Establish {
                        keepalive_interval_ms: keepalive_interval,
                        next_seq_no,
                    },
                    session_id,
                    timestamp,
                    credentials,
                )),
            },
            Ok(Inbound::Application(_)) => Handshake::Violation(Violation::AppBeforeEstablished),
            Ok(Inbound::Fixp(other)) => {
                Handshake::Violation(Violation::UnexpectedMessage(other.template()))
            }
            Err(e) => Handshake::Violation(Violation::Undecodable(e)),
        };
        match decoded {
            Handshake::Negotiate { id, ts, flow, auth } => {
                self.on_negotiate(now, connection, id, ts, flow, auth)
            }
            Handshake::Establish {
                id,
                ts,
                keepalive_ms,
                next,
                auth,
            } => self.on_establish(now, connection, id, ts, keepalive_ms, next, auth),
            Handshake::Violation(violation) => {
                if let Some(&slot) = self.by_connection.get(&connection) {
                    if let Some(Some(session)) = self.sessions.get_mut(slot) {
                        session.terminate(now, TerminateReason::Violation(violation));
                        return;
                    }
                }
                self.close(connection, TerminateReason::Violation(violation));
            }
        }
    }

    /// Says how bindings on `connection` end (its transport): call when the connection opens,
    /// before its first frame. Without it a connection uses `config.session.termination`.
    /// The session bound to the connection (by Negotiate or Establish) takes it over, so one
    /// table serves WebSocket and TCP listeners alike.
    pub fn set_termination(&mut self, connection: ConnectionId, termination: Termination) {
        self.termination_of.insert(connection, termination);
    }

    /// How bindings on `connection` end.
    pub fn termination_of(&self, connection: ConnectionId) -> Termination {
        self.termination_of
            .get(&connection)
            .copied()
            .unwrap_or(self.config.session.termination)
    }

    /// [`Acceptor::handle_frame`] with lending ([`Session::handle_frame_lending`]): an
    /// application message that an established session can deliver at once, in order, is
    /// returned as `(slot, seq)` instead of being copied into its event ring; `frame` is the
    /// message, to be handed to the application before that session's next event.
    pub fn handle_frame_lending(
        &mut self,
        now: u64,
        connection: ConnectionId,
        frame: &[u8],
        kind: FrameKind,
    ) -> Option<(usize, u64)> {
        self.handle_frame_lending_from(now, connection, None, frame, kind)
    }

    /// [`Acceptor::handle_frame_lending`] for a connection whose verified TLS client
    /// certificate is `peer` (handshake frames go to the [`Authenticator`] with it).
    pub fn handle_frame_lending_from(
        &mut self,
        now: u64,
        connection: ConnectionId,
        peer: Option<&PeerIdentity>,
        frame: &[u8],
        kind: FrameKind,
    ) -> Option<(usize, u64)> {
        if let Some(&slot) = self.by_connection.get(&connection) {
            if let Some(Some(session)) = self.sessions.get_mut(slot) {
                if session.state() != SessionState::Negotiated {
                    let lent = session.handle_frame_lending(now, frame, kind);
                    self.after_session_input(slot);
                    return lent.map(|seq| (slot, seq));
                }
            }
        }
        // Handshake frames: nothing to lend.
        self.handle_frame_from(now, connection, peer, frame, kind);
        None
    }

    /// Forgets the session in `slot` if it is not established and is bound to `connection`
    /// or to none: the engine calls it for a session negotiated on a connection that ended or
    /// timed out before the session was ever established (a client that stopped after
    /// Negotiate, or whose Establish was refused). Its slot is freed, its id may be negotiated
    /// again and the authenticator is told. Returns true if it was forgotten.
    pub fn discard_unestablished(&mut self, slot: usize, connection: ConnectionId) -> bool {
        let unestablished = matches!(self.sessions.get(slot), Some(Some(s))
            if matches!(s.state(), SessionState::Negotiated | SessionState::NotEstablished));
        let bound_here = matches!(self.connection_of.get(slot), Some(None))
            || self.connection_of.get(slot) == Some(&Some(connection));
        if !unestablished || !bound_here {
            return false;
        }
        self.by_connection.remove(&connection);
        self.termination_of.remove(&connection);
        if let Some(c) = self.connection_of.get_mut(slot) {
            *c = None;
        }
        let Some(session) = self.sessions.get_mut(slot).and_then(Option::take) else {
            return false;
        };
        let id = session.session_id();
        self.by_id.remove(&id);
        self.authenticator.session_ended(id);
        true
    }

    /// The transport of `connection` is gone.
    pub fn handle_disconnected(&mut self, now: u64, connection: ConnectionId) {
        self.termination_of.remove(&connection);
        if let Some(slot) = self.by_connection.remove(&connection) {
            if let Some(c) = self.connection_of.get_mut(slot) {
                *c = None;
            }
            if let Some(Some(session)) = self.sessions.get_mut(slot) {
                session.handle_disconnected(now);
            }
            self.reap(slot);
        }
    }

    /// The peer of `connection` sent a Close.
    pub fn handle_close(&mut self, now: u64, connection: ConnectionId, code: u16) {
        if let Some(&slot) = self.by_connection.get(&connection) {
            if let Some(Some(session)) = self.sessions.get_mut(slot) {
                session.handle_close(now, code);
            }
        }
    }

    /// Timers of every session; frees finalized sessions whose connection is gone.
    pub fn handle_timeout(&mut self, now: u64) {
        for slot in 0..self.sessions.len() {
            self.handle_timeout_at(now, slot);
        }
    }

    /// Timers of the session in `slot` only (an engine that keeps its own deadline structure
    /// calls this for the sessions that are due); frees it if it is finalized, drained and
    /// unbound. Returns true if the slot is empty afterwards.
    pub fn handle_timeout_at(&mut self, now: u64, slot: usize) -> bool {
        if let Some(Some(session)) = self.sessions.get_mut(slot) {
            session.handle_timeout(now);
        }
        self.release_finished(slot)
    }

    /// Frees the session in `slot` if it is finalized, its events were all taken and it has
    /// no connection. Returns true if the slot is empty afterwards.
    pub fn release_finished(&mut self, slot: usize) -> bool {
        if matches!(self.connection_of.get(slot), Some(None)) {
            self.reap(slot);
        }
        matches!(self.sessions.get(slot), Some(None))
    }

    /// The next reject (or its Close) waiting for an unbound connection, if any.
    pub fn poll_reject(&mut self) -> Option<(ConnectionId, Transmit<'_>)> {
        let (meta, bytes) = self.rejects.pop()?;
        Some(match meta {
            RejectMeta::Frame(connection, kind) => (connection, Transmit::Frame { bytes, kind }),
            RejectMeta::Close(connection, code) => (
                connection,
                Transmit::Close {
                    code,
                    reason: std::str::from_utf8(bytes).unwrap_or(""),
                },
            ),
        })
    }

    /// The earliest deadline over all sessions.
    pub fn next_deadline(&self) -> Option<u64> {
        self.sessions
            .iter()
            .flatten()
            .filter_map(|s| s.next_deadline())
            .min()
    }

    /// The next frame to send and its connection: rejects first, then sessions in turn.
    pub fn poll_transmit(&mut self) -> Option<(ConnectionId, Transmit<'_>)> {
        if !self.rejects.is_empty() {
            return self.poll_reject();
        }
        let n = self.sessions.len();
        let found = (0..n)
            .map(|i| (self.transmit_cursor + i) % n)
            .find(|&slot| {
                matches!(self.connection_of.get(slot), Some(Some(_)))
                    && matches!(self.sessions.get(slot), Some(Some(s)) if s.has_transmit())
            })?;
        self.transmit_cursor = (found + 1) % n;
        let connection = (*self.connection_of.get(found)?)?;
        let session = self.sessions.get_mut(found)?.as_mut()?;
        session.poll_transmit().map(|t| (connection, t))
    }

    /// The next application event and the session it belongs to.
    pub fn poll_event(&mut self) -> Option<(SessionId, Event<'_>)> {
        // Round-robin from after the last session served, so a busy session cannot starve
        // the others.
        let n = self.sessions.len();
        let found = (0..n)
            .map(|i| (self.event_cursor + i) % n)
            .find(|&slot| matches!(self.sessions.get(slot), Some(Some(s)) if s.has_event()))?;
        self.event_cursor = (found + 1) % n;
        let session = self.sessions.get_mut(found)?.as_mut()?;
        let id = session.session_id();
        let event = session.poll_event()?;
        Some((id, event))
    }

    fn after_session_input(&mut self, slot: usize) {
        let finalized = matches!(
            self.sessions.get(slot),
            Some(Some(s)) if s.state() == SessionState::Finalized
        );
        if finalized {
            if let Some(Some(session)) = self.sessions.get(slot) {
                let id = session.session_id();
                self.remember_finalized(id);
            }
        }
    }

    fn remember_finalized(&mut self, id: SessionId) {
        if self.finalized_set.contains(&id) {
            return;
        }
        if self.finalized.len() >= self.config.finalized_history.max(1) {
            if let Some(old) = self.finalized.pop_front() {
                self.finalized_set.remove(&old);
            }
        }
        self.finalized.push_back(id);
        self.finalized_set.insert(id);
    }

    /// Frees the slot of a finalized session once its connection is gone.
    fn reap(&mut self, slot: usize) {
        let Some(Some(session)) = self.sessions.get(slot) else {
            return;
        };
        if session.state() != SessionState::Finalized || session.has_event() {
            return;
        }
        let id = session.session_id();
        self.remember_finalized(id);
        self.by_id.remove(&id);
        if let Some(s) = self.sessions.get_mut(slot) {
            *s = None;
        }
        self.authenticator.session_ended(id);
    }

    /// A request the authenticator accepted was rejected for another reason: if the table has
    /// no session with `id`, the authenticator may drop what it kept for it.
    fn forget_if_unknown(&mut self, id: SessionId, auth: AuthDecision) {
        if auth == AuthDecision::Accept && !self.by_id.contains_key(&id) {
            self.authenticator.session_ended(id);
        }
    }

    /// Restores a negotiated, unbound session after a restart (from its journal): the client
    /// re-Establishes under `id` with no new Negotiate. Refused when `id` is nil, already in the
    /// table or finalized, or when the table is full.
    #[allow(clippy::too_many_arguments)]
    pub fn restore(
        &mut self,
        id: SessionId,
        client_flow: FlowType,
        next_seq_to_send: u64,
        next_seq_expected: u64,
        encoding: E,
        store: S,
    ) -> Result<(), RestoreError> {
        if id.is_nil() {
            return Err(RestoreError::NilSessionId);
        }
        if self.by_id.contains_key(&id) || self.finalized_set.contains(&id) {
            return Err(RestoreError::DuplicateId);
        }
        let slot = self
            .sessions
            .iter()
            .position(Option::is_none)
            .ok_or(RestoreError::TableFull)?;
        let session = Session::server_resumed(
            self.config.session.clone(),
            encoding,
            store,
            id,
            client_flow,
            next_seq_to_send,
            next_seq_expected,
        );
        if let Some(s) = self.sessions.get_mut(slot) {
            *s = Some(session);
        }
        self.by_id.insert(id, slot);
        Ok(())
    }

    /// Records `id` as finalized (e.g. a finalized session found in a journal at start):
    /// a Negotiate or Establish with it is refused.
    pub fn restore_finalized(&mut self, id: SessionId) {
        if !self.by_id.contains_key(&id) {
            self.remember_finalized(id);
        }
    }

    fn on_negotiate(
        &mut self,
        now: u64,
        connection: ConnectionId,
        id: SessionId,
        ts: u64,
        flow: FlowType,
        auth: AuthDecision,
    ) {
        let reject = |code, reason: &'static str| Some((code, reason));
        if let Some(previous) = self.by_connection.remove(&connection) {
            // A client retrying Negotiate (new id) on the same connection: the earlier
            // negotiated session stays in the table, unbound.
            if let Some(c) = self.connection_of.get_mut(previous) {
                *c = None;
            }
            if let Some(Some(session)) = self.sessions.get_mut(previous) {
                session.handle_disconnected(now);
            }
        }
        let verdict = if id.is_nil() {
            reject(
                NegotiationRejectCode::Unspecified,
                "Invalid SessionID Format",
            )
        } else if ts < self.config.min_request_timestamp {
            reject(NegotiationRejectCode::Unspecified, "Invalid Timestamp")
        } else if self.by_id.contains_key(&id) || self.finalized_set.contains(&id) {
            reject(NegotiationRejectCode::DuplicateId, "SessionId already used")
        } else if let AuthDecision::Refuse(failure) = auth {
            reject(NegotiationRejectCode::Credentials, failure.reason())
        } else if auth == AuthDecision::Blocked {
            reject(NegotiationRejectCode::Credentials, "session blocked")
        } else if !self.config.client_flows.contains(&flow) {
            reject(
                NegotiationRejectCode::FlowTypeNotSupported,
                "client flow not supported",
            )
        } else if self.by_connection.len() >= self.config.max_connections {
            reject(NegotiationRejectCode::Unspecified, "too many connections")
        } else {
            None
        };
        let free = self.sessions.iter().position(Option::is_none);
        let (verdict, free) = match (verdict, free) {
            (None, None) => (
                reject(NegotiationRejectCode::Unspecified, "session table full"),
                None,
            ),
            (v, f) => (v, f),
        };
        if let Some((code, reason)) = verdict {
            self.forget_if_unknown(id, auth);
            let close_code = if code == NegotiationRejectCode::Credentials {
                1008
            } else {
                1002
            };
            return self.refuse(
                connection,
                Refusal {
                    msg: FixpMessage::NegotiationReject {
                        session_id: id,
                        request_timestamp: ts,
                        code,
                        reason: reason.as_bytes(),
                    },
                    close_code,
                    reason,
                },
            );
        }
        let Some(slot) = free else {
            return;
        };
        let (encoding, store) = (self.factory)(id);
        let mut session = Session::server_negotiated(
            now,
            self.config.session.clone(),
            encoding,
            store,
            id,
            flow,
            ts,
        );
        session.set_termination(self.termination_of(connection));
        if let Some(s) = self.sessions.get_mut(slot) {
            *s = Some(session);
        }
        if let Some(c) = self.connection_of.get_mut(slot) {
            *c = Some(connection);
        }
        self.by_id.insert(id, slot);
        self.by_connection.insert(connection, slot);
    }

    #[allow(clippy::too_many_arguments)]
    fn on_establish(
        &mut self,
        now: u64,
        connection: ConnectionId,
        id: SessionId,
        ts: u64,
        keepalive_ms: u32,
        next: Option<u64>,
        auth: AuthDecision,
    ) {
        let slot = self.by_id.get(&id).copied();
        let on_this = self.by_connection.get(&connection).copied();
        let (low, high) = self.config.keepalive_range_ms;
        let reject = |code, reason: &'static str| Some((code, reason));
        let verdict = match slot.and_then(|s| self.sessions.get(s)?.as_ref()) {
            _ if id.is_nil() => reject(
                EstablishmentRejectCode::Unspecified,
                "Invalid SessionID Format",
            ),
            _ if ts < self.config.min_request_timestamp => {
                reject(EstablishmentRejectCode::Unspecified, "Invalid Timestamp")
            }
            None => reject(
                EstablishmentRejectCode::Unnegotiated,
                "unknown or finalized SessionId",
            ),
            Some(s) if s.state() == SessionState::Finalized => {
                reject(EstablishmentRejectCode::Unnegotiated, "session finalized")
            }
            Some(s) if s.is_bound() && on_this != slot => reject(
                EstablishmentRejectCode::AlreadyEstablished,
                "bound to another connection",
            ),
            Some(_) if on_this.is_some() && on_this != slot => reject(
                EstablishmentRejectCode::Unspecified,
                "connection bound to another session",
            ),
            Some(_) if matches!(auth, AuthDecision::Refuse(_)) => reject(
                EstablishmentRejectCode::Credentials,
                match auth {
                    AuthDecision::Refuse(failure) => failure.reason(),
                    _ => "credentials refused",
                },
            ),
            Some(_) if auth == AuthDecision::Blocked => {
                reject(EstablishmentRejectCode::SessionBlocked, "session blocked")
            }
            Some(_) if keepalive_ms < low || keepalive_ms > high => reject(
                EstablishmentRejectCode::KeepaliveInterval,
                "keepalive out of range",
            ),
            Some(_) => None,
        };
        if let Some((code, reason)) = verdict {
            self.forget_if_unknown(id, auth);
            let close_code = match code {
                EstablishmentRejectCode::Credentials | EstablishmentRejectCode::SessionBlocked => {
                    1008
                }
                _ => 1002,
            };
            if let Some(s) = on_this {
                self.by_connection.remove(&connection);
                if let Some(c) = self.connection_of.get_mut(s) {
                    *c = None;
                }
                if let Some(Some(session)) = self.sessions.get_mut(s) {
                    session.handle_disconnected(now);
                }
            }
            return self.refuse(
                connection,
                Refusal {
                    msg: FixpMessage::EstablishmentReject {
                        session_id: id,
                        request_timestamp: ts,
                        code,
                        reason: reason.as_bytes(),
                    },
                    close_code,
                    reason,
                },
            );
        }
        let Some(slot) = slot else {
            return;
        };
        if let Some(Some(old)) = self.connection_of.get(slot) {
            let old = *old;
            if old != connection {
                self.by_connection.remove(&old);
            }
        }
        if let Some(c) = self.connection_of.get_mut(slot) {
            *c = Some(connection);
        }
        self.by_connection.insert(connection, slot);
        let termination = self.termination_of(connection);
        if let Some(Some(session)) = self.sessions.get_mut(slot) {
            session.set_termination(termination);
            session.accept_establish(now, ts, keepalive_ms, next);
        }
    }

    fn refuse(&mut self, connection: ConnectionId, refusal: Refusal<'_>) {
        let kind = self.encoding.frame_kind();
        let encoding = &mut self.encoding;
        let _ = self
            .rejects
            .push_with(RejectMeta::Frame(connection, kind), |slot| {
                encoding.encode(&refusal.msg, slot)
            });
        let _ = self.rejects.push(
            RejectMeta::Close(connection, refusal.close_code),
            refusal.reason.as_bytes(),
        );
    }

    fn close(&mut self, connection: ConnectionId, reason: TerminateReason) {
        if let Termination::FixpTerminate { .. } = self.termination_of(connection) {
            // No session yet: the Terminate says why (nil SessionId), then the socket closes.
            let kind = self.encoding.frame_kind();
            let encoding = &mut self.encoding;
            let _ = self
                .rejects
                .push_with(RejectMeta::Frame(connection, kind), |slot| {
                    crate::session::core::encode_terminate(encoding, SessionId::NIL, &reason, slot)
                });
        }
        let code = reason.close_code();
        let mut text = [0u8; crate::session::MAX_CLOSE_REASON];
        let len = crate::session::core::write_close_reason(&reason, &mut text);
        let _ = self.rejects.push(
            RejectMeta::Close(connection, code),
            text.get(..len).unwrap_or(&[]),
        );
    }
}

enum Handshake {
    Negotiate {
        id: SessionId,
        ts: u64,
        flow: FlowType,
        auth: AuthDecision,
    },
    Establish {
        id: SessionId,
        ts: u64,
        keepalive_ms: u32,
        next: Option<u64>,
        auth: AuthDecision,
    },
    Violation(Violation),
}
