//! `fixp-demo`: a demo exchange and trader on the fixp-ws engine.
//!
//! - `serve`: the exchange, an acceptor engine on an address and path, with a certificate and
//!   key or a self-signed certificate generated at start and written out as PEM, and with
//!   `--tcp ADDR` a TCP+SOFH listener beside it, sharing one session table;
//! - `connect`: a trader, an initiator engine to a `wss://` URL trusting a CA file (or
//!   `tcp+tls://`, FIXP over TCP with SOFH framing; `ws://` and `tcp://` in plain text);
//! - `run`: both in one process on loopback, trading in SBE and then in JSON, printing reports,
//!   a summary and the engines' stage timings.
//!
//! The exchange's and the trader's logic run inline, on their engine's thread, by default
//! (`--strategy thread`: on a strategy thread of their own, through session handles).

#[path = "demo/exchange.rs"]
mod exchange;
#[path = "demo/security_args.rs"]
mod security_args;
#[path = "demo/status.rs"]
mod status;
#[path = "demo/trade.rs"]
mod trade;
#[path = "demo/trader.rs"]
mod trader;
#[path = "demo/url.rs"]
mod url;
#[path = "demo/venue_args.rs"]
mod venue_args;
#[path = "demo/wire.rs"]
mod wire;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use clap::{Parser, Subcommand, ValueEnum};
use fixp_tools::show::exchange::{ExchangeProbe, VenueExchange};
use fixp_tools::venue::config::VenueConfig;
use fixp_ws::codec::SessionId;
use fixp_ws::engine::{
    CoreList, EngineBuilder, EngineConfig, EngineHandle, IdleMode, InitiatorConfig, JournalSetup,
    Stage, Strategy, Transport,
};
use fixp_ws::journal::{JournalConfig, RingConfig};
use fixp_ws::session::SessionConfig;
use fixp_ws::transport::{
    client_config_from_ca_pem, ClientTarget, ServerIdentity, WireEncoding, WsOptions,
};

#[derive(Parser, Debug)]
#[command(
    name = "fixp-demo",
    about = "FIXP over TLS WebSocket: demo exchange and trader"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Log filter (`info`, `fixp_ws::session=debug,warn`, ...); default: RUST_LOG, else info.
    #[arg(long, global = true)]
    log_level: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Idle {
    /// Busy-poll (one core at 100 % per engine; pin with --core).
    Busy,
    /// Spin, then yield, then park briefly.
    Backoff,
    /// Block in poll until an event (lowest CPU, highest latency).
    Block,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Encoding {
    /// SBE in binary frames (subprotocol fixp-sbe).
    Sbe,
    /// JSON in text frames (subprotocol fixp-json).
    Json,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum StrategyMode {
    /// On the engine thread, inside its duty cycle (one core per engine with its strategy).
    Inline,
    /// On a strategy thread of its own, through SPSC session handles.
    Thread,
}

#[derive(clap::Args, Debug, Clone)]
struct EngineArgs {
    /// Where the exchange's or trader's logic runs.
    #[arg(long, value_enum, default_value_t = StrategyMode::Inline)]
    strategy: StrategyMode,
    /// Idle strategy of the engine thread (default backoff; `serve --config`: the file's).
    #[arg(long, value_enum)]
    idle: Option<Idle>,
    /// Pin the engine thread to this index of the process's core list.
    #[arg(long)]
    core: Option<usize>,
    /// Keepalive interval, milliseconds (default 1000; `serve --config`: the file's).
    #[arg(long)]
    keepalive_ms: Option<u32>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the demo exchange (acceptor).
    Serve {
        /// Address to listen on (default: the --config file's listener, else 127.0.0.1:8443).
        #[arg(long)]
        addr: Option<SocketAddr>,
        /// WebSocket path (default: the --config file's listener's, else /fixp).
        #[arg(long)]
        path: Option<String>,
        /// Certificate chain (PEM); required unless --insecure-self-signed or the --config
        /// file's `[tls]` names one.
        #[arg(long, requires = "key")]
        cert: Option<PathBuf>,
        /// Private key (PEM).
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// Where to write the generated self-signed certificate for clients to trust.
        #[arg(long, default_value = "fixp-demo-cert.pem")]
        cert_out: PathBuf,
        #[command(flatten)]
        security: security_args::ServeSecurity,
        /// Stop after this many seconds (default: until Ctrl-C; both stop gracefully).
        #[arg(long)]
        seconds: Option<u64>,
        #[command(flatten)]
        tcp: url::TcpListenArgs,
        #[command(flatten)]
        engine: EngineArgs,
        #[command(flatten)]
        admin: status::AdminArgs,
        #[command(flatten)]
        venue: Box<venue_args::VenueArgs>,
    },
    /// Print every session of a running exchange (its admin endpoint), or end one.
    Status(status::StatusArgs),
    /// Trade against a server (initiator).
    Connect {
        /// Server URL: wss://localhost:8443/fixp, tcp+tls://localhost:9443 (FIXP over TCP with
        /// SOFH framing), or plain ws:// or tcp:// (tcp:// needs --plain-tcp).
        #[arg(long)]
        url: String,
        #[command(flatten)]
        security: security_args::ConnectSecurity,
        /// Acknowledge a plain tcp:// URL (FIXP over TCP without TLS).
        #[arg(long)]
        plain_tcp: bool,
        /// Encoding.
        #[arg(long, value_enum, default_value_t = Encoding::Sbe)]
        encoding: Encoding,
        /// Orders to send.
        #[arg(long, short = 'n', default_value_t = 10)]
        orders: u64,
        /// Reports to print.
        #[arg(long, default_value_t = 20)]
        print: usize,
        /// Journal the session in this directory: a later `connect` with the same directory
        /// continues the session (same SessionId, sequence numbers continuing).
        #[arg(long)]
        journal: Option<PathBuf>,
        /// One order in flight at a time; print NewOrderSingle → first report percentiles.
        #[arg(long)]
        latency: bool,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// A venue trader: send orders, sweep a book, take the best quote of an RFQ, or answer
    /// RFQs as a market maker (`--market-maker`).
    Trade(Box<trade::TradeArgs>),
    /// The venue show: exchange, two traders and a market maker in one process over loopback
    /// TLS WebSocket: orders, sweeps, a cancel, RFQs, a forced disconnect and recovery, market
    /// data in sync, finalization, then a latency table and where the journals are.
    Show {
        /// Journal root of this run (default: fixp-journal/show-<unix time>).
        #[arg(long)]
        journal_dir: Option<PathBuf>,
        /// Timed order pairs after the script.
        #[arg(long, default_value_t = 500)]
        pairs: usize,
        /// Idle strategy of the engines (four engines share the machine: blocking ones leave
        /// the cores to whoever has work).
        #[arg(long, value_enum, default_value_t = Idle::Block)]
        idle: Idle,
    },
    /// Exchange and trader in one process on loopback: SBE, then JSON.
    Run {
        /// Orders per encoding.
        #[arg(long, short = 'n', default_value_t = 1000)]
        orders: u64,
        /// Reports to print per encoding.
        #[arg(long, default_value_t = 12)]
        print: usize,
        /// One order in flight at a time; print NewOrderSingle → first report percentiles.
        #[arg(long)]
        latency: bool,
        #[command(flatten)]
        engine: EngineArgs,
    },
}

fn engine_config(args: &EngineArgs, cores: &Option<CoreList>) -> EngineConfig {
    let mut config = EngineConfig {
        idle: idle_mode(args.idle.unwrap_or(Idle::Backoff)),
        pin: match (cores, args.core) {
            (Some(list), Some(index)) => Some((list.clone(), index)),
            _ => None,
        },
        retransmit_capacity: 8192,
        ..EngineConfig::default()
    };
    config.acceptor.session.keepalive_interval_ms = args.keepalive_ms.unwrap_or(1000);
    config
}

fn idle_mode(idle: Idle) -> IdleMode {
    match idle {
        Idle::Busy => IdleMode::BusyPoll,
        Idle::Backoff => IdleMode::SpinThenYield,
        Idle::Block => IdleMode::Block(Duration::from_millis(100)),
    }
}

fn random_session_id() -> SessionId {
    // A v4 UUID from the clock and the process id: unique enough for a demo session.
    let t = wire::now_ns();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&t.to_le_bytes());
    bytes[8..].copy_from_slice(
        &(u64::from(std::process::id()).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ t.rotate_left(17))
            .to_le_bytes(),
    );
    SessionId::from_random_bytes(bytes)
}

fn wire_encoding(encoding: Encoding) -> WireEncoding {
    match encoding {
        Encoding::Sbe => WireEncoding::Sbe,
        Encoding::Json => WireEncoding::Json,
    }
}

/// Journal rings for a demo session: 2 × 1 MiB per direction.
fn small_ring() -> RingConfig {
    RingConfig {
        segment_bytes: 1 << 20,
        segment_count: 2,
        max_messages: 1 << 16,
    }
}

fn initiator_config(
    target: ClientTarget,
    transport: Transport,
    encoding: WireEncoding,
    journal: Option<&std::path::Path>,
    args: &EngineArgs,
) -> InitiatorConfig {
    InitiatorConfig {
        target,
        transport,
        encoding,
        session: SessionConfig {
            keepalive_interval_ms: args.keepalive_ms.unwrap_or(1000),
            ..SessionConfig::default()
        },
        session_id: random_session_id(),
        journal: journal.map(|dir| JournalSetup {
            dir: dir.to_path_buf(),
            config: JournalConfig {
                outbound: small_ring(),
                inbound: small_ring(),
                ..JournalConfig::default()
            },
        }),
    }
}

/// What one trading run needs.
struct TradeRun {
    label: String,
    encoding: WireEncoding,
    orders: u64,
    print: usize,
    latency: bool,
    /// How the finalized session's binding ends on the wire.
    ending: &'static str,
}

impl TradeRun {
    /// A run labelled with its encoding.
    fn new(encoding: WireEncoding, orders: u64, print: usize, latency: bool) -> Self {
        TradeRun {
            label: format!("{encoding:?}").to_lowercase(),
            encoding,
            orders,
            print,
            latency,
            ending: "Close 1000",
        }
    }
}

/// Starts a trader engine for `session`, trades, prints the outcome and the engine's timings.
fn trade(
    session: InitiatorConfig,
    run: &TradeRun,
    args: &EngineArgs,
    cores: &Option<CoreList>,
) -> Result<(), String> {
    let mut core = trader::TraderCore::new(run.encoding, run.orders, run.print, run.latency);
    core.set_ending(run.ending);
    let config = engine_config(args, cores);
    let label = run.label.as_str();
    let outcome = match args.strategy {
        StrategyMode::Inline => {
            let progress = Arc::new(trader::Progress::default());
            let strategy = trader::InlineTrader::new(core, Arc::clone(&progress));
            let mut builder =
                EngineBuilder::with_strategy(config, strategy).map_err(|e| e.to_string())?;
            builder
                .initiate_inline(session)
                .map_err(|e| e.to_string())?;
            let mut engine = builder.start().map_err(|e| e.to_string())?;
            let logs = status::attach(&mut engine, None)?;
            let (mut engine, core) = trader::trade_inline(engine, &progress);
            let outcome = core.map(|core| report(label, core));
            print_metrics(label, &mut engine);
            logs.stop();
            outcome
        }
        StrategyMode::Thread => {
            let mut builder = EngineBuilder::new(config).map_err(|e| e.to_string())?;
            let mut handle = builder.initiate(session).map_err(|e| e.to_string())?;
            let mut engine = builder.start().map_err(|e| e.to_string())?;
            let logs = status::attach(&mut engine, None)?;
            let core = trader::trade_threaded(&mut handle, core);
            engine.shutdown();
            engine.join()?;
            logs.stop();
            let outcome = Ok(report(label, core));
            print_metrics(label, &mut engine);
            outcome
        }
    };
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) | Err(e) => Err(format!("{label}: {e}")),
    }
}

/// Prints a finished run.
fn report(label: &str, core: trader::TraderCore) -> Result<(), trader::TradeError> {
    core.print(label);
    let summary = core.finish()?;
    print_summary(label, &summary);
    if let Some(c) = summary.counters {
        print_counters(label, &c);
    }
    if let Some(h) = &summary.latency {
        println!(
            "[{label}] order->first report   n={:<7} p50={:>7} ns  p99={:>8} ns  p99.9={:>8} ns  max={:>9} ns",
            h.len(),
            h.value_at_quantile(0.50),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        );
    }
    Ok(())
}

fn print_counters(label: &str, c: &fixp_ws::engine::SessionCounterSnapshot) {
    println!(
        "[{label}] session counters: messages_out={} messages_in={} events={} strategy_backpressure={} session_backpressure={} connections={}",
        c.messages_out,
        c.messages_in,
        c.events,
        c.strategy_backpressure,
        c.session_backpressure,
        c.connections
    );
}

fn print_summary(label: &str, s: &trader::TradeSummary) {
    let types: Vec<String> = s.by_type.iter().map(|(n, c)| format!("{n}={c}")).collect();
    println!(
        "[{label}] summary: {} orders, {} cancels -> {} reports (ExecutionReport {}; OrderCancelReject={}) in {:.1} ms",
        s.orders,
        s.cancels,
        s.reports,
        types.join(" "),
        s.cancel_rejects,
        s.elapsed.as_secs_f64() * 1e3
    );
    if let (n @ 1.., reason) = &s.business_rejects {
        println!(
            "[{label}] {n} orders refused by the venue with BusinessMessageReject ({})",
            reason.as_deref().unwrap_or("no reason given")
        );
    }
}

fn print_metrics<S: Strategy>(label: &str, engine: &mut EngineHandle<S>) {
    let metrics = engine.metrics();
    metrics.refresh();
    for (name, stage) in [
        ("read->decode->handover", Stage::Inbound),
        ("queue->session->write", Stage::Outbound),
        ("duty cycle (busy)", Stage::DutyCycle),
    ] {
        let h = metrics.stage(stage);
        if h.is_empty() {
            println!("[{label}] {name:<22} no samples");
            continue;
        }
        println!(
            "[{label}] {name:<22} n={:<7} p50={:>7} ns  p99={:>8} ns  p99.9={:>8} ns  max={:>9} ns",
            h.len(),
            h.value_at_quantile(0.50),
            h.value_at_quantile(0.99),
            h.value_at_quantile(0.999),
            h.max()
        );
    }
    let c = metrics.counters();
    println!(
        "[{label}] cycles={} accepted={} handshake_failures={} reconnects={} slow_consumers={}",
        c.cycles.load(Ordering::Relaxed),
        c.accepted.load(Ordering::Relaxed),
        c.handshake_failures.load(Ordering::Relaxed),
        c.reconnects.load(Ordering::Relaxed),
        c.slow_consumers.load(Ordering::Relaxed)
    );
}

/// The exchange's engine, in either strategy mode.
enum Served {
    Venue(Box<EngineHandle<VenueExchange>>),
    Inline(Box<EngineHandle<exchange::InlineExchange>>),
    Thread(Box<EngineHandle>),
}

fn serve(
    addr: SocketAddr,
    path: String,
    identity: ServerIdentity,
    (authenticator, tcp, venue): (
        Box<dyn fixp_ws::session::Authenticator + Send>,
        Option<&url::TcpListenArgs>,
        Option<VenueConfig>,
    ),
    args: &EngineArgs,
    cores: &Option<CoreList>,
    admin: Option<&fixp_ws::engine::AdminEndpoint>,
) -> Result<(Served, SocketAddr, status::Ops), String> {
    let options = WsOptions {
        path,
        ..WsOptions::default()
    };
    let listen = Listen {
        addr,
        options,
        tcp,
        identity: &identity,
        authenticator,
        admin,
    };
    if let (Some(venue), StrategyMode::Inline) = (venue, args.strategy) {
        let config = venue_args::engine_config(&venue, args, cores);
        if let Some(journal) = &config.acceptor_journal {
            println!("journal: {}", journal.dir.display());
        }
        let builder = EngineBuilder::with_strategy(config, VenueExchange::new(venue));
        let (engine, bound, ops) = listen.start(builder.map_err(|e| e.to_string())?)?;
        return Ok((Served::Venue(Box::new(engine)), bound, ops));
    }
    let config = engine_config(args, cores);
    Ok(match args.strategy {
        StrategyMode::Inline => {
            let strategy = exchange::InlineExchange::new(true);
            let builder = EngineBuilder::with_strategy(config, strategy);
            let (engine, bound, ops) = listen.start(builder.map_err(|e| e.to_string())?)?;
            (Served::Inline(Box::new(engine)), bound, ops)
        }
        StrategyMode::Thread => {
            let builder = EngineBuilder::new(config);
            let (engine, bound, ops) = listen.start(builder.map_err(|e| e.to_string())?)?;
            (Served::Thread(Box::new(engine)), bound, ops)
        }
    })
}

/// The exchange's listeners, admission and admin endpoint.
struct Listen<'a> {
    addr: SocketAddr,
    options: WsOptions,
    tcp: Option<&'a url::TcpListenArgs>,
    identity: &'a ServerIdentity,
    authenticator: Box<dyn fixp_ws::session::Authenticator + Send>,
    admin: Option<&'a fixp_ws::engine::AdminEndpoint>,
}

impl Listen<'_> {
    /// Binds the listeners on `builder`, starts the engine and its logger / admin endpoint.
    fn start<S: Strategy>(
        self,
        mut builder: EngineBuilder<S>,
    ) -> Result<(EngineHandle<S>, SocketAddr, status::Ops), String> {
        builder.authenticator(self.authenticator);
        let tls = self.identity.server_config().map_err(|e| e.to_string())?;
        let bound = builder
            .listen(self.addr, Some(tls), self.options)
            .map_err(|e| e.to_string())?;
        if let Some(tcp) = self.tcp {
            if let Some(line) = tcp.bind(&mut builder, self.identity)? {
                println!("{line}");
            }
        }
        let mut engine = builder.start().map_err(|e| e.to_string())?;
        let ops = status::attach(&mut engine, self.admin)?;
        Ok((engine, bound, ops))
    }
}

/// Runs the exchange until `stop`, then prints its counts and timings.
fn run_exchange(served: Served, stop: Arc<AtomicBool>) {
    match served {
        Served::Venue(mut engine) => {
            while !stop.load(Ordering::Acquire) && !engine.is_finished() {
                std::thread::sleep(Duration::from_millis(20));
            }
            engine.shutdown();
            let _ = engine.join();
            if let Some(exchange) = engine.take_strategy() {
                print_venue(&exchange);
            }
            print_metrics("exchange", &mut engine);
        }
        Served::Inline(engine) => {
            let (mut engine, stats) = exchange::run_inline(*engine, stop);
            print_exchange(&stats);
            print_metrics("exchange", &mut engine);
        }
        Served::Thread(engine) => {
            let (mut engine, stats) = exchange::run_threaded(*engine, stop, true);
            print_exchange(&stats);
            print_metrics("exchange", &mut engine);
        }
    }
}

fn print_venue(exchange: &VenueExchange) {
    let probe = exchange.probe();
    let get = ExchangeProbe::get;
    println!(
        "exchange: {} sessions, {} messages in, {} out ({} held for a session that was away), {} undecodable",
        get(&probe.sessions),
        get(&probe.messages_in),
        get(&probe.messages_out),
        get(&probe.held),
        get(&probe.undecodable)
    );
}

fn print_exchange(stats: &exchange::ExchangeStats) {
    println!(
        "exchange: {} sessions, {} orders, {} cancels, {} reports",
        stats.sessions, stats.orders, stats.cancels, stats.reports
    );
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = status::init_logging(cli.log_level.as_deref()) {
        eprintln!("fixp-demo: {e}");
        return ExitCode::FAILURE;
    }
    // The core list is read once, before any thread is pinned.
    let cores = CoreList::detect().ok();
    let result = match cli.command {
        Command::Serve {
            addr,
            path,
            cert,
            key,
            cert_out,
            security,
            seconds,
            tcp,
            engine,
            admin,
            venue,
        } => venue.venue_config().and_then(|config| {
            let from_file = venue.config.is_some().then_some(&config);
            let (addr, path) = venue_args::listener(addr, path, from_file)?;
            let (cert, key) = match (cert, key, from_file) {
                (None, None, Some(file)) => (file.tls.cert.clone(), file.tls.key.clone()),
                (cert, key, _) => (cert, key),
            };
            let venue = config;
            run_serve(
                addr,
                path,
                (cert, key, cert_out),
                &security,
                seconds,
                (&tcp, admin.endpoint().as_ref(), venue),
                &engine,
                &cores,
            )
        }),
        Command::Status(args) => status::run_status(&args),
        Command::Connect {
            url,
            security,
            plain_tcp,
            encoding,
            orders,
            print,
            journal,
            latency,
            engine,
        } => run_connect(
            &url,
            (&security, plain_tcp),
            encoding,
            (orders, print, latency),
            journal.as_deref(),
            &engine,
            &cores,
        ),
        Command::Trade(args) => trade::run_trade(&args, &cores),
        Command::Show {
            journal_dir,
            pairs,
            idle,
        } => run_show(journal_dir, pairs, idle),
        Command::Run {
            orders,
            print,
            latency,
            engine,
        } => run_all(orders, print, latency, &engine, &cores),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fixp-demo: {e}");
            ExitCode::FAILURE
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn run_serve(
    addr: SocketAddr,
    path: String,
    (cert, key, cert_out): (Option<PathBuf>, Option<PathBuf>, PathBuf),
    security: &security_args::ServeSecurity,
    seconds: Option<u64>,
    (tcp, admin, venue): (
        &url::TcpListenArgs,
        Option<&fixp_ws::engine::AdminEndpoint>,
        VenueConfig,
    ),
    args: &EngineArgs,
    cores: &Option<CoreList>,
) -> Result<(), String> {
    let cert_and_key = cert.as_deref().zip(key.as_deref());
    let authenticator = security.authenticator()?;
    let identity = security.identity(cert_and_key, &cert_out)?;
    let (served, bound, ops) = serve(
        addr,
        path.clone(),
        identity,
        (authenticator, Some(tcp), Some(venue)),
        args,
        cores,
        admin,
    )?;
    println!("exchange listening on wss://{bound}{path} (subprotocols fixp-sbe, fixp-json, binary, text)");
    let stop = Arc::new(AtomicBool::new(false));
    {
        // Ctrl-C stops the exchange gracefully: every session is closed with a Close frame.
        let stop = Arc::clone(&stop);
        ctrlc::set_handler(move || stop.store(true, Ordering::Release))
            .map_err(|e| format!("Ctrl-C handler: {e}"))?;
    }
    if let Some(seconds) = seconds {
        let stop = Arc::clone(&stop);
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(seconds));
            stop.store(true, Ordering::Release);
        });
    }
    run_exchange(served, stop);
    ops.stop();
    Ok(())
}

fn run_connect(
    url: &str,
    (security, plain_tcp): (&security_args::ConnectSecurity, bool),
    encoding: Encoding,
    (orders, print, latency): (u64, usize, bool),
    journal: Option<&std::path::Path>,
    args: &EngineArgs,
    cores: &Option<CoreList>,
) -> Result<(), String> {
    let server = url::ServerUrl::parse(url)?;
    let encoding = wire_encoding(encoding);
    let transport = server.transport(encoding, plain_tcp)?;
    let mut run = TradeRun::new(encoding, orders, print, latency);
    if let Transport::Sofh(_) = transport {
        run.ending = "Terminate(Finished) both ways";
    }
    let tls = server.scheme.tls();
    let target = security.target(server.addr()?, server.host, tls)?;
    let mut session = initiator_config(target, transport, encoding, journal, args);
    session.session.credentials = security.credentials()?;
    trade(session, &run, args, cores)
}

fn run_all(
    orders: u64,
    print: usize,
    latency: bool,
    args: &EngineArgs,
    cores: &Option<CoreList>,
) -> Result<(), String> {
    let identity = ServerIdentity::self_signed().map_err(|e| e.to_string())?;
    let ca = client_config_from_ca_pem(&identity.cert_pem).map_err(|e| e.to_string())?;
    let path = "/fixp".to_owned();
    let mut server_args = args.clone();
    let mut client_args = args.clone();
    // With --core N the exchange engine takes core N and the trader's engine the next one.
    client_args.core = args.core.map(|c| c + 1);
    server_args.core = args.core;
    let (served, bound, ops) = serve(
        "127.0.0.1:0".parse().map_err(|_| "address")?,
        path.clone(),
        identity,
        (Box::new(fixp_ws::session::AcceptAll), None, None),
        &server_args,
        cores,
        None,
    )?;
    println!(
        "exchange listening on wss://localhost:{}{path}",
        bound.port()
    );
    let stop = Arc::new(AtomicBool::new(false));
    let exchange_stop = Arc::clone(&stop);
    let exchange = std::thread::spawn(move || run_exchange(served, exchange_stop));
    let mut outcome = Ok(());
    for encoding in [WireEncoding::Sbe, WireEncoding::Json] {
        let target = ClientTarget {
            addr: bound,
            host: "localhost".into(),
            tls: Some(Arc::clone(&ca)),
        };
        let transport = url::websocket(&path, encoding);
        let session = initiator_config(target, transport, encoding, None, &client_args);
        let run = TradeRun::new(encoding, orders, print, latency);
        outcome = trade(session, &run, &client_args, cores);
        if outcome.is_err() {
            break;
        }
    }
    stop.store(true, Ordering::Release);
    exchange
        .join()
        .map_err(|_| "exchange thread panicked".to_owned())?;
    ops.stop();
    outcome
}

fn run_show(journal_dir: Option<PathBuf>, pairs: usize, idle: Idle) -> Result<(), String> {
    let journal_dir = journal_dir.unwrap_or_else(|| {
        PathBuf::from(venue_args::DEFAULT_JOURNAL_DIR)
            .join(format!("show-{}", wire::now_ns() / 1_000_000_000))
    });
    let options = fixp_tools::show::script::ShowOptions {
        journal_dir,
        idle: idle_mode(idle),
        timed_pairs: pairs,
        ..Default::default()
    };
    fixp_tools::show::script::run(&options)
        .map(|_| ())
        .map_err(|e| e.to_string())
}
