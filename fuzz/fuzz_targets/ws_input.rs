//! Fuzzes the server-side input path: arbitrary bytes as a client's byte stream into a
//! `WsConnection` accepted by a `WsListener` (the code the engine runs), through the TLS
//! adapter (`wss://`, rustls' record and handshake parsers) or plain (`ws://`, the HTTP
//! upgrade, the path and subprotocol check, then the WebSocket frame reader with its size,
//! UTF-8 and protocol rules).
//!
//! The bytes go over a real loopback TCP connection, written in full before the server reads
//! them, so a run is deterministic. The client socket closes with linger 0 (a reset, no
//! TIME_WAIT), so millions of runs do not exhaust ephemeral ports.
//!
//! The first input byte chooses: bit 0 TLS, bit 1 half-close after the data (the server then
//! sees EOF, not "would block").
#![no_main]

use std::cell::RefCell;
use std::io::Write;
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use fixp_ws::transport::{HandshakeProgress, ReadStatus, ServerIdentity, WsListener, WsOptions};
use libfuzzer_sys::fuzz_target;
use mio::{Events, Poll, Token};

/// Most input bytes written (fits the loopback socket buffers, so the write never blocks).
const MAX_INPUT: usize = 16 * 1024;
/// Largest message the server accepts (small, so oversized messages are reachable).
const MAX_MESSAGE: usize = 2048;
const PLAIN: Token = Token(1);
const TLS: Token = Token(2);
const CONNECTION: Token = Token(3);

struct Rig {
    poll: Poll,
    events: Events,
    plain: WsListener,
    plain_addr: SocketAddr,
    tls: WsListener,
    tls_addr: SocketAddr,
}

fn rig() -> Rig {
    let poll = Poll::new().expect("poll");
    let options = WsOptions {
        max_message_size: MAX_MESSAGE,
        max_backlog_bytes: 64 * 1024,
        ..WsOptions::default()
    };
    let identity = ServerIdentity::self_signed().expect("certificate");
    let config = identity.server_config().expect("server config");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("address");
    let plain = WsListener::bind(any, None, options.clone(), poll.registry(), PLAIN).expect("bind");
    let tls = WsListener::bind(any, Some(config), options, poll.registry(), TLS).expect("bind");
    Rig {
        plain_addr: plain.local_addr().expect("address"),
        tls_addr: tls.local_addr().expect("address"),
        poll,
        events: Events::with_capacity(16),
        plain,
        tls,
    }
}

thread_local! {
    static RIG: RefCell<Rig> = RefCell::new(rig());
}

fn run(rig: &mut Rig, tls: bool, half_close: bool, data: &[u8]) {
    let addr = if tls { rig.tls_addr } else { rig.plain_addr };
    let mut client = TcpStream::connect(addr).expect("loopback connect");
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .expect("linger");
    client.write_all(data).expect("loopback write");
    if half_close {
        let _ = client.shutdown(Shutdown::Write);
    }
    let listener = if tls { &mut rig.tls } else { &mut rig.plain };
    let mut conn = None;
    for _ in 0..100 {
        match listener.accept(rig.poll.registry(), CONNECTION) {
            Ok(Some(c)) => {
                conn = Some(c);
                break;
            }
            Ok(None) => {
                let _ = rig
                    .poll
                    .poll(&mut rig.events, Some(Duration::from_millis(10)));
            }
            Err(_) => return,
        }
    }
    let Some(mut conn) = conn else {
        panic!("the loopback connection never arrived");
    };
    let mut open = false;
    for _ in 0..32 {
        match conn.poll_handshake() {
            Ok(HandshakeProgress::Open) => {
                open = true;
                break;
            }
            Ok(HandshakeProgress::InProgress) => {}
            Err(_) => {
                listener.record_handshake_failure(&conn);
                break;
            }
        }
    }
    if open {
        let _ = conn.subprotocol();
        let mut frames = 0usize;
        for _ in 0..32 {
            let status = conn.read_frames(|_, bytes| {
                assert!(
                    bytes.len() <= MAX_MESSAGE,
                    "a message over the limit was delivered"
                );
                frames += 1;
            });
            match status {
                Ok(ReadStatus::Drained) if !half_close => break,
                Ok(ReadStatus::Drained | ReadStatus::Closing) => {}
                Ok(ReadStatus::Closed(_)) | Err(_) => break,
            }
            if conn.flush_pending() {
                let _ = conn.flush();
            }
        }
        assert_eq!(conn.stats().frames_in as usize, frames);
    }
    drop(client);
    drop(conn);
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let rest = rest.get(..MAX_INPUT).unwrap_or(rest);
    RIG.with(|rig| run(&mut rig.borrow_mut(), mode & 1 == 1, mode & 2 == 2, rest));
});
