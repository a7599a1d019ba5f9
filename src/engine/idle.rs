//! Idle strategies, Agrona style: the loop's duty cycle returns a work count, and the strategy
//! decides what to do when it was zero.
//!
//! A strategy also picks the mio poll timeout: busy strategies poll with a zero timeout and do
//! their waiting in [`IdleStrategy::idle`]; the blocking strategy lets `poll` sleep instead.
//!
//! Owns: what the loop does between cycles. May not touch: the cycle's work.

use std::hint;
use std::thread;
use std::time::Duration;

/// What the engine loop does between duty cycles.
pub trait IdleStrategy {
    /// Called after every duty cycle with the amount of work it did. Work resets any backoff.
    fn idle(&mut self, work_count: usize);
    /// Forgets any backoff state.
    fn reset(&mut self);
    /// The timeout to pass to `mio::Poll::poll` (`Some(Duration::ZERO)`: never block).
    fn poll_timeout(&self) -> Option<Duration>;
}

/// Spins: the lowest latency, one core at 100%. Production setting for a pinned engine.
#[derive(Clone, Copy, Debug, Default)]
pub struct BusySpin;

impl IdleStrategy for BusySpin {
    fn idle(&mut self, _work_count: usize) {
        hint::spin_loop();
    }

    fn reset(&mut self) {}

    fn poll_timeout(&self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

/// Lets `poll` block for up to `timeout` (`None`: until an event). Costs a wake-up (about
/// 25–30 µs in a VM) per event; used by tests and low-priority peers.
#[derive(Clone, Copy, Debug)]
pub struct BlockWithTimeout {
    /// The poll timeout; the engine should cap it at its next timer deadline.
    pub timeout: Option<Duration>,
}

impl IdleStrategy for BlockWithTimeout {
    fn idle(&mut self, _work_count: usize) {}

    fn reset(&mut self) {}

    fn poll_timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

/// Where a [`Backoff`] strategy is in its escalation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BackoffPhase {
    /// Work was done last cycle (or the strategy was reset).
    NotIdle,
    /// Spinning with the CPU's pause hint.
    Spinning,
    /// Yielding the CPU to other threads.
    Yielding,
    /// Sleeping, for growing periods.
    Parking,
}

/// Spin, then yield, then park with an exponentially growing period (Agrona's
/// `BackoffIdleStrategy`).
#[derive(Clone, Debug)]
pub struct Backoff {
    max_spins: u32,
    max_yields: u32,
    min_park: Duration,
    max_park: Duration,
    phase: BackoffPhase,
    spins: u32,
    yields: u32,
    park: Duration,
}

impl Backoff {
    /// A backoff strategy. `min_park` is clamped to at most `max_park`.
    pub fn new(max_spins: u32, max_yields: u32, min_park: Duration, max_park: Duration) -> Self {
        let min_park = min_park.min(max_park);
        Self {
            max_spins,
            max_yields,
            min_park,
            max_park,
            phase: BackoffPhase::NotIdle,
            spins: 0,
            yields: 0,
            park: min_park,
        }
    }

    /// The current phase.
    pub fn phase(&self) -> BackoffPhase {
        self.phase
    }

    /// The period the next park will sleep.
    pub fn next_park(&self) -> Duration {
        self.park
    }
}

impl Default for Backoff {
    /// 100 spins, 10 yields, then parks from 1 µs up to 1 ms.
    fn default() -> Self {
        Self::new(100, 10, Duration::from_micros(1), Duration::from_millis(1))
    }
}

impl IdleStrategy for Backoff {
    fn idle(&mut self, work_count: usize) {
        if work_count > 0 {
            self.reset();
            return;
        }
        match self.phase {
            BackoffPhase::NotIdle => {
                self.phase = BackoffPhase::Spinning;
                self.idle(0);
            }
            BackoffPhase::Spinning => {
                if self.spins < self.max_spins {
                    self.spins += 1;
                    hint::spin_loop();
                } else {
                    self.phase = BackoffPhase::Yielding;
                    self.idle(0);
                }
            }
            BackoffPhase::Yielding => {
                if self.yields < self.max_yields {
                    self.yields += 1;
                    thread::yield_now();
                } else {
                    self.phase = BackoffPhase::Parking;
                    self.idle(0);
                }
            }
            BackoffPhase::Parking => {
                thread::park_timeout(self.park);
                self.park = (self.park * 2).min(self.max_park);
            }
        }
    }

    fn reset(&mut self) {
        self.phase = BackoffPhase::NotIdle;
        self.spins = 0;
        self.yields = 0;
        self.park = self.min_park;
    }

    fn poll_timeout(&self) -> Option<Duration> {
        Some(Duration::ZERO)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_escalates_spin_yield_park_and_work_resets_it() {
        let mut s = Backoff::new(3, 2, Duration::from_nanos(100), Duration::from_nanos(350));
        assert_eq!(s.phase(), BackoffPhase::NotIdle);
        let mut phases = Vec::new();
        for _ in 0..9 {
            s.idle(0);
            phases.push(s.phase());
        }
        use BackoffPhase::*;
        assert_eq!(
            phases,
            [
                Spinning, Spinning, Spinning, Yielding, Yielding, Parking, Parking, Parking,
                Parking
            ]
        );
        // Park periods double and stop at the maximum: 100, 200, 350, 350 ns were used.
        assert_eq!(s.next_park(), Duration::from_nanos(350));
        s.idle(1);
        assert_eq!(s.phase(), NotIdle);
        assert_eq!(s.next_park(), Duration::from_nanos(100));
        s.idle(0);
        assert_eq!(s.phase(), Spinning);
    }

    #[test]
    fn poll_timeouts_match_the_strategy() {
        assert_eq!(BusySpin.poll_timeout(), Some(Duration::ZERO));
        assert_eq!(Backoff::default().poll_timeout(), Some(Duration::ZERO));
        let blocking = BlockWithTimeout {
            timeout: Some(Duration::from_millis(5)),
        };
        assert_eq!(blocking.poll_timeout(), Some(Duration::from_millis(5)));
        let forever = BlockWithTimeout { timeout: None };
        assert_eq!(forever.poll_timeout(), None);
    }

    #[test]
    fn clamps_min_park_to_max_park() {
        let s = Backoff::new(0, 0, Duration::from_millis(5), Duration::from_millis(1));
        assert_eq!(s.next_park(), Duration::from_millis(1));
    }
}
