//! Read-only access to a journal directory, for tools: scan, verify, follow.
//!
//! Readers map the segment files read-only and never take the writer lock, so they can inspect
//! a journal while its engine appends to it.

use std::fs::File;
use std::path::{Path, PathBuf};

use memmap2::Mmap;

use super::format::{
    scan_segment, Direction, RecordView, ScanEnd, SegmentHeader, SEGMENT_HEADER_LEN,
};
use super::JournalError;

struct ReadSegment {
    path: PathBuf,
    map: Mmap,
}

/// One record found by a reader, with where it lives.
#[derive(Clone, Copy, Debug)]
pub struct FoundRecord<'a> {
    /// The segment file.
    pub segment: &'a Path,
    /// The record.
    pub record: RecordView<'a>,
}

/// What kind of damage [`JournalReader::verify`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProblemKind {
    /// The record's checksum does not match its contents.
    ChecksumMismatch,
    /// The length word frames no valid record (or the wrong sequence number / segment).
    BadFraming,
    /// Sequence numbers jump between two segments.
    SequenceGap,
}

/// One problem found by [`JournalReader::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The segment file.
    pub segment: PathBuf,
    /// Offset of the record in the file.
    pub offset: usize,
    /// The record's sequence number (or the one expected there).
    pub seq: Option<u64>,
    /// What is wrong.
    pub kind: ProblemKind,
}

/// The result of [`JournalReader::verify`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Records whose checksum matched.
    pub intact: u64,
    /// First and last sequence numbers seen.
    pub range: Option<(u64, u64)>,
    /// Everything wrong, in file order.
    pub problems: Vec<Problem>,
}

/// Where [`JournalReader::poll`] resumes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    /// The next sequence number wanted (0: from the oldest held).
    pub next_seq: u64,
    epoch: u64,
    offset: usize,
}

impl Cursor {
    /// A cursor starting at sequence number `seq` (0: from the oldest held).
    pub fn from_seq(seq: u64) -> Cursor {
        Cursor {
            next_seq: seq,
            epoch: 0,
            offset: 0,
        }
    }
}

/// A read-only view of one direction's journal directory.
pub struct JournalReader {
    dir: PathBuf,
    segments: Vec<ReadSegment>,
}

impl JournalReader {
    /// Maps every `seg-*.log` file of `dir` read-only.
    pub fn open(dir: &Path) -> Result<Self, JournalError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| JournalError::Io { path, source }
        };
        let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(io(dir))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("seg-") && n.ends_with(".log"))
            })
            .collect();
        paths.sort();
        let mut segments = Vec::with_capacity(paths.len());
        for path in paths {
            let file = File::open(&path).map_err(io(&path))?;
            // The writer (maybe another process) may store to these pages while we read; every
            // record is re-validated (length word loaded with Acquire, sequence, segment epoch and
            // checksum) before its bytes are trusted.
            // SAFETY: read-only shared map; the writer never truncates segment files.
            let map = unsafe { Mmap::map(&file) }.map_err(io(&path))?;
            segments.push(ReadSegment { path, map });
        }
        if segments.is_empty() {
            return Err(JournalError::Layout {
                path: dir.to_path_buf(),
                reason: "no segment files".into(),
            });
        }
        Ok(JournalReader {
            dir: dir.to_path_buf(),
            segments,
        })
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The direction written in the segment headers, if any segment is in use.
    pub fn direction(&self) -> Option<Direction> {
        self.segments
            .iter()
            .find_map(|s| SegmentHeader::decode(&s.map).map(|h| h.direction))
    }

    /// Total bytes of segment files.
    pub fn capacity_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.map.len() as u64).sum()
    }

    /// Segments in use, oldest first, as (slot, epoch).
    fn live_segments(&self) -> Vec<(usize, u64)> {
        let n = self.segments.len() as u64;
        let mut live: Vec<(usize, u64)> = self
            .segments
            .iter()
            .enumerate()
            .filter_map(|(slot, s)| {
                let h = SegmentHeader::decode(&s.map)?;
                (h.epoch.checked_sub(1)? % n == slot as u64).then_some((slot, h.epoch))
            })
            .collect();
        live.sort_by_key(|&(_, e)| e);
        if let Some(&(_, newest)) = live.last() {
            live.retain(|&(_, e)| e + n > newest);
        }
        live
    }

    /// Visits every record, oldest first, including those with a bad checksum
    /// (`record.checksum_ok == false`).
    pub fn scan(&self, mut visit: impl FnMut(&FoundRecord<'_>)) -> VerifyReport {
        let mut report = VerifyReport::default();
        let mut last: Option<u64> = None;
        for (slot, epoch) in self.live_segments() {
            let seg = &self.segments[slot];
            let mut first = true;
            let end = scan_segment(&seg.map, epoch, SEGMENT_HEADER_LEN, None, |rec| {
                if first {
                    first = false;
                    if let Some(l) = last {
                        if rec.seq != l + 1 && !(rec.gap_before && rec.seq > l) {
                            report.problems.push(Problem {
                                segment: seg.path.clone(),
                                offset: rec.offset,
                                seq: Some(l + 1),
                                kind: ProblemKind::SequenceGap,
                            });
                        }
                    }
                }
                last = Some(rec.seq);
                if rec.checksum_ok {
                    report.intact += 1;
                } else {
                    report.problems.push(Problem {
                        segment: seg.path.clone(),
                        offset: rec.offset,
                        seq: Some(rec.seq),
                        kind: ProblemKind::ChecksumMismatch,
                    });
                }
                report.range = Some((report.range.map_or(rec.seq, |r| r.0), rec.seq));
                visit(&FoundRecord {
                    segment: &seg.path,
                    record: *rec,
                });
            });
            if let ScanEnd::BadFraming {
                offset,
                expected_seq,
            } = end
            {
                report.problems.push(Problem {
                    segment: seg.path.clone(),
                    offset,
                    seq: expected_seq,
                    kind: ProblemKind::BadFraming,
                });
            }
        }
        report
    }

    /// Checks every record's checksum, the framing and the sequence continuity the index relies on.
    pub fn verify(&self) -> VerifyReport {
        self.scan(|_| {})
    }

    /// Visits records appended since the cursor's position (for `follow`), and advances it.
    /// Cheap when nothing is new: one header check and one length-word load.
    pub fn poll(&self, cursor: &mut Cursor, mut visit: impl FnMut(&FoundRecord<'_>)) {
        let n = self.segments.len() as u64;
        while cursor.epoch != 0 {
            let slot = ((cursor.epoch - 1) % n) as usize;
            let seg = &self.segments[slot];
            match SegmentHeader::decode(&seg.map) {
                Some(h) if h.epoch == cursor.epoch => {}
                // Not started yet: nothing new.
                Some(h) if h.epoch < cursor.epoch => return,
                _ => {
                    cursor.epoch = 0;
                    break;
                }
            }
            let mut next = cursor.next_seq;
            let end = scan_segment(&seg.map, cursor.epoch, cursor.offset, None, |rec| {
                if rec.seq >= next {
                    next = rec.seq + 1;
                    visit(&FoundRecord {
                        segment: &seg.path,
                        record: *rec,
                    });
                }
            });
            cursor.next_seq = next;
            match end {
                ScanEnd::End { offset } => {
                    cursor.offset = offset;
                    return;
                }
                ScanEnd::Sealed => {
                    cursor.epoch += 1;
                    cursor.offset = SEGMENT_HEADER_LEN;
                }
                ScanEnd::BadFraming { .. } => {
                    // Recycled under us or damaged: resynchronise by a full scan.
                    cursor.epoch = 0;
                }
            }
        }
        let live = self.live_segments();
        let Some(&(_, newest)) = live.last() else {
            return;
        };
        for (slot, epoch) in live {
            let seg = &self.segments[slot];
            let mut next = cursor.next_seq;
            let end = scan_segment(&seg.map, epoch, SEGMENT_HEADER_LEN, None, |rec| {
                if rec.seq >= next {
                    next = rec.seq + 1;
                    visit(&FoundRecord {
                        segment: &seg.path,
                        record: *rec,
                    });
                }
            });
            cursor.next_seq = next;
            if epoch == newest {
                match end {
                    ScanEnd::End { offset } => {
                        cursor.epoch = epoch;
                        cursor.offset = offset;
                    }
                    ScanEnd::Sealed => {
                        cursor.epoch = epoch + 1;
                        cursor.offset = SEGMENT_HEADER_LEN;
                    }
                    ScanEnd::BadFraming { .. } => {}
                }
            }
        }
    }
}
