//! The FIXP rows over WSS: a client `Session` and a server `Acceptor` (both Recoverable
//! flows, SBE, `MemoryStore`), driven by hand on their own threads. `fixp-wss` echoes every
//! application message as the server's own; `fixp-wss-oneway` counts them as delivered.
//!
//! Owns: the session cores of its rows and their clocks. May not touch: timing or counting (the
//! runner's).

use std::time::{Duration, Instant};

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::SessionId;
use fixp_ws::session::{
    AcceptAll, Acceptor, AcceptorConfig, ConnectionId, Event, MemoryStore, SendError, Session,
    SessionConfig, SessionState, TerminateReason, Transmit,
};
use fixp_ws::transport::{
    ReadPass, ReadStatus, SendStatus, TransportError, WsConnection, WsListener, WsOptions,
};
use mio::{Events, Poll};

use super::websocket::{
    accept_one, endpoint, read_pass, refused, served, still_open, ClientConn, Endpoint,
};
use super::{err, Serve};
use crate::runner::{Driver, Pair, Res, RunConfig, ServerCtx, Wait};

/// Frames read per batch before the events they raised are drained (the event queue holds
/// 1 024; overflowing it would terminate the session).
const READ_BATCH: usize = 256;
/// A one-way sender reads its socket (heartbeats, acks) every this many messages.
const ONE_WAY_READ_EVERY: u64 = 256;

/// An SBE application message of `size` bytes (header: schema 100, template 1), which the
/// FIXP encoding passes through as an application message.
pub(super) fn app_message(size: usize) -> Vec<u8> {
    let size = size.max(8);
    let block = u16::try_from(size - 8).unwrap_or(u16::MAX);
    let mut m = Vec::with_capacity(size);
    m.extend_from_slice(&block.to_le_bytes());
    m.extend_from_slice(&1u16.to_le_bytes());
    m.extend_from_slice(&100u16.to_le_bytes());
    m.extend_from_slice(&0u16.to_le_bytes());
    m.extend((8..size).map(|i| (i % 251) as u8));
    m
}

pub(super) fn session_config(size: usize) -> SessionConfig {
    SessionConfig {
        flow: FlowType::Recoverable,
        keepalive_interval_ms: 1000,
        max_frame_len: size.max(1024),
        ..SessionConfig::default()
    }
}

/// Sends one frame the session (or acceptor) has ready.
fn send_transmit(conn: &mut WsConnection, t: Transmit<'_>) -> Result<SendStatus, TransportError> {
    match t {
        Transmit::Frame { bytes, kind } => conn.send(kind, bytes),
        Transmit::Close { code, reason } => conn.close(code, reason),
    }
}

/// A monotonic nanosecond clock for the session cores (never 0).
struct Clock(Instant);

impl Clock {
    fn now(&self) -> u64 {
        u64::try_from(self.0.elapsed().as_nanos()).unwrap_or(u64::MAX) + 1
    }
}

/// The server side: one `Acceptor` on one WSS connection.
fn acceptor_server(
    poll: Poll,
    mut listener: WsListener,
    config: RunConfig,
    serve: Serve,
    ctx: &mut ServerCtx,
) -> Res<()> {
    let size = config.size.max(8);
    let clock = Clock(Instant::now());
    let frame_len = size.max(1024);
    let mut acceptor = Acceptor::new(
        AcceptorConfig {
            capacity: 4,
            max_connections: 4,
            session: session_config(size),
            ..AcceptorConfig::default()
        },
        SbeEncoding::new(),
        AcceptAll,
        move |_| (SbeEncoding::new(), MemoryStore::new(1024, frame_len)),
    );
    let connection = ConnectionId(1);
    let mut poll = poll;
    let mut events = Events::with_capacity(8);
    let Some(mut conn) = accept_one(&mut poll, &mut events, &mut listener, &config, ctx)? else {
        return Ok(());
    };
    let mut echo = vec![0u8; frame_len];
    let mut more = true;
    while ctx.running() {
        if !more && config.wait == Wait::Blocking {
            poll.poll(&mut events, config.poll_timeout()).map_err(err)?;
        }
        let now = clock.now();
        let mut refusal = None;
        let step = (|| -> Result<(bool, SendStatus), TransportError> {
            if conn.flush_pending() {
                let _ = conn.flush()?;
            }
            let (status, again) =
                conn.read_frames_in(ReadPass::UntilShortRead, READ_BATCH, |kind, bytes| {
                    acceptor.handle_frame(now, connection, bytes, kind)
                })?;
            more = again;
            let mut delivered = 0;
            let mut sent = SendStatus::Flushed;
            loop {
                let echoed = match acceptor.poll_event() {
                    None => break,
                    Some((id, Event::Message { bytes, .. })) => {
                        delivered += 1;
                        match serve {
                            Serve::Echo => echo.get_mut(..bytes.len()).map(|slot| {
                                slot.copy_from_slice(bytes);
                                (id, bytes.len())
                            }),
                            Serve::Count => None,
                        }
                    }
                    Some(_) => None,
                };
                if let Some((id, len)) = echoed {
                    if let Some(session) = acceptor.session_mut(id) {
                        if let Err(e) = session.send(now, echo.get(..len).unwrap_or(&[])) {
                            refusal = Some(e);
                        }
                    }
                }
            }
            if serve == Serve::Count {
                ctx.delivered(delivered);
            }
            if acceptor.next_deadline().is_some_and(|d| d <= now) {
                acceptor.handle_timeout(now);
            }
            while let Some((_, t)) = acceptor.poll_transmit() {
                sent = send_transmit(&mut conn, t)?;
                if sent == SendStatus::Backpressure {
                    break;
                }
            }
            Ok((matches!(status, ReadStatus::Closed(_)), sent))
        })();
        if let Some(e) = refusal {
            return Err(format!("the server session refused the echo: {e}"));
        }
        if served(step)? {
            return Ok(());
        }
    }
    Ok(())
}

fn fixp(config: &RunConfig, serve: Serve) -> Res<Pair> {
    let Endpoint {
        poll,
        listener,
        target,
        options,
    } = endpoint(true, config.size)?;
    let cfg = *config;
    let server = move |ctx: &mut ServerCtx| acceptor_server(poll, listener, cfg, serve, ctx);
    let connect = move || -> Res<Box<dyn Driver>> {
        Ok(Box::new(FixpClient::connect(
            target,
            &options,
            &cfg,
            serve == Serve::Count,
        )?))
    };
    Ok(Pair::new(Box::new(server), Box::new(connect)))
}

/// `fixp-wss`: a round trip through both session cores.
pub fn ping_pong(config: &RunConfig) -> Res<Pair> {
    fixp(config, Serve::Echo)
}

/// `fixp-wss-oneway`: one session, one way, counted as delivered by the acceptor.
pub fn one_way(config: &RunConfig) -> Res<Pair> {
    fixp(config, Serve::Count)
}

/// The client session over its WSS connection.
struct FixpClient {
    client: ClientConn,
    session: Session<SbeEncoding, MemoryStore>,
    clock: Clock,
    message: Vec<u8>,
    one_way: bool,
    sent: u64,
}

impl FixpClient {
    fn connect(
        target: fixp_ws::transport::ClientTarget,
        options: &WsOptions,
        config: &RunConfig,
        one_way: bool,
    ) -> Res<Self> {
        let size = config.size.max(8);
        let client = ClientConn::connect(target, options, config)?;
        let clock = Clock(Instant::now());
        let mut session = Session::client(
            session_config(size),
            SbeEncoding::new(),
            MemoryStore::new(1024, size.max(1024)),
            SessionId::from_random_bytes([0x5a; 16]),
        );
        session.handle_connected(clock.now());
        let mut me = FixpClient {
            client,
            session,
            clock,
            message: app_message(size),
            one_way,
            sent: 0,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while me.session.state() != SessionState::Established {
            if Instant::now() > deadline {
                return Err(format!("FIXP handshake stuck in {:?}", me.session.state()));
            }
            me.io(true)?;
            me.client.wait()?;
        }
        Ok(me)
    }

    /// Flushes, reads (if `read`), runs timers and hands the session's frames to the
    /// transport while its backlog is empty; returns the application messages delivered.
    fn io(&mut self, read: bool) -> Res<u64> {
        let now = self.clock.now();
        let c = &mut self.client;
        c.flush()?;
        if read {
            let session = &mut self.session;
            still_open(
                read_pass(&mut c.conn, |kind, bytes| {
                    session.handle_frame(now, bytes, kind)
                })
                .map_err(err)?,
            )?;
        }
        if self.session.next_deadline().is_some_and(|d| d <= now) {
            self.session.handle_timeout(now);
        }
        while !c.conn.flush_pending() {
            let Some(t) = self.session.poll_transmit() else {
                break;
            };
            refused(send_transmit(&mut c.conn, t).map_err(err)?)?;
        }
        let mut delivered = 0;
        while let Some(event) = self.session.poll_event() {
            match event {
                Event::Message { .. } => delivered += 1,
                Event::Terminated(reason) => return Err(format!("session ended: {reason}")),
                _ => {}
            }
        }
        Ok(delivered)
    }

    /// Offers the message to the session until it takes it.
    fn send(&mut self) -> Res<()> {
        loop {
            match self.session.send(self.clock.now(), &self.message) {
                Ok(_) => return Ok(()),
                Err(SendError::Backpressure) => {
                    self.io(true)?;
                    self.client.wait()?;
                }
                Err(e) => return Err(err(e)),
            }
        }
    }
}

impl Driver for FixpClient {
    fn step(&mut self) -> Res<()> {
        self.send()?;
        if self.one_way {
            self.sent += 1;
            self.io(self.sent.is_multiple_of(ONE_WAY_READ_EVERY))?;
            return Ok(());
        }
        while self.io(true)? == 0 {
            self.client.wait()?;
        }
        Ok(())
    }

    fn pump(&mut self) -> Res<()> {
        self.io(true)?;
        self.client.wait()
    }

    fn finish(&mut self) -> Res<()> {
        self.session
            .terminate(self.clock.now(), TerminateReason::Unbind);
        while let Some(t) = self.session.poll_transmit() {
            let _ = send_transmit(&mut self.client.conn, t);
        }
        Ok(())
    }
}
