//! The JSON encoding of FIXP session messages, wire-compatible with Conga.
//!
//! Owns: the JSON form of the 19 FIXP templates (one flat object per frame, `"@type"`
//! discriminator, Conga's camelCase keys, byte fields as arrays of signed bytes, enums as
//! names). May not touch: sockets, clocks, session state, application messages (an object
//! whose `@type` is not a FIXP template is handed back whole).
//!
//! `primitives` (crate-private) holds the JSON syntax both this encoding and the Conga order model
//! ([`crate::codec::conga`]) use; this module only knows the FIXP keys. Decoding scans the
//! frame once (validating all of it and keeping the spans of the FIXP keys), then converts the
//! values the template needs; byte arrays are copied into scratch space owned by
//! [`JsonEncoding`] (preallocated once), so the decoded [`FixpMessage`] borrows from the
//! encoding. Encoding writes straight into the caller's buffer. Neither direction allocates.

pub(crate) mod primitives;

use std::fmt;

use self::primitives::{json_members, required, ObjectWriter, Value};
use super::fixp::{
    EstablishmentRejectCode, FlowType, NegotiationRejectCode, RetransmitRejectCode, TemplateId,
    TerminationCode,
};
use super::{DecodeError, EncodeError, Encoding, FixpMessage, FrameKind, Inbound, SessionId};

/// Default size of the scratch space that decoded byte arrays (credentials, reasons, templates)
/// live in. All byte arrays of one message share it.
pub const DEFAULT_SCRATCH_CAPACITY: usize = 16 * 1024;

/// The JSON encoding of FIXP, wire-compatible with Conga (see `docs/json.md`).
///
/// Sends text frames; accepts JSON in text and binary frames (Conga's server sends binary).
pub struct JsonEncoding {
    scratch: Box<[u8]>,
}

impl JsonEncoding {
    /// An encoding with [`DEFAULT_SCRATCH_CAPACITY`] bytes of scratch space.
    pub fn new() -> Self {
        Self::with_scratch_capacity(DEFAULT_SCRATCH_CAPACITY)
    }

    /// An encoding whose decoded byte arrays may total up to `bytes` per message; longer ones
    /// are rejected with [`DecodeError::TooLong`].
    pub fn with_scratch_capacity(bytes: usize) -> Self {
        JsonEncoding {
            scratch: vec![0; bytes].into_boxed_slice(),
        }
    }
}

impl Default for JsonEncoding {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for JsonEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonEncoding")
            .field("scratch_capacity", &self.scratch.len())
            .finish()
    }
}

impl Encoding for JsonEncoding {
    fn name(&self) -> &'static str {
        "json"
    }

    fn frame_kind(&self) -> FrameKind {
        FrameKind::Text
    }

    fn decode<'a>(
        &'a mut self,
        frame: &'a [u8],
        _kind: FrameKind,
    ) -> Result<Inbound<'a>, DecodeError> {
        let mut raw = RawFixp::default();
        raw.scan_into(frame)?;
        let Some(template) = raw.message_type.and_then(fixp_template) else {
            return Ok(Inbound::Application(frame));
        };
        decode_fixp(template, &raw, &mut self.scratch).map(Inbound::Fixp)
    }

    fn encode(&mut self, msg: &FixpMessage<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
        encode_fixp(msg, out)
    }
}

// ---------------------------------------------------------------------------------------------
// Decoding
// ---------------------------------------------------------------------------------------------

json_members! {
    /// Every key of the FIXP JSON forms, as scanned.
    RawFixp<'a> {
        message_type = b"@type",
        session_id = b"sessionId",
        timestamp = b"timestamp",
        request_timestamp = b"requestTimestamp",
        client_flow = b"clientFlow",
        server_flow = b"serverFlow",
        flow = b"flow",
        credentials = b"credentials",
        reason = b"reason",
        reject_code = b"rejectCode",
        code = b"code",
        heartbeat_interval = b"heartbeatInterval",
        next_seq_no = b"nextSeqNo",
        from_seq_no = b"fromSeqNo",
        last_seq_no = b"lastSeqNo",
        count = b"count",
        classification = b"classification",
        encoding_type = b"encodingType",
        effective_time = b"effectiveTime",
        version = b"version",
        template = b"template",
    }
}

/// The FIXP template named by an `@type` value, or `None` (an application message).
fn fixp_template(value: Value<'_>) -> Option<TemplateId> {
    value.with_str("@type", template_from_bytes).ok()
}

/// The template with this JSON `@type` name.
pub fn template_from_name(name: &str) -> Option<TemplateId> {
    template_from_bytes(name.as_bytes())
}

/// [`template_from_name`] on the name's bytes.
fn template_from_bytes(name: &[u8]) -> Option<TemplateId> {
    use TemplateId::*;
    Some(match name {
        b"Negotiate" => Negotiate,
        b"NegotiationResponse" => NegotiationResponse,
        b"NegotiationReject" => NegotiationReject,
        b"Topic" => Topic,
        b"Establish" => Establish,
        b"EstablishmentAck" => EstablishmentAck,
        b"EstablishmentReject" => EstablishmentReject,
        b"Sequence" => Sequence,
        b"Context" => Context,
        b"UnsequencedHeartbeat" => UnsequencedHeartbeat,
        b"RetransmitRequest" => RetransmitRequest,
        b"Retransmission" => Retransmission,
        b"RetransmitReject" | b"RestransmitReject" => RetransmitReject,
        b"Terminate" => Terminate,
        b"FinishedSending" => FinishedSending,
        b"FinishedReceiving" => FinishedReceiving,
        b"Applied" => Applied,
        b"NotApplied" => NotApplied,
        b"MessageTemplate" => MessageTemplate,
        _ => return None,
    })
}

/// The JSON `@type` name of a template.
pub fn template_name(template: TemplateId) -> &'static str {
    use TemplateId::*;
    match template {
        Negotiate => "Negotiate",
        NegotiationResponse => "NegotiationResponse",
        NegotiationReject => "NegotiationReject",
        Topic => "Topic",
        Establish => "Establish",
        EstablishmentAck => "EstablishmentAck",
        EstablishmentReject => "EstablishmentReject",
        Sequence => "Sequence",
        Context => "Context",
        UnsequencedHeartbeat => "UnsequencedHeartbeat",
        RetransmitRequest => "RetransmitRequest",
        Retransmission => "Retransmission",
        RetransmitReject => "RetransmitReject",
        Terminate => "Terminate",
        FinishedSending => "FinishedSending",
        FinishedReceiving => "FinishedReceiving",
        Applied => "Applied",
        NotApplied => "NotApplied",
        MessageTemplate => "MessageTemplate",
    }
}

fn req_value<T: TryFrom<u64> + TryFrom<i64>>(
    value: Option<Value<'_>>,
    field: &'static str,
) -> Result<T, DecodeError> {
    required(value, field)?.int(field)
}

fn opt_value<T: TryFrom<u64> + TryFrom<i64>>(
    value: Option<Value<'_>>,
    field: &'static str,
) -> Result<Option<T>, DecodeError> {
    value.map(|v| v.int(field)).transpose()
}

fn session_id(value: Option<Value<'_>>) -> Result<SessionId, DecodeError> {
    const FIELD: &str = "sessionId";
    let mut id = [0u8; 16];
    let len = match required(value, FIELD)?.signed_bytes(FIELD, &mut id) {
        Ok(len) => len,
        Err(DecodeError::TooLong { .. }) => return Err(DecodeError::InvalidField { field: FIELD }),
        Err(e) => return Err(e),
    };
    if len != id.len() {
        return Err(DecodeError::InvalidField { field: FIELD });
    }
    Ok(SessionId(id))
}

/// Copies an optional byte array into the front of `scratch`; returns it and the unused rest.
fn take_bytes<'s>(
    value: Option<Value<'_>>,
    field: &'static str,
    scratch: &'s mut [u8],
) -> Result<(&'s [u8], &'s mut [u8]), DecodeError> {
    match value {
        None => Ok((&[], scratch)),
        Some(value) => {
            let len = value.signed_bytes(field, scratch)?;
            let (taken, rest) = scratch.split_at_mut(len);
            Ok((taken, rest))
        }
    }
}

fn flow(value: Option<Value<'_>>, field: &'static str) -> Result<FlowType, DecodeError> {
    required(value, field)?.name(field, FlowType::ALL, FlowType::name)
}

fn decode_fixp<'a>(
    template: TemplateId,
    raw: &RawFixp<'_>,
    scratch: &'a mut [u8],
) -> Result<FixpMessage<'a>, DecodeError> {
    use TemplateId as T;
    Ok(match template {
        T::Negotiate => FixpMessage::Negotiate {
            session_id: session_id(raw.session_id)?,
            timestamp: req_value(raw.timestamp, "timestamp")?,
            client_flow: flow(raw.client_flow, "clientFlow")?,
            credentials: take_bytes(raw.credentials, "credentials", scratch)?.0,
        },
        T::NegotiationResponse => FixpMessage::NegotiationResponse {
            session_id: session_id(raw.session_id)?,
            request_timestamp: req_value(raw.request_timestamp, "requestTimestamp")?,
            server_flow: flow(raw.server_flow, "serverFlow")?,
            credentials: take_bytes(raw.credentials, "credentials", scratch)?.0,
        },
        T::NegotiationReject => FixpMessage::NegotiationReject {
            session_id: session_id(raw.session_id)?,
            request_timestamp: req_value(raw.request_timestamp, "requestTimestamp")?,
            code: required(raw.reject_code.or(raw.code), "rejectCode")?.name(
                "rejectCode",
                NegotiationRejectCode::ALL,
                NegotiationRejectCode::name,
            )?,
            reason: take_bytes(raw.reason, "reason", scratch)?.0,
        },
        T::Topic => FixpMessage::Topic {
            session_id: session_id(raw.session_id)?,
            flow: flow(raw.flow, "flow")?,
            keepalive_interval: req_value(raw.heartbeat_interval, "heartbeatInterval")?,
            classification: take_bytes(raw.classification, "classification", scratch)?.0,
        },
        T::Establish => FixpMessage::Establish {
            session_id: session_id(raw.session_id)?,
            timestamp: req_value(raw.timestamp, "timestamp")?,
            keepalive_interval: req_value(raw.heartbeat_interval, "heartbeatInterval")?,
            next_seq_no: opt_value(raw.next_seq_no, "nextSeqNo")?,
            credentials: take_bytes(raw.credentials, "credentials", scratch)?.0,
        },
        T::EstablishmentAck => FixpMessage::EstablishmentAck {
            session_id: session_id(raw.session_id)?,
            request_timestamp: req_value(raw.timestamp, "timestamp")?,
            keepalive_interval: req_value(raw.heartbeat_interval, "heartbeatInterval")?,
            next_seq_no: opt_value(raw.next_seq_no, "nextSeqNo")?,
        },
        T::EstablishmentReject => FixpMessage::EstablishmentReject {
            session_id: session_id(raw.session_id)?,
            request_timestamp: req_value(raw.timestamp, "timestamp")?,
            code: required(raw.reject_code.or(raw.code), "rejectCode")?.name(
                "rejectCode",
                EstablishmentRejectCode::ALL,
                EstablishmentRejectCode::name,
            )?,
            reason: take_bytes(raw.reason, "reason", scratch)?.0,
        },
        T::Sequence => FixpMessage::Sequence {
            next_seq_no: req_value(raw.next_seq_no, "nextSeqNo")?,
        },
        T::Context => FixpMessage::Context {
            session_id: session_id(raw.session_id)?,
            next_seq_no: req_value(raw.next_seq_no, "nextSeqNo")?,
        },
        T::UnsequencedHeartbeat => FixpMessage::UnsequencedHeartbeat,
        T::RetransmitRequest => FixpMessage::RetransmitRequest {
            session_id: session_id(raw.session_id)?,
            timestamp: req_value(raw.timestamp, "timestamp")?,
            from_seq_no: req_value(raw.from_seq_no, "fromSeqNo")?,
            count: req_value(raw.count, "count")?,
        },
        T::Retransmission => FixpMessage::Retransmission {
            session_id: session_id(raw.session_id)?,
            request_timestamp: req_value(raw.request_timestamp, "requestTimestamp")?,
            next_seq_no: req_value(raw.from_seq_no, "fromSeqNo")?,
            count: req_value(raw.count, "count")?,
        },
        T::RetransmitReject => FixpMessage::RetransmitReject {
            session_id: session_id(raw.session_id)?,
            request_timestamp: req_value(raw.request_timestamp, "requestTimestamp")?,
            code: required(raw.reject_code.or(raw.code), "rejectCode")?.name(
                "rejectCode",
                RetransmitRejectCode::ALL,
                RetransmitRejectCode::name,
            )?,
            reason: take_bytes(raw.reason, "reason", scratch)?.0,
        },
        T::Terminate => FixpMessage::Terminate {
            session_id: session_id(raw.session_id)?,
            code: required(raw.code, "code")?.name(
                "code",
                TerminationCode::ALL,
                TerminationCode::name,
            )?,
            reason: take_bytes(raw.reason, "reason", scratch)?.0,
        },
        T::FinishedSending => FixpMessage::FinishedSending {
            session_id: session_id(raw.session_id)?,
            last_seq_no: opt_value(raw.last_seq_no, "lastSeqNo")?,
        },
        T::FinishedReceiving => FixpMessage::FinishedReceiving {
            session_id: session_id(raw.session_id)?,
        },
        T::Applied => FixpMessage::Applied {
            from_seq_no: req_value(raw.from_seq_no, "fromSeqNo")?,
            count: req_value(raw.count, "count")?,
        },
        T::NotApplied => FixpMessage::NotApplied {
            from_seq_no: req_value(raw.from_seq_no, "fromSeqNo")?,
            count: req_value(raw.count, "count")?,
        },
        T::MessageTemplate => {
            let encoding_type = req_value(raw.encoding_type, "encodingType")?;
            let effective_time = opt_value(raw.effective_time, "effectiveTime")?;
            let (version, rest) = take_bytes(raw.version, "version", scratch)?;
            let template =
                take_bytes(Some(required(raw.template, "template")?), "template", rest)?.0;
            FixpMessage::MessageTemplate {
                encoding_type,
                effective_time,
                version,
                template,
            }
        }
    })
}

// ---------------------------------------------------------------------------------------------
// Encoding
// ---------------------------------------------------------------------------------------------

/// Encodes one FIXP message as Conga-style JSON into `out`.
fn encode_fixp(msg: &FixpMessage<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    let mut w = ObjectWriter::new(out);
    match *msg {
        FixpMessage::Negotiate {
            session_id,
            timestamp,
            client_flow,
            credentials,
        } => {
            w.plain_str("clientFlow", client_flow.name());
            w.opt_bytes("credentials", credentials);
            w.signed_bytes("sessionId", &session_id.0);
            w.int("timestamp", timestamp);
        }
        FixpMessage::NegotiationResponse {
            session_id,
            request_timestamp,
            server_flow,
            credentials,
        } => {
            w.opt_bytes("credentials", credentials);
            w.int("requestTimestamp", request_timestamp);
            w.plain_str("serverFlow", server_flow.name());
            w.signed_bytes("sessionId", &session_id.0);
        }
        FixpMessage::NegotiationReject {
            session_id,
            request_timestamp,
            code,
            reason,
        } => {
            w.opt_bytes("reason", reason);
            w.upper_snake("rejectCode", code.name());
            w.int("requestTimestamp", request_timestamp);
            w.signed_bytes("sessionId", &session_id.0);
        }
        FixpMessage::Topic {
            session_id,
            flow,
            keepalive_interval,
            classification,
        } => {
            w.opt_bytes("classification", classification);
            w.plain_str("flow", flow.name());
            w.int("heartbeatInterval", keepalive_interval);
            w.signed_bytes("sessionId", &session_id.0);
        }
        FixpMessage::Establish {
            session_id,
            timestamp,
            keepalive_interval,
            next_seq_no,
            credentials,
        } => {
            w.opt_bytes("credentials", credentials);
            w.int("heartbeatInterval", keepalive_interval);
            w.opt_int("nextSeqNo", next_seq_no);
            w.signed_bytes("sessionId", &session_id.0);
            w.int("timestamp", timestamp);
        }
        FixpMessage::EstablishmentAck {
            session_id,
            request_timestamp,
            keepalive_interval,
            next_seq_no,
        } => {
            w.int("heartbeatInterval", keepalive_interval);
            w.opt_int("nextSeqNo", next_seq_no);
            w.signed_bytes("sessionId", &session_id.0);
            w.int("timestamp", request_timestamp);
        }
        FixpMessage::EstablishmentReject {
            session_id,
            request_timestamp,
            code,
            reason,
        } => {
            w.opt_bytes("reason", reason);
            w.upper_snake("rejectCode", code.name());
            w.signed_bytes("sessionId", &session_id.0);
            w.int("timestamp", request_timestamp);
        }
        FixpMessage::Sequence { next_seq_no } => w.int("nextSeqNo", next_seq_no),
        FixpMessage::Context {
            session_id,
            next_seq_no,
        } => {
            w.signed_bytes("sessionId", &session_id.0);
            w.int("nextSeqNo", next_seq_no);
        }
        FixpMessage::UnsequencedHeartbeat => {}
        FixpMessage::RetransmitRequest {
            session_id,
            timestamp,
            from_seq_no,
            count,
        } => {
            w.int("count", count);
            w.int("fromSeqNo", from_seq_no);
            w.signed_bytes("sessionId", &session_id.0);
            w.int("timestamp", timestamp);
        }
        FixpMessage::Retransmission {
            session_id,
            request_timestamp,
            next_seq_no,
            count,
        } => {
            w.int("count", count);
            w.int("fromSeqNo", next_seq_no);
            w.int("requestTimestamp", request_timestamp);
            w.signed_bytes("sessionId", &session_id.0);
        }
        FixpMessage::RetransmitReject {
            session_id,
            request_timestamp,
            code,
            reason,
        } => {
            w.opt_bytes("reason", reason);
            w.plain_str("rejectCode", code.name());
            w.int("requestTimestamp", request_timestamp);
            w.signed_bytes("sessionId", &session_id.0);
        }
        FixpMessage::Terminate {
            session_id,
            code,
            reason,
        } => {
            w.plain_str("code", code.name());
            w.opt_bytes("reason", reason);
            w.signed_bytes("sessionId", &session_id.0);
        }
        FixpMessage::FinishedSending {
            session_id,
            last_seq_no,
        } => {
            w.signed_bytes("sessionId", &session_id.0);
            w.opt_int("lastSeqNo", last_seq_no);
        }
        FixpMessage::FinishedReceiving { session_id } => w.signed_bytes("sessionId", &session_id.0),
        FixpMessage::Applied { from_seq_no, count }
        | FixpMessage::NotApplied { from_seq_no, count } => {
            w.int("fromSeqNo", from_seq_no);
            w.int("count", count);
        }
        FixpMessage::MessageTemplate {
            encoding_type,
            effective_time,
            version,
            template,
        } => {
            w.int("encodingType", encoding_type);
            w.opt_int("effectiveTime", effective_time);
            w.opt_bytes("version", version);
            w.signed_bytes("template", template);
        }
    }
    w.finish(template_name(msg.template()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writer_reports_exact_size_needed() {
        let msg = FixpMessage::Sequence { next_seq_no: 42 };
        let mut big = [0u8; 64];
        let n = encode_fixp(&msg, &mut big).unwrap();
        assert_eq!(&big[..n], br#"{"nextSeqNo":42,"@type":"Sequence"}"#);
        let mut small = [0u8; 10];
        assert_eq!(
            encode_fixp(&msg, &mut small),
            Err(EncodeError::BufferTooSmall { needed: n })
        );
    }
}
