//! The FIXP 1.1 message model, independent of any encoding.
//!
//! [`FixpMessage`] is the typed form of the 19 templates of the FIXP SBE schema (id 2748,
//! version 0). Variable-length fields (credentials, reasons, templates) borrow from the frame
//! they were decoded from, or from the encoding's scratch buffer, so decoding allocates nothing.
//! Each [`crate::codec::Encoding`] turns frames into these values and back.
//!
//! Names follow the FIXP text, not the schema's misspellings: template 13 is
//! [`FixpMessage::RetransmitReject`] (the schema says `RestransmitReject`; the wire id stays 13).

use std::fmt;

/// The FIXP SBE schema id (`package="FIXP" id="2748"`).
pub const FIXP_SCHEMA_ID: u16 = 2748;
/// The FIXP SBE schema version.
pub const FIXP_SCHEMA_VERSION: u16 = 0;

/// A FIXP SessionId: a UUID (version 4) in RFC 4122 byte order, as both Conga and the FIX
/// reference implementation put it on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SessionId(pub [u8; 16]);

impl SessionId {
    /// The all-zero id, which FIXP servers reject as malformed.
    pub const NIL: SessionId = SessionId([0; 16]);

    /// Builds a version-4 UUID from 16 random bytes (sets the version and variant bits).
    pub fn from_random_bytes(mut bytes: [u8; 16]) -> Self {
        bytes[6] = (bytes[6] & 0x0f) | 0x40;
        bytes[8] = (bytes[8] & 0x3f) | 0x80;
        SessionId(bytes)
    }

    /// True for the all-zero id.
    pub fn is_nil(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, b) in self.0.iter().enumerate() {
            if matches!(i, 4 | 6 | 8 | 10) {
                f.write_str("-")?;
            }
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

wire_enum! {
    /// The delivery guarantee of one direction of a session.
    FlowType {
        /// Exactly once: gaps are recovered by retransmission.
        Recoverable = 0,
        /// At most once: gaps are reported with NotApplied.
        Idempotent = 1,
        /// Best effort: no sequence numbers.
        Unsequenced = 2,
        /// No application messages in this direction.
        None = 3,
    }
}

wire_enum! {
    /// Why a Negotiate was rejected.
    NegotiationRejectCode {
        /// Identity not recognised or not authorised.
        Credentials = 0,
        /// The requested client flow type is not supported.
        FlowTypeNotSupported = 1,
        /// The SessionId is not unique.
        DuplicateId = 2,
        /// Any other reason (see the reason text).
        Unspecified = 3,
    }
}

wire_enum! {
    /// Why an Establish was rejected.
    EstablishmentRejectCode {
        /// No prior negotiation, or the session was finalized.
        Unnegotiated = 0,
        /// The session is already established.
        AlreadyEstablished = 1,
        /// The user is not authorised.
        SessionBlocked = 2,
        /// The keepalive interval is out of the accepted range.
        KeepaliveInterval = 3,
        /// Identity not recognised or not authorised.
        Credentials = 4,
        /// Any other reason (see the reason text).
        Unspecified = 5,
    }
}

wire_enum! {
    /// Why a RetransmitRequest was rejected.
    RetransmitRejectCode {
        /// The range is beyond what was sent or what is still held.
        OutOfRange = 0,
        /// The SessionId is unknown or not authorised.
        InvalidSession = 1,
        /// The count exceeds the local limit per request.
        RequestLimitExceeded = 2,
    }
}

wire_enum! {
    /// Why a session was terminated (on WebSocket, carried in the Close frame's reason).
    TerminationCode {
        /// Normal end: both flows finished, or an orderly unbind.
        Finished = 0,
        /// Any other error.
        UnspecifiedError = 1,
        /// A RetransmitRequest asked for numbers never sent.
        ReRequestOutOfBounds = 2,
        /// A RetransmitRequest arrived while another was in progress.
        ReRequestInProgress = 3,
    }
}

/// The wire id of every FIXP template, named as in the FIXP text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum TemplateId {
    /// Negotiate (C→S).
    Negotiate = 1,
    /// NegotiationResponse (S→C).
    NegotiationResponse = 2,
    /// NegotiationReject (S→C).
    NegotiationReject = 3,
    /// Topic (multicast; never valid on WebSocket).
    Topic = 4,
    /// Establish (C→S).
    Establish = 5,
    /// EstablishmentAck (S→C).
    EstablishmentAck = 6,
    /// EstablishmentReject (S→C).
    EstablishmentReject = 7,
    /// Sequence (heartbeat and numbering of a sequenced flow).
    Sequence = 8,
    /// Context (multiplexed transports; never valid on WebSocket).
    Context = 9,
    /// UnsequencedHeartbeat.
    UnsequencedHeartbeat = 10,
    /// RetransmitRequest.
    RetransmitRequest = 11,
    /// Retransmission.
    Retransmission = 12,
    /// RetransmitReject (the schema's `RestransmitReject`).
    RetransmitReject = 13,
    /// Terminate (replaced by the WebSocket Close frame).
    Terminate = 14,
    /// FinishedSending.
    FinishedSending = 15,
    /// FinishedReceiving.
    FinishedReceiving = 16,
    /// Applied (an application message: it consumes a sequence number).
    Applied = 17,
    /// NotApplied (an application message: it consumes a sequence number).
    NotApplied = 18,
    /// MessageTemplate.
    MessageTemplate = 19,
}

impl TemplateId {
    /// The template for a wire id, or `None` for an id the FIXP schema does not define.
    pub fn from_wire(id: u16) -> Option<Self> {
        use TemplateId::*;
        Some(match id {
            1 => Negotiate,
            2 => NegotiationResponse,
            3 => NegotiationReject,
            4 => Topic,
            5 => Establish,
            6 => EstablishmentAck,
            7 => EstablishmentReject,
            8 => Sequence,
            9 => Context,
            10 => UnsequencedHeartbeat,
            11 => RetransmitRequest,
            12 => Retransmission,
            13 => RetransmitReject,
            14 => Terminate,
            15 => FinishedSending,
            16 => FinishedReceiving,
            17 => Applied,
            18 => NotApplied,
            19 => MessageTemplate,
            _ => return None,
        })
    }
}

/// One FIXP message, typed. Variable-length fields borrow; an empty slice means absent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FixpMessage<'a> {
    /// Negotiate (template 1).
    Negotiate {
        /// The session being negotiated.
        session_id: SessionId,
        /// Request timestamp, nanoseconds; echoed by the response.
        timestamp: u64,
        /// The client's flow type.
        client_flow: FlowType,
        /// Opaque credentials (empty: none).
        credentials: &'a [u8],
    },
    /// NegotiationResponse (template 2).
    NegotiationResponse {
        /// The negotiated session.
        session_id: SessionId,
        /// The Negotiate's timestamp.
        request_timestamp: u64,
        /// The server's flow type.
        server_flow: FlowType,
        /// The server's credentials (empty: none).
        credentials: &'a [u8],
    },
    /// NegotiationReject (template 3).
    NegotiationReject {
        /// The rejected session.
        session_id: SessionId,
        /// The Negotiate's timestamp.
        request_timestamp: u64,
        /// Why.
        code: NegotiationRejectCode,
        /// Reason text (empty: none).
        reason: &'a [u8],
    },
    /// Topic (template 4).
    Topic {
        /// The session.
        session_id: SessionId,
        /// The flow type of the topic.
        flow: FlowType,
        /// Keepalive interval, milliseconds.
        keepalive_interval: u32,
        /// Classification (empty: none).
        classification: &'a [u8],
    },
    /// Establish (template 5).
    Establish {
        /// The negotiated session.
        session_id: SessionId,
        /// Request timestamp, nanoseconds; echoed by the response.
        timestamp: u64,
        /// The client's keepalive interval, milliseconds.
        keepalive_interval: u32,
        /// Next sequence number the client will produce (Recoverable client flow only).
        next_seq_no: Option<u64>,
        /// Opaque credentials (empty: none).
        credentials: &'a [u8],
    },
    /// EstablishmentAck (template 6).
    EstablishmentAck {
        /// The established session.
        session_id: SessionId,
        /// The Establish's timestamp.
        request_timestamp: u64,
        /// The server's keepalive interval, milliseconds.
        keepalive_interval: u32,
        /// Next sequence number the server will produce (Recoverable server flow only).
        next_seq_no: Option<u64>,
    },
    /// EstablishmentReject (template 7).
    EstablishmentReject {
        /// The session.
        session_id: SessionId,
        /// The Establish's timestamp.
        request_timestamp: u64,
        /// Why.
        code: EstablishmentRejectCode,
        /// Reason text (empty: none).
        reason: &'a [u8],
    },
    /// Sequence (template 8): the number of the next application message.
    Sequence {
        /// Sequence number of the next application message.
        next_seq_no: u64,
    },
    /// Context (template 9).
    Context {
        /// The session.
        session_id: SessionId,
        /// Sequence number of the next application message.
        next_seq_no: u64,
    },
    /// UnsequencedHeartbeat (template 10).
    UnsequencedHeartbeat,
    /// RetransmitRequest (template 11).
    RetransmitRequest {
        /// The session.
        session_id: SessionId,
        /// Request timestamp, nanoseconds; echoed by the response.
        timestamp: u64,
        /// First sequence number wanted.
        from_seq_no: u64,
        /// How many messages.
        count: u32,
    },
    /// Retransmission (template 12): `count` replayed messages follow.
    Retransmission {
        /// The session.
        session_id: SessionId,
        /// The RetransmitRequest's timestamp.
        request_timestamp: u64,
        /// Sequence number of the first replayed message.
        next_seq_no: u64,
        /// How many replayed messages follow.
        count: u32,
    },
    /// RetransmitReject (template 13; `RestransmitReject` in the schema).
    RetransmitReject {
        /// The session.
        session_id: SessionId,
        /// The RetransmitRequest's timestamp.
        request_timestamp: u64,
        /// Why.
        code: RetransmitRejectCode,
        /// Reason text (empty: none).
        reason: &'a [u8],
    },
    /// Terminate (template 14). On WebSocket the Close frame is used instead.
    Terminate {
        /// The session.
        session_id: SessionId,
        /// Why.
        code: TerminationCode,
        /// Reason text (empty: none).
        reason: &'a [u8],
    },
    /// FinishedSending (template 15).
    FinishedSending {
        /// The session.
        session_id: SessionId,
        /// Last application sequence number sent (sequenced flows).
        last_seq_no: Option<u64>,
    },
    /// FinishedReceiving (template 16).
    FinishedReceiving {
        /// The session.
        session_id: SessionId,
    },
    /// Applied (template 17; an application message).
    Applied {
        /// First applied sequence number.
        from_seq_no: u64,
        /// How many.
        count: u32,
    },
    /// NotApplied (template 18; an application message).
    NotApplied {
        /// First sequence number not applied.
        from_seq_no: u64,
        /// How many.
        count: u32,
    },
    /// MessageTemplate (template 19).
    MessageTemplate {
        /// SOFH encoding type of the template.
        encoding_type: u32,
        /// When it takes effect (None: now).
        effective_time: Option<u64>,
        /// Version (empty: none).
        version: &'a [u8],
        /// The template itself.
        template: &'a [u8],
    },
}

impl FixpMessage<'_> {
    /// The message's template.
    pub fn template(&self) -> TemplateId {
        match self {
            FixpMessage::Negotiate { .. } => TemplateId::Negotiate,
            FixpMessage::NegotiationResponse { .. } => TemplateId::NegotiationResponse,
            FixpMessage::NegotiationReject { .. } => TemplateId::NegotiationReject,
            FixpMessage::Topic { .. } => TemplateId::Topic,
            FixpMessage::Establish { .. } => TemplateId::Establish,
            FixpMessage::EstablishmentAck { .. } => TemplateId::EstablishmentAck,
            FixpMessage::EstablishmentReject { .. } => TemplateId::EstablishmentReject,
            FixpMessage::Sequence { .. } => TemplateId::Sequence,
            FixpMessage::Context { .. } => TemplateId::Context,
            FixpMessage::UnsequencedHeartbeat => TemplateId::UnsequencedHeartbeat,
            FixpMessage::RetransmitRequest { .. } => TemplateId::RetransmitRequest,
            FixpMessage::Retransmission { .. } => TemplateId::Retransmission,
            FixpMessage::RetransmitReject { .. } => TemplateId::RetransmitReject,
            FixpMessage::Terminate { .. } => TemplateId::Terminate,
            FixpMessage::FinishedSending { .. } => TemplateId::FinishedSending,
            FixpMessage::FinishedReceiving { .. } => TemplateId::FinishedReceiving,
            FixpMessage::Applied { .. } => TemplateId::Applied,
            FixpMessage::NotApplied { .. } => TemplateId::NotApplied,
            FixpMessage::MessageTemplate { .. } => TemplateId::MessageTemplate,
        }
    }

    /// True for Applied and NotApplied: FIXP-schema messages that are sequenced like application
    /// messages.
    pub fn is_sequenced_application(&self) -> bool {
        matches!(
            self,
            FixpMessage::Applied { .. } | FixpMessage::NotApplied { .. }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_id_prints_as_uuid() {
        let id = SessionId([
            0x3f, 0x2a, 0x8c, 0x1e, 0x5b, 0x7d, 0x4e, 0x21, 0x9a, 0x10, 0xc4, 0x6e, 0x01, 0x23,
            0x45, 0x67,
        ]);
        assert_eq!(id.to_string(), "3f2a8c1e-5b7d-4e21-9a10-c46e01234567");
    }

    #[test]
    fn random_session_id_is_version_4() {
        let id = SessionId::from_random_bytes([0xff; 16]);
        assert_eq!(id.0[6] >> 4, 4);
        assert_eq!(id.0[8] >> 6, 0b10);
    }

    #[test]
    fn enums_round_trip_wire_and_name() {
        for f in FlowType::ALL {
            assert_eq!(FlowType::from_wire(f.to_wire()), Some(*f));
            assert_eq!(FlowType::from_name(f.name()), Some(*f));
        }
        assert_eq!(FlowType::from_wire(4), None);
        assert_eq!(
            TemplateId::from_wire(13),
            Some(TemplateId::RetransmitReject)
        );
        assert_eq!(TemplateId::from_wire(20), None);
    }
}
