//! The JSON scanner (`codec::json::primitives`, behind `JsonEncoding` and `CongaMessage`)
//! accepts exactly the JSON that serde_json accepts: random and mutated documents are checked
//! against serde_json as the oracle, and the nesting limit is the same.

use fixp_ws::codec::conga::CongaMessage;
use fixp_ws::codec::json::JsonEncoding;
use fixp_ws::codec::{DecodeError, Encoding, FrameKind, Inbound};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use serde_json::Value;

mod json_support;

/// What serde_json says of a frame: `Some(true)` a JSON object, `Some(false)` anything else,
/// `None` when it refuses only a number out of `f64` range (valid JSON grammar, which we
/// accept in members we skip).
fn oracle(frame: &[u8]) -> Option<bool> {
    match serde_json::from_slice::<Value>(frame) {
        Ok(value) => Some(value.is_object()),
        Err(e) if e.to_string().contains("number out of range") => None,
        Err(_) => Some(false),
    }
}

/// Our verdict: an object that is not a FIXP message is an application message.
fn ours(frame: &[u8]) -> bool {
    let mut json = JsonEncoding::new();
    match json.decode(frame, FrameKind::Text) {
        Ok(Inbound::Application(_)) => true,
        Ok(Inbound::Fixp(_)) => panic!("no FIXP @type was generated"),
        Err(DecodeError::InvalidJson | DecodeError::TrailingBytes { .. }) => false,
        Err(other) => panic!("a syntax check gave {other:?}"),
    }
}

/// A random JSON value with strings and keys that need escapes and non-ASCII text.
fn json_value() -> impl Strategy<Value = Value> {
    json_support::json_value(
        "[a-z\"\\\\/\u{0}-\u{1f}é€😀 ]{0,12}",
        "[a-z@\"\\\\é]{0,4}",
        4,
    )
}

/// Bytes that matter to JSON syntax, for mutations.
const SYNTAX_BYTES: &[u8] =
    b"{}[]\":,;.-+eE019x \t\n\r\\untrfalse/\x00\x1f\x7f\x80\xbf\xc3\xe2\xf0\xff";

#[derive(Clone, Debug)]
enum Mutation {
    Replace(usize, u8),
    Insert(usize, u8),
    Delete(usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let byte = prop_oneof![prop::sample::select(SYNTAX_BYTES), any::<u8>()];
    prop_oneof![
        (any::<usize>(), byte.clone()).prop_map(|(at, b)| Mutation::Replace(at, b)),
        (any::<usize>(), byte).prop_map(|(at, b)| Mutation::Insert(at, b)),
        any::<usize>().prop_map(Mutation::Delete),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn apply(frame: &mut Vec<u8>, m: &Mutation) {
    let n = frame.len().max(1);
    match *m {
        Mutation::Replace(at, b) => {
            if let Some(slot) = frame.get_mut(at % n) {
                *slot = b;
            }
        }
        Mutation::Insert(at, b) => frame.insert(at % (frame.len() + 1), b),
        Mutation::Delete(at) => {
            if !frame.is_empty() {
                frame.remove(at % n);
            }
        }
        Mutation::Truncate(at) => frame.truncate(at % (frame.len() + 1)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, rng_seed: RngSeed::Fixed(111), ..ProptestConfig::default() })]

    #[test]
    fn valid_documents_are_accepted(value in json_value(), pretty in any::<bool>()) {
        let inner = if pretty {
            serde_json::to_vec_pretty(&value).unwrap()
        } else {
            serde_json::to_vec(&value).unwrap()
        };
        let mut frame = b"{\"x\":".to_vec();
        frame.extend_from_slice(&inner);
        frame.extend_from_slice(b"} \n");
        prop_assert_eq!(oracle(&frame), Some(true));
        prop_assert!(ours(&frame), "refused {}", String::from_utf8_lossy(&frame));
    }

    #[test]
    fn mutated_documents_agree_with_serde_json(
        value in json_value(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let mut frame = b"{\"x\":".to_vec();
        frame.extend_from_slice(&serde_json::to_vec(&value).unwrap());
        frame.push(b'}');
        for m in &mutations {
            apply(&mut frame, m);
        }
        if let Some(expected) = oracle(&frame) {
            prop_assert_eq!(
                ours(&frame),
                expected,
                "{:?}",
                String::from_utf8_lossy(&frame)
            );
        }
    }

    #[test]
    fn order_decoding_agrees_on_syntax(
        value in json_value(),
        mutations in prop::collection::vec(mutation(), 0..3),
    ) {
        let mut frame = br#"{"clOrdId":"C1","orderQty":3,"ordType":"Limit","price":73.45,"side":"Buy","symbol":"S1","transactTime":"2018-06-01T14:30:00.123456789Z","extra":"#.to_vec();
        frame.extend_from_slice(&serde_json::to_vec(&value).unwrap());
        frame.extend_from_slice(br#","@type":"NewOrderSingle"}"#);
        for m in &mutations {
            apply(&mut frame, m);
        }
        if let Some(valid) = oracle(&frame) {
            let decoded = CongaMessage::decode_json(&frame);
            let syntax_error = matches!(
                decoded,
                Err(DecodeError::InvalidJson | DecodeError::TrailingBytes { .. })
            );
            // Valid JSON may still be a bad order (a mutated field), but never a syntax error;
            // invalid JSON is always one.
            prop_assert_eq!(syntax_error, !valid, "{:?}", String::from_utf8_lossy(&frame));
        }
    }
}

#[test]
fn nesting_limit_matches_serde_json() {
    // The top-level object counts as one level, as in serde_json.
    for depth in [100, 126, 127, 128, 200] {
        let frame = format!("{{\"x\":{}{}}}", "[".repeat(depth), "]".repeat(depth));
        assert_eq!(
            Some(ours(frame.as_bytes())),
            oracle(frame.as_bytes()),
            "depth {depth}"
        );
        let objects = format!(
            "{{\"x\":{}1{}}}",
            "{\"a\":".repeat(depth),
            "}".repeat(depth)
        );
        assert_eq!(
            Some(ours(objects.as_bytes())),
            oracle(objects.as_bytes()),
            "object depth {depth}"
        );
    }
}

#[test]
fn syntax_corner_cases_agree_with_serde_json() {
    for inner in [
        "0",
        "-0",
        "-0.0e+0",
        "1E400",
        "01",
        "1.",
        ".1",
        "-",
        "1e",
        "1e+",
        "true",
        "tru",
        "nul",
        "\"\\u00e9\"",
        "\"\\uD83D\\uDE00\"",
        "\"\\uD83D\"",
        "\"\\uDE00\"",
        "\"\\uD83Dx\"",
        "\"\\uD83D\\n\"",
        "\"\\x\"",
        "\"\u{7f}\"",
        "[1,]",
        "[,1]",
        "{\"a\"}",
        "{\"a\":1,}",
        "[1 2]",
        "{\"a\" 1}",
        "\"\\/\"",
        "[[[]]]",
        "{\"\":{}}",
        " [ 1 , { \"b\" : [ ] } ] ",
    ] {
        let frame = format!("{{\"x\":{inner}}}");
        if let Some(expected) = oracle(frame.as_bytes()) {
            assert_eq!(ours(frame.as_bytes()), expected, "{frame}");
        }
    }
    for bad in [
        &b"{\"x\":\"\xff\"}"[..],
        b"{\"x\":\"\xc3\"}",
        b"{\"x\":\"\xed\xa0\x80\"}",
    ] {
        assert_eq!(oracle(bad), Some(false));
        assert!(!ours(bad));
    }
}
