//! Retransmission (digest §10.1 cases 17–20, A4, A5, A17), both producer and consumer side.

mod session_support;

use fixp_ws::codec::fixp::{FlowType, RetransmitRejectCode};
use fixp_ws::codec::{FixpMessage, FrameKind};
use fixp_ws::session::{MemoryStore, SessionState};
use session_support::*;

/// A pair whose server (Recoverable) has sent `n` messages, all delivered.
fn producer_with(n: u64) -> Pair {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    for i in 1..=n {
        let now = p.now;
        assert_eq!(p.server_session().send(now, &app(i)), Ok(i));
        if i % 500 == 0 {
            p.pump();
            events(&mut p.client);
        }
    }
    p.pump();
    p.server_events();
    events(&mut p.client);
    p
}

fn request(p: &mut Pair, ts: u64, from: u64, count: u32) {
    let id = p.client.session_id();
    let (now, conn) = (p.now, p.conn);
    p.server.handle_frame(
        now,
        conn,
        &enc(&FixpMessage::RetransmitRequest {
            session_id: id,
            timestamp: ts,
            from_seq_no: from,
            count,
        }),
        FrameKind::Binary,
    );
}

fn server_out(p: &mut Pair, max: usize) -> Vec<Out> {
    let mut v = Vec::new();
    while v.len() < max {
        let Some((_, t)) = p.server.poll_transmit() else {
            break;
        };
        v.push(to_out(t));
    }
    v
}

#[test]
fn retransmit_request_1000_for_100_replays_in_batches_interleaved_with_live_traffic() {
    let mut p = producer_with(1099);
    request(&mut p, 777, 1000, 100);
    // First batch: Retransmission(1000, 100) and 64 messages (retransmit_batch).
    let first = server_out(&mut p, 65);
    assert_eq!(
        first[0],
        Out::Msg(Msg::Retransmission {
            ts: 777,
            next: 1000,
            count: 100
        })
    );
    let replayed: Vec<u64> = first[1..]
        .iter()
        .map(|o| match o {
            Out::App(b) => u64::from_le_bytes(b[..8].try_into().unwrap()),
            o => panic!("{o:?}"),
        })
        .collect();
    assert_eq!(replayed, (1000..1064).collect::<Vec<_>>());
    // A live message now: Sequence(1100) first (returning to live), then it.
    let now = p.now;
    assert_eq!(p.server_session().send(now, &app(1100)), Ok(1100));
    let rest = server_out(&mut p, 1000);
    assert_eq!(rest[0], Out::Msg(Msg::Sequence(1100)));
    assert_eq!(rest[1], Out::App(1100u64.to_le_bytes().to_vec()));
    // The replay resumes with a new header echoing the request timestamp.
    assert_eq!(
        rest[2],
        Out::Msg(Msg::Retransmission {
            ts: 777,
            next: 1064,
            count: 36
        })
    );
    assert_eq!(rest.len(), 3 + 36);
    assert_eq!(rest[38], Out::App(1099u64.to_le_bytes().to_vec()));
    // The next live message restates the numbering.
    assert_eq!(p.server_session().send(now, &app(1101)), Ok(1101));
    assert_eq!(server_out(&mut p, 10)[0], Out::Msg(Msg::Sequence(1101)));
}

#[test]
fn second_request_while_one_is_in_progress_terminates_re_request_in_progress() {
    let mut p = producer_with(200);
    request(&mut p, 1, 1, 100);
    request(&mut p, 2, 101, 10);
    let out = server_out(&mut p, 1000);
    let (code, reason) = close_of(&out).expect("Close");
    assert_eq!(code, 1002);
    assert!(reason.starts_with("ReRequestInProgress:"), "{reason}");
}

#[test]
fn retransmit_rejects_out_of_range_invalid_session_and_limit() {
    let mut p = producer_with(50);
    request(&mut p, 1, 51, 1);
    assert_eq!(
        server_out(&mut p, 5),
        vec![Out::Msg(Msg::RetransmitReject {
            ts: 1,
            code: RetransmitRejectCode::OutOfRange
        })]
    );
    request(&mut p, 2, 40, 20);
    assert_eq!(
        server_out(&mut p, 5),
        vec![Out::Msg(Msg::RetransmitReject {
            ts: 2,
            code: RetransmitRejectCode::OutOfRange
        })]
    );
    request(&mut p, 3, 1, 2501);
    assert_eq!(
        server_out(&mut p, 5),
        vec![Out::Msg(Msg::RetransmitReject {
            ts: 3,
            code: RetransmitRejectCode::RequestLimitExceeded
        })]
    );
    let (now, conn) = (p.now, p.conn);
    p.server.handle_frame(
        now,
        conn,
        &enc(&FixpMessage::RetransmitRequest {
            session_id: sid(99),
            timestamp: 4,
            from_seq_no: 1,
            count: 1,
        }),
        FrameKind::Binary,
    );
    assert_eq!(
        server_out(&mut p, 5),
        vec![Out::Msg(Msg::RetransmitReject {
            ts: 4,
            code: RetransmitRejectCode::InvalidSession
        })]
    );
    assert_eq!(p.server_session().state(), SessionState::Established);
}

#[test]
fn messages_no_longer_held_are_rejected_out_of_range() {
    let config = fixp_ws::session::SessionConfig {
        flow: FlowType::Recoverable,
        ..Default::default()
    };
    let mut c = fixp_ws::session::Session::client(
        config,
        TestEncoding::new(),
        MemoryStore::new(10, 64),
        sid(1),
    );
    establish(&mut c, FlowType::Recoverable, Some(1), 3);
    let id = c.session_id();
    for i in 1..=30 {
        c.send(4, &app(i)).unwrap();
    }
    drain(&mut c);
    feed(
        &mut c,
        5,
        &FixpMessage::RetransmitRequest {
            session_id: id,
            timestamp: 9,
            from_seq_no: 5,
            count: 3,
        },
    );
    assert_eq!(
        drain(&mut c),
        vec![Out::Msg(Msg::RetransmitReject {
            ts: 9,
            code: RetransmitRejectCode::OutOfRange
        })]
    );
    feed(
        &mut c,
        6,
        &FixpMessage::RetransmitRequest {
            session_id: id,
            timestamp: 10,
            from_seq_no: 25,
            count: 3,
        },
    );
    let out = drain(&mut c);
    assert_eq!(
        out[0],
        Out::Msg(Msg::Retransmission {
            ts: 10,
            next: 25,
            count: 3
        })
    );
    assert_eq!(out.len(), 4);
}

#[test]
fn corrupt_store_record_fails_closed_without_sending_it() {
    let mut p = producer_with(20);
    p.server_session().store_mut().mark_corrupt(12);
    request(&mut p, 5, 10, 5);
    let out = server_out(&mut p, 100);
    assert_eq!(
        out[0],
        Out::Msg(Msg::Retransmission {
            ts: 5,
            next: 10,
            count: 5
        })
    );
    assert_eq!(out[1], Out::App(10u64.to_le_bytes().to_vec()));
    assert_eq!(out[2], Out::App(11u64.to_le_bytes().to_vec()));
    let (code, reason) = close_of(&out).expect("Close");
    assert_eq!(out.len(), 4, "nothing after 11 but the Close: {out:?}");
    assert_eq!(code, 1011);
    assert!(reason.contains("record 12 failed its checksum"), "{reason}");
}

#[test]
fn consumer_requests_gap_queues_live_messages_and_delivers_in_order() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 1 });
    feed_app(&mut c, now, 1);
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 5 });
    let out = drain(&mut c);
    let Out::Msg(Msg::RetransmitRequest {
        ts,
        from: 2,
        count: 3,
    }) = out[0]
    else {
        panic!("{out:?}")
    };
    feed_app(&mut c, now, 5);
    feed_app(&mut c, now, 6);
    assert_eq!(
        messages(&events(&mut c)),
        vec![(1, 1)],
        "5 and 6 wait for the gap"
    );
    let id = c.session_id();
    feed(
        &mut c,
        now,
        &FixpMessage::Retransmission {
            session_id: id,
            request_timestamp: ts,
            next_seq_no: 2,
            count: 3,
        },
    );
    for i in 2..=4 {
        feed_app(&mut c, now, i);
    }
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 7 });
    feed_app(&mut c, now, 7);
    assert_eq!(
        messages(&events(&mut c)),
        (2..=7).map(|i| (i, i)).collect::<Vec<_>>()
    );
    assert!(drain(&mut c).is_empty(), "no second request");
}

#[test]
fn consumer_chunks_large_gap_with_one_request_in_flight() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    let id = c.session_id();
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 6001 });
    let mut from = 1;
    let mut delivered = 0;
    for expected_count in [2500u32, 2500, 1000] {
        let out = drain(&mut c);
        assert_eq!(out.len(), 1, "one request in flight: {out:?}");
        let Out::Msg(Msg::RetransmitRequest { ts, from: f, count }) = out[0] else {
            panic!("{out:?}")
        };
        assert_eq!((f, count), (from, expected_count));
        feed(
            &mut c,
            now,
            &FixpMessage::Retransmission {
                session_id: id,
                request_timestamp: ts,
                next_seq_no: f,
                count,
            },
        );
        for i in f..f + u64::from(count) {
            feed_app(&mut c, now, i);
            if i % 500 == 0 {
                delivered += messages(&events(&mut c)).len();
            }
        }
        from += u64::from(count);
    }
    delivered += messages(&events(&mut c)).len();
    assert!(drain(&mut c).is_empty());
    assert_eq!(delivered, 6000);
    assert_eq!(c.status().next_seq_expected, 6001);
}

#[test]
fn retransmission_with_wrong_request_timestamp_is_a_violation() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 5 });
    let Out::Msg(Msg::RetransmitRequest { ts, .. }) = drain(&mut c)[0] else {
        panic!()
    };
    let id = c.session_id();
    feed(
        &mut c,
        now,
        &FixpMessage::Retransmission {
            session_id: id,
            request_timestamp: ts + 1,
            next_seq_no: 1,
            count: 4,
        },
    );
    assert_eq!(close_of(&drain(&mut c)).map(|c| c.0), Some(1002));
}

#[test]
fn retransmit_reject_reports_the_lost_range_and_resumes_delivery() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 4 });
    let Out::Msg(Msg::RetransmitRequest { ts, .. }) = drain(&mut c)[0] else {
        panic!()
    };
    feed_app(&mut c, now, 4);
    let id = c.session_id();
    feed(
        &mut c,
        now,
        &FixpMessage::RetransmitReject {
            session_id: id,
            request_timestamp: ts,
            code: RetransmitRejectCode::OutOfRange,
            reason: b"gone",
        },
    );
    let evs = events(&mut c);
    assert!(
        has(
            &evs,
            "RetransmitRejected { from_seq_no: 1, count: 3, code: OutOfRange }"
        ),
        "{evs:?}"
    );
    assert_eq!(messages(&evs), vec![(4, 4)]);
}

#[test]
fn reestablish_recovers_messages_lost_in_the_drop_through_ack_next_seq_no() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    let now = p.now;
    for i in 1..=3 {
        p.server_session().send(now, &app(i)).unwrap();
    }
    p.pump();
    for i in 4..=6 {
        p.server_session().send(now, &app(i)).unwrap();
    }
    // Lost in flight.
    p.drop_connection();
    p.now += 10 * MS;
    p.connect();
    let evs = events(&mut p.client);
    assert_eq!(
        messages(&evs),
        (1..=6).map(|i| (i, i)).collect::<Vec<_>>(),
        "{evs:?}"
    );
    assert!(p.client_log.iter().any(|o| matches!(
        o,
        Out::Msg(Msg::RetransmitRequest {
            from: 4,
            count: 3,
            ..
        })
    )));
}

#[test]
fn recovery_queue_overflow_terminates() {
    let config = fixp_ws::session::SessionConfig {
        flow: FlowType::Idempotent,
        recovery_capacity: 4,
        ..Default::default()
    };
    let mut c = fixp_ws::session::Session::client(config, TestEncoding::new(), store(), sid(2));
    establish(&mut c, FlowType::Recoverable, Some(10), 3);
    drain(&mut c);
    for i in 10..15 {
        feed_app(&mut c, 4, i);
    }
    let (code, reason) = close_of(&drain(&mut c)).expect("Close");
    assert_eq!(code, 1011);
    assert!(reason.contains("recovery queue overflow"), "{reason}");
}

#[test]
fn server_requests_recoverable_client_messages_lost_in_a_drop_after_reestablish() {
    let config = fixp_ws::session::SessionConfig {
        flow: FlowType::Recoverable,
        ..Default::default()
    };
    let mut p = Pair::new(FlowType::Recoverable, FlowType::Recoverable);
    p.client = fixp_ws::session::Session::client(config, TestEncoding::new(), store(), sid(12));
    p.connect();
    let now = p.now;
    p.client.send(now, &app(1)).unwrap();
    p.pump();
    for i in 2..=4 {
        p.client.send(now, &app(i)).unwrap();
    }
    p.drop_connection();
    p.now += 10 * MS;
    let before = p.client_log.len();
    p.connect();
    // Establish carries NextSeqNo 5; the server asks for 2..=4 right after its Ack.
    assert!(matches!(
        p.client_log[before],
        Out::Msg(Msg::Establish { next: Some(5), .. })
    ));
    assert!(p.server_log.iter().any(|o| matches!(
        o,
        Out::Msg(Msg::RetransmitRequest {
            from: 2,
            count: 3,
            ..
        })
    )));
    assert_eq!(
        messages(&p.server_events()),
        (1..=4).map(|i| (i, i)).collect::<Vec<_>>()
    );
}
