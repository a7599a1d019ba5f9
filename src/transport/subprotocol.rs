//! WebSocket subprotocols: our names (`fixp-sbe`, `fixp-json`) and Conga's (`binary`, `text`).

use crate::codec::FrameKind;

/// The message encoding a subprotocol implies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireEncoding {
    /// Simple Binary Encoding, in binary frames.
    Sbe,
    /// JSON, in text frames (a Conga server sends it in binary frames; both are accepted).
    Json,
}

/// A subprotocol name offered in `Sec-WebSocket-Protocol`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Subprotocol {
    /// `fixp-sbe`: FIXP with SBE.
    FixpSbe,
    /// `fixp-json`: FIXP with JSON.
    FixpJson,
    /// `binary`: Conga's name for SBE.
    CongaBinary,
    /// `text`: Conga's name for JSON.
    CongaText,
}

impl Subprotocol {
    /// Every subprotocol, our names first.
    pub const ALL: [Subprotocol; 4] = [
        Subprotocol::FixpSbe,
        Subprotocol::FixpJson,
        Subprotocol::CongaBinary,
        Subprotocol::CongaText,
    ];

    /// The name on the wire.
    pub const fn name(self) -> &'static str {
        match self {
            Subprotocol::FixpSbe => "fixp-sbe",
            Subprotocol::FixpJson => "fixp-json",
            Subprotocol::CongaBinary => "binary",
            Subprotocol::CongaText => "text",
        }
    }

    /// Parses a name from the wire (exact match: subprotocol names are case-sensitive).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The encoding this subprotocol implies.
    pub const fn encoding(self) -> WireEncoding {
        match self {
            Subprotocol::FixpSbe | Subprotocol::CongaBinary => WireEncoding::Sbe,
            Subprotocol::FixpJson | Subprotocol::CongaText => WireEncoding::Json,
        }
    }

    /// The frame type we send messages in: binary for SBE, text for JSON.
    pub const fn frame_kind(self) -> FrameKind {
        match self.encoding() {
            WireEncoding::Sbe => FrameKind::Binary,
            WireEncoding::Json => FrameKind::Text,
        }
    }

    /// A compact code (1..=4) for passing the choice through an atomic.
    pub(crate) const fn code(self) -> u8 {
        match self {
            Subprotocol::FixpSbe => 1,
            Subprotocol::FixpJson => 2,
            Subprotocol::CongaBinary => 3,
            Subprotocol::CongaText => 4,
        }
    }

    /// The inverse of [`Subprotocol::code`].
    pub(crate) fn from_code(code: u8) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.code() == code)
    }
}

impl std::fmt::Display for Subprotocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Picks the first name in the client's offer (its order of preference) that the server
/// accepts. `offer` is the raw `Sec-WebSocket-Protocol` header value: comma-separated names.
pub fn choose(offer: &str, accepted: &[Subprotocol]) -> Option<Subprotocol> {
    offer
        .split(',')
        .map(str::trim)
        .filter_map(Subprotocol::from_name)
        .find(|p| accepted.contains(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_imply_encodings() {
        for p in Subprotocol::ALL {
            assert_eq!(Subprotocol::from_name(p.name()), Some(p));
            assert_eq!(Subprotocol::from_code(p.code()), Some(p));
        }
        assert_eq!(Subprotocol::from_name("Binary"), None);
        assert_eq!(Subprotocol::CongaText.encoding(), WireEncoding::Json);
        assert_eq!(Subprotocol::CongaBinary.frame_kind(), FrameKind::Binary);
        assert_eq!(Subprotocol::FixpJson.frame_kind(), FrameKind::Text);
    }

    #[test]
    fn choice_follows_client_preference_among_accepted() {
        let all = Subprotocol::ALL;
        assert_eq!(
            choose("chat, text, binary", &all),
            Some(Subprotocol::CongaText)
        );
        assert_eq!(
            choose("fixp-json,fixp-sbe", &[Subprotocol::FixpSbe]),
            Some(Subprotocol::FixpSbe)
        );
        assert_eq!(choose("chat, superchat", &all), None);
        assert_eq!(choose("", &all), None);
    }
}
