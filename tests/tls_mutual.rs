//! Mutual TLS on loopback: a server that requires (or allows) client certificates from a CA,
//! the client presenting one, and the peer identity extracted from the handshake and bound
//! to SessionIds by the authenticator.

mod transport_support;

use fixp_ws::codec::SessionId;
use fixp_ws::session::auth::{CertBinding, ClientCertBinding, SessionScope};
use fixp_ws::session::{
    AcceptAll, AuthDecision, AuthFailure, AuthMessage, AuthRequest, Authenticator, PeerIdentity,
};
use fixp_ws::transport::{
    client_config_with_roots, CertificateAuthority, ClientAuth, ServerIdentity, TrustRoots,
    WsOptions,
};
use transport_support::Loop;

struct Pki {
    ca: CertificateAuthority,
    server: ServerIdentity,
}

fn pki() -> Pki {
    let ca = CertificateAuthority::generate("fixp test CA").unwrap();
    let server = ca.issue_server(&["localhost"]).unwrap();
    Pki { ca, server }
}

fn server_loop(pki: &Pki, client_auth: ClientAuth) -> Loop {
    let config = pki
        .server
        .server_config_with_client_auth(&client_auth)
        .unwrap();
    Loop::with_server_tls(Some(config), None, WsOptions::default())
}

/// Connects presenting `identity` and runs until both ends have settled: the server side
/// open or failed, and the client open or failed.
fn connect(lp: &mut Loop, pki: &Pki, identity: Option<&ServerIdentity>) -> (usize, usize) {
    let roots = TrustRoots::Ca(pki.ca.certificates());
    let config = client_config_with_roots(&roots, identity).unwrap();
    let client = lp.connect_to(&WsOptions::default(), Some(config), "localhost");
    let server = lp.servers.len();
    lp.run_until(|l| {
        l.servers
            .get(server)
            .is_some_and(|s| s.opened || s.error.is_some())
    });
    (client, server)
}

/// The server-side connection's peer identity.
fn server_identity(lp: &Loop, server: usize) -> Option<PeerIdentity> {
    lp.servers[server]
        .conn
        .as_ref()
        .expect("open server connection")
        .peer_identity()
        .unwrap()
}

#[test]
fn a_client_certificate_from_the_right_ca_is_accepted_and_its_names_extracted() {
    let pki = pki();
    let mut lp = server_loop(&pki, ClientAuth::Required(pki.ca.certificates()));
    let desk = pki
        .ca
        .issue_client(
            "desk-a",
            &["desk-a.trading.example", "spiffe://example/desk-a"],
        )
        .unwrap();
    let (client, server) = connect(&mut lp, &pki, Some(&desk));
    assert!(lp.servers[server].opened, "{:?}", lp.servers[server].error);
    lp.run_until(|l| l.clients[client].opened);
    let identity = server_identity(&lp, server).expect("client certificate");
    assert_eq!(identity.common_name(), Some("desk-a"));
    assert_eq!(
        identity.alt_names(),
        ["desk-a.trading.example", "spiffe://example/desk-a"]
    );

    // The authenticator binds that name to the SessionIds it may use.
    let mut auth = ClientCertBinding::new(
        AcceptAll,
        vec![CertBinding {
            name: "desk-a.trading.example".into(),
            sessions: SessionScope::Any,
        }],
        16,
    );
    let request = AuthRequest {
        message: AuthMessage::Negotiate,
        session_id: SessionId::from_random_bytes([1; 16]),
        request_timestamp: 1,
        credentials: &[],
        now: 1,
        peer: Some(&identity),
    };
    assert_eq!(auth.authenticate(&request), AuthDecision::Accept);
    let other = pki.ca.issue_client("desk-b", &[]).unwrap();
    let (_, server_b) = connect(&mut lp, &pki, Some(&other));
    let identity_b = server_identity(&lp, server_b).expect("client certificate");
    let request_b = AuthRequest {
        peer: Some(&identity_b),
        ..request
    };
    assert_eq!(
        auth.authenticate(&request_b),
        AuthDecision::Refuse(AuthFailure::IdentityNotAllowed)
    );
}

#[test]
fn a_client_without_a_certificate_is_refused_when_one_is_required() {
    let pki = pki();
    let mut lp = server_loop(&pki, ClientAuth::Required(pki.ca.certificates()));
    let (client, server) = connect(&mut lp, &pki, None);
    assert!(!lp.servers[server].opened);
    let error = lp.servers[server].error.clone().expect("refused");
    assert!(error.contains("certificate"), "{error}");
    // The client learns it too: its handshake fails, or (TLS 1.3, where the client finishes
    // first) the alert ends the connection before anything opens on the server.
    lp.run_until(|l| l.clients[client].error.is_some() || l.clients[client].closed.is_some());
    assert_eq!(lp.listener.stats().handshake_failed, 1);
}

#[test]
fn a_client_certificate_from_another_ca_is_refused() {
    let pki = pki();
    let mut lp = server_loop(&pki, ClientAuth::Required(pki.ca.certificates()));
    let rogue_ca = CertificateAuthority::generate("rogue CA").unwrap();
    let rogue = rogue_ca
        .issue_client("desk-a", &["desk-a.trading.example"])
        .unwrap();
    let (_, server) = connect(&mut lp, &pki, Some(&rogue));
    assert!(!lp.servers[server].opened);
    let error = lp.servers[server].error.clone().expect("refused");
    assert!(error.contains("UnknownIssuer"), "{error}");
    // A server certificate (no clientAuth usage) from the right CA is refused as well.
    let misused = pki.ca.issue_server(&["desk-a.trading.example"]).unwrap();
    let (_, server) = connect(&mut lp, &pki, Some(&misused));
    assert!(!lp.servers[server].opened);
}

#[test]
fn optional_client_certificates_let_both_kinds_of_client_in() {
    let pki = pki();
    let mut lp = server_loop(&pki, ClientAuth::Optional(pki.ca.certificates()));
    let (_, anonymous) = connect(&mut lp, &pki, None);
    assert!(
        lp.servers[anonymous].opened,
        "{:?}",
        lp.servers[anonymous].error
    );
    assert_eq!(server_identity(&lp, anonymous), None);
    let desk = pki.ca.issue_client("desk-a", &[]).unwrap();
    let (_, named) = connect(&mut lp, &pki, Some(&desk));
    assert!(lp.servers[named].opened, "{:?}", lp.servers[named].error);
    assert_eq!(
        server_identity(&lp, named).and_then(|i| i.common_name().map(str::to_owned)),
        Some("desk-a".to_owned())
    );
    // Without client authentication configured, a presented certificate is not asked for.
    let mut plain = server_loop(&pki, ClientAuth::None);
    let (_, server) = connect(&mut plain, &pki, Some(&desk));
    assert!(plain.servers[server].opened);
    assert_eq!(server_identity(&plain, server), None);
}
