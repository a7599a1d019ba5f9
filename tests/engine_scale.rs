//! Many sessions on one engine thread each side: 1 000 inline initiators on one client engine
//! against one inline acceptor engine over loopback `ws://`. Every session is established,
//! trades three orders one at a time, finalizes, and is forgotten by the server; nothing is
//! lost or misrouted among them. (How latency scales with the session count is a benchmark,
//! not a test.)

mod engine_support;

use engine_support::*;
use fixp_ws::codec::fixp::FlowType;
use fixp_ws::engine::{Context, EngineBuilder, EngineConfig, InboundMessage, SessionKey, Strategy};
use fixp_ws::session::{Event, SessionConfig, SessionState};
use fixp_ws::transport::WireEncoding;

const ORDERS: u64 = 3;

/// Sessions wanted; fewer if the process may not open two sockets per session (its soft
/// limit of open files, from `/proc/self/limits`).
fn session_count() -> usize {
    const WANTED: usize = 1000;
    let fds = std::fs::read_to_string("/proc/self/limits")
        .ok()
        .and_then(|limits| {
            let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
            line.split_whitespace().nth(3)?.parse::<usize>().ok()
        })
        .unwrap_or(1024);
    WANTED.min(fds.saturating_sub(100) / 2)
}

/// Small per-session buffers: a thousand sessions on each side.
fn small(session: &mut SessionConfig) {
    session.outbox_capacity = 32;
    session.event_capacity = 32;
    session.recovery_capacity = 8;
    session.max_frame_len = 512;
}

fn config(sessions: usize) -> EngineConfig {
    let mut config = test_config(60_000);
    config.acceptor.capacity = sessions + 8;
    config.acceptor.max_connections = sessions + 8;
    config.acceptor.reject_capacity = 8;
    config.max_connections = sessions + 8;
    // Every session comes from 127.0.0.1 at once: the per-address caps make room for all.
    let cap = u32::try_from(sessions + 8).unwrap_or(u32::MAX);
    config.limits.per_listener.per_address = cap;
    config.limits.per_listener.total = cap;
    config.limits.pre_session.per_address = cap;
    config.limits.pre_session.total = cap;
    config.retransmit_capacity = 8;
    config.queue_capacity = 8;
    small(&mut config.acceptor.session);
    config
}

#[derive(Default, Debug)]
struct ServerLog {
    /// Orders per session (a key's entry is reused once its session is forgotten; the key's
    /// generation tells them apart).
    orders: std::collections::HashMap<SessionKey, u64>,
    freed: usize,
}

/// Answers each order with a report encoded in place; counts per session.
struct Answer {
    log: Shared<ServerLog>,
}

impl Strategy for Answer {
    fn on_session(&mut self, _ctx: &mut Context<'_>, session: SessionKey) {
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        assert!(log.orders.insert(session, 0).is_none(), "a fresh key");
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        let sent = ctx.send_with(message.session, |slot| {
            encode_report(message.bytes, WireEncoding::Sbe, slot)
        });
        assert!(sent.is_ok(), "{sent:?}");
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        *log.orders.entry(message.session).or_default() += 1;
    }

    fn on_session_freed(&mut self, _ctx: &mut Context<'_>, _session: SessionKey) {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).freed += 1;
    }
}

#[derive(Default, Debug)]
struct ClientLog {
    /// Per session: reports received, in order of the order numbers they answer.
    reports: Vec<Vec<u64>>,
    finalized: usize,
}

/// Each session sends order `k * 1000 + i` (session k, order i) one at a time, then
/// finalizes.
struct Traders {
    log: Shared<ClientLog>,
}

fn number(session: SessionKey, i: u64) -> u64 {
    session.index() as u64 * 1000 + i
}

impl Strategy for Traders {
    fn on_event(&mut self, ctx: &mut Context<'_>, session: SessionKey, event: Event<'static>) {
        match event {
            Event::StateChanged(SessionState::Established) => {
                let sent = ctx.send(session, &order(number(session, 0), WireEncoding::Sbe));
                assert!(sent.is_ok(), "{sent:?}");
            }
            Event::Finalized => {
                self.log.lock().unwrap_or_else(|e| e.into_inner()).finalized += 1;
            }
            _ => {}
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, message: InboundMessage<'_>) {
        let n = report_number(message.bytes, WireEncoding::Sbe);
        let k = message.session.index();
        let mut log = self.log.lock().unwrap_or_else(|e| e.into_inner());
        let reports = &mut log.reports[k];
        reports.push(n);
        let next = reports.len() as u64;
        drop(log);
        if next < ORDERS {
            let sent = ctx.send(
                message.session,
                &order(number(message.session, next), WireEncoding::Sbe),
            );
            assert!(sent.is_ok(), "{sent:?}");
        } else {
            assert!(ctx.finalize(message.session).is_ok());
        }
    }
}

#[test]
fn a_thousand_inline_sessions_on_one_engine_thread_each_side() {
    let sessions = session_count();
    println!("{sessions} sessions");
    let server_log = shared::<ServerLog>();
    let mut server = start_inline_server(
        false,
        config(sessions),
        Answer {
            log: server_log.clone(),
        },
    );
    let client_log = shared::<ClientLog>();
    client_log
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .reports
        .resize(sessions, Vec::new());
    let mut builder = EngineBuilder::with_strategy(
        config(sessions),
        Traders {
            log: client_log.clone(),
        },
    )
    .expect("engine");
    for k in 0..sessions {
        let mut session = initiator(
            &server,
            WireEncoding::Sbe,
            FlowType::Idempotent,
            60_000,
            10_000 + k as u64,
        );
        small(&mut session.session);
        let key = builder.initiate_inline(session).expect("initiate");
        assert_eq!(key.index(), k, "initiators take the first keys, in order");
    }
    let mut client = builder.start().expect("start");
    wait_for(&client_log, "every session finalized", |log| {
        log.finalized == sessions
    });
    wait_for(&server_log, "the server forgot every session", |log| {
        log.freed == sessions
    });
    {
        let log = client_log.lock().unwrap_or_else(|e| e.into_inner());
        for (k, reports) in log.reports.iter().enumerate() {
            let expected: Vec<u64> = (0..ORDERS).map(|i| k as u64 * 1000 + i).collect();
            assert_eq!(reports, &expected, "session {k}: its own reports, in order");
        }
    }
    {
        let log = server_log.lock().unwrap_or_else(|e| e.into_inner());
        assert_eq!(log.orders.len(), sessions);
        assert!(
            log.orders.values().all(|&n| n == ORDERS),
            "every order reached the server once, on its own session"
        );
    }
    client.shutdown();
    client.join().expect("client engine");
    server.engine.shutdown();
    server.engine.join().expect("server engine");
}
