//! Conga's order application messages: a typed, allocation-free model and its JSON form.
//!
//! Owns: NewOrderSingle, OrderCancelRequest, ExecutionReport (with its fills group) and
//! OrderCancelReject as Conga's SBE schema (`data/spec/conga/orders-sbe-schema.xml`, id 100)
//! defines them, and their Conga JSON encoding (flat object, `"@type"` anywhere, Conga's enum
//! names). May not touch: sockets, clocks, session state, the FIXP messages.
//!
//! Value conventions follow the SBE schema: identifiers are `char[8]` ([`Id8`]), prices are
//! mantissas with exponent −2 ([`Price`]), quantities are `int32`, and `transactTime` is Unix-epoch
//! nanoseconds (`u64`), which JSON carries as ISO-8601 UTC text with up to nine fractional
//! digits. JSON prices are converted from their decimal text, never through `f64`.

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use serde_json::value::RawValue;
use std::fmt;

use super::json::{
    parse_object, parse_str_with, parse_value, raw_object, required, ObjectWriter, Skip,
};
use super::{DecodeError, EncodeError};

/// The decimal exponent of every [`Price`] (the schema's `money` composite).
pub const PRICE_EXPONENT: i8 = -2;

/// Most fills an [`ExecutionReport`] holds. Conga's aggressor reports carry one fill per resting
/// order swept; its BookSweep scenario sweeps ten.
pub const MAX_FILLS: usize = 32;

/// Declares a Conga single-byte enum with its SBE wire values and its JSON (= schema) names.
macro_rules! conga_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $value:expr),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in schema order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The SBE wire byte.
            pub fn to_wire(self) -> u8 {
                match self {
                    $($name::$variant => $value,)+
                }
            }

            /// The value for an SBE wire byte, or `None` for a byte the schema does not define.
            pub fn from_wire(value: u8) -> Option<Self> {
                $(if value == $value {
                    return Some($name::$variant);
                })+
                None
            }

            /// The JSON name (Conga's Java constant, identical to the schema's name).
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => stringify!($variant),)+
                }
            }

            /// The value with this JSON name.
            pub fn from_name(name: &str) -> Option<Self> {
                match name {
                    $(stringify!($variant) => Some($name::$variant),)+
                    _ => None,
                }
            }
        }
    };
}

conga_enum! {
    /// Order side (`char`).
    Side {
        /// Buy (`'1'`).
        Buy = b'1',
        /// Sell (`'2'`).
        Sell = b'2',
    }
}

conga_enum! {
    /// Order type (`char`).
    OrdType {
        /// Market order (`'1'`): never rests.
        Market = b'1',
        /// Limit order (`'2'`).
        Limit = b'2',
    }
}

conga_enum! {
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

conga_enum! {
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

conga_enum! {
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
        let mut bytes = [0u8; 8];
        if text.len() > bytes.len() || !text.bytes().all(is_id_byte) {
            return None;
        }
        bytes
            .iter_mut()
            .zip(text.bytes())
            .for_each(|(dst, src)| *dst = src);
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
        let bytes = text.as_bytes();
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
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = b.get(range)?;
        digits.iter().try_fold(0u32, |acc, d| {
            d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0'))
        })
    };
    let sep = |i: usize, c: u8| b.get(i) == Some(&c);
    if !(sep(4, b'-') && sep(7, b'-') && sep(10, b'T') && sep(13, b':') && sep(16, b':')) {
        return None;
    }
    let year = i32::try_from(num(0..4)?).ok()?;
    let month = time::Month::try_from(u8::try_from(num(5..7)?).ok()?).ok()?;
    let day = u8::try_from(num(8..10)?).ok()?;
    let hour = u8::try_from(num(11..13)?).ok()?;
    let minute = u8::try_from(num(14..16)?).ok()?;
    let second = u8::try_from(num(17..19)?).ok()?;
    let mut nanos = 0u32;
    let mut pos = 19;
    if sep(pos, b'.') {
        pos += 1;
        let start = pos;
        while let Some(d) = b.get(pos).filter(|d| d.is_ascii_digit()) {
            if pos - start == 9 {
                return None;
            }
            nanos = nanos * 10 + u32::from(d - b'0');
            pos += 1;
        }
        let count = pos - start;
        if count == 0 {
            return None;
        }
        nanos *= 10u32.pow(u32::try_from(9 - count).ok()?);
    }
    if !sep(pos, b'Z') || pos + 1 != b.len() {
        return None;
    }
    let date = time::Date::from_calendar_date(year, month, day).ok()?;
    let time = time::Time::from_hms_nano(hour, minute, second, nanos).ok()?;
    let ns = time::UtcDateTime::new(date, time).unix_timestamp_nanos();
    u64::try_from(ns).ok()
}

/// Writes Unix-epoch nanoseconds as Conga (Java `Instant.toString`) does: ISO-8601 UTC with
/// the fraction in groups of three digits, left out when zero
/// (`2018-06-01T14:30:00.123456789Z`, `2018-06-01T14:30:00.120Z`, `2018-06-01T14:30:00Z`).
pub fn write_transact_time(ns: u64, out: &mut impl fmt::Write) -> fmt::Result {
    let Ok(t) = time::UtcDateTime::from_unix_timestamp_nanos(i128::from(ns)) else {
        return Err(fmt::Error);
    };
    write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )?;
    let nanos = t.nanosecond();
    if nanos == 0 {
    } else if nanos % 1_000_000 == 0 {
        write!(out, ".{:03}", nanos / 1_000_000)?;
    } else if nanos % 1_000 == 0 {
        write!(out, ".{:06}", nanos / 1_000)?;
    } else {
        write!(out, ".{nanos:09}")?;
    }
    out.write_str("Z")
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
        let raw: RawConga<'_> = parse_object(frame)?;
        if raw.not_an_object {
            return Err(DecodeError::InvalidJson);
        }
        let type_name: &str = parse_value(required(raw.message_type, "@type")?, "@type")?;
        Ok(match type_name {
            "NewOrderSingle" => CongaMessage::NewOrderSingle(NewOrderSingle {
                cl_ord_id: id(raw.cl_ord_id, "clOrdId")?,
                symbol: id(raw.symbol, "symbol")?,
                side: name(raw.side, "side", Side::from_name)?,
                transact_time: transact_time(raw.transact_time)?,
                order_qty: qty(raw.order_qty, "orderQty")?,
                ord_type: name(raw.ord_type, "ordType", OrdType::from_name)?,
                price: raw.price.map(|p| price(p, "price")).transpose()?,
            }),
            "OrderCancelRequest" => CongaMessage::OrderCancelRequest(OrderCancelRequest {
                cl_ord_id: id(raw.cl_ord_id, "clOrdId")?,
                symbol: id(raw.symbol, "symbol")?,
                side: name(raw.side, "side", Side::from_name)?,
                transact_time: transact_time(raw.transact_time)?,
            }),
            "ExecutionReport" => CongaMessage::ExecutionReport(ExecutionReport {
                order_id: id(raw.order_id, "orderId")?,
                cl_ord_id: id(raw.cl_ord_id, "clOrdId")?,
                exec_id: id(raw.exec_id, "execId")?,
                exec_type: name(raw.exec_type, "execType", ExecType::from_name)?,
                ord_status: name(raw.ord_status, "ordStatus", OrdStatus::from_name)?,
                symbol: id(raw.symbol, "symbol")?,
                side: name(raw.side, "side", Side::from_name)?,
                leaves_qty: qty(raw.leaves_qty, "leavesQty")?,
                cum_qty: qty(raw.cum_qty, "cumQty")?,
                transact_time: transact_time(raw.transact_time)?,
                fills: raw.fills.map_or(Ok(Fills::new()), |f| f.0)?,
            }),
            "OrderCancelReject" => CongaMessage::OrderCancelReject(OrderCancelReject {
                order_id: id(raw.order_id, "orderId")?,
                cl_ord_id: id(raw.cl_ord_id, "clOrdId")?,
                ord_status: name(raw.ord_status, "ordStatus", OrdStatus::from_name)?,
                cxl_rej_reason: name(raw.cxl_rej_reason, "cxlRejReason", CxlRejReason::from_name)?,
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
                w.escaped_str("clOrdId", m.cl_ord_id.as_str());
                w.int("orderQty", m.order_qty);
                w.plain_str("ordType", m.ord_type.name());
                if let Some(price) = m.price {
                    w.display("price", &price);
                }
                w.plain_str("side", m.side.name());
                w.escaped_str("symbol", m.symbol.as_str());
                w.transact_time(m.transact_time);
            }
            CongaMessage::OrderCancelRequest(m) => {
                w.escaped_str("clOrdId", m.cl_ord_id.as_str());
                w.plain_str("side", m.side.name());
                w.escaped_str("symbol", m.symbol.as_str());
                w.transact_time(m.transact_time);
            }
            CongaMessage::ExecutionReport(m) => {
                // Conga writes ExecutionReport's @type first.
                w.plain_str("@type", self.type_name());
                w.escaped_str("clOrdId", m.cl_ord_id.as_str());
                w.int("cumQty", m.cum_qty);
                w.escaped_str("execId", m.exec_id.as_str());
                w.plain_str("execType", m.exec_type.name());
                w.int("leavesQty", m.leaves_qty);
                w.escaped_str("orderId", m.order_id.as_str());
                w.plain_str("ordStatus", m.ord_status.name());
                w.plain_str("side", m.side.name());
                w.escaped_str("symbol", m.symbol.as_str());
                w.transact_time(m.transact_time);
                w.key("fills");
                w.raw(b"[");
                for (i, fill) in m.fills.as_slice().iter().enumerate() {
                    if i > 0 {
                        w.raw(b",");
                    }
                    w.raw(b"{\"fillPx\":");
                    w.display_value(&fill.fill_px);
                    w.raw(b",\"fillQty\":");
                    w.display_value(&fill.fill_qty);
                    w.raw(b"}");
                }
                w.raw(b"]");
                return w.close();
            }
            CongaMessage::OrderCancelReject(m) => {
                w.escaped_str("clOrdId", m.cl_ord_id.as_str());
                w.plain_str("cxlRejReason", m.cxl_rej_reason.name());
                w.escaped_str("orderId", m.order_id.as_str());
                w.plain_str("ordStatus", m.ord_status.name());
                w.transact_time(m.transact_time);
            }
        }
        w.finish(self.type_name())
    }
}

raw_object! {
    /// Every key of the Conga order messages, kept undecoded (`fills` is read in place).
    RawConga<'a> {
        message_type: &'a RawValue = "@type",
        cl_ord_id: &'a RawValue = "clOrdId",
        order_id: &'a RawValue = "orderId",
        exec_id: &'a RawValue = "execId",
        symbol: &'a RawValue = "symbol",
        side: &'a RawValue = "side",
        ord_type: &'a RawValue = "ordType",
        price: &'a RawValue = "price",
        order_qty: &'a RawValue = "orderQty",
        transact_time: &'a RawValue = "transactTime",
        exec_type: &'a RawValue = "execType",
        ord_status: &'a RawValue = "ordStatus",
        leaves_qty: &'a RawValue = "leavesQty",
        cum_qty: &'a RawValue = "cumQty",
        cxl_rej_reason: &'a RawValue = "cxlRejReason",
        fills: FillsField = "fills",
    }
}

fn id(raw: Option<&RawValue>, field: &'static str) -> Result<Id8, DecodeError> {
    parse_str_with(required(raw, field)?, field, Id8::new)
}

fn name<T>(
    raw: Option<&RawValue>,
    field: &'static str,
    from_name: fn(&str) -> Option<T>,
) -> Result<T, DecodeError> {
    parse_str_with(required(raw, field)?, field, from_name)
}

fn qty(raw: Option<&RawValue>, field: &'static str) -> Result<i32, DecodeError> {
    parse_value(required(raw, field)?, field)
}

fn price(raw: &RawValue, field: &'static str) -> Result<Price, DecodeError> {
    // A RawValue holds one valid JSON value; a number's text starts with '-' or a digit.
    Price::from_decimal_str(raw.get()).ok_or(DecodeError::InvalidField { field })
}

fn transact_time(raw: Option<&RawValue>) -> Result<u64, DecodeError> {
    const FIELD: &str = "transactTime";
    parse_str_with(required(raw, FIELD)?, FIELD, parse_transact_time)
}

raw_object! {
    /// The undecoded members of one fills entry.
    RawFill<'a> {
        fill_px: &'a RawValue = "fillPx",
        fill_qty: &'a RawValue = "fillQty",
    }
}

/// The fills array, read straight from the parser into a [`Fills`] (capturing it as a raw
/// value would make serde_json allocate for the nested objects), or the typed reason it was
/// refused.
#[derive(Clone, Copy)]
struct FillsField(Result<Fills, DecodeError>);

impl<'de> Deserialize<'de> for FillsField {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(FillsVisitor)
    }
}

struct FillsVisitor;

const NOT_AN_ARRAY: FillsField = FillsField(Err(DecodeError::InvalidField { field: "fills" }));

impl<'de> Visitor<'de> for FillsVisitor {
    type Value = FillsField;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of fills")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<FillsField, A::Error> {
        let mut fills = Fills::new();
        while let Some(entry) = seq.next_element::<RawFill<'de>>()? {
            let pushed = fill_px_qty(&entry).and_then(|fill| {
                fills
                    .push(fill)
                    .map_err(|_| DecodeError::TooLong { field: "fills" })
            });
            if let Err(e) = pushed {
                while seq.next_element::<Skip>()?.is_some() {}
                return Ok(FillsField(Err(e)));
            }
        }
        Ok(FillsField(Ok(fills)))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<FillsField, A::Error> {
        while map.next_entry::<Skip, Skip>()?.is_some() {}
        Ok(NOT_AN_ARRAY)
    }

    fn visit_bool<E>(self, _: bool) -> Result<FillsField, E> {
        Ok(NOT_AN_ARRAY)
    }

    fn visit_i64<E>(self, _: i64) -> Result<FillsField, E> {
        Ok(NOT_AN_ARRAY)
    }

    fn visit_u64<E>(self, _: u64) -> Result<FillsField, E> {
        Ok(NOT_AN_ARRAY)
    }

    fn visit_f64<E>(self, _: f64) -> Result<FillsField, E> {
        Ok(NOT_AN_ARRAY)
    }

    fn visit_str<E>(self, _: &str) -> Result<FillsField, E> {
        Ok(NOT_AN_ARRAY)
    }
}

fn fill_px_qty(entry: &RawFill<'_>) -> Result<Fill, DecodeError> {
    if entry.not_an_object {
        return Err(DecodeError::InvalidField { field: "fills" });
    }
    Ok(Fill {
        fill_px: price(required(entry.fill_px, "fillPx")?, "fillPx")?,
        fill_qty: qty(entry.fill_qty, "fillQty")?,
    })
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
