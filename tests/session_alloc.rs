//! Steady-state send and receive through a pair of sessions (SBE) allocates nothing.

mod session_support;

use fixp_ws::alloc_count::{self, CountingAllocator};
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::FrameKind;
use fixp_ws::session::{Event, Transmit};
use session_support::*;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// An Idempotent client and a Recoverable server, established: the pair, the session's id,
/// its connection and the time.
fn connected_pair() -> (
    Pair,
    fixp_ws::codec::SessionId,
    fixp_ws::session::ConnectionId,
    u64,
) {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    let (id, conn, now) = (p.client.session_id(), p.conn, p.now);
    (p, id, conn, now)
}

#[test]
fn steady_state_send_and_receive_of_100k_messages_allocates_nothing() {
    let (mut p, id, conn, mut now) = connected_pair();
    let mut frame = [0u8; 2048];
    let mut message = [0u8; 16];
    message[..8].copy_from_slice(&APP_HEADER);
    let mut delivered_to_server = 0u64;
    let mut delivered_to_client = 0u64;
    let total = 101_000u64;
    let mut before = 0;
    for i in 0..total {
        if i == 1_000 {
            before = alloc_count::current_thread_allocations();
            alloc_count::track_current_thread(true);
        }
        now += 1_000;
        message[8..].copy_from_slice(&i.to_le_bytes());
        p.client.send(now, &message).expect("client send");
        p.server
            .session_mut(id)
            .expect("session")
            .send(now, &message)
            .expect("server send");
        p.client.handle_timeout(now);
        p.server.handle_timeout(now);
        while let Some(t) = p.client.poll_transmit() {
            let Transmit::Frame { bytes, .. } = t else {
                panic!("unexpected Close")
            };
            let n = bytes.len();
            frame[..n].copy_from_slice(bytes);
            p.server
                .handle_frame(now, conn, &frame[..n], FrameKind::Binary);
        }
        while let Some((_, t)) = p.server.poll_transmit() {
            let Transmit::Frame { bytes, .. } = t else {
                panic!("unexpected Close")
            };
            let n = bytes.len();
            frame[..n].copy_from_slice(bytes);
            p.client.handle_frame(now, &frame[..n], FrameKind::Binary);
        }
        while let Some(e) = p.client.poll_event() {
            if let Event::Message { seq, bytes } = e {
                assert_eq!(app_value(bytes) + 1, seq);
                delivered_to_client += 1;
            }
        }
        while let Some((_, e)) = p.server.poll_event() {
            if let Event::Message { seq, bytes } = e {
                assert_eq!(app_value(bytes) + 1, seq);
                delivered_to_server += 1;
            }
        }
    }
    alloc_count::track_current_thread(false);
    assert_eq!(delivered_to_client, total);
    assert_eq!(delivered_to_server, total);
    assert_eq!(
        alloc_count::current_thread_allocations() - before,
        0,
        "allocations in steady state"
    );
    // Control: the counter does see allocations.
    let (control, made) =
        alloc_count::count_on_current_thread(|| std::hint::black_box(vec![1u8; 10]));
    assert_eq!(control.len(), 10);
    assert_eq!(made, 1);
}

/// The inline engine's path: `send_with` encodes into the outbound slot and
/// `handle_frame_lending` hands in-order messages back without queueing them.
#[test]
fn lending_and_send_with_allocate_nothing() {
    let (mut p, id, conn, mut now) = connected_pair();
    let mut frame = [0u8; 2048];
    // Establishment events are taken first: a message behind a queued event is not lent.
    events(&mut p.client);
    p.server_events();
    let (mut lent_to_client, mut lent_to_server) = (0u64, 0u64);
    let total = 51_000u64;
    let mut before = 0;
    let encode = |i: u64| {
        move |slot: &mut [u8]| -> Result<usize, ()> {
            let out = slot.get_mut(..16).ok_or(())?;
            out[..8].copy_from_slice(&APP_HEADER);
            out[8..].copy_from_slice(&i.to_le_bytes());
            Ok(16)
        }
    };
    for i in 0..total {
        if i == 1_000 {
            before = alloc_count::current_thread_allocations();
            alloc_count::track_current_thread(true);
        }
        now += 1_000;
        p.client.send_with(now, encode(i)).expect("client send");
        p.server
            .session_mut(id)
            .expect("session")
            .send_with(now, encode(i))
            .expect("server send");
        while let Some(t) = p.client.poll_transmit() {
            let Transmit::Frame { bytes, .. } = t else {
                panic!("unexpected Close")
            };
            let n = bytes.len();
            frame[..n].copy_from_slice(bytes);
            if let Some((_, seq)) =
                p.server
                    .handle_frame_lending(now, conn, &frame[..n], FrameKind::Binary)
            {
                assert_eq!(app_value(&frame[..n]) + 1, seq);
                lent_to_server += 1;
            }
        }
        while let Some((_, t)) = p.server.poll_transmit() {
            let Transmit::Frame { bytes, .. } = t else {
                panic!("unexpected Close")
            };
            let n = bytes.len();
            frame[..n].copy_from_slice(bytes);
            if let Some(seq) = p
                .client
                .handle_frame_lending(now, &frame[..n], FrameKind::Binary)
            {
                assert_eq!(app_value(&frame[..n]) + 1, seq);
                lent_to_client += 1;
            }
        }
        while p.client.poll_event().is_some() {}
        while p.server.poll_event().is_some() {}
    }
    alloc_count::track_current_thread(false);
    assert_eq!(lent_to_client, total, "every message was lent");
    assert_eq!(lent_to_server, total);
    assert_eq!(alloc_count::current_thread_allocations() - before, 0);
}
