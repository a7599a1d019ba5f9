//! On-disk layout of segment files and records, and the scan shared by recovery and readers.
//!
//! Everything here works on byte slices and raw offsets; it never maps or opens files.

use std::sync::atomic::{AtomicU32, Ordering};

/// Magic bytes at the start of every segment file.
pub(super) const SEGMENT_MAGIC: [u8; 8] = *b"FIXPJRNL";
/// Layout version written in every segment header.
pub(super) const SEGMENT_VERSION: u32 = 1;
/// Bytes of the segment header; the first record starts here.
pub const SEGMENT_HEADER_LEN: usize = 64;
/// Bytes of a record header; the payload follows.
pub const RECORD_HEADER_LEN: usize = 32;
/// Records start on multiples of this.
pub(super) const RECORD_ALIGN: usize = 8;
/// Bytes always left free after a record for the next length word (end or seal marker).
pub(super) const TAIL_RESERVE: usize = 8;
/// The length word of a sealed segment's end: the stream continues in the next segment.
pub(super) const SEAL: u32 = u32::MAX;

/// Record flag: numbers between the previous record and this one were skipped on purpose
/// (an inbound gap, e.g. an Idempotent flow).
pub(super) const FLAG_GAP: u16 = 1;

/// SOFH encoding type of SBE little-endian payloads.
pub const ENCODING_SBE_LE: u16 = 0xEB50;
/// SOFH encoding type of JSON payloads.
pub const ENCODING_JSON: u16 = 0xF500;

/// Which way the journaled messages travelled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Sent by this side.
    Outbound,
    /// Received from the peer.
    Inbound,
}

impl Direction {
    /// The value stored in segment headers.
    pub fn to_wire(self) -> u32 {
        match self {
            Direction::Outbound => 1,
            Direction::Inbound => 2,
        }
    }

    /// The direction a header value stands for.
    pub fn from_wire(value: u32) -> Option<Self> {
        match value {
            1 => Some(Direction::Outbound),
            2 => Some(Direction::Inbound),
            _ => None,
        }
    }

    /// The sub-directory name of this direction inside a generation.
    pub fn dir_name(self) -> &'static str {
        match self {
            Direction::Outbound => "out",
            Direction::Inbound => "in",
        }
    }
}

/// Rounds `n` up to the record alignment.
pub(super) const fn align_record(n: usize) -> usize {
    (n + RECORD_ALIGN - 1) & !(RECORD_ALIGN - 1)
}

/// A decoded, checksum-valid segment header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeader {
    /// The direction of the journal the segment belongs to.
    pub direction: Direction,
    /// The segment file's size in bytes.
    pub segment_bytes: u64,
    /// The segment's position in the stream of segments (1, 2, …); 0 is never used.
    pub epoch: u64,
}

impl SegmentHeader {
    /// Encodes the header into its 64 bytes (checksum included).
    pub fn encode(&self) -> [u8; SEGMENT_HEADER_LEN] {
        let mut out = [0u8; SEGMENT_HEADER_LEN];
        out[0..8].copy_from_slice(&SEGMENT_MAGIC);
        out[8..12].copy_from_slice(&SEGMENT_VERSION.to_le_bytes());
        out[12..16].copy_from_slice(&self.direction.to_wire().to_le_bytes());
        out[16..24].copy_from_slice(&self.segment_bytes.to_le_bytes());
        out[24..32].copy_from_slice(&self.epoch.to_le_bytes());
        let crc = crc32c::crc32c(&out[0..32]);
        out[32..36].copy_from_slice(&crc.to_le_bytes());
        out
    }

    /// Decodes a header; `None` when the bytes are not a valid header (unused or torn).
    pub fn decode(bytes: &[u8]) -> Option<Self> {
        let head = bytes.get(0..SEGMENT_HEADER_LEN)?;
        if head[0..8] != SEGMENT_MAGIC || read_u32(head, 8)? != SEGMENT_VERSION {
            return None;
        }
        if read_u32(head, 32)? != crc32c::crc32c(&head[0..32]) {
            return None;
        }
        let epoch = read_u64(head, 24)?;
        if epoch == 0 {
            return None;
        }
        Some(SegmentHeader {
            direction: Direction::from_wire(read_u32(head, 12)?)?,
            segment_bytes: read_u64(head, 16)?,
            epoch,
        })
    }
}

/// Reads a little-endian u16 at `at`, if in bounds.
pub(super) fn read_u16(bytes: &[u8], at: usize) -> Option<u16> {
    let b = bytes.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([b[0], b[1]]))
}

/// Reads a little-endian u32 at `at`, if in bounds.
pub(super) fn read_u32(bytes: &[u8], at: usize) -> Option<u32> {
    let b = bytes.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

/// Reads a little-endian u64 at `at`, if in bounds.
pub(super) fn read_u64(bytes: &[u8], at: usize) -> Option<u64> {
    let b = bytes.get(at..at.checked_add(8)?)?;
    let mut a = [0u8; 8];
    a.copy_from_slice(b);
    Some(u64::from_le_bytes(a))
}

/// Loads the commit (length) word at `at` with Acquire ordering, if in bounds and aligned.
///
/// A reader that sees a non-zero length also sees every byte the writer stored before its
/// Release store of that length (same process, or another process sharing the page).
pub(super) fn load_commit_word(bytes: &[u8], at: usize) -> Option<u32> {
    if !at.is_multiple_of(RECORD_ALIGN) || bytes.get(at..at.checked_add(4)?).is_none() {
        return None;
    }
    let ptr = bytes.as_ptr().wrapping_add(at);
    if !(ptr as usize).is_multiple_of(4) {
        // Not a mapping (those are page-aligned): a plain buffer no one else writes.
        return read_u32(bytes, at);
    }
    // The memory may be a shared file mapping that a writer (possibly another process) stores
    // to concurrently; an atomic load is the only access we make to this word.
    // SAFETY: in bounds and 4-aligned (both checked above); atomic access only, so no data race.
    let word = unsafe { &*(ptr as *const AtomicU32) };
    Some(word.load(Ordering::Acquire))
}

/// The checksum of a record: header bytes 4..28, then the payload.
pub(super) fn record_crc(header: &[u8; RECORD_HEADER_LEN], payload: &[u8]) -> u32 {
    crc32c::crc32c_append(crc32c::crc32c(&header[4..28]), payload)
}

/// Builds a record header (the length word at 0..4 is included but committed separately).
pub(super) fn record_header(
    total_len: u32,
    encoding: u16,
    flags: u16,
    seq: u64,
    timestamp_ns: u64,
    epoch: u64,
    payload: &[u8],
) -> [u8; RECORD_HEADER_LEN] {
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&total_len.to_le_bytes());
    h[4..6].copy_from_slice(&encoding.to_le_bytes());
    h[6..8].copy_from_slice(&flags.to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..24].copy_from_slice(&timestamp_ns.to_le_bytes());
    h[24..28].copy_from_slice(&(epoch as u32).to_le_bytes());
    let crc = record_crc(&h, payload);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// One record as found in a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordView<'a> {
    /// Offset of the record in its segment file.
    pub offset: usize,
    /// Sequence number.
    pub seq: u64,
    /// Timestamp in nanoseconds, as given to `append`.
    pub timestamp_ns: u64,
    /// SOFH encoding type of the payload.
    pub encoding: u16,
    /// The payload bytes (the message as it went on the wire).
    pub payload: &'a [u8],
    /// True when the writer skipped numbers before this record on purpose (an inbound gap).
    pub gap_before: bool,
    /// False when the checksum does not match: the payload must not be used.
    pub checksum_ok: bool,
}

/// What stopped a segment scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ScanEnd {
    /// A zero length word: the end of what was written.
    End {
        /// Offset of the zero word (where the next record goes).
        offset: usize,
    },
    /// A seal marker: the stream continues in the next segment.
    Sealed,
    /// A length word that frames no valid record (bad length, wrong sequence or wrong segment).
    BadFraming {
        /// Offset of the bad record.
        offset: usize,
        /// The sequence number the record should have carried.
        expected_seq: Option<u64>,
    },
}

/// Parses the record at `offset` of segment `bytes` whose header epoch is `epoch`.
///
/// `Ok(None)` is the end or a seal; `Err` is bad framing.
pub(super) fn parse_record(
    bytes: &[u8],
    offset: usize,
    epoch: u64,
) -> Result<Option<RecordView<'_>>, ()> {
    let len_word = load_commit_word(bytes, offset).ok_or(())?;
    if len_word == 0 || len_word == SEAL {
        return Ok(None);
    }
    let total = len_word as usize;
    let end = offset.checked_add(total).ok_or(())?;
    if total < RECORD_HEADER_LEN || end > bytes.len() {
        return Err(());
    }
    let rec = bytes.get(offset..end).ok_or(())?;
    let mut header = [0u8; RECORD_HEADER_LEN];
    header.copy_from_slice(&rec[..RECORD_HEADER_LEN]);
    if read_u32(&header, 24) != Some(epoch as u32) {
        return Err(());
    }
    let payload = &rec[RECORD_HEADER_LEN..];
    let stored_crc = read_u32(&header, 28).ok_or(())?;
    Ok(Some(RecordView {
        offset,
        seq: read_u64(&header, 8).ok_or(())?,
        timestamp_ns: read_u64(&header, 16).ok_or(())?,
        encoding: read_u16(&header, 4).ok_or(())?,
        payload,
        gap_before: read_u16(&header, 6).ok_or(())? & FLAG_GAP != 0,
        checksum_ok: stored_crc == record_crc(&header, payload),
    }))
}

/// Walks the records of one segment from `start`, calling `visit` for each, checking that
/// sequence numbers follow `expected_seq` (when given) consecutively.
pub(super) fn scan_segment<'a>(
    bytes: &'a [u8],
    epoch: u64,
    start: usize,
    mut expected_seq: Option<u64>,
    mut visit: impl FnMut(&RecordView<'a>),
) -> ScanEnd {
    let mut offset = start;
    loop {
        match parse_record(bytes, offset, epoch) {
            Ok(None) => {
                return match load_commit_word(bytes, offset) {
                    Some(SEAL) => ScanEnd::Sealed,
                    _ => ScanEnd::End { offset },
                }
            }
            Err(()) => {
                return ScanEnd::BadFraming {
                    offset,
                    expected_seq,
                }
            }
            Ok(Some(rec)) => {
                if expected_seq.is_some_and(|e| e != rec.seq && !(rec.gap_before && rec.seq > e)) {
                    return ScanEnd::BadFraming {
                        offset,
                        expected_seq,
                    };
                }
                visit(&rec);
                expected_seq = rec.seq.checked_add(1);
                offset += align_record(RECORD_HEADER_LEN + rec.payload.len());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trip_and_checksum() {
        let h = SegmentHeader {
            direction: Direction::Inbound,
            segment_bytes: 1 << 20,
            epoch: 7,
        };
        let mut bytes = h.encode();
        assert_eq!(SegmentHeader::decode(&bytes), Some(h));
        bytes[25] ^= 1;
        assert_eq!(SegmentHeader::decode(&bytes), None);
    }

    #[test]
    fn scan_stops_at_end_and_flags_bad_checksum() {
        let mut seg = vec![0u8; 512];
        let mut off = SEGMENT_HEADER_LEN;
        for seq in 1..=3u64 {
            let payload = [seq as u8; 5];
            let total = (RECORD_HEADER_LEN + payload.len()) as u32;
            let h = record_header(total, ENCODING_JSON, 0, seq, seq * 10, 1, &payload);
            seg[off..off + 32].copy_from_slice(&h);
            seg[off + 32..off + 37].copy_from_slice(&payload);
            off += align_record(total as usize);
        }
        seg[SEGMENT_HEADER_LEN + 40 + 33] ^= 0xff; // payload of record 2
        let mut seen = Vec::new();
        let end = scan_segment(&seg, 1, SEGMENT_HEADER_LEN, Some(1), |r| {
            seen.push((r.seq, r.checksum_ok))
        });
        assert_eq!(seen, vec![(1, true), (2, false), (3, true)]);
        assert_eq!(end, ScanEnd::End { offset: off });
        // The wrong epoch frames nothing.
        let end = scan_segment(&seg, 2, SEGMENT_HEADER_LEN, None, |_| {});
        assert!(matches!(end, ScanEnd::BadFraming { .. }));
    }
}
