//! The duty cycle's side of the abuse limits: admitting accepted sockets (listener caps and the
//! pre-session pool, evicting for a quieter address), promoting a connection out of the pool
//! once its session is established, the negotiate and establish timeouts, forgetting sessions
//! that were negotiated and never established, and the per-cycle replay budget.
//!
//! Owns: when the limits of [`crate::engine::limits`] are applied. May not touch: the verdicts'
//! arithmetic (the limits module) or FIXP rules (the session layer).

use std::net::IpAddr;
use std::sync::atomic::Ordering;

use super::Engine;
use crate::engine::conns::{slot_of, Conn, Phase};
use crate::engine::limits::AcceptVerdict;
use crate::engine::sessions::Place;
use crate::engine::strategy::Strategy;
use crate::session::{ConnectionId, SessionState, TerminateReason};

/// Close code of a connection that did not negotiate or establish in time (policy).
const CLOSE_POLICY: u16 = 1008;

impl<S: Strategy> Engine<S> {
    /// Decides on a socket listener `listener` accepted from `ip`: true to start it (after
    /// evicting an older pre-session connection if the pool is full); false to close it.
    pub(super) fn admit_socket(&mut self, listener: usize, ip: IpAddr, now: u64) -> bool {
        let conns = &self.conns;
        let in_pool = |slot: usize, id: ConnectionId| {
            conns
                .get(slot)
                .is_some_and(|c| c.id == id && c.pooled && !c.is_done())
        };
        match self.guard.admit(listener, ip, in_pool) {
            AcceptVerdict::Admit => true,
            AcceptVerdict::Evict(slot, _) => {
                self.counters
                    .pre_session_evicted
                    .fetch_add(1, Ordering::Relaxed);
                self.drop_conn(slot, now);
                true
            }
            AcceptVerdict::Refuse => {
                self.counters
                    .connections_refused
                    .fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// A server connection was inserted in `slot`: it joins the pool, its caps count it.
    pub(super) fn opened(&mut self, listener: usize, ip: IpAddr, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.peer_ip = Some(ip);
        conn.pooled = true;
        let id = conn.id;
        let conns = &self.conns;
        let in_pool = |slot: usize, id: ConnectionId| {
            conns
                .get(slot)
                .is_some_and(|c| c.id == id && c.pooled && !c.is_done())
        };
        self.guard.opened(listener, ip, slot, id, in_pool);
        self.publish_pool();
    }

    /// A server connection is gone: its caps forget it, and a session it negotiated but never
    /// established is forgotten too (so a client that negotiates and leaves cannot fill the
    /// session table). True if that session was forgotten.
    pub(super) fn closing_counts(&mut self, conn: &Conn, listener: usize, now: u64) -> bool {
        if let Some(ip) = conn.peer_ip {
            self.guard.closed(listener, ip);
            if conn.pooled {
                self.guard.left_pool(ip);
                self.publish_pool();
            }
        }
        match conn.entry {
            Some(index) if conn.pooled => self.discard_unestablished(index, conn.id, now),
            _ => false,
        }
    }

    /// Forgets the acceptor session of entry `index` if it was negotiated on `id` and never
    /// established. True if it did.
    fn discard_unestablished(&mut self, index: usize, id: ConnectionId, now: u64) -> bool {
        let Some(entry) = self.sessions.entry(index) else {
            return false;
        };
        let Place::Acceptor(slot) = entry.place else {
            return false;
        };
        if entry.guard.established_once || !self.sessions.acceptor.discard_unestablished(slot, id) {
            return false;
        }
        self.forget(index, now);
        true
    }

    /// The session of entry `index` is established: its connection leaves the pool (and its
    /// pre-session deadline).
    pub(super) fn promote(&mut self, index: usize) {
        let Some(id) = self.sessions.connection_of(index) else {
            return;
        };
        let established = self
            .sessions
            .session(index)
            .is_some_and(|s| s.state() == SessionState::Established);
        let Some(conn) = self.conns.by_id_mut(id) else {
            return;
        };
        if !established || !conn.pooled {
            return;
        }
        conn.pooled = false;
        if conn.phase == Phase::Open {
            conn.deadline = None;
        }
        if let Some(ip) = conn.peer_ip {
            self.guard.left_pool(ip);
        }
        self.publish_pool();
        self.after_conn(slot_of(id));
    }

    /// A server connection opened its transport: it must bring a session in time.
    pub(super) fn start_negotiate_timer(&mut self, slot: usize, now: u64) {
        let deadline = now.saturating_add(self.times.negotiate);
        if let Some(conn) = self.conns.get_mut(slot) {
            conn.deadline = Some(deadline);
            conn.peer = conn.link.peer_identity().map(Box::new);
        }
    }

    /// A pre-session connection's deadline passed: the session it negotiated (if any) is
    /// forgotten and the connection closed with 1008.
    pub(super) fn pre_session_timeout(&mut self, slot: usize, now: u64) {
        self.counters
            .pre_session_timeouts
            .fetch_add(1, Ordering::Relaxed);
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.deadline = None;
        let (id, entry) = (conn.id, conn.entry);
        if let Some(index) = entry {
            if self.discard_unestablished(index, id, now) {
                if let Some(conn) = self.conns.get_mut(slot) {
                    conn.entry = None;
                }
            } else if let Some(session) = self.sessions.session_mut(index) {
                // Bound but not established (a journal-restored session mid-Establish):
                // the session says why.
                session.terminate(now, TerminateReason::EstablishTimeout);
                self.sessions.dirty.push(index);
                return;
            }
        }
        let close = self.times.close;
        if let Some(conn) = self.conns.get_mut(slot) {
            let reason = "EstablishTimeout: not established in time";
            if conn.link.close(CLOSE_POLICY, reason).is_err() {
                conn.dead = true;
            }
            conn.begin_closing(now, close);
        }
    }

    /// Publishes the pool's size.
    fn publish_pool(&self) {
        self.counters
            .pre_session_open
            .store(u64::from(self.guard.pool_len()), Ordering::Relaxed);
    }
}
