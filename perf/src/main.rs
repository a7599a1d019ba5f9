fn main() {
    println!("fixp-perf: harness not built yet");
}
