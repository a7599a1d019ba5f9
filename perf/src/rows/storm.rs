//! `engine-wss-storm`: `engine-wss`'s round trips on one session while a first peer of the same
//! server engine asks for its whole journal again and again (issue #9's resend storm): the
//! latency of the second session is measured, never asserted.
//!
//! The attacker is a raw FIXP client (SBE over `wss://`, on a thread of its own that sleeps in
//! `epoll_wait` between reads): it negotiates and establishes, trades [`JOURNAL`] orders so the
//! server journals as many ExecutionReports, then sends `RetransmitRequest(1, JOURNAL)`, reads
//! the Retransmission and every replayed report, and asks again at once, until the row ends.
//! The measured session starts only once two full replays were read. The engine's replay caps
//! (`replay_per_session`, `replay_per_cycle`) cut each replay into slices across duty cycles.
//!
//! Owns: the attacker and its thread. May not touch: the engines (built by `engine_wss`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use fixp_ws::codec::fixp::{FlowType, TemplateId};
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::{FixpMessage, FrameKind, Inbound, SessionId};
use fixp_ws::transport::{
    client_config_from_ca_pem, ClientTarget, Subprotocol, WireEncoding, WsOptions,
};

use super::engine_wss::{encode, inline_row_on, order, start_server, Reach, Shape, KEEPALIVE_MS};
use super::err;
use super::inline::Pinger;
use super::websocket::{refused, still_open, ClientConn};
use crate::runner::{Pair, Res, RunConfig, ServerCtx, Wait};

/// Reports the attacker has the server journal, and asks for again and again.
pub const JOURNAL: u32 = 1000;
/// Full replays read before the measured session starts.
const ROUNDS_BEFORE: u64 = 2;

/// What the attacker's thread and the row share.
#[derive(Default)]
struct StormState {
    stop: AtomicBool,
    rounds: AtomicU64,
    failed: AtomicBool,
}

/// The running attacker.
struct Storm {
    state: Arc<StormState>,
    thread: JoinHandle<Res<()>>,
}

impl Storm {
    fn start(reach: &Reach, config: &RunConfig) -> Res<Storm> {
        let state = Arc::new(StormState::default());
        let (reach, shared, cfg) = (reach.clone(), Arc::clone(&state), *config);
        let thread = thread::Builder::new()
            .name("fixp-perf-storm".into())
            .spawn(move || {
                let attacked = attack(&reach, &shared, &cfg);
                if attacked.is_err() {
                    shared.failed.store(true, Ordering::Release);
                }
                attacked
            })
            .map_err(err)?;
        Ok(Storm { state, thread })
    }

    /// Stops the attacker after its current replay; its error, if it had one.
    fn stop(self) -> Res<u64> {
        self.state.stop.store(true, Ordering::Release);
        self.thread
            .join()
            .map_err(|_| "the storm thread panicked".to_string())??;
        Ok(self.state.rounds.load(Ordering::Acquire))
    }
}

/// Epoch nanoseconds (FIXP request timestamps).
fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// A raw FIXP client over a non-blocking WSS connection: sends exactly what it is told,
/// and sorts what it reads into FIXP templates (heartbeats left out) and application messages.
struct Raw {
    client: ClientConn,
    buf: Vec<u8>,
    fixp: VecDeque<TemplateId>,
    apps: u64,
}

impl Raw {
    fn send(&mut self, message: &FixpMessage<'_>) -> Res<()> {
        let n = SbeEncoding::encode_message(message, &mut self.buf).map_err(err)?;
        self.send_buf(n)
    }

    fn send_app(&mut self, k: u64) -> Res<()> {
        let n = encode(&order(k), WireEncoding::Sbe, &mut self.buf)?;
        self.send_buf(n)
    }

    /// Sends the first `n` bytes of the buffer as one binary frame.
    fn send_buf(&mut self, n: usize) -> Res<()> {
        let frame = self.buf.get(..n).unwrap_or(&[]);
        refused(
            self.client
                .conn
                .send(FrameKind::Binary, frame)
                .map_err(err)?,
        )
    }

    /// Reads what is there (waiting for readiness first).
    fn read(&mut self) -> Res<()> {
        self.client.flush()?;
        self.client.wait()?;
        let (fixp, apps) = (&mut self.fixp, &mut self.apps);
        let mut bad = None;
        let status = self
            .client
            .conn
            .read_frames(|_, bytes| match SbeEncoding::decode_frame(bytes) {
                Ok(Inbound::Fixp(FixpMessage::Sequence { .. })) => {}
                Ok(Inbound::Fixp(m)) => fixp.push_back(m.template()),
                Ok(Inbound::Application(_)) => *apps += 1,
                Err(e) => bad = Some(e),
            })
            .map_err(err)?;
        if let Some(e) = bad {
            return Err(format!("the attacker read an undecodable frame: {e}"));
        }
        still_open(status)
    }

    /// Reads until the next FIXP message, which must be `want`.
    fn expect(&mut self, want: TemplateId) -> Res<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(got) = self.fixp.pop_front() {
                return if got == want {
                    Ok(())
                } else {
                    Err(format!("the attacker expected {want:?}, got {got:?}"))
                };
            }
            if Instant::now() > deadline {
                return Err(format!("the attacker got no {want:?}"));
            }
            self.read()?;
        }
    }

    /// Reads until `n` more application messages arrived.
    fn expect_apps(&mut self, n: u64) -> Res<()> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.apps < n {
            if Instant::now() > deadline {
                return Err(format!("the attacker read {} of {n} messages", self.apps));
            }
            self.read()?;
        }
        self.apps -= n;
        Ok(())
    }
}

/// The attacker's thread: logon, build the journal, then replay it until told to stop.
fn attack(reach: &Reach, state: &StormState, config: &RunConfig) -> Res<()> {
    let target = ClientTarget {
        addr: reach.addr,
        host: "localhost".into(),
        tls: Some(client_config_from_ca_pem(&reach.cert_pem).map_err(err)?),
    };
    let options = WsOptions {
        subprotocols: vec![Subprotocol::FixpSbe],
        ..WsOptions::default()
    };
    let blocking = RunConfig {
        wait: Wait::Blocking,
        ..*config
    };
    let mut raw = Raw {
        client: ClientConn::connect(target, &options, &blocking)?,
        buf: vec![0; 2048],
        fixp: VecDeque::new(),
        apps: 0,
    };
    let id = SessionId::from_random_bytes([0x5e; 16]);
    raw.send(&FixpMessage::Negotiate {
        session_id: id,
        timestamp: now_ns(),
        client_flow: FlowType::Idempotent,
        credentials: &[],
    })?;
    raw.expect(TemplateId::NegotiationResponse)?;
    raw.send(&FixpMessage::Establish {
        session_id: id,
        timestamp: now_ns(),
        keepalive_interval: KEEPALIVE_MS,
        next_seq_no: Some(1),
        credentials: &[],
    })?;
    raw.expect(TemplateId::EstablishmentAck)?;
    for k in 0..u64::from(JOURNAL) {
        raw.send_app(k)?;
        raw.expect_apps(1)?;
    }
    while !state.stop.load(Ordering::Acquire) {
        raw.send(&FixpMessage::RetransmitRequest {
            session_id: id,
            timestamp: now_ns(),
            from_seq_no: 1,
            count: JOURNAL,
        })?;
        raw.expect(TemplateId::Retransmission)?;
        raw.expect_apps(u64::from(JOURNAL))?;
        state.rounds.fetch_add(1, Ordering::Release);
    }
    Ok(())
}

/// `engine-wss-storm`: `engine-wss` (SBE, inline, journaled) beside a resend storm.
pub fn storm(config: &RunConfig) -> Res<Pair> {
    let mut server = start_server(config, Shape::SBE, true)?;
    let storm = Storm::start(&server.reach, config)?;
    let state = Arc::clone(&storm.state);
    let serve = std::mem::replace(&mut server.serve, Box::new(|_| Ok(())));
    server.serve = Box::new(move |ctx: &mut ServerCtx| -> Res<()> {
        let failed = loop {
            if !ctx.running() {
                break false;
            }
            if storm.state.failed.load(Ordering::Acquire) {
                break true;
            }
            thread::sleep(Duration::from_millis(1));
        };
        let rounds = storm.stop();
        if failed {
            // The runner's client sees this thread exit and stops the row.
            return rounds.and(Err("the storm stopped".into()));
        }
        let served = serve(ctx);
        let rounds = rounds?;
        eprintln!(
            "fixp-perf: engine-wss-storm: {rounds} full replays of {JOURNAL} messages during the row"
        );
        served
    });
    let Pair {
        server,
        connect,
        followers,
    } = inline_row_on(server, config, Shape::SBE, |c, p, plan| {
        Pinger::new(c, p, plan, WireEncoding::Sbe)
    })?;
    let connect = move || {
        let deadline = Instant::now() + Duration::from_secs(60);
        while state.rounds.load(Ordering::Acquire) < ROUNDS_BEFORE {
            if state.failed.load(Ordering::Acquire) {
                return Err("the storm failed before the measured session started".into());
            }
            if Instant::now() > deadline {
                return Err("the storm never got going".into());
            }
            thread::sleep(Duration::from_millis(1));
        }
        connect()
    };
    Ok(Pair {
        server,
        connect: Box::new(connect),
        followers,
    })
}
