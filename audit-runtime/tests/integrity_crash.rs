//! A signed, chained log stays verifiable when writers are SIGKILLed mid-stream while
//! another process keeps writing to the same log: two processes (a victim with 1 or 4
//! threads, and the survivor) write one chained log at once, victims are killed at random
//! moments (some in the middle of a write), and at the end the chain and the digests must
//! verify with the public key. The harness is `crash_kill`'s (`tests/common/crash.rs`):
//! the children open their logger with `AuditLogger::builder(dir).format(..)`, and the
//! `AUDIT_LOG_SIGNING_KEY` environment variable they inherit turns the chain and the
//! digests on.
//!
//! This binary is its own harness (`harness = false`): run with `--child ...` it is a
//! writer process.

#[path = "common/crash.rs"]
mod crash;

use std::path::Path;

use audit_runtime::Format;
use audit_runtime::integrity::{PublicKey, SIGNING_KEY_ENV_VAR, SigningKey, verify_file};

const PUBLIC_KEY_VAR: &str = "AUDIT_TEST_PUBLIC_KEY";

fn check(log: &Path, _format: Format) -> Result<(), String> {
    let public = std::env::var(PUBLIC_KEY_VAR).map_err(|e| e.to_string())?;
    let key = PublicKey::from_file(Path::new(&public)).map_err(|e| e.to_string())?;
    match verify_file(log, Some(&key)).map_err(|e| e.to_string())? {
        Ok(report) if report.chained > 0 && report.digests_matched > 0 => Ok(()),
        Ok(report) => Err(format!("nothing was chained or signed: {report:?}")),
        Err(problem) => Err(format!("{problem:?}")),
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some(crash::CHILD_ARG) {
        crash::child_main(&args[2..]);
        return;
    }
    let name = "sigkilled_writers_and_two_processes_leave_a_chain_that_verifies";
    let filter = args.iter().skip(1).find(|a| !a.starts_with('-'));
    if filter.is_some_and(|f| !name.contains(f.as_str())) {
        println!("test result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out");
        return;
    }
    let keys = tempfile::tempdir().expect("key dir");
    let (private, public) = (keys.path().join("k.key"), keys.path().join("k.pub"));
    SigningKey::generate()
        .expect("random key")
        .write_files(&private, &public)
        .expect("write keys");
    // SAFETY: set before any thread is started; the children inherit both.
    unsafe {
        std::env::set_var(SIGNING_KEY_ENV_VAR, &private);
        std::env::set_var(PUBLIC_KEY_VAR, &public);
    }
    let mut settings = crash::Settings::new(3, crash::Rng::seed_from_clock());
    settings.small_events_per_victim = 1_500;
    settings.final_check = Some(check);
    let mut rng = crash::Rng::new(settings.seed);
    println!("seed {}", settings.seed);
    println!("{}", crash::table_header());
    let mut ok = true;
    // The 2 KB events: kills land before, inside and after writes; the 1 MB combinations
    // add nothing to the chain that these do not, at a high price in a debug build.
    for combo in crash::combos().into_iter().filter(|c| !c.big) {
        let tally = crash::run_combo(&crash::own_exe(), combo, &settings, &mut rng);
        println!("{}", crash::table_row(&combo.label(), &tally));
        for note in &tally.notes {
            println!("    {note}");
        }
        ok &= tally.ok() && tally.kills > 0;
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
