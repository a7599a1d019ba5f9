//! SOFH (Simple Open Framing Header): placeholder.
