//! Killing the TCP connection mid-stream: the initiator engine reconnects with back-off,
//! re-establishes the same SessionId, and both Recoverable flows are recovered so every message
//! arrives exactly once and in order (WSS here; the same scenario over TCP+SOFH is in
//! `engine_tcp.rs`, both in `engine_support::drop_and_recover`).

mod engine_support;

use engine_support::*;
use fixp_ws::transport::WireEncoding;

#[test]
fn sbe_connection_killed_mid_stream_recovers_every_message_once_in_order() {
    drop_and_recover(Carrier::WebSocket, true, WireEncoding::Sbe, &[120]);
}

#[test]
fn json_connection_killed_twice_recovers_every_message_once_in_order() {
    drop_and_recover(Carrier::WebSocket, true, WireEncoding::Json, &[90, 250]);
}
