//! Criterion benchmarks (session): placeholder until the layer lands.
fn main() {}
