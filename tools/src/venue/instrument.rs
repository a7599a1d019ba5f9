//! Instruments: their definitions (tick size, lot size, minimum size), the checks an order's price
//! and quantity must pass, and the venue's instrument table with its default set.
//!
//! Owns: what makes an instrument definition valid and an order's price or size acceptable.
//! May not touch: books, sessions, the wire.

use std::collections::HashMap;
use std::fmt;

use fixp_ws::codec::conga::parse_transact_time;

use super::types::{Asset, InstrumentKind, Price, PutCall, Qty, RejectReason, Symbol};

/// One tradable instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InstrumentSpec {
    /// Its name, e.g. `BTC-27MAR26-100000-C` or `BTC-PERP`.
    pub symbol: Symbol,
    /// Option, perpetual or future.
    pub kind: InstrumentKind,
    /// The underlying asset, e.g. `BTC`.
    pub underlying: Asset,
    /// Expiry (Unix-epoch ns): options and futures only.
    pub expiry: Option<u64>,
    /// Strike price: options only.
    pub strike: Option<Price>,
    /// Put or call: options only.
    pub put_call: Option<PutCall>,
    /// Every order price is a multiple of it.
    pub tick_size: Price,
    /// Every order quantity is a multiple of it.
    pub lot_size: Qty,
    /// The smallest order quantity (a multiple of the lot size).
    pub min_size: Qty,
    /// The decimals the instrument is quoted in, as an exponent (−4: prices like 0.0005);
    /// the tick size is a multiple of `10^price_exponent`. Wire prices are always exponent −8.
    pub price_exponent: i8,
}

/// Why an instrument definition is not valid.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstrumentError {
    /// The instrument.
    pub symbol: String,
    /// The field at fault, in config spelling (`tick_size`).
    pub field: &'static str,
    /// What is wrong.
    pub reason: String,
}

impl fmt::Display for InstrumentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "instrument {}: {}: {}",
            self.symbol, self.field, self.reason
        )
    }
}

impl std::error::Error for InstrumentError {}

impl InstrumentSpec {
    /// Checks the definition: positive tick and lot, a minimum size on the lot, a price exponent
    /// in −8..=0 that the tick respects, and expiry/strike/put-call exactly for options (expiry
    /// for futures).
    pub fn validate(&self) -> Result<(), InstrumentError> {
        let fail = |field, reason: &str| {
            Err(InstrumentError {
                symbol: self.symbol.to_string(),
                field,
                reason: reason.to_string(),
            })
        };
        if self.symbol.is_empty() {
            return fail("symbol", "must not be empty");
        }
        if self.tick_size.0 <= 0 {
            return fail("tick_size", "must be positive");
        }
        if self.lot_size.0 <= 0 {
            return fail("lot_size", "must be positive");
        }
        if self.min_size.0 <= 0 || !self.min_size.is_multiple_of(self.lot_size) {
            return fail("min_size", "must be a positive multiple of lot_size");
        }
        if !(-8..=0).contains(&self.price_exponent) {
            return fail("price_exponent", "must be in -8..=0");
        }
        let unit = 10i64.pow(u32::from(8 - self.price_exponent.unsigned_abs()));
        if self.tick_size.0 % unit != 0 {
            return fail("tick_size", "has more decimals than price_exponent allows");
        }
        let option = self.kind == InstrumentKind::OptionValue;
        if option != self.strike.is_some() {
            return fail("strike", "is required for options and only for them");
        }
        if option != self.put_call.is_some() {
            return fail("put_call", "is required for options and only for them");
        }
        if (self.kind == InstrumentKind::Perpetual) == self.expiry.is_some() {
            return fail(
                "expiry",
                "is required for options and futures, not for perpetuals",
            );
        }
        if self.strike.is_some_and(|s| s.0 <= 0) {
            return fail("strike", "must be positive");
        }
        Ok(())
    }

    /// Checks an order's limit price: positive and on the tick.
    pub fn check_price(&self, price: Price) -> Result<(), RejectReason> {
        if price.0 <= 0 {
            Err(RejectReason::InvalidPrice)
        } else if !price.is_multiple_of(self.tick_size) {
            Err(RejectReason::PriceNotOnTick)
        } else {
            Ok(())
        }
    }

    /// Checks an order's quantity: positive, on the lot, and at least the minimum size.
    pub fn check_qty(&self, qty: Qty) -> Result<(), RejectReason> {
        if qty.0 <= 0 {
            Err(RejectReason::InvalidQty)
        } else if !qty.is_multiple_of(self.lot_size) {
            Err(RejectReason::QtyNotOnLot)
        } else if qty < self.min_size {
            Err(RejectReason::BelowMinSize)
        } else {
            Ok(())
        }
    }

    /// A perpetual-like plain instrument (tick 0.01, lot 1): what a Conga symbol the table lacks
    /// is listed as, when the venue lists them on first use.
    pub fn plain(symbol: Symbol) -> Self {
        InstrumentSpec {
            symbol,
            kind: InstrumentKind::Perpetual,
            underlying: Asset::new(symbol.as_str()).unwrap_or_default(),
            expiry: None,
            strike: None,
            put_call: None,
            tick_size: Price(1_000_000),
            lot_size: Qty(10_000),
            min_size: Qty(10_000),
            price_exponent: -2,
        }
    }
}

/// The venue's instruments by symbol, in listing order.
#[derive(Clone, Debug, Default)]
pub struct InstrumentTable {
    list: Vec<InstrumentSpec>,
    by_symbol: HashMap<Symbol, usize>,
}

impl InstrumentTable {
    /// A table of `specs`, each validated; a repeated symbol is an error.
    pub fn new(specs: impl IntoIterator<Item = InstrumentSpec>) -> Result<Self, InstrumentError> {
        let mut table = InstrumentTable::default();
        for spec in specs {
            table.insert(spec)?;
        }
        Ok(table)
    }

    /// Adds one instrument (validated; a repeated symbol is an error).
    pub fn insert(&mut self, spec: InstrumentSpec) -> Result<(), InstrumentError> {
        spec.validate()?;
        if self.by_symbol.contains_key(&spec.symbol) {
            return Err(InstrumentError {
                symbol: spec.symbol.to_string(),
                field: "symbol",
                reason: "is listed twice".to_string(),
            });
        }
        self.by_symbol.insert(spec.symbol, self.list.len());
        self.list.push(spec);
        Ok(())
    }

    /// The instrument named `symbol`.
    pub fn get(&self, symbol: &Symbol) -> Option<&InstrumentSpec> {
        self.by_symbol.get(symbol).and_then(|i| self.list.get(*i))
    }

    /// Every instrument, in listing order.
    pub fn iter(&self) -> impl Iterator<Item = &InstrumentSpec> {
        self.list.iter()
    }

    /// How many instruments.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// True when the table lists nothing.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The default listing: BTC and ETH options (calls and puts, expiries 27 March and 26 June
    /// 2026 at 08:00 UTC, three strikes each) and the perpetuals `BTC-PERP` and `ETH-PERP`.
    pub fn default_set() -> Self {
        let expiries = [
            ("27MAR26", "2026-03-27T08:00:00Z"),
            ("26JUN26", "2026-06-26T08:00:00Z"),
        ];
        let mut specs = Vec::new();
        // (underlying, strikes, option lot, perpetual tick, perpetual lot, perpetual exponent)
        for (und, strikes, lot, perp_tick, perp_lot, perp_exp) in [
            (
                "BTC",
                [90_000i64, 100_000, 110_000],
                Qty(1_000),
                Price(50_000_000),
                Qty(100_000),
                -1,
            ),
            (
                "ETH",
                [3_000, 3_500, 4_000],
                Qty(10_000),
                Price(5_000_000),
                Qty(10_000),
                -2,
            ),
        ] {
            let underlying = Asset::new(und).unwrap_or_default();
            for (code, text) in expiries {
                for strike in strikes {
                    for (put_call, letter) in [(PutCall::Call, 'C'), (PutCall::Put, 'P')] {
                        let name = format!("{und}-{code}-{strike}-{letter}");
                        specs.push(InstrumentSpec {
                            symbol: Symbol::new(&name).unwrap_or_default(),
                            kind: InstrumentKind::OptionValue,
                            underlying,
                            expiry: parse_transact_time(text),
                            strike: Price::from_units(strike),
                            put_call: Some(put_call),
                            tick_size: Price(50_000),
                            lot_size: lot,
                            min_size: lot,
                            price_exponent: -4,
                        });
                    }
                }
            }
            specs.push(InstrumentSpec {
                symbol: Symbol::new(&format!("{und}-PERP")).unwrap_or_default(),
                kind: InstrumentKind::Perpetual,
                underlying,
                expiry: None,
                strike: None,
                put_call: None,
                tick_size: perp_tick,
                lot_size: perp_lot,
                min_size: perp_lot,
                price_exponent: perp_exp,
            });
        }
        let mut table = InstrumentTable::default();
        for spec in specs {
            // The default set is valid by construction (tested); a bad entry is skipped.
            let _ = table.insert(spec);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_set_is_valid_and_complete() {
        let table = InstrumentTable::default_set();
        assert_eq!(table.len(), 26);
        for spec in table.iter() {
            spec.validate().unwrap();
        }
        let c = table
            .get(&Symbol::new("BTC-27MAR26-100000-C").unwrap())
            .unwrap();
        assert_eq!(c.strike, Price::from_units(100_000));
        assert_eq!(c.put_call, Some(PutCall::Call));
        assert_eq!(c.expiry, Some(1_774_598_400_000_000_000));
        let perp = table.get(&Symbol::new("BTC-PERP").unwrap()).unwrap();
        assert_eq!(perp.kind, InstrumentKind::Perpetual);
        assert_eq!(perp.tick_size.to_string(), "0.5");
    }

    #[test]
    fn price_and_qty_checks() {
        let table = InstrumentTable::default_set();
        let c = table
            .get(&Symbol::new("BTC-27MAR26-100000-C").unwrap())
            .unwrap();
        assert_eq!(
            c.check_price(Price::parse("0.0123").unwrap()),
            Err(RejectReason::PriceNotOnTick)
        );
        assert_eq!(
            c.check_price(Price::parse("0.0121").unwrap()),
            Err(RejectReason::PriceNotOnTick)
        );
        assert_eq!(c.check_price(Price::parse("0.0115").unwrap()), Ok(()));
        assert_eq!(c.check_price(Price(0)), Err(RejectReason::InvalidPrice));
        assert_eq!(
            c.check_qty(Qty::parse("0.15").unwrap()),
            Err(RejectReason::QtyNotOnLot)
        );
        assert_eq!(c.check_qty(Qty::parse("0.3").unwrap()), Ok(()));
        assert_eq!(c.check_qty(Qty(0)), Err(RejectReason::InvalidQty));
        let mut big_min = *c;
        big_min.min_size = Qty::parse("1").unwrap();
        assert_eq!(
            big_min.check_qty(Qty::parse("0.5").unwrap()),
            Err(RejectReason::BelowMinSize)
        );
    }

    #[test]
    fn bad_definitions_name_the_field() {
        let base = *InstrumentTable::default_set().iter().next().unwrap();
        type Mutation = fn(&mut InstrumentSpec);
        let cases: [(Mutation, &str); 7] = [
            (|s| s.tick_size = Price(0), "tick_size"),
            (|s| s.lot_size = Qty(-1), "lot_size"),
            (|s| s.min_size = Qty(1_500), "min_size"),
            (|s| s.price_exponent = -9, "price_exponent"),
            (|s| s.tick_size = Price(50_001), "tick_size"),
            (|s| s.strike = None, "strike"),
            (|s| s.expiry = None, "expiry"),
        ];
        for (mutate, field) in cases {
            let mut spec = base;
            mutate(&mut spec);
            assert_eq!(spec.validate().unwrap_err().field, field);
        }
        let dup = InstrumentTable::new([base, base]).unwrap_err();
        assert_eq!(dup.field, "symbol");
    }
}
