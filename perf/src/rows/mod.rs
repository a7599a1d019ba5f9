//! The row registry. A row is a setup function that binds its server on loopback and returns
//! a [`Pair`](crate::runner::Pair); the runner does the rest. To add a row, write its setup
//! (server loop + a [`Driver`](crate::runner::Driver)) and add one [`RowSpec`] to [`ROWS`].
//!
//! Owns: the list of rows, their names and which are floors. May not touch: threads, timing,
//! counting or reporting (the runner and the report own those).

mod engine_tcp;
mod engine_wss;
mod fixp;
mod inline;
mod storm;
mod tcp;
mod websocket;

use crate::runner::{Pair, Res, RunConfig};

/// What a row measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Round trips (flat out or at a fixed rate): latency percentiles.
    Latency,
    /// One way, as fast as the sender can: messages/s confirmed by the receiver.
    Throughput,
}

/// One entry of the registry.
pub struct RowSpec {
    /// The name on the command line and in every output.
    pub name: &'static str,
    /// What it measures.
    pub kind: Kind,
    /// Floors run in every run; every other row of the same kind is reported as a ratio to them.
    pub floor: bool,
    /// One line on what a message goes through.
    pub about: &'static str,
    /// Binds the server and returns both sides.
    pub setup: fn(&RunConfig) -> Res<Pair>,
    /// Runs in `--smoke` (CI) too; false for the rows too big for it (100 and 1 000 sessions).
    pub smoke: bool,
    /// The section of the report it belongs to (the scale rows have their own table).
    pub section: Section,
}

/// Which table of the report a row is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Section {
    /// The main latency or throughput table.
    Main,
    /// The scale table: one row per session count.
    Scale(usize),
}

/// Every row, in report order (floors first).
pub static ROWS: &[RowSpec] = &[
    RowSpec {
        name: "tcp",
        kind: Kind::Latency,
        floor: true,
        about: "size bytes each way over mio non-blocking sockets with TCP_NODELAY",
        setup: tcp::ping_pong,
        smoke: true,
        section: Section::Main,
    },
    RowSpec {
        name: "ws",
        kind: Kind::Latency,
        floor: true,
        about: "one binary WebSocket message each way through WsConnection (ws://)",
        setup: websocket::ping_pong_ws,
        smoke: true,
        section: Section::Main,
    },
    RowSpec {
        name: "wss",
        kind: Kind::Latency,
        floor: true,
        about: "the same over TLS 1.3 (rustls, ring, self-signed certificate)",
        setup: websocket::ping_pong_wss,
        smoke: true,
        section: Section::Main,
    },
    RowSpec {
        name: "fixp-wss",
        kind: Kind::Latency,
        floor: false,
        about: "client Session -> server Acceptor -> echoed as the server's own message, SBE, Recoverable, over WSS",
        setup: fixp::ping_pong,
        smoke: true,
        section: Section::Main,
    },
    RowSpec {
        name: "engine-tcp",
        kind: Kind::Latency,
        floor: false,
        about: "client strategy thread -> SPSC -> client engine -> TCP+SOFH+TLS -> server engine's inline echo -> back, SBE, Recoverable; 3 busy threads (needs 3 cores)",
        setup: engine_tcp::ping_pong,
        smoke: true,
        section: Section::Main,
    },
    RowSpec {
        name: "engine-wss",
        kind: Kind::Latency,
        floor: false,
        about: "client engine's inline strategy -> NewOrderSingle (64 B SBE) -> WSS -> server engine's inline strategy -> ExecutionReport (133 B) -> back; Recoverable, mmap journal both sides; 2 busy threads",
        setup: engine_wss::inline_sbe,
        smoke: true,
        section: Section::Main,
    },
    RowSpec {
        name: "engine-wss-thread",
        kind: Kind::Latency,
        floor: false,
        about: "engine-wss with the client's strategy on its own thread through the SPSC handle: 3 busy threads, so it needs 3 cores (--pin pins the strategy and the server engine; the client engine floats)",
        setup: engine_wss::thread_sbe,
        smoke: true,
        section: Section::Main,
    },
    RowSpec {
        name: "engine-wss-json",
        kind: Kind::Latency,
        floor: false,
        about: "engine-wss in the Conga JSON encoding (text frames): NewOrderSingle -> ExecutionReport",
        setup: engine_wss::inline_json,
        smoke: true,
        section: Section::Main,
    },
    RowSpec {
        name: "engine-wss-storm",
        kind: Kind::Latency,
        floor: false,
        about: "engine-wss on a second session while a first peer of the same server engine asks for its whole journal (1 000 reports) again and again",
        setup: storm::storm,
        smoke: true,
        section: Section::Main,
    },
    RowSpec {
        name: "engine-scale-1",
        kind: Kind::Latency,
        floor: false,
        about: "1 session on one server engine thread, round robin ping-pong, SBE, in-memory stores",
        setup: engine_wss::scale_1,
        smoke: true,
        section: Section::Scale(1),
    },
    RowSpec {
        name: "engine-scale-10",
        kind: Kind::Latency,
        floor: false,
        about: "10 sessions on one server engine thread, round robin ping-pong, SBE, in-memory stores",
        setup: engine_wss::scale_10,
        smoke: true,
        section: Section::Scale(10),
    },
    RowSpec {
        name: "engine-scale-100",
        kind: Kind::Latency,
        floor: false,
        about: "100 sessions on one server engine thread, round robin ping-pong, SBE, in-memory stores",
        setup: engine_wss::scale_100,
        smoke: false,
        section: Section::Scale(100),
    },
    RowSpec {
        name: "engine-scale-1000",
        kind: Kind::Latency,
        floor: false,
        about: "1 000 sessions on one server engine thread, round robin ping-pong, SBE, in-memory stores",
        setup: engine_wss::scale_1000,
        smoke: false,
        section: Section::Scale(1000),
    },
    RowSpec {
        name: "wss-oneway",
        kind: Kind::Throughput,
        floor: true,
        about: "binary WebSocket messages one way over WSS, counted by the receiver",
        setup: websocket::one_way_wss,
        smoke: true,
        section: Section::Main,
    },
    RowSpec {
        name: "fixp-wss-oneway",
        kind: Kind::Throughput,
        floor: false,
        about: "client Session -> server Acceptor, SBE, Recoverable, over WSS, counted as delivered events",
        setup: fixp::one_way,
        smoke: true,
        section: Section::Main,
    },
    RowSpec {
        name: "engine-wss-oneway",
        kind: Kind::Throughput,
        floor: false,
        about: "client engine's inline sender -> server engine's inline strategy, one session one way, SBE, Recoverable, mmap journal, counted by the receiver",
        setup: engine_wss::one_way,
        smoke: true,
        section: Section::Main,
    },
];

/// Old names still accepted on the command line.
const ALIASES: &[(&str, &str)] = &[("fixp", "fixp-wss")];

/// The rows to run for the names asked for (all rows when none; in a smoke run, all its rows),
/// in registry order, with the floors of every kind asked for added.
pub fn select(names: &[String], smoke: bool) -> Res<Vec<&'static RowSpec>> {
    let mut wanted: Vec<&'static RowSpec> = Vec::new();
    for name in names {
        let name = ALIASES
            .iter()
            .find(|(alias, _)| alias == name)
            .map_or(name.as_str(), |(_, real)| real);
        let spec = ROWS.iter().find(|r| r.name == name).ok_or_else(|| {
            let known: Vec<&str> = ROWS.iter().map(|r| r.name).collect();
            format!("unknown row {name:?} (rows: {})", known.join(", "))
        })?;
        wanted.push(spec);
    }
    if names.is_empty() {
        wanted = ROWS.iter().filter(|r| r.smoke || !smoke).collect();
    }
    Ok(ROWS
        .iter()
        .filter(|r| {
            wanted.iter().any(|w| w.name == r.name)
                || (r.floor && r.kind == Kind::Latency)
                || (r.floor && wanted.iter().any(|w| w.kind == r.kind))
        })
        .collect())
}

/// What a row's server does with each application message it is delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Serve {
    /// Sends it back (as its own message, for FIXP): a latency row.
    Echo,
    /// Counts it as delivered: a throughput row.
    Count,
}

/// The message of the bare rows: `size` bytes of a fixed pattern.
fn payload(size: usize) -> Vec<u8> {
    (0..size).map(|i| (i % 251) as u8).collect()
}

/// An engine's pinning for a core of `--pin` (none: not pinned).
fn engine_pin(core: Option<core_affinity::CoreId>) -> Option<(fixp_ws::engine::CoreList, usize)> {
    core.and_then(|c| Some((fixp_ws::engine::CoreList::from_ids(vec![c.id]).ok()?, 0)))
}

/// Turns any displayable error into the harness's error.
fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}
