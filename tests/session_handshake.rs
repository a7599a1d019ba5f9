//! Negotiation and establishment (digest §10.1 cases 1–10), driven by a simulated clock.

mod session_support;

use fixp_ws::codec::fixp::{EstablishmentRejectCode, FlowType, NegotiationRejectCode};
use fixp_ws::codec::{FixpMessage, FrameKind};
use fixp_ws::session::{ConnectionId, SessionState};
use session_support::*;

#[test]
fn negotiate_then_establish_for_every_flow_pair_echoes_id_and_timestamp() {
    let pairs = [
        (FlowType::Recoverable, FlowType::Recoverable),
        (FlowType::Unsequenced, FlowType::Unsequenced),
        (FlowType::Idempotent, FlowType::Recoverable),
        (FlowType::None, FlowType::Recoverable),
        (FlowType::Unsequenced, FlowType::Recoverable),
        (FlowType::None, FlowType::Unsequenced),
    ];
    for (cf, sf) in pairs {
        let mut p = Pair::new(cf, sf);
        p.connect();
        assert_eq!(p.client.state(), SessionState::Established, "{cf:?}/{sf:?}");
        let Out::Msg(Msg::Negotiate { id, ts, flow }) = p.client_log[0].clone() else {
            panic!("first frame is Negotiate: {:?}", p.client_log)
        };
        assert_eq!(flow, cf);
        assert_eq!(
            p.server_log[0],
            Out::Msg(Msg::NegotiationResponse { id, ts, flow: sf })
        );
        let Out::Msg(Msg::Establish {
            id: eid,
            ts: ets,
            keepalive,
            next,
        }) = p.client_log[1].clone()
        else {
            panic!("second frame is Establish")
        };
        assert_eq!(eid, id);
        assert!(ets > ts, "timestamps strictly increase");
        assert_eq!(keepalive, 2000);
        // A2: NextSeqNo only for a Recoverable client flow.
        assert_eq!(next, (cf == FlowType::Recoverable).then_some(1));
        let Out::Msg(Msg::EstablishmentAck {
            id: aid,
            ts: ats,
            next: anext,
            ..
        }) = p.server_log[1].clone()
        else {
            panic!("EstablishmentAck expected: {:?}", p.server_log)
        };
        assert_eq!((aid, ats), (id, ets));
        assert_eq!(anext, (sf == FlowType::Recoverable).then_some(1));
        let status = p.client.status();
        assert_eq!(status.inbound_flow, Some(sf));
        assert_eq!(status.outbound_flow, cf);
        assert_eq!(p.server_session().status().inbound_flow, Some(cf));
    }
}

fn negotiate_frame(id: fixp_ws::codec::SessionId, flow: FlowType, credentials: &[u8]) -> Vec<u8> {
    enc(&FixpMessage::Negotiate {
        session_id: id,
        timestamp: 1_700_000_000_000_000_000,
        client_flow: flow,
        credentials,
    })
}

fn first_out(server: &mut TestAcceptor) -> Vec<(ConnectionId, Out)> {
    let mut v = Vec::new();
    while let Some((c, t)) = server.poll_transmit() {
        v.push((c, to_out(t)));
    }
    v
}

#[test]
fn negotiation_rejects_nil_id_duplicate_id_and_unsupported_flow() {
    let config = fixp_ws::session::AcceptorConfig {
        client_flows: vec![FlowType::Idempotent],
        ..Default::default()
    };
    let mut server: TestAcceptor = fixp_ws::session::Acceptor::new(
        config,
        TestEncoding::new(),
        fixp_ws::session::AcceptAll,
        (|_| (TestEncoding::new(), store())) as fn(_) -> _,
    );
    let now = 1;
    server.handle_frame(
        now,
        ConnectionId(1),
        &negotiate_frame(fixp_ws::codec::SessionId::NIL, FlowType::Idempotent, b""),
        FrameKind::Binary,
    );
    let out = first_out(&mut server);
    assert!(matches!(
        out[0].1,
        Out::Msg(Msg::NegotiationReject {
            code: NegotiationRejectCode::Unspecified,
            ..
        })
    ));
    assert!(matches!(out[1], (ConnectionId(1), Out::Close(1002, _))));

    server.handle_frame(
        now,
        ConnectionId(2),
        &negotiate_frame(sid(1), FlowType::Recoverable, b""),
        FrameKind::Binary,
    );
    let out = first_out(&mut server);
    assert!(matches!(
        out[0].1,
        Out::Msg(Msg::NegotiationReject {
            code: NegotiationRejectCode::FlowTypeNotSupported,
            ..
        })
    ));

    server.handle_frame(
        now,
        ConnectionId(3),
        &negotiate_frame(sid(1), FlowType::Idempotent, b""),
        FrameKind::Binary,
    );
    let out = first_out(&mut server);
    assert!(
        matches!(out[0].1, Out::Msg(Msg::NegotiationResponse { .. })),
        "{out:?}"
    );
    server.handle_frame(
        now,
        ConnectionId(4),
        &negotiate_frame(sid(1), FlowType::Idempotent, b""),
        FrameKind::Binary,
    );
    let out = first_out(&mut server);
    assert!(
        matches!(
            out[0].1,
            Out::Msg(Msg::NegotiationReject {
                code: NegotiationRejectCode::DuplicateId,
                ..
            })
        ),
        "{out:?}"
    );
    assert_eq!(out[0].0, ConnectionId(4));
}

struct UserAuth;
impl fixp_ws::session::Authenticator for UserAuth {
    fn authenticate(
        &mut self,
        request: &fixp_ws::session::AuthRequest<'_>,
    ) -> fixp_ws::session::AuthDecision {
        match request.credentials {
            b"user1" => fixp_ws::session::AuthDecision::Accept,
            b"blocked" => fixp_ws::session::AuthDecision::Blocked,
            _ => fixp_ws::session::AuthDecision::Refuse(fixp_ws::session::AuthFailure::WrongToken),
        }
    }
}

#[test]
fn bad_credentials_reject_negotiate_and_establish_blocked_user_gets_session_blocked() {
    let mut server = fixp_ws::session::Acceptor::new(
        fixp_ws::session::AcceptorConfig::default(),
        TestEncoding::new(),
        UserAuth,
        |_| (TestEncoding::new(), store()),
    );
    server.handle_frame(
        1,
        ConnectionId(1),
        &negotiate_frame(sid(1), FlowType::Idempotent, b"user2"),
        FrameKind::Binary,
    );
    let (_, t) = server.poll_transmit().unwrap();
    assert!(matches!(
        to_out(t),
        Out::Msg(Msg::NegotiationReject {
            code: NegotiationRejectCode::Credentials,
            ..
        })
    ));
    let (_, t) = server.poll_transmit().unwrap();
    assert!(matches!(to_out(t), Out::Close(1008, _)));

    server.handle_frame(
        2,
        ConnectionId(2),
        &negotiate_frame(sid(2), FlowType::Idempotent, b"user1"),
        FrameKind::Binary,
    );
    let (_, t) = server.poll_transmit().unwrap();
    assert!(matches!(
        to_out(t),
        Out::Msg(Msg::NegotiationResponse { .. })
    ));
    for (creds, code) in [
        (&b"user2"[..], EstablishmentRejectCode::Credentials),
        (&b"blocked"[..], EstablishmentRejectCode::SessionBlocked),
    ] {
        let est = enc(&FixpMessage::Establish {
            session_id: sid(2),
            timestamp: 3,
            keepalive_interval: 1000,
            next_seq_no: None,
            credentials: creds,
        });
        server.handle_frame(3, ConnectionId(2), &est, FrameKind::Binary);
        let (c, t) = server.poll_transmit().unwrap();
        assert_eq!(c, ConnectionId(2));
        assert_eq!(
            to_out(t),
            Out::Msg(Msg::EstablishmentReject {
                id: sid(2),
                ts: 3,
                code
            })
        );
        let (_, t) = server.poll_transmit().unwrap();
        assert!(matches!(to_out(t), Out::Close(1008, _)));
    }
}

#[test]
fn establish_rejects_unnegotiated_already_established_and_keepalive_out_of_range() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    let id = p.client.session_id();
    let est = |id, keepalive| {
        enc(&FixpMessage::Establish {
            session_id: id,
            timestamp: 5,
            keepalive_interval: keepalive,
            next_seq_no: None,
            credentials: &[],
        })
    };
    // Unknown id.
    p.server.handle_frame(
        p.now,
        ConnectionId(100),
        &est(sid(99), 1000),
        FrameKind::Binary,
    );
    let out = first_out(&mut p.server);
    assert_eq!(
        out[0].1,
        Out::Msg(Msg::EstablishmentReject {
            id: sid(99),
            ts: 5,
            code: EstablishmentRejectCode::Unnegotiated
        })
    );
    // Bound to the live connection.
    p.server
        .handle_frame(p.now, ConnectionId(101), &est(id, 1000), FrameKind::Binary);
    let out = first_out(&mut p.server);
    assert_eq!(
        out[0].1,
        Out::Msg(Msg::EstablishmentReject {
            id,
            ts: 5,
            code: EstablishmentRejectCode::AlreadyEstablished
        })
    );
    // Unbound, but keepalive out of range.
    p.drop_connection();
    p.server
        .handle_frame(p.now, ConnectionId(102), &est(id, 10), FrameKind::Binary);
    let out = first_out(&mut p.server);
    assert_eq!(
        out[0].1,
        Out::Msg(Msg::EstablishmentReject {
            id,
            ts: 5,
            code: EstablishmentRejectCode::KeepaliveInterval
        })
    );
    // Nil id.
    p.server.handle_frame(
        p.now,
        ConnectionId(103),
        &est(fixp_ws::codec::SessionId::NIL, 1000),
        FrameKind::Binary,
    );
    let out = first_out(&mut p.server);
    assert!(matches!(
        out[0].1,
        Out::Msg(Msg::EstablishmentReject {
            code: EstablishmentRejectCode::Unspecified,
            ..
        })
    ));
}

#[test]
fn reestablish_after_drop_uses_same_session_id_without_negotiate() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    let id = p.client.session_id();
    p.drop_connection();
    assert_eq!(p.client.state(), SessionState::NotEstablished);
    let before = p.client_log.len();
    p.now += 5 * MS;
    p.connect();
    assert_eq!(p.client.state(), SessionState::Established);
    let Out::Msg(Msg::Establish { id: eid, .. }) = p.client_log[before].clone() else {
        panic!(
            "re-establishment starts with Establish: {:?}",
            &p.client_log[before..]
        )
    };
    assert_eq!(eid, id);
    assert!(!p.client_log[before..]
        .iter()
        .any(|o| matches!(o, Out::Msg(Msg::Negotiate { .. }))));
}

#[test]
fn client_ignores_mismatched_response_and_retries_negotiate_with_new_id() {
    let mut c = client(FlowType::Idempotent, sid(3));
    c.handle_connected(1000);
    let out = drain(&mut c);
    let Out::Msg(Msg::Negotiate { id, ts, .. }) = out[0].clone() else {
        panic!()
    };
    // Wrong timestamp: ignored.
    let bad = enc(&FixpMessage::NegotiationResponse {
        session_id: id,
        request_timestamp: ts + 1,
        server_flow: FlowType::Recoverable,
        credentials: &[],
    });
    c.handle_frame(2000, &bad, FrameKind::Binary);
    assert_eq!(c.state(), SessionState::Negotiating);
    assert!(has(&events(&mut c), "ResponseIgnored(NegotiationResponse)"));
    // Timeout: retry with a new SessionId and a later timestamp.
    assert_eq!(c.next_deadline(), Some(1000 + 2000 * MS));
    c.handle_timeout(1000 + 2000 * MS);
    let out = drain(&mut c);
    let Out::Msg(Msg::Negotiate {
        id: id2, ts: ts2, ..
    }) = out[0].clone()
    else {
        panic!("{out:?}")
    };
    assert_ne!(id2, id);
    assert_eq!(id2.0[6] >> 4, 4, "still a UUID v4");
    assert!(ts2 > ts);
    assert!(has(&events(&mut c), "HandshakeRetry { attempt: 1 }"));
}

#[test]
fn establish_timeout_retries_with_same_id_and_new_timestamp_and_ignores_mismatched_ack() {
    let mut c = client(FlowType::Idempotent, sid(3));
    c.handle_connected(10);
    let out = drain(&mut c);
    let Out::Msg(Msg::Negotiate { id, ts, .. }) = out[0].clone() else {
        panic!()
    };
    let ok = enc(&FixpMessage::NegotiationResponse {
        session_id: id,
        request_timestamp: ts,
        server_flow: FlowType::Recoverable,
        credentials: &[],
    });
    c.handle_frame(20, &ok, FrameKind::Binary);
    let out = drain(&mut c);
    let Out::Msg(Msg::Establish {
        id: eid, ts: ets, ..
    }) = out[0].clone()
    else {
        panic!("{out:?}")
    };
    assert_eq!(eid, id);
    let wrong = enc(&FixpMessage::EstablishmentAck {
        session_id: sid(200),
        request_timestamp: ets,
        keepalive_interval: 1000,
        next_seq_no: Some(1),
    });
    c.handle_frame(30, &wrong, FrameKind::Binary);
    assert_eq!(c.state(), SessionState::Establishing);
    c.handle_timeout(20 + 2000 * MS);
    let out = drain(&mut c);
    let Out::Msg(Msg::Establish {
        id: eid2, ts: ets2, ..
    }) = out[0].clone()
    else {
        panic!("{out:?}")
    };
    assert_eq!(eid2, id);
    assert!(ets2 > ets);
    let ack = enc(&FixpMessage::EstablishmentAck {
        session_id: id,
        request_timestamp: ets2,
        keepalive_interval: 1000,
        next_seq_no: Some(1),
    });
    c.handle_frame(21 + 2000 * MS, &ack, FrameKind::Binary);
    assert_eq!(c.state(), SessionState::Established);
}

#[test]
fn timestamps_are_strictly_increasing_even_when_the_clock_stalls() {
    let mut c = client(FlowType::Idempotent, sid(3));
    c.handle_connected(5);
    c.handle_timeout(5 + 2000 * MS);
    c.handle_timeout(5 + 2000 * MS);
    let out = drain(&mut c);
    let ts: Vec<u64> = out
        .iter()
        .filter_map(|o| match o {
            Out::Msg(Msg::Negotiate { ts, .. }) => Some(*ts),
            _ => None,
        })
        .collect();
    assert!(ts.len() >= 2);
    assert!(ts.windows(2).all(|w| w[1] > w[0]), "{ts:?}");
}

#[test]
fn negotiation_reject_leaves_client_rejected() {
    let mut c = client(FlowType::Idempotent, sid(3));
    c.handle_connected(10);
    let Out::Msg(Msg::Negotiate { id, ts, .. }) = drain(&mut c)[0].clone() else {
        panic!()
    };
    let rej = enc(&FixpMessage::NegotiationReject {
        session_id: id,
        request_timestamp: ts,
        code: NegotiationRejectCode::Credentials,
        reason: b"bad",
    });
    c.handle_frame(20, &rej, FrameKind::Binary);
    assert_eq!(c.state(), SessionState::Rejected);
    assert!(has(&events(&mut c), "NegotiationRejected(Credentials)"));
    assert!(matches!(drain(&mut c).last(), Some(Out::Close(1008, _))));
}

#[test]
fn finalized_session_id_can_never_be_reused() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    let id = p.client.session_id();
    p.client.finalize(p.now);
    p.pump();
    let now = p.now;
    p.server_session().finalize(now);
    p.pump();
    assert_eq!(p.client.state(), SessionState::Finalized);
    assert!(p.server.is_finalized(id));
    // Re-Negotiate and re-Establish with the dead id: refused.
    p.server.handle_frame(
        p.now,
        ConnectionId(77),
        &negotiate_frame(id, FlowType::Idempotent, b""),
        FrameKind::Binary,
    );
    let out = first_out(&mut p.server);
    assert!(
        matches!(
            out[0].1,
            Out::Msg(Msg::NegotiationReject {
                code: NegotiationRejectCode::DuplicateId,
                ..
            })
        ),
        "{out:?}"
    );
    let est = enc(&FixpMessage::Establish {
        session_id: id,
        timestamp: 9,
        keepalive_interval: 1000,
        next_seq_no: None,
        credentials: &[],
    });
    p.server
        .handle_frame(p.now, ConnectionId(78), &est, FrameKind::Binary);
    let out = first_out(&mut p.server);
    assert!(
        matches!(
            out[0].1,
            Out::Msg(Msg::EstablishmentReject {
                code: EstablishmentRejectCode::Unnegotiated,
                ..
            })
        ),
        "{out:?}"
    );
}

#[test]
fn seconds_based_timestamp_is_rejected_unspecified_when_epoch_checking_is_on() {
    let config = fixp_ws::session::AcceptorConfig {
        min_request_timestamp: 1_000_000_000_000_000_000,
        ..Default::default()
    };
    let mut server: TestAcceptor = fixp_ws::session::Acceptor::new(
        config,
        TestEncoding::new(),
        fixp_ws::session::AcceptAll,
        (|_| (TestEncoding::new(), store())) as fn(_) -> _,
    );
    let seconds = enc(&FixpMessage::Negotiate {
        session_id: sid(1),
        timestamp: 1_700_000_000,
        client_flow: FlowType::Idempotent,
        credentials: &[],
    });
    server.handle_frame(1, ConnectionId(1), &seconds, FrameKind::Binary);
    let out = first_out(&mut server);
    assert_eq!(
        out[0].1,
        Out::Msg(Msg::NegotiationReject {
            id: sid(1),
            ts: 1_700_000_000,
            code: NegotiationRejectCode::Unspecified
        })
    );
}

#[test]
fn second_establish_on_the_established_connection_is_rejected_already_established() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    p.connect();
    let id = p.client.session_id();
    let (now, conn) = (p.now, p.conn);
    let est = enc(&FixpMessage::Establish {
        session_id: id,
        timestamp: now + 5,
        keepalive_interval: 1000,
        next_seq_no: None,
        credentials: &[],
    });
    p.server.handle_frame(now, conn, &est, FrameKind::Binary);
    let out = first_out(&mut p.server);
    assert_eq!(
        out[0].1,
        Out::Msg(Msg::EstablishmentReject {
            id,
            ts: now + 5,
            code: EstablishmentRejectCode::AlreadyEstablished
        })
    );
    assert_eq!(p.server_session().state(), SessionState::Established);
}
