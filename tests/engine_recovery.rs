//! Killing the TCP connection mid-stream: the initiator engine reconnects with back-off,
//! re-establishes the same SessionId, and both Recoverable flows are recovered so every message
//! arrives exactly once and in order.

mod engine_support;

use std::collections::HashSet;

use engine_support::*;
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::engine::ToEngine;
use fixp_ws::session::{Event, SessionState, TerminateReason};
use fixp_ws::transport::WireEncoding;

fn drop_and_recover(encoding: WireEncoding, drop_after: &[u64]) {
    const N: u64 = 400;
    let mut server = start_server(true, test_config(100));
    let (mut client_engine, mut client) =
        start_client(&server, encoding, FlowType::Recoverable, 100, 7);
    let mut client_seen = Seen::default();
    wait_until(&mut client, &mut client_seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    let mut served = accept(&mut server);

    // The exchange side echoes every order as it arrives, on its own thread.
    let echo = std::thread::spawn(move || {
        let mut seen = Seen::default();
        let mut echoed = 0;
        while echoed < N {
            wait_until(&mut served, &mut seen, "orders at the server", |s| {
                s.messages.len() > echoed as usize
            });
            while (echoed as usize) < seen.messages.len() {
                let bytes = seen.messages[echoed as usize].1.clone();
                send(&mut served, &bytes);
                echoed += 1;
            }
        }
        wait_until(&mut served, &mut seen, "server finalized", |s| {
            s.has(Event::Finalized)
        });
        seen
    });

    for i in 1..=N {
        send(&mut client, &order(i, encoding));
        if drop_after.contains(&i) {
            client
                .command(ToEngine::DropConnection)
                .expect("queue has room");
        }
    }
    wait_until(&mut client, &mut client_seen, "all echoes", |s| {
        s.messages.len() as u64 >= N
    });
    client.command(ToEngine::Finalize).expect("queue");
    wait_until(&mut client, &mut client_seen, "client finalized", |s| {
        s.has(Event::Finalized)
    });
    let server_seen = echo.join().expect("echo thread");

    // Exactly once, in order, both ways.
    let numbers = |seen: &Seen| -> Vec<u64> {
        seen.messages
            .iter()
            .map(|(_, bytes)| order_number(bytes, encoding))
            .collect()
    };
    let expected: Vec<u64> = (1..=N).collect();
    assert_eq!(numbers(&server_seen), expected, "client → server");
    assert_eq!(numbers(&client_seen), expected, "server → client");
    let seqs: Vec<u64> = client_seen.messages.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, expected, "sequence numbers at the client");
    // The binding was really lost and re-established under the same SessionId.
    let lost = client_seen
        .events
        .iter()
        .filter(|e| matches!(e, Event::Terminated(TerminateReason::TransportLost)))
        .count();
    assert_eq!(lost, drop_after.len(), "{:?}", client_seen.events);
    let connections = client.counters().snapshot().connections;
    assert_eq!(connections, drop_after.len() as u64 + 1);
    let established = client_seen
        .events
        .iter()
        .filter(|e| **e == Event::StateChanged(SessionState::Established))
        .count();
    assert_eq!(established, drop_after.len() + 1);
    let ids: HashSet<_> = [client.session_id()].into_iter().collect();
    assert_eq!(ids.len(), 1);

    client_engine.shutdown();
    client_engine.join().expect("client engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

#[test]
fn sbe_connection_killed_mid_stream_recovers_every_message_once_in_order() {
    drop_and_recover(WireEncoding::Sbe, &[120]);
}

#[test]
fn json_connection_killed_twice_recovers_every_message_once_in_order() {
    drop_and_recover(WireEncoding::Json, &[90, 250]);
}
