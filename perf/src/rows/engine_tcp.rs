//! `engine-tcp`: FIXP over TCP + SOFH + TLS through two engines. The server is an engine with a
//! `listen_tcp` listener and an inline strategy that answers every application message with
//! the same bytes as its own message; the client is an engine with one thread-mode initiator
//! (SBE, Recoverable) whose [`SessionHandle`] the runner's client thread drives: one message
//! out through the SPSC queue, wait for the answer on the other queue.
//!
//! Both engine threads follow the runner's phases (a [`PhaseProbe`] polled from their
//! strategies' `on_cycle`), so the allocations counted are the engine threads' and the
//! runner's own two (the client thread's queue work, the idle server thread).
//!
//! Owns: its two engines and their configuration. May not touch: timing or counting (the
//! runner's).

use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use fixp_ws::codec::SessionId;
use fixp_ws::engine::{
    Context, EngineBuilder, EngineConfig, EngineHandle, FromEngine, IdleMode, InboundMessage,
    InitiatorConfig, SessionHandle, Strategy, Transport,
};
use fixp_ws::session::{AcceptorConfig, Event, SessionState};
use fixp_ws::transport::{
    client_config_from_ca_pem, ClientTarget, ServerIdentity, SofhOptions, WireEncoding,
};

use super::engine_wss::FollowOnly;
use super::fixp::{app_message, session_config};
use super::{engine_pin, err};
use crate::runner::{Driver, Follower, Pair, PhaseProbe, Res, RunConfig, Side, Wait};

/// The server's inline strategy: every message goes back as the server's own.
struct Echo(PhaseProbe);

impl Strategy for Echo {
    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        // A refused echo leaves the client waiting; the runner's deadline then names the row.
        let _ = ctx.send(message.session, message.bytes);
    }

    fn on_cycle(&mut self, _ctx: &mut Context<'_>) -> usize {
        self.0.follow();
        0
    }
}

/// Engine settings for both sides of this run (no stage timings: a clock read per stage).
fn engine_config(config: &RunConfig) -> EngineConfig {
    let size = config.size.max(8);
    EngineConfig {
        idle: match config.wait {
            Wait::Busy => IdleMode::BusyPoll,
            Wait::Blocking => IdleMode::Block(Duration::from_millis(50)),
        },
        acceptor: AcceptorConfig {
            capacity: 4,
            max_connections: 4,
            session: session_config(size),
            ..AcceptorConfig::default()
        },
        timings: false,
        ..EngineConfig::default()
    }
}

fn sofh_options(size: usize) -> SofhOptions {
    SofhOptions {
        encoding: WireEncoding::Sbe,
        max_message_size: size.max(1024) + 1024,
        ..SofhOptions::default()
    }
}

/// `engine-tcp`: a round trip through both engines over `tcp+tls://`.
pub fn ping_pong(config: &RunConfig) -> Res<Pair> {
    let cfg = *config;
    let size = cfg.size.max(8);
    let identity = ServerIdentity::self_signed().map_err(err)?;
    let client_tls = client_config_from_ca_pem(&identity.cert_pem).map_err(err)?;
    let (server_follower, server_probe) = Follower::new(Side::Server);
    let (client_follower, client_probe) = Follower::new(Side::Client);
    let mut server_config = engine_config(&cfg);
    server_config.pin = engine_pin(cfg.server_core);
    let mut builder =
        EngineBuilder::with_strategy(server_config, Echo(server_probe)).map_err(err)?;
    // A benchmark, not a credentials test: no authentication, chosen explicitly.
    builder.authenticator(fixp_ws::session::AcceptAll);
    let any: SocketAddr = "127.0.0.1:0".parse().map_err(err)?;
    let addr = builder
        .listen_tcp(
            any,
            Some(identity.server_config().map_err(err)?),
            sofh_options(size),
        )
        .map_err(err)?;
    let mut server_engine = builder.start().map_err(err)?;
    let server = move |ctx: &mut crate::runner::ServerCtx| -> Res<()> {
        while ctx.running() {
            if server_engine.is_finished() {
                return Err("the server engine stopped".into());
            }
            ctx.sleep_until_phase_change();
        }
        server_engine.shutdown();
        server_engine.join()
    };
    // Started here, on the runner's unpinned main thread, and never pinned: with `--pin` the
    // runner's client thread (the strategy) holds the client core and this third busy thread
    // runs wherever the OS puts it (as in `engine-wss-thread`).
    let mut builder =
        EngineBuilder::with_strategy(engine_config(&cfg), FollowOnly(client_probe)).map_err(err)?;
    let handle = builder
        .initiate(InitiatorConfig {
            target: ClientTarget {
                addr,
                host: "localhost".into(),
                tls: Some(client_tls),
            },
            transport: Transport::Sofh(sofh_options(size)),
            encoding: WireEncoding::Sbe,
            session: session_config(size),
            session_id: SessionId::from_random_bytes([0x7c; 16]),
            journal: None,
        })
        .map_err(err)?;
    let engine = builder.start().map_err(err)?;
    let connect = move || -> Res<Box<dyn Driver>> {
        let mut client = EngineClient {
            engine,
            handle,
            message: app_message(size),
            wait: cfg.wait,
        };
        await_established(&mut client.handle, cfg.wait)?;
        Ok(Box::new(client))
    };
    Ok(Pair {
        server: Box::new(server),
        connect: Box::new(connect),
        followers: vec![server_follower, client_follower],
    })
}

/// The client engine and its session's queues.
struct EngineClient {
    engine: EngineHandle<FollowOnly>,
    handle: SessionHandle,
    message: Vec<u8>,
    wait: Wait,
}

impl EngineClient {
    fn wait_for(&mut self, what: &str, done: impl FnMut(&FromEngine) -> bool) -> Res<()> {
        take_until(&mut self.handle, self.wait, what, done)
    }
}

/// Waits until the session of `handle` is established.
pub(super) fn await_established(handle: &mut SessionHandle, wait: Wait) -> Res<()> {
    take_until(handle, wait, "FIXP establishment", |e| {
        matches!(
            e,
            FromEngine::Event(Event::StateChanged(SessionState::Established))
        )
    })
}

/// Takes what the engine delivers on `handle` until `done` says so; a termination, a rejected
/// send or ten seconds without it are errors naming `what`.
pub(super) fn take_until(
    handle: &mut SessionHandle,
    wait: Wait,
    what: &str,
    mut done: impl FnMut(&FromEngine) -> bool,
) -> Res<()> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match handle.poll() {
            Some(FromEngine::Event(Event::Terminated(reason))) => {
                return Err(format!("session ended waiting for {what}: {reason}"))
            }
            Some(FromEngine::SendRejected(e)) => return Err(err(e)),
            Some(got) if done(&got) => return Ok(()),
            Some(_) => {}
            None if Instant::now() > deadline => return Err(format!("no {what}")),
            None => match wait {
                Wait::Busy => std::hint::spin_loop(),
                Wait::Blocking => thread::yield_now(),
            },
        }
    }
}

impl Driver for EngineClient {
    fn step(&mut self) -> Res<()> {
        while self.handle.send(&self.message).is_err() {
            std::hint::spin_loop();
        }
        self.wait_for("echo", |e| matches!(e, FromEngine::Message(_)))
    }

    fn finish(&mut self) -> Res<()> {
        self.engine.shutdown();
        self.engine.join()
    }
}
