//! With auditing off, an audited call allocates nothing and evaluates neither `capture` nor
//! `details` (which here would allocate). Counted with a global allocator, per thread.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use audit_runtime::{AuditLogger, Format, audited, scope};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let r = f();
    (r, ALLOCATIONS.with(Cell::get) - before)
}

#[audited(action = "hp_change", capture = format!("{x}"), details(label = x.to_string()))]
fn global_audited(x: u64) -> Result<u64, String> {
    scope::record("double", x * 2);
    Ok(x + 1)
}

#[audited(action = "hp_change", logger = log, capture = vec![x], details(label = x.to_string()))]
fn with_logger(log: &AuditLogger, x: u64) -> u64 {
    x + 1
}

#[audited(action = "resume", logger = log, details(label = x.to_string()))]
async fn async_with_logger(log: &AuditLogger, x: u64) -> u64 {
    scope::record("label", x);
    x + 1
}

fn poll_once<F: std::future::Future>(fut: F) -> F::Output {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(v) => v,
        std::task::Poll::Pending => panic!("the test future is always ready"),
    }
}

#[test]
fn inactive_calls_allocate_nothing() {
    audit_runtime::set_pre_init_capacity(0);
    assert!(!audit_runtime::is_active());
    let dir = tempfile::tempdir().unwrap();
    let none = AuditLogger::builder(dir.path())
        .format(Format::None)
        .build()
        .unwrap();
    // Warm up thread-locals and lazy statics outside the measurement.
    let _ = global_audited(0);
    let _ = with_logger(&none, 0);
    let _ = poll_once(async_with_logger(&none, 0));

    let (r, n) = allocations_during(|| global_audited(41));
    assert_eq!((r, n), (Ok(42), 0));
    let (r, n) = allocations_during(|| with_logger(&none, 41));
    assert_eq!((r, n), (42, 0));
    let (r, n) = allocations_during(|| poll_once(async_with_logger(&none, 41)));
    assert_eq!((r, n), (42, 0));

    // And the counter works: an enabled logger does allocate.
    let json = AuditLogger::builder(dir.path())
        .format(Format::Json)
        .build()
        .unwrap();
    let (_, n) = allocations_during(|| with_logger(&json, 1));
    assert!(n > 0);
}
