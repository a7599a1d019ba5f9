//! A price-time priority limit order book per symbol: the matching logic of the demo exchange.
//!
//! It follows the behaviour of the FIX community's Conga exchange, so a Conga trader sees the
//! reports it expects:
//! - a limit order that does not cross rests and gets an ER New;
//! - an aggressor produces one ER Trade for each resting order it fills (sent to that order's
//!   owner), plus its own report carrying every fill: Filled, PartiallyFilled (the limit remainder
//!   rests), or Canceled for a market remainder, which never rests;
//! - a cancel of a resting order gives ER Canceled; of an unknown order, a cancel reject.
//!
//! Orders are matched by price, then by time, in the venue's book ([`crate::venue::book`]);
//! this module keeps the demo's Conga-shaped view of it (i32 mantissas with exponent −2,
//! `char[8]` symbols and client ids). Application code (the engine's strategy side), not the
//! engine's hot path: it uses ordinary collections.

use std::collections::HashMap;

use crate::venue;
use crate::venue::book::{Book, Outcome};
use crate::venue::types::{Price, Qty};

/// Buy or sell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Side {
    /// Bid.
    Buy,
    /// Offer.
    Sell,
}

/// Who sent an order: the exchange's id for the session, and the client's order id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OrderKey {
    /// The owning session (the exchange's index for it).
    pub owner: u64,
    /// The client's order id (ClOrdId), NUL-padded.
    pub cl_ord_id: [u8; 8],
}

/// A new order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// Who sent it.
    pub key: OrderKey,
    /// The instrument, NUL-padded.
    pub symbol: [u8; 8],
    /// Buy or sell.
    pub side: Side,
    /// Limit price as a mantissa (exponent −2), or `None` for a market order.
    pub limit: Option<i32>,
    /// Quantity, > 0.
    pub qty: i32,
}

/// One execution against a resting order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fill {
    /// Price mantissa (exponent −2): the resting order's price.
    pub px: i32,
    /// Quantity.
    pub qty: i32,
}

/// The status an order has after an event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Resting, nothing filled.
    New,
    /// Some filled, some open.
    PartiallyFilled,
    /// All filled.
    Filled,
    /// Canceled (by request, or a market remainder).
    Canceled,
}

/// What an order's owner is told.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Report {
    /// A limit order rests untouched.
    New {
        /// The order.
        key: OrderKey,
        /// The exchange's order id.
        order_id: u64,
        /// Open quantity.
        leaves: i32,
    },
    /// A resting order was hit by an aggressor.
    Trade {
        /// The resting order.
        key: OrderKey,
        /// The exchange's order id.
        order_id: u64,
        /// The execution.
        fill: Fill,
        /// Open quantity after it.
        leaves: i32,
        /// Filled quantity so far.
        cum: i32,
        /// Filled or PartiallyFilled.
        status: Status,
    },
    /// The aggressor's own report with every fill it took.
    Aggressor {
        /// The aggressing order.
        key: OrderKey,
        /// The exchange's order id.
        order_id: u64,
        /// The executions, in match order.
        fills: Vec<Fill>,
        /// Open quantity (resting now, or 0).
        leaves: i32,
        /// Filled quantity.
        cum: i32,
        /// Filled, PartiallyFilled (the remainder rests) or Canceled (a market remainder).
        status: Status,
    },
    /// A resting order was canceled on request.
    Canceled {
        /// The order.
        key: OrderKey,
        /// The exchange's order id.
        order_id: u64,
        /// Filled quantity before the cancel.
        cum: i32,
    },
    /// A cancel named no resting order.
    CancelRejected {
        /// The key the cancel named.
        key: OrderKey,
    },
}

/// The books of every symbol (the venue's matching core, [`venue::book::Book`]), with the
/// owner of each order for the reports.
#[derive(Default)]
pub struct Exchange {
    books: HashMap<[u8; 8], Book>,
    /// Resting orders: key → (symbol, exchange order id).
    resting: HashMap<OrderKey, ([u8; 8], u64)>,
    /// Exchange order id → key, for the resting side of each match.
    owners: HashMap<u64, OrderKey>,
    next_order_id: u64,
    outcome: Outcome,
}

fn venue_side(side: Side) -> venue::types::Side {
    match side {
        Side::Buy => venue::types::Side::Buy,
        Side::Sell => venue::types::Side::Sell,
    }
}

/// The book works in i64 mantissas; this exchange's prices and quantities are i32, so every
/// value it reads back is one it put in.
fn narrow(value: i64) -> i32 {
    i32::try_from(value).unwrap_or(i32::MAX)
}

impl Exchange {
    /// An empty exchange.
    pub fn new() -> Self {
        Self::default()
    }

    /// Matches a new order, rests a limit remainder, and pushes the reports to `out`.
    pub fn submit(&mut self, order: NewOrder, out: &mut Vec<Report>) {
        self.next_order_id += 1;
        let order_id = self.next_order_id;
        let book = self.books.entry(order.symbol).or_default();
        book.submit(
            order_id,
            venue_side(order.side),
            order.limit.map(|p| Price(i64::from(p))),
            Qty(i64::from(order.qty)),
            &mut self.outcome,
        );
        let mut fills = Vec::with_capacity(self.outcome.matches.len());
        for m in &self.outcome.matches {
            let fill = Fill {
                px: narrow(m.price.0),
                qty: narrow(m.qty.0),
            };
            fills.push(fill);
            let done = m.resting_leaves.0 == 0;
            let key = if done {
                self.owners.remove(&m.resting_id)
            } else {
                self.owners.get(&m.resting_id).copied()
            };
            let Some(key) = key else { continue };
            if done {
                self.resting.remove(&key);
            }
            out.push(Report::Trade {
                key,
                order_id: m.resting_id,
                fill,
                leaves: narrow(m.resting_leaves.0),
                cum: narrow(m.resting_cum.0),
                status: if done {
                    Status::Filled
                } else {
                    Status::PartiallyFilled
                },
            });
        }
        let leaves = narrow(self.outcome.leaves.0);
        let cum = narrow(self.outcome.cum.0);
        if self.outcome.rested {
            self.resting.insert(order.key, (order.symbol, order_id));
            self.owners.insert(order_id, order.key);
        }
        if fills.is_empty() && order.limit.is_some() {
            out.push(Report::New {
                key: order.key,
                order_id,
                leaves,
            });
            return;
        }
        let status = match (cum == order.qty, order.limit) {
            (true, _) => Status::Filled,
            (false, Some(_)) => Status::PartiallyFilled,
            (false, None) => Status::Canceled,
        };
        out.push(Report::Aggressor {
            key: order.key,
            order_id,
            fills,
            leaves,
            cum,
            status,
        });
    }

    /// Cancels the resting order `key`, pushing ER Canceled or a cancel reject to `out`.
    pub fn cancel(&mut self, key: OrderKey, out: &mut Vec<Report>) {
        let canceled = self.resting.remove(&key).and_then(|(symbol, order_id)| {
            self.owners.remove(&order_id);
            let c = self.books.get_mut(&symbol)?.cancel(order_id)?;
            Some((order_id, c))
        });
        match canceled {
            Some((order_id, c)) => out.push(Report::Canceled {
                key,
                order_id,
                cum: narrow(c.cum.0),
            }),
            None => out.push(Report::CancelRejected { key }),
        }
    }

    /// Cancels every resting order of `owner` (cancel-on-disconnect), pushing an ER Canceled
    /// for each to `out`, oldest order first.
    pub fn cancel_owner(&mut self, owner: u64, out: &mut Vec<Report>) {
        let mut keys: Vec<(u64, OrderKey)> = self
            .resting
            .iter()
            .filter(|(key, _)| key.owner == owner)
            .map(|(key, &(_, order_id))| (order_id, *key))
            .collect();
        keys.sort_unstable_by_key(|&(order_id, _)| order_id);
        for (_, key) in keys {
            self.cancel(key, out);
        }
    }

    /// Open quantity resting at each price on one side of a symbol, best first.
    pub fn depth(&self, symbol: [u8; 8], side: Side) -> Vec<(i32, i32)> {
        self.books.get(&symbol).map_or_else(Vec::new, |book| {
            book.levels(venue_side(side))
                .iter()
                .map(|l| (narrow(l.price.0), narrow(l.qty.0)))
                .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> [u8; 8] {
        let mut out = [0u8; 8];
        out[..s.len()].copy_from_slice(s.as_bytes());
        out
    }

    fn order(owner: u64, cl: &str, side: Side, limit: Option<i32>, qty: i32) -> NewOrder {
        NewOrder {
            key: OrderKey {
                owner,
                cl_ord_id: id(cl),
            },
            symbol: id("AMZN"),
            side,
            limit,
            qty,
        }
    }

    #[test]
    fn resting_limit_gets_new() {
        let mut ex = Exchange::new();
        let mut out = Vec::new();
        ex.submit(order(1, "C1", Side::Buy, Some(7345), 3), &mut out);
        assert_eq!(
            out,
            vec![Report::New {
                key: order(1, "C1", Side::Buy, None, 0).key,
                order_id: 1,
                leaves: 3
            }]
        );
        assert_eq!(ex.depth(id("AMZN"), Side::Buy), vec![(7345, 3)]);
    }

    #[test]
    fn self_trade_gives_three_reports() {
        // Conga's TraderTest.selfTrade: Buy 3@73.45 then Sell 3@73.45 → New, Trade, Trade.
        let mut ex = Exchange::new();
        let mut out = Vec::new();
        ex.submit(order(1, "C1", Side::Buy, Some(7345), 3), &mut out);
        ex.submit(order(1, "C2", Side::Sell, Some(7345), 3), &mut out);
        assert_eq!(out.len(), 3);
        assert!(matches!(
            out[1],
            Report::Trade {
                fill: Fill { px: 7345, qty: 3 },
                leaves: 0,
                cum: 3,
                status: Status::Filled,
                ..
            }
        ));
        match &out[2] {
            Report::Aggressor {
                fills,
                leaves,
                cum,
                status,
                ..
            } => {
                assert_eq!(fills, &vec![Fill { px: 7345, qty: 3 }]);
                assert_eq!((*leaves, *cum, *status), (0, 3, Status::Filled));
            }
            other => panic!("unexpected {other:?}"),
        }
        assert!(ex.depth(id("AMZN"), Side::Buy).is_empty());
    }

    #[test]
    fn sweep_across_levels_fills_best_price_first_then_rests() {
        // Conga's book sweep: ten bids 1.05..1.50 with qty 1..10, then a sell of 55 @ 1.00.
        let mut ex = Exchange::new();
        let mut out = Vec::new();
        for i in 0..10 {
            ex.submit(
                order(1, &format!("B{i}"), Side::Buy, Some(105 + 5 * i), i + 1),
                &mut out,
            );
        }
        out.clear();
        ex.submit(order(2, "S1", Side::Sell, Some(100), 60), &mut out);
        let Some(Report::Aggressor {
            fills,
            leaves,
            cum,
            status,
            ..
        }) = out.last()
        else {
            panic!("no aggressor report: {out:?}");
        };
        let prices: Vec<i32> = fills.iter().map(|f| f.px).collect();
        assert_eq!(
            prices,
            (0..10).rev().map(|i| 105 + 5 * i).collect::<Vec<_>>()
        );
        assert_eq!((*cum, *leaves, *status), (55, 5, Status::PartiallyFilled));
        assert_eq!(out.len(), 11);
        assert_eq!(ex.depth(id("AMZN"), Side::Sell), vec![(100, 5)]);
        assert!(ex.depth(id("AMZN"), Side::Buy).is_empty());
    }

    #[test]
    fn time_priority_within_a_level() {
        let mut ex = Exchange::new();
        let mut out = Vec::new();
        ex.submit(order(1, "A", Side::Sell, Some(200), 2), &mut out);
        ex.submit(order(2, "B", Side::Sell, Some(200), 2), &mut out);
        out.clear();
        ex.submit(order(3, "C", Side::Buy, Some(200), 3), &mut out);
        let hit: Vec<(u64, i32, Status)> = out
            .iter()
            .filter_map(|r| match r {
                Report::Trade {
                    key, fill, status, ..
                } => Some((key.owner, fill.qty, *status)),
                _ => None,
            })
            .collect();
        assert_eq!(
            hit,
            vec![(1, 2, Status::Filled), (2, 1, Status::PartiallyFilled)]
        );
    }

    #[test]
    fn market_remainder_is_canceled_not_rested() {
        let mut ex = Exchange::new();
        let mut out = Vec::new();
        ex.submit(order(1, "A", Side::Sell, Some(200), 2), &mut out);
        out.clear();
        ex.submit(order(2, "M", Side::Buy, None, 5), &mut out);
        assert!(matches!(
            out.last(),
            Some(Report::Aggressor {
                cum: 2,
                leaves: 0,
                status: Status::Canceled,
                ..
            })
        ));
        assert!(ex.depth(id("AMZN"), Side::Buy).is_empty());
    }

    #[test]
    fn cancel_known_and_unknown() {
        let mut ex = Exchange::new();
        let mut out = Vec::new();
        let o = order(1, "C1", Side::Buy, Some(7345), 3);
        ex.submit(o, &mut out);
        out.clear();
        ex.cancel(o.key, &mut out);
        assert_eq!(
            out,
            vec![Report::Canceled {
                key: o.key,
                order_id: 1,
                cum: 0
            }]
        );
        out.clear();
        ex.cancel(o.key, &mut out);
        assert_eq!(out, vec![Report::CancelRejected { key: o.key }]);
        assert!(ex.depth(id("AMZN"), Side::Buy).is_empty());
    }
}
