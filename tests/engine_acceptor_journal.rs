//! Acceptor sessions restored after a restart: `Acceptor::restore` puts a negotiated,
//! unbound session back in the table so the client re-Establishes without Negotiate; an
//! engine with an acceptor journal root restores its sessions from there at start.

mod engine_support;
#[path = "session_support/mod.rs"]
mod session_support;

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::engine::{EngineBuilder, EngineHandle, InitiatorConfig, JournalSetup, SessionHandle};
use fixp_ws::journal::{JournalConfig, RingConfig};
use fixp_ws::session::{Event, RestoreError, Session, SessionConfig, SessionState};
use fixp_ws::transport::{
    client_config_from_ca_pem, ClientTarget, Subprotocol, WireEncoding, WsOptions,
};
use session_support::*;

fn journal_config() -> JournalConfig {
    let ring = RingConfig {
        segment_bytes: 64 * 1024,
        segment_count: 2,
        max_messages: 4096,
    };
    JournalConfig {
        outbound: ring,
        inbound: ring,
        ..JournalConfig::default()
    }
}

fn journaled_server(root: &std::path::Path) -> engine_support::Server {
    let mut config = engine_support::test_config(100);
    config.acceptor_journal = Some(JournalSetup {
        dir: root.to_path_buf(),
        config: journal_config(),
    });
    engine_support::start_server(true, config)
}

fn journaled_client(
    server: &engine_support::Server,
    dir: &std::path::Path,
) -> (EngineHandle, SessionHandle) {
    let mut builder = EngineBuilder::new(engine_support::test_config(100)).expect("engine");
    let handle = builder
        .initiate(InitiatorConfig {
            target: ClientTarget {
                addr: server.addr,
                host: "localhost".into(),
                tls: Some(
                    client_config_from_ca_pem(server.cert_pem.as_deref().expect("pem"))
                        .expect("tls"),
                ),
            },
            transport: WsOptions {
                subprotocols: vec![Subprotocol::FixpSbe],
                ..WsOptions::default()
            }
            .into(),
            encoding: WireEncoding::Sbe,
            session: SessionConfig {
                flow: FlowType::Recoverable,
                keepalive_interval_ms: 100,
                lapse_multiple: engine_support::LAPSE_MULTIPLE,
                ..SessionConfig::default()
            },
            session_id: engine_support::session_id(41),
            journal: Some(JournalSetup {
                dir: dir.to_path_buf(),
                config: journal_config(),
            }),
        })
        .expect("initiate");
    (builder.start().expect("start"), handle)
}

fn numbered(seen: &engine_support::Seen) -> Vec<(u64, u64)> {
    seen.messages
        .iter()
        .map(|(seq, b)| (*seq, engine_support::order_number(b, WireEncoding::Sbe)))
        .collect()
}

#[test]
fn restarted_server_engine_restores_its_journaled_sessions() {
    use engine_support::{accept, order, send, wait_until, Seen};
    let server_root = tempfile::tempdir().expect("tempdir");
    let client_dir = tempfile::tempdir().expect("tempdir");

    // First server run: the client negotiates, 10 messages each way.
    let mut server = journaled_server(server_root.path());
    let (mut client_engine, mut client) = journaled_client(&server, client_dir.path());
    let mut seen = Seen::default();
    wait_until(&mut client, &mut seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    let mut served = accept(&mut server);
    let id = served.session_id();
    assert_eq!(id, client.session_id());
    let mut server_seen = Seen::default();
    for i in 1..=10 {
        send(&mut client, &order(i, WireEncoding::Sbe));
        send(&mut served, &order(100 + i, WireEncoding::Sbe));
    }
    wait_until(&mut client, &mut seen, "10 at the client", |s| {
        s.messages.len() >= 10
    });
    wait_until(&mut served, &mut server_seen, "10 at the server", |s| {
        s.messages.len() >= 10
    });
    client_engine.shutdown();
    client_engine.join().expect("client engine");
    drop(client);
    server.engine.shutdown();
    server.engine.join().expect("first server engine");
    drop(served);

    // A new server engine on the same root (new port) and the client restarted towards it.
    let mut server = journaled_server(server_root.path());
    let (mut client_engine, mut client) = journaled_client(&server, client_dir.path());
    wait_until(&mut client, &mut seen, "re-established", |s| {
        s.events
            .iter()
            .filter(|e| **e == Event::StateChanged(SessionState::Established))
            .count()
            >= 2
    });
    assert!(
        !seen
            .events
            .iter()
            .skip_while(|e| **e != Event::StateChanged(SessionState::Established))
            .any(|e| *e == Event::StateChanged(SessionState::Negotiating)),
        "no new Negotiate: {:?}",
        seen.events
    );
    let mut served = accept(&mut server);
    assert_eq!(served.session_id(), id, "the same SessionId");
    for i in 11..=15 {
        send(&mut client, &order(i, WireEncoding::Sbe));
        send(&mut served, &order(100 + i, WireEncoding::Sbe));
    }
    wait_until(&mut client, &mut seen, "15 at the client", |s| {
        s.messages.len() >= 15
    });
    let mut server_seen = Seen::default();
    wait_until(&mut served, &mut server_seen, "5 more at the server", |s| {
        s.messages.len() >= 5
    });
    // Server → client: each message once, in order, numbering continued at 11.
    assert_eq!(
        numbered(&seen),
        (1..=15).map(|i| (i, 100 + i)).collect::<Vec<_>>()
    );
    // Client → server: the restored session expected 11 next.
    assert_eq!(
        numbered(&server_seen),
        (11..=15).map(|i| (i, i)).collect::<Vec<_>>()
    );
    client_engine.shutdown();
    client_engine.join().expect("client engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

#[test]
fn restored_session_is_re_established_without_negotiate_and_numbers_continue() {
    let mut pair = Pair::new(FlowType::Idempotent, FlowType::Recoverable);
    let id = sid(9);
    let mut server = acceptor(FlowType::Recoverable);
    server
        .restore(id, FlowType::Idempotent, 5, 3, TestEncoding::new(), store())
        .expect("restore");
    assert_eq!(server.len(), 1);
    assert_eq!(
        server.session(id).map(|s| s.state()),
        Some(SessionState::NotEstablished)
    );
    pair.server = server;
    let config = SessionConfig {
        flow: FlowType::Idempotent,
        ..SessionConfig::default()
    };
    pair.client = Session::client_resumed(
        config,
        TestEncoding::new(),
        store(),
        id,
        FlowType::Recoverable,
        3,
        5,
    );
    pair.connect();
    assert!(
        !pair
            .client_log
            .iter()
            .any(|o| matches!(o, Out::Msg(Msg::Negotiate { .. }))),
        "no new Negotiate: {:?}",
        pair.client_log
    );
    let ack_next = pair.server_log.iter().find_map(|o| match o {
        Out::Msg(Msg::EstablishmentAck { next, .. }) => Some(*next),
        _ => None,
    });
    assert_eq!(ack_next, Some(Some(5)), "server log: {:?}", pair.server_log);
    assert_eq!(pair.client.state(), SessionState::Established);
    let now = pair.now;
    let seq = pair.server_session().send(now, &app(42)).expect("send");
    assert_eq!(seq, 5, "server numbering continues");
}

#[test]
fn restore_refuses_nil_duplicate_and_finalized_ids() {
    let mut server = acceptor(FlowType::Recoverable);
    let nil = fixp_ws::codec::SessionId::NIL;
    assert_eq!(
        server.restore(
            nil,
            FlowType::Idempotent,
            1,
            1,
            TestEncoding::new(),
            store()
        ),
        Err(RestoreError::NilSessionId)
    );
    server
        .restore(
            sid(1),
            FlowType::Idempotent,
            1,
            1,
            TestEncoding::new(),
            store(),
        )
        .expect("first");
    assert_eq!(
        server.restore(
            sid(1),
            FlowType::Idempotent,
            2,
            2,
            TestEncoding::new(),
            store()
        ),
        Err(RestoreError::DuplicateId)
    );
    server.restore_finalized(sid(2));
    assert!(server.is_finalized(sid(2)));
    assert_eq!(
        server.restore(
            sid(2),
            FlowType::Idempotent,
            1,
            1,
            TestEncoding::new(),
            store()
        ),
        Err(RestoreError::DuplicateId)
    );
}
