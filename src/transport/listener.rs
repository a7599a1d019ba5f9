//! The acceptor's listening sockets, one per transport: [`WsListener`] for WebSocket and
//! [`SofhListener`] for FIXP over TCP with SOFH. Each accepts TCP connections, starts their
//! server-side handshakes and counts how handshakes ended.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use mio::net::{TcpListener, TcpStream};
use mio::{Interest, Registry, Token};

use super::{SofhConnection, SofhOptions, TransportError, UpgradeRefusal, WsConnection, WsOptions};

/// Counts kept by a [`Listener`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerStats {
    /// TCP connections accepted.
    pub accepted: u64,
    /// Upgrades refused with 404 (unknown path; WebSocket only).
    pub refused_unknown_path: u64,
    /// Upgrades refused with 400 (no acceptable subprotocol; WebSocket only).
    pub refused_no_subprotocol: u64,
    /// Handshakes that failed otherwise (TLS errors, malformed requests, peers that left).
    pub handshake_failed: u64,
}

/// A connection type a [`Listener`] starts on each accepted socket.
pub trait AcceptedConnection: Sized {
    /// The options every accepted connection gets.
    type Options: Clone + std::fmt::Debug;

    /// Refuses to listen with these options and TLS (`tls` = a server config is given).
    fn check_listener(_options: &Self::Options, _tls: bool) -> Result<(), TransportError> {
        Ok(())
    }

    /// Starts the server side on an accepted socket, registered under `token`.
    fn start(
        socket: TcpStream,
        tls: Option<&Arc<rustls::ServerConfig>>,
        options: &Self::Options,
        registry: &Registry,
        token: Token,
    ) -> Result<Self, TransportError>;

    /// Why the handshake of this connection was refused, if it was.
    fn refused(&self) -> Option<UpgradeRefusal> {
        None
    }
}

impl AcceptedConnection for WsConnection {
    type Options = WsOptions;

    fn start(
        socket: TcpStream,
        tls: Option<&Arc<rustls::ServerConfig>>,
        options: &WsOptions,
        registry: &Registry,
        token: Token,
    ) -> Result<Self, TransportError> {
        WsConnection::accept(socket, tls, options, registry, token)
    }

    fn refused(&self) -> Option<UpgradeRefusal> {
        self.refusal()
    }
}

impl AcceptedConnection for SofhConnection {
    type Options = SofhOptions;

    fn check_listener(options: &SofhOptions, tls: bool) -> Result<(), TransportError> {
        options.check_security(tls)
    }

    fn start(
        socket: TcpStream,
        tls: Option<&Arc<rustls::ServerConfig>>,
        options: &SofhOptions,
        registry: &Registry,
        token: Token,
    ) -> Result<Self, TransportError> {
        SofhConnection::accept(socket, tls, options, registry, token)
    }
}

/// A listening socket for `ws://` or `wss://` connections.
pub type WsListener = Listener<WsConnection>;

/// A listening socket for FIXP over TCP with SOFH framing: `tcp+tls://` (the default) or, with
/// [`SofhOptions::allow_plain_tcp`], plain `tcp://`.
pub type SofhListener = Listener<SofhConnection>;

/// A listening socket whose accepted connections are `C`s ([`WsListener`], [`SofhListener`]).
#[derive(Debug)]
pub struct Listener<C: AcceptedConnection> {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    options: C::Options,
    stats: ListenerStats,
}

impl<C: AcceptedConnection> Listener<C> {
    /// Binds `addr` and registers the socket with `registry` under `token` (READABLE).
    /// `tls` = `None` serves plain `ws://` (or plain `tcp://`, which needs
    /// [`SofhOptions::allow_plain_tcp`]).
    pub fn bind(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        options: C::Options,
        registry: &Registry,
        token: Token,
    ) -> Result<Self, TransportError> {
        C::check_listener(&options, tls.is_some())?;
        let mut listener = TcpListener::bind(addr)?;
        registry.register(&mut listener, token, Interest::READABLE)?;
        Ok(Self {
            listener,
            tls,
            options,
            stats: ListenerStats::default(),
        })
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The options every accepted connection gets.
    pub fn options(&self) -> &C::Options {
        &self.options
    }

    /// Accepts one pending connection and registers it under `token`; `Ok(None)` when none is
    /// pending. Call until `None` on each READABLE event (edge-triggered), then call the new
    /// connection's `poll_handshake` at once.
    pub fn accept(
        &mut self,
        registry: &Registry,
        token: Token,
    ) -> Result<Option<C>, TransportError> {
        Ok(self.accept_from(registry, token)?.map(|(conn, _)| conn))
    }

    /// [`Listener::accept`], with the peer's address.
    pub fn accept_from(
        &mut self,
        registry: &Registry,
        token: Token,
    ) -> Result<Option<(C, SocketAddr)>, TransportError> {
        match self.accept_socket()? {
            Some((socket, peer)) => self.start(socket, registry, token).map(|c| Some((c, peer))),
            None => Ok(None),
        }
    }

    /// Accepts one pending TCP connection without starting its handshake: the socket and the
    /// peer's address, so the caller can refuse it (drop the socket) before any TLS or
    /// WebSocket state exists. `Ok(None)` when none is pending.
    pub fn accept_socket(&mut self) -> Result<Option<(TcpStream, SocketAddr)>, TransportError> {
        match self.listener.accept() {
            Ok(accepted) => {
                self.stats.accepted += 1;
                Ok(Some(accepted))
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Starts the server side on a socket from [`Listener::accept_socket`], registered under
    /// `token`; call its `poll_handshake` at once.
    pub fn start(
        &self,
        socket: TcpStream,
        registry: &Registry,
        token: Token,
    ) -> Result<C, TransportError> {
        C::start(socket, self.tls.as_ref(), &self.options, registry, token)
    }

    /// Counts a connection whose handshake failed (call with the connection whose
    /// `poll_handshake` returned an error).
    pub fn record_handshake_failure(&mut self, conn: &C) {
        match conn.refused() {
            Some(UpgradeRefusal::UnknownPath) => self.stats.refused_unknown_path += 1,
            Some(UpgradeRefusal::NoAcceptableSubprotocol) => self.stats.refused_no_subprotocol += 1,
            None => self.stats.handshake_failed += 1,
        }
    }

    /// The counts so far.
    pub fn stats(&self) -> ListenerStats {
        self.stats
    }
}
