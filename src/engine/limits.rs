//! The engine's abuse limits: connection caps per listener and per remote address, the
//! pre-session pool, pre-session timeouts, inbound and outbound message-rate limits per
//! session and the cap on retransmission work per duty cycle ([`EngineLimits`]), and the
//! bookkeeping behind them.
//!
//! **The pre-session pool.** A server connection is *pre-session* from the moment its TCP
//! connection is accepted until its session is established (TLS, WebSocket or SOFH, Negotiate
//! and Establish all done). Pre-session connections are counted apart, per remote address and
//! in total ([`EngineLimits::pre_session`]); they never take the slots kept for established
//! sessions (the connection table holds the pool's total on top of every session the engine
//! can have), and when the pool is full a newcomer from an address holding fewer pre-session
//! connections takes the place of the oldest connection of an address holding more (an
//! address already at its own cap is refused). A flood from one address therefore holds at
//! most `pre_session.per_address` connections, and a client from another address always finds
//! room.
//!
//! Owns: the limits' values and defaults, the counters and the pool's arrival order, each
//! session's throttles, the replay budget of a duty cycle. May not touch: sockets or sessions
//! (the duty cycle applies the verdicts).

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Duration;

use crate::engine::cod::{CancelOnDisconnect, Cod, Notices};
use crate::session::limits::{
    Admission, ConnectionCounter, ConnectionLimits, ConnectionRefused, ExcessAction,
    InboundThrottle, RateLimit, Throttled, TokenBucket,
};
use crate::session::{ConnectionId, Event, SessionState};

/// An inbound message-rate limit and what to do with messages over it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InboundLimit {
    /// The rate (a token per application message).
    pub rate: RateLimit,
    /// `Reject { reason }`: the message is consumed (its number is not asked for again) but
    /// not handed to the strategy, which gets [`crate::engine::EngineEvent::InboundThrottled`]
    /// with the number and the reason instead (a business reject is the application's to
    /// send). `Disconnect`: the binding ends with Close 1008
    /// ([`crate::session::TerminateReason::RateLimited`]).
    pub action: ExcessAction,
}

/// The engine's abuse limits. Every table is allocated when the engine starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EngineLimits {
    /// Connections of each listener, established and pre-session alike, per remote address and
    /// in all; more are refused at accept (the socket is closed before any TLS state exists).
    pub per_listener: ConnectionLimits,
    /// Pre-session connections (not yet established), per remote address and in all, over
    /// every listener.
    pub pre_session: ConnectionLimits,
    /// Connections each listener accepts per duty cycle; the rest wait in the kernel's
    /// backlog for the next cycle, so an accept flood cannot take a whole cycle.
    pub accepts_per_cycle: usize,
    /// A server connection whose transport handshake is done must bring a session (an
    /// accepted Negotiate, or Establish of a known session) within this.
    pub negotiate_timeout: Duration,
    /// A negotiated session must be established within this of its Negotiate (the
    /// Negotiate-to-Establish timeout); a session never established is then forgotten.
    pub establish_timeout: Duration,
    /// Inbound application messages per session (`None`: not limited).
    pub inbound: Option<InboundLimit>,
    /// Application messages each session may send (the local outbound throttle, so our own
    /// strategy keeps within a venue's limit; `None`: not limited). A send over it is refused
    /// with the time the next one is allowed.
    pub outbound: Option<RateLimit>,
    /// Replayed messages (answers to RetransmitRequests) one session queues per duty cycle.
    pub replay_per_session: u32,
    /// Replayed messages all sessions together queue per duty cycle.
    pub replay_per_cycle: u32,
}

impl Default for EngineLimits {
    fn default() -> Self {
        EngineLimits {
            per_listener: ConnectionLimits {
                per_address: 64,
                total: 1024,
                ipv6_prefix_len: 64,
            },
            pre_session: ConnectionLimits {
                per_address: 8,
                total: 64,
                ipv6_prefix_len: 64,
            },
            accepts_per_cycle: 64,
            negotiate_timeout: Duration::from_secs(5),
            establish_timeout: Duration::from_secs(5),
            inbound: None,
            outbound: None,
            replay_per_session: 256,
            replay_per_cycle: 1024,
        }
    }
}

/// What to do with a connection a listener just accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AcceptVerdict {
    /// Start its handshake.
    Admit,
    /// Drop this older pre-session connection first (its slot and id), then start it.
    Evict(usize, ConnectionId),
    /// Close the socket now.
    Refuse,
}

/// The connection counters: one per listener, and the pre-session pool.
pub(crate) struct ConnGuard {
    listeners: Vec<ConnectionCounter>,
    pool: ConnectionCounter,
    /// Pool members in arrival order (lazily cleaned: entries of connections that left the
    /// pool are skipped and compacted away when the queue is full).
    order: VecDeque<(usize, ConnectionId, IpAddr)>,
}

impl ConnGuard {
    /// Counters for `listeners` listeners under `limits`.
    pub(crate) fn new(limits: &EngineLimits, listeners: usize) -> Self {
        let pool_total = limits.pre_session.total.max(1) as usize;
        ConnGuard {
            listeners: (0..listeners)
                .map(|_| ConnectionCounter::new(limits.per_listener))
                .collect(),
            pool: ConnectionCounter::new(limits.pre_session),
            order: VecDeque::with_capacity(2 * pool_total),
        }
    }

    /// Decides on a connection from `ip` to listener `listener`. `in_pool(slot, id)` says
    /// whether a queued pool member is still pre-session. Nothing is counted yet.
    pub(crate) fn admit(
        &mut self,
        listener: usize,
        ip: IpAddr,
        in_pool: impl Fn(usize, ConnectionId) -> bool,
    ) -> AcceptVerdict {
        let Some(counter) = self.listeners.get_mut(listener) else {
            return AcceptVerdict::Refuse;
        };
        // Probe the listener's caps without counting.
        if counter.try_open(ip).is_err() {
            return AcceptVerdict::Refuse;
        }
        counter.close(ip);
        let mine = self.pool.open_from(ip);
        match self.pool.try_open(ip) {
            Ok(()) => {
                self.pool.close(ip);
                return AcceptVerdict::Admit;
            }
            Err(ConnectionRefused::PerAddress) => return AcceptVerdict::Refuse,
            Err(ConnectionRefused::Total) => {}
        }
        // The pool is full: the oldest member of an address holding more than this one gives
        // way.
        let victim = self.order.iter().find(|&&(slot, id, addr)| {
            in_pool(slot, id) && self.pool.open_from(addr) > mine.saturating_add(1)
        });
        match victim {
            Some(&(slot, id, _)) => AcceptVerdict::Evict(slot, id),
            None => AcceptVerdict::Refuse,
        }
    }

    /// Counts an admitted connection: on its listener and in the pool.
    pub(crate) fn opened(
        &mut self,
        listener: usize,
        ip: IpAddr,
        slot: usize,
        id: ConnectionId,
        in_pool: impl Fn(usize, ConnectionId) -> bool,
    ) {
        if let Some(counter) = self.listeners.get_mut(listener) {
            let _ = counter.try_open(ip);
        }
        let _ = self.pool.try_open(ip);
        if self.order.len() == self.order.capacity() {
            self.order.retain(|&(s, i, _)| in_pool(s, i));
        }
        if self.order.len() < self.order.capacity() {
            self.order.push_back((slot, id, ip));
        }
    }

    /// A connection from `ip` left the pool (established, or gone).
    pub(crate) fn left_pool(&mut self, ip: IpAddr) {
        self.pool.close(ip);
    }

    /// A connection of listener `listener` from `ip` is gone.
    pub(crate) fn closed(&mut self, listener: usize, ip: IpAddr) {
        if let Some(counter) = self.listeners.get_mut(listener) {
            counter.close(ip);
        }
    }

    /// Pre-session connections now.
    pub(crate) fn pool_len(&self) -> u32 {
        self.pool.total()
    }
}

/// Replay work of one duty cycle: per session and in all.
pub(crate) struct ReplayBudget {
    per_session: u32,
    per_cycle: u32,
    left: u32,
    cycle: u64,
    /// Per session entry: (cycle, replayed in it).
    spent: Vec<(u64, u32)>,
}

impl ReplayBudget {
    pub(crate) fn new(limits: &EngineLimits, entries: usize) -> Self {
        ReplayBudget {
            per_session: limits.replay_per_session.max(1),
            per_cycle: limits.replay_per_cycle.max(1),
            left: limits.replay_per_cycle.max(1),
            cycle: 0,
            spent: vec![(0, 0); entries],
        }
    }

    /// A new duty cycle: the budgets are full again.
    pub(crate) fn next_cycle(&mut self) {
        self.cycle += 1;
        self.left = self.per_cycle;
    }

    /// Replayed messages session entry `index` may still queue this cycle.
    pub(crate) fn grant(&self, index: usize) -> u32 {
        let used = match self.spent.get(index) {
            Some(&(cycle, n)) if cycle == self.cycle => n,
            _ => 0,
        };
        self.per_session.saturating_sub(used).min(self.left)
    }

    /// Session entry `index` queued `n` replayed messages.
    pub(crate) fn spend(&mut self, index: usize, n: u32) {
        if n == 0 {
            return;
        }
        self.left = self.left.saturating_sub(n);
        if let Some(entry) = self.spent.get_mut(index) {
            if entry.0 != self.cycle {
                *entry = (self.cycle, 0);
            }
            entry.1 = entry.1.saturating_add(n);
        }
    }
}

/// What the engine keeps per session for the limits and cancel-on-disconnect.
#[derive(Clone, Copy, Debug)]
pub(crate) struct SessionGuard {
    pub(crate) inbound: Option<InboundThrottle>,
    pub(crate) outbound: Option<TokenBucket>,
    /// A thread-mode send waits for the outbound limit until then.
    pub(crate) throttled_until: Option<u64>,
    pub(crate) cod: Cod,
    pub(crate) notices: Notices,
    /// Engine events that did not fit the ring (counted, never silent).
    pub(crate) notices_lost: u64,
    /// The session has been established at least once.
    pub(crate) established_once: bool,
}

impl SessionGuard {
    /// A guard with `limits`' throttles and the cancel-on-disconnect `policy`.
    pub(crate) fn new(limits: &EngineLimits, policy: Option<CancelOnDisconnect>) -> Self {
        SessionGuard {
            inbound: limits
                .inbound
                .map(|l| InboundThrottle::new(l.rate, l.action)),
            outbound: limits.outbound.map(TokenBucket::new),
            throttled_until: None,
            cod: Cod::new(policy),
            notices: Notices::default(),
            notices_lost: 0,
            established_once: false,
        }
    }

    /// Checks the outbound limit at `now` without taking a token: the bucket to commit once
    /// the send succeeded, or when the next send is allowed.
    pub(crate) fn outbound_probe(&self, now: u64) -> Result<Option<TokenBucket>, Throttled> {
        match self.outbound {
            None => Ok(None),
            Some(mut bucket) => bucket.try_take(now).map(|()| Some(bucket)),
        }
    }

    /// The verdict on an inbound application message read at `at`.
    pub(crate) fn admit_inbound(&mut self, at: u64) -> Admission {
        match self.inbound.as_mut() {
            None => Admission::Admit,
            Some(throttle) => throttle.admit(at),
        }
    }

    /// What the engine does on a session event: cancel-on-disconnect follows the binding.
    pub(crate) fn observe(&mut self, event: &Event<'_>, now: u64) {
        match event {
            Event::Terminated(reason) => self.cod.on_terminated(*reason, now),
            Event::StateChanged(SessionState::Established) => {
                self.established_once = true;
                if let Some(report) = self.cod.on_established() {
                    self.notify(report);
                }
            }
            Event::Finalized => {
                if let Some(cancel) = self.cod.on_finalized(now) {
                    self.notify(cancel);
                }
            }
            _ => {}
        }
    }

    /// Queues an engine event for the consumer (counted if the ring is full).
    pub(crate) fn notify(&mut self, event: crate::engine::cod::EngineEvent) {
        if !self.notices.push(event) {
            self.notices_lost += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn limits(per_address: u32, total: u32) -> EngineLimits {
        EngineLimits {
            pre_session: ConnectionLimits {
                per_address,
                total,
                ipv6_prefix_len: 64,
            },
            ..EngineLimits::default()
        }
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
    }

    #[test]
    fn an_address_at_its_cap_is_refused_and_others_still_admitted() {
        let mut guard = ConnGuard::new(&limits(2, 8), 1);
        let all = |_: usize, _: ConnectionId| true;
        for n in 0..2 {
            assert_eq!(guard.admit(0, ip(2), all), AcceptVerdict::Admit);
            guard.opened(0, ip(2), n, ConnectionId(n as u64), all);
        }
        assert_eq!(guard.admit(0, ip(2), all), AcceptVerdict::Refuse);
        assert_eq!(guard.admit(0, ip(1), all), AcceptVerdict::Admit);
        assert_eq!(guard.pool_len(), 2);
    }

    #[test]
    fn a_full_pool_evicts_the_oldest_of_the_busiest_address_for_a_newcomer() {
        let mut guard = ConnGuard::new(&limits(4, 4), 1);
        let all = |_: usize, _: ConnectionId| true;
        for n in 0..4 {
            assert_eq!(guard.admit(0, ip(2), all), AcceptVerdict::Admit);
            guard.opened(0, ip(2), n, ConnectionId(10 + n as u64), all);
        }
        // Full: a newcomer from another address takes the oldest place of 127.0.0.2.
        assert_eq!(
            guard.admit(0, ip(1), all),
            AcceptVerdict::Evict(0, ConnectionId(10))
        );
        // One that left the pool is not chosen.
        let not_first = |slot: usize, _: ConnectionId| slot != 0;
        assert_eq!(
            guard.admit(0, ip(1), not_first),
            AcceptVerdict::Evict(1, ConnectionId(11))
        );
        // 127.0.0.2 itself finds no one holding more than it does.
        assert_eq!(guard.admit(0, ip(2), all), AcceptVerdict::Refuse);
    }

    #[test]
    fn the_listener_cap_refuses_and_closing_makes_room() {
        let mut l = limits(100, 100);
        l.per_listener.per_address = 1;
        let mut guard = ConnGuard::new(&l, 2);
        let all = |_: usize, _: ConnectionId| true;
        assert_eq!(guard.admit(0, ip(1), all), AcceptVerdict::Admit);
        guard.opened(0, ip(1), 0, ConnectionId(1), all);
        assert_eq!(guard.admit(0, ip(1), all), AcceptVerdict::Refuse);
        assert_eq!(
            guard.admit(1, ip(1), all),
            AcceptVerdict::Admit,
            "per listener"
        );
        guard.left_pool(ip(1));
        guard.closed(0, ip(1));
        assert_eq!(guard.admit(0, ip(1), all), AcceptVerdict::Admit);
        assert_eq!(guard.pool_len(), 0);
    }

    #[test]
    fn the_replay_budget_caps_each_session_and_the_cycle() {
        let l = EngineLimits {
            replay_per_session: 10,
            replay_per_cycle: 15,
            ..EngineLimits::default()
        };
        let mut budget = ReplayBudget::new(&l, 3);
        budget.next_cycle();
        assert_eq!(budget.grant(0), 10);
        budget.spend(0, 10);
        assert_eq!(budget.grant(0), 0);
        assert_eq!(budget.grant(1), 5, "what is left of the cycle");
        budget.spend(1, 5);
        assert_eq!(budget.grant(2), 0);
        budget.next_cycle();
        assert_eq!(budget.grant(0), 10);
        assert_eq!(budget.grant(2), 10);
    }
}
