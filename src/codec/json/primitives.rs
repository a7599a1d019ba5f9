//! The JSON primitives the FIXP JSON encoding ([`super`]) and the Conga order model
//! ([`crate::codec::conga`]) share: a validating single-pass scanner that finds an object's
//! members without building anything, conversions of member values with their typed errors
//! (exact integers, strings with escapes, enum names, arrays of signed bytes), and a writer
//! that puts one flat object straight into a caller's buffer.
//!
//! Owns: JSON syntax (RFC 8259, UTF-8, paired surrogate escapes, nesting limit) and the value
//! conventions Conga uses (signed-byte arrays, UPPER_SNAKE enum constants, integers never
//! through `f64`). May not touch: the keys or meaning of any message (those belong to the
//! FIXP encoding and the Conga model), sockets, clocks, session state.
//!
//! Decoding is two steps, and neither allocates: [`scan_object`] walks the whole frame once,
//! validating it, and hands each top-level member (its key, and its value as a [`Value`]: kind
//! and text span) to the caller, which keeps the spans it knows; then the caller converts the
//! values it needs. Containers are skipped iteratively with a bit stack, so hostile nesting
//! cannot exhaust the stack.

use super::super::{DecodeError, EncodeError};

/// Deepest nesting accepted, counting the top-level object as one (what serde_json accepts).
pub(crate) const MAX_DEPTH: usize = 127;

/// The longest key or string value, after unescaping, that is ever compared with a name we
/// know; longer escaped text matches nothing.
const UNESCAPE_CAPACITY: usize = 64;

/// The type of a JSON value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool,
    /// A number.
    Number,
    /// A string.
    String,
    /// An array.
    Array,
    /// An object.
    Object,
}

/// One scanned JSON value: its type and where its text lies in the frame (a string's text
/// includes its quotes). Scanned values are valid JSON, so conversions only check types and
/// ranges.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Value<'a> {
    kind: Kind,
    text: &'a [u8],
    /// A string holding at least one escape.
    escaped: bool,
}

/// The frame is not valid JSON (or repeats a key it may hold once): [`DecodeError::InvalidJson`],
/// as a zero-sized error the scanner's loops pass around for free.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Syntax;

impl From<Syntax> for DecodeError {
    fn from(_: Syntax) -> Self {
        DecodeError::InvalidJson
    }
}

fn is_whitespace(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Bytes that end the fast path through a string: the closing quote, an escape, a control
/// character (an error) and non-ASCII (validated as UTF-8).
static STRING_STOP: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = b < 0x20 || b == b'"' as usize || b == b'\\' as usize || b >= 0x80;
        b += 1;
    }
    table
};

fn hex_digit(b: u8) -> Option<u16> {
    match b {
        b'0'..=b'9' => Some(u16::from(b - b'0')),
        b'a'..=b'f' => Some(u16::from(b - b'a' + 10)),
        b'A'..=b'F' => Some(u16::from(b - b'A' + 10)),
        _ => None,
    }
}

/// The UTF-16 unit of the four hex digits at `at`.
fn hex4(bytes: &[u8], at: usize) -> Option<u16> {
    let digits = bytes.get(at..at + 4)?;
    digits
        .iter()
        .try_fold(0u16, |acc, d| Some(acc << 4 | hex_digit(*d)?))
}

/// A cursor over one frame. Reads past the end see a NUL byte, which is invalid in every
/// position of a JSON text, so the end needs no separate check.
struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
}

/// What follows a value inside a container.
enum After {
    /// A comma: another element.
    Comma,
    /// The container closed.
    Close,
}

impl<'a> Scanner<'a> {
    /// The byte at `at`, or NUL past the end.
    #[inline(always)]
    fn at(&self, at: usize) -> u8 {
        self.bytes.get(at).copied().unwrap_or(0)
    }

    #[inline(always)]
    fn peek(&self) -> u8 {
        self.at(self.pos)
    }

    #[inline(always)]
    fn skip_whitespace(&mut self) {
        while is_whitespace(self.peek()) {
            self.pos += 1;
        }
    }

    #[inline(always)]
    fn expect(&mut self, b: u8) -> Result<(), Syntax> {
        if self.peek() == b {
            self.pos += 1;
            Ok(())
        } else {
            Err(Syntax)
        }
    }

    /// The byte after optional whitespace.
    #[inline(always)]
    fn next_token(&mut self) -> u8 {
        let b = self.peek();
        if b > b' ' {
            return b;
        }
        self.skip_whitespace();
        self.peek()
    }

    /// A string, at its opening quote; returns whether it holds escapes. The common string
    /// (plain ASCII) takes the inlined fast path; escapes, non-ASCII and errors go to
    /// [`Self::string_rest`].
    #[inline(always)]
    fn string(&mut self) -> Result<bool, Syntax> {
        self.pos += 1;
        let start = self.pos;
        self.skip_to_string_stop();
        if self.peek() == b'"' {
            self.pos += 1;
            return Ok(false);
        }
        self.string_rest(start)
    }

    /// Moves the cursor to the next byte that ends a string's fast path (see [`stop_bytes`]),
    /// eight bytes at a time.
    #[inline(always)]
    fn skip_to_string_stop(&mut self) {
        loop {
            match self.bytes.get(self.pos..self.pos + 8) {
                Some(chunk) => {
                    let mut word = [0u8; 8];
                    word.copy_from_slice(chunk);
                    let stops = stop_bytes(u64::from_le_bytes(word));
                    if stops == 0 {
                        self.pos += 8;
                        continue;
                    }
                    self.pos += (stops.trailing_zeros() / 8) as usize;
                }
                None => {
                    while !STRING_STOP[usize::from(self.peek())] {
                        self.pos += 1;
                    }
                }
            }
            return;
        }
    }

    /// The rest of a string whose body starts at `start`, from a byte that is not its closing
    /// quote.
    #[inline(never)]
    fn string_rest(&mut self, start: usize) -> Result<bool, Syntax> {
        let mut escaped = false;
        let mut ascii = true;
        loop {
            match self.peek() {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    self.escape()?;
                }
                0x80.. => {
                    ascii = false;
                    self.pos += 1;
                }
                // A control character, or the end of the frame.
                _ => return Err(Syntax),
            }
            self.skip_to_string_stop();
        }
        if !ascii {
            let body = self.bytes.get(start..self.pos).ok_or(Syntax)?;
            std::str::from_utf8(body).map_err(|_| Syntax)?;
        }
        self.pos += 1;
        Ok(escaped)
    }

    /// One escape, at its backslash. `\u` escapes of surrogates must come in valid pairs.
    fn escape(&mut self) -> Result<(), Syntax> {
        match self.at(self.pos + 1) {
            b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => {
                self.pos += 2;
                Ok(())
            }
            b'u' => {
                let unit = hex4(self.bytes, self.pos + 2).ok_or(Syntax)?;
                self.pos += 6;
                match unit {
                    0xDC00..=0xDFFF => Err(Syntax),
                    0xD800..=0xDBFF => {
                        if self.bytes.get(self.pos..self.pos + 2) != Some(b"\\u") {
                            return Err(Syntax);
                        }
                        match hex4(self.bytes, self.pos + 2) {
                            Some(0xDC00..=0xDFFF) => {
                                self.pos += 6;
                                Ok(())
                            }
                            _ => Err(Syntax),
                        }
                    }
                    _ => Ok(()),
                }
            }
            _ => Err(Syntax),
        }
    }

    /// Digits from the cursor; returns how many.
    #[inline(always)]
    fn digits(&mut self) -> usize {
        let count = self
            .bytes
            .get(self.pos..)
            .unwrap_or(&[])
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count();
        self.pos += count;
        count
    }

    /// A number: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
    #[inline]
    fn number(&mut self) -> Result<(), Syntax> {
        if self.peek() == b'-' {
            self.pos += 1;
        }
        match self.peek() {
            b'0' => self.pos += 1,
            b'1'..=b'9' => {
                self.pos += 1;
                self.digits();
            }
            _ => return Err(Syntax),
        }
        let next = self.peek();
        if next != b'.' && next | 0x20 != b'e' {
            return Ok(());
        }
        if next == b'.' {
            self.pos += 1;
            if self.digits() == 0 {
                return Err(Syntax);
            }
        }
        if let b'e' | b'E' = self.peek() {
            self.pos += 1;
            if let b'+' | b'-' = self.peek() {
                self.pos += 1;
            }
            if self.digits() == 0 {
                return Err(Syntax);
            }
        }
        Ok(())
    }

    fn literal(&mut self, word: &[u8]) -> Result<(), Syntax> {
        if self.bytes.get(self.pos..self.pos + word.len()) == Some(word) {
            self.pos += word.len();
            Ok(())
        } else {
            Err(Syntax)
        }
    }

    /// A value that is not a container, starting with `first`; returns its kind and whether
    /// it is an escaped string.
    #[inline(always)]
    fn scalar(&mut self, first: u8) -> Result<(Kind, bool), Syntax> {
        match first {
            b'"' => self.string().map(|escaped| (Kind::String, escaped)),
            b'-' | b'0'..=b'9' => self.number().map(|()| (Kind::Number, false)),
            b't' => self.literal(b"true").map(|()| (Kind::Bool, false)),
            b'f' => self.literal(b"false").map(|()| (Kind::Bool, false)),
            b'n' => self.literal(b"null").map(|()| (Kind::Null, false)),
            _ => Err(Syntax),
        }
    }

    /// Any value, at its first byte, inside a container at nesting `depth`.
    #[inline]
    fn value(&mut self, depth: usize) -> Result<Value<'a>, Syntax> {
        let start = self.pos;
        let (kind, escaped) = match self.peek() {
            b'[' => {
                if !self.int_array() {
                    self.container(depth)?;
                }
                (Kind::Array, false)
            }
            b'{' => {
                self.container(depth)?;
                (Kind::Object, false)
            }
            first => self.scalar(first)?,
        };
        let text = self.bytes.get(start..self.pos).ok_or(Syntax)?;
        Ok(Value {
            kind,
            text,
            escaped,
        })
    }

    /// A compact array of integers (`[1,-2,3]`: no whitespace, fractions or exponents), the
    /// form byte arrays take, validated in one quick pass; false, with the cursor unmoved,
    /// for anything else (which [`Self::container`] then reads).
    #[inline]
    fn int_array(&mut self) -> bool {
        let bytes = self.bytes.get(self.pos + 1..).unwrap_or(&[]);
        if bytes.first() == Some(&b']') {
            self.pos += 2;
            return true;
        }
        let mut i = 0;
        loop {
            if bytes.get(i) == Some(&b'-') {
                i += 1;
            }
            match bytes.get(i) {
                Some(b'0') => i += 1,
                Some(b'1'..=b'9') => {
                    i += 1;
                    while bytes.get(i).is_some_and(u8::is_ascii_digit) {
                        i += 1;
                    }
                }
                _ => return false,
            }
            match bytes.get(i) {
                Some(b',') => i += 1,
                Some(b']') => {
                    self.pos += i + 2;
                    return true;
                }
                _ => return false,
            }
        }
    }

    /// After a value: a comma, or the closing `close`.
    #[inline(always)]
    fn after_value(&mut self, close: u8) -> Result<After, Syntax> {
        let b = self.next_token();
        self.pos += 1;
        if b == b',' {
            Ok(After::Comma)
        } else if b == close {
            Ok(After::Close)
        } else {
            Err(Syntax)
        }
    }

    /// An object key and its colon, at the key's opening quote (or wherever the key should
    /// be); returns where the key's body lies and whether it holds escapes.
    #[inline(always)]
    fn key(&mut self) -> Result<(usize, usize, bool), Syntax> {
        if self.next_token() != b'"' {
            return Err(Syntax);
        }
        let start = self.pos + 1;
        let escaped = self.string()?;
        let end = self.pos - 1;
        if self.next_token() != b':' {
            return Err(Syntax);
        }
        self.pos += 1;
        Ok((start, end, escaped))
    }

    /// An array or object (at its opening bracket) held by a container at nesting `depth`,
    /// walked without recursion: bit `i` of `objects` says whether the container `i` levels
    /// below this one is an object.
    fn container(&mut self, depth: usize) -> Result<(), Syntax> {
        if depth + 1 > MAX_DEPTH {
            return Err(Syntax);
        }
        let mut level = 0usize;
        let mut objects: u128 = u128::from(self.peek() == b'{');
        let close_of = |objects: u128, level: usize| {
            if objects >> level & 1 == 1 {
                b'}'
            } else {
                b']'
            }
        };
        self.pos += 1;
        // Just after an opening bracket: the container may be empty.
        let mut opened = true;
        loop {
            let close = close_of(objects, level);
            if opened {
                opened = false;
                if self.next_token() == close {
                    self.pos += 1;
                    if self.close_level(&mut level, objects)? {
                        return Ok(());
                    }
                    continue;
                }
            }
            // One element.
            if close == b'}' {
                self.key()?;
            }
            match self.next_token() {
                open @ (b'[' | b'{') => {
                    level += 1;
                    if depth + 1 + level > MAX_DEPTH {
                        return Err(Syntax);
                    }
                    let bit = 1u128 << level;
                    if open == b'{' {
                        objects |= bit;
                    } else {
                        objects &= !bit;
                    }
                    self.pos += 1;
                    opened = true;
                }
                first => {
                    self.scalar(first)?;
                    if let After::Close = self.after_value(close)? {
                        if self.close_level(&mut level, objects)? {
                            return Ok(());
                        }
                    }
                }
            }
        }
    }

    /// A container at `level` just closed: true when it was the outermost; otherwise reads
    /// what follows it in its parent, closing parents as they close.
    #[inline]
    fn close_level(&mut self, level: &mut usize, objects: u128) -> Result<bool, Syntax> {
        loop {
            if *level == 0 {
                return Ok(true);
            }
            *level -= 1;
            let close = if objects >> *level & 1 == 1 {
                b'}'
            } else {
                b']'
            };
            match self.after_value(close)? {
                After::Comma => return Ok(false),
                After::Close => {}
            }
        }
    }

    /// The members of the object at the cursor (nesting `depth`), each handed to `on_member`
    /// with its unescaped key.
    fn members(
        &mut self,
        depth: usize,
        on_member: &mut impl FnMut(&[u8], Value<'a>) -> Result<(), Syntax>,
    ) -> Result<(), Syntax> {
        self.expect(b'{')?;
        if self.next_token() == b'}' {
            self.pos += 1;
            return Ok(());
        }
        loop {
            let (start, end, key_escaped) = self.key()?;
            let key = self.bytes.get(start..end).ok_or(Syntax)?;
            self.next_token();
            let value = self.value(depth)?;
            if key_escaped {
                let mut buf = [0u8; UNESCAPE_CAPACITY];
                // An escaped key too long to be one we know is passed as written: it holds a
                // backslash, so it matches no key.
                on_member(unescape(key, &mut buf).unwrap_or(key), value)?;
            } else {
                on_member(key, value)?;
            }
            if let After::Close = self.after_value(b'}')? {
                return Ok(());
            }
        }
    }
}

/// The bytes of `word` (little-endian) that end a string's fast path: a quote, a backslash,
/// a control character or non-ASCII. The lowest set high bit marks the first such byte
/// exactly (bits above it may be false alarms, from borrows).
#[inline(always)]
fn stop_bytes(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    let zero_bytes = |x: u64| x.wrapping_sub(ONES) & !x & HIGHS;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word & HIGHS;
    let quote = zero_bytes(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_bytes(word ^ (ONES * u64::from(b'\\')));
    below_space | quote | backslash | (word & HIGHS)
}

/// Scans exactly one JSON object (surrounding whitespace allowed), validating all of it, and
/// hands each top-level member to `on_member` (key unescaped; values in order of appearance).
///
/// Not an object, invalid JSON, or an error from `on_member` (which stops the scan) →
/// [`DecodeError::InvalidJson`]; anything but whitespace after the object →
/// [`DecodeError::TrailingBytes`].
pub(crate) fn scan_object<'a>(
    frame: &'a [u8],
    mut on_member: impl FnMut(&[u8], Value<'a>) -> Result<(), Syntax>,
) -> Result<(), DecodeError> {
    let mut s = Scanner {
        bytes: frame,
        pos: 0,
    };
    s.skip_whitespace();
    s.members(1, &mut on_member)?;
    let rest = frame.get(s.pos..).unwrap_or(&[]);
    if rest.iter().any(|b| !is_whitespace(*b)) {
        return Err(DecodeError::TrailingBytes { extra: rest.len() });
    }
    Ok(())
}

/// Unescapes a string body (without quotes, already validated) into `buf`; `None` when it does
/// not fit.
fn unescape<'b>(body: &[u8], buf: &'b mut [u8; UNESCAPE_CAPACITY]) -> Option<&'b [u8]> {
    let mut len = 0;
    let mut put = |bytes: &[u8]| -> Option<()> {
        buf.get_mut(len..len + bytes.len())?.copy_from_slice(bytes);
        len += bytes.len();
        Some(())
    };
    let mut i = 0;
    while let Some(&b) = body.get(i) {
        if b != b'\\' {
            put(&[b])?;
            i += 1;
            continue;
        }
        let simple = match body.get(i + 1)? {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            _ => 0,
        };
        if simple != 0 {
            put(&[simple])?;
            i += 2;
            continue;
        }
        let unit = hex4(body, i + 2)?;
        i += 6;
        let code = if (0xD800..=0xDBFF).contains(&unit) {
            let low = hex4(body, i + 2)?;
            i += 6;
            0x10000 + ((u32::from(unit) - 0xD800) << 10) + (u32::from(low) - 0xDC00)
        } else {
            u32::from(unit)
        };
        let mut utf8 = [0u8; 4];
        put(char::from_u32(code)?.encode_utf8(&mut utf8).as_bytes())?;
    }
    buf.get(..len)
}

/// An integer's text as sign and magnitude; `None` for a fraction, an exponent, `-0` (which
/// is a float, as in serde_json) or a magnitude beyond `u64`.
fn integer(text: &[u8]) -> Option<(bool, u64)> {
    let (negative, digits) = match text.split_first()? {
        (b'-', rest) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut magnitude: u64 = 0;
    for d in digits {
        let digit = d.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        magnitude = magnitude.checked_mul(10)?.checked_add(u64::from(digit))?;
    }
    if negative && magnitude == 0 {
        return None;
    }
    Some((negative, magnitude))
}

impl<'a> Value<'a> {
    /// The value's JSON type.
    pub(crate) fn kind(&self) -> Kind {
        self.kind
    }

    /// The value's text as written (a string's with its quotes).
    pub(crate) fn text(&self) -> &'a [u8] {
        self.text
    }

    /// The value as an exact integer of type `T` (from its `u64` or `i64` reading); a
    /// non-integer or out-of-range value → `InvalidField`.
    pub(crate) fn int<T: TryFrom<u64> + TryFrom<i64>>(
        &self,
        field: &'static str,
    ) -> Result<T, DecodeError> {
        let invalid = DecodeError::InvalidField { field };
        if self.kind != Kind::Number {
            return Err(invalid);
        }
        match integer(self.text).ok_or(invalid)? {
            (false, magnitude) => T::try_from(magnitude).map_err(|_| invalid),
            (true, magnitude) => {
                let signed = 0i64.checked_sub_unsigned(magnitude).ok_or(invalid)?;
                T::try_from(signed).map_err(|_| invalid)
            }
        }
    }

    /// The string's bytes, unescaped into `buf` when needed; `None` for a non-string, or an
    /// escaped string longer than `buf`.
    fn str_bytes<'b>(&self, buf: &'b mut [u8; UNESCAPE_CAPACITY]) -> Option<&'b [u8]>
    where
        'a: 'b,
    {
        let body = self.string_body()?;
        if self.escaped {
            unescape(body, buf)
        } else {
            Some(body)
        }
    }

    /// Converts the string's (unescaped) bytes with `convert`; a non-string, or `None` from
    /// `convert` → `InvalidField`.
    #[inline]
    pub(crate) fn with_str<T>(
        &self,
        field: &'static str,
        convert: impl FnOnce(&[u8]) -> Option<T>,
    ) -> Result<T, DecodeError> {
        let invalid = DecodeError::InvalidField { field };
        if !self.escaped {
            let body = self.string_body().ok_or(invalid)?;
            return convert(body).ok_or(invalid);
        }
        let mut buf = [0u8; UNESCAPE_CAPACITY];
        self.str_bytes(&mut buf).and_then(convert).ok_or(invalid)
    }

    /// The text between a string's quotes; `None` for a non-string.
    #[inline]
    fn string_body(&self) -> Option<&'a [u8]> {
        if self.kind != Kind::String {
            return None;
        }
        self.text.get(1..self.text.len().checked_sub(1)?)
    }

    /// The string, which must be one of `all`'s names (as `name` gives them) or their
    /// UPPER_SNAKE form (Conga's Java constants). Anything else → `InvalidField`.
    pub(crate) fn name<T: Copy>(
        &self,
        field: &'static str,
        all: &[T],
        name: fn(T) -> &'static str,
    ) -> Result<T, DecodeError> {
        let mut buf = [0u8; UNESCAPE_CAPACITY];
        let text = self.str_bytes(&mut buf).unwrap_or(b"\\");
        all.iter()
            .copied()
            .find(|v| name(*v).as_bytes() == text || upper_snake_eq(name(*v), text))
            .ok_or(DecodeError::InvalidField { field })
    }

    /// Reads an array of signed bytes (−128..=127) into the front of `out`; returns the count.
    /// A non-array, or an element that is not an integer in range → `InvalidField`; more
    /// elements than `out` holds → `TooLong` (the first problem, in order, wins).
    pub(crate) fn signed_bytes(
        &self,
        field: &'static str,
        out: &mut [u8],
    ) -> Result<usize, DecodeError> {
        let invalid = DecodeError::InvalidField { field };
        if self.kind != Kind::Array {
            return Err(invalid);
        }
        // The array is valid JSON, so one pass over its bytes reads it: digits, signs and
        // separators; any other byte (a fraction, an exponent, a string or a nested value)
        // makes its element invalid. An element is stored when its separator is reached.
        let body = self.text.get(1..).unwrap_or(&[]);
        let mut len = 0;
        let mut magnitude: u32 = 0;
        let mut negative = false;
        let mut digits = false;
        for b in body {
            match *b {
                b'0'..=b'9' => {
                    // Capped: anything above 999 is out of range anyway.
                    magnitude = (magnitude * 10 + u32::from(b - b'0')).min(1000);
                    digits = true;
                }
                b'-' => negative = true,
                b',' | b']' => {
                    if !digits && *b == b']' && len == 0 && !negative {
                        return Ok(0);
                    }
                    let value = if negative {
                        (magnitude != 0 && magnitude <= 128)
                            .then(|| (magnitude as i32).wrapping_neg())
                    } else {
                        (digits && magnitude <= 127).then_some(magnitude as i32)
                    };
                    let value = value.ok_or(invalid)?;
                    let slot = out.get_mut(len).ok_or(DecodeError::TooLong { field })?;
                    *slot = value as u8;
                    len += 1;
                    (magnitude, negative, digits) = (0, false, false);
                }
                b' ' | b'\t' | b'\n' | b'\r' => {}
                _ => return Err(invalid),
            }
        }
        Ok(len)
    }

    /// Hands each element of an array to `on_element`, in order; stops at its first error.
    pub(crate) fn elements(
        &self,
        mut on_element: impl FnMut(Value<'a>) -> Result<(), DecodeError>,
    ) -> Result<(), DecodeError> {
        let mut s = Scanner {
            bytes: self.text,
            pos: 0,
        };
        s.expect(b'[')?;
        if s.next_token() == b']' {
            return Ok(());
        }
        loop {
            s.next_token();
            on_element(s.value(1)?)?;
            if let After::Close = s.after_value(b']')? {
                return Ok(());
            }
        }
    }

    /// Hands each member of an object to `on_member`, as [`scan_object`] does.
    pub(crate) fn members(
        &self,
        mut on_member: impl FnMut(&[u8], Value<'a>) -> Result<(), Syntax>,
    ) -> Result<(), DecodeError> {
        let mut s = Scanner {
            bytes: self.text,
            pos: 0,
        };
        Ok(s.members(1, &mut on_member)?)
    }
}

/// Declares a struct that keeps the listed members of a JSON object as scanned [`Value`]s
/// (`None` when absent or `null`), with `scan_into` (a whole frame) and `from_members` (an
/// object value). Other members are validated and skipped; a listed key given twice (not `null`) →
/// `InvalidJson`.
macro_rules! json_members {
    ($(#[$meta:meta])* $name:ident<$a:lifetime> { $($field:ident = $key:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Default)]
        struct $name<$a> {
            $($field: Option<$crate::codec::json::primitives::Value<$a>>,)+
        }

        impl<$a> $name<$a> {
            /// Keeps `value` under `key` if it is one of ours.
            #[inline]
            fn keep(
                &mut self,
                key: &[u8],
                value: $crate::codec::json::primitives::Value<$a>,
            ) -> Result<(), $crate::codec::json::primitives::Syntax> {
                let slot = match key {
                    $($key => &mut self.$field,)+
                    _ => return Ok(()),
                };
                if value.kind() == $crate::codec::json::primitives::Kind::Null {
                    return Ok(());
                }
                if slot.is_some() {
                    return Err($crate::codec::json::primitives::Syntax);
                }
                *slot = Some(value);
                Ok(())
            }

            /// Scans one frame holding exactly one object into `self` (which starts empty:
            /// filling in place spares moving the struct).
            #[allow(dead_code)]
            #[inline]
            fn scan_into(&mut self, frame: &$a [u8]) -> Result<(), $crate::codec::DecodeError> {
                $crate::codec::json::primitives::scan_object(frame, |k, v| self.keep(k, v))
            }

            /// Reads the members of an object value.
            #[allow(dead_code)]
            fn from_members(
                object: &$crate::codec::json::primitives::Value<$a>,
            ) -> Result<Self, $crate::codec::DecodeError> {
                let mut out = Self::default();
                object.members(|k, v| out.keep(k, v))?;
                Ok(out)
            }
        }
    };
}

pub(crate) use json_members;

/// A required member: absent (or `null`) → `MissingField`.
pub(crate) fn required<'a>(
    value: Option<Value<'a>>,
    field: &'static str,
) -> Result<Value<'a>, DecodeError> {
    value.ok_or(DecodeError::MissingField { field })
}

/// True when `text` is `camel` in UPPER_SNAKE form (`FlowTypeNotSupported` ↔
/// `FLOW_TYPE_NOT_SUPPORTED`), the way Conga's Java enum constants spell reject codes.
pub(crate) fn upper_snake_eq(camel: &str, text: &[u8]) -> bool {
    let mut expected = UpperSnake::new(camel);
    let mut actual = text.iter().copied();
    loop {
        match (expected.next(), actual.next()) {
            (None, None) => return true,
            (Some(a), Some(b)) if a == b => {}
            _ => return false,
        }
    }
}

/// The bytes of a CamelCase identifier in UPPER_SNAKE form.
pub(crate) struct UpperSnake<'s> {
    bytes: &'s [u8],
    pos: usize,
    pending: Option<u8>,
}

impl<'s> UpperSnake<'s> {
    /// The UPPER_SNAKE form of `camel`.
    pub(crate) fn new(camel: &'s str) -> Self {
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

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// The decimal text of every signed byte, `-128` to `127`, indexed by the byte's bits:
/// up to four characters, left-aligned, with their length.
static SIGNED_BYTE_TEXT: [([u8; 4], u8); 256] = {
    let mut table = [([0u8; 4], 0u8); 256];
    let mut i = 0;
    while i < 256 {
        let value = i as u8 as i8 as i16;
        let mut text = [0u8; 4];
        let mut len = 0;
        let mut magnitude = if value < 0 {
            text[0] = b'-';
            len = 1;
            -value
        } else {
            value
        };
        let digits = if magnitude >= 100 {
            3
        } else if magnitude >= 10 {
            2
        } else {
            1
        };
        let mut d = digits;
        while d > 0 {
            text[len + d - 1] = b'0' + (magnitude % 10) as u8;
            magnitude /= 10;
            d -= 1;
        }
        table[i] = (text, (len + digits) as u8);
        i += 1;
    }
    table
};

/// Copies `src` into `dst` (same length). Up to 32 bytes take two overlapping fixed-size copies
/// instead of a call to `memcpy`; the writer's pieces are nearly all that short.
#[inline(always)]
fn small_copy(dst: &mut [u8], src: &[u8]) {
    /// Copies the first and the last `N` bytes (overlapping when `src` is shorter than 2N).
    #[inline(always)]
    fn ends<const N: usize>(dst: &mut [u8], src: &[u8]) {
        if let (Some(d), Some(s)) = (dst.first_chunk_mut::<N>(), src.first_chunk::<N>()) {
            *d = *s;
        }
        if let (Some(d), Some(s)) = (dst.last_chunk_mut::<N>(), src.last_chunk::<N>()) {
            *d = *s;
        }
    }
    let n = src.len();
    if dst.len() != n {
        return;
    }
    match n {
        17..=32 => ends::<16>(dst, src),
        8..=16 => ends::<8>(dst, src),
        4..=7 => ends::<4>(dst, src),
        2..=3 => ends::<2>(dst, src),
        1 => ends::<1>(dst, src),
        0 => {}
        _ => dst.copy_from_slice(src),
    }
}

/// Writes one flat JSON object into a caller's buffer. Keeps counting past the end, so an
/// overflow reports exactly how many bytes were needed.
pub(crate) struct ObjectWriter<'o> {
    out: &'o mut [u8],
    len: usize,
    first: bool,
}

impl<'o> ObjectWriter<'o> {
    /// Starts an object (`{`).
    #[inline]
    pub(crate) fn new(out: &'o mut [u8]) -> Self {
        let mut w = ObjectWriter {
            out,
            len: 0,
            first: true,
        };
        w.raw(b"{");
        w
    }

    /// Appends bytes as they are.
    #[inline(always)]
    pub(crate) fn raw(&mut self, bytes: &[u8]) {
        let end = self.len + bytes.len();
        if let Some(dst) = self.out.get_mut(self.len..end) {
            small_copy(dst, bytes);
        }
        self.len = end;
    }

    /// Appends `N` bytes but keeps only the first `used` (a fixed-size copy, cheaper than a
    /// variable one); near the end of the buffer, copies exactly.
    #[inline(always)]
    pub(crate) fn raw_prefix<const N: usize>(&mut self, bytes: &[u8; N], used: usize) {
        match self.out.get_mut(self.len..self.len + N) {
            Some(dst) => dst.copy_from_slice(bytes),
            None => {
                if let Some(dst) = self.out.get_mut(self.len..self.len + used) {
                    dst.copy_from_slice(bytes.get(..used).unwrap_or(&[]));
                }
            }
        }
        self.len += used;
    }

    /// Writes `"name":` (with a separating comma when needed).
    #[inline(always)]
    pub(crate) fn key(&mut self, name: &str) {
        if !self.first {
            self.raw(b",");
        }
        self.first = false;
        self.raw(b"\"");
        self.raw(name.as_bytes());
        self.raw(b"\":");
    }

    /// Writes an integer's decimal text (no key).
    #[inline]
    pub(crate) fn integer<I: itoa::Integer>(&mut self, value: I) {
        let mut buf = itoa::Buffer::new();
        self.raw(buf.format(value).as_bytes());
    }

    /// Writes a string member of up to eight bytes held NUL-padded in `padded` (up to its
    /// first NUL), escaping `"`, `\\` and control characters; the common case (nothing to
    /// escape) is one fixed-size copy.
    #[inline]
    pub(crate) fn short_str(&mut self, name: &str, padded: &[u8; 8]) {
        const ONES: u64 = 0x0101_0101_0101_0101;
        const HIGHS: u64 = 0x8080_8080_8080_8080;
        self.key(name);
        let word = u64::from_le_bytes(*padded);
        // The first NUL ends the text (exact for the lowest flagged byte).
        let nul = word.wrapping_sub(ONES) & !word & HIGHS;
        let len = if nul == 0 {
            8
        } else {
            (nul.trailing_zeros() / 8) as usize
        };
        let used = if len == 8 {
            u64::MAX
        } else {
            (1u64 << (8 * len)) - 1
        };
        self.raw(b"\"");
        if stop_bytes(word) & used & HIGHS != 0 {
            self.escaped(padded.get(..len).unwrap_or(padded));
        } else {
            self.raw_prefix(padded, len);
        }
        self.raw(b"\"");
    }

    /// Writes an integer member.
    #[inline]
    pub(crate) fn int<I: itoa::Integer>(&mut self, name: &str, value: I) {
        self.key(name);
        self.integer(value);
    }

    /// Writes an optional integer member; `None` is left out.
    #[inline]
    pub(crate) fn opt_int<I: itoa::Integer>(&mut self, name: &str, value: Option<I>) {
        if let Some(value) = value {
            self.int(name, value);
        }
    }

    /// Writes a string member that needs no escaping (enum and message names).
    #[inline]
    pub(crate) fn plain_str(&mut self, name: &str, value: &str) {
        self.key(name);
        self.raw(b"\"");
        self.raw(value.as_bytes());
        self.raw(b"\"");
    }

    /// Writes a string member in the UPPER_SNAKE form of the CamelCase `camel`.
    pub(crate) fn upper_snake(&mut self, name: &str, camel: &str) {
        self.key(name);
        self.raw(b"\"");
        for b in UpperSnake::new(camel) {
            self.raw(&[b]);
        }
        self.raw(b"\"");
    }

    /// Writes a byte array member as JSON signed bytes.
    pub(crate) fn signed_bytes(&mut self, name: &str, bytes: &[u8]) {
        self.key(name);
        self.raw(b"[");
        for (i, b) in bytes.iter().enumerate() {
            if i > 0 {
                self.raw(b",");
            }
            let (text, len) = SIGNED_BYTE_TEXT[usize::from(*b)];
            self.raw_prefix(&text, usize::from(len));
        }
        self.raw(b"]");
    }

    /// Writes an optional byte array member; empty means absent and is left out.
    pub(crate) fn opt_bytes(&mut self, name: &str, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.signed_bytes(name, bytes);
        }
    }

    /// Writes string content (no quotes), escaping `"`, `\\` and control characters.
    #[inline]
    pub(crate) fn escaped(&mut self, value: &[u8]) {
        let mut rest = value;
        while !rest.is_empty() {
            let plain = rest
                .iter()
                .position(|b| *b < 0x20 || *b == b'"' || *b == b'\\')
                .unwrap_or(rest.len());
            let (head, tail) = rest.split_at(plain);
            self.raw(head);
            let Some((&b, tail)) = tail.split_first() else {
                break;
            };
            match b {
                b'"' => self.raw(b"\\\""),
                b'\\' => self.raw(b"\\\\"),
                _ => {
                    const HEX: &[u8; 16] = b"0123456789abcdef";
                    let hi = HEX[usize::from(b >> 4)];
                    let lo = HEX[usize::from(b & 0xf)];
                    self.raw(&[b'\\', b'u', b'0', b'0', hi, lo]);
                }
            }
            rest = tail;
        }
    }

    /// Starts an array member (`"name":[`); elements follow through [`Self::raw`] and friends.
    pub(crate) fn begin_array(&mut self, name: &str) {
        self.key(name);
        self.raw(b"[");
    }

    /// Writes `"@type"` and closes the object; returns the length, or the size needed.
    #[inline]
    pub(crate) fn finish(mut self, message_type: &str) -> Result<usize, EncodeError> {
        self.plain_str("@type", message_type);
        self.close()
    }

    /// Closes the object; returns the length, or the size needed.
    #[inline]
    pub(crate) fn close(mut self) -> Result<usize, EncodeError> {
        self.raw(b"}");
        if self.len > self.out.len() {
            return Err(EncodeError::BufferTooSmall { needed: self.len });
        }
        Ok(self.len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One member as the scanner reported it: key, kind, value text.
    type Member = (Vec<u8>, Kind, Vec<u8>);

    fn members(frame: &[u8]) -> Result<Vec<Member>, DecodeError> {
        let mut out = Vec::new();
        scan_object(frame, |k, v| {
            out.push((k.to_vec(), v.kind(), v.text().to_vec()));
            Ok(())
        })?;
        Ok(out)
    }

    #[test]
    fn scanner_reports_members_with_unescaped_keys() {
        let got =
            members(br#" { "a" : 1 , "\u0040t\"y" :"x\n", "n":null, "o":{"p":[1,{}]} } "#).unwrap();
        assert_eq!(
            got,
            vec![
                (b"a".to_vec(), Kind::Number, b"1".to_vec()),
                (b"@t\"y".to_vec(), Kind::String, br#""x\n""#.to_vec()),
                (b"n".to_vec(), Kind::Null, b"null".to_vec()),
                (b"o".to_vec(), Kind::Object, br#"{"p":[1,{}]}"#.to_vec()),
            ]
        );
        assert_eq!(members(b"{}").unwrap(), vec![]);
        assert_eq!(
            members(b"{} x"),
            Err(DecodeError::TrailingBytes { extra: 2 })
        );
    }

    #[test]
    fn scanner_refuses_bad_syntax() {
        for bad in [
            &b""[..],
            b"[]",
            b"{",
            b"{\"a\"}",
            b"{\"a\":}",
            b"{\"a\":1,}",
            b"{\"a\":[1,]}",
            b"{\"a\":01}",
            b"{\"a\":1.}",
            b"{\"a\":-}",
            b"{\"a\":1e}",
            b"{\"a\":tru}",
            b"{\"a\":\"\\x\"}",
            b"{\"a\":\"\\uD800\"}",
            b"{\"a\":\"\\uDC00\"}",
            b"{\"a\":\"\\uD800\\u0041\"}",
            b"{\"a\":\"\xff\"}",
            b"{\"a\":\"\x01\"}",
            b"{\"a\":[}",
            b"{\"a\":{]}",
            b"{\"a\":{\"b\"}}",
            b"{1:2}",
        ] {
            assert_eq!(members(bad), Err(DecodeError::InvalidJson), "{bad:?}");
        }
        let deep = |n: usize| format!("{{\"a\":{}{}}}", "[".repeat(n), "]".repeat(n));
        assert!(members(deep(MAX_DEPTH - 1).as_bytes()).is_ok());
        assert_eq!(
            members(deep(MAX_DEPTH).as_bytes()),
            Err(DecodeError::InvalidJson)
        );
    }

    #[test]
    fn integers_are_exact_and_typed() {
        let value = |text: &'static [u8]| Value {
            kind: Kind::Number,
            text,
            escaped: false,
        };
        assert_eq!(value(b"18446744073709551615").int::<u64>("f"), Ok(u64::MAX));
        assert_eq!(value(b"-9223372036854775808").int::<i64>("f"), Ok(i64::MIN));
        for bad in [&b"18446744073709551616"[..], b"-1", b"1.0", b"1e2", b"-0"] {
            assert_eq!(
                value(bad).int::<u64>("f"),
                Err(DecodeError::InvalidField { field: "f" })
            );
        }
        assert_eq!(
            value(b"-129").int::<i8>("f"),
            Err(DecodeError::InvalidField { field: "f" })
        );
    }

    #[test]
    fn small_copies_of_every_length_are_exact() {
        let src: Vec<u8> = (1..=40).collect();
        for n in 0..=40 {
            let mut dst = vec![0u8; n];
            small_copy(&mut dst, &src[..n]);
            assert_eq!(dst, &src[..n]);
        }
    }

    #[test]
    fn signed_byte_table_matches_itoa() {
        for b in 0..=255u8 {
            let (text, len) = SIGNED_BYTE_TEXT[usize::from(b)];
            assert_eq!(
                &text[..usize::from(len)],
                itoa::Buffer::new().format(b as i8).as_bytes()
            );
        }
    }

    #[test]
    fn upper_snake_matches_java_constant_names() {
        assert!(upper_snake_eq(
            "FlowTypeNotSupported",
            b"FLOW_TYPE_NOT_SUPPORTED"
        ));
        assert!(upper_snake_eq("Credentials", b"CREDENTIALS"));
        assert!(!upper_snake_eq("Credentials", b"CREDENTIAL"));
        assert!(!upper_snake_eq(
            "FlowTypeNotSupported",
            b"FLOWTYPENOTSUPPORTED"
        ));
        let s: Vec<u8> = UpperSnake::new("KeepaliveInterval").collect();
        assert_eq!(s, b"KEEPALIVE_INTERVAL");
    }

    #[test]
    fn writer_reports_exact_size_needed() {
        let write = |out: &mut [u8]| {
            let mut w = ObjectWriter::new(out);
            w.int("n", 1_234_567_890_123u64);
            w.signed_bytes("b", &[0, 127, 128, 255]);
            w.short_str("s", b"a\"\\\x01\0\0\0\0");
            w.short_str("t", b"ABCDEFGH");
            w.finish("T")
        };
        let mut big = [0u8; 128];
        let n = write(&mut big).unwrap();
        let text =
            br#"{"n":1234567890123,"b":[0,127,-128,-1],"s":"a\"\\\u0001","t":"ABCDEFGH","@type":"T"}"#;
        assert_eq!(&big[..n], text);
        for size in 0..n {
            let mut small = vec![0u8; size];
            assert_eq!(
                write(&mut small),
                Err(EncodeError::BufferTooSmall { needed: n })
            );
        }
    }
}
