//! Criterion benchmarks (journal): placeholder until the layer lands.
fn main() {}
