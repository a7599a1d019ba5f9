//! The optional flusher thread: `fdatasync` of the journal files, off the appending thread.
//!
//! It never touches the writer's mappings: it holds its own duplicated file handles and syncs
//! through them (on Linux `fdatasync` writes back pages dirtied through a shared mapping of the
//! same file). The writer publishes its last appended sequence number with a Release store; the
//! flusher reads it *before* syncing, so after a successful sync everything up to that number is
//! on stable storage, and it publishes that as the durable number.

use std::fs::File;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::Journal;

struct Source {
    published: Arc<AtomicU64>,
    files: Vec<File>,
    durable: Arc<AtomicU64>,
}

/// A background thread that syncs journals at a fixed interval; stopped (after a last sync)
/// when dropped.
pub struct Flusher {
    stop: Arc<AtomicBool>,
    durable: Vec<Arc<AtomicU64>>,
    errors: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl Flusher {
    /// Starts syncing `journals` every `interval`.
    pub fn spawn(journals: &[&Journal], interval: Duration) -> std::io::Result<Flusher> {
        let mut sources = Vec::with_capacity(journals.len());
        for j in journals {
            sources.push(Source {
                published: j.published_seq(),
                files: j.segment_files()?,
                durable: Arc::new(AtomicU64::new(0)),
            });
        }
        let durable = sources.iter().map(|s| Arc::clone(&s.durable)).collect();
        let stop = Arc::new(AtomicBool::new(false));
        let errors = Arc::new(AtomicU64::new(0));
        let (stop_t, errors_t) = (Arc::clone(&stop), Arc::clone(&errors));
        let thread = std::thread::Builder::new()
            .name("fixp-journal-flush".into())
            .spawn(move || loop {
                let stopping = stop_t.load(Ordering::Acquire);
                for s in &sources {
                    let seq = s.published.load(Ordering::Acquire);
                    if s.files.iter().all(|f| f.sync_data().is_ok()) {
                        s.durable.store(seq, Ordering::Release);
                    } else {
                        errors_t.fetch_add(1, Ordering::Relaxed);
                    }
                }
                if stopping {
                    return;
                }
                std::thread::park_timeout(interval);
            })?;
        Ok(Flusher {
            stop,
            durable,
            errors,
            thread: Some(thread),
        })
    }

    /// The last sequence number known to be on stable storage for journal `i` (in the order
    /// given to [`Flusher::spawn`]); 0 when none.
    pub fn durable_seq(&self, i: usize) -> u64 {
        self.durable.get(i).map_or(0, |d| d.load(Ordering::Acquire))
    }

    /// How many sync rounds failed (the durable numbers did not advance in them).
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }
}

impl Drop for Flusher {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.thread().unpark();
            let _ = t.join();
        }
    }
}
