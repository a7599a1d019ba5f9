//! SBE: the runtime used by generated flyweights, the generated FIXP and Conga order schemas,
//! and [`SbeEncoding`], the FIXP [`Encoding`] for binary WebSocket frames.
//!
//! Owns: SBE byte layouts and their bounds checks. May not touch: sockets, clocks, session state.
//! Decoding borrows the frame and allocates nothing; encoding writes into the caller's buffer.
//!
//! The flyweights are generated at build time by `fixp-sbe-codegen` from `data/spec/`:
//! [`fixp`] (schema 2748, the 19 FIXP session templates; template 13 is `RetransmitReject`) and
//! [`conga`] (schema 100, Conga's orders).
//!
//! ```
//! use fixp_ws::codec::sbe::{conga, SbeEncoding};
//! use fixp_ws::codec::{Encoding, FixpMessage, FrameKind, Inbound};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut sbe = SbeEncoding::new();
//! let mut out = [0u8; 128];
//! let n = sbe.encode(&FixpMessage::Sequence { next_seq_no: 42 }, &mut out)?;
//! assert_eq!(
//!     sbe.decode(&out[..n], FrameKind::Binary)?,
//!     Inbound::Fixp(FixpMessage::Sequence { next_seq_no: 42 })
//! );
//!
//! // An application message of another schema, with a repeating group.
//! let mut e = conga::ExecutionReportEncoder::new(&mut out)?;
//! e.set_order_id(b"OR1")?.set_side(conga::SideEnum::Buy);
//! e.fills_grp()?.next_entry()?.fill_qty().set_mantissa(5);
//! let n = e.encoded_length();
//! let Inbound::Application(frame) = sbe.decode(&out[..n], FrameKind::Binary)? else {
//!     unreachable!()
//! };
//! let er = conga::ExecutionReportDecoder::decode(frame)?;
//! assert_eq!(er.order_id(), b"OR1");
//! assert_eq!(er.fills_grp().map(|f| f.fill_qty().mantissa()).sum::<i32>(), 5);
//! # Ok(())
//! # }
//! ```

pub mod runtime;

pub use crate::codec::{DecodeError, EncodeError};

use crate::codec::fixp::{
    EstablishmentRejectCode, FlowType, NegotiationRejectCode, RetransmitRejectCode, SessionId,
    TerminationCode, FIXP_SCHEMA_ID,
};
use crate::codec::{Encoding, FixpMessage, FrameKind, Inbound};

/// Flyweights for the FIXP 1.1 SBE schema (`SBEschemaForFIXP-v1.1.xml`, id 2748, version 0).
pub mod fixp {
    include!(concat!(env!("OUT_DIR"), "/sbe_fixp.rs"));
}

/// Flyweights for Conga's order schema (`orders-sbe-schema.xml`, id 100, version 0).
pub mod conga {
    include!(concat!(env!("OUT_DIR"), "/sbe_conga.rs"));
}

/// Flyweights for the SBE reference schemas under `data/sbe-conformance/` (feature
/// `reference-schemas`): the fix-sbe-conformance schemas, real-logic's Car and the SBE 1.0
/// specification's examples.
#[cfg(feature = "reference-schemas")]
pub mod reference {
    /// fix-sbe-conformance `schema1.xml` (id 1, version 0).
    pub mod conformance1 {
        include!(concat!(env!("OUT_DIR"), "/reference_conformance1.rs"));
    }
    /// fix-sbe-conformance `schema2.xml` (id 1, version 1).
    pub mod conformance2 {
        include!(concat!(env!("OUT_DIR"), "/reference_conformance2.rs"));
    }
    /// fix-sbe-conformance `schema3.xml` (id 1, version 2).
    pub mod conformance3 {
        include!(concat!(env!("OUT_DIR"), "/reference_conformance3.rs"));
    }
    /// real-logic's Car, baseline schema (version 0).
    pub mod car {
        include!(concat!(env!("OUT_DIR"), "/reference_car.rs"));
    }
    /// real-logic's Car, extension schema (version 1).
    pub mod car_extension {
        include!(concat!(env!("OUT_DIR"), "/reference_car_extension.rs"));
    }
    /// The SBE 1.0 specification's `Examples.xml` (id 91).
    pub mod examples {
        include!(concat!(env!("OUT_DIR"), "/reference_examples.rs"));
    }
}

/// The FIXP SBE encoding: one SBE message per binary WebSocket frame, no SOFH.
///
/// Frames of schema 2748 decode to [`Inbound::Fixp`] (Applied and NotApplied included); frames of
/// any other schema come back whole as [`Inbound::Application`] once their header is present.
///
/// Two deviations of Conga's SBE session messages are accepted and counted
/// ([`Self::deviations`]), everything else malformed stays a typed error:
/// - a message that ends exactly where its one optional trailing var-data field (Credentials,
///   Reason, Classification) would begin reads as carrying it empty (Conga's client leaves out
///   an empty Credentials, length prefix included);
/// - NUL bytes after a complete message are padding (Conga's server sends EstablishmentAck and
///   EstablishmentReject in a 256-byte buffer).
///
/// Our encoder keeps writing the zero-length prefixes.
#[derive(Clone, Debug, Default)]
pub struct SbeEncoding {
    deviations: ToleratedDeviations,
    /// Where a message with an omitted var-data field is completed before decoding.
    scratch: CompletionBuffer,
}

/// Counts of the peer deviations [`SbeEncoding`] accepted (see its documentation).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ToleratedDeviations {
    /// Messages that ended where their optional trailing var data would begin.
    pub omitted_var_data: u64,
    /// Messages followed by NUL padding in their frame.
    pub nul_padding: u64,
}

impl ToleratedDeviations {
    /// Both counts together.
    pub fn total(&self) -> u64 {
        self.omitted_var_data + self.nul_padding
    }
}

/// Longest message (header and block) whose omitted var data [`SbeEncoding`] completes; a
/// longer one keeps its `Truncated` error.
const COMPLETION_CAPACITY: usize = 256;

/// A fixed buffer for completing a message (a newtype, so [`SbeEncoding`] can derive
/// `Default`).
#[derive(Clone, Debug)]
struct CompletionBuffer([u8; COMPLETION_CAPACITY]);

impl Default for CompletionBuffer {
    fn default() -> Self {
        CompletionBuffer([0; COMPLETION_CAPACITY])
    }
}

/// Width of the FIXP schema's var-data length prefix (`uint16`).
const VAR_DATA_LENGTH_WIDTH: usize = 2;

/// Whether the template's fields after the fixed block are exactly one optional var-data field:
/// the templates whose empty trailing data a peer may leave out. MessageTemplate is not one
/// (its `Template` is the payload).
fn has_one_optional_trailing_var_data(template_id: u16) -> bool {
    use fixp::*;
    [
        NegotiateDecoder::TEMPLATE_ID,
        NegotiationResponseDecoder::TEMPLATE_ID,
        NegotiationRejectDecoder::TEMPLATE_ID,
        TopicDecoder::TEMPLATE_ID,
        EstablishDecoder::TEMPLATE_ID,
        EstablishmentRejectDecoder::TEMPLATE_ID,
        RetransmitRejectDecoder::TEMPLATE_ID,
        TerminateDecoder::TEMPLATE_ID,
    ]
    .contains(&template_id)
}

impl SbeEncoding {
    /// A new SBE encoding.
    pub fn new() -> Self {
        Self::default()
    }

    /// The deviations accepted so far.
    pub fn deviations(&self) -> ToleratedDeviations {
        self.deviations
    }

    /// Decodes one binary frame strictly (no deviation tolerated; the [`Encoding::decode`]
    /// logic otherwise, without `&mut self`).
    pub fn decode_frame(frame: &[u8]) -> Result<Inbound<'_>, DecodeError> {
        let header = fixp::read_header(frame)?;
        if header.schema_id != FIXP_SCHEMA_ID {
            return Ok(Inbound::Application(frame));
        }
        let message = fixp::Message::decode_with_header(frame, header)?;
        let end = message.sbe_end();
        if end != frame.len() {
            return Err(DecodeError::TrailingBytes {
                extra: frame.len() - end,
            });
        }
        to_model(message).map(Inbound::Fixp)
    }

    /// Decodes a frame [`Self::decode_frame`] refused with `error`, if the refusal is one of
    /// the tolerated deviations; otherwise returns `error`.
    fn decode_deviating<'a>(
        &'a mut self,
        frame: &'a [u8],
        error: DecodeError,
    ) -> Result<Inbound<'a>, DecodeError> {
        let header = fixp::read_header(frame)?;
        match error {
            DecodeError::TrailingBytes { extra } => {
                let end = frame.len() - extra;
                let (message, padding) = frame.split_at(end);
                if padding.iter().any(|b| *b != 0) {
                    return Err(error);
                }
                let inbound = Self::decode_frame(message)?;
                self.deviations.nul_padding += 1;
                Ok(inbound)
            }
            DecodeError::Truncated { .. }
                if has_one_optional_trailing_var_data(header.template_id)
                    && frame.len() == fixp::HEADER_LENGTH + header.block_length =>
            {
                let completed_len = frame.len() + VAR_DATA_LENGTH_WIDTH;
                let Some(completed) = self.scratch.0.get_mut(..completed_len) else {
                    return Err(error);
                };
                let (body, length_prefix) = completed.split_at_mut(frame.len());
                body.copy_from_slice(frame);
                length_prefix.fill(0);
                let inbound = Self::decode_frame(completed)?;
                self.deviations.omitted_var_data += 1;
                Ok(inbound)
            }
            _ => Err(error),
        }
    }

    /// Encodes `msg` into the start of `out` (the [`Encoding::encode`] logic).
    pub fn encode_message(msg: &FixpMessage<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
        encode(msg, out)
    }
}

fn enum_error(field: &'static str, value: u8) -> DecodeError {
    DecodeError::InvalidEnum {
        field,
        value: u64::from(value),
    }
}

fn flow(field: &'static str, raw: u8) -> Result<FlowType, DecodeError> {
    FlowType::from_wire(raw).ok_or(enum_error(field, raw))
}

fn to_model(message: fixp::Message<'_>) -> Result<FixpMessage<'_>, DecodeError> {
    use fixp::Message as M;
    Ok(match message {
        M::Negotiate(m) => FixpMessage::Negotiate {
            session_id: SessionId(m.session_id()),
            timestamp: m.timestamp(),
            client_flow: flow("ClientFlow", m.client_flow_raw())?,
            credentials: m.credentials(),
        },
        M::NegotiationResponse(m) => FixpMessage::NegotiationResponse {
            session_id: SessionId(m.session_id()),
            request_timestamp: m.request_timestamp(),
            server_flow: flow("ServerFlow", m.server_flow_raw())?,
            credentials: m.credentials(),
        },
        M::NegotiationReject(m) => FixpMessage::NegotiationReject {
            session_id: SessionId(m.session_id()),
            request_timestamp: m.request_timestamp(),
            code: NegotiationRejectCode::from_wire(m.code_raw())
                .ok_or(enum_error("Code", m.code_raw()))?,
            reason: m.reason(),
        },
        M::Topic(m) => FixpMessage::Topic {
            session_id: SessionId(m.session_id()),
            flow: flow("Flow", m.flow_raw())?,
            keepalive_interval: m.keepalive_interval(),
            classification: m.classification(),
        },
        M::Establish(m) => FixpMessage::Establish {
            session_id: SessionId(m.session_id()),
            timestamp: m.timestamp(),
            keepalive_interval: m.keepalive_interval(),
            next_seq_no: m.next_seq_no(),
            credentials: m.credentials(),
        },
        M::EstablishmentAck(m) => FixpMessage::EstablishmentAck {
            session_id: SessionId(m.session_id()),
            request_timestamp: m.request_timestamp(),
            keepalive_interval: m.keepalive_interval(),
            next_seq_no: m.next_seq_no(),
        },
        M::EstablishmentReject(m) => FixpMessage::EstablishmentReject {
            session_id: SessionId(m.session_id()),
            request_timestamp: m.request_timestamp(),
            code: EstablishmentRejectCode::from_wire(m.code_raw())
                .ok_or(enum_error("Code", m.code_raw()))?,
            reason: m.reason(),
        },
        M::Sequence(m) => FixpMessage::Sequence {
            next_seq_no: m.next_seq_no(),
        },
        M::Context(m) => FixpMessage::Context {
            session_id: SessionId(m.session_id()),
            next_seq_no: m.next_seq_no(),
        },
        M::UnsequencedHeartbeat(_) => FixpMessage::UnsequencedHeartbeat,
        M::RetransmitRequest(m) => FixpMessage::RetransmitRequest {
            session_id: SessionId(m.session_id()),
            timestamp: m.timestamp(),
            from_seq_no: m.from_seq_no(),
            count: m.count(),
        },
        M::Retransmission(m) => FixpMessage::Retransmission {
            session_id: SessionId(m.session_id()),
            request_timestamp: m.request_timestamp(),
            next_seq_no: m.next_seq_no(),
            count: m.count(),
        },
        M::RetransmitReject(m) => FixpMessage::RetransmitReject {
            session_id: SessionId(m.session_id()),
            request_timestamp: m.request_timestamp(),
            code: RetransmitRejectCode::from_wire(m.code_raw())
                .ok_or(enum_error("Code", m.code_raw()))?,
            reason: m.reason(),
        },
        M::Terminate(m) => FixpMessage::Terminate {
            session_id: SessionId(m.session_id()),
            code: TerminationCode::from_wire(m.code_raw())
                .ok_or(enum_error("Code", m.code_raw()))?,
            reason: m.reason(),
        },
        M::FinishedSending(m) => FixpMessage::FinishedSending {
            session_id: SessionId(m.session_id()),
            last_seq_no: m.last_seq_no(),
        },
        M::FinishedReceiving(m) => FixpMessage::FinishedReceiving {
            session_id: SessionId(m.session_id()),
        },
        M::Applied(m) => FixpMessage::Applied {
            from_seq_no: m.from_seq_no(),
            count: m.count(),
        },
        M::NotApplied(m) => FixpMessage::NotApplied {
            from_seq_no: m.from_seq_no(),
            count: m.count(),
        },
        M::MessageTemplate(m) => FixpMessage::MessageTemplate {
            encoding_type: m.encoding_type(),
            effective_time: m.effective_time(),
            version: m.version(),
            template: m.template(),
        },
    })
}

fn encode(msg: &FixpMessage<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
    use fixp::*;
    Ok(match *msg {
        FixpMessage::Negotiate {
            session_id,
            timestamp,
            client_flow,
            credentials,
        } => {
            let mut e = NegotiateEncoder::new(out)?;
            e.set_session_id(&session_id.0)
                .set_timestamp(timestamp)
                .set_client_flow_raw(client_flow.to_wire())
                .put_credentials(credentials)?;
            e.encoded_length()
        }
        FixpMessage::NegotiationResponse {
            session_id,
            request_timestamp,
            server_flow,
            credentials,
        } => {
            let mut e = NegotiationResponseEncoder::new(out)?;
            e.set_session_id(&session_id.0)
                .set_request_timestamp(request_timestamp)
                .set_server_flow_raw(server_flow.to_wire())
                .put_credentials(credentials)?;
            e.encoded_length()
        }
        FixpMessage::NegotiationReject {
            session_id,
            request_timestamp,
            code,
            reason,
        } => {
            let mut e = NegotiationRejectEncoder::new(out)?;
            e.set_session_id(&session_id.0)
                .set_request_timestamp(request_timestamp)
                .set_code_raw(code.to_wire())
                .put_reason(reason)?;
            e.encoded_length()
        }
        FixpMessage::Topic {
            session_id,
            flow,
            keepalive_interval,
            classification,
        } => {
            let mut e = TopicEncoder::new(out)?;
            e.set_session_id(&session_id.0)
                .set_flow_raw(flow.to_wire())
                .set_keepalive_interval(keepalive_interval)
                .put_classification(classification)?;
            e.encoded_length()
        }
        FixpMessage::Establish {
            session_id,
            timestamp,
            keepalive_interval,
            next_seq_no,
            credentials,
        } => {
            let mut e = EstablishEncoder::new(out)?;
            e.set_session_id(&session_id.0)
                .set_timestamp(timestamp)
                .set_keepalive_interval(keepalive_interval)
                .set_next_seq_no(next_seq_no)
                .put_credentials(credentials)?;
            e.encoded_length()
        }
        FixpMessage::EstablishmentAck {
            session_id,
            request_timestamp,
            keepalive_interval,
            next_seq_no,
        } => {
            let mut e = EstablishmentAckEncoder::new(out)?;
            e.set_session_id(&session_id.0)
                .set_request_timestamp(request_timestamp)
                .set_keepalive_interval(keepalive_interval)
                .set_next_seq_no(next_seq_no);
            e.encoded_length()
        }
        FixpMessage::EstablishmentReject {
            session_id,
            request_timestamp,
            code,
            reason,
        } => {
            let mut e = EstablishmentRejectEncoder::new(out)?;
            e.set_session_id(&session_id.0)
                .set_request_timestamp(request_timestamp)
                .set_code_raw(code.to_wire())
                .put_reason(reason)?;
            e.encoded_length()
        }
        FixpMessage::Sequence { next_seq_no } => {
            let mut e = SequenceEncoder::new(out)?;
            e.set_next_seq_no(next_seq_no);
            e.encoded_length()
        }
        FixpMessage::Context {
            session_id,
            next_seq_no,
        } => {
            let mut e = ContextEncoder::new(out)?;
            e.set_session_id(&session_id.0).set_next_seq_no(next_seq_no);
            e.encoded_length()
        }
        FixpMessage::UnsequencedHeartbeat => {
            UnsequencedHeartbeatEncoder::new(out)?.encoded_length()
        }
        FixpMessage::RetransmitRequest {
            session_id,
            timestamp,
            from_seq_no,
            count,
        } => {
            let mut e = RetransmitRequestEncoder::new(out)?;
            e.set_session_id(&session_id.0)
                .set_timestamp(timestamp)
                .set_from_seq_no(from_seq_no)
                .set_count(count);
            e.encoded_length()
        }
        FixpMessage::Retransmission {
            session_id,
            request_timestamp,
            next_seq_no,
            count,
        } => {
            let mut e = RetransmissionEncoder::new(out)?;
            e.set_session_id(&session_id.0)
                .set_request_timestamp(request_timestamp)
                .set_next_seq_no(next_seq_no)
                .set_count(count);
            e.encoded_length()
        }
        FixpMessage::RetransmitReject {
            session_id,
            request_timestamp,
            code,
            reason,
        } => {
            let mut e = RetransmitRejectEncoder::new(out)?;
            e.set_session_id(&session_id.0)
                .set_request_timestamp(request_timestamp)
                .set_code_raw(code.to_wire())
                .put_reason(reason)?;
            e.encoded_length()
        }
        FixpMessage::Terminate {
            session_id,
            code,
            reason,
        } => {
            let mut e = TerminateEncoder::new(out)?;
            e.set_session_id(&session_id.0)
                .set_code_raw(code.to_wire())
                .put_reason(reason)?;
            e.encoded_length()
        }
        FixpMessage::FinishedSending {
            session_id,
            last_seq_no,
        } => {
            let mut e = FinishedSendingEncoder::new(out)?;
            e.set_session_id(&session_id.0).set_last_seq_no(last_seq_no);
            e.encoded_length()
        }
        FixpMessage::FinishedReceiving { session_id } => {
            let mut e = FinishedReceivingEncoder::new(out)?;
            e.set_session_id(&session_id.0);
            e.encoded_length()
        }
        FixpMessage::Applied { from_seq_no, count } => {
            let mut e = AppliedEncoder::new(out)?;
            e.set_from_seq_no(from_seq_no).set_count(count);
            e.encoded_length()
        }
        FixpMessage::NotApplied { from_seq_no, count } => {
            let mut e = NotAppliedEncoder::new(out)?;
            e.set_from_seq_no(from_seq_no).set_count(count);
            e.encoded_length()
        }
        FixpMessage::MessageTemplate {
            encoding_type,
            effective_time,
            version,
            template,
        } => {
            let mut e = MessageTemplateEncoder::new(out)?;
            e.set_encoding_type(encoding_type)
                .set_effective_time(effective_time)
                .put_version(version)?
                .put_template(template)?;
            e.encoded_length()
        }
    })
}

impl Encoding for SbeEncoding {
    fn name(&self) -> &'static str {
        "sbe"
    }

    fn frame_kind(&self) -> FrameKind {
        FrameKind::Binary
    }

    fn decode<'a>(
        &'a mut self,
        frame: &'a [u8],
        kind: FrameKind,
    ) -> Result<Inbound<'a>, DecodeError> {
        if kind != FrameKind::Binary {
            return Err(DecodeError::WrongFrameKind);
        }
        match Self::decode_frame(frame) {
            Err(error) => self.decode_deviating(frame, error),
            decoded => decoded,
        }
    }

    fn tolerated_deviations(&self) -> u64 {
        self.deviations.total()
    }

    fn encode(&mut self, msg: &FixpMessage<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
        encode(msg, out)
    }
}
