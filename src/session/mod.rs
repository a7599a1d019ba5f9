//! The FIXP session layer as a sans-IO state machine.
//!
//! Owns: FIXP rules (negotiation, establishment, sequencing, heartbeats, retransmission,
//! finalization, termination). May not touch: sockets, clock reads, threads, or the heap per
//! message; time comes in as a plain value and frames go out through caller-visible buffers.

pub mod store;

pub use store::{RetransmitStore, StoreError};
