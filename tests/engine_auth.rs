//! Authentication wired into the engine, over real TLS WebSocket on loopback:
//!
//! - HMAC-SHA256 (iLink 3 style): a wrong signature, a stale timestamp, a replayed timestamp
//!   and missing credentials each get the right reject (NegotiationReject or
//!   EstablishmentReject, code Credentials, the failure as reason) on the wire, then Close
//!   1008; an engine initiator that signs with the right key establishes and trades;
//! - static token: the right token gets in, another is refused;
//! - mutual TLS: a client certificate bound to its SessionIds establishes one of them, and is
//!   refused another;
//! - an engine that listens refuses to start without an authenticator choice.
//!
//! Raw clients (a blocking tungstenite WebSocket over rustls) send exactly the handshake a
//! test needs; the server is an inline engine.

mod engine_support;
mod hostile_support;

use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use engine_support::*;
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::{FixpMessage, SessionId};
use fixp_ws::engine::{EngineBuilder, EngineConfig, EngineError, Strategy};
use fixp_ws::session::auth::{
    CertBinding, ClientCertBinding, HmacAuthenticator, HmacConfig, HmacKey, Secret, SessionScope,
    StaticToken, TokenAuthenticator, MAX_CREDENTIALS_LEN,
};
use fixp_ws::session::{
    AcceptAll, AuthMessage, Authenticator, ClientCredentials, Event, SessionState,
};
use fixp_ws::transport::{
    client_config_from_ca_pem, client_config_with_roots, CertificateAuthority, ClientAuth,
    ClientTarget, ServerIdentity, TrustRoots, WireEncoding, WsOptions,
};
use hostile_support::*;

const HOST: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));
const KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8";
const OTHER_KEY: &str = "HxwdGxoZGBcWFRQTEhEQDw4NDAsKCQgHBgUEAwIBAAA";

fn key(secret: &str) -> HmacKey {
    HmacKey::new("desk-1", &Secret::from_bytes(secret.as_bytes().to_vec())).expect("key")
}

/// An inline TLS server on 127.0.0.1 with `authenticator` and the TLS config given.
fn start_auth_server(
    authenticator: impl Authenticator + Send + 'static,
    tls: Arc<rustls::ServerConfig>,
    cert_pem: String,
) -> Server<Recorder> {
    let mut builder =
        EngineBuilder::with_strategy(test_config(100), Recorder::new(shared::<Record>()))
            .expect("engine");
    builder.authenticator(authenticator);
    let addr = builder
        .listen(
            "127.0.0.1:0".parse().expect("addr"),
            Some(tls),
            WsOptions::default(),
        )
        .expect("listen");
    Server {
        engine: builder.start().expect("start"),
        addr,
        tcp_addr: None,
        cert_pem: Some(cert_pem),
    }
}

fn hmac_server() -> Server<Recorder> {
    let identity = ServerIdentity::self_signed().expect("certificate");
    let authenticator =
        HmacAuthenticator::new(vec![key(KEY)], HmacConfig::default()).expect("authenticator");
    start_auth_server(
        authenticator,
        identity.server_config().expect("tls"),
        identity.cert_pem.clone(),
    )
}

fn raw_tls<S: Strategy>(
    server: &Server<S>,
) -> RawClient<rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>> {
    let tls = client_config_from_ca_pem(server.cert_pem.as_deref().expect("tls")).expect("tls");
    RawClient::open(tls_stream(HOST, server.addr, tls), server.addr.port(), true)
}

/// Credentials for `message` signed with `key`.
fn signed(key: &HmacKey, message: AuthMessage, id: SessionId, ts: u64) -> Vec<u8> {
    let mut out = [0u8; MAX_CREDENTIALS_LEN];
    let n = key.write_credentials(message, id, ts, &mut out);
    out[..n].to_vec()
}

fn negotiate(id: SessionId, ts: u64, credentials: &[u8]) -> FixpMessage<'_> {
    FixpMessage::Negotiate {
        session_id: id,
        timestamp: ts,
        client_flow: FlowType::Idempotent,
        credentials,
    }
}

const ESTABLISH: AuthMessage = AuthMessage::Establish {
    keepalive_interval_ms: 1000,
    next_seq_no: Some(1),
};

fn establish(id: SessionId, ts: u64, credentials: &[u8]) -> FixpMessage<'_> {
    FixpMessage::Establish {
        session_id: id,
        timestamp: ts,
        keepalive_interval: 1000,
        next_seq_no: Some(1),
        credentials,
    }
}

fn shut<S: Strategy>(mut server: Server<S>) {
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}

#[test]
fn hmac_refusals_are_credentials_rejects_then_close_1008() {
    let server = hmac_server();
    let now = now_ns();

    // A signature made with another secret under the same key id.
    let id = session_id(1);
    let mut client = raw_tls(&server);
    let wrong = signed(&key(OTHER_KEY), AuthMessage::Negotiate, id, now);
    client.send(&negotiate(id, now, &wrong));
    assert_eq!(
        client.next(),
        Read1::Fixp("NegotiationReject Credentials: signature mismatch".into())
    );
    assert_eq!(client.next(), Read1::Close(1008));

    // A timestamp a minute old, correctly signed.
    let id = session_id(2);
    let stale = now - 60_000_000_000;
    let mut client = raw_tls(&server);
    client.send(&negotiate(
        id,
        stale,
        &signed(&key(KEY), AuthMessage::Negotiate, id, stale),
    ));
    assert_eq!(
        client.next(),
        Read1::Fixp("NegotiationReject Credentials: timestamp outside the accepted window".into())
    );
    assert_eq!(client.next(), Read1::Close(1008));

    // Missing credentials.
    let id = session_id(3);
    let mut client = raw_tls(&server);
    client.send(&negotiate(id, now, &[]));
    assert_eq!(
        client.next(),
        Read1::Fixp("NegotiationReject Credentials: credentials missing".into())
    );
    assert_eq!(client.next(), Read1::Close(1008));

    // A replayed timestamp: Negotiate at `ts` is accepted, Establish signed at the same `ts`
    // is not.
    let id = session_id(4);
    let ts = now_ns();
    let mut client = raw_tls(&server);
    client.send(&negotiate(
        id,
        ts,
        &signed(&key(KEY), AuthMessage::Negotiate, id, ts),
    ));
    assert_eq!(client.next(), Read1::Fixp("NegotiationResponse".into()));
    client.send(&establish(id, ts, &signed(&key(KEY), ESTABLISH, id, ts)));
    assert_eq!(
        client.next(),
        Read1::Fixp("EstablishmentReject Credentials: timestamp reused".into())
    );
    assert_eq!(client.next(), Read1::Close(1008));

    // A client that signs properly gets in (nothing of the refusals stuck).
    let id = session_id(5);
    let ts = now_ns();
    let mut client = raw_tls(&server);
    client.send(&negotiate(
        id,
        ts,
        &signed(&key(KEY), AuthMessage::Negotiate, id, ts),
    ));
    assert_eq!(client.next(), Read1::Fixp("NegotiationResponse".into()));
    client.send(&establish(
        id,
        ts + 1,
        &signed(&key(KEY), ESTABLISH, id, ts + 1),
    ));
    assert_eq!(client.next(), Read1::Fixp("EstablishmentAck".into()));
    shut(server);
}

#[test]
fn an_initiator_that_signs_with_the_right_key_establishes_and_trades() {
    let server = hmac_server();
    let mut builder = EngineBuilder::new(test_config(100)).expect("engine");
    let mut config = initiator(&server, WireEncoding::Sbe, FlowType::Idempotent, 100, 5);
    config.session.credentials = ClientCredentials::hmac(key(KEY));
    let mut client = builder.initiate(config).expect("initiate");
    let mut client_engine = builder.start().expect("start");
    let mut seen = Seen::default();
    wait_until(&mut client, &mut seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    send(&mut client, &order(1, WireEncoding::Sbe));
    wait_until(&mut client, &mut seen, "report", |s| s.messages.len() == 1);
    assert_eq!(report_number(&seen.messages[0].1, WireEncoding::Sbe), 1);
    finalize(&mut client, &mut seen);
    client_engine.shutdown();
    client_engine.join().expect("client engine");
    shut(server);
}

#[test]
fn a_static_token_lets_its_holder_in_and_refuses_others() {
    let identity = ServerIdentity::self_signed().expect("certificate");
    let token = Secret::from_bytes(b"a-long-enough-shared-token".to_vec());
    let server = start_auth_server(
        TokenAuthenticator::new(&token).expect("token"),
        identity.server_config().expect("tls"),
        identity.cert_pem.clone(),
    );
    let now = now_ns();
    let mut client = raw_tls(&server);
    client.send(&negotiate(session_id(10), now, b"another-token-entirely"));
    assert_eq!(
        client.next(),
        Read1::Fixp("NegotiationReject Credentials: credentials refused".into())
    );
    assert_eq!(client.next(), Read1::Close(1008));

    let mut builder = EngineBuilder::new(test_config(100)).expect("engine");
    let mut config = initiator(&server, WireEncoding::Sbe, FlowType::Idempotent, 100, 11);
    config.session.credentials = ClientCredentials::Static(StaticToken::new(token).expect("token"));
    let mut handle = builder.initiate(config).expect("initiate");
    let mut client_engine = builder.start().expect("start");
    let mut seen = Seen::default();
    wait_until(&mut handle, &mut seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });
    client_engine.shutdown();
    client_engine.join().expect("client engine");
    shut(server);
}

#[test]
fn a_client_certificate_establishes_its_own_sessions_only() {
    let ca = CertificateAuthority::generate("test venue CA").expect("ca");
    let server_identity = ca
        .issue_server(&["localhost", "127.0.0.1"])
        .expect("server");
    let desk = ca.issue_client("desk-1", &[]).expect("client certificate");
    let allowed = session_id(20);
    let other = session_id(21);
    let authenticator = ClientCertBinding::new(
        AcceptAll,
        vec![CertBinding {
            name: "desk-1".into(),
            sessions: SessionScope::Only(vec![allowed]),
        }],
        64,
    );
    let tls = server_identity
        .server_config_with_client_auth(&ClientAuth::Required(ca.certificates()))
        .expect("server tls");
    let server = start_auth_server(authenticator, tls, ca.cert_pem().to_owned());
    let client_tls =
        client_config_with_roots(&TrustRoots::Ca(ca.certificates()), Some(&desk)).expect("tls");

    // Its own session (an engine initiator over mutual TLS).
    let mut builder = EngineBuilder::new(test_config(100)).expect("engine");
    let mut config = initiator(&server, WireEncoding::Sbe, FlowType::Idempotent, 100, 0);
    config.session_id = allowed;
    config.target = ClientTarget {
        addr: server.addr,
        host: "localhost".into(),
        tls: Some(Arc::clone(&client_tls)),
    };
    let mut handle = builder.initiate(config).expect("initiate");
    let mut client_engine = builder.start().expect("start");
    let mut seen = Seen::default();
    wait_until(&mut handle, &mut seen, "established", |s| {
        s.has(Event::StateChanged(SessionState::Established))
    });

    // Another SessionId with the same certificate.
    let mut raw = RawClient::open(
        tls_stream(HOST, server.addr, client_tls),
        server.addr.port(),
        true,
    );
    raw.send(&negotiate(other, now_ns(), &[]));
    assert_eq!(
        raw.next(),
        Read1::Fixp(
            "NegotiationReject Credentials: session not allowed for this certificate".into()
        )
    );
    assert_eq!(raw.next(), Read1::Close(1008));
    client_engine.shutdown();
    client_engine.join().expect("client engine");
    shut(server);
}

#[test]
fn an_engine_that_listens_needs_an_authenticator_choice() {
    let mut builder = EngineBuilder::new(EngineConfig::default()).expect("engine");
    builder
        .listen(
            "127.0.0.1:0".parse().expect("addr"),
            None,
            WsOptions::default(),
        )
        .expect("listen");
    match builder.start() {
        Err(EngineError::NoAuthenticator) => {}
        Err(other) => panic!("unexpected error {other}"),
        Ok(_) => panic!("started without an authenticator"),
    }
    // An engine with initiators only needs none.
    let engine = EngineBuilder::new(EngineConfig::default())
        .expect("engine")
        .start();
    assert!(engine.is_ok());
}
