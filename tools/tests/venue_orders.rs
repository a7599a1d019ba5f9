//! The order life cycle on the venue: ER New / Trade / Canceled / Rejected with reasons, tick
//! and lot enforcement, OrderCancelReject, Conga clients trading plain symbols beside venue
//! clients, instrument definitions, and rejects of messages the venue does not take.

mod venue_support;

use fixp_tools::venue::exchange::VenueSettings;
use fixp_tools::venue::message::*;
use fixp_tools::venue::orders::OrderSettings;
use fixp_tools::venue::types::*;
use fixp_tools::venue::wire::{self, WireFormat};
use fixp_tools::venue::{AppMessage, Dialect, SessionRef};
use fixp_ws::codec::conga::{self, CongaMessage};
use venue_support::*;

const CALL: &str = "BTC-27MAR26-100000-C";

#[test]
fn resting_limit_gets_new_with_every_field() {
    let mut h = Harness::new(VenueSettings::default());
    let a = h.join(1, false);
    let out = h.limit(a, "o1", CALL, Side::Buy, "0.0115", "0.3");
    assert_eq!(
        to(&out, a)[0],
        VenueMessage::ExecutionReport(ExecutionReport {
            order_id: 1,
            cl_ord_id: cid("o1"),
            exec_id: 1,
            exec_type: ExecType::New,
            ord_status: OrdStatus::New,
            symbol: sym(CALL),
            side: Side::Buy,
            price: Some(px("0.0115")),
            order_qty: qty("0.3"),
            leaves_qty: qty("0.3"),
            cum_qty: Qty::ZERO,
            transact_time: h.now,
            reject_reason: None,
            rfq_id: None,
            quote_id: None,
            fills: Vec::new(),
            text: String::new(),
        })
    );
    assert_eq!(h.venue.open_orders(a), 1);
}

#[test]
fn sweep_reports_each_resting_order_and_one_aggressor_report() {
    let mut h = Harness::new(VenueSettings::default());
    let (maker, taker) = (h.join(1, false), h.join(2, false));
    h.limit(maker, "s1", CALL, Side::Sell, "0.012", "0.2");
    h.limit(maker, "s2", CALL, Side::Sell, "0.012", "0.3");
    h.limit(maker, "s3", CALL, Side::Sell, "0.0125", "0.5");
    let out = h.limit(taker, "b1", CALL, Side::Buy, "0.0125", "0.7");
    let resting = reports(&to(&out, maker));
    let fills: Vec<_> = resting.iter().map(brief).collect();
    let f = |p: &str, q: &str| (p.to_string(), q.to_string());
    assert_eq!(
        fills,
        vec![
            (
                ExecType::Trade,
                OrdStatus::Filled,
                "0".into(),
                "0.2".into(),
                vec![f("0.012", "0.2")]
            ),
            (
                ExecType::Trade,
                OrdStatus::Filled,
                "0".into(),
                "0.3".into(),
                vec![f("0.012", "0.3")]
            ),
            (
                ExecType::Trade,
                OrdStatus::PartiallyFilled,
                "0.3".into(),
                "0.2".into(),
                vec![f("0.0125", "0.2")]
            ),
        ]
    );
    let mine = reports(&to(&out, taker));
    assert_eq!(mine.len(), 1);
    assert_eq!(
        brief(&mine[0]),
        (
            ExecType::Trade,
            OrdStatus::Filled,
            "0".into(),
            "0.7".into(),
            vec![f("0.012", "0.2"), f("0.012", "0.3"), f("0.0125", "0.2")]
        )
    );
    // Both sides of each trade carry the same trade id.
    let ids: Vec<u64> = mine[0].fills.iter().map(|f| f.trade_id).collect();
    let theirs: Vec<u64> = resting.iter().map(|r| r.fills[0].trade_id).collect();
    assert_eq!(ids, theirs);
    assert_eq!(h.venue.open_orders(maker), 1);
    let book = h.venue.book(&sym(CALL)).unwrap();
    assert_eq!(book.levels(Side::Sell).len(), 1);
    assert_eq!(book.levels(Side::Sell)[0].qty, qty("0.3"));
}

#[test]
fn partial_fill_rests_and_market_remainder_is_canceled() {
    let mut h = Harness::new(VenueSettings::default());
    let (maker, taker) = (h.join(1, false), h.join(2, false));
    h.limit(maker, "s1", "BTC-PERP", Side::Sell, "100000.5", "10");
    let out = h.limit(taker, "b1", "BTC-PERP", Side::Buy, "100000.5", "30");
    let er = &reports(&to(&out, taker))[0];
    assert_eq!(
        (er.exec_type, er.ord_status, er.leaves_qty, er.cum_qty),
        (
            ExecType::Trade,
            OrdStatus::PartiallyFilled,
            qty("20"),
            qty("10")
        )
    );
    let out = h.market(maker, "m1", "BTC-PERP", Side::Sell, "50");
    let er = &reports(&to(&out, maker))[0];
    assert_eq!(
        (er.exec_type, er.ord_status, er.leaves_qty, er.cum_qty),
        (
            ExecType::Canceled,
            OrdStatus::Canceled,
            Qty::ZERO,
            qty("20")
        )
    );
    assert!(h
        .venue
        .book(&sym("BTC-PERP"))
        .unwrap()
        .all_levels()
        .is_empty());
    let out = h.market(maker, "m2", "BTC-PERP", Side::Sell, "10");
    let er = &reports(&to(&out, maker))[0];
    assert_eq!(
        (er.exec_type, er.ord_status, er.cum_qty),
        (ExecType::Canceled, OrdStatus::Canceled, Qty::ZERO)
    );
}

#[test]
fn bad_orders_are_rejected_with_a_reason_and_text() {
    let mut h = Harness::new(VenueSettings {
        orders: OrderSettings {
            max_open_orders_per_session: 2,
            auto_list_conga_symbols: true,
        },
        ..VenueSettings::default()
    });
    let a = h.join(1, false);
    h.limit(a, "dup", CALL, Side::Buy, "0.01", "0.1");
    let cases: Vec<(Vec<fixp_tools::venue::Outbound>, RejectReason)> = vec![
        (
            h.limit(a, "x1", "XRP-PERP", Side::Buy, "1", "1"),
            RejectReason::UnknownInstrument,
        ),
        (
            h.limit(a, "x2", CALL, Side::Buy, "0.0123", "0.1"),
            RejectReason::PriceNotOnTick,
        ),
        (
            h.limit(a, "x3", CALL, Side::Buy, "-0.0005", "0.1"),
            RejectReason::InvalidPrice,
        ),
        (
            h.limit(a, "x4", CALL, Side::Buy, "0.01", "0.15"),
            RejectReason::QtyNotOnLot,
        ),
        (
            h.limit(a, "x5", CALL, Side::Buy, "0.01", "0"),
            RejectReason::InvalidQty,
        ),
        (
            h.limit(a, "x6", "BTC-PERP", Side::Buy, "100000", "5"),
            RejectReason::QtyNotOnLot,
        ),
        (
            h.limit(a, "dup", CALL, Side::Buy, "0.01", "0.1"),
            RejectReason::DuplicateClOrdId,
        ),
        (
            h.send(
                a,
                NewOrderSingle {
                    cl_ord_id: cid("x7"),
                    symbol: sym(CALL),
                    side: Side::Buy,
                    ord_type: OrdType::Limit,
                    price: None,
                    order_qty: qty("0.1"),
                    transact_time: 0,
                },
            ),
            RejectReason::MissingPrice,
        ),
        (
            h.send(
                a,
                NewOrderSingle {
                    cl_ord_id: cid("x8"),
                    symbol: sym(CALL),
                    side: Side::Buy,
                    ord_type: OrdType::Market,
                    price: Some(px("0.01")),
                    order_qty: qty("0.1"),
                    transact_time: 0,
                },
            ),
            RejectReason::InvalidPrice,
        ),
    ];
    for (out, reason) in cases {
        let er = &reports(&to(&out, a))[0];
        assert_eq!(
            (er.exec_type, er.ord_status, er.reject_reason),
            (ExecType::Rejected, OrdStatus::Rejected, Some(reason))
        );
        assert_eq!(er.order_id, 0);
        assert!(!er.text.is_empty(), "{reason:?} has a text");
        assert_eq!(out.len(), 1, "a reject publishes nothing");
    }
    h.limit(a, "ok2", CALL, Side::Buy, "0.01", "0.1");
    let out = h.limit(a, "x9", CALL, Side::Buy, "0.01", "0.1");
    assert_eq!(
        reports(&to(&out, a))[0].reject_reason,
        Some(RejectReason::TooManyOpenOrders)
    );
    // Below the minimum size: an instrument whose minimum is above its lot.
    let mut config = fixp_tools::venue::config::VenueConfig::from_toml_str(
        "[[instruments]]\nsymbol = \"SOL-PERP\"\nkind = \"perpetual\"\ntick_size = 0.01\nlot_size = 1\nmin_size = 5\n",
    )
    .unwrap();
    config.venue.default_instruments = false;
    let mut h2 = Harness {
        venue: fixp_tools::venue::exchange::Venue::new(
            config.venue_settings(),
            config.instrument_table(),
        ),
        now: T0,
    };
    let out = h2.limit(a, "x", "SOL-PERP", Side::Buy, "1", "3");
    assert_eq!(
        reports(&to(&out, a))[0].reject_reason,
        Some(RejectReason::BelowMinSize)
    );
}

#[test]
fn cancels_and_cancel_rejects() {
    let mut h = Harness::new(VenueSettings::default());
    let (a, b) = (h.join(1, false), h.join(2, false));
    h.limit(a, "o1", CALL, Side::Buy, "0.01", "0.5");
    let out = h.cancel(a, "c1", "o1", CALL, Side::Buy);
    let er = &reports(&to(&out, a))[0];
    assert_eq!(
        (er.exec_type, er.ord_status, er.cl_ord_id, er.order_id),
        (ExecType::Canceled, OrdStatus::Canceled, cid("o1"), 1)
    );
    let out = h.cancel(a, "c2", "o1", CALL, Side::Buy);
    let VenueMessage::OrderCancelReject(rej) = &to(&out, a)[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (rej.cl_ord_id, rej.orig_cl_ord_id, rej.cxl_rej_reason),
        (cid("c2"), cid("o1"), CxlRejReason::UnknownOrder)
    );
    // Another session cannot cancel a's order.
    h.limit(a, "o2", CALL, Side::Buy, "0.01", "0.5");
    let out = h.cancel(b, "c3", "o2", CALL, Side::Buy);
    assert!(matches!(to(&out, b)[0], VenueMessage::OrderCancelReject(_)));
    assert!(to(&out, a).is_empty());
    // A filled order is gone.
    h.limit(b, "s1", CALL, Side::Sell, "0.01", "0.5");
    let out = h.cancel(a, "c4", "o2", CALL, Side::Buy);
    assert!(matches!(to(&out, a)[0], VenueMessage::OrderCancelReject(_)));
    // The ClOrdId of a closed order may be used again.
    let out = h.limit(a, "o1", CALL, Side::Buy, "0.01", "0.5");
    assert_eq!(reports(&to(&out, a))[0].exec_type, ExecType::New);
}

#[test]
fn orders_are_canceled_when_a_session_ends_if_configured() {
    for cancel in [false, true] {
        let mut h = Harness::new(VenueSettings {
            cancel_orders_on_session_end: cancel,
            ..VenueSettings::default()
        });
        let a = h.join(1, false);
        h.limit(a, "o1", CALL, Side::Buy, "0.01", "0.5");
        h.limit(a, "o2", CALL, Side::Buy, "0.0105", "0.5");
        let mut out = Vec::new();
        h.venue.session_ended(a, h.now, &mut out);
        let canceled: Vec<ClientId> = reports(&to(&out, a)).iter().map(|r| r.cl_ord_id).collect();
        if cancel {
            assert_eq!(canceled, vec![cid("o1"), cid("o2")]);
            assert!(h.venue.book(&sym(CALL)).unwrap().all_levels().is_empty());
        } else {
            assert!(canceled.is_empty());
            assert_eq!(h.venue.book(&sym(CALL)).unwrap().levels(Side::Buy).len(), 2);
        }
    }
}

fn conga_json(frame: &str) -> AppMessage {
    wire::decode(frame.as_bytes(), WireFormat::Json, Dialect::Conga).unwrap()
}

fn conga_reports(out: &[fixp_tools::venue::Outbound], session: SessionRef) -> Vec<CongaMessage> {
    out.iter()
        .filter(|o| o.to == session)
        .filter_map(|o| match &o.message {
            AppMessage::Conga(m) => Some(*m),
            AppMessage::Venue(_) => None,
        })
        .collect()
}

#[test]
fn a_conga_client_trades_plain_symbols_beside_venue_clients() {
    let mut h = Harness::new(VenueSettings::default());
    let (py, v) = (h.join(1, false), h.join(2, false));
    // The Python test's order: a symbol the table lacks, listed on first use.
    let order = conga_json(
        r#"{"clOrdId":"py1","orderQty":5,"ordType":"Limit","price":73.45,"side":"Buy","symbol":"PYCO","transactTime":"2026-01-01T00:00:00.5Z","@type":"NewOrderSingle"}"#,
    );
    let mut out = Vec::new();
    h.venue.handle(py, &order, h.now, &mut out);
    let CongaMessage::ExecutionReport(er) = &conga_reports(&out, py)[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (
            er.cl_ord_id.as_str(),
            er.exec_type,
            er.ord_status,
            er.leaves_qty
        ),
        ("py1", conga::ExecType::New, conga::OrdStatus::New, 5)
    );
    let mut text = [0u8; 512];
    let n = wire::encode(
        &conga_reports(&out, py)[0].into(),
        WireFormat::Json,
        &mut text,
    )
    .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&text[..n]).unwrap();
    assert_eq!(json["leavesQty"], 5);
    // A venue client sells into it at the Conga price, with the venue's precision.
    let out = h.limit(v, "s1", "PYCO", Side::Sell, "73.45", "2");
    let CongaMessage::ExecutionReport(er) = &conga_reports(&out, py)[0] else {
        panic!()
    };
    assert_eq!(
        (er.exec_type, er.ord_status, er.leaves_qty, er.cum_qty),
        (
            conga::ExecType::Trade,
            conga::OrdStatus::PartiallyFilled,
            3,
            2
        )
    );
    assert_eq!(
        er.fills.as_slice(),
        &[conga::Fill {
            fill_px: conga::Price(7345),
            fill_qty: 2
        }]
    );
    assert_eq!(reports(&to(&out, v))[0].fills[0].price, px("73.45"));
    // Cancel the rest the Conga way (the order's own ClOrdId), in SBE.
    let cancel = CongaMessage::OrderCancelRequest(conga::OrderCancelRequest {
        cl_ord_id: conga::Id8::new("py1").unwrap(),
        symbol: conga::Id8::new("PYCO").unwrap(),
        side: conga::Side::Buy,
        transact_time: h.now,
    });
    let mut sbe = [0u8; 128];
    let n = cancel.encode_sbe(&mut sbe).unwrap();
    let decoded = wire::decode(&sbe[..n], WireFormat::Sbe, Dialect::Venue).unwrap();
    let mut out = Vec::new();
    h.venue.handle(py, &decoded, h.now, &mut out);
    let CongaMessage::ExecutionReport(er) = &conga_reports(&out, py)[0] else {
        panic!()
    };
    assert_eq!(
        (er.exec_type, er.cum_qty, er.leaves_qty),
        (conga::ExecType::Canceled, 2, 0)
    );
    let mut out = Vec::new();
    h.venue.handle(py, &decoded, h.now, &mut out);
    assert!(matches!(
        conga_reports(&out, py)[0],
        CongaMessage::OrderCancelReject(_)
    ));
    // BTC-PERP (tick 0.5, lot 10) fits Conga's precision; an option symbol does not fit char[8].
    let order = conga_json(
        r#"{"clOrdId":"p2","orderQty":10,"ordType":"Limit","price":100000.5,"side":"Sell","symbol":"BTC-PERP","transactTime":"2026-01-01T00:00:00Z","@type":"NewOrderSingle"}"#,
    );
    let mut out = Vec::new();
    h.venue.handle(py, &order, h.now, &mut out);
    assert!(
        matches!(&conga_reports(&out, py)[0], CongaMessage::ExecutionReport(er) if er.exec_type == conga::ExecType::New)
    );
}

#[test]
fn conga_orders_on_instruments_finer_than_conga_are_rejected() {
    let config = fixp_tools::venue::config::VenueConfig::from_toml_str(
        "[venue]\nauto_list_conga_symbols = false\n[[instruments]]\nsymbol = \"FINE\"\nkind = \"perpetual\"\ntick_size = \"0.001\"\nlot_size = 1\n",
    )
    .unwrap();
    let mut h = Harness {
        venue: fixp_tools::venue::exchange::Venue::new(
            config.venue_settings(),
            config.instrument_table(),
        ),
        now: T0,
    };
    let c = h.join(1, false);
    for (symbol, rejected) in [("FINE", true), ("NOPE", true), ("ETH-PERP", false)] {
        let frame = format!(
            r#"{{"clOrdId":"c","orderQty":1,"ordType":"Limit","price":3000.05,"side":"Buy","symbol":"{symbol}","transactTime":"2026-01-01T00:00:00Z","@type":"NewOrderSingle"}}"#
        );
        let mut out = Vec::new();
        h.venue.handle(c, &conga_json(&frame), h.now, &mut out);
        let CongaMessage::ExecutionReport(er) = &conga_reports(&out, c)[0] else {
            panic!()
        };
        assert_eq!(
            er.ord_status == conga::OrdStatus::Rejected,
            rejected,
            "{symbol}"
        );
        if !rejected {
            let cancel = conga_json(
                r#"{"clOrdId":"c","symbol":"ETH-PERP","side":"Buy","transactTime":"2026-01-01T00:00:00Z","@type":"OrderCancelRequest"}"#,
            );
            h.venue.handle(c, &cancel, h.now, &mut out);
        }
    }
    assert!(h.venue.instruments().get(&sym("NOPE")).is_none());
}

#[test]
fn instrument_list_and_messages_the_venue_does_not_take() {
    let mut h = Harness::new(VenueSettings::default());
    let a = h.join(1, false);
    let out = to(&h.send(a, InstrumentListRequest { request_id: 5 }), a);
    assert_eq!(out.len(), 26);
    assert!(out.iter().all(|m| matches!(m, VenueMessage::InstrumentDefinition(d) if d.request_id == 5 && d.total_instruments == 26)));
    let er = reports(&to(&h.limit(a, "o1", CALL, Side::Buy, "0.01", "0.1"), a))[0].clone();
    let out = to(&h.send(a, er), a);
    let VenueMessage::BusinessMessageReject(r) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!(
        (r.ref_template_id, r.ref_schema_id, r.reject_reason),
        (12, 101, RejectReason::UnsupportedMessage)
    );
    let frame = [8u8, 0, 99, 0, 101, 0, 0, 0];
    let err = wire::decode(&frame, WireFormat::Sbe, Dialect::Venue).unwrap_err();
    let reply = h.venue.undecodable(a, &frame, WireFormat::Sbe, &err);
    let AppMessage::Venue(VenueMessage::BusinessMessageReject(r)) = reply.message else {
        panic!()
    };
    assert_eq!(
        (r.ref_template_id, r.ref_schema_id, r.reject_reason),
        (99, 101, RejectReason::InvalidMessage)
    );
    assert_eq!(r.text, "unknown template 99 in schema 101");
}

#[test]
fn json_dialect_decides_only_the_shared_types() {
    let nos = r#"{"clOrdId":"c","orderQty":1,"ordType":"Limit","price":1.5,"side":"Buy","symbol":"ETH-PERP","transactTime":"2026-01-01T00:00:00Z","@type":"NewOrderSingle"}"#;
    assert!(matches!(
        wire::decode(nos.as_bytes(), WireFormat::Json, Dialect::Conga),
        Ok(AppMessage::Conga(_))
    ));
    assert!(matches!(
        wire::decode(nos.as_bytes(), WireFormat::Json, Dialect::Venue),
        Ok(AppMessage::Venue(_))
    ));
    let md = r#"{"mdReqId":1,"symbol":"ETH-PERP","subscriptionType":"Subscribe","@type":"MarketDataRequest"}"#;
    assert!(matches!(
        wire::decode(md.as_bytes(), WireFormat::Json, Dialect::Conga),
        Ok(AppMessage::Venue(_))
    ));
    assert!(wire::decode(b"[]", WireFormat::Json, Dialect::Conga).is_err());
    assert!(wire::decode(b"\x01", WireFormat::Sbe, Dialect::Conga).is_err());
}
