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
