//! Criterion benchmarks (codec): placeholder until the layer lands.
fn main() {}
