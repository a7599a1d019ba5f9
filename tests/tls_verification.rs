//! The client verifies the server: real TLS handshakes on loopback against certificates from
//! a development CA. Unknown CAs and wrong host names are refused.

mod transport_support;

use std::io::Write as _;

use fixp_ws::transport::{
    client_config_with_roots, CaCertificates, CertificateAuthority, TrustRoots, WsOptions,
};
use transport_support::Loop;

/// A loop whose server holds a certificate for localhost / 127.0.0.1 from `ca`.
fn server_of(ca: &CertificateAuthority) -> Loop {
    let identity = ca.issue_server(&["localhost", "127.0.0.1"]).unwrap();
    Loop::with_server_tls(
        Some(identity.server_config().unwrap()),
        None,
        WsOptions::default(),
    )
}

/// Connects with `roots` as `host` and runs until the client opens or fails.
fn connect(lp: &mut Loop, roots: &TrustRoots, host: &str) -> usize {
    let config = client_config_with_roots(roots, None).unwrap();
    let client = lp.connect_to(&WsOptions::default(), Some(config), host);
    lp.run_until(|l| l.clients[client].opened || l.clients[client].error.is_some());
    client
}

/// Connects with `roots` as `host`, expects the client to be refused, returns its error.
fn refusal(lp: &mut Loop, roots: &TrustRoots, host: &str) -> String {
    let client = connect(lp, roots, host);
    assert!(!lp.clients[client].opened);
    lp.clients[client].error.clone().expect("refused")
}

#[test]
fn a_server_certificate_from_the_trusted_ca_is_accepted() {
    let ca = CertificateAuthority::generate("fixp test CA").unwrap();
    let mut lp = server_of(&ca);
    let client = connect(&mut lp, &TrustRoots::Ca(ca.certificates()), "localhost");
    assert!(lp.clients[client].opened, "{:?}", lp.clients[client].error);
    lp.run_until(|l| l.servers.first().is_some_and(|s| s.opened));
    // The client sees the server's names.
    let identity = lp.clients[client]
        .conn
        .as_ref()
        .unwrap()
        .peer_identity()
        .unwrap()
        .expect("server certificate");
    assert_eq!(identity.common_name(), Some("localhost"));
    assert!(identity.has_name("127.0.0.1"));
    // Connecting by IP address verifies the IP SAN.
    let by_ip = connect(&mut lp, &TrustRoots::Ca(ca.certificates()), "127.0.0.1");
    assert!(lp.clients[by_ip].opened, "{:?}", lp.clients[by_ip].error);
}

#[test]
fn a_ca_file_works_like_the_pem() {
    let ca = CertificateAuthority::generate("fixp test CA").unwrap();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(ca.cert_pem().as_bytes()).unwrap();
    let mut lp = server_of(&ca);
    let roots = TrustRoots::Ca(CaCertificates::File(file.path().to_owned()));
    let client = connect(&mut lp, &roots, "localhost");
    assert!(lp.clients[client].opened, "{:?}", lp.clients[client].error);
    assert!(client_config_with_roots(
        &TrustRoots::Ca(CaCertificates::File("/nonexistent/ca.pem".into())),
        None
    )
    .is_err());
    assert!(
        client_config_with_roots(&TrustRoots::Ca(CaCertificates::Pem("junk".into())), None)
            .is_err()
    );
}

#[test]
fn a_server_certificate_from_an_unknown_ca_is_refused() {
    let ca = CertificateAuthority::generate("fixp test CA").unwrap();
    let other = CertificateAuthority::generate("someone else").unwrap();
    let mut lp = server_of(&ca);
    let error = refusal(&mut lp, &TrustRoots::Ca(other.certificates()), "localhost");
    assert!(error.contains("UnknownIssuer"), "{error}");
    // The webpki (public) roots do not vouch for a private CA either.
    let error = refusal(&mut lp, &TrustRoots::WebPki, "localhost");
    assert!(error.contains("UnknownIssuer"), "{error}");
    // The server saw failed handshakes, never an open connection.
    lp.run_until(|l| l.servers.len() == 2 && l.servers.iter().all(|s| s.conn.is_none()));
    assert!(lp.servers.iter().all(|s| !s.opened));
    assert_eq!(lp.listener.stats().handshake_failed, 2);
}

#[test]
fn a_wrong_host_name_is_refused() {
    let ca = CertificateAuthority::generate("fixp test CA").unwrap();
    let mut lp = server_of(&ca);
    let error = refusal(&mut lp, &TrustRoots::Ca(ca.certificates()), "fixp.example");
    assert!(error.contains("not valid for name"), "{error}");
}
