//! The scripted show (`fixp-demo show`, `cargo venue`): one process, loopback TLS WebSocket
//! with a certificate made at start, the venue exchange and three clients:
//!
//! - **alice** (SBE) and **bob** (SBE), traders; bob also answers RFQs;
//! - **maker** (JSON, the venue's form), the market maker.
//!
//! The script: every client subscribes to two option books; resting orders, an off-tick order
//! (Rejected), a forced disconnect of alice (TCP dropped, engine stopped), a limit sweep by bob
//! that fills alice's orders while she is away, a cancel and an unknown cancel, alice's
//! re-establishment (same SessionId, the missed reports delivered, books resynchronised), a
//! market sweep, an RFQ on a call spread with competing quotes (the best accepted, both legs
//! filled, the other quote canceled), an RFQ whose quote expires (the late accept Rejected,
//! the request canceled), timed order pairs, a sync check of every book copy, and finalization.
//!
//! Owns: the script and its narration. May not touch: the venue's rules.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::SessionId;
use fixp_ws::engine::{
    EngineBuilder, EngineConfig, EngineHandle, IdleMode, InitiatorConfig, JournalSetup,
};
use fixp_ws::session::SessionConfig;
use fixp_ws::transport::{
    client_config_from_ca_pem, ClientTarget, ServerIdentity, Subprotocol, WireEncoding, WsOptions,
};
use hdrhistogram::Histogram;

use super::exchange::{journal_rings, ExchangeProbe, VenueExchange};
use crate::trader::{describe, wall_clock_ns, Trader, TraderConfig, TraderError};
use crate::venue::config::{DialectName, SessionEntry, VenueConfig};
use crate::venue::message::VenueMessage;
use crate::venue::message::{ExecutionReport, Leg, QuoteRequestStatus, QuoteStatusReport};
use crate::venue::types::{Price, Qty, QuoteStatus, RfqStatus, Side, Symbol};

/// The call the show trades.
pub const CALL: &str = "BTC-27MAR26-100000-C";
/// The higher-strike call (the spread's short leg).
pub const CALL_HIGH: &str = "BTC-27MAR26-110000-C";
/// The WebSocket path.
const PATH: &str = "/fixp";
/// Orders in the burst whose connection drops midway.
pub const BURST: usize = 20;

/// The price of burst order `i`: 0.0005 × (i + 1), resting below every offer.
pub fn burst_price(i: usize) -> Price {
    Price(50_000 * (i as i64 + 1))
}

/// How to run the show.
#[derive(Clone, Debug)]
pub struct ShowOptions {
    /// Where this run's journals go (`exchange/` and one directory per client); it should be
    /// new or empty.
    pub journal_dir: PathBuf,
    /// The engines' idle strategy (`Block` in tests).
    pub idle: IdleMode,
    /// Timed order pairs (a resting buy, then the sell that fills it) after the script.
    pub timed_pairs: usize,
    /// The expiring quote's life, ms.
    pub short_quote_ms: u64,
    /// Print each line as it happens.
    pub print: bool,
}

impl Default for ShowOptions {
    fn default() -> Self {
        ShowOptions {
            journal_dir: PathBuf::from("fixp-journal"),
            idle: IdleMode::Block(Duration::from_millis(100)),
            timed_pairs: 500,
            short_quote_ms: 300,
            print: true,
        }
    }
}

/// What the show did: the clients (stopped, with everything they sent and received), the
/// exchange (stopped, with its books), the narration and the latency.
pub struct ShowOutcome {
    /// alice, bob, maker.
    pub traders: Vec<Trader>,
    /// The exchange strategy, after its engine stopped.
    pub exchange: VenueExchange,
    /// The narration, line by line.
    pub lines: Vec<String>,
    /// NewOrderSingle → first ExecutionReport over every client, ns.
    pub latency: Histogram<u64>,
    /// The exchange's journal root (`<SessionId>/gen-*/{out,in}`).
    pub exchange_journal: PathBuf,
    /// The RFQ ids: the spread (filled) and the outright whose quote expired (canceled).
    pub rfqs: (u64, u64),
}

impl ShowOutcome {
    /// The client called `name`.
    pub fn trader(&self, name: &str) -> Option<&Trader> {
        self.traders.iter().find(|t| t.name() == name)
    }
}

/// Why the show failed.
#[derive(Debug, thiserror::Error)]
pub enum ShowError {
    /// A client operation failed.
    #[error(transparent)]
    Trader(#[from] TraderError),
    /// Setting up the exchange failed.
    #[error("exchange: {0}")]
    Exchange(String),
    /// Something came back other than the script expects.
    #[error("unexpected: {0}")]
    Unexpected(String),
}

/// The narrator: prints (if asked) and keeps every line.
struct Narrator {
    print: bool,
    lines: Vec<String>,
}

impl Narrator {
    fn say(&mut self, line: impl Into<String>) {
        let line = line.into();
        if self.print {
            println!("{line}");
        }
        self.lines.push(line);
    }

    fn sent(&mut self, who: &Trader) {
        if let Some(m) = who.sent().last() {
            self.say(format!("  {:<6} -> {}", who.name(), describe(m)));
        }
    }

    fn got(&mut self, who: &Trader, m: &VenueMessage) {
        self.say(format!("  {:<6} <- {}", who.name(), describe(m)));
    }
}

fn sym(text: &str) -> Symbol {
    Symbol::new(text).unwrap_or_default()
}

/// Exact decimal text as a price (the script's literals are valid).
fn px(text: &str) -> Price {
    Price::parse(text).unwrap_or_default()
}

/// Exact decimal text as a quantity.
fn qty(text: &str) -> Qty {
    Qty::parse(text).unwrap_or_default()
}

fn session_id(salt: u64) -> SessionId {
    let t = wall_clock_ns();
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&t.to_le_bytes());
    bytes[8..].copy_from_slice(
        &(u64::from(std::process::id()) ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15)).to_le_bytes(),
    );
    SessionId::from_random_bytes(bytes)
}

/// The exchange's config: the default instruments; maker and bob quote RFQs; maker speaks the
/// venue's JSON; a small journal per session.
fn venue_config(maker: SessionId, bob: SessionId, dir: &Path) -> VenueConfig {
    let mut config = VenueConfig {
        sessions: vec![
            SessionEntry {
                id: maker.0,
                name: "maker".into(),
                market_maker: true,
                json_dialect: Some(DialectName::Venue),
            },
            SessionEntry {
                id: bob.0,
                name: "bob".into(),
                market_maker: true,
                json_dialect: None,
            },
        ],
        ..VenueConfig::default()
    };
    config.journal.dir = dir.to_path_buf();
    config.journal.capacity_bytes = 2 << 20;
    // Quotes may live up to 10 s (the expiring one asks for less), so a slow machine still
    // accepts the spread in time.
    config.rfq.quote_ttl_ms = 10_000;
    config
}

struct Exchange {
    engine: EngineHandle<VenueExchange>,
    probe: Arc<ExchangeProbe>,
    addr: SocketAddr,
    /// Where clients connect, trusting the certificate made at start.
    target: ClientTarget,
}

fn start_exchange(config: VenueConfig, idle: IdleMode) -> Result<Exchange, ShowError> {
    let failed = |e: &dyn std::fmt::Display| ShowError::Exchange(e.to_string());
    let identity = ServerIdentity::self_signed().map_err(|e| failed(&e))?;
    let ca = client_config_from_ca_pem(&identity.cert_pem).map_err(|e| failed(&e))?;
    let tls = identity.server_config().map_err(|e| failed(&e))?;
    let mut engine_config = super::exchange::engine_config(&config, None);
    engine_config.idle = idle;
    let strategy = VenueExchange::new(config);
    let probe = strategy.probe();
    let mut builder =
        EngineBuilder::with_strategy(engine_config, strategy).map_err(|e| failed(&e))?;
    // Loopback only, every client is the show's own.
    builder.authenticator(Box::new(fixp_ws::session::AcceptAll));
    let addr = builder
        .listen(
            "127.0.0.1:0".parse().map_err(|e| failed(&e))?,
            Some(tls),
            WsOptions {
                path: PATH.into(),
                ..WsOptions::default()
            },
        )
        .map_err(|e| failed(&e))?;
    let engine = builder.start().map_err(|e| failed(&e))?;
    Ok(Exchange {
        engine,
        probe,
        addr,
        target: ClientTarget {
            addr,
            host: "localhost".into(),
            tls: Some(ca),
        },
    })
}

fn trader_config(
    name: &str,
    id: SessionId,
    encoding: WireEncoding,
    exchange: &Exchange,
    options: &ShowOptions,
) -> TraderConfig {
    let subprotocol = match encoding {
        WireEncoding::Sbe => Subprotocol::FixpSbe,
        WireEncoding::Json => Subprotocol::FixpJson,
    };
    TraderConfig {
        name: name.into(),
        initiator: InitiatorConfig {
            target: exchange.target.clone(),
            transport: WsOptions {
                path: PATH.into(),
                subprotocols: vec![subprotocol],
                ..WsOptions::default()
            }
            .into(),
            encoding,
            // Recoverable both ways: the client's orders are journaled too, so a restarted
            // client continues its own numbering.
            session: SessionConfig {
                flow: FlowType::Recoverable,
                ..SessionConfig::default()
            },
            session_id: id,
            journal: Some(JournalSetup {
                dir: options.journal_dir.join(name),
                config: journal_rings(2 << 20),
            }),
        },
        engine: EngineConfig {
            idle: options.idle,
            reconnect_min: Duration::from_millis(200),
            ..EngineConfig::default()
        },
        timeout: Duration::from_secs(20),
    }
}

/// Waits for `trader`'s first ExecutionReport for `cl_ord_id`, prints it and returns it.
fn report(n: &mut Narrator, t: &mut Trader, cl_ord_id: &str) -> Result<ExecutionReport, ShowError> {
    let er = t.expect(
        &format!("an ExecutionReport for {cl_ord_id}"),
        |m| match m {
            VenueMessage::ExecutionReport(er) if er.cl_ord_id.as_str() == cl_ord_id => {
                Some(er.clone())
            }
            _ => None,
        },
    )?;
    n.got(t, &VenueMessage::ExecutionReport(er.clone()));
    Ok(er)
}

/// Waits for `trader`'s next QuoteRequestStatus of `rfq` (0: any) with `status`.
fn rfq_status(
    n: &mut Narrator,
    t: &mut Trader,
    rfq: u64,
    status: RfqStatus,
) -> Result<QuoteRequestStatus, ShowError> {
    let m = t.expect(&format!("QuoteRequestStatus {status:?}"), |m| match m {
        VenueMessage::QuoteRequestStatus(s)
            if s.status == status && (rfq == 0 || s.rfq_id == rfq) =>
        {
            Some(s.clone())
        }
        _ => None,
    })?;
    n.got(t, &VenueMessage::QuoteRequestStatus(m.clone()));
    Ok(m)
}

/// Waits for `trader`'s next QuoteStatusReport of `rfq` with `status`.
fn quote_status(
    n: &mut Narrator,
    t: &mut Trader,
    rfq: u64,
    status: QuoteStatus,
) -> Result<QuoteStatusReport, ShowError> {
    let m = t.expect(&format!("QuoteStatusReport {status:?}"), |m| match m {
        VenueMessage::QuoteStatusReport(q) if q.rfq_id == rfq && q.status == status => {
            Some(q.clone())
        }
        _ => None,
    })?;
    n.got(t, &VenueMessage::QuoteStatusReport(m.clone()));
    Ok(m)
}

fn wait_probe(what: &str, mut done: impl FnMut() -> bool) -> Result<(), ShowError> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !done() {
        if Instant::now() >= deadline {
            return Err(ShowError::Unexpected(format!(
                "the exchange never saw {what}"
            )));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

fn book_line(t: &Trader, symbol: &Symbol) -> String {
    t.book(symbol).map_or_else(
        || format!("{}: not subscribed", t.name()),
        crate::trader::book_line,
    )
}

/// Runs the show.
pub fn run(options: &ShowOptions) -> Result<ShowOutcome, ShowError> {
    let started = Instant::now();
    let mut n = Narrator {
        print: options.print,
        lines: Vec::new(),
    };
    let ids = [session_id(1), session_id(2), session_id(3)];
    let exchange_journal = options.journal_dir.join("exchange");
    let config = venue_config(ids[2], ids[1], &exchange_journal);
    let exchange = start_exchange(config, options.idle)?;
    n.say(format!(
        "venue listening on wss://localhost:{}{PATH} (self-signed certificate made at start); server flow Recoverable, journaled",
        exchange.addr.port()
    ));
    let mut alice = Trader::connect(trader_config(
        "alice",
        ids[0],
        WireEncoding::Sbe,
        &exchange,
        options,
    ))?;
    let mut bob = Trader::connect(trader_config(
        "bob",
        ids[1],
        WireEncoding::Sbe,
        &exchange,
        options,
    ))?;
    let mut maker = Trader::connect(trader_config(
        "maker",
        ids[2],
        WireEncoding::Json,
        &exchange,
        options,
    ))?;
    for (t, what) in [
        (&alice, "trader, SBE"),
        (&bob, "trader and RFQ responder, SBE"),
        (&maker, "market maker, JSON"),
    ] {
        n.say(format!(
            "{:<6} established  SessionId {}  ({what})",
            t.name(),
            t.session_id()
        ));
    }
    let (call, call_high) = (sym(CALL), sym(CALL_HIGH));
    for t in [&mut alice, &mut bob, &mut maker] {
        t.subscribe(call)?;
        t.subscribe(call_high)?;
        t.wait_until("book snapshots", |t| {
            [call, call_high]
                .iter()
                .all(|s| t.book(s).is_some_and(|b| b.is_synced()))
        })?;
    }
    n.say(format!("market data: all three subscribed to {CALL} and {CALL_HIGH} (snapshot, then sequenced incrementals)"));

    n.say("1. resting orders (tick 0.0005, lot 0.1)");
    maker.limit("m-1", call, Side::Buy, qty("1"), px("0.01"))?;
    n.sent(&maker);
    report(&mut n, &mut maker, "m-1")?;
    maker.limit("m-2", call, Side::Sell, qty("1"), px("0.012"))?;
    n.sent(&maker);
    report(&mut n, &mut maker, "m-2")?;
    alice.limit("a-1", call, Side::Sell, qty("0.5"), px("0.0125"))?;
    n.sent(&alice);
    report(&mut n, &mut alice, "a-1")?;
    alice.limit("a-2", call, Side::Sell, qty("0.3"), px("0.013"))?;
    n.sent(&alice);
    report(&mut n, &mut alice, "a-2")?;
    alice.limit("a-3", call, Side::Sell, qty("0.1"), px("0.01251"))?;
    n.sent(&alice);
    report(&mut n, &mut alice, "a-3")?;
    bob.limit("b-1", call, Side::Buy, qty("0.4"), px("0.0095"))?;
    n.sent(&bob);
    report(&mut n, &mut bob, "b-1")?;

    n.say("2. forced disconnect: alice's TCP connection is dropped (no closing handshake) and she stays away");
    let unbound = ExchangeProbe::get(&exchange.probe.unbound);
    alice.disconnect_abruptly()?;
    wait_probe("alice's binding end", || {
        ExchangeProbe::get(&exchange.probe.unbound) > unbound
    })?;
    n.say("  exchange: alice's binding ended (transport lost); her session stays, numbers kept");

    n.say("3. bob sweeps the offers with a limit buy; alice's orders fill while she is away");
    let held = ExchangeProbe::get(&exchange.probe.held);
    bob.limit("b-2", call, Side::Buy, qty("2"), px("0.0135"))?;
    n.sent(&bob);
    report(&mut n, &mut bob, "b-2")?;
    report(&mut n, &mut maker, "m-2")?;
    bob.cancel("b-3", "b-2", call, Side::Buy)?;
    n.sent(&bob);
    report(&mut n, &mut bob, "b-2")?;
    bob.cancel("b-4", "b-9", call, Side::Buy)?;
    n.sent(&bob);
    let reject = bob.expect("an OrderCancelReject", |m| match m {
        VenueMessage::OrderCancelReject(r) => Some(r.clone()),
        _ => None,
    })?;
    n.got(&bob, &VenueMessage::OrderCancelReject(reject));
    wait_probe("reports for alice", || {
        ExchangeProbe::get(&exchange.probe.held) >= held + 2
    })?;
    let waiting = ExchangeProbe::get(&exchange.probe.held) - held;
    n.say(format!(
        "  exchange: {waiting} messages held for alice (her 2 fills and the book updates)"
    ));

    n.say(
        "4. alice re-establishes (journaled session: same SessionId, Establish without Negotiate)",
    );
    let alice_id = alice.session_id();
    alice.reconnect()?;
    n.say(format!(
        "  alice  re-established  SessionId {} (same: {})",
        alice.session_id(),
        alice.session_id() == alice_id
    ));
    report(&mut n, &mut alice, "a-1")?;
    report(&mut n, &mut alice, "a-2")?;
    alice.wait_until("book resync", |t| {
        [call, call_high]
            .iter()
            .all(|s| t.book(s).is_some_and(|b| b.is_synced()))
    })?;
    n.say(format!(
        "  alice  books resynchronised from fresh snapshots ({} snapshot requests)",
        alice.resyncs()
    ));
    n.say(format!("  {CALL}: {}", book_line(&alice, &call)));

    n.say("5. alice sweeps the bids with a market sell");
    alice.market("a-4", call, Side::Sell, qty("1.2"))?;
    n.sent(&alice);
    report(&mut n, &mut alice, "a-4")?;
    report(&mut n, &mut maker, "m-1")?;
    report(&mut n, &mut bob, "b-1")?;

    n.say("6. RFQ: alice asks for a call spread (buy 100000-C, sell 110000-C), size 1; bob and maker compete");
    let legs = vec![
        Leg {
            symbol: call,
            side: Side::Buy,
            ratio: 1,
        },
        Leg {
            symbol: call_high,
            side: Side::Sell,
            ratio: 1,
        },
    ];
    alice.request_quotes("q-1", Some(Side::Buy), qty("1"), legs, None)?;
    n.sent(&alice);
    let open = rfq_status(&mut n, &mut alice, 0, RfqStatus::Open)?;
    let rfq1 = open.rfq_id;
    rfq_status(&mut n, &mut maker, rfq1, RfqStatus::Open)?;
    rfq_status(&mut n, &mut bob, rfq1, RfqStatus::Open)?;
    maker.quote(
        "mq-1",
        rfq1,
        Side::Sell,
        px("0.01"),
        qty("1"),
        None,
        vec![px("0.0125"), px("0.0025")],
    )?;
    n.sent(&maker);
    quote_status(&mut n, &mut maker, rfq1, QuoteStatus::Open)?;
    let best = quote_status(&mut n, &mut alice, rfq1, QuoteStatus::Open)?;
    bob.quote(
        "bq-1",
        rfq1,
        Side::Sell,
        px("0.011"),
        qty("1"),
        None,
        vec![px("0.013"), px("0.002")],
    )?;
    n.sent(&bob);
    quote_status(&mut n, &mut bob, rfq1, QuoteStatus::Open)?;
    let other = quote_status(&mut n, &mut alice, rfq1, QuoteStatus::Open)?;
    let (win, lose) = if best.price <= other.price {
        (best, other)
    } else {
        (other, best)
    };
    n.say(format!(
        "  alice  takes the best offer: quote {} at {} (the other: {})",
        win.quote_id.unwrap_or(0),
        win.price,
        lose.price
    ));
    alice.accept("a-5", rfq1, win.quote_id.unwrap_or(0), qty("1"))?;
    n.sent(&alice);
    report(&mut n, &mut alice, "a-5")?;
    report(&mut n, &mut alice, "a-5")?;
    report(&mut n, &mut maker, "mq-1")?;
    report(&mut n, &mut maker, "mq-1")?;
    quote_status(&mut n, &mut bob, rfq1, QuoteStatus::Canceled)?;
    rfq_status(&mut n, &mut alice, rfq1, RfqStatus::Filled)?;

    n.say(format!(
        "7. RFQ: bob asks for {CALL}, size 0.5, side hidden; maker's quote lives {} ms",
        options.short_quote_ms
    ));
    bob.request_quotes(
        "q-2",
        None,
        qty("0.5"),
        vec![Leg {
            symbol: call,
            side: Side::Buy,
            ratio: 1,
        }],
        None,
    )?;
    n.sent(&bob);
    let rfq2 = rfq_status(&mut n, &mut bob, 0, RfqStatus::Open)?.rfq_id;
    rfq_status(&mut n, &mut maker, rfq2, RfqStatus::Open)?;
    let valid_until = maker.now() + options.short_quote_ms * 1_000_000;
    maker.quote(
        "mq-2",
        rfq2,
        Side::Sell,
        px("0.012"),
        qty("0.5"),
        Some(valid_until),
        Vec::new(),
    )?;
    n.sent(&maker);
    quote_status(&mut n, &mut maker, rfq2, QuoteStatus::Open)?;
    let quote = quote_status(&mut n, &mut bob, rfq2, QuoteStatus::Open)?;
    quote_status(&mut n, &mut bob, rfq2, QuoteStatus::Expired)?;
    quote_status(&mut n, &mut maker, rfq2, QuoteStatus::Expired)?;
    bob.accept("b-5", rfq2, quote.quote_id.unwrap_or(0), qty("0.5"))?;
    n.sent(&bob);
    report(&mut n, &mut bob, "b-5")?;
    bob.cancel_request("q-2", rfq2)?;
    n.sent(&bob);
    rfq_status(&mut n, &mut bob, rfq2, RfqStatus::Canceled)?;

    n.say(format!(
        "8. bob's connection drops in the middle of a burst of {BURST} orders: his engine reconnects, re-establishes, and FIXP recovers what was in flight"
    ));
    let before = bob.counters().unwrap_or_default();
    for i in 0..BURST {
        bob.limit(
            &format!("r-{i}"),
            call,
            Side::Buy,
            qty("0.1"),
            burst_price(i),
        )?;
        if i == BURST / 2 {
            bob.drop_connection()?;
        }
    }
    for i in 0..BURST {
        expect_status(&mut bob, &format!("r-{i}"))?;
    }
    bob.wait_until("re-establishment", |t| {
        t.establishments() > 1 && t.is_established()
    })?;
    let after = bob.counters().unwrap_or_default();
    let news: Vec<String> = bob
        .received()
        .iter()
        .filter_map(|r| match &r.message {
            VenueMessage::ExecutionReport(er) if er.cl_ord_id.as_str().starts_with("r-") => {
                Some(er.cl_ord_id.as_str().to_owned())
            }
            _ => None,
        })
        .collect();
    let wanted: Vec<String> = (0..BURST).map(|i| format!("r-{i}")).collect();
    if news != wanted {
        return Err(ShowError::Unexpected(format!(
            "bob's burst reports: {news:?}"
        )));
    }
    n.say(format!(
        "  bob    {BURST} ExecutionReports New, each once and in order; connections {} -> {} (same SessionId {})",
        before.connections,
        after.connections,
        bob.session_id()
    ));
    for i in 0..BURST {
        bob.cancel(&format!("rc-{i}"), &format!("r-{i}"), call, Side::Buy)?;
        expect_status(&mut bob, &format!("r-{i}"))?;
    }
    n.say(format!(
        "  bob    canceled the {BURST}: ExecutionReport Canceled each"
    ));

    n.say(format!(
        "9. {} timed order pairs: bob bids 0.1 at 0.02 (above every bid), alice sells into it",
        options.timed_pairs
    ));
    for i in 0..options.timed_pairs {
        let (buy, sell) = (format!("t-b{i}"), format!("t-s{i}"));
        bob.limit(&buy, call, Side::Buy, qty("0.1"), px("0.02"))?;
        expect_status(&mut bob, &buy)?;
        alice.limit(&sell, call, Side::Sell, qty("0.1"), px("0.02"))?;
        expect_status(&mut alice, &sell)?;
        expect_status(&mut bob, &buy)?;
    }

    n.say("10. market data in sync: each copy (built from incrementals) against a fresh snapshot");
    for t in [&mut alice, &mut bob, &mut maker] {
        for symbol in [call, call_high] {
            let check = t.check_sync(symbol)?;
            n.say(format!(
                "  {:<6} {symbol}: copy seq {} vs snapshot seq {}, {} levels: {}",
                t.name(),
                check.copy_seq.map_or_else(|| "-".into(), |s| s.to_string()),
                check.snapshot_seq,
                check.levels,
                if check.matched { "equal" } else { "DIFFERENT" }
            ));
        }
    }

    n.say("11. finalization: each client finishes its flow, the exchange answers, Close 1000");
    for t in [&mut alice, &mut bob, &mut maker] {
        t.finalize()?;
        n.say(format!("  {:<6} session finalized", t.name()));
    }
    let mut engine = exchange.engine;
    wait_probe("the sessions finalize", || {
        ExchangeProbe::get(&exchange.probe.finalized) >= 3
    })?;
    engine.shutdown();
    engine.join().map_err(ShowError::Exchange)?;
    let strategy = engine
        .take_strategy()
        .ok_or_else(|| ShowError::Exchange("no strategy".into()))?;
    let traders = vec![alice, bob, maker];
    let mut latency = Histogram::new_with_bounds(1, 60_000_000_000, 3)
        .map_err(|e| ShowError::Exchange(e.to_string()))?;
    for t in &traders {
        let _ = latency.add(t.latency());
    }
    summary(
        &mut n,
        &traders,
        &strategy,
        &latency,
        &options.journal_dir,
        started,
    );
    Ok(ShowOutcome {
        traders,
        exchange: strategy,
        lines: n.lines,
        latency,
        exchange_journal,
        rfqs: (rfq1, rfq2),
    })
}

/// Waits for the next ExecutionReport of `cl_ord_id`, quietly.
fn expect_status(t: &mut Trader, cl_ord_id: &str) -> Result<(), ShowError> {
    t.expect("a timed report", |m| match m {
        VenueMessage::ExecutionReport(er) if er.cl_ord_id.as_str() == cl_ord_id => Some(()),
        _ => None,
    })?;
    Ok(())
}

fn summary(
    n: &mut Narrator,
    traders: &[Trader],
    exchange: &VenueExchange,
    latency: &Histogram<u64>,
    journal: &Path,
    started: Instant,
) {
    let symbols = [sym(CALL), sym(CALL_HIGH)];
    let equal = traders.iter().all(|t| {
        symbols.iter().all(|s| {
            t.book(s)
                .is_some_and(|b| b.matches(exchange.venue().book(s)))
        })
    });
    n.say(format!(
        "client books == exchange books after finalization: {}",
        if equal {
            "yes, all 3 clients, both books"
        } else {
            "NO"
        }
    ));
    let probe = exchange.probe();
    n.say(format!(
        "exchange: {} sessions, {} messages in, {} out, {} held while a client was away",
        ExchangeProbe::get(&probe.sessions),
        ExchangeProbe::get(&probe.messages_in),
        ExchangeProbe::get(&probe.messages_out),
        ExchangeProbe::get(&probe.held)
    ));
    n.say(String::new());
    n.say(format!(
        "order -> first ExecutionReport ({} orders timed on the client engine clock, send to read; those caught in an outage are left out)",
        latency.len()
    ));
    n.say("      p50       p90       p99     p99.9       max".to_owned());
    let us = |q: f64| format!("{:>7.1}us", latency.value_at_quantile(q) as f64 / 1e3);
    n.say(format!(
        "{} {} {} {} {:>7.1}us",
        us(0.5),
        us(0.9),
        us(0.99),
        us(0.999),
        latency.max() as f64 / 1e3
    ));
    n.say(String::new());
    n.say(format!("journals under {}:", journal.display()));
    n.say("  exchange/<SessionId>/   one per session (out: what the venue sent, in: what it received)");
    for t in traders {
        n.say(format!(
            "  {:<6} exchange/{}  and  {}/",
            t.name(),
            t.session_id(),
            t.name()
        ));
    }
    n.say(format!(
        "  read them with: fixp-journal dump {}/exchange/{}",
        journal.display(),
        traders
            .first()
            .map(|t| t.session_id().to_string())
            .unwrap_or_default()
    ));
    n.say(format!("done in {:.1} s", started.elapsed().as_secs_f64()));
}
