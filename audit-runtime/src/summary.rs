//! TEMPORARY stand-in (replaced on merge of branch `read`).
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;

use serde::{Deserialize, Serialize};

use crate::AuditError;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogSummary {
    pub total_events: u64,
    pub by_action_type: BTreeMap<String, u64>,
    pub by_status: BTreeMap<String, u64>,
}

pub(crate) fn summarize_json_snapshot(
    file: File,
    first: u64,
    len: u64,
) -> Result<LogSummary, AuditError> {
    let mut bytes = Vec::new();
    let mut f = file;
    f.read_to_end(&mut bytes)
        .map_err(|e| AuditError::io("read", "x", e))?;
    let mut s = LogSummary::default();
    for line in bytes[first as usize..len as usize].split(|&b| b == b'\n') {
        let t = line.strip_suffix(b",").unwrap_or(line);
        if let Ok(e) = serde_json::from_slice::<crate::AuditEvent>(t) {
            s.total_events += 1;
            *s.by_action_type.entry(e.action_type).or_default() += 1;
            *s.by_status.entry(e.status.to_string()).or_default() += 1;
        }
    }
    Ok(s)
}
pub(crate) fn summarize_csv_snapshot(file: File, len: u64) -> Result<LogSummary, AuditError> {
    let mut s = LogSummary::default();
    let mut rd = csv::Reader::from_reader(file.take(len));
    for rec in rd.records().flatten() {
        s.total_events += 1;
        *s.by_action_type.entry(rec[1].to_string()).or_default() += 1;
        *s.by_status.entry(rec[2].to_string()).or_default() += 1;
    }
    Ok(s)
}
