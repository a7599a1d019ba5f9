//! Bounds-checked little-endian reads and writes used by the generated flyweights.
//!
//! Reads never panic: a read outside the buffer returns zero (generated decoders check every
//! length up front, so that never happens on a wrapped message). Writes outside the buffer are
//! skipped (generated encoders check the space first and report
//! [`EncodeError::BufferTooSmall`]).

use crate::codec::{DecodeError, EncodeError};

/// The fields of a message header every SBE schema defines, widened to common types.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Length of the root block (fixed fields) on the wire.
    pub block_length: usize,
    /// Template id.
    pub template_id: u16,
    /// Schema id.
    pub schema_id: u16,
    /// Schema version of the encoder (the acting version).
    pub version: u16,
}

/// Checks that `len` bytes at `pos` are inside `buf`; returns `pos + len`.
#[inline]
pub fn need(buf: &[u8], pos: usize, len: usize) -> Result<usize, DecodeError> {
    match pos.checked_add(len) {
        Some(end) if end <= buf.len() => Ok(end),
        Some(end) => Err(DecodeError::Truncated {
            needed: end,
            available: buf.len(),
        }),
        None => Err(DecodeError::Truncated {
            needed: usize::MAX,
            available: buf.len(),
        }),
    }
}

/// Checks that `count` entries of `block_length` bytes fit after `pos`.
#[inline]
pub fn check_group(
    buf: &[u8],
    pos: usize,
    count: usize,
    block_length: usize,
) -> Result<(), DecodeError> {
    let fits = count
        .checked_mul(block_length)
        .and_then(|n| n.checked_add(pos))
        .is_some_and(|end| end <= buf.len());
    if fits {
        Ok(())
    } else {
        Err(DecodeError::GroupOverrun {
            count: u32::try_from(count).unwrap_or(u32::MAX),
            block_length: clamp_u16(block_length),
        })
    }
}

/// `value` as a u16, saturating.
#[inline]
pub fn clamp_u16(value: usize) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX)
}

/// The first `end` bytes of `buf` (all of it if shorter).
#[inline]
pub fn prefix(buf: &[u8], end: usize) -> &[u8] {
    buf.get(..end).unwrap_or(buf)
}

#[inline]
fn chunk<const N: usize>(buf: &[u8], pos: usize) -> Option<&[u8; N]> {
    buf.get(pos..).and_then(<[u8]>::first_chunk::<N>)
}

macro_rules! primitive_access {
    ($($get:ident $put:ident $t:ty;)*) => {$(
        /// Reads a little-endian value at `pos` (zero if out of bounds).
        #[inline]
        pub fn $get(buf: &[u8], pos: usize) -> $t {
            chunk(buf, pos).map_or(<$t>::default(), |b| <$t>::from_le_bytes(*b))
        }

        /// Writes a little-endian value at `pos` (skipped if out of bounds).
        #[inline]
        pub fn $put(buf: &mut [u8], pos: usize, value: $t) {
            if let Some(dst) = buf.get_mut(pos..).and_then(<[u8]>::first_chunk_mut) {
                *dst = value.to_le_bytes();
            }
        }
    )*};
}

primitive_access! {
    get_u8 put_u8 u8;
    get_i8 put_i8 i8;
    get_u16 put_u16 u16;
    get_i16 put_i16 i16;
    get_u32 put_u32 u32;
    get_i32 put_i32 i32;
    get_u64 put_u64 u64;
    get_i64 put_i64 i64;
    get_f32 put_f32 f32;
    get_f64 put_f64 f64;
}

/// A char array of `len` bytes at `pos`, up to its first NUL (nothing else is trimmed).
#[inline]
pub fn get_str(buf: &[u8], pos: usize, len: usize) -> &[u8] {
    let field = pos
        .checked_add(len)
        .and_then(|end| buf.get(pos..end))
        .unwrap_or(&[]);
    match field.iter().position(|&b| b == 0) {
        Some(nul) => field.get(..nul).unwrap_or(field),
        None => field,
    }
}

/// `N` bytes at `pos` (zeros if out of bounds).
#[inline]
pub fn get_bytes<const N: usize>(buf: &[u8], pos: usize) -> [u8; N] {
    chunk(buf, pos).copied().unwrap_or([0; N])
}

#[inline]
fn var_length(buf: &[u8], pos: usize, width: usize) -> Option<usize> {
    match width {
        1 => chunk::<1>(buf, pos).map(|b| usize::from(b[0])),
        2 => chunk(buf, pos).map(|b| usize::from(u16::from_le_bytes(*b))),
        _ => chunk(buf, pos).and_then(|b| usize::try_from(u32::from_le_bytes(*b)).ok()),
    }
}

/// Checks a var-data field (length prefix of `width` bytes, then the bytes) at `pos`; returns
/// where it ends.
#[inline]
pub fn walk_var(buf: &[u8], pos: usize, width: usize) -> Result<usize, DecodeError> {
    let data = need(buf, pos, width)?;
    let length = var_length(buf, pos, width).unwrap_or(0);
    let available = buf.len().saturating_sub(data);
    if length > available {
        return Err(DecodeError::VarDataOverrun {
            length: u32::try_from(length).unwrap_or(u32::MAX),
            available,
        });
    }
    Ok(data + length)
}

/// The bytes of the var-data field at `pos` (empty if it does not fit).
#[inline]
pub fn var_slice(buf: &[u8], pos: usize, width: usize) -> &[u8] {
    let Some(length) = var_length(buf, pos, width) else {
        return &[];
    };
    let start = pos + width;
    start
        .checked_add(length)
        .and_then(|end| buf.get(start..end))
        .unwrap_or(&[])
}

/// Copies `N` bytes to `pos` (skipped if out of bounds).
#[inline]
pub fn put_bytes<const N: usize>(buf: &mut [u8], pos: usize, value: &[u8; N]) {
    if let Some(dst) = buf.get_mut(pos..).and_then(<[u8]>::first_chunk_mut::<N>) {
        *dst = *value;
    }
}

/// Zeroes `len` bytes at `pos`, or reports the size `buf` would need.
#[inline]
pub fn zero(buf: &mut [u8], pos: usize, len: usize) -> Result<(), EncodeError> {
    let end = pos
        .checked_add(len)
        .ok_or(EncodeError::BufferTooSmall { needed: usize::MAX })?;
    match buf.get_mut(pos..end) {
        Some(dst) => {
            dst.fill(0);
            Ok(())
        }
        None => Err(EncodeError::BufferTooSmall { needed: end }),
    }
}

/// Writes a char array of `len` bytes at `pos`, NUL-padded; longer input is `TooLong`.
#[inline]
pub fn put_str(
    buf: &mut [u8],
    pos: usize,
    len: usize,
    value: &[u8],
    field: &'static str,
) -> Result<(), EncodeError> {
    if value.len() > len {
        return Err(EncodeError::TooLong { field });
    }
    let end = pos + len;
    let dst = buf
        .get_mut(pos..end)
        .ok_or(EncodeError::BufferTooSmall { needed: end })?;
    let (head, tail) = dst.split_at_mut(value.len());
    head.copy_from_slice(value);
    tail.fill(0);
    Ok(())
}

/// Appends a var-data field (length prefix of `width` bytes, then `value`) at `*limit`.
#[inline]
pub fn put_var(
    buf: &mut [u8],
    limit: &mut usize,
    value: &[u8],
    width: usize,
    field: &'static str,
) -> Result<(), EncodeError> {
    let max = match width {
        1 => 254,
        2 => 65534,
        _ => u32::MAX as usize - 1,
    };
    if value.len() > max {
        return Err(EncodeError::TooLong { field });
    }
    let start = *limit;
    let end = start + width + value.len();
    let dst = buf
        .get_mut(start..end)
        .ok_or(EncodeError::BufferTooSmall { needed: end })?;
    let (len, data) = dst.split_at_mut(width);
    let bytes = (value.len() as u32).to_le_bytes();
    len.copy_from_slice(bytes.get(..width).unwrap_or(&bytes));
    data.copy_from_slice(value);
    *limit = end;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_are_little_endian_and_never_panic() {
        let buf = [0x01, 0x02, 0x03, 0x04];
        assert_eq!(get_u16(&buf, 0), 0x0201);
        assert_eq!(get_u32(&buf, 0), 0x0403_0201);
        assert_eq!(get_u32(&buf, 1), 0);
        assert_eq!(get_u64(&buf, usize::MAX), 0);
    }

    #[test]
    fn char_arrays_stop_at_nul_and_keep_spaces() {
        assert_eq!(get_str(b"AB \0\0x", 0, 6), b"AB ");
        assert_eq!(get_str(b"  ", 0, 2), b"  ");
        let mut out = [0xff; 4];
        put_str(&mut out, 0, 4, b"A ", "f").unwrap();
        assert_eq!(out, *b"A \0\0");
        assert_eq!(
            put_str(&mut out, 0, 4, b"ABCDE", "f"),
            Err(EncodeError::TooLong { field: "f" })
        );
    }

    #[test]
    fn var_data_round_trips_and_overruns_are_errors() {
        let mut buf = [0u8; 8];
        let mut limit = 0;
        put_var(&mut buf, &mut limit, b"abc", 2, "v").unwrap();
        assert_eq!(limit, 5);
        assert_eq!(walk_var(&buf[..5], 0, 2), Ok(5));
        assert_eq!(var_slice(&buf, 0, 2), b"abc");
        assert_eq!(
            walk_var(&buf[..4], 0, 2),
            Err(DecodeError::VarDataOverrun {
                length: 3,
                available: 2
            })
        );
        assert!(matches!(
            walk_var(&buf[..1], 0, 2),
            Err(DecodeError::Truncated { .. })
        ));
    }
}
