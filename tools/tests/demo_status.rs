//! `fixp-demo status` against a `fixp-demo serve` child process: a client session made with
//! the library shows up in the table and the JSON with its numbers, is finalized from the
//! command line, and the client sees the finalization. The exchange's logs (stderr) show the
//! connect and the admin command.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::SessionId;
use fixp_ws::engine::{
    EngineBuilder, EngineConfig, FromEngine, IdleMode, InitiatorConfig, SessionHandle, ToEngine,
    Transport,
};
use fixp_ws::session::{Event, SessionConfig, SessionState};
use fixp_ws::transport::{
    client_config_from_ca_file, ClientTarget, Subprotocol, WireEncoding, WsOptions,
};

/// Safety net against hangs only.
const GUARD: Duration = Duration::from_secs(30);

/// The exchange child; killed when dropped.
struct Exchange {
    child: Child,
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `fixp-demo serve` in `dir`; returns it, its address and its stdout (after the
/// "listening" line).
fn serve(dir: &Path) -> (Exchange, SocketAddr, BufReader<ChildStdout>) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_fixp-demo"))
        .current_dir(dir)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--auth",
            "none",
            "--insecure-self-signed",
            "--idle",
            "block",
            "--seconds",
            "120",
            "--log-level",
            "info",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn fixp-demo serve");
    let stdout = child.stdout.take().expect("stdout");
    let exchange = Exchange { child };
    let mut lines = BufReader::new(stdout);
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < GUARD, "the exchange never listened");
        let mut line = String::new();
        assert!(
            lines.read_line(&mut line).expect("read") > 0,
            "the exchange exited"
        );
        if let Some(rest) = line.trim().strip_prefix("exchange listening on wss://") {
            let authority = rest.split('/').next().expect("authority");
            let addr = authority.parse().expect("address");
            return (exchange, addr, lines);
        }
    }
}

/// Runs `fixp-demo status ARGS` in `dir`: (success, stdout, stderr).
fn status(dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_fixp-demo"))
        .current_dir(dir)
        .arg("status")
        .args(args)
        .output()
        .expect("run fixp-demo status");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A client session to the exchange, made with the library.
fn client(addr: SocketAddr, ca: &Path) -> (fixp_ws::engine::EngineHandle, SessionHandle) {
    let mut config = EngineConfig {
        idle: IdleMode::Block(Duration::from_millis(20)),
        ..EngineConfig::default()
    };
    config.ops.log_capacity = 0;
    let mut builder = EngineBuilder::new(config).expect("engine");
    let handle = builder
        .initiate(InitiatorConfig {
            target: ClientTarget {
                addr,
                host: "localhost".into(),
                tls: Some(client_config_from_ca_file(ca).expect("ca")),
            },
            transport: Transport::WebSocket(WsOptions {
                path: "/fixp".into(),
                subprotocols: vec![Subprotocol::FixpSbe],
                ..WsOptions::default()
            }),
            encoding: WireEncoding::Sbe,
            session: SessionConfig {
                flow: FlowType::Idempotent,
                keepalive_interval_ms: 1000,
                lapse_multiple: 10,
                ..SessionConfig::default()
            },
            session_id: SessionId::from_random_bytes(*b"demo-status-test"),
            journal: None,
        })
        .expect("initiate");
    (builder.start().expect("start"), handle)
}

/// Polls the client until `done` holds for an event.
fn wait_event(handle: &mut SessionHandle, what: &str, done: impl Fn(&Event<'static>) -> bool) {
    let start = Instant::now();
    loop {
        while let Some(item) = handle.poll() {
            if let FromEngine::Event(event) = item {
                if done(&event) {
                    return;
                }
            }
        }
        assert!(start.elapsed() < GUARD, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Runs `status` until its output satisfies `done`.
fn status_until(dir: &Path, args: &[&str], what: &str, done: impl Fn(&str) -> bool) -> String {
    let start = Instant::now();
    loop {
        let (ok, out, err) = status(dir, args);
        assert!(ok, "status failed: {err}");
        if done(&out) {
            return out;
        }
        assert!(
            start.elapsed() < GUARD,
            "timed out waiting for {what}:\n{out}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn status_lists_a_live_session_of_a_served_exchange_and_finalizes_it() {
    let dir = tempfile::tempdir().expect("dir");
    let (mut exchange, addr, _stdout) = serve(dir.path());
    assert!(dir.path().join("fixp-demo.sock").exists(), "admin socket");
    let (mut engine, mut handle) = client(addr, &dir.path().join("fixp-demo-cert.pem"));
    wait_event(&mut handle, "established", |e| {
        *e == Event::StateChanged(SessionState::Established)
    });
    let id = handle.session_id().to_string();

    let table = status_until(dir.path(), &[], "the session in the table", |out| {
        out.lines()
            .any(|l| l.starts_with(&id) && l.contains("Established"))
    });
    let row = table.lines().find(|l| l.starts_with(&id)).expect("row");
    assert!(row.contains("server"), "{row}");
    assert!(row.contains("Recoverable/Idempotent"), "{row}");
    assert!(row.contains("wss"), "{row}");
    assert!(table.contains("1 session(s)"), "{table}");
    assert!(table.contains("latency inbound"), "{table}");

    let (ok, json, err) = status(dir.path(), &["--json"]);
    assert!(ok, "{err}");
    let listing: serde_json::Value = serde_json::from_str(&json).expect("JSON");
    let session = &listing["sessions"][0];
    assert_eq!(session["session_id"], id.as_str());
    assert_eq!(session["state"], "Established");
    assert_eq!(session["next_seq_to_send"], 1);
    assert_eq!(session["next_seq_expected"], 1);
    assert!(session["peer"]
        .as_str()
        .is_some_and(|p| p.starts_with("127.0.0.1:")));

    let (ok, out, err) = status(dir.path(), &["--end", &id, "--finalize"]);
    assert!(ok, "{err}");
    assert_eq!(out.trim(), format!("finalize {id}: finalizing"));
    // The client finishes its flow too; both ends finalize.
    handle.command(ToEngine::Finalize).expect("queued");
    wait_event(&mut handle, "finalized", |e| *e == Event::Finalized);
    status_until(dir.path(), &[], "the session gone", |out| {
        out.contains("0 session(s)")
    });
    let (ok, _, err) = status(dir.path(), &["--end", &id]);
    assert!(!ok, "a finalized session cannot be ended again");
    assert!(err.contains("unknown_session"), "{err}");
    let (ok, _, err) = status(dir.path(), &["--end", "not-an-id"]);
    assert!(!ok);
    assert!(err.contains("not a SessionId"), "{err}");
    let (ok, _, err) = status(dir.path(), &["--endpoint", "nowhere.sock"]);
    assert!(!ok);
    assert!(err.contains("is `fixp-demo serve` running?"), "{err}");

    engine.shutdown();
    engine.join().expect("client engine");
    let _ = exchange.child.kill();
    let _ = exchange.child.wait();
    let mut logs = String::new();
    if let Some(mut stderr) = exchange.child.stderr.take() {
        let _ = stderr.read_to_string(&mut logs);
    }
    assert!(logs.contains("connected"), "{logs}");
    assert!(logs.contains(&format!("session_id={id}")), "{logs}");
    assert!(logs.contains("end session"), "{logs}");
    assert!(logs.contains("outcome=\"finalizing\""), "{logs}");
}
