//! The command line, as clap derive types.

use std::path::PathBuf;

use audit_runtime::EventStatus;
use clap::{Args, Parser, Subcommand, ValueEnum};

/// Summarise, query, export, verify and follow audit logs (audit_log.json / audit_log.csv),
/// and ship them into PostgreSQL (`ship`; `summary`, `query`, `export` read it with `--db`).
///
/// PATH is a log directory (holding audit_log.json or audit_log.csv) or a log file; the
/// format is detected from the content.
#[derive(Debug, Parser)]
#[command(name = "auditlog", version, about, long_about = None)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Totals, per action, per status, first and last timestamp, failures per action, per actor.
    Summary(SummaryArgs),
    /// Print the events that match all the filters given.
    Query(QueryArgs),
    /// Convert a log to another format (lossless), writing atomically.
    Export(ExportArgs),
    /// Check that a log is well formed and in order, and its hash chain and signed digests
    /// when it has them; report the first problem.
    Verify(VerifyArgs),
    /// Make an Ed25519 key pair for signing digests (`AUDIT_LOG_SIGNING_KEY`).
    Keygen(KeygenArgs),
    /// Print the newest events; with -f, keep printing new ones as they are written.
    Tail(TailArgs),
    /// Ship a log's events into PostgreSQL, exactly once (resumes from its cursor); with
    /// --follow, keep shipping new ones as they are written.
    Ship(ShipArgs),
    /// Print the keyed hash (hmac-sha256:...) a log holds in place of VALUE, to search for.
    Hash(HashArgs),
    /// Print the counters a logger wrote to its stats file (events written, failed, refused,
    /// sink failures, bytes, recoveries, redactions, truncations, the last error). The
    /// example server writes audit_log.stats.json beside its log every 10 s, on SIGUSR1 and
    /// at exit.
    Stats(StatsArgs),
}

/// `auditlog stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// A stats file, a log directory (its audit_log.stats.json) or a log file (the
    /// audit_log.stats.json beside it).
    #[arg(default_value = ".")]
    pub path: PathBuf,
    /// Print the stats file's JSON document instead of the table.
    #[arg(long)]
    pub json: bool,
}

/// `auditlog hash`.
#[derive(Debug, Args)]
pub struct HashArgs {
    /// The value as it was logged (its UTF-8 bytes are hashed).
    pub value: String,
    /// The log's key file (audit_log.hmac-key beside the log, unless the logger was given
    /// another).
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// VALUE is JSON (a number, an object...): hash its canonical JSON text, as the logger
    /// does for values that are not strings.
    #[arg(long)]
    pub json: bool,
}

/// `--db` and the filters only a database has (summary, query, export).
#[derive(Debug, Clone, Args)]
pub struct DbArgs {
    /// Read the events shipped to this PostgreSQL database (postgres://user:password@host/db)
    /// instead of a log file: every log shipped there, filters pushed down to SQL.
    #[arg(long, value_name = "URL", conflicts_with = "path")]
    pub db: Option<String>,
    /// With --db: only events of this experiment.
    #[arg(long, value_name = "NAME", requires = "db")]
    pub experiment: Option<String>,
    /// With --db: only events from this host.
    #[arg(long, value_name = "NAME", requires = "db")]
    pub host: Option<String>,
}

/// `auditlog ship`.
#[derive(Debug, Args)]
pub struct ShipArgs {
    /// Log directory or file (this crate's or the Python reference's, JSON or CSV).
    pub path: PathBuf,
    /// The PostgreSQL database (postgres://user:password@host:port/db); the table is
    /// created on first use.
    #[arg(long, value_name = "URL")]
    pub db: String,
    /// Keep shipping new events as they are written, until interrupted (SIGINT, SIGTERM).
    #[arg(short, long)]
    pub follow: bool,
    /// The host column (default: this machine's host name); part of the log's id.
    #[arg(long, value_name = "NAME")]
    pub host: Option<String>,
    /// The experiment column (default: the log directory's name).
    #[arg(long, value_name = "NAME")]
    pub experiment: Option<String>,
    /// Events per insert.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    pub batch_size: usize,
    /// With --follow: how often to look at the log when everything is shipped, in
    /// milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 50, hide = true)]
    pub poll_ms: u64,
}

/// `auditlog summary`.
#[derive(Debug, Args)]
pub struct SummaryArgs {
    /// Log directory or file (or --db).
    #[arg(required_unless_present = "db")]
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub source: DbArgs,
    /// Print the spec's get_log_summary JSON (total_events, by_action_type, by_status).
    #[arg(long)]
    pub json: bool,
}

/// `auditlog query`.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// Log directory or file (or --db).
    #[arg(required_unless_present = "db")]
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub source: DbArgs,
    /// Only this action type (repeat for several: any of them matches).
    #[arg(long = "action", value_name = "ACTION")]
    pub actions: Vec<String>,
    /// Only events with this status: success, failed, or another status a log holds, as
    /// written (WeightsLab v2.0's services log error for a notebook cell that raised).
    #[arg(long, value_name = "STATUS")]
    pub status: Option<EventStatus>,
    /// Only events at or after T (RFC 3339 such as 2026-05-27T14:30:00Z, a date, or a
    /// relative time such as 30m, 2h, 3d, 1w meaning that long ago).
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Only events at or before T (same forms as --since).
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
    /// Only events whose details.actor is X (a string, or an object with a field equal to X).
    #[arg(long, value_name = "X")]
    pub actor: Option<String>,
    /// Only events of one request: details.request_id is ID (one gRPC call or one
    /// #[audited] call and what it logged inside).
    #[arg(long = "request", value_name = "ID")]
    pub request: Option<String>,
    /// Only events whose JSON text contains TEXT (case-sensitive).
    #[arg(long, value_name = "TEXT")]
    pub contains: Option<String>,
    /// At most N events.
    #[arg(long, value_name = "N")]
    pub limit: Option<u64>,
    /// Oldest first (the default is newest first, like the JSON file).
    #[arg(long)]
    pub oldest_first: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// Exit with code 1 when nothing matches.
    #[arg(long)]
    pub fail_on_empty: bool,
}

/// `auditlog export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Log directory or file (or --db).
    #[arg(required_unless_present = "db")]
    pub path: Option<PathBuf>,
    #[command(flatten)]
    pub source: DbArgs,
    /// Target format.
    #[arg(long, value_enum)]
    pub to: ExportFormat,
    /// Output file (written atomically: a temporary file renamed into place). Default stdout.
    #[arg(short, long, value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `auditlog verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Log directory or file; or several files of one rotated log (`audit_log.json.1
    /// audit_log.json`, in any order): each is checked, and then that they form one chain
    /// with no file missing between them.
    #[arg(required = true, num_args = 1.., value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Public key file (from `auditlog keygen`): check the signed digests in
    /// `<log>.digests` too, and require that they cover the log.
    #[arg(long, value_name = "PUBKEY")]
    pub key: Option<PathBuf>,
    /// Threads to read with: 2 (the default where the machine has two cores) parses events
    /// on both at once (1.3x as fast for JSON, 1.25x for CSV); 1 leaves the other core alone.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=2))]
    pub threads: Option<u8>,
}

/// `auditlog keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Directory to write `audit_signing.key` (mode 0600) and `audit_signing.pub` into.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

/// `auditlog tail`.
#[derive(Debug, Args)]
pub struct TailArgs {
    /// Log directory or file.
    pub path: PathBuf,
    /// How many of the newest events to print.
    #[arg(short = 'n', long = "lines", value_name = "N", default_value_t = 10)]
    pub count: usize,
    /// Keep printing new events as they are written, until interrupted.
    #[arg(short, long)]
    pub follow: bool,
    /// Output format.
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,
    /// With -f: how often to look at the file, in milliseconds.
    #[arg(long, value_name = "MS", default_value_t = 250, hide = true)]
    pub poll_ms: u64,
}

/// How events are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Aligned columns that fit the terminal.
    Table,
    /// One JSON array (our layout: one event per line).
    Json,
    /// One JSON object per line.
    Jsonl,
    /// The CSV log format (header, one row per event).
    Csv,
}

/// `export --to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// audit_log.json layout: one array, newest first, one event per line.
    Json,
    /// audit_log.csv layout: header, oldest first.
    Csv,
    /// One JSON object per line, oldest first.
    Jsonl,
}
