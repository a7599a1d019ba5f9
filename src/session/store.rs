//! Where a Recoverable flow's producer keeps what it sent, to answer RetransmitRequests.
//!
//! The session core only sees this trait. An in-memory ring implements it for tests and for
//! sessions that do not need to survive a restart; the mmap journal implements it for the rest.

use std::fmt;

/// Why a store could not record or return a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreError {
    /// The sequence number is not held (never written, or already recycled).
    NotHeld {
        /// The sequence number asked for.
        seq: u64,
    },
    /// The record failed its checksum: it must not be sent (fail closed).
    Corrupt {
        /// The sequence number asked for.
        seq: u64,
    },
    /// Appends must be consecutive: `expected` was next, `actual` was given.
    OutOfOrder {
        /// The next sequence number the store expects.
        expected: u64,
        /// The sequence number given.
        actual: u64,
    },
    /// The message is larger than the store can hold in one record.
    TooLarge {
        /// The message length.
        len: usize,
        /// The largest record payload.
        max: usize,
    },
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotHeld { seq } => write!(f, "sequence number {seq} is not held"),
            StoreError::Corrupt { seq } => {
                write!(f, "record {seq} failed its checksum; not sent")
            }
            StoreError::OutOfOrder { expected, actual } => {
                write!(f, "append of {actual} out of order: {expected} expected")
            }
            StoreError::TooLarge { len, max } => {
                write!(
                    f,
                    "message of {len} bytes exceeds the record limit of {max}"
                )
            }
        }
    }
}

impl std::error::Error for StoreError {}

/// The outbound retransmit store of one session's Recoverable flow.
///
/// Sequence numbers are appended consecutively. The store may forget the oldest messages
/// (a bounded ring); [`RetransmitStore::held`] says which are still there.
pub trait RetransmitStore {
    /// Records outbound application message `seq`, encoded as it went on the wire.
    fn append(&mut self, seq: u64, timestamp_ns: u64, frame: &[u8]) -> Result<(), StoreError>;

    /// The first and last sequence numbers still held, or `None` when empty.
    fn held(&self) -> Option<(u64, u64)>;

    /// The encoded message with this sequence number, verified.
    fn get(&self, seq: u64) -> Result<&[u8], StoreError>;
}
