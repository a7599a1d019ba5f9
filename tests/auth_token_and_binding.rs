//! Static-token credentials, secret sources, and the binding of TLS client certificate names
//! to SessionIds. Simulated clock; the peer identity is built directly (the TLS side that
//! extracts it is tested in `tls_mutual`).

mod session_support;

use std::io::Write as _;

use fixp_ws::codec::fixp::{EstablishmentRejectCode, FlowType, NegotiationRejectCode};
use fixp_ws::codec::{FixpMessage, FrameKind, SessionId};
use fixp_ws::session::auth::{
    CertBinding, ClientCertBinding, CredentialsError, Secret, SecretSource, SessionScope,
    StaticToken, TokenAuthenticator,
};
use fixp_ws::session::{
    AcceptAll, AuthDecision, AuthFailure, AuthMessage, AuthRequest, Authenticator,
    ClientCredentials, ConnectionId, Session, SessionConfig, SessionState,
};
use session_support::*;

fn token_client(
    credentials: ClientCredentials,
) -> Session<TestEncoding, fixp_ws::session::MemoryStore> {
    let config = SessionConfig {
        flow: FlowType::Idempotent,
        credentials,
        ..SessionConfig::default()
    };
    Session::client(config, TestEncoding::new(), store(), sid(7))
}

fn token(bytes: &[u8]) -> ClientCredentials {
    ClientCredentials::Static(StaticToken::new(Secret::from_bytes(bytes)).unwrap())
}

fn token_server() -> TestAcceptorWith<TokenAuthenticator> {
    let auth = TokenAuthenticator::new(&Secret::from_bytes(&b"s3cr3t-token"[..])).unwrap();
    acceptor_with(FlowType::Idempotent, auth)
}

#[test]
fn the_right_static_token_gets_in() {
    let mut p = Pair::with(token_client(token(b"s3cr3t-token")), token_server());
    p.connect();
    assert_eq!(p.client.state(), SessionState::Established);
    // Establish carried the token too, so re-establishing works.
    p.drop_connection();
    p.advance(MS);
    p.connect();
    assert_eq!(p.client.state(), SessionState::Established);
}

#[test]
fn a_wrong_or_missing_static_token_is_rejected_with_credentials() {
    for credentials in [
        token(b"s3cr3t-tokeN"),
        token(b"s3cr3t-token-and-more"),
        token(b"s"),
        ClientCredentials::None,
    ] {
        let mut p = Pair::with(token_client(credentials), token_server());
        p.connect();
        assert!(
            has(&events(&mut p.client), "NegotiationRejected(Credentials)"),
            "{:?}",
            p.server_log
        );
        assert!(p
            .server_log
            .iter()
            .any(|o| matches!(o, Out::Close(1008, _))));
        assert!(p.server.is_empty());
    }
}

#[test]
fn static_token_establish_is_checked_too() {
    let mut server = token_server();
    let id = sid(3);
    let frame = |creds: &[u8], establish: bool| {
        enc(&if establish {
            FixpMessage::Establish {
                session_id: id,
                timestamp: 2,
                keepalive_interval: 1000,
                next_seq_no: None,
                credentials: creds,
            }
        } else {
            FixpMessage::Negotiate {
                session_id: id,
                timestamp: 1,
                client_flow: FlowType::Idempotent,
                credentials: creds,
            }
        })
    };
    server.handle_frame(
        1,
        ConnectionId(1),
        &frame(b"s3cr3t-token", false),
        FrameKind::Binary,
    );
    assert!(server.session(id).is_some());
    while server.poll_transmit().is_some() {}
    server.handle_frame(
        2,
        ConnectionId(1),
        &frame(b"wrong", true),
        FrameKind::Binary,
    );
    let out: Vec<Out> =
        std::iter::from_fn(|| server.poll_transmit().map(|(_, t)| to_out(t))).collect();
    assert!(matches!(
        out.as_slice(),
        [
            Out::Msg(Msg::EstablishmentReject {
                code: EstablishmentRejectCode::Credentials,
                ..
            }),
            Out::Close(1008, _)
        ]
    ));
}

#[test]
fn tokens_and_secrets_are_checked_when_built() {
    assert!(matches!(
        StaticToken::new(Secret::from_bytes(vec![b'x'; 129])),
        Err(CredentialsError::TokenTooLong(129))
    ));
    assert!(StaticToken::new(Secret::from_bytes(vec![b'x'; 128])).is_ok());
    assert!(StaticToken::new(Secret::from_bytes(Vec::new())).is_err());
    assert!(TokenAuthenticator::new(&Secret::from_bytes(Vec::new())).is_err());
    // Secrets never print.
    let secret = Secret::from_bytes(&b"hunter2"[..]);
    assert!(!format!("{secret:?}").contains("hunter2"));
    let token = StaticToken::new(secret).unwrap();
    assert!(!format!("{:?}", ClientCredentials::Static(token)).contains("hunter2"));
}

#[test]
fn secrets_come_from_a_file_or_an_environment_variable() {
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"s3cr3t-token\n").unwrap();
    let source = SecretSource::File(file.path().to_owned());
    assert_eq!(source.load().unwrap().expose(), b"s3cr3t-token");
    let auth = TokenAuthenticator::load(&source).unwrap();
    let mut p = Pair::with(
        token_client(ClientCredentials::Static(
            StaticToken::load(&source).unwrap(),
        )),
        acceptor_with(FlowType::Idempotent, auth),
    );
    p.connect();
    assert_eq!(p.client.state(), SessionState::Established);

    let empty = tempfile::NamedTempFile::new().unwrap();
    assert!(matches!(
        SecretSource::File(empty.path().to_owned()).load(),
        Err(CredentialsError::EmptySecret)
    ));
    assert!(matches!(
        SecretSource::File("/nonexistent/secret".into()).load(),
        Err(CredentialsError::File { .. })
    ));
    // PATH is set in every test environment; reading it proves the variable is used as is.
    let path = std::env::var("PATH").unwrap();
    assert_eq!(
        SecretSource::Env("PATH".into()).load().unwrap().expose(),
        path.trim_end().as_bytes()
    );
    assert!(matches!(
        SecretSource::Env("FIXP_WS_TEST_SURELY_UNSET_9F1C".into()).load(),
        Err(CredentialsError::EnvMissing(_))
    ));
}

// --- Client certificate bindings ---------------------------------------------------------

fn identity(cn: &str, sans: &[&str]) -> fixp_ws::session::PeerIdentity {
    fixp_ws::session::PeerIdentity::new(
        Some(cn.to_owned()),
        sans.iter().map(|s| (*s).to_owned()).collect(),
    )
}

fn request<'a>(
    message: AuthMessage,
    id: SessionId,
    peer: Option<&'a fixp_ws::session::PeerIdentity>,
) -> AuthRequest<'a> {
    AuthRequest {
        message,
        session_id: id,
        request_timestamp: 1,
        credentials: &[],
        now: 1,
        peer,
    }
}

const ESTABLISH: AuthMessage = AuthMessage::Establish {
    keepalive_interval_ms: 1000,
    next_seq_no: None,
};

fn bindings() -> Vec<CertBinding> {
    vec![
        CertBinding {
            name: "desk-a.example".into(),
            sessions: SessionScope::Any,
        },
        CertBinding {
            name: "desk-b".into(),
            sessions: SessionScope::Any,
        },
        CertBinding {
            name: "venue-assigned".into(),
            sessions: SessionScope::Only(vec![sid(50)]),
        },
    ]
}

#[test]
fn a_certificate_name_is_required_and_must_be_allowed() {
    let mut auth = ClientCertBinding::new(AcceptAll, bindings(), 16);
    let stranger = identity("mallory", &["mallory.example"]);
    let desk_a = identity("trader", &["desk-a.example"]);
    let desk_b = identity("desk-b", &[]);
    assert_eq!(
        auth.authenticate(&request(AuthMessage::Negotiate, sid(1), None)),
        AuthDecision::Refuse(AuthFailure::NoPeerIdentity)
    );
    assert_eq!(
        auth.authenticate(&request(AuthMessage::Negotiate, sid(1), Some(&stranger))),
        AuthDecision::Refuse(AuthFailure::IdentityNotAllowed)
    );
    // A SAN or the CN may carry the name; DNS names compare without case.
    assert_eq!(
        auth.authenticate(&request(AuthMessage::Negotiate, sid(1), Some(&desk_a))),
        AuthDecision::Accept
    );
    let shouting = identity("x", &["DESK-A.EXAMPLE"]);
    assert_eq!(
        auth.authenticate(&request(ESTABLISH, sid(1), Some(&shouting))),
        AuthDecision::Accept
    );
    // Another allowed certificate cannot use desk A's session.
    assert_eq!(
        auth.authenticate(&request(ESTABLISH, sid(1), Some(&desk_b))),
        AuthDecision::Refuse(AuthFailure::IdentityMismatch)
    );
    assert_eq!(
        auth.authenticate(&request(AuthMessage::Negotiate, sid(2), Some(&desk_b))),
        AuthDecision::Accept
    );
    assert_eq!(auth.owned_sessions(), 2);
    // A name limited to venue-assigned SessionIds.
    let assigned = identity("venue-assigned", &[]);
    assert_eq!(
        auth.authenticate(&request(AuthMessage::Negotiate, sid(51), Some(&assigned))),
        AuthDecision::Refuse(AuthFailure::SessionNotAllowed)
    );
    assert_eq!(
        auth.authenticate(&request(AuthMessage::Negotiate, sid(50), Some(&assigned))),
        AuthDecision::Accept
    );
    // Forgetting a session frees its owner entry.
    auth.session_ended(sid(1));
    assert_eq!(auth.owned_sessions(), 2);
    assert_eq!(
        auth.authenticate(&request(AuthMessage::Negotiate, sid(1), Some(&desk_b))),
        AuthDecision::Accept
    );
}

/// Refuses one magic credential, to see that the binding asks its inner authenticator.
struct RefuseBlocked;
impl Authenticator for RefuseBlocked {
    fn authenticate(&mut self, request: &AuthRequest<'_>) -> AuthDecision {
        if request.credentials == b"blocked" {
            AuthDecision::Blocked
        } else {
            AuthDecision::Accept
        }
    }
}

#[test]
fn the_binding_asks_the_inner_authenticator_and_stays_bounded() {
    let mut auth = ClientCertBinding::new(RefuseBlocked, bindings(), 4);
    let desk_a = identity("desk-a.example", &[]);
    let mut blocked = request(AuthMessage::Negotiate, sid(1), Some(&desk_a));
    blocked.credentials = b"blocked";
    assert_eq!(auth.authenticate(&blocked), AuthDecision::Blocked);
    assert_eq!(auth.owned_sessions(), 0);
    for n in 0..4 {
        assert_eq!(
            auth.authenticate(&request(AuthMessage::Negotiate, sid(10 + n), Some(&desk_a))),
            AuthDecision::Accept
        );
    }
    assert_eq!(
        auth.authenticate(&request(AuthMessage::Negotiate, sid(20), Some(&desk_a))),
        AuthDecision::Refuse(AuthFailure::TableFull)
    );
    assert_eq!(auth.owned_sessions(), 4);
}

type BindingAcceptor = TestAcceptorWith<ClientCertBinding<AcceptAll>>;

/// Hands `frame` to the acceptor on connection `conn` from `peer`; returns its answers.
fn answer(
    server: &mut BindingAcceptor,
    now: u64,
    conn: u64,
    peer: Option<&fixp_ws::session::PeerIdentity>,
    frame: &[u8],
) -> Vec<Out> {
    server.handle_frame_from(now, ConnectionId(conn), peer, frame, FrameKind::Binary);
    std::iter::from_fn(|| server.poll_transmit().map(|(_, t)| to_out(t))).collect()
}

/// A reject with code Credentials, then Close 1008.
fn credentials_refused(out: &[Out]) -> bool {
    matches!(
        out,
        [
            Out::Msg(
                Msg::NegotiationReject {
                    code: NegotiationRejectCode::Credentials,
                    ..
                } | Msg::EstablishmentReject {
                    code: EstablishmentRejectCode::Credentials,
                    ..
                }
            ),
            Out::Close(1008, _)
        ]
    )
}

#[test]
fn the_acceptor_passes_the_peer_identity_and_frees_bindings_it_forgets() {
    let mut server: BindingAcceptor = acceptor_with(
        FlowType::Idempotent,
        ClientCertBinding::new(AcceptAll, bindings(), 8),
    );
    let desk_a = identity("desk-a.example", &[]);
    let desk_b = identity("desk-b", &[]);
    let negotiate = |id| {
        enc(&FixpMessage::Negotiate {
            session_id: id,
            timestamp: 1,
            client_flow: FlowType::Idempotent,
            credentials: &[],
        })
    };
    // Without a certificate (plain handle_frame): Credentials.
    server.handle_frame(1, ConnectionId(1), &negotiate(sid(1)), FrameKind::Binary);
    let out: Vec<Out> =
        std::iter::from_fn(|| server.poll_transmit().map(|(_, t)| to_out(t))).collect();
    assert!(credentials_refused(&out), "{out:?}");
    assert!(matches!(
        answer(&mut server, 1, 2, Some(&desk_a), &negotiate(sid(1))).as_slice(),
        [Out::Msg(Msg::NegotiationResponse { .. })]
    ));
    assert_eq!(
        server.session(sid(1)).map(|s| s.state()),
        Some(SessionState::Negotiated)
    );
    // Desk A's connection drops; desk B knows the SessionId but may not establish it.
    server.handle_disconnected(2, ConnectionId(2));
    let establish = enc(&FixpMessage::Establish {
        session_id: sid(1),
        timestamp: 2,
        keepalive_interval: 1000,
        next_seq_no: None,
        credentials: &[],
    });
    assert!(credentials_refused(&answer(
        &mut server,
        2,
        3,
        Some(&desk_b),
        &establish
    )));
    assert!(matches!(
        answer(&mut server, 2, 4, Some(&desk_a), &establish).as_slice(),
        [Out::Msg(Msg::EstablishmentAck { .. })]
    ));
    // A Negotiate accepted by the binding but rejected by the acceptor (duplicate id) does
    // not leave an owner entry behind; a Negotiate for a fresh id that the acceptor refuses
    // (here: unsupported flow) neither.
    assert_eq!(server.authenticator().owned_sessions(), 1);
    assert!(matches!(
        answer(&mut server, 3, 5, Some(&desk_a), &negotiate(sid(1))).as_slice(),
        [
            Out::Msg(Msg::NegotiationReject {
                code: NegotiationRejectCode::DuplicateId,
                ..
            }),
            Out::Close(1002, _)
        ]
    ));
    assert_eq!(server.authenticator().owned_sessions(), 1);

    let config = fixp_ws::session::AcceptorConfig {
        client_flows: vec![FlowType::Idempotent],
        ..Default::default()
    };
    let mut strict = fixp_ws::session::Acceptor::new(
        config,
        TestEncoding::new(),
        ClientCertBinding::new(AcceptAll, bindings(), 8),
        |_| (TestEncoding::new(), store()),
    );
    let recoverable = enc(&FixpMessage::Negotiate {
        session_id: sid(9),
        timestamp: 1,
        client_flow: FlowType::Recoverable,
        credentials: &[],
    });
    strict.handle_frame_from(
        1,
        ConnectionId(1),
        Some(&desk_a),
        &recoverable,
        FrameKind::Binary,
    );
    let (_, t) = strict.poll_transmit().unwrap();
    assert!(matches!(
        to_out(t),
        Out::Msg(Msg::NegotiationReject {
            code: NegotiationRejectCode::FlowTypeNotSupported,
            ..
        })
    ));
    assert_eq!(strict.authenticator().owned_sessions(), 0);
}

#[test]
fn a_finalized_session_frees_its_certificate_binding() {
    let mut p = Pair::with(
        client(FlowType::Idempotent, sid(7)),
        acceptor_with(
            FlowType::Idempotent,
            ClientCertBinding::new(AcceptAll, bindings(), 8),
        ),
    );
    p.peer = Some(identity("desk-a.example", &[]));
    p.connect();
    assert_eq!(p.client.state(), SessionState::Established);
    assert_eq!(p.server.authenticator().owned_sessions(), 1);
    let now = p.now;
    p.client.finalize(now);
    p.server_session().finalize(now);
    p.pump();
    assert_eq!(p.client.state(), SessionState::Finalized);
    while p.server.poll_event().is_some() {}
    p.advance(MS);
    assert!(p.server.is_finalized(sid(7)));
    assert_eq!(p.server.authenticator().owned_sessions(), 0);
}
