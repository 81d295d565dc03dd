//! What fail-closed auditing and request ids cost per `#[audited]` call, as a same-run ratio:
//! one process alternates rounds of the same audited call on a fail-open and a fail-closed
//! JSON logger (each in its own directory), and of a by-hand `log_details` of the same
//! details, and prints the median per call of each.
//!
//! ```text
//! cargo run --release --example fail_closed_cost [-- ROUNDS CALLS]
//! ```

use std::time::Instant;

use audited::{AuditLogger, Format, Status, audited};

#[derive(Debug)]
struct Refused;

impl From<audited::AuditUnavailable> for Refused {
    fn from(_: audited::AuditUnavailable) -> Self {
        Refused
    }
}

#[audited(action = "hp_change", logger = logger, details(run = run, lr = lr))]
fn set_lr(logger: &AuditLogger, run: &str, lr: f64) -> Result<(), Refused> {
    std::hint::black_box(lr);
    Ok(())
}

fn by_hand(logger: &AuditLogger, run: &str, lr: f64) {
    let mut details = serde_json::Map::new();
    details.insert("run".into(), run.into());
    details.insert("lr".into(), lr.into());
    let _ = logger.log_details("hp_change", Status::Success, details, None);
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let rounds: usize = args.next().map_or(Ok(15), |a| a.parse())?;
    let calls: usize = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let dir = tempfile::tempdir()?;
    let open = |name: &str, fail_closed: bool| {
        AuditLogger::builder(dir.path().join(name))
            .format(Format::Json)
            .fail_closed(fail_closed)
            .build()
    };
    let open_log = open("open", false)?;
    let closed_log = open("closed", true)?;
    let hand_log = open("by_hand", false)?;
    let hand_closed_log = open("by_hand_closed", true)?;
    let (mut open_ns, mut closed_ns, mut hand_ns) = (Vec::new(), Vec::new(), Vec::new());
    let mut hand_closed_ns = Vec::new();
    let per_call = |start: Instant| start.elapsed().as_nanos() as f64 / calls as f64;
    for _ in 0..rounds {
        let start = Instant::now();
        for i in 0..calls {
            set_lr(&open_log, "r1", i as f64).map_err(|_| "refused")?;
        }
        open_ns.push(per_call(start));
        let start = Instant::now();
        for i in 0..calls {
            set_lr(&closed_log, "r1", i as f64).map_err(|_| "refused")?;
        }
        closed_ns.push(per_call(start));
        let start = Instant::now();
        for i in 0..calls {
            by_hand(&hand_log, "r1", i as f64);
        }
        hand_ns.push(per_call(start));
        let start = Instant::now();
        for i in 0..calls {
            by_hand(&hand_closed_log, "r1", i as f64);
        }
        hand_closed_ns.push(per_call(start));
    }
    let hand_closed = median(hand_closed_ns);
    let (open, closed, hand) = (median(open_ns), median(closed_ns), median(hand_ns));
    println!("{rounds} rounds of {calls} calls, JSON, medians per call:");
    println!("  by hand (log_details, no request id)  {:>8.0} ns", hand);
    println!(
        "  by hand, fail-closed logger           {:>8.0} ns  (+{:.0} ns: the path looked up per event)",
        hand_closed,
        hand_closed - hand
    );
    println!(
        "  #[audited], fail-open                 {:>8.0} ns  ({:.2}x by hand)",
        open,
        open / hand
    );
    println!(
        "  #[audited], fail-closed               {:>8.0} ns  ({:.2}x fail-open, +{:.0} ns)",
        closed,
        closed / open,
        closed - open
    );
    Ok(())
}
