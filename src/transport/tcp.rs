//! One FIXP-over-TCP connection: each message framed by a SOFH (Simple Open Framing Header),
//! over a non-blocking mio socket, TLS (rustls) by default or plain TCP by explicit choice.
//!
//! Owns: the TCP connect, the TLS handshake, SOFH framing and its faults, the preallocated read
//! and write buffers, outbound back-pressure and the close (flush, close_notify, FIN). May not
//! touch: FIXP rules or message encodings. TCP has no close frame: ending a FIXP binding is the
//! session's Terminate exchange ([`crate::session::Termination::FixpTerminate`]); this
//! connection only closes the stream when told.
//!
//! Frames are handed out as slices of the read buffer, and outbound frames are written into the
//! write buffer, so steady-state traffic allocates nothing here (rustls allocates per TLS record;
//! see `docs/transport.md`).

use std::fmt;
use std::io::{self, Read, Write};
use std::sync::Arc;

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use rustls::pki_types::ServerName;

use super::stream::{connect_finished, TlsStream, WsStream};
use super::{
    ClientTarget, CloseReport, ConnStats, HandshakeProgress, ReadPass, ReadStatus, SendStatus,
    TransportError, WireEncoding, CLOSE_MESSAGE_TOO_BIG, CLOSE_PROTOCOL_ERROR,
};
use crate::codec::sofh::{self, Sofh, SofhError, SOFH_LENGTH};
use crate::codec::FrameKind;

/// Options of a SOFH connection, client or server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SofhOptions {
    /// The message encoding, and so the SOFH encoding type every frame carries and every
    /// inbound frame must carry: SBE 1.0 little-endian (`0xEB50`, the default) or JSON
    /// (`0xF500`). A frame with another type fails the connection.
    pub encoding: WireEncoding,
    /// The largest message accepted, SOFH header excluded (default 64 KiB). A SOFH that
    /// declares more fails the connection before its body is read.
    pub max_message_size: usize,
    /// Bytes the write buffer holds (allocated once per connection; default 256 KiB). A message
    /// that does not fit beside what is queued is refused with [`SendStatus::Backpressure`].
    pub max_backlog_bytes: usize,
    /// Bytes read from the socket per call at least (the read buffer is
    /// `max_message_size + 6 + read_buffer_size`; default 16 KiB).
    pub read_buffer_size: usize,
    /// Allows plain TCP (no TLS), as some co-located venues use. Off by default: connecting,
    /// accepting or binding without a TLS config is then [`TransportError::PlainTcpNotAllowed`].
    pub allow_plain_tcp: bool,
}

impl Default for SofhOptions {
    fn default() -> Self {
        Self {
            encoding: WireEncoding::Sbe,
            max_message_size: 64 * 1024,
            max_backlog_bytes: 256 * 1024,
            read_buffer_size: 16 * 1024,
            allow_plain_tcp: false,
        }
    }
}

impl SofhOptions {
    /// The SOFH encoding type of [`encoding`](Self::encoding).
    pub fn encoding_type(&self) -> u16 {
        encoding_type(self.encoding)
    }

    /// Refuses a missing TLS config unless plain TCP was chosen.
    pub(crate) fn check_security(&self, tls: bool) -> Result<(), TransportError> {
        if tls || self.allow_plain_tcp {
            Ok(())
        } else {
            Err(TransportError::PlainTcpNotAllowed)
        }
    }
}

/// The SOFH encoding type of an encoding.
pub fn encoding_type(encoding: WireEncoding) -> u16 {
    match encoding {
        WireEncoding::Sbe => sofh::SBE_LITTLE_ENDIAN,
        WireEncoding::Json => sofh::JSON,
    }
}

/// Why a SOFH connection failed its peer's framing. The connection is closed (the stream
/// cannot be resynchronised) and the fault counted in [`ConnStats`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FramingFault {
    /// A SOFH declared a message longer than `max_message_size` (counted in
    /// `oversized_closed`).
    Oversized {
        /// Declared message length, header included.
        length: u32,
        /// The configured maximum, header excluded.
        max: usize,
    },
    /// A SOFH carried another encoding type than the connection's (counted in
    /// `encoding_closed`). Garbage usually shows up as this.
    WrongEncoding {
        /// The encoding type received.
        found: u16,
        /// The encoding type expected.
        expected: u16,
    },
    /// A SOFH declared a length smaller than the header itself (counted in `protocol_closed`).
    LengthTooSmall {
        /// The declared length.
        length: u32,
    },
    /// The peer closed the stream in the middle of a frame (counted in `protocol_closed`).
    Truncated {
        /// Bytes of the unfinished frame received.
        received: usize,
    },
}

impl fmt::Display for FramingFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FramingFault::Oversized { length, max } => {
                write!(f, "SOFH message length {length} above the maximum {max}")
            }
            FramingFault::WrongEncoding { found, expected } => write!(
                f,
                "SOFH encoding type {found:#06x}, expected {expected:#06x}"
            ),
            FramingFault::LengthTooSmall { length } => {
                write!(f, "SOFH message length {length} smaller than the header")
            }
            FramingFault::Truncated { received } => {
                write!(
                    f,
                    "peer closed after {received} bytes of an unfinished frame"
                )
            }
        }
    }
}

impl FramingFault {
    /// The WebSocket close code of the same failure, recorded as `CloseReport::sent_code` so
    /// both transports report alike (nothing of it goes on the wire).
    pub fn close_code(&self) -> u16 {
        match self {
            FramingFault::Oversized { .. } => CLOSE_MESSAGE_TOO_BIG,
            _ => CLOSE_PROTOCOL_ERROR,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Initiator: the non-blocking TCP connect has not completed yet.
    Connecting,
    /// The TLS handshake is under way.
    Handshaking,
    Open,
    /// We closed (or failed the framing): queued bytes go out, then close_notify and FIN;
    /// input is discarded until the peer's EOF.
    Closing,
    Closed,
}

/// A byte region of a preallocated buffer: bytes `start..end` are live.
#[derive(Debug)]
struct Window {
    bytes: Box<[u8]>,
    start: usize,
    end: usize,
}

impl Window {
    fn new(len: usize) -> Self {
        Self {
            bytes: vec![0u8; len].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    fn live(&self) -> &[u8] {
        self.bytes.get(self.start..self.end).unwrap_or_default()
    }

    fn is_empty(&self) -> bool {
        self.start == self.end
    }

    fn consume(&mut self, n: usize) {
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    fn clear(&mut self) {
        self.start = 0;
        self.end = 0;
    }

    /// Moves the live bytes to the front when fewer than `room` bytes are free behind them.
    fn make_room(&mut self, room: usize) {
        if self.bytes.len() - self.end < room && self.start > 0 {
            self.bytes.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
    }

    fn spare(&mut self) -> &mut [u8] {
        self.bytes.get_mut(self.end..).unwrap_or_default()
    }
}

/// A non-blocking FIXP-over-TCP connection (client or server side, TLS or plain), one message
/// per SOFH frame. Its methods are those of [`super::WsConnection`], so an engine can hold
/// either.
///
/// Register once (the constructors do) for READABLE | WRITABLE, edge-triggered; on every event
/// call [`poll_handshake`](Self::poll_handshake) until it reports [`HandshakeProgress::Open`]
/// (plain TCP: as soon as the connect completes), then
/// [`read_frames_up_to`](Self::read_frames_up_to) on READABLE and [`flush`](Self::flush) on
/// WRITABLE.
pub struct SofhConnection {
    stream: WsStream,
    phase: Phase,
    encoding: WireEncoding,
    encoding_type: u16,
    max_message: usize,
    read_window: usize,
    inbound: Window,
    outbound: Window,
    /// rustls holds TLS records the socket did not take yet.
    tls_pending: bool,
    write_shut: bool,
    fault: Option<FramingFault>,
    report: CloseReport,
    stats: ConnStats,
}

impl fmt::Debug for SofhConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SofhConnection")
            .field("phase", &self.phase)
            .field("encoding", &self.encoding)
            .field("fault", &self.fault)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

fn is_peer_gone(kind: io::ErrorKind) -> bool {
    matches!(
        kind,
        io::ErrorKind::UnexpectedEof
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe
    )
}

impl SofhConnection {
    fn new(stream: WsStream, phase: Phase, options: &SofhOptions) -> Self {
        let max_message = options.max_message_size;
        let read_window = options.read_buffer_size.max(SOFH_LENGTH);
        Self {
            stream,
            phase,
            encoding: options.encoding,
            encoding_type: options.encoding_type(),
            max_message,
            read_window,
            inbound: Window::new(max_message + SOFH_LENGTH + read_window),
            outbound: Window::new(options.max_backlog_bytes.max(SOFH_LENGTH + 1)),
            tls_pending: false,
            write_shut: false,
            fault: None,
            report: CloseReport::default(),
            stats: ConnStats::default(),
        }
    }

    /// Starts a client connection: a non-blocking TCP connect, registered with `registry`
    /// under `token` for READABLE | WRITABLE; TLS when `target.tls` is set (plain TCP needs
    /// [`SofhOptions::allow_plain_tcp`]). Drive it with [`poll_handshake`](Self::poll_handshake).
    pub fn connect(
        target: ClientTarget,
        options: &SofhOptions,
        registry: &Registry,
        token: Token,
    ) -> Result<Self, TransportError> {
        options.check_security(target.tls.is_some())?;
        let tls = match &target.tls {
            None => None,
            Some(config) => {
                let name = ServerName::try_from(target.host.clone())
                    .map_err(|e| TransportError::Request(format!("server name: {e}")))?;
                Some(rustls::ClientConnection::new(Arc::clone(config), name)?)
            }
        };
        let mut socket = TcpStream::connect(target.addr).map_err(TransportError::Connect)?;
        registry.register(&mut socket, token, Interest::READABLE | Interest::WRITABLE)?;
        let stream = match tls {
            None => WsStream::plain(socket),
            Some(client) => WsStream::Tls(Box::new(TlsStream::new(client.into(), socket))),
        };
        Ok(Self::new(stream, Phase::Connecting, options))
    }

    /// Starts the server side on an accepted socket: sets TCP_NODELAY and registers it for
    /// READABLE | WRITABLE. Plain TCP (needs [`SofhOptions::allow_plain_tcp`]) is open at once;
    /// with TLS call [`poll_handshake`](Self::poll_handshake) at once and on every event.
    pub fn accept(
        mut socket: TcpStream,
        tls: Option<&Arc<rustls::ServerConfig>>,
        options: &SofhOptions,
        registry: &Registry,
        token: Token,
    ) -> Result<Self, TransportError> {
        options.check_security(tls.is_some())?;
        socket.set_nodelay(true)?;
        registry.register(&mut socket, token, Interest::READABLE | Interest::WRITABLE)?;
        Ok(match tls {
            None => Self::new(WsStream::plain(socket), Phase::Open, options),
            Some(config) => {
                let server = rustls::ServerConnection::new(Arc::clone(config))?;
                let stream = WsStream::Tls(Box::new(TlsStream::new(server.into(), socket)));
                Self::new(stream, Phase::Handshaking, options)
            }
        })
    }

    /// Drives the TCP connect and the TLS handshake. Call on every readiness event until it
    /// returns [`HandshakeProgress::Open`], then call
    /// [`read_frames_up_to`](Self::read_frames_up_to) at once (frames may already be buffered).
    /// An `Err` means the connection is dead.
    pub fn poll_handshake(&mut self) -> Result<HandshakeProgress, TransportError> {
        self.stream.start_read_pass(ReadPass::Drain);
        if self.phase == Phase::Connecting {
            match connect_finished(self.stream.socket()) {
                Ok(true) => {}
                Ok(false) => return Ok(HandshakeProgress::InProgress),
                Err(e) => {
                    self.phase = Phase::Closed;
                    return Err(TransportError::Connect(e));
                }
            }
            self.stream.socket().set_nodelay(true)?;
            self.phase = match self.stream {
                WsStream::Plain(_) => Phase::Open,
                WsStream::Tls(_) => Phase::Handshaking,
            };
        }
        if self.phase != Phase::Handshaking {
            return Ok(HandshakeProgress::Open);
        }
        let WsStream::Tls(tls) = &mut self.stream else {
            self.phase = Phase::Open;
            return Ok(HandshakeProgress::Open);
        };
        match tls.handshake() {
            Ok(false) => Ok(HandshakeProgress::InProgress),
            Ok(true) => {
                self.phase = Phase::Open;
                // The last flight may wait for WRITABLE.
                self.tls_pending = true;
                let _ = self.flush()?;
                Ok(HandshakeProgress::Open)
            }
            Err(e) => {
                self.phase = Phase::Closed;
                Err(if e.kind() == io::ErrorKind::InvalidData {
                    TransportError::TlsHandshake(e.to_string())
                } else if is_peer_gone(e.kind()) {
                    TransportError::PeerVanished
                } else {
                    TransportError::Io(e)
                })
            }
        }
    }

    /// The message encoding every frame carries (from [`SofhOptions::encoding`]).
    pub fn encoding(&self) -> WireEncoding {
        self.encoding
    }

    /// The SOFH encoding type every frame carries and must carry.
    pub fn encoding_type(&self) -> u16 {
        self.encoding_type
    }

    /// The frame kind inbound messages are delivered as: binary for SBE, text for JSON.
    pub fn frame_kind(&self) -> FrameKind {
        match self.encoding {
            WireEncoding::Sbe => FrameKind::Binary,
            WireEncoding::Json => FrameKind::Text,
        }
    }

    /// Why the connection failed its peer's framing, if it did.
    pub fn fault(&self) -> Option<FramingFault> {
        self.fault
    }

    /// True once the connection is open and until it starts closing.
    pub fn is_open(&self) -> bool {
        self.phase == Phase::Open
    }

    /// True once the connection is finished (closed cleanly or failed).
    pub fn is_closed(&self) -> bool {
        self.phase == Phase::Closed
    }

    /// True if sent bytes still wait in buffers for a WRITABLE event, or queued ones for
    /// [`flush`](Self::flush).
    pub fn flush_pending(&self) -> bool {
        !self.outbound.is_empty() || self.tls_pending
    }

    /// Counters for this connection.
    pub fn stats(&self) -> &ConnStats {
        &self.stats
    }

    /// Close codes so far: TCP carries none, so `peer_code` stays `None`; `sent_code` is the
    /// code given to [`close`](Self::close), or a framing fault's
    /// [`FramingFault::close_code`].
    pub fn close_report(&self) -> CloseReport {
        self.report
    }

    /// The TLS version, for a TLS connection whose handshake is done.
    pub fn tls_version(&self) -> Option<rustls::ProtocolVersion> {
        match self.phase {
            Phase::Open | Phase::Closing => self.stream.tls_version(),
            _ => None,
        }
    }

    /// The names in the peer's verified TLS client certificate, once open (`None`: plain TCP or
    /// no client certificate).
    pub fn peer_identity(&self) -> Result<Option<crate::session::PeerIdentity>, TransportError> {
        match self.phase {
            Phase::Open | Phase::Closing => self
                .stream
                .peer_certificates()
                .map(super::tls::peer_identity)
                .transpose(),
            _ => Ok(None),
        }
    }

    /// Reads every complete frame available now and hands each message (SOFH stripped) to
    /// `on_frame` as a borrowed slice, with [`frame_kind`](Self::frame_kind), until the socket
    /// would block.
    pub fn read_frames<F>(&mut self, on_frame: F) -> Result<ReadStatus, TransportError>
    where
        F: FnMut(FrameKind, &[u8]),
    {
        self.read_frames_up_to(usize::MAX, on_frame)
            .map(|(status, _)| status)
    }

    /// Like [`read_frames`](Self::read_frames), but delivers at most `limit` frames. The flag
    /// is true when it stopped at the limit: call again (no readiness event will announce what
    /// is buffered) until it is false.
    ///
    /// A SOFH that is oversized, of another encoding type or shorter than itself fails the
    /// connection: [`fault`](Self::fault) says why, [`ConnStats`] counts it, queued bytes are
    /// flushed, the stream is closed (close_notify, FIN) and input discarded until the peer's
    /// EOF ([`ReadStatus::Closing`], then [`ReadStatus::Closed`]). The peer closing the stream
    /// (FIN, or close_notify over TLS) is `Closed` too, after our side is closed; a TLS peer that
    /// sends a FIN without close_notify, or resets, is [`TransportError::PeerVanished`].
    /// `Closing` has no time limit of its own: drop a connection that stays closing too long.
    pub fn read_frames_up_to<F>(
        &mut self,
        limit: usize,
        on_frame: F,
    ) -> Result<(ReadStatus, bool), TransportError>
    where
        F: FnMut(FrameKind, &[u8]),
    {
        self.read_frames_in(ReadPass::Drain, limit, on_frame)
    }

    /// [`read_frames_up_to`](Self::read_frames_up_to) in a pass that may end at a short read
    /// ([`ReadPass::UntilShortRead`]: after a readable event without hang-up or error).
    pub fn read_frames_in<F>(
        &mut self,
        pass: ReadPass,
        limit: usize,
        mut on_frame: F,
    ) -> Result<(ReadStatus, bool), TransportError>
    where
        F: FnMut(FrameKind, &[u8]),
    {
        self.stream.start_read_pass(pass);
        match self.phase {
            Phase::Open => {}
            Phase::Closing => return self.drain().map(|s| (s, false)),
            Phase::Closed => return Ok((ReadStatus::Closed(self.report), false)),
            Phase::Connecting | Phase::Handshaking => return Ok((ReadStatus::Drained, false)),
        }
        let kind = self.frame_kind();
        let mut delivered = 0usize;
        loop {
            // Deliver what is buffered; judge each header as soon as it is complete.
            loop {
                let live = self.inbound.live();
                let header = match Sofh::read(live) {
                    Ok(header) => header,
                    Err(SofhError::LengthTooSmall { length }) => {
                        return self.fail(FramingFault::LengthTooSmall { length });
                    }
                    Err(_) => break,
                };
                if header.encoding_type != self.encoding_type {
                    return self.fail(FramingFault::WrongEncoding {
                        found: header.encoding_type,
                        expected: self.encoding_type,
                    });
                }
                let length = header.message_length as usize;
                if length - SOFH_LENGTH > self.max_message {
                    return self.fail(FramingFault::Oversized {
                        length: header.message_length,
                        max: self.max_message,
                    });
                }
                let Some(message) = live.get(SOFH_LENGTH..length) else {
                    break;
                };
                if delivered >= limit {
                    return Ok((ReadStatus::Drained, true));
                }
                delivered += 1;
                self.stats.frames_in += 1;
                self.stats.bytes_in += message.len() as u64;
                on_frame(kind, message);
                self.inbound.consume(length);
            }
            if delivered >= limit {
                return Ok((ReadStatus::Drained, true));
            }
            self.inbound.make_room(self.read_window);
            match self.stream.read(self.inbound.spare()) {
                Ok(0) => return self.on_peer_eof(),
                Ok(n) => self.inbound.end += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    return Ok((ReadStatus::Drained, false))
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail_hard(e)),
            }
        }
    }

    /// The peer closed its side: an unfinished frame is a fault; otherwise close ours.
    fn on_peer_eof(&mut self) -> Result<(ReadStatus, bool), TransportError> {
        let received = self.inbound.live().len();
        if received > 0 {
            self.record_fault(FramingFault::Truncated { received });
        }
        let _ = self.write_out();
        self.shut_write();
        self.phase = Phase::Closed;
        Ok((ReadStatus::Closed(self.report), false))
    }

    fn record_fault(&mut self, fault: FramingFault) {
        match fault {
            FramingFault::Oversized { .. } => self.stats.oversized_closed += 1,
            FramingFault::WrongEncoding { .. } => self.stats.encoding_closed += 1,
            FramingFault::LengthTooSmall { .. } | FramingFault::Truncated { .. } => {
                self.stats.protocol_closed += 1
            }
        }
        self.fault = Some(fault);
        self.report.sent_code = Some(fault.close_code());
        self.inbound.clear();
    }

    /// Fails the connection for a framing fault: close our side, discard until EOF.
    fn fail(&mut self, fault: FramingFault) -> Result<(ReadStatus, bool), TransportError> {
        self.record_fault(fault);
        self.phase = Phase::Closing;
        self.drain().map(|s| (s, false))
    }

    /// Closing: push queued bytes, then close_notify and FIN; discard input until EOF.
    fn drain(&mut self) -> Result<ReadStatus, TransportError> {
        if self.write_out()? == SendStatus::Flushed {
            self.shut_write();
        }
        loop {
            match self.stream.read(&mut self.inbound.bytes) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(ReadStatus::Closing),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        self.shut_write();
        self.phase = Phase::Closed;
        Ok(ReadStatus::Closed(self.report))
    }

    /// Sends one message in one SOFH frame (the connection's encoding type; `kind` is not
    /// on the wire). `Pending` means queued: the rest goes out on [`flush`](Self::flush) at
    /// WRITABLE, do not send it again. `Backpressure` means nothing was queued: the write
    /// buffer is full. A message that could never fit the buffer is
    /// [`TransportError::MessageTooLarge`].
    pub fn send(&mut self, kind: FrameKind, payload: &[u8]) -> Result<SendStatus, TransportError> {
        if !self.outbound.is_empty() {
            self.check_open(payload)?;
            let _ = self.write_out()?;
        }
        match self.queue(kind, payload)? {
            SendStatus::Backpressure => Ok(SendStatus::Backpressure),
            _ => self.write_out(),
        }
    }

    /// Queues one message in one SOFH frame without writing it: frames queued until the next
    /// [`flush`](Self::flush) go to the stream in one write (over TLS, in as few records as
    /// they fill); the buffer is written early only when the frame does not fit beside what is
    /// queued. `Pending` means queued (call `flush` once the batch is complete: no readiness
    /// event announces it); `Backpressure` and errors are those of [`send`](Self::send).
    pub fn queue(
        &mut self,
        _kind: FrameKind,
        payload: &[u8],
    ) -> Result<SendStatus, TransportError> {
        let frame_len = self.check_open(payload)?;
        self.outbound.make_room(frame_len);
        if self.outbound.spare().len() < frame_len && !self.outbound.is_empty() {
            let _ = self.write_out()?;
            self.outbound.make_room(frame_len);
        }
        let spare = self.outbound.spare();
        let Some(frame) = spare.get_mut(..frame_len) else {
            self.stats.backpressure += 1;
            return Ok(SendStatus::Backpressure);
        };
        let (header, body) = frame.split_at_mut(SOFH_LENGTH);
        Sofh::write(header, payload.len(), self.encoding_type)
            .map_err(|e| TransportError::Protocol(e.to_string()))?;
        body.copy_from_slice(payload);
        self.outbound.end += frame_len;
        self.stats.frames_out += 1;
        self.stats.bytes_out += payload.len() as u64;
        Ok(SendStatus::Pending)
    }

    /// The frame length of `payload` on an open connection whose write buffer could hold it.
    fn check_open(&self, payload: &[u8]) -> Result<usize, TransportError> {
        if self.phase != Phase::Open {
            return Err(TransportError::Closed);
        }
        let frame_len = payload.len().saturating_add(SOFH_LENGTH);
        let capacity = self.outbound.bytes.len();
        if frame_len > capacity || u32::try_from(frame_len).is_err() {
            return Err(TransportError::MessageTooLarge {
                len: payload.len(),
                max: capacity - SOFH_LENGTH,
            });
        }
        Ok(frame_len)
    }

    /// Writes queued bytes to the stream until it would block.
    fn write_out(&mut self) -> Result<SendStatus, TransportError> {
        while !self.outbound.is_empty() {
            match self.stream.write(self.outbound.live()) {
                Ok(0) => return Err(self.fail_hard(io::ErrorKind::WriteZero.into())),
                Ok(n) => self.outbound.consume(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(SendStatus::Pending),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(self.fail_hard(e)),
            }
        }
        match self.stream.flush() {
            Ok(()) => {
                self.tls_pending = false;
                Ok(SendStatus::Flushed)
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.tls_pending = true;
                Ok(SendStatus::Pending)
            }
            Err(e) => Err(self.fail_hard(e)),
        }
    }

    /// Pushes queued bytes out; call on WRITABLE and after a batch of [`queue`](Self::queue).
    /// Returns `Pending` if the socket is still full. When closing, the stream is closed once everything is out.
    pub fn flush(&mut self) -> Result<SendStatus, TransportError> {
        match self.phase {
            Phase::Open | Phase::Closing => {}
            _ => return Ok(SendStatus::Flushed),
        }
        let status = self.write_out()?;
        if status == SendStatus::Flushed && self.phase == Phase::Closing {
            self.shut_write();
        }
        Ok(status)
    }

    /// Closes the connection: queued bytes are flushed, then TLS close_notify and a TCP FIN.
    /// Keep calling [`read_frames`](Self::read_frames) until it returns
    /// [`ReadStatus::Closed`] (input is discarded until the peer's EOF). TCP has no close frame:
    /// `code` is kept for [`close_report`](Self::close_report) only and `reason` is not sent
    /// (FIXP Terminate carries the reason, before this).
    pub fn close(&mut self, code: u16, _reason: &str) -> Result<SendStatus, TransportError> {
        if self.phase != Phase::Open {
            return Ok(SendStatus::Flushed);
        }
        self.report.sent_code = Some(code);
        self.phase = Phase::Closing;
        self.flush()
    }

    fn shut_write(&mut self) {
        if !self.write_shut {
            self.stream.shutdown_write();
            self.write_shut = true;
        }
    }

    /// A fatal I/O error: no orderly close is possible.
    fn fail_hard(&mut self, error: io::Error) -> TransportError {
        self.phase = Phase::Closed;
        self.outbound.clear();
        self.tls_pending = false;
        if is_peer_gone(error.kind()) {
            TransportError::PeerVanished
        } else {
            TransportError::Io(error)
        }
    }

    /// Deregisters the socket from mio (dropping the connection also removes it).
    pub fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        registry.deregister(self.stream.socket_mut())
    }

    /// Registers the socket with another `Poll` (after [`deregister`](Self::deregister)), for
    /// READABLE | WRITABLE under `token`. Call [`read_frames`](Self::read_frames) and
    /// [`flush`](Self::flush) once afterwards, as edges seen by the old registration are not
    /// repeated.
    pub fn register_with(&mut self, registry: &Registry, token: Token) -> io::Result<()> {
        registry.register(
            self.stream.socket_mut(),
            token,
            Interest::READABLE | Interest::WRITABLE,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_compact_only_when_short_of_room() {
        let mut w = Window::new(16);
        w.end = 10;
        w.consume(4);
        assert_eq!((w.start, w.end), (4, 10));
        w.make_room(6);
        assert_eq!((w.start, w.end), (4, 10), "6 bytes free already");
        w.make_room(8);
        assert_eq!((w.start, w.end), (0, 6));
        w.consume(6);
        assert_eq!((w.start, w.end), (0, 0));
    }

    #[test]
    fn faults_say_why_and_map_to_websocket_codes() {
        let oversized = FramingFault::Oversized {
            length: 70_000,
            max: 65_536,
        };
        assert_eq!(oversized.close_code(), CLOSE_MESSAGE_TOO_BIG);
        assert_eq!(
            oversized.to_string(),
            "SOFH message length 70000 above the maximum 65536"
        );
        let wrong = FramingFault::WrongEncoding {
            found: 0x4745,
            expected: 0xEB50,
        };
        assert_eq!(wrong.close_code(), CLOSE_PROTOCOL_ERROR);
        assert_eq!(
            wrong.to_string(),
            "SOFH encoding type 0x4745, expected 0xeb50"
        );
    }

    #[test]
    fn plain_tcp_needs_an_explicit_choice() {
        let options = SofhOptions::default();
        assert!(matches!(
            options.check_security(false),
            Err(TransportError::PlainTcpNotAllowed)
        ));
        assert!(options.check_security(true).is_ok());
        let plain = SofhOptions {
            allow_plain_tcp: true,
            ..SofhOptions::default()
        };
        assert!(plain.check_security(false).is_ok());
        assert_eq!(options.encoding_type(), 0xEB50);
        assert_eq!(encoding_type(WireEncoding::Json), 0xF500);
    }
}
