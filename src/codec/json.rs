//! The JSON encoding of FIXP session messages, wire-compatible with Conga.
//!
//! Owns: the JSON form of the 19 FIXP templates (one flat object per frame, `"@type"`
//! discriminator, Conga's camelCase keys, byte fields as arrays of signed bytes, enums as names)
//! and the small JSON helpers the Conga order model in [`crate::codec::conga`] shares. May not
//! touch: sockets, clocks, session state.
//!
//! Decoding makes one pass over the frame with `serde_json`, keeping each known key's value as a
//! borrowed [`RawValue`], then converts the values the template needs. Byte arrays are copied
//! into scratch space owned by [`JsonEncoding`] (preallocated once), so the decoded
//! [`FixpMessage`] borrows from the encoding. Encoding writes straight into the caller's buffer.
//! Unknown members are skipped by walking them (`Skip`), so neither direction allocates per
//! message; only JSON string escapes (in keys or strings) make `serde_json` grow its scratch
//! buffer. SBE remains the fastest path; JSON is the interop path.

use serde::de::{DeserializeSeed, IgnoredAny, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt;

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
        let raw: RawFixp<'a> = parse_object(frame)?;
        if raw.not_an_object {
            return Err(DecodeError::InvalidJson);
        }
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

/// Declares a struct that keeps the listed members of a JSON object undecoded
/// (`Option<type>`, `null` reading as absent), with a `Deserialize` that skips every other
/// member without allocating (see `Skip`). A duplicate listed key is an error. A value that is
/// not an object sets `not_an_object` instead of failing, so callers can report a typed error.
macro_rules! raw_object {
    ($(#[$meta:meta])* $name:ident<$de:lifetime> { $($field:ident: $ty:ty = $key:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Default)]
        struct $name<$de> {
            $($field: Option<$ty>,)+
            /// The value was not a JSON object.
            not_an_object: bool,
        }

        impl<$de> serde::Deserialize<$de> for $name<$de> {
            fn deserialize<D: serde::Deserializer<$de>>(d: D) -> Result<Self, D::Error> {
                struct ObjectVisitor;

                impl<$de> serde::de::Visitor<$de> for ObjectVisitor {
                    type Value = $name<$de>;

                    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                        f.write_str("a JSON object")
                    }

                    fn visit_map<A: serde::de::MapAccess<$de>>(
                        self,
                        mut map: A,
                    ) -> Result<Self::Value, A::Error> {
                        use serde::de::Error as _;
                        let mut out = $name::default();
                        while let Some(key) = map.next_key::<$crate::codec::json::KeyBuf>()? {
                            match key.as_str() {
                                $(Some($key) => {
                                    if out.$field.is_some() {
                                        return Err(A::Error::duplicate_field($key));
                                    }
                                    out.$field = map.next_value()?;
                                })+
                                _ => {
                                    map.next_value::<$crate::codec::json::Skip>()?;
                                }
                            }
                        }
                        Ok(out)
                    }

                    fn visit_seq<A: serde::de::SeqAccess<$de>>(
                        self,
                        mut seq: A,
                    ) -> Result<Self::Value, A::Error> {
                        while seq.next_element::<$crate::codec::json::Skip>()?.is_some() {}
                        Ok($name { not_an_object: true, ..$name::default() })
                    }

                    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                        Ok($name { not_an_object: true, ..$name::default() })
                    }

                    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                        Ok($name { not_an_object: true, ..$name::default() })
                    }

                    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                        Ok($name { not_an_object: true, ..$name::default() })
                    }

                    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                        Ok($name { not_an_object: true, ..$name::default() })
                    }

                    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                        Ok($name { not_an_object: true, ..$name::default() })
                    }

                    fn visit_unit<E>(self) -> Result<Self::Value, E> {
                        Ok($name { not_an_object: true, ..$name::default() })
                    }
                }

                d.deserialize_any(ObjectVisitor)
            }
        }
    };
}

pub(crate) use raw_object;

/// An object key, copied into a fixed buffer (keys may contain escapes, so they cannot always
/// be borrowed). Keys longer than the buffer match nothing.
pub(crate) struct KeyBuf {
    len: usize,
    bytes: [u8; 32],
}

impl KeyBuf {
    /// The key, or `None` when it was too long to be one we know.
    pub(crate) fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(self.bytes.get(..self.len)?).ok()
    }
}

impl<'de> Deserialize<'de> for KeyBuf {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;

        impl Visitor<'_> for KeyVisitor {
            type Value = KeyBuf;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object key")
            }

            fn visit_str<E>(self, key: &str) -> Result<KeyBuf, E> {
                let mut out = KeyBuf {
                    len: usize::MAX,
                    bytes: [0; 32],
                };
                if let Some(dst) = out.bytes.get_mut(..key.len()) {
                    dst.copy_from_slice(key.as_bytes());
                    out.len = key.len();
                }
                Ok(out)
            }
        }

        d.deserialize_str(KeyVisitor)
    }
}

/// Skips any JSON value by walking it, without allocating for nested containers (serde_json's
/// own skipper keeps a growable stack of them). Only a string with escapes still makes
/// serde_json unescape into its scratch buffer. Depth is bounded by serde_json's recursion
/// limit (128), which is an error, not a stack overflow.
pub(crate) struct Skip;

impl<'de> Deserialize<'de> for Skip {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct SkipVisitor;

        impl<'de> Visitor<'de> for SkipVisitor {
            type Value = Skip;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }

            fn visit_bool<E>(self, _: bool) -> Result<Skip, E> {
                Ok(Skip)
            }

            fn visit_i64<E>(self, _: i64) -> Result<Skip, E> {
                Ok(Skip)
            }

            fn visit_u64<E>(self, _: u64) -> Result<Skip, E> {
                Ok(Skip)
            }

            fn visit_f64<E>(self, _: f64) -> Result<Skip, E> {
                Ok(Skip)
            }

            fn visit_str<E>(self, _: &str) -> Result<Skip, E> {
                Ok(Skip)
            }

            fn visit_unit<E>(self) -> Result<Skip, E> {
                Ok(Skip)
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Skip, A::Error> {
                while seq.next_element::<Skip>()?.is_some() {}
                Ok(Skip)
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Skip, A::Error> {
                while map.next_entry::<Skip, Skip>()?.is_some() {}
                Ok(Skip)
            }
        }

        d.deserialize_any(SkipVisitor)
    }
}

raw_object! {
    /// Every key of the FIXP JSON forms, kept undecoded.
    RawFixp<'a> {
        message_type: &'a RawValue = "@type",
        session_id: &'a RawValue = "sessionId",
        timestamp: &'a RawValue = "timestamp",
        request_timestamp: &'a RawValue = "requestTimestamp",
        client_flow: &'a RawValue = "clientFlow",
        server_flow: &'a RawValue = "serverFlow",
        flow: &'a RawValue = "flow",
        credentials: &'a RawValue = "credentials",
        reason: &'a RawValue = "reason",
        reject_code: &'a RawValue = "rejectCode",
        code: &'a RawValue = "code",
        heartbeat_interval: &'a RawValue = "heartbeatInterval",
        next_seq_no: &'a RawValue = "nextSeqNo",
        from_seq_no: &'a RawValue = "fromSeqNo",
        last_seq_no: &'a RawValue = "lastSeqNo",
        count: &'a RawValue = "count",
        classification: &'a RawValue = "classification",
        encoding_type: &'a RawValue = "encodingType",
        effective_time: &'a RawValue = "effectiveTime",
        version: &'a RawValue = "version",
        template: &'a RawValue = "template",
    }
}

fn is_json_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Parses exactly one JSON object (surrounding whitespace allowed) into `T`.
///
/// Not an object, or invalid JSON → [`DecodeError::InvalidJson`]; anything but whitespace after
/// the object → [`DecodeError::TrailingBytes`].
pub(crate) fn parse_object<'a, T: Deserialize<'a>>(frame: &'a [u8]) -> Result<T, DecodeError> {
    // serde would also read a struct from a JSON array; only objects are messages.
    match frame.iter().find(|b| !is_json_whitespace(**b)) {
        Some(b'{') => {}
        _ => return Err(DecodeError::InvalidJson),
    }
    let mut stream = serde_json::Deserializer::from_slice(frame).into_iter::<T>();
    let value = match stream.next() {
        Some(Ok(value)) => value,
        _ => return Err(DecodeError::InvalidJson),
    };
    let rest = frame.get(stream.byte_offset()..).unwrap_or(&[]);
    if rest.iter().any(|b| !is_json_whitespace(*b)) {
        return Err(DecodeError::TrailingBytes { extra: rest.len() });
    }
    Ok(value)
}

/// The FIXP template named by an `@type` value, or `None` (an application message).
fn fixp_template(raw: &RawValue) -> Option<TemplateId> {
    parse_str_with(raw, "@type", template_from_name).ok()
}

/// The template with this JSON `@type` name.
pub fn template_from_name(name: &str) -> Option<TemplateId> {
    use TemplateId::*;
    Some(match name {
        "Negotiate" => Negotiate,
        "NegotiationResponse" => NegotiationResponse,
        "NegotiationReject" => NegotiationReject,
        "Topic" => Topic,
        "Establish" => Establish,
        "EstablishmentAck" => EstablishmentAck,
        "EstablishmentReject" => EstablishmentReject,
        "Sequence" => Sequence,
        "Context" => Context,
        "UnsequencedHeartbeat" => UnsequencedHeartbeat,
        "RetransmitRequest" => RetransmitRequest,
        "Retransmission" => Retransmission,
        "RetransmitReject" | "RestransmitReject" => RetransmitReject,
        "Terminate" => Terminate,
        "FinishedSending" => FinishedSending,
        "FinishedReceiving" => FinishedReceiving,
        "Applied" => Applied,
        "NotApplied" => NotApplied,
        "MessageTemplate" => MessageTemplate,
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

pub(crate) fn required<'a>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<&'a RawValue, DecodeError> {
    raw.ok_or(DecodeError::MissingField { field })
}

/// Parses a JSON value of a plain serde type (integers, borrowed strings).
pub(crate) fn parse_value<'a, T: Deserialize<'a>>(
    raw: &'a RawValue,
    field: &'static str,
) -> Result<T, DecodeError> {
    serde_json::from_str(raw.get()).map_err(|_| DecodeError::InvalidField { field })
}

fn req_value<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<T, DecodeError> {
    parse_value(required(raw, field)?, field)
}

fn opt_value<'a, T: Deserialize<'a>>(
    raw: Option<&'a RawValue>,
    field: &'static str,
) -> Result<Option<T>, DecodeError> {
    raw.map(|r| parse_value(r, field)).transpose()
}

/// Parses a JSON string (escapes allowed) and converts it with `convert`; a non-string or a
/// `None` from `convert` → `InvalidField`.
pub(crate) fn parse_str_with<T>(
    raw: &RawValue,
    field: &'static str,
    convert: impl FnOnce(&str) -> Option<T>,
) -> Result<T, DecodeError> {
    struct StrVisitor<F>(F);

    impl<'de, T, F: FnOnce(&str) -> Option<T>> Visitor<'de> for StrVisitor<F> {
        type Value = Option<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string")
        }

        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Self::Value, E> {
            Ok((self.0)(text))
        }
    }

    let mut de = serde_json::Deserializer::from_str(raw.get());
    serde::Deserializer::deserialize_str(&mut de, StrVisitor(convert))
        .ok()
        .flatten()
        .ok_or(DecodeError::InvalidField { field })
}

/// Parses a JSON string that must be one of `all`'s names (as `name` gives them, or their
/// UPPER_SNAKE form when `upper_snake` is set). Unknown names → `InvalidField`.
pub(crate) fn parse_name<T: Copy>(
    raw: &RawValue,
    field: &'static str,
    all: &[T],
    name: fn(T) -> &'static str,
) -> Result<T, DecodeError> {
    parse_str_with(raw, field, |text| {
        all.iter()
            .copied()
            .find(|v| name(*v) == text || upper_snake_eq(name(*v), text))
    })
}

/// True when `text` is `camel` in UPPER_SNAKE form (`FlowTypeNotSupported` ↔
/// `FLOW_TYPE_NOT_SUPPORTED`), the way Conga's Java enum constants spell reject codes.
fn upper_snake_eq(camel: &str, text: &str) -> bool {
    let mut expected = UpperSnake::new(camel);
    let mut actual = text.bytes();
    loop {
        match (expected.next(), actual.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// The bytes of a CamelCase identifier in UPPER_SNAKE form.
struct UpperSnake<'s> {
    bytes: &'s [u8],
    pos: usize,
    pending: Option<u8>,
}

impl<'s> UpperSnake<'s> {
    fn new(camel: &'s str) -> Self {
        UpperSnake {
            bytes: camel.as_bytes(),
            pos: 0,
            pending: None,
        }
    }
}

impl Iterator for UpperSnake<'_> {
    type Item = u8;

    fn next(&mut self) -> Option<u8> {
        if let Some(b) = self.pending.take() {
            return Some(b);
        }
        let b = *self.bytes.get(self.pos)?;
        self.pos += 1;
        if self.pos > 1 && b.is_ascii_uppercase() {
            self.pending = Some(b);
            return Some(b'_');
        }
        Some(b.to_ascii_uppercase())
    }
}

/// Reads a JSON array of signed bytes (−128..=127) into `out`; yields the count, or the typed
/// reason the array was refused.
struct SignedBytesSeed<'s> {
    out: &'s mut [u8],
    field: &'static str,
}

impl<'de> DeserializeSeed<'de> for SignedBytesSeed<'_> {
    type Value = Result<usize, DecodeError>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for SignedBytesSeed<'_> {
    type Value = Result<usize, DecodeError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of signed bytes")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let field = self.field;
        let mut len = 0;
        while let Some(value) = seq.next_element::<i64>()? {
            let Ok(signed) = i8::try_from(value) else {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(Err(DecodeError::InvalidField { field }));
            };
            let Some(slot) = self.out.get_mut(len) else {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(Err(DecodeError::TooLong { field }));
            };
            *slot = signed as u8;
            len += 1;
        }
        Ok(Ok(len))
    }
}

/// Reads a signed-byte array into `out` and returns its length.
pub(crate) fn parse_signed_bytes(
    raw: &RawValue,
    field: &'static str,
    out: &mut [u8],
) -> Result<usize, DecodeError> {
    let mut de = serde_json::Deserializer::from_str(raw.get());
    let len = SignedBytesSeed { out, field }
        .deserialize(&mut de)
        .map_err(|_| DecodeError::InvalidField { field })??;
    de.end().map_err(|_| DecodeError::InvalidField { field })?;
    Ok(len)
}

fn session_id(raw: Option<&RawValue>) -> Result<SessionId, DecodeError> {
    const FIELD: &str = "sessionId";
    let mut id = [0u8; 16];
    let len = match parse_signed_bytes(required(raw, FIELD)?, FIELD, &mut id) {
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
    raw: Option<&RawValue>,
    field: &'static str,
    scratch: &'s mut [u8],
) -> Result<(&'s [u8], &'s mut [u8]), DecodeError> {
    match raw {
        None => Ok((&[], scratch)),
        Some(raw) => {
            let len = parse_signed_bytes(raw, field, scratch)?;
            let (taken, rest) = scratch.split_at_mut(len);
            Ok((taken, rest))
        }
    }
}

fn flow(raw: Option<&RawValue>, field: &'static str) -> Result<FlowType, DecodeError> {
    parse_name(required(raw, field)?, field, FlowType::ALL, FlowType::name)
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
            code: parse_name(
                required(raw.reject_code.or(raw.code), "rejectCode")?,
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
            code: parse_name(
                required(raw.reject_code.or(raw.code), "rejectCode")?,
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
            code: parse_name(
                required(raw.reject_code.or(raw.code), "rejectCode")?,
                "rejectCode",
                RetransmitRejectCode::ALL,
                RetransmitRejectCode::name,
            )?,
            reason: take_bytes(raw.reason, "reason", scratch)?.0,
        },
        T::Terminate => FixpMessage::Terminate {
            session_id: session_id(raw.session_id)?,
            code: parse_name(
                required(raw.code, "code")?,
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

/// Writes one flat JSON object into a caller's buffer. Keeps counting past the end, so an
/// overflow reports exactly how many bytes were needed.
pub(crate) struct ObjectWriter<'o> {
    out: &'o mut [u8],
    len: usize,
    first: bool,
}

impl<'o> ObjectWriter<'o> {
    /// Starts an object (`{`).
    pub(crate) fn new(out: &'o mut [u8]) -> Self {
        let mut w = ObjectWriter {
            out,
            len: 0,
            first: true,
        };
        w.raw(b"{");
        w
    }

    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if let Some(dst) = self.out.get_mut(self.len..end) {
            dst.copy_from_slice(bytes);
        }
        self.len = end;
    }

    /// Writes `"name":` (with a separating comma when needed).
    pub(crate) fn key(&mut self, name: &str) {
        if !self.first {
            self.raw(b",");
        }
        self.first = false;
        self.raw(b"\"");
        self.raw(name.as_bytes());
        self.raw(b"\":");
    }

    pub(crate) fn u64(&mut self, name: &str, value: u64) {
        self.key(name);
        let mut buf = itoa::Buffer::new();
        self.raw(buf.format(value).as_bytes());
    }

    fn opt_u64(&mut self, name: &str, value: Option<u64>) {
        if let Some(value) = value {
            self.u64(name, value);
        }
    }

    /// Writes a string value that needs no escaping (enum and message names).
    pub(crate) fn plain_str(&mut self, name: &str, value: &str) {
        self.key(name);
        self.raw(b"\"");
        self.raw(value.as_bytes());
        self.raw(b"\"");
    }

    fn upper_snake(&mut self, name: &str, camel: &str) {
        self.key(name);
        self.raw(b"\"");
        for b in UpperSnake::new(camel) {
            self.raw(&[b]);
        }
        self.raw(b"\"");
    }

    /// Writes a byte array as JSON signed bytes.
    fn signed_bytes(&mut self, name: &str, bytes: &[u8]) {
        self.key(name);
        self.raw(b"[");
        let mut buf = itoa::Buffer::new();
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 {
                self.raw(b",");
            }
            self.raw(buf.format(*b as i8).as_bytes());
        }
        self.raw(b"]");
    }

    /// Writes an optional byte array; empty means absent and is left out.
    fn opt_bytes(&mut self, name: &str, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.signed_bytes(name, bytes);
        }
    }

    fn session_id(&mut self, id: &SessionId) {
        self.signed_bytes("sessionId", &id.0);
    }

    /// Writes an integer member.
    pub(crate) fn int<I: itoa::Integer>(&mut self, name: &str, value: I) {
        self.key(name);
        let mut buf = itoa::Buffer::new();
        self.raw(buf.format(value).as_bytes());
    }

    /// Writes a string member, escaping `"`, `\\` and control characters.
    pub(crate) fn escaped_str(&mut self, name: &str, value: &str) {
        self.key(name);
        self.raw(b"\"");
        for b in value.bytes() {
            match b {
                b'"' => self.raw(b"\\\""),
                b'\\' => self.raw(b"\\\\"),
                0..=0x1f => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    let hi = HEX[usize::from(b >> 4)];
                    let lo = HEX[usize::from(b & 0xf)];
                    self.raw(&[b'\\', b'u', b'0', b'0', hi, lo]);
                }
                _ => self.raw(&[b]),
            }
        }
        self.raw(b"\"");
    }

    /// Writes `transactTime` as ISO-8601 UTC text.
    pub(crate) fn transact_time(&mut self, ns: u64) {
        self.key("transactTime");
        self.raw(b"\"");
        // Every u64 of nanoseconds is a representable date, so this cannot fail.
        let _ = crate::codec::conga::write_transact_time(ns, self);
        self.raw(b"\"");
    }

    /// Writes `"@type"` and closes the object; returns the length, or the size needed.
    pub(crate) fn finish(mut self, message_type: &str) -> Result<usize, EncodeError> {
        self.plain_str("@type", message_type);
        self.close()
    }

    /// Closes the object; returns the length, or the size needed.
    pub(crate) fn close(mut self) -> Result<usize, EncodeError> {
        self.raw(b"}");
        if self.len > self.out.len() {
            return Err(EncodeError::BufferTooSmall { needed: self.len });
        }
        Ok(self.len)
    }
}

impl fmt::Write for ObjectWriter<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.raw(s.as_bytes());
        Ok(())
    }
}

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
            w.session_id(&session_id);
            w.u64("timestamp", timestamp);
        }
        FixpMessage::NegotiationResponse {
            session_id,
            request_timestamp,
            server_flow,
            credentials,
        } => {
            w.opt_bytes("credentials", credentials);
            w.u64("requestTimestamp", request_timestamp);
            w.plain_str("serverFlow", server_flow.name());
            w.session_id(&session_id);
        }
        FixpMessage::NegotiationReject {
            session_id,
            request_timestamp,
            code,
            reason,
        } => {
            w.opt_bytes("reason", reason);
            w.upper_snake("rejectCode", code.name());
            w.u64("requestTimestamp", request_timestamp);
            w.session_id(&session_id);
        }
        FixpMessage::Topic {
            session_id,
            flow,
            keepalive_interval,
            classification,
        } => {
            w.opt_bytes("classification", classification);
            w.plain_str("flow", flow.name());
            w.u64("heartbeatInterval", keepalive_interval.into());
            w.session_id(&session_id);
        }
        FixpMessage::Establish {
            session_id,
            timestamp,
            keepalive_interval,
            next_seq_no,
            credentials,
        } => {
            w.opt_bytes("credentials", credentials);
            w.u64("heartbeatInterval", keepalive_interval.into());
            w.opt_u64("nextSeqNo", next_seq_no);
            w.session_id(&session_id);
            w.u64("timestamp", timestamp);
        }
        FixpMessage::EstablishmentAck {
            session_id,
            request_timestamp,
            keepalive_interval,
            next_seq_no,
        } => {
            w.u64("heartbeatInterval", keepalive_interval.into());
            w.opt_u64("nextSeqNo", next_seq_no);
            w.session_id(&session_id);
            w.u64("timestamp", request_timestamp);
        }
        FixpMessage::EstablishmentReject {
            session_id,
            request_timestamp,
            code,
            reason,
        } => {
            w.opt_bytes("reason", reason);
            w.upper_snake("rejectCode", code.name());
            w.session_id(&session_id);
            w.u64("timestamp", request_timestamp);
        }
        FixpMessage::Sequence { next_seq_no } => w.u64("nextSeqNo", next_seq_no),
        FixpMessage::Context {
            session_id,
            next_seq_no,
        } => {
            w.session_id(&session_id);
            w.u64("nextSeqNo", next_seq_no);
        }
        FixpMessage::UnsequencedHeartbeat => {}
        FixpMessage::RetransmitRequest {
            session_id,
            timestamp,
            from_seq_no,
            count,
        } => {
            w.u64("count", count.into());
            w.u64("fromSeqNo", from_seq_no);
            w.session_id(&session_id);
            w.u64("timestamp", timestamp);
        }
        FixpMessage::Retransmission {
            session_id,
            request_timestamp,
            next_seq_no,
            count,
        } => {
            w.u64("count", count.into());
            w.u64("fromSeqNo", next_seq_no);
            w.u64("requestTimestamp", request_timestamp);
            w.session_id(&session_id);
        }
        FixpMessage::RetransmitReject {
            session_id,
            request_timestamp,
            code,
            reason,
        } => {
            w.opt_bytes("reason", reason);
            w.plain_str("rejectCode", code.name());
            w.u64("requestTimestamp", request_timestamp);
            w.session_id(&session_id);
        }
        FixpMessage::Terminate {
            session_id,
            code,
            reason,
        } => {
            w.plain_str("code", code.name());
            w.opt_bytes("reason", reason);
            w.session_id(&session_id);
        }
        FixpMessage::FinishedSending {
            session_id,
            last_seq_no,
        } => {
            w.session_id(&session_id);
            w.opt_u64("lastSeqNo", last_seq_no);
        }
        FixpMessage::FinishedReceiving { session_id } => w.session_id(&session_id),
        FixpMessage::Applied { from_seq_no, count }
        | FixpMessage::NotApplied { from_seq_no, count } => {
            w.u64("fromSeqNo", from_seq_no);
            w.u64("count", count.into());
        }
        FixpMessage::MessageTemplate {
            encoding_type,
            effective_time,
            version,
            template,
        } => {
            w.u64("encodingType", encoding_type.into());
            w.opt_u64("effectiveTime", effective_time);
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
    fn upper_snake_matches_java_constant_names() {
        assert!(upper_snake_eq(
            "FlowTypeNotSupported",
            "FLOW_TYPE_NOT_SUPPORTED"
        ));
        assert!(upper_snake_eq("Credentials", "CREDENTIALS"));
        assert!(!upper_snake_eq("Credentials", "CREDENTIAL"));
        assert!(!upper_snake_eq(
            "FlowTypeNotSupported",
            "FLOWTYPENOTSUPPORTED"
        ));
        let s: Vec<u8> = UpperSnake::new("KeepaliveInterval").collect();
        assert_eq!(s, b"KEEPALIVE_INTERVAL");
    }

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
