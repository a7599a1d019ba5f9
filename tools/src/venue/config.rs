//! The exchange's TOML configuration: listeners, certificates, sessions and flows, keepalive,
//! the journal, core pinning and idle strategy, limits, RFQ timings, and instruments.
//!
//! Every value has a default (an empty file is a working config); unknown keys are errors; a bad
//! file fails with the key and the reason, e.g. `listeners[0].addr: invalid socket address "x"`.
//! The model is plain data, independent of the engine's types (phase 2 maps it onto
//! `EngineConfig`); [`VenueConfig::venue_settings`] and [`VenueConfig::instrument_table`] give
//! what [`super::exchange::Venue`] needs. The reference is `docs/venue.md`; a documented example
//! is `tools/examples/venue.toml`.
//!
//! Owns: parsing and checking the file. May not touch: sockets, files other than the config.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use fixp_ws::codec::conga::parse_transact_time;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use super::exchange::{SessionProfile, VenueSettings};
use super::instrument::{InstrumentError, InstrumentSpec, InstrumentTable};
use super::orders::OrderSettings;
use super::rfq::{RfqSettings, MAX_LEGS};
use super::types::{Asset, InstrumentKind, Price, PutCall, Qty, Symbol};
use super::Dialect;

/// A config file that could not be used: which key, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    /// The key, e.g. `listeners[0].addr` (empty for the file as a whole).
    pub key: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.key.is_empty() {
            f.write_str(&self.reason)
        } else {
            write!(f, "{}: {}", self.key, self.reason)
        }
    }
}

impl std::error::Error for ConfigError {}

fn error(key: impl Into<String>, reason: impl Into<String>) -> ConfigError {
    ConfigError {
        key: key.into(),
        reason: reason.into(),
    }
}

/// The whole file.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VenueConfig {
    /// Where the exchange accepts connections.
    pub listeners: Vec<ListenerConfig>,
    /// The TLS certificate.
    pub tls: TlsConfig,
    /// Flows and keepalive of every session.
    pub session: SessionDefaults,
    /// Known sessions (any other session may connect as a plain trader).
    pub sessions: Vec<SessionEntry>,
    /// The acceptor journal.
    pub journal: JournalConfig,
    /// The engine thread.
    pub engine: EngineSettings,
    /// Limits.
    pub limits: LimitsConfig,
    /// RFQ timings and limits.
    pub rfq: RfqConfig,
    /// Venue rules.
    pub venue: VenueRules,
    /// Instruments listed in addition to (or, with `venue.default_instruments = false`,
    /// instead of) the default set.
    pub instruments: Vec<InstrumentConfig>,
}

impl Default for VenueConfig {
    fn default() -> Self {
        VenueConfig {
            listeners: vec![ListenerConfig::default()],
            tls: TlsConfig::default(),
            session: SessionDefaults::default(),
            sessions: Vec::new(),
            journal: JournalConfig::default(),
            engine: EngineSettings::default(),
            limits: LimitsConfig::default(),
            rfq: RfqConfig::default(),
            venue: VenueRules::default(),
            instruments: Vec::new(),
        }
    }
}

/// How a listener carries WebSocket.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// WebSocket over TLS (`wss://`).
    Tls,
    /// Plain WebSocket (`ws://`), for loopback tests.
    Plain,
}

/// One listening socket.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenerConfig {
    /// Address and port (default `127.0.0.1:9443`).
    #[serde(deserialize_with = "socket_addr")]
    pub addr: SocketAddr,
    /// The WebSocket path (default `/fixp`).
    pub path: String,
    /// `tls` (default) or `plain`.
    pub transport: Transport,
}

impl Default for ListenerConfig {
    fn default() -> Self {
        ListenerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], 9443)),
            path: "/fixp".to_string(),
            transport: Transport::Tls,
        }
    }
}

/// The server certificate: PEM files, or (both left out) a self-signed one made at start.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsConfig {
    /// Certificate chain (PEM).
    pub cert: Option<PathBuf>,
    /// Private key (PEM).
    pub key: Option<PathBuf>,
    /// Names of the self-signed certificate (default `["localhost"]`).
    pub self_signed_names: Vec<String>,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert: None,
            key: None,
            self_signed_names: vec!["localhost".to_string()],
        }
    }
}

/// A FIXP flow type, by its FIXP name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
pub enum FlowName {
    /// Every message sequenced and recoverable.
    Recoverable,
    /// Sequenced, not recoverable (Applied / NotApplied).
    Idempotent,
    /// Not sequenced.
    Unsequenced,
    /// No application messages.
    None,
}

/// Flows and keepalive for every session.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SessionDefaults {
    /// The exchange's flow (default `Recoverable`).
    pub server_flow: FlowName,
    /// The client flows accepted (default all four).
    pub client_flows: Vec<FlowName>,
    /// The exchange's keepalive interval in ms (default 1000).
    pub keepalive_ms: u32,
    /// The shortest keepalive a client may ask for, in ms (default 100).
    pub min_keepalive_ms: u32,
    /// The longest keepalive a client may ask for, in ms (default 60 000).
    pub max_keepalive_ms: u32,
    /// Time to complete Negotiate and Establish, in ms (default 5000).
    pub handshake_timeout_ms: u32,
    /// The largest WebSocket message, in bytes (default 65 536).
    pub max_frame_len: usize,
}

impl Default for SessionDefaults {
    fn default() -> Self {
        SessionDefaults {
            server_flow: FlowName::Recoverable,
            client_flows: vec![
                FlowName::Recoverable,
                FlowName::Idempotent,
                FlowName::Unsequenced,
                FlowName::None,
            ],
            keepalive_ms: 1_000,
            min_keepalive_ms: 100,
            max_keepalive_ms: 60_000,
            handshake_timeout_ms: 5_000,
            max_frame_len: 65_536,
        }
    }
}

/// The JSON dialect of a session, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DialectName {
    /// The venue's JSON form.
    Venue,
    /// Conga's JSON order messages.
    Conga,
}

impl From<DialectName> for Dialect {
    fn from(d: DialectName) -> Self {
        match d {
            DialectName::Venue => Dialect::Venue,
            DialectName::Conga => Dialect::Conga,
        }
    }
}

/// One known session.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionEntry {
    /// Its FIXP SessionId (UUID text, required).
    #[serde(deserialize_with = "uuid")]
    pub id: [u8; 16],
    /// A name for logs and status (default: empty).
    #[serde(default)]
    pub name: String,
    /// Receives RFQs and may quote (default false).
    #[serde(default)]
    pub market_maker: bool,
    /// Its JSON dialect (default: `venue.json_dialect`).
    #[serde(default)]
    pub json_dialect: Option<DialectName>,
}

/// The acceptor journal.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JournalConfig {
    /// Journal every session (default true).
    pub enabled: bool,
    /// Where (default `journal`).
    pub dir: PathBuf,
    /// Bytes per session journal, each direction (default 8 MiB, at least 64 KiB).
    pub capacity_bytes: u64,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            enabled: true,
            dir: PathBuf::from("journal"),
            capacity_bytes: 8 << 20,
        }
    }
}

/// How the engine thread waits for work.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum IdleName {
    /// Spin on a zero-timeout poll: lowest latency, one core at 100 %.
    BusyPoll,
    /// Spin, then yield, then park briefly (default).
    SpinThenYield,
    /// Block in the poll up to `engine.block_ms`.
    Block,
}

/// The engine thread.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineSettings {
    /// Pin the engine thread to this core (default: not pinned).
    pub pin_core: Option<usize>,
    /// `busy-poll`, `spin-then-yield` (default) or `block`.
    pub idle: IdleName,
    /// The longest block with `idle = "block"`, in ms (default 1).
    pub block_ms: u64,
    /// Messages per queue between the engine and the strategy (default 4096).
    pub queue_capacity: usize,
}

impl Default for EngineSettings {
    fn default() -> Self {
        EngineSettings {
            pin_core: None,
            idle: IdleName::SpinThenYield,
            block_ms: 1,
            queue_capacity: 4_096,
        }
    }
}

/// Limits.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Connections at once (default 1024).
    pub max_connections: usize,
    /// Inbound application messages per second per session; 0 for no limit (default 10 000).
    pub max_messages_per_second: u32,
    /// Resting orders per session (default 1000).
    pub max_open_orders_per_session: usize,
    /// Market data subscriptions per session (default 64).
    pub max_subscriptions_per_session: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        let orders = OrderSettings::default();
        LimitsConfig {
            max_connections: 1_024,
            max_messages_per_second: 10_000,
            max_open_orders_per_session: orders.max_open_orders_per_session,
            max_subscriptions_per_session: VenueSettings::default().max_subscriptions_per_session,
        }
    }
}

/// RFQ timings (ms) and limits.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RfqConfig {
    /// A quote's longest life (default 2500).
    pub quote_ttl_ms: u64,
    /// A request's life when it names no expiry (default 60 000).
    pub request_ttl_ms: u64,
    /// A request's longest life (default 300 000).
    pub max_request_ttl_ms: u64,
    /// Open requests per session (default 16).
    pub max_open_requests_per_session: usize,
    /// Open quotes per session (default 64).
    pub max_open_quotes_per_session: usize,
    /// Legs per package (default 4, at most 8).
    pub max_legs: usize,
    /// Show the requester's side to market makers (default false).
    pub reveal_side_to_makers: bool,
}

impl Default for RfqConfig {
    fn default() -> Self {
        let d = RfqSettings::default();
        RfqConfig {
            quote_ttl_ms: d.quote_ttl_ns / 1_000_000,
            request_ttl_ms: d.request_ttl_ns / 1_000_000,
            max_request_ttl_ms: d.max_request_ttl_ns / 1_000_000,
            max_open_requests_per_session: d.max_open_requests_per_session,
            max_open_quotes_per_session: d.max_open_quotes_per_session,
            max_legs: d.max_legs,
            reveal_side_to_makers: d.reveal_side_to_makers,
        }
    }
}

/// Venue rules.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct VenueRules {
    /// List the default instruments (default true).
    pub default_instruments: bool,
    /// The JSON dialect of sessions not listed or listed without one (default `conga`, so
    /// Conga JSON clients trade unchanged).
    pub json_dialect: DialectName,
    /// List a Conga symbol the table lacks as a plain instrument on first use (default true).
    pub auto_list_conga_symbols: bool,
    /// Cancel a session's resting orders when it ends (default false).
    pub cancel_orders_on_session_end: bool,
}

impl Default for VenueRules {
    fn default() -> Self {
        VenueRules {
            default_instruments: true,
            json_dialect: DialectName::Conga,
            auto_list_conga_symbols: true,
            cancel_orders_on_session_end: false,
        }
    }
}

/// Instrument kind, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KindName {
    /// An option.
    Option,
    /// A perpetual.
    Perpetual,
    /// A future.
    Future,
}

/// Put or call, by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PutCallName {
    /// A put.
    Put,
    /// A call.
    Call,
}

/// A decimal read exactly: a TOML string (`"0.0005"`), integer, or float (through its shortest
/// decimal form, so `0.0005` is 0.0005).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecimalText(pub String);

impl<'de> Deserialize<'de> for DecimalText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DecimalText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a decimal number or a string holding one")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DecimalText, E> {
                Ok(DecimalText(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<DecimalText, E> {
                Ok(DecimalText(format!("{v}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// One instrument.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentConfig {
    /// Its name (required).
    pub symbol: String,
    /// `option`, `perpetual` or `future` (required).
    pub kind: KindName,
    /// The underlying (default: the symbol up to its first `-`).
    #[serde(default)]
    pub underlying: Option<String>,
    /// Expiry, ISO-8601 UTC (`2026-03-27T08:00:00Z`): options and futures.
    #[serde(default)]
    pub expiry: Option<String>,
    /// Strike: options.
    #[serde(default)]
    pub strike: Option<DecimalText>,
    /// `put` or `call`: options.
    #[serde(default)]
    pub put_call: Option<PutCallName>,
    /// Tick size (required).
    pub tick_size: DecimalText,
    /// Lot size (required).
    pub lot_size: DecimalText,
    /// Minimum order size (default: the lot size).
    #[serde(default)]
    pub min_size: Option<DecimalText>,
    /// Quoting decimals as an exponent (default: the tick size's decimals).
    #[serde(default)]
    pub price_exponent: Option<i8>,
}

fn socket_addr<'de, D: Deserializer<'de>>(d: D) -> Result<SocketAddr, D::Error> {
    let text = String::deserialize(d)?;
    text.parse()
        .map_err(|_| de::Error::custom(format!("invalid socket address {text:?}")))
}

fn uuid<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 16], D::Error> {
    let text = String::deserialize(d)?;
    parse_uuid(&text).ok_or_else(|| {
        de::Error::custom(format!(
            "invalid session id {text:?}: expected a UUID like 0b7a1c3e-5f10-4d2b-9c77-2e5d8a9b1f00"
        ))
    })
}

/// The 16 bytes of a UUID's text form (8-4-4-4-12 hex digits).
pub fn parse_uuid(text: &str) -> Option<[u8; 16]> {
    let groups: Vec<&str> = text.split('-').collect();
    if groups.iter().map(|g| g.len()).collect::<Vec<_>>() != [8, 4, 4, 4, 12] {
        return None;
    }
    let hex: String = groups.concat();
    let mut out = [0u8; 16];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

impl VenueConfig {
    /// Reads and checks a config file.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| error("", format!("cannot read {}: {e}", path.display())))?;
        Self::from_toml_str(&text)
    }

    /// Parses and checks config text.
    pub fn from_toml_str(text: &str) -> Result<Self, ConfigError> {
        let de = toml::de::Deserializer::parse(text).map_err(|e| {
            let line = e.span().map_or(1, |span| {
                text.get(..span.start)
                    .map_or(1, |t| t.lines().count().max(1))
            });
            error("", format!("invalid TOML at line {line}: {}", e.message()))
        })?;
        let config: VenueConfig = serde_path_to_error::deserialize(de).map_err(|e| {
            let key = e.path().to_string();
            let key = if key == "." { String::new() } else { key };
            error(key, e.into_inner().message())
        })?;
        config.check()?;
        Ok(config)
    }

    /// The checks a well-typed file must still pass.
    fn check(&self) -> Result<(), ConfigError> {
        if self.listeners.is_empty() {
            return Err(error("listeners", "at least one listener is needed"));
        }
        for (i, l) in self.listeners.iter().enumerate() {
            if !l.path.starts_with('/') {
                return Err(error(
                    format!("listeners[{i}].path"),
                    format!("{:?} must start with /", l.path),
                ));
            }
            if self.listeners[..i].iter().any(|o| o.addr == l.addr) {
                return Err(error(
                    format!("listeners[{i}].addr"),
                    format!("{} is used twice", l.addr),
                ));
            }
        }
        if self.tls.cert.is_some() != self.tls.key.is_some() {
            let key = if self.tls.cert.is_some() {
                "tls.key"
            } else {
                "tls.cert"
            };
            return Err(error(
                key,
                "cert and key go together (leave both out for a self-signed certificate)",
            ));
        }
        let s = &self.session;
        if s.client_flows.is_empty() {
            return Err(error("session.client_flows", "at least one flow is needed"));
        }
        if s.min_keepalive_ms == 0 || s.min_keepalive_ms > s.max_keepalive_ms {
            return Err(error(
                "session.min_keepalive_ms",
                "must be positive and at most max_keepalive_ms",
            ));
        }
        if !(s.min_keepalive_ms..=s.max_keepalive_ms).contains(&s.keepalive_ms) {
            return Err(error(
                "session.keepalive_ms",
                format!(
                    "{} is outside min_keepalive_ms..=max_keepalive_ms ({}..={})",
                    s.keepalive_ms, s.min_keepalive_ms, s.max_keepalive_ms
                ),
            ));
        }
        if s.max_frame_len < 512 {
            return Err(error("session.max_frame_len", "must be at least 512"));
        }
        for (i, entry) in self.sessions.iter().enumerate() {
            if self.sessions[..i].iter().any(|o| o.id == entry.id) {
                return Err(error(format!("sessions[{i}].id"), "is listed twice"));
            }
        }
        if self.journal.capacity_bytes < 64 << 10 {
            return Err(error("journal.capacity_bytes", "must be at least 65536"));
        }
        if self.engine.idle == IdleName::Block && self.engine.block_ms == 0 {
            return Err(error(
                "engine.block_ms",
                "must be positive with idle = \"block\"",
            ));
        }
        if self.engine.queue_capacity == 0 {
            return Err(error("engine.queue_capacity", "must be positive"));
        }
        let r = &self.rfq;
        if r.quote_ttl_ms == 0 {
            return Err(error("rfq.quote_ttl_ms", "must be positive"));
        }
        if r.request_ttl_ms == 0 || r.request_ttl_ms > r.max_request_ttl_ms {
            return Err(error(
                "rfq.request_ttl_ms",
                "must be positive and at most max_request_ttl_ms",
            ));
        }
        if !(1..=MAX_LEGS).contains(&r.max_legs) {
            return Err(error("rfq.max_legs", format!("must be in 1..={MAX_LEGS}")));
        }
        self.build_instruments().map(|_| ())
    }

    fn build_instruments(&self) -> Result<InstrumentTable, ConfigError> {
        let mut table = if self.venue.default_instruments {
            InstrumentTable::default_set()
        } else {
            InstrumentTable::default()
        };
        for (i, c) in self.instruments.iter().enumerate() {
            let at = |field: &str| format!("instruments[{i}].{field}");
            let spec = instrument_spec(c).map_err(|(field, reason)| error(at(field), reason))?;
            table
                .insert(spec)
                .map_err(|InstrumentError { field, reason, .. }| error(at(field), reason))?;
        }
        Ok(table)
    }

    /// The instrument table: the default set (unless switched off) and the listed instruments.
    pub fn instrument_table(&self) -> InstrumentTable {
        // Checked when the config was read.
        self.build_instruments().unwrap_or_default()
    }

    /// The venue's settings.
    pub fn venue_settings(&self) -> VenueSettings {
        let ms = |v: u64| v.saturating_mul(1_000_000);
        VenueSettings {
            orders: OrderSettings {
                max_open_orders_per_session: self.limits.max_open_orders_per_session,
                auto_list_conga_symbols: self.venue.auto_list_conga_symbols,
            },
            rfq: RfqSettings {
                request_ttl_ns: ms(self.rfq.request_ttl_ms),
                max_request_ttl_ns: ms(self.rfq.max_request_ttl_ms),
                quote_ttl_ns: ms(self.rfq.quote_ttl_ms),
                max_open_requests_per_session: self.rfq.max_open_requests_per_session,
                max_open_quotes_per_session: self.rfq.max_open_quotes_per_session,
                max_legs: self.rfq.max_legs,
                reveal_side_to_makers: self.rfq.reveal_side_to_makers,
            },
            max_subscriptions_per_session: self.limits.max_subscriptions_per_session,
            cancel_orders_on_session_end: self.venue.cancel_orders_on_session_end,
        }
    }

    /// The listed session with this FIXP SessionId.
    pub fn session(&self, id: &[u8; 16]) -> Option<&SessionEntry> {
        self.sessions.iter().find(|s| &s.id == id)
    }

    /// The profile of a session (a plain trader when not listed).
    pub fn session_profile(&self, id: &[u8; 16]) -> SessionProfile {
        SessionProfile {
            market_maker: self.session(id).is_some_and(|s| s.market_maker),
        }
    }

    /// The JSON dialect of a session.
    pub fn json_dialect(&self, id: &[u8; 16]) -> Dialect {
        self.session(id)
            .and_then(|s| s.json_dialect)
            .unwrap_or(self.venue.json_dialect)
            .into()
    }
}

/// Builds one instrument; an error names the field (config spelling) and the reason.
fn instrument_spec(c: &InstrumentConfig) -> Result<InstrumentSpec, (&'static str, String)> {
    let symbol = Symbol::new(&c.symbol).ok_or((
        "symbol",
        format!("{:?} is not 1 to 32 printable ASCII characters", c.symbol),
    ))?;
    let underlying_text = c
        .underlying
        .clone()
        .unwrap_or_else(|| c.symbol.split('-').next().unwrap_or("").to_string());
    let underlying = Asset::new(&underlying_text).ok_or((
        "underlying",
        format!("{underlying_text:?} is not up to 16 printable ASCII characters"),
    ))?;
    let price = |field: &'static str, d: &DecimalText| {
        Price::parse(&d.0).ok_or((
            field,
            format!("{:?} is not a decimal with at most 8 decimals", d.0),
        ))
    };
    let qty = |field: &'static str, d: &DecimalText| {
        Qty::parse(&d.0).ok_or((
            field,
            format!("{:?} is not a decimal with at most 4 decimals", d.0),
        ))
    };
    let tick_size = price("tick_size", &c.tick_size)?;
    let lot_size = qty("lot_size", &c.lot_size)?;
    let expiry = c
        .expiry
        .as_ref()
        .map(|t| {
            parse_transact_time(t).ok_or((
                "expiry",
                format!("{t:?} is not an ISO-8601 UTC time like 2026-03-27T08:00:00Z"),
            ))
        })
        .transpose()?;
    let price_exponent = c.price_exponent.unwrap_or_else(|| {
        let mut exponent = -8i8;
        let mut t = tick_size.0;
        while exponent < 0 && t != 0 && t % 10 == 0 {
            t /= 10;
            exponent += 1;
        }
        exponent
    });
    Ok(InstrumentSpec {
        symbol,
        kind: match c.kind {
            KindName::Option => InstrumentKind::OptionValue,
            KindName::Perpetual => InstrumentKind::Perpetual,
            KindName::Future => InstrumentKind::Future,
        },
        underlying,
        expiry,
        strike: c.strike.as_ref().map(|s| price("strike", s)).transpose()?,
        put_call: c.put_call.map(|p| match p {
            PutCallName::Put => PutCall::Put,
            PutCallName::Call => PutCall::Call,
        }),
        tick_size,
        lot_size,
        min_size: c
            .min_size
            .as_ref()
            .map(|m| qty("min_size", m))
            .transpose()?
            .unwrap_or(lot_size),
        price_exponent,
    })
}
