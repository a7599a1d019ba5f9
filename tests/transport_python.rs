//! A foreign client: Python's `websockets` connects with TLS to an echo server built on this
//! crate's transport, sends binary and text, and closes with 1000.
//!
//! The interpreter comes from `FIXP_WS_PYTHON` (set by `tools/test.sh` from a venv it makes).
//! Without it the test fails when `CI` is set, and otherwise prints a skip note.

mod python_support;
mod transport_support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use fixp_ws::transport::{ReadStatus, WsOptions, CLOSE_NORMAL};
use python_support::python;
use transport_support::Loop;

#[test]
fn python_websockets_client_talks_to_our_tls_echo_server() {
    let Some(python) = python() else {
        return;
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/ws_echo_client.py");
    for subprotocol in ["fixp-sbe", "text"] {
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel();
        let server_stop = Arc::clone(&stop);
        let server = std::thread::spawn(move || {
            let mut lp = Loop::new(true, WsOptions::default());
            lp.echo = true;
            ready_tx
                .send((lp.addr, lp.cert_pem.clone().expect("pem")))
                .expect("ready");
            while !server_stop.load(Ordering::Relaxed) {
                lp.step_for(Duration::from_millis(50));
            }
            lp
        });
        let (addr, pem) = ready_rx.recv().expect("server ready");
        let ca = std::env::temp_dir().join(format!(
            "fixp-ws-python-test-{}-{subprotocol}.pem",
            std::process::id()
        ));
        std::fs::write(&ca, pem).expect("write ca");
        let url = format!("wss://localhost:{}/fixp", addr.port());
        let output = Command::new(&python)
            .arg(&script)
            .arg(&url)
            .arg(&ca)
            .arg(subprotocol)
            .output()
            .expect("run the Python client");
        stop.store(true, Ordering::Relaxed);
        let lp = server.join().expect("server thread");
        let _ = std::fs::remove_file(&ca);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "python client ({subprotocol}) failed: {:?}\n{stdout}\n{stderr}",
            output.status
        );
        let peer = lp.servers.first().expect("one connection");
        assert_eq!(peer.error, None);
        assert_eq!(peer.inbox.len(), 2);
        let Some(ReadStatus::Closed(report)) = peer.closed else {
            panic!("server side not closed");
        };
        assert_eq!(report.peer_code, Some(CLOSE_NORMAL));
    }
}
