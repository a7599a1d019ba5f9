//! Real WebSocket connections on loopback, with this crate's transport on both sides: TLS with
//! a self-signed certificate the client trusts, subprotocol negotiation, refusals, size limits,
//! closing handshakes and a peer that vanishes.

mod transport_support;

use std::io::{Read, Write};
use std::net::TcpStream as StdTcpStream;

use fixp_ws::codec::FrameKind;
use fixp_ws::transport::{
    ReadStatus, Subprotocol, UpgradeRefusal, WsOptions, CLOSE_INVALID_UTF8, CLOSE_MESSAGE_TOO_BIG,
    CLOSE_NORMAL,
};
use transport_support::Loop;

fn offering(protocols: &[Subprotocol]) -> WsOptions {
    WsOptions {
        subprotocols: protocols.to_vec(),
        ..WsOptions::default()
    }
}

fn open_pair(lp: &mut Loop, client_options: &WsOptions) -> usize {
    let c = lp.connect(client_options);
    lp.run_until(|lp| {
        lp.clients[c].opened && lp.servers.first().is_some_and(|s| s.opened)
            || lp.clients[c].error.is_some()
    });
    assert_eq!(lp.clients[c].error, None);
    c
}

#[test]
fn tls_binary_and_text_travel_both_ways() {
    let mut lp = Loop::new(true, WsOptions::default());
    lp.echo = true;
    let c = open_pair(&mut lp, &WsOptions::default());
    let binary: Vec<u8> = (0..=255u8).cycle().take(300).collect();
    let text = br#"{"@type":"Sequence","nextSeqNo":7}"#;
    {
        let conn = lp.clients[c].conn.as_mut().expect("client");
        assert_eq!(
            conn.tls_version(),
            Some(rustls::ProtocolVersion::TLSv1_3),
            "TLS 1.3 negotiated"
        );
        let _ = conn.send(FrameKind::Binary, &binary).expect("send binary");
        let _ = conn.send(FrameKind::Text, text).expect("send text");
    }
    lp.run_until(|lp| lp.clients[c].inbox.len() == 2);
    assert_eq!(lp.servers[0].inbox[0], (FrameKind::Binary, binary.clone()));
    assert_eq!(lp.servers[0].inbox[1], (FrameKind::Text, text.to_vec()));
    assert_eq!(lp.clients[c].inbox[0], (FrameKind::Binary, binary));
    assert_eq!(lp.clients[c].inbox[1], (FrameKind::Text, text.to_vec()));
    let server = lp.servers[0].conn.as_ref().expect("server").stats();
    assert_eq!((server.frames_in, server.frames_out), (2, 2));
}

#[test]
fn each_subprotocol_is_negotiated_and_preference_is_respected() {
    for p in Subprotocol::ALL {
        let mut lp = Loop::new(true, WsOptions::default());
        let c = open_pair(&mut lp, &offering(&[p]));
        let client = lp.clients[c].conn.as_ref().expect("client");
        let server = lp.servers[0].conn.as_ref().expect("server");
        assert_eq!(client.subprotocol(), Some(p), "client side of {p}");
        assert_eq!(server.subprotocol(), Some(p), "server side of {p}");
    }
    // The client's order of preference wins among the ones the server accepts.
    let mut lp = Loop::new(
        false,
        offering(&[Subprotocol::FixpSbe, Subprotocol::CongaText]),
    );
    let c = open_pair(
        &mut lp,
        &offering(&[
            Subprotocol::FixpJson,
            Subprotocol::CongaText,
            Subprotocol::FixpSbe,
        ]),
    );
    let client = lp.clients[c].conn.as_ref().expect("client");
    assert_eq!(client.subprotocol(), Some(Subprotocol::CongaText));
}

#[test]
fn upgrade_without_an_accepted_subprotocol_is_refused_with_400() {
    let mut lp = Loop::new(true, offering(&[Subprotocol::FixpSbe]));
    let c = lp.connect(&offering(&[Subprotocol::CongaText]));
    lp.run_until(|lp| lp.clients[c].error.is_some());
    let error = lp.clients[c].error.clone().unwrap_or_default();
    assert!(error.contains("HTTP 400"), "client error: {error}");
    assert!(
        error.contains("no supported subprotocol"),
        "client error: {error}"
    );
    assert_eq!(lp.refused.len(), 1);
    assert_eq!(lp.refused[0].0, UpgradeRefusal::NoAcceptableSubprotocol);
    assert_eq!(lp.listener.stats().refused_no_subprotocol, 1);
}

#[test]
fn foreign_subprotocol_names_and_wrong_paths_get_http_errors() {
    let mut lp = Loop::new(false, WsOptions::default());
    let addr = lp.addr;
    let raw = std::thread::spawn(move || {
        let mut answers = Vec::new();
        for (path, protocol) in [("/fixp", "chat, superchat"), ("/trade", "fixp-sbe")] {
            let mut socket = StdTcpStream::connect(addr).expect("connect");
            let request = format!(
                "GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n\
                 Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                 Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                 Sec-WebSocket-Protocol: {protocol}\r\n\r\n"
            );
            socket.write_all(request.as_bytes()).expect("write");
            let mut response = String::new();
            socket.read_to_string(&mut response).expect("read");
            answers.push(response);
        }
        answers
    });
    lp.run_until(|lp| lp.refused.len() == 2);
    let answers = raw.join().expect("raw client");
    assert!(answers[0].starts_with("HTTP/1.1 400"), "{}", answers[0]);
    assert!(answers[1].starts_with("HTTP/1.1 404"), "{}", answers[1]);
    assert_eq!(lp.refused[0].0, UpgradeRefusal::NoAcceptableSubprotocol);
    assert_eq!(lp.refused[1].0, UpgradeRefusal::UnknownPath);
    let stats = lp.listener.stats();
    assert_eq!(
        (
            stats.accepted,
            stats.refused_no_subprotocol,
            stats.refused_unknown_path
        ),
        (2, 1, 1)
    );
}

#[test]
fn oversized_message_closes_with_1009() {
    let server_options = WsOptions {
        max_message_size: 1024,
        ..WsOptions::default()
    };
    let mut lp = Loop::new(true, server_options);
    let c = open_pair(&mut lp, &WsOptions::default());
    let big = vec![7u8; 4000];
    let conn = lp.clients[c].conn.as_mut().expect("client");
    let _ = conn.send(FrameKind::Binary, &big).expect("send");
    lp.run_until(|lp| lp.clients[c].closed.is_some() && lp.servers[0].closed.is_some());
    let Some(ReadStatus::Closed(client)) = lp.clients[c].closed else {
        panic!("client not closed");
    };
    assert_eq!(client.peer_code, Some(CLOSE_MESSAGE_TOO_BIG));
    let Some(ReadStatus::Closed(server)) = lp.servers[0].closed else {
        panic!("server not closed");
    };
    assert_eq!(server.sent_code, Some(CLOSE_MESSAGE_TOO_BIG));
    assert!(
        lp.servers[0].inbox.is_empty(),
        "nothing of the big frame delivered"
    );
    let stats = lp.servers[0].conn.as_ref().expect("server").stats();
    assert_eq!(stats.oversized_closed, 1);
}

#[test]
fn invalid_utf8_in_a_text_frame_closes_with_1007() {
    use tungstenite::protocol::frame::coding::{Data, OpCode};
    use tungstenite::protocol::frame::Frame;
    use tungstenite::Message;

    let mut lp = Loop::new(false, WsOptions::default());
    let url = format!("ws://127.0.0.1:{}/fixp", lp.addr.port());
    let peer = std::thread::spawn(move || {
        let request = tungstenite::ClientRequestBuilder::new(url.parse().expect("uri"))
            .with_sub_protocol("fixp-json");
        let (mut ws, _) = tungstenite::connect(request).expect("blocking client");
        let bad = Frame::message(vec![b'{', 0xff, 0xfe, b'}'], OpCode::Data(Data::Text), true);
        ws.send(Message::Frame(bad)).expect("send");
        loop {
            match ws.read() {
                Ok(Message::Close(frame)) => return frame.map(|f| u16::from(f.code)),
                Ok(_) => {}
                Err(e) => panic!("no close frame: {e}"),
            }
        }
    });
    lp.run_until(|lp| lp.servers.first().is_some_and(|s| s.closed.is_some()));
    assert_eq!(peer.join().expect("peer"), Some(CLOSE_INVALID_UTF8));
    let stats = lp.servers[0].conn.as_ref().expect("server").stats();
    assert_eq!(stats.invalid_utf8_closed, 1);
    assert!(lp.servers[0].inbox.is_empty());
}

#[test]
fn clean_close_1000_is_seen_by_both_sides() {
    // Client starts the close.
    let mut lp = Loop::new(true, WsOptions::default());
    let c = open_pair(&mut lp, &WsOptions::default());
    let _ = lp.clients[c]
        .conn
        .as_mut()
        .expect("client")
        .close(CLOSE_NORMAL, "done")
        .expect("close");
    lp.run_until(|lp| lp.clients[c].closed.is_some() && lp.servers[0].closed.is_some());
    let Some(ReadStatus::Closed(server)) = lp.servers[0].closed else {
        panic!("server not closed")
    };
    let Some(ReadStatus::Closed(client)) = lp.clients[c].closed else {
        panic!("client not closed")
    };
    assert_eq!(server.peer_code, Some(CLOSE_NORMAL));
    assert_eq!(client.sent_code, Some(CLOSE_NORMAL));
    assert_eq!(
        client.peer_code,
        Some(CLOSE_NORMAL),
        "the server's reply was flushed"
    );
    assert_eq!(lp.clients[c].error, None);
    assert_eq!(lp.servers[0].error, None);

    // Server starts the close.
    let mut lp = Loop::new(true, WsOptions::default());
    let c = open_pair(&mut lp, &WsOptions::default());
    let _ = lp.servers[0]
        .conn
        .as_mut()
        .expect("server")
        .close(CLOSE_NORMAL, "finished")
        .expect("close");
    lp.run_until(|lp| lp.clients[c].closed.is_some() && lp.servers[0].closed.is_some());
    let Some(ReadStatus::Closed(client)) = lp.clients[c].closed else {
        panic!("client not closed")
    };
    let Some(ReadStatus::Closed(server)) = lp.servers[0].closed else {
        panic!("server not closed")
    };
    assert_eq!(client.peer_code, Some(CLOSE_NORMAL));
    assert_eq!(server.peer_code, Some(CLOSE_NORMAL));
    assert_eq!(lp.clients[c].error, None);
}

#[test]
fn server_keeps_working_after_a_client_drops_its_socket_mid_stream() {
    let mut lp = Loop::new(true, WsOptions::default());
    lp.echo = true;
    let first = open_pair(&mut lp, &WsOptions::default());
    let conn = lp.clients[first].conn.as_mut().expect("client");
    let _ = conn.send(FrameKind::Binary, b"before").expect("send");
    lp.run_until(|lp| lp.clients[first].inbox.len() == 1);
    // Drop the socket: no Close frame, no close_notify.
    lp.clients[first].conn = None;
    lp.run_until(|lp| lp.servers[0].error.is_some());
    let error = lp.servers[0].error.clone().unwrap_or_default();
    assert!(error.contains("without a closing handshake"), "{error}");

    let second = lp.connect(&WsOptions::default());
    lp.run_until(|lp| lp.clients[second].opened);
    let conn = lp.clients[second].conn.as_mut().expect("client");
    let _ = conn.send(FrameKind::Text, b"after").expect("send");
    lp.run_until(|lp| lp.clients[second].inbox.len() == 1);
    assert_eq!(
        lp.clients[second].inbox[0],
        (FrameKind::Text, b"after".to_vec())
    );
}

#[test]
fn a_full_backlog_is_reported_as_backpressure_and_drains_later() {
    use fixp_ws::transport::SendStatus;
    let mut lp = Loop::new(true, WsOptions::default());
    let client_options = WsOptions {
        max_backlog_bytes: 128 * 1024,
        ..WsOptions::default()
    };
    let c = open_pair(&mut lp, &client_options);
    // The server is not driven while the client sends: socket buffers fill, then ours.
    let chunk = vec![0x5a_u8; 32 * 1024];
    let mut queued = 0u64;
    let conn = lp.clients[c].conn.as_mut().expect("client");
    let mut saw_backpressure = false;
    let mut saw_pending = false;
    for _ in 0..10_000 {
        match conn.send(FrameKind::Binary, &chunk).expect("send") {
            SendStatus::Flushed => queued += 1,
            SendStatus::Pending => {
                saw_pending = true;
                queued += 1;
            }
            SendStatus::Backpressure => {
                saw_backpressure = true;
                break;
            }
        }
    }
    assert!(saw_pending, "the socket filled before our backlog did");
    assert!(saw_backpressure, "the backlog is bounded");
    assert!(conn.flush_pending());
    assert_eq!(conn.stats().backpressure, 1);
    assert_eq!(
        conn.stats().frames_out,
        queued,
        "refused message not counted as sent"
    );
    // Now let the server read: every queued message arrives, none twice.
    lp.run_until(|lp| lp.servers[0].inbox.len() as u64 == queued);
    assert!(lp.servers[0]
        .inbox
        .iter()
        .all(|(k, b)| *k == FrameKind::Binary && *b == chunk));
    let conn = lp.clients[c].conn.as_mut().expect("client");
    assert_eq!(conn.flush().expect("flush"), SendStatus::Flushed);
    assert_eq!(
        conn.send(FrameKind::Binary, b"x").expect("send"),
        SendStatus::Flushed
    );
}

#[test]
fn pings_are_answered_by_tungstenite_and_not_delivered() {
    use tungstenite::Message;
    let mut lp = Loop::new(false, WsOptions::default());
    lp.echo = true;
    let url = format!("ws://127.0.0.1:{}/fixp", lp.addr.port());
    let peer = std::thread::spawn(move || {
        let request = tungstenite::ClientRequestBuilder::new(url.parse().expect("uri"))
            .with_sub_protocol("fixp-sbe");
        let (mut ws, _) = tungstenite::connect(request).expect("blocking client");
        ws.send(Message::Ping(b"hb".to_vec().into())).expect("ping");
        ws.send(Message::Binary(b"data".to_vec().into()))
            .expect("data");
        let mut seen = Vec::new();
        while seen.len() < 2 {
            match ws.read().expect("read") {
                Message::Pong(p) => seen.push(format!("pong:{}", String::from_utf8_lossy(&p))),
                Message::Binary(b) => seen.push(format!("binary:{}", String::from_utf8_lossy(&b))),
                other => seen.push(format!("other:{other:?}")),
            }
        }
        ws.close(None).expect("close");
        while ws.read().is_ok() {}
        seen
    });
    lp.run_until(|lp| lp.servers.first().is_some_and(|s| s.closed.is_some()));
    let seen = peer.join().expect("peer");
    assert_eq!(seen, ["pong:hb", "binary:data"]);
    let server = &lp.servers[0];
    assert_eq!(server.inbox, [(FrameKind::Binary, b"data".to_vec())]);
    assert_eq!(server.conn.as_ref().expect("server").stats().control_in, 1);
}

#[test]
fn an_untrusted_certificate_fails_the_tls_handshake() {
    let mut lp = Loop::new(true, WsOptions::default());
    // Trust some other self-signed certificate instead of the server's.
    let other = fixp_ws::transport::ServerIdentity::self_signed().expect("cert");
    lp.cert_pem = Some(other.cert_pem.clone());
    let c = lp.connect(&WsOptions::default());
    lp.run_until(|lp| lp.clients[c].error.is_some());
    let error = lp.clients[c].error.clone().unwrap_or_default();
    assert!(error.contains("TLS handshake failed"), "{error}");
    assert!(!lp.clients[c].opened);
    // The server got the client's alert: a failed handshake, not a refusal.
    lp.run_until(|lp| lp.listener.stats().handshake_failed == 1);
    assert!(lp.refused.is_empty());
    assert!(
        lp.servers[0]
            .error
            .as_deref()
            .is_some_and(|e| e.contains("TLS handshake failed")),
        "{:?}",
        lp.servers[0].error
    );
}

#[test]
fn a_refused_tcp_connect_is_a_connect_error() {
    use fixp_ws::transport::{ClientTarget, HandshakeProgress, TransportError, WsConnection};
    // Bind then drop a listener to get a port nobody listens on.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr").port()
    };
    let mut poll = mio::Poll::new().expect("poll");
    let mut events = mio::Events::with_capacity(4);
    let target = ClientTarget {
        addr: format!("127.0.0.1:{port}").parse().expect("addr"),
        host: "localhost".to_owned(),
        tls: None,
    };
    let mut conn = WsConnection::connect(
        target,
        &WsOptions::default(),
        poll.registry(),
        mio::Token(1),
    )
    .expect("connect starts");
    let outcome = loop {
        poll.poll(&mut events, Some(std::time::Duration::from_secs(10)))
            .expect("poll");
        assert!(!events.is_empty(), "stalled");
        match conn.poll_handshake() {
            Ok(HandshakeProgress::InProgress) => {}
            other => break other,
        }
    };
    assert!(
        matches!(outcome, Err(TransportError::Connect(_))),
        "{outcome:?}"
    );
}

#[test]
fn json_in_binary_frames_is_delivered_like_a_conga_server_sends_it() {
    let mut lp = Loop::new(true, WsOptions::default());
    let c = open_pair(&mut lp, &offering(&[Subprotocol::CongaText]));
    let json = br#"{"nextSeqNo":3,"@type":"Sequence"}"#;
    let server = lp.servers[0].conn.as_mut().expect("server");
    assert_eq!(server.subprotocol(), Some(Subprotocol::CongaText));
    // Conga's server sends JSON in binary frames; the subprotocol, not the frame, says JSON.
    let _ = server.send(FrameKind::Binary, json).expect("send");
    let _ = server.send(FrameKind::Text, json).expect("send");
    lp.run_until(|lp| lp.clients[c].inbox.len() == 2);
    assert_eq!(lp.clients[c].inbox[0], (FrameKind::Binary, json.to_vec()));
    assert_eq!(lp.clients[c].inbox[1], (FrameKind::Text, json.to_vec()));
    let client = lp.clients[c].conn.as_ref().expect("client");
    assert_eq!(
        client.subprotocol().map(Subprotocol::encoding),
        Some(fixp_ws::transport::WireEncoding::Json)
    );
}

#[test]
fn a_connection_moves_to_another_threads_poll() {
    use fixp_ws::transport::ReadStatus;
    let mut lp = Loop::new(true, WsOptions::default());
    let c = open_pair(&mut lp, &WsOptions::default());
    let mut server = lp.servers[0].conn.take().expect("server");
    server.deregister(lp.poll.registry()).expect("deregister");
    let engine = std::thread::spawn(move || {
        let mut poll = mio::Poll::new().expect("poll");
        let mut events = mio::Events::with_capacity(8);
        server
            .register_with(poll.registry(), mio::Token(7))
            .expect("register");
        let mut delivered = 0;
        loop {
            let mut batch = Vec::new();
            let status = server
                .read_frames(|kind, bytes| batch.push((kind, bytes.to_vec())))
                .expect("read");
            delivered += batch.len();
            if let ReadStatus::Closed(report) = status {
                return (delivered, report);
            }
            for (kind, bytes) in batch {
                assert_eq!((kind, bytes.as_slice()), (FrameKind::Binary, &b"hello"[..]));
                let _ = server.send(kind, b"echoed").expect("send");
            }
            poll.poll(&mut events, Some(std::time::Duration::from_secs(10)))
                .expect("poll");
            assert!(!events.is_empty(), "stalled");
            if server.flush_pending() {
                let _ = server.flush().expect("flush");
            }
        }
    });
    let conn = lp.clients[c].conn.as_mut().expect("client");
    let _ = conn.send(FrameKind::Binary, b"hello").expect("send");
    lp.run_until(|lp| !lp.clients[c].inbox.is_empty());
    assert_eq!(
        lp.clients[c].inbox[0],
        (FrameKind::Binary, b"echoed".to_vec())
    );
    let conn = lp.clients[c].conn.as_mut().expect("client");
    let _ = conn.close(CLOSE_NORMAL, "bye").expect("close");
    lp.run_until(|lp| lp.clients[c].closed.is_some());
    let (delivered, report) = engine.join().expect("engine thread");
    assert_eq!(delivered, 1);
    assert_eq!(report.peer_code, Some(CLOSE_NORMAL));
}
