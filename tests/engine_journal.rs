//! An initiator that keeps its session in a journal directory continues it after a restart of
//! its engine: the same SessionId is re-established without a new Negotiate, its outbound
//! numbering continues, and inbound delivery continues where the journal ends (messages the
//! server sent meanwhile arrive with the following numbers, exactly once).

mod engine_support;

use engine_support::*;
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::engine::{EngineBuilder, EngineHandle, InitiatorConfig, JournalSetup, SessionHandle};
use fixp_ws::journal::{JournalConfig, RingConfig};
use fixp_ws::session::{Event, SessionConfig, SessionState, TerminateReason};
use fixp_ws::transport::{
    client_config_from_ca_pem, ClientTarget, Subprotocol, WireEncoding, WsOptions,
};

fn journaled_client(
    server: &Server,
    dir: &std::path::Path,
    seed: u64,
) -> (EngineHandle, SessionHandle) {
    let ring = RingConfig {
        segment_bytes: 64 * 1024,
        segment_count: 2,
        max_messages: 4096,
    };
    let mut builder = EngineBuilder::new(test_config(100)).expect("engine");
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
                lapse_multiple: LAPSE_MULTIPLE,
                ..SessionConfig::default()
            },
            session_id: session_id(seed),
            journal: Some(JournalSetup {
                dir: dir.to_path_buf(),
                config: JournalConfig {
                    outbound: ring,
                    inbound: ring,
                    ..JournalConfig::default()
                },
            }),
        })
        .expect("initiate");
    (builder.start().expect("start"), handle)
}

#[test]
fn restarted_client_engine_continues_its_journaled_session() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start_server(true, test_config(100));

    // First run: negotiate, trade 20 messages each way, stop the engine (unbind, Close 1000).
    let (mut first_engine, mut first) = journaled_client(&server, dir.path(), 1);
    let mut seen = Seen::default();
    wait_until(&mut first, &mut seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    assert!(seen.has(Event::StateChanged(SessionState::Negotiating)));
    let mut served = accept(&mut server);
    let mut server_seen = Seen::default();
    for i in 1..=20 {
        send(&mut first, &order(i, WireEncoding::Sbe));
        send(&mut served, &order(100 + i, WireEncoding::Sbe));
    }
    wait_until(&mut first, &mut seen, "20 at the client", |s| {
        s.messages.len() >= 20
    });
    wait_until(&mut served, &mut server_seen, "20 at the server", |s| {
        s.messages.len() >= 20
    });
    let id = first.session_id();
    first_engine.shutdown();
    first_engine.join().expect("first engine");
    drop(first);
    wait_until(&mut served, &mut server_seen, "unbound", |s| {
        s.has(Event::Terminated(TerminateReason::PeerClosed(1000)))
    });

    // While the client is away the exchange queues 5 more (held until re-establishment).
    for i in 21..=25 {
        send(&mut served, &order(100 + i, WireEncoding::Sbe));
    }

    // Second run, same directory, a different configured id: the journaled session resumes.
    let (mut engine, mut client) = journaled_client(&server, dir.path(), 2);
    assert_eq!(client.session_id(), id, "the journaled SessionId");
    let mut seen = Seen::default();
    wait_until(&mut client, &mut seen, "re-established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    assert!(
        !seen.has(Event::StateChanged(SessionState::Negotiating)),
        "no new Negotiate: {:?}",
        seen.events
    );
    for i in 21..=30 {
        send(&mut client, &order(i, WireEncoding::Sbe));
    }
    wait_until(&mut client, &mut seen, "the 5 queued", |s| {
        s.messages.len() >= 5
    });
    wait_until(&mut served, &mut server_seen, "30 at the server", |s| {
        s.messages.len() >= 30
    });
    // Server → client numbering continues at 21.
    let at_client: Vec<(u64, u64)> = seen
        .messages
        .iter()
        .map(|(seq, b)| (*seq, order_number(b, WireEncoding::Sbe)))
        .collect();
    assert_eq!(
        at_client,
        (21..=25).map(|i| (i, 100 + i)).collect::<Vec<_>>()
    );
    // Client → server numbering continues at 21, each message once.
    let at_server: Vec<(u64, u64)> = server_seen
        .messages
        .iter()
        .map(|(seq, b)| (*seq, order_number(b, WireEncoding::Sbe)))
        .collect();
    assert_eq!(at_server, (1..=30).map(|i| (i, i)).collect::<Vec<_>>());

    engine.shutdown();
    engine.join().expect("engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

#[test]
fn a_finalized_journaled_session_is_not_resumed_but_renegotiated_from_one() {
    use fixp_ws::engine::ToEngine;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = start_server(true, test_config(100));
    let (mut first_engine, mut first) = journaled_client(&server, dir.path(), 3);
    let mut seen = Seen::default();
    wait_until(&mut first, &mut seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    let _served = accept(&mut server);
    for i in 1..=3 {
        send(&mut first, &order(i, WireEncoding::Sbe));
    }
    first.command(ToEngine::Finalize).expect("queue");
    wait_until(&mut first, &mut seen, "finalized", |s| {
        s.has(Event::Finalized)
    });
    first_engine.shutdown();
    first_engine.join().expect("first engine");

    // The engine marked the generation finalized, so the restarted engine does not resume the
    // dead id (no Establish of it, no refusal): it negotiates the configured SessionId in a new
    // generation, numbered from 1 both ways.
    assert!(dir.path().join("gen-00000001/finalized").exists());
    let (mut engine, mut client) = journaled_client(&server, dir.path(), 4);
    assert_eq!(client.session_id(), session_id(4), "not resumed");
    let mut seen = Seen::default();
    wait_until(&mut client, &mut seen, "established anew", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    assert!(
        !seen
            .events
            .iter()
            .any(|e| matches!(e, Event::EstablishmentRejected(_))),
        "{seen:?}"
    );
    assert!(
        seen.has(Event::StateChanged(SessionState::Negotiating)),
        "{seen:?}"
    );
    let mut renewed = accept(&mut server);
    for i in 1..=2 {
        send(&mut client, &order(10 + i, WireEncoding::Sbe));
    }
    let mut server_seen = Seen::default();
    wait_until(&mut renewed, &mut server_seen, "2 orders", |s| {
        s.messages.len() >= 2
    });
    let seqs: Vec<u64> = server_seen.messages.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, vec![1, 2]);
    assert_eq!(
        renewed.session_id(),
        session_id(4),
        "the configured SessionId"
    );
    assert!(dir.path().join("gen-00000002").exists(), "a new generation");
    engine.shutdown();
    engine.join().expect("engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}
