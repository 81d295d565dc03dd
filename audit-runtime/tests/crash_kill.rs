//! The crash harness of the fault-injection suite: writers killed with SIGKILL at random
//! moments (some in the middle of writing a big event, many while the JSON log is being
//! rewritten) while another process keeps writing. Every acknowledged event must be in the
//! log exactly once and in order, the log must parse again once the other process has
//! written after the kill, and Python's `json` / `csv` must read every final log.
//!
//! 200 kills by default, spread over the eight combinations of format, writer threads (1
//! and 4) and event size (2 KB; 256 KB, which spans many pages and makes the JSON log be
//! rewritten every few events), a fresh log every five kills so that each kill's cycle stays
//! short. `AUDIT_CRASH_KILLS=1000` asks for more (a total, bound by count, not
//! time); `AUDIT_CRASH_SEED` repeats a run's kill moments (the seed is printed). The same
//! harness (`tests/common/crash.rs`) is behind `examples/crash_run.rs`.
//!
//! This binary is its own harness (`harness = false`), like `process_safety`: run with
//! `--child ...` it is a writer process.

#[path = "common/crash.rs"]
mod crash;

/// Kills in a run unless `AUDIT_CRASH_KILLS` says otherwise.
const DEFAULT_KILLS: usize = 200;

fn env_number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name}={value:?} is not a number"),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(crash::CHILD_ARG) {
        crash::child_main(&args[2..]);
        return;
    }
    let name = "sigkilled_writers_lose_no_acknowledged_event_and_leave_parseable_logs";
    let filter = args.iter().skip(1).find(|a| !a.starts_with('-'));
    if filter.is_some_and(|f| !name.contains(f.as_str())) {
        println!("test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out");
        return;
    }
    let total = env_number("AUDIT_CRASH_KILLS").map_or(DEFAULT_KILLS, |n| n as usize);
    let combos = crash::combos().len();
    let seed = env_number("AUDIT_CRASH_SEED").unwrap_or_else(crash::Rng::seed_from_clock);
    let mut settings = crash::Settings::new(total.div_ceil(combos), seed);
    // Fewer events per victim than the long run: a debug build writes them slowly, and a
    // kill is only worth something while the victim still has events to write.
    settings.small_events_per_victim = 600;
    settings.big_events_per_victim = 6;
    settings.big_pad = 256 << 10;
    settings.kills_per_log = 5;
    let (all, ok) = crash::run_all(&crash::own_exe(), &settings);
    let kills: usize = all.iter().map(|(_, t)| t.kills).sum();
    let ok = ok && kills >= total;
    if kills < total {
        println!("FAILED: {kills} kills made, {total} asked for");
    }
    println!("test {name} ... {}", if ok { "ok" } else { "FAILED" });
    println!();
    println!(
        "test result: {}. {} passed; {} failed; 0 ignored; 0 measured; 0 filtered out",
        if ok { "ok" } else { "FAILED" },
        u8::from(ok),
        u8::from(!ok)
    );
    if !ok {
        std::process::exit(101);
    }
}
