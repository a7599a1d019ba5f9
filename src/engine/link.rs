//! The transports the engine drives, behind one enum each: [`Link`] (one connection) and
//! [`Listener`] (one listening socket): WebSocket (`WsConnection`, `WsListener`) and FIXP over
//! TCP with SOFH framing (`SofhConnection`, `SofhListener`), which have the same method set.
//!
//! The duty cycle only calls the methods here. What differs between the transports and matters
//! to the engine is said here too: how a binding ends on each ([`Link::termination`]: a Close
//! frame, or the FIXP Terminate exchange) and why a TCP stream failed its framing
//! ([`Link::fault`]).
//!
//! Owns: dispatch to the transport types. May not touch: sessions, the connection table or
//! timers.

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Registry, Token};

use crate::codec::FrameKind;
use crate::engine::config::{InitiatorConfig, Transport};
use crate::engine::status::TransportKind;
use crate::session::{PeerIdentity, Termination};
use crate::transport::{
    CloseReport, FramingFault, HandshakeProgress, ReadPass, ReadStatus, SendStatus, SofhConnection,
    SofhListener, TransportError, WireEncoding, WsConnection, WsListener,
};

/// One connection, whatever its transport.
// Held in place in the connection table's slots: boxing the larger variant would cost a
// pointer chase on every call of the hot path for a few hundred bytes per slot.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Link {
    /// WebSocket (`ws://` or `wss://`).
    Ws(WsConnection),
    /// FIXP over TCP with SOFH framing (`tcp+tls://` or plain `tcp://`).
    Sofh(SofhConnection),
}

/// Dispatches one call to the connection of either transport.
macro_rules! each {
    ($link:expr, $c:ident => $call:expr) => {
        match $link {
            Link::Ws($c) => $call,
            Link::Sofh($c) => $call,
        }
    };
}

impl Link {
    /// Starts the connection of an initiator, registered under `token`.
    pub(crate) fn connect(
        config: &InitiatorConfig,
        registry: &Registry,
        token: Token,
    ) -> Result<Link, TransportError> {
        let target = config.target.clone();
        match &config.transport {
            Transport::WebSocket(options) => {
                WsConnection::connect(target, options, registry, token).map(Link::Ws)
            }
            Transport::Sofh(options) => {
                SofhConnection::connect(target, options, registry, token).map(Link::Sofh)
            }
        }
    }

    /// How a binding on this connection ends: WebSocket Close (Close replaces Terminate), or
    /// over TCP the FIXP Terminate exchange; `template` is the session's configured style (a
    /// `FixpTerminate` keeps its timeout), `close` the engine's close timeout (the wait for the
    /// peer's Terminate otherwise).
    pub(crate) fn termination(&self, template: Termination, close: Duration) -> Termination {
        match (self, template) {
            (Link::Ws(_), _) => Termination::WebSocketClose,
            (Link::Sofh(_), Termination::FixpTerminate { timeout_ms }) => {
                Termination::FixpTerminate { timeout_ms }
            }
            (Link::Sofh(_), Termination::WebSocketClose) => Termination::FixpTerminate {
                timeout_ms: u32::try_from(close.as_millis()).unwrap_or(u32::MAX),
            },
        }
    }

    /// Drives the connect and the handshakes; `Open` once messages can flow.
    pub(crate) fn poll_handshake(&mut self) -> Result<HandshakeProgress, TransportError> {
        each!(self, c => c.poll_handshake())
    }

    /// The encoding of the connection once open: the WebSocket subprotocol's, or the SOFH
    /// encoding type's.
    pub(crate) fn encoding(&self) -> Option<WireEncoding> {
        match self {
            Link::Ws(ws) => ws.subprotocol().map(|p| p.encoding()),
            Link::Sofh(tcp) => Some(tcp.encoding()),
        }
    }

    /// Why a TCP stream failed its peer's framing, if it did (never for WebSocket, whose
    /// protocol errors end in a Close frame).
    pub(crate) fn fault(&self) -> Option<FramingFault> {
        match self {
            Link::Ws(_) => None,
            Link::Sofh(tcp) => tcp.fault(),
        }
    }

    /// Hands up to `limit` inbound messages to `on_frame` in one read pass; true when it
    /// stopped at the limit.
    pub(crate) fn read_frames_in<F>(
        &mut self,
        pass: ReadPass,
        limit: usize,
        on_frame: F,
    ) -> Result<(ReadStatus, bool), TransportError>
    where
        F: FnMut(FrameKind, &[u8]),
    {
        each!(self, c => c.read_frames_in(pass, limit, on_frame))
    }

    /// Queues one message without flushing: a batch of queued messages goes out on the next
    /// [`Link::flush`], which must follow (no readiness event announces a batch).
    pub(crate) fn queue(
        &mut self,
        kind: FrameKind,
        payload: &[u8],
    ) -> Result<SendStatus, TransportError> {
        each!(self, c => c.queue(kind, payload))
    }

    /// Pushes queued bytes to the socket.
    pub(crate) fn flush(&mut self) -> Result<SendStatus, TransportError> {
        each!(self, c => c.flush())
    }

    /// True if bytes wait in the transport for the socket.
    pub(crate) fn flush_pending(&self) -> bool {
        each!(self, c => c.flush_pending())
    }

    /// Starts the closing handshake (TCP: flush, close_notify, FIN).
    pub(crate) fn close(&mut self, code: u16, reason: &str) -> Result<SendStatus, TransportError> {
        each!(self, c => c.close(code, reason))
    }

    /// Frames read so far, data and control.
    pub(crate) fn frames_seen(&self) -> u64 {
        let stats = each!(self, c => c.stats());
        stats.frames_in + stats.control_in
    }

    /// The close codes seen so far.
    pub(crate) fn close_report(&self) -> CloseReport {
        each!(self, c => c.close_report())
    }

    /// True once the connection is finished.
    pub(crate) fn is_closed(&self) -> bool {
        each!(self, c => c.is_closed())
    }

    /// The transport, for status reports (TLS is known once the handshake is done).
    pub(crate) fn transport(&self) -> TransportKind {
        match self {
            Link::Ws(ws) if ws.tls_version().is_some() => TransportKind::Wss,
            Link::Ws(_) => TransportKind::Ws,
            Link::Sofh(tcp) if tcp.tls_version().is_some() => TransportKind::TcpTls,
            Link::Sofh(_) => TransportKind::Tcp,
        }
    }

    /// The names of the peer's verified TLS client certificate, once open (`None`: plain, no
    /// certificate, or a certificate that does not parse).
    pub(crate) fn peer_identity(&self) -> Option<PeerIdentity> {
        match self {
            Link::Ws(ws) => ws.peer_identity().ok().flatten(),
            Link::Sofh(tcp) => tcp.peer_identity().ok().flatten(),
        }
    }

    /// Removes the socket from the poll.
    pub(crate) fn deregister(&mut self, registry: &Registry) -> io::Result<()> {
        each!(self, c => c.deregister(registry))
    }
}

/// One listening socket, whatever its transport.
pub(crate) enum Listener {
    /// WebSocket (`ws://` or `wss://`).
    Ws(WsListener),
    /// FIXP over TCP with SOFH framing.
    Sofh(SofhListener),
}

impl Listener {
    /// Accepts one pending TCP connection, its handshake not started (so it can be refused
    /// before any TLS state exists); `Ok(None)` when none waits.
    pub(crate) fn accept_socket(
        &mut self,
    ) -> Result<Option<(TcpStream, SocketAddr)>, TransportError> {
        match self {
            Listener::Ws(l) => l.accept_socket(),
            Listener::Sofh(l) => l.accept_socket(),
        }
    }

    /// Starts the server side of an accepted socket, registered under `token`.
    pub(crate) fn start(
        &self,
        socket: TcpStream,
        registry: &Registry,
        token: Token,
    ) -> Result<Link, TransportError> {
        match self {
            Listener::Ws(l) => l.start(socket, registry, token).map(Link::Ws),
            Listener::Sofh(l) => l.start(socket, registry, token).map(Link::Sofh),
        }
    }

    /// Counts a connection of this listener whose handshake failed.
    pub(crate) fn record_handshake_failure(&mut self, link: &Link) {
        match (self, link) {
            (Listener::Ws(l), Link::Ws(ws)) => l.record_handshake_failure(ws),
            (Listener::Sofh(l), Link::Sofh(tcp)) => l.record_handshake_failure(tcp),
            // A connection is always its listener's transport.
            _ => {}
        }
    }

    /// The bound address.
    pub(crate) fn local_addr(&self) -> io::Result<SocketAddr> {
        match self {
            Listener::Ws(l) => l.local_addr(),
            Listener::Sofh(l) => l.local_addr(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tcp_bindings_end_with_terminate_and_websocket_ones_with_close() {
        let poll = mio::Poll::new().expect("poll");
        let options = crate::transport::SofhOptions {
            allow_plain_tcp: true,
            ..Default::default()
        };
        let listener = SofhListener::bind(
            "127.0.0.1:0".parse().expect("addr"),
            None,
            options.clone(),
            poll.registry(),
            Token(1),
        )
        .expect("bind");
        let target = crate::transport::ClientTarget {
            addr: listener.local_addr().expect("addr"),
            host: "localhost".into(),
            tls: None,
        };
        let tcp = Link::Sofh(
            SofhConnection::connect(target, &options, poll.registry(), Token(2)).expect("connect"),
        );
        let close = Duration::from_millis(1500);
        assert_eq!(
            tcp.termination(Termination::WebSocketClose, close),
            Termination::FixpTerminate { timeout_ms: 1500 }
        );
        let own = Termination::FixpTerminate { timeout_ms: 40 };
        assert_eq!(
            tcp.termination(own, close),
            own,
            "a configured wait is kept"
        );
        assert_eq!(tcp.encoding(), Some(WireEncoding::Sbe));
        assert_eq!(tcp.fault(), None);
    }
}
