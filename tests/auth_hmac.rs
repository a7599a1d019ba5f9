//! HMAC-SHA256 credentials (iLink 3 style): the client signs, the acceptor verifies; every
//! refusal is the right reject code with the right reason. Simulated clock throughout.

mod session_support;

use fixp_ws::codec::fixp::{EstablishmentRejectCode, FlowType, NegotiationRejectCode};
use fixp_ws::codec::{Encoding, FixpMessage, FrameKind, Inbound, SessionId};
use fixp_ws::session::auth::{
    canonical_text, HmacAuthenticator, HmacConfig, HmacKey, Secret, MAX_CANONICAL_LEN,
    MAX_CREDENTIALS_LEN,
};
use fixp_ws::session::{
    AuthDecision, AuthFailure, AuthMessage, AuthRequest, Authenticator, ClientCredentials,
    ConnectionId, MemoryStore, Session, SessionConfig, SessionState, Transmit,
};
use session_support::*;

/// 32 bytes 0..31 in base64url without padding.
const SECRET: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
/// Another secret.
const OTHER_SECRET: &str = "_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-_-8";
const WINDOW: u64 = 5_000_000_000;
const T0: u64 = 1_700_000_000_000_000_000;

fn key(id: &str, secret: &str) -> HmacKey {
    HmacKey::new(id, &Secret::from_bytes(secret)).unwrap()
}

fn verifier() -> HmacAuthenticator {
    HmacAuthenticator::new(vec![key("desk-1", SECRET)], HmacConfig::default()).unwrap()
}

fn hmac_client(
    credentials: ClientCredentials,
    id: SessionId,
) -> Session<TestEncoding, MemoryStore> {
    let config = SessionConfig {
        flow: FlowType::Recoverable,
        credentials,
        ..SessionConfig::default()
    };
    Session::client(config, TestEncoding::new(), store(), id)
}

/// Credentials of `message` signed by `signer`.
fn signed(signer: &HmacKey, message: AuthMessage, id: SessionId, ts: u64) -> Vec<u8> {
    let mut out = [0u8; MAX_CREDENTIALS_LEN];
    let n = signer.write_credentials(message, id, ts, &mut out);
    out[..n].to_vec()
}

fn negotiate(id: SessionId, ts: u64, credentials: &[u8]) -> Vec<u8> {
    enc(&FixpMessage::Negotiate {
        session_id: id,
        timestamp: ts,
        client_flow: FlowType::Recoverable,
        credentials,
    })
}

const ESTABLISH: AuthMessage = AuthMessage::Establish {
    keepalive_interval_ms: 1000,
    next_seq_no: Some(1),
};

fn establish(id: SessionId, ts: u64, credentials: &[u8]) -> Vec<u8> {
    enc(&FixpMessage::Establish {
        session_id: id,
        timestamp: ts,
        keepalive_interval: 1000,
        next_seq_no: Some(1),
        credentials,
    })
}

/// A handshake answer, with its reject reason.
#[derive(Debug, PartialEq, Eq)]
enum Reply {
    NegotiationResponse,
    NegotiationReject(NegotiationRejectCode, String),
    EstablishmentAck,
    EstablishmentReject(EstablishmentRejectCode, String),
    Close(u16),
    Other(String),
}

/// Everything the acceptor has to send, decoded.
fn replies<A: Authenticator>(server: &mut TestAcceptorWith<A>) -> Vec<Reply> {
    let mut out = Vec::new();
    while let Some((_, t)) = server.poll_transmit() {
        out.push(match t {
            Transmit::Close { code, .. } => Reply::Close(code),
            Transmit::Frame { bytes, kind } => {
                let mut e = TestEncoding::new();
                match e.decode(bytes, kind) {
                    Ok(Inbound::Fixp(FixpMessage::NegotiationResponse { .. })) => {
                        Reply::NegotiationResponse
                    }
                    Ok(Inbound::Fixp(FixpMessage::EstablishmentAck { .. })) => {
                        Reply::EstablishmentAck
                    }
                    Ok(Inbound::Fixp(FixpMessage::NegotiationReject { code, reason, .. })) => {
                        Reply::NegotiationReject(code, String::from_utf8_lossy(reason).into())
                    }
                    Ok(Inbound::Fixp(FixpMessage::EstablishmentReject {
                        code, reason, ..
                    })) => Reply::EstablishmentReject(code, String::from_utf8_lossy(reason).into()),
                    other => Reply::Other(format!("{other:?}")),
                }
            }
        });
    }
    out
}

/// Hands `frame` to the acceptor on `connection` at `now` and returns its answers.
fn answer<A: Authenticator>(
    server: &mut TestAcceptorWith<A>,
    now: u64,
    connection: ConnectionId,
    frame: &[u8],
) -> Vec<Reply> {
    server.handle_frame(now, connection, frame, FrameKind::Binary);
    replies(server)
}

fn negotiation_refused(reason: &str) -> Vec<Reply> {
    vec![
        Reply::NegotiationReject(NegotiationRejectCode::Credentials, reason.into()),
        Reply::Close(1008),
    ]
}

fn establishment_refused(reason: &str) -> Vec<Reply> {
    vec![
        Reply::EstablishmentReject(EstablishmentRejectCode::Credentials, reason.into()),
        Reply::Close(1008),
    ]
}

/// An acceptor with the HMAC verifier and one session negotiated on connection 1 at `T0`.
fn negotiated(id: SessionId) -> TestAcceptorWith<HmacAuthenticator> {
    let mut server = acceptor_with(FlowType::Recoverable, verifier());
    let creds = signed(&key("desk-1", SECRET), AuthMessage::Negotiate, id, T0);
    assert_eq!(
        answer(&mut server, T0, ConnectionId(1), &negotiate(id, T0, &creds)),
        vec![Reply::NegotiationResponse]
    );
    server
}

#[test]
fn credentials_match_an_independent_hmac_implementation() {
    // Expected values computed with Python's hmac + base64 from the documented format.
    let id = SessionId([
        0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef, 0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06,
        0x07,
    ]);
    let signer = key("desk-1", SECRET);
    let cases = [
        (
            AuthMessage::Negotiate,
            T0,
            "desk-1:NsrvvhRCgx4fZC0o7zJPXv1TUgZwjKQ5s9XtuYdGeFk",
        ),
        (
            AuthMessage::Establish {
                keepalive_interval_ms: 2000,
                next_seq_no: Some(1),
            },
            T0 + 1,
            "desk-1:weTILFOgMwBqZcEXRb-4lZRh08jnxmGoI1bU1v2Yhfo",
        ),
        (
            AuthMessage::Establish {
                keepalive_interval_ms: 2000,
                next_seq_no: None,
            },
            T0 + 1,
            "desk-1:bn1zGr-Ceo6Q-hm5Q04SofI9A28pYaATVKs53RH-ObQ",
        ),
    ];
    for (message, ts, expected) in cases {
        assert_eq!(
            String::from_utf8(signed(&signer, message, id, ts)).unwrap(),
            expected
        );
        let credentials = ClientCredentials::hmac(signer.clone());
        let mut out = [0u8; MAX_CREDENTIALS_LEN];
        let n = credentials.write(message, id, ts, &mut out);
        assert_eq!(&out[..n], expected.as_bytes());
    }
    let mut text = [0u8; MAX_CANONICAL_LEN];
    let n = canonical_text(AuthMessage::Negotiate, id, T0, &mut text);
    assert_eq!(
        &text[..n],
        b"1700000000000000000\n12345678-9abc-4def-8001-020304050607"
    );
}

#[test]
fn a_signing_client_negotiates_establishes_trades_and_re_establishes() {
    let client = hmac_client(ClientCredentials::hmac(key("desk-1", SECRET)), sid(7));
    let mut p = Pair::with(client, acceptor_with(FlowType::Recoverable, verifier()));
    p.connect();
    assert_eq!(p.client.state(), SessionState::Established);
    p.client.send(p.now, &app(1)).unwrap();
    p.pump();
    assert_eq!(messages(&p.server_events()), vec![(1, 1)]);

    // A transport drop, then Establish again on a new connection with a fresh timestamp.
    p.drop_connection();
    p.advance(3 * MS);
    p.connect();
    assert_eq!(p.client.state(), SessionState::Established);
    p.client.send(p.now, &app(2)).unwrap();
    p.pump();
    assert_eq!(messages(&p.server_events()), vec![(2, 2)]);
    assert_eq!(p.server.len(), 1);
}

#[test]
fn a_client_with_the_wrong_secret_is_rejected_with_credentials() {
    let client = hmac_client(ClientCredentials::hmac(key("desk-1", OTHER_SECRET)), sid(7));
    let mut p = Pair::with(client, acceptor_with(FlowType::Recoverable, verifier()));
    p.connect();
    assert!(has(
        &events(&mut p.client),
        "NegotiationRejected(Credentials)"
    ));
    assert!(p.server.is_empty());
}

#[test]
fn a_client_without_credentials_is_rejected_with_credentials() {
    let client = hmac_client(ClientCredentials::None, sid(7));
    let mut p = Pair::with(client, acceptor_with(FlowType::Recoverable, verifier()));
    p.connect();
    assert!(has(
        &events(&mut p.client),
        "NegotiationRejected(Credentials)"
    ));

    let id = sid(8);
    let mut server = negotiated(id);
    assert_eq!(
        answer(
            &mut server,
            T0 + 1,
            ConnectionId(1),
            &establish(id, T0 + 1, &[])
        ),
        establishment_refused("credentials missing")
    );
}

#[test]
fn wrong_signature_wrong_key_id_and_wrong_fields_are_refused() {
    let id = sid(1);
    let good = key("desk-1", SECRET);
    let cases: Vec<(Vec<u8>, &str)> = vec![
        (
            signed(&key("desk-1", OTHER_SECRET), AuthMessage::Negotiate, id, T0),
            "signature mismatch",
        ),
        (
            signed(&key("desk-2", SECRET), AuthMessage::Negotiate, id, T0),
            "unknown key id",
        ),
        // Signed for another SessionId, another timestamp, or as an Establish.
        (
            signed(&good, AuthMessage::Negotiate, sid(2), T0),
            "signature mismatch",
        ),
        (
            signed(&good, AuthMessage::Negotiate, id, T0 + 1),
            "signature mismatch",
        ),
        (signed(&good, ESTABLISH, id, T0), "signature mismatch"),
    ];
    for (creds, reason) in cases {
        let mut server = acceptor_with(FlowType::Recoverable, verifier());
        assert_eq!(
            answer(&mut server, T0, ConnectionId(1), &negotiate(id, T0, &creds)),
            negotiation_refused(reason),
            "{reason}"
        );
        assert!(server.is_empty());
    }

    // An Establish signed over another KeepaliveInterval or NextSeqNo.
    let mut server = negotiated(id);
    for other in [
        AuthMessage::Establish {
            keepalive_interval_ms: 1001,
            next_seq_no: Some(1),
        },
        AuthMessage::Establish {
            keepalive_interval_ms: 1000,
            next_seq_no: Some(2),
        },
        AuthMessage::Establish {
            keepalive_interval_ms: 1000,
            next_seq_no: None,
        },
    ] {
        let creds = signed(&good, other, id, T0 + 1);
        assert_eq!(
            answer(
                &mut server,
                T0 + 1,
                ConnectionId(1),
                &establish(id, T0 + 1, &creds)
            ),
            establishment_refused("signature mismatch")
        );
    }
}

#[test]
fn malformed_credentials_are_refused() {
    let id = sid(1);
    let valid = String::from_utf8(signed(
        &key("desk-1", SECRET),
        AuthMessage::Negotiate,
        id,
        T0,
    ))
    .unwrap();
    let signature = valid.strip_prefix("desk-1:").unwrap();
    // The last of 43 base64 symbols carries 2 unused bits: setting one keeps the 32 bytes
    // but makes the encoding non-canonical.
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = signature.as_bytes()[42];
    let position = ALPHABET.iter().position(|&c| c == last).unwrap();
    let non_canonical = format!("{}{}", &signature[..42], ALPHABET[position ^ 1] as char);
    let cases = [
        "no-colon-here".to_owned(),
        format!("desk-1{signature}"),
        format!(":{signature}"),
        format!("desk 1:{signature}"),
        format!("desk-1:{signature}A"),
        format!("desk-1:{signature}="),
        format!("desk-1:{}", &signature[1..]),
        format!("desk-1:+{}", &signature[1..]),
        format!("desk-1:{non_canonical}"),
        format!("{}:{signature}", "k".repeat(65)),
        format!("desk-1:{signature}:"),
        "desk-1:".to_owned(),
    ];
    for creds in cases {
        let mut server = acceptor_with(FlowType::Recoverable, verifier());
        assert_eq!(
            answer(
                &mut server,
                T0,
                ConnectionId(1),
                &negotiate(id, T0, creds.as_bytes())
            ),
            negotiation_refused("credentials malformed"),
            "{creds}"
        );
    }
    // Binary junk.
    let mut server = acceptor_with(FlowType::Recoverable, verifier());
    assert_eq!(
        answer(
            &mut server,
            T0,
            ConnectionId(1),
            &negotiate(id, T0, &[0xff, b':', 0, 1])
        ),
        negotiation_refused("credentials malformed")
    );
}

#[test]
fn timestamps_outside_the_window_are_refused_on_both_sides() {
    let id = sid(1);
    let good = key("desk-1", SECRET);
    for (ts, accepted) in [
        (T0 - WINDOW - 1, false),
        (T0 + WINDOW + 1, false),
        (T0 - WINDOW, true),
        (T0 + WINDOW, true),
    ] {
        let mut server = acceptor_with(FlowType::Recoverable, verifier());
        let creds = signed(&good, AuthMessage::Negotiate, id, ts);
        let expected = if accepted {
            vec![Reply::NegotiationResponse]
        } else {
            negotiation_refused("timestamp outside the accepted window")
        };
        let frame = negotiate(id, ts, &creds);
        assert_eq!(
            answer(&mut server, T0, ConnectionId(1), &frame),
            expected,
            "ts {ts}"
        );
    }

    // The same on Establish: a client whose clock is 6 s behind.
    let mut server = negotiated(id);
    let late = T0 + 6_000_000_000;
    let creds = signed(&good, ESTABLISH, id, T0 + 1);
    assert_eq!(
        answer(
            &mut server,
            late,
            ConnectionId(1),
            &establish(id, T0 + 1, &creds)
        ),
        establishment_refused("timestamp outside the accepted window")
    );
}

#[test]
fn a_replayed_establish_is_refused_and_the_owner_re_establishes() {
    let id = sid(1);
    let good = key("desk-1", SECRET);
    let mut server = negotiated(id);
    let captured = establish(id, T0 + 10, &signed(&good, ESTABLISH, id, T0 + 10));
    assert_eq!(
        answer(&mut server, T0 + 10, ConnectionId(1), &captured),
        vec![Reply::EstablishmentAck]
    );

    // The connection drops; an eavesdropper replays the captured Establish within the window.
    server.handle_disconnected(T0 + 20, ConnectionId(1));
    assert_eq!(
        answer(&mut server, T0 + 30, ConnectionId(2), &captured),
        establishment_refused("timestamp reused")
    );
    // So is an older (still valid) signature.
    let older = establish(id, T0 + 5, &signed(&good, ESTABLISH, id, T0 + 5));
    assert_eq!(
        answer(&mut server, T0 + 30, ConnectionId(3), &older),
        establishment_refused("timestamp reused")
    );
    assert!(!server.session(id).unwrap().is_bound());

    // The owner, with a fresh timestamp, gets back in.
    let fresh = establish(id, T0 + 40, &signed(&good, ESTABLISH, id, T0 + 40));
    assert_eq!(
        answer(&mut server, T0 + 40, ConnectionId(4), &fresh),
        vec![Reply::EstablishmentAck]
    );
}

#[test]
fn a_session_stays_with_the_key_that_negotiated_it() {
    let id = sid(1);
    let keys = vec![key("desk-1", SECRET), key("desk-2", OTHER_SECRET)];
    let mut server = acceptor_with(
        FlowType::Recoverable,
        HmacAuthenticator::new(keys, HmacConfig::default()).unwrap(),
    );
    let creds = signed(&key("desk-1", SECRET), AuthMessage::Negotiate, id, T0);
    assert_eq!(
        answer(&mut server, T0, ConnectionId(1), &negotiate(id, T0, &creds)),
        vec![Reply::NegotiationResponse]
    );
    let other = signed(&key("desk-2", OTHER_SECRET), ESTABLISH, id, T0 + 1);
    assert_eq!(
        answer(
            &mut server,
            T0 + 1,
            ConnectionId(1),
            &establish(id, T0 + 1, &other)
        ),
        establishment_refused("session belongs to another key")
    );
}

#[test]
fn hmac_keys_and_authenticators_are_checked_when_built() {
    let secret = |s: &str| Secret::from_bytes(s);
    assert!(HmacKey::new("desk-1", &secret("not base64!")).is_err());
    assert!(HmacKey::new("desk-1", &secret("AAECAwQFBgcICQoLDA0ODw")).is_ok()); // 16 bytes
    assert!(HmacKey::new("desk-1", &secret("AAECAwQFBgcICQoLDA0O")).is_err()); // 15 bytes
    assert!(HmacKey::new("desk-1", &secret("")).is_err());
    assert!(HmacKey::new("desk:1", &secret(SECRET)).is_err());
    // Padding is optional on the secret.
    assert!(HmacKey::new("desk-1", &secret("AAECAwQFBgcICQoLDA0ODw==")).is_ok());
    assert!(HmacAuthenticator::new(vec![], HmacConfig::default()).is_err());
    assert!(HmacAuthenticator::new(
        vec![key("desk-1", SECRET), key("desk-1", OTHER_SECRET)],
        HmacConfig::default()
    )
    .is_err());
}

fn request(id: SessionId, ts: u64, now: u64, credentials: &[u8]) -> AuthRequest<'_> {
    AuthRequest {
        message: AuthMessage::Negotiate,
        session_id: id,
        request_timestamp: ts,
        credentials,
        now,
        peer: None,
    }
}

#[test]
fn the_replay_table_stays_bounded_and_only_forgets_stale_entries() {
    let capacity = 8;
    let mut auth = HmacAuthenticator::new(
        vec![key("desk-1", SECRET)],
        HmacConfig {
            window_ns: WINDOW,
            replay_capacity: capacity,
        },
    )
    .unwrap();
    let good = key("desk-1", SECRET);
    let id = |n: u32| {
        let mut b = [0u8; 16];
        b[..4].copy_from_slice(&n.to_be_bytes());
        SessionId::from_random_bytes(b)
    };
    // Fill the table within one window.
    for n in 0..capacity as u32 {
        let ts = T0 + u64::from(n);
        let creds = signed(&good, AuthMessage::Negotiate, id(n), ts);
        assert_eq!(
            auth.authenticate(&request(id(n), ts, ts, &creds)),
            AuthDecision::Accept
        );
    }
    assert_eq!(auth.remembered_sessions(), capacity);
    // Full, and every entry is still inside the window: refuse rather than forget.
    let ts = T0 + 100;
    let creds = signed(&good, AuthMessage::Negotiate, id(1000), ts);
    assert_eq!(
        auth.authenticate(&request(id(1000), ts, ts, &creds)),
        AuthDecision::Refuse(AuthFailure::TableFull)
    );
    // Thousands of sessions later, spread over time, the table never grows.
    let mut now = T0 + WINDOW + 100;
    for n in 0..5_000u32 {
        now += WINDOW / 4;
        let creds = signed(&good, AuthMessage::Negotiate, id(10_000 + n), now);
        let decision = auth.authenticate(&request(id(10_000 + n), now, now, &creds));
        assert_eq!(decision, AuthDecision::Accept, "session {n}");
        assert!(auth.remembered_sessions() <= capacity);
    }
    assert_eq!(auth.replay_capacity(), capacity);
    // A recent entry is still remembered: its replay is refused.
    let last = id(10_000 + 4_999);
    let creds = signed(&good, AuthMessage::Negotiate, last, now);
    assert_eq!(
        auth.authenticate(&request(last, now, now + 1, &creds)),
        AuthDecision::Refuse(AuthFailure::ReplayedTimestamp)
    );
}
