//! The 19 real-logic-encoded FIXP messages: decode and match `expected.json` field by field, and
//! re-encode the decoded values to the exact reference bytes, through `SbeEncoding` +
//! `FixpMessage` and through the generated flyweights directly.

use fixp_ws::codec::fixp::SessionId;
use fixp_ws::codec::sbe::{fixp, SbeEncoding};
use fixp_ws::codec::{DecodeError, Encoding, FixpMessage, FrameKind, Inbound};
use serde_json::{json, Map, Value};
use std::path::PathBuf;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data/sbe-conformance/rl-generated-vectors/fixp")
}

struct Vector {
    file: String,
    bytes: Vec<u8>,
    expected: Value,
}

fn vectors() -> Vec<Vector> {
    let text = std::fs::read_to_string(dir().join("expected.json")).expect("expected.json");
    let doc: Value = serde_json::from_str(&text).expect("valid JSON");
    let messages = doc["messages"].as_array().expect("messages array");
    assert_eq!(messages.len(), 19);
    messages
        .iter()
        .map(|m| {
            let file = m["file"].as_str().expect("file").to_string();
            let bytes = std::fs::read(dir().join(&file)).expect("vector file");
            Vector {
                file,
                bytes,
                expected: m.clone(),
            }
        })
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn text(bytes: &[u8]) -> Value {
    Value::String(String::from_utf8(bytes.to_vec()).expect("UTF-8 var data"))
}

fn opt(v: Option<u64>) -> Value {
    v.map_or(Value::Null, Value::from)
}

fn sid(s: &SessionId) -> Value {
    Value::String(hex(&s.0))
}

/// (fields, var data) of a decoded model message, keyed as in expected.json.
fn model_fields(m: &FixpMessage<'_>) -> (Map<String, Value>, Map<String, Value>) {
    let (f, v) = match m {
        FixpMessage::Negotiate {
            session_id,
            timestamp,
            client_flow,
            credentials,
        } => (
            json!({"sessionId": sid(session_id), "timestamp": timestamp, "clientFlow": client_flow.name()}),
            json!({"credentials": text(credentials)}),
        ),
        FixpMessage::NegotiationResponse {
            session_id,
            request_timestamp,
            server_flow,
            credentials,
        } => (
            json!({"sessionId": sid(session_id), "requestTimestamp": request_timestamp, "serverFlow": server_flow.name()}),
            json!({"credentials": text(credentials)}),
        ),
        FixpMessage::NegotiationReject {
            session_id,
            request_timestamp,
            code,
            reason,
        } => (
            json!({"sessionId": sid(session_id), "requestTimestamp": request_timestamp, "code": code.name()}),
            json!({"reason": text(reason)}),
        ),
        FixpMessage::Topic {
            session_id,
            flow,
            keepalive_interval,
            classification,
        } => (
            json!({"sessionId": sid(session_id), "flow": flow.name(), "keepaliveInterval": keepalive_interval}),
            json!({"classification": text(classification)}),
        ),
        FixpMessage::Establish {
            session_id,
            timestamp,
            keepalive_interval,
            next_seq_no,
            credentials,
        } => (
            json!({"sessionId": sid(session_id), "timestamp": timestamp, "keepaliveInterval": keepalive_interval, "nextSeqNo": opt(*next_seq_no)}),
            json!({"credentials": text(credentials)}),
        ),
        FixpMessage::EstablishmentAck {
            session_id,
            request_timestamp,
            keepalive_interval,
            next_seq_no,
        } => (
            json!({"sessionId": sid(session_id), "requestTimestamp": request_timestamp, "keepaliveInterval": keepalive_interval, "nextSeqNo": opt(*next_seq_no)}),
            json!({}),
        ),
        FixpMessage::EstablishmentReject {
            session_id,
            request_timestamp,
            code,
            reason,
        } => (
            json!({"sessionId": sid(session_id), "requestTimestamp": request_timestamp, "code": code.name()}),
            json!({"reason": text(reason)}),
        ),
        FixpMessage::Sequence { next_seq_no } => (json!({"nextSeqNo": next_seq_no}), json!({})),
        FixpMessage::Context {
            session_id,
            next_seq_no,
        } => (
            json!({"sessionId": sid(session_id), "nextSeqNo": next_seq_no}),
            json!({}),
        ),
        FixpMessage::UnsequencedHeartbeat => (json!({}), json!({})),
        FixpMessage::RetransmitRequest {
            session_id,
            timestamp,
            from_seq_no,
            count,
        } => (
            json!({"sessionId": sid(session_id), "timestamp": timestamp, "fromSeqNo": from_seq_no, "count": count}),
            json!({}),
        ),
        FixpMessage::Retransmission {
            session_id,
            request_timestamp,
            next_seq_no,
            count,
        } => (
            json!({"sessionId": sid(session_id), "requestTimestamp": request_timestamp, "nextSeqNo": next_seq_no, "count": count}),
            json!({}),
        ),
        FixpMessage::RetransmitReject {
            session_id,
            request_timestamp,
            code,
            reason,
        } => (
            json!({"sessionId": sid(session_id), "requestTimestamp": request_timestamp, "code": code.name()}),
            json!({"reason": text(reason)}),
        ),
        FixpMessage::Terminate {
            session_id,
            code,
            reason,
        } => (
            json!({"sessionId": sid(session_id), "code": code.name()}),
            json!({"reason": text(reason)}),
        ),
        FixpMessage::FinishedSending {
            session_id,
            last_seq_no,
        } => (
            json!({"sessionId": sid(session_id), "lastSeqNo": opt(*last_seq_no)}),
            json!({}),
        ),
        FixpMessage::FinishedReceiving { session_id } => {
            (json!({"sessionId": sid(session_id)}), json!({}))
        }
        FixpMessage::Applied { from_seq_no, count } => {
            (json!({"fromSeqNo": from_seq_no, "count": count}), json!({}))
        }
        FixpMessage::NotApplied { from_seq_no, count } => {
            (json!({"fromSeqNo": from_seq_no, "count": count}), json!({}))
        }
        FixpMessage::MessageTemplate {
            encoding_type,
            effective_time,
            version,
            template,
        } => (
            json!({"encodingType": encoding_type, "effectiveTime": opt(*effective_time)}),
            json!({"version": text(version), "template": text(template)}),
        ),
    };
    (
        f.as_object().cloned().unwrap_or_default(),
        v.as_object().cloned().unwrap_or_default(),
    )
}

/// (fields, var data) read through the generated flyweight accessors.
fn flyweight_fields(m: &fixp::Message<'_>) -> (Map<String, Value>, Map<String, Value>) {
    use fixp::Message as M;
    let h = |b: [u8; 16]| Value::String(hex(&b));
    let (f, v) = match m {
        M::Negotiate(d) => (
            json!({"sessionId": h(d.session_id()), "timestamp": d.timestamp(), "clientFlow": d.client_flow().unwrap().name()}),
            json!({"credentials": text(d.credentials())}),
        ),
        M::NegotiationResponse(d) => (
            json!({"sessionId": h(d.session_id()), "requestTimestamp": d.request_timestamp(), "serverFlow": d.server_flow().unwrap().name()}),
            json!({"credentials": text(d.credentials())}),
        ),
        M::NegotiationReject(d) => (
            json!({"sessionId": h(d.session_id()), "requestTimestamp": d.request_timestamp(), "code": d.code().unwrap().name()}),
            json!({"reason": text(d.reason())}),
        ),
        M::Topic(d) => (
            json!({"sessionId": h(d.session_id()), "flow": d.flow().unwrap().name(), "keepaliveInterval": d.keepalive_interval()}),
            json!({"classification": text(d.classification())}),
        ),
        M::Establish(d) => (
            json!({"sessionId": h(d.session_id()), "timestamp": d.timestamp(), "keepaliveInterval": d.keepalive_interval(), "nextSeqNo": opt(d.next_seq_no())}),
            json!({"credentials": text(d.credentials())}),
        ),
        M::EstablishmentAck(d) => (
            json!({"sessionId": h(d.session_id()), "requestTimestamp": d.request_timestamp(), "keepaliveInterval": d.keepalive_interval(), "nextSeqNo": opt(d.next_seq_no())}),
            json!({}),
        ),
        M::EstablishmentReject(d) => (
            json!({"sessionId": h(d.session_id()), "requestTimestamp": d.request_timestamp(), "code": d.code().unwrap().name()}),
            json!({"reason": text(d.reason())}),
        ),
        M::Sequence(d) => (json!({"nextSeqNo": d.next_seq_no()}), json!({})),
        M::Context(d) => (
            json!({"sessionId": h(d.session_id()), "nextSeqNo": d.next_seq_no()}),
            json!({}),
        ),
        M::UnsequencedHeartbeat(_) => (json!({}), json!({})),
        M::RetransmitRequest(d) => (
            json!({"sessionId": h(d.session_id()), "timestamp": d.timestamp(), "fromSeqNo": d.from_seq_no(), "count": d.count()}),
            json!({}),
        ),
        M::Retransmission(d) => (
            json!({"sessionId": h(d.session_id()), "requestTimestamp": d.request_timestamp(), "nextSeqNo": d.next_seq_no(), "count": d.count()}),
            json!({}),
        ),
        M::RetransmitReject(d) => (
            json!({"sessionId": h(d.session_id()), "requestTimestamp": d.request_timestamp(), "code": d.code().unwrap().name()}),
            json!({"reason": text(d.reason())}),
        ),
        M::Terminate(d) => (
            json!({"sessionId": h(d.session_id()), "code": d.code().unwrap().name()}),
            json!({"reason": text(d.reason())}),
        ),
        M::FinishedSending(d) => (
            json!({"sessionId": h(d.session_id()), "lastSeqNo": opt(d.last_seq_no())}),
            json!({}),
        ),
        M::FinishedReceiving(d) => (json!({"sessionId": h(d.session_id())}), json!({})),
        M::Applied(d) => (
            json!({"fromSeqNo": d.from_seq_no(), "count": d.count()}),
            json!({}),
        ),
        M::NotApplied(d) => (
            json!({"fromSeqNo": d.from_seq_no(), "count": d.count()}),
            json!({}),
        ),
        M::MessageTemplate(d) => (
            json!({"encodingType": d.encoding_type(), "effectiveTime": opt(d.effective_time())}),
            json!({"version": text(d.version()), "template": text(d.template())}),
        ),
    };
    (
        f.as_object().cloned().unwrap_or_default(),
        v.as_object().cloned().unwrap_or_default(),
    )
}

fn check_fields(v: &Vector, fields: &Map<String, Value>, var: &Map<String, Value>) {
    let expected_fields = v.expected["fields"].as_object().expect("fields");
    assert_eq!(
        fields.len(),
        expected_fields.len(),
        "{}: field count",
        v.file
    );
    for (name, spec) in expected_fields {
        let want = spec.get("value_hex").unwrap_or(&spec["value"]);
        assert_eq!(fields.get(name), Some(want), "{}: field {name}", v.file);
    }
    let empty = Map::new();
    let expected_var = v.expected["varData_in_order"].as_object().unwrap_or(&empty);
    assert_eq!(var.len(), expected_var.len(), "{}: var data count", v.file);
    for (name, spec) in expected_var {
        assert_eq!(
            var.get(name),
            Some(&spec["value"]),
            "{}: var data {name}",
            v.file
        );
    }
}

#[test]
fn sbe_encoding_decodes_every_vector_and_reencodes_the_same_bytes() {
    let mut sbe = SbeEncoding::new();
    for v in vectors() {
        let header = &v.expected["header"];
        assert_eq!(
            v.bytes.len() as u64,
            v.expected["total_length"].as_u64().unwrap()
        );
        let decoded = match sbe.decode(&v.bytes, FrameKind::Binary) {
            Ok(Inbound::Fixp(m)) => m,
            other => panic!("{}: {other:?}", v.file),
        };
        assert_eq!(
            decoded.template() as u64,
            header["templateId"].as_u64().unwrap(),
            "{}",
            v.file
        );
        let (fields, var) = model_fields(&decoded);
        check_fields(&v, &fields, &var);
        let mut out = [0u8; 256];
        let n = SbeEncoding::new()
            .encode(&decoded, &mut out)
            .expect("encode");
        assert_eq!(
            hex(&out[..n]),
            hex(&v.bytes),
            "{}: re-encoded bytes",
            v.file
        );
        // A buffer one byte short is an error, not a panic or a partial message.
        assert!(SbeEncoding::new()
            .encode(&decoded, &mut out[..n - 1])
            .is_err());
    }
}

#[test]
fn generated_flyweights_decode_every_vector() {
    for v in vectors() {
        let m = fixp::Message::decode(&v.bytes).unwrap_or_else(|e| panic!("{}: {e}", v.file));
        assert_eq!(m.sbe_end(), v.bytes.len(), "{}", v.file);
        let (fields, var) = flyweight_fields(&m);
        check_fields(&v, &fields, &var);
    }
}

/// Re-encodes a decoded message through the generated encoders only (no `FixpMessage`).
fn reencode_with_flyweights(m: &fixp::Message<'_>, buf: &mut [u8]) -> usize {
    use fixp::Message as M;
    use fixp::*;
    match m {
        M::Negotiate(d) => {
            let mut e = NegotiateEncoder::new(buf).unwrap();
            e.set_session_id(&d.session_id())
                .set_timestamp(d.timestamp())
                .set_client_flow(d.client_flow().unwrap())
                .put_credentials(d.credentials())
                .unwrap();
            e.encoded_length()
        }
        M::NegotiationResponse(d) => {
            let mut e = NegotiationResponseEncoder::new(buf).unwrap();
            e.set_session_id(&d.session_id())
                .set_request_timestamp(d.request_timestamp())
                .set_server_flow(d.server_flow().unwrap())
                .put_credentials(d.credentials())
                .unwrap();
            e.encoded_length()
        }
        M::NegotiationReject(d) => {
            let mut e = NegotiationRejectEncoder::new(buf).unwrap();
            e.set_session_id(&d.session_id())
                .set_request_timestamp(d.request_timestamp())
                .set_code(d.code().unwrap())
                .put_reason(d.reason())
                .unwrap();
            e.encoded_length()
        }
        M::Topic(d) => {
            let mut e = TopicEncoder::new(buf).unwrap();
            e.set_session_id(&d.session_id())
                .set_flow(d.flow().unwrap())
                .set_keepalive_interval(d.keepalive_interval())
                .put_classification(d.classification())
                .unwrap();
            e.encoded_length()
        }
        M::Establish(d) => {
            let mut e = EstablishEncoder::new(buf).unwrap();
            e.set_session_id(&d.session_id())
                .set_timestamp(d.timestamp())
                .set_keepalive_interval(d.keepalive_interval())
                .set_next_seq_no(d.next_seq_no())
                .put_credentials(d.credentials())
                .unwrap();
            e.encoded_length()
        }
        M::EstablishmentAck(d) => {
            let mut e = EstablishmentAckEncoder::new(buf).unwrap();
            e.set_session_id(&d.session_id())
                .set_request_timestamp(d.request_timestamp())
                .set_keepalive_interval(d.keepalive_interval())
                .set_next_seq_no(d.next_seq_no());
            e.encoded_length()
        }
        M::EstablishmentReject(d) => {
            let mut e = EstablishmentRejectEncoder::new(buf).unwrap();
            e.set_session_id(&d.session_id())
                .set_request_timestamp(d.request_timestamp())
                .set_code(d.code().unwrap())
                .put_reason(d.reason())
                .unwrap();
            e.encoded_length()
        }
        M::Sequence(d) => SequenceEncoder::new(buf)
            .unwrap()
            .set_next_seq_no(d.next_seq_no())
            .encoded_length(),
        M::Context(d) => ContextEncoder::new(buf)
            .unwrap()
            .set_session_id(&d.session_id())
            .set_next_seq_no(d.next_seq_no())
            .encoded_length(),
        M::UnsequencedHeartbeat(_) => UnsequencedHeartbeatEncoder::new(buf)
            .unwrap()
            .encoded_length(),
        M::RetransmitRequest(d) => RetransmitRequestEncoder::new(buf)
            .unwrap()
            .set_session_id(&d.session_id())
            .set_timestamp(d.timestamp())
            .set_from_seq_no(d.from_seq_no())
            .set_count(d.count())
            .encoded_length(),
        M::Retransmission(d) => RetransmissionEncoder::new(buf)
            .unwrap()
            .set_session_id(&d.session_id())
            .set_request_timestamp(d.request_timestamp())
            .set_next_seq_no(d.next_seq_no())
            .set_count(d.count())
            .encoded_length(),
        M::RetransmitReject(d) => {
            let mut e = RetransmitRejectEncoder::new(buf).unwrap();
            e.set_session_id(&d.session_id())
                .set_request_timestamp(d.request_timestamp())
                .set_code(d.code().unwrap())
                .put_reason(d.reason())
                .unwrap();
            e.encoded_length()
        }
        M::Terminate(d) => {
            let mut e = TerminateEncoder::new(buf).unwrap();
            e.set_session_id(&d.session_id())
                .set_code(d.code().unwrap())
                .put_reason(d.reason())
                .unwrap();
            e.encoded_length()
        }
        M::FinishedSending(d) => FinishedSendingEncoder::new(buf)
            .unwrap()
            .set_session_id(&d.session_id())
            .set_last_seq_no(d.last_seq_no())
            .encoded_length(),
        M::FinishedReceiving(d) => FinishedReceivingEncoder::new(buf)
            .unwrap()
            .set_session_id(&d.session_id())
            .encoded_length(),
        M::Applied(d) => AppliedEncoder::new(buf)
            .unwrap()
            .set_from_seq_no(d.from_seq_no())
            .set_count(d.count())
            .encoded_length(),
        M::NotApplied(d) => NotAppliedEncoder::new(buf)
            .unwrap()
            .set_from_seq_no(d.from_seq_no())
            .set_count(d.count())
            .encoded_length(),
        M::MessageTemplate(d) => {
            let mut e = MessageTemplateEncoder::new(buf).unwrap();
            e.set_encoding_type(d.encoding_type())
                .set_effective_time(d.effective_time())
                .put_version(d.version())
                .unwrap()
                .put_template(d.template())
                .unwrap();
            e.encoded_length()
        }
    }
}

#[test]
fn generated_encoders_reencode_every_vector_exactly() {
    for v in vectors() {
        let m = fixp::Message::decode(&v.bytes).unwrap();
        let mut buf = [0u8; 256];
        let n = reencode_with_flyweights(&m, &mut buf);
        assert_eq!(hex(&buf[..n]), hex(&v.bytes), "{}", v.file);
    }
}

#[test]
fn generated_encoders_write_the_reference_bytes() {
    let by_file = |name: &str| {
        vectors()
            .into_iter()
            .find(|v| v.file == name)
            .expect("vector")
    };
    let mut buf = [0u8; 128];

    let v = by_file("05_Establish.bin");
    let d = fixp::EstablishDecoder::decode(&v.bytes).unwrap();
    let mut e = fixp::EstablishEncoder::new(&mut buf).unwrap();
    e.set_session_id(&d.session_id())
        .set_timestamp(d.timestamp())
        .set_keepalive_interval(d.keepalive_interval())
        .set_next_seq_no(d.next_seq_no())
        .put_credentials(d.credentials())
        .unwrap();
    assert_eq!(hex(e.as_bytes()), hex(&v.bytes));

    let v = by_file("19_MessageTemplate.bin");
    let d = fixp::MessageTemplateDecoder::decode(&v.bytes).unwrap();
    let mut e = fixp::MessageTemplateEncoder::new(&mut buf).unwrap();
    e.set_encoding_type(d.encoding_type())
        .set_effective_time(d.effective_time())
        .put_version(d.version())
        .unwrap()
        .put_template(d.template())
        .unwrap();
    assert_eq!(hex(e.as_bytes()), hex(&v.bytes));

    let v = by_file("13_RestransmitReject.bin");
    let d = fixp::RetransmitRejectDecoder::decode(&v.bytes).unwrap();
    assert_eq!(fixp::RetransmitRejectDecoder::TEMPLATE_ID, 13);
    let mut e = fixp::RetransmitRejectEncoder::new(&mut buf).unwrap();
    e.set_session_id(&d.session_id())
        .set_request_timestamp(d.request_timestamp())
        .set_code(d.code().unwrap())
        .put_reason(d.reason())
        .unwrap();
    assert_eq!(hex(e.as_bytes()), hex(&v.bytes));

    let v = by_file("10_UnsequencedHeartbeat.bin");
    let e = fixp::UnsequencedHeartbeatEncoder::new(&mut buf).unwrap();
    assert_eq!(hex(e.as_bytes()), hex(&v.bytes));
}

#[test]
fn sbe_encoding_classifies_and_rejects_frames() {
    let mut sbe = SbeEncoding::new();
    let seq = std::fs::read(dir().join("08_Sequence.bin")).unwrap();
    assert_eq!(
        sbe.decode(&seq, FrameKind::Text),
        Err(DecodeError::WrongFrameKind)
    );
    // Surplus bytes after one message (NUL padding is tolerated: see sbe_conga_interop).
    let mut long = seq.clone();
    long.extend_from_slice(&[0, 1]);
    assert_eq!(
        sbe.decode(&long, FrameKind::Binary),
        Err(DecodeError::TrailingBytes { extra: 2 })
    );
    // Another schema id: an application message, returned whole.
    let mut app = seq.clone();
    app[4..6].copy_from_slice(&100u16.to_le_bytes());
    assert_eq!(
        sbe.decode(&app, FrameKind::Binary),
        Ok(Inbound::Application(&app[..]))
    );
    // Unknown FIXP template.
    let mut unknown = seq.clone();
    unknown[2..4].copy_from_slice(&20u16.to_le_bytes());
    assert_eq!(
        sbe.decode(&unknown, FrameKind::Binary),
        Err(DecodeError::UnknownTemplate {
            schema_id: 2748,
            template_id: 20
        })
    );
    // Undefined enum value.
    let mut neg = std::fs::read(dir().join("01_Negotiate.bin")).unwrap();
    neg[8 + 24] = 9;
    assert_eq!(
        sbe.decode(&neg, FrameKind::Binary),
        Err(DecodeError::InvalidEnum {
            field: "ClientFlow",
            value: 9
        })
    );
    // Header shorter than 8 bytes, and a block shorter than the fields.
    assert!(matches!(
        sbe.decode(&seq[..7], FrameKind::Binary),
        Err(DecodeError::Truncated { .. })
    ));
    let mut short_block = seq.clone();
    short_block[0..2].copy_from_slice(&4u16.to_le_bytes());
    short_block.truncate(12);
    assert_eq!(
        sbe.decode(&short_block, FrameKind::Binary),
        Err(DecodeError::BlockLengthTooSmall {
            template_id: 8,
            actual: 4,
            minimum: 8
        })
    );
}
