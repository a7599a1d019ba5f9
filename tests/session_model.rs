//! Model test: a client and a server session back to back through a simulated link that drops
//! connections (losing what is in flight) and carries duplicates and reorders from a retrying
//! peer, under thousands of seeded random schedules.
//!
//! Client → server is Idempotent: never delivered twice, every lost number reported as a gap
//! (NotApplied). Server → client is Recoverable: every message delivered exactly once, in
//! order. A second schedule runs both directions Recoverable.

mod session_support;

use std::collections::{BTreeSet, VecDeque};

use fixp_ws::codec::fixp::FlowType;
use fixp_ws::codec::{FixpMessage, FrameKind};
use fixp_ws::session::{ConnectionId, Event, MemoryStore, Session, SessionState, Transmit};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use session_support::*;

enum Frame {
    Data(Vec<u8>),
    Close(u16),
}

struct Model {
    rng: SmallRng,
    client_flow: FlowType,
    client: Session<TestEncoding, MemoryStore>,
    server: TestAcceptor,
    conn: u64,
    connected: bool,
    c2s: VecDeque<Frame>,
    s2c: VecDeque<Frame>,
    now: u64,
    server_app_seqs: BTreeSet<u64>,
    client_delivered: Vec<u64>,
    client_not_applied: Vec<(u64, u32)>,
    server_delivered: Vec<u64>,
    server_gaps: Vec<(u64, u32)>,
}

impl Model {
    fn new(seed: u64, client_flow: FlowType) -> Self {
        Model {
            rng: SmallRng::seed_from_u64(seed),
            client_flow,
            client: client(client_flow, sid((seed % 250) as u8 + 1)),
            server: acceptor(FlowType::Recoverable),
            conn: 0,
            connected: false,
            c2s: VecDeque::new(),
            s2c: VecDeque::new(),
            now: 1_000_000_000,
            server_app_seqs: BTreeSet::new(),
            client_delivered: Vec::new(),
            client_not_applied: Vec::new(),
            server_delivered: Vec::new(),
            server_gaps: Vec::new(),
        }
    }

    fn connect(&mut self) {
        if !self.connected {
            self.conn += 1;
            self.connected = true;
            self.client.handle_connected(self.now);
        }
    }

    fn drop_link(&mut self) {
        if self.connected {
            self.connected = false;
            self.c2s.clear();
            self.s2c.clear();
            self.client.handle_disconnected(self.now);
            self.server
                .handle_disconnected(self.now, ConnectionId(self.conn));
        }
    }

    fn collect(&mut self) {
        while let Some(t) = self.client.poll_transmit() {
            if self.connected {
                self.c2s.push_back(match t {
                    Transmit::Frame { bytes, .. } => Frame::Data(bytes.to_vec()),
                    Transmit::Close { code, .. } => Frame::Close(code),
                });
            }
        }
        while let Some((conn, t)) = self.server.poll_transmit() {
            if self.connected && conn == ConnectionId(self.conn) {
                self.s2c.push_back(match t {
                    Transmit::Frame { bytes, .. } => Frame::Data(bytes.to_vec()),
                    Transmit::Close { code, .. } => Frame::Close(code),
                });
            }
        }
        self.drain_events();
    }

    fn drain_events(&mut self) {
        while let Some(e) = self.client.poll_event() {
            match e {
                Event::Message { seq, bytes } => {
                    assert_eq!(app_value(bytes), seq, "payload matches its number");
                    self.client_delivered.push(seq);
                }
                Event::NotAppliedReceived { from_seq_no, count } => {
                    self.client_not_applied.push((from_seq_no, count))
                }
                Event::RetransmitRejected { .. } => panic!("store holds everything: {e:?}"),
                Event::Terminated(fixp_ws::session::TerminateReason::Violation(v)) => {
                    panic!("client saw a violation: {v:?}")
                }
                _ => {}
            }
        }
        while let Some((_, e)) = self.server.poll_event() {
            match e {
                Event::Message { seq, bytes } => {
                    assert_eq!(app_value(bytes), seq, "payload matches its number");
                    self.server_delivered.push(seq);
                }
                Event::Gap { from_seq_no, count } => self.server_gaps.push((from_seq_no, count)),
                Event::Terminated(fixp_ws::session::TerminateReason::Violation(v)) => {
                    panic!("server saw a violation: {v:?}")
                }
                _ => {}
            }
        }
    }

    fn deliver_c2s(&mut self) {
        match self.c2s.pop_front() {
            Some(Frame::Data(b)) => {
                self.server
                    .handle_frame(self.now, ConnectionId(self.conn), &b, FrameKind::Binary)
            }
            Some(Frame::Close(code)) => {
                self.server
                    .handle_close(self.now, ConnectionId(self.conn), code);
                self.drop_link();
            }
            None => {}
        }
    }

    fn deliver_s2c(&mut self) {
        match self.s2c.pop_front() {
            Some(Frame::Data(b)) => self.client.handle_frame(self.now, &b, FrameKind::Binary),
            Some(Frame::Close(code)) => {
                self.client.handle_close(self.now, code);
                self.drop_link();
            }
            None => {}
        }
    }

    fn server_session(&mut self) -> Option<&mut Session<TestEncoding, MemoryStore>> {
        let id = self.client.session_id();
        self.server.session_mut(id)
    }

    /// A retrying peer: resends one or two recent messages under their old numbers (in a
    /// random order), then returns to its current numbering.
    fn inject_retry(&mut self) {
        let next = self.client.status().next_seq_to_send;
        if self.client_flow != FlowType::Idempotent
            || !self.connected
            || self.client.state() != SessionState::Established
            || next < 3
        {
            return;
        }
        let a = self.rng.random_range(next.saturating_sub(6).max(1)..next);
        let b = self.rng.random_range(next.saturating_sub(6).max(1)..next);
        for k in [a, b] {
            self.c2s
                .push_back(Frame::Data(enc(&FixpMessage::Sequence { next_seq_no: k })));
            self.c2s.push_back(Frame::Data(app(k)));
        }
        self.c2s.push_back(Frame::Data(enc(&FixpMessage::Sequence {
            next_seq_no: next,
        })));
    }

    fn step(&mut self) {
        let roll = self.rng.random_range(0..100);
        match roll {
            0..=34 => self.deliver_c2s(),
            35..=69 => self.deliver_s2c(),
            70..=77 => {
                let next = self.client.status().next_seq_to_send;
                if let Ok(seq) = self.client.send(self.now, &app(next)) {
                    assert_eq!(seq, next);
                }
            }
            78..=85 => {
                let now = self.now;
                if let Some(s) = self.server_session() {
                    let next = s.status().next_seq_to_send;
                    if s.send(now, &app(next)).is_ok() {
                        self.server_app_seqs.insert(next);
                    }
                }
            }
            86..=90 => {
                self.now += self.rng.random_range(0..700) * MS;
                self.client.handle_timeout(self.now);
                self.server.handle_timeout(self.now);
                // A deadline in the past would make an engine spin.
                let now = self.now;
                assert!(self.client.next_deadline().is_none_or(|d| d > now));
                assert!(self.server.next_deadline().is_none_or(|d| d > now));
            }
            91..=92 => self.drop_link(),
            93..=96 => self.connect(),
            _ => self.inject_retry(),
        }
        self.collect();
    }

    fn heal(&mut self) {
        for _ in 0..400 {
            self.connect();
            self.collect();
            while !self.c2s.is_empty() || !self.s2c.is_empty() {
                self.deliver_c2s();
                self.deliver_s2c();
                self.collect();
            }
            let client_next = self.client.status().next_seq_to_send;
            let client_expected = self.client.status().next_seq_expected;
            let done = self.client.state() == SessionState::Established
                && self.server_session().is_some_and(|s| {
                    s.status().next_seq_expected == client_next
                        && s.status().next_seq_to_send == client_expected
                });
            if done {
                return;
            }
            self.now += 300 * MS;
            self.client.handle_timeout(self.now);
            self.server.handle_timeout(self.now);
            self.collect();
        }
        panic!(
            "did not heal: client {:?}, server {:?}",
            self.client.status(),
            self.server_session().map(|s| s.status())
        );
    }

    fn check(&mut self) {
        // Recoverable server → client: every app message exactly once, in order.
        let expected: Vec<u64> = self.server_app_seqs.iter().copied().collect();
        assert_eq!(self.client_delivered, expected, "exactly once, in order");
        if self.client_flow == FlowType::Recoverable {
            let client_next = self.client.status().next_seq_to_send;
            let all: Vec<u64> = (1..client_next).collect();
            assert_eq!(
                self.server_delivered, all,
                "client flow: exactly once, in order"
            );
            assert!(self.server_gaps.is_empty());
            return;
        }
        // Idempotent client → server: never twice; every missing number reported as a gap.
        let delivered: BTreeSet<u64> = self.server_delivered.iter().copied().collect();
        assert_eq!(
            delivered.len(),
            self.server_delivered.len(),
            "delivered twice"
        );
        assert!(self.server_delivered.windows(2).all(|w| w[0] < w[1]));
        let mut gaps = BTreeSet::new();
        for &(from, count) in &self.server_gaps {
            for s in from..from + u64::from(count) {
                assert!(gaps.insert(s), "gap {s} reported twice");
            }
        }
        assert!(
            delivered.is_disjoint(&gaps),
            "a number both delivered and reported lost"
        );
        let client_next = self.client.status().next_seq_to_send;
        let all: BTreeSet<u64> = (1..client_next).collect();
        let covered: BTreeSet<u64> = delivered.union(&gaps).copied().collect();
        assert_eq!(covered, all, "every number delivered or reported");
        // The client learned about every gap through NotApplied (on the Recoverable flow).
        let mut told = BTreeSet::new();
        for &(from, count) in &self.client_not_applied {
            told.extend(from..from + u64::from(count));
        }
        assert_eq!(told, gaps);
    }
}

#[test]
fn lossy_link_recoverable_exactly_once_in_order_idempotent_at_most_once_with_gaps_reported() {
    let mut sent = 0;
    let mut drops = 0;
    for seed in 0..4000u64 {
        let mut m = Model::new(seed, FlowType::Idempotent);
        m.connect();
        for _ in 0..250 {
            let was = m.connected;
            m.step();
            if was && !m.connected {
                drops += 1;
            }
        }
        m.heal();
        m.check();
        sent += m.server_app_seqs.len();
    }
    // The schedule really exercised the paths.
    assert!(sent > 20_000, "{sent}");
    assert!(drops > 2_000, "{drops}");
}

#[test]
fn lossy_link_recoverable_both_ways_exactly_once_in_order() {
    let mut sent = 0;
    for seed in 0..1500u64 {
        let mut m = Model::new(seed, FlowType::Recoverable);
        m.connect();
        for _ in 0..250 {
            m.step();
        }
        m.heal();
        m.check();
        sent += m.server_delivered.len() + m.client_delivered.len();
    }
    assert!(sent > 15_000, "{sent}");
}
