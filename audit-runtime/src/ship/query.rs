//! Reading shipped events back: the filters of `auditlog query` pushed down to SQL, rows
//! fetched a thousand at a time through a cursor (a portal), so memory stays flat whatever
//! the table's size.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use tokio::runtime::Runtime;
use tokio_postgres::types::ToSql;

use super::db::{self, Db, DbUrl, timed};
use crate::{AuditError, AuditEvent, EventStatus, LogSummary, Timestamp};

/// Rows fetched per round trip.
const FETCH: i32 = 1000;

/// Which events to read from the database: every filter given must match (several actions
/// are alternatives), as `auditlog query` filters a file.
///
/// ```
/// use audit_runtime::ship::EventQuery;
/// let mut query = EventQuery::default();
/// query.actions = vec!["checkpoint_restore".into()];
/// query.status = Some("failed".into());
/// query.host = Some("gpu-node-7".into());
/// query.limit = Some(20);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventQuery {
    /// Any of these action types (empty: any).
    pub actions: Vec<String>,
    /// This status, as written.
    pub status: Option<String>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// At or before.
    pub until: Option<Timestamp>,
    /// `details.actor` is this string, or an object with a string field equal to it.
    pub actor: Option<String>,
    /// `details.request_id` is this string.
    pub request_id: Option<String>,
    /// The `experiment` column.
    pub experiment: Option<String>,
    /// The `host` column.
    pub host: Option<String>,
    /// Oldest first (default newest first, like the JSON log).
    pub oldest_first: bool,
    /// At most this many events.
    pub limit: Option<u64>,
}

/// The counts `auditlog summary --db` prints, computed by the database.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct DbSummary {
    /// The spec's counts.
    pub summary: LogSummary,
    /// The earliest timestamp.
    pub first: Option<Timestamp>,
    /// The latest timestamp.
    pub last: Option<Timestamp>,
    /// Events per (action type, status).
    pub by_action_and_status: BTreeMap<(String, String), u64>,
    /// Events per actor (as `auditlog summary` names them), for events that have one.
    pub by_actor: BTreeMap<String, u64>,
    /// How many logs (a log per experiment server and directory) the events come from.
    pub logs: u64,
}

/// A connection for reading the events of every log shipped to a database.
///
/// ```no_run
/// use audit_runtime::ship::{Database, EventQuery};
/// let mut db = Database::connect("postgres://audit@db.internal/audit")?;
/// let mut query = EventQuery::default();
/// query.status = Some("failed".into());
/// db.for_each_event(&query, |event| {
///     println!("{} {}", event.timestamp, event.action_type);
///     Ok::<bool, audit_runtime::AuditError>(true) // false stops
/// })?;
/// # Ok::<(), audit_runtime::AuditError>(())
/// ```
pub struct Database {
    runtime: Runtime,
    db: Db,
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Database")
            .field("url", &self.db.url)
            .finish()
    }
}

impl Database {
    /// Connects to the database at `url` and checks that it holds the audit table. A wrong
    /// URL, a refused login and a database without the table are errors naming the URL
    /// without its password.
    pub fn connect(url: &str) -> Result<Database, AuditError> {
        let url = DbUrl::parse(url)?;
        let runtime = db::runtime(&url)?;
        let db = runtime.block_on(async {
            let db = Db::connect(&url).await?;
            let row = timed(
                &url,
                "read audit events from",
                db.client.query_one(
                    "SELECT to_regclass('audit_events') IS NOT NULL, \
                            to_regclass('audit_schema_migrations') IS NOT NULL",
                    &[],
                ),
            )
            .await?
            .map_err(|e| url.error("read audit events from", e))?;
            let (events, migrations): (bool, bool) = (row.get(0), row.get(1));
            if !events || !migrations {
                return Err(url.error(
                    "read audit events from",
                    "the database has no audit_events table: nothing was shipped to it yet \
                     (`auditlog ship PATH --db URL` creates it)",
                ));
            }
            let row = timed(
                &url,
                "read audit events from",
                db.client.query_one(
                    "SELECT coalesce(max(version), 0) FROM audit_schema_migrations",
                    &[],
                ),
            )
            .await?
            .map_err(|e| url.error("read audit events from", e))?;
            let version: i32 = row.get(0);
            if version > db::SCHEMA_VERSION {
                return Err(url.error(
                    "read audit events from",
                    format!(
                        "its audit schema is version {version}, newer than the version {} \
                         this build knows; upgrade audited",
                        db::SCHEMA_VERSION
                    ),
                ));
            }
            Ok(db)
        })?;
        Ok(Database { runtime, db })
    }

    /// The database, without its password.
    pub fn url(&self) -> &str {
        self.db.url.shown()
    }

    /// Calls `visit` with each event that matches `query`, in time order (newest first
    /// unless [`EventQuery::oldest_first`]; events of different logs at the same microsecond
    /// by log and number), until it returns `Ok(false)`. Returns how many were visited.
    ///
    /// Details come back from `jsonb`: equal as JSON values to the logged ones, with keys in
    /// `jsonb`'s order (shorter keys first) rather than the order they were logged in.
    pub fn for_each_event<E: From<AuditError>>(
        &mut self,
        query: &EventQuery,
        mut visit: impl FnMut(AuditEvent) -> Result<bool, E>,
    ) -> Result<u64, E> {
        let (filter, params) = where_clause(query);
        let order = if query.oldest_first { "ASC" } else { "DESC" };
        let limit = query
            .limit
            .map(|n| format!(" LIMIT {n}"))
            .unwrap_or_default();
        let sql = format!(
            r#"SELECT (extract(epoch FROM "timestamp") * 1000000)::int8, action_type, status,
                      details::text, error
               FROM audit_events WHERE {filter}
               ORDER BY "timestamp" {order}, log_id {order}, seq {order}{limit}"#
        );
        let url = self.db.url.clone();
        let err = |e: tokio_postgres::Error| url.error("read audit events from", e);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
        let runtime = &self.runtime;
        let client = &mut self.db.client;
        let tx = runtime
            .block_on(timed(&url, "read audit events from", client.transaction()))?
            .map_err(err)?;
        let portal = runtime
            .block_on(timed(&url, "read audit events from", async {
                let statement = tx.prepare(&sql).await?;
                tx.bind(&statement, &refs).await
            }))?
            .map_err(err)?;
        let mut visited = 0;
        loop {
            let rows = runtime
                .block_on(timed(
                    &url,
                    "read audit events from",
                    tx.query_portal(&portal, FETCH),
                ))?
                .map_err(err)?;
            if rows.is_empty() {
                break;
            }
            for row in rows {
                let event = event_of(&url, &row)?;
                visited += 1;
                if !visit(event)? {
                    return Ok(visited);
                }
            }
        }
        // Only read: nothing to commit.
        drop(tx);
        Ok(visited)
    }

    /// Counts the events that match `query` by action, status and actor, in the database.
    pub fn summary(&mut self, query: &EventQuery) -> Result<DbSummary, AuditError> {
        let (filter, params) = where_clause(query);
        let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref() as _).collect();
        let url = self.db.url.clone();
        let err = |e: tokio_postgres::Error| url.error("summarise audit events in", e);
        let client = &self.db.client;
        let (counts, actors, logs) = self
            .runtime
            .block_on(timed(&url, "summarise audit events in", async {
                let counts = client
                    .query(
                        &format!(
                            r#"SELECT action_type, status, count(*),
                                      (extract(epoch FROM min("timestamp")) * 1000000)::int8,
                                      (extract(epoch FROM max("timestamp")) * 1000000)::int8
                               FROM audit_events WHERE {filter} GROUP BY 1, 2"#
                        ),
                        &refs,
                    )
                    .await?;
                let actors = client
                    .query(
                        &format!(
                            "SELECT actor, count(*) FROM audit_events \
                             WHERE {filter} AND actor IS NOT NULL GROUP BY 1"
                        ),
                        &refs,
                    )
                    .await?;
                let logs = client
                    .query_one(
                        &format!("SELECT count(DISTINCT log_id) FROM audit_events WHERE {filter}"),
                        &refs,
                    )
                    .await?;
                Ok::<_, tokio_postgres::Error>((counts, actors, logs))
            }))?
            .map_err(err)?;
        let mut summary = DbSummary::default();
        for row in counts {
            let action: String = row.get(0);
            let status: String = row.get(1);
            let n = u64::try_from(row.get::<_, i64>(2)).unwrap_or(0);
            let first = Timestamp::from_micros(row.get(3));
            let last = Timestamp::from_micros(row.get(4));
            summary.summary.total_events += n;
            *summary
                .summary
                .by_action_type
                .entry(action.clone())
                .or_default() += n;
            *summary.summary.by_status.entry(status.clone()).or_default() += n;
            summary.first = Some(summary.first.map_or(first, |f| f.min(first)));
            summary.last = Some(summary.last.map_or(last, |l| l.max(last)));
            summary.by_action_and_status.insert((action, status), n);
        }
        for row in actors {
            let actor: String = row.get(0);
            let n = u64::try_from(row.get::<_, i64>(1)).unwrap_or(0);
            summary.by_actor.insert(actor, n);
        }
        summary.logs = u64::try_from(logs.get::<_, i64>(0)).unwrap_or(0);
        Ok(summary)
    }
}

type Param = Box<dyn ToSql + Sync + Send>;

/// The SQL condition for `query` and its parameters (numbered from `$1`).
fn where_clause(query: &EventQuery) -> (String, Vec<Param>) {
    let mut clauses: Vec<String> = vec!["true".to_owned()];
    let mut params: Vec<Param> = Vec::new();
    if !query.actions.is_empty() {
        let p = next(&mut params, Box::new(query.actions.clone()));
        clauses.push(format!("action_type = ANY({p}::text[])"));
    }
    if let Some(status) = &query.status {
        let p = next(&mut params, Box::new(status.clone()));
        clauses.push(format!("status = {p}"));
    }
    if let Some(since) = query.since {
        let p = next(&mut params, Box::new(since.to_string()));
        clauses.push(format!(r#""timestamp" >= {p}::text::timestamptz"#));
    }
    if let Some(until) = query.until {
        let p = next(&mut params, Box::new(until.to_string()));
        clauses.push(format!(r#""timestamp" <= {p}::text::timestamptz"#));
    }
    if let Some(actor) = &query.actor {
        // As `auditlog query --actor` on a file: the string itself, or an object with a
        // string field equal to it.
        let p = next(&mut params, Box::new(actor.clone()));
        clauses.push(format!(
            "((jsonb_typeof(details->'actor') = 'string' AND actor = {p}) \
              OR (jsonb_typeof(details->'actor') = 'object' AND EXISTS \
                  (SELECT 1 FROM jsonb_each(details->'actor') AS a(k, v) \
                   WHERE a.v = to_jsonb({p}::text))))"
        ));
    }
    if let Some(request_id) = &query.request_id {
        let p = next(&mut params, Box::new(request_id.clone()));
        clauses.push(format!("request_id = {p}"));
    }
    if let Some(experiment) = &query.experiment {
        let p = next(&mut params, Box::new(experiment.clone()));
        clauses.push(format!("experiment = {p}"));
    }
    if let Some(host) = &query.host {
        let p = next(&mut params, Box::new(host.clone()));
        clauses.push(format!("host = {p}"));
    }
    (clauses.join(" AND "), params)
}

/// Adds a parameter and returns its placeholder.
fn next(params: &mut Vec<Param>, value: Param) -> String {
    params.push(value);
    format!("${}", params.len())
}

fn event_of(url: &DbUrl, row: &tokio_postgres::Row) -> Result<AuditEvent, AuditError> {
    let micros: i64 = row.get(0);
    let action_type: String = row.get(1);
    let status: String = row.get(2);
    let details: String = row.get(3);
    let error: Option<String> = row.get(4);
    let details: Map<String, Value> = match serde_json::from_str(&details) {
        Ok(Value::Object(map)) => map,
        Ok(other) => {
            let mut map = Map::new();
            map.insert("value".to_owned(), other);
            map
        }
        Err(e) => return Err(url.error("read audit events from", e)),
    };
    let status: EventStatus = status
        .parse()
        .map_err(|e| url.error("read audit events from", format!("{e}")))?;
    Ok(AuditEvent {
        timestamp: Timestamp::from_micros(micros),
        action_type,
        status,
        details,
        error: error.filter(|e| !e.is_empty()),
    })
}
