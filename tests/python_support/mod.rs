//! The Python interpreter for the foreign-client tests: `FIXP_WS_PYTHON`, set by
//! `tools/test.sh` from a venv it makes.

/// The interpreter, or `None` (with a skip note) when `FIXP_WS_PYTHON` is unset; unset with
/// `CI` set is a failure.
pub fn python() -> Option<String> {
    match std::env::var("FIXP_WS_PYTHON") {
        Ok(p) if !p.is_empty() => Some(p),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "FIXP_WS_PYTHON is not set (tools/test.sh sets it) and CI is set"
            );
            eprintln!("skipped: FIXP_WS_PYTHON is not set; run tools/test.sh to include this test");
            None
        }
    }
}
