//! Helpers of the fault-injection suite (`faults_disk.rs`, `faults_dirs.rs`): a ledger of
//! the events a logger acknowledged, checks that a log holds exactly those (read by
//! serde_json / the csv crate and by Python), a tmpfs mounted for a test, and child
//! processes that run one test's scenario under a file-size limit or as an unprivileged
//! user.
//!
//! A child is this same test binary, started with `--exact TEST` and [`CHILD_ENV`] set: the
//! test sees the variable and plays the child's part instead of the parent's.

#![allow(dead_code)]

#[path = "python.rs"]
pub mod python;

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use audit_runtime::{AuditError, AuditLogger, Format, Status};
use serde_json::{Value, json};

/// Set in a child process to the part it plays.
pub const CHILD_ENV: &str = "AUDIT_FAULT_CHILD";

/// The part this process plays, if it is a child started by [`run_child`].
pub fn child_role() -> Option<String> {
    std::env::var(CHILD_ENV).ok()
}

pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// The user and group an unprivileged child runs as: `nobody`.
pub const NOBODY: u32 = 65534;

pub fn log_path(dir: &Path, format: Format) -> PathBuf {
    dir.join(format.file_name().expect("a file format"))
}

/// The ids of the events a logger acknowledged, in the order it acknowledged them.
#[derive(Default, Debug)]
pub struct Ledger {
    pub acked: Vec<String>,
    pub next: usize,
    /// Failures seen, by their message.
    pub failures: Vec<String>,
}

impl Ledger {
    /// Logs one event with `pad` bytes of padding; it is acknowledged (and must be in the
    /// file) exactly when this returns `Ok`.
    pub fn log(&mut self, logger: &AuditLogger, pad: usize) -> Result<(), AuditError> {
        let id = format!("e{}", self.next);
        self.next += 1;
        let details = json!({"id": id, "pad": "p".repeat(pad)});
        match logger.log_event("tag_add", Status::Success, details, None) {
            Ok(()) => {
                self.acked.push(id);
                Ok(())
            }
            Err(e) => {
                self.failures.push(e.full_message());
                Err(e)
            }
        }
    }
}

/// The `details.id` of every event in the log, oldest first, read strictly with serde_json
/// (one array) or the csv crate (a header and records of five fields): panics, naming the
/// file, if it does not parse.
pub fn rust_ids(path: &Path, format: Format) -> Vec<String> {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let mut ids: Vec<String> = match format {
        Format::Json => {
            let events: Vec<Value> = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", path.display()));
            events.iter().map(|e| id_of(&e["details"])).collect()
        }
        _ => {
            let mut reader = csv::Reader::from_reader(bytes.as_slice());
            let header = reader.headers().expect("CSV header").clone();
            assert_eq!(
                header.iter().collect::<Vec<_>>(),
                ["timestamp", "action_type", "status", "details", "error"],
                "{}",
                path.display()
            );
            reader
                .records()
                .map(|r| {
                    let r =
                        r.unwrap_or_else(|e| panic!("{} is not valid CSV: {e}", path.display()));
                    assert_eq!(
                        r.len(),
                        5,
                        "{}: a record of {} fields",
                        path.display(),
                        r.len()
                    );
                    id_of(&serde_json::from_str(&r[3]).expect("details are JSON"))
                })
                .collect()
        }
    };
    if format == Format::Json {
        ids.reverse();
    }
    ids
}

fn id_of(details: &Value) -> String {
    details["id"].as_str().unwrap_or_default().to_owned()
}

/// Temporary files (a rewrite's) left in `dir`.
pub fn temporaries(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.contains(".tmp-"))
                .collect()
        })
        .unwrap_or_default()
}

/// Checks that the log in `dir` holds exactly the acknowledged events, oldest first, read
/// by serde_json / the csv crate and (with `python`) by Python's `json` / `csv`. `when` says
/// at which step, for the message.
pub fn assert_log_holds(dir: &Path, format: Format, ledger: &Ledger, python: bool, when: &str) {
    let path = log_path(dir, format);
    let found = rust_ids(&path, format);
    assert_eq!(
        found, ledger.acked,
        "{when}: the {format:?} log must hold every acknowledged event once, in order, and \
         nothing else (failures so far: {:?})",
        ledger.failures
    );
    if python {
        let mut by_python = python::python_ids(&path, format);
        if format == Format::Json {
            by_python.reverse();
        }
        assert_eq!(
            by_python, found,
            "{when}: Python reads other events than serde_json"
        );
    }
}

/// Checks that a failed rewrite left no temporary file in `dir`. Only meaningful when no
/// rewrite can be under way (a background rewrite's temporary is there while it builds).
pub fn assert_no_temporaries(dir: &Path, when: &str) {
    let left = temporaries(dir);
    assert!(left.is_empty(), "{when}: temporaries left behind: {left:?}");
}

/// Asserts that `err` names `path` and that its whole message (with the operating system's
/// cause) contains one of `causes`.
pub fn assert_error_names(err: &AuditError, path: &Path, causes: &[&str]) {
    let message = err.to_string();
    let full = err.full_message();
    assert!(
        message.contains(&*path.to_string_lossy()),
        "the error must name {}: {full}",
        path.display()
    );
    assert!(
        causes.iter().any(|c| full.contains(c)),
        "the error must say why ({causes:?}): {full}"
    );
}

/// A tmpfs of a given size mounted on a fresh directory, unmounted (lazily, so that a file
/// still open cannot keep it) when dropped.
pub struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts one, if this process may (root, and mounting allowed where it runs); else why
    /// not.
    pub fn mount(bytes: u64) -> Result<Tmpfs, String> {
        if !is_root() {
            return Err("not root".to_owned());
        }
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let target = std::ffi::CString::new(dir.path().as_os_str().as_encoded_bytes())
            .map_err(|e| e.to_string())?;
        let options = std::ffi::CString::new(format!("size={bytes},mode=0755")).expect("no NUL");
        // SAFETY: NUL-terminated strings that outlive the call.
        let r = unsafe {
            libc::mount(
                c"tmpfs".as_ptr(),
                target.as_ptr(),
                c"tmpfs".as_ptr(),
                0,
                options.as_ptr().cast(),
            )
        };
        if r != 0 {
            return Err(format!("mount: {}", io::Error::last_os_error()));
        }
        Ok(Tmpfs { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        if let Ok(target) = std::ffi::CString::new(self.dir.path().as_os_str().as_encoded_bytes()) {
            // SAFETY: a NUL-terminated path; MNT_DETACH never blocks on open files.
            unsafe {
                libc::umount2(target.as_ptr(), libc::MNT_DETACH);
            }
        }
    }
}

/// Fills the file system holding `dir` with one file, `dir/filler`, until a write fails
/// for lack of space; returns the filler's path. Removing it frees the space again.
pub fn fill_disk(dir: &Path) -> PathBuf {
    let path = dir.join("filler");
    let mut file = fs::File::create(&path).expect("create the filler");
    for chunk in [1 << 16, 4096, 1] {
        let zeros = vec![0u8; chunk];
        // Bounded: the file system is small (a tmpfs of a few MB), and a write that never
        // fails means the test is not testing what it says.
        let mut full = false;
        for _ in 0..1_000_000 {
            match file.write(&zeros) {
                Ok(n) if n == chunk => {}
                Ok(_) => {}
                Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => {
                    full = true;
                    break;
                }
                Err(e) => panic!("filling the disk: {e}"),
            }
        }
        assert!(full, "the file system at {} never filled up", dir.display());
    }
    path
}

/// How a child process runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Privileges {
    Same,
    /// As `nobody` (uid and gid 65534, no supplementary groups), so that file permissions
    /// apply: root ignores them.
    Nobody,
}

/// Runs the test `test` of this binary in a child process playing `role` (see
/// [`child_role`]); panics with its output unless it succeeds. Returns its stdout.
pub fn run_child(test: &str, role: &str, privileges: Privileges) -> String {
    run_child_with(test, role, privileges, &[])
}

/// [`run_child`] with more environment variables for the child.
pub fn run_child_with(
    test: &str,
    role: &str,
    privileges: Privileges,
    env: &[(&str, &std::ffi::OsStr)],
) -> String {
    let own = std::env::current_exe().expect("own path");
    // An unprivileged child may not be able to reach the build directory (a home directory
    // of mode 0700, say): it runs a copy in a directory everyone can read.
    let copy_dir = (privileges == Privileges::Nobody).then(|| {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755)).expect("chmod");
        dir
    });
    let exe = match &copy_dir {
        Some(dir) => {
            let copy = dir.path().join("test-binary");
            fs::copy(&own, &copy).expect("copy the test binary");
            fs::set_permissions(&copy, fs::Permissions::from_mode(0o755)).expect("chmod");
            copy
        }
        None => own,
    };
    let mut command = Command::new(&exe);
    command
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, role)
        .envs(env.iter().copied())
        .current_dir("/");
    if privileges == Privileges::Nobody {
        // SAFETY: between fork and exec only async-signal-safe calls (setgroups, setgid,
        // setuid), each checked.
        unsafe {
            command.pre_exec(|| {
                if libc::setgroups(0, std::ptr::null()) != 0
                    || libc::setgid(NOBODY) != 0
                    || libc::setuid(NOBODY) != 0
                {
                    return Err(io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let out = command.output().unwrap_or_else(|e| {
        panic!(
            "cannot start the child {role} of {test} ({privileges:?}; as nobody it needs the \
             right to change user, since root ignores file permissions): {e}"
        )
    });
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "child {role} of {test} failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
