//! `fixp-journal replay --to ws[s]://host:port/path`: re-sends a window's outbound application
//! messages to a live peer through a fresh client session over the project's transport.
//!
//! The session negotiates a new SessionId (derived from the recorded one and the clock, so the
//! recorded session is never disturbed) with the recorded outbound flow type, sends every
//! record's payload in order as fast as the transport takes it, then unbinds with Close 1000
//! after a short quiet period. It counts what the peer sends back; it does not judge it.

use std::net::ToSocketAddrs;
use std::path::Path;
use std::time::{Duration, Instant};

use fixp_ws::codec::json::JsonEncoding;
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::{Encoding, SessionId};
use fixp_ws::journal::{SessionMeta, ENCODING_JSON, ENCODING_SBE_LE};
use fixp_ws::session::{
    Event, MemoryStore, SendError, Session, SessionConfig, SessionState, TerminateReason, Transmit,
};
use fixp_ws::transport::{
    client_config_from_ca_file, ClientTarget, HandshakeProgress, ReadStatus, SendStatus,
    Subprotocol, WireEncoding, WsConnection, WsOptions,
};
use mio::{Events, Poll, Token};

use super::replay::Record;

/// Where to send, parsed from `ws://host:port/path` or `wss://…`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    /// TLS or not.
    pub tls: bool,
    /// Host name (for the Host header and the certificate check).
    pub host: String,
    /// Port (default 80 / 443).
    pub port: u16,
    /// Request path (default `/fixp`).
    pub path: String,
}

impl Url {
    /// Parses `ws://host[:port][/path]` or `wss://…`.
    pub fn parse(text: &str) -> Result<Url, String> {
        let (tls, rest) = if let Some(r) = text.strip_prefix("wss://") {
            (true, r)
        } else if let Some(r) = text.strip_prefix("ws://") {
            (false, r)
        } else {
            return Err(format!("{text}: expected ws:// or wss://"));
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, "/fixp"),
        };
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h,
                p.parse::<u16>()
                    .map_err(|_| format!("{text}: bad port {p}"))?,
            ),
            None => (authority, if tls { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(format!("{text}: no host"));
        }
        Ok(Url {
            tls,
            host: host.to_owned(),
            port,
            path: path.to_owned(),
        })
    }
}

/// What the re-send did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Resent {
    /// The SessionId used.
    pub session_id: String,
    /// Application messages sent.
    pub sent: u64,
    /// Application messages the peer sent back.
    pub received: u64,
    /// How the binding ended.
    pub ended: String,
}

/// A SessionId for the re-send: the recorded one mixed with the clock (splitmix64), so it is
/// new and never the recorded session's.
fn fresh_id(recorded: SessionId) -> SessionId {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mut bytes = recorded.0;
    let mut x = nanos;
    for chunk in bytes.chunks_mut(8) {
        x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        for (b, k) in chunk.iter_mut().zip(z.to_le_bytes()) {
            *b ^= k;
        }
    }
    SessionId::from_random_bytes(bytes)
}

/// Re-sends `outbound` to `url`; `ca` is the PEM file of the CA that signed the server's
/// certificate (required for `wss://`).
pub fn resend(
    meta: &SessionMeta,
    outbound: &[Record],
    url: &Url,
    ca: Option<&Path>,
) -> Result<Resent, String> {
    let encoding = outbound.first().map_or(ENCODING_SBE_LE, |r| r.encoding);
    match encoding {
        ENCODING_SBE_LE => drive(
            SbeEncoding::new(),
            WireEncoding::Sbe,
            meta,
            outbound,
            url,
            ca,
        ),
        ENCODING_JSON => drive(
            JsonEncoding::new(),
            WireEncoding::Json,
            meta,
            outbound,
            url,
            ca,
        ),
        other => Err(format!("unsupported encoding 0x{other:04x}")),
    }
}

fn drive<E: Encoding>(
    encoding: E,
    wire: WireEncoding,
    meta: &SessionMeta,
    outbound: &[Record],
    url: &Url,
    ca: Option<&Path>,
) -> Result<Resent, String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let tls = match (url.tls, ca) {
        (false, _) => None,
        (true, Some(ca)) => Some(client_config_from_ca_file(ca).map_err(|e| err(&e))?),
        (true, None) => return Err("wss:// needs --ca <PEM file of the server's CA>".into()),
    };
    let addr = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("{}: {e}", url.host))?
        .next()
        .ok_or_else(|| format!("{}: no address", url.host))?;
    let largest = outbound.iter().map(|r| r.payload.len()).max().unwrap_or(0);
    let options = WsOptions {
        path: url.path.clone(),
        subprotocols: Subprotocol::ALL
            .into_iter()
            .filter(|p| p.encoding() == wire)
            .collect(),
        max_message_size: largest.max(64 * 1024),
        ..WsOptions::default()
    };
    let mut poll = Poll::new().map_err(|e| err(&e))?;
    let mut events = Events::with_capacity(16);
    let target = ClientTarget {
        addr,
        host: url.host.clone(),
        tls,
    };
    let mut conn =
        WsConnection::connect(target, &options, poll.registry(), Token(0)).map_err(|e| err(&e))?;
    let epoch = Instant::now();
    let clock = || u64::try_from(epoch.elapsed().as_nanos()).unwrap_or(u64::MAX) + 1;
    let deadline = epoch + Duration::from_secs(10);
    while conn.poll_handshake().map_err(|e| err(&e))? != HandshakeProgress::Open {
        if Instant::now() > deadline {
            return Err("WebSocket handshake timed out".into());
        }
        poll.poll(&mut events, Some(Duration::from_millis(10)))
            .map_err(|e| err(&e))?;
    }
    let config = SessionConfig {
        flow: meta.outbound_flow,
        max_frame_len: largest.max(1024),
        ..SessionConfig::default()
    };
    let id = fresh_id(meta.session_id);
    let store = MemoryStore::new(outbound.len().max(1), config.max_frame_len);
    let mut session = Session::client(config, encoding, store, id);
    session.handle_connected(clock());
    let mut out = Resent {
        session_id: id.to_string(),
        ..Resent::default()
    };
    let mut next = 0usize;
    let mut quiet_since: Option<Instant> = None;
    let mut ended: Option<String> = None;
    while ended.is_none() {
        let now = clock();
        if session.next_deadline().is_some_and(|d| d <= now) {
            session.handle_timeout(now);
        }
        let status = conn
            .read_frames(|kind, bytes| session.handle_frame(now, bytes, kind))
            .map_err(|e| err(&e))?;
        if let ReadStatus::Closed(report) = status {
            session.handle_close(now, report.peer_code.unwrap_or(1006));
            ended = Some(format!("peer closed ({:?})", report.peer_code));
        }
        while let Some(event) = session.poll_event() {
            match event {
                Event::Message { .. } => out.received += 1,
                Event::Terminated(reason) => {
                    ended.get_or_insert_with(|| reason.to_string());
                }
                Event::NegotiationRejected(code) => {
                    ended = Some(format!("negotiation rejected: {code:?}"));
                }
                _ => {}
            }
        }
        if session.state() == SessionState::Established && ended.is_none() {
            while let Some(rec) = outbound.get(next) {
                match session.send(now, &rec.payload) {
                    Ok(_) => {
                        next += 1;
                        out.sent += 1;
                    }
                    Err(SendError::Backpressure) => break,
                    Err(e) => return Err(format!("outbound seq {}: {e}", rec.seq)),
                }
            }
            if next == outbound.len() && !session.has_transmit() && !conn.flush_pending() {
                // Everything is out: wait a little for the peer's answers, then unbind.
                let since = *quiet_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_millis(300) {
                    session.terminate(now, TerminateReason::Unbind);
                }
            } else {
                quiet_since = None;
            }
        }
        while let Some(t) = session.poll_transmit() {
            loop {
                let sent = match t {
                    Transmit::Frame { bytes, kind } => conn.send(kind, bytes),
                    Transmit::Close { code, reason } => conn.close(code, reason),
                };
                // Backpressure queued nothing: make room and send the same frame again.
                if sent.map_err(|e| err(&e))? != SendStatus::Backpressure {
                    break;
                }
                let _ = conn.flush().map_err(|e| err(&e))?;
                poll.poll(&mut events, Some(Duration::from_millis(10)))
                    .map_err(|e| err(&e))?;
            }
        }
        if conn.flush_pending() {
            let _ = conn.flush().map_err(|e| err(&e))?;
        }
        if Instant::now() > deadline && session.state() != SessionState::Established {
            return Err(format!("FIXP handshake stuck in {:?}", session.state()));
        }
        poll.poll(&mut events, Some(Duration::from_millis(10)))
            .map_err(|e| err(&e))?;
    }
    // Finish the closing handshake briefly; the peer may already be gone.
    let close_deadline = Instant::now() + Duration::from_secs(1);
    while Instant::now() < close_deadline {
        match conn.read_frames(|_, _| {}) {
            Ok(ReadStatus::Closed(_)) | Err(_) => break,
            Ok(_) => {}
        }
        let _ = poll.poll(&mut events, Some(Duration::from_millis(10)));
    }
    out.ended = ended.unwrap_or_default();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::Url;

    #[test]
    fn urls() {
        let u = Url::parse("wss://example.org:9443/trade").unwrap();
        assert_eq!(
            u,
            Url {
                tls: true,
                host: "example.org".into(),
                port: 9443,
                path: "/trade".into()
            }
        );
        let u = Url::parse("ws://localhost").unwrap();
        assert_eq!((u.port, u.path.as_str(), u.tls), (80, "/fixp", false));
        assert!(Url::parse("http://x").is_err());
        assert!(Url::parse("ws://:80/").is_err());
        assert!(Url::parse("ws://h:99999/").is_err());
    }
}
