//! A peer's FIN that arrives together with its last bytes (one readiness event, flagged as a
//! hang-up) is read in the same read pass. A pass that ended at the short read of those bytes
//! would leave the EOF unread, and no other event would ever announce it: the connection would
//! sit until a timeout instead of being closed for what it did. Raw TCP peers against a blocking
//! engine's SOFH listener (epoll mode), each sending half a frame and closing at once; every one
//! must be closed as a counted truncation fault. No timing assertions (the guard only catches
//! hangs).

mod engine_support;

use std::io::Write;
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use engine_support::*;

/// Peers, one after another (for most of them the last bytes and the FIN make one event).
const PEERS: u64 = 20;

#[test]
fn a_fin_that_comes_with_the_last_bytes_is_read_in_the_same_pass() {
    let mut server = start_tcp_server(false, test_config(1000));
    let addr = server.tcp_addr.expect("a TCP listener");
    // A SOFH header announcing a 64-byte SBE frame, and 10 of its remaining 58 bytes.
    let mut half = Vec::new();
    half.extend_from_slice(&64u32.to_be_bytes());
    half.extend_from_slice(&0xEB50u16.to_be_bytes());
    half.extend_from_slice(&[0u8; 10]);
    for peer in 1..=PEERS {
        let mut socket = TcpStream::connect(addr).expect("connect");
        socket.set_nodelay(true).expect("nodelay");
        // The first bytes are read in a pass of their own (the engine has accepted and read
        // the connection by then; a pass at accept drains whatever is there); then the rest
        // and the FIN back to back, into one readiness event.
        socket.write_all(&half[..3]).expect("write");
        std::thread::sleep(Duration::from_millis(20));
        socket.write_all(&half[3..]).expect("write");
        socket.shutdown(Shutdown::Write).expect("FIN");
        let start = Instant::now();
        loop {
            let faults = server
                .engine
                .metrics()
                .counters()
                .framing_faults
                .load(Ordering::Relaxed);
            if faults >= peer {
                break;
            }
            assert!(
                start.elapsed() < GUARD,
                "peer {peer}: its cut-off frame was never seen ({faults} faults)"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}
