//! Market data: snapshot then sequenced incrementals and trades; the client-side book builder
//! detects gaps and resynchronises; and a seeded property test: random order flow with random
//! dropped messages and interruptions → after resync, every client book equals the venue's.

mod venue_support;

use fixp_tools::venue::exchange::VenueSettings;
use fixp_tools::venue::market_data::{Applied, BookBuilder};
use fixp_tools::venue::message::*;
use fixp_tools::venue::types::*;
use fixp_tools::venue::{AppMessage, Outbound, SessionRef};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use venue_support::*;

const PERP: &str = "BTC-PERP";
const CALL: &str = "BTC-27MAR26-100000-C";

fn subscribe(symbol: &str, kind: SubscriptionType) -> MarketDataRequest {
    MarketDataRequest {
        md_req_id: 7,
        symbol: sym(symbol),
        subscription_type: kind,
    }
}

#[test]
fn snapshot_then_incrementals_keep_the_client_book_equal() {
    let mut h = Harness::new(VenueSettings::default());
    let (trader, md) = (h.join(1, false), h.join(2, false));
    h.limit(trader, "b1", PERP, Side::Buy, "99999.5", "20");
    let out = to(
        &h.send(md, subscribe(PERP, SubscriptionType::Subscribe)),
        md,
    );
    let VenueMessage::MarketDataSnapshot(snap) = &out[0] else {
        panic!("{out:?}")
    };
    assert_eq!((snap.md_req_id, snap.seq_no), (7, 1));
    assert_eq!(
        snap.levels,
        vec![Level {
            side: Side::Buy,
            price: px("99999.5"),
            qty: qty("20"),
            order_count: 1
        }]
    );
    let mut client = BookBuilder::new(sym(PERP));
    assert_eq!(client.apply(&out[0]), Applied::InSync);
    let mut flow = Vec::new();
    flow.extend(h.limit(trader, "s1", PERP, Side::Sell, "100000", "10"));
    flow.extend(h.limit(trader, "b2", PERP, Side::Buy, "100000", "30"));
    flow.extend(h.cancel(trader, "c", "b1", PERP, Side::Buy));
    let messages = to(&flow, md);
    let kinds: Vec<(&str, u64)> = messages
        .iter()
        .map(|m| match m {
            VenueMessage::MarketDataIncremental(i) => ("inc", i.seq_no),
            VenueMessage::MarketDataTrade(t) => ("trade", t.seq_no),
            other => panic!("{other:?}"),
        })
        .collect();
    // Sell rests (2); the buy trades (3) then changes two levels (4); the cancel (5).
    assert_eq!(
        kinds,
        vec![("inc", 2), ("trade", 3), ("inc", 4), ("inc", 5)]
    );
    let VenueMessage::MarketDataIncremental(sweep) = &messages[2] else {
        panic!()
    };
    assert_eq!(
        sweep.changes,
        vec![
            Level {
                side: Side::Sell,
                price: px("100000"),
                qty: Qty::ZERO,
                order_count: 0
            },
            Level {
                side: Side::Buy,
                price: px("100000"),
                qty: qty("20"),
                order_count: 1
            },
        ]
    );
    for m in &messages {
        assert_eq!(client.apply(m), Applied::InSync);
    }
    assert!(client.matches(h.venue.book(&sym(PERP))));
    assert_eq!(client.seq(), Some(h.venue.market_data_seq(&sym(PERP))));
}

#[test]
fn a_gap_asks_for_a_snapshot_and_the_snapshot_resyncs() {
    let mut h = Harness::new(VenueSettings::default());
    let (trader, md) = (h.join(1, false), h.join(2, false));
    let mut client = BookBuilder::new(sym(CALL));
    for m in to(
        &h.send(md, subscribe(CALL, SubscriptionType::Subscribe)),
        md,
    ) {
        client.apply(&m);
    }
    let first = to(&h.limit(trader, "a", CALL, Side::Buy, "0.01", "1"), md);
    let lost = to(&h.limit(trader, "b", CALL, Side::Buy, "0.0105", "1"), md);
    let after = to(&h.limit(trader, "c", CALL, Side::Sell, "0.02", "1"), md);
    assert_eq!(client.apply(&first[0]), Applied::InSync);
    assert_eq!(
        client.apply(&first[0]),
        Applied::Ignored,
        "a replay is ignored"
    );
    drop(lost);
    assert_eq!(client.apply(&after[0]), Applied::Resync);
    assert_eq!(
        client.apply(&after[0]),
        Applied::AwaitingSnapshot,
        "asked once per gap"
    );
    assert!(!client.is_synced());
    assert_eq!(client.gaps(), 1);
    let reply = to(&h.send(md, client.resync_request(8)), md);
    assert_eq!(reply.len(), 1);
    assert_eq!(client.apply(&reply[0]), Applied::InSync);
    assert!(client.matches(h.venue.book(&sym(CALL))));
    // An interruption (reconnect) also resyncs.
    assert_eq!(client.interrupted(), Applied::Resync);
    assert_eq!(client.interrupted(), Applied::AwaitingSnapshot);
    // A snapshot older than the copy is ignored.
    let mut old = BookBuilder::new(sym(CALL));
    let VenueMessage::MarketDataSnapshot(mut snap) = reply[0].clone() else {
        panic!()
    };
    old.on_snapshot(&snap);
    snap.seq_no -= 1;
    assert_eq!(old.on_snapshot(&snap), Applied::Ignored);
    // Other instruments' messages are not this book's.
    assert_eq!(
        BookBuilder::new(sym(PERP)).apply(&after[0]),
        Applied::Ignored
    );
}

#[test]
fn request_rejects_and_unsubscribe() {
    let mut h = Harness::new(VenueSettings {
        max_subscriptions_per_session: 1,
        ..VenueSettings::default()
    });
    let (trader, md) = (h.join(1, false), h.join(2, false));
    let reject = |out: Vec<Outbound>| match &out[..] {
        [Outbound {
            message: AppMessage::Venue(VenueMessage::MarketDataRequestReject(r)),
            ..
        }] => r.reject_reason,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        reject(h.send(md, subscribe("XRP-PERP", SubscriptionType::Subscribe))),
        RejectReason::UnknownInstrument
    );
    assert_eq!(
        reject(h.send(md, subscribe(PERP, SubscriptionType::Unsubscribe))),
        RejectReason::NotSubscribed
    );
    h.send(md, subscribe(PERP, SubscriptionType::Subscribe));
    assert_eq!(
        reject(h.send(md, subscribe(CALL, SubscriptionType::Subscribe))),
        RejectReason::TooManySubscriptions
    );
    // A snapshot request needs no subscription; subscribing again just sends a snapshot.
    assert!(matches!(
        &to(&h.send(md, subscribe(CALL, SubscriptionType::Snapshot)), md)[..],
        [VenueMessage::MarketDataSnapshot(_)]
    ));
    assert!(matches!(
        &to(
            &h.send(md, subscribe(PERP, SubscriptionType::Subscribe)),
            md
        )[..],
        [VenueMessage::MarketDataSnapshot(_)]
    ));
    assert_eq!(
        to(&h.limit(trader, "a", PERP, Side::Buy, "1", "10"), md).len(),
        1
    );
    assert!(h
        .send(md, subscribe(PERP, SubscriptionType::Unsubscribe))
        .is_empty());
    assert!(to(&h.limit(trader, "b", PERP, Side::Buy, "1", "10"), md).is_empty());
    // The sequence goes on without subscribers.
    assert_eq!(h.venue.market_data_seq(&sym(PERP)), 2);
}

/// One market data client behind a lossy link.
struct Client {
    session: SessionRef,
    books: Vec<BookBuilder>,
    /// Steps left of an interruption (everything dropped).
    down: u32,
    /// Steps since it last asked for a snapshot while waiting (a retry timer).
    waiting: u32,
    sbe: bool,
}

/// Delivers one message through the wire form (SBE or JSON, as the client speaks).
fn through_wire(message: &VenueMessage, sbe: bool) -> VenueMessage {
    let mut buf = vec![0u8; 64 * 1024];
    if sbe {
        let n = message.encode_sbe(&mut buf).unwrap();
        VenueMessage::decode_sbe(&buf[..n]).unwrap()
    } else {
        let n = message.encode_json(&mut buf).unwrap();
        VenueMessage::decode_json(&buf[..n]).unwrap()
    }
}

fn deliver(
    h: &mut Harness,
    client: &mut Client,
    out: Vec<Outbound>,
    rng: &mut SmallRng,
    lossy: bool,
) {
    let mut pending: std::collections::VecDeque<VenueMessage> = to(&out, client.session).into();
    while let Some(message) = pending.pop_front() {
        if lossy && (client.down > 0 || rng.random_bool(0.08)) {
            continue;
        }
        let message = through_wire(&message, client.sbe);
        for i in 0..client.books.len() {
            if client.books[i].apply(&message) == Applied::Resync {
                let request = client.books[i].resync_request(i as u64);
                pending.extend(to(&h.send(client.session, request), client.session));
                client.waiting = 0;
            }
        }
    }
}

#[test]
fn property_client_books_equal_the_venue_after_any_loss() {
    let symbols = [PERP, CALL, "ETH-PERP"];
    for seed in 0..60u64 {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut h = Harness::new(VenueSettings::default());
        let traders: Vec<SessionRef> = (1..=3).map(|s| h.join(s, false)).collect();
        let mut clients: Vec<Client> = (10..13)
            .map(|s| Client {
                session: h.join(s, false),
                books: symbols.iter().map(|s| BookBuilder::new(sym(s))).collect(),
                down: 0,
                waiting: 0,
                sbe: s % 2 == 0,
            })
            .collect();
        for c in clients.iter_mut() {
            for s in symbols {
                let out = h.send(c.session, subscribe(s, SubscriptionType::Subscribe));
                deliver(&mut h, c, out, &mut rng, false);
            }
        }
        let mut open: Vec<(SessionRef, String, &str, Side)> = Vec::new();
        for step in 0..400 {
            let trader = traders[rng.random_range(0..traders.len())];
            let symbol = symbols[rng.random_range(0..symbols.len())];
            let side = if rng.random_bool(0.5) {
                Side::Buy
            } else {
                Side::Sell
            };
            // (tick, lot, mid) as mantissas.
            let (tick, lot, mid) = match symbol {
                PERP => (50_000_000i64, 100_000i64, 10_000_000_000_000i64),
                CALL => (50_000, 1_000, 1_250_000),
                _ => (5_000_000, 10_000, 300_000_000_000),
            };
            let lot_text = |n: i64| Qty(n * lot).to_string();
            let out = match rng.random_range(0..10) {
                0..=5 => {
                    let price = Price(mid + rng.random_range(-5i64..=5) * tick).to_string();
                    let cl = format!("o{step}");
                    let out = h.limit(
                        trader,
                        &cl,
                        symbol,
                        side,
                        &price,
                        &lot_text(rng.random_range(1..6)),
                    );
                    open.push((trader, cl, symbol, side));
                    out
                }
                6 => h.market(
                    trader,
                    &format!("m{step}"),
                    symbol,
                    side,
                    &lot_text(rng.random_range(1..8)),
                ),
                _ if !open.is_empty() => {
                    let (owner, cl, symbol, side) =
                        open.swap_remove(rng.random_range(0..open.len()));
                    h.cancel(owner, &format!("c{step}"), &cl, symbol, side)
                }
                _ => Vec::new(),
            };
            for c in clients.iter_mut() {
                if c.down > 0 {
                    c.down -= 1;
                    if c.down == 0 {
                        // Back from an interruption: every book resyncs.
                        for i in 0..c.books.len() {
                            if c.books[i].interrupted() == Applied::Resync {
                                let reply = h.send(c.session, c.books[i].resync_request(i as u64));
                                deliver(&mut h, c, reply, &mut rng, true);
                            }
                        }
                    }
                } else if rng.random_bool(0.01) {
                    c.down = rng.random_range(1..20);
                }
                deliver(&mut h, c, out.clone(), &mut rng, true);
                // A lost snapshot reply: ask again after a while.
                c.waiting += 1;
                if c.waiting > 5 && c.down == 0 {
                    for i in 0..c.books.len() {
                        if !c.books[i].is_synced() {
                            let reply = h.send(c.session, c.books[i].resync_request(i as u64));
                            deliver(&mut h, c, reply, &mut rng, true);
                        }
                    }
                    c.waiting = 0;
                }
                // Whenever a copy is current, it is the venue's book.
                for b in &c.books {
                    if b.seq() == Some(h.venue.market_data_seq(&b.symbol())) {
                        assert!(
                            b.matches(h.venue.book(&b.symbol())),
                            "seed {seed} step {step} {}",
                            b.symbol()
                        );
                    }
                }
            }
        }
        // The link heals. A loss at the very end shows at the book's next event: one more event
        // per book, and every copy that missed something resyncs from a snapshot.
        for c in clients.iter_mut() {
            c.down = 0;
            for i in 0..c.books.len() {
                if !c.books[i].is_synced() {
                    let reply = h.send(c.session, c.books[i].resync_request(i as u64));
                    deliver(&mut h, c, reply, &mut rng, false);
                }
            }
        }
        for (i, symbol) in symbols.iter().enumerate() {
            // A bid at the lowest tick: it rests (nothing offers that low).
            let (price, size) = match *symbol {
                PERP => ("0.5", "10"),
                CALL => ("0.0005", "0.1"),
                _ => ("0.05", "1"),
            };
            let out = h.limit(
                traders[0],
                &format!("last{i}"),
                symbol,
                Side::Buy,
                price,
                size,
            );
            for c in clients.iter_mut() {
                deliver(&mut h, c, out.clone(), &mut rng, false);
            }
        }
        for c in &clients {
            for b in &c.books {
                assert!(
                    b.matches(h.venue.book(&b.symbol())),
                    "seed {seed} end {}",
                    b.symbol()
                );
                assert_eq!(b.seq(), Some(h.venue.market_data_seq(&b.symbol())));
            }
        }
        let gaps: u64 = clients
            .iter()
            .flat_map(|c| &c.books)
            .map(BookBuilder::gaps)
            .sum();
        assert!(gaps > 0, "seed {seed}: the run exercised resync");
        let events: u64 = symbols
            .iter()
            .map(|s| h.venue.market_data_seq(&sym(s)))
            .sum();
        assert!(events > 200, "seed {seed}: only {events} book events");
    }
}
