//! SBE: the runtime used by generated flyweights, the generated FIXP and Conga order schemas,
//! and [`SbeEncoding`], the FIXP [`Encoding`] for binary WebSocket frames.
//!
//! Owns: SBE byte layouts and their bounds checks. May not touch: sockets, clocks, session state.
//! Decoding borrows the frame and allocates nothing; encoding writes into the caller's buffer.
//!
//! The flyweights are generated at build time by `fixp-sbe-codegen` from `data/spec/`:
//! [`fixp`] (schema 2748, the 19 FIXP session templates; template 13 is `RetransmitReject`) and
//! [`conga`] (schema 100, Conga's orders).

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

/// The FIXP SBE encoding: one SBE message per binary WebSocket frame, no SOFH.
///
/// Frames of schema 2748 decode to [`Inbound::Fixp`] (Applied and NotApplied included); frames of
/// any other schema come back whole as [`Inbound::Application`] once their header is present.
#[derive(Clone, Copy, Debug, Default)]
pub struct SbeEncoding;

impl SbeEncoding {
    /// A new SBE encoding (it holds no state).
    pub fn new() -> Self {
        SbeEncoding
    }

    /// Decodes one binary frame (the [`Encoding::decode`] logic, without `&mut self`).
    pub fn decode_frame(frame: &[u8]) -> Result<Inbound<'_>, DecodeError> {
        let header = fixp::read_header(frame)?;
        if header.schema_id != FIXP_SCHEMA_ID {
            return Ok(Inbound::Application(frame));
        }
        let message = fixp::Message::decode(frame)?;
        let end = message.sbe_end();
        if end != frame.len() {
            return Err(DecodeError::TrailingBytes {
                extra: frame.len() - end,
            });
        }
        to_model(message).map(Inbound::Fixp)
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
        Self::decode_frame(frame)
    }

    fn encode(&mut self, msg: &FixpMessage<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
        encode(msg, out)
    }
}
