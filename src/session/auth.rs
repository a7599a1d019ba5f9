//! Authentication of Negotiate and Establish: what an [`Authenticator`] sees, the server-side
//! authenticators, the client-side [`ClientCredentials`] the session core signs with, and where
//! secrets come from.
//!
//! Owns: credential formats, constant-time checks, the replay table, the binding of TLS client
//! certificate names to SessionIds. May not touch: sockets, clock reads, the heap per
//! handshake (tables are allocated at construction), or FIXP state (the
//! [`Acceptor`](crate::session::Acceptor) turns a decision into a reject).
//!
//! Server-side choices, each named, none implied by a default:
//! - [`AcceptAll`]: no authentication (Conga clients send no credentials). Opt in explicitly.
//! - [`TokenAuthenticator`]: one shared static token, compared in constant time.
//! - [`HmacAuthenticator`]: HMAC-SHA256 as CME iLink 3 signs its Negotiate and Establish.
//! - [`ClientCertBinding`]: wraps another authenticator and binds the names of the peer's TLS
//!   client certificate ([`PeerIdentity`]) to the SessionIds it may use.
//!
//! # The HMAC credentials
//! The signed text is the canonical fields joined with `\n`, no trailing newline
//! ([`canonical_text`]):
//! - Negotiate: `RequestTimestamp \n SessionId`
//! - Establish: `RequestTimestamp \n SessionId \n KeepaliveInterval \n NextSeqNo`
//!
//! Numbers are unsigned decimal text without sign or leading zeros; the SessionId is the
//! UUID's lowercase hyphenated text (`8-4-4-4-12` hex digits, 36 bytes, as
//! `SessionId`'s `Display`); an absent NextSeqNo (a non-Recoverable flow) is the empty string.
//! The key is the secret decoded from base64url (padding optional). The Credentials var-data
//! is ASCII `keyId:signature`, where `keyId` is 1–64 bytes of `[A-Za-z0-9._-]` and `signature`
//! is the 32-byte HMAC-SHA256 in base64url without padding (43 bytes): at most 108 bytes.
//!
//! The server accepts a request when the key id is known, the RequestTimestamp lies within
//! the window of its clock (default ±5 s), the signature matches (compared in constant
//! time), the key is the one that last authenticated this SessionId, and the timestamp is
//! strictly greater than the last one accepted for the SessionId.

use std::fmt;
use std::path::PathBuf;

use base64::engine::general_purpose::{URL_SAFE_NO_PAD, URL_SAFE_NO_PAD_INDIFFERENT};
use base64::Engine as _;
use ring::{digest, hmac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use crate::codec::SessionId;
use crate::session::fixed_map::FixedMap;

/// Longest Credentials var-data the client writes ([`ClientCredentials::write`]).
pub const MAX_CREDENTIALS_LEN: usize = 128;
/// Longest HMAC key id.
pub const MAX_KEY_ID_LEN: usize = 64;
/// Longest canonical text (20 + 1 + 36 + 1 + 10 + 1 + 20 bytes).
pub const MAX_CANONICAL_LEN: usize = 89;
/// Default accepted distance between a RequestTimestamp and the server's clock: 5 s.
pub const DEFAULT_TIMESTAMP_WINDOW_NS: u64 = 5_000_000_000;
/// Shortest accepted HMAC secret, in decoded bytes.
pub const MIN_HMAC_SECRET_LEN: usize = 16;

const SIGNATURE_LEN: usize = 32;
/// base64url without padding of 32 bytes.
const SIGNATURE_TEXT_LEN: usize = 43;

/// The handshake message being authenticated, with the fields only Establish has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthMessage {
    /// Negotiate.
    Negotiate,
    /// Establish.
    Establish {
        /// Its KeepaliveInterval, milliseconds.
        keepalive_interval_ms: u32,
        /// Its NextSeqNo (absent for a non-Recoverable flow).
        next_seq_no: Option<u64>,
    },
}

/// Everything an [`Authenticator`] may base its decision on.
#[derive(Clone, Copy, Debug)]
pub struct AuthRequest<'a> {
    /// Negotiate or Establish.
    pub message: AuthMessage,
    /// The SessionId the client names.
    pub session_id: SessionId,
    /// The message's Timestamp (the RequestTimestamp its answer echoes).
    pub request_timestamp: u64,
    /// The Credentials var-data (empty: none).
    pub credentials: &'a [u8],
    /// The server's clock, epoch nanoseconds.
    pub now: u64,
    /// The verified TLS client certificate of the connection, if it presented one.
    pub peer: Option<&'a PeerIdentity>,
}

/// Why credentials were refused. Each is sent as a reject with code Credentials and
/// [`AuthFailure::reason`] as the reason text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthFailure {
    /// No credentials were sent.
    Missing,
    /// The credentials are not in the expected format.
    Malformed,
    /// The static token does not match.
    WrongToken,
    /// No key has this key id.
    UnknownKey,
    /// The HMAC signature does not match.
    BadSignature,
    /// The RequestTimestamp is outside the accepted window.
    StaleTimestamp,
    /// The RequestTimestamp is not above the last one accepted for this SessionId.
    ReplayedTimestamp,
    /// The SessionId was authenticated with another key.
    KeyMismatch,
    /// No TLS client certificate, but one is required.
    NoPeerIdentity,
    /// The client certificate carries no name that is allowed in.
    IdentityNotAllowed,
    /// The client certificate's name may not use this SessionId.
    SessionNotAllowed,
    /// The SessionId belongs to another certificate name.
    IdentityMismatch,
    /// The authenticator's table is full; try again later.
    TableFull,
    /// The application's own reason.
    Other(&'static str),
}

impl AuthFailure {
    /// Reason text for the reject.
    pub fn reason(&self) -> &'static str {
        match self {
            AuthFailure::Missing => "credentials missing",
            AuthFailure::Malformed => "credentials malformed",
            AuthFailure::WrongToken => "credentials refused",
            AuthFailure::UnknownKey => "unknown key id",
            AuthFailure::BadSignature => "signature mismatch",
            AuthFailure::StaleTimestamp => "timestamp outside the accepted window",
            AuthFailure::ReplayedTimestamp => "timestamp reused",
            AuthFailure::KeyMismatch => "session belongs to another key",
            AuthFailure::NoPeerIdentity => "client certificate required",
            AuthFailure::IdentityNotAllowed => "client certificate not allowed",
            AuthFailure::SessionNotAllowed => "session not allowed for this certificate",
            AuthFailure::IdentityMismatch => "session belongs to another certificate",
            AuthFailure::TableFull => "authentication table full",
            AuthFailure::Other(reason) => reason,
        }
    }
}

impl fmt::Display for AuthFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.reason())
    }
}

/// What an [`Authenticator`] decided about a client's credentials.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthDecision {
    /// Let the client in.
    Accept,
    /// Unknown identity or bad credentials: reject with code `Credentials`.
    Refuse(AuthFailure),
    /// Known identity that is barred: `SessionBlocked` on Establish (`Credentials` on
    /// Negotiate, which has no such code).
    Blocked,
}

/// Checks the credentials of Negotiate and Establish.
///
/// Called by the [`Acceptor`](crate::session::Acceptor) for every Negotiate and every Establish
/// on a connection that is not bound to an established session, before its other checks
/// have decided; an accepted request may still be rejected for another reason.
pub trait Authenticator {
    /// Decides on `request`.
    fn authenticate(&mut self, request: &AuthRequest<'_>) -> AuthDecision;

    /// The acceptor forgot `session_id` (the session was freed, or its Negotiate was rejected
    /// after authentication): state kept for it may go.
    fn session_ended(&mut self, _session_id: SessionId) {}
}

/// No authentication: everyone is let in. Opt in explicitly (Conga clients send no
/// credentials); prefer TLS client certificates ([`ClientCertBinding`]) where the client
/// cannot sign.
#[derive(Clone, Copy, Debug, Default)]
pub struct AcceptAll;

/// A boxed authenticator (the engine's choice, made at run time) decides as the one it holds.
impl<A: Authenticator + ?Sized> Authenticator for Box<A> {
    fn authenticate(&mut self, request: &AuthRequest<'_>) -> AuthDecision {
        (**self).authenticate(request)
    }

    fn session_ended(&mut self, session_id: SessionId) {
        (**self).session_ended(session_id);
    }
}

impl Authenticator for AcceptAll {
    fn authenticate(&mut self, _request: &AuthRequest<'_>) -> AuthDecision {
        AuthDecision::Accept
    }
}

/// Why a secret or credential could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// The secret file could not be read.
    #[error("secret file {path}: {error}")]
    File {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        error: std::io::Error,
    },
    /// The environment variable is not set (or not UTF-8 where text is needed).
    #[error("environment variable {0} is not set")]
    EnvMissing(String),
    /// The secret is empty.
    #[error("the secret is empty")]
    EmptySecret,
    /// The HMAC secret is not base64url.
    #[error("the HMAC secret is not base64url")]
    SecretNotBase64Url,
    /// The decoded HMAC secret is too short.
    #[error("the HMAC secret is {0} bytes, at least {MIN_HMAC_SECRET_LEN} are required")]
    WeakSecret(usize),
    /// The key id is empty, too long, or has a byte outside `[A-Za-z0-9._-]`.
    #[error("invalid key id {0:?}")]
    InvalidKeyId(String),
    /// Two keys share a key id.
    #[error("duplicate key id {0:?}")]
    DuplicateKeyId(String),
    /// An HMAC authenticator needs at least one key (and at most 65 535).
    #[error("an HMAC authenticator needs 1 to 65535 keys")]
    KeyCount,
    /// A static token longer than [`MAX_CREDENTIALS_LEN`].
    #[error("the token is {0} bytes, at most {MAX_CREDENTIALS_LEN} fit")]
    TokenTooLong(usize),
}

/// Secret bytes: never printed, zeroed when dropped.
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// A secret from bytes held by the caller (a vault, a test).
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(Zeroizing::new(bytes.into()))
    }

    /// The bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// Where a secret comes from. Never the command line: arguments are visible to every user of
/// the machine.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// A file holding the secret; trailing ASCII whitespace (a newline) is dropped. Keep it
    /// readable by the service's user only.
    File(PathBuf),
    /// The environment variable of this name.
    Env(String),
}

impl SecretSource {
    /// Reads the secret.
    pub fn load(&self) -> Result<Secret, CredentialsError> {
        let bytes = match self {
            SecretSource::File(path) => {
                std::fs::read(path).map_err(|error| CredentialsError::File {
                    path: path.clone(),
                    error,
                })?
            }
            SecretSource::Env(name) => {
                let value = std::env::var_os(name)
                    .ok_or_else(|| CredentialsError::EnvMissing(name.clone()))?;
                value.into_encoded_bytes()
            }
        };
        let mut bytes = Zeroizing::new(bytes);
        let kept = bytes
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |last| last + 1);
        bytes.truncate(kept);
        if bytes.is_empty() {
            return Err(CredentialsError::EmptySecret);
        }
        Ok(Secret(bytes))
    }
}

/// An HMAC key id: 1 to [`MAX_KEY_ID_LEN`] bytes of `[A-Za-z0-9._-]`, held inline.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct KeyId {
    bytes: [u8; MAX_KEY_ID_LEN],
    len: u8,
}

impl KeyId {
    /// Checks and copies `text`.
    pub fn new(text: &str) -> Result<Self, CredentialsError> {
        Self::from_bytes(text.as_bytes())
            .ok_or_else(|| CredentialsError::InvalidKeyId(text.to_owned()))
    }

    fn from_bytes(text: &[u8]) -> Option<Self> {
        let valid = |b: &u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-');
        if text.is_empty() || text.len() > MAX_KEY_ID_LEN || !text.iter().all(valid) {
            return None;
        }
        let mut bytes = [0u8; MAX_KEY_ID_LEN];
        bytes.get_mut(..text.len())?.copy_from_slice(text);
        Some(KeyId {
            bytes,
            len: u8::try_from(text.len()).ok()?,
        })
    }

    /// The key id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// The key id as text.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("")
    }
}

impl fmt::Debug for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyId({})", self.as_str())
    }
}

/// A growing byte cursor over a fixed buffer; running out of room is remembered.
struct Cursor<'a> {
    out: &'a mut [u8],
    len: usize,
    overflow: bool,
}

impl<'a> Cursor<'a> {
    fn new(out: &'a mut [u8]) -> Self {
        Cursor {
            out,
            len: 0,
            overflow: false,
        }
    }

    fn put(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        match self.out.get_mut(self.len..end) {
            Some(dst) => {
                dst.copy_from_slice(bytes);
                self.len = end;
            }
            None => self.overflow = true,
        }
    }

    fn put_u64(&mut self, n: u64) {
        self.put(itoa::Buffer::new().format(n).as_bytes());
    }

    fn finish(self) -> Option<usize> {
        (!self.overflow).then_some(self.len)
    }
}

/// Writes the SessionId's text form (lowercase hyphenated UUID, 36 bytes).
fn put_session_id(cursor: &mut Cursor<'_>, id: SessionId) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for (i, b) in id.0.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            cursor.put(b"-");
        }
        let hi = HEX.get(usize::from(b >> 4)).copied().unwrap_or(b'0');
        let lo = HEX.get(usize::from(b & 0x0f)).copied().unwrap_or(b'0');
        cursor.put(&[hi, lo]);
    }
}

/// Writes the text the HMAC signs (see the module docs) into `out`; returns its length.
pub fn canonical_text(
    message: AuthMessage,
    session_id: SessionId,
    request_timestamp: u64,
    out: &mut [u8; MAX_CANONICAL_LEN],
) -> usize {
    let mut cursor = Cursor::new(out);
    cursor.put_u64(request_timestamp);
    cursor.put(b"\n");
    put_session_id(&mut cursor, session_id);
    if let AuthMessage::Establish {
        keepalive_interval_ms,
        next_seq_no,
    } = message
    {
        cursor.put(b"\n");
        cursor.put_u64(u64::from(keepalive_interval_ms));
        cursor.put(b"\n");
        if let Some(next) = next_seq_no {
            cursor.put_u64(next);
        }
    }
    // The buffer fits the longest text, so this never falls back.
    cursor.finish().unwrap_or(0)
}

/// An HMAC-SHA256 key and its key id (client side to sign, server side to verify).
#[derive(Clone)]
pub struct HmacKey {
    id: KeyId,
    key: hmac::Key,
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl HmacKey {
    /// A key from its id and its base64url secret (padding optional; at least
    /// [`MIN_HMAC_SECRET_LEN`] bytes once decoded).
    pub fn new(key_id: &str, secret: &Secret) -> Result<Self, CredentialsError> {
        let id = KeyId::new(key_id)?;
        let text = secret.expose();
        if text.is_empty() {
            return Err(CredentialsError::EmptySecret);
        }
        let decoded = Zeroizing::new(
            URL_SAFE_NO_PAD_INDIFFERENT
                .decode(text)
                .map_err(|_| CredentialsError::SecretNotBase64Url)?,
        );
        if decoded.len() < MIN_HMAC_SECRET_LEN {
            return Err(CredentialsError::WeakSecret(decoded.len()));
        }
        Ok(HmacKey {
            id,
            key: hmac::Key::new(hmac::HMAC_SHA256, &decoded),
        })
    }

    /// A key whose base64url secret is read from `source`.
    pub fn load(key_id: &str, source: &SecretSource) -> Result<Self, CredentialsError> {
        Self::new(key_id, &source.load()?)
    }

    /// The key id.
    pub fn id(&self) -> &KeyId {
        &self.id
    }

    fn sign(&self, message: AuthMessage, session_id: SessionId, ts: u64) -> hmac::Tag {
        let mut text = [0u8; MAX_CANONICAL_LEN];
        let len = canonical_text(message, session_id, ts, &mut text);
        hmac::sign(&self.key, text.get(..len).unwrap_or(&[]))
    }

    /// Writes the credentials `keyId:base64url(signature)` for this request into `out` and
    /// returns their length.
    pub fn write_credentials(
        &self,
        message: AuthMessage,
        session_id: SessionId,
        request_timestamp: u64,
        out: &mut [u8; MAX_CREDENTIALS_LEN],
    ) -> usize {
        let tag = self.sign(message, session_id, request_timestamp);
        let mut text = [0u8; SIGNATURE_TEXT_LEN];
        let written = URL_SAFE_NO_PAD
            .encode_slice(tag.as_ref(), &mut text)
            .unwrap_or(0);
        let mut cursor = Cursor::new(out);
        cursor.put(self.id.as_bytes());
        cursor.put(b":");
        cursor.put(text.get(..written).unwrap_or(&[]));
        // 64 + 1 + 43 bytes always fit.
        cursor.finish().unwrap_or(0)
    }
}

/// A static token the client sends as its credentials (at most [`MAX_CREDENTIALS_LEN`]
/// bytes; never printed).
#[derive(Clone)]
pub struct StaticToken(Secret);

impl StaticToken {
    /// Checks the token's length.
    pub fn new(token: Secret) -> Result<Self, CredentialsError> {
        match token.expose().len() {
            0 => Err(CredentialsError::EmptySecret),
            n if n > MAX_CREDENTIALS_LEN => Err(CredentialsError::TokenTooLong(n)),
            _ => Ok(StaticToken(token)),
        }
    }

    /// A token read from `source`.
    pub fn load(source: &SecretSource) -> Result<Self, CredentialsError> {
        Self::new(source.load()?)
    }
}

impl fmt::Debug for StaticToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("StaticToken(..)")
    }
}

/// What a client puts in the Credentials of its Negotiate and Establish.
#[derive(Clone, Debug, Default)]
pub enum ClientCredentials {
    /// Nothing (Conga servers expect none).
    #[default]
    None,
    /// The same token every time.
    Static(StaticToken),
    /// An HMAC-SHA256 signature of the request, computed when it is written (boxed: the
    /// key schedule is large and this is read once per handshake).
    Hmac(Box<HmacKey>),
}

impl ClientCredentials {
    /// HMAC-SHA256 credentials signed with `key`.
    pub fn hmac(key: HmacKey) -> Self {
        ClientCredentials::Hmac(Box::new(key))
    }

    /// Writes the credentials for this request into `out` and returns their length. No
    /// allocation.
    pub fn write(
        &self,
        message: AuthMessage,
        session_id: SessionId,
        request_timestamp: u64,
        out: &mut [u8; MAX_CREDENTIALS_LEN],
    ) -> usize {
        match self {
            ClientCredentials::None => 0,
            ClientCredentials::Static(token) => {
                let bytes = token.0.expose();
                match out.get_mut(..bytes.len()) {
                    Some(dst) => {
                        dst.copy_from_slice(bytes);
                        bytes.len()
                    }
                    None => 0,
                }
            }
            ClientCredentials::Hmac(key) => {
                key.write_credentials(message, session_id, request_timestamp, out)
            }
        }
    }
}

/// One shared static token: credentials must equal it. The SHA-256 digests of both are
/// compared in constant time, so a mismatch's position never shows in the timing.
#[derive(Clone)]
pub struct TokenAuthenticator {
    digest: [u8; 32],
}

impl fmt::Debug for TokenAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenAuthenticator(..)")
    }
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let d = digest::digest(&digest::SHA256, bytes);
    if let Some(dst) = out.get_mut(..d.as_ref().len()) {
        dst.copy_from_slice(d.as_ref());
    }
    out
}

impl TokenAuthenticator {
    /// Accepts credentials equal to `token` (not empty).
    pub fn new(token: &Secret) -> Result<Self, CredentialsError> {
        if token.expose().is_empty() {
            return Err(CredentialsError::EmptySecret);
        }
        Ok(TokenAuthenticator {
            digest: sha256(token.expose()),
        })
    }

    /// Accepts credentials equal to the token read from `source`.
    pub fn load(source: &SecretSource) -> Result<Self, CredentialsError> {
        Self::new(&source.load()?)
    }
}

impl Authenticator for TokenAuthenticator {
    fn authenticate(&mut self, request: &AuthRequest<'_>) -> AuthDecision {
        if request.credentials.is_empty() {
            return AuthDecision::Refuse(AuthFailure::Missing);
        }
        if bool::from(sha256(request.credentials).ct_eq(&self.digest)) {
            AuthDecision::Accept
        } else {
            AuthDecision::Refuse(AuthFailure::WrongToken)
        }
    }
}

/// Settings of an [`HmacAuthenticator`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HmacConfig {
    /// Largest accepted distance between a RequestTimestamp and the server's clock, ns.
    pub window_ns: u64,
    /// SessionIds whose last timestamp is remembered. When the table is full, the entry whose
    /// timestamp is oldest is reused if it lies outside the window (its timestamps are stale
    /// anyway); otherwise the request is refused with [`AuthFailure::TableFull`].
    pub replay_capacity: usize,
}

impl Default for HmacConfig {
    fn default() -> Self {
        HmacConfig {
            window_ns: DEFAULT_TIMESTAMP_WINDOW_NS,
            replay_capacity: 4096,
        }
    }
}

/// The last accepted request of a SessionId.
#[derive(Clone, Copy, Debug)]
struct Seen {
    timestamp: u64,
    key: u16,
}

/// HMAC-SHA256 credentials as CME iLink 3 signs them (see the module docs for the format).
///
/// A SessionId is tied to the key that first authenticated it for as long as its replay entry
/// is kept; an entry reused after it left the window (table full) is learned again from the
/// next accepted request.
#[derive(Debug)]
pub struct HmacAuthenticator {
    keys: Vec<HmacKey>,
    window_ns: u64,
    seen: FixedMap<SessionId, Seen>,
}

impl HmacAuthenticator {
    /// Verifies with `keys` (distinct key ids, 1 to 65 535 of them).
    pub fn new(keys: Vec<HmacKey>, config: HmacConfig) -> Result<Self, CredentialsError> {
        if keys.is_empty() || keys.len() > usize::from(u16::MAX) {
            return Err(CredentialsError::KeyCount);
        }
        for (i, key) in keys.iter().enumerate() {
            if keys.iter().skip(i + 1).any(|other| other.id == key.id) {
                return Err(CredentialsError::DuplicateKeyId(key.id.as_str().to_owned()));
            }
        }
        Ok(HmacAuthenticator {
            keys,
            window_ns: config.window_ns,
            seen: FixedMap::with_capacity(config.replay_capacity),
        })
    }

    /// SessionIds whose last timestamp is remembered now.
    pub fn remembered_sessions(&self) -> usize {
        self.seen.len()
    }

    /// The most SessionIds remembered at once.
    pub fn replay_capacity(&self) -> usize {
        self.seen.capacity()
    }

    fn check(&mut self, request: &AuthRequest<'_>) -> Result<(), AuthFailure> {
        if request.credentials.is_empty() {
            return Err(AuthFailure::Missing);
        }
        let (key_id, signature) = parse_hmac_credentials(request.credentials)?;
        let (index, key) = self
            .keys
            .iter()
            .enumerate()
            .find(|(_, k)| k.id.as_bytes() == key_id)
            .ok_or(AuthFailure::UnknownKey)?;
        let key_index = u16::try_from(index).map_err(|_| AuthFailure::UnknownKey)?;
        if request.request_timestamp.abs_diff(request.now) > self.window_ns {
            return Err(AuthFailure::StaleTimestamp);
        }
        let expected = key.sign(
            request.message,
            request.session_id,
            request.request_timestamp,
        );
        if !bool::from(expected.as_ref().ct_eq(&signature)) {
            return Err(AuthFailure::BadSignature);
        }
        if let Some(seen) = self.seen.get(&request.session_id) {
            if request.request_timestamp <= seen.timestamp {
                return Err(AuthFailure::ReplayedTimestamp);
            }
            if seen.key != key_index {
                return Err(AuthFailure::KeyMismatch);
            }
        }
        let entry = Seen {
            timestamp: request.request_timestamp,
            key: key_index,
        };
        if self.seen.insert(request.session_id, entry).is_err() {
            self.evict_stale(request.now)?;
            self.seen
                .insert(request.session_id, entry)
                .map_err(|_| AuthFailure::TableFull)?;
        }
        Ok(())
    }

    /// Frees the entry with the oldest timestamp if it lies outside the window.
    fn evict_stale(&mut self, now: u64) -> Result<(), AuthFailure> {
        let oldest = self
            .seen
            .iter()
            .min_by_key(|(_, seen)| seen.timestamp)
            .filter(|(_, seen)| seen.timestamp.saturating_add(self.window_ns) < now)
            .ok_or(AuthFailure::TableFull)?;
        self.seen.remove(&oldest.0);
        Ok(())
    }
}

/// Splits `keyId:signature` and decodes the signature.
fn parse_hmac_credentials(credentials: &[u8]) -> Result<(&[u8], [u8; SIGNATURE_LEN]), AuthFailure> {
    let colon = credentials
        .iter()
        .position(|&b| b == b':')
        .ok_or(AuthFailure::Malformed)?;
    let key_id = credentials.get(..colon).ok_or(AuthFailure::Malformed)?;
    let text = credentials.get(colon + 1..).ok_or(AuthFailure::Malformed)?;
    if KeyId::from_bytes(key_id).is_none() || text.len() != SIGNATURE_TEXT_LEN {
        return Err(AuthFailure::Malformed);
    }
    let mut signature = [0u8; SIGNATURE_LEN];
    match URL_SAFE_NO_PAD.decode_slice(text, &mut signature) {
        Ok(SIGNATURE_LEN) => Ok((key_id, signature)),
        _ => Err(AuthFailure::Malformed),
    }
}

impl Authenticator for HmacAuthenticator {
    fn authenticate(&mut self, request: &AuthRequest<'_>) -> AuthDecision {
        match self.check(request) {
            Ok(()) => AuthDecision::Accept,
            Err(failure) => AuthDecision::Refuse(failure),
        }
    }
}

/// The names of a peer's verified TLS client certificate: the subject's common name and the
/// subject alternative names (DNS names, URIs, e-mail addresses, IP addresses as text).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PeerIdentity {
    common_name: Option<String>,
    alt_names: Vec<String>,
}

impl PeerIdentity {
    /// An identity with these names.
    pub fn new(common_name: Option<String>, alt_names: Vec<String>) -> Self {
        PeerIdentity {
            common_name,
            alt_names,
        }
    }

    /// The subject's common name (CN), if it has one.
    pub fn common_name(&self) -> Option<&str> {
        self.common_name.as_deref()
    }

    /// The subject alternative names.
    pub fn alt_names(&self) -> &[String] {
        &self.alt_names
    }

    /// True if the CN or a SAN equals `name` (ASCII case-insensitive, as DNS names are).
    pub fn has_name(&self, name: &str) -> bool {
        self.common_name
            .iter()
            .chain(self.alt_names.iter())
            .any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// Which SessionIds a certificate name may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SessionScope {
    /// Any SessionId it negotiates (and only those: another name cannot establish them).
    Any,
    /// Only these SessionIds (venues that assign them).
    Only(Vec<SessionId>),
}

/// A certificate name allowed in, and the SessionIds it may use.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertBinding {
    /// A CN or SAN the certificate must carry.
    pub name: String,
    /// The SessionIds it may use.
    pub sessions: SessionScope,
}

/// Requires a verified TLS client certificate whose name is allowed, ties each SessionId to
/// the binding that first used it (so another certificate cannot Establish it), then asks the
/// wrapped authenticator (for example [`AcceptAll`] for certificate-only authentication, or an
/// [`HmacAuthenticator`] for both).
///
/// The ownership table holds `capacity` SessionIds (give it at least the acceptor's session
/// capacity); entries go when the acceptor forgets a session. A session restored from a
/// journal after a restart has no owner until its first accepted Establish.
#[derive(Debug)]
pub struct ClientCertBinding<A> {
    inner: A,
    bindings: Vec<CertBinding>,
    owners: FixedMap<SessionId, u32>,
}

impl<A: Authenticator> ClientCertBinding<A> {
    /// Lets in the names of `bindings`, then asks `inner`.
    pub fn new(inner: A, bindings: Vec<CertBinding>, capacity: usize) -> Self {
        ClientCertBinding {
            inner,
            bindings,
            owners: FixedMap::with_capacity(capacity),
        }
    }

    /// The wrapped authenticator.
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// SessionIds tied to a certificate name now.
    pub fn owned_sessions(&self) -> usize {
        self.owners.len()
    }

    fn binding_for(&self, peer: &PeerIdentity, id: SessionId) -> Result<u32, AuthFailure> {
        if !self.bindings.iter().any(|b| peer.has_name(&b.name)) {
            return Err(AuthFailure::IdentityNotAllowed);
        }
        if let Some(owner) = self.owners.get(&id) {
            return match usize::try_from(owner)
                .ok()
                .and_then(|i| self.bindings.get(i))
            {
                Some(binding) if peer.has_name(&binding.name) => Ok(owner),
                _ => Err(AuthFailure::IdentityMismatch),
            };
        }
        let index = self
            .bindings
            .iter()
            .position(|binding| {
                peer.has_name(&binding.name)
                    && match &binding.sessions {
                        SessionScope::Any => true,
                        SessionScope::Only(ids) => ids.contains(&id),
                    }
            })
            .ok_or(AuthFailure::SessionNotAllowed)?;
        u32::try_from(index).map_err(|_| AuthFailure::SessionNotAllowed)
    }
}

impl<A: Authenticator> Authenticator for ClientCertBinding<A> {
    fn authenticate(&mut self, request: &AuthRequest<'_>) -> AuthDecision {
        let Some(peer) = request.peer else {
            return AuthDecision::Refuse(AuthFailure::NoPeerIdentity);
        };
        let binding = match self.binding_for(peer, request.session_id) {
            Ok(binding) => binding,
            Err(failure) => return AuthDecision::Refuse(failure),
        };
        let decision = self.inner.authenticate(request);
        if decision != AuthDecision::Accept {
            return decision;
        }
        match self.owners.insert(request.session_id, binding) {
            Ok(()) => AuthDecision::Accept,
            Err(_) => AuthDecision::Refuse(AuthFailure::TableFull),
        }
    }

    fn session_ended(&mut self, session_id: SessionId) {
        self.owners.remove(&session_id);
        self.inner.session_ended(session_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_text_matches_the_documented_form() {
        let id = SessionId([
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef, 0x80, 0x01, 0x02, 0x03, 0x04, 0x05,
            0x06, 0x07,
        ]);
        let mut out = [0u8; MAX_CANONICAL_LEN];
        let n = canonical_text(AuthMessage::Negotiate, id, 42, &mut out);
        assert_eq!(&out[..n], b"42\n12345678-9abc-4def-8001-020304050607");
        assert_eq!(id.to_string(), "12345678-9abc-4def-8001-020304050607");
        let establish = AuthMessage::Establish {
            keepalive_interval_ms: 2000,
            next_seq_no: Some(1),
        };
        let n = canonical_text(establish, id, 42, &mut out);
        assert_eq!(
            &out[..n],
            b"42\n12345678-9abc-4def-8001-020304050607\n2000\n1"
        );
        let unsequenced = AuthMessage::Establish {
            keepalive_interval_ms: 2000,
            next_seq_no: None,
        };
        let n = canonical_text(unsequenced, id, 42, &mut out);
        assert_eq!(
            &out[..n],
            b"42\n12345678-9abc-4def-8001-020304050607\n2000\n"
        );
        let longest = AuthMessage::Establish {
            keepalive_interval_ms: u32::MAX,
            next_seq_no: Some(u64::MAX),
        };
        assert_eq!(
            canonical_text(longest, id, u64::MAX, &mut out),
            MAX_CANONICAL_LEN
        );
    }

    #[test]
    fn key_ids_are_checked() {
        assert!(KeyId::new("desk-1.prod_A").is_ok());
        assert!(KeyId::new("").is_err());
        assert!(KeyId::new("a:b").is_err());
        assert!(KeyId::new(&"k".repeat(MAX_KEY_ID_LEN + 1)).is_err());
        assert!(KeyId::new(&"k".repeat(MAX_KEY_ID_LEN)).is_ok());
    }

    #[test]
    fn longest_credentials_fit() {
        let secret = Secret::from_bytes(URL_SAFE_NO_PAD.encode([7u8; 32]));
        let key = HmacKey::new(&"k".repeat(MAX_KEY_ID_LEN), &secret).unwrap();
        let mut out = [0u8; MAX_CREDENTIALS_LEN];
        let n = key.write_credentials(AuthMessage::Negotiate, SessionId::NIL, u64::MAX, &mut out);
        assert_eq!(n, MAX_KEY_ID_LEN + 1 + SIGNATURE_TEXT_LEN);
    }
}
