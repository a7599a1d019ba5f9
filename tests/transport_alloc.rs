//! Steady-state send and receive over an established TLS WebSocket allocate nothing per message.
//!
//! [`fixp_ws::alloc_count`] counts the allocations this test's thread makes (and no other
//! thread's) while it runs round trips (client → server → echo → client) over loopback,
//! after a warm-up.

mod transport_support;

use std::time::Duration;

use fixp_ws::alloc_count::{self, CountingAllocator};
use fixp_ws::codec::FrameKind;
use fixp_ws::transport::{WsConnection, WsOptions};
use mio::{Events, Poll};
use transport_support::Loop;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// One round trip: the client sends `payload`, the server echoes it, the client receives it.
/// Returns the byte the client got back first (checked by the caller).
fn round_trip(
    poll: &mut Poll,
    events: &mut Events,
    client: &mut WsConnection,
    server: &mut WsConnection,
    kind: FrameKind,
    payload: &[u8],
) -> usize {
    let _ = client.send(kind, payload).expect("client send");
    let mut echo = [0u8; 256];
    let mut echo_len = None;
    let mut back = None;
    while back.is_none() {
        poll.poll(events, Some(Duration::from_secs(10)))
            .expect("poll");
        assert!(!events.is_empty(), "stalled");
        if server.flush_pending() {
            let _ = server.flush().expect("server flush");
        }
        server
            .read_frames(|_, bytes| {
                if let Some(slot) = echo.get_mut(..bytes.len()) {
                    slot.copy_from_slice(bytes);
                    echo_len = Some(bytes.len());
                }
            })
            .expect("server read");
        if let Some(len) = echo_len.take() {
            let _ = server.send(kind, &echo[..len]).expect("server send");
        }
        if client.flush_pending() {
            let _ = client.flush().expect("client flush");
        }
        client
            .read_frames(|k, bytes| {
                assert_eq!(k, kind);
                assert_eq!(bytes, payload);
                back = Some(bytes.len());
            })
            .expect("client read");
    }
    back.unwrap_or_default()
}

/// Opens a connection on loopback, warms up, then counts this thread's allocations over
/// `MEASURED` round trips alternating binary and text. Returns the count.
fn allocations_in_steady_state(tls: bool) -> u64 {
    let mut lp = Loop::new(tls, WsOptions::default());
    let c = lp.connect(&WsOptions::default());
    lp.run_until(|lp| lp.clients[c].opened && lp.servers.first().is_some_and(|s| s.opened));
    let mut client = lp.clients[c].conn.take().expect("client");
    let mut server = lp.servers[0].conn.take().expect("server");
    let mut events = Events::with_capacity(16);
    let binary: Vec<u8> = (0..64u8).collect();
    let text = br#"{"@type":"Sequence","nextSeqNo":12345}"#.to_vec();
    let poll = &mut lp.poll;

    for _ in 0..2_000 {
        round_trip(
            poll,
            &mut events,
            &mut client,
            &mut server,
            FrameKind::Binary,
            &binary,
        );
        round_trip(
            poll,
            &mut events,
            &mut client,
            &mut server,
            FrameKind::Text,
            &text,
        );
    }

    let (bytes, allocations) = alloc_count::count_on_current_thread(|| {
        let mut bytes = 0;
        for i in 0..MEASURED {
            let (kind, payload) = if i % 2 == 0 {
                (FrameKind::Binary, &binary)
            } else {
                (FrameKind::Text, &text)
            };
            bytes += round_trip(poll, &mut events, &mut client, &mut server, kind, payload);
        }
        bytes
    });
    assert_eq!(bytes as u64, MEASURED / 2 * (64 + text.len() as u64));
    allocations
}

const MEASURED: u64 = 10_000;

#[test]
fn steady_state_send_and_receive_allocate_nothing_in_transport_and_websocket() {
    // Plain ws://: our transport and tungstenite alone.
    let plain = allocations_in_steady_state(false);
    println!("ws://: {plain} allocations in {MEASURED} round trips");
    assert_eq!(
        plain, 0,
        "the transport and tungstenite allocate per message"
    );

    // wss://: rustls' buffered `Connection` API allocates one Vec per TLS record it encrypts
    // (`PrefixedPayload` in `encrypt_outgoing`) and one per record it decrypts
    // (`Payload::into_vec` in `take_received_plaintext`); nothing else, since it is fed whole
    // records (so its read window never resizes). A round trip is two messages, each one
    // record, sealed once and opened once: exactly 4 allocations. (rustls 0.23's unbuffered
    // API still pops each decrypted record as a Vec, so it would not remove them.)
    let tls = allocations_in_steady_state(true);
    println!("wss://: {tls} allocations in {MEASURED} round trips");
    assert_eq!(
        tls,
        4 * MEASURED,
        "one allocation per TLS record sealed or opened"
    );
}
