//! The codec layer: SBE flyweights generated from schema XML, the FIXP message model, and the
//! encodings that turn WebSocket frames into [`FixpMessage`]s and back.
//!
//! Owns: byte layouts, bounds checks, typed decode errors. May not touch: sockets, clocks, session
//! state. Nothing here panics on bad bytes, and SBE decoding borrows from the input buffer.
//!
//! Encodings are plug-ins behind [`Encoding`]: one FIXP message per WebSocket message, SBE in
//! binary frames and JSON in text frames.

/// Declares a single-byte SBE enum (uint8 or char) with its wire values and its schema names,
/// which are also its JSON names. Used by the FIXP and Conga message models.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        #[repr(u8)]
        pub enum $name {
            $($(#[$vmeta])* $variant = $value),+
        }

        impl $name {
            /// Every value, in wire order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The wire value.
            pub fn to_wire(self) -> u8 {
                self as u8
            }

            /// The value for a wire byte, or `None` for a byte the schema does not define.
            pub fn from_wire(value: u8) -> Option<Self> {
                match value {
                    $($value => Some($name::$variant),)+
                    _ => None,
                }
            }

            /// The schema's name of the value (also its JSON name).
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)+
                }
            }

            /// The value with this schema name.
            pub fn from_name(name: &str) -> Option<Self> {
                Self::from_name_bytes(name.as_bytes())
            }

            /// The value whose schema name is these bytes.
            #[allow(dead_code)]
            pub(crate) fn from_name_bytes(name: &[u8]) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.name().as_bytes() == name)
            }
        }
    };
}

pub mod conga;
pub mod fixp;
pub mod json;
pub mod sbe;
pub mod sofh;

pub use fixp::{FixpMessage, SessionId};

use std::fmt;

/// The WebSocket frame type a message travels in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FrameKind {
    /// A binary frame (SBE; Conga's server also sends JSON this way).
    Binary,
    /// A text frame (JSON).
    Text,
}

/// A decoded inbound frame: a FIXP session message, or an application message left encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Inbound<'a> {
    /// A message of the FIXP schema (including Applied and NotApplied, which are sequenced).
    Fixp(FixpMessage<'a>),
    /// An application message: the whole frame, still encoded (another SBE schema, or JSON whose
    /// `@type` is not a FIXP message).
    Application(&'a [u8]),
}

/// Why a frame could not be decoded. Every variant is a clean rejection; decoders never panic.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// The buffer ends before `needed` bytes (it holds `available`).
    Truncated {
        /// Bytes required to continue.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// The header's blockLength is smaller than the fields the decoder must read.
    BlockLengthTooSmall {
        /// Template id.
        template_id: u16,
        /// blockLength on the wire.
        actual: u16,
        /// Minimum the decoder needs.
        minimum: u16,
    },
    /// A template id the schema does not define.
    UnknownTemplate {
        /// Schema id from the header.
        schema_id: u16,
        /// Template id from the header.
        template_id: u16,
    },
    /// A schema id this decoder does not handle.
    UnknownSchema {
        /// Schema id from the header.
        schema_id: u16,
    },
    /// A repeating group's entries run past the end of the buffer.
    GroupOverrun {
        /// Entries declared.
        count: u32,
        /// Bytes per entry on the wire.
        block_length: u16,
    },
    /// A var-data field's length runs past the end of the buffer.
    VarDataOverrun {
        /// Declared length.
        length: u32,
        /// Bytes left.
        available: usize,
    },
    /// An enum field holds a value the schema does not define.
    InvalidEnum {
        /// The field.
        field: &'static str,
        /// The raw value.
        value: u64,
    },
    /// A required field holds its null value, or is missing (JSON).
    MissingField {
        /// The field.
        field: &'static str,
    },
    /// A field has the wrong JSON type or an out-of-range value.
    InvalidField {
        /// The field.
        field: &'static str,
    },
    /// The frame is not valid JSON, or not a JSON object.
    InvalidJson,
    /// Bytes left over after one complete message: one WebSocket message must carry exactly one
    /// FIXP message.
    TrailingBytes {
        /// Bytes left over.
        extra: usize,
    },
    /// The frame type does not suit the encoding (for example SBE in a text frame).
    WrongFrameKind,
    /// A variable-length field is longer than the decoder's scratch space.
    TooLong {
        /// The field.
        field: &'static str,
    },
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { needed, available } => {
                write!(f, "truncated: need {needed} bytes, have {available}")
            }
            DecodeError::BlockLengthTooSmall {
                template_id,
                actual,
                minimum,
            } => write!(
                f,
                "template {template_id}: blockLength {actual} is below the minimum {minimum}"
            ),
            DecodeError::UnknownTemplate {
                schema_id,
                template_id,
            } => write!(f, "unknown template {template_id} in schema {schema_id}"),
            DecodeError::UnknownSchema { schema_id } => write!(f, "unknown schema {schema_id}"),
            DecodeError::GroupOverrun {
                count,
                block_length,
            } => write!(
                f,
                "group of {count} entries of {block_length} bytes runs past the buffer"
            ),
            DecodeError::VarDataOverrun { length, available } => write!(
                f,
                "var data of {length} bytes runs past the buffer ({available} left)"
            ),
            DecodeError::InvalidEnum { field, value } => {
                write!(f, "field {field}: {value} is not a valid value")
            }
            DecodeError::MissingField { field } => write!(f, "required field {field} is missing"),
            DecodeError::InvalidField { field } => write!(f, "field {field} is invalid"),
            DecodeError::InvalidJson => f.write_str("not a valid JSON object"),
            DecodeError::TrailingBytes { extra } => write!(
                f,
                "{extra} bytes after the message: one WebSocket message must carry one FIXP message"
            ),
            DecodeError::WrongFrameKind => f.write_str("wrong frame type for this encoding"),
            DecodeError::TooLong { field } => write!(f, "field {field} is too long"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a message could not be encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// The output buffer is too small: `needed` bytes are required.
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
    },
    /// A variable-length field exceeds what its length prefix can express.
    TooLong {
        /// The field.
        field: &'static str,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
            EncodeError::TooLong { field } => write!(f, "field {field} is too long"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// A wire encoding of FIXP messages: a plug-in the session is generic over.
///
/// `decode` classifies a frame and decodes FIXP messages; application messages are returned
/// still encoded. Implementations may keep scratch space in `self` (the JSON encoding does, for
/// byte arrays), which is why `decode` takes `&mut self`.
pub trait Encoding {
    /// A short name, e.g. `"sbe"` or `"json"`.
    fn name(&self) -> &'static str;

    /// The frame type this encoding sends.
    fn frame_kind(&self) -> FrameKind;

    /// Decodes one frame. Exactly one message per frame: surplus bytes are an error.
    fn decode<'a>(
        &'a mut self,
        frame: &'a [u8],
        kind: FrameKind,
    ) -> Result<Inbound<'a>, DecodeError>;

    /// Encodes `msg` into the start of `out` and returns the number of bytes written.
    fn encode(&mut self, msg: &FixpMessage<'_>, out: &mut [u8]) -> Result<usize, EncodeError>;

    /// How many inbound frames this encoding accepted although they deviate from the standard
    /// in a way it tolerates for interoperability (see [`sbe::SbeEncoding`]); 0 by default.
    fn tolerated_deviations(&self) -> u64 {
        0
    }
}
