//! One instrument's price-time priority limit order book: the matching core of the venue (and
//! of the Conga demo exchange in [`crate::book`]).
//!
//! Owns: resting orders by price then time, matching an incoming order against them, and the
//! level changes each event makes (what market data publishes). May not touch: instruments'
//! rules (the caller checks tick and lot), sessions, client ids, reports. Orders are named by
//! the caller's order ids.
//!
//! Application code, not the engine's hot path: ordinary collections.

use std::collections::{BTreeMap, HashMap, VecDeque};

use super::message::Level;
use super::types::{Price, Qty, Side};

/// A resting order hit by an incoming one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Match {
    /// The resting order.
    pub resting_id: u64,
    /// The resting order's price (the execution price).
    pub price: Price,
    /// The executed quantity.
    pub qty: Qty,
    /// The resting order's open quantity after it (0: it left the book).
    pub resting_leaves: Qty,
    /// The resting order's filled quantity after it.
    pub resting_cum: Qty,
}

/// What one submitted order did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The resting orders it hit, in match order.
    pub matches: Vec<Match>,
    /// Its open quantity: resting now (limit) or 0 (filled, or a market remainder dropped).
    pub leaves: Qty,
    /// Its filled quantity.
    pub cum: Qty,
    /// True when a limit remainder now rests.
    pub rested: bool,
    /// Each level the event touched, with its new total (0: gone), in the order touched.
    pub changes: Vec<Level>,
}

/// A resting order removed by a cancel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Canceled {
    /// Its side.
    pub side: Side,
    /// Its price.
    pub price: Price,
    /// The open quantity removed.
    pub leaves: Qty,
    /// What it had filled before.
    pub cum: Qty,
    /// The level's new state.
    pub change: Level,
}

#[derive(Clone, Copy, Debug)]
struct Resting {
    order_id: u64,
    leaves: i64,
    cum: i64,
}

#[derive(Clone, Debug, Default)]
struct PriceLevel {
    orders: VecDeque<Resting>,
    total: i64,
}

/// One instrument's book.
#[derive(Clone, Debug, Default)]
pub struct Book {
    /// Bids by price; the best is the highest.
    bids: BTreeMap<i64, PriceLevel>,
    /// Offers by price; the best is the lowest.
    asks: BTreeMap<i64, PriceLevel>,
    /// Where each resting order is.
    index: HashMap<u64, (Side, i64)>,
}

fn level_of(side: Side, price: i64, level: Option<&PriceLevel>) -> Level {
    Level {
        side,
        price: Price(price),
        qty: Qty(level.map_or(0, |l| l.total)),
        order_count: level.map_or(0, |l| u32::try_from(l.orders.len()).unwrap_or(u32::MAX)),
    }
}

impl Book {
    /// An empty book.
    pub fn new() -> Self {
        Self::default()
    }

    fn side_mut(&mut self, side: Side) -> &mut BTreeMap<i64, PriceLevel> {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Matches order `order_id` (`limit: None` is a market order) against the opposite side,
    /// best price first and oldest first within a price; a limit remainder rests. The caller
    /// gives unique ids and positive quantities. `out` is cleared first.
    pub fn submit(
        &mut self,
        order_id: u64,
        side: Side,
        limit: Option<Price>,
        qty: Qty,
        out: &mut Outcome,
    ) {
        out.matches.clear();
        out.changes.clear();
        let opposite_side = side.opposite();
        let mut leaves = qty.0.max(0);
        while leaves > 0 {
            let opposite = self.side_mut(opposite_side);
            let best = match side {
                Side::Buy => opposite.keys().next().copied(),
                Side::Sell => opposite.keys().next_back().copied(),
            };
            let Some(px) = best else { break };
            let crosses = match (limit, side) {
                (None, _) => true,
                (Some(limit), Side::Buy) => px <= limit.0,
                (Some(limit), Side::Sell) => px >= limit.0,
            };
            if !crosses {
                break;
            }
            let Some(level) = opposite.get_mut(&px) else {
                break;
            };
            let mut filled_ids = Vec::new();
            while leaves > 0 {
                let Some(head) = level.orders.front_mut() else {
                    break;
                };
                let take = leaves.min(head.leaves);
                leaves -= take;
                head.leaves -= take;
                head.cum += take;
                level.total -= take;
                out.matches.push(Match {
                    resting_id: head.order_id,
                    price: Price(px),
                    qty: Qty(take),
                    resting_leaves: Qty(head.leaves),
                    resting_cum: Qty(head.cum),
                });
                if head.leaves == 0 {
                    filled_ids.push(head.order_id);
                    level.orders.pop_front();
                }
            }
            let change = level_of(
                opposite_side,
                px,
                Some(&*level).filter(|l| !l.orders.is_empty()),
            );
            if level.orders.is_empty() {
                opposite.remove(&px);
            }
            for id in filled_ids {
                self.index.remove(&id);
            }
            out.changes.push(change);
        }
        out.cum = Qty(qty.0.max(0) - leaves);
        out.rested = false;
        out.leaves = Qty(0);
        if let (Some(limit), true) = (limit, leaves > 0) {
            let cum = out.cum.0;
            let level = self.side_mut(side).entry(limit.0).or_default();
            level.orders.push_back(Resting {
                order_id,
                leaves,
                cum,
            });
            level.total += leaves;
            let change = level_of(side, limit.0, Some(level));
            self.index.insert(order_id, (side, limit.0));
            out.changes.push(change);
            out.rested = true;
            out.leaves = Qty(leaves);
        }
    }

    /// Removes resting order `order_id`; `None` when it is not resting.
    pub fn cancel(&mut self, order_id: u64) -> Option<Canceled> {
        let (side, px) = self.index.remove(&order_id)?;
        let levels = self.side_mut(side);
        let level = levels.get_mut(&px)?;
        let at = level.orders.iter().position(|r| r.order_id == order_id)?;
        let resting = level.orders.remove(at)?;
        level.total -= resting.leaves;
        let change = level_of(side, px, Some(&*level).filter(|l| !l.orders.is_empty()));
        if level.orders.is_empty() {
            levels.remove(&px);
        }
        Some(Canceled {
            side,
            price: Price(px),
            leaves: Qty(resting.leaves),
            cum: Qty(resting.cum),
            change,
        })
    }

    /// True when `order_id` rests in the book.
    pub fn contains(&self, order_id: u64) -> bool {
        self.index.contains_key(&order_id)
    }

    /// The levels of one side, best first.
    pub fn levels(&self, side: Side) -> Vec<Level> {
        let of = |(px, level): (&i64, &PriceLevel)| level_of(side, *px, Some(level));
        match side {
            Side::Buy => self.bids.iter().rev().map(of).collect(),
            Side::Sell => self.asks.iter().map(of).collect(),
        }
    }

    /// Every level: bids best first, then offers best first (a snapshot's order).
    pub fn all_levels(&self) -> Vec<Level> {
        let mut levels = self.levels(Side::Buy);
        levels.extend(self.levels(Side::Sell));
        levels
    }

    /// The best bid and best offer prices.
    pub fn best(&self) -> (Option<Price>, Option<Price>) {
        (
            self.bids.keys().next_back().copied().map(Price),
            self.asks.keys().next().copied().map(Price),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn px(units: i64) -> Option<Price> {
        Some(Price(units))
    }

    #[test]
    fn sweep_reports_matches_and_level_changes() {
        let mut book = Book::new();
        let mut out = Outcome::default();
        book.submit(1, Side::Sell, px(101), Qty(2), &mut out);
        book.submit(2, Side::Sell, px(101), Qty(3), &mut out);
        book.submit(3, Side::Sell, px(102), Qty(4), &mut out);
        assert_eq!(
            out.changes,
            vec![Level {
                side: Side::Sell,
                price: Price(102),
                qty: Qty(4),
                order_count: 1
            }]
        );
        book.submit(4, Side::Buy, px(102), Qty(6), &mut out);
        let ids: Vec<(u64, i64, i64)> = out
            .matches
            .iter()
            .map(|m| (m.resting_id, m.price.0, m.qty.0))
            .collect();
        assert_eq!(ids, vec![(1, 101, 2), (2, 101, 3), (3, 102, 1)]);
        assert_eq!((out.cum, out.leaves, out.rested), (Qty(6), Qty(0), false));
        assert_eq!(
            out.changes,
            vec![
                Level {
                    side: Side::Sell,
                    price: Price(101),
                    qty: Qty(0),
                    order_count: 0
                },
                Level {
                    side: Side::Sell,
                    price: Price(102),
                    qty: Qty(3),
                    order_count: 1
                },
            ]
        );
        assert!(!book.contains(1) && !book.contains(2) && book.contains(3));
        assert_eq!(book.best(), (None, Some(Price(102))));
    }

    #[test]
    fn limit_remainder_rests_and_market_remainder_does_not() {
        let mut book = Book::new();
        let mut out = Outcome::default();
        book.submit(1, Side::Sell, px(100), Qty(2), &mut out);
        book.submit(2, Side::Buy, px(100), Qty(5), &mut out);
        assert_eq!((out.cum, out.leaves, out.rested), (Qty(2), Qty(3), true));
        assert_eq!(
            book.levels(Side::Buy),
            vec![Level {
                side: Side::Buy,
                price: Price(100),
                qty: Qty(3),
                order_count: 1
            }]
        );
        book.submit(3, Side::Sell, None, Qty(10), &mut out);
        assert_eq!((out.cum, out.leaves, out.rested), (Qty(3), Qty(0), false));
        assert!(book.all_levels().is_empty());
    }

    #[test]
    fn cancel_updates_the_level() {
        let mut book = Book::new();
        let mut out = Outcome::default();
        book.submit(1, Side::Buy, px(99), Qty(2), &mut out);
        book.submit(2, Side::Buy, px(99), Qty(3), &mut out);
        let c = book.cancel(1).unwrap();
        assert_eq!((c.leaves, c.cum), (Qty(2), Qty(0)));
        assert_eq!(
            c.change,
            Level {
                side: Side::Buy,
                price: Price(99),
                qty: Qty(3),
                order_count: 1
            }
        );
        assert_eq!(book.cancel(1), None);
        assert_eq!(book.cancel(2).unwrap().change.qty, Qty(0));
        assert!(book.all_levels().is_empty());
    }
}
