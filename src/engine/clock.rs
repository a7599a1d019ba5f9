//! The engine's clock: epoch nanoseconds derived from a monotonic `Instant`, read once per duty
//! cycle for every timer (and, with timings on, once per message and stage).
//!
//! Owns: time reads and duration conversion. May not touch: anything else.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Epoch nanoseconds that never go backwards.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    base: Instant,
    base_epoch_ns: u64,
}

impl Clock {
    pub(crate) fn new() -> Self {
        let epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX / 2))
            .unwrap_or(0);
        Clock {
            base: Instant::now(),
            base_epoch_ns: epoch,
        }
    }

    /// Now, in epoch nanoseconds.
    pub(crate) fn now(&self) -> u64 {
        let elapsed = u64::try_from(self.base.elapsed().as_nanos()).unwrap_or(u64::MAX / 4);
        self.base_epoch_ns.saturating_add(elapsed)
    }
}

/// A duration in nanoseconds (saturating far below `u64::MAX`, so deadlines can be added).
pub(crate) fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_epoch_based_and_never_goes_back() {
        let clock = Clock::new();
        let a = clock.now();
        let b = clock.now();
        assert!(b >= a);
        assert!(a > 1_600_000_000_000_000_000, "epoch nanoseconds");
    }

    #[test]
    fn durations_convert_and_saturate() {
        assert_eq!(ns(Duration::from_micros(3)), 3_000);
        assert_eq!(ns(Duration::MAX), u64::MAX / 4);
    }
}
