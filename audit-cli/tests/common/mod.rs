//! Helpers shared by the auditlog integration tests.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command as StdCommand, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use audit_runtime::AuditEvent;

/// `auditlog tail -f` running in the background; its stdout lines arrive on a channel.
pub struct Follow {
    pub child: std::process::Child,
    lines: Receiver<String>,
}

impl Follow {
    pub fn start(path: &Path, count: usize) -> Follow {
        let mut child = StdCommand::new(assert_cmd::cargo::cargo_bin("auditlog"))
            .arg("tail")
            .arg(path)
            .args(["-f", "--output", "jsonl", "--poll-ms", "20", "-n"])
            .arg(count.to_string())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follow { child, lines }
    }

    /// The next `n` events, or panics with what arrived when `deadline` passes.
    pub fn take(&self, n: usize, deadline: Duration) -> Vec<AuditEvent> {
        let until = Instant::now() + deadline;
        let mut got = Vec::new();
        while got.len() < n {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => got
                    .push(serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line:?}"))),
                Err(RecvTimeoutError::Timeout) => panic!(
                    "tail -f printed {} of {n} events within {deadline:?}; last: {:?}",
                    got.len(),
                    got.last()
                ),
                Err(RecvTimeoutError::Disconnected) => {
                    panic!("tail -f ended after {} of {n} events", got.len())
                }
            }
        }
        got
    }

    /// The next event, within 10 s.
    pub fn next(&self) -> AuditEvent {
        self.take(1, Duration::from_secs(10)).remove(0)
    }

    /// Whether nothing is printed for `d`.
    pub fn quiet_for(&self, d: Duration) -> bool {
        self.lines.recv_timeout(d).is_err()
    }

    /// Nothing more is printed for `d`.
    pub fn assert_quiet_for(&self, d: Duration) {
        if let Ok(line) = self.lines.recv_timeout(d) {
            panic!("tail -f printed more than expected: {line}");
        }
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
