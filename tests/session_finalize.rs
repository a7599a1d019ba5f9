//! Two-way finalization (digest §4.5, §10.1 cases 21–26, spec issue #60).

mod session_support;

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::FixpMessage;
use fixp_ws::session::{MemoryStore, SendError, Session, SessionState};
use session_support::*;

#[test]
fn two_way_finalization_then_close_1000_and_half_close_keeps_peer_flow_alive() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    let now = p.now;
    p.client.send(now, &app(1)).unwrap();
    p.client.send(now, &app(2)).unwrap();
    p.client.finalize(now);
    assert_eq!(p.client.send(now, &app(3)), Err(SendError::Finished));
    p.pump();
    assert!(p
        .client_log
        .contains(&Out::Msg(Msg::FinishedSending(Some(2)))));
    assert!(p.server_log.contains(&Out::Msg(Msg::FinishedReceiving)));
    // Half-close: the server still sends execution reports.
    assert_eq!(p.server_session().send(now, &app(100)), Ok(1));
    p.pump();
    assert_eq!(messages(&events(&mut p.client)), vec![(1, 100)]);
    assert_eq!(p.client.state(), SessionState::Established);
    p.server_session().finalize(now);
    p.pump();
    assert!(p
        .server_log
        .contains(&Out::Msg(Msg::FinishedSending(Some(1)))));
    assert!(p.client_log.contains(&Out::Msg(Msg::FinishedReceiving)));
    // The initiator unbinds with Close 1000.
    let (code, reason) = close_of(&p.client_log).expect("client Close");
    assert_eq!(code, 1000);
    assert!(reason.starts_with("Finished:"), "{reason}");
    assert_eq!(p.client.state(), SessionState::Finalized);
    assert!(has(&events(&mut p.client), "Finalized"));
}

#[test]
fn finished_sending_repeats_as_heartbeat_until_finished_receiving() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    c.send(now, &app(1)).unwrap();
    c.finalize(now);
    let out = drain(&mut c);
    assert_eq!(out.last(), Some(&Out::Msg(Msg::FinishedSending(Some(1)))));
    // Keep the peer alive so the lapse does not fire.
    feed(
        &mut c,
        now + 1900 * MS,
        &FixpMessage::Sequence { next_seq_no: 1 },
    );
    c.handle_timeout(now + 2000 * MS);
    assert_eq!(drain(&mut c), vec![Out::Msg(Msg::FinishedSending(Some(1)))]);
    let id = c.session_id();
    feed(
        &mut c,
        now + 2001 * MS,
        &FixpMessage::FinishedReceiving { session_id: id },
    );
    c.handle_timeout(now + 4000 * MS);
    assert_eq!(
        drain(&mut c),
        vec![Out::Msg(Msg::Sequence(2))],
        "plain heartbeat once finished"
    );
}

#[test]
fn finished_sending_with_gap_on_recoverable_flow_requests_retransmission_before_finished_receiving()
{
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    let id = c.session_id();
    feed_app(&mut c, now, 1);
    feed_app(&mut c, now, 2);
    feed(
        &mut c,
        now,
        &FixpMessage::FinishedSending {
            session_id: id,
            last_seq_no: Some(5),
        },
    );
    let out = drain(&mut c);
    let [Out::Msg(Msg::RetransmitRequest {
        ts,
        from: 3,
        count: 3,
    })] = out[..]
    else {
        panic!("{out:?}")
    };
    feed(
        &mut c,
        now,
        &FixpMessage::Retransmission {
            session_id: id,
            request_timestamp: ts,
            next_seq_no: 3,
            count: 3,
        },
    );
    for i in 3..=5 {
        feed_app(&mut c, now, i);
    }
    assert_eq!(drain(&mut c), vec![Out::Msg(Msg::FinishedReceiving)]);
    assert_eq!(messages(&events(&mut c)).len(), 5);
}

#[test]
fn finished_sending_with_gap_on_idempotent_flow_sends_not_applied_then_finished_receiving() {
    let (mut c, now) = established_client(FlowType::Recoverable, FlowType::Idempotent, None);
    let id = c.session_id();
    feed_app(&mut c, now, 1);
    feed(
        &mut c,
        now,
        &FixpMessage::FinishedSending {
            session_id: id,
            last_seq_no: Some(3),
        },
    );
    let out = drain(&mut c);
    assert_eq!(
        out,
        vec![
            Out::Msg(Msg::Sequence(1)),
            Out::Msg(Msg::NotApplied { from: 2, count: 2 }),
            Out::Msg(Msg::FinishedReceiving)
        ]
    );
}

#[test]
fn finished_peer_heartbeat_sequence_is_accepted() {
    let (mut c, now) = peer_finished_after_one_message();
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 2 });
    assert_eq!(close_of(&drain(&mut c)), None, "heartbeat, not a violation");
    assert_eq!(c.state(), SessionState::Established);
}

#[test]
fn messages_after_finished_sending_are_violations() {
    // Sequence(LastSeqNo + 1) is the finished peer's heartbeat (accepted, see below); a
    // Sequence announcing further messages is a violation.
    for late in [
        FixpMessage::Sequence { next_seq_no: 3 },
        FixpMessage::Applied {
            from_seq_no: 1,
            count: 1,
        },
    ] {
        let (mut c, now) = peer_finished_after_one_message();
        feed(&mut c, now, &late);
        let (code, reason) = close_of(&drain(&mut c)).expect("Close");
        assert_eq!(code, 1002);
        assert!(reason.contains("after FinishedSending"), "{reason}");
    }
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    let id = c.session_id();
    feed(
        &mut c,
        now,
        &FixpMessage::FinishedSending {
            session_id: id,
            last_seq_no: Some(0),
        },
    );
    feed_app(&mut c, now, 1);
    assert!(close_of(&drain(&mut c))
        .unwrap()
        .1
        .contains("after FinishedSending"));
}

#[test]
fn finished_receiving_without_finished_sending_is_a_violation() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    let id = c.session_id();
    feed(
        &mut c,
        now,
        &FixpMessage::FinishedReceiving { session_id: id },
    );
    let (code, reason) = close_of(&drain(&mut c)).unwrap();
    assert_eq!(code, 1002);
    assert!(
        reason.contains("FinishedReceiving without FinishedSending"),
        "{reason}"
    );
}

#[test]
fn retransmit_request_after_finished_receiving_is_a_violation() {
    let config = fixp_ws::session::SessionConfig {
        flow: FlowType::Recoverable,
        ..Default::default()
    };
    let mut p = Pair::new(FlowType::Recoverable, FlowType::Recoverable);
    p.client = fixp_ws::session::Session::client(config, TestEncoding::new(), store(), sid(9));
    p.connect();
    let now = p.now;
    p.client.send(now, &app(1)).unwrap();
    p.client.finalize(now);
    p.pump();
    assert!(p.server_log.contains(&Out::Msg(Msg::FinishedReceiving)));
    let id = p.client.session_id();
    feed(
        &mut p.client,
        now,
        &FixpMessage::RetransmitRequest {
            session_id: id,
            timestamp: 5,
            from_seq_no: 1,
            count: 1,
        },
    );
    let (code, reason) = close_of(&drain(&mut p.client)).unwrap();
    assert_eq!(code, 1002);
    assert!(
        reason.contains("RetransmitRequest after FinishedReceiving"),
        "{reason}"
    );
}

#[test]
fn drop_mid_finalization_reestablishes_and_completes() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    let now = p.now;
    p.client.send(now, &app(1)).unwrap();
    p.pump();
    p.client.finalize(now);
    // FinishedSending lost in the drop.
    p.drop_connection();
    p.now += 10 * MS;
    let before = p.client_log.len();
    p.connect();
    assert!(
        p.client_log[before..].contains(&Out::Msg(Msg::FinishedSending(Some(1)))),
        "{:?}",
        &p.client_log[before..]
    );
    assert!(p.server_log.contains(&Out::Msg(Msg::FinishedReceiving)));
    let now = p.now;
    p.server_session().finalize(now);
    p.pump();
    assert_eq!(p.client.state(), SessionState::Finalized);
    assert_eq!(close_of(&p.client_log[before..]).map(|c| c.0), Some(1000));
}

#[test]
fn unsequenced_flows_finalize_with_null_last_seq_no() {
    let mut p = Pair::new(FlowType::Unsequenced, FlowType::Unsequenced);
    p.connect();
    let now = p.now;
    p.client.finalize(now);
    p.server_session().finalize(now);
    p.pump();
    assert!(p.client_log.contains(&Out::Msg(Msg::FinishedSending(None))));
    assert_eq!(p.client.state(), SessionState::Finalized);
}

fn peer_terminate_finished(c: &mut Session<TestEncoding, MemoryStore>, now: u64) {
    let id = c.session_id();
    feed(
        c,
        now,
        &FixpMessage::Terminate {
            session_id: id,
            code: fixp_ws::codec::fixp::TerminationCode::Finished,
            reason: &[],
        },
    );
}

#[test]
fn terminate_finished_without_finalization_is_a_plain_unbind() {
    // §10.1 case 9: Terminate(Finished) answered by Terminate(Finished) (here, Close 1000:
    // Close replaces Terminate); the session is not finalized and is re-established later.
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    c.send(now, &app(1)).unwrap();
    drain(&mut c);
    peer_terminate_finished(&mut c, now);
    let (code, reason) = close_of(&drain(&mut c)).expect("a Close answers the Terminate");
    assert_eq!(code, 1000);
    assert_eq!(reason, "Finished: peer terminated (Finished)");
    assert_eq!(c.state(), SessionState::NotEstablished);
    let evs = events(&mut c);
    assert!(has(&evs, "Terminated(PeerTerminated(Finished))"), "{evs:?}");
    assert!(!has(&evs, "Finalized"));
    c.handle_disconnected(now + MS);
    c.handle_connected(now + 2 * MS);
    assert!(matches!(
        drain(&mut c)[..],
        [Out::Msg(Msg::Establish { .. })]
    ));
}

#[test]
fn terminate_finished_while_finalizing_is_answered_logical_flow_interrupted() {
    // §10.1 case 24: a Terminate(Finished) while finalization is under way but not complete
    // (we sent FinishedSending, the peer has not finished its flow) is answered with
    // UnspecifiedError "Logical Flow Interrupted"; the session is not finalized and can be
    // re-established.
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    c.send(now, &app(1)).unwrap();
    c.finalize(now);
    drain(&mut c);
    peer_terminate_finished(&mut c, now);
    let (code, reason) = close_of(&drain(&mut c)).expect("a Close answers the Terminate");
    assert_eq!(code, 1002);
    assert_eq!(reason, "UnspecifiedError: Logical Flow Interrupted");
    assert_eq!(c.state(), SessionState::NotEstablished);
    assert!(has(&events(&mut c), "FlowInterrupted"));
}

#[test]
fn terminate_finished_after_the_peer_finished_sending_is_logical_flow_interrupted() {
    // The other half of case 24: the peer finished its flow, ours is still open.
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    let id = c.session_id();
    feed_app(&mut c, now, 1);
    feed(
        &mut c,
        now,
        &FixpMessage::FinishedSending {
            session_id: id,
            last_seq_no: Some(1),
        },
    );
    assert!(drain(&mut c).contains(&Out::Msg(Msg::FinishedReceiving)));
    peer_terminate_finished(&mut c, now);
    let (code, _) = close_of(&drain(&mut c)).expect("a Close answers the Terminate");
    assert_eq!(code, 1002);
    assert!(has(&events(&mut c), "FlowInterrupted"));
}

#[test]
fn terminate_with_an_error_code_is_answered_and_keeps_the_session() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    let id = c.session_id();
    feed(
        &mut c,
        now,
        &FixpMessage::Terminate {
            session_id: id,
            code: fixp_ws::codec::fixp::TerminationCode::UnspecifiedError,
            reason: b"bye",
        },
    );
    let (code, reason) = close_of(&drain(&mut c)).expect("a Close answers the Terminate");
    assert_eq!(code, 1000);
    assert!(reason.starts_with("UnspecifiedError:"), "{reason}");
    assert_eq!(c.state(), SessionState::NotEstablished);
}

/// An established client whose peer sent one application message and then FinishedSending(1),
/// already answered with FinishedReceiving.
fn peer_finished_after_one_message() -> (Session<TestEncoding, MemoryStore>, u64) {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    let id = c.session_id();
    feed_app(&mut c, now, 1);
    feed(
        &mut c,
        now,
        &FixpMessage::FinishedSending {
            session_id: id,
            last_seq_no: Some(1),
        },
    );
    assert_eq!(drain(&mut c), vec![Out::Msg(Msg::FinishedReceiving)]);
    (c, now)
}
