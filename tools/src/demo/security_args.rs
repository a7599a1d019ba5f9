//! `fixp-demo`'s security options: TLS by default and the authenticator choice.
//!
//! - `serve` needs `--cert`/`--key`; a self-signed certificate only with the explicit
//!   `--insecure-self-signed` (the demo `run` makes its own). It needs `--auth none|token|hmac`:
//!   accepting everyone is a choice, never a default.
//! - `connect` verifies the server: the system roots, or `--ca FILE`. `--auth token|hmac` signs
//!   Negotiate and Establish.
//! - Secrets (the token, or the HMAC key as base64url) come from `--secret-file PATH` or
//!   `--secret-env NAME`, never from the command line.
//!
//! Owns: these options and what they build (server identity, authenticator, client TLS
//! configuration, client credentials). May not touch: the engines or the trading logic.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use clap::ValueEnum;
use fixp_ws::session::auth::{
    HmacAuthenticator, HmacConfig, HmacKey, SecretSource, StaticToken, TokenAuthenticator,
};
use fixp_ws::session::{AcceptAll, Authenticator, ClientCredentials};
use fixp_ws::transport::{
    client_config_with_roots, CaCertificates, ClientTarget, ServerIdentity, TrustRoots,
};

/// How sessions authenticate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuthChoice {
    /// No credentials (every client may negotiate; Conga clients send none).
    None,
    /// One shared token.
    Token,
    /// HMAC-SHA256 signatures as CME iLink 3 (a base64url key and a key id).
    Hmac,
}

/// Where the token or HMAC key comes from, and the HMAC key id.
#[derive(clap::Args, Debug, Clone)]
pub struct SecretArgs {
    /// File holding the token or the HMAC key (base64url); keep it mode 0600.
    #[arg(long, conflicts_with = "secret_env")]
    pub secret_file: Option<PathBuf>,
    /// Environment variable holding the token or the HMAC key (base64url).
    #[arg(long)]
    pub secret_env: Option<String>,
    /// Key id of the HMAC key.
    #[arg(long, default_value = "demo")]
    pub key_id: String,
}

impl SecretArgs {
    fn source(&self, auth: AuthChoice) -> Result<SecretSource, String> {
        match (&self.secret_file, &self.secret_env) {
            (Some(path), _) => Ok(SecretSource::File(path.clone())),
            (None, Some(name)) => Ok(SecretSource::Env(name.clone())),
            (None, None) => Err(format!(
                "--auth {} needs --secret-file PATH or --secret-env NAME",
                auth.name()
            )),
        }
    }
}

impl AuthChoice {
    fn name(self) -> &'static str {
        match self {
            AuthChoice::None => "none",
            AuthChoice::Token => "token",
            AuthChoice::Hmac => "hmac",
        }
    }
}

/// `serve`'s security options.
#[derive(clap::Args, Debug, Clone)]
pub struct ServeSecurity {
    /// Without --cert/--key, generate a self-signed certificate (development only: clients
    /// must trust the PEM written to --cert-out).
    #[arg(long)]
    pub insecure_self_signed: bool,
    /// How clients authenticate (required: `none` lets every client negotiate).
    #[arg(long, value_enum)]
    pub auth: AuthChoice,
    #[command(flatten)]
    pub secret: SecretArgs,
}

impl ServeSecurity {
    /// The certificate to serve: `cert`/`key`, or with `--insecure-self-signed` a generated one
    /// written to `cert_out`.
    pub fn identity(
        &self,
        cert_and_key: Option<(&Path, &Path)>,
        cert_out: &Path,
    ) -> Result<ServerIdentity, String> {
        match cert_and_key {
            Some((cert, key)) => {
                ServerIdentity::from_pem_files(cert, key).map_err(|e| e.to_string())
            }
            None if self.insecure_self_signed => {
                let identity = ServerIdentity::self_signed().map_err(|e| e.to_string())?;
                identity
                    .write_cert_pem(cert_out)
                    .map_err(|e| e.to_string())?;
                println!(
                    "INSECURE: self-signed certificate (SANs localhost, 127.0.0.1) written to {}",
                    cert_out.display()
                );
                Ok(identity)
            }
            None => Err(
                "serve needs --cert and --key (or --insecure-self-signed for development)".into(),
            ),
        }
    }

    /// The authenticator the exchange's acceptor uses.
    pub fn authenticator(&self) -> Result<Box<dyn Authenticator + Send>, String> {
        Ok(match self.auth {
            AuthChoice::None => Box::new(AcceptAll),
            AuthChoice::Token => Box::new(
                TokenAuthenticator::load(&self.secret.source(self.auth)?)
                    .map_err(|e| e.to_string())?,
            ),
            AuthChoice::Hmac => {
                let key = HmacKey::load(&self.secret.key_id, &self.secret.source(self.auth)?)
                    .map_err(|e| e.to_string())?;
                Box::new(
                    HmacAuthenticator::new(vec![key], HmacConfig::default())
                        .map_err(|e| e.to_string())?,
                )
            }
        })
    }
}

/// `connect`'s security options.
#[derive(clap::Args, Debug, Clone)]
pub struct ConnectSecurity {
    /// CA (or the server's self-signed certificate) to trust, PEM; default: the system roots.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// Credentials to send.
    #[arg(long, value_enum, default_value_t = AuthChoice::None)]
    pub auth: AuthChoice,
    #[command(flatten)]
    pub secret: SecretArgs,
}

impl ConnectSecurity {
    /// The server to reach; over TLS (`tls`) the server is always verified.
    pub fn target(
        &self,
        addr: SocketAddr,
        host: String,
        tls: bool,
    ) -> Result<ClientTarget, String> {
        let tls = if tls {
            let roots = match &self.ca {
                Some(path) => TrustRoots::Ca(CaCertificates::File(path.clone())),
                None => TrustRoots::System,
            };
            Some(client_config_with_roots(&roots, None).map_err(|e| e.to_string())?)
        } else {
            None
        };
        Ok(ClientTarget { addr, host, tls })
    }

    /// What the trader's session sends as credentials.
    pub fn credentials(&self) -> Result<ClientCredentials, String> {
        Ok(match self.auth {
            AuthChoice::None => ClientCredentials::None,
            AuthChoice::Token => ClientCredentials::Static(
                StaticToken::load(&self.secret.source(self.auth)?).map_err(|e| e.to_string())?,
            ),
            AuthChoice::Hmac => ClientCredentials::hmac(
                HmacKey::load(&self.secret.key_id, &self.secret.source(self.auth)?)
                    .map_err(|e| e.to_string())?,
            ),
        })
    }
}
