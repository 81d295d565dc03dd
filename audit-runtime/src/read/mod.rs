//! TEMPORARY stand-in (replaced by the real streaming readers on merge of branch `read`).
#![allow(missing_docs, dead_code)]
use std::io::{self, BufRead, BufReader, Read, Seek};

use crate::AuditEvent;

pub struct JsonElement {
    pub start: u64,
    pub end: u64,
    pub value: serde_json::Value,
    pub non_finite_tokens: u32,
    pub single_line: bool,
    pub starts_line: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScanError {
    pub offset: u64,
    pub line: u64,
    pub message: String,
}
impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "byte {} (line {}): {}",
            self.offset, self.line, self.message
        )
    }
}

pub struct JsonScanner<R> {
    lines: Vec<(u64, Vec<u8>)>,
    idx: usize,
    end: Option<u64>,
    _r: std::marker::PhantomData<R>,
}
impl<R: Read + Seek> JsonScanner<R> {
    pub fn new(reader: R) -> Self {
        let mut lines = Vec::new();
        let mut off = 0u64;
        let mut end = None;
        for line in BufReader::new(reader).split(b'\n').map_while(Result::ok) {
            let len = line.len() as u64 + 1;
            let t: &[u8] = line.strip_suffix(b",").unwrap_or(&line);
            if t.starts_with(b"{") {
                lines.push((off, t.to_vec()));
            } else if t == b"]" {
                end = Some(off);
            }
            off += len;
        }
        JsonScanner {
            lines,
            idx: 0,
            end,
            _r: std::marker::PhantomData,
        }
    }
    pub fn next_element(&mut self) -> Result<Option<JsonElement>, ScanError> {
        let Some((start, bytes)) = self.lines.get(self.idx) else {
            return Ok(None);
        };
        self.idx += 1;
        let value = serde_json::from_slice(bytes).map_err(|e| ScanError {
            offset: *start,
            line: 0,
            message: e.to_string(),
        })?;
        Ok(Some(JsonElement {
            start: *start,
            end: start + bytes.len() as u64,
            value,
            non_finite_tokens: 0,
            single_line: true,
            starts_line: true,
        }))
    }
    pub fn array_end(&self) -> Option<u64> {
        self.end
    }
}

#[derive(Debug, Default)]
pub struct SalvageReport {
    pub recovered: u64,
    pub problems: Vec<ScanError>,
    pub non_finite_tokens: u64,
    pub good_prefix_len: u64,
}
pub struct SalvageError(io::Error);
impl SalvageError {
    pub fn into_io(self) -> io::Error {
        self.0
    }
    pub fn into_audit_error(self, path: &std::path::Path) -> crate::AuditError {
        crate::AuditError::io("read", path, self.0)
    }
}
pub fn salvage_json<R: Read + Seek, E: std::fmt::Display>(
    reader: R,
    mut on: impl FnMut(JsonElement) -> Result<(), E>,
) -> Result<SalvageReport, SalvageError> {
    let mut s = JsonScanner::new(reader);
    let mut r = SalvageReport::default();
    loop {
        match s.next_element() {
            Ok(Some(el)) => {
                on(el).map_err(|e| SalvageError(io::Error::other(e.to_string())))?;
                r.recovered += 1;
            }
            Ok(None) => return Ok(r),
            Err(e) => r.problems.push(e),
        }
    }
}
pub fn salvage_csv<R: Read, E: std::fmt::Display>(
    reader: R,
    mut on: impl FnMut(u64, AuditEvent) -> Result<(), E>,
) -> Result<SalvageReport, SalvageError> {
    let mut r = SalvageReport::default();
    let mut rd = csv::Reader::from_reader(reader);
    for rec in rd.records() {
        let rec = rec.map_err(|e| SalvageError(io::Error::other(e.to_string())))?;
        let ev = AuditEvent {
            timestamp: rec[0]
                .parse()
                .map_err(|e: crate::timestamp::ParseTimestampError| {
                    SalvageError(io::Error::other(e.to_string()))
                })?,
            action_type: rec[1].into(),
            status: rec[2]
                .parse()
                .map_err(|e: crate::event::ParseStatusError| {
                    SalvageError(io::Error::other(e.to_string()))
                })?,
            details: Default::default(),
            error: None,
        };
        on(0, ev).map_err(|e| SalvageError(io::Error::other(e.to_string())))?;
        r.recovered += 1;
    }
    Ok(r)
}
