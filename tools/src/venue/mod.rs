//! The crypto options venue: application logic, sans-IO.
pub mod book;
pub mod instrument;
pub mod json;
pub mod message;
pub mod sbe;
pub mod types;
