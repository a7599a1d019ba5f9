//! The transport: non-blocking TLS WebSocket over mio, rustls and tungstenite, and FIXP over
//! TCP (TLS by default) with SOFH framing.
//!
//! Owns: sockets, the TLS adapter, TLS configs, the WebSocket handshakes (driven by readiness),
//! subprotocol negotiation, SOFH framing, frame size limits, outbound back-pressure and the
//! closing handshake. May not touch: FIXP rules (sessions, sequence numbers, heartbeats) or
//! message encodings; it moves whole messages as borrowed bytes tagged with a [`FrameKind`].
//!
//! Two connection types with the same methods: [`WsConnection`] (one FIXP message per
//! WebSocket message) and [`SofhConnection`] (one per SOFH frame on a TCP stream; there is no
//! close frame, the session's Terminate exchange ends a binding), each with its listener
//! ([`WsListener`], [`SofhListener`]).
//!
//! A connection is a [`WsConnection`]: register it once with a mio `Poll`, call
//! [`WsConnection::poll_handshake`] on events until it is open, then
//! [`WsConnection::read_frames`] (drains to `WouldBlock`) on READABLE and
//! [`WsConnection::flush`] on WRITABLE. Ping/Pong is tungstenite's job and never reaches the
//! caller, so the time of the last delivered frame is the time of the last FIXP traffic.
//!
//! [`FrameKind`]: crate::codec::FrameKind

mod connection;
mod listener;
mod records;
mod stream;
mod subprotocol;
mod tcp;
mod tls;

pub use connection::{ClientTarget, HandshakeProgress, UpgradeRefusal, WsConnection};
pub use listener::{AcceptedConnection, Listener, ListenerStats, SofhListener, WsListener};
pub use stream::{PlainStream, TlsStream, WsStream};
pub use subprotocol::{choose as choose_subprotocol, Subprotocol, WireEncoding};
pub use tcp::{encoding_type, FramingFault, SofhConnection, SofhOptions};
pub use tls::{
    client_config_from_ca_file, client_config_from_ca_pem, client_config_with_roots, peer_identity,
    CaCertificates, CertificateAuthority, ClientAuth, ServerIdentity, TrustRoots,
};

use std::io;

/// Close code for a normal closure (FIXP Finished or a normal unbind).
pub const CLOSE_NORMAL: u16 = 1000;
/// Close code for a protocol violation.
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
/// Close code for a text frame that is not UTF-8.
pub const CLOSE_INVALID_UTF8: u16 = 1007;
/// Close code for a policy violation (e.g. authentication).
pub const CLOSE_POLICY: u16 = 1008;
/// Close code for a message larger than the configured maximum.
pub const CLOSE_MESSAGE_TOO_BIG: u16 = 1009;
/// Close code for an internal error.
pub const CLOSE_INTERNAL_ERROR: u16 = 1011;

/// Connection options shared by clients and servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsOptions {
    /// The request path: the client requests it, the server answers 404 to any other.
    /// Default `/fixp` (Conga uses `/trade`).
    pub path: String,
    /// Client: subprotocols offered, in order of preference. Server: subprotocols accepted;
    /// the server picks the first of the client's offer that is in this list, and answers
    /// 400 if there is none.
    pub subprotocols: Vec<Subprotocol>,
    /// The largest message (and frame) accepted; larger ones close the connection with 1009.
    pub max_message_size: usize,
    /// Bound on bytes queued for sending; beyond it [`WsConnection::send`] returns
    /// [`SendStatus::Backpressure`].
    pub max_backlog_bytes: usize,
    /// tungstenite's read window. Small is faster: tungstenite zero-fills the window on every
    /// read syscall. Default 4 KiB.
    pub read_buffer_size: usize,
}

impl Default for WsOptions {
    fn default() -> Self {
        Self {
            path: "/fixp".to_owned(),
            subprotocols: Subprotocol::ALL.to_vec(),
            max_message_size: 64 * 1024,
            max_backlog_bytes: 1024 * 1024,
            read_buffer_size: 4096,
        }
    }
}

/// How a read pass ends ([`WsConnection::read_frames_in`], [`SofhConnection::read_frames_in`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadPass {
    /// Read until the socket says `WouldBlock` (or the peer's EOF): right without any
    /// readiness event, after a hang-up or error event, and for a resumed read.
    Drain,
    /// After a readable event without hang-up or error (or in a loop that starts a pass every
    /// cycle): a socket read shorter than asked for means the receive queue was empty, so the
    /// pass ends there instead of spending a syscall on `EAGAIN`. Data that arrives after it
    /// raises a new readiness event; a FIN already queued came with the event's hang-up flag.
    UntilShortRead,
}

/// Where a stream's read pass stands: whether it ends at a short read, and whether it did.
/// The plain and the TLS stream share it.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PassState {
    until_short: bool,
    ended: bool,
}

impl PassState {
    /// Starts a pass: the next read goes to the socket.
    pub(crate) fn start(&mut self, pass: ReadPass) {
        self.until_short = pass == ReadPass::UntilShortRead;
        self.ended = false;
    }

    /// True once the pass ended at a short read: another socket read would be `WouldBlock`.
    pub(crate) fn ended(&self) -> bool {
        self.ended
    }

    /// Notes a socket read that returned `got` of the `asked` bytes.
    pub(crate) fn note_read(&mut self, got: usize, asked: usize) {
        self.ended = self.until_short && got > 0 && got < asked;
    }
}

/// What [`WsConnection::read_frames`] stopped on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadStatus {
    /// Every available frame was delivered; wait for the next READABLE event.
    Drained,
    /// A closing handshake is under way; keep reading.
    Closing,
    /// The connection is finished; drop it.
    Closed(CloseReport),
}

/// Close codes exchanged on a connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CloseReport {
    /// The code in the peer's Close frame (1005 if it carried none), if one arrived.
    pub peer_code: Option<u16>,
    /// The code in the Close frame we sent, if we sent one first or failed the connection.
    pub sent_code: Option<u16>,
}

/// The result of a send or flush.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum SendStatus {
    /// Everything is out of our buffers and in the socket.
    Flushed,
    /// The message is queued; the rest goes out on [`WsConnection::flush`] at WRITABLE.
    Pending,
    /// The backlog is full: the message was NOT queued. Retry after a flush makes room.
    Backpressure,
}

/// Per-connection counters, owned by the thread driving the connection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ConnStats {
    /// Data frames delivered.
    pub frames_in: u64,
    /// Payload bytes delivered.
    pub bytes_in: u64,
    /// Data frames sent.
    pub frames_out: u64,
    /// Payload bytes sent.
    pub bytes_out: u64,
    /// Ping/Pong frames received (answered by tungstenite, not delivered).
    pub control_in: u64,
    /// Sends refused because the backlog was full.
    pub backpressure: u64,
    /// Connections failed with 1009 for an oversized message (SOFH: an oversized length).
    pub oversized_closed: u64,
    /// Connections failed with 1007 for a text frame that is not UTF-8.
    pub invalid_utf8_closed: u64,
    /// Connections failed with 1002 for another protocol violation (SOFH: a length below the
    /// header, or a peer that closed mid-frame).
    pub protocol_closed: u64,
    /// SOFH connections failed for a frame of another encoding type than the connection's.
    pub encoding_closed: u64,
}

/// Transport failures.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// A rustls error (configuration or connection setup).
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    /// The TLS handshake failed (bad certificate, alert from the peer, ...).
    #[error("TLS handshake failed: {0}")]
    TlsHandshake(String),
    /// A certificate or key could not be made, read or parsed.
    #[error("certificate: {0}")]
    Certificate(String),
    /// The TCP connect failed.
    #[error("TCP connect failed: {0}")]
    Connect(io::Error),
    /// The server answered the upgrade with an HTTP error (or, server side, we did).
    #[error("upgrade refused with HTTP {status}: {reason}")]
    UpgradeRefused {
        /// HTTP status.
        status: u16,
        /// The response body.
        reason: String,
    },
    /// The WebSocket handshake failed for another reason.
    #[error("WebSocket handshake failed: {0}")]
    Handshake(String),
    /// The request could not be built (bad host name or path).
    #[error("bad request: {0}")]
    Request(String),
    /// The peer went away without a closing handshake (TCP FIN or reset, no Close frame).
    #[error("peer closed the connection without a closing handshake")]
    PeerVanished,
    /// A WebSocket protocol error that ended the connection.
    #[error("WebSocket protocol error: {0}")]
    Protocol(String),
    /// The connection is closing or closed: nothing more can be sent.
    #[error("connection closed")]
    Closed,
    /// A text frame was requested for bytes that are not UTF-8.
    #[error("payload for a text frame is not UTF-8")]
    NotUtf8,
    /// Plain TCP was asked for without [`SofhOptions::allow_plain_tcp`] (TLS is the default).
    #[error("plain TCP refused: give a TLS config or set SofhOptions::allow_plain_tcp")]
    PlainTcpNotAllowed,
    /// A message larger than the connection's write buffer can ever hold.
    #[error("message of {len} bytes larger than the {max}-byte write buffer")]
    MessageTooLarge {
        /// The message length.
        len: usize,
        /// The most the buffer holds.
        max: usize,
    },
    /// Another I/O error.
    #[error("I/O: {0}")]
    Io(#[from] io::Error),
}
