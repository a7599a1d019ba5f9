//! TLS configuration: rustls server and client configs with the `ring` provider passed
//! explicitly, from PEM files or from a self-signed certificate generated at start.

use std::fs;
use std::io::BufReader;
use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::TransportError;

/// The crypto provider every config uses: `ring`, passed explicitly so that no process-wide
/// default has to be installed.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate and its private key, as DER, plus the certificate as PEM for clients to trust.
pub struct ServerIdentity {
    /// The certificate chain, leaf first.
    pub chain: Vec<CertificateDer<'static>>,
    /// The leaf's private key.
    pub key: PrivateKeyDer<'static>,
    /// The leaf certificate as PEM (what a client adds to its trust store).
    pub cert_pem: String,
}

impl std::fmt::Debug for ServerIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerIdentity")
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl ServerIdentity {
    /// Generates a self-signed ECDSA P-256 certificate with the subject alternative names
    /// `localhost` and `127.0.0.1` (clients such as the JDK's refuse certificates without SANs).
    pub fn self_signed() -> Result<Self, TransportError> {
        Self::self_signed_for(&["localhost", "127.0.0.1"])
    }

    /// Generates a self-signed certificate for the given host names and IP addresses.
    pub fn self_signed_for(names: &[&str]) -> Result<Self, TransportError> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let certified = rcgen::generate_simple_self_signed(names)
            .map_err(|e| TransportError::Certificate(e.to_string()))?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        Ok(Self {
            chain: vec![certified.cert.der().clone()],
            key,
            cert_pem: certified.cert.pem(),
        })
    }

    /// Loads a certificate chain and a private key from PEM files.
    pub fn from_pem_files(cert_path: &Path, key_path: &Path) -> Result<Self, TransportError> {
        let cert_pem = fs::read_to_string(cert_path)
            .map_err(|e| TransportError::Certificate(format!("{}: {e}", cert_path.display())))?;
        let chain = parse_certs(&cert_pem, cert_path)?;
        let key_text = fs::read(key_path)
            .map_err(|e| TransportError::Certificate(format!("{}: {e}", key_path.display())))?;
        let key = rustls_pemfile::private_key(&mut BufReader::new(key_text.as_slice()))
            .map_err(|e| TransportError::Certificate(format!("{}: {e}", key_path.display())))?
            .ok_or_else(|| {
                TransportError::Certificate(format!("{}: no private key found", key_path.display()))
            })?;
        Ok(Self {
            chain,
            key,
            cert_pem,
        })
    }

    /// Writes the certificate as PEM, for clients to trust.
    pub fn write_cert_pem(&self, path: &Path) -> Result<(), TransportError> {
        fs::write(path, &self.cert_pem)
            .map_err(|e| TransportError::Certificate(format!("{}: {e}", path.display())))
    }

    /// Builds a rustls server config (TLS 1.2 and 1.3, no client authentication).
    pub fn server_config(&self) -> Result<Arc<ServerConfig>, TransportError> {
        let config = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TransportError::Tls)?
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(TransportError::Tls)?;
        Ok(Arc::new(config))
    }
}

fn parse_certs(pem: &str, origin: &Path) -> Result<Vec<CertificateDer<'static>>, TransportError> {
    let certs: Result<Vec<_>, _> =
        rustls_pemfile::certs(&mut BufReader::new(pem.as_bytes())).collect();
    let certs =
        certs.map_err(|e| TransportError::Certificate(format!("{}: {e}", origin.display())))?;
    if certs.is_empty() {
        return Err(TransportError::Certificate(format!(
            "{}: no certificate found",
            origin.display()
        )));
    }
    Ok(certs)
}

/// Builds a rustls client config that trusts the certificates of a PEM file (a CA, or the
/// server's self-signed certificate).
pub fn client_config_from_ca_file(path: &Path) -> Result<Arc<ClientConfig>, TransportError> {
    let pem = fs::read_to_string(path)
        .map_err(|e| TransportError::Certificate(format!("{}: {e}", path.display())))?;
    client_config_from_ca_pem(&pem)
}

/// Builds a rustls client config that trusts the certificates in a PEM string.
pub fn client_config_from_ca_pem(pem: &str) -> Result<Arc<ClientConfig>, TransportError> {
    let mut roots = RootCertStore::empty();
    for cert in parse_certs(pem, Path::new("<ca pem>"))? {
        roots.add(cert).map_err(TransportError::Tls)?;
    }
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TransportError::Tls)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
