//! The bare-TCP floor: `size`-byte messages framed by their fixed length, echoed.
//!
//! Owns: its sockets and the echo loop. May not touch: timing or counting (the runner's).

use std::io::{ErrorKind, Read, Write};
use std::thread;
use std::time::Duration;

use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

use super::{err, payload};
use crate::runner::{Driver, Pair, Res, RunConfig, ServerCtx, Wait};

/// Writes all of `bytes` to a non-blocking socket, spinning on `WouldBlock`.
fn write_all(stream: &mut TcpStream, mut bytes: &[u8]) -> std::io::Result<()> {
    while !bytes.is_empty() {
        match stream.write(bytes) {
            Ok(0) => return Err(ErrorKind::WriteZero.into()),
            Ok(n) => bytes = bytes.get(n..).unwrap_or(&[]),
            Err(e) if e.kind() == ErrorKind::WouldBlock => std::hint::spin_loop(),
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A registered non-blocking stream with TCP_NODELAY and its poll.
fn registered(std_stream: std::net::TcpStream) -> Res<(TcpStream, Poll)> {
    std_stream.set_nodelay(true).map_err(err)?;
    std_stream.set_nonblocking(true).map_err(err)?;
    let mut stream = TcpStream::from_std(std_stream);
    let poll = Poll::new().map_err(err)?;
    poll.registry()
        .register(&mut stream, Token(0), Interest::READABLE)
        .map_err(err)?;
    Ok((stream, poll))
}

/// Bare TCP ping-pong: the first floor.
pub fn ping_pong(config: &RunConfig) -> Res<Pair> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    let addr = listener.local_addr().map_err(err)?;
    let cfg = *config;
    let server = move |ctx: &mut ServerCtx| -> Res<()> {
        let std_stream = loop {
            match listener.accept() {
                Ok((s, _)) => break s,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {
                    if !ctx.running() {
                        return Ok(());
                    }
                    thread::sleep(Duration::from_millis(1));
                }
                Err(e) => return Err(err(e)),
            }
        };
        let (mut stream, mut poll) = registered(std_stream)?;
        let mut events = Events::with_capacity(8);
        let mut buf = vec![0u8; cfg.size];
        let mut filled = 0;
        while ctx.running() {
            if cfg.wait == Wait::Blocking {
                poll.poll(&mut events, cfg.poll_timeout()).map_err(err)?;
            }
            while let Some(space) = buf.get_mut(filled..) {
                let asked = space.len();
                match stream.read(space) {
                    Ok(0) => return Ok(()),
                    Ok(n) => {
                        filled += n;
                        if filled == cfg.size {
                            filled = 0;
                            if write_all(&mut stream, &buf).is_err() {
                                return Ok(());
                            }
                        }
                        if n < asked {
                            // The socket had no more: the next read would be EAGAIN.
                            break;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => return Ok(()),
                }
            }
        }
        Ok(())
    };
    let connect = move || -> Res<Box<dyn Driver>> {
        let (stream, poll) = registered(std::net::TcpStream::connect(addr).map_err(err)?)?;
        Ok(Box::new(TcpClient {
            stream,
            poll,
            events: Events::with_capacity(8),
            message: payload(cfg.size),
            buf: vec![0u8; cfg.size],
            config: cfg,
        }))
    };
    Ok(Pair::new(Box::new(server), Box::new(connect)))
}

/// The measuring side of the TCP floor.
struct TcpClient {
    stream: TcpStream,
    poll: Poll,
    events: Events,
    message: Vec<u8>,
    buf: Vec<u8>,
    config: RunConfig,
}

impl Driver for TcpClient {
    fn step(&mut self) -> Res<()> {
        write_all(&mut self.stream, &self.message).map_err(err)?;
        let mut filled = 0;
        while filled < self.buf.len() {
            if self.config.wait == Wait::Blocking {
                self.poll
                    .poll(&mut self.events, self.config.poll_timeout())
                    .map_err(err)?;
            }
            while let Some(space) = self.buf.get_mut(filled..) {
                if space.is_empty() {
                    break;
                }
                match self.stream.read(space) {
                    Ok(0) => return Err("server closed".into()),
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) => return Err(err(e)),
                }
            }
        }
        Ok(())
    }
}
