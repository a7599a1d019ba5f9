//! `fixp-demo serve --tcp` and `fixp-demo connect --url tcp+tls://` / `tcp://` as child
//! processes: the trader trades and finalizes over FIXP over TCP with SOFH framing (the binding
//! ends with Terminate(Finished) both ways), over TLS and, acknowledged with `--plain-tcp`, in
//! plain text; a `tcp://` URL without the acknowledgement is refused.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

const DEMO: &str = env!("CARGO_BIN_EXE_fixp-demo");

/// A running `fixp-demo serve`, killed when dropped.
struct Exchange {
    child: Child,
    /// The port of its TCP listener.
    tcp_port: u16,
}

impl Drop for Exchange {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `serve` on ephemeral ports with a TCP listener (`extra` flags added) and reads its
/// announcement of the TCP listener (`scheme://address`).
fn serve(cert_out: &std::path::Path, scheme: &str, extra: &[&str]) -> Exchange {
    let mut child = Command::new(DEMO)
        .args(["serve", "--addr", "127.0.0.1:0", "--tcp", "127.0.0.1:0"])
        .args([
            "--auth",
            "none",
            "--insecure-self-signed",
            "--no-admin",
            "--no-journal",
        ])
        .args(["--idle", "block", "--seconds", "60", "--cert-out"])
        .arg(cert_out)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start fixp-demo serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let prefix = format!("exchange listening on {scheme}://127.0.0.1:");
    let tcp_port = loop {
        let line = lines
            .next()
            .expect("serve announced its TCP listener")
            .expect("line");
        if let Some(rest) = line.strip_prefix(&prefix) {
            let port = rest.split_whitespace().next().expect("port");
            break port.parse().expect("port number");
        }
    };
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Exchange { child, tcp_port }
}

fn connect(args: &[&str]) -> (bool, String) {
    let output = Command::new(DEMO)
        .args(["connect", "-n", "5", "--print", "0", "--idle", "block"])
        .args(args)
        .output()
        .expect("run fixp-demo connect");
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), text)
}

const SUMMARY: &str = "[sbe] summary: 5 orders, 2 cancels -> 9 reports (ExecutionReport New=3 Trade=4 Canceled=1; OrderCancelReject=1)";
const ENDING: &str = "[sbe] session finalized (Terminate(Finished) both ways)";

#[test]
fn connect_trades_and_finalizes_over_tcp_tls() {
    let dir = tempfile::tempdir().expect("tempdir");
    let cert = dir.path().join("cert.pem");
    let exchange = serve(&cert, "tcp+tls", &[]);
    let url = format!("tcp+tls://localhost:{}", exchange.tcp_port);
    let ca = cert.display().to_string();
    let (ok, out) = connect(&["--url", &url, "--ca", &ca]);
    assert!(ok, "{out}");
    assert!(out.contains(SUMMARY), "{out}");
    assert!(out.contains(ENDING), "{out}");
    // Without --ca the client verifies against the system roots, which do not hold the
    // exchange's self-signed certificate: no session.
    let (ok, out) = connect(&["--url", &url]);
    assert!(!ok && out.contains("UnknownIssuer"), "{out}");
}

#[test]
fn plain_tcp_trades_only_when_acknowledged() {
    let dir = tempfile::tempdir().expect("tempdir");
    let exchange = serve(&dir.path().join("cert.pem"), "tcp", &["--plain-tcp"]);
    let url = format!("tcp://localhost:{}", exchange.tcp_port);
    let (ok, out) = connect(&["--url", &url]);
    assert!(!ok, "{out}");
    assert!(out.contains("add --plain-tcp to confirm"), "{out}");
    let (ok, out) = connect(&["--url", &url, "--plain-tcp"]);
    assert!(ok, "{out}");
    assert!(out.contains(SUMMARY), "{out}");
    assert!(out.contains(ENDING), "{out}");
}
