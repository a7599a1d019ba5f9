//! The venue on the engine: [`exchange::VenueExchange`] (the venue as an inline strategy,
//! used by `fixp-demo serve` and the show) and [`script`], the scripted show `fixp-demo show`
//! (`cargo venue`) runs: an exchange, two traders and a market maker in one process.
//!
//! Owns: wiring the sans-IO venue and the [`crate::trader::Trader`] client to engines. May not
//! touch: the venue's rules, the engine's internals.

pub mod exchange;
pub mod script;
