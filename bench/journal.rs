//! Criterion benchmarks (journal): append of 64- and 256-byte records on pre-faulted pages,
//! and lookup by sequence number. Also prints append latency percentiles from an hdrhistogram
//! loop (criterion reports means), with the cost of the timer itself for reference.

use std::hint::black_box;
use std::time::Instant;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use fixp_ws::journal::{Direction, Journal, RingConfig, ENCODING_SBE_LE};
use fixp_ws::session::RetransmitStore;
use hdrhistogram::Histogram;

fn ring() -> RingConfig {
    RingConfig {
        segment_bytes: 16 << 20,
        segment_count: 4,
        max_messages: 1 << 20,
    }
}

fn append_bench(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(env!("CARGO_MANIFEST_DIR").to_owned() + "/target").unwrap();
    let mut journal = Journal::open(dir.path(), Direction::Outbound, ring()).unwrap();
    let mut seq = 0u64;
    for len in [64usize, 256] {
        let payload = vec![0xabu8; len];
        c.bench_function(&format!("journal_append_{len}B"), |b| {
            b.iter(|| {
                seq += 1;
                journal
                    .append(seq, seq, ENCODING_SBE_LE, black_box(&payload))
                    .unwrap();
            })
        });
    }
    let (first, last) = journal.held_range().unwrap();
    let mut probe = first;
    c.bench_function("journal_get_by_seq_256B", |b| {
        b.iter_batched(
            || {
                probe = if probe >= last { first } else { probe + 1 };
                probe
            },
            |s| black_box(RetransmitStore::get(&journal, s).unwrap().len()),
            BatchSize::SmallInput,
        )
    });
    percentiles(&mut journal, seq);
}

/// Per-append latency distribution (including ~timer overhead, printed separately).
fn percentiles(journal: &mut Journal, mut seq: u64) {
    let mut timer = Histogram::<u64>::new(3).unwrap();
    for _ in 0..200_000 {
        let t0 = Instant::now();
        let t1 = Instant::now();
        let _ = timer.record((t1 - t0).as_nanos() as u64);
    }
    println!(
        "timer overhead: p50 {} ns, p99 {} ns",
        timer.value_at_quantile(0.5),
        timer.value_at_quantile(0.99)
    );
    for len in [64usize, 256] {
        let payload = vec![0xcdu8; len];
        let mut h = Histogram::<u64>::new(3).unwrap();
        for _ in 0..1_000_000 {
            seq += 1;
            let t0 = Instant::now();
            journal
                .append(seq, seq, ENCODING_SBE_LE, black_box(&payload))
                .unwrap();
            let ns = t0.elapsed().as_nanos() as u64;
            let _ = h.record(ns);
        }
        println!(
            "append {len:>3} B (1M samples, incl. timer): p50 {} ns, p99 {} ns, p99.9 {} ns, max {} ns",
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        );
    }
}

criterion_group!(benches, append_bench);
criterion_main!(benches);
