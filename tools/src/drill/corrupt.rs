//! The corruption drill: a flipped byte in a journaled order the exchange has not received yet.
//!
//! 1. The trader sends orders 1..=P and gets every report; the exchange is then stopped
//!    (SIGSTOP), the trader journals and sends P+1..=P+K into the void, and both are killed.
//! 2. One payload byte of order P+2 in the trader's outbound segment is flipped;
//!    `fixp-journal verify` must exit 1 naming that record (offset and seq).
//! 3. Both restart: the exchange asks for P+1.. again, and the trader's session must refuse to
//!    send P+2: `Terminated(Store(Corrupt { seq: P+2 }))`, Close 1011, on every attempt (the
//!    journal's documented fail-closed behaviour). The exchange must never receive P+2 or
//!    anything after it.
//!
//! Owns: the corruption scenario. May not touch: the journal's code (it edits a stopped
//! process's segment file, as a disk fault would).

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::Command;

use fixp_ws::journal::{JournalReader, RECORD_HEADER_LEN};

use super::proto;
use super::run::{Drill, DrillArgs, Who};

/// Orders answered before the exchange is stopped.
const ANSWERED: u64 = 20;
/// Orders sent while it is stopped.
const UNSEEN: u64 = 4;
/// Refusals to wait for (one per re-establishment).
const REFUSALS: usize = 2;

/// Flips one payload byte of record `seq` in the journal direction `dir`; returns the segment
/// file and the record's offset.
fn flip(dir: &Path, seq: u64) -> Result<(PathBuf, usize), String> {
    let reader = JournalReader::open(dir).map_err(|e| e.to_string())?;
    let mut found = None;
    reader.scan(|f| {
        if f.record.seq == seq {
            found = Some((
                f.segment.to_path_buf(),
                f.record.offset,
                f.record.payload.len(),
            ));
        }
    });
    drop(reader);
    let (segment, offset, len) = found.ok_or(format!("record {seq} not in {}", dir.display()))?;
    let at = (offset + RECORD_HEADER_LEN + len / 2) as u64;
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&segment)
        .map_err(|e| e.to_string())?;
    let mut byte = [0u8; 1];
    file.seek(SeekFrom::Start(at))
        .and_then(|_| file.read_exact(&mut byte))
        .map_err(|e| e.to_string())?;
    byte[0] ^= 0x5a;
    file.seek(SeekFrom::Start(at))
        .and_then(|_| file.write_all(&byte))
        .and_then(|()| file.sync_all())
        .map_err(|e| e.to_string())?;
    Ok((segment, offset))
}

/// `fixp-journal verify` on `root` must exit 1 and name the record at `offset`, `seq`.
fn verify_reports(bin_dir: &Path, root: &Path, offset: usize, seq: u64) -> Result<(), String> {
    let out = Command::new(bin_dir.join("fixp-journal"))
        .arg("verify")
        .arg(root)
        .output()
        .map_err(|e| format!("fixp-journal: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let named = format!("at offset {offset} seq {seq}");
    let reported = text.lines().any(|l| {
        l.starts_with("CORRUPT") && l.contains("checksum mismatch") && l.ends_with(&named)
    });
    if out.status.code() != Some(1) || !reported {
        return Err(format!(
            "verify exited {:?} without `CORRUPT … checksum mismatch … {named}`: {}",
            out.status.code(),
            text.trim()
        ));
    }
    Ok(())
}

/// Sequence numbers of at least `from` the exchange journaled or witnessed.
fn received_from(drill: &Drill, from: u64) -> Vec<u64> {
    let mut got: Vec<u64> = proto::acceptor_session_roots(&drill.paths.exchange_journal())
        .iter()
        .flat_map(|root| proto::read_session(root).1.records)
        .map(|r| r.0)
        .collect();
    let lines = proto::read_witness(&drill.paths.witness(Who::Exchange));
    got.extend(proto::witnessed(&lines, &['O', 'C']).0.keys());
    got.retain(|s| *s >= from);
    got.sort_unstable();
    got.dedup();
    got
}

/// Runs the corruption drill in `dir`; Ok(a summary) or Err(the violation).
pub fn drill(dir: &Path, args: &DrillArgs) -> Result<String, String> {
    let orders = ANSWERED + UNSEEN;
    let target = ANSWERED + 2;
    let mut drill = Drill::new(dir, args, orders)?;
    drill.set_gate(ANSWERED)?;
    drill.start(Who::Exchange, None)?;
    drill.start(Who::Trader, None)?;
    drill.wait_for(&format!("{ANSWERED} reports"), |d| d.reports() >= ANSWERED)?;
    drill.stop(Who::Exchange)?;
    drill.set_gate(orders)?;
    drill.wait_for(&format!("{orders} orders journaled"), |d| {
        d.journaled() >= orders
    })?;
    drill.kill(Who::Trader)?;
    drill.kill(Who::Exchange)?;
    let early = received_from(&drill, ANSWERED + 1);
    if !early.is_empty() {
        return Err(format!("the stopped exchange received {early:?}"));
    }

    let generation = proto::newest_generation(&drill.paths.trader_journal())
        .ok_or("the trader journaled no session")?;
    let (segment, offset) = flip(&generation.join("out"), target)?;
    verify_reports(
        &drill.bin_dir(),
        &drill.paths.trader_journal(),
        offset,
        target,
    )?;

    drill.start(Who::Exchange, None)?;
    drill.start(Who::Trader, None)?;
    let refusal = format!("Store(Corrupt {{ seq: {target} }})");
    let refusals = |d: &Drill| {
        proto::read_witness(&d.paths.witness(Who::Trader))
            .iter()
            .filter(|l| l.tag == 'E' && l.fields.join(" ") == refusal)
            .count()
    };
    drill.wait_for(&format!("{REFUSALS} refusals to send {target}"), |d| {
        refusals(d) >= REFUSALS
    })?;
    drill.kill(Who::Trader)?;
    drill.kill(Who::Exchange)?;
    let leaked = received_from(&drill, target);
    if !leaked.is_empty() {
        return Err(format!(
            "the exchange received {leaked:?} after the corrupt record {target}"
        ));
    }
    Ok(format!(
        "order {target} flipped in {} at offset {offset}; verify exit 1 named it; the trader \
         refused it {} times ({refusal}); the exchange never received it",
        segment.file_name().and_then(|n| n.to_str()).unwrap_or("?"),
        refusals(&drill)
    ))
}
