//! `fixp-demo`'s TLS-by-default and authentication options, through the binary: `serve`
//! refuses to start without a certificate (unless `--insecure-self-signed`), without an
//! `--auth` choice, or without a secret for token/HMAC; a trader signing with the right HMAC
//! key (from the environment) trades, one with another key is refused with Credentials.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn demo(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fixp-demo"));
    command.args(args);
    command
}

fn failure(output: &Output, expected: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains(expected),
        "missing {expected:?} in:\n{stderr}"
    );
}

#[test]
fn serve_refuses_to_start_without_a_certificate_an_auth_choice_or_a_secret() {
    let dir = tempfile::tempdir().expect("dir");
    let cert_out = dir.path().join("cert.pem");
    let cert_out = cert_out.to_str().expect("path");
    let base = ["serve", "--addr", "127.0.0.1:0", "--cert-out", cert_out];
    let run = |extra: &[&str]| demo(&base).args(extra).output().expect("run fixp-demo");
    failure(&run(&[]), "--auth <AUTH>");
    failure(
        &run(&["--auth", "none"]),
        "serve needs --cert and --key (or --insecure-self-signed for development)",
    );
    failure(
        &run(&["--auth", "hmac", "--insecure-self-signed"]),
        "--auth hmac needs --secret-file PATH or --secret-env NAME",
    );
    failure(
        &run(&[
            "--auth",
            "token",
            "--secret-env",
            "FIXP_DEMO_NO_SUCH_VARIABLE",
        ]),
        "FIXP_DEMO_NO_SUCH_VARIABLE",
    );
    assert!(!Path::new(cert_out).exists(), "nothing written on refusal");
}

/// A running `serve` and the port it listens on (killed on drop).
struct Exchange(Child, u16);

impl Drop for Exchange {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_exchange(args: &[&str]) -> Exchange {
    // Sessions in memory: these tests are about admission, not the journal.
    let mut child = demo(args)
        .arg("--no-journal")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn serve");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let port = loop {
        let line = lines
            .next()
            .expect("serve exited before listening")
            .expect("read");
        if let Some(rest) = line.strip_prefix("exchange listening on wss://127.0.0.1:") {
            let port = rest.split('/').next().expect("port");
            break port.parse::<u16>().expect("port number");
        }
    };
    // Keep draining its output so it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Exchange(child, port)
}

#[test]
fn hmac_signed_traders_trade_and_others_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8\n").expect("key");
    let cert = dir.path().join("cert.pem");
    let exchange = start_exchange(&[
        "serve",
        "--addr",
        "127.0.0.1:0",
        "--insecure-self-signed",
        "--cert-out",
        cert.to_str().expect("path"),
        "--auth",
        "hmac",
        "--key-id",
        "desk-1",
        "--secret-file",
        key_file.to_str().expect("path"),
        "--idle",
        "block",
        "--no-admin",
    ]);
    let url = format!("wss://localhost:{}/fixp", exchange.1);
    let connect = |key: &str| {
        demo(&[
            "connect",
            "--url",
            &url,
            "--ca",
            cert.to_str().expect("path"),
        ])
        .args(["--auth", "hmac", "--key-id", "desk-1"])
        .args([
            "--secret-env",
            "FIXP_DEMO_TEST_KEY",
            "-n",
            "3",
            "--idle",
            "block",
        ])
        .env("FIXP_DEMO_TEST_KEY", key)
        .output()
        .expect("run connect")
    };
    let signed = connect("AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
    let stdout = String::from_utf8_lossy(&signed.stdout);
    assert!(signed.status.success(), "{stdout}");
    assert!(stdout.contains("[sbe] summary: 3 orders"), "{stdout}");
    let other_key = connect("HyAhIiMkJSYnKCkqKywtLi8wMTIzNDU2Nzg5Ojs8PT4");
    failure(&other_key, "negotiation rejected: Credentials");
}
