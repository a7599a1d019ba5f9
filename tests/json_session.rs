//! The JSON encoding of FIXP session messages against Conga's examples, random round trips and
//! bad input.

use fixp_ws::codec::fixp::{
    EstablishmentRejectCode, FlowType, NegotiationRejectCode, RetransmitRejectCode, TerminationCode,
};
use fixp_ws::codec::json::JsonEncoding;
use fixp_ws::codec::{DecodeError, Encoding, FixpMessage, FrameKind, Inbound, SessionId};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use rand::seq::SliceRandom;
use rand::SeedableRng;
use serde_json::Value;
use std::path::PathBuf;

mod json_support;

const SID: SessionId = SessionId([
    0x3f, 0x2a, 0x8c, 0x1e, 0x5b, 0x7d, 0x4e, 0x21, 0x9a, 0x10, 0xc4, 0x6e, 0x01, 0x23, 0x45, 0x67,
]);
const SID_JSON: &str = "[63,42,-116,30,91,125,78,33,-102,16,-60,110,1,35,69,103]";

fn examples_dir(kind: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/spec/conga-json-examples")
        .join(kind)
}

fn read_example(kind: &str, name: &str) -> Vec<u8> {
    let path = examples_dir(kind).join(name);
    let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // The files end with a newline; trailing whitespace is valid JSON.
    text
}

/// The expected value of every session example.
fn expected(name: &str) -> FixpMessage<'static> {
    match name {
        "Negotiate.json" => FixpMessage::Negotiate {
            session_id: SID,
            timestamp: 1_700_000_000_123_456_789,
            client_flow: FlowType::Idempotent,
            credentials: &[],
        },
        "Negotiate-with-credentials.json" => FixpMessage::Negotiate {
            session_id: SID,
            timestamp: 1_700_000_000_123_456_789,
            client_flow: FlowType::Idempotent,
            credentials: b"alice",
        },
        "NegotiationResponse.json" => FixpMessage::NegotiationResponse {
            session_id: SID,
            request_timestamp: 1_700_000_000_123_456_789,
            server_flow: FlowType::Recoverable,
            credentials: &[],
        },
        "NegotiationReject.json" => FixpMessage::NegotiationReject {
            session_id: SID,
            request_timestamp: 1_700_000_000_123_456_789,
            code: NegotiationRejectCode::Credentials,
            reason: b"bad",
        },
        "Establish.json" => FixpMessage::Establish {
            session_id: SID,
            timestamp: 1_700_000_000_123_456_790,
            keepalive_interval: 2000,
            next_seq_no: Some(1),
            credentials: &[],
        },
        "EstablishmentAck.json" => FixpMessage::EstablishmentAck {
            session_id: SID,
            request_timestamp: 1_700_000_000_123_456_790,
            keepalive_interval: 2000,
            next_seq_no: Some(1),
        },
        "EstablishmentReject.json" => FixpMessage::EstablishmentReject {
            session_id: SID,
            request_timestamp: 1_700_000_000_123_456_790,
            code: EstablishmentRejectCode::Unnegotiated,
            reason: &[],
        },
        "Sequence.json" => FixpMessage::Sequence { next_seq_no: 42 },
        "RetransmitRequest.json" => FixpMessage::RetransmitRequest {
            session_id: SID,
            timestamp: 1_700_000_000_123_456_791,
            from_seq_no: 5,
            count: 3,
        },
        "Retransmission.json" => FixpMessage::Retransmission {
            session_id: SID,
            request_timestamp: 1_700_000_000_123_456_791,
            next_seq_no: 5,
            count: 3,
        },
        "NotApplied.json" => FixpMessage::NotApplied {
            from_seq_no: 2,
            count: 1,
        },
        "FinishedSending.json" => FixpMessage::FinishedSending {
            session_id: SID,
            last_seq_no: Some(7),
        },
        "FinishedReceiving.json" => FixpMessage::FinishedReceiving { session_id: SID },
        other => panic!("no expectation for example {other}"),
    }
}

fn decode_owned(enc: &mut JsonEncoding, frame: &[u8]) -> Result<String, DecodeError> {
    // Debug form: a comparable snapshot that does not borrow the encoding.
    enc.decode(frame, FrameKind::Text).map(|m| format!("{m:?}"))
}

fn encode_to_vec(msg: &FixpMessage<'_>) -> Vec<u8> {
    let mut enc = JsonEncoding::new();
    let mut out = vec![0u8; 1 << 17];
    let n = enc.encode(msg, &mut out).expect("encode");
    out.truncate(n);
    out
}

#[test]
fn every_session_example_decodes_reencodes_and_matches() {
    let mut names: Vec<String> = std::fs::read_dir(examples_dir("session"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names.len(), 13);
    let mut enc = JsonEncoding::new();
    for name in &names {
        let frame = read_example("session", name);
        let want = expected(name);
        let got = enc.decode(&frame, FrameKind::Text).expect(name);
        assert_eq!(got, Inbound::Fixp(want), "{name}");

        let encoded = encode_to_vec(&want);
        let back = enc.decode(&encoded, FrameKind::Text).expect(name);
        assert_eq!(back, Inbound::Fixp(want), "{name} round trip");

        // Every session example is in the form we emit, so the JSON values are equal.
        let original: Value = serde_json::from_slice(&frame).unwrap();
        let ours: Value = serde_json::from_slice(&encoded).unwrap();
        assert_eq!(
            ours,
            original,
            "{name}: {}",
            String::from_utf8_lossy(&encoded)
        );
    }
}

#[test]
fn session_id_is_the_documented_uuid() {
    let mut enc = JsonEncoding::new();
    let frame = read_example("session", "Negotiate.json");
    match enc.decode(&frame, FrameKind::Text).unwrap() {
        Inbound::Fixp(FixpMessage::Negotiate { session_id, .. }) => {
            assert_eq!(
                session_id.to_string(),
                "3f2a8c1e-5b7d-4e21-9a10-c46e01234567"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn json_in_binary_frames_is_accepted() {
    let mut enc = JsonEncoding::new();
    let frame = read_example("session", "Sequence.json");
    assert_eq!(enc.frame_kind(), FrameKind::Text);
    assert_eq!(
        enc.decode(&frame, FrameKind::Binary).unwrap(),
        Inbound::Fixp(FixpMessage::Sequence { next_seq_no: 42 })
    );
}

/// Rewrites a flat JSON object with its members in a random order.
fn shuffled(frame: &[u8], seed: u64) -> Vec<u8> {
    let value: Value = serde_json::from_slice(frame).unwrap();
    let mut members: Vec<(String, Value)> =
        value.as_object().unwrap().clone().into_iter().collect();
    let mut rng = rand::rngs::SmallRng::seed_from_u64(seed);
    members.shuffle(&mut rng);
    let body: Vec<String> = members
        .iter()
        .map(|(k, v)| format!("{}:{}", Value::String(k.clone()), v))
        .collect();
    format!(" {{ {} }}\n", body.join(" , ")).into_bytes()
}

#[test]
fn key_order_does_not_matter() {
    let mut enc = JsonEncoding::new();
    for entry in std::fs::read_dir(examples_dir("session")).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let frame = read_example("session", &name);
        let want = decode_owned(&mut enc, &frame).unwrap();
        for seed in 0..8 {
            let frame = shuffled(&frame, seed);
            assert_eq!(
                decode_owned(&mut enc, &frame).unwrap(),
                want,
                "{name} seed {seed}"
            );
        }
    }
}

#[test]
fn timestamps_above_2_pow_53_are_exact() {
    let mut enc = JsonEncoding::new();
    let ts = (1u64 << 53) + 1;
    let frame = format!(
        r#"{{"nextSeqNo":1,"sessionId":{SID_JSON},"timestamp":{ts},"heartbeatInterval":5,"@type":"EstablishmentAck"}}"#
    );
    match enc.decode(frame.as_bytes(), FrameKind::Text).unwrap() {
        Inbound::Fixp(FixpMessage::EstablishmentAck {
            request_timestamp, ..
        }) => assert_eq!(request_timestamp, ts),
        other => panic!("{other:?}"),
    }
    let msg = FixpMessage::Sequence {
        next_seq_no: u64::MAX,
    };
    let out = encode_to_vec(&msg);
    assert_eq!(
        out,
        format!(r#"{{"nextSeqNo":{},"@type":"Sequence"}}"#, u64::MAX).into_bytes()
    );
    assert_eq!(
        enc.decode(&out, FrameKind::Text).unwrap(),
        Inbound::Fixp(msg)
    );
}

#[test]
fn explicit_null_means_absent() {
    let mut enc = JsonEncoding::new();
    let frame = format!(
        r#"{{"clientFlow":"Recoverable","credentials":null,"sessionId":{SID_JSON},"timestamp":7,"@type":"Negotiate"}}"#
    );
    assert_eq!(
        enc.decode(frame.as_bytes(), FrameKind::Text).unwrap(),
        Inbound::Fixp(FixpMessage::Negotiate {
            session_id: SID,
            timestamp: 7,
            client_flow: FlowType::Recoverable,
            credentials: &[],
        })
    );
    let frame = format!(r#"{{"sessionId":{SID_JSON},"lastSeqNo":null,"@type":"FinishedSending"}}"#);
    assert_eq!(
        enc.decode(frame.as_bytes(), FrameKind::Text).unwrap(),
        Inbound::Fixp(FixpMessage::FinishedSending {
            session_id: SID,
            last_seq_no: None,
        })
    );
    let frame = br#"{"nextSeqNo":null,"@type":"Sequence"}"#;
    assert_eq!(
        enc.decode(frame, FrameKind::Text),
        Err(DecodeError::MissingField { field: "nextSeqNo" })
    );
}

#[test]
fn reject_codes_accept_schema_and_java_names() {
    let mut enc = JsonEncoding::new();
    for (text, code) in [
        (
            "FLOW_TYPE_NOT_SUPPORTED",
            NegotiationRejectCode::FlowTypeNotSupported,
        ),
        (
            "FlowTypeNotSupported",
            NegotiationRejectCode::FlowTypeNotSupported,
        ),
        ("DUPLICATE_ID", NegotiationRejectCode::DuplicateId),
        ("Unspecified", NegotiationRejectCode::Unspecified),
    ] {
        let frame = format!(
            r#"{{"rejectCode":"{text}","requestTimestamp":1,"sessionId":{SID_JSON},"@type":"NegotiationReject"}}"#
        );
        assert_eq!(
            enc.decode(frame.as_bytes(), FrameKind::Text).unwrap(),
            Inbound::Fixp(FixpMessage::NegotiationReject {
                session_id: SID,
                request_timestamp: 1,
                code,
                reason: &[],
            }),
            "{text}"
        );
    }
    // The FIXP field name `code` is accepted for `rejectCode`.
    let frame = format!(
        r#"{{"code":"REQUEST_LIMIT_EXCEEDED","requestTimestamp":1,"sessionId":{SID_JSON},"@type":"RetransmitReject"}}"#
    );
    assert_eq!(
        enc.decode(frame.as_bytes(), FrameKind::Text).unwrap(),
        Inbound::Fixp(FixpMessage::RetransmitReject {
            session_id: SID,
            request_timestamp: 1,
            code: RetransmitRejectCode::RequestLimitExceeded,
            reason: &[],
        })
    );
    // What we emit: Conga's Java constant names for the codes Conga has.
    let out = encode_to_vec(&FixpMessage::EstablishmentReject {
        session_id: SID,
        request_timestamp: 1,
        code: EstablishmentRejectCode::KeepaliveInterval,
        reason: b"x",
    });
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["rejectCode"], "KEEPALIVE_INTERVAL");
    assert_eq!(v["reason"], serde_json::json!([120]));
}

#[test]
fn unknown_or_missing_type_is_an_application_message() {
    let mut enc = JsonEncoding::new();
    for name in [
        "NewOrderSingle.json",
        "OrderCancelRequest.json",
        "ExecutionReport-New.json",
        "ExecutionReport-Trade.json",
        "OrderCancelReject.json",
    ] {
        let frame = read_example("application", name);
        assert_eq!(
            enc.decode(&frame, FrameKind::Text).unwrap(),
            Inbound::Application(&frame),
            "{name}"
        );
    }
    for frame in [
        &br#"{"clOrdId":"C1"}"#[..],
        br#"{}"#,
        br#"{"@type":"Heartbeat","count":"not a number"}"#,
        br#"{"@type":5}"#,
    ] {
        assert_eq!(
            enc.decode(frame, FrameKind::Binary).unwrap(),
            Inbound::Application(frame)
        );
    }
}

#[test]
fn bad_input_is_a_typed_error() {
    let mut enc = JsonEncoding::new();
    let seq = |s: &str| format!(r#"{{"nextSeqNo":{s},"@type":"Sequence"}}"#);
    let neg = |sid: &str, flow: &str| {
        format!(r#"{{"clientFlow":{flow},"sessionId":{sid},"timestamp":1,"@type":"Negotiate"}}"#)
    };
    let cases: Vec<(String, DecodeError)> = vec![
        (
            r#"{"nextSeqNo":42,"@type":"Seq"#.into(),
            DecodeError::InvalidJson,
        ),
        ("".into(), DecodeError::InvalidJson),
        ("   ".into(), DecodeError::InvalidJson),
        ("[1,2]".into(), DecodeError::InvalidJson),
        ("42".into(), DecodeError::InvalidJson),
        (r#""Sequence""#.into(), DecodeError::InvalidJson),
        ("{\"a\":\u{1}}".into(), DecodeError::InvalidJson),
        (
            format!("{} x", seq("1")),
            DecodeError::TrailingBytes { extra: 2 },
        ),
        (
            format!("{}{}", seq("1"), seq("2")),
            DecodeError::TrailingBytes {
                extra: seq("2").len(),
            },
        ),
        (
            seq(r#""42""#),
            DecodeError::InvalidField { field: "nextSeqNo" },
        ),
        (seq("-1"), DecodeError::InvalidField { field: "nextSeqNo" }),
        (seq("4.5"), DecodeError::InvalidField { field: "nextSeqNo" }),
        (
            seq("18446744073709551616"),
            DecodeError::InvalidField { field: "nextSeqNo" },
        ),
        (
            r#"{"@type":"Sequence"}"#.into(),
            DecodeError::MissingField { field: "nextSeqNo" },
        ),
        (
            neg(SID_JSON, r#""Sometimes""#),
            DecodeError::InvalidField {
                field: "clientFlow",
            },
        ),
        (
            neg(SID_JSON, "1"),
            DecodeError::InvalidField {
                field: "clientFlow",
            },
        ),
        (
            neg(
                "[63,42,-116,30,91,125,78,33,-102,16,-60,110,1,35,69]",
                r#""None""#,
            ),
            DecodeError::InvalidField { field: "sessionId" },
        ),
        (
            neg(
                "[63,42,-116,30,91,125,78,33,-102,16,-60,110,1,35,69,103,0]",
                r#""None""#,
            ),
            DecodeError::InvalidField { field: "sessionId" },
        ),
        (
            neg(
                "[63,42,-116,30,91,125,78,33,-102,16,-60,110,1,35,69,128]",
                r#""None""#,
            ),
            DecodeError::InvalidField { field: "sessionId" },
        ),
        (
            neg(
                "[63,42,-116,30,91,125,78,33,-102,16,-60,110,1,35,69,-129]",
                r#""None""#,
            ),
            DecodeError::InvalidField { field: "sessionId" },
        ),
        (
            neg(r#""3f2a8c1e-5b7d-4e21-9a10-c46e01234567""#, r#""None""#),
            DecodeError::InvalidField { field: "sessionId" },
        ),
        (
            format!(
                r#"{{"clientFlow":"None","credentials":[1,"a"],"sessionId":{SID_JSON},"timestamp":1,"@type":"Negotiate"}}"#
            ),
            DecodeError::InvalidField {
                field: "credentials",
            },
        ),
        (
            format!(
                r#"{{"clientFlow":"None","credentials":[300],"sessionId":{SID_JSON},"timestamp":1,"@type":"Negotiate"}}"#
            ),
            DecodeError::InvalidField {
                field: "credentials",
            },
        ),
        (
            format!(
                r#"{{"rejectCode":"NOPE","sessionId":{SID_JSON},"timestamp":1,"@type":"EstablishmentReject"}}"#
            ),
            DecodeError::InvalidField {
                field: "rejectCode",
            },
        ),
        (
            format!(
                r#"{{"heartbeatInterval":4294967296,"sessionId":{SID_JSON},"timestamp":1,"@type":"Establish"}}"#
            ),
            DecodeError::InvalidField {
                field: "heartbeatInterval",
            },
        ),
        (
            format!(r#"{{"sessionId":{SID_JSON},"@type":"Establish"}}"#),
            DecodeError::MissingField { field: "timestamp" },
        ),
        (
            r#"{"nextSeqNo":1,"nextSeqNo":2,"@type":"Sequence"}"#.into(),
            DecodeError::InvalidJson,
        ),
        (
            r#"{"@type":"Sequence","nextSeqNo":1,"deep":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"#.into(),
            DecodeError::InvalidJson,
        ),
        (
            r#"{"fromSeqNo":1,"@type":"NotApplied"}"#.into(),
            DecodeError::MissingField { field: "count" },
        ),
    ];
    for (frame, want) in cases {
        assert_eq!(
            enc.decode(frame.as_bytes(), FrameKind::Text),
            Err(want),
            "{frame}"
        );
    }
}

#[test]
fn byte_arrays_longer_than_the_scratch_space_are_too_long() {
    let mut enc = JsonEncoding::with_scratch_capacity(4);
    let frame = format!(
        r#"{{"clientFlow":"None","credentials":[1,2,3,4,5],"sessionId":{SID_JSON},"timestamp":1,"@type":"Negotiate"}}"#
    );
    assert_eq!(
        enc.decode(frame.as_bytes(), FrameKind::Text),
        Err(DecodeError::TooLong {
            field: "credentials"
        })
    );
    // Version and template share the scratch space.
    let frame =
        r#"{"encodingType":1,"version":[1,2],"template":[3,4,5],"@type":"MessageTemplate"}"#;
    assert_eq!(
        enc.decode(frame.as_bytes(), FrameKind::Text),
        Err(DecodeError::TooLong { field: "template" })
    );
    let frame = r#"{"encodingType":1,"version":[1,2],"template":[3,4],"@type":"MessageTemplate"}"#;
    assert_eq!(
        enc.decode(frame.as_bytes(), FrameKind::Text).unwrap(),
        Inbound::Fixp(FixpMessage::MessageTemplate {
            encoding_type: 1,
            effective_time: None,
            version: &[1, 2],
            template: &[3, 4],
        })
    );
}

#[test]
fn templates_conga_lacks_have_documented_forms() {
    let cases: Vec<(FixpMessage<'static>, String)> = vec![
        (
            FixpMessage::UnsequencedHeartbeat,
            r#"{"@type":"UnsequencedHeartbeat"}"#.into(),
        ),
        (
            FixpMessage::Terminate {
                session_id: SID,
                code: TerminationCode::Finished,
                reason: &[],
            },
            format!(r#"{{"code":"Finished","sessionId":{SID_JSON},"@type":"Terminate"}}"#),
        ),
        (
            FixpMessage::RetransmitReject {
                session_id: SID,
                request_timestamp: 9,
                code: RetransmitRejectCode::OutOfRange,
                reason: &[-1i8 as u8],
            },
            format!(
                r#"{{"reason":[-1],"rejectCode":"OutOfRange","requestTimestamp":9,"sessionId":{SID_JSON},"@type":"RetransmitReject"}}"#
            ),
        ),
        (
            FixpMessage::Context {
                session_id: SID,
                next_seq_no: 3,
            },
            format!(r#"{{"sessionId":{SID_JSON},"nextSeqNo":3,"@type":"Context"}}"#),
        ),
        (
            FixpMessage::Applied {
                from_seq_no: 4,
                count: 2,
            },
            r#"{"fromSeqNo":4,"count":2,"@type":"Applied"}"#.into(),
        ),
        (
            FixpMessage::Topic {
                session_id: SID,
                flow: FlowType::Unsequenced,
                keepalive_interval: 100,
                classification: b"a",
            },
            format!(
                r#"{{"classification":[97],"flow":"Unsequenced","heartbeatInterval":100,"sessionId":{SID_JSON},"@type":"Topic"}}"#
            ),
        ),
        (
            FixpMessage::MessageTemplate {
                encoding_type: 0xF500,
                effective_time: Some(5),
                version: b"1",
                template: &[],
            },
            r#"{"encodingType":62720,"effectiveTime":5,"version":[49],"template":[],"@type":"MessageTemplate"}"#.into(),
        ),
    ];
    let mut enc = JsonEncoding::new();
    for (msg, json) in cases {
        assert_eq!(String::from_utf8(encode_to_vec(&msg)).unwrap(), json);
        assert_eq!(
            enc.decode(json.as_bytes(), FrameKind::Text).unwrap(),
            Inbound::Fixp(msg)
        );
    }
}

// --- property tests --------------------------------------------------------------------------

/// An owned message description, so proptest can generate and shrink it.
#[derive(Clone, Debug)]
struct Owned {
    template: u8,
    sid: [u8; 16],
    a: u64,
    b: u64,
    small: u32,
    opt: Option<u64>,
    pick: u8,
    bytes1: Vec<u8>,
    bytes2: Vec<u8>,
}

fn owned_strategy() -> impl Strategy<Value = Owned> {
    (
        1u8..=19,
        any::<[u8; 16]>(),
        any::<u64>(),
        any::<u64>(),
        any::<u32>(),
        any::<Option<u64>>(),
        any::<u8>(),
        proptest::collection::vec(any::<u8>(), 0..40),
        proptest::collection::vec(any::<u8>(), 0..40),
    )
        .prop_map(
            |(template, sid, a, b, small, opt, pick, bytes1, bytes2)| Owned {
                template,
                sid,
                a,
                b,
                small,
                opt,
                pick,
                bytes1,
                bytes2,
            },
        )
}

fn pick<T: Copy>(all: &[T], i: u8) -> T {
    all[usize::from(i) % all.len()]
}

fn message(o: &Owned) -> FixpMessage<'_> {
    let session_id = SessionId(o.sid);
    let (a, b, small, opt) = (o.a, o.b, o.small, o.opt);
    let (bytes1, bytes2) = (&o.bytes1[..], &o.bytes2[..]);
    match o.template {
        1 => FixpMessage::Negotiate {
            session_id,
            timestamp: a,
            client_flow: pick(FlowType::ALL, o.pick),
            credentials: bytes1,
        },
        2 => FixpMessage::NegotiationResponse {
            session_id,
            request_timestamp: a,
            server_flow: pick(FlowType::ALL, o.pick),
            credentials: bytes1,
        },
        3 => FixpMessage::NegotiationReject {
            session_id,
            request_timestamp: a,
            code: pick(NegotiationRejectCode::ALL, o.pick),
            reason: bytes1,
        },
        4 => FixpMessage::Topic {
            session_id,
            flow: pick(FlowType::ALL, o.pick),
            keepalive_interval: small,
            classification: bytes1,
        },
        5 => FixpMessage::Establish {
            session_id,
            timestamp: a,
            keepalive_interval: small,
            next_seq_no: opt,
            credentials: bytes1,
        },
        6 => FixpMessage::EstablishmentAck {
            session_id,
            request_timestamp: a,
            keepalive_interval: small,
            next_seq_no: opt,
        },
        7 => FixpMessage::EstablishmentReject {
            session_id,
            request_timestamp: a,
            code: pick(EstablishmentRejectCode::ALL, o.pick),
            reason: bytes1,
        },
        8 => FixpMessage::Sequence { next_seq_no: a },
        9 => FixpMessage::Context {
            session_id,
            next_seq_no: a,
        },
        10 => FixpMessage::UnsequencedHeartbeat,
        11 => FixpMessage::RetransmitRequest {
            session_id,
            timestamp: a,
            from_seq_no: b,
            count: small,
        },
        12 => FixpMessage::Retransmission {
            session_id,
            request_timestamp: a,
            next_seq_no: b,
            count: small,
        },
        13 => FixpMessage::RetransmitReject {
            session_id,
            request_timestamp: a,
            code: pick(RetransmitRejectCode::ALL, o.pick),
            reason: bytes1,
        },
        14 => FixpMessage::Terminate {
            session_id,
            code: pick(TerminationCode::ALL, o.pick),
            reason: bytes1,
        },
        15 => FixpMessage::FinishedSending {
            session_id,
            last_seq_no: opt,
        },
        16 => FixpMessage::FinishedReceiving { session_id },
        17 => FixpMessage::Applied {
            from_seq_no: a,
            count: small,
        },
        18 => FixpMessage::NotApplied {
            from_seq_no: a,
            count: small,
        },
        _ => FixpMessage::MessageTemplate {
            encoding_type: small,
            effective_time: opt,
            version: bytes1,
            template: bytes2,
        },
    }
}

proptest! {
    #![proptest_config(ProptestConfig { rng_seed: RngSeed::Fixed(211), ..ProptestConfig::default() })]

    #[test]
    fn every_template_round_trips(o in owned_strategy(), seed in any::<u64>()) {
        let msg = message(&o);
        prop_assert_eq!(msg.template() as u8, o.template);
        let encoded = encode_to_vec(&msg);
        let mut enc = JsonEncoding::new();
        prop_assert_eq!(enc.decode(&encoded, FrameKind::Text).unwrap(), Inbound::Fixp(msg));
        // Any key order decodes the same.
        let reordered = shuffled(&encoded, seed);
        prop_assert_eq!(enc.decode(&reordered, FrameKind::Binary).unwrap(), Inbound::Fixp(msg));
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let mut enc = JsonEncoding::new();
        let _ = enc.decode(&bytes, FrameKind::Text);
    }

    #[test]
    fn mutated_messages_never_panic(o in owned_strategy(), at in any::<usize>(), byte in any::<u8>(), cut in any::<usize>()) {
        let mut encoded = encode_to_vec(&message(&o));
        let i = at % encoded.len();
        encoded[i] = byte;
        encoded.truncate(cut % (encoded.len() + 1));
        let mut enc = JsonEncoding::with_scratch_capacity(32);
        let _ = enc.decode(&encoded, FrameKind::Text);
    }
}

/// The example in docs/json.md, kept true.
#[test]
fn readme_example() -> Result<(), Box<dyn std::error::Error>> {
    use fixp_ws::codec::conga::CongaMessage;
    let mut json = JsonEncoding::new();
    let mut out = [0u8; 512];
    let n = json.encode(&FixpMessage::Sequence { next_seq_no: 42 }, &mut out)?;
    assert_eq!(&out[..n], br#"{"nextSeqNo":42,"@type":"Sequence"}"#);
    assert_eq!(
        json.decode(&out[..n], FrameKind::Text)?,
        Inbound::Fixp(FixpMessage::Sequence { next_seq_no: 42 })
    );
    let order = read_example("application", "NewOrderSingle.json");
    let Inbound::Application(frame) = json.decode(&order, FrameKind::Binary)? else {
        panic!("an order is an application message");
    };
    assert_eq!(
        CongaMessage::decode_json(frame)?.type_name(),
        "NewOrderSingle"
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { rng_seed: RngSeed::Fixed(212), ..ProptestConfig::default() })]

    /// JSON and SBE carry the same FIXP values: JSON → message → SBE → message is lossless.
    #[test]
    fn json_and_sbe_agree(o in owned_strategy()) {
        use fixp_ws::codec::sbe::SbeEncoding;
        let msg = message(&o);
        let json = encode_to_vec(&msg);
        let mut json_enc = JsonEncoding::new();
        let Inbound::Fixp(from_json) = json_enc.decode(&json, FrameKind::Text).unwrap() else {
            panic!("not FIXP");
        };
        let mut sbe = SbeEncoding::new();
        let mut out = vec![0u8; 1 << 12];
        let n = sbe.encode(&from_json, &mut out).unwrap();
        let from_sbe = sbe.decode(&out[..n], FrameKind::Binary).unwrap();
        prop_assert_eq!(from_sbe, Inbound::Fixp(msg));
    }
}

/// A random JSON value of any type, small, with strings that look like FIXP enum names.
fn json_value() -> impl Strategy<Value = Value> {
    let names = prop::sample::select(vec!["Idempotent", "CREDENTIALS", "OutOfRange", "", "x"]);
    json_support::json_value(names.prop_map(String::from), "[a-z]{1,4}", 3)
}

proptest! {
    #![proptest_config(ProptestConfig { rng_seed: RngSeed::Fixed(213), ..ProptestConfig::default() })]

    /// Objects with a FIXP `@type` and FIXP keys holding values of random types: always a
    /// typed result, and whatever decodes re-encodes to a frame that decodes the same.
    #[test]
    fn random_fixp_shaped_objects_are_typed(
        type_name in prop::sample::select(vec![
            "Negotiate", "NegotiationResponse", "NegotiationReject", "Topic", "Establish",
            "EstablishmentAck", "EstablishmentReject", "Sequence", "Context",
            "UnsequencedHeartbeat", "RetransmitRequest", "Retransmission", "RetransmitReject",
            "Terminate", "FinishedSending", "FinishedReceiving", "Applied", "NotApplied",
            "MessageTemplate",
        ]),
        members in prop::collection::vec((
            prop::sample::select(vec![
                "sessionId", "timestamp", "requestTimestamp", "clientFlow", "serverFlow", "flow",
                "credentials", "reason", "rejectCode", "code", "heartbeatInterval", "nextSeqNo",
                "fromSeqNo", "lastSeqNo", "count", "classification", "encodingType",
                "effectiveTime", "version", "template",
            ]),
            json_value(),
        ), 0..8),
    ) {
        let mut object = serde_json::Map::new();
        for (k, v) in members {
            object.insert(k.to_string(), v);
        }
        object.insert("@type".into(), Value::from(type_name));
        let frame = serde_json::to_vec(&Value::Object(object)).unwrap();
        let mut enc = JsonEncoding::new();
        if let Ok(Inbound::Fixp(msg)) = enc.decode(&frame, FrameKind::Text) {
            let again = encode_to_vec(&msg);
            let mut other = JsonEncoding::new();
            prop_assert_eq!(other.decode(&again, FrameKind::Text).unwrap(), Inbound::Fixp(msg));
        }
    }
}
