//! A foreign client: `tests/py/sofh_client.py` (Python's socket, ssl and struct only) frames SBE
//! with SOFH, negotiates, establishes, sends a Conga NewOrderSingle, reads the ExecutionReport,
//! finalizes and Terminates, against a server built from `SofhListener` + `Acceptor` whose
//! test-local exchange answers each order with an ExecutionReport (New). Plain TCP and TLS.
//!
//! The interpreter comes from `FIXP_WS_PYTHON` (set by `tools/test.sh`). Without it the test
//! fails when `CI` is set, and otherwise prints a skip note.

mod python_support;
mod tcp_support;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use fixp_ws::codec::conga::CongaMessage;
use fixp_ws::transport::ReadStatus;
use python_support::python;
use tcp_support::Net;

/// Serves one run of the Python client; returns the server's state and the client's output.
fn serve_python_client(python: &str, tls: bool) -> (Net, Output) {
    let stop = Arc::new(AtomicBool::new(false));
    let (ready_tx, ready_rx) = mpsc::channel();
    let server_stop = Arc::clone(&stop);
    let server = std::thread::spawn(move || {
        let mut net = Net::new(tls);
        net.exchange = true;
        net.finalize_when_peer_finishes = true;
        ready_tx
            .send((net.addr, net.cert_pem.clone()))
            .expect("ready");
        while !server_stop.load(Ordering::Relaxed) {
            net.step_for(Duration::from_millis(20));
        }
        net
    });
    let (addr, pem) = ready_rx.recv().expect("server ready");
    let ca_path = std::env::temp_dir().join(format!(
        "fixp-ws-tcp-python-{}-{tls}.pem",
        std::process::id()
    ));
    let ca = match pem {
        Some(pem) => {
            std::fs::write(&ca_path, pem).expect("write ca");
            ca_path.display().to_string()
        }
        None => "plain".to_owned(),
    };
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/sofh_client.py");
    let output = Command::new(python)
        .arg(&script)
        .arg("localhost")
        .arg(addr.port().to_string())
        .arg(&ca)
        .output()
        .expect("run the Python client");
    stop.store(true, Ordering::Relaxed);
    let net = server.join().expect("server thread");
    let _ = std::fs::remove_file(&ca_path);
    (net, output)
}

#[test]
fn python_sofh_client_orders_and_terminates_over_tcp_and_tls() {
    let Some(python) = python() else {
        return;
    };
    for tls in [false, true] {
        let (net, output) = serve_python_client(&python, tls);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "python client (tls={tls}) failed: {:?}\n{stdout}\n{stderr}",
            output.status
        );
        assert!(
            stdout.contains("server Terminate reason 'both flows finalized'"),
            "{stdout}"
        );

        assert_eq!(net.server_messages.len(), 1, "one order");
        let (sid, seq, bytes) = &net.server_messages[0];
        assert_eq!(*seq, 1);
        let CongaMessage::NewOrderSingle(order) = CongaMessage::decode_sbe(bytes).expect("order")
        else {
            panic!("not an order");
        };
        assert_eq!(order.cl_ord_id.as_str(), "py1");
        assert_eq!(order.order_qty, 5);
        assert!(net.acceptor.is_finalized(*sid), "finalized both ways");
        assert!(
            net.server_sent.ends_with(&[
                "FinishedSending".to_owned(),
                "Terminate(Finished)".to_owned(),
                "Close 1000".to_owned()
            ]),
            "{:?}",
            net.server_sent
        );
        let end = &net.servers[0];
        assert_eq!(end.error, None, "tls={tls}");
        assert!(matches!(end.closed, Some(ReadStatus::Closed(_))));
        let conn = end.conn.as_ref().expect("server connection");
        assert_eq!(conn.fault(), None);
        assert_eq!(
            conn.stats().frames_in,
            7,
            "Negotiate, Establish, Sequence, order, FinishedSending, FinishedReceiving, Terminate"
        );
    }
}
