//! The scripted venue show end to end (blocking idle strategy): every ExecutionReport and
//! OrderCancelReject each client got, every RFQ outcome, the clients' books against the
//! exchange's, and the journals (the exchange's and the clients') holding exactly what was sent.

use std::path::Path;
use std::time::Duration;

use fixp_tools::show::script::{
    burst_price, run, ShowOptions, ShowOutcome, BURST, CALL, CALL_HIGH,
};
use fixp_tools::trader::{Received, Trader};
use fixp_tools::venue::message::VenueMessage;
use fixp_tools::venue::types::Symbol;
use fixp_tools::venue::wire::{self, WireFormat};
use fixp_tools::venue::{AppMessage, Dialect};
use fixp_ws::engine::IdleMode;
use fixp_ws::journal::JournalReader;

const PAIRS: usize = 20;

fn show(dir: &Path) -> ShowOutcome {
    let options = ShowOptions {
        journal_dir: dir.to_path_buf(),
        idle: IdleMode::Block(Duration::from_millis(5)),
        timed_pairs: PAIRS,
        short_quote_ms: 300,
        print: false,
    };
    match run(&options) {
        Ok(outcome) => outcome,
        Err(e) => panic!("the show failed: {e}"),
    }
}

fn trader<'a>(outcome: &'a ShowOutcome, name: &str) -> &'a Trader {
    outcome.trader(name).unwrap_or_else(|| panic!("no {name}"))
}

/// Every ExecutionReport and OrderCancelReject, one line each, in arrival order; the timed
/// pairs (`t-…`) apart.
fn reports(t: &Trader) -> (Vec<String>, Vec<String>) {
    let mut script = Vec::new();
    let mut timed = Vec::new();
    for r in t.received() {
        let (cl, line) = match &r.message {
            VenueMessage::ExecutionReport(er) => {
                let fills: Vec<String> = er
                    .fills
                    .iter()
                    .map(|f| format!("{}@{}", f.qty, f.price))
                    .collect();
                (
                    er.cl_ord_id.as_str().to_owned(),
                    format!(
                        "{} {:?}/{:?} {:?} {} qty={} px={:?} leaves={} cum={} fills=[{}] reason={:?} rfq={:?}",
                        er.cl_ord_id,
                        er.exec_type,
                        er.ord_status,
                        er.side,
                        er.symbol,
                        er.order_qty,
                        er.price,
                        er.leaves_qty,
                        er.cum_qty,
                        fills.join(" "),
                        er.reject_reason,
                        er.rfq_id
                    ),
                )
            }
            VenueMessage::OrderCancelReject(r) => (
                r.cl_ord_id.as_str().to_owned(),
                format!(
                    "reject {} for {} {:?} {:?}",
                    r.cl_ord_id, r.orig_cl_ord_id, r.ord_status, r.cxl_rej_reason
                ),
            ),
            _ => continue,
        };
        if cl.starts_with("t-") {
            timed.push(line);
        } else {
            script.push(line);
        }
    }
    (script, timed)
}

/// Every RFQ message, one line each, in arrival order.
fn rfq_outcomes(t: &Trader) -> Vec<String> {
    t.received()
        .iter()
        .filter_map(|r| match &r.message {
            VenueMessage::QuoteRequestStatus(s) => Some(format!(
                "request rfq={} {:?} qty={} reqid={:?}",
                s.rfq_id, s.status, s.order_qty, s.quote_req_id
            )),
            VenueMessage::QuoteStatusReport(q) => Some(format!(
                "quote rfq={} id={:?} {:?} {:?} {}@{} mine={:?} reason={:?}",
                q.rfq_id,
                q.quote_id,
                q.status,
                q.side,
                q.order_qty,
                q.price,
                q.cl_quote_id,
                q.reject_reason
            )),
            _ => None,
        })
        .collect()
}

fn lines(text: &[&str]) -> Vec<String> {
    text.iter().map(|s| (*s).to_owned()).collect()
}

const C: &str = CALL;

/// Bob's burst (his connection dropped midway): each order New once, in order, then each
/// Canceled.
fn burst() -> Vec<String> {
    let line = |i: usize, what: &str, leaves: &str| {
        format!(
            "r-{i} {what} Buy {C} qty=0.1 px=Some({}) leaves={leaves} cum=0 fills=[] reason=None rfq=None",
            burst_price(i)
        )
    };
    let new = (0..BURST).map(|i| line(i, "New/New", "0.1"));
    let canceled = (0..BURST).map(|i| line(i, "Canceled/Canceled", "0"));
    new.chain(canceled).collect()
}

#[test]
fn the_show_reports_every_execution_rfq_outcome_book_and_journal_exactly() {
    let dir = tempfile::tempdir().expect("dir");
    let outcome = show(dir.path());
    let (alice, bob, maker) = (
        trader(&outcome, "alice"),
        trader(&outcome, "bob"),
        trader(&outcome, "maker"),
    );

    // Every ExecutionReport: quantities, prices, statuses, reasons.
    let (alice_reports, alice_timed) = reports(alice);
    assert_eq!(
        alice_reports,
        lines(&[
            &format!("a-1 New/New Sell {C} qty=0.5 px=Some(0.0125) leaves=0.5 cum=0 fills=[] reason=None rfq=None"),
            &format!("a-2 New/New Sell {C} qty=0.3 px=Some(0.013) leaves=0.3 cum=0 fills=[] reason=None rfq=None"),
            &format!("a-3 Rejected/Rejected Sell {C} qty=0.1 px=Some(0.01251) leaves=0 cum=0 fills=[] reason=Some(PriceNotOnTick) rfq=None"),
            // Filled while alice was away; delivered when she came back.
            &format!("a-1 Trade/Filled Sell {C} qty=0.5 px=Some(0.0125) leaves=0 cum=0.5 fills=[0.5@0.0125] reason=None rfq=None"),
            &format!("a-2 Trade/Filled Sell {C} qty=0.3 px=Some(0.013) leaves=0 cum=0.3 fills=[0.3@0.013] reason=None rfq=None"),
            // The market sweep of the bids.
            &format!("a-4 Trade/Filled Sell {C} qty=1.2 px=None leaves=0 cum=1.2 fills=[1@0.01 0.2@0.0095] reason=None rfq=None"),
            // The accepted spread: one report per leg.
            &format!("a-5 Trade/Filled Buy {C} qty=1 px=Some(0.0125) leaves=0 cum=1 fills=[1@0.0125] reason=None rfq=Some(1)"),
            &format!("a-5 Trade/Filled Sell {CALL_HIGH} qty=1 px=Some(0.0025) leaves=0 cum=1 fills=[1@0.0025] reason=None rfq=Some(1)"),
        ])
    );
    let (bob_reports, bob_timed) = reports(bob);
    assert_eq!(
        bob_reports,
        lines(&[
            &format!("b-1 New/New Buy {C} qty=0.4 px=Some(0.0095) leaves=0.4 cum=0 fills=[] reason=None rfq=None"),
            &format!("b-2 Trade/PartiallyFilled Buy {C} qty=2 px=Some(0.0135) leaves=0.2 cum=1.8 fills=[1@0.012 0.5@0.0125 0.3@0.013] reason=None rfq=None"),
            &format!("b-2 Canceled/Canceled Buy {C} qty=2 px=Some(0.0135) leaves=0 cum=1.8 fills=[] reason=None rfq=None"),
            "reject b-4 for b-9 Rejected UnknownOrder",
            &format!("b-1 Trade/PartiallyFilled Buy {C} qty=0.4 px=Some(0.0095) leaves=0.2 cum=0.2 fills=[0.2@0.0095] reason=None rfq=None"),
            &format!("b-5 Rejected/Rejected Buy {C} qty=0.5 px=None leaves=0 cum=0 fills=[] reason=Some(QuoteExpired) rfq=Some(2)"),
        ])
        .into_iter()
        .chain(burst())
        .collect::<Vec<_>>()
    );
    let (maker_reports, maker_timed) = reports(maker);
    assert_eq!(
        maker_reports,
        lines(&[
            &format!("m-1 New/New Buy {C} qty=1 px=Some(0.01) leaves=1 cum=0 fills=[] reason=None rfq=None"),
            &format!("m-2 New/New Sell {C} qty=1 px=Some(0.012) leaves=1 cum=0 fills=[] reason=None rfq=None"),
            &format!("m-2 Trade/Filled Sell {C} qty=1 px=Some(0.012) leaves=0 cum=1 fills=[1@0.012] reason=None rfq=None"),
            &format!("m-1 Trade/Filled Buy {C} qty=1 px=Some(0.01) leaves=0 cum=1 fills=[1@0.01] reason=None rfq=None"),
            &format!("mq-1 Trade/Filled Sell {C} qty=1 px=Some(0.0125) leaves=0 cum=1 fills=[1@0.0125] reason=None rfq=Some(1)"),
            &format!("mq-1 Trade/Filled Buy {CALL_HIGH} qty=1 px=Some(0.0025) leaves=0 cum=1 fills=[1@0.0025] reason=None rfq=Some(1)"),
        ])
    );
    // The timed pairs: bob's bid rests, alice's sell fills it, both Filled at 0.02.
    assert!(maker_timed.is_empty());
    let mut expected_alice = Vec::new();
    let mut expected_bob = Vec::new();
    for i in 0..PAIRS {
        expected_bob.push(format!("t-b{i} New/New Buy {C} qty=0.1 px=Some(0.02) leaves=0.1 cum=0 fills=[] reason=None rfq=None"));
        expected_alice.push(format!("t-s{i} Trade/Filled Sell {C} qty=0.1 px=Some(0.02) leaves=0 cum=0.1 fills=[0.1@0.02] reason=None rfq=None"));
        expected_bob.push(format!("t-b{i} Trade/Filled Buy {C} qty=0.1 px=Some(0.02) leaves=0 cum=0.1 fills=[0.1@0.02] reason=None rfq=None"));
    }
    assert_eq!(alice_timed, expected_alice);
    assert_eq!(bob_timed, expected_bob);

    // Every RFQ outcome, as each side saw it.
    assert_eq!(outcome.rfqs, (1, 2));
    assert_eq!(
        rfq_outcomes(alice),
        lines(&[
            "request rfq=1 Open qty=1 reqid=\"q-1\"",
            "quote rfq=1 id=Some(1) Open Sell 1@0.01 mine=\"\" reason=None",
            "quote rfq=1 id=Some(2) Open Sell 1@0.011 mine=\"\" reason=None",
            "request rfq=1 Filled qty=1 reqid=\"q-1\"",
        ])
    );
    assert_eq!(
        rfq_outcomes(bob),
        lines(&[
            "request rfq=1 Open qty=1 reqid=\"\"",
            "quote rfq=1 id=Some(2) Open Sell 1@0.011 mine=\"bq-1\" reason=None",
            "request rfq=1 Filled qty=1 reqid=\"\"",
            "quote rfq=1 id=Some(2) Canceled Sell 1@0.011 mine=\"bq-1\" reason=None",
            "request rfq=2 Open qty=0.5 reqid=\"q-2\"",
            "quote rfq=2 id=Some(3) Open Sell 0.5@0.012 mine=\"\" reason=None",
            "quote rfq=2 id=Some(3) Expired Sell 0.5@0.012 mine=\"\" reason=None",
            "request rfq=2 Canceled qty=0.5 reqid=\"q-2\"",
        ])
    );
    assert_eq!(
        rfq_outcomes(maker),
        lines(&[
            "request rfq=1 Open qty=1 reqid=\"\"",
            "quote rfq=1 id=Some(1) Open Sell 1@0.01 mine=\"mq-1\" reason=None",
            "quote rfq=1 id=Some(1) Filled Sell 1@0.01 mine=\"mq-1\" reason=None",
            "request rfq=1 Filled qty=1 reqid=\"\"",
            "request rfq=2 Open qty=0.5 reqid=\"\"",
            "quote rfq=2 id=Some(3) Open Sell 0.5@0.012 mine=\"mq-2\" reason=None",
            "quote rfq=2 id=Some(3) Expired Sell 0.5@0.012 mine=\"mq-2\" reason=None",
            "request rfq=2 Canceled qty=0.5 reqid=\"\"",
        ])
    );

    // The forced disconnect: alice came back once, same session; the others never left.
    assert_eq!(alice.establishments(), 2);
    // Bob's connection dropped mid-burst: his engine reconnected by itself.
    assert_eq!(bob.establishments(), 2);
    assert_eq!(bob.counters().map(|c| c.connections), Some(2));
    assert_eq!(maker.establishments(), 1);
    assert!(alice.resyncs() >= 2, "alice resynchronised both books");

    // Client books equal the exchange's: the live checks against snapshots, and at the end.
    let symbols = [
        Symbol::new(CALL).expect("symbol"),
        Symbol::new(CALL_HIGH).expect("symbol"),
    ];
    for t in &outcome.traders {
        assert_eq!(t.sync_checks().len(), 2, "{}", t.name());
        for check in t.sync_checks() {
            assert!(check.matched, "{}: {check:?}", t.name());
        }
        for s in &symbols {
            let copy = t.book(s).expect("subscribed");
            assert!(
                copy.matches(outcome.exchange.venue().book(s)),
                "{} {s}: {:?} vs {:?}",
                t.name(),
                copy.all_levels(),
                outcome.exchange.venue().book(s).map(|b| b.all_levels())
            );
            assert_eq!(
                copy.seq(),
                Some(outcome.exchange.venue().market_data_seq(s))
            );
        }
        assert_eq!(t.undecodable(), 0);
    }
    // What the books hold at the end: bob's b-1 remainder.
    let book = outcome.exchange.venue().book(&symbols[0]).expect("book");
    let levels: Vec<String> = book
        .all_levels()
        .iter()
        .map(|l| format!("{:?} {}x{} n={}", l.side, l.qty, l.price, l.order_count))
        .collect();
    assert_eq!(levels, ["Buy 0.2x0.0095 n=1"]);

    let orders = outcome
        .traders
        .iter()
        .flat_map(|t| t.sent())
        .filter(|m| matches!(m, VenueMessage::NewOrderSingle(_)))
        .count() as u64;
    assert_eq!(orders, 8 + (BURST + 2 * PAIRS) as u64);
    // Timed: every order but those whose binding ended before their first report (some of
    // the burst).
    assert!(
        outcome.latency.len() >= orders - BURST as u64,
        "{}",
        outcome.latency.len()
    );
    assert!(outcome.latency.len() <= orders, "{}", outcome.latency.len());
    assert!(outcome
        .lines
        .iter()
        .any(|l| l.contains("client books == exchange books after finalization: yes")));

    // The journals hold exactly what was sent, in order, under the session's numbers.
    for t in &outcome.traders {
        let format = if t.name() == "maker" {
            WireFormat::Json
        } else {
            WireFormat::Sbe
        };
        let at_exchange = outcome.exchange_journal.join(t.session_id().to_string());
        let received: Vec<Received> = t.received().to_vec();
        assert_eq!(
            journal(&at_exchange, "out", format),
            received,
            "{}: exchange out",
            t.name()
        );
        let sent: Vec<VenueMessage> = journal(&at_exchange, "in", format)
            .into_iter()
            .map(|r| r.message)
            .collect();
        assert_eq!(sent, t.sent(), "{}: exchange in", t.name());
        let own: Vec<VenueMessage> = journal(&dir.path().join(t.name()), "out", format)
            .into_iter()
            .map(|r| r.message)
            .collect();
        assert_eq!(own, t.sent(), "{}: client out", t.name());
        assert!(at_exchange.join("finalized").exists(), "{}", t.name());
    }
}

/// The records of one direction of the only generation under `root`, decoded.
fn journal(root: &Path, direction: &str, format: WireFormat) -> Vec<Received> {
    let generations: Vec<_> = std::fs::read_dir(root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("gen-"))
        })
        .collect();
    assert_eq!(generations.len(), 1, "{}", root.display());
    let reader = JournalReader::open(&generations[0].join(direction)).expect("journal");
    let mut out = Vec::new();
    let report = reader.scan(|found| {
        assert!(found.record.checksum_ok);
        match wire::decode(found.record.payload, format, Dialect::Venue) {
            Ok(AppMessage::Venue(message)) => out.push(Received {
                seq: found.record.seq,
                message,
            }),
            other => panic!("seq {}: {other:?}", found.record.seq),
        }
    });
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    out
}
