//! `TrustRoots::System` reads the operating system's store, which `SSL_CERT_FILE` overrides:
//! pointed at a development CA, a server certificate from it verifies. The only test in this
//! binary, since it sets a process environment variable before any other thread reads it.

mod transport_support;

use std::io::Write as _;

use fixp_ws::transport::{client_config_with_roots, CertificateAuthority, TrustRoots, WsOptions};
use transport_support::Loop;

#[test]
fn system_roots_honour_ssl_cert_file() {
    let ca = CertificateAuthority::generate("fixp test CA").unwrap();
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(ca.cert_pem().as_bytes()).unwrap();
    std::env::set_var("SSL_CERT_FILE", file.path());
    std::env::remove_var("SSL_CERT_DIR");
    let config = client_config_with_roots(&TrustRoots::System, None).unwrap();

    let identity = ca.issue_server(&["localhost"]).unwrap();
    let mut lp = Loop::with_server_tls(
        Some(identity.server_config().unwrap()),
        None,
        WsOptions::default(),
    );
    let client = lp.connect_to(&WsOptions::default(), Some(config), "localhost");
    lp.run_until(|l| l.clients[client].opened || l.clients[client].error.is_some());
    assert!(lp.clients[client].opened, "{:?}", lp.clients[client].error);

    // An empty store is an error, not a client that trusts nothing silently.
    let empty = tempfile::NamedTempFile::new().unwrap();
    std::env::set_var("SSL_CERT_FILE", empty.path());
    assert!(client_config_with_roots(&TrustRoots::System, None).is_err());
}
