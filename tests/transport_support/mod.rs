//! Test support for the transport tests: one mio `Poll` driving a listener, the server-side
//! connections it accepts and any number of client connections, with blocking polls.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use fixp_ws::codec::FrameKind;
use fixp_ws::transport::{
    client_config_from_ca_pem, ClientTarget, HandshakeProgress, ReadStatus, ServerIdentity,
    TransportError, WsConnection, WsListener, WsOptions,
};
use mio::{Events, Poll, Token};

/// Token of the listening socket.
pub const LISTENER: Token = Token(0);
/// First token of server-side connections.
const SERVER_BASE: usize = 1;
/// First token of client connections.
const CLIENT_BASE: usize = 10_000;

/// How long one poll may wait before the loop counts it as "no progress". A safety net against
/// hangs only; no test asserts on time.
const POLL_GUARD: Duration = Duration::from_secs(10);

/// One side's view of a connection.
#[derive(Default)]
pub struct Peer {
    /// The connection, until it is dropped.
    pub conn: Option<WsConnection>,
    /// Frames received.
    pub inbox: Vec<(FrameKind, Vec<u8>)>,
    /// The final status, once the connection is finished.
    pub closed: Option<ReadStatus>,
    /// The error that ended it, if any.
    pub error: Option<String>,
    /// True once the handshake reported open.
    pub opened: bool,
}

/// A server and its clients on one `Poll`.
pub struct Loop {
    pub poll: Poll,
    events: Events,
    pub listener: WsListener,
    pub addr: SocketAddr,
    /// Server-side connections, by accept order.
    pub servers: Vec<Peer>,
    /// Server-side connections refused during the upgrade.
    pub refused: Vec<(fixp_ws::transport::UpgradeRefusal, String)>,
    /// Client connections.
    pub clients: Vec<Peer>,
    /// Echo every frame the server receives.
    pub echo: bool,
    /// PEM of the server certificate (TLS only).
    pub cert_pem: Option<String>,
}

impl Loop {
    /// A listener on 127.0.0.1 with a fresh self-signed certificate (if `tls`).
    pub fn new(tls: bool, server_options: WsOptions) -> Self {
        if !tls {
            return Self::with_server_tls(None, None, server_options);
        }
        let identity = ServerIdentity::self_signed().expect("self-signed certificate");
        Self::with_server_tls(
            Some(identity.server_config().expect("server config")),
            Some(identity.cert_pem.clone()),
            server_options,
        )
    }

    /// A listener on 127.0.0.1 with this server config; `cert_pem` is what [`Loop::connect`]
    /// trusts (use [`Loop::connect_to`] for other client configs).
    pub fn with_server_tls(
        server_tls: Option<std::sync::Arc<rustls::ServerConfig>>,
        cert_pem: Option<String>,
        server_options: WsOptions,
    ) -> Self {
        let poll = Poll::new().expect("poll");
        let listener = WsListener::bind(
            "127.0.0.1:0".parse().expect("addr"),
            server_tls,
            server_options,
            poll.registry(),
            LISTENER,
        )
        .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        Self {
            poll,
            events: Events::with_capacity(64),
            listener,
            addr,
            servers: Vec::new(),
            refused: Vec::new(),
            clients: Vec::new(),
            echo: false,
            cert_pem,
        }
    }

    /// Starts a client connection; returns its index in `clients`.
    pub fn connect(&mut self, options: &WsOptions) -> usize {
        let tls = self
            .cert_pem
            .as_ref()
            .map(|pem| client_config_from_ca_pem(pem).expect("client config"));
        self.connect_to(options, tls, "localhost")
    }

    /// Starts a client connection with this TLS config, verifying the server as `host`;
    /// returns its index in `clients`.
    pub fn connect_to(
        &mut self,
        options: &WsOptions,
        tls: Option<std::sync::Arc<rustls::ClientConfig>>,
        host: &str,
    ) -> usize {
        let target = ClientTarget {
            addr: self.addr,
            host: host.to_owned(),
            tls,
        };
        let index = self.clients.len();
        let mut peer = Peer::default();
        match WsConnection::connect(
            target,
            options,
            self.poll.registry(),
            Token(CLIENT_BASE + index),
        ) {
            Ok(conn) => peer.conn = Some(conn),
            Err(e) => peer.error = Some(e.to_string()),
        }
        self.clients.push(peer);
        index
    }

    /// Polls once (blocking, with the guard timeout) and handles every event. Returns the
    /// number of events.
    pub fn step(&mut self) -> usize {
        self.step_for(POLL_GUARD)
    }

    /// Polls once, waiting at most `timeout`, and handles every event.
    pub fn step_for(&mut self, timeout: Duration) -> usize {
        self.poll
            .poll(&mut self.events, Some(timeout))
            .expect("poll");
        let tokens: Vec<Token> = self.events.iter().map(|e| e.token()).collect();
        for token in &tokens {
            self.handle(*token);
        }
        tokens.len()
    }

    /// Handles every connection once without waiting (for state reached without an event).
    pub fn pump_all(&mut self) {
        for i in 0..self.servers.len() {
            self.handle(Token(SERVER_BASE + i));
        }
        for i in 0..self.clients.len() {
            self.handle(Token(CLIENT_BASE + i));
        }
    }

    /// Steps until `done` holds; panics if a poll brings no events within the guard.
    pub fn run_until(&mut self, mut done: impl FnMut(&Loop) -> bool) {
        let mut guard = 0;
        while !done(self) {
            if self.step() == 0 {
                guard += 1;
                assert!(guard < 2, "no progress: the loop stalled");
            }
        }
    }

    fn handle(&mut self, token: Token) {
        if token == LISTENER {
            self.accept_all();
        } else if token.0 >= CLIENT_BASE {
            if let Some(peer) = self.clients.get_mut(token.0 - CLIENT_BASE) {
                drive(peer, false);
            }
        } else if let Some(peer) = self.servers.get_mut(token.0 - SERVER_BASE) {
            let echo = self.echo;
            drive(peer, echo);
            if peer.error.is_some() && !peer.opened {
                if let Some(conn) = peer.conn.take() {
                    self.listener.record_handshake_failure(&conn);
                    if let Some(refusal) = conn.refusal() {
                        let reason = peer.error.clone().unwrap_or_default();
                        self.refused.push((refusal, reason));
                    }
                }
            }
        }
    }

    fn accept_all(&mut self) {
        loop {
            let token = Token(SERVER_BASE + self.servers.len());
            let mut peer = Peer::default();
            match self.listener.accept(self.poll.registry(), token) {
                Ok(Some(conn)) => peer.conn = Some(conn),
                Ok(None) => return,
                Err(e) => peer.error = Some(e.to_string()),
            }
            self.servers.push(peer);
            // The request may be waiting already: no new event will announce it.
            self.handle(token);
        }
    }
}

/// Drives one connection: handshake, flush, read (echoing if asked).
pub fn drive(peer: &mut Peer, echo: bool) {
    let Some(conn) = peer.conn.as_mut() else {
        return;
    };
    let result: Result<(), TransportError> = (|| {
        if conn.poll_handshake()? == HandshakeProgress::InProgress {
            return Ok(());
        }
        peer.opened = true;
        if conn.flush_pending() {
            let _ = conn.flush()?;
        }
        let before = peer.inbox.len();
        let status = conn.read_frames(|kind, bytes| peer.inbox.push((kind, bytes.to_vec())))?;
        if echo {
            for (kind, bytes) in peer.inbox.get(before..).unwrap_or_default().to_vec() {
                if conn.is_open() {
                    let _ = conn.send(kind, &bytes)?;
                }
            }
        }
        if let ReadStatus::Closed(_) = status {
            peer.closed = Some(status);
        }
        Ok(())
    })();
    if let Err(e) = result {
        peer.error = Some(e.to_string());
        if peer.opened {
            peer.conn = None;
        }
    }
}
