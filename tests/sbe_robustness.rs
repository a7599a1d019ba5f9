//! Robustness of the generated decoders and `SbeEncoding`: random bytes never panic (walking
//! every group and var data), every prefix of every FIXP vector is an error (except, for
//! `SbeEncoding`, the one that ends where an optional trailing var-data field would begin), and
//! random field values round-trip through encode → decode for every FIXP template.

use fixp_ws::codec::fixp::{
    EstablishmentRejectCode, FlowType, NegotiationRejectCode, RetransmitRejectCode, SessionId,
    TerminationCode,
};
use fixp_ws::codec::sbe::{conga, fixp, SbeEncoding};
use fixp_ws::codec::{Encoding, FixpMessage, FrameKind, Inbound};
use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use std::path::PathBuf;

#[allow(dead_code)]
mod car {
    include!(concat!(env!("OUT_DIR"), "/sbe_car.rs"));
}
#[allow(dead_code)]
mod s3 {
    include!(concat!(env!("OUT_DIR"), "/sbe_conformance3.rs"));
}
#[allow(dead_code)]
mod s1 {
    include!(concat!(env!("OUT_DIR"), "/sbe_conformance1.rs"));
}
#[allow(dead_code)]
mod s2 {
    include!(concat!(env!("OUT_DIR"), "/sbe_conformance2.rs"));
}
#[allow(dead_code)]
mod car_ext {
    include!(concat!(env!("OUT_DIR"), "/sbe_car_extension.rs"));
}
#[allow(dead_code)]
mod examples {
    include!(concat!(env!("OUT_DIR"), "/sbe_examples.rs"));
}

/// Decodes `bytes` with every generated schema and prints what decodes: `Display` reads every
/// field, group entry and var data, so this walks all of it.
fn decode_with_every_schema(bytes: &[u8]) -> usize {
    let mut n = 0;
    n += fixp::Message::decode(bytes).map_or(0, |m| m.to_string().len());
    n += conga::Message::decode(bytes).map_or(0, |m| m.to_string().len());
    n += s1::Message::decode(bytes).map_or(0, |m| m.to_string().len());
    n += s2::Message::decode(bytes).map_or(0, |m| m.to_string().len());
    n += s3::Message::decode(bytes).map_or(0, |m| m.to_string().len());
    n += car::Message::decode(bytes).map_or(0, |m| m.to_string().len());
    n += car_ext::Message::decode(bytes).map_or(0, |m| m.to_string().len());
    n + examples::Message::decode(bytes).map_or(0, |m| m.to_string().len())
}

/// Reads every accessor of a decoded car, so that random input walks every group and var data.
fn touch_car(d: &car::CarDecoder<'_>) -> usize {
    let mut n = d.serial_number() as usize + d.vehicle_code().len();
    n += d.available().is_ok() as usize + d.code().is_ok() as usize;
    n += d.some_numbers().len() + usize::from(d.extras().0);
    let e = d.engine();
    n += usize::from(e.capacity()) + e.manufacturer_code().len();
    n += e.booster().boost_type().is_ok() as usize;
    for f in d.fuel_figures() {
        n += usize::from(f.speed()) + f.usage_description().len();
    }
    for p in d.performance_figures() {
        n += usize::from(p.octane_rating());
        for a in p.acceleration() {
            n += usize::from(a.mph());
        }
    }
    n + d.manufacturer().len() + d.model().len() + d.activation_code().len()
}

fn touch_s3(m: &s3::Message<'_>) -> usize {
    match m {
        s3::Message::ExecutionReport(d) => {
            let mut n = d.order_id().len() + d.exec_type().is_ok() as usize;
            n += d.security_id().map_or(0, <[u8]>::len);
            for f in d.fills_grp() {
                n += f.fill_qty().mantissa() as usize;
            }
            n + d.reject_text().len()
        }
        s3::Message::NewOrderSingle(d) => d.compliance_text().len() + d.symbol().len(),
        s3::Message::BusinessMessageReject(d) => d.text().len(),
    }
}

fn touch_conga(m: &conga::Message<'_>) -> usize {
    match m {
        conga::Message::ExecutionReport(d) => {
            let mut n = d.order_id().len() + d.ord_status().is_ok() as usize;
            for f in d.fills_grp() {
                n += f.fill_qty().mantissa() as usize;
            }
            n
        }
        conga::Message::NewOrderSingle(d) => d.cl_ord_id().len() + d.side().is_ok() as usize,
        _ => m.sbe_end(),
    }
}

/// Random bytes behind a header that names a real template, so decoding goes past the header.
fn with_header(schema: u16, template: u16, block: u16, version: u16, body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + body.len());
    for x in [block, template, schema, version] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.extend_from_slice(body);
    v
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, rng_seed: RngSeed::Fixed(411), ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = SbeEncoding::new().decode(&bytes, FrameKind::Binary);
        let _ = fixp::Message::decode(&bytes);
        if let Ok(m) = conga::Message::decode(&bytes) { touch_conga(&m); }
        if let Ok(d) = car::CarDecoder::decode(&bytes) { touch_car(&d); }
        if let Ok(m) = s3::Message::decode(&bytes) { touch_s3(&m); }
        decode_with_every_schema(&bytes);
    }

    #[test]
    fn random_bodies_behind_valid_headers_never_panic(
        template in 0u16..21,
        block in 0u16..80,
        version in 0u16..4,
        body in proptest::collection::vec(any::<u8>(), 0..300),
    ) {
        let frame = with_header(2748, template, block, version, &body);
        let mut decoder = SbeEncoding::new();
        let encoded = match decoder.decode(&frame, FrameKind::Binary) {
            Ok(Inbound::Fixp(m)) => {
                let mut out = [0u8; 512];
                Some(SbeEncoding::new().encode(&m, &mut out).unwrap())
            }
            _ => None,
        };
        if let Some(n) = encoded {
            // A decoded message re-encodes to the bytes it came from, up to padding; a tolerated
            // omitted trailing var-data field comes back with its 2-byte (empty) length.
            let omitted = 2 * decoder.deviations().omitted_var_data as usize;
            prop_assert!(n <= frame.len() + omitted, "{n} bytes from a {}-byte frame", frame.len());
        }
        let frame = with_header(1, template % 3 + 97, block, version, &body);
        if let Ok(m) = s3::Message::decode(&frame) { touch_s3(&m); }
        let frame = with_header(100, [14, 16, 10, 9][usize::from(template) % 4], block, version, &body);
        if let Ok(m) = conga::Message::decode(&frame) { touch_conga(&m); }
        let frame = with_header(1, 1, block, version, &body);
        if let Ok(d) = car::CarDecoder::decode(&frame) { touch_car(&d); }
        decode_with_every_schema(&frame);
        decode_with_every_schema(&with_header(91, template % 3 + 97, block, version, &body));
        decode_with_every_schema(&with_header(2748, template, block, version, &body));
    }

    #[test]
    fn every_fixp_template_round_trips(
        template in 1u16..=19,
        id in any::<[u8; 16]>(),
        a in any::<u64>(),
        b in any::<u64>(),
        c in any::<u32>(),
        e in any::<u8>(),
        next in proptest::option::of(0..u64::MAX),
        v1 in proptest::collection::vec(any::<u8>(), 0..100),
        v2 in proptest::collection::vec(any::<u8>(), 0..100),
    ) {
        let session_id = SessionId(id);
        let flow = FlowType::ALL[usize::from(e) % FlowType::ALL.len()];
        let msg = match template {
            1 => FixpMessage::Negotiate { session_id, timestamp: a, client_flow: flow, credentials: &v1 },
            2 => FixpMessage::NegotiationResponse { session_id, request_timestamp: a, server_flow: flow, credentials: &v1 },
            3 => FixpMessage::NegotiationReject { session_id, request_timestamp: a, code: NegotiationRejectCode::ALL[usize::from(e) % 4], reason: &v1 },
            4 => FixpMessage::Topic { session_id, flow, keepalive_interval: c, classification: &v1 },
            5 => FixpMessage::Establish { session_id, timestamp: a, keepalive_interval: c, next_seq_no: next, credentials: &v1 },
            6 => FixpMessage::EstablishmentAck { session_id, request_timestamp: a, keepalive_interval: c, next_seq_no: next },
            7 => FixpMessage::EstablishmentReject { session_id, request_timestamp: a, code: EstablishmentRejectCode::ALL[usize::from(e) % 6], reason: &v1 },
            8 => FixpMessage::Sequence { next_seq_no: a },
            9 => FixpMessage::Context { session_id, next_seq_no: a },
            10 => FixpMessage::UnsequencedHeartbeat,
            11 => FixpMessage::RetransmitRequest { session_id, timestamp: a, from_seq_no: b, count: c },
            12 => FixpMessage::Retransmission { session_id, request_timestamp: a, next_seq_no: b, count: c },
            13 => FixpMessage::RetransmitReject { session_id, request_timestamp: a, code: RetransmitRejectCode::ALL[usize::from(e) % 3], reason: &v1 },
            14 => FixpMessage::Terminate { session_id, code: TerminationCode::ALL[usize::from(e) % 4], reason: &v1 },
            15 => FixpMessage::FinishedSending { session_id, last_seq_no: next },
            16 => FixpMessage::FinishedReceiving { session_id },
            17 => FixpMessage::Applied { from_seq_no: a, count: c },
            18 => FixpMessage::NotApplied { from_seq_no: a, count: c },
            _ => FixpMessage::MessageTemplate { encoding_type: c, effective_time: next, version: &v1, template: &v2 },
        };
        let mut out = [0u8; 512];
        let mut sbe = SbeEncoding::new();
        let n = sbe.encode(&msg, &mut out).unwrap();
        prop_assert_eq!(sbe.decode(&out[..n], FrameKind::Binary), Ok(Inbound::Fixp(msg)));
        prop_assert_eq!(fixp::read_header(&out).unwrap().template_id, template);
    }
}

/// Templates whose only content after the fixed block is one optional var-data field: a peer
/// (Conga) may leave it out entirely, and `SbeEncoding` reads it as empty.
const OPTIONAL_TRAILING_VAR_DATA: [u16; 8] = [1, 2, 3, 4, 5, 7, 13, 14];

#[test]
fn every_prefix_of_every_fixp_vector_is_an_error_but_omitted_trailing_var_data() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("data/sbe-conformance/rl-generated-vectors/fixp");
    let mut files = 0;
    let mut tolerated = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "bin") {
            continue;
        }
        files += 1;
        let bytes = std::fs::read(&path).unwrap();
        let header = fixp::read_header(&bytes).unwrap();
        let block_end = fixp::HEADER_LENGTH + header.block_length;
        let mut sbe = SbeEncoding::new();
        assert!(sbe.decode(&bytes, FrameKind::Binary).is_ok());
        for n in 0..bytes.len() {
            // The flyweights are strict: every prefix is refused.
            assert!(fixp::Message::decode(&bytes[..n]).is_err());
            let decoded = sbe.decode(&bytes[..n], FrameKind::Binary);
            if n == block_end && OPTIONAL_TRAILING_VAR_DATA.contains(&header.template_id) {
                // The one tolerated prefix: the message without its trailing var data.
                assert!(
                    decoded.is_ok(),
                    "{} prefix {n}: {decoded:?}",
                    path.display()
                );
                tolerated += 1;
            } else {
                assert!(decoded.is_err(), "{} prefix {n}", path.display());
            }
        }
        let expected = OPTIONAL_TRAILING_VAR_DATA.contains(&header.template_id);
        assert_eq!(sbe.deviations().omitted_var_data, u64::from(expected));
    }
    assert_eq!(files, 19);
    assert_eq!(tolerated, OPTIONAL_TRAILING_VAR_DATA.len());
}
