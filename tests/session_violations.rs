//! Every protocol violation of digest §10.4 ends the binding with a typed reason.

mod session_support;

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::{FixpMessage, FrameKind};
use fixp_ws::session::{ConnectionId, SessionState, MAX_CLOSE_REASON};
use session_support::*;

fn expect_violation(out: &[Out], text: &str) {
    let (code, reason) = close_of(out).unwrap_or_else(|| panic!("no Close in {out:?}"));
    assert_eq!(code, 1002, "{reason}");
    assert!(reason.starts_with("UnspecifiedError: "), "{reason}");
    assert!(reason.contains(text), "{reason:?} lacks {text:?}");
    assert!(reason.len() <= MAX_CLOSE_REASON);
}

#[test]
fn application_message_before_establishment_ack_client_side() {
    let mut c = client(FlowType::Idempotent, sid(1));
    c.handle_connected(1);
    drain(&mut c);
    feed_app(&mut c, 2, 1);
    expect_violation(
        &drain(&mut c),
        "application message before EstablishmentAck",
    );
    assert!(has(
        &events(&mut c),
        "Terminated(Violation(AppBeforeEstablished))"
    ));
}

#[test]
fn application_message_before_establishment_server_side() {
    let mut server = acceptor(FlowType::Recoverable);
    server.handle_frame(1, ConnectionId(1), &app(1), FrameKind::Binary);
    let (conn, t) = server.poll_transmit().unwrap();
    assert_eq!(conn, ConnectionId(1));
    expect_violation(&[to_out(t)], "before EstablishmentAck");
    // After Negotiate but before Establish, too.
    let id = sid(4);
    server.handle_frame(
        1,
        ConnectionId(2),
        &enc(&FixpMessage::Negotiate {
            session_id: id,
            timestamp: 1,
            client_flow: FlowType::Idempotent,
            credentials: &[],
        }),
        FrameKind::Binary,
    );
    server.handle_frame(2, ConnectionId(2), &app(1), FrameKind::Binary);
    let mut outs = Vec::new();
    while let Some((_, t)) = server.poll_transmit() {
        outs.push(to_out(t));
    }
    expect_violation(&outs, "before EstablishmentAck");
}

#[test]
fn sequence_on_unsequenced_flow() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Unsequenced, None);
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 1 });
    expect_violation(&drain(&mut c), "Sequence on an unsequenced flow");
}

#[test]
fn sequence_and_application_message_on_none_flow() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::None, None);
    feed(&mut c, now, &FixpMessage::Sequence { next_seq_no: 1 });
    expect_violation(&drain(&mut c), "Sequence on an unsequenced flow");
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::None, None);
    feed_app(&mut c, now, 1);
    expect_violation(&drain(&mut c), "application message on a None flow");
}

#[test]
fn retransmit_request_to_non_recoverable_producer() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    let id = c.session_id();
    feed(
        &mut c,
        now,
        &FixpMessage::RetransmitRequest {
            session_id: id,
            timestamp: 1,
            from_seq_no: 1,
            count: 1,
        },
    );
    expect_violation(
        &drain(&mut c),
        "RetransmitRequest for a non-Recoverable flow",
    );
}

#[test]
fn not_applied_about_non_idempotent_flow() {
    let (mut c, now) = established_client(FlowType::Recoverable, FlowType::Recoverable, Some(1));
    feed(
        &mut c,
        now,
        &FixpMessage::NotApplied {
            from_seq_no: 1,
            count: 1,
        },
    );
    expect_violation(
        &drain(&mut c),
        "Applied/NotApplied about a non-Idempotent flow",
    );
}

#[test]
fn retransmission_on_non_recoverable_inbound_flow() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Idempotent, None);
    let id = c.session_id();
    feed(
        &mut c,
        now,
        &FixpMessage::Retransmission {
            session_id: id,
            request_timestamp: 1,
            next_seq_no: 1,
            count: 1,
        },
    );
    expect_violation(&drain(&mut c), "unexpected Retransmission");
}

#[test]
fn context_and_topic_are_not_allowed_on_websocket() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    let id = c.session_id();
    feed(
        &mut c,
        now,
        &FixpMessage::Context {
            session_id: id,
            next_seq_no: 1,
        },
    );
    expect_violation(&drain(&mut c), "Context is not allowed on WebSocket");
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    feed(
        &mut c,
        now,
        &FixpMessage::Topic {
            session_id: id,
            flow: FlowType::Idempotent,
            keepalive_interval: 1,
            classification: &[],
        },
    );
    expect_violation(&drain(&mut c), "Topic is not allowed on WebSocket");
}

#[test]
fn undecodable_frame_and_two_messages_in_one_frame_close_1002() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    c.handle_frame(now, &[200, 1, 2], FrameKind::Binary);
    expect_violation(&drain(&mut c), "undecodable frame");
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    let mut two = enc(&FixpMessage::Sequence { next_seq_no: 1 });
    two.extend(enc(&FixpMessage::Sequence { next_seq_no: 1 }));
    c.handle_frame(now, &two, FrameKind::Binary);
    expect_violation(&drain(&mut c), "bytes after the message");
}

#[test]
fn anything_after_close_is_ignored_and_reported() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    c.handle_close(now, 1000);
    assert_eq!(c.state(), SessionState::NotEstablished);
    feed_app(&mut c, now, 1);
    let evs = events(&mut c);
    assert!(has(&evs, "ViolationIgnored(FrameAfterClose)"), "{evs:?}");
    assert!(messages(&evs).is_empty());
    assert!(drain(&mut c).is_empty(), "nothing is sent after Close");
}

#[test]
fn unexpected_session_message_while_established() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    let id = c.session_id();
    feed(
        &mut c,
        now,
        &FixpMessage::NegotiationResponse {
            session_id: id,
            request_timestamp: 1,
            server_flow: FlowType::Recoverable,
            credentials: &[],
        },
    );
    expect_violation(&drain(&mut c), "unexpected NegotiationResponse");
}

#[test]
fn establish_without_negotiation_is_rejected_unnegotiated() {
    let mut server = acceptor(FlowType::Recoverable);
    server.handle_frame(
        1,
        ConnectionId(1),
        &enc(&FixpMessage::Establish {
            session_id: sid(1),
            timestamp: 1,
            keepalive_interval: 1000,
            next_seq_no: None,
            credentials: &[],
        }),
        FrameKind::Binary,
    );
    let (_, t) = server.poll_transmit().unwrap();
    assert!(matches!(
        to_out(t),
        Out::Msg(Msg::EstablishmentReject {
            code: fixp_ws::codec::fixp::EstablishmentRejectCode::Unnegotiated,
            ..
        })
    ));
}

#[test]
fn termination_reasons_map_to_close_codes() {
    use fixp_ws::session::TerminateReason as R;
    assert_eq!(R::Finished.close_code(), 1000);
    assert_eq!(R::Unbind.close_code(), 1000);
    assert_eq!(
        R::Violation(fixp_ws::session::Violation::ContextOnWebSocket).close_code(),
        1002
    );
    assert_eq!(R::Refused.close_code(), 1008);
    assert_eq!(R::RecoveryOverflow.close_code(), 1011);
    assert_eq!(
        R::ReRequestInProgress.termination_code(),
        fixp_ws::codec::fixp::TerminationCode::ReRequestInProgress
    );
}

#[test]
fn extreme_sequence_numbers_from_the_peer_do_not_panic() {
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Idempotent, None);
    feed(
        &mut c,
        now,
        &FixpMessage::Sequence {
            next_seq_no: u64::MAX - 1,
        },
    );
    feed_app(&mut c, now, 1);
    feed_app(&mut c, now, 2);
    let id = c.session_id();
    feed(
        &mut c,
        now,
        &FixpMessage::FinishedSending {
            session_id: id,
            last_seq_no: Some(u64::MAX - 1),
        },
    );
    drain(&mut c);
    let evs = events(&mut c);
    assert!(has(&evs, "Gap"), "{evs:?}");
    let (mut c, now) = established_client(FlowType::Idempotent, FlowType::Recoverable, Some(1));
    feed_app(&mut c, now, 1);
    feed(
        &mut c,
        now,
        &FixpMessage::FinishedSending {
            session_id: id,
            last_seq_no: Some(u64::MAX - 1),
        },
    );
    feed(
        &mut c,
        now,
        &FixpMessage::FinishedSending {
            session_id: id,
            last_seq_no: Some(u64::MAX),
        },
    );
    let out = drain(&mut c);
    assert!(
        out.iter()
            .any(|o| matches!(o, Out::Msg(Msg::RetransmitRequest { count: 2500, .. }))),
        "{out:?}"
    );
}

#[test]
fn random_and_mutated_frames_never_panic_and_close_with_a_typed_reason() {
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};
    let mut rng = SmallRng::seed_from_u64(42);
    let id = sid(3);
    let valid = [
        enc(&FixpMessage::Sequence { next_seq_no: 5 }),
        enc(&FixpMessage::RetransmitRequest {
            session_id: id,
            timestamp: 1,
            from_seq_no: 1,
            count: 3,
        }),
        enc(&FixpMessage::FinishedSending {
            session_id: id,
            last_seq_no: Some(9),
        }),
        enc(&FixpMessage::NotApplied {
            from_seq_no: 1,
            count: 1,
        }),
        app(1),
    ];
    let mut closes = 0;
    for round in 0..3000 {
        let flows = [
            FlowType::Recoverable,
            FlowType::Idempotent,
            FlowType::Unsequenced,
            FlowType::None,
        ];
        let (mut c, now) = established_client(flows[round % 4], flows[(round / 4) % 4], Some(1));
        for _ in 0..4 {
            let mut frame = valid[rng.random_range(0..valid.len())].clone();
            match rng.random_range(0..3) {
                0 => {
                    let i = rng.random_range(0..frame.len());
                    frame[i] = rng.random();
                }
                1 => frame.truncate(rng.random_range(0..frame.len())),
                _ => frame = (0..rng.random_range(0..40)).map(|_| rng.random()).collect(),
            }
            c.handle_frame(now, &frame, FrameKind::Binary);
        }
        let out = drain(&mut c);
        if let Some((code, reason)) = close_of(&out) {
            closes += 1;
            assert!(matches!(code, 1000 | 1002 | 1011), "{code} {reason}");
            assert!(reason.len() <= MAX_CLOSE_REASON);
        }
        while c.poll_event().is_some() {}
    }
    assert!(closes > 1000, "{closes}");
}
