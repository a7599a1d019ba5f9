//! The JSON encoding, wire-compatible with Conga: placeholder.
