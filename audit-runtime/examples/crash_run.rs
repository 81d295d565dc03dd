//! Kills writers with SIGKILL at random moments while another process keeps writing to the
//! same log, and checks that every acknowledged event survives in a log that parses.
//!
//! ```text
//! cargo run --release -p audit-runtime --example crash_run                # 40 kills × 8
//! cargo run --release -p audit-runtime --example crash_run -- --quick     # 4 kills × 8
//! cargo run --release -p audit-runtime --example crash_run -- --kills 100 --seed 42
//! ```
//!
//! For each of JSON/CSV × 1/4 writer threads × ~2 KB/~1 MB events it prints kills,
//! acknowledged events, acknowledged events lost, ids found twice, kills after which the
//! log did not parse once the survivor had written again, kills after which it did not parse
//! right away (torn writes), whether the final log parsed, child errors and time; then a
//! total. Exits with 1 if anything acknowledged was lost or duplicated, or a log stayed
//! unparseable. The same harness runs with a small count in `tests/crash_kill.rs`.

#[path = "../tests/common/crash.rs"]
mod crash;

fn main() {
    // The runtime reports through `tracing` (target "audit"): recoveries, failed events.
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(crash::CHILD_ARG) {
        crash::child_main(&args[2..]);
        return;
    }
    let mut kills = 40;
    let mut seed = crash::Rng::seed_from_clock();
    let mut rest = args[1..].iter();
    while let Some(arg) = rest.next() {
        let mut value = |name: &str| -> u64 {
            rest.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage(&format!("{name} needs a number")))
        };
        match arg.as_str() {
            "--kills" => kills = value("--kills") as usize,
            "--seed" => seed = value("--seed"),
            "--quick" => kills = 4,
            "-h" | "--help" => usage(""),
            other => usage(&format!("unknown argument {other}")),
        }
    }
    let (_, ok) = crash::run_all(&crash::own_exe(), &crash::Settings::new(kills, seed));
    if !ok {
        std::process::exit(1);
    }
}

fn usage(problem: &str) -> ! {
    if !problem.is_empty() {
        eprintln!("crash_run: {problem}");
    }
    eprintln!("usage: crash_run [--kills N (per combination, default 40)] [--quick] [--seed S]");
    std::process::exit(2);
}
