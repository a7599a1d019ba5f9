//! The drill's verdicts, from the files the children left: both journals of both sides, both
//! witness logs, and `fixp-journal verify` on every journal.
//!
//! Exactly once, both ways: the trader's outbound journal holds orders 1..=N, the exchange's
//! inbound journal holds the same bytes under the same numbers, and its witness saw each of them
//! once; the exchange's outbound journal holds one report per order, the trader's inbound
//! journal holds the same bytes under the same numbers, and its witness saw each once.
//!
//! Owns: the checks. May not touch: the children or their journals (everything is read-only).

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::proto::{self, JournalRead, Line, Numbered};
use super::run::{Paths, Who};

/// What the checks found.
#[derive(Debug, Default)]
pub struct Outcome {
    /// Every violation, described.
    pub violations: Vec<String>,
    /// Orders in the trader's outbound journal.
    pub orders: u64,
    /// Reports in the exchange's outbound journal.
    pub reports: u64,
    /// Orders the exchange recovered from its journal at a restart (`C` lines).
    pub recovered_exchange: usize,
    /// Reports the trader recovered from its journal at a restart (`C` lines).
    pub recovered_trader: usize,
    /// Journal roots `fixp-journal verify` passed.
    pub verified: usize,
    /// What is not a violation but worth saying.
    pub notes: Vec<String>,
}

impl Outcome {
    /// An outcome with one violation (the drill could not get to the checks).
    pub fn failed(why: String) -> Outcome {
        Outcome {
            violations: vec![why],
            ..Outcome::default()
        }
    }

    fn flag(&mut self, what: impl Into<String>) {
        self.violations.push(what.into());
    }
}

/// The first few numbers of a list, for a message.
fn some(numbers: &[u64]) -> String {
    let shown: Vec<String> = numbers.iter().take(5).map(u64::to_string).collect();
    let more = if numbers.len() > 5 { ", …" } else { "" };
    format!("[{}{more}] ({} in all)", shown.join(", "), numbers.len())
}

/// Checks that `journal` is intact and numbered 1..=last without a hole; returns last.
fn contiguous(outcome: &mut Outcome, name: &str, journal: &JournalRead) -> u64 {
    let seqs: Vec<u64> = journal.records.iter().map(|r| r.0).collect();
    let last = journal.last_seq().unwrap_or(0);
    let bad: Vec<u64> = journal
        .records
        .iter()
        .filter(|r| !r.2)
        .map(|r| r.0)
        .collect();
    if !bad.is_empty() {
        outcome.flag(format!(
            "{name}: records failing their checksum {}",
            some(&bad)
        ));
    }
    if seqs != (1..=last).collect::<Vec<_>>() {
        let missing: Vec<u64> = (1..=last).filter(|s| !seqs.contains(s)).collect();
        outcome.flag(format!(
            "{name}: not numbered 1..={last}; missing {}",
            some(&missing)
        ));
    }
    if !journal.report.problems.is_empty() {
        outcome.flag(format!(
            "{name}: verify found {:?}",
            journal.report.problems
        ));
    }
    last
}

/// The same bytes under the same numbers in the sender's and the receiver's journal.
fn same_records(outcome: &mut Outcome, what: &str, sent: &JournalRead, received: &JournalRead) {
    let by_seq: BTreeMap<u64, &[u8]> = received
        .records
        .iter()
        .map(|(s, p, _)| (*s, p.as_slice()))
        .collect();
    let differ: Vec<u64> = sent
        .records
        .iter()
        .filter(|(s, p, _)| by_seq.get(s) != Some(&p.as_slice()))
        .map(|r| r.0)
        .collect();
    if !differ.is_empty() {
        outcome.flag(format!(
            "{what}: sent but not received as sent {}",
            some(&differ)
        ));
    }
    if received.records.len() != sent.records.len() {
        outcome.flag(format!(
            "{what}: {} sent, {} received",
            sent.records.len(),
            received.records.len()
        ));
    }
}

/// The witness saw every number of `expected` (seq → message number) exactly once.
fn witnessed_once(
    outcome: &mut Outcome,
    who: Who,
    lines: &[Line],
    expected: &BTreeMap<u64, u64>,
    must_finalize: bool,
) {
    let (seen, repeated) = proto::witnessed(lines, &['R', 'O', 'C']);
    if !repeated.is_empty() {
        outcome.flag(format!(
            "{who} handed the same number over twice {}",
            some(&repeated)
        ));
    }
    let missing: Vec<u64> = expected
        .keys()
        .filter(|s| !seen.contains_key(s))
        .copied()
        .collect();
    if !missing.is_empty() {
        outcome.flag(format!("{who} never saw {}", some(&missing)));
    }
    let wrong: Vec<u64> = seen
        .iter()
        .filter(|(s, k)| expected.get(s) != Some(k))
        .map(|(s, _)| *s)
        .collect();
    if !wrong.is_empty() {
        outcome.flag(format!(
            "{who} saw numbers it should not have {}",
            some(&wrong)
        ));
    }
    for line in lines.iter().filter(|l| l.tag == 'X') {
        outcome.flag(format!("{who} flagged: {}", line.fields.join(" ")));
    }
    if !lines.iter().any(|l| l.tag == 'F') {
        if must_finalize {
            outcome.flag(format!("{who} never finalized"));
        } else {
            outcome.notes.push(format!(
                "the {who}'s session stays open: the peer's last FinishedReceiving died with it"
            ));
        }
    }
}

/// Message numbers by sequence number, for one kind of message; anything else is flagged.
fn numbers(
    outcome: &mut Outcome,
    name: &str,
    journal: &JournalRead,
    pick: fn(Numbered) -> Option<u64>,
) -> BTreeMap<u64, u64> {
    let mut out = BTreeMap::new();
    for (seq, n) in journal.numbered() {
        match n.and_then(pick) {
            Some(k) => {
                out.insert(seq, k);
            }
            None => outcome.flag(format!("{name}: record {seq} is not what the drill sends")),
        }
    }
    out
}

/// Runs `fixp-journal verify` on `root`; true when it passed.
fn verify_tool(outcome: &mut Outcome, bin_dir: &Path, root: &Path) {
    let tool = bin_dir.join("fixp-journal");
    match Command::new(&tool).arg("verify").arg(root).output() {
        Ok(out) if out.status.success() => outcome.verified += 1,
        Ok(out) => outcome.flag(format!(
            "fixp-journal verify {} exited {}: {}",
            root.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim()
        )),
        Err(e) => outcome.flag(format!("{}: {e}", tool.display())),
    }
}

/// Every check of a finished drill of `orders` orders. `exchange_may_stay_open`: the trader was
/// killed at its `Finalized` event, so the FinishedReceiving that would have finalized the
/// exchange's session was never written (two-way finalization cannot survive losing the last
/// message); the exchange's session then stays open and that is not a violation.
pub fn check(paths: &Paths, orders: u64, bin_dir: &Path, exchange_may_stay_open: bool) -> Outcome {
    let mut outcome = Outcome::default();
    let sessions = proto::acceptor_session_roots(&paths.exchange_journal());
    let [exchange_root] = sessions.as_slice() else {
        outcome.flag(format!(
            "the exchange journaled {} sessions, not 1",
            sessions.len()
        ));
        return outcome;
    };
    let (trader_out, trader_in) = proto::read_session(&paths.trader_journal());
    let (exchange_out, exchange_in) = proto::read_session(exchange_root);

    // Orders: trader → exchange.
    outcome.orders = contiguous(&mut outcome, "trader outbound journal", &trader_out);
    if outcome.orders != orders {
        outcome.flag(format!(
            "the trader journaled {} orders, not {orders}",
            outcome.orders
        ));
    }
    let sent_orders = numbers(&mut outcome, "trader outbound", &trader_out, |n| match n {
        Numbered::Order(k) => Some(k),
        Numbered::Report(_) => None,
    });
    if let Some((seq, k)) = sent_orders.iter().find(|(s, k)| s != k) {
        outcome.flag(format!("order {k} went out as sequence number {seq}"));
    }
    contiguous(&mut outcome, "exchange inbound journal", &exchange_in);
    same_records(&mut outcome, "orders", &trader_out, &exchange_in);
    let trader_lines = proto::read_witness(&paths.witness(Who::Trader));
    let exchange_lines = proto::read_witness(&paths.witness(Who::Exchange));
    let acknowledged: Vec<u64> = trader_lines
        .iter()
        .filter(|l| l.tag == 'J')
        .filter_map(|l| l.number(0))
        .filter(|k| !sent_orders.contains_key(k))
        .collect();
    if !acknowledged.is_empty() {
        outcome.flag(format!(
            "acknowledged as journaled but not in the journal {}",
            some(&acknowledged)
        ));
    }
    witnessed_once(
        &mut outcome,
        Who::Exchange,
        &exchange_lines,
        &sent_orders,
        !exchange_may_stay_open,
    );

    // Reports: exchange → trader, one per order.
    outcome.reports = contiguous(&mut outcome, "exchange outbound journal", &exchange_out);
    let sent_reports = numbers(
        &mut outcome,
        "exchange outbound",
        &exchange_out,
        |n| match n {
            Numbered::Report(k) => Some(k),
            Numbered::Order(_) => None,
        },
    );
    let mut per_order: BTreeMap<u64, u32> = BTreeMap::new();
    for k in sent_reports.values() {
        *per_order.entry(*k).or_default() += 1;
    }
    let twice: Vec<u64> = per_order
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| *k)
        .collect();
    if !twice.is_empty() {
        outcome.flag(format!("orders answered more than once {}", some(&twice)));
    }
    let unanswered: Vec<u64> = (1..=orders)
        .filter(|k| !per_order.contains_key(k))
        .collect();
    if !unanswered.is_empty() {
        outcome.flag(format!("orders never answered {}", some(&unanswered)));
    }
    contiguous(&mut outcome, "trader inbound journal", &trader_in);
    same_records(&mut outcome, "reports", &exchange_out, &trader_in);
    witnessed_once(
        &mut outcome,
        Who::Trader,
        &trader_lines,
        &sent_reports,
        true,
    );

    let recovered = |lines: &[Line]| lines.iter().filter(|l| l.tag == 'C').count();
    outcome.recovered_exchange = recovered(&exchange_lines);
    outcome.recovered_trader = recovered(&trader_lines);
    verify_tool(&mut outcome, bin_dir, &paths.trader_journal());
    verify_tool(&mut outcome, bin_dir, exchange_root);
    outcome
}
