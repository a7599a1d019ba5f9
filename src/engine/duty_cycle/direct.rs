//! Direct reads: with [`IdleMode::BusyPoll`](crate::engine::IdleMode) and at most
//! [`EngineConfig::direct_reads`](crate::engine::EngineConfig) connections, every duty cycle
//! reads each open connection itself and asks epoll for readiness only every
//! [`POLL_EVERY`] cycles.
//!
//! Why: a busy loop around `epoll_wait(0)` puts that syscall between a message's arrival and
//! the read that takes it, once per hop (the engine-wss round trip on the 2-vCPU machine of
//! `perf/RESULTS.md` paid about 2 µs for its two hops). A read attempt on each socket is the
//! first syscall after the message arrived, and a short read ends the pass without a second
//! one. Each idle cycle costs one read per connection, so past a few connections one
//! `epoll_wait` is cheaper: the mode holds only while the engine has at most `direct_reads`
//! connections (of any phase). Listeners, handshakes and closing connections still come from
//! epoll, at most [`POLL_EVERY`] cycles late; the readiness events of listed connections are
//! skipped (their reads are the direct pass, a pending flush is retried from the backlog every
//! cycle).
//!
//! Owns: the list of directly read connection slots. May not touch: the connections'
//! reads and writes (the duty cycle's).

use super::Engine;
use crate::engine::conns::{Conn, Phase};
use crate::engine::strategy::Strategy;
use crate::transport::ReadPass;

/// In direct mode, epoll is asked every this many cycles.
pub(crate) const POLL_EVERY: u64 = 32;

/// The open connections read directly, at most the configured limit.
#[derive(Debug)]
pub(crate) struct DirectReads {
    limit: usize,
    slots: Vec<usize>,
    /// An open connection found the list full: rebuild it before the mode is used again.
    incomplete: bool,
}

impl DirectReads {
    /// Room for `limit` connections (0: the mode is off).
    pub(crate) fn new(limit: usize) -> Self {
        DirectReads {
            limit,
            slots: Vec::with_capacity(limit),
            incomplete: false,
        }
    }

    /// True when a busy-polling engine with `live` connections reads them directly.
    pub(crate) fn applies(&self, live: usize) -> bool {
        self.limit > 0 && live <= self.limit
    }

    /// Lists an open connection (its slot once, whatever stale entry the slot left).
    pub(crate) fn list(&mut self, slot: usize, conn: &mut Conn) {
        if conn.direct {
            return;
        }
        if self.slots.contains(&slot) {
            conn.direct = true;
        } else if self.slots.len() < self.limit {
            self.slots.push(slot);
            conn.direct = true;
        } else {
            self.incomplete = true;
        }
    }
}

/// True while a listed connection is to be read directly.
pub(super) fn listed(conn: &Conn) -> bool {
    conn.direct && conn.phase == Phase::Open && !conn.dead
}

/// What a read changed, compared before and after: frames (data and control), phase, death and
/// a peer's Close. Equal: the read found nothing to act on.
fn mark(conn: &Conn) -> (u64, Phase, bool, bool) {
    (
        conn.link.frames_seen(),
        conn.phase,
        conn.dead,
        conn.link.close_report().peer_code.is_some(),
    )
}

impl<S: Strategy> Engine<S> {
    /// Reads every listed connection (their readiness events are skipped); what a read
    /// changed is settled at once, like a ready connection's. Returns the work done.
    pub(super) fn read_direct(&mut self, now: u64) -> usize {
        if self.direct.incomplete {
            self.rebuild_direct();
        }
        let mut work = 0;
        let mut i = 0;
        while let Some(&slot) = self.direct.slots.get(i) {
            let Some(conn) = self.conns.get_mut(slot).filter(|c| listed(c)) else {
                if let Some(conn) = self.conns.get_mut(slot) {
                    conn.direct = false;
                }
                self.direct.slots.swap_remove(i);
                continue;
            };
            i += 1;
            let before = mark(conn);
            // Every cycle is a new pass: an EOF after a short read is seen on the next one.
            let more = self.read_conn(slot, ReadPass::UntilShortRead, now);
            let changed = self.conns.get(slot).is_none_or(|c| mark(c) != before);
            if more || changed {
                work += 1;
                self.after_read(slot, more, now);
                work += self.settle_dirty(now);
            }
        }
        work
    }

    /// Lists every open connection again (after the list overflowed).
    fn rebuild_direct(&mut self) {
        self.direct.incomplete = false;
        self.direct.slots.clear();
        for slot in 0..self.conns.capacity() {
            if let Some(conn) = self.conns.get_mut(slot) {
                conn.direct = false;
                if conn.phase == Phase::Open && !conn.dead {
                    self.direct.list(slot, conn);
                }
            }
        }
    }
}
