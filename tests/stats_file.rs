//! The example server's stats file, end to end: the real `experiment_server` binary serves
//! a few gRPC calls, SIGUSR1 makes it write its logger's counters, the real `auditlog stats`
//! prints them, and at exit (SIGTERM) it writes them once more.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

use audited::STATS_FILE_NAME;
use experiment_service::proto::experiment_service_client::ExperimentServiceClient;
use experiment_service::proto::{
    DataEditsRequest, PlotNoteOperation, SampleEditType, TrainerCommand,
};
use serde_json::Value;

/// How many times a test looks for something the server does on its own, 50 ms apart.
const POLLS: usize = 400;

/// A program cargo builds next to this test's binary (`<target>/<profile>/deps/..`):
/// `sub` is `""` for a binary, `"examples"` for an example. `cargo test --workspace` builds
/// both; a narrower run (`cargo test --test stats_file`) does not, so it is built then.
fn built(sub: &str, name: &str, build: &[&str]) -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("<target>/<profile>/deps/<test>");
    let path = profile.join(sub).join(name);
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .arg("build")
            .args(build)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo");
        assert!(status.success(), "cargo build {build:?} failed");
    }
    assert!(path.exists(), "{} was not built", path.display());
    path
}

/// The server process; killed if the test fails before it stops it.
struct Server {
    child: Child,
    stdout: BufReader<ChildStdout>,
}

impl Server {
    fn start(log_dir: &Path) -> (Server, String) {
        let exe = built(
            "examples",
            "experiment_server",
            &["--example", "experiment_server"],
        );
        let mut child = Command::new(exe)
            // No periodic write: the test sees what SIGUSR1 and the exit write.
            .args(["--addr", "127.0.0.1:0", "--stats-every", "0", "--log-dir"])
            .arg(log_dir)
            .env_remove("GRPC_AUTH_TOKENS")
            .env_remove("AUDIT_LOG_FORMAT")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start experiment_server");
        let stdout = BufReader::new(child.stdout.take().expect("piped"));
        let mut server = Server { child, stdout };
        let addr = server
            .line_starting("ExperimentService listening on ")
            .trim()
            .to_owned();
        (server, addr)
    }

    /// The rest of the first line of its stdout that starts with `prefix` (within 50 lines).
    fn line_starting(&mut self, prefix: &str) -> String {
        let mut seen = Vec::new();
        for _ in 0..50 {
            let mut line = String::new();
            let n = self
                .stdout
                .read_line(&mut line)
                .expect("read the server's stdout");
            assert!(n > 0, "the server closed its stdout; it printed {seen:?}");
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim_end().to_owned();
            }
            seen.push(line);
        }
        panic!("no line starting {prefix:?} in {seen:?}");
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("a pid");
        // SAFETY: a signal to our own child, which is alive until we wait for it.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Waits (a bounded number of polls) until `path` holds a stats file for which `ready`
/// holds, and returns it.
fn wait_for_stats(path: &Path, ready: impl Fn(&Value) -> bool) -> Value {
    let mut last = None;
    for _ in 0..POLLS {
        if let Ok(bytes) = std::fs::read(path) {
            // Written atomically: whatever is there is a whole document.
            let doc: Value = serde_json::from_slice(&bytes).expect("a whole stats file");
            if ready(&doc) {
                return doc;
            }
            last = Some(doc);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!(
        "{} never held the stats expected; last: {last:?}",
        path.display()
    );
}

fn auditlog(args: &[&std::ffi::OsStr]) -> String {
    let exe = built("", "auditlog", &["-p", "audit-cli", "--bin", "auditlog"]);
    let out = Command::new(exe)
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .expect("run auditlog");
    assert!(
        out.status.success(),
        "auditlog {args:?}: {}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_server_writes_its_counters_on_sigusr1_and_at_exit_for_auditlog_stats() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("run");
    let (mut server, addr) = Server::start(&dir);
    let stats_path = dir.join(STATS_FILE_NAME);
    assert_eq!(
        server.line_starting("audit log: "),
        dir.join("audit_log.json").display().to_string()
    );
    assert_eq!(
        server.line_starting("audit stats: "),
        stats_path.display().to_string()
    );
    // Written at start: no events yet.
    let start = wait_for_stats(&stats_path, |_| true);
    assert_eq!(start["stats"]["events_written"], 0, "{start}");

    let mut client = ExperimentServiceClient::connect(format!("http://{addr}"))
        .await
        .expect("connect");
    const NOTES: u64 = 3;
    for i in 0..NOTES {
        client
            .experiment_command(TrainerCommand {
                plot_note_operation: Some(PlotNoteOperation {
                    metric_name: "loss".into(),
                    experiment_hash: "c0".into(),
                    model_age: i as i32,
                    note: format!("note {i}"),
                }),
                ..Default::default()
            })
            .await
            .expect("a note");
    }
    client
        .edit_data_sample(DataEditsRequest {
            stat_name: "tag".into(),
            string_value: "defect".into(),
            r#type: SampleEditType::EditAccumulate as i32,
            samples_ids: vec!["s1".into()],
            ..Default::default()
        })
        .await
        .expect("a tag");
    // Read-only: not audited.
    client
        .experiment_command(TrainerCommand {
            get_hyper_parameters: true,
            ..Default::default()
        })
        .await
        .expect("a read");
    let expected = NOTES + 1;

    server.signal(libc::SIGUSR1);
    assert!(
        server
            .line_starting("audit health: ")
            .starts_with(&format!("{expected} events written, 0 failed, 0 refused"))
    );
    let on_signal = wait_for_stats(&stats_path, |doc| {
        doc["stats"]["events_written"] == expected
    });
    assert_eq!(on_signal["pid"], server.child.id());
    assert_eq!(on_signal["stats"]["events_failed"], 0);
    assert_eq!(on_signal["stats"]["events_refused"], 0);

    // The real `auditlog stats`, on the directory, as a table and as JSON.
    let table = auditlog(&["stats".as_ref(), dir.as_os_str()]);
    let line = |label: &str| {
        table
            .lines()
            .find_map(|l| l.strip_prefix(label))
            .unwrap_or_else(|| panic!("no {label:?} in:\n{table}"))
            .trim()
            .to_owned()
    };
    assert_eq!(line("events written:"), expected.to_string(), "{table}");
    assert_eq!(line("events failed:"), "0", "{table}");
    assert_eq!(line("calls refused:"), "0", "{table}");
    let json: Value = serde_json::from_str(&auditlog(&[
        "stats".as_ref(),
        "--json".as_ref(),
        dir.as_os_str(),
    ]))
    .unwrap();
    assert_eq!(json["stats"]["events_written"], expected);
    // The log agrees.
    let summary: Value = serde_json::from_str(&auditlog(&[
        "summary".as_ref(),
        "--json".as_ref(),
        dir.as_os_str(),
    ]))
    .unwrap();
    assert_eq!(summary["total_events"], expected);

    // At exit, once more; the stats file is gone first so that the one seen is the exit's.
    std::fs::remove_file(&stats_path).unwrap();
    server.signal(libc::SIGTERM);
    let mut exited = None;
    for _ in 0..POLLS {
        if let Some(status) = server.child.try_wait().expect("wait") {
            exited = Some(status);
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let status = exited.expect("the server stops on SIGTERM");
    assert!(status.success(), "{status}");
    let at_exit = wait_for_stats(&stats_path, |_| true);
    assert_eq!(at_exit["stats"]["events_written"], expected, "{at_exit}");
}
