//! A foreign client against the engine: `tests/py/sofh_client.py` (Python's socket, ssl and
//! struct only) frames SBE with SOFH, negotiates, establishes, sends a Conga NewOrderSingle and
//! reads the ExecutionReport; unbinds with Terminate(Finished) (answered Finished), reconnects
//! and re-establishes the same session, trades again, finalizes and Terminates. The server is a
//! real engine with a TCP+SOFH listener and an inline strategy answering each order with an
//! ExecutionReport (New). Plain TCP and TLS.
//!
//! The interpreter comes from `FIXP_WS_PYTHON` (set by `tools/test.sh`). Without it the test
//! fails when `CI` is set, and otherwise prints a skip note.

mod engine_support;
mod python_support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::Ordering;

use engine_support::*;
use fixp_ws::codec::conga::CongaMessage;
use fixp_ws::codec::fixp::TerminationCode;
use fixp_ws::session::{Event, SessionState, TerminateReason};
use python_support::python;

#[test]
fn python_sofh_client_trades_unbinds_re_establishes_and_finalizes_against_the_engine() {
    let Some(python) = python() else {
        return;
    };
    for tls in [false, true] {
        let book = shared::<Book>();
        let mut server = start_inline_tcp_server(tls, test_config(1000), Exchange::new(&book));
        let ca_path = std::env::temp_dir().join(format!(
            "fixp-ws-tcp-python-{}-{tls}.pem",
            std::process::id()
        ));
        let ca = match &server.cert_pem {
            Some(pem) => {
                std::fs::write(&ca_path, pem).expect("write ca");
                ca_path.display().to_string()
            }
            None => "plain".to_owned(),
        };
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/sofh_client.py");
        let port = server.tcp_addr.expect("tcp listener").port();
        let output = Command::new(&python)
            .arg(&script)
            .arg("localhost")
            .arg(port.to_string())
            .arg(&ca)
            .output()
            .expect("run the Python client");
        let _ = std::fs::remove_file(&ca_path);
        let stdout = String::from_utf8_lossy(&output.stdout);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            output.status.success(),
            "python client (tls={tls}) failed: {:?}\n{stdout}\n{stderr}",
            output.status
        );
        assert!(
            stdout.contains("unbind answered Finished ('peer terminated (Finished)')"),
            "{stdout}"
        );
        assert!(
            stdout.contains("server Terminate reason 'both flows finalized'"),
            "{stdout}"
        );
        wait_for(&book, "the session finalized and forgotten", |b| {
            !b.freed.is_empty()
        });
        server.engine.shutdown();
        server.engine.join().expect("server engine");

        let b = lock(&book);
        assert!(b.errors.is_empty(), "{:?}", b.errors);
        assert_eq!(b.sessions.len(), 1, "one session over two connections");
        let orders: Vec<(u64, String, i32)> = b
            .orders
            .iter()
            .map(|(_, seq, bytes)| {
                let CongaMessage::NewOrderSingle(order) =
                    CongaMessage::decode_sbe(bytes).expect("order")
                else {
                    panic!("not an order");
                };
                (*seq, order.cl_ord_id.as_str().to_owned(), order.order_qty)
            })
            .collect();
        assert_eq!(orders, [(1, "py1".into(), 5), (2, "py2".into(), 5)]);
        let ends: Vec<&Event<'static>> = b
            .events
            .iter()
            .map(|(_, e)| e)
            .filter(|e| matches!(e, Event::Terminated(_) | Event::Finalized))
            .collect();
        assert_eq!(
            ends,
            [
                &Event::Terminated(TerminateReason::PeerTerminated(TerminationCode::Finished)),
                &Event::Finalized,
                &Event::Terminated(TerminateReason::Finished),
            ],
            "tls={tls}"
        );
        assert_eq!(b.count(&Event::StateChanged(SessionState::Established)), 2);
        let counters = server.engine.metrics().counters();
        assert_eq!(counters.accepted.load(Ordering::Relaxed), 2);
        assert_eq!(counters.framing_faults.load(Ordering::Relaxed), 0);
    }
}
