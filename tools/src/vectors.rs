//! `fixp-vectors`: decodes and prints every SBE reference vector under
//! `data/sbe-conformance/` with named fields: the 19 FIXP messages, the fix-sbe-conformance
//! messages (with the schema each is meant to be read with), real-logic's Car (baseline and the v0
//! file read by the v1 extension decoder) and the SBE 1.0 specification's SOFH-framed examples.
//!
//! Usage: `fixp-vectors [DATA_DIR]` (default: the project's `data/sbe-conformance`). Exits with
//! status 1 if any vector fails to decode.

use fixp_ws::codec::sbe::fixp;
use fixp_ws::codec::sbe::reference::{
    car, car_extension, conformance1, conformance2, conformance3, examples,
};
use fixp_ws::codec::sofh::Sofh;
use fixp_ws::codec::DecodeError;
use std::fmt::Display;
use std::path::{Path, PathBuf};

fn print<T: Display>(label: &str, result: Result<T, DecodeError>, failures: &mut usize) {
    match result {
        Ok(m) => println!("{label}\n    {m}"),
        Err(e) => {
            *failures += 1;
            println!("{label}\n    ERROR: {e}");
        }
    }
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.retain(|p| p.to_string_lossy().ends_with(ext));
    v.sort();
    v
}

fn name(p: &Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn read(p: &Path, failures: &mut usize) -> Option<Vec<u8>> {
    match std::fs::read(p) {
        Ok(b) => Some(b),
        Err(e) => {
            *failures += 1;
            println!("{}: cannot read: {e}", p.display());
            None
        }
    }
}

fn main() {
    let data = std::env::args_os().nth(1).map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/sbe-conformance"),
        PathBuf::from,
    );
    let mut failures = 0usize;
    let mut count = 0usize;

    println!("== FIXP 1.1 session messages (schema 2748) ==");
    for p in files(&data.join("rl-generated-vectors/fixp"), ".bin") {
        let Some(b) = read(&p, &mut failures) else {
            continue;
        };
        count += 1;
        print(&name(&p), fixp::Message::decode(&b), &mut failures);
    }

    println!("\n== fix-sbe-conformance (schema id 1) ==");
    for p in files(&data.join("rl-generated-vectors/conformance"), ".bin") {
        let Some(b) = read(&p, &mut failures) else {
            continue;
        };
        count += 1;
        let n = name(&p);
        // Read each file with the schema its test plan reads it with.
        if n.starts_with("test1") {
            print(
                &format!("{n} (read with schema1)"),
                conformance1::Message::decode(&b),
                &mut failures,
            );
        } else if n.starts_with("test2_inject") {
            print(
                &format!("{n} (read with schema1: ignores MinQty)"),
                conformance1::Message::decode(&b),
                &mut failures,
            );
            print(
                &format!("{n} (read with schema2)"),
                conformance2::Message::decode(&b),
                &mut failures,
            );
        } else if n.starts_with("test2") {
            print(
                &format!("{n} (read with schema2: SecurityID absent)"),
                conformance2::Message::decode(&b),
                &mut failures,
            );
        } else {
            print(
                &format!("{n} (read with schema3)"),
                conformance3::Message::decode(&b),
                &mut failures,
            );
        }
    }

    println!("\n== real-logic Car (schema id 1) ==");
    let car_dir = data.join("real-logic-car");
    if let Some(b) = read(
        &car_dir.join("car_example_baseline_data.sbe"),
        &mut failures,
    ) {
        count += 1;
        print(
            "car_example_baseline_data.sbe (baseline schema)",
            car::Message::decode(&b),
            &mut failures,
        );
    }
    if let Some(b) = read(
        &car_dir.join("car_example_extension_data.sbe"),
        &mut failures,
    ) {
        count += 1;
        print(
            "car_example_extension_data.sbe (v0 message, v1 extension schema: uuid and cupHolderCount null)",
            car_extension::Message::decode(&b),
            &mut failures,
        );
    }

    println!("\n== SBE 1.0 specification examples (SOFH-framed, schema 91) ==");
    for p in files(&data.join("spec-examples/v1.0"), ".sofh.bin") {
        let Some(b) = read(&p, &mut failures) else {
            continue;
        };
        count += 1;
        match Sofh::split(&b) {
            Ok((sofh, body, _)) => print(
                &format!(
                    "{} (SOFH length {}, encoding {:#06x})",
                    name(&p),
                    sofh.message_length,
                    sofh.encoding_type
                ),
                examples::Message::decode(body),
                &mut failures,
            ),
            Err(e) => {
                failures += 1;
                println!("{}\n    ERROR: {e}", name(&p));
            }
        }
    }

    println!("\n{count} vectors, {failures} failures");
    if failures > 0 || count == 0 {
        std::process::exit(1);
    }
}
