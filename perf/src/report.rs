//! The report of a run: the results table (aligned text or Markdown), the ratios of every row
//! to each floor of its kind, the scale table (p50/p99 against the session count), allocations
//! per message, the JSON summary, and the files `--out`
//! writes (`.hgrm` per latency row, `summary.json`, `latency.svg`).
//!
//! Owns: turning results into text. May not touch: the measurement (the runner owns it).

use std::path::Path;

use hdrhistogram::Histogram;
use serde_json::{json, Map, Value};

use crate::hgrm::percentile_distribution;
use crate::plot::{percentile_svg, Line};
use crate::rows::Section;
use crate::runner::{Allocations, Amount, LatencyResult, Measured, Res, RowResult, RunConfig};

/// The percentiles the tables show, then the max.
const QUANTILES: [(&str, f64); 5] = [
    ("p50", 0.50),
    ("p90", 0.90),
    ("p99", 0.99),
    ("p99.9", 0.999),
    ("p99.99", 0.9999),
];
/// The percentiles every row is compared to the floors at.
const RATIO_QUANTILES: usize = 4;
/// Where p50 and p99 are in [`percentiles`]' array.
const P50: usize = 0;
const P99: usize = 2;

/// What the run was, for the header, the plot title and the JSON.
pub struct RunInfo {
    /// The shared settings.
    pub config: RunConfig,
    /// `--repeat`.
    pub repeat: u32,
    /// `--pin` as given.
    pub pinned: Option<Vec<usize>>,
    /// Cores the process could use (read before pinning).
    pub cores: usize,
    /// `/proc/loadavg` before and after.
    pub load: (String, String),
    /// Wall time of the run.
    pub seconds: f64,
}

/// A run's results with what it was.
pub struct Report<'a> {
    /// The run.
    pub info: RunInfo,
    /// Its rows, in registry order.
    pub rows: &'a [RowResult],
}

fn percentiles(h: &Histogram<u64>) -> [u64; 6] {
    let mut values = [0u64; 6];
    for (slot, (_, q)) in values.iter_mut().zip(QUANTILES) {
        *slot = h.value_at_quantile(q);
    }
    values[5] = h.max();
    values
}

fn names() -> impl Iterator<Item = &'static str> {
    QUANTILES.iter().map(|q| q.0).chain(["max"])
}

/// µs with as many decimals as are worth reading.
fn us(ns: u64) -> String {
    let us = ns as f64 / 1000.0;
    if us < 100.0 {
        format!("{us:.2}")
    } else if us < 10_000.0 {
        format!("{us:.1}")
    } else {
        format!("{us:.0}")
    }
}

fn round(v: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (v * scale).round() / scale
}

fn per_message(a: &Allocations, messages: u64) -> f64 {
    a.total() as f64 / messages.max(1) as f64
}

fn allocations_json(a: &Allocations, messages: u64) -> Value {
    json!({
        "client": a.client,
        "server": a.server,
        "per_message": round(per_message(a, messages), 4),
    })
}

fn allocations_cell(a: &Allocations, messages: u64) -> [String; 2] {
    [
        format!("{:.2}", per_message(a, messages)),
        format!("{} + {}", a.client, a.server),
    ]
}

/// A table: a header and rows of cells.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| (*h).to_owned()).collect(),
            rows: Vec::new(),
        }
    }

    fn markdown(&self) -> String {
        let line = |cells: &[String]| format!("| {} |\n", cells.join(" | "));
        let rule = vec!["---".to_owned(); self.header.len()];
        let mut out = line(&self.header) + &line(&rule);
        for row in &self.rows {
            out += &line(row);
        }
        out
    }

    fn text(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let line = |cells: &[String]| {
            let mut s = String::new();
            for (i, (cell, w)) in cells.iter().zip(&widths).enumerate() {
                let pad = " ".repeat(w - cell.chars().count());
                if i == 0 {
                    s += &format!("{cell}{pad}");
                } else {
                    s += &format!("  {pad}{cell}");
                }
            }
            s + "\n"
        };
        let mut out = line(&self.header);
        for row in &self.rows {
            out += &line(row);
        }
        out
    }
}

impl Report<'_> {
    fn latency(&self) -> impl Iterator<Item = (&RowResult, &LatencyResult)> {
        self.rows.iter().filter_map(|r| match &r.measured {
            Measured::Latency(l) => Some((r, l)),
            Measured::Throughput(_) => None,
        })
    }

    fn throughput(&self) -> impl Iterator<Item = (&RowResult, &crate::runner::ThroughputResult)> {
        self.rows.iter().filter_map(|r| match &r.measured {
            Measured::Throughput(t) => Some((r, t)),
            Measured::Latency(_) => None,
        })
    }

    /// The latency floors and their percentiles.
    fn latency_floors(&self) -> Vec<(&'static str, [u64; 6])> {
        self.latency()
            .filter(|(r, _)| r.spec.floor)
            .map(|(r, l)| (r.spec.name, percentiles(&l.latency)))
            .collect()
    }

    fn throughput_floors(&self) -> Vec<(&'static str, f64)> {
        self.throughput()
            .filter(|(r, _)| r.spec.floor)
            .map(|(r, t)| (r.spec.name, rate(t)))
            .collect()
    }

    /// One line saying what the run was.
    pub fn title(&self) -> String {
        self.title_lines().join(", ")
    }

    /// What the run was, in two lines: the workload, then the machine.
    fn title_lines(&self) -> [String; 2] {
        let c = &self.info.config;
        let mode = match c.rate {
            Some(rate) => format!("fixed rate {rate} msg/s (latency from the intended send time)"),
            None => "flat out (ping-pong)".to_owned(),
        };
        let amount = match c.amount {
            Amount::Count(n) => format!("{n} msgs one way"),
            Amount::Duration(d) => format!("{:.1} s one way", d.as_secs_f64()),
        };
        [
            format!(
                "fixp-perf: {} B, {mode}, {} msgs after {} warm-up, {amount}, x{}",
                c.size, c.count, c.warmup, self.info.repeat,
            ),
            format!(
                "wait {}, pinned {}, {} cores, load {} -> {}",
                format!("{:?}", c.wait).to_lowercase(),
                self.info
                    .pinned
                    .as_ref()
                    .map_or("no".to_owned(), |p| format!("{p:?}")),
                self.info.cores,
                self.info.load.0,
                self.info.load.1,
            ),
        ]
    }

    fn percentile_table(&self, service: bool) -> Table {
        let mut header = vec!["row (µs)"];
        header.extend(names());
        if !service {
            header.extend(["allocs/msg", "allocs (client + server)"]);
        }
        let mut table = Table::new(&header);
        for (r, l) in self.latency() {
            let h = if service { &l.service } else { &l.latency };
            let mut row = vec![r.spec.name.to_owned()];
            row.extend(percentiles(h).iter().map(|v| us(*v)));
            if !service {
                row.extend(allocations_cell(&l.allocations, h.len()));
            }
            table.rows.push(row);
        }
        table
    }

    fn ratio_table(&self) -> Table {
        let floors = self.latency_floors();
        let floor_names: Vec<&str> = floors.iter().map(|f| f.0).collect();
        let mut header = vec![format!("ratio to {}", floor_names.join(" / "))];
        header.extend(names().take(RATIO_QUANTILES).map(str::to_owned));
        let mut table = Table {
            header,
            rows: Vec::new(),
        };
        for (r, l) in self.latency() {
            let values = percentiles(&l.latency);
            let mut row = vec![r.spec.name.to_owned()];
            for i in 0..RATIO_QUANTILES {
                let cells: Vec<String> = floors
                    .iter()
                    .map(|(_, f)| format!("{:.2}", values[i] as f64 / f[i].max(1) as f64))
                    .collect();
                row.push(cells.join(" / "));
            }
            table.rows.push(row);
        }
        table
    }

    fn throughput_table(&self) -> Table {
        let floors = self.throughput_floors();
        let ratio = format!(
            "ratio to {}",
            floors.iter().map(|f| f.0).collect::<Vec<_>>().join(" / ")
        );
        let mut table = Table::new(&[
            "row (one way)",
            "messages",
            "seconds",
            "msg/s",
            "MB/s",
            "repeats: min-max msg/s",
            &ratio,
            "allocs/msg",
            "allocs (client + server)",
        ]);
        let size = self.info.config.size;
        for (r, t) in self.throughput() {
            let per_s = rate(t);
            let mut row = vec![
                r.spec.name.to_owned(),
                t.messages.to_string(),
                format!("{:.3}", t.elapsed.as_secs_f64()),
                format!("{per_s:.0}"),
                format!("{:.1}", per_s * size as f64 / 1e6),
                spread(&t.runs),
                floors
                    .iter()
                    .map(|(_, f)| format!("{:.2}", per_s / f.max(f64::MIN_POSITIVE)))
                    .collect::<Vec<_>>()
                    .join(" / "),
            ];
            row.extend(allocations_cell(&t.allocations, t.messages));
            table.rows.push(row);
        }
        table
    }

    /// The scale rows with their session counts, in registry order.
    fn scale(&self) -> Vec<(usize, &RowResult, &LatencyResult)> {
        self.latency()
            .filter_map(|(r, l)| match r.spec.section {
                Section::Scale(n) => Some((n, r, l)),
                Section::Main => None,
            })
            .collect()
    }

    /// p50 and p99 of the scale rows against the session count, and as ratios to the
    /// one-session row of the same run (when it ran).
    fn scale_table(&self) -> Table {
        let rows = self.scale();
        let base = rows
            .iter()
            .find(|(n, _, _)| *n == 1)
            .map(|(_, _, l)| percentiles(&l.latency));
        let mut table = Table::new(&[
            "sessions",
            "row",
            "p50 (µs)",
            "p99 (µs)",
            "p50 / 1 session",
            "p99 / 1 session",
            "allocs/msg",
        ]);
        for (n, r, l) in rows {
            let values = percentiles(&l.latency);
            let ratio = |i: usize| {
                base.map_or("-".to_owned(), |b| {
                    format!("{:.2}", values[i] as f64 / b[i].max(1) as f64)
                })
            };
            let [per, _] = allocations_cell(&l.allocations, l.latency.len());
            table.rows.push(vec![
                n.to_string(),
                r.spec.name.to_owned(),
                us(values[P50]),
                us(values[P99]),
                ratio(P50),
                ratio(P99),
                per,
            ]);
        }
        table
    }

    /// The scale section of the JSON summary.
    fn scale_json(&self) -> Vec<Value> {
        let rows = self.scale();
        let base = rows
            .iter()
            .find(|(n, _, _)| *n == 1)
            .map(|(_, _, l)| percentiles(&l.latency));
        rows.iter()
            .map(|(n, r, l)| {
                let values = percentiles(&l.latency);
                let ratio =
                    |i: usize| base.map(|b| round(values[i] as f64 / b[i].max(1) as f64, 3));
                json!({
                    "sessions": n,
                    "row": r.spec.name,
                    "p50_ns": values[P50],
                    "p99_ns": values[P99],
                    "p50_ratio_to_1": ratio(P50),
                    "p99_ratio_to_1": ratio(P99),
                })
            })
            .collect()
    }

    fn tables(&self) -> Vec<(String, Table)> {
        let mut tables = Vec::new();
        if self.latency().next().is_some() {
            let what = match self.info.config.rate {
                Some(_) => "Latency from the intended send time (coordinated omission corrected)",
                None => "Round-trip latency, flat out",
            };
            tables.push((what.to_owned(), self.percentile_table(false)));
            if self.info.config.rate.is_some() {
                tables.push((
                    "Service time (from the actual send, uncorrected)".to_owned(),
                    self.percentile_table(true),
                ));
            }
            tables.push((
                "Ratios to the floors of the same run".to_owned(),
                self.ratio_table(),
            ));
        }
        if !self.scale().is_empty() {
            tables.push((
                "Scale: sessions on one server engine thread, round robin (p50/p99 against the count)"
                    .to_owned(),
                self.scale_table(),
            ));
        }
        if self.throughput().next().is_some() {
            tables.push((
                format!(
                    "Throughput, one session one way, {} B",
                    self.info.config.size
                ),
                self.throughput_table(),
            ));
        }
        tables
    }

    /// The aligned text report.
    pub fn text(&self) -> String {
        let mut out = format!("{} ({:.1} s)\n", self.title(), self.info.seconds);
        for (what, table) in self.tables() {
            out += &format!("\n{what}:\n{}", table.text());
        }
        out
    }

    /// The report as the Markdown tables RESULTS.md uses.
    pub fn markdown(&self) -> String {
        let mut out = format!("`{}`\n", self.title());
        for (what, table) in self.tables() {
            out += &format!("\n**{what}**\n\n{}", table.markdown());
        }
        out
    }

    /// The JSON summary.
    pub fn json(&self) -> Value {
        let c = &self.info.config;
        let floors = self.latency_floors();
        let latency: Vec<Value> = self
            .latency()
            .map(|(r, l)| {
                let values = percentiles(&l.latency);
                let mut ratios = Map::new();
                for (name, floor) in &floors {
                    let mut at = Map::new();
                    for (i, q) in names().take(RATIO_QUANTILES).enumerate() {
                        let ratio = values[i] as f64 / floor[i].max(1) as f64;
                        at.insert(q.into(), json!(round(ratio, 3)));
                    }
                    ratios.insert((*name).into(), Value::Object(at));
                }
                let ns = |h: &Histogram<u64>| {
                    let values = percentiles(h);
                    Value::Object(
                        names()
                            .zip(values)
                            .map(|(n, v)| (n.into(), json!(v)))
                            .collect(),
                    )
                };
                json!({
                    "row": r.spec.name,
                    "floor": r.spec.floor,
                    "count": l.latency.len(),
                    "mean_ns": l.latency.mean().round(),
                    "ns": ns(&l.latency),
                    "service_ns": ns(&l.service),
                    "ratios": ratios,
                    "allocations": allocations_json(&l.allocations, l.latency.len()),
                })
            })
            .collect();
        let tp_floors = self.throughput_floors();
        let throughput: Vec<Value> = self
            .throughput()
            .map(|(r, t)| {
                let per_s = rate(t);
                let ratios: Map<String, Value> = tp_floors
                    .iter()
                    .map(|(n, f)| ((*n).into(), json!(round(per_s / f, 3))))
                    .collect();
                json!({
                    "row": r.spec.name,
                    "floor": r.spec.floor,
                    "messages": t.messages,
                    "seconds": t.elapsed.as_secs_f64(),
                    "msgs_per_s": per_s.round(),
                    "mb_per_s": round(per_s * c.size as f64 / 1e6, 2),
                    "runs_msgs_per_s": t.runs.iter().map(|v| v.round()).collect::<Vec<_>>(),
                    "ratios": ratios,
                    "allocations": allocations_json(&t.allocations, t.messages),
                })
            })
            .collect();
        json!({
            "options": {
                "size": c.size,
                "count": c.count,
                "warmup": c.warmup,
                "repeat": self.info.repeat,
                "wait": format!("{:?}", c.wait).to_lowercase(),
                "rate": c.rate,
                "throughput_messages": match c.amount { Amount::Count(n) => Some(n), Amount::Duration(_) => None },
                "throughput_seconds": match c.amount { Amount::Duration(d) => Some(d.as_secs_f64()), Amount::Count(_) => None },
                "pinned": self.info.pinned,
            },
            "machine": {
                "cores": self.info.cores,
                "load_before": self.info.load.0,
                "load_after": self.info.load.1,
            },
            "seconds": self.info.seconds,
            "title": self.title(),
            "latency": latency,
            "scale": self.scale_json(),
            "throughput": throughput,
        })
    }

    /// Writes `<row>.hgrm` per latency row (and `<row>.service.hgrm` at a fixed rate),
    /// `summary.json` and `latency.svg` into `dir`; returns the files written.
    pub fn write(&self, dir: &Path) -> Res<Vec<String>> {
        std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
        let mut written = Vec::new();
        let mut put = |name: String, text: &str| -> Res<()> {
            let path = dir.join(&name);
            std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
            written.push(name);
            Ok(())
        };
        let fixed_rate = self.info.config.rate.is_some();
        let mut lines = Vec::new();
        for (r, l) in self.latency() {
            put(
                format!("{}.hgrm", r.spec.name),
                &percentile_distribution(&l.latency, 1000.0),
            )?;
            lines.push(Line {
                label: r.spec.name.to_owned(),
                histogram: &l.latency,
                secondary: false,
            });
            if fixed_rate {
                put(
                    format!("{}.service.hgrm", r.spec.name),
                    &percentile_distribution(&l.service, 1000.0),
                )?;
                lines.push(Line {
                    label: format!("{} (service time)", r.spec.name),
                    histogram: &l.service,
                    secondary: true,
                });
            }
        }
        let summary = serde_json::to_string_pretty(&self.json()).map_err(|e| e.to_string())?;
        put("summary.json".into(), &summary)?;
        if !lines.is_empty() {
            put(
                "latency.svg".into(),
                &percentile_svg(&self.title_lines(), &lines)?,
            )?;
        }
        Ok(written)
    }
}

/// Messages per second of a throughput result.
fn rate(t: &crate::runner::ThroughputResult) -> f64 {
    t.messages as f64 / t.elapsed.as_secs_f64().max(f64::MIN_POSITIVE)
}

/// The lowest and highest of the repeats' rates.
fn spread(runs: &[f64]) -> String {
    let lo = runs.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = runs.iter().copied().fold(0.0, f64::max);
    if runs.is_empty() {
        "-".into()
    } else {
        format!("{lo:.0}-{hi:.0}")
    }
}
