//! The acceptor's listening sockets, one per transport: [`WsListener`] for WebSocket and
//! [`SofhListener`] for FIXP over TCP with SOFH. Each accepts TCP connections, starts their
//! server-side handshakes and counts how handshakes ended.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use mio::net::TcpListener;
use mio::{Interest, Registry, Token};

use super::{SofhConnection, SofhOptions, TransportError, UpgradeRefusal, WsConnection, WsOptions};

/// Counts kept by a [`WsListener`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenerStats {
    /// TCP connections accepted.
    pub accepted: u64,
    /// Upgrades refused with 404 (unknown path).
    pub refused_unknown_path: u64,
    /// Upgrades refused with 400 (no acceptable subprotocol).
    pub refused_no_subprotocol: u64,
    /// Handshakes that failed otherwise (TLS errors, malformed requests, peers that left).
    pub handshake_failed: u64,
}

/// A listening socket for `ws://` or `wss://` connections.
#[derive(Debug)]
pub struct WsListener {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    options: WsOptions,
    stats: ListenerStats,
}

impl WsListener {
    /// Binds `addr` and registers the socket with `registry` under `token` (READABLE).
    /// `tls` = `None` serves plain `ws://`.
    pub fn bind(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        options: WsOptions,
        registry: &Registry,
        token: Token,
    ) -> Result<Self, TransportError> {
        Ok(Self {
            listener: bind_registered(addr, registry, token)?,
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
    pub fn options(&self) -> &WsOptions {
        &self.options
    }

    /// Accepts one pending connection and registers it under `token`; `Ok(None)` when none is
    /// pending. Call until `None` on each READABLE event (edge-triggered), then call
    /// [`WsConnection::poll_handshake`] on each new connection at once.
    pub fn accept(
        &mut self,
        registry: &Registry,
        token: Token,
    ) -> Result<Option<WsConnection>, TransportError> {
        let Some(socket) = accept_counted(&self.listener, &mut self.stats)? else {
            return Ok(None);
        };
        WsConnection::accept(socket, self.tls.as_ref(), &self.options, registry, token).map(Some)
    }

    /// Counts a connection whose handshake failed (call with the connection whose
    /// `poll_handshake` returned an error).
    pub fn record_handshake_failure(&mut self, conn: &WsConnection) {
        match conn.refusal() {
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

fn bind_registered(
    addr: SocketAddr,
    registry: &Registry,
    token: Token,
) -> Result<TcpListener, TransportError> {
    let mut listener = TcpListener::bind(addr)?;
    registry.register(&mut listener, token, Interest::READABLE)?;
    Ok(listener)
}

/// One pending socket, counted; `None` when none is pending.
fn accept_counted(
    listener: &TcpListener,
    stats: &mut ListenerStats,
) -> Result<Option<mio::net::TcpStream>, TransportError> {
    match listener.accept() {
        Ok((socket, _)) => {
            stats.accepted += 1;
            Ok(Some(socket))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// A listening socket for FIXP over TCP with SOFH framing: `tcp+tls://` (the default) or, if
/// [`SofhOptions::allow_plain_tcp`], plain `tcp://`.
#[derive(Debug)]
pub struct SofhListener {
    listener: TcpListener,
    tls: Option<Arc<rustls::ServerConfig>>,
    options: SofhOptions,
    stats: ListenerStats,
}

impl SofhListener {
    /// Binds `addr` and registers the socket with `registry` under `token` (READABLE).
    /// `tls` = `None` serves plain TCP and needs [`SofhOptions::allow_plain_tcp`].
    pub fn bind(
        addr: SocketAddr,
        tls: Option<Arc<rustls::ServerConfig>>,
        options: SofhOptions,
        registry: &Registry,
        token: Token,
    ) -> Result<Self, TransportError> {
        options.check_security(tls.is_some())?;
        Ok(Self {
            listener: bind_registered(addr, registry, token)?,
            tls,
            options,
            stats: ListenerStats::default(),
        })
    }

    /// The bound address (useful after binding port 0).
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// The options every accepted connection gets (its encoding type among them).
    pub fn options(&self) -> &SofhOptions {
        &self.options
    }

    /// Accepts one pending connection and registers it under `token`; `Ok(None)` when none is
    /// pending. Call until `None` on each READABLE event (edge-triggered), then call
    /// [`SofhConnection::poll_handshake`] on each new connection at once.
    pub fn accept(
        &mut self,
        registry: &Registry,
        token: Token,
    ) -> Result<Option<SofhConnection>, TransportError> {
        let Some(socket) = accept_counted(&self.listener, &mut self.stats)? else {
            return Ok(None);
        };
        SofhConnection::accept(socket, self.tls.as_ref(), &self.options, registry, token).map(Some)
    }

    /// Counts a connection whose handshake failed (TLS errors, peers that left).
    pub fn record_handshake_failure(&mut self, _conn: &SofhConnection) {
        self.stats.handshake_failed += 1;
    }

    /// The counts so far (`refused_*` stay 0: there is no upgrade to refuse).
    pub fn stats(&self) -> ListenerStats {
        self.stats
    }
}
