//! The writer side of one direction's journal: a ring of pre-faulted segment files, the
//! sequence index, appends and crash recovery.

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;

use memmap2::{MmapMut, MmapOptions};

use super::format::{
    align_record, record_header, scan_segment, Direction, RecordView, ScanEnd, SegmentHeader,
    FLAG_GAP, RECORD_HEADER_LEN, SEAL, SEGMENT_HEADER_LEN, TAIL_RESERVE,
};
use super::JournalError;
use crate::session::{RetransmitStore, StoreError};

/// Sizes of one direction's journal ring.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RingConfig {
    /// Size of each segment file in bytes (a multiple of 4096, at least 8 KiB).
    pub segment_bytes: usize,
    /// Number of segment files in the ring (at least 2). The ring holds at most
    /// `segment_bytes × segment_count` bytes of records.
    pub segment_count: usize,
    /// The most messages the sequence index holds (rounded up to a power of two); older
    /// numbers answer `NotHeld` even if their segment is still there.
    pub max_messages: usize,
}

impl Default for RingConfig {
    fn default() -> Self {
        RingConfig {
            segment_bytes: 16 << 20,
            segment_count: 4,
            max_messages: 1 << 20,
        }
    }
}

/// Index entry of a sequence number that is not held (a gap).
const INDEX_EMPTY: u64 = u64::MAX;
/// Index entry of a sequence number whose record was lost to corruption.
const INDEX_CORRUPT: u64 = u64::MAX - 1;

/// A record cut at recovery because it was torn (not fully written before a crash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The segment file.
    pub segment: PathBuf,
    /// Offset of the cut record.
    pub offset: usize,
}

/// A record found corrupt: its checksum fails, or its framing is broken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CorruptRecord {
    /// The segment file.
    pub segment: PathBuf,
    /// Offset of the record in the file.
    pub offset: usize,
    /// The sequence number the record has (or should have had).
    pub seq: Option<u64>,
}

/// What recovery found when a journal was opened.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RecoveryReport {
    /// Intact records found.
    pub records: u64,
    /// The torn last record that was cut, if any.
    pub torn_tail: Option<TornTail>,
    /// Corrupt records kept in place (reads of them fail closed with `Corrupt`).
    pub corrupt: Vec<CorruptRecord>,
}

struct Segment {
    path: PathBuf,
    file: File,
    map: MmapMut,
    /// Epoch of the header currently written (0: unused).
    epoch: u64,
    /// First sequence number in this segment (0: none).
    first_seq: u64,
}

impl Segment {
    fn open(path: PathBuf, segment_bytes: usize) -> Result<Segment, JournalError> {
        let io = |source| JournalError::Io {
            path: path.clone(),
            source,
        };
        if !path.exists() {
            // Allocated under a temporary name, then renamed: a crash never leaves a short
            // segment file under the real name.
            let tmp = path.with_extension("log.tmp");
            let file = File::create(&tmp).map_err(io)?;
            preallocate(&file, segment_bytes).map_err(io)?;
            std::fs::rename(&tmp, &path).map_err(io)?;
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len != segment_bytes as u64 {
            return Err(JournalError::Layout {
                path,
                reason: format!("segment is {len} bytes, the configuration says {segment_bytes}"),
            });
        }
        // The journal directory's writer lock (taken before any segment is opened) means no other
        // writer maps this file, and it is never truncated while mapped; tools map it read-only.
        // SAFETY: sole writer, size checked above, never truncated while the map lives.
        let mut map = unsafe { MmapOptions::new().populate().map_mut(&file) }.map_err(io)?;
        prefault(&mut map);
        Ok(Segment {
            path,
            file,
            map,
            epoch: 0,
            first_seq: 0,
        })
    }

    /// Release-stores a length word: everything written before becomes visible with it.
    fn commit_word(&mut self, at: usize, value: u32) {
        if !at.is_multiple_of(8) || at + 4 > self.map.len() {
            return;
        }
        let ptr = self.map.as_mut_ptr().wrapping_add(at) as *const AtomicU32;
        // Readers in other processes access this word only with atomic loads, and this
        // process's readers need `&self`, which `&mut self` excludes.
        // SAFETY: in bounds and 4-aligned (checked above; maps are page-aligned).
        unsafe { &*ptr }.store(value, Ordering::Release);
    }
}

/// Refuses a directory whose segment files were written with another segment count: the slot
/// of each epoch depends on it. A directory whose files hold no valid header yet (a creation
/// cut short) may be completed.
fn check_existing_layout(dir: &Path, config: &RingConfig) -> Result<(), JournalError> {
    use std::io::Read;
    let entries = std::fs::read_dir(dir).map_err(|source| JournalError::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut count = 0usize;
    let mut in_use = false;
    let mut beyond = false;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(slot) = name
            .to_str()
            .and_then(|n| n.strip_prefix("seg-"))
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse::<usize>().ok())
        else {
            continue;
        };
        count += 1;
        beyond |= slot >= config.segment_count;
        let mut head = [0u8; SEGMENT_HEADER_LEN];
        if File::open(entry.path())
            .and_then(|mut f| f.read_exact(&mut head))
            .is_ok()
        {
            in_use |= SegmentHeader::decode(&head).is_some();
        }
    }
    if beyond || (in_use && count != config.segment_count) {
        return Err(JournalError::Layout {
            path: dir.to_path_buf(),
            reason: format!(
                "{count} segment files, the configuration says {}",
                config.segment_count
            ),
        });
    }
    Ok(())
}

/// Allocates the file's blocks (not a sparse file) so that appends never allocate on disk.
fn preallocate(file: &File, len: usize) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    let len = libc::off_t::try_from(len).map_err(|_| std::io::ErrorKind::InvalidInput)?;
    // SAFETY: plain syscall on an open descriptor we own.
    let rc = unsafe { libc::posix_fallocate(file.as_raw_fd(), 0, len) };
    if rc == 0 {
        Ok(())
    } else if rc == libc::EOPNOTSUPP || rc == libc::EINVAL {
        file.set_len(len as u64)
    } else {
        Err(std::io::Error::from_raw_os_error(rc))
    }
}

/// Takes the page faults now, not on the hot path: writes every page's first byte back with
/// its own value, so each page is present and writable.
fn prefault(map: &mut MmapMut) {
    let mut at = 0;
    while at < map.len() {
        let byte = &mut map[at];
        *byte = std::hint::black_box(*byte);
        at += 4096;
    }
}

/// One direction's journal, opened for writing: appends, index lookups and recovery.
pub struct Journal {
    dir: PathBuf,
    direction: Direction,
    config: RingConfig,
    segments: Vec<Segment>,
    active: usize,
    pos: usize,
    last_seq: Option<u64>,
    oldest_first: u64,
    index: Vec<u64>,
    index_mask: u64,
    max_payload: usize,
    published: Arc<AtomicU64>,
    report: RecoveryReport,
    encoding: u16,
    _lock: File,
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir`, takes its writer lock (a second writer
    /// gets [`JournalError::Locked`]), pre-faults its segments and recovers what was appended
    /// before. Opening is slow (it touches every page); do it before trading starts.
    pub fn open(
        dir: &Path,
        direction: Direction,
        config: RingConfig,
    ) -> Result<Self, JournalError> {
        if config.segment_count < 2
            || config.segment_bytes < 8192
            || !config.segment_bytes.is_multiple_of(4096)
            || config.segment_bytes > u32::MAX as usize
            || config.max_messages == 0
        {
            return Err(JournalError::Layout {
                path: dir.to_path_buf(),
                reason: format!("invalid ring configuration {config:?}"),
            });
        }
        std::fs::create_dir_all(dir).map_err(|source| JournalError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let lock = super::lock_dir(dir)?;
        check_existing_layout(dir, &config)?;
        let mut segments = Vec::with_capacity(config.segment_count);
        for slot in 0..config.segment_count {
            segments.push(Segment::open(
                dir.join(segment_file_name(slot)),
                config.segment_bytes,
            )?);
        }
        let cap = config.max_messages.next_power_of_two();
        let max_payload = (config.segment_bytes - SEGMENT_HEADER_LEN - TAIL_RESERVE)
            & !(super::format::RECORD_ALIGN - 1);
        let mut journal = Journal {
            dir: dir.to_path_buf(),
            direction,
            config,
            segments,
            active: 0,
            pos: SEGMENT_HEADER_LEN,
            last_seq: None,
            oldest_first: 0,
            index: vec![INDEX_EMPTY; cap],
            index_mask: cap as u64 - 1,
            max_payload: max_payload - RECORD_HEADER_LEN,
            published: Arc::new(AtomicU64::new(0)),
            report: RecoveryReport::default(),
            encoding: super::format::ENCODING_SBE_LE,
            _lock: lock,
        };
        journal.recover()?;
        Ok(journal)
    }

    /// Sets the SOFH encoding type recorded by [`RetransmitStore::append`] (default SBE LE).
    pub fn set_store_encoding(&mut self, encoding: u16) {
        self.encoding = encoding;
    }

    /// The directory holding the segment files.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The direction of the journaled messages.
    pub fn direction(&self) -> Direction {
        self.direction
    }

    /// What recovery found at open.
    pub fn recovery_report(&self) -> &RecoveryReport {
        &self.report
    }

    /// The last sequence number appended, if any.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// The next sequence number to append: last + 1, or 1 for an empty journal.
    pub fn next_seq(&self) -> u64 {
        self.last_seq.map_or(1, |s| s + 1)
    }

    /// The largest payload one record can carry.
    pub fn max_payload(&self) -> usize {
        self.max_payload
    }

    /// The last appended sequence number, published (Release) after every append, for a
    /// flusher thread: `0` when nothing was appended.
    pub fn published_seq(&self) -> Arc<AtomicU64> {
        Arc::clone(&self.published)
    }

    /// Duplicated handles of the segment files, for a flusher's `fdatasync`.
    pub fn segment_files(&self) -> std::io::Result<Vec<File>> {
        self.segments.iter().map(|s| s.file.try_clone()).collect()
    }

    /// Flushes every segment to stable storage (`fdatasync`); never call this on the hot path.
    pub fn sync(&self) -> Result<(), JournalError> {
        for s in &self.segments {
            s.file.sync_data().map_err(|source| JournalError::Io {
                path: s.path.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Appends message `seq` (consecutive after the last one; any number ≥ 1 when empty) with
    /// its SOFH `encoding` type. No allocation, lock or syscall.
    pub fn append(
        &mut self,
        seq: u64,
        timestamp_ns: u64,
        encoding: u16,
        payload: &[u8],
    ) -> Result<(), StoreError> {
        let expected = self.next_seq();
        if seq == 0 || (self.last_seq.is_some() && seq != expected) {
            return Err(StoreError::OutOfOrder {
                expected,
                actual: seq,
            });
        }
        self.append_record(seq, timestamp_ns, encoding, 0, payload)
    }

    /// Appends message `seq` after a gap the owner accepts (an inbound Idempotent flow, or
    /// numbers the peer will never send): `seq` must be above the last one. The skipped numbers
    /// answer `NotHeld`. Costs one index store per skipped number (at most the index size).
    pub fn append_after_gap(
        &mut self,
        seq: u64,
        timestamp_ns: u64,
        encoding: u16,
        payload: &[u8],
    ) -> Result<(), StoreError> {
        let expected = self.next_seq();
        if seq < expected || seq == 0 {
            return Err(StoreError::OutOfOrder {
                expected,
                actual: seq,
            });
        }
        if self.last_seq.is_some() {
            self.mark_skipped(expected, seq, INDEX_EMPTY);
        }
        let flags = if self.last_seq.is_some() && seq > expected {
            FLAG_GAP
        } else {
            0
        };
        self.append_record(seq, timestamp_ns, encoding, flags, payload)
    }

    /// Sets the index entries of numbers `from..to` (only the last index-size of them matter).
    fn mark_skipped(&mut self, from: u64, to: u64, mark: u64) {
        let from = from.max(to.saturating_sub(self.index.len() as u64));
        for s in from..to {
            self.index[(s & self.index_mask) as usize] = mark;
        }
    }

    fn append_record(
        &mut self,
        seq: u64,
        timestamp_ns: u64,
        encoding: u16,
        flags: u16,
        payload: &[u8],
    ) -> Result<(), StoreError> {
        if payload.len() > self.max_payload {
            return Err(StoreError::TooLarge {
                len: payload.len(),
                max: self.max_payload,
            });
        }
        let total = RECORD_HEADER_LEN + payload.len();
        let padded = align_record(total);
        if self.pos + padded + TAIL_RESERVE > self.config.segment_bytes {
            self.roll();
        }
        let pos = self.pos;
        let seg = &mut self.segments[self.active];
        let header = record_header(
            total as u32,
            encoding,
            flags,
            seq,
            timestamp_ns,
            seg.epoch,
            payload,
        );
        // Body first (header fields after the length word, then payload), then the next
        // record's length word zeroed, then the length: Release makes all of it visible at once.
        seg.map[pos + 4..pos + RECORD_HEADER_LEN].copy_from_slice(&header[4..]);
        seg.map[pos + RECORD_HEADER_LEN..pos + total].copy_from_slice(payload);
        seg.map[pos + padded..pos + padded + 4].fill(0);
        seg.commit_word(pos, total as u32);
        if seg.first_seq == 0 {
            seg.first_seq = seq;
        }
        if self.last_seq.is_none() {
            self.oldest_first = seq;
        }
        self.index[(seq & self.index_mask) as usize] = pack(self.active, pos);
        self.pos = pos + padded;
        self.last_seq = Some(seq);
        self.published.store(seq, Ordering::Release);
        Ok(())
    }

    /// Seals the active segment and moves to the next one, recycling the oldest.
    fn roll(&mut self) {
        let pos = self.pos;
        let epoch = self.segments[self.active].epoch + 1;
        self.segments[self.active].commit_word(pos, SEAL);
        let slot = self.slot_of(epoch);
        self.start_segment(slot, epoch);
        // The oldest segment still holding records defines the first held number.
        let n = self.segments.len();
        self.oldest_first = (1..n)
            .map(|k| self.segments[(slot + k) % n].first_seq)
            .find(|&f| f != 0)
            .unwrap_or(0);
    }

    fn start_segment(&mut self, slot: usize, epoch: u64) {
        let header = SegmentHeader {
            direction: self.direction,
            segment_bytes: self.config.segment_bytes as u64,
            epoch,
        }
        .encode();
        let seg = &mut self.segments[slot];
        seg.commit_word(SEGMENT_HEADER_LEN, 0);
        seg.map[..SEGMENT_HEADER_LEN].copy_from_slice(&header);
        seg.epoch = epoch;
        seg.first_seq = 0;
        self.active = slot;
        self.pos = SEGMENT_HEADER_LEN;
    }

    fn slot_of(&self, epoch: u64) -> usize {
        ((epoch - 1) % self.segments.len() as u64) as usize
    }

    /// The first and last sequence numbers held, or `None` when empty.
    pub fn held_range(&self) -> Option<(u64, u64)> {
        let last = self.last_seq?;
        let by_index = (last + 1).saturating_sub(self.index.len() as u64);
        Some((self.oldest_first.max(by_index), last))
    }

    /// The record with this sequence number, checksum verified.
    pub fn record(&self, seq: u64) -> Result<RecordView<'_>, StoreError> {
        match self.held_range() {
            Some((first, last)) if seq >= first && seq <= last => {}
            _ => return Err(StoreError::NotHeld { seq }),
        }
        let entry = self.index[(seq & self.index_mask) as usize];
        if entry == INDEX_EMPTY {
            return Err(StoreError::NotHeld { seq });
        }
        if entry == INDEX_CORRUPT {
            return Err(StoreError::Corrupt { seq });
        }
        let (slot, pos) = unpack(entry);
        let seg = self.segments.get(slot).ok_or(StoreError::Corrupt { seq })?;
        match super::format::parse_record(&seg.map, pos, seg.epoch) {
            Ok(Some(rec)) if rec.seq == seq && rec.checksum_ok => Ok(rec),
            _ => Err(StoreError::Corrupt { seq }),
        }
    }

    /// Rebuilds the index and the write position from the segment files.
    fn recover(&mut self) -> Result<(), JournalError> {
        let n = self.segments.len();
        for (slot, seg) in self.segments.iter_mut().enumerate() {
            seg.epoch = match SegmentHeader::decode(&seg.map) {
                // Another journal's files: refuse rather than overwrite them.
                Some(h)
                    if h.direction != self.direction
                        || h.segment_bytes != self.config.segment_bytes as u64 =>
                {
                    return Err(JournalError::Layout {
                        path: seg.path.clone(),
                        reason: format!(
                            "segment of a {:?} journal of {}-byte segments, opened as {:?} with {}",
                            h.direction, h.segment_bytes, self.direction, self.config.segment_bytes
                        ),
                    });
                }
                Some(h) if ((h.epoch - 1) % n as u64) as usize == slot => h.epoch,
                _ => 0,
            };
        }
        let newest = self.segments.iter().map(|s| s.epoch).max().unwrap_or(0);
        if newest == 0 {
            self.start_segment(0, 1);
            return Ok(());
        }
        let oldest = newest.saturating_sub(n as u64 - 1).max(1);
        let mut report = RecoveryReport::default();
        let mut last: Option<u64> = None;
        let mut prev_broken = false;
        let mut active_end = None;
        for epoch in oldest..=newest {
            let slot = self.slot_of(epoch);
            if self.segments[slot].epoch != epoch {
                continue;
            }
            let mut first: Option<u64> = None;
            let mut tail: Option<(usize, u64, bool)> = None;
            let mut marks: Vec<(u64, u64, bool)> = Vec::new();
            let mut entries: Vec<(u64, usize, bool)> = Vec::new();
            let seg = &self.segments[slot];
            let end = scan_segment(&seg.map, epoch, SEGMENT_HEADER_LEN, None, |rec| {
                if first.is_none() {
                    first = Some(rec.seq);
                }
                entries.push((rec.seq, rec.offset, rec.checksum_ok));
                tail = Some((rec.offset, rec.seq, rec.checksum_ok));
            });
            if let (Some(f), Some(l)) = (first, last) {
                if f <= l {
                    return Err(JournalError::Inconsistent {
                        path: seg.path.clone(),
                        reason: format!("segment starts at {f}, after {l} in the one before"),
                    });
                }
                if f > l + 1 {
                    marks.push((l + 1, f, prev_broken));
                }
            }
            let is_active = epoch == newest;
            let mut cut_at = None;
            match end {
                ScanEnd::End { offset } => {
                    prev_broken = false;
                    if is_active {
                        active_end = Some(offset);
                        if let Some((off, _, false)) = tail {
                            // A last record with a bad checksum is a torn write: cut it.
                            cut_at = Some(off);
                        }
                    }
                }
                ScanEnd::Sealed => {
                    prev_broken = false;
                    if is_active {
                        active_end = Some(self.config.segment_bytes);
                    }
                }
                ScanEnd::BadFraming {
                    offset,
                    expected_seq,
                } => {
                    if is_active {
                        cut_at = Some(offset);
                    } else {
                        prev_broken = true;
                        report.corrupt.push(CorruptRecord {
                            segment: seg.path.clone(),
                            offset,
                            seq: expected_seq,
                        });
                    }
                }
            }
            if let Some(off) = cut_at {
                report.torn_tail = Some(TornTail {
                    segment: seg.path.clone(),
                    offset: off,
                });
                entries.retain(|e| e.1 < off);
                active_end = Some(off);
            }
            for &(seq, offset, ok) in &entries {
                if !ok {
                    report.corrupt.push(CorruptRecord {
                        segment: seg.path.clone(),
                        offset,
                        seq: Some(seq),
                    });
                } else {
                    report.records += 1;
                }
            }
            if let Some(off) = cut_at {
                self.segments[slot].commit_word(off, 0);
            }
            for (from, to, corrupt) in marks {
                self.mark_skipped(from, to, if corrupt { INDEX_CORRUPT } else { INDEX_EMPTY });
            }
            self.segments[slot].first_seq = entries.first().map_or(0, |e| e.0);
            let mut prev: Option<u64> = None;
            for &(seq, offset, _) in &entries {
                if let Some(p) = prev.filter(|&p| seq > p + 1) {
                    self.mark_skipped(p + 1, seq, INDEX_EMPTY);
                }
                prev = Some(seq);
                self.index[(seq & self.index_mask) as usize] = pack(slot, offset);
            }
            if let Some(&(seq, _, _)) = entries.last() {
                last = Some(seq);
                if self.oldest_first == 0 {
                    self.oldest_first = self.segments[slot].first_seq;
                }
            }
        }
        self.active = self.slot_of(newest);
        self.pos = active_end.unwrap_or(self.config.segment_bytes);
        if self.pos + TAIL_RESERVE > self.config.segment_bytes {
            // Sealed (or full) but the next segment was never started: start it now.
            self.pos = self.config.segment_bytes - TAIL_RESERVE;
            self.roll();
        }
        self.last_seq = last;
        self.published.store(last.unwrap_or(0), Ordering::Release);
        self.report = report;
        Ok(())
    }
}

impl RetransmitStore for Journal {
    fn append(&mut self, seq: u64, timestamp_ns: u64, frame: &[u8]) -> Result<(), StoreError> {
        Journal::append(self, seq, timestamp_ns, self.encoding, frame)
    }

    fn held(&self) -> Option<(u64, u64)> {
        self.held_range()
    }

    fn get(&self, seq: u64) -> Result<&[u8], StoreError> {
        self.record(seq).map(|r| r.payload)
    }
}

/// The file name of segment slot `slot`.
pub fn segment_file_name(slot: usize) -> String {
    format!("seg-{slot:04}.log")
}

fn pack(slot: usize, pos: usize) -> u64 {
    ((slot as u64) << 32) | pos as u64
}

fn unpack(entry: u64) -> (usize, usize) {
    ((entry >> 32) as usize, (entry & 0xffff_ffff) as usize)
}
