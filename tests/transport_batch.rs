//! Batched sends on both transports: `queue` each frame, then one `flush`.
//!
//! - Every frame arrives once and in order, whatever the batch size, and `Backpressure` queues
//!   nothing: the frame it refused is queued again later and arrives exactly once.
//! - Over TLS a batch is sealed in as few records as it fills. A batch of [`FRAMES`] frames of
//!   70 bytes on the wire (64-byte payload; a WebSocket client frame's 6-byte header, or the
//!   6-byte SOFH) is 14 000 bytes, written to the stream in one write and sealed as 4 records
//!   (the stream seals at most 4 032 bytes per record, 4 KiB on the wire, so each fits the
//!   peer's rustls read window whole): rustls 0.23 allocates one `Vec` sealing a record and
//!   one opening it, so with both ends on this thread a batch costs exactly 8 allocations
//!   (the same 200 frames sent one by one cost 400), and over plain TCP none.
//!   [`fixp_ws::alloc_count`] counts this test's thread only.

mod tcp_support;
mod transport_support;

use std::time::Duration;

use fixp_ws::alloc_count::{self, CountingAllocator};
use fixp_ws::codec::FrameKind;
use fixp_ws::transport::{SendStatus, SofhConnection, TransportError, WsConnection, WsOptions};
use mio::{Events, Poll};
use tcp_support::open_pair;
use transport_support::Loop;

#[global_allocator]
static ALLOC: CountingAllocator = CountingAllocator;

/// Frames per batch (4 TLS records, see the module doc).
const FRAMES: u64 = 200;
/// TLS records per batch: 14 000 bytes in records of at most 4 032.
const RECORDS: u64 = 4;
const WARM_UP_BATCHES: u64 = 20;
const BATCHES: u64 = 100;

/// Frame `number`: its number in the first 8 bytes.
fn frame(number: u64) -> [u8; 64] {
    let mut bytes = [0xA5; 64];
    if let Some(head) = bytes.get_mut(..8) {
        head.copy_from_slice(&number.to_le_bytes());
    }
    bytes
}

fn number_of(bytes: &[u8]) -> u64 {
    let head: [u8; 8] = bytes
        .get(..8)
        .and_then(|h| h.try_into().ok())
        .expect("a numbered frame");
    u64::from_le_bytes(head)
}

/// The calls the tests make, on either transport.
trait Batching {
    fn queue(&mut self, payload: &[u8]) -> Result<SendStatus, TransportError>;
    fn flush(&mut self) -> Result<SendStatus, TransportError>;
    fn flush_pending(&self) -> bool;
    fn read(&mut self, on_frame: &mut dyn FnMut(&[u8])) -> Result<(), TransportError>;
}

impl Batching for WsConnection {
    fn queue(&mut self, payload: &[u8]) -> Result<SendStatus, TransportError> {
        WsConnection::queue(self, FrameKind::Binary, payload)
    }
    fn flush(&mut self) -> Result<SendStatus, TransportError> {
        WsConnection::flush(self)
    }
    fn flush_pending(&self) -> bool {
        WsConnection::flush_pending(self)
    }
    fn read(&mut self, on_frame: &mut dyn FnMut(&[u8])) -> Result<(), TransportError> {
        self.read_frames(|_, bytes| on_frame(bytes)).map(|_| ())
    }
}

impl Batching for SofhConnection {
    fn queue(&mut self, payload: &[u8]) -> Result<SendStatus, TransportError> {
        SofhConnection::queue(self, FrameKind::Binary, payload)
    }
    fn flush(&mut self) -> Result<SendStatus, TransportError> {
        SofhConnection::flush(self)
    }
    fn flush_pending(&self) -> bool {
        SofhConnection::flush_pending(self)
    }
    fn read(&mut self, on_frame: &mut dyn FnMut(&[u8])) -> Result<(), TransportError> {
        self.read_frames(|_, bytes| on_frame(bytes)).map(|_| ())
    }
}

/// Two open connections on one poll.
struct Pair<C> {
    poll: Poll,
    events: Events,
    sender: C,
    receiver: C,
    /// The number of the next frame the receiver must get.
    expected: u64,
}

impl<C: Batching> Pair<C> {
    /// Flushes the sender and reads the receiver until frame `until - 1` arrived; every frame
    /// must be the next number.
    fn receive_until(&mut self, until: u64) {
        while self.expected < until {
            if self.sender.flush_pending() {
                let _ = self.sender.flush().expect("flush");
            }
            let expected = &mut self.expected;
            self.receiver
                .read(&mut |bytes| {
                    assert_eq!(number_of(bytes), *expected, "frames in order, each once");
                    assert_eq!(bytes.get(8..), frame(0).get(8..));
                    *expected += 1;
                })
                .expect("read");
            if self.expected < until {
                self.poll
                    .poll(&mut self.events, Some(Duration::from_secs(10)))
                    .expect("poll");
                assert!(!self.events.is_empty(), "stalled at {}", self.expected);
            }
        }
    }

    /// Queues frames `first..first + FRAMES`, flushes once, reads them all.
    fn batch(&mut self, first: u64) {
        for number in first..first + FRAMES {
            let status = self.sender.queue(&frame(number)).expect("queue");
            assert_eq!(status, SendStatus::Pending, "queued, not flushed");
        }
        let _ = self.sender.flush().expect("flush");
        self.receive_until(first + FRAMES);
    }

    /// Allocations of this thread over [`BATCHES`] batches after the warm-up.
    fn batch_allocations(&mut self) -> u64 {
        for b in 0..WARM_UP_BATCHES {
            self.batch(b * FRAMES);
        }
        let first = WARM_UP_BATCHES * FRAMES;
        let ((), allocations) = alloc_count::count_on_current_thread(|| {
            for b in 0..BATCHES {
                self.batch(first + b * FRAMES);
            }
        });
        assert_eq!(self.expected, first + BATCHES * FRAMES);
        allocations
    }

    /// Queues without reading until the backlog refuses a frame, then drains: every queued
    /// frame arrives once, and the refused one, queued again, follows them.
    fn backpressure_loses_and_repeats_nothing(&mut self) {
        let mut next = 0u64;
        loop {
            match self.sender.queue(&frame(next)).expect("queue") {
                SendStatus::Backpressure => break,
                _ => next += 1,
            }
            assert!(next < 10_000_000, "the backlog never filled");
        }
        assert!(next > FRAMES, "more than a batch fit ({next})");
        let _ = self.sender.flush().expect("flush");
        self.receive_until(next);
        for number in next..next + FRAMES {
            let status = self.sender.queue(&frame(number)).expect("queue again");
            assert_ne!(status, SendStatus::Backpressure, "room again");
        }
        let _ = self.sender.flush().expect("flush");
        self.receive_until(next + FRAMES);
        let mut extra = 0;
        let _ = self.receiver.read(&mut |_| extra += 1);
        assert_eq!(extra, 0, "nothing after the last frame");
    }
}

fn ws_pair(tls: bool, client: WsOptions) -> Pair<WsConnection> {
    let mut lp = Loop::new(tls, WsOptions::default());
    let c = lp.connect(&client);
    lp.run_until(|lp| lp.clients[c].opened && lp.servers.first().is_some_and(|s| s.opened));
    let sender = lp.clients[c].conn.take().expect("client");
    let receiver = lp.servers[0].conn.take().expect("server");
    let Loop { poll, .. } = lp;
    Pair {
        poll,
        events: Events::with_capacity(16),
        sender,
        receiver,
        expected: 0,
    }
}

fn sofh_pair(tls: bool) -> Pair<SofhConnection> {
    let mut poll = Poll::new().expect("poll");
    let mut events = Events::with_capacity(16);
    let (sender, receiver) = open_pair(tls, &mut poll, &mut events);
    Pair {
        poll,
        events,
        sender,
        receiver,
        expected: 0,
    }
}

#[test]
fn ws_batches_arrive_in_order_and_allocate_nothing() {
    let allocations = ws_pair(false, WsOptions::default()).batch_allocations();
    println!("ws://: {allocations} allocations in {BATCHES} batches of {FRAMES}");
    assert_eq!(allocations, 0);
}

#[test]
fn wss_batches_are_sealed_in_full_records() {
    let allocations = ws_pair(true, WsOptions::default()).batch_allocations();
    println!("wss://: {allocations} allocations in {BATCHES} batches of {FRAMES}");
    assert_eq!(
        allocations,
        2 * RECORDS * BATCHES,
        "records sealed and opened"
    );
}

#[test]
fn tcp_batches_arrive_in_order_and_allocate_nothing() {
    let allocations = sofh_pair(false).batch_allocations();
    println!("tcp://: {allocations} allocations in {BATCHES} batches of {FRAMES}");
    assert_eq!(allocations, 0);
}

#[test]
fn tcp_tls_batches_are_sealed_in_full_records() {
    let allocations = sofh_pair(true).batch_allocations();
    println!("tcp+tls://: {allocations} allocations in {BATCHES} batches of {FRAMES}");
    assert_eq!(
        allocations,
        2 * RECORDS * BATCHES,
        "records sealed and opened"
    );
}

#[test]
fn ws_queue_backpressure_queues_nothing() {
    let small = WsOptions {
        max_backlog_bytes: 64 * 1024,
        ..WsOptions::default()
    };
    ws_pair(true, small).backpressure_loses_and_repeats_nothing();
}

#[test]
fn tcp_queue_backpressure_queues_nothing() {
    sofh_pair(true).backpressure_loses_and_repeats_nothing();
}
