//! CPU cores for pinning. Read the list once, in `main`, before pinning anything: a thread
//! spawned from a pinned thread inherits its one-CPU mask, and `core_affinity::get_core_ids`
//! called there sees only that one core.
//!
//! Owns: the core list and pinning. May not touch: anything the pinned thread runs.

use core_affinity::CoreId;

/// Pinning failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PinError {
    /// The OS reported no cores (or the platform is unsupported).
    #[error("no CPU cores reported by the OS")]
    NoCores,
    /// The requested index is past the end of the list.
    #[error("core index {index} out of range ({available} cores)")]
    OutOfRange {
        /// The index asked for.
        index: usize,
        /// Cores in the list.
        available: usize,
    },
    /// The OS refused the affinity change.
    #[error("could not pin to core {core}")]
    Refused {
        /// The core id.
        core: usize,
    },
}

/// The cores this process may run on, read once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoreList {
    ids: Vec<usize>,
}

impl CoreList {
    /// Reads the current thread's allowed cores. Call before any thread is pinned.
    pub fn detect() -> Result<Self, PinError> {
        let ids: Vec<usize> = core_affinity::get_core_ids()
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.id)
            .collect();
        if ids.is_empty() {
            return Err(PinError::NoCores);
        }
        Ok(Self { ids })
    }

    /// A list from known core ids (tests, configuration).
    pub fn from_ids(ids: Vec<usize>) -> Result<Self, PinError> {
        if ids.is_empty() {
            return Err(PinError::NoCores);
        }
        Ok(Self { ids })
    }

    /// The core ids.
    pub fn ids(&self) -> &[usize] {
        &self.ids
    }

    /// The core id at `index`.
    pub fn get(&self, index: usize) -> Result<usize, PinError> {
        self.ids.get(index).copied().ok_or(PinError::OutOfRange {
            index,
            available: self.ids.len(),
        })
    }

    /// Pins the calling thread to the core at `index`; returns the core id.
    pub fn pin_current(&self, index: usize) -> Result<usize, PinError> {
        let core = self.get(index)?;
        if core_affinity::set_for_current(CoreId { id: core }) {
            Ok(core)
        } else {
            Err(PinError::Refused { core })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_are_checked() {
        let list = CoreList::from_ids(vec![2, 5]).expect("non-empty");
        assert_eq!(list.get(1), Ok(5));
        assert_eq!(
            list.get(2),
            Err(PinError::OutOfRange {
                index: 2,
                available: 2
            })
        );
        assert_eq!(CoreList::from_ids(Vec::new()), Err(PinError::NoCores));
    }

    #[test]
    fn a_thread_pinned_from_the_detected_list_sees_one_core() {
        let list = CoreList::detect().expect("cores");
        let last = list.ids().len() - 1;
        let expected = list.get(last).expect("in range");
        let seen = std::thread::spawn(move || {
            let pinned = list.pin_current(last).expect("pin");
            (pinned, CoreList::detect().map(|l| l.ids().to_vec()))
        })
        .join()
        .expect("thread");
        assert_eq!(seen.0, expected);
        // The pitfall this type exists for: after pinning, only one core is visible.
        assert_eq!(seen.1, Ok(vec![expected]));
    }
}
