//! Termination styles (digest §4.4, A8): over TCP the session sends FIXP Terminate and waits,
//! bounded, for the peer's Terminate before `Transmit::Close` ("close the transport now"), and
//! answers a peer's Terminate with its own; over WebSocket the Close replaces Terminate as
//! before. Driven with a simulated clock.

mod session_support;

use fixp_ws::codec::fixp::{FlowType, TerminationCode};
use fixp_ws::codec::FixpMessage;
use fixp_ws::session::{
    ConnectionId, MemoryStore, Session, SessionState, TerminateReason, Termination,
};
use session_support::*;

const TIMEOUT_MS: u32 = 1000;
const TCP: Termination = Termination::FixpTerminate {
    timeout_ms: TIMEOUT_MS,
};

fn terminate_msg(code: TerminationCode, reason: &str) -> Out {
    Out::Msg(Msg::Terminate {
        code,
        reason: reason.to_owned(),
    })
}

/// An answer to the peer's Terminate: our Terminate with `text`, then Close at once.
fn answered(code: TerminationCode, text: &str, close_code: u16) -> [Out; 2] {
    [
        terminate_msg(code, text),
        Out::Close(close_code, format!("{}: {text}", code.name())),
    ]
}

/// Connects the pair over a TCP-style connection: both sides end bindings with Terminate.
fn connect_tcp(p: &mut Pair) {
    p.client.set_termination(TCP);
    p.server.set_termination(ConnectionId(p.conn.0 + 1), TCP);
    p.connect();
    assert_eq!(p.client.state(), SessionState::Established);
}

/// A client with the given termination style, established against a scripted server
/// (Recoverable server flow), frames and events drained.
fn scripted(termination: Termination) -> (Session<TestEncoding, MemoryStore>, u64) {
    let mut c = client(FlowType::Idempotent, sid(9));
    c.set_termination(termination);
    let now = 1_000_000_000;
    establish(&mut c, FlowType::Recoverable, Some(1), now);
    assert_eq!(c.state(), SessionState::Established);
    drain(&mut c);
    events(&mut c);
    (c, now)
}

/// Sequence(5) then Sequence(2): a lower Sequence on the Recoverable inbound flow, a violation.
fn lower_sequence(c: &mut Session<TestEncoding, MemoryStore>, now: u64) {
    feed(c, now, &FixpMessage::Sequence { next_seq_no: 5 });
    drain(c);
    feed(c, now, &FixpMessage::Sequence { next_seq_no: 2 });
}

/// The Close that ends a binding for [`lower_sequence`].
fn lower_sequence_close() -> Out {
    Out::Close(
        1002,
        "UnspecifiedError: Invalid NextSeqNo 2, expected 5".to_owned(),
    )
}

fn peer_terminate(c: &mut Session<TestEncoding, MemoryStore>, now: u64, code: TerminationCode) {
    let id = c.session_id();
    feed(
        c,
        now,
        &FixpMessage::Terminate {
            session_id: id,
            code,
            reason: b"peer says so",
        },
    );
}

#[test]
fn finalization_over_tcp_ends_with_terminate_finished_both_ways() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    connect_tcp(&mut p);
    let now = p.now;
    p.client.send(now, &app(1)).unwrap();
    p.client.finalize(now);
    p.pump();
    assert_eq!(p.server_session().send(now, &app(100)), Ok(1));
    p.server_session().finalize(now);
    p.pump();

    let finished = terminate_msg(TerminationCode::Finished, "both flows finalized");
    let close = Out::Close(1000, "Finished: both flows finalized".to_owned());
    // The client started finalization: FinishedSending, FinishedReceiving, then Terminate.
    // Its Close came only after the server's Terminate (the clock never moved, so no timeout).
    let client_tail = &p.client_log[p.client_log.len() - 3..];
    assert_eq!(
        client_tail,
        [
            Out::Msg(Msg::FinishedReceiving),
            finished.clone(),
            close.clone()
        ]
    );
    // The server answered the Terminate with its own, then closed its transport.
    let server_tail = &p.server_log[p.server_log.len() - 2..];
    assert_eq!(server_tail, [finished, close]);
    assert_eq!(
        p.server_log
            .iter()
            .filter(|o| matches!(o, Out::Close(..)))
            .count(),
        1
    );
    assert!(p
        .server_log
        .contains(&Out::Msg(Msg::FinishedSending(Some(1)))));
    assert!(p
        .client_log
        .contains(&Out::Msg(Msg::FinishedSending(Some(1)))));

    assert_eq!(p.client.state(), SessionState::Finalized);
    assert!(!p.client.is_closing());
    assert_eq!(p.client.next_deadline(), None);
    let client_events = events(&mut p.client);
    assert_eq!(
        client_events
            .iter()
            .filter(|e| matches!(e, Ev::Other(t) if t == "Finalized"))
            .count(),
        1
    );
    assert!(has(&client_events, "Terminated(Finished)"));
    let server_events = p.server_events();
    assert_eq!(
        server_events
            .iter()
            .filter(|e| matches!(e, Ev::Other(t) if t == "Finalized"))
            .count(),
        1,
        "answering the Terminate does not finalize twice: {server_events:?}"
    );
    assert!(has(&server_events, "Terminated(Finished)"));
    assert!(p.server.is_finalized(p.client.session_id()));
}

#[test]
fn a_violation_sends_terminate_unspecified_error_with_its_reason_and_waits_for_the_answer() {
    let (mut c, now) = scripted(TCP);
    lower_sequence(&mut c, now);
    assert_eq!(
        drain(&mut c),
        [terminate_msg(
            TerminationCode::UnspecifiedError,
            "Invalid NextSeqNo 2, expected 5"
        )],
        "Terminate, and no Close yet"
    );
    assert!(c.is_closing());
    assert!(!c.is_bound());
    assert_eq!(c.state(), SessionState::NotEstablished);
    assert_eq!(c.next_deadline(), Some(now + u64::from(TIMEOUT_MS) * MS));
    assert!(has(&events(&mut c), "Terminated(Violation(LowerSequence"));

    // What the peer sent before it saw our Terminate is ignored, not delivered.
    feed_app(&mut c, now + MS, 1);
    assert!(drain(&mut c).is_empty());
    let evs = events(&mut c);
    assert!(messages(&evs).is_empty());
    assert!(has(&evs, "ViolationIgnored(FrameAfterClose)"));

    // The peer's Terminate: close the transport now.
    peer_terminate(&mut c, now + 2 * MS, TerminationCode::UnspecifiedError);
    assert_eq!(drain(&mut c), [lower_sequence_close()]);
    assert!(!c.is_closing());
    assert_eq!(c.next_deadline(), None);
    // The session survives for re-establishment.
    c.handle_disconnected(now + 3 * MS);
    c.handle_connected(now + 4 * MS);
    assert!(matches!(
        drain(&mut c)[..],
        [Out::Msg(Msg::Establish { .. })]
    ));
}

#[test]
fn a_peer_that_never_answers_is_closed_when_the_timeout_passes() {
    let (mut c, now) = scripted(TCP);
    c.terminate(now, TerminateReason::Unbind);
    assert_eq!(
        drain(&mut c),
        [terminate_msg(TerminationCode::Finished, "unbind")]
    );
    let deadline = now + u64::from(TIMEOUT_MS) * MS;
    assert_eq!(c.next_deadline(), Some(deadline));
    c.handle_timeout(deadline - 1);
    assert!(drain(&mut c).is_empty(), "not before the timeout");
    assert!(c.is_closing());
    c.handle_timeout(deadline);
    assert_eq!(
        drain(&mut c),
        [Out::Close(1000, "Finished: unbind".to_owned())]
    );
    assert!(!c.is_closing());
    assert_eq!(c.next_deadline(), None);
    // A Terminate that arrives after we closed changes nothing.
    peer_terminate(&mut c, deadline + MS, TerminationCode::Finished);
    assert!(drain(&mut c).is_empty());
    let evs = events(&mut c);
    assert_eq!(
        evs.iter()
            .filter(|e| matches!(e, Ev::Other(t) if t.starts_with("Terminated")))
            .count(),
        1
    );
    assert_eq!(c.state(), SessionState::NotEstablished);
}

#[test]
fn a_peer_terminate_is_answered_with_terminate_then_close_at_once() {
    let (mut c, now) = scripted(TCP);
    peer_terminate(&mut c, now, TerminationCode::UnspecifiedError);
    let text = "peer terminated (UnspecifiedError)";
    assert_eq!(
        drain(&mut c),
        answered(TerminationCode::UnspecifiedError, text, 1000)
    );
    assert!(!c.is_closing(), "an answer waits for nothing");
    assert_eq!(c.next_deadline(), None);
    assert!(has(
        &events(&mut c),
        "Terminated(PeerTerminated(UnspecifiedError))"
    ));
}

#[test]
fn an_unbind_terminate_finished_is_answered_terminate_finished_and_can_be_re_established() {
    // §10.1 case 9: a plain unbind, Terminate(Finished) both ways, then re-Establish.
    let (mut c, now) = scripted(TCP);
    peer_terminate(&mut c, now, TerminationCode::Finished);
    let text = "peer terminated (Finished)";
    assert_eq!(
        drain(&mut c),
        answered(TerminationCode::Finished, text, 1000)
    );
    assert_eq!(c.state(), SessionState::NotEstablished, "not finalized");
    assert!(has(&events(&mut c), "Terminated(PeerTerminated(Finished))"));
    c.handle_disconnected(now + MS);
    c.handle_connected(now + 2 * MS);
    assert!(matches!(
        drain(&mut c)[..],
        [Out::Msg(Msg::Establish { .. })]
    ));
}

#[test]
fn terminate_finished_while_finalizing_is_answered_logical_flow_interrupted() {
    // §10.1 case 24: we sent FinishedSending, the peer has not finished its flow.
    let (mut c, now) = scripted(TCP);
    c.finalize(now);
    drain(&mut c);
    peer_terminate(&mut c, now, TerminationCode::Finished);
    let text = "Logical Flow Interrupted";
    assert_eq!(
        drain(&mut c),
        answered(TerminationCode::UnspecifiedError, text, 1002)
    );
    assert_eq!(c.state(), SessionState::NotEstablished, "not finalized");
}

#[test]
fn crossing_terminates_each_close_on_the_others() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Idempotent);
    connect_tcp(&mut p);
    let now = p.now;
    // Both sides terminate before either sees the other's Terminate.
    p.client.terminate(now, TerminateReason::Unbind);
    p.server_session().terminate(now, TerminateReason::Unbind);
    assert!(p.client.is_closing());
    p.pump();
    let unbind = terminate_msg(TerminationCode::Finished, "unbind");
    let close = Out::Close(1000, "Finished: unbind".to_owned());
    assert_eq!(p.client_log.last(), Some(&close));
    assert_eq!(p.client_log[p.client_log.len() - 2], unbind);
    assert_eq!(p.server_log[p.server_log.len() - 2..], [unbind, close]);
    assert!(!p.client.is_closing());
}

#[test]
fn a_drop_while_waiting_for_the_answer_ends_the_wait() {
    let (mut c, now) = scripted(TCP);
    c.terminate(now, TerminateReason::Unbind);
    drain(&mut c);
    c.handle_disconnected(now + MS);
    assert!(!c.is_closing());
    assert_eq!(c.next_deadline(), None);
    c.handle_timeout(now + 10 * u64::from(TIMEOUT_MS) * MS);
    assert!(drain(&mut c).is_empty(), "no Close for a transport gone");
}

#[test]
fn websocket_style_is_unchanged_close_replaces_terminate() {
    let (mut c, now) = scripted(Termination::WebSocketClose);
    lower_sequence(&mut c, now);
    assert_eq!(drain(&mut c), [lower_sequence_close()]);
    assert!(!c.is_closing());

    let (mut c, now) = scripted(Termination::WebSocketClose);
    peer_terminate(&mut c, now, TerminationCode::UnspecifiedError);
    assert_eq!(
        drain(&mut c),
        [Out::Close(
            1000,
            "UnspecifiedError: peer terminated (UnspecifiedError)".to_owned()
        )],
        "a Terminate is answered with a Close only"
    );
}

#[test]
fn the_acceptor_carries_the_style_per_connection_across_transports() {
    let mut p = Pair::new(FlowType::Idempotent, FlowType::Idempotent);
    // Negotiated over WebSocket (the acceptor's default), re-established over TCP, then over
    // WebSocket again: each binding ends the way its connection's transport does.
    p.connect();
    assert_eq!(p.server.termination_of(p.conn), Termination::WebSocketClose);
    p.drop_connection();
    connect_tcp(&mut p);
    assert_eq!(p.server.termination_of(p.conn), TCP);
    let now = p.now;
    p.server_session().terminate(now, TerminateReason::Unbind);
    let tcp_end = p.server_log.len();
    p.pump();
    assert_eq!(
        p.server_log.get(tcp_end),
        Some(&terminate_msg(TerminationCode::Finished, "unbind"))
    );
    // The client answers the unbind with Terminate(Finished), then closes; the server's wait
    // ends with the connection.
    let text = "peer terminated (Finished)";
    assert!(p
        .client_log
        .ends_with(&answered(TerminationCode::Finished, text, 1000)));
    assert!(!p.server_session().is_closing());
    // The client answered; its connection is gone from the table's style map.
    let old = p.conn;
    assert_eq!(p.server.termination_of(old), Termination::WebSocketClose);

    p.client.set_termination(Termination::WebSocketClose);
    p.connect();
    assert_eq!(p.client.state(), SessionState::Established);
    let before = p.server_log.len();
    let now = p.now;
    p.server_session().terminate(now, TerminateReason::Unbind);
    p.pump();
    assert_eq!(
        p.server_log[before..],
        [Out::Close(1000, "Finished: unbind".to_owned())]
    );
}

#[test]
fn the_acceptor_terminates_a_violation_on_an_unbound_tcp_connection_before_closing() {
    let mut server = acceptor(FlowType::Idempotent);
    let tcp = ConnectionId(40);
    let ws = ConnectionId(41);
    server.set_termination(tcp, TCP);
    let now = 1_000_000_000;
    for conn in [tcp, ws] {
        server.handle_frame(now, conn, &app(1), fixp_ws::codec::FrameKind::Binary);
    }
    let mut out = Vec::new();
    while let Some((conn, t)) = server.poll_transmit() {
        out.push((conn, to_out(t)));
    }
    let close = Out::Close(
        1002,
        "UnspecifiedError: application message before EstablishmentAck".to_owned(),
    );
    assert_eq!(
        out,
        [
            (
                tcp,
                terminate_msg(
                    TerminationCode::UnspecifiedError,
                    "application message before EstablishmentAck"
                )
            ),
            (tcp, close.clone()),
            (ws, close),
        ]
    );
}
