//! The crash harness behind `examples/crash_run.rs` and `tests/crash_kill.rs`: writers killed
//! with SIGKILL at random moments while another process keeps writing to the same log, and
//! what that leaves in the file.
//!
//! Per combination of format, writer threads and event size, one "survivor" process logs
//! small events the whole time, and "victim" processes log events as fast as they can until
//! the parent kills them (and starts the next). Children print an event's id on stdout only
//! after `log_event` returned `Ok`: those are the acknowledged events, which must all be in
//! the final log exactly once. After every kill the parent waits for the survivor to
//! acknowledge another event, then takes the writers' lock and parses the whole log with
//! serde_json / the csv crate, independently of the crate's own reader.
//!
//! At the end of each log the parent also checks the order (each writer thread's events in
//! the order it logged them, each victim's before the next one's) and reads the log with
//! Python's `json` / `csv` modules ([`python`]), which must see the same events. With
//! [`Settings::kills_per_log`] a combination starts a fresh log (and survivor) every so many
//! kills, which keeps each kill's cycle short however many kills are asked for.
//!
//! Both binaries re-execute themselves with [`CHILD_ARG`] to become a child, and hand the
//! remaining arguments to [`child_main`].

#![allow(dead_code)]

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use audit_runtime::{AuditLogger, Format, Status};
use serde::Deserialize;
use serde::de::IgnoredAny;
use serde_json::json;

#[path = "python.rs"]
mod python;

/// The first argument that turns the binary into a child process.
pub const CHILD_ARG: &str = "--child";

/// How long the parent waits for a child before calling it stuck. A safety limit that fails
/// loudly, never a measure of speed: a healthy child answers in milliseconds.
const STUCK: Duration = Duration::from_secs(120);

/// What the victims log per event, besides the id: about 2 KB or about 1 MB of padding.
const SMALL_PAD: usize = 2_000;
const BIG_PAD: usize = 1 << 20;

#[derive(Clone, Copy, Debug)]
pub struct Combo {
    pub format: Format,
    pub threads: usize,
    pub big: bool,
    /// The padding of a big event ([`Settings::big_pad`]).
    pub big_pad: usize,
}

impl Combo {
    pub fn label(&self) -> String {
        format!(
            "{:<4} {} thr {}",
            self.format.as_str(),
            self.threads,
            match (self.big, self.big_pad) {
                (false, _) => "2 KB".to_owned(),
                (true, pad) if pad >= 1 << 20 => format!("{} MB", pad >> 20),
                (true, pad) => format!("{} KB", pad >> 10),
            }
        )
    }

    fn pad(&self) -> usize {
        if self.big { self.big_pad } else { SMALL_PAD }
    }
}

/// Every combination the harness covers: format × writer threads × event size.
pub fn combos() -> Vec<Combo> {
    let mut all = Vec::new();
    for format in [Format::Json, Format::Csv] {
        for threads in [1, 4] {
            for big in [false, true] {
                all.push(Combo {
                    format,
                    threads,
                    big,
                    big_pad: BIG_PAD,
                });
            }
        }
    }
    all
}

/// A check of the final log: its path and format; `Err` says what is wrong.
pub type FinalCheck = fn(&Path, Format) -> Result<(), String>;

#[derive(Clone, Debug)]
pub struct Settings {
    /// Victims killed per combination.
    pub kills: usize,
    /// Every other victim is killed this long after its first acknowledged event, chosen
    /// uniformly from `0..=max_delay`; the others a random number of events in, during the
    /// later part of an event (see [`run_combo`]). A plain random delay rarely lands inside
    /// a write: a victim spends most of its time encoding.
    pub max_delay: Duration,
    /// Events one victim logs at most (over all its threads) before it just waits to be
    /// killed: this bounds the disk a combination uses.
    pub small_events_per_victim: u64,
    pub big_events_per_victim: u64,
    /// The padding of a big event: 1 MB unless set lower (a smaller big event still spans
    /// many pages and makes the JSON log be rewritten every few events, at a fraction of the
    /// time a debug build needs to read 1 MB events back after every kill).
    pub big_pad: usize,
    /// Kills per log: after that many, the log is checked and a fresh one (with a fresh
    /// survivor) takes over, so that reading the log after each kill stays cheap. 0: one log
    /// per combination.
    pub kills_per_log: usize,
    pub seed: u64,
    /// Run on the final log (its path and format) once the writers stopped; an `Err` fails
    /// the combination (the integrity tests check the hash chain with it).
    pub final_check: Option<FinalCheck>,
}

impl Settings {
    pub fn new(kills: usize, seed: u64) -> Settings {
        Settings {
            kills,
            max_delay: Duration::from_millis(30),
            small_events_per_victim: 8_000,
            big_events_per_victim: 12,
            big_pad: BIG_PAD,
            kills_per_log: 0,
            seed,
            final_check: None,
        }
    }
}

/// What one combination's run found.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    pub kills: usize,
    pub acked: usize,
    /// Acknowledged events missing from the final log.
    pub lost: usize,
    /// Ids found more than once in the final log.
    pub duplicated: usize,
    /// Kills after which the log did not parse, checked after the survivor's next write.
    pub unparseable: usize,
    /// Kills after which the log did not parse right away (before the survivor wrote again,
    /// as far as the parent could get the lock first): a torn write, repaired or not.
    pub torn: usize,
    /// Whether the final log parsed.
    pub final_unparseable: bool,
    /// Errors children reported (`log_event` or opening the log failed).
    pub child_errors: usize,
    pub time: Duration,
    /// Kills made when a big event's write was seen under way.
    pub aimed: usize,
    /// Events found out of order in a final log: a writer thread's events not in the order
    /// it logged them, or a victim's after a later victim's.
    pub misordered: usize,
    /// Logs checked at the end (each parsed by serde_json / the csv crate and by Python).
    pub logs: usize,
    /// Logs Python's `json` / `csv` could not read, or read differently.
    pub python_failed: usize,
    /// The first few problems, for the report.
    pub notes: Vec<String>,
}

impl Tally {
    pub fn ok(&self) -> bool {
        self.lost == 0
            && self.duplicated == 0
            && self.unparseable == 0
            && !self.final_unparseable
            && self.child_errors == 0
            && self.misordered == 0
            && self.python_failed == 0
    }

    /// Notes a problem seen after one kill; the first few are enough to go on.
    fn note(&mut self, what: String) {
        if self.notes.len() < 3 {
            self.notes.push(what);
        }
    }

    pub fn add(&mut self, other: &Tally) {
        self.kills += other.kills;
        self.acked += other.acked;
        self.lost += other.lost;
        self.duplicated += other.duplicated;
        self.unparseable += other.unparseable;
        self.torn += other.torn;
        self.final_unparseable |= other.final_unparseable;
        self.child_errors += other.child_errors;
        self.time += other.time;
        self.aimed += other.aimed;
        self.misordered += other.misordered;
        self.logs += other.logs;
        self.python_failed += other.python_failed;
        for note in &other.notes {
            self.note(note.clone());
        }
    }
}

/// A small xorshift generator: the harness only needs spread-out kill moments, and a seed it
/// can print so that a failing run's choices can be repeated.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// A seed that differs between runs.
    pub fn seed_from_clock() -> u64 {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        nanos ^ (u64::from(std::process::id()) << 32)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

// ---------------------------------------------------------------------------------------
// Children

/// Runs a child: `victim DIR FORMAT THREADS PAD MAX_EVENTS TAG` or `survivor DIR FORMAT
/// STOP_FILE`. Prints one acknowledged id per line.
pub fn child_main(args: &[String]) {
    let dir = Path::new(&args[1]);
    let format: Format = args[2].parse().expect("format");
    let logger = match AuditLogger::builder(dir).format(format).build() {
        Ok(logger) => logger,
        Err(e) => {
            println!("err open: {e}");
            std::process::exit(1);
        }
    };
    match args[0].as_str() {
        "victim" => victim(
            &logger,
            args[3].parse().expect("threads"),
            args[4].parse().expect("pad"),
            args[5].parse().expect("max events"),
            &args[6],
        ),
        "survivor" => survivor(&logger, Path::new(&args[3])),
        other => panic!("unknown child {other}"),
    }
}

fn acknowledge(line: &str) {
    let mut out = std::io::stdout().lock();
    // Nobody to tell if the parent is gone; the write fails and the child ends.
    if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
        std::process::exit(1);
    }
}

/// A child outlives its parent only if the parent died first; it then has nothing to do.
fn parent_gone(parent: libc::pid_t) -> bool {
    // SAFETY: getppid has no preconditions.
    unsafe { libc::getppid() != parent }
}

fn victim(logger: &AuditLogger, threads: usize, pad: usize, max_events: u64, tag: &str) {
    let pad = "x".repeat(pad);
    let next = AtomicU64::new(0);
    std::thread::scope(|s| {
        for thread in 0..threads {
            let (pad, next) = (&pad, &next);
            s.spawn(move || {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= max_events {
                        break;
                    }
                    let id = format!("{tag}-{thread}-{n}");
                    let details = json!({"id": id, "pad": pad});
                    match logger.log_event("crash_test", Status::Success, details, None) {
                        Ok(()) => acknowledge(&id),
                        Err(e) => acknowledge(&format!("err {id}: {e}")),
                    }
                }
            });
        }
    });
    // Every run should end with a kill: wait for it rather than exit.
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    while !parent_gone(parent) {
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn survivor(logger: &AuditLogger, stop_file: &Path) {
    // SAFETY: getppid has no preconditions.
    let parent = unsafe { libc::getppid() };
    let mut n = 0u64;
    while !stop_file.exists() && !parent_gone(parent) {
        let id = format!("survivor-{n}");
        match logger.log_event("survivor", Status::Success, json!({"id": id}), None) {
            Ok(()) => acknowledge(&id),
            Err(e) => acknowledge(&format!("err {id}: {e}")),
        }
        n += 1;
        // Small gaps, so that the survivor is often between events when a victim dies too.
        std::thread::sleep(Duration::from_millis(2));
    }
}

// ---------------------------------------------------------------------------------------
// Parent

/// A child whose stdout lines arrive on a channel. Killed when dropped, so that a failing
/// parent leaves no writers behind.
struct Running {
    child: Child,
    lines: Receiver<String>,
    reader: Option<JoinHandle<()>>,
}

impl Running {
    fn spawn(exe: &Path, args: &[String], stderr: &File) -> Running {
        let mut child = Command::new(exe)
            .arg(CHILD_ARG)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(stderr.try_clone().expect("dup stderr file"))
            .spawn()
            .expect("spawn child");
        let stdout = child.stdout.take().expect("child stdout");
        let (tx, lines) = mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// The next line, or `None` once the child closed its stdout.
    fn next_line(&self, what: &str) -> Option<String> {
        match self.lines.recv_timeout(STUCK) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("{what}: no output for {STUCK:?}"),
        }
    }

    /// The lines that have arrived so far.
    fn drain_now(&self) -> Vec<String> {
        self.lines.try_iter().collect()
    }

    fn kill(&mut self) {
        // SAFETY: signalling our own child by pid; it has not been reaped yet.
        unsafe {
            libc::kill(self.child.id() as libc::pid_t, libc::SIGKILL);
        }
        let _ = self.child.wait();
    }

    /// Every line not read yet, up to the end of the child's output (it must have exited).
    fn rest(&mut self) -> Vec<String> {
        if let Some(reader) = self.reader.take() {
            reader.join().expect("reader thread");
        }
        self.lines.try_iter().collect()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            self.kill();
        }
    }
}

/// Acknowledged ids of one child, and its error lines.
#[derive(Default)]
struct Acks {
    ids: Vec<String>,
    errors: Vec<String>,
}

impl Acks {
    fn take(&mut self, lines: Vec<String>) {
        for line in lines {
            if line.starts_with("err ") {
                self.errors.push(line);
            } else {
                self.ids.push(line);
            }
        }
    }
}

/// Runs `f` holding the writers' lock on the log in `dir`, so that no write is in progress.
/// The writers lock the sidecar with `flock`, which is what `File::lock` does on Linux.
fn with_writers_lock<T>(dir: &Path, format: Format, f: impl FnOnce() -> T) -> T {
    let name = format!(".{}.lock", format.file_name().expect("a file format"));
    // Never truncate: the CSV writers keep the newest timestamp in it.
    let lock = OpenOptions::new()
        .read(true)
        .write(true)
        .open(dir.join(name))
        .expect("open the writers' lock file");
    lock.lock().expect("lock");
    let result = f();
    lock.unlock().expect("unlock");
    result
}

#[derive(Deserialize)]
struct Row {
    // Each field must be present; their values are the crate's business, not this harness's.
    #[serde(deserialize_with = "present")]
    timestamp: (),
    #[serde(deserialize_with = "present")]
    action_type: (),
    #[serde(deserialize_with = "present")]
    status: (),
    details: Details,
    #[serde(deserialize_with = "present")]
    error: (),
}

#[derive(Deserialize)]
struct Details {
    id: String,
}

/// Accepts any value, but not a missing field (which `Option` or `#[serde(default)]` would).
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<(), D::Error> {
    IgnoredAny::deserialize(d).map(|_| ())
}

/// The ids in the log at `dir`. Strict: the whole file must parse (a JSON array of objects
/// with the five fields; a CSV header and records of five fields whose details are JSON),
/// else the first problem. Lenient: whatever events can be read one by one.
fn ids_in_log(dir: &Path, format: Format, strict: bool) -> Result<Vec<String>, String> {
    let path = dir.join(format.file_name().expect("a file format"));
    match format {
        Format::Json => {
            let bytes = fs::read(&path).map_err(|e| format!("read {}: {e}", path.display()))?;
            match serde_json::from_slice::<Vec<Row>>(&bytes) {
                Ok(rows) => Ok(rows.into_iter().map(|r| r.details.id).collect()),
                Err(e) if strict => Err(format!("JSON: {e}")),
                // One event per line: read every line that is a whole event on its own.
                Err(_) => Ok(bytes
                    .split(|&b| b == b'\n')
                    .filter_map(|line| {
                        let line = line.trim_ascii();
                        let line = line.strip_suffix(b",").unwrap_or(line);
                        serde_json::from_slice::<Row>(line).ok()
                    })
                    .map(|r| r.details.id)
                    .collect()),
            }
        }
        Format::Csv => {
            let mut reader = csv::ReaderBuilder::new()
                .flexible(!strict)
                .from_path(&path)
                .map_err(|e| format!("open {}: {e}", path.display()))?;
            let header = reader
                .byte_headers()
                .map_err(|e| format!("CSV header: {e}"))?;
            if header != vec!["timestamp", "action_type", "status", "details", "error"] {
                return Err(format!("CSV header: {header:?}"));
            }
            let mut ids = Vec::new();
            for (i, record) in reader.byte_records().enumerate() {
                let event = record
                    .map_err(|e| e.to_string())
                    .and_then(|r| {
                        if r.len() == 5 {
                            Ok(r)
                        } else {
                            Err(format!("{} fields", r.len()))
                        }
                    })
                    .and_then(|r| {
                        serde_json::from_slice::<Details>(&r[3])
                            .map_err(|e| format!("details: {e}"))
                    });
                match event {
                    Ok(details) => ids.push(details.id),
                    Err(e) if strict => return Err(format!("CSV record {}: {e}", i + 1)),
                    Err(_) => {}
                }
            }
            Ok(ids)
        }
        Format::None => Ok(Vec::new()),
    }
}

/// Shows from outside that a victim's write of a big event is under way: a CSV file grown
/// by part of an event, or, in the JSON file's gap, a byte half-way into where the next
/// event will go that is no longer a space (the event is written from its start).
enum Probe {
    Csv {
        path: PathBuf,
        base: u64,
    },
    Json {
        file: File,
        at: u64,
    },
    /// The next JSON event will not fit the gap, so the victim rewrites the file instead.
    Rewrite,
}

impl Probe {
    fn arm(dir: &Path, combo: Combo) -> Probe {
        let path = dir.join(combo.format.file_name().expect("a file format"));
        let pad = combo.pad() as u64;
        if combo.format == Format::Csv {
            let base = fs::metadata(&path).map_or(0, |m| m.len());
            return Probe::Csv { path, base };
        }
        let Ok(file) = File::open(&path) else {
            return Probe::Rewrite;
        };
        // The gap ends at the first byte after `[` that is not a space. Events hold no
        // spaces, so a binary search finds it: scanning a gap of many MB would take longer
        // than the write to be watched.
        let len = file.metadata().map_or(0, |m| m.len());
        let is_space = |at: u64| {
            use std::os::unix::fs::FileExt;
            let mut byte = [0u8];
            matches!(file.read_at(&mut byte, at), Ok(1) if byte[0] == b' ')
        };
        let (mut lo, mut hi) = (1u64, len);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if is_space(mid) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let gap_end = lo;
        if gap_end < pad + (1 << 16) {
            return Probe::Rewrite;
        }
        Probe::Json {
            file,
            at: gap_end - pad / 2,
        }
    }

    /// Whether the write is under way now; `None` when it cannot be seen (re-arm later).
    fn fired(&mut self, pad: u64) -> Option<bool> {
        match self {
            Probe::Csv { path, base } => {
                let len = fs::metadata(&*path).map_or(*base, |m| m.len());
                // The survivor's rows are small; a whole event appended means it was missed.
                if len >= *base + pad {
                    *base = len;
                    return Some(false);
                }
                Some(len >= *base + (1 << 16))
            }
            Probe::Json { file, at } => {
                use std::os::unix::fs::FileExt;
                let mut byte = [b' '];
                let _ = file.read_at(&mut byte, *at);
                Some(byte[0] != b' ')
            }
            Probe::Rewrite => None,
        }
    }
}

/// Lets the victim log `skip` events, then returns as soon as one of its writes is seen under
/// way (true), or once it has logged all its events (false). The caller kills it at once.
fn watch_for_write(
    victim: &Running,
    acks: &mut Acks,
    dir: &Path,
    combo: Combo,
    skip: u64,
    max_events: u64,
) -> bool {
    // Its first event is acknowledged already.
    let mut logged = 1;
    while logged <= skip {
        match victim.next_line("victim") {
            Some(line) => acks.take(vec![line]),
            None => return false,
        }
        logged += 1;
    }
    let deadline = Instant::now() + STUCK;
    let mut probe = Probe::arm(dir, combo);
    let mut polls = 0u64;
    while logged < max_events {
        match victim.lines.try_recv() {
            Ok(line) => {
                // That write completed unseen; watch for the next.
                acks.take(vec![line]);
                logged += 1;
                probe = Probe::arm(dir, combo);
                continue;
            }
            Err(mpsc::TryRecvError::Disconnected) => return false,
            Err(mpsc::TryRecvError::Empty) => {}
        }
        if probe.fired(combo.pad() as u64) == Some(true) {
            return true;
        }
        polls += 1;
        // Leave the children the CPU now and then; the machine may have few cores.
        if polls.is_multiple_of(64) {
            std::thread::yield_now();
            assert!(
                Instant::now() < deadline,
                "victim: no progress for {STUCK:?}"
            );
        }
    }
    false
}

/// Runs one combination with the children started from `exe`: [`Settings::kills`] kills, on
/// one log or, with [`Settings::kills_per_log`], on several in turn.
pub fn run_combo(exe: &Path, combo: Combo, settings: &Settings, rng: &mut Rng) -> Tally {
    let started = Instant::now();
    let per_log = match settings.kills_per_log {
        0 => settings.kills.max(1),
        n => n,
    };
    let mut tally = Tally::default();
    let mut done = 0;
    while done < settings.kills {
        let kills = per_log.min(settings.kills - done);
        tally.add(&run_log(exe, combo, settings, rng, done, kills));
        done += kills;
    }
    tally.time = started.elapsed();
    tally
}

/// Where each id's events must come in a log, oldest first: per writer thread (`victim-K-T`
/// or `survivor`), in the order the thread logged them (`N`), and victim `K`'s before victim
/// `K + 1`'s (each is killed before the next starts). Returns how many ids break that.
fn misordered(oldest_first: &[String]) -> usize {
    let mut last_of: HashMap<&str, u64> = HashMap::new();
    let mut last_victim = 0u64;
    let mut bad = 0;
    for id in oldest_first {
        let Some((writer, n)) = id.rsplit_once('-') else {
            bad += 1;
            continue;
        };
        let Ok(n) = n.parse::<u64>() else {
            bad += 1;
            continue;
        };
        if last_of.insert(writer, n).is_some_and(|before| before >= n) {
            bad += 1;
        }
        if let Some(k) = writer
            .strip_prefix("victim-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|k| k.parse::<u64>().ok())
        {
            if k < last_victim {
                bad += 1;
            }
            last_victim = last_victim.max(k);
        }
    }
    bad
}

/// `kills` kills on one fresh log, the victims numbered from `first`.
fn run_log(
    exe: &Path,
    combo: Combo,
    settings: &Settings,
    rng: &mut Rng,
    first: usize,
    kills: usize,
) -> Tally {
    let mut tally = Tally {
        logs: 1,
        ..Tally::default()
    };
    // A fresh directory per combination: 1 MB events add up, and it is removed at the end.
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path().join("log");
    fs::create_dir(&dir).expect("log dir");
    let stop_file = tmp.path().join("stop");
    let stderr = File::create(tmp.path().join("children.stderr")).expect("stderr file");
    let dir_arg = dir.to_str().expect("utf-8 temp path").to_owned();
    let format = combo.format.as_str().to_owned();

    let mut survivor = Running::spawn(
        exe,
        &[
            "survivor".into(),
            dir_arg.clone(),
            format.clone(),
            stop_file.to_str().expect("utf-8 temp path").into(),
        ],
        &stderr,
    );
    let mut survivor_acks = Acks::default();
    // Its first event creates the log and the lock file.
    survivor_acks.take(survivor.next_line("survivor").into_iter().collect());

    let max_events = if combo.big {
        settings.big_events_per_victim
    } else {
        settings.small_events_per_victim
    };
    let mut victim_acks = Acks::default();
    for k in first..first + kills {
        let mut victim = Running::spawn(
            exe,
            &[
                "victim".into(),
                dir_arg.clone(),
                format.clone(),
                combo.threads.to_string(),
                combo.pad().to_string(),
                max_events.to_string(),
                format!("victim-{k}"),
            ],
            &stderr,
        );
        // Kill it only once it is logging, at a random moment after that.
        let Some(first) = victim.next_line("victim") else {
            victim.kill();
            victim_acks.take(victim.rest());
            tally.child_errors += 1;
            tally.note(format!("victim {k} ended without logging anything"));
            continue;
        };
        victim_acks.take(vec![first]);
        if k % 2 == 0 {
            let delay = settings.max_delay.as_micros() as u64 + 1;
            std::thread::sleep(Duration::from_micros(rng.below(delay)));
        } else if combo.big {
            // A random delay rarely lands inside the write (the victim spends most of an
            // event encoding it), so watch the file for the write to be under way.
            let skip = rng.below(max_events / 2);
            if watch_for_write(&victim, &mut victim_acks, &dir, combo, skip, max_events) {
                tally.aimed += 1;
            }
        } else {
            // 2 KB writes are too short to watch: wait a random number of events, then
            // for the later part of one more (a victim writes an event last, just before
            // it acknowledges it).
            let mut last = Instant::now();
            let mut period = Duration::ZERO;
            for _ in 0..rng.below(max_events / 2) {
                let Some(line) = victim.next_line("victim") else {
                    break;
                };
                victim_acks.take(vec![line]);
                let now = Instant::now();
                period = now - last;
                last = now;
            }
            let period = period.as_micros() as u64;
            let delay = period / 2 + rng.below(period * 7 / 10 + 1);
            std::thread::sleep(Duration::from_micros(delay));
        }
        victim.kill();
        tally.kills += 1;
        victim_acks.take(victim.rest());

        if let Err(e) =
            with_writers_lock(&dir, combo.format, || ids_in_log(&dir, combo.format, true))
        {
            tally.torn += 1;
            if !combo.big {
                tally.note(format!("kill {k}: torn right after the kill: {e}"));
            }
        }
        // The survivor writes again after the kill, then the whole file must parse.
        survivor_acks.take(survivor.drain_now());
        let before = survivor_acks.ids.len();
        while survivor_acks.ids.len() <= before {
            match survivor.next_line("survivor") {
                Some(line) => survivor_acks.take(vec![line]),
                None => panic!("the survivor ended: {:?}", survivor_acks.errors),
            }
        }
        if let Err(e) =
            with_writers_lock(&dir, combo.format, || ids_in_log(&dir, combo.format, true))
        {
            tally.unparseable += 1;
            tally.note(format!(
                "kill {k}: unparseable after the survivor's next write: {e}"
            ));
        }
    }

    fs::write(&stop_file, b"").expect("create stop file");
    let status = survivor.child.wait().expect("wait for the survivor");
    survivor_acks.take(survivor.rest());
    if !status.success() {
        tally.child_errors += 1;
        tally.note(format!("survivor exited with {status}"));
    }

    let stored = match ids_in_log(&dir, combo.format, true) {
        Ok(ids) => ids,
        Err(e) => {
            tally.final_unparseable = true;
            tally.notes.push(format!("final log unparseable: {e}"));
            ids_in_log(&dir, combo.format, false).unwrap_or_default()
        }
    };
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for id in &stored {
        *counts.entry(id.as_str()).or_default() += 1;
    }
    tally.duplicated = counts.values().filter(|&&n| n > 1).count();
    let acked: Vec<&String> = victim_acks.ids.iter().chain(&survivor_acks.ids).collect();
    tally.acked = acked.len();
    let lost: Vec<&&String> = acked
        .iter()
        .filter(|id| !counts.contains_key(id.as_str()))
        .collect();
    tally.lost = lost.len();
    if let Some(first) = lost.first() {
        let by_survivor = lost.iter().filter(|id| id.starts_with("survivor-")).count();
        tally.notes.push(format!(
            "lost {} acknowledged ({by_survivor} of them the survivor's), e.g. {first}",
            lost.len()
        ));
    }
    let errors: Vec<&String> = victim_acks
        .errors
        .iter()
        .chain(&survivor_acks.errors)
        .collect();
    tally.child_errors += errors.len();
    if let Some(first) = errors.first() {
        tally
            .notes
            .push(format!("{} child errors, e.g. {first}", errors.len()));
    }
    if let Some(check) = settings.final_check {
        let log = dir.join(combo.format.file_name().unwrap_or_default());
        if let Err(e) = check(&log, combo.format) {
            tally.final_unparseable = true;
            tally.notes.push(format!("final check failed: {e}"));
        }
    }
    let stderr_text = fs::read_to_string(tmp.path().join("children.stderr")).unwrap_or_default();
    // Recoveries are reported there: worth knowing, not a failure in themselves.
    let stderr_lines = stderr_text.lines().filter(|l| !l.trim().is_empty()).count();
    if stderr_lines > 0 {
        let first: String = stderr_text
            .lines()
            .next()
            .unwrap_or_default()
            .chars()
            .take(200)
            .collect();
        tally.notes.push(format!(
            "children wrote {stderr_lines} stderr lines, first: {first}"
        ));
    }
    let mut oldest_first = stored.clone();
    if combo.format == Format::Json {
        oldest_first.reverse();
    }
    tally.misordered = misordered(&oldest_first);
    if tally.misordered > 0 {
        tally.note(format!(
            "{} events out of order in the final log",
            tally.misordered
        ));
    }
    let path = dir.join(combo.format.file_name().expect("a file format"));
    // Big CSV cells are larger than Python's `csv` takes by default (131,072 characters per
    // field): lifted here, since the harness's big events are big on purpose.
    match python::try_python_ids_with(&path, combo.format, combo.big) {
        Ok(ids) if ids == stored => {}
        Ok(ids) => {
            tally.python_failed += 1;
            tally.note(format!(
                "Python read {} events, serde_json / csv {}",
                ids.len(),
                stored.len()
            ));
        }
        Err(e) => {
            tally.python_failed += 1;
            tally.note(e);
        }
    }
    tally
}

pub fn table_header() -> String {
    format!(
        "{:<16} {:>6} {:>6} {:>8} {:>6} {:>5} {:>6} {:>12} {:>5} {:>6} {:>5} {:>7} {:>6} {:>8}",
        "combination",
        "kills",
        "aimed",
        "acked",
        "lost",
        "dup",
        "order",
        "unparseable",
        "torn",
        "final",
        "logs",
        "python",
        "errors",
        "time"
    )
}

pub fn table_row(label: &str, t: &Tally) -> String {
    format!(
        "{:<16} {:>6} {:>6} {:>8} {:>6} {:>5} {:>6} {:>12} {:>5} {:>6} {:>5} {:>7} {:>6} {:>7.1}s",
        label,
        t.kills,
        t.aimed,
        t.acked,
        t.lost,
        t.duplicated,
        t.misordered,
        t.unparseable,
        t.torn,
        if t.final_unparseable { "BAD" } else { "ok" },
        t.logs,
        if t.python_failed == 0 {
            "ok".to_owned()
        } else {
            format!("{} BAD", t.python_failed)
        },
        t.child_errors,
        t.time.as_secs_f64()
    )
}

/// Runs every combination, printing a row as each finishes, then the total. Returns the
/// per-combination tallies and whether everything acknowledged survived in parseable files.
pub fn run_all(exe: &Path, settings: &Settings) -> (Vec<(Combo, Tally)>, bool) {
    let mut rng = Rng::new(settings.seed);
    println!(
        "crash run: {} kills per combination (half 0..={:?} after a victim's first event, \
         half aimed at a write; `aimed`: a big write was seen under way), {} per log, seed {} \
         (`order`: events out of order; `python`: every log read the same by Python)",
        settings.kills,
        settings.max_delay,
        match settings.kills_per_log {
            0 => "all".to_owned(),
            n => n.to_string(),
        },
        settings.seed
    );
    println!("{}", table_header());
    let mut all = Vec::new();
    let mut total = Tally::default();
    for mut combo in combos() {
        combo.big_pad = settings.big_pad;
        let tally = run_combo(exe, combo, settings, &mut rng);
        println!("{}", table_row(&combo.label(), &tally));
        for note in &tally.notes {
            println!("    {note}");
        }
        total.add(&tally);
        all.push((combo, tally));
    }
    println!("{}", table_row("total", &total));
    let ok = all.iter().all(|(_, t)| t.ok());
    println!(
        "{}",
        if ok {
            "ok: every acknowledged event is in the log exactly once and in order, and every \
             log parsed, also in Python"
        } else {
            "FAILED: acknowledged events lost, duplicated or out of order, a log unparseable \
             (here or in Python), or a child error"
        }
    );
    (all, ok)
}

/// This binary's path, for re-executing it as a child.
pub fn own_exe() -> PathBuf {
    std::env::current_exe().expect("own path")
}
