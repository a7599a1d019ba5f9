//! The generated SBE flyweights of the venue schema (`tools/schemas/venue-sbe-schema.xml`,
//! schema id 101, version 0). Owns nothing by hand: `tools/build.rs` writes it with
//! `fixp-sbe-codegen`. The typed model in [`super::message`] converts to and from these.

include!(concat!(env!("OUT_DIR"), "/sbe_venue.rs"));
