//! Support code for the fixp-ws command-line tools and demo applications.
#![deny(missing_docs)]

pub mod book;
pub mod show;
pub mod trader;
pub mod venue;
