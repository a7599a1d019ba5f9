//! The transports the engine drives, behind one enum each: [`Link`] (one connection) and
//! [`Listener`] (one listening socket).
//!
//! The duty cycle only calls the methods here; a second transport (SOFH over TCP, with the same
//! method set as `WsConnection`) is one more variant in each enum and one more arm in each
//! method, without a change to the loop's logic.
//!
//! Owns: dispatch to the transport types. May not touch: sessions, the connection table or
//! timers.

use std::io;
use std::net::SocketAddr;

use mio::{Registry, Token};

use crate::codec::FrameKind;
use crate::engine::config::InitiatorConfig;
use crate::engine::status::TransportKind;
use crate::transport::{
    CloseReport, HandshakeProgress, ReadStatus, SendStatus, TransportError, WireEncoding,
    WsConnection, WsListener,
};

/// One connection, whatever its transport.
pub(crate) enum Link {
    /// WebSocket (`ws://` or `wss://`).
    Ws(WsConnection),
}

impl Link {
    /// Starts the connection of an initiator, registered under `token`.
    pub(crate) fn connect(
        config: &InitiatorConfig,
        registry: &Registry,
        token: Token,
    ) -> Result<Link, TransportError> {
        WsConnection::connect(config.target.clone(), &config.options, registry, token).map(Link::Ws)
    }

    /// Drives the connect and the handshakes; `Open` once messages can flow.
    pub(crate) fn poll_handshake(&mut self) -> Result<HandshakeProgress, TransportError> {
        match self {
            Link::Ws(ws) => ws.poll_handshake(),
        }
    }

    /// The encoding the handshake settled (the WebSocket subprotocol), once open.
    pub(crate) fn encoding(&self) -> Option<WireEncoding> {
        match self {
            Link::Ws(ws) => ws.subprotocol().map(|p| p.encoding()),
        }
    }

    /// Hands up to `limit` inbound messages to `on_frame`; true when it stopped at the limit.
    pub(crate) fn read_frames_up_to<F>(
        &mut self,
        limit: usize,
        on_frame: F,
    ) -> Result<(ReadStatus, bool), TransportError>
    where
        F: FnMut(FrameKind, &[u8]),
    {
        match self {
            Link::Ws(ws) => ws.read_frames_up_to(limit, on_frame),
        }
    }

    /// Sends one message.
    pub(crate) fn send(
        &mut self,
        kind: FrameKind,
        payload: &[u8],
    ) -> Result<SendStatus, TransportError> {
        match self {
            Link::Ws(ws) => ws.send(kind, payload),
        }
    }

    /// Pushes queued bytes to the socket.
    pub(crate) fn flush(&mut self) -> Result<SendStatus, TransportError> {
        match self {
            Link::Ws(ws) => ws.flush(),
        }
    }

    /// True if bytes wait in the transport for the socket.
    pub(crate) fn flush_pending(&self) -> bool {
        match self {
            Link::Ws(ws) => ws.flush_pending(),
        }
    }

    /// Starts the closing handshake.
    pub(crate) fn close(&mut self, code: u16, reason: &str) -> Result<SendStatus, TransportError> {
        match self {
            Link::Ws(ws) => ws.close(code, reason),
        }
    }

    /// The close codes seen so far.
    pub(crate) fn close_report(&self) -> CloseReport {
        match self {
            Link::Ws(ws) => ws.close_report(),
        }
    }

    /// True once the connection is finished.
    pub(crate) fn is_closed(&self) -> bool {
        match self {
            Link::Ws(ws) => ws.is_closed(),
        }
    }

    /// The transport, for status reports (TLS is known once the handshake is done).
    pub(crate) fn transport(&self) -> TransportKind {
        match self {
            Link::Ws(ws) if ws.tls_version().is_some() => TransportKind::Wss,
            Link::Ws(_) => TransportKind::Ws,
        }
    }

    /// Removes the socket from the poll.
    pub(crate) fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        match self {
            Link::Ws(ws) => ws.deregister(registry),
        }
    }
}

/// One listening socket, whatever its transport.
pub(crate) enum Listener {
    /// WebSocket (`ws://` or `wss://`).
    Ws(WsListener),
}

impl Listener {
    /// Accepts one pending connection, registered under `token`, with its peer's address;
    /// `Ok(None)` when none waits.
    pub(crate) fn accept(
        &mut self,
        registry: &Registry,
        token: Token,
    ) -> Result<Option<(Link, SocketAddr)>, TransportError> {
        match self {
            Listener::Ws(l) => l
                .accept_from(registry, token)
                .map(|c| c.map(|(ws, peer)| (Link::Ws(ws), peer))),
        }
    }

    /// Counts a connection of this listener whose handshake failed.
    pub(crate) fn record_handshake_failure(&mut self, link: &Link) {
        match (self, link) {
            (Listener::Ws(l), Link::Ws(ws)) => l.record_handshake_failure(ws),
        }
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Listener::Ws(l) => l.local_addr(),
        }
    }
}
