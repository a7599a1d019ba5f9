//! Fuzzes the JSON decoders: `JsonEncoding::decode` (FIXP session messages and the frame
//! kind rules) and `CongaMessage::decode_json` (Conga's order messages). Nothing may panic;
//! whatever decodes must re-encode, and the re-encoded JSON must decode to the same message.
#![no_main]

use fixp_ws::codec::conga::CongaMessage;
use fixp_ws::codec::json::JsonEncoding;
use fixp_ws::codec::{Encoding, FrameKind, Inbound};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, frame)) = data.split_first() else {
        return;
    };
    let kind = if selector & 1 == 0 {
        FrameKind::Text
    } else {
        FrameKind::Binary
    };
    let mut json = JsonEncoding::new();
    if let Ok(Inbound::Fixp(message)) = json.decode(frame, kind) {
        let mut out = vec![0u8; 64 * 1024];
        let n = JsonEncoding::new()
            .encode(&message, &mut out)
            .expect("a decoded message re-encodes");
        let mut again = JsonEncoding::new();
        let decoded = again
            .decode(&out[..n], FrameKind::Text)
            .expect("re-encoded JSON decodes");
        assert_eq!(decoded, Inbound::Fixp(message));
    }
    if let Ok(message) = CongaMessage::decode_json(frame) {
        let mut out = [0u8; 8192];
        let n = message
            .encode_json(&mut out)
            .expect("a decoded Conga message re-encodes");
        let again = CongaMessage::decode_json(&out[..n]).expect("re-encoded JSON decodes");
        assert_eq!(again, message);
    }
});
