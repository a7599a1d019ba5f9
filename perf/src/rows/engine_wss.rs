//! The full-engine rows over loopback TLS WebSocket: a client engine and a server engine, each
//! a [`fixp_ws::engine`] duty cycle with its strategy **inline**, SBE (or the Conga JSON
//! encoding), Recoverable both ways with the mmap journal on both sides.
//!
//! - `engine-wss`, `engine-wss-json`: the client's inline strategy ([`Pinger`]) encodes a
//!   NewOrderSingle into the session's outbound slot and times it; the server's inline strategy
//!   ([`Exchange`]) decodes it where it lies and answers with an ExecutionReport encoded into
//!   its own outbound slot; the client decodes the report, checks its ClOrdId and records the
//!   round trip. Two busy threads: one core each when `--pin` is given.
//! - `engine-wss-thread`: the same server; the client's strategy is the runner's client thread,
//!   through the session's SPSC [`SessionHandle`]: three busy threads.
//! - `engine-wss-oneway`: the client's inline [`Sender`] sends `--size` SBE application
//!   messages one way as fast as the session's outbox takes them; the server counts them.
//! - `engine-scale-N`: N sessions from one client engine to one server engine thread, round
//!   robin, one order in flight (in-memory retransmit stores, so 1 000 sessions stay small).
//!
//! Every engine thread follows the runner's phases through a [`PhaseProbe`] polled once per
//! duty cycle, so allocations are counted on exactly the threads that carry the messages.
//!
//! Owns: its engines, their strategies and journals. May not touch: the runner's phases,
//! histograms' reporting, or other rows.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use fixp_ws::codec::conga::{
    CongaMessage, ExecutionReport, Id8, NewOrderSingle, OrdType, Price, Side as OrderSide,
};
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::SessionId;
use fixp_ws::engine::{
    Context, EngineBuilder, EngineConfig, EngineHandle, FromEngine, IdleMode, InboundMessage,
    InitiatorConfig, JournalSetup, SessionHandle, Strategy, Transport,
};
use fixp_ws::journal::{JournalConfig, RingConfig};
use fixp_ws::session::{AcceptorConfig, SessionConfig};
use fixp_ws::transport::{
    client_config_from_ca_pem, ClientTarget, ServerIdentity, Subprotocol, WireEncoding, WsOptions,
};

use super::engine_tcp::{await_established, take_until};
use super::fixp::app_message;
use super::inline::{Control, Pinger, Plan, Progress, RemoteClient, Sender};
use super::{engine_pin, err};
use crate::runner::{
    Driver, Follower, Pair, PhaseProbe, Res, RunConfig, ServerCtx, ServerFn, Side, Wait,
};

/// No heartbeat falls between messages that flow (they would be counted as allocations).
pub(super) const KEEPALIVE_MS: u32 = 60_000;

/// Where a row's journals live: a fresh directory per engine, removed when the row ends.
struct JournalDir(PathBuf);

impl JournalDir {
    fn new(side: &str) -> Res<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!(
            "fixp-perf-journal-{}-{n}-{side}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        Ok(JournalDir(dir))
    }

    /// A small mmap ring per direction (a row writes a few MB; the ring wraps).
    fn setup(&self) -> JournalSetup {
        let ring = RingConfig {
            segment_bytes: 4 << 20,
            segment_count: 4,
            max_messages: 1 << 17,
        };
        JournalSetup {
            dir: self.0.clone(),
            config: JournalConfig {
                outbound: ring,
                inbound: ring,
                ..JournalConfig::default()
            },
        }
    }
}

impl Drop for JournalDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// How a row's engines are set up.
#[derive(Clone, Copy)]
pub(super) struct Shape {
    /// Encoding of every session.
    pub encoding: WireEncoding,
    /// Sessions between the two engines.
    pub sessions: usize,
    /// Keep both sides in the mmap journal (else in memory).
    pub journal: bool,
}

impl Shape {
    pub(super) const SBE: Shape = Shape {
        encoding: WireEncoding::Sbe,
        sessions: 1,
        journal: true,
    };
}

/// A session's settings: Recoverable, long keepalives, frames of at least 1 KiB.
fn session_config(size: usize) -> SessionConfig {
    SessionConfig {
        flow: FlowType::Recoverable,
        keepalive_interval_ms: KEEPALIVE_MS,
        max_frame_len: size.max(1024),
        ..SessionConfig::default()
    }
}

/// Engine settings of one side: the run's idle mode, its core, room for `sessions`.
fn engine_config(config: &RunConfig, shape: Shape, side: Side) -> EngineConfig {
    let sessions = shape.sessions + 8;
    let core = match side {
        Side::Client => config.client_core,
        Side::Server => config.server_core,
    };
    let mut engine = EngineConfig {
        pin: engine_pin(core),
        idle: match config.wait {
            Wait::Busy => IdleMode::BusyPoll,
            Wait::Blocking => IdleMode::Block(Duration::from_millis(50)),
        },
        acceptor: AcceptorConfig {
            capacity: sessions,
            max_connections: sessions,
            session: session_config(config.size),
            ..AcceptorConfig::default()
        },
        handshake_timeout: Duration::from_secs(30),
        max_connections: sessions,
        timings: false,
        retransmit_capacity: if shape.sessions > 1 { 256 } else { 4096 },
        ..EngineConfig::default()
    };
    let connections = u32::try_from(sessions).unwrap_or(u32::MAX);
    let limits = &mut engine.limits;
    limits.per_listener.per_address = connections;
    limits.per_listener.total = connections;
    limits.pre_session.per_address = connections;
    limits.pre_session.total = connections;
    limits.accepts_per_cycle = limits.accepts_per_cycle.max(64);
    limits.negotiate_timeout = Duration::from_secs(60);
    limits.establish_timeout = Duration::from_secs(60);
    engine
}

fn subprotocol(encoding: WireEncoding) -> Subprotocol {
    match encoding {
        WireEncoding::Sbe => Subprotocol::FixpSbe,
        WireEncoding::Json => Subprotocol::FixpJson,
    }
}

/// The ClOrdId of order `k`: `o` and its last 7 decimal digits, built without allocating.
fn order_id(k: u64) -> Id8 {
    let mut wire = [0u8; 8];
    wire[0] = b'o';
    let mut digits = [b'0'; 7];
    let mut n = k % 10_000_000;
    let mut len = 0;
    loop {
        digits[6 - len] = b'0' + (n % 10) as u8;
        n /= 10;
        len += 1;
        if n == 0 {
            break;
        }
    }
    wire[1..=len].copy_from_slice(&digits[7 - len..]);
    Id8::from_wire(wire).unwrap_or_default()
}

/// Order `k`: a Conga NewOrderSingle (SBE: 64 B with its header).
pub(super) fn order(k: u64) -> CongaMessage {
    CongaMessage::NewOrderSingle(NewOrderSingle {
        cl_ord_id: order_id(k),
        symbol: Id8::from_wire(*b"ABC\0\0\0\0\0").unwrap_or_default(),
        side: if k.is_multiple_of(2) {
            OrderSide::Buy
        } else {
            OrderSide::Sell
        },
        transact_time: 1_700_000_000_000_000_000 + k,
        order_qty: 100,
        ord_type: OrdType::Limit,
        price: Some(Price(10_000 + (k % 100) as i32)),
    })
}

/// Encodes `message` in `encoding` into `out`, returning its length.
pub(super) fn encode(
    message: &CongaMessage,
    encoding: WireEncoding,
    out: &mut [u8],
) -> Result<usize, String> {
    match encoding {
        WireEncoding::Sbe => message.encode_sbe(out),
        WireEncoding::Json => message.encode_json(out),
    }
    .map_err(err)
}

fn decode(bytes: &[u8], encoding: WireEncoding) -> Option<CongaMessage> {
    match encoding {
        WireEncoding::Sbe => CongaMessage::decode_sbe(bytes),
        WireEncoding::Json => CongaMessage::decode_json(bytes),
    }
    .ok()
}

/// True if `bytes` is the ExecutionReport answering order `k`.
pub(super) fn is_report_for(bytes: &[u8], encoding: WireEncoding, k: u64) -> bool {
    matches!(decode(bytes, encoding),
        Some(CongaMessage::ExecutionReport(r)) if r.cl_ord_id == order_id(k))
}

/// The exchange's answer to an order: ExecutionReport New (SBE: 133 B with its header).
fn report(order: &NewOrderSingle) -> CongaMessage {
    CongaMessage::ExecutionReport(ExecutionReport::accepted(order))
}

/// The server engine's inline strategy: answers every order with an ExecutionReport encoded
/// in place (latency rows), or counts what it is delivered (the one-way row).
pub(super) struct Exchange {
    probe: PhaseProbe,
    answer: bool,
    /// Messages delivered since the last duty cycle's count.
    pending: u64,
    /// Set when an order could not be answered (the client then times out and says so).
    failed: Arc<AtomicBool>,
}

impl Strategy for Exchange {
    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        if !self.answer {
            self.pending += 1;
            return;
        }
        let encoding = ctx.encoding(message.session).unwrap_or(WireEncoding::Sbe);
        let answered = match decode(message.bytes, encoding) {
            Some(CongaMessage::NewOrderSingle(order)) => ctx
                .send_with(message.session, |slot| {
                    encode(&report(&order), encoding, slot)
                })
                .is_ok(),
            _ => false,
        };
        if !answered {
            self.failed.store(true, Ordering::Relaxed);
        }
    }

    fn on_cycle(&mut self, _ctx: &mut Context<'_>) -> usize {
        self.probe.follow();
        self.probe.delivered(std::mem::take(&mut self.pending));
        0
    }
}

/// The client engine's strategy when the application runs on its own thread: it only follows
/// the phases (so the engine thread's allocations are counted).
pub(super) struct FollowOnly(pub(super) PhaseProbe);

impl Strategy for FollowOnly {
    fn on_message(&mut self, _ctx: &mut Context<'_>, _message: InboundMessage<'_>) {}

    fn on_cycle(&mut self, _ctx: &mut Context<'_>) -> usize {
        self.0.follow();
        0
    }
}

/// Where the server listens and the certificate to trust.
#[derive(Clone)]
pub(super) struct Reach {
    pub addr: SocketAddr,
    pub cert_pem: String,
}

/// The running server engine and what a client needs to reach it.
pub(super) struct ServerSide {
    pub reach: Reach,
    failed: Arc<AtomicBool>,
    follower: Follower,
    /// The server loop for the runner's server thread (which only waits).
    pub serve: ServerFn,
}

/// Starts the server engine with its inline [`Exchange`] (answering orders, or counting).
pub(super) fn start_server(config: &RunConfig, shape: Shape, answer: bool) -> Res<ServerSide> {
    let identity = ServerIdentity::self_signed().map_err(err)?;
    let (follower, probe) = Follower::new(Side::Server);
    let failed = Arc::new(AtomicBool::new(false));
    let mut engine_config = engine_config(config, shape, Side::Server);
    let journal = if shape.journal {
        let dir = JournalDir::new("server")?;
        engine_config.acceptor_journal = Some(dir.setup());
        Some(dir)
    } else {
        None
    };
    let strategy = Exchange {
        probe,
        answer,
        pending: 0,
        failed: Arc::clone(&failed),
    };
    let mut builder = EngineBuilder::with_strategy(engine_config, strategy).map_err(err)?;
    // A benchmark, not a credentials test: no authentication, chosen explicitly.
    builder.authenticator(fixp_ws::session::AcceptAll);
    let any: SocketAddr = "127.0.0.1:0".parse().map_err(err)?;
    let addr = builder
        .listen(
            any,
            Some(identity.server_config().map_err(err)?),
            WsOptions::default(),
        )
        .map_err(err)?;
    let mut engine = builder.start().map_err(err)?;
    let serve = move |ctx: &mut ServerCtx| -> Res<()> {
        while ctx.running() {
            if engine.is_finished() {
                return Err("the server engine stopped".into());
            }
            ctx.sleep_until_phase_change();
        }
        engine.shutdown();
        let joined = engine.join();
        drop(journal);
        joined
    };
    Ok(ServerSide {
        reach: Reach {
            addr,
            cert_pem: identity.cert_pem.clone(),
        },
        failed,
        follower,
        serve: Box::new(serve),
    })
}

/// The settings of client session `i` to the server.
fn initiator(
    server: &Reach,
    config: &RunConfig,
    shape: Shape,
    i: usize,
    journal: Option<&JournalDir>,
) -> Res<InitiatorConfig> {
    let mut id = [0x3cu8; 16];
    id[..8].copy_from_slice(&(i as u64).to_le_bytes());
    id[8..12].copy_from_slice(&std::process::id().to_le_bytes());
    Ok(InitiatorConfig {
        target: ClientTarget {
            addr: server.addr,
            host: "localhost".into(),
            tls: Some(client_config_from_ca_pem(&server.cert_pem).map_err(err)?),
        },
        transport: Transport::WebSocket(WsOptions {
            subprotocols: vec![subprotocol(shape.encoding)],
            ..WsOptions::default()
        }),
        encoding: shape.encoding,
        session: session_config(config.size),
        session_id: SessionId::from_random_bytes(id),
        journal: journal.map(JournalDir::setup),
    })
}

/// A row whose client is an inline strategy (`make` builds it from the control block): the
/// server engine, then (on the runner's client thread) the client engine with `shape.sessions`
/// inline initiators.
fn inline_row<S: Strategy + Progress>(
    config: &RunConfig,
    shape: Shape,
    answer: bool,
    make: impl FnOnce(Arc<Control>, PhaseProbe, Plan) -> Res<S> + Send + 'static,
) -> Res<Pair> {
    inline_row_on(start_server(config, shape, answer)?, config, shape, make)
}

/// [`inline_row`] on a started server.
pub(super) fn inline_row_on<S: Strategy + Progress>(
    server: ServerSide,
    config: &RunConfig,
    shape: Shape,
    make: impl FnOnce(Arc<Control>, PhaseProbe, Plan) -> Res<S> + Send + 'static,
) -> Res<Pair> {
    let cfg = *config;
    let ServerSide {
        reach,
        failed,
        follower,
        serve,
    } = server;
    let (client_follower, probe) = Follower::new(Side::Client);
    let plan = Plan::new(&cfg, shape.sessions);
    let receiver = follower.clone();
    let connect = move || -> Res<Box<dyn Driver>> {
        let control = Arc::new(Control::new(failed, Some(receiver)));
        let strategy = make(Arc::clone(&control), probe, plan)?;
        let mut builder =
            EngineBuilder::with_strategy(engine_config(&cfg, shape, Side::Client), strategy)
                .map_err(err)?;
        let journal = if shape.journal {
            Some(JournalDir::new("client")?)
        } else {
            None
        };
        for i in 0..shape.sessions {
            builder
                .initiate_inline(initiator(&reach, &cfg, shape, i, journal.as_ref())?)
                .map_err(err)?;
        }
        let engine = builder.start().map_err(err)?;
        Ok(Box::new(RemoteClient::new(
            engine,
            control,
            plan,
            Box::new(journal),
        )))
    };
    Ok(Pair {
        server: serve,
        connect: Box::new(connect),
        followers: vec![follower, client_follower],
    })
}

/// `engine-wss`: inline strategies on both engines, SBE, journaled.
pub fn inline_sbe(config: &RunConfig) -> Res<Pair> {
    inline_row(config, Shape::SBE, true, |c, p, plan| {
        Pinger::new(c, p, plan, WireEncoding::Sbe)
    })
}

/// `engine-wss-json`: the same with the Conga JSON encoding (text frames).
pub fn inline_json(config: &RunConfig) -> Res<Pair> {
    let shape = Shape {
        encoding: WireEncoding::Json,
        ..Shape::SBE
    };
    inline_row(config, shape, true, |c, p, plan| {
        Pinger::new(c, p, plan, WireEncoding::Json)
    })
}

/// `engine-wss-oneway`: the client's inline sender, one session one way, SBE, journaled.
pub fn one_way(config: &RunConfig) -> Res<Pair> {
    let message = app_message(config.size);
    inline_row(config, Shape::SBE, false, move |c, p, plan| {
        Sender::new(c, p, plan, message)
    })
}

/// `engine-scale-N`: `sessions` sessions on one server engine thread, round robin.
fn scale(config: &RunConfig, sessions: usize) -> Res<Pair> {
    let shape = Shape {
        encoding: WireEncoding::Sbe,
        sessions,
        journal: false,
    };
    inline_row(config, shape, true, |c, p, plan| {
        Pinger::new(c, p, plan, WireEncoding::Sbe)
    })
}

/// `engine-scale-1`.
pub fn scale_1(config: &RunConfig) -> Res<Pair> {
    scale(config, 1)
}

/// `engine-scale-10`.
pub fn scale_10(config: &RunConfig) -> Res<Pair> {
    scale(config, 10)
}

/// `engine-scale-100`.
pub fn scale_100(config: &RunConfig) -> Res<Pair> {
    scale(config, 100)
}

/// `engine-scale-1000`.
pub fn scale_1000(config: &RunConfig) -> Res<Pair> {
    scale(config, 1000)
}

/// `engine-wss-thread`: the server engine's inline exchange; the client's strategy on the
/// runner's client thread, through the client engine's SPSC handle.
pub fn thread_sbe(config: &RunConfig) -> Res<Pair> {
    let cfg = *config;
    let shape = Shape::SBE;
    let ServerSide {
        reach,
        follower,
        serve,
        ..
    } = start_server(config, shape, true)?;
    let (client_follower, probe) = Follower::new(Side::Client);
    // Started here, on the runner's unpinned main thread, and never pinned: with `--pin` the
    // runner's client thread (the strategy) holds the client core, and this third busy thread
    // runs wherever the OS puts it.
    let mut client_config = engine_config(&cfg, shape, Side::Client);
    client_config.pin = None;
    let mut builder =
        EngineBuilder::with_strategy(client_config, FollowOnly(probe)).map_err(err)?;
    let journal = JournalDir::new("client")?;
    let handle = builder
        .initiate(initiator(&reach, &cfg, shape, 0, Some(&journal))?)
        .map_err(err)?;
    let engine = builder.start().map_err(err)?;
    let connect = move || -> Res<Box<dyn Driver>> {
        let mut client = ThreadClient {
            engine,
            handle,
            buf: vec![0; 1024],
            next: 0,
            wait: cfg.wait,
            _journal: journal,
        };
        await_established(&mut client.handle, cfg.wait)?;
        Ok(Box::new(client))
    };
    Ok(Pair {
        server: serve,
        connect: Box::new(connect),
        followers: vec![follower, client_follower],
    })
}

/// The client's strategy on the runner's client thread, through the SPSC handle.
struct ThreadClient {
    engine: EngineHandle<FollowOnly>,
    handle: SessionHandle,
    buf: Vec<u8>,
    next: u64,
    wait: Wait,
    _journal: JournalDir,
}

impl ThreadClient {
    fn wait_for(&mut self, what: &str, done: impl FnMut(&FromEngine) -> bool) -> Res<()> {
        take_until(&mut self.handle, self.wait, what, done)
    }
}

impl Driver for ThreadClient {
    fn step(&mut self) -> Res<()> {
        let k = self.next;
        self.next += 1;
        let n = encode(&order(k), WireEncoding::Sbe, &mut self.buf)?;
        while self.handle.send(self.buf.get(..n).unwrap_or(&[])).is_err() {
            std::hint::spin_loop();
        }
        let mut answered = false;
        self.wait_for("ExecutionReport", |e| match e {
            FromEngine::Message(m) => {
                answered = is_report_for(m.bytes(), WireEncoding::Sbe, k);
                true
            }
            _ => false,
        })?;
        if answered {
            Ok(())
        } else {
            Err(format!("order {k} was not answered by its ExecutionReport"))
        }
    }

    fn finish(&mut self) -> Res<()> {
        self.engine.shutdown();
        self.engine.join()
    }
}
