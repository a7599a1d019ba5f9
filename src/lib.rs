//! # fixp-ws
//!
//! A FIXP 1.1 (FIX Performance Session Layer) engine over TLS WebSocket, for latency-sensitive
//! trading. One FIXP message travels in one WebSocket message: SBE in binary frames, JSON
//! (wire-compatible with the FIX community's Conga project) in text frames, and the WebSocket
//! Close frame replaces FIXP Terminate. The same sessions also run over TCP (TLS by default),
//! one message per SOFH frame, ending with a FIXP Terminate exchange.
//!
//! The crate is layered; each layer may use only the layers above it in this list:
//!
//! | layer | owns | may not touch |
//! |---|---|---|
//! | [`codec`] | SBE flyweights generated from schema XML, the FIXP message model, the JSON encoding, SOFH | sockets, clocks, session state |
//! | [`session`] | the FIXP state machine, sans-IO: bytes and time in; frames to send, messages to deliver and a deadline out | sockets, clock reads, allocation per message |
//! | [`journal`] | the mmap retransmit ring and sequence index, crash recovery | sockets, session rules |
//! | [`transport`] | mio + rustls + tungstenite, non-blocking; TLS and WS handshakes; subprotocols; SOFH framing over TCP | FIXP rules |
//! | [`engine`] | the pinned busy-poll thread owning sockets, sessions and journals; SPSC queues to strategy threads; metrics | — |
//!
//! [`alloc_count`] is the per-thread counting allocator the zero-allocation tests and the
//! benchmark harness use.
#![deny(missing_docs)]
#![warn(unreachable_pub)]

pub mod alloc_count;
pub mod codec;
pub mod engine;
pub mod journal;
pub mod session;
pub mod transport;
