//! The journal: a crash-consistent, memory-mapped retransmit ring with a sequence index.
