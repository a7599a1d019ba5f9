//! The WebSocket floors (`ws`, `wss`, `wss-oneway`) and the connection plumbing the FIXP rows
//! share with them.
//!
//! Owns: listeners, connections and their handshakes. May not touch: timing or counting (the
//! runner's).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use fixp_ws::codec::FrameKind;
use fixp_ws::transport::{
    client_config_from_ca_pem, ClientTarget, HandshakeProgress, ReadPass, ReadStatus, SendStatus,
    ServerIdentity, TransportError, WsConnection, WsListener, WsOptions,
};
use mio::{Events, Poll, Token};

use super::{err, payload, Serve};
use crate::runner::{Driver, Pair, Res, RunConfig, ServerCtx, Wait};

/// A bound listener and the TLS settings of the client that will connect to it.
pub(super) struct Endpoint {
    pub poll: Poll,
    pub listener: WsListener,
    pub target: ClientTarget,
    pub options: WsOptions,
}

/// Binds a `ws://` (or, with `tls`, `wss://` with a fresh self-signed certificate) listener.
pub(super) fn endpoint(tls: bool, size: usize) -> Res<Endpoint> {
    let poll = Poll::new().map_err(err)?;
    let options = WsOptions {
        max_message_size: size.max(1024) + 1024,
        ..WsOptions::default()
    };
    let (server_tls, client_tls) = if tls {
        let identity = ServerIdentity::self_signed().map_err(err)?;
        (
            Some(identity.server_config().map_err(err)?),
            Some(client_config_from_ca_pem(&identity.cert_pem).map_err(err)?),
        )
    } else {
        (None, None)
    };
    let addr: SocketAddr = "127.0.0.1:0".parse().map_err(err)?;
    let listener = WsListener::bind(addr, server_tls, options.clone(), poll.registry(), Token(0))
        .map_err(err)?;
    let target = ClientTarget {
        addr: listener.local_addr().map_err(err)?,
        host: "localhost".to_owned(),
        tls: client_tls,
    };
    Ok(Endpoint {
        poll,
        listener,
        target,
        options,
    })
}

/// Server side: accepts one connection and completes its handshake. `None` when told to stop.
pub(super) fn accept_one(
    poll: &mut Poll,
    events: &mut Events,
    listener: &mut WsListener,
    config: &RunConfig,
    ctx: &mut ServerCtx,
) -> Res<Option<WsConnection>> {
    let mut conn: Option<WsConnection> = None;
    loop {
        if !ctx.running() {
            return Ok(None);
        }
        poll.poll(events, config.poll_timeout()).map_err(err)?;
        if conn.is_none() {
            conn = listener.accept(poll.registry(), Token(1)).map_err(err)?;
        }
        if let Some(c) = conn.as_mut() {
            if c.poll_handshake().map_err(err)? == HandshakeProgress::Open {
                return Ok(conn);
            }
        }
    }
}

/// A connected client: its poll, event buffer and connection.
pub(super) struct ClientConn {
    pub poll: Poll,
    pub events: Events,
    pub conn: WsConnection,
    pub config: RunConfig,
}

impl ClientConn {
    /// Connects and completes the WebSocket (and TLS) handshake.
    pub fn connect(target: ClientTarget, options: &WsOptions, config: &RunConfig) -> Res<Self> {
        let mut poll = Poll::new().map_err(err)?;
        let mut events = Events::with_capacity(8);
        let mut conn =
            WsConnection::connect(target, options, poll.registry(), Token(0)).map_err(err)?;
        let deadline = Instant::now() + Duration::from_secs(10);
        while conn.poll_handshake().map_err(err)? != HandshakeProgress::Open {
            if Instant::now() > deadline {
                return Err("handshake timed out".into());
            }
            poll.poll(&mut events, config.poll_timeout()).map_err(err)?;
        }
        Ok(ClientConn {
            poll,
            events,
            conn,
            config: *config,
        })
    }

    /// Waits for readiness in the run's wait mode: blocking, in `epoll_wait`; busy, not at
    /// all (the caller's next read is the spin).
    pub fn wait(&mut self) -> Res<()> {
        if self.config.wait == Wait::Busy {
            return Ok(());
        }
        self.poll
            .poll(&mut self.events, self.config.poll_timeout())
            .map_err(err)
    }

    /// Pushes out what the transport still holds.
    pub fn flush(&mut self) -> Res<()> {
        if self.conn.flush_pending() {
            let _ = self.conn.flush().map_err(err)?;
        }
        Ok(())
    }
}

/// Reads every frame the socket holds in one pass that ends at a short read: a floor's read
/// makes the syscalls the engine's does (a busy floor spins on this read, not on `epoll_wait`).
pub(super) fn read_pass<F>(
    conn: &mut WsConnection,
    on_frame: F,
) -> Result<ReadStatus, TransportError>
where
    F: FnMut(FrameKind, &[u8]),
{
    conn.read_frames_in(ReadPass::UntilShortRead, usize::MAX, on_frame)
        .map(|(status, _)| status)
}

/// Whether a transport error just means the peer went away at the end of the run.
pub(super) fn is_end(e: &TransportError) -> bool {
    matches!(e, TransportError::PeerVanished | TransportError::Closed)
}

/// A transport refusal of a frame, as the harness's error: nothing is dropped silently.
pub(super) fn refused(status: SendStatus) -> Res<()> {
    match status {
        SendStatus::Backpressure => Err("the transport backlog is full: frame refused".into()),
        SendStatus::Flushed | SendStatus::Pending => Ok(()),
    }
}

/// A finished connection on the client side is an error: the server went away mid-run.
pub(super) fn still_open(status: ReadStatus) -> Res<()> {
    match status {
        ReadStatus::Closed(report) => Err(format!("server closed the connection: {report:?}")),
        ReadStatus::Drained | ReadStatus::Closing => Ok(()),
    }
}

/// The outcome of one server step that read (closed or not) and maybe sent: `Ok(true)` when the
/// connection is over (the peer closed or vanished at the end of the run), an error for a refused
/// frame or a transport failure.
pub(super) fn served(step: Result<(bool, SendStatus), TransportError>) -> Res<bool> {
    match step {
        Ok((closed, sent)) => refused(sent).map(|()| closed),
        Err(e) if is_end(&e) => Ok(true),
        Err(e) => Err(err(e)),
    }
}

fn websocket(config: &RunConfig, tls: bool, serve: Serve) -> Res<Pair> {
    let Endpoint {
        poll,
        mut listener,
        target,
        options,
    } = endpoint(tls, config.size)?;
    let cfg = *config;
    let server = move |ctx: &mut ServerCtx| -> Res<()> {
        let mut poll = poll;
        let mut events = Events::with_capacity(8);
        let Some(mut conn) = accept_one(&mut poll, &mut events, &mut listener, &cfg, ctx)? else {
            return Ok(());
        };
        let mut echo = vec![0u8; cfg.size.max(1024) + 1024];
        let mut first = true;
        while ctx.running() {
            if !first && cfg.wait == Wait::Blocking {
                poll.poll(&mut events, cfg.poll_timeout()).map_err(err)?;
            }
            first = false;
            let step = (|| -> Result<(bool, SendStatus), TransportError> {
                if conn.flush_pending() {
                    let _ = conn.flush()?;
                }
                let mut echo_len = None;
                let mut frames = 0u64;
                let status = read_pass(&mut conn, |kind, bytes| {
                    frames += 1;
                    if serve == Serve::Echo {
                        if let Some(slot) = echo.get_mut(..bytes.len()) {
                            slot.copy_from_slice(bytes);
                            echo_len = Some((kind, bytes.len()));
                        }
                    }
                })?;
                ctx.delivered(if serve == Serve::Count { frames } else { 0 });
                let sent = match echo_len {
                    Some((kind, len)) => conn.send(kind, echo.get(..len).unwrap_or(&[]))?,
                    None => SendStatus::Flushed,
                };
                Ok((matches!(status, ReadStatus::Closed(_)), sent))
            })();
            if served(step)? {
                return Ok(());
            }
        }
        Ok(())
    };
    let connect = move || -> Res<Box<dyn Driver>> {
        let client = ClientConn::connect(target, &options, &cfg)?;
        let message = payload(cfg.size);
        Ok(match serve {
            Serve::Echo => Box::new(WsPingPong { client, message }),
            Serve::Count => Box::new(WsOneWay { client, message }),
        })
    };
    Ok(Pair::new(Box::new(server), Box::new(connect)))
}

/// `ws://` ping-pong: the second floor.
pub fn ping_pong_ws(config: &RunConfig) -> Res<Pair> {
    websocket(config, false, Serve::Echo)
}

/// `wss://` ping-pong: the third floor.
pub fn ping_pong_wss(config: &RunConfig) -> Res<Pair> {
    websocket(config, true, Serve::Echo)
}

/// `wss://` one way: the throughput floor.
pub fn one_way_wss(config: &RunConfig) -> Res<Pair> {
    websocket(config, true, Serve::Count)
}

/// Sends a message and waits for its echo.
struct WsPingPong {
    client: ClientConn,
    message: Vec<u8>,
}

impl Driver for WsPingPong {
    fn step(&mut self) -> Res<()> {
        let c = &mut self.client;
        refused(c.conn.send(FrameKind::Binary, &self.message).map_err(err)?)?;
        loop {
            c.flush()?;
            let mut back = false;
            still_open(read_pass(&mut c.conn, |_, _| back = true).map_err(err)?)?;
            if back {
                return Ok(());
            }
            c.wait()?;
        }
    }

    fn finish(&mut self) -> Res<()> {
        let _ = self.client.conn.close(1000, "done");
        Ok(())
    }
}

/// Sends messages one way as fast as the transport takes them.
struct WsOneWay {
    client: ClientConn,
    message: Vec<u8>,
}

impl Driver for WsOneWay {
    fn step(&mut self) -> Res<()> {
        loop {
            match self
                .client
                .conn
                .send(FrameKind::Binary, &self.message)
                .map_err(err)?
            {
                SendStatus::Flushed | SendStatus::Pending => return Ok(()),
                SendStatus::Backpressure => self.pump()?,
            }
        }
    }

    fn pump(&mut self) -> Res<()> {
        let c = &mut self.client;
        c.flush()?;
        still_open(read_pass(&mut c.conn, |_, _| {}).map_err(err)?)?;
        c.wait()
    }

    fn finish(&mut self) -> Res<()> {
        let _ = self.client.conn.close(1000, "done");
        Ok(())
    }
}
