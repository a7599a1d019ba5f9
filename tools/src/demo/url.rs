//! Where `fixp-demo` connects and listens, by transport: server URLs (`ws://`, `wss://`,
//! `tcp://`, `tcp+tls://`) for `connect`, and the TCP+SOFH listener of `serve` (`--tcp ADDR`).
//!
//! Plain TCP is never chosen by accident: `tcp://` and a plain `--tcp` listener need
//! `--plain-tcp`, the explicit acknowledgement (TLS is the default, `tcp+tls://`).
//!
//! Owns: URL parsing and the transport options they imply. May not touch: engines or sessions
//! (`demo.rs` builds them from what this returns).

use std::net::{SocketAddr, ToSocketAddrs};

use fixp_ws::engine::{EngineBuilder, Strategy, Transport};
use fixp_ws::transport::{
    encoding_type, ServerIdentity, SofhOptions, Subprotocol, WireEncoding, WsOptions,
};

/// The transport a URL names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// `ws://`: WebSocket, plain.
    Ws,
    /// `wss://`: WebSocket over TLS.
    Wss,
    /// `tcp://`: FIXP over plain TCP with SOFH framing.
    Tcp,
    /// `tcp+tls://`: FIXP over TCP with SOFH framing, TLS.
    TcpTls,
}

impl Scheme {
    const ALL: [(&'static str, Scheme); 4] = [
        ("wss://", Scheme::Wss),
        ("ws://", Scheme::Ws),
        ("tcp+tls://", Scheme::TcpTls),
        ("tcp://", Scheme::Tcp),
    ];

    /// True for the TLS schemes.
    pub fn tls(self) -> bool {
        matches!(self, Scheme::Wss | Scheme::TcpTls)
    }
}

/// A parsed server URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerUrl {
    /// The transport.
    pub scheme: Scheme,
    /// Host name (also the TLS server name).
    pub host: String,
    /// Port.
    pub port: u16,
    /// WebSocket request path (`/` when the URL has none; unused over TCP).
    pub path: String,
}

impl ServerUrl {
    /// Parses `ws://host[:port]/path`, `wss://…`, `tcp://host:port` or `tcp+tls://host:port`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let (scheme, rest) = Scheme::ALL
            .iter()
            .find_map(|(prefix, scheme)| url.strip_prefix(prefix).map(|rest| (*scheme, rest)))
            .ok_or_else(|| format!("{url}: expected wss://, ws://, tcp+tls:// or tcp://"))?;
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], rest[i..].to_owned()),
            None => (rest, "/".to_owned()),
        };
        let tcp = matches!(scheme, Scheme::Tcp | Scheme::TcpTls);
        if tcp && path != "/" {
            return Err(format!("{url}: a TCP URL has no path"));
        }
        let (host, port) = match authority.rsplit_once(':') {
            Some((h, p)) => (
                h.to_owned(),
                p.parse().map_err(|_| format!("{url}: bad port"))?,
            ),
            None if tcp => return Err(format!("{url}: a TCP URL needs a port")),
            None => (authority.to_owned(), if scheme.tls() { 443 } else { 80 }),
        };
        if host.is_empty() {
            return Err(format!("{url}: no host"));
        }
        Ok(ServerUrl {
            scheme,
            host,
            port,
            path,
        })
    }

    /// The first address the host resolves to.
    pub fn addr(&self) -> Result<SocketAddr, String> {
        (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| format!("{}: {e}", self.host))?
            .next()
            .ok_or_else(|| format!("{}: no address", self.host))
    }

    /// The engine transport for this URL and `encoding`: WebSocket offering the encoding's
    /// subprotocol on the URL's path, or SOFH framing with the encoding's type. `tcp://` is
    /// refused unless `plain_tcp` acknowledges it.
    pub fn transport(&self, encoding: WireEncoding, plain_tcp: bool) -> Result<Transport, String> {
        match self.scheme {
            Scheme::Ws | Scheme::Wss => Ok(websocket(&self.path, encoding)),
            Scheme::Tcp if !plain_tcp => Err(format!(
                "tcp://{}:{} is plain TCP without TLS: add --plain-tcp to confirm, or use tcp+tls://",
                self.host, self.port
            )),
            Scheme::Tcp | Scheme::TcpTls => Ok(Transport::Sofh(sofh_options(encoding, plain_tcp))),
        }
    }
}

/// WebSocket on `path`, offering `encoding`'s subprotocol.
pub fn websocket(path: &str, encoding: WireEncoding) -> Transport {
    let subprotocol = match encoding {
        WireEncoding::Sbe => Subprotocol::FixpSbe,
        WireEncoding::Json => Subprotocol::FixpJson,
    };
    Transport::WebSocket(WsOptions {
        path: path.to_owned(),
        subprotocols: vec![subprotocol],
        ..WsOptions::default()
    })
}

/// SOFH options for `encoding`; plain TCP allowed only when acknowledged.
fn sofh_options(encoding: WireEncoding, plain_tcp: bool) -> SofhOptions {
    SofhOptions {
        encoding,
        allow_plain_tcp: plain_tcp,
        ..SofhOptions::default()
    }
}

/// `serve`'s TCP+SOFH listener, beside the WSS one.
#[derive(clap::Args, Debug, Clone)]
pub struct TcpListenArgs {
    /// Also listen for FIXP over TCP with SOFH framing on this address (TLS with the same
    /// certificate; plain with --plain-tcp). Sessions move freely between the two listeners.
    #[arg(long)]
    pub tcp: Option<SocketAddr>,
    /// Acknowledge plain TCP without TLS (for `serve --tcp` and `connect --url tcp://`).
    #[arg(long)]
    pub plain_tcp: bool,
    /// The encoding of the TCP listener (each SOFH frame carries its encoding type).
    #[arg(long, value_enum, default_value_t = super::Encoding::Sbe)]
    pub tcp_encoding: super::Encoding,
}

impl TcpListenArgs {
    /// Binds the TCP listener if one was asked for (TLS with `identity` unless plain);
    /// returns the line announcing it.
    pub fn bind<S: Strategy>(
        &self,
        builder: &mut EngineBuilder<S>,
        identity: &ServerIdentity,
    ) -> Result<Option<String>, String> {
        let Some(addr) = self.tcp else {
            return Ok(None);
        };
        let encoding = super::wire_encoding(self.tcp_encoding);
        let (tls, scheme) = if self.plain_tcp {
            (None, "tcp")
        } else {
            let tls = identity.server_config().map_err(|e| e.to_string())?;
            (Some(tls), "tcp+tls")
        };
        let bound = builder
            .listen_tcp(addr, tls, sofh_options(encoding, self.plain_tcp))
            .map_err(|e| format!("--tcp {addr}: {e}"))?;
        Ok(Some(format!(
            "exchange listening on {scheme}://{bound} (SOFH, {encoding:?} encoding type {:#06x})",
            encoding_type(encoding)
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_their_transport_host_port_and_path() {
        let url = ServerUrl::parse("wss://localhost:8443/fixp").expect("wss");
        assert_eq!(
            url,
            ServerUrl {
                scheme: Scheme::Wss,
                host: "localhost".into(),
                port: 8443,
                path: "/fixp".into()
            }
        );
        assert_eq!(ServerUrl::parse("ws://h").expect("ws").port, 80);
        assert_eq!(ServerUrl::parse("wss://h").expect("wss").port, 443);
        let tcp = ServerUrl::parse("tcp+tls://127.0.0.1:9000").expect("tcp+tls");
        assert_eq!((tcp.scheme, tcp.port), (Scheme::TcpTls, 9000));
        assert!(tcp.scheme.tls());
        assert!(!ServerUrl::parse("tcp://h:1").expect("tcp").scheme.tls());
        for bad in [
            "http://h",
            "tcp://h",
            "tcp+tls://h:1/path",
            "wss://:1",
            "ws://h:x",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn plain_tcp_needs_the_acknowledgement() {
        let url = ServerUrl::parse("tcp://127.0.0.1:9000").expect("tcp");
        let refused = url
            .transport(WireEncoding::Sbe, false)
            .expect_err("refused");
        assert!(refused.contains("--plain-tcp"), "{refused}");
        let Transport::Sofh(options) = url.transport(WireEncoding::Json, true).expect("acked")
        else {
            panic!("not SOFH");
        };
        assert!(options.allow_plain_tcp);
        assert_eq!(options.encoding, WireEncoding::Json);
        let tls = ServerUrl::parse("tcp+tls://h:1").expect("tcp+tls");
        let Transport::Sofh(options) = tls.transport(WireEncoding::Sbe, false).expect("tls") else {
            panic!("not SOFH");
        };
        assert!(!options.allow_plain_tcp);
        let ws = ServerUrl::parse("wss://h/trade").expect("wss");
        let Transport::WebSocket(options) = ws.transport(WireEncoding::Json, false).expect("ws")
        else {
            panic!("not WebSocket");
        };
        assert_eq!(options.path, "/trade");
        assert_eq!(options.subprotocols, [Subprotocol::FixpJson]);
    }
}
