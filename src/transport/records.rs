//! [`RecordBuffer`]: reads TLS records from the socket into a preallocated buffer and hands
//! rustls whole records only.
//!
//! rustls 0.23 reads into a 4 KiB window that it grows when a read ends inside a record (a
//! partial record is kept and the next read needs room after it) and shrinks back once it is
//! empty: two allocations each time a read boundary falls inside a record, which under load
//! happens at unpredictable moments. Fed whole records, its window is always empty before a
//! read and never changes size. Fed one record per read, the queue of decrypted records it
//! keeps (drained before the next read) never holds more than one, so it never grows either:
//! the record layer's only allocations are its per-record buffers. A record larger than
//! rustls's window (a message above about 4 KiB) is still handed over in pieces, as before.
//!
//! Owns: bytes read from the socket that rustls has not taken yet. May not touch: TLS state.

use std::io::{self, Read};

use super::{PassState, ReadPass};

/// TLS record header: type (1), version (2), length (2).
const HEADER: usize = 5;
/// The largest TLS record on the wire: 16 KiB of plaintext, 2 KiB of expansion, the header.
const MAX_RECORD: usize = 16 * 1024 + 2048 + HEADER;

/// Socket bytes waiting for rustls, in a buffer allocated once (room for two largest records).
pub(crate) struct RecordBuffer {
    bytes: Box<[u8]>,
    start: usize,
    end: usize,
    /// Bytes still to hand over of a record larger than rustls's window (given in pieces).
    piece: usize,
    eof: bool,
    /// The read pass ([`RecordBuffer::start_read_pass`]): once a socket read returned less
    /// than it asked for, the socket's queue was empty, so another read would be `WouldBlock`
    /// (a syscall spent on the answer's critical path).
    pass: PassState,
}

impl std::fmt::Debug for RecordBuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "RecordBuffer({} bytes)", self.end - self.start)
    }
}

impl RecordBuffer {
    pub(crate) fn new() -> Self {
        RecordBuffer {
            bytes: vec![0; 2 * MAX_RECORD].into_boxed_slice(),
            start: 0,
            end: 0,
            piece: 0,
            eof: false,
            pass: PassState::default(),
        }
    }

    /// Starts a read pass: the next read goes to the socket; with [`ReadPass::UntilShortRead`],
    /// after a short read the rest of the pass is `WouldBlock` without a syscall (data that
    /// arrives after it raises a new readiness event). Otherwise, and for a buffer never put in
    /// a pass, reads go on until the socket says `WouldBlock`.
    pub(crate) fn start_read_pass(&mut self, pass: ReadPass) {
        self.pass.start(pass);
    }

    /// A reader for rustls's `read_tls` over `socket`.
    pub(crate) fn reader<'a, R: Read>(&'a mut self, socket: &'a mut R) -> RecordReader<'a, R> {
        RecordReader {
            buffer: self,
            socket,
        }
    }

    fn pending(&self) -> &[u8] {
        self.bytes.get(self.start..self.end).unwrap_or(&[])
    }

    /// Bytes of the record at the front if it is whole and fits in `room` (0: it does not).
    fn whole_record(&self, room: usize) -> usize {
        let pending = self.pending();
        match record_len(pending) {
            Some(len) if len <= pending.len() && len <= room => len,
            _ => 0,
        }
    }

    /// Hands `n` pending bytes to `out`.
    fn give(&mut self, out: &mut [u8], n: usize) -> usize {
        let n = n.min(out.len()).min(self.end - self.start);
        if let (Some(dst), Some(src)) =
            (out.get_mut(..n), self.bytes.get(self.start..self.start + n))
        {
            dst.copy_from_slice(src);
        }
        self.start += n;
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
        n
    }
}

/// The length on the wire of the record at the front of `bytes`, once its header is there.
fn record_len(bytes: &[u8]) -> Option<usize> {
    let len = bytes.get(3..HEADER)?;
    Some(HEADER + usize::from(u16::from_be_bytes([len[0], len[1]])))
}

/// `Read` for rustls: one whole record per read from the buffer, refilled from the socket.
pub(crate) struct RecordReader<'a, R: Read> {
    buffer: &'a mut RecordBuffer,
    socket: &'a mut R,
}

impl<R: Read> Read for RecordReader<'_, R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let b = &mut *self.buffer;
        loop {
            let pending = b.end - b.start;
            if b.piece > 0 {
                // The rest of a large record, as far as it has arrived.
                if pending > 0 {
                    let n = b.give(out, b.piece.min(pending));
                    b.piece -= n;
                    return Ok(n);
                }
            } else {
                let whole = b.whole_record(out.len());
                if whole > 0 {
                    return Ok(b.give(out, whole));
                }
                match record_len(b.pending()) {
                    // Larger than rustls's window: it takes this one in pieces.
                    Some(len) if len > out.len() => {
                        b.piece = len;
                        continue;
                    }
                    _ if b.eof && pending > 0 => return Ok(b.give(out, pending)),
                    _ => {}
                }
            }
            if b.eof {
                return Ok(0);
            }
            if b.pass.ended() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            if b.start > 0 {
                b.bytes.copy_within(b.start..b.end, 0);
                b.end -= b.start;
                b.start = 0;
            }
            // What waits here is at most one incomplete record, so there is room.
            let room = b.bytes.get_mut(b.end..).unwrap_or(&mut []);
            if room.is_empty() {
                return Ok(b.give(out, pending));
            }
            match self.socket.read(room) {
                Ok(0) => b.eof = true,
                Ok(n) => {
                    b.pass.note_read(n, room.len());
                    b.end += n;
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A socket that returns its chunks one read at a time, then `WouldBlock`.
    struct Chunks(Vec<Vec<u8>>);

    impl Read for Chunks {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            if self.0.is_empty() {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            let chunk = self.0.remove(0);
            if chunk.is_empty() {
                return Ok(0);
            }
            out[..chunk.len()].copy_from_slice(&chunk);
            Ok(chunk.len())
        }
    }

    fn record(len: usize, fill: u8) -> Vec<u8> {
        let mut r = vec![23, 3, 3];
        r.extend_from_slice(&(len as u16).to_be_bytes());
        r.extend(std::iter::repeat_n(fill, len));
        r
    }

    #[test]
    fn one_whole_record_per_read_whatever_the_read_boundaries() {
        let (a, b, c) = (record(10, 1), record(20, 2), record(7, 3));
        let stream: Vec<u8> = [a.clone(), b.clone(), c.clone()].concat();
        // Split inside b's header and inside c's body.
        let mut socket = Chunks(vec![
            stream[..18].to_vec(),
            stream[18..40].to_vec(),
            stream[40..].to_vec(),
        ]);
        let mut buffer = RecordBuffer::new();
        let mut out = [0u8; 4096];
        let mut got = Vec::new();
        loop {
            match buffer.reader(&mut socket).read(&mut out) {
                Ok(n) => {
                    assert!(n > 0);
                    let chunk = &out[..n];
                    assert_eq!(record_len(chunk), Some(n), "exactly one whole record");
                    got.extend_from_slice(chunk);
                }
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
                    if socket.0.is_empty() {
                        break;
                    }
                    // More arrived: its readiness event starts a new pass.
                    buffer.start_read_pass(ReadPass::UntilShortRead);
                }
            }
        }
        assert_eq!(got, stream);
    }

    #[test]
    fn a_record_larger_than_the_window_goes_in_pieces_and_eof_is_reported() {
        let big = record(100, 9);
        let next = record(3, 4);
        let stream: Vec<u8> = [big.clone(), next.clone(), big.clone()].concat();
        let mut socket = Chunks(vec![
            stream[..30].to_vec(),
            stream[30..120].to_vec(),
            stream[120..].to_vec(),
            Vec::new(),
        ]);
        let mut buffer = RecordBuffer::new();
        let mut out = [0u8; 40];
        let mut got = Vec::new();
        loop {
            let n = match buffer.reader(&mut socket).read(&mut out) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    buffer.start_read_pass(ReadPass::UntilShortRead);
                    continue;
                }
                Err(e) => panic!("{e}"),
            };
            got.extend_from_slice(&out[..n]);
        }
        assert_eq!(got, stream);
    }

    /// Counts the reads that reach it.
    struct Counting<'a>(&'a mut Chunks, usize);

    impl Read for Counting<'_> {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.1 += 1;
            self.0.read(out)
        }
    }

    #[test]
    fn after_a_short_read_the_pass_ends_without_a_syscall_until_the_next_pass() {
        let (a, b) = (record(10, 1), record(20, 2));
        let mut chunks = Chunks(vec![a.clone(), b.clone()]);
        let mut socket = Counting(&mut chunks, 0);
        let mut buffer = RecordBuffer::new();
        let mut out = [0u8; 4096];
        buffer.start_read_pass(ReadPass::UntilShortRead);
        assert_eq!(buffer.reader(&mut socket).read(&mut out).unwrap(), a.len());
        assert_eq!(socket.1, 1);
        // The socket gave less than the room: it was empty; b waits for its readiness event.
        let e = buffer.reader(&mut socket).read(&mut out).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(socket.1, 1, "no read reached the socket");
        buffer.start_read_pass(ReadPass::UntilShortRead);
        assert_eq!(buffer.reader(&mut socket).read(&mut out).unwrap(), b.len());
        assert_eq!(&out[..b.len()], &b[..]);
        assert_eq!(socket.1, 2);
    }
}
