//! TLS configuration: rustls server and client configs with the `ring` provider passed
//! explicitly, from PEM files, a development [`CertificateAuthority`] or a self-signed
//! certificate generated at start.
//!
//! Clients verify the server: [`client_config_with_roots`] trusts the system's roots, the
//! webpki roots, or a CA file, and may present a client certificate (mutual TLS). Servers may
//! ask for client certificates from a CA ([`ClientAuth`]); the names of a verified client
//! certificate become a [`PeerIdentity`] ([`peer_identity`]) for the session authenticator.

use std::fs;
use std::io::BufReader;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

use super::TransportError;
use crate::session::PeerIdentity;

/// The crypto provider every config uses: `ring`, passed explicitly so that no process-wide
/// default has to be installed.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate and its private key, as DER, plus the certificate as PEM for peers to trust:
/// a server's, or a client's for mutual TLS.
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
        self.server_config_with_client_auth(&ClientAuth::None)
    }

    /// Builds a rustls server config (TLS 1.2 and 1.3) that asks for client certificates as
    /// `client_auth` says.
    pub fn server_config_with_client_auth(
        &self,
        client_auth: &ClientAuth,
    ) -> Result<Arc<ServerConfig>, TransportError> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(TransportError::Tls)?;
        let builder = match client_auth {
            ClientAuth::None => builder.with_no_client_auth(),
            ClientAuth::Optional(ca) | ClientAuth::Required(ca) => {
                let roots = Arc::new(ca.root_store()?);
                let verifier = WebPkiClientVerifier::builder_with_provider(roots, provider());
                let verifier = match client_auth {
                    ClientAuth::Optional(_) => verifier.allow_unauthenticated(),
                    _ => verifier,
                };
                let verifier = verifier
                    .build()
                    .map_err(|e| TransportError::Certificate(format!("client verifier: {e}")))?;
                builder.with_client_cert_verifier(verifier)
            }
        };
        let config = builder
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(TransportError::Tls)?;
        Ok(Arc::new(config))
    }
}

/// CA certificates in PEM, from a file or a string.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CaCertificates {
    /// A PEM file with one or more certificates.
    File(PathBuf),
    /// PEM text with one or more certificates.
    Pem(String),
}

impl CaCertificates {
    fn root_store(&self) -> Result<RootCertStore, TransportError> {
        let (pem, origin) = match self {
            CaCertificates::File(path) => (
                fs::read_to_string(path)
                    .map_err(|e| TransportError::Certificate(format!("{}: {e}", path.display())))?,
                path.as_path(),
            ),
            CaCertificates::Pem(pem) => (pem.clone(), Path::new("<ca pem>")),
        };
        let mut roots = RootCertStore::empty();
        for cert in parse_certs(&pem, origin)? {
            roots.add(cert).map_err(TransportError::Tls)?;
        }
        Ok(roots)
    }
}

/// Which certificate authorities a client trusts to vouch for the server.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TrustRoots {
    /// The operating system's store (`rustls-native-certs`; `SSL_CERT_FILE` / `SSL_CERT_DIR`
    /// override it).
    System,
    /// Mozilla's roots as compiled into `webpki-roots` (no dependency on the host).
    WebPki,
    /// Only these CAs (a venue's private CA, or a server's self-signed certificate).
    Ca(CaCertificates),
}

impl TrustRoots {
    fn root_store(&self) -> Result<RootCertStore, TransportError> {
        match self {
            TrustRoots::System => {
                let found = rustls_native_certs::load_native_certs();
                let mut roots = RootCertStore::empty();
                let (added, _ignored) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    let detail = found
                        .errors
                        .first()
                        .map(|e| e.to_string())
                        .unwrap_or_else(|| "none found".to_owned());
                    return Err(TransportError::Certificate(format!(
                        "system trust roots: {detail}"
                    )));
                }
                Ok(roots)
            }
            TrustRoots::WebPki => Ok(RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            }),
            TrustRoots::Ca(ca) => ca.root_store(),
        }
    }
}

/// Whether a server asks its clients for a certificate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// No client certificates.
    None,
    /// A client may present a certificate from these CAs (a bad one fails the handshake);
    /// clients without one are let in.
    Optional(CaCertificates),
    /// Every client must present a certificate from these CAs.
    Required(CaCertificates),
}

/// Builds a rustls client config that verifies the server against `roots` (TLS 1.2 and 1.3)
/// and, for mutual TLS, presents `client_identity`.
pub fn client_config_with_roots(
    roots: &TrustRoots,
    client_identity: Option<&ServerIdentity>,
) -> Result<Arc<ClientConfig>, TransportError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TransportError::Tls)?
        .with_root_certificates(roots.root_store()?);
    let config = match client_identity {
        None => builder.with_no_client_auth(),
        Some(identity) => builder
            .with_client_auth_cert(identity.chain.clone(), identity.key.clone_key())
            .map_err(TransportError::Tls)?,
    };
    Ok(Arc::new(config))
}

/// The names of a verified certificate chain's leaf (the subject's CN and the subject
/// alternative names: DNS names, URIs, e-mail addresses, IP addresses as text).
pub fn peer_identity(chain: &[CertificateDer<'_>]) -> Result<PeerIdentity, TransportError> {
    use x509_parser::extensions::GeneralName;
    let leaf = chain
        .first()
        .ok_or_else(|| TransportError::Certificate("empty certificate chain".to_owned()))?;
    let (_, cert) = x509_parser::parse_x509_certificate(leaf.as_ref())
        .map_err(|e| TransportError::Certificate(format!("peer certificate: {e}")))?;
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_owned);
    let mut alt_names = Vec::new();
    let san = cert
        .subject_alternative_name()
        .map_err(|e| TransportError::Certificate(format!("peer certificate SAN: {e}")))?;
    for name in san.iter().flat_map(|ext| ext.value.general_names.iter()) {
        match name {
            GeneralName::DNSName(n) | GeneralName::URI(n) | GeneralName::RFC822Name(n) => {
                alt_names.push((*n).to_owned());
            }
            GeneralName::IPAddress(bytes) => {
                let ip = <[u8; 4]>::try_from(*bytes)
                    .map(IpAddr::from)
                    .or_else(|_| <[u8; 16]>::try_from(*bytes).map(IpAddr::from));
                if let Ok(ip) = ip {
                    alt_names.push(ip.to_string());
                }
            }
            _ => {}
        }
    }
    Ok(PeerIdentity::new(common_name, alt_names))
}

/// A certificate authority generated at start, for development and tests: it issues server
/// and client certificates that peers trusting its PEM accept. Production keys come from files.
pub struct CertificateAuthority {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    cert_pem: String,
}

impl std::fmt::Debug for CertificateAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateAuthority")
            .finish_non_exhaustive()
    }
}

fn rcgen_error(e: rcgen::Error) -> TransportError {
    TransportError::Certificate(e.to_string())
}

impl CertificateAuthority {
    /// A new CA (ECDSA P-256) whose subject CN is `common_name`.
    pub fn generate(common_name: &str) -> Result<Self, TransportError> {
        let mut params =
            rcgen::CertificateParams::new(Vec::<String>::new()).map_err(rcgen_error)?;
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
            rcgen::KeyUsagePurpose::DigitalSignature,
        ];
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let key = rcgen::KeyPair::generate().map_err(rcgen_error)?;
        let cert = params.self_signed(&key).map_err(rcgen_error)?;
        Ok(CertificateAuthority {
            issuer: rcgen::Issuer::new(params, key),
            cert_pem: cert.pem(),
        })
    }

    /// The CA certificate as PEM (what peers trust).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA certificate, to trust.
    pub fn certificates(&self) -> CaCertificates {
        CaCertificates::Pem(self.cert_pem.clone())
    }

    /// A server certificate for these host names and IP addresses.
    pub fn issue_server(&self, names: &[&str]) -> Result<ServerIdentity, TransportError> {
        self.issue(names.first().copied().unwrap_or("server"), names, false)
    }

    /// A client certificate with subject CN `common_name` and these SANs.
    pub fn issue_client(
        &self,
        common_name: &str,
        alt_names: &[&str],
    ) -> Result<ServerIdentity, TransportError> {
        self.issue(common_name, alt_names, true)
    }

    fn issue(
        &self,
        common_name: &str,
        names: &[&str],
        client: bool,
    ) -> Result<ServerIdentity, TransportError> {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let mut params = rcgen::CertificateParams::new(names).map_err(rcgen_error)?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        params.use_authority_key_identifier_extension = true;
        params.key_usages = vec![rcgen::KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![if client {
            rcgen::ExtendedKeyUsagePurpose::ClientAuth
        } else {
            rcgen::ExtendedKeyUsagePurpose::ServerAuth
        }];
        let key = rcgen::KeyPair::generate().map_err(rcgen_error)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(rcgen_error)?;
        Ok(ServerIdentity {
            chain: vec![cert.der().clone()],
            key: PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
            cert_pem: cert.pem(),
        })
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
