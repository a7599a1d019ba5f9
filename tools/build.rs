//! Generates the SBE flyweights of the venue's application schema (`schemas/venue-sbe-schema.xml`,
//! schema id 101) into OUT_DIR; `venue::sbe` includes them.

use std::path::Path;

fn main() {
    let schema = "schemas/venue-sbe-schema.xml";
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed={schema}");
    let source = fixp_sbe_codegen::Generator::from_file(schema)
        .and_then(|g| g.runtime_path("::fixp_ws::codec::sbe").generate())
        .unwrap_or_else(|e| panic!("{schema}: {e}"));
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo");
    let out = Path::new(&out_dir).join("sbe_venue.rs");
    std::fs::write(&out, source).unwrap_or_else(|e| panic!("{}: {e}", out.display()));
}
