//! Sequencing, flow types, heartbeats and lapses (digest §10.1 cases 7, 8, 11–16; §10.2/§10.3
//! Conga and silverflash behaviours we stay compatible with).

mod session_support;

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::FixpMessage;
use fixp_ws::codec::FrameKind;
use fixp_ws::session::{ConnectionId, Event, MemoryStore, SendError, Session, SessionState};
use session_support::*;

#[test]
fn sequence_precedes_first_message_then_implicit_numbering_both_ways() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    let start = p.client_log.len();
    assert_eq!(p.client.send(p.now, &app(10)), Ok(1));
    assert_eq!(p.client.send(p.now, &app(11)), Ok(2));
    p.pump();
    assert_eq!(
        p.client_log[start..],
        [
            Out::Msg(Msg::Sequence(1)),
            Out::App(10u64.to_le_bytes().to_vec()),
            Out::App(11u64.to_le_bytes().to_vec())
        ]
    );
    assert_eq!(messages(&p.server_events()), vec![(1, 10), (2, 11)]);
    let now = p.now;
    assert_eq!(p.server_session().send(now, &app(20)), Ok(1));
    p.pump();
    assert_eq!(messages(&events(&mut p.client)), vec![(1, 20)]);
    assert_eq!(p.client.status().next_seq_to_send, 3);
    assert_eq!(p.client.status().next_seq_expected, 2);
}

#[test]
fn higher_sequence_on_idempotent_flow_sends_not_applied_for_skipped_range() {
    // Digest A16: after message 100, Sequence 200 skips 101..=199: NotApplied(101, 99).
    let (mut c, now) = established_client(FlowType::Recoverable, FlowType::Idempotent, None);
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 100 });
    let out = drain(&mut c);
    assert_eq!(
        out[0],
        Out::Msg(Msg::Sequence(1)),
        "our NotApplied numbering starts with a Sequence"
    );
    assert_eq!(out[1], Out::Msg(Msg::NotApplied { from: 1, count: 99 }));
    feed_app(&mut c, now, 100);
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 200 });
    let out = drain(&mut c);
    assert_eq!(
        out,
        vec![Out::Msg(Msg::NotApplied {
            from: 101,
            count: 99
        })]
    );
    feed_app(&mut c, now, 200);
    let evs = events(&mut c);
    assert!(has(&evs, "Gap { from_seq_no: 101, count: 99 }"), "{evs:?}");
    assert_eq!(messages(&evs), vec![(100, 100), (200, 200)]);
    // NotApplied consumed our sequence numbers 1 and 2 and is stored for recovery.
    assert_eq!(c.status().next_seq_to_send, 3);
}

#[test]
fn idempotent_gap_in_messages_gives_not_applied_and_later_messages_are_still_delivered() {
    // silverflash: seq 1 then seq 3 → NotApplied(2, 1); the receiving app sees 2 messages.
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Idempotent, None);
    feed_app(&mut c, now, 1);
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 3 });
    feed_app(&mut c, now, 3);
    let out = drain(&mut c);
    assert!(
        out.contains(&Out::Msg(Msg::NotApplied { from: 2, count: 1 })),
        "{out:?}"
    );
    assert_eq!(messages(&events(&mut c)), vec![(1, 1), (3, 3)]);
}

#[test]
fn lower_sequence_on_recoverable_flow_terminates_invalid_next_seq_no() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    feed_app(&mut c, now, 1);
    feed_app(&mut c, now, 2);
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 2 });
    let (code, reason) = close_of(&drain(&mut c)).expect("Close");
    assert_eq!(code, 1002);
    assert!(
        reason.starts_with("UnspecifiedError: Invalid NextSeqNo 2"),
        "{reason}"
    );
    assert_eq!(c.state(), SessionState::NotEstablished);
}

#[test]
fn conga_lower_sequence_on_idempotent_flow_is_accepted_and_duplicates_are_dropped_silently() {
    // A3 and silverflash duplicateSend: the sender resets to 1 and resends; applied once.
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Idempotent, None);
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 1 });
    feed_app(&mut c, now, 1);
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 1 });
    feed_app(&mut c, now, 1);
    feed_app(&mut c, now, 2);
    assert_eq!(c.state(), SessionState::Established);
    assert!(drain(&mut c).iter().all(|o| !matches!(o, Out::Close(..))));
    assert_eq!(messages(&events(&mut c)), vec![(1, 1), (2, 2)]);
    assert_eq!(c.duplicates_dropped(), 1);
}

#[test]
fn conga_messages_without_sequence_are_numbered_from_one_and_continue_after_reestablish() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    let conn = p.conn;
    let now = p.now;
    // A Conga client sends no Sequence: numbering starts at 1.
    p.server
        .handle_frame(now, conn, &app(1), fixp_ws::codec::FrameKind::Binary);
    p.server
        .handle_frame(now, conn, &app(2), fixp_ws::codec::FrameKind::Binary);
    assert_eq!(messages(&p.server_events()), vec![(1, 1), (2, 2)]);
    p.drop_connection();
    p.connect();
    p.server_events();
    let conn = p.conn;
    p.server
        .handle_frame(now, conn, &app(3), fixp_ws::codec::FrameKind::Binary);
    assert_eq!(messages(&p.server_events()), vec![(3, 3)]);
}

#[test]
fn conga_non_null_establish_next_seq_no_on_idempotent_flow_is_ignored() {
    let mut server = acceptor(FlowType::Recoverable);
    let conn = fixp_ws::session::ConnectionId(1);
    let id = sid(5);
    server.handle_frame(
        1,
        conn,
        &enc(&FixpMessage::Negotiate {
            session_id: id,
            timestamp: 1,
            client_flow: FlowType::Idempotent,
            credentials: &[],
        }),
        fixp_ws::codec::FrameKind::Binary,
    );
    server.handle_frame(
        2,
        conn,
        &enc(&FixpMessage::Establish {
            session_id: id,
            timestamp: 2,
            keepalive_interval: 2000,
            next_seq_no: Some(99),
            credentials: &[],
        }),
        fixp_ws::codec::FrameKind::Binary,
    );
    let mut outs = Vec::new();
    while let Some((_, t)) = server.poll_transmit() {
        outs.push(to_out(t));
    }
    assert!(
        matches!(outs[1], Out::Msg(Msg::EstablishmentAck { .. })),
        "{outs:?}"
    );
    assert!(!outs.iter().any(|o| matches!(
        o,
        Out::Msg(Msg::RetransmitRequest { .. }) | Out::Msg(Msg::NotApplied { .. })
    )));
    server.handle_frame(3, conn, &app(7), fixp_ws::codec::FrameKind::Binary);
    let s = server.session_mut(id).unwrap();
    assert_eq!(
        s.status().next_seq_expected,
        2,
        "numbering continued at 1, not 99"
    );
}

#[test]
fn idle_sides_send_sequence_heartbeats_each_at_its_own_interval() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.server = {
        let config = fixp_ws::session::AcceptorConfig {
            session: fixp_ws::session::SessionConfig {
                flow: FlowType::Recoverable,
                keepalive_interval_ms: 1000,
                ..Default::default()
            },
            ..Default::default()
        };
        fixp_ws::session::Acceptor::new(
            config,
            TestEncoding::new(),
            fixp_ws::session::AcceptAll,
            (|_| (TestEncoding::new(), store())) as fn(_) -> _,
        )
    };
    p.connect();
    let (c0, s0) = (p.client_log.len(), p.server_log.len());
    for _ in 0..4 {
        p.advance(500 * MS);
    }
    let client_hb = p.client_log[c0..]
        .iter()
        .filter(|o| **o == Out::Msg(Msg::Sequence(1)))
        .count();
    let server_hb = p.server_log[s0..]
        .iter()
        .filter(|o| **o == Out::Msg(Msg::Sequence(1)))
        .count();
    assert_eq!(
        client_hb,
        1,
        "client interval 2000 ms: {:?}",
        &p.client_log[c0..]
    );
    assert_eq!(
        server_hb,
        2,
        "server interval 1000 ms: {:?}",
        &p.server_log[s0..]
    );
    assert_eq!(p.client.state(), SessionState::Established);
}

#[test]
fn unsequenced_flows_heartbeat_with_unsequenced_heartbeat_and_deliver_without_numbers() {
    let mut p = Pair::new(FlowType::Unsequenced, FlowType::Unsequenced);
    p.connect();
    let c0 = p.client_log.len();
    p.advance(2000 * MS);
    assert!(p.client_log[c0..].contains(&Out::Msg(Msg::UnsequencedHeartbeat)));
    assert_eq!(p.client.send(p.now, &app(5)), Ok(0));
    p.pump();
    assert_eq!(messages(&p.server_events()), vec![(0, 5)]);
    assert!(!p
        .client_log
        .iter()
        .any(|o| matches!(o, Out::Msg(Msg::Sequence(_)))));
}

#[test]
fn none_flow_refuses_sends() {
    let (mut c, now) = established_client(FlowType::None, FlowType::Recoverable, Some(1));
    assert_eq!(c.send(now, &app(1)), Err(SendError::FlowIsNone));
}

#[test]
fn peer_silent_past_interval_warns_then_terminates_and_client_reestablishes() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    assert_eq!(
        c.next_deadline(),
        Some(now + 1000 * MS),
        "peer interval 1000 ms"
    );
    c.handle_timeout(now + 1000 * MS);
    let evs = events(&mut c);
    assert!(has(&evs, "PeerLapse { silent_ns: 1000000000 }"), "{evs:?}");
    assert_eq!(c.state(), SessionState::Established);
    c.handle_timeout(now + 2000 * MS);
    let out = drain(&mut c);
    let (code, reason) = close_of(&out).expect("Close after 2 intervals");
    assert_eq!(code, 1002);
    assert!(reason.contains("silent"), "{reason}");
    assert!(has(&events(&mut c), "Terminated(PeerTimeout)"));
    c.handle_disconnected(now + 2000 * MS);
    c.handle_connected(now + 3000 * MS);
    assert!(
        matches!(drain(&mut c)[0], Out::Msg(Msg::Establish { id, .. }) if id == c.session_id())
    );
}

#[test]
fn any_inbound_message_resets_the_lapse_timer() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    c.handle_frame(
        now + 900 * MS,
        &enc(&FixpMessage::Sequence { next_seq_no: 1 }),
        fixp_ws::codec::FrameKind::Binary,
    );
    c.handle_timeout(now + 1500 * MS);
    assert!(!has(&events(&mut c), "PeerLapse"));
    assert_eq!(c.next_deadline().map(|d| d <= now + 1900 * MS), Some(true));
}

#[test]
fn applied_and_not_applied_received_on_idempotent_flow_become_events() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    feed(
        &mut c,
        now,
        &FixpMessage::NotApplied {
            from_seq_no: 4,
            count: 2,
        },
    );
    feed(
        &mut c,
        now,
        &FixpMessage::Applied {
            from_seq_no: 1,
            count: 3,
        },
    );
    let evs = events(&mut c);
    assert!(
        has(&evs, "NotAppliedReceived { from_seq_no: 4, count: 2 }"),
        "{evs:?}"
    );
    assert!(has(&evs, "AppliedReceived { from_seq_no: 1, count: 3 }"));
    // They consumed inbound sequence numbers 1 and 2.
    assert_eq!(c.status().next_seq_expected, 3);
}

#[test]
fn send_before_establishment_is_refused() {
    let mut c = client(FlowType::Idempotent, sid(1));
    assert_eq!(c.send(0, &app(1)), Err(SendError::NotEstablished));
}

#[test]
fn graceful_unbind_closes_1000_and_the_session_is_re_established_later() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    let id = p.client.session_id();
    let now = p.now;
    p.client.send(now, &app(1)).unwrap();
    p.client
        .terminate(now, fixp_ws::session::TerminateReason::Unbind);
    p.pump();
    assert_eq!(
        close_of(&p.client_log),
        Some((1000, "Finished: unbind".to_string()))
    );
    assert_eq!(p.client.state(), SessionState::NotEstablished);
    p.now += 60_000 * MS;
    p.connect();
    assert_eq!(p.client.state(), SessionState::Established);
    assert_eq!(p.client.session_id(), id);
    assert_eq!(p.client.send(p.now, &app(2)), Ok(2));
    p.pump();
    assert_eq!(messages(&p.server_events()), vec![(1, 1), (2, 2)]);
}

#[test]
fn conga_quiescent_ten_seconds_idle_then_suspend_and_reopen_with_same_session_id() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    let id = p.client.session_id();
    for _ in 0..20 {
        p.advance(500 * MS);
    }
    assert_eq!(
        p.client.state(),
        SessionState::Established,
        "heartbeats kept it up"
    );
    assert_eq!(p.server_session().state(), SessionState::Established);
    let now = p.now;
    p.client
        .terminate(now, fixp_ws::session::TerminateReason::Unbind);
    p.pump();
    p.connect();
    assert_eq!(p.client.state(), SessionState::Established);
    assert_eq!(p.client.session_id(), id);
}

#[test]
fn conga_self_trade_orders_numbered_one_and_two_and_three_reports_received() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    let now = p.now;
    assert_eq!(p.client.send(now, &app(101)), Ok(1));
    assert_eq!(p.client.send(now, &app(102)), Ok(2));
    p.pump();
    assert_eq!(messages(&p.server_events()), vec![(1, 101), (2, 102)]);
    for report in [201, 202, 203] {
        p.server_session().send(now, &app(report)).unwrap();
    }
    p.pump();
    assert_eq!(
        messages(&events(&mut p.client)),
        vec![(1, 201), (2, 202), (3, 203)]
    );
}

#[test]
fn next_deadline_is_never_in_the_past_after_handle_timeout() {
    let mut c = client(FlowType::Idempotent, sid(4));
    c.handle_connected(10);
    for step in 1..200u64 {
        let now = 10 + step * 137 * MS;
        c.handle_timeout(now);
        if let Some(d) = c.next_deadline() {
            assert!(d > now, "deadline {d} not after {now} in {:?}", c.state());
        }
        drain(&mut c);
        events(&mut c);
    }
}

#[test]
fn event_queue_overflow_closes_1011_without_losing_a_recoverable_message() {
    let config = fixp_ws::session::SessionConfig {
        flow: FlowType::Idempotent,
        event_capacity: 6,
        ..Default::default()
    };
    let mut c = fixp_ws::session::Session::client(config, TestEncoding::new(), store(), sid(8));
    establish(&mut c, FlowType::Recoverable, Some(1), 3);
    drain(&mut c);
    while c.poll_event().is_some() {}
    for i in 1..=6 {
        feed_app(&mut c, 4, i);
    }
    let (code, reason) = close_of(&drain(&mut c)).expect("Close");
    assert_eq!(code, 1011);
    assert!(reason.contains("event queue overflow"), "{reason}");
    let evs = events(&mut c);
    let delivered = messages(&evs);
    // Three slots are kept for the termination events.
    assert_eq!(delivered, vec![(1, 1), (2, 2), (3, 3)]);
    assert!(has(&evs, "Terminated(EventOverflow)"), "{evs:?}");
    assert_eq!(
        c.status().next_seq_expected,
        4,
        "message 4 was not consumed"
    );
}

/// Moves frames between one client and the acceptor (connection `conn`) until quiet.
fn pump_one(
    c: &mut Session<TestEncoding, MemoryStore>,
    server: &mut TestAcceptor,
    conn: ConnectionId,
    now: u64,
) {
    loop {
        let mut moved = false;
        while let Some(t) = c.poll_transmit() {
            moved = true;
            server.handle_frame(now, conn, &frame_bytes(&t), FrameKind::Binary);
        }
        while let Some((to, t)) = server.poll_transmit() {
            moved = true;
            assert_eq!(to, conn, "only one connection has traffic in this test");
            c.handle_frame(now, &frame_bytes(&t), FrameKind::Binary);
        }
        if !moved {
            return;
        }
    }
}

#[test]
fn acceptor_serves_events_of_busy_sessions_round_robin() {
    let mut server = acceptor(FlowType::Recoverable);
    let now = 1_700_000_000_000_000_000;
    let mut a = client(FlowType::Idempotent, sid(1));
    let mut b = client(FlowType::Idempotent, sid(2));
    for (c, conn) in [(&mut a, ConnectionId(1)), (&mut b, ConnectionId(2))] {
        c.handle_connected(now);
        pump_one(c, &mut server, conn, now);
        assert_eq!(c.state(), fixp_ws::session::SessionState::Established);
        for n in 0..3 {
            c.send(now, &app(n)).unwrap();
        }
        pump_one(c, &mut server, conn, now);
    }
    let mut order = Vec::new();
    while let Some((id, event)) = server.poll_event() {
        if let Event::Message { .. } = event {
            order.push(id);
        }
    }
    let (ia, ib) = (a.session_id(), b.session_id());
    assert_eq!(order.iter().filter(|&&id| id == ia).count(), 3);
    assert_eq!(order.iter().filter(|&&id| id == ib).count(), 3);
    assert!(
        order.windows(2).all(|w| w[0] != w[1]),
        "one session's messages were served in a run: {order:?}"
    );
}
