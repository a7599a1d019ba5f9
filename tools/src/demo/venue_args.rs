//! `serve`'s venue options: the TOML config, the acceptor journal, market makers; and the
//! engine settings they make together with the common engine flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use fixp_tools::show::exchange;
use fixp_tools::venue::config::{DialectName, SessionEntry, Transport, VenueConfig};
use fixp_ws::engine::{CoreList, EngineConfig};

use super::{idle_mode, EngineArgs};

/// The default root of the acceptor journal.
pub const DEFAULT_JOURNAL_DIR: &str = "fixp-journal";

/// The venue options of `serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct VenueArgs {
    /// The venue's TOML config (every key has a default; see tools/examples/venue.toml). A bad
    /// file fails with the key and the reason.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Journal every session under this directory (`<dir>/<SessionId>/`); default: the config's
    /// `journal.dir` with --config, else fixp-journal.
    #[arg(long)]
    pub journal_dir: Option<PathBuf>,
    /// Keep sessions in memory only (no journal; nothing survives a restart).
    #[arg(long, conflicts_with = "journal_dir")]
    pub no_journal: bool,
    /// A SessionId (UUID) that may quote RFQs, in addition to the config's market makers
    /// (repeatable; its JSON is the venue's).
    #[arg(long = "market-maker", value_name = "SESSION_ID")]
    pub market_makers: Vec<String>,
}

impl VenueArgs {
    /// The config: the file (or the defaults) with the flags applied.
    pub fn venue_config(&self) -> Result<VenueConfig, String> {
        let mut config = match &self.config {
            Some(path) => {
                VenueConfig::load(path).map_err(|e| format!("{}: {e}", path.display()))?
            }
            None => VenueConfig::default(),
        };
        for text in &self.market_makers {
            let id = fixp_tools::venue::config::parse_uuid(text)
                .ok_or_else(|| format!("--market-maker: {text:?} is not a SessionId (UUID)"))?;
            match config.sessions.iter_mut().find(|s| s.id == id) {
                Some(entry) => entry.market_maker = true,
                None => config.sessions.push(SessionEntry {
                    id,
                    name: String::new(),
                    market_maker: true,
                    json_dialect: Some(DialectName::Venue),
                }),
            }
        }
        if self.no_journal {
            config.journal.enabled = false;
        }
        if let Some(dir) = &self.journal_dir {
            config.journal.dir = dir.clone();
        } else if self.config.is_none() {
            config.journal.dir = PathBuf::from(DEFAULT_JOURNAL_DIR);
        }
        Ok(config)
    }
}

/// `serve`'s WebSocket address and path: the flags, else the config file's listener (when a
/// file was given), else 127.0.0.1:8443 and /fixp. `serve` binds one TLS WebSocket listener
/// (a TCP one with --tcp): a file with several listeners or a plain one is refused by name.
pub fn listener(
    addr: Option<SocketAddr>,
    path: Option<String>,
    file: Option<&VenueConfig>,
) -> Result<(SocketAddr, String), String> {
    let from_file = match file.map(|config| config.listeners.as_slice()) {
        None | Some([]) => None,
        Some([one]) if one.transport == Transport::Tls => Some(one),
        Some([_]) => {
            return Err("--config: listeners[0].transport: serve listens over TLS only (plain is for the library's loopback tests)".into())
        }
        Some(more) => {
            return Err(format!(
                "--config: listeners: serve binds one WebSocket listener, the file has {} (add a TCP listener with --tcp)",
                more.len()
            ))
        }
    };
    let addr = addr
        .or(from_file.map(|l| l.addr))
        .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8443)));
    let path = path
        .or(from_file.map(|l| l.path.clone()))
        .unwrap_or_else(|| "/fixp".to_string());
    Ok((addr, path))
}

/// The exchange engine's settings: the config's, then the engine flags given on the command
/// line (idle, core, keepalive).
pub fn engine_config(
    config: &VenueConfig,
    args: &EngineArgs,
    cores: &Option<CoreList>,
) -> EngineConfig {
    let mut engine = exchange::engine_config(config, None);
    if let Some(idle) = args.idle {
        engine.idle = idle_mode(idle);
    }
    let core = args.core.or(config.engine.pin_core);
    if let (Some(list), Some(index)) = (cores, core) {
        engine.pin = Some((list.clone(), index));
    }
    if let Some(ms) = args.keepalive_ms {
        engine.acceptor.session.keepalive_interval_ms = ms;
    }
    engine
}
