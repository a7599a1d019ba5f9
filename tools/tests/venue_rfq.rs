//! RFQ on the venue with a simulated clock: fan-out to market makers only, hidden side and
//! competing quotes, accept (fill-or-kill) with both sides' ExecutionReports per leg, expiry of
//! quotes and requests on tick, withdrawal, and every reject reason.

mod venue_support;

use fixp_tools::venue::exchange::VenueSettings;
use fixp_tools::venue::message::*;
use fixp_tools::venue::rfq::RfqSettings;
use fixp_tools::venue::types::*;
use fixp_tools::venue::{Outbound, SessionRef};
use venue_support::*;

const C100: &str = "BTC-27MAR26-100000-C";
const C110: &str = "BTC-27MAR26-110000-C";

struct Rfq {
    h: Harness,
    taker: SessionRef,
    mm1: SessionRef,
    mm2: SessionRef,
    trader: SessionRef,
}

fn setup(settings: RfqSettings) -> Rfq {
    let mut h = Harness::new(VenueSettings {
        rfq: settings,
        ..VenueSettings::default()
    });
    let taker = h.join(1, false);
    let mm1 = h.join(2, true);
    let mm2 = h.join(3, true);
    let trader = h.join(4, false);
    Rfq {
        h,
        taker,
        mm1,
        mm2,
        trader,
    }
}

fn request(id: &str, side: Option<Side>, size: &str, legs: &[(&str, Side, u32)]) -> QuoteRequest {
    QuoteRequest {
        quote_req_id: cid(id),
        side,
        order_qty: qty(size),
        expire_time: None,
        transact_time: T0,
        legs: legs
            .iter()
            .map(|(s, side, ratio)| Leg {
                symbol: sym(s),
                side: *side,
                ratio: *ratio,
            })
            .collect(),
    }
}

fn quote(cl: &str, rfq_id: u64, side: Side, price: &str, size: &str) -> Quote {
    Quote {
        cl_quote_id: cid(cl),
        rfq_id,
        side,
        price: px(price),
        order_qty: qty(size),
        valid_until: None,
        all_or_none: false,
        transact_time: T0,
        leg_prices: Vec::new(),
    }
}

fn accept(cl: &str, rfq_id: u64, quote_id: u64, size: &str) -> QuoteAccept {
    QuoteAccept {
        cl_ord_id: cid(cl),
        rfq_id,
        quote_id,
        order_qty: qty(size),
        transact_time: T0,
    }
}

fn rfq_status(messages: &[VenueMessage]) -> Vec<QuoteRequestStatus> {
    messages
        .iter()
        .filter_map(|m| match m {
            VenueMessage::QuoteRequestStatus(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

fn quote_status(messages: &[VenueMessage]) -> Vec<QuoteStatusReport> {
    messages
        .iter()
        .filter_map(|m| match m {
            VenueMessage::QuoteStatusReport(s) => Some(s.clone()),
            _ => None,
        })
        .collect()
}

/// Opens a single-leg request from the taker; returns its id.
fn open(r: &mut Rfq, side: Option<Side>, size: &str) -> u64 {
    let out =
        r.h.send(r.taker, request("r1", side, size, &[(C100, Side::Buy, 1)]));
    let s = &rfq_status(&to(&out, r.taker))[0];
    assert_eq!(s.status, RfqStatus::Open);
    s.rfq_id
}

/// A maker quotes; returns the venue's quote id.
fn quote_id(h: &mut Harness, maker: SessionRef, q: Quote) -> u64 {
    let out = h.send(maker, q);
    let mine = quote_status(&to(&out, maker));
    assert_eq!(mine[0].status, QuoteStatus::Open, "{mine:?}");
    mine[0].quote_id.unwrap()
}

fn accept_reject(out: &[Outbound], session: SessionRef) -> Option<RejectReason> {
    reports(&to(out, session)).first().and_then(|er| {
        assert_eq!(er.ord_status, OrdStatus::Rejected);
        er.reject_reason
    })
}

#[test]
fn request_fans_out_to_market_makers_only_without_the_side() {
    let mut r = setup(RfqSettings::default());
    let out = r.h.send(
        r.taker,
        request("r1", Some(Side::Buy), "25", &[(C100, Side::Buy, 1)]),
    );
    let mine = rfq_status(&to(&out, r.taker));
    assert_eq!(
        (mine[0].quote_req_id, mine[0].side, mine[0].expire_time),
        (cid("r1"), Some(Side::Buy), T0 + 60_000 * MS)
    );
    for mm in [r.mm1, r.mm2] {
        let seen = rfq_status(&to(&out, mm));
        assert_eq!(seen.len(), 1);
        assert_eq!(
            (seen[0].status, seen[0].side, seen[0].quote_req_id),
            (RfqStatus::Open, None, ClientId::EMPTY)
        );
        assert_eq!(seen[0].legs, mine[0].legs);
    }
    assert!(to(&out, r.trader).is_empty());
    assert_eq!(r.h.venue.open_requests().len(), 1);
}

#[test]
fn revealed_side_is_shown_and_enforced() {
    let mut r = setup(RfqSettings {
        reveal_side_to_makers: true,
        ..RfqSettings::default()
    });
    let out = r.h.send(
        r.taker,
        request("r1", Some(Side::Buy), "1", &[(C100, Side::Buy, 1)]),
    );
    let rfq_id = rfq_status(&to(&out, r.taker))[0].rfq_id;
    assert_eq!(rfq_status(&to(&out, r.mm1))[0].side, Some(Side::Buy));
    let out =
        r.h.send(r.mm1, quote("q1", rfq_id, Side::Buy, "0.0125", "1"));
    assert_eq!(
        quote_status(&to(&out, r.mm1))[0].reject_reason,
        Some(RejectReason::SideMismatch)
    );
}

#[test]
fn competing_quotes_accept_fills_both_sides_and_closes_everything() {
    let mut r = setup(RfqSettings::default());
    let rfq_id = open(&mut r, None, "25");
    let q1 = quote_id(
        &mut r.h,
        r.mm1,
        quote("a", rfq_id, Side::Sell, "0.0125", "25"),
    );
    let out =
        r.h.send(r.mm2, quote("b", rfq_id, Side::Sell, "0.012", "30"));
    // The requester sees each quote without the maker's id; the other maker sees nothing.
    let seen = quote_status(&to(&out, r.taker));
    assert_eq!(
        (seen[0].cl_quote_id, seen[0].price, seen[0].status),
        (ClientId::EMPTY, px("0.012"), QuoteStatus::Open)
    );
    assert!(to(&out, r.mm1).is_empty());
    let q2 = seen[0].quote_id.unwrap();
    assert_ne!(q1, q2);
    // The valid-until is now + 2.5 s.
    assert_eq!(seen[0].valid_until, T0 + 2_500 * MS);
    r.h.now += 100 * MS;
    let out = r.h.send(r.taker, accept("buy1", rfq_id, q2, "25"));
    let mine = reports(&to(&out, r.taker));
    let theirs = reports(&to(&out, r.mm2));
    assert_eq!(mine.len(), 1);
    assert_eq!(
        (
            mine[0].side,
            mine[0].exec_type,
            mine[0].ord_status,
            mine[0].cum_qty,
            mine[0].fills[0].price,
            mine[0].cl_ord_id
        ),
        (
            Side::Buy,
            ExecType::Trade,
            OrdStatus::Filled,
            qty("25"),
            px("0.012"),
            cid("buy1")
        )
    );
    assert_eq!(
        (
            theirs[0].side,
            theirs[0].cl_ord_id,
            theirs[0].quote_id,
            theirs[0].rfq_id
        ),
        (Side::Sell, cid("b"), Some(q2), Some(rfq_id))
    );
    assert_eq!(mine[0].fills[0].trade_id, theirs[0].fills[0].trade_id);
    assert_eq!(rfq_status(&to(&out, r.taker))[0].status, RfqStatus::Filled);
    assert_eq!(
        quote_status(&to(&out, r.mm2))[0].status,
        QuoteStatus::Filled
    );
    // The losing maker is told its request filled and its quote is canceled.
    assert_eq!(rfq_status(&to(&out, r.mm1))[0].status, RfqStatus::Filled);
    assert_eq!(
        quote_status(&to(&out, r.mm1))[0].status,
        QuoteStatus::Canceled
    );
    assert!(r.h.venue.open_requests().is_empty());
    // Nothing touched the book.
    assert!(r.h.venue.book(&sym(C100)).is_none());
    // Late messages on the filled request are rejected precisely.
    let out = r.h.send(r.taker, accept("buy2", rfq_id, q1, "25"));
    assert_eq!(
        accept_reject(&out, r.taker),
        Some(RejectReason::RequestFilled)
    );
    let out =
        r.h.send(r.mm1, quote("c", rfq_id, Side::Sell, "0.011", "25"));
    assert_eq!(
        quote_status(&to(&out, r.mm1))[0].reject_reason,
        Some(RejectReason::RequestFilled)
    );
}

#[test]
fn multi_leg_accept_reports_every_leg_with_its_price() {
    let mut r = setup(RfqSettings::default());
    // A call spread: buy 1 C100, sell 2 C110 per unit.
    let out = r.h.send(
        r.taker,
        request(
            "s",
            None,
            "2",
            &[(C100, Side::Buy, 1), (C110, Side::Sell, 2)],
        ),
    );
    let rfq_id = rfq_status(&to(&out, r.taker))[0].rfq_id;
    let mut q = quote("q", rfq_id, Side::Buy, "0.003", "2");
    q.leg_prices = vec![px("0.012"), px("0.005")];
    let out = r.h.send(r.mm1, q.clone());
    assert_eq!(
        quote_status(&to(&out, r.mm1))[0].reject_reason,
        Some(RejectReason::LegPricesMismatch)
    );
    q.price = px("0.002");
    q.leg_prices = vec![px("0.012"), px("0.005")]; // 0.012 − 2 × 0.005 = 0.002
    let qid = quote_id(&mut r.h, r.mm1, q);
    // The maker bids: the requester sells the package.
    let out = r.h.send(r.taker, accept("a", rfq_id, qid, "2"));
    let mine: Vec<(Symbol, Side, Qty, Price)> = reports(&to(&out, r.taker))
        .iter()
        .map(|e| (e.symbol, e.side, e.cum_qty, e.fills[0].price))
        .collect();
    assert_eq!(
        mine,
        vec![
            (sym(C100), Side::Sell, qty("2"), px("0.012")),
            (sym(C110), Side::Buy, qty("4"), px("0.005"))
        ]
    );
    let theirs: Vec<(Symbol, Side)> = reports(&to(&out, r.mm1))
        .iter()
        .map(|e| (e.symbol, e.side))
        .collect();
    assert_eq!(
        theirs,
        vec![(sym(C100), Side::Buy), (sym(C110), Side::Sell)]
    );
}

#[test]
fn quotes_expire_and_an_expired_or_withdrawn_quote_is_rejected() {
    let mut r = setup(RfqSettings::default());
    let rfq_id = open(&mut r, None, "1");
    let q1 = quote_id(
        &mut r.h,
        r.mm1,
        quote("a", rfq_id, Side::Sell, "0.0125", "1"),
    );
    let mut long = quote("b", rfq_id, Side::Sell, "0.013", "1");
    long.valid_until = Some(T0 + 10_000 * MS); // capped to 2.5 s
    r.h.now += 1_000 * MS;
    let q2 = quote_id(&mut r.h, r.mm2, long);
    // At 2.5 s the first quote ends; its maker and the requester are told.
    let out = r.h.advance(1_500 * MS);
    assert_eq!(
        quote_status(&to(&out, r.mm1))[0].status,
        QuoteStatus::Expired
    );
    assert_eq!(
        quote_status(&to(&out, r.taker))
            .iter()
            .map(|q| q.quote_id)
            .collect::<Vec<_>>(),
        vec![Some(q1)]
    );
    assert!(to(&out, r.mm2).is_empty());
    let out = r.h.send(r.taker, accept("x", rfq_id, q1, "1"));
    assert_eq!(
        accept_reject(&out, r.taker),
        Some(RejectReason::QuoteExpired)
    );
    // An accept at the quote's valid-until, before any tick, also finds it expired.
    r.h.now = T0 + 3_500 * MS;
    let out = r.h.send(r.taker, accept("y", rfq_id, q2, "1"));
    assert_eq!(
        accept_reject(&out, r.taker),
        Some(RejectReason::QuoteExpired)
    );
    assert_eq!(
        quote_status(&to(&out, r.mm2))[0].status,
        QuoteStatus::Expired
    );
    // Withdrawn.
    let q3 = quote_id(
        &mut r.h,
        r.mm1,
        quote("c", rfq_id, Side::Sell, "0.0125", "1"),
    );
    let out = r.h.send(
        r.mm1,
        QuoteCancel {
            cl_quote_id: cid("c"),
            rfq_id,
            transact_time: T0,
        },
    );
    assert_eq!(
        quote_status(&to(&out, r.mm1))[0].status,
        QuoteStatus::Withdrawn
    );
    assert_eq!(
        quote_status(&to(&out, r.taker))[0].status,
        QuoteStatus::Withdrawn
    );
    let out = r.h.send(r.taker, accept("z", rfq_id, q3, "1"));
    assert_eq!(
        accept_reject(&out, r.taker),
        Some(RejectReason::QuoteWithdrawn)
    );
    let out = r.h.send(
        r.mm1,
        QuoteCancel {
            cl_quote_id: cid("c"),
            rfq_id,
            transact_time: T0,
        },
    );
    assert_eq!(
        quote_status(&to(&out, r.mm1))[0].reject_reason,
        Some(RejectReason::UnknownQuote)
    );
}

#[test]
fn requests_expire_on_tick_and_quotes_end_with_them() {
    let mut r = setup(RfqSettings {
        request_ttl_ns: 10_000 * MS,
        quote_ttl_ns: 20_000 * MS,
        ..RfqSettings::default()
    });
    let rfq_id = open(&mut r, None, "1");
    let qid = quote_id(
        &mut r.h,
        r.mm1,
        quote("a", rfq_id, Side::Sell, "0.0125", "1"),
    );
    assert!(r.h.advance(9_999 * MS).is_empty());
    let out = r.h.advance(MS);
    assert_eq!(rfq_status(&to(&out, r.taker))[0].status, RfqStatus::Expired);
    assert_eq!(rfq_status(&to(&out, r.mm2))[0].status, RfqStatus::Expired);
    assert_eq!(
        quote_status(&to(&out, r.mm1))[0].status,
        QuoteStatus::Expired
    );
    assert!(r.h.advance(MS).is_empty(), "expiry is reported once");
    let out = r.h.send(r.taker, accept("x", rfq_id, qid, "1"));
    assert_eq!(
        accept_reject(&out, r.taker),
        Some(RejectReason::RequestExpired)
    );
}

#[test]
fn accept_rejects_leave_the_request_open() {
    let mut r = setup(RfqSettings::default());
    let rfq_id = open(&mut r, Some(Side::Buy), "25");
    let small = quote_id(
        &mut r.h,
        r.mm1,
        quote("s", rfq_id, Side::Sell, "0.0125", "10"),
    );
    let mut aon = quote("n", rfq_id, Side::Sell, "0.0125", "30");
    aon.all_or_none = true;
    let aon = quote_id(&mut r.h, r.mm2, aon);
    let bid = quote_id(
        &mut r.h,
        r.mm1,
        quote("b", rfq_id, Side::Buy, "0.0115", "25"),
    );
    let good = quote_id(
        &mut r.h,
        r.mm2,
        quote("g", rfq_id, Side::Sell, "0.013", "25"),
    );
    for (who, a, reason) in [
        (
            r.trader,
            accept("x", rfq_id, good, "25"),
            RejectReason::WrongRequester,
        ),
        (
            r.taker,
            accept("x", 999, good, "25"),
            RejectReason::UnknownRequest,
        ),
        (
            r.taker,
            accept("x", rfq_id, 999, "25"),
            RejectReason::UnknownQuote,
        ),
        (
            r.taker,
            accept("x", rfq_id, good, "20"),
            RejectReason::SizeMismatch,
        ),
        (
            r.taker,
            accept("x", rfq_id, small, "25"),
            RejectReason::SizeMismatch,
        ),
        (
            r.taker,
            accept("x", rfq_id, aon, "25"),
            RejectReason::SizeMismatch,
        ),
        (
            r.taker,
            accept("x", rfq_id, bid, "25"),
            RejectReason::SideMismatch,
        ),
    ] {
        let out = r.h.send(who, a);
        assert_eq!(accept_reject(&out, who), Some(reason));
        assert_eq!(out.len(), 1, "{reason:?}: only the reject");
    }
    let out = r.h.send(r.taker, accept("ok", rfq_id, good, "25"));
    assert_eq!(reports(&to(&out, r.taker))[0].ord_status, OrdStatus::Filled);
}

#[test]
fn request_and_quote_rejects() {
    let mut r = setup(RfqSettings {
        max_open_requests_per_session: 1,
        max_open_quotes_per_session: 1,
        ..RfqSettings::default()
    });
    let check = |out: &[Outbound], to_: SessionRef, reason: RejectReason| {
        let s = &rfq_status(&to(out, to_))[0];
        assert_eq!(
            (s.status, s.reject_reason),
            (RfqStatus::Rejected, Some(reason))
        );
        assert!(!s.text.is_empty());
    };
    let t = r.taker;
    check(
        &r.h.send(t, request("r", None, "1", &[])),
        t,
        RejectReason::InvalidLegs,
    );
    check(
        &r.h.send(t, request("r", None, "1", &[(C100, Side::Buy, 0)])),
        t,
        RejectReason::InvalidLegs,
    );
    check(
        &r.h.send(
            t,
            request(
                "r",
                None,
                "1",
                &[(C100, Side::Buy, 1), (C100, Side::Sell, 1)],
            ),
        ),
        t,
        RejectReason::InvalidLegs,
    );
    let five: Vec<(&str, Side, u32)> = ["90000", "100000", "110000"]
        .iter()
        .flat_map(|k| {
            [("C", Side::Buy), ("P", Side::Sell)].map(|(l, s)| {
                (
                    Box::leak(format!("BTC-27MAR26-{k}-{l}").into_boxed_str()) as &str,
                    s,
                    1,
                )
            })
        })
        .take(5)
        .collect();
    check(
        &r.h.send(t, request("r", None, "1", &five)),
        t,
        RejectReason::InvalidLegs,
    );
    check(
        &r.h.send(t, request("r", None, "1", &[("XRP-PERP", Side::Buy, 1)])),
        t,
        RejectReason::UnknownInstrument,
    );
    check(
        &r.h.send(t, request("r", None, "0.15", &[(C100, Side::Buy, 1)])),
        t,
        RejectReason::QtyNotOnLot,
    );
    let mut past = request("r", None, "1", &[(C100, Side::Buy, 1)]);
    past.expire_time = Some(T0);
    check(&r.h.send(t, past), t, RejectReason::InvalidExpiry);
    let mut far = request("r", None, "1", &[(C100, Side::Buy, 1)]);
    far.expire_time = Some(T0 + 3_600_000 * MS);
    let out = r.h.send(t, far);
    let rfq_id = rfq_status(&to(&out, t))[0].rfq_id;
    assert_eq!(
        rfq_status(&to(&out, t))[0].expire_time,
        T0 + 300_000 * MS,
        "capped to the maximum"
    );
    check(
        &r.h.send(t, request("r2", None, "1", &[(C100, Side::Buy, 1)])),
        t,
        RejectReason::TooManyOpenRequests,
    );
    // Quotes.
    let quote_reject = |h: &mut Harness, who: SessionRef, q: Quote| {
        quote_status(&to(&h.send(who, q), who))[0].reject_reason
    };
    assert_eq!(
        quote_reject(
            &mut r.h,
            r.trader,
            quote("q", rfq_id, Side::Sell, "0.01", "1")
        ),
        Some(RejectReason::NotMarketMaker)
    );
    assert_eq!(
        quote_reject(&mut r.h, r.mm1, quote("q", 999, Side::Sell, "0.01", "1")),
        Some(RejectReason::UnknownRequest)
    );
    assert_eq!(
        quote_reject(
            &mut r.h,
            r.mm1,
            quote("q", rfq_id, Side::Sell, "0.0123", "1")
        ),
        Some(RejectReason::PriceNotOnTick)
    );
    assert_eq!(
        quote_reject(
            &mut r.h,
            r.mm1,
            quote("q", rfq_id, Side::Sell, "0.01", "0.05")
        ),
        Some(RejectReason::QtyNotOnLot)
    );
    let mut stale = quote("q", rfq_id, Side::Sell, "0.01", "1");
    stale.valid_until = Some(T0);
    assert_eq!(
        quote_reject(&mut r.h, r.mm1, stale),
        Some(RejectReason::InvalidExpiry)
    );
    quote_id(&mut r.h, r.mm1, quote("q", rfq_id, Side::Sell, "0.01", "1"));
    assert_eq!(
        quote_reject(
            &mut r.h,
            r.mm1,
            quote("q2", rfq_id, Side::Sell, "0.01", "1")
        ),
        Some(RejectReason::TooManyOpenQuotes)
    );
    // A maker may not quote its own request.
    let out =
        r.h.send(r.mm2, request("own", None, "1", &[(C100, Side::Buy, 1)]));
    let own = rfq_status(&to(&out, r.mm2))[0].rfq_id;
    assert!(
        rfq_status(&to(&out, r.mm1)).len() == 1 && to(&out, r.mm2).len() == 1,
        "not sent to itself"
    );
    assert_eq!(
        quote_reject(&mut r.h, r.mm2, quote("q", own, Side::Sell, "0.01", "1")),
        Some(RejectReason::OwnRequest)
    );
}

#[test]
fn duplicate_ids_and_cancels_of_requests() {
    let mut r = setup(RfqSettings::default());
    let rfq_id = open(&mut r, None, "1");
    let out =
        r.h.send(r.taker, request("r1", None, "1", &[(C100, Side::Buy, 1)]));
    assert_eq!(
        rfq_status(&to(&out, r.taker))[0].reject_reason,
        Some(RejectReason::DuplicateRequestId)
    );
    quote_id(&mut r.h, r.mm1, quote("q", rfq_id, Side::Sell, "0.01", "1"));
    let out = r.h.send(r.mm1, quote("q", rfq_id, Side::Sell, "0.01", "1"));
    assert_eq!(
        quote_status(&to(&out, r.mm1))[0].reject_reason,
        Some(RejectReason::DuplicateQuoteId)
    );
    let cancel = QuoteRequestCancel {
        quote_req_id: cid("r1"),
        rfq_id,
        transact_time: T0,
    };
    let out = r.h.send(r.mm1, cancel.clone());
    assert_eq!(
        rfq_status(&to(&out, r.mm1))[0].reject_reason,
        Some(RejectReason::WrongRequester)
    );
    let out = r.h.send(r.taker, cancel.clone());
    assert_eq!(
        rfq_status(&to(&out, r.taker))[0].status,
        RfqStatus::Canceled
    );
    assert_eq!(rfq_status(&to(&out, r.mm2))[0].status, RfqStatus::Canceled);
    assert_eq!(
        quote_status(&to(&out, r.mm1))[0].status,
        QuoteStatus::Canceled
    );
    let out = r.h.send(r.taker, cancel);
    assert_eq!(
        rfq_status(&to(&out, r.taker))[0].reject_reason,
        Some(RejectReason::RequestCanceled)
    );
}

#[test]
fn a_session_ending_cancels_its_requests_and_withdraws_its_quotes() {
    let mut r = setup(RfqSettings::default());
    let rfq_id = open(&mut r, None, "1");
    quote_id(&mut r.h, r.mm1, quote("q", rfq_id, Side::Sell, "0.01", "1"));
    let mut out = Vec::new();
    r.h.venue.session_ended(r.mm1, r.h.now, &mut out);
    assert_eq!(
        quote_status(&to(&out, r.taker))[0].status,
        QuoteStatus::Withdrawn
    );
    let mut out = Vec::new();
    r.h.venue.session_ended(r.taker, r.h.now, &mut out);
    assert_eq!(rfq_status(&to(&out, r.mm2))[0].status, RfqStatus::Canceled);
    assert!(r.h.venue.open_requests().is_empty());
}

#[test]
fn block_trades_are_published_without_touching_the_book() {
    let mut r = setup(RfqSettings::default());
    let md = r.trader;
    r.h.send(
        md,
        MarketDataRequest {
            md_req_id: 1,
            symbol: sym(C100),
            subscription_type: SubscriptionType::Subscribe,
        },
    );
    let rfq_id = open(&mut r, None, "3");
    let qid = quote_id(
        &mut r.h,
        r.mm1,
        quote("q", rfq_id, Side::Sell, "0.0125", "3"),
    );
    let out = r.h.send(r.taker, accept("a", rfq_id, qid, "3"));
    let trades: Vec<MarketDataTrade> = to(&out, md)
        .into_iter()
        .filter_map(|m| match m {
            VenueMessage::MarketDataTrade(t) => Some(t),
            _ => None,
        })
        .collect();
    assert_eq!(trades.len(), 1);
    assert_eq!(
        (
            trades[0].block,
            trades[0].aggressor_side,
            trades[0].qty,
            trades[0].seq_no
        ),
        (true, None, qty("3"), 1)
    );
}
