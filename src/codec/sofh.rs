//! SOFH, the Simple Open Framing Header: a 6-byte big-endian prefix (total message length
//! including the header, then the encoding type) used when SBE travels over a byte stream.
//!
//! Owns: reading and writing that header. May not touch: the message body. FIXP over WebSocket
//! sends no SOFH (the WebSocket frame delimits messages); this is for files and stream transports,
//! such as the SBE specification's examples.

use std::fmt;

/// Length of the header in bytes.
pub const SOFH_LENGTH: usize = 6;
/// Encoding type of SBE 1.0, little-endian.
pub const SBE_LITTLE_ENDIAN: u16 = 0xEB50;
/// Encoding type of SBE 1.0, big-endian.
pub const SBE_BIG_ENDIAN: u16 = 0x5BE0;
/// Encoding type of JSON (FIX JSON encoding).
pub const JSON: u16 = 0xF500;

/// A decoded SOFH.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sofh {
    /// Total message length, header included.
    pub message_length: u32,
    /// Encoding type of the body (see the constants of this module).
    pub encoding_type: u16,
}

/// Why a SOFH could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SofhError {
    /// Fewer bytes than the header, or than the message length it declares.
    Truncated {
        /// Bytes required.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// The declared length is smaller than the header itself.
    LengthTooSmall {
        /// The declared length.
        length: u32,
    },
    /// The body is too long for a 32-bit length.
    TooLong,
    /// The output buffer is too small.
    BufferTooSmall {
        /// Bytes required.
        needed: usize,
    },
}

impl fmt::Display for SofhError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SofhError::Truncated { needed, available } => {
                write!(
                    f,
                    "SOFH frame truncated: need {needed} bytes, have {available}"
                )
            }
            SofhError::LengthTooSmall { length } => {
                write!(f, "SOFH length {length} is smaller than the 6-byte header")
            }
            SofhError::TooLong => f.write_str("message too long for a SOFH"),
            SofhError::BufferTooSmall { needed } => {
                write!(f, "output buffer too small: {needed} bytes needed")
            }
        }
    }
}

impl std::error::Error for SofhError {}

impl Sofh {
    /// Reads the header at the start of `buf`.
    pub fn read(buf: &[u8]) -> Result<Sofh, SofhError> {
        let Some(head) = buf.first_chunk::<SOFH_LENGTH>() else {
            return Err(SofhError::Truncated {
                needed: SOFH_LENGTH,
                available: buf.len(),
            });
        };
        let message_length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let encoding_type = u16::from_be_bytes([head[4], head[5]]);
        if (message_length as usize) < SOFH_LENGTH {
            return Err(SofhError::LengthTooSmall {
                length: message_length,
            });
        }
        Ok(Sofh {
            message_length,
            encoding_type,
        })
    }

    /// Splits the first framed message off `buf`: its header, its body, and the bytes after it.
    pub fn split(buf: &[u8]) -> Result<(Sofh, &[u8], &[u8]), SofhError> {
        let sofh = Sofh::read(buf)?;
        let end = sofh.message_length as usize;
        match (buf.get(SOFH_LENGTH..end), buf.get(end..)) {
            (Some(body), Some(rest)) => Ok((sofh, body, rest)),
            _ => Err(SofhError::Truncated {
                needed: end,
                available: buf.len(),
            }),
        }
    }

    /// Writes a header for a body of `body_length` bytes at the start of `out`.
    pub fn write(out: &mut [u8], body_length: usize, encoding_type: u16) -> Result<(), SofhError> {
        let total = body_length
            .checked_add(SOFH_LENGTH)
            .and_then(|t| u32::try_from(t).ok())
            .ok_or(SofhError::TooLong)?;
        let Some(head) = out.first_chunk_mut::<SOFH_LENGTH>() else {
            return Err(SofhError::BufferTooSmall {
                needed: SOFH_LENGTH,
            });
        };
        let [a, b, c, d] = total.to_be_bytes();
        let [e, f] = encoding_type.to_be_bytes();
        *head = [a, b, c, d, e, f];
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_big_endian() {
        let mut buf = [0u8; 10];
        Sofh::write(&mut buf, 4, SBE_LITTLE_ENDIAN).unwrap();
        assert_eq!(buf[..6], [0, 0, 0, 10, 0xEB, 0x50]);
        let (h, body, rest) = Sofh::split(&buf).unwrap();
        assert_eq!(h.message_length, 10);
        assert_eq!(h.encoding_type, SBE_LITTLE_ENDIAN);
        assert_eq!(body.len(), 4);
        assert!(rest.is_empty());
    }

    #[test]
    fn rejects_short_and_bad_lengths() {
        assert_eq!(
            Sofh::read(&[0, 0, 0]),
            Err(SofhError::Truncated {
                needed: 6,
                available: 3
            })
        );
        assert_eq!(
            Sofh::read(&[0, 0, 0, 5, 0xEB, 0x50]),
            Err(SofhError::LengthTooSmall { length: 5 })
        );
        assert_eq!(
            Sofh::split(&[0, 0, 0, 9, 0xEB, 0x50, 1]),
            Err(SofhError::Truncated {
                needed: 9,
                available: 7
            })
        );
        assert_eq!(
            Sofh::write(&mut [0u8; 5], 1, JSON),
            Err(SofhError::BufferTooSmall { needed: 6 })
        );
    }
}
