//! The encoding the engine gives each session: SBE or JSON, chosen per connection from the
//! negotiated WebSocket subprotocol.
//!
//! Owns: the choice of encoding per session. May not touch: the encodings themselves (codec).

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use crate::codec::json::JsonEncoding;
use crate::codec::sbe::SbeEncoding;
use crate::codec::{DecodeError, EncodeError, Encoding, FixpMessage, FrameKind, Inbound};
use crate::transport::WireEncoding;

const SBE: u8 = 0;
const JSON: u8 = 1;

fn code(encoding: WireEncoding) -> u8 {
    match encoding {
        WireEncoding::Sbe => SBE,
        WireEncoding::Json => JSON,
    }
}

/// Which of the two encodings is in force: fixed for a session, or following a shared
/// selector (the acceptor's handshake decoder, switched by the engine to the encoding of the
/// connection whose frame it is about to decode).
#[derive(Debug)]
enum Selector {
    Fixed(WireEncoding),
    Shared(Arc<AtomicU8>),
}

/// SBE or JSON behind one [`Encoding`] type, so one acceptor serves both subprotocols.
#[derive(Debug)]
pub struct EngineEncoding {
    selector: Selector,
    sbe: SbeEncoding,
    json: JsonEncoding,
}

impl EngineEncoding {
    /// An encoding fixed to `encoding`.
    pub fn fixed(encoding: WireEncoding) -> Self {
        EngineEncoding {
            selector: Selector::Fixed(encoding),
            sbe: SbeEncoding::new(),
            json: JsonEncoding::new(),
        }
    }

    /// An encoding that follows `selector` (see [`EncodingSelector`]).
    pub(crate) fn shared(selector: &EncodingSelector) -> Self {
        EngineEncoding {
            selector: Selector::Shared(Arc::clone(&selector.0)),
            sbe: SbeEncoding::new(),
            json: JsonEncoding::new(),
        }
    }

    /// The encoding in force now.
    pub fn current(&self) -> WireEncoding {
        match &self.selector {
            Selector::Fixed(e) => *e,
            Selector::Shared(cell) => {
                if cell.load(Ordering::Relaxed) == JSON {
                    WireEncoding::Json
                } else {
                    WireEncoding::Sbe
                }
            }
        }
    }
}

/// The engine's switch for shared [`EngineEncoding`]s: set before each handshake frame.
#[derive(Clone, Debug, Default)]
pub(crate) struct EncodingSelector(Arc<AtomicU8>);

impl EncodingSelector {
    pub(crate) fn set(&self, encoding: WireEncoding) {
        self.0.store(code(encoding), Ordering::Relaxed);
    }

    pub(crate) fn get(&self) -> WireEncoding {
        if self.0.load(Ordering::Relaxed) == JSON {
            WireEncoding::Json
        } else {
            WireEncoding::Sbe
        }
    }
}

impl Encoding for EngineEncoding {
    fn name(&self) -> &'static str {
        match self.current() {
            WireEncoding::Sbe => self.sbe.name(),
            WireEncoding::Json => self.json.name(),
        }
    }

    fn frame_kind(&self) -> FrameKind {
        match self.current() {
            WireEncoding::Sbe => FrameKind::Binary,
            WireEncoding::Json => FrameKind::Text,
        }
    }

    fn decode<'a>(
        &'a mut self,
        frame: &'a [u8],
        kind: FrameKind,
    ) -> Result<Inbound<'a>, DecodeError> {
        match self.current() {
            WireEncoding::Sbe => self.sbe.decode(frame, kind),
            WireEncoding::Json => self.json.decode(frame, kind),
        }
    }

    fn encode(&mut self, msg: &FixpMessage<'_>, out: &mut [u8]) -> Result<usize, EncodeError> {
        match self.current() {
            WireEncoding::Sbe => self.sbe.encode(msg, out),
            WireEncoding::Json => self.json.encode(msg, out),
        }
    }

    fn tolerated_deviations(&self) -> u64 {
        self.sbe.tolerated_deviations() + self.json.tolerated_deviations()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shared_encoding_follows_the_selector() {
        let selector = EncodingSelector::default();
        let encoding = EngineEncoding::shared(&selector);
        assert_eq!(encoding.frame_kind(), FrameKind::Binary);
        selector.set(WireEncoding::Json);
        assert_eq!(encoding.frame_kind(), FrameKind::Text);
        assert_eq!(encoding.name(), "json");
        let fixed = EngineEncoding::fixed(WireEncoding::Sbe);
        assert_eq!(fixed.name(), "sbe");
    }
}
