//! `#[audited]` without `logger = ..` tests a copy of "is auditing on" kept in each call
//! site's own `static` (a gate) rather than the runtime's shared flag: every change of the
//! flag (a logger installed, switched or shut down, the pre-init buffer turned on or off)
//! must reach every site, whether the site first ran while auditing was off or on, and
//! whichever thread runs it. The global logger is process-wide, so the steps run in order
//! in one test.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};

use audit_runtime::{AuditLogger, Format, audited};
use common::MemLog;

static EVALUATED: AtomicUsize = AtomicUsize::new(0);

fn counted() -> u32 {
    EVALUATED.fetch_add(1, Ordering::SeqCst);
    1
}

#[audited(action = "pause", details(n = counted()))]
fn first_seen_off() {}

#[audited(action = "resume", details(n = counted()))]
fn first_seen_on() {}

#[audited(action = "hp_change", details(n = counted()))]
fn from_threads() {}

/// Whether a call of `f` was recorded: its `details` are evaluated only then.
fn recorded(f: fn()) -> bool {
    let before = EVALUATED.load(Ordering::SeqCst);
    f();
    EVALUATED.load(Ordering::SeqCst) > before
}

fn off_logger() -> AuditLogger {
    let dir = tempfile::tempdir().unwrap();
    AuditLogger::builder(dir.path())
        .format(Format::None)
        .build()
        .unwrap()
}

#[test]
fn every_change_of_the_global_state_reaches_every_site() {
    // A site whose first call finds auditing off, then on (buffer), off, on (logger).
    audit_runtime::set_pre_init_capacity(0);
    assert!(!recorded(first_seen_off));
    assert!(!recorded(first_seen_off));
    audit_runtime::set_pre_init_capacity(8);
    assert!(recorded(first_seen_off));
    // A site whose first call finds it on.
    assert!(recorded(first_seen_on));
    audit_runtime::set_pre_init_capacity(0);
    assert!(!recorded(first_seen_off));
    assert!(!recorded(first_seen_on));

    let log = MemLog::new();
    audit_runtime::init(log.logger.clone()).unwrap();
    assert!(recorded(first_seen_off));
    assert!(recorded(first_seen_on));
    // These two (the buffered ones went when the buffer was turned off).
    assert_eq!(log.events().len(), 2);

    // A logger with format none, then back to a recording one, then none at all.
    audit_runtime::switch_experiment(off_logger()).unwrap();
    assert!(!recorded(first_seen_off));
    assert!(!recorded(first_seen_on));
    audit_runtime::switch_experiment(log.logger.clone()).unwrap();
    assert!(recorded(first_seen_on));
    audit_runtime::shutdown().unwrap();
    assert!(!recorded(first_seen_off), "shut down, no pre-init buffer");
    audit_runtime::set_pre_init_capacity(8);
    assert!(recorded(first_seen_off), "shut down, pre-init buffer");

    // Threads that keep calling a site while another thread turns auditing off and on:
    // once the last change is done (and the threads learn so), each thread's next call
    // sees it, whatever its site saw before.
    for round in 0..20 {
        let on = round % 2 == 0;
        let (flip, stop) = (
            std::sync::Barrier::new(5),
            std::sync::atomic::AtomicBool::new(false),
        );
        std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| {
                    scope.spawn(|| {
                        while !stop.load(Ordering::SeqCst) {
                            from_threads();
                        }
                        flip.wait();
                        recorded(from_threads)
                    })
                })
                .collect();
            for _ in 0..10 {
                audit_runtime::set_pre_init_capacity(usize::from(on) * 8);
                audit_runtime::set_pre_init_capacity(8 - usize::from(on) * 8);
            }
            audit_runtime::set_pre_init_capacity(usize::from(on) * 8);
            stop.store(true, Ordering::SeqCst);
            flip.wait();
            for worker in workers {
                assert_eq!(worker.join().unwrap(), on, "round {round}");
            }
        });
    }
}
