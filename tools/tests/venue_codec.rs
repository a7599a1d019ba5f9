//! The venue messages: SBE ↔ model ↔ JSON round trips for every message, exact JSON text, and
//! bad input (truncated, mutated, malformed) giving typed errors, never a panic.

use std::collections::BTreeSet;

use fixp_tools::venue::instrument::InstrumentTable;
use fixp_tools::venue::message::*;
use fixp_tools::venue::types::*;
use fixp_ws::codec::{DecodeError, EncodeError};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};

const T0: u64 = 1_774_598_400_123_456_789;

fn sym(s: &str) -> Symbol {
    Symbol::new(s).unwrap()
}

fn cid(s: &str) -> ClientId {
    ClientId::new(s).unwrap()
}

fn px(s: &str) -> Price {
    Price::parse(s).unwrap()
}

fn qty(s: &str) -> Qty {
    Qty::parse(s).unwrap()
}

fn legs() -> Vec<Leg> {
    vec![
        Leg {
            symbol: sym("BTC-27MAR26-100000-C"),
            side: Side::Buy,
            ratio: 1,
        },
        Leg {
            symbol: sym("BTC-27MAR26-110000-C"),
            side: Side::Sell,
            ratio: 2,
        },
    ]
}

/// Every message, with its optional parts both present and absent.
fn samples() -> Vec<VenueMessage> {
    let table = InstrumentTable::default_set();
    let option = *table.get(&sym("BTC-27MAR26-100000-C")).unwrap();
    let perp = *table.get(&sym("BTC-PERP")).unwrap();
    let er = ExecutionReport {
        order_id: 42,
        cl_ord_id: cid("o-1"),
        exec_id: 7,
        exec_type: ExecType::Trade,
        ord_status: OrdStatus::PartiallyFilled,
        symbol: option.symbol,
        side: Side::Buy,
        price: Some(px("0.0125")),
        order_qty: qty("1.5"),
        leaves_qty: qty("0.5"),
        cum_qty: qty("1"),
        transact_time: T0,
        reject_reason: None,
        rfq_id: None,
        quote_id: None,
        fills: vec![
            Fill {
                price: px("0.012"),
                qty: qty("0.4"),
                trade_id: 1,
            },
            Fill {
                price: px("0.0125"),
                qty: qty("0.6"),
                trade_id: 2,
            },
        ],
        text: String::new(),
    };
    let levels = vec![
        Level {
            side: Side::Buy,
            price: px("0.0115"),
            qty: qty("2"),
            order_count: 2,
        },
        Level {
            side: Side::Sell,
            price: px("0.013"),
            qty: qty("0.1"),
            order_count: 1,
        },
    ];
    vec![
        InstrumentListRequest {
            request_id: u64::MAX,
        }
        .into(),
        InstrumentDefinition {
            request_id: 3,
            total_instruments: 26,
            instrument: option,
        }
        .into(),
        InstrumentDefinition {
            request_id: 0,
            total_instruments: 26,
            instrument: perp,
        }
        .into(),
        NewOrderSingle {
            cl_ord_id: cid("0123456789abcdef"),
            symbol: sym("BTC-27MAR26-100000-C"),
            side: Side::Buy,
            ord_type: OrdType::Limit,
            price: Some(px("0.0125")),
            order_qty: qty("0.1"),
            transact_time: T0,
        }
        .into(),
        NewOrderSingle {
            cl_ord_id: cid("m"),
            symbol: sym("BTC-PERP"),
            side: Side::Sell,
            ord_type: OrdType::Market,
            price: None,
            order_qty: qty("10"),
            transact_time: 0,
        }
        .into(),
        OrderCancelRequest {
            cl_ord_id: cid("c-1"),
            orig_cl_ord_id: cid("o-1"),
            symbol: sym("BTC-PERP"),
            side: Side::Buy,
            transact_time: T0,
        }
        .into(),
        er.clone().into(),
        ExecutionReport {
            order_id: 0,
            exec_type: ExecType::Rejected,
            ord_status: OrdStatus::Rejected,
            price: None,
            leaves_qty: Qty::ZERO,
            cum_qty: Qty::ZERO,
            reject_reason: Some(RejectReason::PriceNotOnTick),
            rfq_id: Some(9),
            quote_id: Some(11),
            fills: Vec::new(),
            text: "price 0.0123 is not on the tick 0.0005 \"quoted\" \\ é\n".to_string(),
            ..er
        }
        .into(),
        OrderCancelReject {
            order_id: Some(5),
            cl_ord_id: cid("c-2"),
            orig_cl_ord_id: cid("o-9"),
            ord_status: OrdStatus::Filled,
            cxl_rej_reason: CxlRejReason::TooLateToCancel,
            transact_time: T0,
            text: "filled".to_string(),
        }
        .into(),
        OrderCancelReject {
            order_id: None,
            cl_ord_id: cid("c-3"),
            orig_cl_ord_id: cid("nope"),
            ord_status: OrdStatus::Rejected,
            cxl_rej_reason: CxlRejReason::UnknownOrder,
            transact_time: T0,
            text: String::new(),
        }
        .into(),
        QuoteRequest {
            quote_req_id: cid("r-1"),
            side: Some(Side::Buy),
            order_qty: qty("25"),
            expire_time: Some(T0 + 300_000_000_000),
            transact_time: T0,
            legs: legs(),
        }
        .into(),
        QuoteRequest {
            quote_req_id: cid("r-2"),
            side: None,
            order_qty: qty("1"),
            expire_time: None,
            transact_time: T0,
            legs: legs()[..1].to_vec(),
        }
        .into(),
        QuoteRequestCancel {
            quote_req_id: cid("r-1"),
            rfq_id: 17,
            transact_time: T0,
        }
        .into(),
        QuoteRequestStatus {
            rfq_id: 17,
            quote_req_id: cid("r-1"),
            status: RfqStatus::Open,
            side: Some(Side::Sell),
            order_qty: qty("25"),
            expire_time: T0 + 1,
            reject_reason: None,
            transact_time: T0,
            legs: legs(),
            text: String::new(),
        }
        .into(),
        QuoteRequestStatus {
            rfq_id: 0,
            quote_req_id: ClientId::EMPTY,
            status: RfqStatus::Rejected,
            side: None,
            order_qty: qty("25"),
            expire_time: T0,
            reject_reason: Some(RejectReason::InvalidLegs),
            transact_time: T0,
            legs: Vec::new(),
            text: "no legs".to_string(),
        }
        .into(),
        Quote {
            cl_quote_id: cid("q-1"),
            rfq_id: 17,
            side: Side::Sell,
            price: px("-0.0035"),
            order_qty: qty("25"),
            valid_until: Some(T0 + 2_500_000_000),
            all_or_none: true,
            transact_time: T0,
            leg_prices: vec![px("0.0125"), px("0.008")],
        }
        .into(),
        Quote {
            cl_quote_id: cid("q-2"),
            rfq_id: 18,
            side: Side::Buy,
            price: px("0.0125"),
            order_qty: qty("1"),
            valid_until: None,
            all_or_none: false,
            transact_time: T0,
            leg_prices: Vec::new(),
        }
        .into(),
        QuoteCancel {
            cl_quote_id: cid("q-1"),
            rfq_id: 17,
            transact_time: T0,
        }
        .into(),
        QuoteStatusReport {
            quote_id: Some(99),
            cl_quote_id: cid("q-1"),
            rfq_id: 17,
            status: QuoteStatus::Open,
            side: Side::Sell,
            price: px("-0.0035"),
            order_qty: qty("25"),
            valid_until: T0 + 2_500_000_000,
            all_or_none: true,
            reject_reason: None,
            transact_time: T0,
            leg_prices: vec![px("0.0125"), px("0.008")],
            text: String::new(),
        }
        .into(),
        QuoteStatusReport {
            quote_id: None,
            cl_quote_id: ClientId::EMPTY,
            rfq_id: 17,
            status: QuoteStatus::Rejected,
            side: Side::Buy,
            price: px("0.01"),
            order_qty: qty("1"),
            valid_until: T0,
            all_or_none: false,
            reject_reason: Some(RejectReason::RequestExpired),
            transact_time: T0,
            leg_prices: Vec::new(),
            text: "request expired".to_string(),
        }
        .into(),
        QuoteAccept {
            cl_ord_id: cid("a-1"),
            rfq_id: 17,
            quote_id: 99,
            order_qty: qty("25"),
            transact_time: T0,
        }
        .into(),
        MarketDataRequest {
            md_req_id: 1,
            symbol: sym("BTC-PERP"),
            subscription_type: SubscriptionType::Subscribe,
        }
        .into(),
        MarketDataRequestReject {
            md_req_id: 1,
            symbol: sym("XRP-PERP"),
            reject_reason: RejectReason::UnknownInstrument,
            text: "unknown instrument".to_string(),
        }
        .into(),
        MarketDataSnapshot {
            md_req_id: 1,
            symbol: sym("BTC-27MAR26-100000-C"),
            seq_no: 12,
            transact_time: T0,
            levels: levels.clone(),
        }
        .into(),
        MarketDataSnapshot {
            md_req_id: 0,
            symbol: sym("BTC-PERP"),
            seq_no: 0,
            transact_time: T0,
            levels: Vec::new(),
        }
        .into(),
        MarketDataIncremental {
            symbol: sym("BTC-27MAR26-100000-C"),
            seq_no: 13,
            transact_time: T0,
            changes: vec![
                Level {
                    qty: Qty::ZERO,
                    order_count: 0,
                    ..levels[1]
                },
                levels[0],
            ],
        }
        .into(),
        MarketDataTrade {
            symbol: sym("BTC-PERP"),
            seq_no: 14,
            trade_id: 3,
            price: px("100000.5"),
            qty: qty("10"),
            aggressor_side: Some(Side::Sell),
            block: false,
            transact_time: T0,
        }
        .into(),
        MarketDataTrade {
            symbol: sym("BTC-27MAR26-100000-C"),
            seq_no: 15,
            trade_id: 4,
            price: px("0.0125"),
            qty: qty("25"),
            aggressor_side: None,
            block: true,
            transact_time: T0,
        }
        .into(),
        BusinessMessageReject {
            ref_template_id: 77,
            ref_schema_id: 101,
            reject_reason: RejectReason::UnsupportedMessage,
            text: "unknown template 77 in schema 101".to_string(),
        }
        .into(),
    ]
}

fn sbe(msg: &VenueMessage) -> Vec<u8> {
    let mut buf = vec![0u8; 4096];
    let len = msg.encode_sbe(&mut buf).unwrap();
    buf.truncate(len);
    buf
}

fn json(msg: &VenueMessage) -> Vec<u8> {
    msg.to_json_string().into_bytes()
}

#[test]
fn samples_cover_every_message() {
    let seen: BTreeSet<&str> = samples().iter().map(VenueMessage::type_name).collect();
    let all: BTreeSet<&str> = MESSAGE_NAMES.iter().copied().collect();
    assert_eq!(seen, all);
}

#[test]
fn every_message_round_trips_sbe_model_json() {
    for msg in samples() {
        let bytes = sbe(&msg);
        let from_sbe = VenueMessage::decode_sbe(&bytes).unwrap();
        assert_eq!(from_sbe, msg, "SBE {}", msg.type_name());
        let text = json(&from_sbe);
        let from_json = VenueMessage::decode_json(&text)
            .unwrap_or_else(|e| panic!("{}: {e}", String::from_utf8_lossy(&text)));
        assert_eq!(from_json, msg, "JSON {}", String::from_utf8_lossy(&text));
        assert_eq!(sbe(&from_json), bytes, "SBE after JSON {}", msg.type_name());
    }
}

#[test]
fn json_key_order_does_not_matter_and_unknown_keys_and_nulls_are_skipped() {
    for msg in samples() {
        let value: serde_json::Value = serde_json::from_slice(&json(&msg)).unwrap();
        let serde_json::Value::Object(map) = value else {
            panic!("not an object")
        };
        // Reversed key order, an unknown nested member, and explicit nulls for absent keys.
        let mut members: Vec<String> = map
            .iter()
            .rev()
            .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), v))
            .collect();
        members.push(r#""extra":{"deep":[1,{"x":null}]}"#.to_string());
        members.push(r#""rejectReasonX":null"#.to_string());
        if !map.contains_key("text") {
            members.push(r#""text":null"#.to_string());
        }
        let text = format!("  {{{}}}\n", members.join(","));
        assert_eq!(
            VenueMessage::decode_json(text.as_bytes()).unwrap(),
            msg,
            "{text}"
        );
    }
}

#[test]
fn json_text_is_exact() {
    let nos = &samples()[3];
    assert_eq!(
        nos.to_json_string(),
        r#"{"clOrdId":"0123456789abcdef","symbol":"BTC-27MAR26-100000-C","side":"Buy","ordType":"Limit","price":0.0125,"orderQty":0.1,"transactTime":"2026-03-27T08:00:00.123456789Z","@type":"NewOrderSingle"}"#
    );
    let er = &samples()[6];
    assert_eq!(
        er.to_json_string(),
        r#"{"orderId":42,"clOrdId":"o-1","execId":7,"execType":"Trade","ordStatus":"PartiallyFilled","symbol":"BTC-27MAR26-100000-C","side":"Buy","price":0.0125,"orderQty":1.5,"leavesQty":0.5,"cumQty":1,"transactTime":"2026-03-27T08:00:00.123456789Z","fills":[{"fillPx":0.012,"fillQty":0.4,"tradeId":1},{"fillPx":0.0125,"fillQty":0.6,"tradeId":2}],"@type":"ExecutionReport"}"#
    );
}

#[test]
fn every_truncated_sbe_prefix_is_an_error_and_surplus_is_refused() {
    for msg in samples() {
        let bytes = sbe(&msg);
        for len in 0..bytes.len() {
            assert!(
                VenueMessage::decode_sbe(&bytes[..len]).is_err(),
                "{} truncated to {len}",
                msg.type_name()
            );
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(
            VenueMessage::decode_sbe(&longer),
            Err(DecodeError::TrailingBytes { extra: 1 })
        );
    }
}

#[test]
fn small_buffers_are_refused_with_the_needed_size() {
    for msg in samples() {
        let full = sbe(&msg).len();
        let mut small = vec![0u8; full - 1];
        assert!(matches!(
            msg.encode_sbe(&mut small),
            Err(EncodeError::BufferTooSmall { .. })
        ));
        let text_len = json(&msg).len();
        let mut small = vec![0u8; text_len - 1];
        assert_eq!(
            msg.encode_json(&mut small),
            Err(EncodeError::BufferTooSmall { needed: text_len })
        );
    }
}

#[test]
fn bad_sbe_values_are_typed_errors() {
    let nos = sbe(&samples()[3]);
    // Header: blockLength, templateId, schemaId, version; Side is after ClOrdId and Symbol.
    let mut bad_side = nos.clone();
    bad_side[8 + 16 + 32] = b'9';
    assert_eq!(
        VenueMessage::decode_sbe(&bad_side),
        Err(DecodeError::InvalidEnum {
            field: "Side",
            value: u64::from(b'9')
        })
    );
    let mut bad_id = nos.clone();
    bad_id[8] = 0x07;
    assert_eq!(
        VenueMessage::decode_sbe(&bad_id),
        Err(DecodeError::InvalidField { field: "ClOrdId" })
    );
    let mut conga = nos.clone();
    conga[4] = 100;
    assert_eq!(
        VenueMessage::decode_sbe(&conga),
        Err(DecodeError::UnknownSchema { schema_id: 100 })
    );
    let mut unknown = nos;
    unknown[2] = 99;
    assert_eq!(
        VenueMessage::decode_sbe(&unknown),
        Err(DecodeError::UnknownTemplate {
            schema_id: 101,
            template_id: 99
        })
    );
    let rejected = sbe(&samples()[7]);
    let mut bad_text = rejected.clone();
    let last = bad_text.len() - 2;
    bad_text[last] = 0xff;
    assert_eq!(
        VenueMessage::decode_sbe(&bad_text),
        Err(DecodeError::InvalidField { field: "Text" })
    );
}

#[test]
fn bad_json_is_a_typed_error() {
    let nos = r#""clOrdId":"c1","symbol":"BTC-PERP","side":"Buy","ordType":"Limit","orderQty":10,"transactTime":"2026-03-27T08:00:00Z","@type":"NewOrderSingle""#;
    let with = |extra: &str| format!("{{{nos},{extra}}}");
    let cases: Vec<(String, DecodeError)> = vec![
        ("not json".into(), DecodeError::InvalidJson),
        ("[1,2]".into(), DecodeError::InvalidJson),
        (format!("{{{nos}"), DecodeError::InvalidJson),
        (format!("{{{nos}}} x"), DecodeError::TrailingBytes { extra: 2 }),
        (with(r#""side":"Sell""#), DecodeError::InvalidJson),
        (r#"{"@type":"NewOrderSingle"}"#.into(), DecodeError::MissingField { field: "clOrdId" }),
        (r#"{"requestId":1}"#.into(), DecodeError::MissingField { field: "@type" }),
        (r#"{"@type":"Sequence"}"#.into(), DecodeError::InvalidField { field: "@type" }),
        (r#"{"@type":7}"#.into(), DecodeError::InvalidField { field: "@type" }),
        (with(r#""price":0.000000001"#), DecodeError::InvalidField { field: "price" }),
        (with(r#""price":"0.5""#), DecodeError::InvalidField { field: "price" }),
        (with(r#""price":1e400"#), DecodeError::InvalidField { field: "price" }),
        (nos_with("orderQty", "0.00001"), DecodeError::InvalidField { field: "orderQty" }),
        (nos_with("side", r#""buy""#), DecodeError::InvalidField { field: "side" }),
        (nos_with("clOrdId", r#""0123456789abcdefX""#), DecodeError::InvalidField { field: "clOrdId" }),
        (nos_with("symbol", r#""tab\there""#), DecodeError::InvalidField { field: "symbol" }),
        (nos_with("transactTime", r#""2026-03-27 08:00:00Z""#), DecodeError::InvalidField { field: "transactTime" }),
        (nos_with("transactTime", "1774598400"), DecodeError::InvalidField { field: "transactTime" }),
        (r#"{"@type":"InstrumentListRequest","requestId":18446744073709551616}"#.into(), DecodeError::InvalidField { field: "requestId" }),
        (r#"{"@type":"InstrumentListRequest","requestId":-1}"#.into(), DecodeError::InvalidField { field: "requestId" }),
        (r#"{"@type":"InstrumentListRequest","requestId":1.0}"#.into(), DecodeError::InvalidField { field: "requestId" }),
        (
            r#"{"@type":"MarketDataIncremental","symbol":"X","seqNo":1,"transactTime":"2026-03-27T08:00:00Z","changes":{}}"#.into(),
            DecodeError::InvalidField { field: "changes" },
        ),
        (
            r#"{"@type":"MarketDataIncremental","symbol":"X","seqNo":1,"transactTime":"2026-03-27T08:00:00Z","changes":[1]}"#.into(),
            DecodeError::InvalidField { field: "changes" },
        ),
        (
            r#"{"@type":"MarketDataIncremental","symbol":"X","seqNo":1,"transactTime":"2026-03-27T08:00:00Z","changes":[{"side":"Buy","price":1,"qty":1}]}"#.into(),
            DecodeError::MissingField { field: "orderCount" },
        ),
        (
            r#"{"@type":"Quote","clQuoteId":"q","rfqId":1,"side":"Buy","price":1,"orderQty":1,"allOrNone":"yes","transactTime":"2026-03-27T08:00:00Z"}"#.into(),
            DecodeError::InvalidField { field: "allOrNone" },
        ),
    ];
    for (text, expected) in cases {
        assert_eq!(
            VenueMessage::decode_json(text.as_bytes()),
            Err(expected),
            "{text}"
        );
    }
}

fn nos_with(key: &str, value: &str) -> String {
    let mut fields = [
        ("clOrdId", r#""c1""#.to_string()),
        ("symbol", r#""BTC-PERP""#.to_string()),
        ("side", r#""Buy""#.to_string()),
        ("ordType", r#""Limit""#.to_string()),
        ("orderQty", "10".to_string()),
        ("transactTime", r#""2026-03-27T08:00:00Z""#.to_string()),
        ("@type", r#""NewOrderSingle""#.to_string()),
    ];
    for (k, v) in fields.iter_mut() {
        if *k == key {
            *v = value.to_string();
        }
    }
    let members: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
    format!("{{{}}}", members.join(","))
}

#[test]
fn random_and_mutated_bytes_never_panic() {
    let encoded: Vec<Vec<u8>> = samples().iter().flat_map(|m| [sbe(m), json(m)]).collect();
    for seed in 0..64u64 {
        let mut rng = SmallRng::seed_from_u64(seed);
        for original in &encoded {
            let mut bytes = original.clone();
            for _ in 0..rng.random_range(1..6) {
                let at = rng.random_range(0..bytes.len());
                bytes[at] = rng.random();
            }
            let _ = VenueMessage::decode_sbe(&bytes);
            let _ = VenueMessage::decode_json(&bytes);
        }
        let noise: Vec<u8> = (0..rng.random_range(0..200))
            .map(|_| rng.random())
            .collect();
        assert!(VenueMessage::decode_sbe(&noise).is_err() || noise.len() >= 8);
        let _ = VenueMessage::decode_json(&noise);
    }
}

fn arb_text<const N: usize>() -> impl Strategy<Value = FixedStr<N>> {
    proptest::string::string_regex(&format!("[ -~]{{0,{N}}}"))
        .unwrap()
        .prop_map(|s| FixedStr::new(&s).unwrap())
}

fn arb_side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

fn arb_level() -> impl Strategy<Value = Level> {
    (arb_side(), any::<i64>(), any::<i64>(), any::<u32>()).prop_map(|(side, p, q, n)| Level {
        side,
        price: Price(p),
        qty: Qty(q),
        order_count: n,
    })
}

fn arb_message() -> impl Strategy<Value = VenueMessage> {
    let nos = (
        arb_text::<16>(),
        arb_text::<32>(),
        arb_side(),
        proptest::option::of(any::<i64>().prop_filter("null", |p| *p != i64::MIN)),
        any::<i64>(),
        any::<u64>(),
    )
        .prop_map(|(cl, s, side, price, q, t)| {
            VenueMessage::from(NewOrderSingle {
                cl_ord_id: cl,
                symbol: s,
                side,
                ord_type: if price.is_some() {
                    OrdType::Limit
                } else {
                    OrdType::Market
                },
                price: price.map(Price),
                order_qty: Qty(q),
                transact_time: t,
            })
        });
    let snapshot = (
        any::<u64>(),
        arb_text::<32>(),
        any::<u64>(),
        any::<u64>(),
        proptest::collection::vec(arb_level(), 0..40),
    )
        .prop_map(|(id, s, seq, t, levels)| {
            VenueMessage::from(MarketDataSnapshot {
                md_req_id: id,
                symbol: s,
                seq_no: seq,
                transact_time: t,
                levels,
            })
        });
    let status = (
        any::<u64>(),
        arb_text::<16>(),
        any::<u64>(),
        "[ -~é\n\"\\\\]{0,40}",
        proptest::collection::vec(any::<i64>(), 0..5),
    )
        .prop_map(|(q, cl, rfq, text, legs)| {
            VenueMessage::from(QuoteStatusReport {
                quote_id: Some(q).filter(|q| *q != u64::MAX),
                cl_quote_id: cl,
                rfq_id: rfq,
                status: QuoteStatus::Withdrawn,
                side: Side::Buy,
                price: Price(-1),
                order_qty: Qty(1),
                valid_until: rfq,
                all_or_none: q % 2 == 0,
                reject_reason: None,
                transact_time: rfq,
                leg_prices: legs.into_iter().map(Price).collect(),
                text,
            })
        });
    prop_oneof![nos, snapshot, status]
}

proptest! {
    #![proptest_config(Config { cases: 400, rng_seed: RngSeed::Fixed(101), ..Config::default() })]

    #[test]
    fn arbitrary_values_round_trip(msg in arb_message()) {
        let bytes = sbe(&msg);
        prop_assert_eq!(&VenueMessage::decode_sbe(&bytes).unwrap(), &msg);
        prop_assert_eq!(&VenueMessage::decode_json(&json(&msg)).unwrap(), &msg);
    }
}
