//! Recovering every complete event from a JSON log that is damaged: cut short, with garbage
//! appended, or with a torn write (stray bytes or part of an event, possibly in the gap of
//! whitespace before the first element).
//!
//! The pass reads the array like the strict scanner. At a problem it records it and looks for
//! the next *candidate*: a `{` followed by optional whitespace and `"timestamp"` (every event
//! starts with that key, in our files and in the reference's). A candidate counts when it
//! scans as one complete value that converts with [`JsonElement::to_event`]; reading then
//! continues in array mode (`,` or `]` expected). JSON strings cannot hold a raw newline, so
//! a torn string ends at the next line break and trying a candidate stays cheap.
//!
//! Only valid events ([`super::check_event`], the same rule the strict reader and
//! `auditlog verify` apply) are handed to the callback. Anything else is a problem, skipped
//! and listed: a writer that carried such an element over would find its own log damaged
//! again at the next open (the writer keeps the original bytes aside, so nothing is lost).

use std::fmt;
use std::io::{self, Read, Seek};

use super::json::{Fail, JsonElement, JsonScanner, ScanError, ScanErrorKind, check_event};

/// What a salvage pass recovered and what it skipped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SalvageReport {
    /// Elements handed to the callback.
    pub recovered: u64,
    /// Every problem skipped over, in file order.
    pub problems: Vec<ScanError>,
    /// Bare `NaN`/`Infinity`/`-Infinity` tokens converted in the recovered elements.
    pub non_finite_tokens: u64,
    /// Lone surrogate escapes read as U+FFFD in the recovered elements.
    pub lone_surrogates: u64,
}

impl SalvageReport {
    /// True when the file was read without any problem.
    pub fn is_clean(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Why a salvage pass stopped early.
#[derive(Debug)]
pub enum SalvageError<E> {
    /// Reading the file failed.
    Io(io::Error),
    /// The callback returned an error; the pass stopped there.
    Callback(E),
}

impl<E: fmt::Display> fmt::Display for SalvageError<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SalvageError::Io(e) => write!(f, "cannot read the log: {e}"),
            SalvageError::Callback(e) => write!(f, "{e}"),
        }
    }
}

impl<E: fmt::Debug + fmt::Display> std::error::Error for SalvageError<E> {}

/// Calls `on_element` for every complete element that can be recovered from a JSON log, in
/// file order, and lists the problems skipped (see the module documentation for the rules).
///
/// ```
/// use audit_runtime::read::salvage_json;
/// let torn = b"[    \n  \"status\":\"success\"},\n{\"timestamp\":\"2026-05-27T14:30:00.123456Z\",\"action_type\":\"pause\",\"status\":\"success\",\"details\":{},\"error\":null}\n]\n";
/// let mut events = Vec::new();
/// let report = salvage_json(std::io::Cursor::new(&torn[..]), |el| {
///     events.push(el.to_event());
///     Ok::<(), ()>(())
/// })
/// .unwrap();
/// assert_eq!(report.recovered, 1);
/// assert_eq!(report.problems.len(), 1);
/// assert_eq!(events[0].as_ref().unwrap().action_type, "pause");
/// ```
pub fn salvage_json<R: Read + Seek, E>(
    reader: R,
    mut on_element: impl FnMut(JsonElement) -> Result<(), E>,
) -> Result<SalvageReport, SalvageError<E>> {
    let mut scanner = JsonScanner::new(reader);
    let mut report = SalvageReport::default();
    let mut emit = |element: JsonElement, report: &mut SalvageReport| {
        report.recovered += 1;
        report.non_finite_tokens += u64::from(element.non_finite_tokens);
        report.lone_surrogates += u64::from(element.lone_surrogates);
        on_element(element).map_err(SalvageError::Callback)
    };
    loop {
        let resume = match scanner.next_inner() {
            Ok(None) => return Ok(report),
            Ok(Some(element)) => match check_event(&element.value) {
                Ok(()) => {
                    emit(element, &mut report)?;
                    continue;
                }
                Err(invalid) if element.value.is_object() => {
                    // Complete but not a valid event: the scanner is past it already, so
                    // go on in array mode (a resync could pick an event-shaped object out
                    // of its details).
                    report.problems.push(ScanError {
                        kind: ScanErrorKind::InvalidEvent(invalid.kind()),
                        offset: element.start,
                        line: scanner.last_line(),
                        message: format!("not a valid event: {invalid}"),
                    });
                    continue;
                }
                Err(invalid) => {
                    report.problems.push(ScanError {
                        kind: ScanErrorKind::InvalidEvent(invalid.kind()),
                        offset: element.start,
                        line: scanner.last_line(),
                        message: "element is not an object".to_owned(),
                    });
                    element.start + 1
                }
            },
            Err(Fail::Io(e)) => return Err(SalvageError::Io(e)),
            Err(Fail::Scan { error, resume }) => {
                report.problems.push(error);
                resume
            }
        };
        match scanner.resync(resume).map_err(SalvageError::Io)? {
            Some(element) => emit(element, &mut report)?,
            None => return Ok(report),
        }
    }
}
