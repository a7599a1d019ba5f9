//! Operations in `fixp-demo`: the admin endpoint of `serve` (on by default), the `status`
//! subcommand that reads it (and ends a session through it), and the `tracing` subscriber
//! every subcommand installs (`--log-level`, else `RUST_LOG`, else `info`; to stderr) with a
//! logger thread per engine draining the engine's log records.

use std::io::{IsTerminal, Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use fixp_ws::engine::admin::parse_session_id;
use fixp_ws::engine::{AdminEndpoint, AdminServer, EngineHandle, LoggerThread, Strategy};
use tracing_subscriber::EnvFilter;

/// Where `serve` and `status` meet by default: a Unix socket in the working directory.
pub const DEFAULT_ENDPOINT: &str = "fixp-demo.sock";

/// How long `status` waits for the endpoint.
const TIMEOUT: Duration = Duration::from_secs(10);

/// The admin endpoint options of `serve`.
#[derive(clap::Args, Debug, Clone)]
pub struct AdminArgs {
    /// Admin endpoint: a Unix socket path (made 0600) or a loopback address for HTTP
    /// (e.g. 127.0.0.1:9000, so `curl` works); `fixp-demo status --endpoint` reads it.
    #[arg(long, default_value = DEFAULT_ENDPOINT)]
    pub admin: String,
    /// Serve no admin endpoint.
    #[arg(long)]
    pub no_admin: bool,
}

impl AdminArgs {
    /// The endpoint to serve, if any.
    pub fn endpoint(&self) -> Option<AdminEndpoint> {
        (!self.no_admin).then(|| AdminEndpoint::parse(&self.admin))
    }
}

/// `fixp-demo status`: every session of a running exchange, or end one.
#[derive(clap::Args, Debug, Clone)]
pub struct StatusArgs {
    /// The exchange's admin endpoint: its Unix socket path or loopback HTTP address.
    #[arg(long, default_value = DEFAULT_ENDPOINT)]
    pub endpoint: String,
    /// Print the JSON document (engine and sessions) instead of the table.
    #[arg(long)]
    pub json: bool,
    /// End this session (its SessionId): finalize it (default) or terminate it.
    #[arg(long, value_name = "SESSION_ID")]
    pub end: Option<String>,
    /// With --end: graceful finalization (FinishedSending, then Close 1000 once the client
    /// finished its flow too).
    #[arg(long, requires = "end", conflicts_with = "terminate")]
    pub finalize: bool,
    /// With --end: unbind now with Close 1000 (the client may re-establish).
    #[arg(long, requires = "end")]
    pub terminate: bool,
}

/// Installs the `tracing` subscriber: `level` (an `EnvFilter` directive such as `info` or
/// `fixp_ws::session=debug,warn`), else `RUST_LOG`, else `info`; events go to stderr.
pub fn init_logging(level: Option<&str>) -> Result<(), String> {
    let filter = match level {
        Some(directives) => EnvFilter::try_new(directives)
            .map_err(|e| format!("--log-level {directives:?}: {e}"))?,
        None => EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr)
        .try_init()
        .map_err(|e| format!("logging: {e}"))
}

/// What keeps an engine's operations running: its logger thread and admin endpoint. Drop it
/// after the engine stopped (the logger then drains the last records).
#[derive(Debug, Default)]
pub struct Ops {
    admin: Option<AdminServer>,
    logger: Option<LoggerThread>,
}

impl Ops {
    /// Stops the admin endpoint, then drains the logs.
    pub fn stop(self) {
        if let Some(admin) = self.admin {
            admin.stop();
        }
        if let Some(logger) = self.logger {
            logger.stop();
        }
    }
}

/// Starts `engine`'s logger thread and, with `endpoint`, its admin endpoint.
pub fn attach<S: Strategy>(
    engine: &mut EngineHandle<S>,
    endpoint: Option<&AdminEndpoint>,
) -> Result<Ops, String> {
    let logger = match engine.take_log_drain() {
        Some(drain) => Some(
            drain
                .spawn(Duration::from_millis(10))
                .map_err(|e| format!("logger thread: {e}"))?,
        ),
        None => None,
    };
    let admin = match endpoint {
        Some(endpoint) => {
            let metrics = engine.metrics().clone();
            let admin = AdminServer::start(endpoint, engine.ops().clone(), Some(metrics))
                .map_err(|e| e.to_string())?;
            let shown = match admin.endpoint() {
                AdminEndpoint::Unix(path) => path.display().to_string(),
                AdminEndpoint::Http(addr) => addr.to_string(),
            };
            println!(
                "admin endpoint {} (fixp-demo status --endpoint {shown})",
                admin.endpoint()
            );
            Some(admin)
        }
        None => None,
    };
    Ok(Ops { admin, logger })
}

/// Runs `fixp-demo status`.
pub fn run_status(args: &StatusArgs) -> Result<(), String> {
    let endpoint = AdminEndpoint::parse(&args.endpoint);
    let (method, path) = match &args.end {
        Some(id) => {
            let id = parse_session_id(id).ok_or_else(|| format!("{id}: not a SessionId"))?;
            let action = if args.terminate {
                "terminate"
            } else {
                "finalize"
            };
            ("POST", format!("/sessions/{id}/{action}"))
        }
        None if args.json => ("GET", "/sessions".to_owned()),
        None => ("GET", "/sessions.txt".to_owned()),
    };
    let (status, body) = request(&endpoint, method, &path)?;
    if args.end.is_some() {
        print_end(status, &body)
    } else if (200..300).contains(&status) {
        print!("{body}");
        if args.json {
            println!();
        }
        Ok(())
    } else {
        Err(format!("{endpoint}: HTTP {status}: {body}"))
    }
}

/// The outcome of an end request, as a line.
fn print_end(status: u16, body: &str) -> Result<(), String> {
    let reply: serde_json::Value =
        serde_json::from_str(body).map_err(|e| format!("bad answer ({e}): {body}"))?;
    let field = |name: &str| reply[name].as_str().unwrap_or("?").to_owned();
    if (200..300).contains(&status) {
        println!(
            "{} {}: {}",
            field("action"),
            field("session_id"),
            field("outcome")
        );
        Ok(())
    } else {
        let why = reply["outcome"]
            .as_str()
            .or_else(|| reply["error"].as_str())
            .unwrap_or("?");
        Err(format!(
            "{} {}: {why} (HTTP {status})",
            field("action"),
            field("session_id")
        ))
    }
}

/// One HTTP request to the endpoint: (status, body).
fn request(endpoint: &AdminEndpoint, method: &str, path: &str) -> Result<(u16, String), String> {
    let request =
        format!("{method} {path} HTTP/1.1\r\nHost: fixp-demo\r\nContent-Length: 0\r\n\r\n");
    let unreachable =
        |e: std::io::Error| format!("{endpoint}: {e} (is `fixp-demo serve` running?)");
    let response = match endpoint {
        AdminEndpoint::Unix(socket) => {
            exchange(UnixStream::connect(socket).map_err(unreachable)?, &request)
        }
        AdminEndpoint::Http(addr) => exchange(
            TcpStream::connect_timeout(addr, TIMEOUT).map_err(unreachable)?,
            &request,
        ),
    }
    .map_err(|e| format!("{endpoint}: {e}"))?;
    parse_response(&response).ok_or_else(|| format!("{endpoint}: malformed answer"))
}

/// Something both socket kinds can do.
trait Timed: Read + Write {
    fn set_timeouts(&self) -> std::io::Result<()>;
}

impl Timed for UnixStream {
    fn set_timeouts(&self) -> std::io::Result<()> {
        self.set_read_timeout(Some(TIMEOUT))?;
        self.set_write_timeout(Some(TIMEOUT))
    }
}

impl Timed for TcpStream {
    fn set_timeouts(&self) -> std::io::Result<()> {
        self.set_read_timeout(Some(TIMEOUT))?;
        self.set_write_timeout(Some(TIMEOUT))
    }
}

/// Sends the request and reads the answer to the end (the server closes the connection).
fn exchange(mut stream: impl Timed, request: &str) -> std::io::Result<Vec<u8>> {
    stream.set_timeouts()?;
    stream.write_all(request.as_bytes())?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response)?;
    Ok(response)
}

/// (status, body) of an HTTP/1.1 answer.
fn parse_response(bytes: &[u8]) -> Option<(u16, String)> {
    let mut headers = [httparse::EMPTY_HEADER; 16];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(head) = response.parse(bytes).ok()? else {
        return None;
    };
    let body = String::from_utf8_lossy(bytes.get(head..)?).into_owned();
    Some((response.code?, body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_parse_into_status_and_body() {
        let answer = b"HTTP/1.1 202 Accepted\r\nContent-Length: 2\r\n\r\n{}";
        assert_eq!(parse_response(answer), Some((202, "{}".to_owned())));
        assert_eq!(parse_response(b"HTTP/1.1 20"), None);
    }
}
