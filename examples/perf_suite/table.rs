//! The one table, as Markdown (so it can go into the README as printed), and the units.

use crate::bench::{Measured, Metric, compare};

pub const HEADER: [&str; 12] = [
    "group",
    "contender",
    "thr",
    "log",
    "p50",
    "p99",
    "p99.9",
    "max",
    "ops/s",
    "disk/op",
    "peak RSS",
    "compared (within rounds)",
];

/// One line of the table; empty cells print as `–`.
#[derive(Default, Clone)]
pub struct Row {
    pub cells: [String; 12],
}

impl Row {
    pub fn new(group: &str, contender: &str, threads: &str, log: &str) -> Row {
        let mut row = Row::default();
        row.cells[0] = group.to_owned();
        row.cells[1] = contender.to_owned();
        row.cells[2] = threads.to_owned();
        row.cells[3] = log.to_owned();
        row
    }

    /// A row for a measured contender: medians over rounds for p50 and ops/s, tails over
    /// all its operations.
    pub fn measured(group: &str, contender: &str, threads: usize, log: &str, m: &Measured) -> Row {
        let mut row = Row::new(group, contender, &threads.to_string(), log);
        if m.has_latencies() {
            row.cells[4] = ns(m.per_op());
            row.cells[5] = ns(m.all.quantile(0.99) as f64);
            row.cells[6] = ns(m.all.quantile(0.999) as f64);
            row.cells[7] = ns(m.all.max() as f64);
        } else {
            row.cells[4] = format!("{} mean", ns(m.per_op()));
        }
        row.cells[8] = rate(m.rate());
        row.cells[9] = m.disk_per_op().map(bytes).unwrap_or_default();
        row.cells[10] = m.peak_rss().map(|b| bytes(b as f64)).unwrap_or_default();
        row
    }

    /// Adds `this <metric> that` to the comparison column, described as `what`.
    pub fn vs(mut self, this: &Measured, that: &Measured, metric: Metric, what: &str) -> Row {
        let value = compare(this, that, metric);
        let text = match metric {
            Metric::PerOp => format!("p50 {} {what}", ratio(value)),
            Metric::Rate => format!("ops/s {} {what}", ratio(value)),
            Metric::PerOpDiff => format!("{} vs {what}", signed_ns(value)),
            Metric::MeanDiff => format!("mean {} vs {what}", signed_ns(value)),
            Metric::CpuDiff => format!("server CPU {} vs {what}", signed_ns(value)),
            Metric::CpuRate => format!("server-bound ops/s {} {what}", ratio(value)),
        };
        self.note(&text);
        self
    }

    /// Adds free text to the comparison column.
    pub fn note(&mut self, text: &str) {
        let cell = &mut self.cells[11];
        if !cell.is_empty() {
            cell.push_str("; ");
        }
        cell.push_str(text);
    }

    pub fn with_note(mut self, text: &str) -> Row {
        self.note(text);
        self
    }
}

/// Prints `rows` as a Markdown table with aligned columns.
pub fn print(rows: &[Row]) {
    let cell = |s: &str| {
        if s.is_empty() {
            "–".to_owned()
        } else {
            s.replace('|', "\\|")
        }
    };
    let mut widths: Vec<usize> = HEADER.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(&row.cells) {
            *w = (*w).max(cell(c).chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (c, &w))| {
                let pad = w.saturating_sub(c.chars().count());
                // Numbers right-aligned, words left-aligned.
                if (2..11).contains(&i) {
                    format!("{}{c}", " ".repeat(pad))
                } else {
                    format!("{c}{}", " ".repeat(pad))
                }
            })
            .collect();
        println!("| {} |", padded.join(" | "));
    };
    line(HEADER.iter().map(|h| h.to_string()).collect());
    line(
        widths
            .iter()
            .enumerate()
            .map(|(i, &w)| {
                if (2..11).contains(&i) {
                    format!("{}:", "-".repeat(w.saturating_sub(1)))
                } else {
                    "-".repeat(w)
                }
            })
            .collect(),
    );
    for row in rows {
        line(row.cells.iter().map(|c| cell(c)).collect());
    }
}

/// A duration in nanoseconds, three significant digits.
pub fn ns(v: f64) -> String {
    let (value, unit) = if v < 1e3 {
        (v, "ns")
    } else if v < 1e6 {
        (v / 1e3, "µs")
    } else if v < 1e9 {
        (v / 1e6, "ms")
    } else {
        (v / 1e9, "s")
    };
    format!("{} {unit}", sig3(value))
}

fn signed_ns(v: f64) -> String {
    if v < 0.0 {
        format!("−{}", ns(-v))
    } else {
        format!("+{}", ns(v))
    }
}

fn sig3(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// Bytes, decimal units (as disks are sold and as `df -H` prints).
pub fn bytes(v: f64) -> String {
    if v < 1e3 {
        format!("{v:.0} B")
    } else if v < 1e6 {
        format!("{} kB", sig3(v / 1e3))
    } else if v < 1e9 {
        format!("{} MB", sig3(v / 1e6))
    } else {
        format!("{} GB", sig3(v / 1e9))
    }
}

/// Operations per second.
pub fn rate(v: f64) -> String {
    if v >= 1e7 {
        format!("{}M", sig3(v / 1e6))
    } else {
        thousands(v.round() as u64)
    }
}

/// A ratio; a small one as `1/N`, which reads better than ×0.00017.
pub fn ratio(v: f64) -> String {
    if !v.is_finite() {
        "n/a".to_owned()
    } else if v > 0.0 && v < 0.1 {
        format!("1/{}", thousands((1.0 / v).round() as u64))
    } else {
        format!("{v:.2}×")
    }
}

pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// An event count the way the table's `log` column names sizes: 0, 1k, 10k, 1M, 10M.
pub fn count(n: u64) -> String {
    match n {
        0 => "0".to_owned(),
        n if n >= 1_000_000 && n.is_multiple_of(1_000_000) => format!("{}M", n / 1_000_000),
        n if n >= 1_000 && n.is_multiple_of(1_000) => format!("{}k", n / 1_000),
        n => thousands(n),
    }
}
