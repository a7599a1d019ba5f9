//! The journal: a crash-consistent, memory-mapped retransmit ring with a sequence index.
//!
//! Owns: segment files, record framing and checksums, the sequence index, crash recovery, the
//! writer lock, generations and the per-session metadata file, the optional flusher thread.
//! May not touch: sockets, session rules (it stores what it is given, in order).
//!
//! One [`SessionJournal`] per session holds one [`Journal`] per direction. Each journal is a
//! ring of `segment_count` fixed-size files, preallocated (`posix_fallocate`), mapped and
//! pre-faulted when opened, so an append is a few stores into memory: no allocation, lock or
//! syscall. The outbound journal implements [`crate::session::RetransmitStore`].
//!
//! ```
//! use fixp_ws::codec::fixp::FlowType;
//! use fixp_ws::codec::SessionId;
//! use fixp_ws::journal::{JournalConfig, RingConfig, SessionJournal, ENCODING_SBE_LE};
//! use fixp_ws::session::{RetransmitStore, StoreError};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let tmp = tempfile::tempdir()?;
//! # let root = tmp.path();
//! let ring = RingConfig { segment_bytes: 64 << 10, segment_count: 2, max_messages: 1024 };
//! let config = JournalConfig { outbound: ring, inbound: ring, ..JournalConfig::default() };
//! let id = SessionId::from_random_bytes([7; 16]);
//! {
//!     let mut journal = SessionJournal::open(root, config)?; // takes the writer lock
//!     let g = journal.start_generation(id, FlowType::Recoverable, FlowType::Idempotent)?;
//!     g.outbound.append(1, 1_000, ENCODING_SBE_LE, b"frame one")?;
//!     RetransmitStore::append(&mut g.outbound, 2, 2_000, b"frame two")?;
//! } // a crash here loses nothing appended
//! let journal = SessionJournal::open(root, config)?;
//! assert_eq!(journal.session().map(|m| m.session_id), Some(id));
//! assert_eq!(journal.next_outbound_seq(), Some(3));
//! let out = &journal.generation().unwrap().outbound;
//! assert_eq!(out.get(2)?, b"frame two");
//! assert_eq!(out.get(3), Err(StoreError::NotHeld { seq: 3 }));
//! # Ok(())
//! # }
//! ```
//!
//! # Segment layout (little-endian)
//!
//! ```text
//!  0        8        12       16                24                32       36           64
//!  +--------+--------+--------+-----------------+-----------------+--------+------------+
//!  | magic  |version | dir    | segment_bytes   | epoch           | crc32c | zero       |
//!  |FIXPJRNL| u32 =1 |1 out/2 in| u64           | u64 (1, 2, …)   | of 0..32|           |
//!  +--------+--------+--------+-----------------+-----------------+--------+------------+
//!  64: record, record, …, then a length word of 0 (end) or 0xFFFF_FFFF (sealed: go on in
//!      the segment of epoch + 1). Segment of epoch e lives in slot file (e − 1) mod count.
//! ```
//!
//! # Record layout (8-byte aligned)
//!
//! ```text
//!  0            4          6         8                  16                 24        28        32
//!  +------------+----------+---------+------------------+------------------+---------+---------+
//!  | length u32 | encoding | flags=0 | seq u64          | timestamp_ns u64 | epoch   | crc32c  |
//!  | 32+payload | SOFH u16 | u16     |                  |                  | low u32 | u32     |
//!  +------------+----------+---------+------------------+------------------+---------+---------+
//!  32: payload (the message as sent or received), padded with zeros to a multiple of 8
//! ```
//!
//! The crc32c covers bytes 4..28 and the payload. `encoding` is the SOFH encoding type
//! ([`ENCODING_SBE_LE`] 0xEB50, [`ENCODING_JSON`] 0xF500). `epoch` ties the record to the
//! segment's current use, so a record left from a recycled use is never taken as current.
//!
//! # Commit protocol
//!
//! An append writes header bytes 4..32 and the payload, zeroes the *next* record's length word,
//! and only then stores the length with Release ordering. The slot it writes always held a 0
//! length word before, so a reader (or recovery after `kill -9`) sees either nothing or a
//! whole record, never a half one. Readers load the length with Acquire and verify the checksum.
//!
//! # Recovery
//!
//! At open, segments are ordered by epoch and every record is scanned and checked (sequence,
//! epoch, checksum); the index is rebuilt. A bad last record of the newest segment (torn by a
//! power loss) is cut. A record with a bad checksum elsewhere stays indexed and reads of it fail
//! closed with `StoreError::Corrupt`; so do the numbers after broken framing in an older
//! segment. The whole ring is scanned (it is bounded), no checkpoint file is needed.
//!
//! # Durability
//!
//! After a process crash (`kill -9`) every completed append survives: the pages are in the page
//! cache. After a power loss only what was synced survives: [`Journal::sync`], or the flusher
//! thread ([`JournalConfig::flush_interval`]), which `fdatasync`s through its own file handles,
//! never on the appending thread, and publishes the durable sequence numbers.

mod flush;
mod format;
mod reader;
mod ring;
mod session;

pub use flush::Flusher;
pub use format::{
    Direction, RecordView, SegmentHeader, ENCODING_JSON, ENCODING_SBE_LE, RECORD_HEADER_LEN,
    SEGMENT_HEADER_LEN,
};
pub use reader::{Cursor, FoundRecord, JournalReader, Problem, ProblemKind, VerifyReport};
pub use ring::{segment_file_name, CorruptRecord, Journal, RecoveryReport, RingConfig, TornTail};
pub use session::{
    list_generations, read_meta, Generation, JournalConfig, SessionJournal, SessionMeta, LOCK_FILE,
    META_FILE,
};

use std::path::PathBuf;

/// Why a journal could not be opened or managed.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An I/O error on a journal file.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// The files do not match the configuration (sizes, count), or the configuration is invalid.
    #[error("{path}: {reason}")]
    Layout {
        /// The file or directory.
        path: PathBuf,
        /// What does not match.
        reason: String,
    },
    /// Another writer holds the journal's lock.
    #[error("{path}: the journal is locked by another writer")]
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// The segments contradict each other (sequence numbers going backwards).
    #[error("{path}: inconsistent journal: {reason}")]
    Inconsistent {
        /// The segment file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// The metadata file is missing, damaged or of another version.
    #[error("{path}: {reason}")]
    Meta {
        /// The metadata file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// Takes the exclusive writer lock of `dir` (flock on `dir/LOCK`, released when the returned
/// file is closed), or fails with [`JournalError::Locked`].
fn lock_dir(dir: &std::path::Path) -> Result<std::fs::File, JournalError> {
    use std::os::fd::AsRawFd;
    let path = dir.join(LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| JournalError::Io {
            path: path.clone(),
            source,
        })?;
    // SAFETY: plain syscall on an open descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(file);
    }
    let source = std::io::Error::last_os_error();
    if source.kind() == std::io::ErrorKind::WouldBlock {
        Err(JournalError::Locked { path })
    } else {
        Err(JournalError::Io { path, source })
    }
}
