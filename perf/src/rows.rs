//! The four ping-pong rows. Each runs an echo server thread and a measuring client thread over
//! loopback; both poll with mio in the configured wait mode.

use std::io::{ErrorKind, Read, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::{FrameKind, SessionId};
use fixp_ws::session::{
    AcceptAll, Acceptor, AcceptorConfig, ConnectionId, Event, MemoryStore, Session, SessionConfig,
    SessionState, Transmit,
};
use fixp_ws::transport::{
    client_config_from_ca_pem, ClientTarget, HandshakeProgress, ReadStatus, ServerIdentity,
    TransportError, WsConnection, WsListener, WsOptions,
};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use crate::{Recorder, RunConfig};

type Res<T> = Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Runs `server` and `client` on their own (optionally pinned) threads; the server is told to
/// stop once the client is done.
fn pair<S, C>(config: &RunConfig, server: S, client: C) -> Res<Recorder>
where
    S: FnOnce(&AtomicBool) -> Res<()> + Send + 'static,
    C: FnOnce() -> Res<Recorder> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let server_stop = Arc::clone(&stop);
    let (server_core, client_core) = (config.server_core, config.client_core);
    let server = thread::spawn(move || {
        if let Some(core) = server_core {
            if !core_affinity::set_for_current(core) {
                return Err(format!("cannot pin the server thread to core {}", core.id));
            }
        }
        server(&server_stop)
    });
    let client = thread::spawn(move || {
        if let Some(core) = client_core {
            if !core_affinity::set_for_current(core) {
                return Err(format!("cannot pin the client thread to core {}", core.id));
            }
        }
        client()
    });
    let recorded = client
        .join()
        .map_err(|_| "client thread panicked".to_string())?;
    stop.store(true, Ordering::Relaxed);
    let served = server
        .join()
        .map_err(|_| "server thread panicked".to_string())?;
    let recorded = recorded?;
    served?;
    Ok(recorded)
}

/// The message the client sends: `size` bytes of a fixed pattern.
fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

// ----- bare TCP -----

/// Writes all of `bytes` to a non-blocking socket, spinning on `WouldBlock`.
fn write_all(stream: &mut TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = bytes.get(n..).unwrap_or(&[]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Bare TCP: the baseline. Messages are `size` bytes, framed by their fixed length.
pub fn tcp(config: &RunConfig, recorder: Recorder) -> Res<Recorder> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let cfg = *config;
    let server = move |stop: &AtomicBool| -> Res<()> {
        let std_stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if stop.load(Ordering::Relaxed) {
                        return Ok(());
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(err(e)),
            }
        };
        std_stream.set_nodelay(true).map_err(err)?;
        std_stream.set_nonblocking(true).map_err(err)?;
        let mut stream = TcpStream::from_std(std_stream);
        let mut poll = Poll::new().map_err(err)?;
        let mut events = Events::with_capacity(8);
        poll.registry()
            .register(&mut stream, Token(0), Interest::READABLE)
            .map_err(err)?;
        let mut buf = vec![0u8; cfg.size];
        let mut filled = 0;
        while !stop.load(Ordering::Relaxed) {
            poll.poll(&mut events, cfg.poll_timeout()).map_err(err)?;
            while let Some(space) = buf.get_mut(filled..) {
                match stream.read(space) {
                    Ok(0) => return Ok(()),
                    Ok(n) => {
                        filled += n;
                        if filled == cfg.size {
                            filled = 0;
                            if write_all(&mut stream, &buf).is_err() {
                                return Ok(());
                            }
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => return Ok(()),
                }
            }
        }
        Ok(())
    };
    let client = move || -> Res<Recorder> {
        let mut recorder = recorder;
        let std_stream = std::net::TcpStream::connect(addr).map_err(err)?;
        std_stream.set_nodelay(true).map_err(err)?;
        std_stream.set_nonblocking(true).map_err(err)?;
        let mut stream = TcpStream::from_std(std_stream);
        let mut poll = Poll::new().map_err(err)?;
        let mut events = Events::with_capacity(8);
        poll.registry()
            .register(&mut stream, Token(0), Interest::READABLE)
            .map_err(err)?;
        let message = payload(cfg.size);
        let mut buf = vec![0u8; cfg.size];
        for _ in 0..cfg.warmup + cfg.count {
            let start = Instant::now();
            write_all(&mut stream, &message).map_err(err)?;
            let mut filled = 0;
            while filled < cfg.size {
                poll.poll(&mut events, cfg.poll_timeout()).map_err(err)?;
                while let Some(space) = buf.get_mut(filled..) {
                    if space.is_empty() {
                        break;
                    }
                    match stream.read(space) {
                        Ok(0) => return Err("server closed".into()),
                        Ok(n) => filled += n,
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(e) => return Err(err(e)),
                    }
                }
            }
            recorder.record(start);
        }
        Ok(recorder)
    };
    pair(config, server, client)
}

// ----- WebSocket and WSS -----

/// A bound listener and the TLS settings of the client that will connect to it.
struct Endpoint {
    poll: Poll,
    listener: WsListener,
    target: ClientTarget,
    options: WsOptions,
}

fn endpoint(tls: bool, size: usize) -> Res<Endpoint> {
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
fn accept_one(
    poll: &mut Poll,
    events: &mut Events,
    listener: &mut WsListener,
    config: &RunConfig,
    stop: &AtomicBool,
) -> Res<Option<WsConnection>> {
    let mut conn: Option<WsConnection> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
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

/// Client side: connects and completes the handshake.
fn connect(
    target: ClientTarget,
    options: &WsOptions,
    config: &RunConfig,
) -> Res<(Poll, Events, WsConnection)> {
    let poll = Poll::new().map_err(err)?;
    let mut events = Events::with_capacity(8);
    let mut conn =
        WsConnection::connect(target, options, poll.registry(), Token(0)).map_err(err)?;
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut poll = poll;
    while conn.poll_handshake().map_err(err)? != HandshakeProgress::Open {
        if Instant::now() > deadline {
            return Err("handshake timed out".into());
        }
        poll.poll(&mut events, config.poll_timeout()).map_err(err)?;
    }
    Ok((poll, events, conn))
}

/// Whether a transport error just means the peer went away at the end of the run.
fn is_end(e: &TransportError) -> bool {
    matches!(e, TransportError::PeerVanished | TransportError::Closed)
}

/// WebSocket (`tls = false`) or WSS ping-pong through the project's transport.
pub fn websocket(config: &RunConfig, recorder: Recorder, tls: bool) -> Res<Recorder> {
    let Endpoint {
        poll,
        mut listener,
        target,
        options,
    } = endpoint(tls, config.size)?;
    let cfg = *config;
    let server = move |stop: &AtomicBool| -> Res<()> {
        let mut poll = poll;
        let mut events = Events::with_capacity(8);
        let Some(mut conn) = accept_one(&mut poll, &mut events, &mut listener, &cfg, stop)? else {
            return Ok(());
        };
        let mut echo = vec![0u8; cfg.size.max(1024) + 1024];
        let mut first = true;
        while !stop.load(Ordering::Relaxed) {
            if !first {
                poll.poll(&mut events, cfg.poll_timeout()).map_err(err)?;
            }
            first = false;
            if conn.flush_pending() {
                match conn.flush() {
                    Ok(_) => {}
                    Err(e) if is_end(&e) => return Ok(()),
                    Err(e) => return Err(err(e)),
                }
            }
            let mut echo_len = None;
            let status = conn.read_frames(|kind, bytes| {
                if let Some(slot) = echo.get_mut(..bytes.len()) {
                    slot.copy_from_slice(bytes);
                    echo_len = Some((kind, bytes.len()));
                }
            });
            match status {
                Ok(ReadStatus::Closed(_)) => return Ok(()),
                Ok(_) => {}
                Err(e) if is_end(&e) => return Ok(()),
                Err(e) => return Err(err(e)),
            }
            if let Some((kind, len)) = echo_len {
                match conn.send(kind, echo.get(..len).unwrap_or(&[])) {
                    Ok(_) => {}
                    Err(e) if is_end(&e) => return Ok(()),
                    Err(e) => return Err(err(e)),
                }
            }
        }
        Ok(())
    };
    let client = move || -> Res<Recorder> {
        let mut recorder = recorder;
        let (mut poll, mut events, mut conn) = connect(target, &options, &cfg)?;
        let message = payload(cfg.size);
        for _ in 0..cfg.warmup + cfg.count {
            let start = Instant::now();
            let _ = conn.send(FrameKind::Binary, &message).map_err(err)?;
            let mut back = false;
            while !back {
                if conn.flush_pending() {
                    let _ = conn.flush().map_err(err)?;
                }
                conn.read_frames(|_, _| back = true).map_err(err)?;
                if !back {
                    poll.poll(&mut events, cfg.poll_timeout()).map_err(err)?;
                }
            }
            recorder.record(start);
        }
        let _ = conn.close(1000, "done");
        Ok(recorder)
    };
    pair(config, server, client)
}

// ----- FIXP over WSS -----

/// An SBE application message of `size` bytes (header: schema 100, template 1), which the
/// FIXP encoding passes through as an application message.
fn app_message(size: usize) -> Vec<u8> {
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

fn session_config(flow: FlowType, size: usize) -> SessionConfig {
    SessionConfig {
        flow,
        keepalive_interval_ms: 1000,
        max_frame_len: size.max(1024),
        ..SessionConfig::default()
    }
}

/// Sends every frame the session (or acceptor) has ready.
fn send_transmit(conn: &mut WsConnection, t: Transmit<'_>) -> Result<(), TransportError> {
    match t {
        Transmit::Frame { bytes, kind } => conn.send(kind, bytes).map(|_| ()),
        Transmit::Close { code, reason } => conn.close(code, reason).map(|_| ()),
    }
}

/// FIXP over WSS: a client `Session` and a server `Acceptor` (both Recoverable flows, SBE),
/// the server echoing every application message it is delivered as a new message of its own.
pub fn fixp(config: &RunConfig, recorder: Recorder) -> Res<Recorder> {
    let Endpoint {
        poll,
        mut listener,
        target,
        options,
    } = endpoint(true, config.size)?;
    let cfg = *config;
    let size = cfg.size.max(8);
    let server = move |stop: &AtomicBool| -> Res<()> {
        let epoch = Instant::now();
        let clock = || u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX) + 1;
        let frame_len = size.max(1024);
        let mut acceptor = Acceptor::new(
            AcceptorConfig {
                capacity: 4,
                max_connections: 4,
                session: session_config(FlowType::Recoverable, size),
                ..AcceptorConfig::default()
            },
            SbeEncoding::new(),
            AcceptAll,
            move |_| (SbeEncoding::new(), MemoryStore::new(1024, frame_len)),
        );
        let connection = ConnectionId(1);
        let mut poll = poll;
        let mut events = Events::with_capacity(8);
        let Some(mut conn) = accept_one(&mut poll, &mut events, &mut listener, &cfg, stop)? else {
            return Ok(());
        };
        let mut echo = vec![0u8; frame_len];
        let mut first = true;
        while !stop.load(Ordering::Relaxed) {
            if !first {
                poll.poll(&mut events, cfg.poll_timeout()).map_err(err)?;
            }
            first = false;
            let now = clock();
            let step = (|| -> Result<bool, TransportError> {
                if conn.flush_pending() {
                    let _ = conn.flush()?;
                }
                let status = conn.read_frames(|kind, bytes| {
                    acceptor.handle_frame(now, connection, bytes, kind)
                })?;
                loop {
                    let echoed = match acceptor.poll_event() {
                        None => break,
                        Some((id, Event::Message { bytes, .. })) => {
                            echo.get_mut(..bytes.len()).map(|slot| {
                                slot.copy_from_slice(bytes);
                                (id, bytes.len())
                            })
                        }
                        Some(_) => None,
                    };
                    if let Some((id, len)) = echoed {
                        if let Some(session) = acceptor.session_mut(id) {
                            // Backpressure cannot happen in a ping-pong; a refusal would show
                            // up as a client that never gets its answer.
                            let _ = session.send(now, echo.get(..len).unwrap_or(&[]));
                        }
                    }
                }
                if acceptor.next_deadline().is_some_and(|d| d <= now) {
                    acceptor.handle_timeout(now);
                }
                while let Some((_, t)) = acceptor.poll_transmit() {
                    send_transmit(&mut conn, t)?;
                }
                Ok(matches!(status, ReadStatus::Closed(_)))
            })();
            match step {
                Ok(true) => return Ok(()),
                Ok(false) => {}
                Err(e) if is_end(&e) => return Ok(()),
                Err(e) => return Err(err(e)),
            }
        }
        Ok(())
    };
    let client = move || -> Res<Recorder> {
        let mut recorder = recorder;
        let epoch = Instant::now();
        let clock = || u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX) + 1;
        let (mut poll, mut events, mut conn) = connect(target, &options, &cfg)?;
        let mut session = Session::client(
            session_config(FlowType::Recoverable, size),
            SbeEncoding::new(),
            MemoryStore::new(1024, size.max(1024)),
            SessionId::from_random_bytes([0x5a; 16]),
        );
        session.handle_connected(clock());
        // Drives the session until `done` says so; returns how many messages were delivered.
        let step = |session: &mut Session<SbeEncoding, MemoryStore>,
                    conn: &mut WsConnection,
                    poll: &mut Poll,
                    events: &mut Events,
                    wait: bool|
         -> Res<u64> {
            if wait {
                poll.poll(events, cfg.poll_timeout()).map_err(err)?;
            }
            let now = clock();
            if conn.flush_pending() {
                let _ = conn.flush().map_err(err)?;
            }
            conn.read_frames(|kind, bytes| session.handle_frame(now, bytes, kind))
                .map_err(err)?;
            if session.next_deadline().is_some_and(|d| d <= now) {
                session.handle_timeout(now);
            }
            while let Some(t) = session.poll_transmit() {
                send_transmit(conn, t).map_err(err)?;
            }
            let mut delivered = 0;
            while let Some(event) = session.poll_event() {
                match event {
                    Event::Message { .. } => delivered += 1,
                    Event::Terminated(reason) => return Err(format!("session ended: {reason}")),
                    _ => {}
                }
            }
            Ok(delivered)
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while session.state() != SessionState::Established {
            if Instant::now() > deadline {
                return Err(format!("FIXP handshake stuck in {:?}", session.state()));
            }
            step(&mut session, &mut conn, &mut poll, &mut events, true)?;
        }
        let message = app_message(size);
        for _ in 0..cfg.warmup + cfg.count {
            let start = Instant::now();
            session.send(clock(), &message).map_err(err)?;
            let mut got = step(&mut session, &mut conn, &mut poll, &mut events, false)?;
            while got == 0 {
                got = step(&mut session, &mut conn, &mut poll, &mut events, true)?;
            }
            recorder.record(start);
        }
        session.terminate(clock(), fixp_ws::session::TerminateReason::Unbind);
        while let Some(t) = session.poll_transmit() {
            let _ = send_transmit(&mut conn, t);
        }
        Ok(recorder)
    };
    pair(config, server, client)
}
