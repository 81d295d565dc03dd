//! Writers killed with SIGKILL at random moments (some in the middle of writing a 1 MB
//! event) while another process keeps writing: every acknowledged event must be in the log
//! exactly once, and the log must parse again once the other process has written after the
//! kill. Four kills per combination of format, threads and event size, two of them aimed at
//! a write; the long run is `examples/crash_run.rs`, with the same harness
//! (`tests/common/crash.rs`).
//!
//! This binary is its own harness (`harness = false`), like `process_safety`: run with
//! `--child ...` it is a writer process.

#[path = "common/crash.rs"]
mod crash;

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
    let mut settings = crash::Settings::new(4, crash::Rng::seed_from_clock());
    // Fewer events per victim than the long run: a debug build writes them slowly, and a
    // kill is only worth something while the victim still has events to write.
    settings.small_events_per_victim = 2_000;
    settings.big_events_per_victim = 6;
    let (_, ok) = crash::run_all(&crash::own_exe(), &settings);
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
