//! Generates the SBE flyweights into OUT_DIR: the FIXP and Conga schemas (part of the library)
//! and the test schemas (included by the integration tests).

use std::path::Path;

fn generate(out_dir: &Path, schema: &str, out: &str, runtime: &str, renames: &[(&str, &str)]) {
    println!("cargo:rerun-if-changed={schema}");
    let mut generator = fixp_sbe_codegen::Generator::from_file(schema)
        .unwrap_or_else(|e| panic!("{schema}: {e}"))
        .runtime_path(runtime);
    for (from, to) in renames {
        generator = generator.rename_message(from, to);
    }
    let source = generator
        .generate()
        .unwrap_or_else(|e| panic!("{schema}: {e}"));
    std::fs::write(out_dir.join(out), source).unwrap_or_else(|e| panic!("{out}: {e}"));
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let out_dir = std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo");
    let out_dir = Path::new(&out_dir);
    let lib = "crate::codec::sbe";
    let ext = "::fixp_ws::codec::sbe";
    generate(
        out_dir,
        "data/spec/fixp/SBEschemaForFIXP-v1.1.xml",
        "sbe_fixp.rs",
        lib,
        // The schema misspells template 13; the wire id stays 13.
        &[("RestransmitReject", "RetransmitReject")],
    );
    generate(
        out_dir,
        "data/spec/conga/orders-sbe-schema.xml",
        "sbe_conga.rs",
        lib,
        &[],
    );
    let c = "data/sbe-conformance";
    for (schema, out) in [
        ("fix-sbe-conformance/schema1.xml", "sbe_conformance1.rs"),
        ("fix-sbe-conformance/schema2.xml", "sbe_conformance2.rs"),
        ("fix-sbe-conformance/schema3.xml", "sbe_conformance3.rs"),
        ("real-logic-car/example-schema.xml", "sbe_car.rs"),
        (
            "real-logic-car/example-extension-schema.xml",
            "sbe_car_extension.rs",
        ),
        ("spec-examples/v1.0/Examples.xml", "sbe_examples.rs"),
    ] {
        generate(out_dir, &format!("{c}/{schema}"), out, ext, &[]);
    }
    println!("cargo:rerun-if-changed={c}/real-logic-car/common-types.xml");
}
