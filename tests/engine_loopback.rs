//! Client engine ↔ server engine over real TLS WebSocket on loopback, in SBE and JSON:
//! negotiation, establishment, application traffic both ways in order, heartbeats keeping an
//! idle session alive, and finalization with Close 1000.

mod engine_support;

use std::time::Duration;

use engine_support::*;
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::engine::{Stage, ToEngine};
use fixp_ws::session::{Event, SessionState, TerminateReason};
use fixp_ws::transport::WireEncoding;

fn round_trip(encoding: WireEncoding) {
    const N: u64 = 200;
    let mut server = start_server(true, test_config(100));
    let (mut client_engine, mut client) =
        start_client(&server, encoding, FlowType::Idempotent, 100, 1);
    let mut client_seen = Seen::default();
    wait_until(&mut client, &mut client_seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    let mut served = accept(&mut server);
    assert_eq!(served.encoding(), encoding);
    let mut server_seen = Seen::default();

    for i in 1..=N {
        send(&mut client, &order(i, encoding));
    }
    wait_until(&mut served, &mut server_seen, "orders at the server", |s| {
        s.messages.len() as u64 >= N
    });
    for (k, (seq, bytes)) in server_seen.messages.iter().enumerate() {
        assert_eq!(*seq, k as u64 + 1, "sequence numbers in order");
        assert_eq!(
            order_number(bytes, encoding),
            k as u64 + 1,
            "content in order"
        );
    }
    // The server answers every order; the client sees them in order.
    for (_, bytes) in server_seen.messages.clone() {
        send(&mut served, &bytes);
    }
    wait_until(
        &mut client,
        &mut client_seen,
        "answers at the client",
        |s| s.messages.len() as u64 >= N,
    );
    for (k, (seq, bytes)) in client_seen.messages.iter().enumerate() {
        assert_eq!(*seq, k as u64 + 1);
        assert_eq!(order_number(bytes, encoding), k as u64 + 1);
    }

    // Idle for several keepalive intervals: heartbeats keep both sides bound.
    std::thread::sleep(Duration::from_millis(600));
    client_seen.take(&mut client);
    server_seen.take(&mut served);
    assert!(
        !client_seen.terminated(),
        "client: {:?}",
        client_seen.events
    );
    assert!(
        !server_seen.terminated(),
        "server: {:?}",
        server_seen.events
    );

    // Finalize from the client: both flows finish and the binding closes with 1000.
    client.command(ToEngine::Finalize).expect("queue");
    wait_until(&mut client, &mut client_seen, "client finalized", |s| {
        s.has(Event::Finalized)
    });
    wait_until(&mut served, &mut server_seen, "server finalized", |s| {
        s.has(Event::Finalized)
    });
    assert!(client_seen.has(Event::Terminated(TerminateReason::Finished)));
    assert_eq!(client.counters().snapshot().messages_out, N);
    assert_eq!(served.counters().snapshot().messages_in, N);
    assert_eq!(client.counters().snapshot().connections, 1);

    client_engine.shutdown();
    client_engine.join().expect("client engine");
    let timed = client_engine.metrics().stage(Stage::Outbound).len();
    assert_eq!(timed, N, "one outbound timing per message");
    assert!(client_engine.metrics().stage(Stage::Inbound).len() >= N);
    server.engine.shutdown();
    server.engine.join().expect("server engine");
    assert!(server.engine.metrics().stage(Stage::Inbound).len() >= N);
}

#[test]
fn sbe_over_tls_round_trip_heartbeat_and_finalize() {
    round_trip(WireEncoding::Sbe);
}

#[test]
fn json_over_tls_round_trip_heartbeat_and_finalize() {
    round_trip(WireEncoding::Json);
}
