//! `fixp-journal`: inspect fixp-ws journals read-only (dump, follow, verify, stats) and replay
//! a recorded window through a fresh session core (replay).
//!
//! The path given may be a session's journal root (the newest generation is used, or
//! `--generation N`), a generation directory (`gen-NNNNNNNN`), or one direction's directory
//! (`out` or `in`). The tool maps segment files read-only and never takes the writer lock, so
//! it can run beside the engine that writes the journal.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use fixp_ws::codec::sbe::SbeEncoding;
use fixp_ws::codec::Inbound;
use fixp_ws::journal::{
    list_generations, read_meta, Cursor, Direction, FoundRecord, JournalReader, ProblemKind,
    SessionMeta, ENCODING_JSON, ENCODING_SBE_LE,
};
use serde_json::{json, Value};

#[path = "journal/replay.rs"]
mod replay;
#[path = "journal/resend.rs"]
mod resend;

#[derive(Parser)]
#[command(
    name = "fixp-journal",
    version,
    about = "Inspect fixp-ws journals (read-only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Print records, optionally filtered.
    Dump(DumpArgs),
    /// Print records as they are appended, until Ctrl-C or --count.
    Follow(FollowArgs),
    /// Check every record's checksum, framing and sequence continuity; exit 1 on damage.
    Verify(Target),
    /// Counts, rates, gaps, sizes, first/last sequence number and time.
    Stats(Target),
    /// Drive a fresh session core with a recorded window and compare its deliveries and sends
    /// with the journals (twice, for determinism); exit 1 on a divergence.
    Replay(ReplayArgs),
}

#[derive(Args)]
struct ReplayArgs {
    /// Journal root or generation directory (both directions are needed).
    path: PathBuf,
    /// Generation to read (default: the newest).
    #[arg(long)]
    generation: Option<u64>,
    /// First sequence number (of each direction's own numbering).
    #[arg(long)]
    from_seq: Option<u64>,
    /// Last sequence number (of each direction's own numbering).
    #[arg(long)]
    to_seq: Option<u64>,
    /// Earliest timestamp (ns).
    #[arg(long)]
    from_ns: Option<u64>,
    /// Latest timestamp (ns).
    #[arg(long)]
    to_ns: Option<u64>,
    /// One JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Instead of comparing, re-send the window's outbound application messages to this peer
    /// (`ws://host:port/path` or `wss://…`) through a fresh client session.
    #[arg(long)]
    to: Option<String>,
    /// PEM file of the CA that signed the peer's certificate (for `wss://`).
    #[arg(long)]
    ca: Option<PathBuf>,
}

#[derive(Args)]
struct Target {
    /// Journal root, generation directory, or direction directory.
    path: PathBuf,
    /// Generation to read (default: the newest).
    #[arg(long)]
    generation: Option<u64>,
    /// Direction(s) to read.
    #[arg(long, value_enum, default_value_t = Dir::Both)]
    direction: Dir,
}

#[derive(Args)]
struct DumpArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    filter: Filter,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
struct FollowArgs {
    #[command(flatten)]
    target: Target,
    #[command(flatten)]
    filter: Filter,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Stop after printing this many records.
    #[arg(long)]
    count: Option<u64>,
    /// Print the records already held first (default: only records appended from now on).
    #[arg(long)]
    from_start: bool,
    /// Poll interval in milliseconds.
    #[arg(long, default_value_t = 100)]
    interval_ms: u64,
}

#[derive(Args, Clone)]
struct Filter {
    /// First sequence number to print.
    #[arg(long)]
    from_seq: Option<u64>,
    /// Last sequence number to print.
    #[arg(long)]
    to_seq: Option<u64>,
    /// Earliest timestamp (ns) to print.
    #[arg(long)]
    from_ns: Option<u64>,
    /// Latest timestamp (ns) to print.
    #[arg(long)]
    to_ns: Option<u64>,
    /// Only this template: an SBE template id, a FIXP template name, or a JSON `@type`.
    #[arg(long)]
    template: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Dir {
    Out,
    In,
    Both,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Dump(a) => dump(&a),
        Cmd::Follow(a) => follow(&a),
        Cmd::Verify(t) => verify(&t),
        Cmd::Stats(t) => stats(&t),
        Cmd::Replay(a) => replay_cmd(&a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("fixp-journal: {e}");
            ExitCode::from(2)
        }
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// The journals a target names, with their direction label, and the generation's metadata.
struct Resolved {
    meta: Option<SessionMeta>,
    journals: Vec<(&'static str, JournalReader)>,
}

fn is_direction_dir(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|mut it| {
        it.any(|e| {
            e.ok()
                .and_then(|e| e.file_name().to_str().map(|n| n.starts_with("seg-")))
                .unwrap_or(false)
        })
    })
}

fn label(d: Option<Direction>) -> &'static str {
    match d {
        Some(Direction::Outbound) => "out",
        Some(Direction::Inbound) => "in",
        None => "?",
    }
}

fn resolve(t: &Target) -> Res<Resolved> {
    if is_direction_dir(&t.path) {
        let r = JournalReader::open(&t.path)?;
        return Ok(Resolved {
            meta: None,
            journals: vec![(label(r.direction()), r)],
        });
    }
    let gen_dir = if t.path.join(fixp_ws::journal::META_FILE).exists() {
        t.path.clone()
    } else {
        let gens = list_generations(&t.path)?;
        let chosen = match t.generation {
            Some(n) => gens.into_iter().find(|g| g.0 == n),
            None => gens.into_iter().last(),
        };
        chosen
            .ok_or_else(|| format!("{}: no journal generation found", t.path.display()))?
            .1
    };
    let meta = read_meta(&gen_dir).ok();
    let mut journals = Vec::new();
    for (name, wanted) in [("out", Dir::Out), ("in", Dir::In)] {
        let dir = gen_dir.join(name);
        if (t.direction == wanted || t.direction == Dir::Both) && is_direction_dir(&dir) {
            journals.push((name, JournalReader::open(&dir)?));
        }
    }
    if journals.is_empty() {
        return Err(format!("{}: no journal files", gen_dir.display()).into());
    }
    Ok(Resolved { meta, journals })
}

fn print_meta(meta: &Option<SessionMeta>, json: bool) {
    if let (Some(m), false) = (meta, json) {
        println!(
            "# session {} generation {} outbound {} inbound {}",
            m.session_id,
            m.generation,
            m.outbound_flow.name(),
            m.inbound_flow.name()
        );
    }
}

/// What the tool knows about a payload.
struct Decoded {
    template: String,
    body: Value,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn decode(encoding: u16, payload: &[u8]) -> Decoded {
    if encoding == ENCODING_JSON {
        return match serde_json::from_slice::<Value>(payload) {
            Ok(v) => Decoded {
                template: v
                    .get("@type")
                    .and_then(Value::as_str)
                    .unwrap_or("?")
                    .to_string(),
                body: v,
            },
            Err(_) => Decoded {
                template: "invalid-json".into(),
                body: json!({ "hex": hex(payload) }),
            },
        };
    }
    let field = |at: usize| {
        payload
            .get(at..at + 2)
            .map(|b| u16::from_le_bytes([b[0], b[1]]))
    };
    let header = match (field(0), field(2), field(4), field(6)) {
        (Some(block_length), Some(template_id), Some(schema_id), Some(version)) => json!({
            "blockLength": block_length,
            "templateId": template_id,
            "schemaId": schema_id,
            "version": version,
        }),
        _ => Value::Null,
    };
    let template_id = field(2);
    match SbeEncoding::decode_frame(payload) {
        Ok(Inbound::Fixp(msg)) => Decoded {
            template: format!("{:?}", msg.template()),
            body: json!({
                "templateId": template_id,
                "fixp": format!("{msg:?}"),
            }),
        },
        Ok(Inbound::Application(_)) => Decoded {
            template: template_id.map_or("?".into(), |t| t.to_string()),
            body: json!({ "header": header, "hex": hex(payload) }),
        },
        Err(e) => Decoded {
            template: template_id.map_or("?".into(), |t| t.to_string()),
            body: json!({
                "templateId": template_id,
                "decodeError": e.to_string(),
                "header": header,
                "hex": hex(payload),
            }),
        },
    }
}

fn encoding_name(encoding: u16) -> String {
    match encoding {
        ENCODING_SBE_LE => "sbe".into(),
        ENCODING_JSON => "json".into(),
        other => format!("0x{other:04x}"),
    }
}

impl Filter {
    fn accepts(&self, r: &FoundRecord<'_>, template: &str, body: &Value) -> bool {
        let rec = &r.record;
        if self.from_seq.is_some_and(|s| rec.seq < s)
            || self.to_seq.is_some_and(|s| rec.seq > s)
            || self.from_ns.is_some_and(|t| rec.timestamp_ns < t)
            || self.to_ns.is_some_and(|t| rec.timestamp_ns > t)
        {
            return false;
        }
        match &self.template {
            None => true,
            Some(want) => {
                want.eq_ignore_ascii_case(template)
                    || body
                        .get("templateId")
                        .and_then(Value::as_u64)
                        .is_some_and(|id| want.parse::<u64>() == Ok(id))
            }
        }
    }
}

fn print_record(dir: &str, r: &FoundRecord<'_>, filter: &Filter, json: bool) -> bool {
    let rec = &r.record;
    let decoded = decode(rec.encoding, rec.payload);
    if !filter.accepts(r, &decoded.template, &decoded.body) {
        return false;
    }
    if json {
        let line = json!({
            "direction": dir,
            "seq": rec.seq,
            "timestamp_ns": rec.timestamp_ns,
            "encoding": encoding_name(rec.encoding),
            "len": rec.payload.len(),
            "checksum_ok": rec.checksum_ok,
            "template": decoded.template,
            "message": if rec.checksum_ok { decoded.body } else { Value::Null },
        });
        println!("{line}");
    } else {
        let body = if rec.checksum_ok {
            decoded.body.to_string()
        } else {
            "<checksum mismatch: not decoded>".into()
        };
        println!(
            "{dir:<3} {:>10} {:>20} {:<4} {:>5} {:<22} {body}",
            rec.seq,
            rec.timestamp_ns,
            encoding_name(rec.encoding),
            rec.payload.len(),
            decoded.template,
        );
    }
    true
}

fn table_header(json: bool) {
    if !json {
        println!(
            "{:<3} {:>10} {:>20} {:<4} {:>5} {:<22} message",
            "dir", "seq", "timestamp_ns", "enc", "len", "template"
        );
    }
}

fn dump(a: &DumpArgs) -> Res<ExitCode> {
    let resolved = resolve(&a.target)?;
    print_meta(&resolved.meta, a.json);
    table_header(a.json);
    for (dir, reader) in &resolved.journals {
        reader.scan(|r| {
            print_record(dir, r, &a.filter, a.json);
        });
    }
    Ok(ExitCode::SUCCESS)
}

fn follow(a: &FollowArgs) -> Res<ExitCode> {
    let resolved = resolve(&a.target)?;
    print_meta(&resolved.meta, a.json);
    table_header(a.json);
    let mut cursors: Vec<Cursor> = resolved
        .journals
        .iter()
        .map(|(_, r)| {
            if a.from_start {
                Cursor::from_seq(0)
            } else {
                let mut c = Cursor::from_seq(0);
                r.poll(&mut c, |_| {});
                c
            }
        })
        .collect();
    let mut printed = 0u64;
    loop {
        for ((dir, reader), cursor) in resolved.journals.iter().zip(cursors.iter_mut()) {
            reader.poll(cursor, |r| {
                if a.count.is_none_or(|n| printed < n) && print_record(dir, r, &a.filter, a.json) {
                    printed += 1;
                }
            });
        }
        if a.count.is_some_and(|n| printed >= n) {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(a.interval_ms));
    }
}

fn verify(t: &Target) -> Res<ExitCode> {
    let resolved = resolve(t)?;
    let mut damaged = false;
    for (dir, reader) in &resolved.journals {
        let report = reader.verify();
        let range = report
            .range
            .map_or("empty".to_string(), |(a, b)| format!("{a}..={b}"));
        println!(
            "{dir}: {} intact records, seq {range}, {} problems",
            report.intact,
            report.problems.len()
        );
        for p in &report.problems {
            damaged = true;
            let kind = match p.kind {
                ProblemKind::ChecksumMismatch => "checksum mismatch",
                ProblemKind::BadFraming => "bad framing",
                ProblemKind::SequenceGap => "sequence gap",
            };
            let seq = p.seq.map_or("?".to_string(), |s| s.to_string());
            println!(
                "CORRUPT {dir}: {kind} in {} at offset {} seq {seq}",
                p.segment.display(),
                p.offset
            );
        }
    }
    Ok(if damaged {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn stats(t: &Target) -> Res<ExitCode> {
    let resolved = resolve(t)?;
    print_meta(&resolved.meta, false);
    for (dir, reader) in &resolved.journals {
        let (mut count, mut bytes, mut max_len) = (0u64, 0u64, 0usize);
        let mut time: Option<(u64, u64)> = None;
        let mut gaps = 0u64;
        let mut prev: Option<u64> = None;
        let report = reader.scan(|r| {
            let rec = &r.record;
            count += 1;
            bytes += rec.payload.len() as u64;
            max_len = max_len.max(rec.payload.len());
            time = Some(time.map_or((rec.timestamp_ns, rec.timestamp_ns), |(a, _)| {
                (a, rec.timestamp_ns)
            }));
            if prev.is_some_and(|p| rec.seq != p + 1) {
                gaps += 1;
            }
            prev = Some(rec.seq);
        });
        println!("{dir}:");
        println!("  records      {count} ({} corrupt)", count - report.intact);
        match report.range {
            Some((a, b)) => println!("  seq          {a}..={b}"),
            None => println!("  seq          (empty)"),
        }
        println!("  gaps         {gaps}");
        println!(
            "  payload      {bytes} bytes, mean {}, max {max_len}",
            bytes.checked_div(count).unwrap_or(0)
        );
        println!(
            "  capacity     {} bytes of segments",
            reader.capacity_bytes()
        );
        if let Some((first, last)) = time {
            println!("  time_ns      {first}..={last}");
            let span = last.saturating_sub(first);
            if span > 0 && count > 1 {
                let rate = (count - 1) as f64 / (span as f64 / 1e9);
                println!(
                    "  rate         {rate:.1} msg/s over {:.3} s",
                    span as f64 / 1e9
                );
            }
        }
        println!("  problems     {}", report.problems.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn replay_cmd(a: &ReplayArgs) -> Res<ExitCode> {
    let resolved = resolve(&Target {
        path: a.path.clone(),
        generation: a.generation,
        direction: Dir::Both,
    })?;
    let meta = resolved.meta.ok_or_else(|| {
        format!(
            "{}: replay needs a journal root or generation directory with its meta file",
            a.path.display()
        )
    })?;
    let window = replay::Window {
        from_seq: a.from_seq,
        to_seq: a.to_seq,
        from_ns: a.from_ns,
        to_ns: a.to_ns,
    };
    let records = |want: &str| {
        resolved
            .journals
            .iter()
            .find(|(dir, _)| *dir == want)
            .map_or_else(Vec::new, |(_, r)| replay::read_window(r, &window))
    };
    let inbound = records("in");
    let outbound = records("out");
    if let Some(to) = &a.to {
        let url = resend::Url::parse(to)?;
        let done = resend::resend(&meta, &outbound, &url, a.ca.as_deref())?;
        if a.json {
            println!(
                "{}",
                json!({
                    "to": to,
                    "session_id": done.session_id,
                    "sent": done.sent,
                    "received": done.received,
                    "ended": done.ended,
                })
            );
        } else {
            println!(
                "re-sent {} application messages to {to} as session {}; received {}; ended: {}",
                done.sent, done.session_id, done.received, done.ended
            );
        }
        return Ok(ExitCode::SUCCESS);
    }
    let encoding = inbound
        .iter()
        .chain(&outbound)
        .map(|r| r.encoding)
        .next()
        .unwrap_or(ENCODING_SBE_LE);
    let report = replay::replay(&meta, &inbound, &outbound)?;
    let matched = report.divergence.is_none() && report.deterministic;
    if a.json {
        println!("{}", report.to_json(&meta, encoding));
    } else {
        print_meta(&Some(meta), false);
        println!(
            "window: {} inbound, {} outbound records; replayed: {} delivered, {} sent",
            report.inbound, report.outbound, report.delivered, report.sent
        );
        println!(
            "deterministic: {} (two runs, {} transcript bytes compared)",
            if report.deterministic { "yes" } else { "NO" },
            report.transcript_bytes
        );
        for note in &report.notes {
            println!("note: {note}");
        }
        match &report.divergence {
            None if matched => println!("MATCH"),
            None => println!("DIVERGENCE: the two runs differ"),
            Some(d) => {
                println!("DIVERGENCE {} seq {}: {}", d.direction, d.seq, d.reason);
                let show = |b: &Option<Vec<u8>>| {
                    b.as_deref().map_or("(none)".to_string(), |b| {
                        replay::show(encoding, b).to_string()
                    })
                };
                println!("  recorded: {}", show(&d.recorded));
                println!("  replayed: {}", show(&d.replayed));
            }
        }
    }
    Ok(if matched {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
