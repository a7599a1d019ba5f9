//! Runs the `fixp-demo run` binary with a small order count: exchange and trader in one
//! process over TLS WebSocket on loopback, SBE then JSON, each finalized with Close 1000; with
//! the strategies inline (the default) and on strategy threads.

use std::process::Command;

fn demo_run(extra: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_fixp-demo"))
        .args(["run", "-n", "5", "--print", "50", "--idle", "block"])
        .args(extra)
        .output()
        .expect("run fixp-demo");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    for label in ["sbe", "json"] {
        // 5 orders: two crossing pairs (New + 2 Trades each), a resting buy (New, then
        // Canceled on request) and a cancel of an unknown order (OrderCancelReject).
        let summary = format!(
            "[{label}] summary: 5 orders, 2 cancels -> 9 reports (ExecutionReport New=3 Trade=4 Canceled=1; OrderCancelReject=1)"
        );
        assert!(
            stdout.contains(&summary),
            "missing {summary:?} in:\n{stdout}"
        );
        assert!(stdout.contains(&format!("[{label}] session finalized (Close 1000)")));
    }
    assert!(stdout.contains("OrderCancelReject clOrdId=nosuch orderId=None Rejected UnknownOrder"));
    assert!(stdout.contains("exchange: 2 sessions, 10 orders, 4 cancels, 18 reports"));
    stdout
}

#[test]
fn demo_run_trades_inline_in_both_encodings_and_exits_zero() {
    let stdout = demo_run(&[]);
    for label in ["sbe", "json"] {
        // 7 messages out (5 orders, 2 cancels), each timed read → strategy on the way in at
        // the exchange; inline sends have no queue stage.
        assert!(
            stdout.contains(&format!("[{label}] queue->session->write  no samples")),
            "{stdout}"
        );
        assert!(
            stdout.contains(&format!(
                "[{label}] session counters: messages_out=7 messages_in=9 "
            )),
            "{stdout}"
        );
    }
}

#[test]
fn demo_run_trades_on_strategy_threads_and_exits_zero() {
    let stdout = demo_run(&["--strategy", "thread"]);
    for label in ["sbe", "json"] {
        assert!(
            stdout.contains(&format!("[{label}] queue->session->write  n=7 ")),
            "{stdout}"
        );
    }
}

#[test]
fn demo_run_latency_mode_times_every_order() {
    let output = Command::new(env!("CARGO_BIN_EXE_fixp-demo"))
        .args([
            "run",
            "-n",
            "6",
            "--print",
            "0",
            "--idle",
            "block",
            "--latency",
        ])
        .output()
        .expect("run fixp-demo");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}");
    for label in ["sbe", "json"] {
        assert!(
            stdout.contains(&format!("[{label}] order->first report   n=6 ")),
            "{stdout}"
        );
        assert!(stdout.contains(&format!(
            "[{label}] summary: 6 orders, 1 cancels -> 10 reports"
        )));
    }
}
