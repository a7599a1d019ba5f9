//! The byte stream tungstenite (and the SOFH framing of [`super::SofhConnection`]) runs over: a
//! non-blocking mio `TcpStream`, plain (`ws://`, `tcp://`) or wrapped in a rustls connection
//! (`wss://`, `tcp+tls://`).
//!
//! Adapter rules (each one fixes an observed failure, see the notes on the transport):
//! - `read` takes buffered plaintext first, and only then pulls TLS records from the socket;
//!   `Ok(0)` means the peer sent close_notify (a clean EOF), `UnexpectedEof` a TCP FIN without it.
//! - `write` hands bytes to rustls and pushes TLS records to the socket at once (a socket
//!   `WouldBlock` is ignored there: `flush` finishes the job on WRITABLE). It never returns
//!   `Ok(0)`, which tungstenite would take as a reset: a full rustls buffer is `WouldBlock`.
//!   It seals at most [`RECORD_PLAINTEXT`] bytes per record, so every record fits whole in the
//!   peer's rustls read window (a larger one makes that window grow and shrink: see
//!   `records`), and pushes all the records of one call in one socket write.
//! - `flush` drains every pending TLS record; a socket `WouldBlock` propagates.
//! - rustls reads whole records only, from a preallocated [`RecordBuffer`] (so its own read
//!   window never grows and shrinks under load).
//! - A read leaves `READ_HEADROOM` bytes of the caller's buffer unfilled (see there): then
//!   tungstenite's input buffer never has to grow for a frame up to that size.

use std::io::{self, Read, Write};
use std::net::Shutdown;

use mio::net::TcpStream;

use super::records::RecordBuffer;
use super::{PassState, ReadPass};

/// Bytes a read leaves free at the end of the caller's window (when the window is larger).
///
/// tungstenite reads into the free end of its input buffer, then, per frame header, reserves
/// the frame's length; when a read filled the buffer to its end while earlier frames were still
/// unconsumed, that reservation doubles the buffer (an allocation, after any warm-up, whenever
/// a burst arrives). With this much left free after every read, the free end always holds a
/// frame of up to this size, and tungstenite only ever compacts in place.
pub(crate) const READ_HEADROOM: usize = 1024;

/// Plaintext bytes per TLS record we seal: rustls reads into a 4 KiB window, and a record of
/// this much plaintext is at most 4 KiB on the wire (64 bytes left for the record header, the
/// explicit nonce, the inner content type and the AEAD tag, of TLS 1.2 or 1.3).
pub(crate) const RECORD_PLAINTEXT: usize = 4096 - 64;

/// The part of `buf` a read may fill.
fn window(buf: &mut [u8]) -> &mut [u8] {
    let len = buf.len();
    let keep = if len > READ_HEADROOM {
        len - READ_HEADROOM
    } else {
        len
    };
    buf.get_mut(..keep).unwrap_or_default()
}

/// A plain or TLS byte stream over a non-blocking TCP socket.
#[derive(Debug)]
pub enum WsStream {
    /// Plain TCP (`ws://`, `tcp://`).
    Plain(PlainStream),
    /// TLS over TCP (`wss://`).
    Tls(Box<TlsStream>),
}

/// A non-blocking mio socket read in passes: after a short read, the rest of the pass is
/// `WouldBlock` without a syscall (see [`WsStream::start_read_pass`]).
#[derive(Debug)]
pub struct PlainStream {
    socket: TcpStream,
    pass: PassState,
}

impl PlainStream {
    /// Wraps a connected socket.
    pub fn new(socket: TcpStream) -> Self {
        Self {
            socket,
            pass: PassState::default(),
        }
    }
}

impl Read for PlainStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.pass.ended() && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        let n = self.socket.read(buf)?;
        self.pass.note_read(n, buf.len());
        Ok(n)
    }
}

/// A rustls connection (client or server side) over a non-blocking mio socket.
#[derive(Debug)]
pub struct TlsStream {
    tls: rustls::Connection,
    socket: TcpStream,
    records: RecordBuffer,
}

impl TlsStream {
    /// Wraps a connected socket.
    pub fn new(tls: rustls::Connection, socket: TcpStream) -> Self {
        Self {
            tls,
            socket,
            records: RecordBuffer::new(),
        }
    }

    /// Drives the TLS handshake as far as the socket allows: true once it is complete (its
    /// last flight may still wait in rustls for [`Write::flush`]). A TLS error sends rustls'
    /// alert and is `InvalidData`; a peer that closes mid-handshake is `UnexpectedEof`.
    pub(crate) fn handshake(&mut self) -> io::Result<bool> {
        loop {
            self.push_tls()?;
            if !self.tls.is_handshaking() {
                return Ok(true);
            }
            match self.tls.read_tls(&mut self.socket) {
                Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Ok(_) => {
                    if let Err(error) = self.tls.process_new_packets() {
                        let _ = self.push_tls();
                        return Err(io::Error::new(io::ErrorKind::InvalidData, error));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }

    /// Hands `buf` to rustls in records of at most [`RECORD_PLAINTEXT`] bytes, until its
    /// buffer is full; returns the bytes it took.
    fn seal(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut accepted = 0;
        for chunk in buf.chunks(RECORD_PLAINTEXT) {
            let took = self.tls.writer().write(chunk)?;
            accepted += took;
            if took < chunk.len() {
                break;
            }
        }
        Ok(accepted)
    }

    /// Pushes pending TLS records to the socket until it would block or nothing is left.
    fn push_tls(&mut self) -> io::Result<()> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut self.socket) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}

impl Read for TlsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.tls.reader().read(buf) {
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            let received = self
                .tls
                .read_tls(&mut self.records.reader(&mut self.socket))?;
            if let Err(error) = self.tls.process_new_packets() {
                // Send the alert rustls queued, then fail.
                let _ = self.push_tls();
                return Err(io::Error::new(io::ErrorKind::InvalidData, error));
            }
            // Handshake flights, session tickets, key updates.
            self.push_tls()?;
            if received == 0 {
                // TCP EOF: rustls now reports close_notify (Ok(0)) or UnexpectedEof.
                return match self.tls.reader().read(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                        Err(io::ErrorKind::UnexpectedEof.into())
                    }
                    other => other,
                };
            }
        }
    }
}

impl Write for TlsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut accepted = self.seal(buf)?;
        if accepted == 0 && !buf.is_empty() {
            // rustls' buffer is full: make room and try once more.
            self.push_tls()?;
            accepted = self.seal(buf)?;
        }
        self.push_tls()?;
        if accepted == 0 && !buf.is_empty() {
            return Err(io::ErrorKind::WouldBlock.into());
        }
        Ok(accepted)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.tls.writer().flush()?;
        while self.tls.wants_write() {
            self.tls.write_tls(&mut self.socket)?;
        }
        self.socket.flush()
    }
}

/// Whether a non-blocking connect on `socket` has completed: `Ok(false)` while it is still
/// under way, `Err` with the reason it failed.
pub(crate) fn connect_finished(socket: &TcpStream) -> io::Result<bool> {
    if let Some(error) = socket.take_error()? {
        return Err(error);
    }
    match socket.peer_addr() {
        Ok(_) => Ok(true),
        Err(e)
            if e.kind() == io::ErrorKind::NotConnected || e.kind() == io::ErrorKind::WouldBlock =>
        {
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

impl WsStream {
    /// Starts a read pass: the next read goes to the socket; with
    /// [`ReadPass::UntilShortRead`], after a short read (the socket had nothing more) the rest
    /// of the pass is `WouldBlock` without a syscall. A stream never put in a pass (read
    /// directly by its owner) reads until the socket says `WouldBlock`.
    pub(crate) fn start_read_pass(&mut self, pass: ReadPass) {
        match self {
            WsStream::Plain(p) => p.pass.start(pass),
            WsStream::Tls(t) => t.records.start_read_pass(pass),
        }
    }

    /// A plain stream over a connected socket.
    pub fn plain(socket: TcpStream) -> Self {
        WsStream::Plain(PlainStream::new(socket))
    }

    /// The TCP socket underneath.
    pub fn socket(&self) -> &TcpStream {
        match self {
            WsStream::Plain(p) => &p.socket,
            WsStream::Tls(t) => &t.socket,
        }
    }

    /// The TCP socket underneath, mutably (to register it with mio).
    pub fn socket_mut(&mut self) -> &mut TcpStream {
        match self {
            WsStream::Plain(p) => &mut p.socket,
            WsStream::Tls(t) => &mut t.socket,
        }
    }

    /// Ends our sending side: close_notify (TLS), pending records out (best effort), TCP FIN.
    pub fn shutdown_write(&mut self) {
        if let WsStream::Tls(t) = self {
            t.tls.send_close_notify();
            let _ = t.push_tls();
        }
        let _ = self.socket().shutdown(Shutdown::Write);
    }

    /// The peer's verified certificate chain (leaf first), if this is a TLS stream past its
    /// handshake and the peer presented one.
    pub fn peer_certificates(&self) -> Option<&[rustls::pki_types::CertificateDer<'static>]> {
        match self {
            WsStream::Plain(_) => None,
            WsStream::Tls(t) => t.tls.peer_certificates(),
        }
    }

    /// The negotiated TLS protocol version, if this is a TLS stream past its handshake.
    pub fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        match self {
            WsStream::Plain(_) => None,
            WsStream::Tls(t) => t.tls.protocol_version(),
        }
    }
}

impl Read for WsStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let buf = window(buf);
        match self {
            WsStream::Plain(s) => s.read(buf),
            WsStream::Tls(t) => t.read(buf),
        }
    }
}

impl Write for WsStream {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            WsStream::Plain(p) => p.socket.write(buf),
            WsStream::Tls(t) => t.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            WsStream::Plain(p) => p.socket.flush(),
            WsStream::Tls(t) => t.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_leaves_the_headroom_free_unless_the_window_is_small() {
        let mut big = [0u8; 4096];
        assert_eq!(window(&mut big).len(), 4096 - READ_HEADROOM);
        let mut small = [0u8; 600];
        assert_eq!(window(&mut small).len(), 600);
        let mut edge = [0u8; READ_HEADROOM + 1];
        assert_eq!(window(&mut edge).len(), 1, "never an empty window");
    }

    #[test]
    fn a_plain_read_pass_ends_at_a_short_read() {
        use std::io::Write as _;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut peer =
            std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
        let (accepted, _) = listener.accept().expect("accept");
        accepted.set_nonblocking(true).expect("non-blocking");
        let mut stream = WsStream::plain(TcpStream::from_std(accepted));
        let mut buf = [0u8; 4096];
        fn read_until_data(stream: &mut WsStream, buf: &mut [u8]) -> usize {
            loop {
                stream.start_read_pass(ReadPass::UntilShortRead);
                match stream.read(buf) {
                    Ok(n) => return n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
                    Err(e) => panic!("{e}"),
                }
            }
        }
        peer.write_all(b"hello").expect("write");
        assert_eq!(read_until_data(&mut stream, &mut buf), 5);
        peer.write_all(b"more").expect("write");
        // Same pass: the short read said the socket was empty; no syscall, WouldBlock.
        let e = stream.read(&mut buf).expect_err("the pass ended");
        assert_eq!(e.kind(), io::ErrorKind::WouldBlock);
        assert_eq!(
            read_until_data(&mut stream, &mut buf),
            4,
            "a new pass reads it"
        );
    }
}
