//! Cancel-on-disconnect and the engine's own events.
//!
//! [`CancelOnDisconnect`] is a per-session window (as B3's `codTimeoutWindow`): a session whose
//! transport is lost and that is not re-established within the window makes the engine tell
//! the strategy [`EngineEvent::CancelOnDisconnect`], so an exchange cancels that session's
//! resting orders; when the session is established again afterwards the strategy is told
//! [`EngineEvent::ReestablishedAfterCancel`], so it can report what it canceled. A graceful end
//! (the peer or we unbind with a normal close, or the session finalizes) does not trigger it
//! unless the policy says so.
//!
//! [`EngineEvent`] is what the engine itself (not the FIXP session) tells a strategy: inline
//! through [`crate::engine::Strategy::on_engine_event`], in thread mode as
//! [`crate::engine::FromEngine::Engine`].
//!
//! Owns: the policy, the per-session state machine and the small fixed ring of events waiting
//! for delivery. May not touch: sessions, connections or timers (the duty cycle reads
//! [`Cod::deadline`] and calls [`Cod::fire`]).

use std::time::Duration;

use crate::engine::clock::ns;
use crate::session::TerminateReason;

/// A session's cancel-on-disconnect policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CancelOnDisconnect {
    /// How long a session may stay without a transport before it triggers (0: at once).
    pub window: Duration,
    /// Also trigger when the binding ended normally without finalizing (Close 1000 from either
    /// side, a peer Terminate `Finished` before finalization, our own unbind or shutdown).
    pub on_unbind: bool,
    /// Also trigger (at once) when the session finalizes.
    pub on_finalize: bool,
}

impl CancelOnDisconnect {
    /// Triggers on transport loss only, after `window`.
    pub fn after(window: Duration) -> Self {
        CancelOnDisconnect {
            window,
            on_unbind: false,
            on_finalize: false,
        }
    }
}

/// What the engine itself tells a strategy about one of its sessions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EngineEvent {
    /// Cancel-on-disconnect fired: the session lost its transport at `disconnected_at` (engine
    /// clock, epoch ns) and was not re-established within its window (or it finalized, with
    /// `on_finalize`). An exchange cancels the session's resting orders now.
    CancelOnDisconnect {
        /// When the binding ended.
        disconnected_at: u64,
        /// When the window ran out (the engine clock of the firing cycle).
        fired_at: u64,
    },
    /// The session is established again after cancel-on-disconnect fired at `canceled_at`:
    /// report what was canceled (the session can send again from now on).
    ReestablishedAfterCancel {
        /// When the cancel-on-disconnect fired.
        canceled_at: u64,
    },
    /// An inbound application message over the session's inbound limit was not handed over
    /// (the limit's action is `Reject`): its sequence number (consumed; it is not asked for
    /// again) and the limit's reason, for a business reject the application may send.
    InboundThrottled {
        /// The message's sequence number (0 on an Unsequenced flow).
        seq: u64,
        /// The reason text of the limit.
        reason: &'static str,
    },
}

/// How a binding ended, for the policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Ending {
    /// Lost, timed out, refused, broken: a disconnect.
    Lost,
    /// Ended normally without finalizing.
    Unbind,
    /// Both flows finished.
    Finished,
}

fn ending(reason: TerminateReason) -> Ending {
    use crate::codec::fixp::TerminationCode;
    match reason {
        TerminateReason::Finished => Ending::Finished,
        TerminateReason::Unbind
        | TerminateReason::PeerClosed(1000)
        | TerminateReason::PeerTerminated(TerminationCode::Finished) => Ending::Unbind,
        _ => Ending::Lost,
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CodState {
    /// Bound (or never bound), nothing pending.
    Idle,
    /// Unbound since `lost_at`; fires at `deadline` unless re-established.
    Armed { lost_at: u64, deadline: u64 },
    /// Fired at `at`; reported on re-establishment.
    Fired { at: u64 },
}

/// One session's cancel-on-disconnect state.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cod {
    policy: Option<CancelOnDisconnect>,
    state: CodState,
}

impl Cod {
    pub(crate) fn new(policy: Option<CancelOnDisconnect>) -> Self {
        Cod {
            policy,
            state: CodState::Idle,
        }
    }

    /// Changes the policy (`None`: off; a pending window is dropped).
    pub(crate) fn set_policy(&mut self, policy: Option<CancelOnDisconnect>) {
        self.policy = policy;
        if policy.is_none() && matches!(self.state, CodState::Armed { .. }) {
            self.state = CodState::Idle;
        }
    }

    /// When the window runs out, if one is running.
    pub(crate) fn deadline(&self) -> Option<u64> {
        match self.state {
            CodState::Armed { deadline, .. } => Some(deadline),
            _ => None,
        }
    }

    /// The binding ended for `reason` at `now`: arms the window if the policy says so.
    pub(crate) fn on_terminated(&mut self, reason: TerminateReason, now: u64) {
        let Some(policy) = self.policy else {
            return;
        };
        let triggers = match ending(reason) {
            Ending::Lost => true,
            Ending::Unbind => policy.on_unbind,
            Ending::Finished => false,
        };
        if triggers && self.state == CodState::Idle {
            self.state = CodState::Armed {
                lost_at: now,
                deadline: now.saturating_add(ns(policy.window)),
            };
        }
    }

    /// The session finalized at `now`: fires at once with `on_finalize`, else forgets a
    /// running window (a finalized session is never re-established).
    pub(crate) fn on_finalized(&mut self, now: u64) -> Option<EngineEvent> {
        let policy = self.policy?;
        let lost_at = match self.state {
            CodState::Fired { .. } => return None,
            CodState::Armed { lost_at, .. } => lost_at,
            CodState::Idle => now,
        };
        if policy.on_finalize || matches!(self.state, CodState::Armed { .. }) {
            // A window that was running when the session finalized fires now: the session
            // will never come back to see its orders.
            self.state = CodState::Fired { at: now };
            return Some(EngineEvent::CancelOnDisconnect {
                disconnected_at: lost_at,
                fired_at: now,
            });
        }
        None
    }

    /// The session is established (again): a running window stops; a fired one is reported.
    pub(crate) fn on_established(&mut self) -> Option<EngineEvent> {
        let state = std::mem::replace(&mut self.state, CodState::Idle);
        match state {
            CodState::Fired { at } => {
                Some(EngineEvent::ReestablishedAfterCancel { canceled_at: at })
            }
            _ => None,
        }
    }

    /// The timer is due at `now`: fires if the window ran out.
    pub(crate) fn fire(&mut self, now: u64) -> Option<EngineEvent> {
        match self.state {
            CodState::Armed { lost_at, deadline } if deadline <= now => {
                self.state = CodState::Fired { at: now };
                Some(EngineEvent::CancelOnDisconnect {
                    disconnected_at: lost_at,
                    fired_at: now,
                })
            }
            _ => None,
        }
    }
}

/// Engine events waiting for their consumer: a fixed ring, never grown.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Notices {
    ring: [Option<EngineEvent>; NOTICES],
    head: usize,
    len: usize,
}

/// Engine events a session can hold undelivered (a cancel and its report per disconnect; a
/// thread-mode strategy that stops polling fills its session's own event ring long before).
const NOTICES: usize = 8;

impl Default for Notices {
    fn default() -> Self {
        Notices {
            ring: [None; NOTICES],
            head: 0,
            len: 0,
        }
    }
}

impl Notices {
    /// Queues an event; false (and nothing queued) when the ring is full.
    pub(crate) fn push(&mut self, event: EngineEvent) -> bool {
        if self.len == NOTICES {
            return false;
        }
        if let Some(slot) = self.ring.get_mut((self.head + self.len) % NOTICES) {
            *slot = Some(event);
        }
        self.len += 1;
        true
    }

    /// The oldest event, left in place.
    pub(crate) fn front(&self) -> Option<EngineEvent> {
        if self.len == 0 {
            return None;
        }
        self.ring.get(self.head).copied().flatten()
    }

    /// Removes the oldest event.
    pub(crate) fn pop(&mut self) -> Option<EngineEvent> {
        let event = self.front()?;
        if let Some(slot) = self.ring.get_mut(self.head) {
            *slot = None;
        }
        self.head = (self.head + 1) % NOTICES;
        self.len -= 1;
        Some(event)
    }

    /// True when nothing waits.
    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: u64 = 1_000_000_000;

    #[test]
    fn a_lost_transport_fires_after_the_window_and_is_reported_on_reestablishment() {
        let mut cod = Cod::new(Some(CancelOnDisconnect::after(Duration::from_secs(2))));
        cod.on_terminated(TerminateReason::TransportLost, T);
        assert_eq!(cod.deadline(), Some(3 * T));
        assert_eq!(cod.fire(2 * T), None, "not yet");
        assert_eq!(
            cod.fire(3 * T),
            Some(EngineEvent::CancelOnDisconnect {
                disconnected_at: T,
                fired_at: 3 * T
            })
        );
        assert_eq!(cod.deadline(), None);
        assert_eq!(
            cod.on_established(),
            Some(EngineEvent::ReestablishedAfterCancel { canceled_at: 3 * T })
        );
        assert_eq!(cod.on_established(), None, "reported once");
    }

    #[test]
    fn reestablishing_within_the_window_fires_nothing() {
        let mut cod = Cod::new(Some(CancelOnDisconnect::after(Duration::from_secs(2))));
        cod.on_terminated(TerminateReason::PeerClosed(1006), T);
        assert_eq!(cod.on_established(), None);
        assert_eq!(cod.fire(10 * T), None);
    }

    #[test]
    fn a_normal_unbind_or_finalize_triggers_only_when_configured() {
        let mut cod = Cod::new(Some(CancelOnDisconnect::after(Duration::ZERO)));
        cod.on_terminated(TerminateReason::PeerClosed(1000), T);
        cod.on_terminated(TerminateReason::Unbind, T);
        assert_eq!(cod.deadline(), None);
        assert_eq!(cod.on_finalized(T), None);
        let mut cod = Cod::new(Some(CancelOnDisconnect {
            window: Duration::ZERO,
            on_unbind: true,
            on_finalize: true,
        }));
        cod.on_terminated(TerminateReason::Unbind, T);
        assert_eq!(cod.deadline(), Some(T));
        let mut fin = Cod::new(cod.policy);
        assert!(matches!(
            fin.on_finalized(2 * T),
            Some(EngineEvent::CancelOnDisconnect { .. })
        ));
        assert_eq!(fin.on_finalized(3 * T), None, "once");
    }

    #[test]
    fn without_a_policy_nothing_happens() {
        let mut cod = Cod::new(None);
        cod.on_terminated(TerminateReason::TransportLost, T);
        assert_eq!(cod.deadline(), None);
        assert_eq!(cod.fire(u64::MAX), None);
    }

    #[test]
    fn notices_keep_order_and_refuse_beyond_their_ring() {
        let mut notices = Notices::default();
        for seq in 0..NOTICES as u64 {
            assert!(notices.push(EngineEvent::InboundThrottled { seq, reason: "r" }));
        }
        assert!(!notices.push(EngineEvent::InboundThrottled {
            seq: 99,
            reason: "r"
        }));
        for seq in 0..NOTICES as u64 {
            assert_eq!(
                notices.pop(),
                Some(EngineEvent::InboundThrottled { seq, reason: "r" })
            );
        }
        assert!(notices.is_empty());
        assert_eq!(notices.pop(), None);
    }
}
