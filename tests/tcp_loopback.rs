//! FIXP over TCP with SOFH framing on loopback, without the engine: a client `Session` and a
//! server `Acceptor` over `SofhConnection`s, plain TCP and TLS, plus raw peers that send what a
//! well-behaved client would not (oversized lengths, garbage, another encoding type, half a
//! frame, one byte at a time, many frames in one write).

mod tcp_support;

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::sofh::{JSON, SBE_LITTLE_ENDIAN};
use fixp_ws::codec::{FixpMessage, SessionId};
use fixp_ws::session::SessionState;
use fixp_ws::transport::{
    ClientTarget, FramingFault, ReadStatus, SofhConnection, SofhListener, SofhOptions,
    TransportError, CLOSE_MESSAGE_TOO_BIG, CLOSE_PROTOCOL_ERROR,
};
use tcp_support::*;

const BOTH: [bool; 2] = [false, true];

fn sid(n: u8) -> SessionId {
    SessionId::from_random_bytes([n; 16])
}

/// A client connected and established; returns its index.
fn established(net: &mut Net, flow: FlowType, id: SessionId) -> usize {
    let c = net.connect(tcp_client(flow, id));
    net.run_until(|n| {
        n.clients[c].session.state() == SessionState::Established || n.clients[c].error.is_some()
    });
    assert_eq!(net.clients[c].error, None);
    c
}

/// Negotiate (Idempotent client flow), Establish (keepalive 1000 ms) and Sequence(1), framed.
fn handshake_frames(id: SessionId) -> Vec<Vec<u8>> {
    vec![
        framed_fixp(&FixpMessage::Negotiate {
            session_id: id,
            timestamp: 1,
            client_flow: FlowType::Idempotent,
            credentials: &[],
        }),
        framed_fixp(&FixpMessage::Establish {
            session_id: id,
            timestamp: 2,
            keepalive_interval: 1000,
            next_seq_no: None,
            credentials: &[],
        }),
        framed_fixp(&FixpMessage::Sequence { next_seq_no: 1 }),
    ]
}

/// A raw peer whose TLS handshake (if any) is done; returns its index.
fn open_raw(net: &mut Net) -> usize {
    let r = net.raw();
    let servers_before = net.servers.len();
    net.run_until(|n| n.servers.len() > servers_before && n.servers[servers_before].opened);
    r
}

fn server_conn(net: &Net, index: usize) -> &SofhConnection {
    net.servers[index].conn.as_ref().expect("server connection")
}

#[test]
fn negotiate_establish_and_orders_both_ways_plain_and_tls() {
    for tls in BOTH {
        let mut net = Net::new(tls);
        net.exchange = true;
        let c = established(&mut net, FlowType::Idempotent, sid(1));
        let now = net.now;
        for i in 1..=3 {
            let seq = net.clients[c].session.send(now, &order(i)).expect("send");
            assert_eq!(seq, u64::from(i));
        }
        net.run_until(|n| n.clients[c].messages.len() == 3);
        let seqs: Vec<u64> = net.server_messages.iter().map(|m| m.1).collect();
        assert_eq!(seqs, [1, 2, 3], "tls={tls}");
        for (i, (seq, report)) in net.clients[c].messages.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1);
            assert_eq!(*report, execution_report_for(&order(i as u32 + 1)));
        }
        let client = net.clients[c].conn.as_ref().expect("client");
        let server = server_conn(&net, 0);
        let expected_tls = tls.then_some(rustls::ProtocolVersion::TLSv1_3);
        assert_eq!(client.tls_version(), expected_tls);
        assert_eq!(server.tls_version(), expected_tls);
        assert_eq!(server.encoding_type(), SBE_LITTLE_ENDIAN);
        // Negotiate, Establish, Sequence, three orders.
        assert_eq!(server.stats().frames_in, 6);
        assert_eq!(net.servers[0].frames_in, 6);
        assert_eq!(client.stats().frames_out, 6);
    }
}

#[test]
fn finalization_exchanges_terminate_both_ways_then_both_sockets_close() {
    for tls in BOTH {
        let mut net = Net::new(tls);
        net.exchange = true;
        net.finalize_when_peer_finishes = true;
        let c = established(&mut net, FlowType::Idempotent, sid(2));
        let now = net.now;
        net.clients[c].session.send(now, &order(1)).expect("send");
        net.run_until(|n| n.clients[c].messages.len() == 1);
        net.clients[c].session.finalize(now);
        net.run_until(|n| n.clients[c].closed.is_some() && n.servers[0].closed.is_some());

        // The client started finalization, so it sent Terminate(Finished) and closed only once
        // the server's Terminate arrived: the simulated clock never moved, no timeout fired.
        let client = &net.clients[c];
        assert!(
            client.sent.ends_with(&[
                "FinishedReceiving".to_owned(),
                "Terminate(Finished)".to_owned(),
                "Close 1000".to_owned()
            ]),
            "tls={tls}: {:?}",
            client.sent
        );
        assert!(
            net.server_sent.ends_with(&[
                "FinishedReceiving".to_owned(),
                "FinishedSending".to_owned(),
                "Terminate(Finished)".to_owned(),
                "Close 1000".to_owned()
            ]),
            "tls={tls}: {:?}",
            net.server_sent
        );
        assert_eq!(client.session.state(), SessionState::Finalized);
        assert!(net.acceptor.is_finalized(sid(2)));
        assert_eq!(client.error, None);
        assert_eq!(net.servers[0].error, None);
        for status in [client.closed, net.servers[0].closed] {
            let Some(ReadStatus::Closed(report)) = status else {
                panic!("not closed: {status:?}");
            };
            assert_eq!(report.peer_code, None, "TCP carries no close code");
        }
        // The server closed right after its answer (the client may see the server's FIN
        // before it gets to close).
        assert_eq!(server_conn(&net, 0).close_report().sent_code, Some(1000));
        assert_eq!(server_conn(&net, 0).fault(), None);
    }
}

#[test]
fn a_killed_connection_re_establishes_the_same_session() {
    for tls in BOTH {
        let mut net = Net::new(tls);
        net.exchange = true;
        let c = established(&mut net, FlowType::Recoverable, sid(3));
        let now = net.now;
        net.clients[c].session.send(now, &order(1)).expect("send");
        net.run_until(|n| n.clients[c].messages.len() == 1);
        net.kill(c);
        net.run_until(|n| n.servers[0].closed.is_some() || n.servers[0].error.is_some());
        assert_eq!(net.clients[c].session.state(), SessionState::NotEstablished);

        net.reconnect(c);
        net.run_until(|n| n.clients[c].session.state() == SessionState::Established);
        let sent = &net.clients[c].sent;
        assert_eq!(
            sent.iter().filter(|s| *s == "Negotiate").count(),
            1,
            "re-established without a new Negotiate: {sent:?}"
        );
        let now = net.now;
        assert_eq!(net.clients[c].session.send(now, &order(2)), Ok(2));
        net.run_until(|n| n.clients[c].messages.len() == 2);
        let seqs: Vec<u64> = net.server_messages.iter().map(|m| m.1).collect();
        assert_eq!(seqs, [1, 2], "tls={tls}: each order delivered once");
    }
}

#[test]
fn an_oversized_sofh_length_closes_the_connection_with_a_counted_fault() {
    for tls in BOTH {
        let mut net = Net::new(tls);
        let r = open_raw(&mut net);
        let mut header = [0u8; 6];
        fixp_ws::codec::sofh::Sofh::write(&mut header, 1_000_000, SBE_LITTLE_ENDIAN)
            .expect("header");
        net.raw_write(r, &header);
        net.run_until(|n| n.raws[r].eof || n.raws[r].error.is_some());
        let server = server_conn(&net, 0);
        assert_eq!(
            server.fault(),
            Some(FramingFault::Oversized {
                length: 1_000_006,
                max: 64 * 1024
            }),
            "tls={tls}"
        );
        assert_eq!(server.stats().oversized_closed, 1);
        assert_eq!(server.stats().frames_in, 0);
        assert_eq!(server.close_report().sent_code, Some(CLOSE_MESSAGE_TOO_BIG));
        assert!(net.raws[r].received.is_empty());
        assert_eq!(
            net.raws[r].error, None,
            "closed cleanly (close_notify over TLS)"
        );

        // The listener keeps serving.
        let c = established(&mut net, FlowType::Idempotent, sid(4));
        assert!(net.clients[c].error.is_none());
    }
}

#[test]
fn garbage_and_impossible_lengths_are_typed_faults() {
    let cases: [(&[u8], FramingFault); 2] = [
        (
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
            FramingFault::WrongEncoding {
                found: u16::from_be_bytes(*b"/ "),
                expected: SBE_LITTLE_ENDIAN,
            },
        ),
        (
            &[0, 0, 0, 3, 0xEB, 0x50, 1, 2, 3],
            FramingFault::LengthTooSmall { length: 3 },
        ),
    ];
    for tls in BOTH {
        for (bytes, fault) in cases {
            let mut net = Net::new(tls);
            let r = open_raw(&mut net);
            net.raw_write(r, bytes);
            net.run_until(|n| n.raws[r].eof || n.raws[r].error.is_some());
            let server = server_conn(&net, 0);
            assert_eq!(server.fault(), Some(fault), "tls={tls}");
            let stats = server.stats();
            assert_eq!(stats.encoding_closed + stats.protocol_closed, 1);
            assert_eq!(stats.frames_in, 0);
            assert_eq!(server.close_report().sent_code, Some(CLOSE_PROTOCOL_ERROR));
            assert!(net.server_events.is_empty(), "the acceptor saw nothing");
        }
    }
}

#[test]
fn a_wrong_encoding_type_closes_the_connection_before_the_acceptor_sees_it() {
    for tls in BOTH {
        let mut net = Net::new(tls);
        let r = open_raw(&mut net);
        let negotiate = handshake_frames(sid(5)).remove(0);
        // The same SBE bytes, labelled JSON.
        let mut relabelled = negotiate.clone();
        relabelled[4..6].copy_from_slice(&JSON.to_be_bytes());
        net.raw_write(r, &relabelled);
        net.run_until(|n| n.raws[r].eof || n.raws[r].error.is_some());
        let server = server_conn(&net, 0);
        assert_eq!(
            server.fault(),
            Some(FramingFault::WrongEncoding {
                found: JSON,
                expected: SBE_LITTLE_ENDIAN
            })
        );
        assert_eq!(server.stats().encoding_closed, 1);
        assert_eq!(net.servers[0].frames_in, 0);
        assert!(net.acceptor.session(sid(5)).is_none(), "tls={tls}");
    }
}

#[test]
fn a_peer_that_sends_half_a_frame_and_stops_is_terminated_when_its_keepalive_lapses() {
    for tls in BOTH {
        let mut net = Net::new(tls);
        let r = open_raw(&mut net);
        for frame in handshake_frames(sid(6)) {
            net.raw_write(r, &frame);
        }
        net.run_until(|n| describe_stream(&n.raws[r].received).len() >= 2);
        assert_eq!(
            describe_stream(&net.raws[r].received),
            ["NegotiationResponse", "EstablishmentAck"]
        );
        let order_frame = framed(&order(1));
        net.raw_write(r, &order_frame[..order_frame.len() / 2]);
        // Silence beyond 2 × the peer's 1000 ms keepalive: the server terminates.
        net.advance(2000 * MS);
        net.run_until(|n| {
            describe_stream(&n.raws[r].received)
                .iter()
                .any(|m| m.starts_with("Terminate"))
        });
        assert!(net.server_events.iter().any(|e| e.contains("PeerTimeout")));
        assert!(!net.raws[r].eof, "the socket stays open for the answer");
        // The raw peer never answers: after the wait the server closes.
        net.advance(u64::from(TERMINATE_TIMEOUT_MS) * MS);
        net.run_until(|n| n.raws[r].eof);
        let received = describe_stream(&net.raws[r].received);
        assert_eq!(
            received.last().map(String::as_str),
            Some("Terminate(UnspecifiedError)"),
            "tls={tls}: {received:?}"
        );
        // Half a frame was never delivered.
        assert_eq!(net.servers[0].frames_in, 3);
        assert!(net.server_messages.is_empty());
        assert_eq!(
            net.server_sent.last().map(String::as_str),
            Some("Close 1002")
        );
        net.raws.clear();
        net.run_until(|n| n.servers[0].closed.is_some() || n.servers[0].error.is_some());
        assert_eq!(server_conn(&net, 0).fault(), None);
    }
}

#[test]
fn frames_delivered_one_byte_at_a_time_arrive_whole_and_never_early() {
    for tls in BOTH {
        let mut net = Net::new(tls);
        net.exchange = true;
        let r = open_raw(&mut net);
        let frames = handshake_frames(sid(7));
        let order_frame = framed(&order(1));
        let mut stream = Vec::new();
        let mut ends = Vec::new();
        for frame in frames.iter().chain([&order_frame]) {
            stream.extend_from_slice(frame);
            ends.push(stream.len());
        }
        for (i, byte) in stream.iter().enumerate() {
            net.raw_write(r, std::slice::from_ref(byte));
            net.step();
            let complete = ends.iter().filter(|&&e| e <= i + 1).count();
            assert!(
                net.servers[0].frames_in <= complete,
                "a frame delivered early"
            );
        }
        net.run_until(|n| n.servers[0].frames_in == 4);
        net.run_until(|n| describe_stream(&n.raws[r].received).contains(&"App".to_owned()));
        assert_eq!(net.server_messages.len(), 1);
        assert_eq!(net.server_messages[0].2, order(1), "tls={tls}");
    }
}

#[test]
fn many_frames_in_one_read_are_all_delivered_in_order_both_ways() {
    for tls in BOTH {
        let mut net = Net::new(tls);
        net.exchange = true;
        // Raw peer → server: the handshake and 50 orders in one write.
        let r = open_raw(&mut net);
        let mut burst: Vec<u8> = handshake_frames(sid(8)).concat();
        for i in 1..=50 {
            burst.extend_from_slice(&framed(&order(i)));
        }
        net.raw_write(r, &burst);
        net.run_until(|n| n.server_messages.len() == 50);
        let seqs: Vec<u64> = net.server_messages.iter().map(|m| m.1).collect();
        assert_eq!(seqs, (1..=50).collect::<Vec<_>>(), "tls={tls}");
        net.run_until(|n| {
            describe_stream(&n.raws[r].received)
                .iter()
                .filter(|m| *m == "App")
                .count()
                == 50
        });

        // Server → client: 200 reports written before the client reads any.
        let c = established(&mut net, FlowType::Idempotent, sid(9));
        let now = net.now;
        for i in 1..=200 {
            net.clients[c].session.send(now, &order(i)).expect("send");
        }
        net.run_until(|n| n.clients[c].messages.len() == 200);
        for (i, (seq, report)) in net.clients[c].messages.iter().enumerate() {
            assert_eq!(*seq, i as u64 + 1);
            assert_eq!(*report, execution_report_for(&order(i as u32 + 1)));
        }
    }
}

#[test]
fn plain_tcp_is_refused_unless_chosen() {
    let poll = mio::Poll::new().expect("poll");
    let bound = SofhListener::bind(
        "127.0.0.1:0".parse().expect("addr"),
        None,
        SofhOptions::default(),
        poll.registry(),
        mio::Token(1),
    );
    assert!(matches!(bound, Err(TransportError::PlainTcpNotAllowed)));
    let target = ClientTarget {
        addr: "127.0.0.1:9".parse().expect("addr"),
        host: "localhost".to_owned(),
        tls: None,
    };
    let connected = SofhConnection::connect(
        target,
        &SofhOptions::default(),
        poll.registry(),
        mio::Token(2),
    );
    assert!(matches!(connected, Err(TransportError::PlainTcpNotAllowed)));
}

#[test]
fn a_peer_that_closes_mid_frame_is_a_truncation_fault() {
    for tls in BOTH {
        let mut net = Net::new(tls);
        let r = open_raw(&mut net);
        let negotiate = handshake_frames(sid(10)).remove(0);
        net.raw_write(r, &negotiate[..20]);
        net.raws[r].stream.shutdown_write();
        net.run_until(|n| n.servers[0].closed.is_some() || n.servers[0].error.is_some());
        assert_eq!(net.servers[0].error, None, "tls={tls}");
        let server = server_conn(&net, 0);
        assert_eq!(
            server.fault(),
            Some(FramingFault::Truncated { received: 20 })
        );
        assert_eq!(server.stats().protocol_closed, 1);
        assert_eq!(net.servers[0].frames_in, 0);
    }
}

#[test]
fn a_json_listener_takes_json_frames_and_refuses_sbe_ones() {
    let json_options = SofhOptions {
        encoding: fixp_ws::transport::WireEncoding::Json,
        allow_plain_tcp: true,
        ..SofhOptions::default()
    };
    let mut net = Net::with_options(false, json_options);
    let message = br#"{"nextSeqNo":1,"@type":"Sequence"}"#;
    let r = open_raw(&mut net);
    net.raw_write(r, &framed_as(message, JSON));
    net.run_until(|n| n.servers[0].frames_in == 1);
    let server = server_conn(&net, 0);
    assert_eq!(server.encoding_type(), JSON);
    assert_eq!(server.frame_kind(), fixp_ws::codec::FrameKind::Text);
    assert_eq!(server.fault(), None);

    let r = open_raw(&mut net);
    net.raw_write(r, &framed_as(message, SBE_LITTLE_ENDIAN));
    net.run_until(|n| n.raws[r].eof);
    assert_eq!(
        server_conn(&net, 1).fault(),
        Some(FramingFault::WrongEncoding {
            found: SBE_LITTLE_ENDIAN,
            expected: JSON
        })
    );
}
