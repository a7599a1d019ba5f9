//! Fuzzes every generated SBE decoder: the FIXP and Conga schemas and the reference schemas
//! (conformance suite, Car, the SBE spec's examples). The first byte picks the schema; the
//! header's schema id is set to that schema's so that every input reaches its templates.
//! Decoding must never panic, a decoded message must end inside the input, and walking every
//! field (`Display`) must not panic either. Conga messages must also survive
//! `CongaMessage::decode_sbe` → `encode_sbe` → `decode_sbe` unchanged.
//!
//! To add a schema: generate it in `build.rs` and add its module to `schemas!` below.
#![no_main]

use fixp_ws::codec::conga::CongaMessage;
use fixp_ws::codec::sbe::{conga, fixp, reference};
use libfuzzer_sys::fuzz_target;

/// Runs one schema module's decoder over `frame` with the header's schema id forced to it.
macro_rules! decode_with {
    ($module:path, $frame:expr) => {{
        use $module as schema;
        let mut frame = $frame.to_vec();
        if let Some(id) = frame.get_mut(4..6) {
            id.copy_from_slice(&schema::SCHEMA_ID.to_le_bytes());
        }
        if let Ok(header) = schema::read_header(&frame) {
            if let Ok(message) = schema::Message::decode_with_header(&frame, header) {
                assert!(
                    message.sbe_end() <= frame.len(),
                    "message ends past the frame"
                );
                let _ = message.name();
                let _ = message.to_string();
            }
        }
    }};
}

macro_rules! schemas {
    ($selector:expr, $frame:expr, [$($module:path),+ $(,)?]) => {{
        let modules: &[fn(&[u8])] = &[$(|f| decode_with!($module, f)),+];
        if let Some(run) = modules.get(usize::from($selector) % modules.len()) {
            run($frame);
        }
    }};
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    schemas!(
        selector,
        frame,
        [
            fixp,
            conga,
            reference::conformance1,
            reference::conformance2,
            reference::conformance3,
            reference::car,
            reference::car_extension,
            reference::examples,
        ]
    );
    // The Conga model over SBE: what decodes re-encodes to the same message.
    if let Ok(message) = CongaMessage::decode_sbe(frame) {
        let mut out = [0u8; 4096];
        let n = message
            .encode_sbe(&mut out)
            .expect("a decoded Conga message re-encodes");
        let again = CongaMessage::decode_sbe(&out[..n]).expect("re-encoded bytes decode");
        assert_eq!(again, message);
    }
});
