//! Journal glue: restoring journaled acceptor sessions at start, starting a journal generation
//! when a session is (re-)established, recording delivered inbound messages (so a restart
//! knows the next number to expect) and marking finalized sessions (acceptor session roots and
//! initiator generations), so that a restart never resumes a finalized SessionId.
//!
//! Owns: the mapping between engine sessions and their journal directories. May not touch:
//! the journal's format (the journal layer) or the session rules (the session layer).

use std::path::Path;

use crate::codec::fixp::FlowType;
use crate::codec::sofh;
use crate::codec::SessionId;
use crate::engine::config::{EngineError, JournalSetup};
use crate::engine::sessions::{EngineAcceptor, EngineSession};
use crate::engine::store::EngineStore;
use crate::engine::wire::EngineEncoding;
use crate::journal::SessionJournal;
use crate::session::SessionState;
use crate::transport::WireEncoding;

/// The marker file of a finalized acceptor session journal.
const FINALIZED_MARKER: &str = "finalized";

/// Marks the journal of acceptor session `id` finalized (once; a failure only means a restart
/// restores it and the client's Establish sees it finalize again).
pub(crate) fn mark_finalized(root: &Path, id: SessionId) {
    let marker = root.join(id.to_string()).join(FINALIZED_MARKER);
    if !marker.exists() {
        let _ = std::fs::write(&marker, b"");
    }
}

/// Marks the current generation of an initiator's journal finalized, so that a restarted engine
/// negotiates its configured SessionId instead of resuming the dead one (once; a failure only
/// means a restart resumes it, is refused `Unnegotiated` and negotiates a fresh id).
pub(crate) fn mark_generation_finalized(store: &mut EngineStore) {
    if let EngineStore::Journal(journal) = store {
        if let Some(generation) = journal.generation_mut() {
            let _ = generation.mark_finalized();
        }
    }
}

/// Whether the current generation of `journal` was marked finalized (from memory: no file
/// system access, so it may be asked on the hot path).
pub(crate) fn generation_finalized(journal: &SessionJournal) -> bool {
    journal.generation().is_some_and(|g| g.is_finalized())
}

/// Restores every acceptor session journaled under `setup.dir`: live ones as negotiated,
/// unbound sessions, finalized ones into the finalized history.
pub(crate) fn restore_acceptor_sessions(
    acceptor: &mut EngineAcceptor,
    setup: &JournalSetup,
    encoding: WireEncoding,
) -> Result<(), EngineError> {
    let mut dirs: Vec<std::path::PathBuf> = std::fs::read_dir(&setup.dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    for dir in dirs {
        let journal = SessionJournal::open(&dir, setup.config)?;
        let Some(meta) = journal.session() else {
            continue;
        };
        if dir.join(FINALIZED_MARKER).exists() {
            acceptor.restore_finalized(meta.session_id);
            continue;
        }
        let next_out = journal.next_outbound_seq().unwrap_or(1);
        let next_in = journal.next_inbound_seq().unwrap_or(1);
        acceptor
            .restore(
                meta.session_id,
                meta.inbound_flow,
                next_out,
                next_in,
                EngineEncoding::fixed(encoding),
                EngineStore::Journal(Box::new(journal)),
            )
            .map_err(EngineError::Restore)?;
    }
    Ok(())
}

/// Starts the journal generation of a just-established session that has none yet.
pub(crate) fn ensure_generation(session: &mut EngineSession) {
    if !matches!(session.store(), EngineStore::Journal(_))
        || session.state() != SessionState::Established
    {
        return;
    }
    let status = session.status();
    if let EngineStore::Journal(journal) = session.store_mut() {
        if journal.session().map(|m| m.session_id) != Some(status.session_id)
            || generation_finalized(journal)
        {
            let inbound = status.inbound_flow.unwrap_or(FlowType::Recoverable);
            // On failure sends are refused with a store error the strategy sees.
            let _ = journal.start_generation(status.session_id, status.outbound_flow, inbound);
        }
    }
}

/// Records a delivered inbound message in the session's journal (if it has one), so that a
/// restart knows the next number to expect.
pub(crate) fn journal_inbound(
    session: &mut EngineSession,
    seq: u64,
    recv_ns: u64,
    bytes: &[u8],
    encoding: WireEncoding,
) {
    if seq == 0 {
        return;
    }
    if let EngineStore::Journal(journal) = session.store_mut() {
        if let Some(generation) = journal.generation_mut() {
            let code = match encoding {
                WireEncoding::Sbe => sofh::SBE_LITTLE_ENDIAN,
                WireEncoding::Json => sofh::JSON,
            };
            // Numbers only grow (duplicates are dropped before delivery); a refused record
            // only means a restart would ask for it again.
            let _ = generation
                .inbound
                .append_after_gap(seq, recv_ns, code, bytes);
        }
    }
}
