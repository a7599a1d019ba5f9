//! Journal behaviour: wrap, corruption, lock, generations, metadata recovery, readers.

use std::path::{Path, PathBuf};

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::SessionId;
use fixp_ws::journal::{
    list_generations, read_meta, Cursor, Direction, Journal, JournalConfig, JournalError,
    JournalReader, ProblemKind, RingConfig, SessionJournal, ENCODING_JSON, ENCODING_SBE_LE,
};
use fixp_ws::session::{RetransmitStore, StoreError};

fn small_ring() -> RingConfig {
    RingConfig {
        segment_bytes: 8192,
        segment_count: 3,
        max_messages: 1024,
    }
}

fn payload(seq: u64, len: usize) -> Vec<u8> {
    (0..len).map(|i| (seq as usize * 31 + i) as u8).collect()
}

fn config() -> JournalConfig {
    JournalConfig {
        outbound: small_ring(),
        inbound: small_ring(),
        keep_generations: 2,
        flush_interval: None,
    }
}

#[test]
fn journals_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Journal>();
    assert_send::<SessionJournal>();
}

#[test]
fn append_get_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    {
        let mut j = Journal::open(&out, Direction::Outbound, small_ring()).unwrap();
        assert_eq!(j.held_range(), None);
        assert_eq!(j.next_seq(), 1);
        for seq in 1..=20 {
            j.append(seq, seq * 1000, ENCODING_SBE_LE, &payload(seq, 50))
                .unwrap();
        }
        assert_eq!(
            j.append(22, 0, ENCODING_SBE_LE, b"x"),
            Err(StoreError::OutOfOrder {
                expected: 21,
                actual: 22
            })
        );
        let r = j.record(7).unwrap();
        assert_eq!(
            (r.seq, r.timestamp_ns, r.encoding),
            (7, 7000, ENCODING_SBE_LE)
        );
        assert_eq!(r.payload, &payload(7, 50)[..]);
    }
    let j = Journal::open(&out, Direction::Outbound, small_ring()).unwrap();
    assert_eq!(j.held_range(), Some((1, 20)));
    assert_eq!(j.next_seq(), 21);
    assert_eq!(j.recovery_report().records, 20);
    assert_eq!(j.recovery_report().torn_tail, None);
    for seq in 1..=20 {
        assert_eq!(
            RetransmitStore::get(&j, seq).unwrap(),
            &payload(seq, 50)[..]
        );
    }
    assert_eq!(
        RetransmitStore::get(&j, 21),
        Err(StoreError::NotHeld { seq: 21 })
    );
}

#[test]
fn mismatched_layout_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    drop(Journal::open(dir.path(), Direction::Outbound, small_ring()).unwrap());
    let mut other = small_ring();
    other.segment_bytes = 16384;
    assert!(matches!(
        Journal::open(dir.path(), Direction::Outbound, other),
        Err(JournalError::Layout { .. })
    ));
    let mut other = small_ring();
    other.segment_count = 4;
    assert!(matches!(
        Journal::open(dir.path(), Direction::Outbound, other),
        Err(JournalError::Layout { .. })
    ));
    // An inbound journal's files are never taken over as outbound ones.
    assert!(matches!(
        Journal::open(dir.path(), Direction::Inbound, small_ring()),
        Err(JournalError::Layout { .. })
    ));
    assert!(Journal::open(dir.path(), Direction::Outbound, small_ring()).is_ok());
}

#[test]
fn oversize_record_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(dir.path(), Direction::Outbound, small_ring()).unwrap();
    let max = j.max_payload();
    assert!(matches!(
        j.append(1, 0, ENCODING_JSON, &vec![0u8; max + 1]),
        Err(StoreError::TooLarge { len, max: m }) if len == max + 1 && m == max
    ));
    j.append(1, 0, ENCODING_JSON, &vec![7u8; max]).unwrap();
    j.append(2, 0, ENCODING_JSON, &vec![8u8; max]).unwrap();
    assert_eq!(j.record(1).unwrap().payload.len(), max);
    assert_eq!(j.record(2).unwrap().payload, &vec![8u8; max][..]);
}

#[test]
fn wrap_recycles_oldest_segment() {
    let dir = tempfile::tempdir().unwrap();
    let ring = small_ring(); // 3 × 8 KiB
    let mut j = Journal::open(dir.path(), Direction::Outbound, ring).unwrap();
    let n = 1000u64; // 1000 × 232 bytes ≫ 24 KiB
    for seq in 1..=n {
        RetransmitStore::append(&mut j, seq, seq, &payload(seq, 200)).unwrap();
    }
    let (first, last) = j.held().unwrap();
    assert_eq!(last, n);
    assert!(first > 1 && first < n - 60, "held {first}..{last}");
    for seq in [1, first - 1] {
        assert_eq!(
            RetransmitStore::get(&j, seq),
            Err(StoreError::NotHeld { seq })
        );
    }
    for seq in first..=last {
        assert_eq!(
            RetransmitStore::get(&j, seq).unwrap(),
            &payload(seq, 200)[..]
        );
    }
    drop(j);
    let j = Journal::open(dir.path(), Direction::Outbound, ring).unwrap();
    assert_eq!(j.held(), Some((first, last)));
    for seq in first..=last {
        assert_eq!(
            RetransmitStore::get(&j, seq).unwrap(),
            &payload(seq, 200)[..]
        );
    }
    assert_eq!(
        RetransmitStore::get(&j, first - 1),
        Err(StoreError::NotHeld { seq: first - 1 })
    );
    let report = JournalReader::open(dir.path()).unwrap().verify();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.range, Some((first, last)));
}

#[test]
fn message_bound_limits_held_range() {
    let dir = tempfile::tempdir().unwrap();
    let ring = RingConfig {
        segment_bytes: 1 << 16,
        segment_count: 2,
        max_messages: 16,
    };
    let mut j = Journal::open(dir.path(), Direction::Outbound, ring).unwrap();
    for seq in 1..=40 {
        j.append(seq, 0, ENCODING_SBE_LE, &payload(seq, 8)).unwrap();
    }
    assert_eq!(j.held_range(), Some((25, 40)));
    assert_eq!(j.record(24).err(), Some(StoreError::NotHeld { seq: 24 }));
    assert_eq!(j.record(25).unwrap().payload, &payload(25, 8)[..]);
}

/// Flips one payload byte of record `seq`, found through a reader; returns where it is.
fn corrupt_record(dir: &Path, seq: u64) -> (PathBuf, usize) {
    let reader = JournalReader::open(dir).unwrap();
    let mut at = None;
    reader.scan(|r| {
        if r.record.seq == seq {
            at = Some((r.segment.to_path_buf(), r.record.offset));
        }
    });
    drop(reader);
    let (path, offset) = at.unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[offset + 40] ^= 0x5a;
    std::fs::write(&path, bytes).unwrap();
    (path, offset)
}

#[test]
fn corrupt_record_fails_closed_and_verify_points_at_it() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut j = Journal::open(dir.path(), Direction::Outbound, small_ring()).unwrap();
        for seq in 1..=30 {
            j.append(seq, seq, ENCODING_SBE_LE, &payload(seq, 64))
                .unwrap();
        }
    }
    let (path, offset) = corrupt_record(dir.path(), 12);
    let report = JournalReader::open(dir.path()).unwrap().verify();
    assert_eq!(report.problems.len(), 1);
    let p = &report.problems[0];
    assert_eq!(
        (&p.segment, p.offset, p.seq, p.kind),
        (&path, offset, Some(12), ProblemKind::ChecksumMismatch)
    );
    assert_eq!(report.intact, 29);

    let j = Journal::open(dir.path(), Direction::Outbound, small_ring()).unwrap();
    assert_eq!(
        RetransmitStore::get(&j, 12),
        Err(StoreError::Corrupt { seq: 12 })
    );
    assert_eq!(RetransmitStore::get(&j, 13).unwrap(), &payload(13, 64)[..]);
    assert_eq!(j.held(), Some((1, 30)));
    assert_eq!(j.recovery_report().corrupt.len(), 1);
    assert_eq!(j.recovery_report().corrupt[0].seq, Some(12));
}

#[test]
fn broken_framing_in_an_older_segment_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut j = Journal::open(dir.path(), Direction::Outbound, small_ring()).unwrap();
        for seq in 1..=60 {
            j.append(seq, seq, ENCODING_SBE_LE, &payload(seq, 200))
                .unwrap();
        }
    }
    // Record 10 sits in the first segment; break its length word.
    let reader = JournalReader::open(dir.path()).unwrap();
    let mut at = None;
    reader.scan(|r| {
        if r.record.seq == 10 {
            at = Some((r.segment.to_path_buf(), r.record.offset));
        }
    });
    drop(reader);
    let (path, offset) = at.unwrap();
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[offset..offset + 4].copy_from_slice(&5u32.to_le_bytes());
    std::fs::write(&path, bytes).unwrap();

    let report = JournalReader::open(dir.path()).unwrap().verify();
    assert!(report
        .problems
        .iter()
        .any(|p| p.kind == ProblemKind::BadFraming && p.offset == offset && p.seq == Some(10)));
    let j = Journal::open(dir.path(), Direction::Outbound, small_ring()).unwrap();
    assert_eq!(j.held(), Some((1, 60)));
    assert_eq!(j.get(9).unwrap(), &payload(9, 200)[..]);
    // Every number after the break in that segment fails closed; the next segment is intact.
    let mut first_ok_after = None;
    for seq in 10..=60 {
        match j.get(seq) {
            Err(StoreError::Corrupt { .. }) => assert!(first_ok_after.is_none()),
            Ok(p) => {
                assert_eq!(p, &payload(seq, 200)[..]);
                first_ok_after.get_or_insert(seq);
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(first_ok_after.is_some_and(|s| s > 10));
}

#[test]
fn corrupt_last_record_is_cut_as_torn() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut j = Journal::open(dir.path(), Direction::Outbound, small_ring()).unwrap();
        for seq in 1..=5 {
            j.append(seq, seq, ENCODING_SBE_LE, &payload(seq, 64))
                .unwrap();
        }
    }
    let (path, offset) = corrupt_record(dir.path(), 5);
    let mut j = Journal::open(dir.path(), Direction::Outbound, small_ring()).unwrap();
    let torn = j.recovery_report().torn_tail.clone().unwrap();
    assert_eq!((torn.segment, torn.offset), (path, offset));
    assert_eq!(j.next_seq(), 5);
    assert_eq!(j.record(5).err(), Some(StoreError::NotHeld { seq: 5 }));
    j.append(5, 5, ENCODING_SBE_LE, b"again").unwrap();
    assert_eq!(j.record(5).unwrap().payload, b"again");
}

#[test]
fn second_writer_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = SessionJournal::open(dir.path(), config()).unwrap();
    match SessionJournal::open(dir.path(), config()) {
        Err(JournalError::Locked { path }) => assert!(path.ends_with("LOCK")),
        Err(e) => panic!("unexpected error {e}"),
        Ok(_) => panic!("a second writer was allowed"),
    }
    drop(first);
    let _again = SessionJournal::open(dir.path(), config()).unwrap();
}

#[test]
fn session_metadata_and_sequence_numbers_recover() {
    let dir = tempfile::tempdir().unwrap();
    let id = SessionId::from_random_bytes([9; 16]);
    {
        let mut sj = SessionJournal::open(dir.path(), config()).unwrap();
        assert_eq!(sj.session(), None);
        let g = sj
            .start_generation(id, FlowType::Recoverable, FlowType::Idempotent)
            .unwrap();
        for seq in 1..=7 {
            g.outbound
                .append(seq, seq, ENCODING_JSON, b"{\"out\":1}")
                .unwrap();
        }
        for seq in 1..=4 {
            g.inbound
                .append(seq, seq, ENCODING_JSON, b"{\"in\":1}")
                .unwrap();
        }
    }
    let sj = SessionJournal::open(dir.path(), config()).unwrap();
    let meta = sj.session().unwrap();
    assert_eq!(meta.session_id, id);
    assert_eq!(meta.outbound_flow, FlowType::Recoverable);
    assert_eq!(meta.inbound_flow, FlowType::Idempotent);
    assert_eq!(meta.generation, 1);
    assert_eq!(sj.next_outbound_seq(), Some(8));
    assert_eq!(sj.next_inbound_seq(), Some(5));
}

#[test]
fn damaged_metadata_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut sj = SessionJournal::open(dir.path(), config()).unwrap();
        sj.start_generation(
            SessionId::from_random_bytes([1; 16]),
            FlowType::Recoverable,
            FlowType::Recoverable,
        )
        .unwrap();
    }
    let gen = dir.path().join("gen-00000001");
    let meta = gen.join("meta");
    let mut bytes = std::fs::read(&meta).unwrap();
    bytes[30] ^= 1;
    std::fs::write(&meta, bytes).unwrap();
    assert!(matches!(read_meta(&gen), Err(JournalError::Meta { .. })));
    // A generation without valid metadata is never resumed.
    let sj = SessionJournal::open(dir.path(), config()).unwrap();
    assert_eq!(sj.session(), None);
}

#[test]
fn new_session_id_starts_new_generation_and_prunes() {
    let dir = tempfile::tempdir().unwrap();
    let mut sj = SessionJournal::open(dir.path(), config()).unwrap(); // keeps 2
    let ids: Vec<SessionId> = (1..=3u8)
        .map(|i| SessionId::from_random_bytes([i; 16]))
        .collect();
    for (n, id) in ids.iter().enumerate() {
        let g = sj
            .start_generation(*id, FlowType::Recoverable, FlowType::Recoverable)
            .unwrap();
        assert_eq!(g.meta.generation, n as u64 + 1);
        // A new generation starts empty: never mixed with the old one.
        assert_eq!(g.outbound.held_range(), None);
        for seq in 1..=(n as u64 + 2) {
            g.outbound
                .append(seq, 0, ENCODING_SBE_LE, &[n as u8; 16])
                .unwrap();
        }
    }
    let gens = list_generations(dir.path()).unwrap();
    let numbers: Vec<u64> = gens.iter().map(|g| g.0).collect();
    assert_eq!(numbers, vec![2, 3]);
    assert_eq!(read_meta(&gens[0].1).unwrap().session_id, ids[1]);
    drop(sj);
    let sj = SessionJournal::open(dir.path(), config()).unwrap();
    assert_eq!(sj.session().unwrap().session_id, ids[2]);
    assert_eq!(sj.next_outbound_seq(), Some(5));
    let g = sj.generation().unwrap();
    assert_eq!(g.outbound.record(4).unwrap().payload, &[2u8; 16]);
}

#[test]
fn flusher_publishes_durable_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.flush_interval = Some(std::time::Duration::from_millis(1));
    let mut sj = SessionJournal::open(dir.path(), cfg).unwrap();
    let g = sj
        .start_generation(
            SessionId::from_random_bytes([4; 16]),
            FlowType::Recoverable,
            FlowType::Recoverable,
        )
        .unwrap();
    for seq in 1..=10 {
        g.outbound.append(seq, 0, ENCODING_SBE_LE, b"abc").unwrap();
    }
    g.inbound.append(1, 0, ENCODING_SBE_LE, b"abc").unwrap();
    // The flusher syncs in rounds; wait (without a deadline) until it has published both.
    let mut seen = sj.durable_seqs().unwrap();
    while seen != (10, 1) {
        assert!(seen.0 <= 10 && seen.1 <= 1);
        std::thread::yield_now();
        seen = sj.durable_seqs().unwrap();
    }
    assert_eq!(sj.flush_errors(), 0);
}

#[test]
fn reader_follows_live_appends_across_segments() {
    let dir = tempfile::tempdir().unwrap();
    let mut j = Journal::open(dir.path(), Direction::Inbound, small_ring()).unwrap();
    let reader = JournalReader::open(dir.path()).unwrap();
    assert_eq!(reader.direction(), Some(Direction::Inbound));
    let mut cursor = Cursor::from_seq(0);
    let mut seen = Vec::new();
    let mut seq = 0;
    for batch in [3usize, 0, 40, 1, 200] {
        for _ in 0..batch {
            seq += 1;
            j.append(seq, seq * 2, ENCODING_SBE_LE, &payload(seq, 100))
                .unwrap();
        }
        reader.poll(&mut cursor, |r| {
            assert!(r.record.checksum_ok);
            assert_eq!(r.record.payload, &payload(r.record.seq, 100)[..]);
            seen.push(r.record.seq);
        });
        assert_eq!(seen.last().copied().unwrap_or(0), seq);
    }
    // The first 44 come one by one; the batch of 200 overran the 24 KiB ring, so the cursor
    // resynchronised from the oldest held: never backwards, never repeated.
    assert_eq!(&seen[..44], &(1..=44).collect::<Vec<u64>>()[..]);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(cursor.next_seq, seq + 1);
}

#[test]
fn inbound_gaps_are_recorded_and_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut j = Journal::open(dir.path(), Direction::Inbound, small_ring()).unwrap();
        j.append(1, 1, ENCODING_JSON, b"{\"a\":1}").unwrap();
        j.append(2, 2, ENCODING_JSON, b"{\"a\":2}").unwrap();
        assert_eq!(
            j.append_after_gap(2, 3, ENCODING_JSON, b"x"),
            Err(StoreError::OutOfOrder {
                expected: 3,
                actual: 2
            })
        );
        j.append_after_gap(6, 6, ENCODING_JSON, b"{\"a\":6}")
            .unwrap();
        j.append(7, 7, ENCODING_JSON, b"{\"a\":7}").unwrap();
        assert_eq!(j.record(4).err(), Some(StoreError::NotHeld { seq: 4 }));
    }
    let j = Journal::open(dir.path(), Direction::Inbound, small_ring()).unwrap();
    assert_eq!(j.recovery_report().records, 4);
    assert_eq!(j.next_seq(), 8);
    for seq in 3..=5 {
        assert_eq!(j.record(seq).err(), Some(StoreError::NotHeld { seq }));
    }
    assert_eq!(j.record(6).unwrap().payload, b"{\"a\":6}");
    assert!(j.record(6).unwrap().gap_before);
    assert!(!j.record(7).unwrap().gap_before);
    let report = JournalReader::open(dir.path()).unwrap().verify();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert_eq!(report.range, Some((1, 7)));
}

#[test]
fn second_writer_of_a_direction_journal_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let first = Journal::open(dir.path(), Direction::Outbound, small_ring()).unwrap();
    assert!(matches!(
        Journal::open(dir.path(), Direction::Outbound, small_ring()),
        Err(JournalError::Locked { .. })
    ));
    // Readers need no lock.
    assert!(JournalReader::open(dir.path()).is_ok());
    drop(first);
    assert!(Journal::open(dir.path(), Direction::Outbound, small_ring()).is_ok());
}

#[test]
fn a_finalized_generation_stays_finalized_across_reopen_and_a_new_one_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let id = SessionId::from_random_bytes([7; 16]);
    {
        let mut journal = SessionJournal::open(dir.path(), config()).unwrap();
        let generation = journal
            .start_generation(id, FlowType::Recoverable, FlowType::Recoverable)
            .unwrap();
        assert!(!generation.is_finalized());
        generation.mark_finalized().unwrap();
        generation.mark_finalized().unwrap();
        assert!(generation.is_finalized());
    }
    let mut journal = SessionJournal::open(dir.path(), config()).unwrap();
    assert!(journal.generation().unwrap().is_finalized());
    let next = journal
        .start_generation(id, FlowType::Recoverable, FlowType::Recoverable)
        .unwrap();
    assert!(!next.is_finalized());
    drop(journal);
    let journal = SessionJournal::open(dir.path(), config()).unwrap();
    assert!(!journal.generation().unwrap().is_finalized());
}
