//! Metrics the engine thread writes and other threads read, without locks on the engine side.
//!
//! - [`ConnectionCounters`]: relaxed atomic counters per connection, shared through an `Arc`.
//! - [`histogram_exchange`]: HdrHistogram timings handed over by swapping. The reader gives the
//!   engine an empty, preallocated histogram through one queue; the engine swaps it with the
//!   one it has been recording into and returns the filled one through another. The engine
//!   never allocates, locks or waits; if no empty histogram is available it keeps recording.
//! - [`EngineMetrics`] / [`EngineCounters`] / [`Stage`]: the engine's own stage timings and
//!   counters built on those two, as the application reads them.
//!
//! Owns: counters and histograms. May not touch: sessions, sockets or clocks (values come in
//! already measured).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crossbeam_queue::ArrayQueue;
use hdrhistogram::Histogram;

use crate::transport::ConnStats;

/// Per-connection counters. The engine thread adds; any thread reads (relaxed: each counter is
/// exact, but a snapshot of several is not atomic as a whole).
#[derive(Debug, Default)]
pub struct ConnectionCounters {
    /// Data frames received.
    pub frames_in: AtomicU64,
    /// Payload bytes received.
    pub bytes_in: AtomicU64,
    /// Data frames sent.
    pub frames_out: AtomicU64,
    /// Payload bytes sent.
    pub bytes_out: AtomicU64,
    /// Sends refused for back-pressure.
    pub backpressure: AtomicU64,
    /// Connections closed for an oversized message (1009).
    pub oversized_closed: AtomicU64,
    /// Connections closed for invalid UTF-8 (1007).
    pub invalid_utf8_closed: AtomicU64,
    /// Upgrades refused (bad path or no acceptable subprotocol).
    pub upgrades_refused: AtomicU64,
}

/// A plain copy of [`ConnectionCounters`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CounterSnapshot {
    /// Data frames received.
    pub frames_in: u64,
    /// Payload bytes received.
    pub bytes_in: u64,
    /// Data frames sent.
    pub frames_out: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Sends refused for back-pressure.
    pub backpressure: u64,
    /// Connections closed for an oversized message.
    pub oversized_closed: u64,
    /// Connections closed for invalid UTF-8.
    pub invalid_utf8_closed: u64,
    /// Upgrades refused.
    pub upgrades_refused: u64,
}

impl ConnectionCounters {
    /// Adds one to a counter (engine thread).
    #[inline]
    pub fn bump(counter: &AtomicU64, by: u64) {
        counter.fetch_add(by, Ordering::Relaxed);
    }

    /// Publishes a connection's transport stats (engine thread): stores the totals.
    pub fn store_from(&self, stats: &ConnStats) {
        self.frames_in.store(stats.frames_in, Ordering::Relaxed);
        self.bytes_in.store(stats.bytes_in, Ordering::Relaxed);
        self.frames_out.store(stats.frames_out, Ordering::Relaxed);
        self.bytes_out.store(stats.bytes_out, Ordering::Relaxed);
        self.backpressure
            .store(stats.backpressure, Ordering::Relaxed);
        self.oversized_closed
            .store(stats.oversized_closed, Ordering::Relaxed);
        self.invalid_utf8_closed
            .store(stats.invalid_utf8_closed, Ordering::Relaxed);
    }

    /// Reads every counter (any thread).
    pub fn snapshot(&self) -> CounterSnapshot {
        CounterSnapshot {
            frames_in: self.frames_in.load(Ordering::Relaxed),
            bytes_in: self.bytes_in.load(Ordering::Relaxed),
            frames_out: self.frames_out.load(Ordering::Relaxed),
            bytes_out: self.bytes_out.load(Ordering::Relaxed),
            backpressure: self.backpressure.load(Ordering::Relaxed),
            oversized_closed: self.oversized_closed.load(Ordering::Relaxed),
            invalid_utf8_closed: self.invalid_utf8_closed.load(Ordering::Relaxed),
            upgrades_refused: self.upgrades_refused.load(Ordering::Relaxed),
        }
    }
}

/// Histogram bounds: values from 1 to `highest` (e.g. nanoseconds) with `significant_figures`
/// decimal digits of precision (0..=5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HistogramBounds {
    /// The largest value recorded exactly; larger values are clamped to it.
    pub highest: u64,
    /// Significant decimal digits.
    pub significant_figures: u8,
}

/// The bounds could not make a histogram.
#[derive(Debug, thiserror::Error)]
#[error("histogram bounds rejected: {0}")]
pub struct BoundsError(String);

impl HistogramBounds {
    /// Makes an empty histogram with these bounds.
    pub fn histogram(&self) -> Result<Histogram<u64>, BoundsError> {
        Histogram::new_with_bounds(1, self.highest.max(2), self.significant_figures)
            .map_err(|e| BoundsError(e.to_string()))
    }
}

/// Creates the engine-side recorder and the reader-side handle of a histogram exchange.
pub fn histogram_exchange(
    bounds: HistogramBounds,
) -> Result<(HistogramRecorder, HistogramReader), BoundsError> {
    let empty = Arc::new(ArrayQueue::new(2));
    let filled = Arc::new(ArrayQueue::new(2));
    Ok((
        HistogramRecorder {
            current: bounds.histogram()?,
            empty: Arc::clone(&empty),
            filled: Arc::clone(&filled),
        },
        HistogramReader {
            bounds,
            empty,
            filled,
        },
    ))
}

/// The engine's end: records values and publishes the filled histogram on request.
pub struct HistogramRecorder {
    current: Histogram<u64>,
    empty: Arc<ArrayQueue<Histogram<u64>>>,
    filled: Arc<ArrayQueue<Histogram<u64>>>,
}

impl HistogramRecorder {
    /// Records a value (clamped to the bounds; never allocates).
    #[inline]
    pub fn record(&mut self, value: u64) {
        self.current.saturating_record(value);
    }

    /// Ends recording and returns the values not yet published (for a final report after
    /// the engine thread stops).
    pub fn into_unpublished(self) -> Histogram<u64> {
        self.current
    }

    /// Values recorded since the last publish.
    pub fn pending(&self) -> u64 {
        self.current.len()
    }

    /// If the reader left an empty histogram, swaps it in and hands the filled one over.
    /// Returns false (and keeps recording into the current one) otherwise.
    pub fn publish(&mut self) -> bool {
        let Some(mut fresh) = self.empty.pop() else {
            return false;
        };
        std::mem::swap(&mut self.current, &mut fresh);
        match self.filled.push(fresh) {
            Ok(()) => true,
            Err(back) => {
                // The reader has not collected earlier ones: undo the swap, lose nothing.
                let spare = std::mem::replace(&mut self.current, back);
                let _ = self.empty.push(spare);
                false
            }
        }
    }
}

impl std::fmt::Debug for HistogramRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HistogramRecorder({} pending)", self.current.len())
    }
}

/// The reader's end: supplies empty histograms and collects filled ones.
pub struct HistogramReader {
    bounds: HistogramBounds,
    empty: Arc<ArrayQueue<Histogram<u64>>>,
    filled: Arc<ArrayQueue<Histogram<u64>>>,
}

impl HistogramReader {
    /// Makes an empty histogram with the exchange's bounds (allocates, on the reader thread).
    pub fn new_histogram(&self) -> Result<Histogram<u64>, BoundsError> {
        self.bounds.histogram()
    }

    /// Hands the engine an empty histogram (it is reset first). Returns it if the engine
    /// already holds enough spares.
    pub fn supply(&self, mut histogram: Histogram<u64>) -> Result<(), Histogram<u64>> {
        histogram.reset();
        self.empty.push(histogram)
    }

    /// Takes a histogram the engine filled, if one is waiting.
    pub fn collect(&self) -> Option<Histogram<u64>> {
        self.filled.pop()
    }
}

impl std::fmt::Debug for HistogramReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HistogramReader({:?})", self.bounds)
    }
}

/// Engine-wide counters (relaxed atomics).
#[derive(Debug, Default)]
pub struct EngineCounters {
    /// Duty cycles run.
    pub cycles: AtomicU64,
    /// Duty cycles that read their connections directly instead of asking epoll
    /// ([`EngineConfig::direct_reads`](crate::engine::EngineConfig)); published with `cycles`.
    pub direct_cycles: AtomicU64,
    /// Connections accepted by listeners.
    pub accepted: AtomicU64,
    /// Handshakes that failed or timed out.
    pub handshake_failures: AtomicU64,
    /// Initiator connection attempts after the first.
    pub reconnects: AtomicU64,
    /// Connections closed as slow consumers.
    pub slow_consumers: AtomicU64,
    /// Connections refused at accept (a listener's or the pre-session pool's caps).
    pub connections_refused: AtomicU64,
    /// Pre-session connections dropped to make room for a client from a quieter address.
    pub pre_session_evicted: AtomicU64,
    /// Connections closed for not negotiating or establishing in time.
    pub pre_session_timeouts: AtomicU64,
    /// Pre-session connections now (not yet established).
    pub pre_session_open: AtomicU64,
    /// Times a session's replay stopped at the per-cycle cap and waited for the next cycle.
    pub replay_deferred: AtomicU64,
    /// Messages replayed (answers to RetransmitRequests).
    pub replayed: AtomicU64,
    /// Largest number of bytes a connection's send buffer held (beyond the transport's own
    /// backlog); never above `send_buffer_bytes`.
    pub send_buffer_peak: AtomicU64,
    /// Cancel-on-disconnect events fired.
    pub cancel_on_disconnect: AtomicU64,
    /// TCP connections closed because the peer broke SOFH framing (an oversized length,
    /// another encoding type, a length below the header, a frame cut off by the peer's close).
    pub framing_faults: AtomicU64,
}

/// Which stage a histogram times.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Socket read → decode → strategy handover (queue push, or the inline strategy's call),
    /// per application message.
    Inbound = 0,
    /// Strategy queue pop → session → socket write, per application message (thread-mode
    /// sessions; an inline strategy's sends are part of its callback and of the duty cycle).
    Outbound = 1,
    /// One busy duty cycle (cycles that did work).
    DutyCycle = 2,
}

/// The thread-safe view of the engine's stage timings (nanoseconds).
///
/// The engine records into HdrHistograms and hands them over by swapping (no lock, no
/// allocation on the engine side); [`EngineMetrics::refresh`] collects what was handed over
/// and adds it to the totals. Clones share the totals (each clone reads a copy of them as of
/// its last refresh), so the application and an admin thread can both read every value; the
/// lock between clones is never taken by the engine.
#[derive(Debug)]
pub struct EngineMetrics {
    shared: Arc<SharedStages>,
    /// This reader's copy of the totals, as of its last refresh.
    totals: [Histogram<u64>; 3],
    counters: Arc<EngineCounters>,
}

/// What every clone of an [`EngineMetrics`] shares: the exchange's reader ends and the totals.
#[derive(Debug)]
struct SharedStages {
    readers: [HistogramReader; 3],
    totals: Mutex<[Histogram<u64>; 3]>,
}

impl Clone for EngineMetrics {
    fn clone(&self) -> Self {
        EngineMetrics {
            shared: Arc::clone(&self.shared),
            totals: self.totals.clone(),
            counters: Arc::clone(&self.counters),
        }
    }
}

impl EngineMetrics {
    /// Collects histograms the engine handed over, adds them to the shared totals, gives the
    /// engine fresh empty ones and updates this reader's copy. Call from any thread, now and
    /// then (it allocates nothing once warm; it may wait for another reader's refresh, never
    /// for the engine).
    pub fn refresh(&mut self) {
        let mut shared = self.shared.totals.lock().unwrap_or_else(|e| e.into_inner());
        for (reader, total) in self.shared.readers.iter().zip(shared.iter_mut()) {
            while let Some(filled) = reader.collect() {
                let _ = total.add(&filled);
                let _ = reader.supply(filled);
            }
        }
        for (mine, total) in self.totals.iter_mut().zip(shared.iter()) {
            mine.reset();
            let _ = mine.add(total);
        }
    }

    /// The totals of one stage so far (after [`EngineMetrics::refresh`]).
    pub fn stage(&self, stage: Stage) -> &Histogram<u64> {
        &self.totals[stage as usize]
    }

    /// Engine-wide counters.
    pub fn counters(&self) -> &EngineCounters {
        &self.counters
    }

    /// Adds the values the engine thread recorded but never published (at its end).
    pub(crate) fn add_unpublished(&mut self, last: &[Histogram<u64>]) {
        {
            let mut shared = self.shared.totals.lock().unwrap_or_else(|e| e.into_inner());
            for (total, rest) in shared.iter_mut().zip(last.iter()) {
                let _ = total.add(rest);
            }
        }
        self.refresh();
    }
}

/// The engine thread's end of the stage timings.
pub(crate) struct StageRecorders {
    pub(crate) stages: [HistogramRecorder; 3],
}

impl StageRecorders {
    /// Records one value of `stage`.
    #[inline]
    pub(crate) fn record(&mut self, stage: Stage, ns: u64) {
        self.stages[stage as usize].record(ns.max(1));
    }

    /// Hands over what was recorded, where the reader left room.
    pub(crate) fn publish(&mut self) {
        for recorder in &mut self.stages {
            if recorder.pending() > 0 {
                recorder.publish();
            }
        }
    }

    /// What was never handed over (when the engine thread ends).
    pub(crate) fn into_unpublished(self) -> Vec<Histogram<u64>> {
        self.stages
            .into_iter()
            .map(HistogramRecorder::into_unpublished)
            .collect()
    }
}

/// The engine's recorders and the application's view of them.
pub(crate) fn stage_metrics(
    counters: Arc<EngineCounters>,
) -> Result<(StageRecorders, EngineMetrics), BoundsError> {
    let bounds = HistogramBounds {
        highest: 10_000_000_000,
        significant_figures: 3,
    };
    let (r0, q0) = histogram_exchange(bounds)?;
    let (r1, q1) = histogram_exchange(bounds)?;
    let (r2, q2) = histogram_exchange(bounds)?;
    let readers = [q0, q1, q2];
    for reader in &readers {
        let _ = reader.supply(reader.new_histogram()?);
    }
    let totals = || -> Result<[Histogram<u64>; 3], BoundsError> {
        Ok([
            bounds.histogram()?,
            bounds.histogram()?,
            bounds.histogram()?,
        ])
    };
    Ok((
        StageRecorders {
            stages: [r0, r1, r2],
        },
        EngineMetrics {
            shared: Arc::new(SharedStages {
                readers,
                totals: Mutex::new(totals()?),
            }),
            totals: totals()?,
            counters,
        },
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    const BOUNDS: HistogramBounds = HistogramBounds {
        highest: 1_000_000,
        significant_figures: 3,
    };

    #[test]
    fn swap_hands_over_exactly_what_was_recorded() {
        let (mut recorder, reader) = histogram_exchange(BOUNDS).expect("bounds");
        for v in 1..=100 {
            recorder.record(v * 10);
        }
        assert!(!recorder.publish(), "no empty histogram supplied yet");
        assert_eq!(recorder.pending(), 100, "kept recording");
        reader
            .supply(reader.new_histogram().expect("h"))
            .expect("room");
        assert!(recorder.publish());
        assert_eq!(recorder.pending(), 0);
        let first = reader.collect().expect("filled");
        assert_eq!(first.len(), 100);
        assert_eq!(first.max(), 1000);
        assert_eq!(first.value_at_quantile(0.5), 500);
        recorder.record(5_000_000); // clamped, not lost
        reader.supply(first).expect("reuse");
        assert!(recorder.publish());
        let second = reader.collect().expect("filled");
        assert_eq!(second.len(), 1);
        assert!(second.max() >= 999_000);
    }

    #[test]
    fn a_publish_while_the_reader_lags_loses_nothing() {
        let (mut recorder, reader) = histogram_exchange(BOUNDS).expect("bounds");
        for _ in 0..2 {
            reader
                .supply(reader.new_histogram().expect("h"))
                .expect("room");
        }
        recorder.record(1);
        assert!(recorder.publish());
        recorder.record(2);
        assert!(recorder.publish());
        reader
            .supply(reader.new_histogram().expect("h"))
            .expect("room");
        recorder.record(3);
        assert!(
            !recorder.publish(),
            "the filled queue is full: the swap is undone"
        );
        assert_eq!(recorder.pending(), 1, "the value 3 is still there");
        assert_eq!(reader.collect().map(|h| h.max()), Some(1));
        assert!(recorder.publish(), "the spare went back to the empty queue");
        assert_eq!(reader.collect().map(|h| h.max()), Some(2));
        assert_eq!(reader.collect().map(|h| h.max()), Some(3));
        assert!(reader.collect().is_none());
    }

    #[test]
    fn counters_snapshot_what_was_stored() {
        let counters = ConnectionCounters::default();
        let stats = ConnStats {
            frames_in: 3,
            bytes_in: 30,
            frames_out: 2,
            bytes_out: 20,
            backpressure: 1,
            ..ConnStats::default()
        };
        counters.store_from(&stats);
        ConnectionCounters::bump(&counters.upgrades_refused, 2);
        let snap = counters.snapshot();
        assert_eq!(
            (
                snap.frames_in,
                snap.bytes_in,
                snap.frames_out,
                snap.bytes_out
            ),
            (3, 30, 2, 20)
        );
        assert_eq!((snap.backpressure, snap.upgrades_refused), (1, 2));
    }
}
