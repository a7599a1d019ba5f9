//! What the drill's children say to each other and to the drill: the numbered orders and their
//! reports (Conga SBE), the witness logs (append-only text lines), and reading journals back.
//!
//! Owns: the drill's message shapes, witness line format and journal scanning. May not touch:
//! the engine (children own their engines) or the checks (`check.rs` judges what is read here).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use fixp_ws::codec::conga::{
    CongaMessage, ExecutionReport, Id8, NewOrderSingle, OrdType, Price, Side,
};
use fixp_ws::codec::EncodeError;
use fixp_ws::journal::{list_generations, JournalReader, VerifyReport};

/// The order whose ClOrdId is its number `k` (the trader's k-th order, sequence number k).
pub fn order(k: u64) -> CongaMessage {
    CongaMessage::NewOrderSingle(new_order(k))
}

fn new_order(k: u64) -> NewOrderSingle {
    NewOrderSingle {
        cl_ord_id: number_id(k),
        symbol: Id8::new("DRILL").unwrap_or_default(),
        side: side(k),
        transact_time: k,
        order_qty: 1,
        ord_type: OrdType::Limit,
        price: Some(Price(100)),
    }
}

/// The ExecutionReport answering order `k` (ClOrdId and OrderId carry `k`).
pub fn report(k: u64) -> CongaMessage {
    CongaMessage::ExecutionReport(ExecutionReport::accepted(&new_order(k)))
}

/// Even orders buy, odd ones sell.
fn side(k: u64) -> Side {
    if k.is_multiple_of(2) {
        Side::Buy
    } else {
        Side::Sell
    }
}

/// Encodes `message` in SBE into `out` (an engine's outbound slot).
pub fn encode(message: &CongaMessage, out: &mut [u8]) -> Result<usize, EncodeError> {
    message.encode_sbe(out)
}

/// What an application message of the drill is: an order or a report, with its number.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numbered {
    /// NewOrderSingle `k`.
    Order(u64),
    /// ExecutionReport for order `k`.
    Report(u64),
}

/// Decodes an SBE application message of the drill; `None` if it is anything else.
pub fn numbered(bytes: &[u8]) -> Option<Numbered> {
    match CongaMessage::decode_sbe(bytes).ok()? {
        CongaMessage::NewOrderSingle(o) => Some(Numbered::Order(id_number(o.cl_ord_id)?)),
        CongaMessage::ExecutionReport(r) => Some(Numbered::Report(id_number(r.cl_ord_id)?)),
        _ => None,
    }
}

fn number_id(k: u64) -> Id8 {
    // Order numbers stay below 10^8 (the drill sends thousands), so the text always fits.
    Id8::new(&k.to_string()).unwrap_or_default()
}

fn id_number(id: Id8) -> Option<u64> {
    id.as_str().parse().ok()
}

/// An append-only witness log: one `write` per line (a line that was written survives
/// `kill -9`, since it is in the page cache; the drill simulates process crashes, not power
/// loss, so no fsync is needed).
pub struct Witness {
    file: File,
}

impl Witness {
    /// Opens (creating) the log at `path` for appending.
    pub fn open(path: &Path) -> std::io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(Witness { file })
    }

    /// Appends one line (the tag, then the fields, space-separated).
    pub fn line(&mut self, tag: char, fields: &[&dyn std::fmt::Display]) {
        let mut text = String::with_capacity(32);
        text.push(tag);
        for field in fields {
            text.push(' ');
            text.push_str(&field.to_string());
        }
        text.push('\n');
        // A failed witness write shows up as a missing line, which the checks report.
        let _ = self.file.write_all(text.as_bytes());
    }
}

/// One line of a witness log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// Its tag (`J`, `R`, `C`, `O`, `A`, `E`, `F`, `X`).
    pub tag: char,
    /// The rest, split on spaces.
    pub fields: Vec<String>,
}

impl Line {
    /// Field `i` as a number.
    pub fn number(&self, i: usize) -> Option<u64> {
        self.fields.get(i)?.parse().ok()
    }
}

/// Reads every complete line of a witness log (none if it does not exist).
pub fn read_witness(path: &Path) -> Vec<Line> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Vec::new();
    };
    let complete = text.rfind('\n').map_or("", |end| &text[..end]);
    complete
        .lines()
        .filter_map(|l| {
            let mut parts = l.split(' ');
            let tag = parts.next()?.chars().next()?;
            Some(Line {
                tag,
                fields: parts.map(str::to_owned).collect(),
            })
        })
        .collect()
}

/// Sequence number → the message number of every `tags` line `<tag> <seq> <k>`, and the
/// sequence numbers that appear more than once.
pub fn witnessed(lines: &[Line], tags: &[char]) -> (BTreeMap<u64, u64>, Vec<u64>) {
    let mut seen = BTreeMap::new();
    let mut repeated = Vec::new();
    for line in lines.iter().filter(|l| tags.contains(&l.tag)) {
        if let (Some(seq), Some(k)) = (line.number(0), line.number(1)) {
            if seen.insert(seq, k).is_some() {
                repeated.push(seq);
            }
        }
    }
    (seen, repeated)
}

/// One direction of a journal, read back.
#[derive(Debug, Default)]
pub struct JournalRead {
    /// The records in the order they were found: (sequence number, payload, checksum ok).
    pub records: Vec<(u64, Vec<u8>, bool)>,
    /// What `verify` said.
    pub report: VerifyReport,
}

impl JournalRead {
    /// The decoded numbers of the intact records, by sequence number.
    pub fn numbered(&self) -> BTreeMap<u64, Option<Numbered>> {
        self.records
            .iter()
            .filter(|r| r.2)
            .map(|(seq, payload, _)| (*seq, numbered(payload)))
            .collect()
    }

    /// The highest sequence number held.
    pub fn last_seq(&self) -> Option<u64> {
        self.records.iter().map(|r| r.0).max()
    }
}

/// Reads `dir` (an `out` or `in` directory); an absent directory reads as empty.
pub fn read_journal(dir: &Path) -> JournalRead {
    let Ok(reader) = JournalReader::open(dir) else {
        return JournalRead::default();
    };
    let mut records = Vec::new();
    let report = reader.scan(|found| {
        let r = found.record;
        records.push((r.seq, r.payload.to_vec(), r.checksum_ok));
    });
    JournalRead { records, report }
}

/// The newest generation directory of the session journal rooted at `root`.
pub fn newest_generation(root: &Path) -> Option<PathBuf> {
    list_generations(root).ok()?.pop().map(|(_, dir)| dir)
}

/// The session journal roots under an acceptor journal directory (one per SessionId).
pub fn acceptor_session_roots(root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(root)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path())
                .filter(|p| p.is_dir())
                .collect()
        })
        .unwrap_or_default();
    dirs.sort();
    dirs
}

/// Reads the `out` and `in` journals of the newest generation under `root`.
pub fn read_session(root: &Path) -> (JournalRead, JournalRead) {
    match newest_generation(root) {
        Some(generation) => (
            read_journal(&generation.join("out")),
            read_journal(&generation.join("in")),
        ),
        None => (JournalRead::default(), JournalRead::default()),
    }
}

/// Where a child kills itself (`kill -9` of its own pid, from inside the callback, so the
/// engine stands still at exactly that point), or `Outside`: the drill kills it when the
/// trader's witness shows the count.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Site {
    /// The drill kills the child from outside once the trader has witnessed `at` reports.
    Outside,
    /// Exchange: order `at` handed over (journaled by the engine), before it is answered.
    OrderReceived,
    /// Exchange: report for order `at` sent (journaled), before the socket write.
    ReportSent,
    /// Trader: order `at` sent (journaled), before the socket write.
    OrderSent,
    /// Trader: report for order `at` handed over (journaled by the engine), before it is
    /// witnessed.
    ReportReceived,
    /// Trader: finalization started (FinishedSending queued, not yet written) once all `at`
    /// orders are answered.
    FinishSent,
    /// Either: the session's `Finalized` event (the engine has done its part), before the
    /// application saw it.
    Finalized,
}

impl Site {
    const NAMES: [(Site, &'static str); 7] = [
        (Site::Outside, "outside"),
        (Site::OrderReceived, "order-received"),
        (Site::ReportSent, "report-sent"),
        (Site::OrderSent, "order-sent"),
        (Site::ReportReceived, "report-received"),
        (Site::FinishSent, "finish-sent"),
        (Site::Finalized, "finalized"),
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        Self::NAMES
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("?", |(_, n)| n)
    }
}

/// A crash point: `SITE:K`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CrashPoint {
    /// Where.
    pub site: Site,
    /// At which order number.
    pub at: u64,
}

impl CrashPoint {
    /// Dies (`kill -9` of this process) when `site` is reached with order `k` at or past the
    /// point.
    pub fn check(point: Option<CrashPoint>, site: Site, k: u64) {
        if point.is_some_and(|p| p.site == site && k >= p.at) {
            die();
        }
    }
}

impl std::str::FromStr for CrashPoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (name, at) = s.split_once(':').ok_or("SITE:K")?;
        let site = Site::NAMES
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(s, _)| *s)
            .ok_or(format!("unknown crash site {name}"))?;
        let at = at.parse().map_err(|_| format!("bad order number {at}"))?;
        Ok(CrashPoint { site, at })
    }
}

impl std::fmt::Display for CrashPoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.site.name(), self.at)
    }
}

/// `kill -9` of this process; the calling thread waits for the signal (so nothing runs on).
fn die() -> ! {
    let _ = std::process::Command::new("kill")
        .arg("-KILL")
        .arg(std::process::id().to_string())
        .status();
    loop {
        std::thread::sleep(std::time::Duration::from_secs(1));
    }
}
