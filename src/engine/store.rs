//! The retransmit store of an engine session: the in-memory ring, or the mmap session journal
//! (an initiator configured with a journal directory continues its session after a restart).
//!
//! Owns: the choice of store per session. May not touch: the store formats (session memory
//! ring, journal).

use crate::journal::SessionJournal;
use crate::session::{MemoryStore, RetransmitStore, StoreError};

/// A session's retransmit store.
pub enum EngineStore {
    /// A preallocated in-memory ring (lost on restart).
    Memory(MemoryStore),
    /// The session journal: outbound messages for retransmission, inbound ones for the next
    /// expected number after a restart.
    Journal(Box<SessionJournal>),
}

impl std::fmt::Debug for EngineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EngineStore::Memory(m) => f.debug_tuple("Memory").field(m).finish(),
            EngineStore::Journal(j) => f.debug_tuple("Journal").field(&j.root()).finish(),
        }
    }
}

impl RetransmitStore for EngineStore {
    fn append(&mut self, seq: u64, timestamp_ns: u64, frame: &[u8]) -> Result<(), StoreError> {
        match self {
            EngineStore::Memory(m) => m.append(seq, timestamp_ns, frame),
            EngineStore::Journal(j) => match j.generation_mut() {
                Some(g) => RetransmitStore::append(&mut g.outbound, seq, timestamp_ns, frame),
                // The engine starts a generation when the session is established, before any
                // send: this is not reached in practice.
                None => Err(StoreError::NotHeld { seq }),
            },
        }
    }

    fn held(&self) -> Option<(u64, u64)> {
        match self {
            EngineStore::Memory(m) => m.held(),
            EngineStore::Journal(j) => j.generation().and_then(|g| g.outbound.held()),
        }
    }

    fn get(&self, seq: u64) -> Result<&[u8], StoreError> {
        match self {
            EngineStore::Memory(m) => m.get(seq),
            EngineStore::Journal(j) => match j.generation() {
                Some(g) => g.outbound.get(seq),
                None => Err(StoreError::NotHeld { seq }),
            },
        }
    }
}
