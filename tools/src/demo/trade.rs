//! `fixp-demo trade`: a venue trader on the command line, built on [`Trader`]: send limit
//! orders, sweep a book with a market order, ask for quotes and take the best, cancel what is
//! still open, or answer RFQs as a market maker. Prints every message it sends and the
//! reports it gets, and the book before and after.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use fixp_tools::show::exchange::journal_rings;
use fixp_tools::trader::{book_line, describe, Trader, TraderConfig};
use fixp_tools::venue::message::{Leg, QuoteRequestStatus, VenueMessage};
use fixp_tools::venue::types::{
    ExecType, OrdStatus, Price, Qty, QuoteStatus, RfqStatus, Side, Symbol,
};
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::SessionId;
use fixp_ws::engine::{CoreList, EngineConfig, InitiatorConfig, JournalSetup};
use fixp_ws::session::SessionConfig;

use super::{idle_mode, security_args, url, wire_encoding, Encoding, EngineArgs, Idle};

/// `fixp-demo trade`'s options.
#[derive(clap::Args, Debug, Clone)]
pub struct TradeArgs {
    /// Server URL: wss://localhost:8443/fixp (or ws://, tcp+tls://).
    #[arg(long)]
    url: String,
    #[command(flatten)]
    security: security_args::ConnectSecurity,
    /// Encoding (JSON needs the session listed with json_dialect = "venue" at the exchange).
    #[arg(long, value_enum, default_value_t = Encoding::Sbe)]
    encoding: Encoding,
    /// The SessionId to negotiate (a market maker's must be listed at the exchange).
    #[arg(long)]
    session_id: Option<String>,
    /// Journal the session here: a later run with the same directory continues it.
    #[arg(long)]
    journal: Option<PathBuf>,
    /// The instrument.
    #[arg(long, default_value = "BTC-27MAR26-100000-C")]
    symbol: String,
    /// A limit order SIDE:QTY@PRICE, e.g. sell:0.5@0.0125 (repeatable, sent in order).
    #[arg(long = "order", value_name = "SIDE:QTY@PRICE")]
    orders: Vec<String>,
    /// Sweep the book with a market order SIDE:QTY, e.g. buy:2.
    #[arg(long, value_name = "SIDE:QTY")]
    sweep: Option<String>,
    /// Ask for quotes SIDE:QTY on the instrument and accept the best one.
    #[arg(long, value_name = "SIDE:QTY")]
    rfq: Option<String>,
    /// How long to collect quotes before accepting, ms.
    #[arg(long, default_value_t = 1000)]
    quote_wait_ms: u64,
    /// Accept as soon as this many quotes came (before --quote-wait-ms ends).
    #[arg(long)]
    quotes: Option<usize>,
    /// Cancel this run's orders that are still open before finishing.
    #[arg(long)]
    cancel_open: bool,
    /// Answer requests for quotes (outrights): offer at --quote-price + spread, bid below.
    #[arg(long)]
    market_maker: bool,
    /// The market maker's reference price.
    #[arg(long, default_value = "0.012")]
    quote_price: String,
    /// Half the market maker's spread, in ticks of --tick.
    #[arg(long, default_value_t = 1)]
    spread_ticks: i64,
    /// The instrument's tick size (the market maker's prices stay on it).
    #[arg(long, default_value = "0.0005")]
    tick: String,
    /// Market maker: stop after this many requests have ended (default: run until --seconds).
    #[arg(long)]
    rfqs: Option<u64>,
    /// Market maker: stop after this many seconds.
    #[arg(long, default_value_t = 60)]
    seconds: u64,
    /// Idle strategy of the trader's engine.
    #[arg(long, value_enum, default_value_t = Idle::Backoff)]
    idle: Idle,
}

fn side(text: &str) -> Result<Side, String> {
    match text.to_ascii_lowercase().as_str() {
        "buy" | "b" => Ok(Side::Buy),
        "sell" | "s" => Ok(Side::Sell),
        _ => Err(format!("{text:?}: expected buy or sell")),
    }
}

fn decimal<T>(text: &str, parse: impl Fn(&str) -> Option<T>, what: &str) -> Result<T, String> {
    parse(text).ok_or_else(|| format!("{text:?}: not an exact {what}"))
}

/// `SIDE:QTY` → (side, qty).
fn side_qty(text: &str) -> Result<(Side, Qty), String> {
    let (s, q) = text
        .split_once(':')
        .ok_or_else(|| format!("{text:?}: expected SIDE:QTY"))?;
    Ok((side(s)?, decimal(q, Qty::parse, "quantity")?))
}

/// `SIDE:QTY@PRICE` → (side, qty, price).
fn side_qty_price(text: &str) -> Result<(Side, Qty, Price), String> {
    let (head, p) = text
        .split_once('@')
        .ok_or_else(|| format!("{text:?}: expected SIDE:QTY@PRICE"))?;
    let (s, q) = side_qty(head)?;
    Ok((s, q, decimal(p, Price::parse, "price")?))
}

/// The run's plan, checked before connecting.
struct Plan {
    symbol: Symbol,
    orders: Vec<(Side, Qty, Price)>,
    sweep: Option<(Side, Qty)>,
    rfq: Option<(Side, Qty)>,
    quote_price: Price,
    tick: Price,
}

impl TradeArgs {
    fn plan(&self) -> Result<Plan, String> {
        let orders = self
            .orders
            .iter()
            .map(|o| side_qty_price(o))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Plan {
            symbol: Symbol::new(&self.symbol)
                .ok_or_else(|| format!("{:?}: not a symbol", self.symbol))?,
            orders,
            sweep: self.sweep.as_deref().map(side_qty).transpose()?,
            rfq: self.rfq.as_deref().map(side_qty).transpose()?,
            quote_price: decimal(&self.quote_price, Price::parse, "price")?,
            tick: decimal(&self.tick, Price::parse, "price")?,
        })
    }

    fn trader_config(&self, cores: &Option<CoreList>) -> Result<TraderConfig, String> {
        let server = url::ServerUrl::parse(&self.url)?;
        let encoding = wire_encoding(self.encoding);
        let transport = server.transport(encoding, false)?;
        let tls = server.scheme.tls();
        let target = self.security.target(server.addr()?, server.host, tls)?;
        let session_id = match &self.session_id {
            Some(text) => SessionId(
                fixp_tools::venue::config::parse_uuid(text)
                    .ok_or_else(|| format!("--session-id: {text:?} is not a UUID"))?,
            ),
            None => super::random_session_id(),
        };
        let args = EngineArgs {
            strategy: super::StrategyMode::Thread,
            idle: Some(self.idle),
            core: None,
            keepalive_ms: None,
        };
        let mut engine: EngineConfig = super::engine_config(&args, cores);
        engine.idle = idle_mode(self.idle);
        Ok(TraderConfig {
            name: "trader".into(),
            initiator: InitiatorConfig {
                target,
                transport,
                encoding,
                session: SessionConfig {
                    flow: FlowType::Recoverable,
                    credentials: self.security.credentials()?,
                    ..SessionConfig::default()
                },
                session_id,
                journal: self.journal.as_ref().map(|dir| JournalSetup {
                    dir: dir.clone(),
                    config: journal_rings(4 << 20),
                }),
            },
            engine,
            timeout: Duration::from_secs(15),
        })
    }
}

fn say_sent(t: &Trader) {
    if let Some(m) = t.sent().last() {
        println!("-> {}", describe(m));
    }
}

fn book(t: &Trader, symbol: &Symbol) {
    if let Some(copy) = t.book(symbol) {
        println!("book {symbol}: {}", book_line(copy));
    }
}

/// Prints the ExecutionReports (or cancel rejects) for `cl_ord_id` until one is final for
/// this step: a first report of a resting order, or a terminal one.
fn reports_for(t: &mut Trader, cl_ord_id: &str, until_done: bool) -> Result<(), String> {
    loop {
        let m = t
            .expect(&format!("a report for {cl_ord_id}"), |m| match m {
                VenueMessage::ExecutionReport(er) if er.cl_ord_id.as_str() == cl_ord_id => {
                    Some(m.clone())
                }
                VenueMessage::OrderCancelReject(r) if r.cl_ord_id.as_str() == cl_ord_id => {
                    Some(m.clone())
                }
                _ => None,
            })
            .map_err(|e| e.to_string())?;
        println!("<- {}", describe(&m));
        let done = match &m {
            VenueMessage::ExecutionReport(er) => {
                !until_done
                    || matches!(
                        er.ord_status,
                        OrdStatus::Filled | OrdStatus::Canceled | OrdStatus::Rejected
                    )
                    || er.exec_type == ExecType::New
            }
            _ => true,
        };
        if done {
            return Ok(());
        }
    }
}

/// Runs `fixp-demo trade`.
pub fn run_trade(args: &TradeArgs, cores: &Option<CoreList>) -> Result<(), String> {
    let plan = args.plan()?;
    let config = args.trader_config(cores)?;
    let mut t = Trader::connect(config).map_err(|e| e.to_string())?;
    println!("session {} established", t.session_id());
    let symbol = plan.symbol;
    t.subscribe(symbol).map_err(|e| e.to_string())?;
    t.wait_until("the book snapshot", |t| {
        t.book(&symbol).is_some_and(|b| b.is_synced())
    })
    .map_err(|e| e.to_string())?;
    book(&t, &symbol);
    let mut open: Vec<(String, Side)> = Vec::new();
    for (i, (s, q, p)) in plan.orders.iter().enumerate() {
        let id = format!("o{}-{i}", std::process::id() % 10_000);
        t.limit(&id, symbol, *s, *q, *p)
            .map_err(|e| e.to_string())?;
        say_sent(&t);
        reports_for(&mut t, &id, false)?;
        open.push((id, *s));
    }
    if let Some((s, q)) = plan.sweep {
        let id = format!("sw{}", std::process::id() % 10_000);
        t.market(&id, symbol, s, q).map_err(|e| e.to_string())?;
        say_sent(&t);
        reports_for(&mut t, &id, true)?;
    }
    if let Some((s, q)) = plan.rfq {
        request_and_accept(&mut t, (symbol, s, q), args.quote_wait_ms, args.quotes)?;
    }
    if args.market_maker {
        make_markets(&mut t, &plan, args)?;
    }
    if args.cancel_open {
        for (i, (id, s)) in open.iter().enumerate() {
            let cancel = format!("x{}-{i}", std::process::id() % 10_000);
            t.cancel(&cancel, id, symbol, *s)
                .map_err(|e| e.to_string())?;
            say_sent(&t);
            reports_for(&mut t, id, false).or_else(|_| reports_for(&mut t, &cancel, false))?;
        }
    }
    // Whatever else arrived for us (fills of resting orders by others), then the book.
    t.pump().map_err(|e| e.to_string())?;
    for r in t.take_inbox() {
        if matches!(
            r.message,
            VenueMessage::ExecutionReport(_) | VenueMessage::OrderCancelReject(_)
        ) {
            println!("<- {}", describe(&r.message));
        }
    }
    // A fresh snapshot makes the copy current (everything before it arrived first) and
    // proves it: the copy built from incrementals must equal it.
    let check = t.check_sync(symbol).map_err(|e| e.to_string())?;
    book(&t, &symbol);
    println!(
        "book copy against a fresh snapshot (seq {}): {}",
        check.snapshot_seq,
        if check.matched { "equal" } else { "DIFFERENT" }
    );
    t.finalize().map_err(|e| e.to_string())?;
    let h = t.latency();
    if !h.is_empty() {
        println!(
            "order -> first report: n={} p50={} ns p99={} ns max={} ns",
            h.len(),
            h.value_at_quantile(0.5),
            h.value_at_quantile(0.99),
            h.max()
        );
    }
    println!("session finalized");
    Ok(())
}

/// Asks for quotes, waits, accepts the best (or cancels the request when none came).
fn request_and_accept(
    t: &mut Trader,
    (symbol, s, q): (Symbol, Side, Qty),
    wait_ms: u64,
    enough: Option<usize>,
) -> Result<(), String> {
    let req = format!("r{}", std::process::id() % 10_000);
    let leg = Leg {
        symbol,
        side: Side::Buy,
        ratio: 1,
    };
    t.request_quotes(&req, Some(s), q, vec![leg], None)
        .map_err(|e| e.to_string())?;
    say_sent(t);
    let status = t
        .expect("the request's status", |m| match m {
            VenueMessage::QuoteRequestStatus(st) if st.quote_req_id.as_str() == req => {
                Some(st.clone())
            }
            _ => None,
        })
        .map_err(|e| e.to_string())?;
    println!(
        "<- {}",
        describe(&VenueMessage::QuoteRequestStatus(status.clone()))
    );
    if status.status != RfqStatus::Open {
        return Err(format!("request not open: {:?}", status.reject_reason));
    }
    let rfq = status.rfq_id;
    let until = Instant::now() + Duration::from_millis(wait_ms);
    let offered = |t: &Trader| {
        t.inbox()
            .filter(|r| {
                matches!(&r.message, VenueMessage::QuoteStatusReport(qr)
                    if qr.rfq_id == rfq && qr.status == QuoteStatus::Open && qr.side == s.opposite())
            })
            .count()
    };
    let _ = t.wait_until("quotes", |t| {
        Instant::now() >= until || enough.is_some_and(|n| offered(t) >= n)
    });
    let mut quotes = Vec::new();
    for r in t.take_inbox() {
        if let VenueMessage::QuoteStatusReport(qr) = &r.message {
            if qr.rfq_id == rfq && qr.status == QuoteStatus::Open && qr.side == s.opposite() {
                println!("<- {}", describe(&r.message));
                quotes.push(qr.clone());
            }
        }
    }
    // The best for us: the lowest offer when buying, the highest bid when selling.
    quotes.sort_by_key(|qr| qr.price);
    let best = if s == Side::Buy {
        quotes.first()
    } else {
        quotes.last()
    };
    let Some(best) = best else {
        println!("no quotes: canceling the request");
        t.cancel_request(&req, rfq).map_err(|e| e.to_string())?;
        say_sent(t);
        return Ok(());
    };
    let id = format!("acc{}", std::process::id() % 10_000);
    t.accept(&id, rfq, best.quote_id.unwrap_or(0), q)
        .map_err(|e| e.to_string())?;
    say_sent(t);
    reports_for(t, &id, true)
}

/// Answers requests for quotes on outrights with a two-sided quote around the reference price,
/// until `--rfqs` requests ended or `--seconds` passed.
fn make_markets(t: &mut Trader, plan: &Plan, args: &TradeArgs) -> Result<(), String> {
    println!(
        "market maker ready: quoting {} +/- {} ticks",
        plan.quote_price, args.spread_ticks
    );
    let stop_at = Instant::now() + Duration::from_secs(args.seconds);
    let spread = Price(plan.tick.0.saturating_mul(args.spread_ticks));
    let mut ended = 0u64;
    let mut n = 0u64;
    // Our quotes still open: a request that ended still owes their outcome.
    let mut open = std::collections::HashSet::new();
    while (args.rfqs.is_none_or(|limit| ended < limit) || !open.is_empty())
        && Instant::now() < stop_at
    {
        let _ = t.wait_until("requests", |t| {
            Instant::now() >= stop_at || t.pending_inbox()
        });
        for r in t.take_inbox() {
            match &r.message {
                VenueMessage::QuoteRequestStatus(st) if st.status == RfqStatus::Open => {
                    println!("<- {}", describe(&r.message));
                    n += 1;
                    quote_request(t, st, plan.quote_price, spread, n)?;
                }
                VenueMessage::QuoteRequestStatus(_) => {
                    println!("<- {}", describe(&r.message));
                    ended += 1;
                }
                VenueMessage::QuoteStatusReport(q) => {
                    println!("<- {}", describe(&r.message));
                    if q.status == QuoteStatus::Open {
                        open.insert(q.quote_id);
                    } else {
                        open.remove(&q.quote_id);
                    }
                }
                VenueMessage::ExecutionReport(_) => println!("<- {}", describe(&r.message)),
                _ => {}
            }
        }
    }
    Ok(())
}

fn quote_request(
    t: &mut Trader,
    st: &QuoteRequestStatus,
    mid: Price,
    spread: Price,
    n: u64,
) -> Result<(), String> {
    if st.legs.len() != 1 {
        println!("   (a multi-leg request: not quoted)");
        return Ok(());
    }
    let offer = Price(mid.0.saturating_add(spread.0));
    let bid = Price(mid.0.saturating_sub(spread.0));
    for (s, p) in [(Side::Sell, offer), (Side::Buy, bid)] {
        if p.0 <= 0 || st.side == Some(s) {
            continue;
        }
        let id = format!("mm{n}{}", if s == Side::Sell { "a" } else { "b" });
        t.quote(&id, st.rfq_id, s, p, st.order_qty, None, Vec::new())
            .map_err(|e| e.to_string())?;
        say_sent(t);
    }
    Ok(())
}
