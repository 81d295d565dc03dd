//! A throwaway PostgreSQL cluster for the shipping tests: `initdb` in a temporary directory,
//! the server on a free loopback port (and a socket in that directory), password login, and
//! stopped when dropped (also when the test panics).
//!
//! PostgreSQL refuses to run as root, and CI runs as root: then the server programs run as
//! the system user `audited-pgtest`, created on first use, which owns the directory.
//! Without PostgreSQL's server programs the tests fail, saying how to install them: a
//! shipping test that passes without a database would prove nothing.
#![allow(dead_code)]

use std::ffi::CString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The unprivileged user the server runs as when the tests run as root.
const PG_USER: &str = "audited-pgtest";
/// The cluster's superuser and its password (the URL carries it; messages must not).
pub const USER: &str = "audit";
pub const PASSWORD: &str = "s3cret-pw";

/// Serialises creating the system user between the tests of one binary.
static USERADD: Mutex<()> = Mutex::new(());

/// The directory with `initdb`, `pg_ctl` and `postgres`: the newest version under
/// `/usr/lib/postgresql/*/bin` (Debian), else one found on `PATH`.
fn server_bin() -> PathBuf {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    if let Some((_, bin)) = found.pop() {
        return bin;
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            if dir.join("initdb").is_file() && dir.join("pg_ctl").is_file() {
                return dir;
            }
        }
    }
    panic!(
        "PostgreSQL's server programs (initdb, pg_ctl, postgres) were not found under \
         /usr/lib/postgresql/*/bin or on PATH. The shipping tests need a real server: \
         install it (Debian/Ubuntu: `apt-get install -y postgresql`; .ci/run does this)"
    );
}

/// `(uid, gid)` to run the server as: `None` when not root.
fn server_identity() -> Option<(u32, u32)> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return None;
    }
    let _guard = USERADD.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(ids) = lookup(PG_USER) {
        return Some(ids);
    }
    // Another test binary may create it at the same moment: its "already exists" is fine.
    let status = Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            PG_USER,
        ])
        .status();
    match lookup(PG_USER) {
        Some(ids) => Some(ids),
        None => panic!(
            "running as root, PostgreSQL needs an unprivileged user; `useradd {PG_USER}` \
             failed ({status:?})"
        ),
    }
}

fn lookup(name: &str) -> Option<(u32, u32)> {
    let name = CString::new(name).ok()?;
    // SAFETY: getpwnam returns a pointer to static storage or null; read at once.
    let entry = unsafe { libc::getpwnam(name.as_ptr()) };
    if entry.is_null() {
        return None;
    }
    // SAFETY: non-null, points at a valid passwd record.
    let entry = unsafe { &*entry };
    Some((entry.pw_uid, entry.pw_gid))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

/// A running cluster.
pub struct Cluster {
    dir: tempfile::TempDir,
    bin: PathBuf,
    ids: Option<(u32, u32)>,
    pub port: u16,
}

impl Cluster {
    /// initdb, configure, start; a database `audit` exists.
    pub fn start() -> Cluster {
        let bin = server_bin();
        let ids = server_identity();
        let dir = tempfile::Builder::new()
            .prefix("audited-pg-")
            .tempdir()
            .expect("a temporary directory");
        std::fs::write(dir.path().join("pwfile"), format!("{PASSWORD}\n")).unwrap();
        if let Some((uid, gid)) = ids {
            for path in [dir.path().to_owned(), dir.path().join("pwfile")] {
                let c = CString::new(path.to_string_lossy().as_bytes()).unwrap();
                // SAFETY: a valid C string path.
                assert_eq!(
                    unsafe { libc::chown(c.as_ptr(), uid, gid) },
                    0,
                    "chown {path:?}"
                );
            }
        }
        let mut cluster = Cluster {
            dir,
            bin,
            ids,
            port: 0,
        };
        let data = cluster.data();
        cluster.run(
            "initdb",
            &[
                "-D",
                data.to_str().unwrap(),
                "-U",
                USER,
                "--pwfile",
                cluster.dir.path().join("pwfile").to_str().unwrap(),
                "--auth=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );
        // A port can be taken between choosing it and the server binding it: try again.
        for attempt in 0..5 {
            cluster.port = free_port();
            let conf = format!(
                "\nlisten_addresses = '127.0.0.1'\nport = {}\nunix_socket_directories = '{}'\n\
                 fsync = off\nsynchronous_commit = off\nfull_page_writes = off\n\
                 max_connections = 60\n",
                cluster.port,
                cluster.dir.path().display()
            );
            let conf_path = data.join("postgresql.auto.conf");
            std::fs::write(&conf_path, conf).unwrap();
            if cluster.try_start() {
                break;
            }
            assert!(
                attempt < 4,
                "PostgreSQL did not start: {}",
                cluster.server_log()
            );
        }
        cluster.psql("postgres", "CREATE DATABASE audit");
        cluster
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn server_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn command(&self, program: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(program));
        cmd.current_dir(self.dir.path())
            .env("HOME", self.dir.path())
            .env("LC_ALL", "C")
            .stdin(Stdio::null());
        if let Some((uid, gid)) = self.ids {
            cmd.uid(uid).gid(gid);
        }
        cmd
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    fn try_start(&self) -> bool {
        let log = self.dir.path().join("server.log");
        self.command("pg_ctl")
            .args([
                "-D",
                self.data().to_str().unwrap(),
                "-l",
                log.to_str().unwrap(),
            ])
            .args(["-w", "-t", "120", "start"])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    /// Starts the server again after [`stop`](Self::stop), on the same port.
    pub fn restart(&self) {
        assert!(
            self.try_start(),
            "PostgreSQL did not start again: {}",
            self.server_log()
        );
    }

    /// Stops the server (fast shutdown: connections are closed at once).
    pub fn stop(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "fast",
                "-w",
                "-t",
                "120",
                "stop",
            ],
        );
    }

    /// The URL of database `db`, with the password.
    pub fn url(&self, db: &str) -> String {
        format!("postgres://{USER}:{PASSWORD}@127.0.0.1:{}/{db}", self.port)
    }

    /// Runs `sql` with psql and returns its unaligned, tuples-only output.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = Command::new(psql())
            .args(["-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1"])
            .arg(self.url(db))
            .args(["-c", sql])
            .stdin(Stdio::null())
            .output()
            .expect("psql runs");
        assert!(
            out.status.success(),
            "psql {sql:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// `SELECT count(*)` of the events in `db` (0 when the table does not exist yet).
    pub fn count(&self, db: &str) -> u64 {
        // Planned before it runs, so the table's absence must be asked about first.
        if self.psql(db, "SELECT to_regclass('audit_events') IS NULL") == "t" {
            return 0;
        }
        self.psql(db, "SELECT count(*) FROM audit_events")
            .parse()
            .unwrap()
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args([
                "-D",
                self.data().to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn psql() -> PathBuf {
    for candidate in [
        Path::new("/usr/bin/psql").to_owned(),
        server_bin().join("psql"),
    ] {
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!("psql was not found (Debian/Ubuntu: `apt-get install -y postgresql-client`)");
}

/// Waits until `cond` holds, at most `timeout` (generous: the machine may be busy).
pub fn wait_until(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
