//! The log sections, one per format: ours (Written, Synced; 1/4/16 threads; empty and
//! prefilled logs), the floors with the same bytes, and for JSON tracing-subscriber and the
//! caller's share, all in the same rounds; then the fills, each run alone.

use std::path::Path;

use audited::{Durability, Format};

use crate::bench::{BoxError, Contender, Metric, find, run_rounds};
use crate::floors::{Discipline, Floor, Target};
use crate::ours::{self, CallerClone, Chain, Log, Ours, Policy};
use crate::table::{self, Row, bytes, count, ns, ratio, thousands};
use crate::{Config, THREADS, event, tracing_json};

/// Which contenders a log format's section has, by key.
fn ours_key(format: Format, durability: Durability, threads: usize, log: u64) -> String {
    format!("ours {format} {durability:?} {threads}t {log}")
}

/// Threads for the tamper-evident contenders.
const CHAINED_THREADS: [usize; 2] = [1, 4];

fn chained_key(format: Format, what: &str, threads: usize) -> String {
    format!("ours {format} Written {threads}t 0 {what}")
}

/// The contender with redaction and the size cap off (issue 12's cost), 1 thread, fresh log.
fn policy_off_key(format: Format) -> String {
    format!("ours {format} Written 1t 0, redaction and size cap off")
}

fn floor_key(discipline: Discipline, threads: usize) -> String {
    format!("floor {discipline:?} {threads}t")
}

fn tracing_key(threads: usize) -> String {
    format!("tracing {threads}t")
}

/// The section of `format`; its logs live under `dir`, removed at the end.
pub fn section(format: Format, config: &Config, dir: &Path) -> Result<Vec<Row>, BoxError> {
    let group = format.as_str().to_ascii_uppercase();
    eprintln!("{group}:");
    let (target, bytes) = match format {
        Format::Json => (Target::Gap, event::json_chunk()),
        _ => (Target::Append, event::csv_row()),
    };
    check_same_bytes(format, &dir.join("check"), bytes.len() as u64)?;

    // Fills first, each alone: the 16-thread ones are measured and deleted, then the
    // 1-thread ones are kept as the prefilled logs (so at most one big extra file exists).
    let mut rows = Vec::new();
    let mut prefilled = Vec::new();
    for threads in [16, 1] {
        for &size in &config.prefills {
            eprintln!("  filling 0 → {} from {threads} thread(s)", count(size));
            let fill_dir = dir.join(format!("fill-{threads}t-{}", count(size)));
            let (logger, fill) = ours::fill(&fill_dir, format, size, threads)?;
            rows.push(fill_row(&group, threads, size, &fill));
            if threads == 1 {
                let synced = ours::open(&fill_dir, format, Durability::Synced)?;
                prefilled.push((size, logger, synced));
            } else {
                drop(logger);
                std::fs::remove_dir_all(&fill_dir)?;
            }
        }
    }

    let mut contenders: Vec<Box<dyn Contender>> = Vec::new();
    for durability in [Durability::Written, Durability::Synced] {
        let ops = match durability {
            Durability::Written => config.written,
            Durability::Synced => config.synced,
        };
        for &threads in &THREADS {
            let key = ours_key(format, durability, threads, 0);
            let fresh = dir.join(format!("ours-{durability:?}-{threads}t"));
            let log = Log::fresh(fresh, format, durability, 0);
            contenders.push(Box::new(Ours::new(key, log, threads, ops)));
            for (size, written, synced) in &prefilled {
                let key = ours_key(format, durability, threads, *size);
                let logger = match durability {
                    Durability::Written => written.clone(),
                    Durability::Synced => synced.clone(),
                };
                contenders.push(Box::new(Ours::new(
                    key,
                    Log::Prefilled(logger),
                    threads,
                    ops,
                )));
            }
        }
    }
    // Tamper evidence (issue 11): the same fresh logs with the hash chain, and with the chain
    // and signed digests at the default interval, beside the plain ones in every round.
    let key_dir = dir.join("signing-key");
    std::fs::create_dir_all(&key_dir)?;
    let key = key_dir.join("audit.key");
    audited::integrity::SigningKey::generate()?.write_files(&key, &key_dir.join("audit.pub"))?;
    for &threads in &CHAINED_THREADS {
        for (what, chain) in [
            ("chained", Chain::On),
            ("signed", Chain::Signed(key.clone())),
        ] {
            let fresh = dir.join(format!("ours-{what}-{threads}t"));
            let log = Log::fresh_chained(fresh, format, Durability::Written, chain);
            contenders.push(Box::new(Ours::new(
                chained_key(format, what, threads),
                log,
                threads,
                config.written,
            )));
        }
    }
    // The same logger without redaction and size cap, in the same rounds: what they cost.
    let off_dir = dir.join("ours-policy-off");
    let off = Log::fresh(off_dir, format, Durability::Written, 0).with_policy(Policy::Off);
    contenders.push(Box::new(Ours::new(
        policy_off_key(format),
        off,
        1,
        config.written,
    )));
    let disciplines = [
        Discipline::Bare,
        Discipline::Flock,
        Discipline::OurSyscalls,
        Discipline::FsyncUnderMutex,
        Discipline::FdatasyncOutside,
    ];
    for discipline in disciplines {
        for &threads in &THREADS {
            let ops = if discipline.durable() {
                config.synced
            } else {
                config.written
            };
            contenders.push(Box::new(Floor::new(
                floor_key(discipline, threads),
                target,
                discipline,
                threads,
                ops,
                bytes.clone(),
                event::csv_header(),
                dir.join(format!("floor-{discipline:?}-{threads}t")),
            )));
        }
    }
    if format == Format::Json {
        for &threads in &THREADS {
            std::fs::create_dir_all(dir)?;
            let path = dir.join(format!("tracing-{threads}t.log"));
            contenders.push(Box::new(tracing_json::TracingJson::new(
                tracing_key(threads),
                threads,
                config.written,
                path,
            )));
        }
        contenders.push(Box::new(CallerClone::new(config.written)));
    }
    let results = run_rounds(&group, contenders, config.rounds)?;

    // The rows, in reading order: ours, then what it is compared with.
    let mut measured_rows = Vec::new();
    let mut sizes = vec![0];
    sizes.extend(prefilled.iter().map(|(size, ..)| *size));
    for durability in [Durability::Written, Durability::Synced] {
        for &size in &sizes {
            for &threads in &THREADS {
                let m = find(&results, &ours_key(format, durability, threads, size))?;
                let name = format!("ours, {durability:?}");
                let mut row = Row::measured(&group, &name, threads, &count(size), m);
                if durability == Durability::Written {
                    let locked = find(&results, &floor_key(Discipline::Flock, threads))?;
                    let bare = find(&results, &floor_key(Discipline::Bare, threads))?;
                    let syscalls = find(&results, &floor_key(Discipline::OurSyscalls, threads))?;
                    row = row
                        .vs(m, locked, Metric::PerOp, &locked_name(target))
                        .vs(m, bare, Metric::PerOp, &bare_name(target))
                        .vs(m, syscalls, Metric::PerOp, "our syscalls");
                } else {
                    let naive = find(&results, &floor_key(Discipline::FsyncUnderMutex, threads))?;
                    let outside =
                        find(&results, &floor_key(Discipline::FdatasyncOutside, threads))?;
                    row = row.vs(m, naive, Metric::Rate, "fsync under mutex").vs(
                        m,
                        outside,
                        Metric::Rate,
                        "fdatasync outside mutex",
                    );
                }
                if threads > 1 {
                    let one = find(&results, &ours_key(format, durability, 1, size))?;
                    row = row.vs(m, one, Metric::Rate, "1 thread");
                }
                if size > 0 {
                    let empty = find(&results, &ours_key(format, durability, threads, 0))?;
                    row = row.vs(m, empty, Metric::PerOp, "empty log");
                }
                if durability == Durability::Written && threads == 1 && size == 0 {
                    // Issue 12's budget: the default adds at most 0.5 µs per event.
                    let off = find(&results, &policy_off_key(format))?;
                    let what = "redaction + size cap off";
                    row = row
                        .vs(m, off, Metric::PerOpDiff, what)
                        .vs(m, off, Metric::PerOp, what);
                    measured_rows.push(row);
                    let name = "ours, Written, redaction + size cap off";
                    measured_rows.push(Row::measured(&group, name, 1, "0", off));
                } else {
                    measured_rows.push(row);
                }
            }
        }
    }
    for &threads in &CHAINED_THREADS {
        let plain = find(&results, &ours_key(format, Durability::Written, threads, 0))?;
        let chained = find(&results, &chained_key(format, "chained", threads))?;
        let signed = find(&results, &chained_key(format, "signed", threads))?;
        measured_rows.push(
            Row::measured(&group, "ours, Written, chained", threads, "0", chained)
                .vs(chained, plain, Metric::PerOp, "ours, Written")
                .vs(chained, plain, Metric::PerOpDiff, "ours, Written"),
        );
        measured_rows.push(
            Row::measured(
                &group,
                "ours, Written, chained + signed",
                threads,
                "0",
                signed,
            )
            .vs(signed, chained, Metric::PerOpDiff, "chained")
            .vs(signed, chained, Metric::MeanDiff, "chained")
            .vs(signed, plain, Metric::PerOp, "ours, Written"),
        );
    }
    for discipline in disciplines {
        for &threads in &THREADS {
            let m = find(&results, &floor_key(discipline, threads))?;
            let mut row = Row::measured(&group, discipline.name(target), threads, "", m);
            if discipline == Discipline::Flock {
                let bare = find(&results, &floor_key(Discipline::Bare, threads))?;
                row = row.vs(m, bare, Metric::PerOp, &bare_name(target));
            }
            if discipline == Discipline::OurSyscalls {
                let locked = find(&results, &floor_key(Discipline::Flock, threads))?;
                row = row.vs(m, locked, Metric::PerOp, &locked_name(target));
            }
            if discipline == Discipline::FdatasyncOutside {
                let naive = find(&results, &floor_key(Discipline::FsyncUnderMutex, threads))?;
                row = row.vs(m, naive, Metric::Rate, "fsync under mutex");
            }
            measured_rows.push(row);
        }
    }
    if format == Format::Json {
        for &threads in &THREADS {
            let m = find(&results, &tracing_key(threads))?;
            let ours = find(&results, &ours_key(format, Durability::Written, threads, 0))?;
            let line = std::fs::metadata(dir.join(format!("tracing-{threads}t.log")))
                .map(|meta| meta.len() as f64 / config.written as f64)
                .unwrap_or(0.0);
            let row = Row::measured(
                &group,
                "tracing-subscriber fmt().json() to a file",
                threads,
                "",
                m,
            )
            .vs(m, ours, Metric::PerOp, "ours, Written")
            .with_note(&format!("{line:.0} B per line"));
            measured_rows.push(row);
        }
        let m = find(&results, "caller clone")?;
        let ours = find(&results, &ours_key(format, Durability::Written, 1, 0))?;
        measured_rows.push(
            Row::measured(&group, "caller: clone the details map (in ours)", 1, "", m).vs(
                m,
                ours,
                Metric::PerOp,
                "ours, Written",
            ),
        );
    }
    measured_rows.extend(rows);
    drop(prefilled);
    std::fs::remove_dir_all(dir)?;
    Ok(measured_rows)
}

fn locked_name(target: Target) -> String {
    Discipline::Flock
        .name(target)
        .trim_start_matches("floor: ")
        .to_owned()
}

fn bare_name(target: Target) -> String {
    Discipline::Bare
        .name(target)
        .trim_start_matches("floor: ")
        .to_owned()
}

/// The floors are only a floor if they write what the logger writes: one event through a
/// fresh logger must count exactly the floor's bytes.
fn check_same_bytes(format: Format, dir: &Path, floor_bytes: u64) -> Result<(), BoxError> {
    let logger = ours::open(dir, format, Durability::Written)?;
    let details = event::details();
    // The second event: the first of a JSON log ends at the `]` (no comma).
    ours::log_one(&logger, &details)?;
    let before = logger.stats().bytes_written;
    ours::log_one(&logger, &details)?;
    let ours = logger.stats().bytes_written - before;
    drop(logger);
    std::fs::remove_dir_all(dir)?;
    if ours == floor_bytes {
        Ok(())
    } else {
        Err(
            format!("{format}: the logger writes {ours} B per event, the floor {floor_bytes} B")
                .into(),
        )
    }
}

fn fill_row(group: &str, threads: usize, size: u64, fill: &ours::Fill) -> Row {
    let h = &fill.latencies;
    let mut row = Row::new(
        group,
        "ours, Written: fill",
        &threads.to_string(),
        &format!("0→{}", count(size)),
    );
    row.cells[4] = ns(h.quantile(0.5) as f64);
    row.cells[5] = ns(h.quantile(0.99) as f64);
    row.cells[6] = ns(h.quantile(0.999) as f64);
    row.cells[7] = ns(h.max() as f64);
    row.cells[8] = table::rate(h.count() as f64 / fill.wall.as_secs_f64().max(1e-9));
    row.cells[10] = fill.peak_rss.map(|b| bytes(b as f64)).unwrap_or_default();
    match fill.disk_bytes {
        Some(disk) => {
            row.cells[9] = bytes(disk as f64 / size as f64);
            row.note(&format!(
                "disk {} = {} the final file ({})",
                bytes(disk as f64),
                ratio(disk as f64 / fill.final_size as f64),
                bytes(fill.final_size as f64)
            ));
        }
        None => row.note(&format!(
            "no /proc/self/io: event bytes {} (rewrites not counted), final file {}",
            bytes(fill.event_bytes as f64),
            bytes(fill.final_size as f64)
        )),
    }
    if threads == 1 {
        row.note(&format!("slowest: event #{}", thousands(h.max_at() + 1)));
    }
    row.note(&format!(
        "{} events over 1 ms",
        thousands(h.count_above(1_000_000))
    ));
    row
}
