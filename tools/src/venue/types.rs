//! Value types of the venue schema: fixed-width text, fixed-point decimals, and the schema's
//! enums (re-exported from the generated flyweights, plus name lookup for JSON and TOML).
//!
//! Owns: the exact decimal text form of prices and quantities (never through `f64`) and the
//! printable-ASCII rule for identifiers. May not touch: messages, books, sessions.

use std::fmt;

use super::sbe;

pub use sbe::BooleanEnum;
pub use sbe::CxlRejReasonEnum as CxlRejReason;
pub use sbe::ExecTypeEnum as ExecType;
pub use sbe::InstrumentKindEnum as InstrumentKind;
pub use sbe::OrdStatusEnum as OrdStatus;
pub use sbe::OrdTypeEnum as OrdType;
pub use sbe::PutCallEnum as PutCall;
pub use sbe::QuoteStatusEnum as QuoteStatus;
pub use sbe::RejectReasonEnum as RejectReason;
pub use sbe::RfqStatusEnum as RfqStatus;
pub use sbe::SideEnum as Side;
pub use sbe::SubscriptionTypeEnum as SubscriptionType;

/// Text of at most `N` printable ASCII bytes (space included), NUL-padded on the SBE wire.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FixedStr<const N: usize> {
    bytes: [u8; N],
}

/// An instrument name (`char[32]`), e.g. `BTC-27MAR26-100000-C`.
pub type Symbol = FixedStr<32>;
/// A client's identifier (`char[16]`): ClOrdId, QuoteReqId, ClQuoteId.
pub type ClientId = FixedStr<16>;
/// An underlying asset (`char[16]`), e.g. `BTC`.
pub type Asset = FixedStr<16>;

impl<const N: usize> FixedStr<N> {
    /// The empty text.
    pub const EMPTY: Self = FixedStr { bytes: [0; N] };

    /// The text, or `None` if it is longer than `N` bytes or holds anything but printable ASCII.
    pub fn new(text: &str) -> Option<Self> {
        if text.len() > N || !text.bytes().all(is_text_byte) {
            return None;
        }
        let mut bytes = [0u8; N];
        bytes
            .iter_mut()
            .zip(text.bytes())
            .for_each(|(dst, src)| *dst = src);
        Some(FixedStr { bytes })
    }

    /// The text of an SBE char array as the flyweights return it (up to the first NUL).
    pub fn from_sbe(bytes: &[u8]) -> Option<Self> {
        std::str::from_utf8(bytes).ok().and_then(Self::new)
    }

    /// The text.
    pub fn as_str(&self) -> &str {
        let len = self.bytes.iter().position(|b| *b == 0).unwrap_or(N);
        // Only printable ASCII is ever stored, so this never falls back.
        self.bytes
            .get(..len)
            .and_then(|b| std::str::from_utf8(b).ok())
            .unwrap_or("")
    }

    /// True for the empty text.
    pub fn is_empty(&self) -> bool {
        self.bytes.first().is_none_or(|b| *b == 0)
    }
}

impl<const N: usize> Default for FixedStr<N> {
    fn default() -> Self {
        Self::EMPTY
    }
}

fn is_text_byte(b: u8) -> bool {
    b == b' ' || b.is_ascii_graphic()
}

impl<const N: usize> fmt::Debug for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.as_str())
    }
}

impl<const N: usize> fmt::Display for FixedStr<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Declares a fixed-point decimal newtype: `mantissa × 10^-DECIMALS`, the SBE composite with a
/// constant exponent.
macro_rules! fixed_point {
    ($(#[$meta:meta])* $name:ident, $decimals:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(pub i64);

        impl $name {
            /// Zero.
            pub const ZERO: Self = $name(0);
            /// Fractional digits (the exponent's magnitude).
            pub const DECIMALS: u32 = $decimals;
            /// The mantissa of one whole unit.
            pub const ONE: i64 = 10i64.pow($decimals);

            /// `units` whole units, or `None` on overflow.
            pub fn from_units(units: i64) -> Option<Self> {
                units.checked_mul(Self::ONE).map($name)
            }

            /// Parses decimal text exactly: `"0.0005"`, `"100000"`, `"-1.5"`, `"5e-4"`. `None`
            /// when it is not a number, needs more fractional digits than the type has, or
            /// overflows `i64`.
            pub fn parse(text: &str) -> Option<Self> {
                parse_fixed(text, $decimals).map($name)
            }

            /// True when the value is a whole multiple of `step` (a tick or a lot); `false` for
            /// a step that is not positive.
            pub fn is_multiple_of(self, step: Self) -> bool {
                step.0 > 0 && self.0 % step.0 == 0
            }

            /// `self × factor`, or `None` on overflow.
            pub fn checked_mul(self, factor: i64) -> Option<Self> {
                self.0.checked_mul(factor).map($name)
            }
        }

        impl fmt::Display for $name {
            /// The shortest exact decimal text: `0.0005`, `100000`, `-1.5`.
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_fixed(self.0, $decimals, f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write_fixed(self.0, $decimals, f)
            }
        }
    };
}

fixed_point!(
    /// A price: int64 mantissa, exponent −8 (`Price(50_000)` is 0.0005).
    Price,
    8
);
fixed_point!(
    /// A quantity: int64 mantissa, exponent −4 (`Qty(1_000)` is 0.1).
    Qty,
    4
);

/// The mantissa (× 10^decimals) of exact decimal text, or `None`.
fn parse_fixed(text: &str, decimals: u32) -> Option<i64> {
    let (number, exp) = match text.find(['e', 'E']) {
        Some(at) => (text.get(..at)?, parse_exponent(text.get(at + 1..)?)?),
        None => (text, 0),
    };
    let (negative, digits) = match number.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, number),
    };
    let (int, frac) = match digits.split_once('.') {
        Some((int, frac)) if !frac.is_empty() => (int, frac),
        Some(_) => return None,
        None => (digits, ""),
    };
    if int.is_empty() || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    // value = all_digits × 10^(exp − frac.len()); mantissa = value × 10^decimals.
    let shift = i64::from(exp) - i64::try_from(frac.len()).ok()? + i64::from(decimals);
    let mut mantissa: i128 = 0;
    for b in int.bytes().chain(frac.bytes()) {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(i128::from(b - b'0'))?;
    }
    let mantissa = if mantissa == 0 {
        0
    } else if shift >= 0 {
        mantissa.checked_mul(10i128.checked_pow(u32::try_from(shift).ok()?)?)?
    } else {
        // More fractional digits than `decimals`: exact only if the extra ones are zeros.
        let divisor = 10i128.checked_pow(u32::try_from(-shift).ok()?)?;
        if mantissa % divisor != 0 {
            return None;
        }
        mantissa / divisor
    };
    let signed = if negative { -mantissa } else { mantissa };
    i64::try_from(signed).ok()
}

/// Writes `mantissa × 10^-decimals` as the shortest exact decimal text.
fn write_fixed(mantissa: i64, decimals: u32, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let sign = if mantissa < 0 { "-" } else { "" };
    let abs = mantissa.unsigned_abs();
    let one = 10u64.pow(decimals);
    let (int, mut frac) = (abs / one, abs % one);
    if frac == 0 {
        return write!(f, "{sign}{int}");
    }
    let mut width = decimals as usize;
    while frac % 10 == 0 {
        frac /= 10;
        width -= 1;
    }
    write!(f, "{sign}{int}.{frac:0width$}")
}

/// Reads an exponent (`"-4"`, `"+2"`, `"3"`), bounded so that scaling cannot run away.
fn parse_exponent(text: &str) -> Option<i32> {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    if digits.is_empty() || digits.len() > 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Name lookup for the schema's enums (the JSON and TOML names are the schema's value names).
pub trait SchemaEnum: Copy + 'static {
    /// Every value, in schema order.
    fn all() -> &'static [Self];
    /// The schema's name of the value.
    fn schema_name(self) -> &'static str;
    /// The value with this schema name.
    fn from_schema_name(name: &str) -> Option<Self> {
        Self::all()
            .iter()
            .copied()
            .find(|v| v.schema_name() == name)
    }
}

macro_rules! schema_enums {
    ($($t:ty),+ $(,)?) => {$(
        impl SchemaEnum for $t {
            fn all() -> &'static [Self] {
                <$t>::ALL
            }
            fn schema_name(self) -> &'static str {
                self.name()
            }
        }
    )+};
}

schema_enums!(
    CxlRejReason,
    ExecType,
    InstrumentKind,
    OrdStatus,
    OrdType,
    PutCall,
    QuoteStatus,
    RejectReason,
    RfqStatus,
    Side,
    SubscriptionType,
);

impl Side {
    /// The other side.
    pub fn opposite(self) -> Side {
        match self {
            Side::Buy => Side::Sell,
            Side::Sell => Side::Buy,
        }
    }
}

impl From<bool> for BooleanEnum {
    fn from(value: bool) -> Self {
        if value {
            BooleanEnum::True
        } else {
            BooleanEnum::False
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_parse_exactly_and_print_shortest() {
        for (text, mantissa) in [
            ("0.0005", Some(50_000)),
            ("100000", Some(10_000_000_000_000)),
            ("-1.5", Some(-150_000_000)),
            ("5e-4", Some(50_000)),
            ("5E+1", Some(5_000_000_000)),
            ("0.00000001", Some(1)),
            ("0.000000010", Some(1)),
            ("0.000000001", None),
            ("1.", None),
            (".5", None),
            ("", None),
            ("-", None),
            ("1e", None),
            ("1e99999", None),
            ("0e99999", None),
            ("1e-99999", None),
            ("0e-9999", Some(0)),
            ("92233720368.54775807", Some(i64::MAX)),
            ("92233720368.54775808", None),
            ("\"1\"", None),
            ("1 ", None),
            ("+1", None),
        ] {
            assert_eq!(Price::parse(text), mantissa.map(Price), "{text}");
        }
        assert_eq!(Price(50_000).to_string(), "0.0005");
        assert_eq!(Price(-150_000_000).to_string(), "-1.5");
        assert_eq!(Price(10_000_000_000_000).to_string(), "100000");
        assert_eq!(Qty(1).to_string(), "0.0001");
        assert_eq!(Price(i64::MIN).to_string(), "-92233720368.54775808");
        for m in [0, 1, -1, 7, 50_000, 123_456_789, i64::MAX, i64::MIN] {
            let text = Price(m).to_string();
            assert_eq!(Price::parse(&text), Some(Price(m)), "{text}");
        }
    }

    #[test]
    fn fixed_text_is_bounded_printable_ascii() {
        let s = Symbol::new("BTC-27MAR26-100000-C").unwrap();
        assert_eq!(s.as_str(), "BTC-27MAR26-100000-C");
        assert!(ClientId::new("0123456789abcdef").is_some());
        assert!(ClientId::new("0123456789abcdefg").is_none());
        assert!(ClientId::new("é").is_none());
        assert!(ClientId::new("a\nb").is_none());
        assert!(ClientId::EMPTY.is_empty());
        assert_eq!(Symbol::from_sbe(b"ETH-PERP"), Symbol::new("ETH-PERP"));
    }

    #[test]
    fn enum_names_round_trip() {
        for r in RejectReason::ALL {
            assert_eq!(RejectReason::from_schema_name(r.name()), Some(*r));
        }
        assert_eq!(Side::from_schema_name("Sell"), Some(Side::Sell));
        assert_eq!(Side::from_schema_name("sell"), None);
    }
}
