//! Steady-state send and receive through a pair of sessions (SBE) allocates nothing.

mod session_support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::FrameKind;
use fixp_ws::session::{Event, Transmit};
use session_support::*;

struct Counting;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if COUNTING.load(Ordering::Relaxed) {
            ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
        }
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

#[test]
fn steady_state_send_and_receive_of_100k_messages_allocates_nothing() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    let id = p.client.session_id();
    let conn = p.conn;
    let mut now = p.now;
    let mut frame = [0u8; 2048];
    let mut message = [0u8; 16];
    message[..8].copy_from_slice(&APP_HEADER);
    let mut delivered_to_server = 0u64;
    let mut delivered_to_client = 0u64;
    let total = 101_000u64;
    for i in 0..total {
        if i == 1_000 {
            COUNTING.store(true, Ordering::SeqCst);
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
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(delivered_to_client, total);
    assert_eq!(delivered_to_server, total);
    assert_eq!(
        ALLOCATIONS.load(Ordering::SeqCst),
        0,
        "allocations in steady state"
    );
    // Control: the counter does see allocations.
    COUNTING.store(true, Ordering::SeqCst);
    let control = std::hint::black_box(vec![1u8; 10]);
    COUNTING.store(false, Ordering::SeqCst);
    assert_eq!(control.len(), 10);
    assert_eq!(ALLOCATIONS.load(Ordering::SeqCst), 1);
}
