//! `auditlog query`'s filters: all must match (AND); several `--action`s are alternatives (OR).

use audit_runtime::{AuditEvent, EventStatus, Timestamp};

use crate::CliError;
use crate::cli::QueryArgs;
use crate::stats::actor_matches;

/// The filters of one query.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Any of these action types (empty: any).
    pub actions: Vec<String>,
    /// This status, as written (any status a log holds, not only the two the runtime writes).
    pub status: Option<EventStatus>,
    /// At or after.
    pub since: Option<Timestamp>,
    /// At or before.
    pub until: Option<Timestamp>,
    /// `details.actor` is this.
    pub actor: Option<String>,
    /// `details.request_id` is this.
    pub request: Option<String>,
    /// The event's JSON text contains this.
    pub contains: Option<String>,
}

impl Filter {
    /// The filters from the command line; relative times count back from `now`.
    pub fn from_args(args: &QueryArgs, now: Timestamp) -> Result<Self, CliError> {
        let time = |flag: &str, value: &Option<String>| {
            value
                .as_deref()
                .map(|v| parse_time(v, now).map_err(|e| CliError::failure(format!("{flag}: {e}"))))
                .transpose()
        };
        Ok(Filter {
            actions: args.actions.clone(),
            status: args.status.clone(),
            since: time("--since", &args.since)?,
            until: time("--until", &args.until)?,
            actor: args.actor.clone(),
            request: args.request.clone(),
            contains: args.contains.clone(),
        })
    }

    /// Whether the event passes every filter.
    pub fn matches(&self, event: &AuditEvent) -> bool {
        (self.actions.is_empty() || self.actions.contains(&event.action_type))
            && self.status.as_ref().is_none_or(|s| *s == event.status)
            && self.since.is_none_or(|t| event.timestamp >= t)
            && self.until.is_none_or(|t| event.timestamp <= t)
            && self.actor.as_deref().is_none_or(|wanted| {
                event
                    .details
                    .get("actor")
                    .is_some_and(|a| actor_matches(a, wanted))
            })
            && self.request.as_deref().is_none_or(|wanted| {
                event.details.get("request_id").and_then(|id| id.as_str()) == Some(wanted)
            })
            && self.contains.as_deref().is_none_or(|text| {
                serde_json::to_string(event).is_ok_and(|json| json.contains(text))
            })
    }
}

/// A time on the command line: RFC 3339 / ISO 8601 (`2026-05-27T14:30:00Z`; without an
/// offset it is UTC), a date (`2026-05-27`, midnight UTC), or a duration ago: a number and
/// `s`, `m`, `h`, `d` or `w` (`90s`, `30m`, `2h`, `3d`, `1w`).
pub fn parse_time(text: &str, now: Timestamp) -> Result<Timestamp, String> {
    let text = text.trim();
    if let Ok(ts) = text.parse::<Timestamp>() {
        return Ok(ts);
    }
    if let Ok(date) = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
        && let Some(midnight) = date.and_hms_opt(0, 0, 0)
    {
        return Ok(Timestamp::from_micros(
            midnight.and_utc().timestamp_micros(),
        ));
    }
    let unit_at = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(unit_at);
    let seconds: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        _ => return Err(bad_time(text)),
    };
    let count: i64 = number.parse().map_err(|_| bad_time(text))?;
    let micros = count
        .checked_mul(seconds)
        .and_then(|s| s.checked_mul(1_000_000))
        .ok_or_else(|| bad_time(text))?;
    Ok(Timestamp::from_micros(
        now.as_micros().saturating_sub(micros),
    ))
}

fn bad_time(text: &str) -> String {
    format!(
        "cannot read {text:?} as a time: use RFC 3339 (2026-05-27T14:30:00Z), a date \
         (2026-05-27) or a duration ago (30m, 2h, 3d, 1w)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_absolute_dates_and_relative() {
        let now: Timestamp = "2026-05-27T12:00:00Z".parse().unwrap();
        assert_eq!(
            parse_time("2026-05-27T14:30:00.5+02:00", now)
                .unwrap()
                .to_string(),
            "2026-05-27T12:30:00.500000Z"
        );
        assert_eq!(
            parse_time("2026-05-20", now).unwrap().to_string(),
            "2026-05-20T00:00:00.000000Z"
        );
        assert_eq!(
            parse_time("2h", now).unwrap().to_string(),
            "2026-05-27T10:00:00.000000Z"
        );
        assert_eq!(
            parse_time("3d", now).unwrap().to_string(),
            "2026-05-24T12:00:00.000000Z"
        );
        assert_eq!(
            parse_time("1w", now).unwrap().to_string(),
            "2026-05-20T12:00:00.000000Z"
        );
        for bad in ["", "h", "2x", "yesterday", "-2h"] {
            assert!(parse_time(bad, now).is_err(), "{bad}");
        }
    }
}
