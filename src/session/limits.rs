//! Abuse-limit primitives, sans-IO: a token bucket for message rates (inbound throttle per
//! session, local outbound throttle) and a per-remote-address connection counter.
//!
//! Owns: the arithmetic of rates and caps. May not touch: sockets, clock reads or the heap
//! after construction; time comes in as epoch (or any monotonic) nanoseconds, and the caller
//! (the engine) decides what a verdict means for its connections.
//!
//! The bucket is the generic cell rate algorithm in exact integer arithmetic: it keeps one
//! number, the time at which the bucket would be full again, scaled by the rate's token count
//! so that no rounding accumulates. In any window `[t, t + period_ns)` it grants at most
//! `burst + tokens`; [`RateLimit::within`] picks a bucket that never exceeds a venue's
//! "N messages per window" limit.

use std::net::IpAddr;
use std::num::{NonZeroU32, NonZeroU64};

use crate::session::fixed_map::FixedMap;

/// Nanoseconds per second.
const NS_PER_SEC: u64 = 1_000_000_000;

/// A rate limit is not usable as given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// A count, period or burst was zero.
    #[error("rate limits need a non-zero count, period and burst")]
    Zero,
}

/// `tokens` per `period_ns` on average, with up to `burst` at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RateLimit {
    tokens: NonZeroU32,
    period_ns: NonZeroU64,
    burst: NonZeroU32,
}

impl RateLimit {
    /// `tokens` per `period_ns`, `burst` at once.
    pub fn new(tokens: u32, period_ns: u64, burst: u32) -> Result<Self, LimitError> {
        Ok(RateLimit {
            tokens: NonZeroU32::new(tokens).ok_or(LimitError::Zero)?,
            period_ns: NonZeroU64::new(period_ns).ok_or(LimitError::Zero)?,
            burst: NonZeroU32::new(burst).ok_or(LimitError::Zero)?,
        })
    }

    /// `rate` per second, `burst` at once.
    pub fn per_second(rate: u32, burst: u32) -> Result<Self, LimitError> {
        Self::new(rate, NS_PER_SEC, burst)
    }

    /// A limit that never grants more than `max_messages` in any window
    /// `[t, t + window_ns)` (a venue's limit): half of them as burst, the rest spread over
    /// the window.
    pub fn within(max_messages: u32, window_ns: u64) -> Result<Self, LimitError> {
        if max_messages == 0 {
            return Err(LimitError::Zero);
        }
        let burst = max_messages.div_ceil(2);
        match max_messages - burst {
            // One message per window: a burst of one refilled once per window.
            0 => Self::new(1, window_ns, 1),
            refill => Self::new(refill, window_ns, burst),
        }
    }

    /// The burst.
    pub fn burst(&self) -> u32 {
        self.burst.get()
    }
}

/// A token bucket was empty.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttled {
    /// The earliest time the request would be granted (`u64::MAX`: never, it exceeds the
    /// burst).
    pub retry_at: u64,
}

/// A token bucket over caller-supplied time. Starts full.
#[derive(Clone, Copy, Debug)]
pub struct TokenBucket {
    limit: RateLimit,
    /// When the bucket is full again, in ns × `tokens`.
    full_at: u128,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit) -> Self {
        TokenBucket { limit, full_at: 0 }
    }

    /// The limit.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    fn scaled(&self, now: u64) -> u128 {
        u128::from(now) * u128::from(self.limit.tokens.get())
    }

    fn capacity(&self) -> u128 {
        u128::from(self.limit.burst.get()) * u128::from(self.limit.period_ns.get())
    }

    /// Takes one token, or says when one will be there.
    pub fn try_take(&mut self, now: u64) -> Result<(), Throttled> {
        self.try_take_n(now, 1)
    }

    /// Takes `n` tokens at once, or says when they will be there.
    pub fn try_take_n(&mut self, now: u64, n: u32) -> Result<(), Throttled> {
        if n > self.limit.burst.get() {
            return Err(Throttled { retry_at: u64::MAX });
        }
        let now_s = self.scaled(now);
        let cost = u128::from(n) * u128::from(self.limit.period_ns.get());
        let full_at = self.full_at.max(now_s) + cost;
        if full_at <= now_s + self.capacity() {
            self.full_at = full_at;
            return Ok(());
        }
        // Granted once `full_at - capacity <= t × tokens`.
        let due = full_at - self.capacity();
        let tokens = u128::from(self.limit.tokens.get());
        let retry_at = due.div_ceil(tokens);
        Err(Throttled {
            retry_at: u64::try_from(retry_at).unwrap_or(u64::MAX),
        })
    }

    /// Tokens that could be taken at `now`.
    pub fn available(&self, now: u64) -> u32 {
        let now_s = self.scaled(now);
        let in_use = self
            .full_at
            .saturating_sub(now_s)
            .div_ceil(u128::from(self.limit.period_ns.get()));
        let free = u128::from(self.limit.burst.get()).saturating_sub(in_use);
        u32::try_from(free).unwrap_or(u32::MAX)
    }

    /// The earliest time at or after `now` when one token can be taken (`now` if one is
    /// there): the outbound throttle's "next send allowed".
    pub fn next_allowed(&self, now: u64) -> u64 {
        let mut probe = *self;
        match probe.try_take(now) {
            Ok(()) => now,
            Err(throttled) => throttled.retry_at,
        }
    }
}

/// What to do with an inbound message over the rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExcessAction {
    /// Drop the message and tell the peer why (a business reject with this reason).
    Reject {
        /// The reason text.
        reason: &'static str,
    },
    /// Close the connection.
    Disconnect,
}

/// The verdict on one inbound message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// Within the rate: process it.
    Admit,
    /// Over the rate: drop it and reject it with this reason.
    Reject {
        /// The reason text.
        reason: &'static str,
    },
    /// Over the rate: close the connection.
    Disconnect,
}

/// The inbound message-rate throttle of one session.
#[derive(Clone, Copy, Debug)]
pub struct InboundThrottle {
    bucket: TokenBucket,
    action: ExcessAction,
    excess: u64,
}

impl InboundThrottle {
    /// A throttle at `limit` that answers excess with `action`.
    pub fn new(limit: RateLimit, action: ExcessAction) -> Self {
        InboundThrottle {
            bucket: TokenBucket::new(limit),
            action,
            excess: 0,
        }
    }

    /// The verdict on a message received at `now`.
    pub fn admit(&mut self, now: u64) -> Admission {
        if self.bucket.try_take(now).is_ok() {
            return Admission::Admit;
        }
        self.excess += 1;
        match self.action {
            ExcessAction::Reject { reason } => Admission::Reject { reason },
            ExcessAction::Disconnect => Admission::Disconnect,
        }
    }

    /// Messages over the rate so far.
    pub fn excess(&self) -> u64 {
        self.excess
    }
}

/// Caps on concurrent connections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// Connections from one address (see `ipv6_prefix_len`).
    pub per_address: u32,
    /// Connections in all.
    pub total: u32,
    /// IPv6 addresses are counted by this prefix (a /64 is what one customer gets);
    /// IPv4-mapped IPv6 addresses count as IPv4.
    pub ipv6_prefix_len: u8,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            per_address: 8,
            total: 256,
            ipv6_prefix_len: 64,
        }
    }
}

/// Why a connection was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConnectionRefused {
    /// The address already holds `per_address` connections.
    #[error("too many connections from this address")]
    PerAddress,
    /// `total` connections are open.
    #[error("too many connections")]
    Total,
}

/// The counting key of an address: IPv4, or an IPv6 prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum AddressKey {
    V4([u8; 4]),
    V6([u8; 16]),
}

/// Open connections per remote address, capped per address and in total. The table holds
/// one entry per address with an open connection, at most `total`: memory is fixed at
/// creation whatever the peers do.
#[derive(Clone, Debug)]
pub struct ConnectionCounter {
    limits: ConnectionLimits,
    open: FixedMap<AddressKey, u32>,
    total: u32,
}

impl ConnectionCounter {
    /// A counter for `limits`.
    pub fn new(limits: ConnectionLimits) -> Self {
        ConnectionCounter {
            open: FixedMap::with_capacity(limits.total.max(1) as usize),
            limits,
            total: 0,
        }
    }

    fn key(&self, addr: IpAddr) -> AddressKey {
        match addr {
            IpAddr::V4(v4) => AddressKey::V4(v4.octets()),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => AddressKey::V4(v4.octets()),
                None => {
                    let bits = u32::from(self.limits.ipv6_prefix_len.min(128));
                    let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                    AddressKey::V6((u128::from(v6) & mask).to_be_bytes())
                }
            },
        }
    }

    /// Counts a new connection from `addr`, or refuses it.
    pub fn try_open(&mut self, addr: IpAddr) -> Result<(), ConnectionRefused> {
        let key = self.key(addr);
        let count = self.open.get(&key).unwrap_or(0);
        if count >= self.limits.per_address {
            return Err(ConnectionRefused::PerAddress);
        }
        if self.total >= self.limits.total {
            return Err(ConnectionRefused::Total);
        }
        // One entry per address with an open connection, and fewer than `total` are open:
        // there is room.
        self.open
            .insert(key, count + 1)
            .map_err(|_| ConnectionRefused::Total)?;
        self.total += 1;
        Ok(())
    }

    /// A connection from `addr` counted by [`try_open`](Self::try_open) closed.
    pub fn close(&mut self, addr: IpAddr) {
        let key = self.key(addr);
        match self.open.get(&key) {
            Some(0) | None => {}
            Some(1) => {
                self.open.remove(&key);
                self.total -= 1;
            }
            Some(n) => {
                let _ = self.open.insert(key, n - 1);
                self.total -= 1;
            }
        }
    }

    /// Open connections from `addr` (its IPv6 prefix).
    pub fn open_from(&self, addr: IpAddr) -> u32 {
        self.open.get(&self.key(addr)).unwrap_or(0)
    }

    /// Open connections in all.
    pub fn total(&self) -> u32 {
        self.total
    }

    /// Addresses with an open connection.
    pub fn addresses(&self) -> usize {
        self.open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const MS: u64 = 1_000_000;
    const T0: u64 = 1_700_000_000_000_000_000;

    #[test]
    fn a_bucket_grants_its_burst_then_its_rate() {
        let mut bucket = TokenBucket::new(RateLimit::per_second(10, 3).unwrap());
        assert_eq!(bucket.available(T0), 3);
        for _ in 0..3 {
            assert_eq!(bucket.try_take(T0), Ok(()));
        }
        // Empty: one token per 100 ms.
        assert_eq!(
            bucket.try_take(T0),
            Err(Throttled {
                retry_at: T0 + 100 * MS
            })
        );
        assert_eq!(bucket.next_allowed(T0 + 50 * MS), T0 + 100 * MS);
        assert!(bucket.try_take(T0 + 100 * MS - 1).is_err());
        assert_eq!(bucket.try_take(T0 + 100 * MS), Ok(()));
        // A long pause refills only up to the burst.
        assert_eq!(bucket.available(T0 + 60_000 * MS), 3);
        assert_eq!(bucket.next_allowed(T0 + 60_000 * MS), T0 + 60_000 * MS);
        assert_eq!(bucket.try_take_n(T0 + 60_000 * MS, 3), Ok(()));
        assert_eq!(
            bucket.try_take_n(T0 + 60_000 * MS, 4),
            Err(Throttled { retry_at: u64::MAX })
        );
        // Two tokens come due after 200 ms.
        assert_eq!(
            bucket.try_take_n(T0 + 60_000 * MS, 2),
            Err(Throttled {
                retry_at: T0 + 60_200 * MS
            })
        );
    }

    #[test]
    fn rates_that_do_not_divide_a_second_do_not_drift() {
        // 3 per second: 333.33.. ms apart; after the burst and 3000 tokens taken each as
        // soon as allowed (rounded up to the nanosecond), exactly 1000 s have passed.
        let mut bucket = TokenBucket::new(RateLimit::per_second(3, 2).unwrap());
        let mut now = T0;
        assert_eq!(bucket.try_take_n(now, 2), Ok(()));
        for _ in 0..3000 {
            let Err(Throttled { retry_at }) = bucket.try_take(now) else {
                panic!("bucket should be empty");
            };
            now = retry_at;
            assert_eq!(bucket.try_take(now), Ok(()));
        }
        assert_eq!(now, T0 + 1_000_000 * MS);
    }

    /// Grants over every window `[t, t + window)` of a greedy sender, by brute force.
    fn max_in_any_window(limit: RateLimit, window: u64, horizon: u64, step: u64) -> usize {
        let mut bucket = TokenBucket::new(limit);
        let mut grants = Vec::new();
        let mut now = T0;
        while now < T0 + horizon {
            while bucket.try_take(now).is_ok() {
                grants.push(now);
            }
            now += step;
        }
        grants
            .iter()
            .map(|&start| {
                grants
                    .iter()
                    .filter(|&&t| t >= start && t < start + window)
                    .count()
            })
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn a_venue_limit_is_never_exceeded() {
        for (max, window) in [
            (1, 1000 * MS),
            (2, 1000 * MS),
            (7, 1000 * MS),
            (50, 10 * MS),
        ] {
            let limit = RateLimit::within(max, window).unwrap();
            let seen = max_in_any_window(limit, window, 5 * window, window / 100);
            assert!(seen <= max as usize, "{max} per window, saw {seen}");
            // And the limit is used, not wasted: a greedy sender reaches it.
            assert!(
                seen + 1 >= max as usize,
                "{max} per window, saw only {seen}"
            );
        }
        assert_eq!(RateLimit::within(0, 1), Err(LimitError::Zero));
        assert_eq!(RateLimit::per_second(0, 1), Err(LimitError::Zero));
        assert_eq!(RateLimit::per_second(1, 0), Err(LimitError::Zero));
        assert_eq!(RateLimit::new(1, 0, 1), Err(LimitError::Zero));
    }

    #[test]
    fn the_inbound_throttle_applies_its_action_to_excess() {
        let limit = RateLimit::per_second(1000, 2).unwrap();
        let mut reject = InboundThrottle::new(limit, ExcessAction::Reject { reason: "rate" });
        assert_eq!(reject.admit(T0), Admission::Admit);
        assert_eq!(reject.admit(T0), Admission::Admit);
        assert_eq!(reject.admit(T0), Admission::Reject { reason: "rate" });
        assert_eq!(reject.admit(T0 + MS), Admission::Admit);
        assert_eq!(reject.excess(), 1);
        let mut disconnect = InboundThrottle::new(limit, ExcessAction::Disconnect);
        assert_eq!(disconnect.admit(T0), Admission::Admit);
        assert_eq!(disconnect.admit(T0), Admission::Admit);
        assert_eq!(disconnect.admit(T0), Admission::Disconnect);
    }

    #[test]
    fn connections_are_capped_per_address_and_in_total() {
        let mut counter = ConnectionCounter::new(ConnectionLimits {
            per_address: 2,
            total: 5,
            ipv6_prefix_len: 64,
        });
        let a = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
        let b = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
        assert_eq!(counter.try_open(a), Ok(()));
        assert_eq!(counter.try_open(a), Ok(()));
        for _ in 0..10_000 {
            assert_eq!(counter.try_open(a), Err(ConnectionRefused::PerAddress));
        }
        assert_eq!(counter.open_from(a), 2);
        // Another address still gets in.
        assert_eq!(counter.try_open(b), Ok(()));
        // The same address as IPv4-mapped IPv6 counts as that address.
        let mapped = IpAddr::V6(Ipv4Addr::new(127, 0, 0, 2).to_ipv6_mapped());
        assert_eq!(counter.try_open(mapped), Err(ConnectionRefused::PerAddress));
        // IPv6 counts by /64.
        let v6 = |last: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, last));
        assert_eq!(counter.try_open(v6(1)), Ok(()));
        assert_eq!(counter.try_open(v6(2)), Ok(()));
        assert_eq!(counter.try_open(v6(3)), Err(ConnectionRefused::PerAddress));
        assert_eq!(counter.total(), 5);
        let c = IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(counter.try_open(c), Err(ConnectionRefused::Total));
        counter.close(a);
        assert_eq!(counter.try_open(c), Ok(()));
        // Closing what was never opened changes nothing.
        counter.close(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        assert_eq!(counter.total(), 5);
        counter.close(a);
        counter.close(a);
        assert_eq!(counter.open_from(a), 0);
        assert_eq!(counter.total(), 4);
    }

    #[test]
    fn the_address_table_stays_bounded_under_many_addresses() {
        let mut counter = ConnectionCounter::new(ConnectionLimits {
            per_address: 1,
            total: 64,
            ipv6_prefix_len: 128,
        });
        let mut open = Vec::new();
        for n in 0..100_000u32 {
            let addr = IpAddr::V6(Ipv6Addr::from(u128::from(n) << 16 | 0xfe80));
            match counter.try_open(addr) {
                Ok(()) => open.push(addr),
                Err(e) => assert_eq!(e, ConnectionRefused::Total),
            }
            if open.len() == 64 {
                // Close half, in an order unrelated to opening.
                for addr in open.drain(..).step_by(2) {
                    counter.close(addr);
                }
            }
            assert!(counter.addresses() <= 64);
            assert_eq!(counter.addresses() as u32, counter.total());
        }
    }
}
