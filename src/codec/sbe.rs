//! SBE: runtime support for generated flyweights and the FIXP SBE encoding: placeholder.
