//! Which form an application frame is in: venue or Conga, SBE or JSON.
//!
//! SBE frames say it themselves (schema id 101 is the venue's, 100 Conga's). JSON frames do
//! not: Conga and the venue share the `@type` names NewOrderSingle, OrderCancelRequest,
//! ExecutionReport and OrderCancelReject, so those are read in the session's JSON dialect
//! (configured per session; Conga by default, so existing Conga clients keep working). Every
//! other `@type` is a venue message whatever the dialect.
//!
//! Owns: that classification. May not touch: sessions, the venue's state.

use fixp_ws::codec::conga::CongaMessage;
use fixp_ws::codec::{DecodeError, EncodeError};

use super::json::json_type_name;
use super::message::VenueMessage;
use super::{AppMessage, Dialect};

/// The encoding of a session's application messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireFormat {
    /// SBE in binary frames.
    Sbe,
    /// JSON (text frames; binary frames are accepted too).
    Json,
}

/// The Conga schema's id.
pub const CONGA_SCHEMA_ID: u16 = 100;

/// The `@type`s both dialects define.
const SHARED_TYPES: &[&str] = &[
    "NewOrderSingle",
    "OrderCancelRequest",
    "ExecutionReport",
    "OrderCancelReject",
];

/// Decodes one application frame. `json_dialect` decides the shared JSON `@type`s.
pub fn decode(
    bytes: &[u8],
    format: WireFormat,
    json_dialect: Dialect,
) -> Result<AppMessage, DecodeError> {
    match format {
        WireFormat::Sbe => {
            let schema_id = match bytes.get(4..6) {
                Some(&[lo, hi]) => u16::from_le_bytes([lo, hi]),
                _ => {
                    return Err(DecodeError::Truncated {
                        needed: 8,
                        available: bytes.len(),
                    })
                }
            };
            match schema_id {
                CONGA_SCHEMA_ID => CongaMessage::decode_sbe(bytes).map(AppMessage::Conga),
                _ => VenueMessage::decode_sbe(bytes).map(AppMessage::Venue),
            }
        }
        WireFormat::Json => {
            let shared = json_type_name(bytes).is_some_and(|t| SHARED_TYPES.contains(&t.as_str()));
            if shared && json_dialect == Dialect::Conga {
                CongaMessage::decode_json(bytes).map(AppMessage::Conga)
            } else {
                VenueMessage::decode_json(bytes).map(AppMessage::Venue)
            }
        }
    }
}

/// Encodes one application message into `out`; returns the length.
pub fn encode(
    message: &AppMessage,
    format: WireFormat,
    out: &mut [u8],
) -> Result<usize, EncodeError> {
    match (message, format) {
        (AppMessage::Venue(m), WireFormat::Sbe) => m.encode_sbe(out),
        (AppMessage::Venue(m), WireFormat::Json) => m.encode_json(out),
        (AppMessage::Conga(m), WireFormat::Sbe) => m.encode_sbe(out),
        (AppMessage::Conga(m), WireFormat::Json) => m.encode_json(out),
    }
}
