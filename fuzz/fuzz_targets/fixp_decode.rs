//! Fuzzes the FIXP SBE decoders: `SbeEncoding::decode` and the generated flyweights must never
//! panic, and whatever decodes must re-encode and decode to the same message.
#![no_main]

use fixp_ws::codec::sbe::{fixp, SbeEncoding};
use fixp_ws::codec::{Encoding, FrameKind, Inbound};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = fixp::Message::decode(data).map(|m| m.to_string());
    let mut sbe = SbeEncoding::new();
    if let Ok(Inbound::Fixp(msg)) = sbe.decode(data, FrameKind::Binary) {
        let mut out = vec![0u8; data.len() + 64];
        let n = SbeEncoding::new()
            .encode(&msg, &mut out)
            .expect("a decoded message re-encodes");
        let again = SbeEncoding::decode_frame(&out[..n]).expect("re-encoded bytes decode");
        assert_eq!(again, Inbound::Fixp(msg));
    }
});
