//! The database side of shipping: the URL (parsed once, shown without its password), the
//! connection, the versioned schema, and the batched, idempotent insert.
//!
//! Every statement runs on a current-thread tokio runtime owned by the caller (the shipper's
//! thread, or a reader's), so nothing here needs the application to run tokio.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use tokio::runtime::Runtime;
use tokio_postgres::{Client, Config, NoTls};

use super::source::Shippable;
use crate::AuditError;

/// How long connecting may take before it counts as failed (then retried with backoff).
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one statement may take: a server that stopped answering (not one that closed the
/// connection, which fails at once) must not hold the shipper forever.
pub(crate) const STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// The schema versions this build knows, in order; each entry is applied once, in one
/// transaction, and recorded in `audit_schema_migrations`.
const MIGRATIONS: &[(i32, &str, &str)] = &[(
    1,
    "audit_events: one row per event of every shipped log",
    r#"
    CREATE TABLE audit_events (
        log_id       text        NOT NULL,
        seq          bigint      NOT NULL,
        host         text        NOT NULL,
        root_log_dir text        NOT NULL,
        experiment   text        NOT NULL,
        "timestamp"  timestamptz NOT NULL,
        action_type  text        NOT NULL,
        status       text        NOT NULL,
        details      jsonb       NOT NULL,
        error        text,
        actor        text,
        request_id   text,
        shipped_at   timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (log_id, seq)
    );
    CREATE INDEX audit_events_timestamp ON audit_events ("timestamp");
    CREATE INDEX audit_events_action ON audit_events (action_type, "timestamp");
    CREATE INDEX audit_events_actor ON audit_events (actor, "timestamp");
    "#,
)];

/// The schema version this build creates and reads.
pub const SCHEMA_VERSION: i32 = 1;

/// Serialises concurrent migrations (several shippers starting at once): an arbitrary
/// constant for `pg_advisory_xact_lock`.
const MIGRATION_LOCK: i64 = 0x6175_6469_7465_6431; // "audited1"

/// A database URL (`postgres://user:password@host:port/db` or libpq's `key=value` form),
/// parsed, with the form that may be shown: the password removed.
#[derive(Clone)]
pub struct DbUrl {
    config: Config,
    shown: String,
}

impl DbUrl {
    /// Parses `url`. An error names the URL without its password.
    pub fn parse(url: &str) -> Result<DbUrl, AuditError> {
        let shown = redact(url);
        let mut config = Config::from_str(url).map_err(|e| AuditError::Database {
            action: "parse the PostgreSQL URL".to_owned(),
            url: shown.clone(),
            source: Box::new(e),
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(CONNECT_TIMEOUT);
        }
        if config.get_application_name().is_none() {
            config.application_name("audited");
        }
        Ok(DbUrl { config, shown })
    }

    /// The URL without its password: what every message shows.
    pub fn shown(&self) -> &str {
        &self.shown
    }

    pub(crate) fn error(
        &self,
        action: impl Into<String>,
        source: impl Into<Box<dyn std::error::Error + Send + Sync>>,
    ) -> AuditError {
        AuditError::Database {
            action: action.into(),
            url: self.shown.clone(),
            source: source.into(),
        }
    }
}

impl fmt::Debug for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

impl fmt::Display for DbUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.shown)
    }
}

/// `url` without its password, in either form; also for text that does not parse, since the
/// error about it must not print the password either.
pub fn redact(url: &str) -> String {
    let trimmed = url.trim();
    for scheme in ["postgresql://", "postgres://"] {
        if let Some(rest) = trimmed.strip_prefix(scheme) {
            return format!("{scheme}{}", redact_url_rest(rest));
        }
    }
    redact_key_values(trimmed)
}

/// After `scheme://`: `[user[:password]@]hosts[/db][?params]`.
fn redact_url_rest(rest: &str) -> String {
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let authority = match authority.rfind('@') {
        Some(at) => {
            let (userinfo, hosts) = authority.split_at(at);
            let user = userinfo.split(':').next().unwrap_or_default();
            format!("{user}{hosts}")
        }
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, params)) => {
            let kept: Vec<&str> = params
                .split('&')
                .filter(|p| !p.to_ascii_lowercase().starts_with("password="))
                .collect();
            if kept.is_empty() {
                path.to_owned()
            } else {
                format!("{path}?{}", kept.join("&"))
            }
        }
        None => tail.to_owned(),
    };
    format!("{authority}{tail}")
}

/// libpq's `key=value key='quoted value'` form without its `password` pair.
fn redact_key_values(text: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut chars = text.chars().peekable();
    while chars.peek().is_some() {
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let mut pair = String::new();
        let mut quoted = false;
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() && !quoted {
                break;
            }
            chars.next();
            if c == '\\' && quoted {
                pair.push(c);
                if let Some(escaped) = chars.next() {
                    pair.push(escaped);
                }
                continue;
            }
            if c == '\'' {
                quoted = !quoted;
            }
            pair.push(c);
        }
        let key = pair.split('=').next().unwrap_or_default().trim();
        if !pair.is_empty() && !key.eq_ignore_ascii_case("password") {
            out.push(pair);
        }
    }
    out.join(" ")
}

/// A current-thread runtime for the database client: the shipper's thread and the readers
/// drive it with `block_on`, so applications need not run tokio themselves.
pub(crate) fn runtime(url: &DbUrl) -> Result<Runtime, AuditError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| url.error("start a runtime for", e))
}

/// An open connection.
pub(crate) struct Db {
    pub(crate) client: Client,
    pub(crate) url: DbUrl,
}

impl Db {
    /// Connects; the connection's I/O runs as a task on the current runtime.
    pub(crate) async fn connect(url: &DbUrl) -> Result<Db, AuditError> {
        let connecting = url.config.connect(NoTls);
        let (client, connection) = match tokio::time::timeout(CONNECT_TIMEOUT, connecting).await {
            Ok(Ok(pair)) => pair,
            Ok(Err(e)) => return Err(url.error("connect to", e)),
            Err(_) => {
                return Err(url.error(
                    "connect to",
                    format!("no answer within {} s", CONNECT_TIMEOUT.as_secs()),
                ));
            }
        };
        let shown = url.shown.clone();
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(target: "audit", url = %shown, "the database connection ended: {e}");
            }
        });
        Ok(Db {
            client,
            url: url.clone(),
        })
    }

    /// Whether the connection is gone (the server closed it or it failed): reconnect.
    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Brings the schema to [`SCHEMA_VERSION`], creating it on first use. Several shippers
    /// may start at once: an advisory lock makes them take turns, and each applies only what
    /// the one before did not. A database with a newer schema than this build knows is an
    /// error (its rows might not mean what this build thinks).
    pub(crate) async fn migrate(&mut self) -> Result<(), AuditError> {
        let url = self.url.clone();
        let err = |e: tokio_postgres::Error| url.error("create the audit schema in", e);
        let tx = timed(
            &url,
            "create the audit schema in",
            self.client.transaction(),
        )
        .await?
        .map_err(err)?;
        let steps = async {
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS audit_schema_migrations (
                     version     integer     PRIMARY KEY,
                     description text        NOT NULL,
                     applied_at  timestamptz NOT NULL DEFAULT now()
                 )",
            )
            .await?;
            let row = tx
                .query_one(
                    "SELECT coalesce(max(version), 0) FROM audit_schema_migrations",
                    &[],
                )
                .await?;
            Ok::<i32, tokio_postgres::Error>(row.get(0))
        };
        let current = timed(&url, "create the audit schema in", steps)
            .await?
            .map_err(err)?;
        if current > SCHEMA_VERSION {
            return Err(url.error(
                "ship to",
                format!(
                    "its audit schema is version {current}, newer than the version \
                     {SCHEMA_VERSION} this build knows; upgrade audited"
                ),
            ));
        }
        for (version, description, sql) in MIGRATIONS {
            if *version <= current {
                continue;
            }
            let apply = async {
                tx.batch_execute(sql).await?;
                tx.execute(
                    "INSERT INTO audit_schema_migrations (version, description) VALUES ($1, $2)",
                    &[version, description],
                )
                .await
            };
            timed(&url, "create the audit schema in", apply)
                .await?
                .map_err(err)?;
        }
        timed(&url, "create the audit schema in", tx.commit())
            .await?
            .map_err(err)?;
        Ok(())
    }

    /// Inserts `batch` in one statement (one transaction): a row that is already there (sent
    /// before a crash) is left alone. Returns how many rows were new. A row that was there
    /// but differs from the event is an error: the log is not the one shipped before under
    /// its id.
    pub(crate) async fn insert_batch(
        &self,
        log: &LogIdentity,
        batch: &[Shippable],
    ) -> Result<u64, AuditError> {
        if batch.is_empty() {
            return Ok(0);
        }
        let columns = Columns::of(batch);
        let url = &self.url;
        let err = |e: tokio_postgres::Error| url.error("insert events into", e);
        let statement = r#"
            INSERT INTO audit_events (log_id, seq, host, root_log_dir, experiment, "timestamp",
                                      action_type, status, details, error, actor, request_id)
            SELECT $1, u.seq, $2, $3, $4, u.ts::timestamptz, u.action_type, u.status,
                   u.details::jsonb, u.error, u.actor, u.request_id
            FROM unnest($5::int8[], $6::text[], $7::text[], $8::text[], $9::text[],
                        $10::text[], $11::text[], $12::text[])
                 AS u(seq, ts, action_type, status, details, error, actor, request_id)
            ON CONFLICT (log_id, seq) DO NOTHING
            RETURNING seq"#;
        let inserted = timed(
            url,
            "insert events into",
            self.client.query(
                statement,
                &[
                    &log.log_id,
                    &log.host,
                    &log.root_log_dir,
                    &log.experiment,
                    &columns.seq,
                    &columns.timestamp,
                    &columns.action_type,
                    &columns.status,
                    &columns.details,
                    &columns.error,
                    &columns.actor,
                    &columns.request_id,
                ],
            ),
        )
        .await?
        .map_err(err)?;
        let new = inserted.len() as u64;
        if new < batch.len() as u64 {
            self.check_resent(log, batch, &columns).await?;
        }
        Ok(new)
    }

    /// Events that were already there must be the same events (timestamp and action): a
    /// re-sent batch after a crash is, a different log that got the same id is not.
    async fn check_resent(
        &self,
        log: &LogIdentity,
        batch: &[Shippable],
        columns: &Columns,
    ) -> Result<(), AuditError> {
        let url = &self.url;
        let rows = timed(
            url,
            "check re-sent events in",
            self.client.query(
                r#"SELECT seq, to_char("timestamp" AT TIME ZONE 'UTC',
                                        'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), action_type
                   FROM audit_events WHERE log_id = $1 AND seq = ANY($2::int8[])"#,
                &[&log.log_id, &columns.seq],
            ),
        )
        .await?
        .map_err(|e| url.error("check re-sent events in", e))?;
        for row in rows {
            let seq: i64 = row.get(0);
            let ts: String = row.get(1);
            let action: String = row.get(2);
            let Some(sent) = batch.iter().find(|s| s.seq == seq) else {
                continue;
            };
            if ts != sent.timestamp || action != sent.action_type {
                return Err(url.error(
                    "ship to",
                    format!(
                        "log {} event {seq} is already in the database as {action} at {ts}, \
                         but the log holds {} at {} there: the log was changed or replaced \
                         under its id",
                        log.log_id, sent.action_type, sent.timestamp
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Inserts one event per statement (each its own transaction): what shipping without
    /// batches costs, for the benchmark.
    pub(crate) async fn insert_one_by_one(
        &self,
        log: &LogIdentity,
        batch: &[Shippable],
    ) -> Result<u64, AuditError> {
        let url = &self.url;
        let statement = timed(
            url,
            "prepare an insert in",
            self.client.prepare(
                r#"INSERT INTO audit_events (log_id, seq, host, root_log_dir, experiment,
                       "timestamp", action_type, status, details, error, actor, request_id)
                   VALUES ($1, $2, $3, $4, $5, $6::text::timestamptz, $7, $8,
                           $9::text::jsonb, $10, $11, $12)
                   ON CONFLICT (log_id, seq) DO NOTHING"#,
            ),
        )
        .await?
        .map_err(|e| url.error("prepare an insert in", e))?;
        let mut new = 0;
        for event in batch {
            new += timed(
                url,
                "insert an event into",
                self.client.execute(
                    &statement,
                    &[
                        &log.log_id,
                        &event.seq,
                        &log.host,
                        &log.root_log_dir,
                        &log.experiment,
                        &event.timestamp,
                        &event.action_type,
                        &event.status,
                        &event.details,
                        &event.error,
                        &event.actor,
                        &event.request_id,
                    ],
                ),
            )
            .await?
            .map_err(|e| url.error("insert an event into", e))?;
        }
        Ok(new)
    }

    /// The highest sequence number stored for `log_id` (0 when none): where a shipper whose
    /// cursor was lost, or is ahead of a restored database, starts again.
    pub(crate) async fn shipped_up_to(&self, log_id: &str) -> Result<i64, AuditError> {
        let url = &self.url;
        let row = timed(
            url,
            "read shipped events from",
            self.client.query_one(
                "SELECT coalesce(max(seq), 0) FROM audit_events WHERE log_id = $1",
                &[&log_id],
            ),
        )
        .await?
        .map_err(|e| url.error("read shipped events from", e))?;
        Ok(row.get(0))
    }
}

/// Runs `work` with [`STATEMENT_TIMEOUT`].
pub(crate) async fn timed<T>(
    url: &DbUrl,
    action: &str,
    work: impl Future<Output = T>,
) -> Result<T, AuditError> {
    tokio::time::timeout(STATEMENT_TIMEOUT, work)
        .await
        .map_err(|_| {
            url.error(
                action,
                format!("no answer within {} s", STATEMENT_TIMEOUT.as_secs()),
            )
        })
}

/// Which log the rows come from: the columns every row of it repeats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogIdentity {
    /// Stable for the log: derived from the host, the log directory and the log's oldest
    /// event, so a shipper that lost its cursor, or another shipper of the same log, sends
    /// the same keys again.
    pub log_id: String,
    /// The machine the log is on.
    pub host: String,
    /// The log's directory, made absolute.
    pub root_log_dir: String,
    /// The experiment's name.
    pub experiment: String,
}

/// A batch as one array per column (one statement, whatever the batch's size).
struct Columns {
    seq: Vec<i64>,
    timestamp: Vec<String>,
    action_type: Vec<String>,
    status: Vec<String>,
    details: Vec<String>,
    error: Vec<Option<String>>,
    actor: Vec<Option<String>>,
    request_id: Vec<Option<String>>,
}

impl Columns {
    fn of(batch: &[Shippable]) -> Columns {
        Columns {
            seq: batch.iter().map(|e| e.seq).collect(),
            timestamp: batch.iter().map(|e| e.timestamp.clone()).collect(),
            action_type: batch.iter().map(|e| e.action_type.clone()).collect(),
            status: batch.iter().map(|e| e.status.clone()).collect(),
            details: batch.iter().map(|e| e.details.clone()).collect(),
            error: batch.iter().map(|e| e.error.clone()).collect(),
            actor: batch.iter().map(|e| e.actor.clone()).collect(),
            request_id: batch.iter().map(|e| e.request_id.clone()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_shown() {
        assert_eq!(
            redact("postgres://audit:s3cret@db.example:5432/audit?sslmode=disable"),
            "postgres://audit@db.example:5432/audit?sslmode=disable"
        );
        assert_eq!(
            redact("postgresql://audit:p@ss@h/db?password=x&application_name=a"),
            "postgresql://audit@h/db?application_name=a"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(
            redact("host=localhost user=audit password='a b' dbname=x"),
            "host=localhost user=audit dbname=x"
        );
        assert_eq!(redact("password=plain host=h"), "host=h");
    }
}
