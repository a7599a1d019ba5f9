//! The write batch between tungstenite and the byte stream of a [`super::WsConnection`].
//!
//! While a batch is open (from [`super::WsConnection::queue`] to the next flush) the frames
//! tungstenite writes collect in one preallocated buffer of [`BATCH_BYTES`] and reach the
//! stream a buffer at a time: over TLS, rustls seals a few full records per buffer instead of
//! one per frame, and one socket write carries many frames. Outside a batch (the handshakes, `send`,
//! tungstenite's own Pong and Close replies) every write goes straight through, after any bytes
//! an earlier batch left behind, so the byte order on the wire is always tungstenite's.
//!
//! tungstenite's own write buffer is left unbatched (`write_buffer_size(0)`): it grows with the
//! largest batch it ever held, which would make the first big burst after warm-up allocate. This
//! buffer is allocated once, at its fixed size, when the connection's first batch opens.
//!
//! Owns: the batch buffer and the order of bytes through it. May not touch: WebSocket framing
//! (tungstenite) or TLS (the stream).

use std::io::{self, Read, Write};

use mio::net::TcpStream;

use crate::transport::stream::RECORD_PLAINTEXT;
use crate::transport::WsStream;

/// Bytes a batch holds before it goes to the stream: over TLS, four full records (the stream
/// seals at most [`RECORD_PLAINTEXT`] per record) in one socket write.
pub(crate) const BATCH_BYTES: usize = 4 * RECORD_PLAINTEXT;

/// A [`WsStream`] whose writes can be held back and written together.
#[derive(Debug)]
pub(crate) struct BatchStream {
    stream: WsStream,
    /// Bytes written into the batch and not yet to the stream (capacity [`BATCH_BYTES`] once
    /// the first batch opened, never grown).
    held: Vec<u8>,
    /// Writes collect in `held` until the next flush.
    open: bool,
}

impl BatchStream {
    /// Wraps a stream; no batch is open.
    pub(crate) fn new(stream: WsStream) -> Self {
        Self {
            stream,
            held: Vec::new(),
            open: false,
        }
    }

    /// Opens a batch (if none is): writes collect until the next [`Write::flush`].
    pub(crate) fn open_batch(&mut self) {
        if self.held.capacity() == 0 {
            // Once per connection, the first time it batches.
            self.held.reserve_exact(BATCH_BYTES);
        }
        self.open = true;
    }

    /// True while written bytes are held in the batch.
    #[cfg(test)]
    fn holds(&self) -> usize {
        self.held.len()
    }

    /// The stream underneath (read-only: a write through it would pass the batch).
    pub(crate) fn stream(&self) -> &WsStream {
        &self.stream
    }

    /// Starts a read pass (see [`WsStream::start_read_pass`]).
    pub(crate) fn start_read_pass(&mut self, pass: crate::transport::ReadPass) {
        self.stream.start_read_pass(pass);
    }

    /// The TCP socket underneath, to register it with mio.
    pub(crate) fn socket_mut(&mut self) -> &mut TcpStream {
        self.stream.socket_mut()
    }

    /// Ends our sending side: held bytes out first (best effort), then as
    /// [`WsStream::shutdown_write`].
    pub(crate) fn shutdown_write(&mut self) {
        self.open = false;
        let _ = self.write_held();
        self.stream.shutdown_write();
    }

    /// Writes held bytes to the stream until they are all out or it would block.
    fn write_held(&mut self) -> io::Result<()> {
        let mut written = 0;
        let result = loop {
            let rest = self.held.get(written..).unwrap_or_default();
            if rest.is_empty() {
                break Ok(());
            }
            match self.stream.write(rest) {
                Ok(0) => break Err(io::ErrorKind::WriteZero.into()),
                Ok(n) => written += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => break Err(e),
            }
        };
        self.held.drain(..written);
        result
    }
}

impl Read for BatchStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.stream.read(buf)
    }
}

impl Write for BatchStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.open {
            // Earlier batched bytes go first; while they cannot, neither can these.
            self.write_held()?;
            return self.stream.write(buf);
        }
        if self.held.len() == self.held.capacity() {
            self.write_held()?;
        }
        if self.held.is_empty() && buf.len() >= self.held.capacity() {
            // A frame of a whole batch or more: no copy.
            return self.stream.write(buf);
        }
        let take = buf.len().min(self.held.capacity() - self.held.len());
        self.held
            .extend_from_slice(buf.get(..take).unwrap_or_default());
        Ok(take)
    }

    /// Ends the batch: held bytes out, then the stream flushed. A `WouldBlock` keeps what the
    /// stream did not take for the next write or flush.
    fn flush(&mut self) -> io::Result<()> {
        self.open = false;
        self.write_held()?;
        self.stream.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A connected plain socket pair (the server side is the std listener's stream).
    fn pair() -> (BatchStream, std::net::TcpStream) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        let client = std::net::TcpStream::connect(addr).expect("connect");
        let (server, _) = listener.accept().expect("accept");
        client.set_nonblocking(true).expect("non-blocking");
        let stream = WsStream::plain(TcpStream::from_std(client));
        (BatchStream::new(stream), server)
    }

    fn read_exactly(peer: &mut std::net::TcpStream, n: usize) -> Vec<u8> {
        let mut got = vec![0; n];
        peer.read_exact(&mut got).expect("read");
        got
    }

    #[test]
    fn a_batch_holds_writes_until_the_flush_and_keeps_their_order() {
        let (mut batch, mut peer) = pair();
        batch.write_all(b"before ").expect("unbatched write");
        assert_eq!(
            batch.holds(),
            0,
            "outside a batch writes go straight through"
        );
        batch.open_batch();
        batch.write_all(b"one ").expect("write");
        batch.write_all(b"two").expect("write");
        assert_eq!(batch.holds(), 7, "held until the flush");
        batch.flush().expect("flush");
        assert_eq!(batch.holds(), 0);
        assert_eq!(read_exactly(&mut peer, 14), b"before one two");
        batch
            .write_all(b"!")
            .expect("the batch ended with the flush");
        assert_eq!(batch.holds(), 0);
        assert_eq!(read_exactly(&mut peer, 1), b"!");
    }

    #[test]
    fn a_full_batch_goes_out_a_buffer_at_a_time_and_big_writes_skip_the_copy() {
        let (mut batch, mut peer) = pair();
        batch.open_batch();
        let frame: Vec<u8> = (0..100u8).collect();
        let frames = BATCH_BYTES / 100 + 5;
        for _ in 0..frames {
            batch.write_all(&frame).expect("write");
        }
        assert!(batch.holds() < BATCH_BYTES, "a full batch was written out");
        let big = vec![7u8; BATCH_BYTES * 2];
        batch.write_all(&big).expect("big write");
        batch.flush().expect("flush");
        let got = read_exactly(&mut peer, frames * 100 + big.len());
        for (i, chunk) in got.chunks(100).take(frames).enumerate() {
            assert_eq!(chunk, frame.as_slice(), "frame {i}");
        }
        assert!(got
            .get(frames * 100..)
            .is_some_and(|rest| rest == big.as_slice()));
        assert_eq!(batch.held.capacity(), BATCH_BYTES, "never grown");
    }

    #[test]
    fn bytes_held_behind_a_full_socket_go_before_any_later_write() {
        let (mut batch, mut peer) = pair();
        let chunk = vec![1u8; 64 * 1024];
        // Fill the socket (the peer reads nothing yet) with unbatched writes.
        let mut sent = 0usize;
        loop {
            match batch.write(&chunk) {
                Ok(n) => sent += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("write: {e}"),
            }
        }
        batch.open_batch();
        batch.write_all(&[2u8; 10]).expect("held");
        let flushed = batch.flush();
        assert!(matches!(&flushed, Err(e) if e.kind() == io::ErrorKind::WouldBlock));
        assert_eq!(batch.holds(), 10, "kept for later");
        let refused = batch.write(&[3u8; 5]);
        assert!(
            matches!(&refused, Err(e) if e.kind() == io::ErrorKind::WouldBlock),
            "a later write waits behind the held bytes"
        );
        let got = read_exactly(&mut peer, sent);
        assert!(got.iter().all(|&b| b == 1));
        let mut tail = Vec::new();
        while tail.len() < 15 {
            match batch.flush() {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => panic!("flush: {e}"),
            }
            if batch.holds() == 0 && tail.is_empty() {
                batch.write_all(&[3u8; 5]).expect("now it goes");
                tail = read_exactly(&mut peer, 15);
            }
        }
        assert_eq!(tail.get(..10), Some(&[2u8; 10][..]));
        assert_eq!(tail.get(10..), Some(&[3u8; 5][..]));
    }
}
