//! SBE 1.0 schema → Rust flyweight generator (placeholder until the codec lands).
