//! A foreign client against the demo-style exchange on the engine: Python's `websockets`
//! negotiates, establishes and trades in Conga-style JSON (`tests/py/fixp_conga_client.py`),
//! then closes with 1000 and sees 1000 back.
//!
//! The interpreter comes from `FIXP_WS_PYTHON` (set by `tools/test.sh` from a venv it makes).
//! Without it the test fails when `CI` is set, and otherwise prints a skip note.

mod engine_support;
mod python_support;

use std::path::PathBuf;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use engine_support::*;
use fixp_ws::codec::conga::CongaMessage;
use fixp_ws::engine::FromEngine;
use fixp_ws::session::{Event, TerminateReason};
use fixp_ws::transport::WireEncoding;
use python_support::python;

#[test]
fn python_conga_style_client_trades_with_the_engine() {
    let Some(python) = python() else {
        return;
    };
    let mut config = test_config(1000);
    config.acceptor.keepalive_range_ms = (100, 60_000);
    let server = start_server(true, config);
    let ca = std::env::temp_dir().join(format!("fixp-ws-engine-python-{}.pem", std::process::id()));
    std::fs::write(&ca, server.cert_pem.as_deref().expect("pem")).expect("write ca");
    let url = format!("wss://localhost:{}/fixp", server.addr.port());

    // A minimal exchange: acknowledge each NewOrderSingle with an ER New.
    let stop = Arc::new(AtomicBool::new(false));
    let exchange_stop = Arc::clone(&stop);
    let mut engine = server.engine;
    let exchange = std::thread::spawn(move || {
        let mut handles = Vec::new();
        let mut log = Vec::new();
        while !exchange_stop.load(Ordering::Relaxed) {
            while let Some(h) = engine.accept() {
                handles.push(h);
            }
            let mut idle = true;
            for h in &mut handles {
                while let Some(item) = h.poll() {
                    idle = false;
                    match item {
                        FromEngine::Message(m) => {
                            assert_eq!(h.encoding(), WireEncoding::Json);
                            let CongaMessage::NewOrderSingle(order) =
                                CongaMessage::decode_json(m.bytes()).expect("Conga JSON order")
                            else {
                                panic!("not an order");
                            };
                            log.push(format!("order {} seq {}", order.cl_ord_id, m.seq));
                            let er = new_report(&order);
                            let mut buf = [0u8; 1024];
                            let n = er.encode_json(&mut buf).expect("encode");
                            send(h, &buf[..n]);
                        }
                        FromEngine::Event(Event::Terminated(reason)) => {
                            log.push(format!("terminated {reason:?}"));
                        }
                        _ => {}
                    }
                }
            }
            if idle {
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        engine.shutdown();
        engine.join().expect("engine");
        log
    });

    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/py/fixp_conga_client.py");
    let output = Command::new(&python)
        .arg(&script)
        .arg(&url)
        .arg(&ca)
        .output()
        .expect("run the Python client");
    stop.store(true, Ordering::Relaxed);
    let log = exchange.join().expect("exchange thread");
    let _ = std::fs::remove_file(&ca);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "python client failed: {:?}\n{stdout}\n{stderr}\nexchange: {log:?}",
        output.status
    );
    assert_eq!(
        log.first().map(String::as_str),
        Some("order py1 seq 1"),
        "{log:?}"
    );
    let closed = format!("terminated {:?}", TerminateReason::PeerClosed(1000));
    assert!(log.contains(&closed), "{log:?}");
}
