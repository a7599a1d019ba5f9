//! Conga's order application messages: a typed, allocation-free model, its JSON form and its
//! SBE form.
//!
//! Owns: NewOrderSingle, OrderCancelRequest, ExecutionReport (with its fills group) and
//! OrderCancelReject as Conga's SBE schema (`data/spec/conga/orders-sbe-schema.xml`, id 100)
//! defines them, their Conga JSON keys and value forms (flat object, `"@type"` anywhere, Conga's
//! enum names, prices, `transactTime` text), and what Conga's SBE side sends differently
//! (`docs/interop-conga.md`). JSON syntax (scanning, writing) comes from
//! `codec::json::primitives` (crate-private), which knows nothing of these messages. May not touch:
//! sockets, clocks, session state, the FIXP messages.
//!
//! Value conventions follow the SBE schema: identifiers are `char[8]` ([`Id8`]), prices are
//! mantissas with exponent −2 ([`Price`]), quantities are `int32`, and `transactTime` is Unix-epoch
//! nanoseconds (`u64`), which JSON carries as ISO-8601 UTC text with up to nine fractional
//! digits. JSON prices are converted from their decimal text, never through `f64`.

use std::fmt;

use super::json::primitives::{json_members, required, Kind, ObjectWriter, Value};
use super::sbe::conga as sbe;
use super::{DecodeError, EncodeError};

/// The decimal exponent of every [`Price`] (the schema's `money` composite).
pub const PRICE_EXPONENT: i8 = -2;

/// Most fills an [`ExecutionReport`] holds. Conga's aggressor reports carry one fill per resting
/// order swept; its BookSweep scenario sweeps ten.
pub const MAX_FILLS: usize = 32;

wire_enum! {
    /// Order side (`char`).
    Side {
        /// Buy (`'1'`).
        Buy = b'1',
        /// Sell (`'2'`).
        Sell = b'2',
    }
}

wire_enum! {
    /// Order type (`char`).
    OrdType {
        /// Market order (`'1'`): never rests.
        Market = b'1',
        /// Limit order (`'2'`).
        Limit = b'2',
    }
}

wire_enum! {
    /// Execution type of an ExecutionReport (`char`).
    ExecType {
        /// `'0'`.
        New = b'0',
        /// `'3'`.
        DoneForDay = b'3',
        /// `'4'`.
        Canceled = b'4',
        /// `'6'`.
        PendingCancel = b'6',
        /// `'7'`.
        Stopped = b'7',
        /// `'8'`.
        Rejected = b'8',
        /// `'9'`.
        Suspended = b'9',
        /// `'A'`.
        PendingNew = b'A',
        /// `'B'`.
        Calculated = b'B',
        /// `'C'`.
        Expired = b'C',
        /// `'D'`.
        Restated = b'D',
        /// `'E'`.
        PendingReplace = b'E',
        /// `'F'`.
        Trade = b'F',
    }
}

wire_enum! {
    /// Order status (`char`).
    OrdStatus {
        /// `'0'`.
        New = b'0',
        /// `'1'`.
        PartiallyFilled = b'1',
        /// `'2'`.
        Filled = b'2',
        /// `'3'`.
        DoneForDay = b'3',
        /// `'4'`.
        Canceled = b'4',
        /// `'6'`.
        PendingCancel = b'6',
        /// `'7'`.
        Stopped = b'7',
        /// `'8'`.
        Rejected = b'8',
        /// `'9'`.
        Suspended = b'9',
        /// `'A'`.
        PendingNew = b'A',
        /// `'B'`.
        Calculated = b'B',
        /// `'C'`.
        Expired = b'C',
        /// `'D'`.
        AcceptedForBidding = b'D',
        /// `'E'`.
        PendingReplace = b'E',
    }
}

wire_enum! {
    /// Why a cancel was rejected (`uint8`).
    CxlRejReason {
        /// 0.
        TooLateToCancel = 0,
        /// 1.
        UnknownOrder = 1,
        /// 99.
        Other = 99,
    }
}

/// A `char[8]` identifier (ClOrdId, OrderId, ExecId, Symbol): up to 8 printable ASCII
/// characters, NUL-padded on the SBE wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Id8([u8; 8]);

impl Id8 {
    /// The identifier for `text`, or `None` if it is longer than 8 bytes or holds anything but
    /// printable ASCII.
    pub fn new(text: &str) -> Option<Self> {
        Self::from_text(text.as_bytes())
    }

    /// [`Id8::new`] on the text's bytes.
    fn from_text(text: &[u8]) -> Option<Self> {
        let mut bytes = [0u8; 8];
        if text.len() > bytes.len() || !text.iter().copied().all(is_id_byte) {
            return None;
        }
        bytes.get_mut(..text.len())?.copy_from_slice(text);
        Some(Id8(bytes))
    }

    /// The identifier in SBE `char[8]` bytes: text up to the first NUL (the rest must be NUL).
    pub fn from_wire(bytes: [u8; 8]) -> Option<Self> {
        let len = bytes.iter().position(|b| *b == 0).unwrap_or(bytes.len());
        let (text, padding) = bytes.split_at(len);
        if text.iter().copied().all(is_id_byte) && padding.iter().all(|b| *b == 0) {
            Some(Id8(bytes))
        } else {
            None
        }
    }

    /// The SBE `char[8]` bytes (NUL-padded).
    pub fn to_wire(self) -> [u8; 8] {
        self.0
    }

    /// The identifier's bytes (printable ASCII, up to the first NUL).
    fn text(&self) -> &[u8] {
        let len = self.0.iter().position(|b| *b == 0).unwrap_or(self.0.len());
        self.0.get(..len).unwrap_or(&[])
    }

    /// Writes the identifier as a JSON string member.
    fn write_json(&self, w: &mut ObjectWriter<'_>, name: &str) {
        w.short_str(name, &self.0);
    }

    /// The identifier's text.
    pub fn as_str(&self) -> &str {
        let len = self.0.iter().position(|b| *b == 0).unwrap_or(self.0.len());
        // Only printable ASCII is ever stored, so this never falls back.
        self.0
            .get(..len)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }
}

fn is_id_byte(b: u8) -> bool {
    b == b' ' || b.is_ascii_graphic()
}

impl fmt::Debug for Id8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id8({:?})", self.as_str())
    }
}

impl fmt::Display for Id8 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A price: the SBE `money` mantissa, exponent −2 (`Price(7345)` is 73.45).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Price(pub i32);

impl Price {
    /// Parses a JSON number's text exactly (`"73.45"`, `"73.450"`, `"7345e-2"`, `"-1"`).
    /// `None` when it is not a number, needs more than two decimals, or overflows `i32`.
    pub fn from_decimal_str(text: &str) -> Option<Price> {
        Self::from_decimal_bytes(text.as_bytes())
    }

    /// [`Price::from_decimal_str`] on the text's bytes.
    fn from_decimal_bytes(bytes: &[u8]) -> Option<Price> {
        let mut pos = 0;
        let negative = bytes.first() == Some(&b'-');
        if negative {
            pos += 1;
        }
        let mut digits: i128 = 0;
        // The mantissa is digits * 10^scale: each fractional digit lowers scale, the exponent
        // shifts it, and the price's own exponent (−2) starts it at +2.
        let mut scale: i32 = -i32::from(PRICE_EXPONENT);
        let mut seen_digit = false;
        let mut in_fraction = false;
        while let Some(&b) = bytes.get(pos) {
            match b {
                b'0'..=b'9' => {
                    seen_digit = true;
                    digits = digits.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
                    if in_fraction {
                        scale -= 1;
                    }
                }
                b'.' if !in_fraction && seen_digit => in_fraction = true,
                _ => break,
            }
            pos += 1;
        }
        if !seen_digit || bytes.get(pos.wrapping_sub(1)) == Some(&b'.') {
            return None;
        }
        if let Some(b'e' | b'E') = bytes.get(pos) {
            pos += 1;
            let exp_negative = match bytes.get(pos) {
                Some(b'-') => {
                    pos += 1;
                    true
                }
                Some(b'+') => {
                    pos += 1;
                    false
                }
                _ => false,
            };
            let start = pos;
            let mut exp: i32 = 0;
            while let Some(&b) = bytes.get(pos).filter(|b| b.is_ascii_digit()) {
                exp = exp.checked_mul(10)?.checked_add(i32::from(b - b'0'))?;
                if exp > 1000 {
                    return None;
                }
                pos += 1;
            }
            if pos == start {
                return None;
            }
            scale += if exp_negative { -exp } else { exp };
        }
        if pos != bytes.len() {
            return None;
        }
        // mantissa = digits * 10^scale, exactly.
        while scale < 0 {
            if digits % 10 != 0 {
                return None;
            }
            digits /= 10;
            scale += 1;
        }
        while scale > 0 && digits != 0 {
            digits = digits.checked_mul(10)?;
            scale -= 1;
        }
        let signed = if negative { -digits } else { digits };
        i32::try_from(signed).ok().map(Price)
    }
}

impl fmt::Display for Price {
    /// Writes the decimal with two fractional digits (`73.45`, `-0.05`, `1.00`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        let abs = self.0.unsigned_abs();
        write!(f, "{sign}{}.{:02}", abs / 100, abs % 100)
    }
}

/// Parses Conga's `transactTime` text, `YYYY-MM-DDTHH:MM:SS[.fraction]Z` with 1 to 9
/// fractional digits, into Unix-epoch nanoseconds. `None` for any other form, an impossible
/// date, or a time before 1970 or beyond `u64` nanoseconds (2554).
pub fn parse_transact_time(text: &str) -> Option<u64> {
    parse_transact_time_bytes(text.as_bytes())
}

/// [`parse_transact_time`] on the text's bytes.
fn parse_transact_time_bytes(text: &[u8]) -> Option<u64> {
    /// Julian day number of 1970-01-01.
    const UNIX_EPOCH_JULIAN_DAY: i64 = 2_440_588;
    let (head, rest) = text.split_first_chunk::<19>()?;
    let pair = |at: usize| -> Option<u32> {
        let (tens, ones) = (head[at].wrapping_sub(b'0'), head[at + 1].wrapping_sub(b'0'));
        (tens < 10 && ones < 10).then(|| u32::from(tens) * 10 + u32::from(ones))
    };
    if [head[4], head[7], head[10], head[13], head[16]] != *b"--T::" {
        return None;
    }
    let year = i32::try_from(pair(0)? * 100 + pair(2)?).ok()?;
    let month = time::Month::try_from(u8::try_from(pair(5)?).ok()?).ok()?;
    let day = u8::try_from(pair(8)?).ok()?;
    let (hour, minute, second) = (pair(11)?, pair(14)?, pair(17)?);
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let mut nanos = 0u32;
    let rest = match rest.split_first() {
        Some((b'.', fraction)) => {
            let count = fraction.iter().take_while(|d| d.is_ascii_digit()).count();
            if count == 0 || count > 9 {
                return None;
            }
            for d in fraction.get(..count)? {
                nanos = nanos * 10 + u32::from(d - b'0');
            }
            nanos *= 10u32.pow(u32::try_from(9 - count).ok()?);
            fraction.get(count..)?
        }
        _ => rest,
    };
    if rest != b"Z" {
        return None;
    }
    let days = i64::from(
        time::Date::from_calendar_date(year, month, day)
            .ok()?
            .to_julian_day(),
    ) - UNIX_EPOCH_JULIAN_DAY;
    let seconds = days * 86_400 + i64::from(hour * 3600 + minute * 60 + second);
    u64::try_from(seconds)
        .ok()?
        .checked_mul(1_000_000_000)?
        .checked_add(u64::from(nanos))
}

/// Writes Unix-epoch nanoseconds as Conga (Java `Instant.toString`) does: ISO-8601 UTC with
/// the fraction in groups of three digits, left out when zero
/// (`2018-06-01T14:30:00.123456789Z`, `2018-06-01T14:30:00.120Z`, `2018-06-01T14:30:00Z`).
pub fn write_transact_time(ns: u64, out: &mut impl fmt::Write) -> fmt::Result {
    let mut buf = [0u8; TRANSACT_TIME_MAX_LEN];
    let len = format_transact_time(ns, &mut buf).ok_or(fmt::Error)?;
    let text = buf.get(..len).ok_or(fmt::Error)?;
    out.write_str(std::str::from_utf8(text).map_err(|_| fmt::Error)?)
}

/// Longest `transactTime` text: `2018-06-01T14:30:00.123456789Z`.
const TRANSACT_TIME_MAX_LEN: usize = 30;

/// `"00"` to `"99"`.
static TWO_DIGITS: [[u8; 2]; 100] = {
    let mut table = [[0u8; 2]; 100];
    let mut i = 0;
    while i < 100 {
        table[i] = [b'0' + (i / 10) as u8, b'0' + (i % 10) as u8];
        i += 1;
    }
    table
};

/// Formats like [`write_transact_time`] into the front of `buf` without `fmt` machinery;
/// returns the length (`None` if `buf` is too short).
fn format_transact_time(ns: u64, buf: &mut [u8]) -> Option<usize> {
    /// Writes `value` (below 100) as two digits at `pos`.
    fn pair(buf: &mut [u8], pos: usize, value: u32) -> Option<()> {
        let digits = TWO_DIGITS.get(usize::try_from(value).ok()?)?;
        buf.get_mut(pos..pos + 2)?.copy_from_slice(digits);
        Some(())
    }
    /// Julian day number of 1970-01-01.
    const UNIX_EPOCH_JULIAN_DAY: u64 = 2_440_588;
    let (seconds, nanos) = (ns / 1_000_000_000, (ns % 1_000_000_000) as u32);
    let (days, of_day) = (seconds / 86_400, (seconds % 86_400) as u32);
    let julian_day = i32::try_from(days + UNIX_EPOCH_JULIAN_DAY).ok()?;
    let (year, month, day) = time::Date::from_julian_day(julian_day)
        .ok()?
        .to_calendar_date();
    let (hour, minute, second) = (of_day / 3600, of_day / 60 % 60, of_day % 60);
    // u64 nanoseconds end in 2554: the year always has four digits.
    let year = u32::try_from(year).ok()?;
    let out = buf.get_mut(..20)?;
    out.copy_from_slice(b"0000-00-00T00:00:00Z");
    pair(out, 0, year / 100)?;
    pair(out, 2, year % 100)?;
    pair(out, 5, u8::from(month).into())?;
    pair(out, 8, day.into())?;
    pair(out, 11, hour)?;
    pair(out, 14, minute)?;
    pair(out, 17, second)?;
    let (groups, mut fraction) = match nanos {
        0 => return Some(20),
        n if n % 1_000_000 == 0 => (1, n / 1_000_000),
        n if n % 1_000 == 0 => (2, n / 1_000),
        n => (3, n),
    };
    let end = 20 + 3 * groups;
    *buf.get_mut(19)? = b'.';
    // Three digits per group, from the last: a pair and a single digit.
    for group in (0..groups).rev() {
        let at = 20 + 3 * group;
        let three = fraction % 1000;
        fraction /= 1000;
        *buf.get_mut(at)? = b'0' + (three / 100) as u8;
        pair(buf, at + 1, three % 100)?;
    }
    *buf.get_mut(end)? = b'Z';
    Some(end + 1)
}

/// Formats `"transactTime text"` (with quotes) into the front of `buf`; returns the length.
fn format_transact_time_quoted(ns: u64, buf: &mut [u8]) -> Option<usize> {
    *buf.first_mut()? = b'"';
    let len = format_transact_time(ns, buf.get_mut(1..)?)?;
    *buf.get_mut(len + 1)? = b'"';
    Some(len + 2)
}

impl Price {
    /// Writes the price as a JSON number: the integer part, then `.` and two digits.
    fn write_json(self, w: &mut ObjectWriter<'_>) {
        let abs = self.0.unsigned_abs();
        if self.0 < 0 {
            w.raw(b"-");
        }
        w.integer(abs / 100);
        let cents = TWO_DIGITS
            .get((abs % 100) as usize)
            .copied()
            .unwrap_or(*b"00");
        w.raw(&[b'.', cents[0], cents[1]]);
    }
}

/// One fill of an ExecutionReport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Fill {
    /// Fill price.
    pub fill_px: Price,
    /// Fill quantity.
    pub fill_qty: i32,
}

/// The fills group of an ExecutionReport: up to [`MAX_FILLS`] entries, stored inline.
#[derive(Clone, Copy)]
pub struct Fills {
    len: usize,
    entries: [Fill; MAX_FILLS],
}

impl Fills {
    /// No fills.
    pub const fn new() -> Self {
        Fills {
            len: 0,
            entries: [Fill {
                fill_px: Price(0),
                fill_qty: 0,
            }; MAX_FILLS],
        }
    }

    /// The fills in `fills`, or `None` if there are more than [`MAX_FILLS`].
    pub fn from_slice(fills: &[Fill]) -> Option<Self> {
        let mut out = Fills::new();
        for fill in fills {
            out.push(*fill).ok()?;
        }
        Some(out)
    }

    /// Appends a fill; hands it back when the group is full.
    pub fn push(&mut self, fill: Fill) -> Result<(), Fill> {
        match self.entries.get_mut(self.len) {
            Some(slot) => {
                *slot = fill;
                self.len += 1;
                Ok(())
            }
            None => Err(fill),
        }
    }

    /// The fills, in order.
    pub fn as_slice(&self) -> &[Fill] {
        self.entries.get(..self.len).unwrap_or(&[])
    }

    /// How many fills.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when there are no fills.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl Default for Fills {
    fn default() -> Self {
        Fills::new()
    }
}

impl PartialEq for Fills {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for Fills {}

impl fmt::Debug for Fills {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// NewOrderSingle (SBE template 14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrderSingle {
    /// Client order id.
    pub cl_ord_id: Id8,
    /// Instrument.
    pub symbol: Id8,
    /// Side.
    pub side: Side,
    /// Unix-epoch nanoseconds.
    pub transact_time: u64,
    /// Quantity.
    pub order_qty: i32,
    /// Market or Limit.
    pub ord_type: OrdType,
    /// Limit price (required for Limit; Conga leaves it out for Market).
    pub price: Option<Price>,
}

/// OrderCancelRequest (SBE template 16).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCancelRequest {
    /// Client order id of the order to cancel.
    pub cl_ord_id: Id8,
    /// Instrument.
    pub symbol: Id8,
    /// Side.
    pub side: Side,
    /// Unix-epoch nanoseconds.
    pub transact_time: u64,
}

/// ExecutionReport (SBE template 9).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExecutionReport {
    /// Exchange order id.
    pub order_id: Id8,
    /// Client order id.
    pub cl_ord_id: Id8,
    /// Execution id.
    pub exec_id: Id8,
    /// What happened.
    pub exec_type: ExecType,
    /// The order's status afterwards.
    pub ord_status: OrdStatus,
    /// Instrument.
    pub symbol: Id8,
    /// Side.
    pub side: Side,
    /// Quantity still open.
    pub leaves_qty: i32,
    /// Quantity filled so far.
    pub cum_qty: i32,
    /// Unix-epoch nanoseconds.
    pub transact_time: u64,
    /// The fills of this execution.
    pub fills: Fills,
}

impl ExecutionReport {
    /// The report (ExecType New, OrdStatus New) acknowledging `order`: every id is the order's
    /// ClOrdId, nothing filled, the whole quantity open. Override ids with struct update syntax.
    pub fn accepted(order: &NewOrderSingle) -> Self {
        ExecutionReport {
            order_id: order.cl_ord_id,
            cl_ord_id: order.cl_ord_id,
            exec_id: order.cl_ord_id,
            exec_type: ExecType::New,
            ord_status: OrdStatus::New,
            symbol: order.symbol,
            side: order.side,
            leaves_qty: order.order_qty,
            cum_qty: 0,
            transact_time: order.transact_time,
            fills: Fills::new(),
        }
    }
}

/// OrderCancelReject (SBE template 10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderCancelReject {
    /// Exchange order id (Conga sends `"None"` for an unknown order).
    pub order_id: Id8,
    /// Client order id of the cancel.
    pub cl_ord_id: Id8,
    /// Status of the order.
    pub ord_status: OrdStatus,
    /// Why.
    pub cxl_rej_reason: CxlRejReason,
    /// Unix-epoch nanoseconds.
    pub transact_time: u64,
}

/// One Conga order application message.
///
/// Held inline (about 340 bytes with a full fills group) so decoding never allocates.
#[allow(clippy::large_enum_variant)] // boxing the ExecutionReport would allocate per message
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CongaMessage {
    /// NewOrderSingle.
    NewOrderSingle(NewOrderSingle),
    /// OrderCancelRequest.
    OrderCancelRequest(OrderCancelRequest),
    /// ExecutionReport.
    ExecutionReport(ExecutionReport),
    /// OrderCancelReject.
    OrderCancelReject(OrderCancelReject),
}

impl CongaMessage {
    /// The JSON `@type` name.
    pub fn type_name(&self) -> &'static str {
        match self {
            CongaMessage::NewOrderSingle(_) => "NewOrderSingle",
            CongaMessage::OrderCancelRequest(_) => "OrderCancelRequest",
            CongaMessage::ExecutionReport(_) => "ExecutionReport",
            CongaMessage::OrderCancelReject(_) => "OrderCancelReject",
        }
    }

    /// Decodes one Conga JSON application message (for example the frame of an
    /// [`crate::codec::Inbound::Application`]). Keys may come in any order; unknown keys are
    /// ignored; `null` means absent. A missing `@type` is `MissingField`, an `@type` other than
    /// the four messages is `InvalidField`.
    pub fn decode_json(frame: &[u8]) -> Result<Self, DecodeError> {
        let mut raw = RawConga::default();
        raw.scan_into(frame)?;
        let known = |name: &[u8]| {
            [
                "NewOrderSingle",
                "OrderCancelRequest",
                "ExecutionReport",
                "OrderCancelReject",
            ]
            .into_iter()
            .find(|known| known.as_bytes() == name)
        };
        let type_name = required(raw.message_type, "@type")?.with_str("@type", known)?;
        Ok(match type_name {
            "NewOrderSingle" => CongaMessage::NewOrderSingle(NewOrderSingle {
                cl_ord_id: id(raw.cl_ord_id, "clOrdId")?,
                symbol: id(raw.symbol, "symbol")?,
                side: name(raw.side, "side", Side::from_name_bytes)?,
                transact_time: transact_time(raw.transact_time)?,
                order_qty: qty(raw.order_qty, "orderQty")?,
                ord_type: name(raw.ord_type, "ordType", OrdType::from_name_bytes)?,
                price: raw.price.map(|p| price(p, "price")).transpose()?,
            }),
            "OrderCancelRequest" => CongaMessage::OrderCancelRequest(OrderCancelRequest {
                cl_ord_id: id(raw.cl_ord_id, "clOrdId")?,
                symbol: id(raw.symbol, "symbol")?,
                side: name(raw.side, "side", Side::from_name_bytes)?,
                transact_time: transact_time(raw.transact_time)?,
            }),
            "ExecutionReport" => CongaMessage::ExecutionReport(ExecutionReport {
                order_id: id(raw.order_id, "orderId")?,
                cl_ord_id: id(raw.cl_ord_id, "clOrdId")?,
                exec_id: id(raw.exec_id, "execId")?,
                exec_type: name(raw.exec_type, "execType", ExecType::from_name_bytes)?,
                ord_status: name(raw.ord_status, "ordStatus", OrdStatus::from_name_bytes)?,
                symbol: id(raw.symbol, "symbol")?,
                side: name(raw.side, "side", Side::from_name_bytes)?,
                leaves_qty: qty(raw.leaves_qty, "leavesQty")?,
                cum_qty: qty(raw.cum_qty, "cumQty")?,
                transact_time: transact_time(raw.transact_time)?,
                fills: raw.fills.map_or(Ok(Fills::new()), fills)?,
            }),
            "OrderCancelReject" => CongaMessage::OrderCancelReject(OrderCancelReject {
                order_id: id(raw.order_id, "orderId")?,
                cl_ord_id: id(raw.cl_ord_id, "clOrdId")?,
                ord_status: name(raw.ord_status, "ordStatus", OrdStatus::from_name_bytes)?,
                cxl_rej_reason: name(
                    raw.cxl_rej_reason,
                    "cxlRejReason",
                    CxlRejReason::from_name_bytes,
                )?,
                transact_time: transact_time(raw.transact_time)?,
            }),
            _ => return Err(DecodeError::InvalidField { field: "@type" }),
        })
    }

    /// Encodes the message as Conga JSON into `out` (Conga's key order) and returns the
    /// length written.
    pub fn encode_json(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        let mut w = ObjectWriter::new(out);
        match self {
            CongaMessage::NewOrderSingle(m) => {
                m.cl_ord_id.write_json(&mut w, "clOrdId");
                w.int("orderQty", m.order_qty);
                w.plain_str("ordType", m.ord_type.name());
                if let Some(price) = m.price {
                    w.key("price");
                    price.write_json(&mut w);
                }
                w.plain_str("side", m.side.name());
                m.symbol.write_json(&mut w, "symbol");
                write_transact_time_member(&mut w, m.transact_time);
            }
            CongaMessage::OrderCancelRequest(m) => {
                m.cl_ord_id.write_json(&mut w, "clOrdId");
                w.plain_str("side", m.side.name());
                m.symbol.write_json(&mut w, "symbol");
                write_transact_time_member(&mut w, m.transact_time);
            }
            CongaMessage::ExecutionReport(m) => {
                // Conga writes ExecutionReport's @type first.
                w.plain_str("@type", self.type_name());
                m.cl_ord_id.write_json(&mut w, "clOrdId");
                w.int("cumQty", m.cum_qty);
                m.exec_id.write_json(&mut w, "execId");
                w.plain_str("execType", m.exec_type.name());
                w.int("leavesQty", m.leaves_qty);
                m.order_id.write_json(&mut w, "orderId");
                w.plain_str("ordStatus", m.ord_status.name());
                w.plain_str("side", m.side.name());
                m.symbol.write_json(&mut w, "symbol");
                write_transact_time_member(&mut w, m.transact_time);
                w.begin_array("fills");
                for (i, fill) in m.fills.as_slice().iter().enumerate() {
                    if i > 0 {
                        w.raw(b",");
                    }
                    w.raw(b"{\"fillPx\":");
                    fill.fill_px.write_json(&mut w);
                    w.raw(b",\"fillQty\":");
                    w.integer(fill.fill_qty);
                    w.raw(b"}");
                }
                w.raw(b"]");
                return w.close();
            }
            CongaMessage::OrderCancelReject(m) => {
                m.cl_ord_id.write_json(&mut w, "clOrdId");
                w.plain_str("cxlRejReason", m.cxl_rej_reason.name());
                m.order_id.write_json(&mut w, "orderId");
                w.plain_str("ordStatus", m.ord_status.name());
                write_transact_time_member(&mut w, m.transact_time);
            }
        }
        w.finish(self.type_name())
    }
}

impl CongaMessage {
    /// Decodes one Conga SBE message (schema 100, version 0, little-endian) from the generated
    /// flyweights in [`crate::codec::sbe::conga`]. The frame must hold exactly one message
    /// (surplus → `TrailingBytes`). A NewOrderSingle price holding the SBE `int32` null value
    /// ([`PRICE_NULL_MANTISSA`]), or belonging to a Market order, reads as `None` (Conga's
    /// client leaves a Market order's price unset, so it holds whatever its buffer held).
    ///
    /// Conga's exchange sends an ExecutionReport without the fills group's dimension when it
    /// sets no fill count (its Canceled reports): a report that ends exactly where that group
    /// would begin reads as having no fills. Any other truncation stays an error.
    pub fn decode_sbe(frame: &[u8]) -> Result<Self, DecodeError> {
        match Self::decode_sbe_exact(frame) {
            Err(error @ DecodeError::Truncated { .. }) => {
                let mut completed = [0u8; REPORT_COMPLETION_CAPACITY];
                match complete_report_without_fills(frame, &mut completed) {
                    Some(completed) => Self::decode_sbe_exact(completed),
                    None => Err(error),
                }
            }
            decoded => decoded,
        }
    }

    /// [`Self::decode_sbe`] without tolerating the omitted fills group.
    fn decode_sbe_exact(frame: &[u8]) -> Result<Self, DecodeError> {
        use sbe::Message;
        let msg = Message::decode(frame)?;
        if let Some(extra) = frame.len().checked_sub(msg.sbe_end()).filter(|n| *n > 0) {
            return Err(DecodeError::TrailingBytes { extra });
        }
        Ok(match msg {
            Message::NewOrderSingle(d) => CongaMessage::NewOrderSingle(NewOrderSingle {
                cl_ord_id: sbe_id(d.cl_ord_id(), "ClOrdId")?,
                symbol: sbe_id(d.symbol(), "Symbol")?,
                side: sbe_enum(d.side_raw(), "Side", Side::from_wire)?,
                transact_time: d.transact_time().time(),
                order_qty: d.order_qty().mantissa(),
                ord_type: sbe_enum(d.ord_type_raw(), "OrdType", OrdType::from_wire)?,
                price: Some(d.price().mantissa())
                    .filter(|m| {
                        *m != PRICE_NULL_MANTISSA && d.ord_type_raw() != OrdType::Market.to_wire()
                    })
                    .map(Price),
            }),
            Message::OrderCancelRequest(d) => {
                CongaMessage::OrderCancelRequest(OrderCancelRequest {
                    cl_ord_id: sbe_id(d.cl_ord_id(), "ClOrdId")?,
                    symbol: sbe_id(d.symbol(), "Symbol")?,
                    side: sbe_enum(d.side_raw(), "Side", Side::from_wire)?,
                    transact_time: d.transact_time().time(),
                })
            }
            Message::OrderCancelReject(d) => CongaMessage::OrderCancelReject(OrderCancelReject {
                order_id: sbe_id(d.order_id(), "OrderId")?,
                cl_ord_id: sbe_id(d.cl_ord_id(), "ClOrdId")?,
                ord_status: sbe_enum(d.ord_status_raw(), "OrdStatus", OrdStatus::from_wire)?,
                cxl_rej_reason: sbe_enum(
                    d.cxl_rej_reason_raw(),
                    "CxlRejReason",
                    CxlRejReason::from_wire,
                )?,
                transact_time: d.transact_time().time(),
            }),
            Message::ExecutionReport(d) => {
                let mut fills = Fills::new();
                for entry in d.fills_grp() {
                    fills
                        .push(Fill {
                            fill_px: Price(entry.fill_px().mantissa()),
                            fill_qty: entry.fill_qty().mantissa(),
                        })
                        .map_err(|_| DecodeError::TooLong { field: "FillsGrp" })?;
                }
                CongaMessage::ExecutionReport(ExecutionReport {
                    order_id: sbe_id(d.order_id(), "OrderId")?,
                    cl_ord_id: sbe_id(d.cl_ord_id(), "ClOrdId")?,
                    exec_id: sbe_id(d.exec_id(), "ExecId")?,
                    exec_type: sbe_enum(d.exec_type_raw(), "ExecType", ExecType::from_wire)?,
                    ord_status: sbe_enum(d.ord_status_raw(), "OrdStatus", OrdStatus::from_wire)?,
                    symbol: sbe_id(d.symbol(), "Symbol")?,
                    side: sbe_enum(d.side_raw(), "Side", Side::from_wire)?,
                    leaves_qty: d.leaves_qty().mantissa(),
                    cum_qty: d.cum_qty().mantissa(),
                    transact_time: d.transact_time().time(),
                    fills,
                })
            }
        })
    }

    /// Encodes the message as Conga SBE (header included) into `out` with the generated
    /// flyweights; returns the length. A NewOrderSingle without a price is written with the
    /// SBE `int32` null value.
    pub fn encode_sbe(&self, out: &mut [u8]) -> Result<usize, EncodeError> {
        match self {
            CongaMessage::NewOrderSingle(m) => {
                let mut e = sbe::NewOrderSingleEncoder::new(out)?;
                e.set_cl_ord_id(m.cl_ord_id.text())?
                    .set_symbol(m.symbol.text())?
                    .set_side_raw(m.side.to_wire())
                    .set_ord_type_raw(m.ord_type.to_wire());
                e.transact_time().set_time(m.transact_time);
                e.order_qty().set_mantissa(m.order_qty);
                e.price()
                    .set_mantissa(m.price.map_or(PRICE_NULL_MANTISSA, |p| p.0));
                Ok(e.encoded_length())
            }
            CongaMessage::OrderCancelRequest(m) => {
                let mut e = sbe::OrderCancelRequestEncoder::new(out)?;
                e.set_cl_ord_id(m.cl_ord_id.text())?
                    .set_symbol(m.symbol.text())?
                    .set_side_raw(m.side.to_wire());
                e.transact_time().set_time(m.transact_time);
                Ok(e.encoded_length())
            }
            CongaMessage::OrderCancelReject(m) => {
                let mut e = sbe::OrderCancelRejectEncoder::new(out)?;
                e.set_order_id(m.order_id.text())?
                    .set_cl_ord_id(m.cl_ord_id.text())?
                    .set_ord_status_raw(m.ord_status.to_wire())
                    .set_cxl_rej_reason_raw(m.cxl_rej_reason.to_wire());
                e.transact_time().set_time(m.transact_time);
                Ok(e.encoded_length())
            }
            CongaMessage::ExecutionReport(m) => {
                let mut e = sbe::ExecutionReportEncoder::new(out)?;
                e.set_order_id(m.order_id.text())?
                    .set_cl_ord_id(m.cl_ord_id.text())?
                    .set_exec_id(m.exec_id.text())?
                    .set_exec_type_raw(m.exec_type.to_wire())
                    .set_ord_status_raw(m.ord_status.to_wire())
                    .set_symbol(m.symbol.text())?
                    .set_side_raw(m.side.to_wire());
                e.leaves_qty().set_mantissa(m.leaves_qty);
                e.cum_qty().set_mantissa(m.cum_qty);
                e.transact_time().set_time(m.transact_time);
                let mut group = e.fills_grp()?;
                for fill in m.fills.as_slice() {
                    let mut entry = group.next_entry()?;
                    entry.fill_px().set_mantissa(fill.fill_px.0);
                    entry.fill_qty().set_mantissa(fill.fill_qty);
                }
                Ok(e.encoded_length())
            }
        }
    }
}

/// Longest ExecutionReport (header and block) [`CongaMessage::decode_sbe`] completes with an
/// empty fills group.
const REPORT_COMPLETION_CAPACITY: usize = 256;

/// When `frame` is an ExecutionReport that ends exactly where its fills group's dimension
/// would begin, copies it into `buf` with an empty group's dimension appended and returns the
/// completed message.
fn complete_report_without_fills<'b>(frame: &[u8], buf: &'b mut [u8]) -> Option<&'b [u8]> {
    /// The FillsGrp dimension: blockLength 8 (FillPx, FillQty), numInGroup 0.
    const EMPTY_FILLS: [u8; 4] = [8, 0, 0, 0];
    let header = sbe::read_header(frame).ok()?;
    let is_report = header.schema_id == sbe::SCHEMA_ID
        && header.template_id == sbe::ExecutionReportDecoder::TEMPLATE_ID;
    if !is_report || frame.len() != sbe::HEADER_LENGTH + header.block_length {
        return None;
    }
    let completed = buf.get_mut(..frame.len() + EMPTY_FILLS.len())?;
    let (body, dimension) = completed.split_at_mut(frame.len());
    body.copy_from_slice(frame);
    dimension.copy_from_slice(&EMPTY_FILLS);
    Some(completed)
}

/// The SBE `int32` null value, which an absent NewOrderSingle price is written as.
pub const PRICE_NULL_MANTISSA: i32 = i32::MIN;

fn sbe_id(text: &[u8], field: &'static str) -> Result<Id8, DecodeError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(Id8::new)
        .ok_or(DecodeError::InvalidField { field })
}

fn sbe_enum<T>(
    raw: u8,
    field: &'static str,
    from_wire: fn(u8) -> Option<T>,
) -> Result<T, DecodeError> {
    from_wire(raw).ok_or(DecodeError::InvalidEnum {
        field,
        value: raw.into(),
    })
}

json_members! {
    /// Every key of the Conga order messages, as scanned.
    RawConga<'a> {
        message_type = b"@type",
        cl_ord_id = b"clOrdId",
        order_id = b"orderId",
        exec_id = b"execId",
        symbol = b"symbol",
        side = b"side",
        ord_type = b"ordType",
        price = b"price",
        order_qty = b"orderQty",
        transact_time = b"transactTime",
        exec_type = b"execType",
        ord_status = b"ordStatus",
        leaves_qty = b"leavesQty",
        cum_qty = b"cumQty",
        cxl_rej_reason = b"cxlRejReason",
        fills = b"fills",
    }
}

fn id(value: Option<Value<'_>>, field: &'static str) -> Result<Id8, DecodeError> {
    required(value, field)?.with_str(field, Id8::from_text)
}

fn name<T>(
    value: Option<Value<'_>>,
    field: &'static str,
    from_name: fn(&[u8]) -> Option<T>,
) -> Result<T, DecodeError> {
    required(value, field)?.with_str(field, from_name)
}

fn qty(value: Option<Value<'_>>, field: &'static str) -> Result<i32, DecodeError> {
    required(value, field)?.int(field)
}

fn price(value: Value<'_>, field: &'static str) -> Result<Price, DecodeError> {
    Some(value.text())
        .filter(|_| value.kind() == Kind::Number)
        .and_then(Price::from_decimal_bytes)
        .ok_or(DecodeError::InvalidField { field })
}

fn transact_time(value: Option<Value<'_>>) -> Result<u64, DecodeError> {
    const FIELD: &str = "transactTime";
    required(value, FIELD)?.with_str(FIELD, parse_transact_time_bytes)
}

json_members! {
    /// The members of one fills entry, as scanned.
    RawFill<'a> {
        fill_px = b"fillPx",
        fill_qty = b"fillQty",
    }
}

/// The fills array: every entry an object with `fillPx` and `fillQty`, at most [`MAX_FILLS`].
fn fills(value: Value<'_>) -> Result<Fills, DecodeError> {
    const FIELD: &str = "fills";
    if value.kind() != Kind::Array {
        return Err(DecodeError::InvalidField { field: FIELD });
    }
    let mut fills = Fills::new();
    value.elements(|entry| {
        if entry.kind() != Kind::Object {
            return Err(DecodeError::InvalidField { field: FIELD });
        }
        let raw = RawFill::from_members(&entry)?;
        let fill = Fill {
            fill_px: price(required(raw.fill_px, "fillPx")?, "fillPx")?,
            fill_qty: qty(raw.fill_qty, "fillQty")?,
        };
        fills
            .push(fill)
            .map_err(|_| DecodeError::TooLong { field: FIELD })
    })?;
    Ok(fills)
}

/// Writes the `transactTime` member as ISO-8601 UTC text.
fn write_transact_time_member(w: &mut ObjectWriter<'_>, ns: u64) {
    w.key("transactTime");
    let mut buf = [0u8; TRANSACT_TIME_MAX_LEN + 2];
    // Every u64 of nanoseconds is a representable date, so formatting cannot fail.
    let len = format_transact_time_quoted(ns, &mut buf).unwrap_or(0);
    w.raw_prefix(&buf, len);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prices_convert_exactly() {
        for (text, mantissa) in [
            ("73.45", Some(7345)),
            ("73.450", Some(7345)),
            ("73.4", Some(7340)),
            ("73", Some(7300)),
            ("0.01", Some(1)),
            ("-0.05", Some(-5)),
            ("7345e-2", Some(7345)),
            ("7.345E1", Some(7345)),
            ("1e2", Some(10000)),
            ("0.29", Some(29)),
            ("1.005", None),
            ("21474836.47", Some(i32::MAX)),
            ("21474836.48", None),
            ("-21474836.48", Some(i32::MIN)),
            ("", None),
            ("-", None),
            ("1.", None),
            (".5", None),
            ("\"1\"", None),
            ("1e", None),
            ("1e99999", None),
        ] {
            assert_eq!(Price::from_decimal_str(text), mantissa.map(Price), "{text}");
        }
        assert_eq!(Price(7345).to_string(), "73.45");
        assert_eq!(Price(-5).to_string(), "-0.05");
        assert_eq!(Price(100).to_string(), "1.00");
        for m in [0, 5, -5, 7345, -7345, i32::MAX, i32::MIN] {
            let mut buf = [0u8; 32];
            let mut w = ObjectWriter::new(&mut buf);
            w.key("p");
            Price(m).write_json(&mut w);
            let len = w.close().unwrap();
            assert_eq!(&buf[..len], format!("{{\"p\":{}}}", Price(m)).as_bytes());
        }
        assert_eq!(Price(i32::MIN).to_string(), "-21474836.48");
    }

    #[test]
    fn transact_time_parses_and_prints() {
        let ns = 1_527_863_400_123_456_789;
        assert_eq!(
            parse_transact_time("2018-06-01T14:30:00.123456789Z"),
            Some(ns)
        );
        assert_eq!(
            parse_transact_time("2018-06-01T14:30:00.12Z"),
            Some(1_527_863_400_120_000_000)
        );
        assert_eq!(parse_transact_time("1970-01-01T00:00:00Z"), Some(0));
        for bad in [
            "2018-06-01T14:30:00.1234567890Z",
            "2018-06-01T14:30:00.Z",
            "2018-06-01T14:30:00",
            "2018-06-01 14:30:00Z",
            "2018-02-30T14:30:00Z",
            "2018-06-01T24:00:00Z",
            "2018-06-01T14:30:60Z",
            "1969-12-31T23:59:59Z",
            "2600-01-01T00:00:00Z",
            "2018-06-01T14:30:00+00:00",
            "+018-06-01T14:30:00Z",
        ] {
            assert_eq!(parse_transact_time(bad), None, "{bad}");
        }
        let mut s = String::new();
        write_transact_time(ns, &mut s).unwrap();
        assert_eq!(s, "2018-06-01T14:30:00.123456789Z");
        s.clear();
        write_transact_time(1_527_863_400_120_000_000, &mut s).unwrap();
        assert_eq!(s, "2018-06-01T14:30:00.120Z");
        s.clear();
        write_transact_time(0, &mut s).unwrap();
        assert_eq!(s, "1970-01-01T00:00:00Z");
        s.clear();
        write_transact_time(u64::MAX, &mut s).unwrap();
        assert_eq!(s, "2554-07-21T23:34:33.709551615Z");
        assert_eq!(parse_transact_time(&s), Some(u64::MAX));
        s.clear();
        write_transact_time(1_527_863_400_123_456_000, &mut s).unwrap();
        assert_eq!(s, "2018-06-01T14:30:00.123456Z");
    }

    #[test]
    fn ids_are_up_to_eight_printable_bytes() {
        assert_eq!(Id8::new("ABCDEFGH").unwrap().as_str(), "ABCDEFGH");
        assert_eq!(Id8::new("C1").unwrap().to_wire(), *b"C1\0\0\0\0\0\0");
        assert_eq!(Id8::new("ABCDEFGHI"), None);
        assert_eq!(Id8::new("é"), None);
        assert_eq!(Id8::from_wire(*b"C1\0\0\0\0\0\0"), Id8::new("C1"));
        assert_eq!(Id8::from_wire(*b"C1\0x\0\0\0\0"), None);
    }
}
