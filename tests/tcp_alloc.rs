//! Steady-state send and receive over an open `SofhConnection` allocate nothing per message over
//! plain TCP, and over TLS only rustls' per-record buffers.
//!
//! The per-thread counting allocator counts only this test's thread while it runs round trips
//! (client → server → echo → client) on loopback after a warm-up; frames are read as borrowed
//! slices and echoed from a stack array.

mod tcp_support;

use std::time::Duration;

use fixp_ws::alloc_count::{count_on_current_thread, CountingAllocator};
use fixp_ws::codec::FrameKind;
use fixp_ws::transport::SofhConnection;
use mio::{Events, Poll};
use tcp_support::open_pair;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

const MEASURED: u64 = 10_000;

/// One round trip: the client sends `payload`, the server echoes it, the client gets it back.
fn round_trip(
    poll: &mut Poll,
    events: &mut Events,
    client: &mut SofhConnection,
    server: &mut SofhConnection,
    payload: &[u8],
) -> usize {
    let _ = client
        .send(FrameKind::Binary, payload)
        .expect("client send");
    let mut echo = [0u8; 256];
    let mut back = None;
    loop {
        if client.flush_pending() {
            let _ = client.flush().expect("client flush");
        }
        let mut echo_len = None;
        server
            .read_frames(|_, bytes| {
                if let Some(slot) = echo.get_mut(..bytes.len()) {
                    slot.copy_from_slice(bytes);
                    echo_len = Some(bytes.len());
                }
            })
            .expect("server read");
        if let Some(len) = echo_len {
            let _ = server
                .send(FrameKind::Binary, &echo[..len])
                .expect("server send");
        }
        if server.flush_pending() {
            let _ = server.flush().expect("server flush");
        }
        client
            .read_frames(|kind, bytes| {
                assert_eq!((kind, bytes), (FrameKind::Binary, payload));
                back = Some(bytes.len());
            })
            .expect("client read");
        if let Some(n) = back {
            return n;
        }
        poll.poll(events, Some(Duration::from_secs(10)))
            .expect("poll");
        assert!(!events.is_empty(), "stalled");
    }
}

/// Opens a pair, warms up, then counts this thread's allocations over `MEASURED` round trips.
fn allocations_in_steady_state(tls: bool) -> u64 {
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(16);
    let (mut client, mut server) = open_pair(tls, &mut poll, &mut events);
    // An SBE-sized message: a NewOrderSingle is 42 bytes, an ExecutionReport about 60.
    let payload: Vec<u8> = (0..64u8).collect();
    for _ in 0..2_000 {
        round_trip(&mut poll, &mut events, &mut client, &mut server, &payload);
    }
    let (bytes, allocations) = count_on_current_thread(|| {
        let mut bytes = 0u64;
        for _ in 0..MEASURED {
            bytes += round_trip(&mut poll, &mut events, &mut client, &mut server, &payload) as u64;
        }
        bytes
    });
    assert_eq!(bytes, MEASURED * payload.len() as u64);
    assert_eq!(client.stats().frames_in, 2_000 + MEASURED);
    allocations
}

#[test]
fn plain_tcp_send_and_receive_allocate_nothing() {
    let plain = allocations_in_steady_state(false);
    println!("tcp://: {plain} allocations in {MEASURED} round trips");
    assert_eq!(plain, 0, "the SOFH transport allocates per message");
}

#[test]
fn tls_allocates_only_rustls_per_record_buffers() {
    // rustls 0.23's buffered API allocates one Vec per TLS record it seals and one per record
    // it opens (see docs/transport.md). A round trip is two messages, each one record, sealed
    // once and opened once: at most 4. Everything of ours is preallocated.
    let tls = allocations_in_steady_state(true);
    println!(
        "tcp+tls://: {tls} allocations in {MEASURED} round trips ({:.2} per message per side)",
        tls as f64 / (4 * MEASURED) as f64
    );
    assert!(
        tls <= 4 * MEASURED,
        "more than one allocation per TLS record sealed or opened: {tls}"
    );
}
