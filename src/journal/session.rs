//! A session's journals: the writer lock, generations, the metadata file, and the flusher.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::flush::Flusher;
use super::format::{read_u32, read_u64, Direction};
use super::ring::{Journal, RingConfig};
use super::JournalError;
use crate::codec::fixp::FlowType;
use crate::codec::SessionId;

/// Name of the writer lock file in a session's journal root.
pub const LOCK_FILE: &str = "LOCK";
/// Name of the metadata file in a generation directory.
pub const META_FILE: &str = "meta";
const META_MAGIC: [u8; 8] = *b"FIXPMETA";
const META_VERSION: u32 = 1;
const META_LEN: usize = 64;

/// Configuration of a session's journals.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalConfig {
    /// The outbound ring (serves retransmission).
    pub outbound: RingConfig,
    /// The inbound ring (inspection and replay).
    pub inbound: RingConfig,
    /// Generations kept, the current one included; older ones are deleted when a new one starts.
    pub keep_generations: usize,
    /// When set, a flusher thread `fdatasync`s the journals at this interval.
    pub flush_interval: Option<Duration>,
}

impl Default for JournalConfig {
    fn default() -> Self {
        JournalConfig {
            outbound: RingConfig::default(),
            inbound: RingConfig::default(),
            keep_generations: 3,
            flush_interval: None,
        }
    }
}

/// What a session owner stores about the session of a generation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionMeta {
    /// The FIXP SessionId.
    pub session_id: SessionId,
    /// Flow type of the messages this side sends.
    pub outbound_flow: FlowType,
    /// Flow type of the messages this side receives.
    pub inbound_flow: FlowType,
    /// The generation number (1, 2, …): one per SessionId.
    pub generation: u64,
}

impl SessionMeta {
    /// Encodes the 64-byte metadata record (checksummed).
    pub fn encode(&self) -> [u8; META_LEN] {
        let mut b = [0u8; META_LEN];
        b[0..8].copy_from_slice(&META_MAGIC);
        b[8..12].copy_from_slice(&META_VERSION.to_le_bytes());
        b[16..24].copy_from_slice(&self.generation.to_le_bytes());
        b[24..40].copy_from_slice(&self.session_id.0);
        b[40] = self.outbound_flow.to_wire();
        b[41] = self.inbound_flow.to_wire();
        let crc = crc32c::crc32c(&b[..60]);
        b[60..64].copy_from_slice(&crc.to_le_bytes());
        b
    }

    /// Decodes a metadata record, checking magic, version and checksum.
    pub fn decode(b: &[u8]) -> Result<SessionMeta, String> {
        if b.len() != META_LEN || b[0..8] != META_MAGIC {
            return Err("not a journal metadata file".into());
        }
        if read_u32(b, 8) != Some(META_VERSION) {
            return Err("unsupported metadata version".into());
        }
        if read_u32(b, 60) != Some(crc32c::crc32c(&b[..60])) {
            return Err("metadata checksum mismatch".into());
        }
        let mut id = [0u8; 16];
        id.copy_from_slice(&b[24..40]);
        let flow = |v: u8| FlowType::from_wire(v).ok_or(format!("invalid flow type {v}"));
        Ok(SessionMeta {
            session_id: SessionId(id),
            outbound_flow: flow(b[40])?,
            inbound_flow: flow(b[41])?,
            generation: read_u64(b, 16).unwrap_or(0),
        })
    }
}

/// Reads and verifies a generation's metadata file.
pub fn read_meta(generation_dir: &Path) -> Result<SessionMeta, JournalError> {
    let path = generation_dir.join(META_FILE);
    let bytes = std::fs::read(&path).map_err(|source| JournalError::Io {
        path: path.clone(),
        source,
    })?;
    SessionMeta::decode(&bytes).map_err(|reason| JournalError::Meta { path, reason })
}

/// The generation directories under a session's journal root, oldest first.
pub fn list_generations(root: &Path) -> Result<Vec<(u64, PathBuf)>, JournalError> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(root) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(source) => {
            return Err(JournalError::Io {
                path: root.to_path_buf(),
                source,
            })
        }
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(n) = name
            .to_str()
            .and_then(|s| s.strip_prefix("gen-"))
            .and_then(|s| s.parse::<u64>().ok())
        else {
            continue;
        };
        out.push((n, entry.path()));
    }
    out.sort();
    Ok(out)
}

/// One generation: the journals of one SessionId.
pub struct Generation {
    /// The session this generation belongs to.
    pub meta: SessionMeta,
    /// The generation's directory.
    pub dir: PathBuf,
    /// The outbound journal; implements [`crate::session::RetransmitStore`].
    pub outbound: Journal,
    /// The inbound journal.
    pub inbound: Journal,
    /// Whether the session was finalized (a `finalized` marker file in `dir`), read at open.
    finalized: bool,
}

/// The marker file of a finalized generation.
const GENERATION_FINALIZED_MARKER: &str = "finalized";

impl Generation {
    fn open(dir: PathBuf, meta: SessionMeta, config: &JournalConfig) -> Result<Self, JournalError> {
        let outbound = Journal::open(&dir.join("out"), Direction::Outbound, config.outbound)?;
        let inbound = Journal::open(&dir.join("in"), Direction::Inbound, config.inbound)?;
        let finalized = dir.join(GENERATION_FINALIZED_MARKER).exists();
        Ok(Generation {
            meta,
            dir,
            outbound,
            inbound,
            finalized,
        })
    }

    /// Whether this generation's session was finalized: its SessionId must never be resumed.
    /// Read from memory (the marker is read once, at open).
    pub fn is_finalized(&self) -> bool {
        self.finalized
    }

    /// Marks this generation finalized: writes the marker file (once) and remembers it.
    pub fn mark_finalized(&mut self) -> std::io::Result<()> {
        if !self.finalized {
            std::fs::write(self.dir.join(GENERATION_FINALIZED_MARKER), b"")?;
            self.finalized = true;
        }
        Ok(())
    }
}

/// A session's journal root, held by its only writer.
///
/// ```text
/// <root>/LOCK                       writer lock (flock), never held by readers
/// <root>/gen-00000001/meta          SessionMeta, 64 bytes, crc32c
/// <root>/gen-00000001/out/seg-*.log outbound ring
/// <root>/gen-00000001/in/seg-*.log  inbound ring
/// ```
pub struct SessionJournal {
    root: PathBuf,
    config: JournalConfig,
    current: Option<Generation>,
    flusher: Option<Flusher>,
    _lock: File,
}

impl SessionJournal {
    /// Takes the writer lock of `root` (refused with [`JournalError::Locked`] if another writer
    /// holds it) and recovers the newest generation, if any.
    pub fn open(root: &Path, config: JournalConfig) -> Result<Self, JournalError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| JournalError::Io { path, source }
        };
        std::fs::create_dir_all(root).map_err(io(root))?;
        let lock = super::lock_dir(root)?;
        let mut journal = SessionJournal {
            root: root.to_path_buf(),
            config,
            current: None,
            flusher: None,
            _lock: lock,
        };
        let newest = list_generations(root)?
            .into_iter()
            .rev()
            .find_map(|(n, dir)| {
                read_meta(&dir)
                    .ok()
                    .filter(|m| m.generation == n)
                    .map(|m| (m, dir))
            });
        if let Some((meta, dir)) = newest {
            journal.current = Some(Generation::open(dir, meta, &config)?);
            journal.start_flusher()?;
        }
        Ok(journal)
    }

    /// The journal root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The current generation, if a session was ever started here.
    pub fn generation(&self) -> Option<&Generation> {
        self.current.as_ref()
    }

    /// The current generation, for appending.
    pub fn generation_mut(&mut self) -> Option<&mut Generation> {
        self.current.as_mut()
    }

    /// The current session's metadata.
    pub fn session(&self) -> Option<SessionMeta> {
        self.current.as_ref().map(|g| g.meta)
    }

    /// The next outbound sequence number to send (last journaled + 1).
    pub fn next_outbound_seq(&self) -> Option<u64> {
        self.current.as_ref().map(|g| g.outbound.next_seq())
    }

    /// The next inbound sequence number expected (last journaled + 1).
    pub fn next_inbound_seq(&self) -> Option<u64> {
        self.current.as_ref().map(|g| g.inbound.next_seq())
    }

    /// The outbound and inbound sequence numbers known to be on stable storage (flusher only).
    pub fn durable_seqs(&self) -> Option<(u64, u64)> {
        self.flusher
            .as_ref()
            .map(|f| (f.durable_seq(0), f.durable_seq(1)))
    }

    /// How many flusher rounds failed to sync (the durable numbers did not advance in them).
    pub fn flush_errors(&self) -> u64 {
        self.flusher.as_ref().map_or(0, |f| f.errors())
    }

    /// Starts a new generation for a new SessionId: a new directory with its metadata file
    /// (written and synced before any record), fresh journals, and generations beyond
    /// `keep_generations` deleted.
    pub fn start_generation(
        &mut self,
        session_id: SessionId,
        outbound_flow: FlowType,
        inbound_flow: FlowType,
    ) -> Result<&mut Generation, JournalError> {
        self.flusher = None;
        self.current = None;
        let gens = list_generations(&self.root)?;
        let number = gens.last().map_or(1, |g| g.0 + 1);
        let dir = self.root.join(format!("gen-{number:08}"));
        let meta = SessionMeta {
            session_id,
            outbound_flow,
            inbound_flow,
            generation: number,
        };
        write_meta(&dir, &meta)?;
        self.current = Some(Generation::open(dir, meta, &self.config)?);
        self.prune()?;
        self.start_flusher()?;
        self.current.as_mut().ok_or(JournalError::Inconsistent {
            path: self.root.clone(),
            reason: "generation vanished".into(),
        })
    }

    fn prune(&self) -> Result<(), JournalError> {
        let gens = list_generations(&self.root)?;
        let keep = self.config.keep_generations.max(1);
        let excess = gens.len().saturating_sub(keep);
        for (_, dir) in gens.into_iter().take(excess) {
            std::fs::remove_dir_all(&dir)
                .map_err(|source| JournalError::Io { path: dir, source })?;
        }
        Ok(())
    }

    fn start_flusher(&mut self) -> Result<(), JournalError> {
        if let (Some(interval), Some(g)) = (self.config.flush_interval, &self.current) {
            let f = Flusher::spawn(&[&g.outbound, &g.inbound], interval).map_err(|source| {
                JournalError::Io {
                    path: g.dir.clone(),
                    source,
                }
            })?;
            self.flusher = Some(f);
        }
        Ok(())
    }
}

fn write_meta(dir: &Path, meta: &SessionMeta) -> Result<(), JournalError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| JournalError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let tmp = dir.join("meta.tmp");
    let mut f = File::create(&tmp).map_err(io(&tmp))?;
    f.write_all(&meta.encode()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    let path = dir.join(META_FILE);
    std::fs::rename(&tmp, &path).map_err(io(&path))?;
    File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}
