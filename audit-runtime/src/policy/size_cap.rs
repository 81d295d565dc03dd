//! The size cap per event: an event larger than the log's readers take is written with its
//! biggest values cut down, deterministically, and a marker saying what was cut; it is never
//! dropped.
//!
//! What is cut, from the biggest down: an array keeps its first items; an object keeps all
//! its keys with their biggest values cut (every value gets an equal share of the room,
//! values smaller than their share are kept whole), and if its keys alone take more than
//! half the room, its first keys; a string keeps a prefix (whole characters). Types never
//! change. Each value cut is listed in `details._audit.truncated.values` with its path, its
//! full `count` (items or keys) or `length` (bytes of a string), how much was `kept`, and the
//! `sha256` of the full value (of a string's UTF-8 bytes, of any other value's canonical JSON
//! text, `policy::canonical`), so that a reader can tell a cut value from a whole one and
//! check one they hold. A too-long `error` or `action_type` keeps a prefix too.
//!
//! The encoders measure the event as they write it; only an event over its cap pays for
//! anything here (its values are measured and encoded again, once each).

use std::marker::PhantomData;

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::canonical;
use super::hmac_key::hex;
use crate::event::RESERVED_DETAILS_KEY;
use crate::storage::encode::{Encoded, Quoting, Record, write_object, write_str, write_value};
use crate::{AuditError, MAX_DETAILS_DEPTH};

/// The default cap on one event's bytes in the file: 1 MiB.
pub const DEFAULT_MAX_EVENT_BYTES: usize = 1 << 20;

/// The default cap on the characters of a CSV event's `details` cell: 32,767, what Excel
/// shows in one cell (Python's `csv` module reads up to 131,072 by default, LibreOffice and
/// Google Sheets more).
pub const DEFAULT_MAX_CSV_DETAILS_CHARS: usize = 32_767;

/// The smallest cap that can be set (smaller settings are raised to it): room for the
/// marker and a useful part of the event.
pub const MIN_EVENT_BYTES: usize = 4096;

/// The key, inside `details._audit`, of the marker of a truncated event.
pub const TRUNCATED_KEY: &str = "truncated";

/// Room kept free under the cap for what is added to an event after it was measured or cut:
/// the real time of an event whose timestamp was pushed ahead (`details._audit.wall_clock`),
/// the separators between events, and the hash chain's link (`details._audit.chain`, about
/// 180 bytes, which a cut event is measured without).
const LATE_ADDITIONS: usize = 96 + 192;

/// Paths in the marker are cut to this many bytes.
const MAX_PATH: usize = 200;

/// The limits of one log, from the builder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SizeLimits {
    /// The most bytes one event takes in the file (a JSON line with its separators, a CSV
    /// row with its line end).
    pub(crate) max_event_bytes: usize,
    /// The most characters (UTF-16 units, as spreadsheets count) of a CSV `details` cell.
    pub(crate) max_csv_details_chars: usize,
}

impl Default for SizeLimits {
    fn default() -> Self {
        SizeLimits {
            max_event_bytes: DEFAULT_MAX_EVENT_BYTES,
            max_csv_details_chars: DEFAULT_MAX_CSV_DETAILS_CHARS,
        }
    }
}

impl SizeLimits {
    /// The budget for an encoded JSON line (without its separators), or `None` when an
    /// encoding of `len` bytes fits as it is.
    pub(crate) fn json_over(&self, len: usize) -> Option<usize> {
        let budget = self.max_event_bytes.saturating_sub(LATE_ADDITIONS);
        (len > budget).then_some(budget)
    }

    /// The budgets (event, details cell) for a CSV row of `len` bytes (without its line
    /// end) whose details are `details`, or `None` when it fits as it is. The details are
    /// measured again only for a row longer than the cell's cap.
    pub(crate) fn csv_over(
        &self,
        len: usize,
        details: &Map<String, Value>,
    ) -> Option<(usize, usize)> {
        let event = self.max_event_bytes.saturating_sub(LATE_ADDITIONS);
        let cell = self.max_csv_details_chars.saturating_sub(LATE_ADDITIONS);
        let over = len > event
            || (len > cell && {
                let text = serde_json::to_string(details).unwrap_or_default();
                text.encode_utf16().count() > cell
            });
        over.then_some((event, cell))
    }
}

/// An event cut down to fit; [`Capped::record`] is what is encoded instead.
#[derive(Debug)]
pub(crate) struct Capped {
    action_type: Option<String>,
    error: Option<String>,
    details: Map<String, Value>,
}

impl Capped {
    /// The cut-down event, with `original`'s status.
    pub(crate) fn record<'a>(&'a self, original: &Record<'a>) -> Record<'a> {
        Record {
            action_type: self.action_type.as_deref().unwrap_or(original.action_type),
            status: original.status,
            details: &self.details,
            error: match &self.error {
                Some(e) => Some(e),
                None => original.error,
            },
        }
    }
}

/// Cuts `record` (whose encoding took `original_len` bytes) down so that `encode` of it
/// takes at most `budget` bytes and its details, in quoting `Q`, at most `details_cap`.
/// `limit` is the cap named in the marker.
pub(crate) fn shrink<Q: Quoting>(
    record: &Record<'_>,
    original_len: usize,
    budget: usize,
    details_cap: usize,
    limit: usize,
    encode: impl Fn(&Record<'_>) -> Result<Encoded, AuditError>,
) -> Result<Capped, AuditError> {
    let mut fitter = Fitter::<Q>::new();
    // The free-text fields first: each keeps at most an eighth of the budget.
    let field_cap = budget / 8;
    let action_type = (record.action_type.len() > field_cap)
        .then(|| fitter.cut_str(record.action_type, field_cap, "action_type"));
    let error = record
        .error
        .filter(|e| e.len() > field_cap)
        .map(|e| fitter.cut_str(e, field_cap, "error"));
    let mut capped = Capped {
        action_type,
        error,
        details: Map::new(),
    };
    let overhead = encode(&capped.record(record))?.bytes.len();
    // The marker's room: first a quarter of the budget, at most 8 KiB, its entries counted
    // to fit it (each at most a path of MAX_PATH bytes and five short fields); then, when
    // the marker came out much smaller, the details are fitted again with just its room.
    let reserve = (budget / 4).min(8 * 1024);
    let max_marks = (reserve.saturating_sub(200) / (MAX_PATH * 2 + 200)).clamp(1, 16);
    let fit_with = |reserve: usize| {
        let mut fitter = Fitter::<Q> {
            marks: fitter.marks.clone(),
            more: fitter.more,
            max_marks,
            ..Fitter::new()
        };
        let room = budget
            .saturating_sub(overhead)
            .min(details_cap)
            .saturating_sub(reserve);
        let fitted = if fitter.map_size(record.details) <= room {
            record.details.clone()
        } else {
            fitter.fit_object(record.details, room, "details", MAX_DETAILS_DEPTH)
        };
        let marker = fitter.marker(original_len, limit);
        let marker_len = fitter.size(&marker);
        (with_marker(fitted, marker), marker_len)
    };
    let (details, marker_len) = fit_with(reserve);
    capped.details = details;
    let fits = |capped: &Capped| -> Result<bool, AuditError> {
        let len = encode(&capped.record(record))?.bytes.len();
        let mut cell = Vec::new();
        let _ = write_object::<Q>(&mut cell, &capped.details);
        Ok(len <= budget && cell.len() <= details_cap)
    };
    // Room for the marker's own key and a little growth of its numbers.
    let tight = marker_len + 64;
    if reserve > tight + 1024 {
        let mut again = Capped {
            action_type: capped.action_type.clone(),
            error: capped.error.clone(),
            details: fit_with(tight).0,
        };
        if fits(&again)? {
            std::mem::swap(&mut capped, &mut again);
        }
    }
    if !fits(&capped)? {
        // Unshrinkable leftovers (many numbers, long keys): keep only the marker, which
        // names the whole details object and its digest.
        let mut last = Fitter::<Q>::new();
        last.max_marks = 1;
        last.mark(
            "details",
            "object",
            "count",
            record.details.len(),
            0,
            || canonical::map_bytes(record.details),
        );
        capped.details = with_marker(Map::new(), last.marker(original_len, limit));
    }
    Ok(capped)
}

/// `details` with the marker under `_audit` (or `_audit_truncated` when the caller's own
/// `_audit` is not an object).
fn with_marker(mut details: Map<String, Value>, marker: Value) -> Map<String, Value> {
    match details
        .entry(RESERVED_DETAILS_KEY)
        .or_insert_with(|| Value::Object(Map::new()))
    {
        Value::Object(reserved) => {
            reserved.insert(TRUNCATED_KEY.to_owned(), marker);
        }
        _ => {
            details.insert(format!("{RESERVED_DETAILS_KEY}_{TRUNCATED_KEY}"), marker);
        }
    }
    details
}

struct Fitter<Q> {
    scratch: Vec<u8>,
    marks: Vec<Value>,
    /// Values cut beyond `max_marks`, counted only.
    more: usize,
    max_marks: usize,
    quoting: PhantomData<Q>,
}

impl<Q: Quoting> Fitter<Q> {
    fn new() -> Self {
        Fitter {
            scratch: Vec::new(),
            marks: Vec::new(),
            more: 0,
            max_marks: 16,
            quoting: PhantomData,
        }
    }

    fn size(&mut self, value: &Value) -> usize {
        self.scratch.clear();
        // Fails only for what serde_json cannot write, which the event's encoding already
        // wrote; a failure here just measures what was written.
        let _ = write_value::<Q>(&mut self.scratch, value);
        self.scratch.len()
    }

    fn str_size(&mut self, s: &str) -> usize {
        self.scratch.clear();
        write_str::<Q>(&mut self.scratch, s);
        self.scratch.len()
    }

    /// `value` (over `budget`), cut so that it encodes in at most `budget` bytes.
    fn fit_over(&mut self, value: &Value, budget: usize, path: &str, levels: usize) -> Value {
        match value {
            Value::String(s) => {
                let kept = self.prefix_within(s, budget);
                self.mark(path, "string", "length", s.len(), kept.len(), || {
                    Some(s.as_bytes().to_vec())
                });
                Value::String(kept.to_owned())
            }
            Value::Array(items) if levels > 0 => {
                let room = budget.saturating_sub(2);
                let mut out = Vec::new();
                let mut used = 0;
                for item in items {
                    let comma = usize::from(!out.is_empty());
                    let size = self.size(item);
                    if used + comma + size <= room {
                        out.push(item.clone());
                        used += comma + size;
                        continue;
                    }
                    // A first item too big on its own is cut rather than lost.
                    if out.is_empty() && room > 32 {
                        let child = format!("{path}[0]");
                        out.push(self.fit_over(item, room, &child, levels - 1));
                    }
                    break;
                }
                self.mark(path, "array", "count", items.len(), out.len(), || {
                    canonical::digest_input(value).map(|b| b.into_owned())
                });
                Value::Array(out)
            }
            Value::Object(map) if levels > 0 => {
                Value::Object(self.fit_object(map, budget, path, levels))
            }
            // A number, a boolean, or a container at the depth limit, with no room left.
            _ => {
                let kind = match value {
                    Value::Array(_) => "array",
                    Value::Object(_) => "object",
                    _ => "scalar",
                };
                self.mark(path, kind, "count", 1, 0, || {
                    canonical::digest_input(value).map(|b| b.into_owned())
                });
                Value::Null
            }
        }
    }

    fn map_size(&mut self, map: &Map<String, Value>) -> usize {
        self.scratch.clear();
        let _ = write_object::<Q>(&mut self.scratch, map);
        self.scratch.len()
    }

    /// `map`, cut so that it encodes in at most `budget` bytes (see the module docs).
    fn fit_object(
        &mut self,
        map: &Map<String, Value>,
        budget: usize,
        path: &str,
        levels: usize,
    ) -> Map<String, Value> {
        let room = budget.saturating_sub(2);
        // Keys (with their colon and comma) take at most half the room.
        let mut kept_keys = map.len();
        let mut key_room = 0;
        for (i, key) in map.keys().enumerate() {
            let size = self.str_size(key) + 2;
            if key_room + size > room / 2 {
                kept_keys = i;
                break;
            }
            key_room += size;
        }
        let sizes: Vec<usize> = map.values().take(kept_keys).map(|v| self.size(v)).collect();
        let share = water_level(&sizes, room.saturating_sub(key_room));
        let mut out = Map::new();
        for ((key, item), size) in map.iter().zip(sizes) {
            let item = if size <= share {
                item.clone()
            } else {
                let child = child_path(path, key);
                self.fit_over(item, share, &child, levels.saturating_sub(1))
            };
            out.insert(key.clone(), item);
        }
        if kept_keys < map.len() {
            self.mark(path, "object", "count", map.len(), kept_keys, || {
                canonical::map_bytes(map)
            });
        }
        out
    }

    /// The longest prefix of `s`, in whole characters, that encodes in at most `budget`
    /// bytes (a binary search: encoding grows with the prefix).
    fn prefix_within<'s>(&mut self, s: &'s str, budget: usize) -> &'s str {
        let (mut lo, mut hi) = (0, s.len().min(budget));
        while lo < hi {
            let mut mid = lo + (hi - lo).div_ceil(2);
            while !s.is_char_boundary(mid) {
                mid -= 1;
            }
            if mid <= lo {
                // No boundary between lo and hi other than lo: step past the character.
                let next = (lo + 1..=hi).find(|&i| s.is_char_boundary(i)).unwrap_or(hi);
                if next > lo && self.str_size(&s[..next]) <= budget {
                    lo = next;
                    continue;
                }
                break;
            }
            if self.str_size(&s[..mid]) <= budget {
                lo = mid;
            } else {
                hi = mid - 1;
                while !s.is_char_boundary(hi) {
                    hi -= 1;
                }
            }
        }
        &s[..lo]
    }

    /// A field's text cut to `cap` bytes (whole characters), marked.
    fn cut_str(&mut self, text: &str, cap: usize, path: &str) -> String {
        let mut end = cap.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        self.mark(path, "string", "length", text.len(), end, || {
            Some(text.as_bytes().to_vec())
        });
        text[..end].to_owned()
    }

    fn mark(
        &mut self,
        path: &str,
        kind: &str,
        measure: &str,
        full: usize,
        kept: usize,
        digest_input: impl FnOnce() -> Option<Vec<u8>>,
    ) {
        if self.marks.len() >= self.max_marks {
            self.more += 1;
            return;
        }
        let mut path = path;
        if path.len() > MAX_PATH {
            let mut end = MAX_PATH;
            while !path.is_char_boundary(end) {
                end -= 1;
            }
            path = &path[..end];
        }
        let digest = digest_input()
            .map(|bytes| hex(&Sha256::digest(&bytes)))
            .unwrap_or_default();
        let mut mark = Map::new();
        mark.insert("path".into(), path.into());
        mark.insert("type".into(), kind.into());
        mark.insert(measure.into(), full.into());
        mark.insert("kept".into(), kept.into());
        mark.insert("sha256".into(), digest.into());
        self.marks.push(Value::Object(mark));
    }

    fn marker(&mut self, original_len: usize, limit: usize) -> Value {
        let mut marker = json!({
            "bytes": original_len,
            "limit": limit,
            "values": std::mem::take(&mut self.marks),
        });
        if self.more > 0
            && let Value::Object(m) = &mut marker
        {
            m.insert("more_values".into(), self.more.into());
        }
        marker
    }
}

/// The share each of the values of `sizes` may take so that together they fit `room`: the
/// smaller ones are kept whole, the rest get equal parts of what is left ("water-filling").
fn water_level(sizes: &[usize], room: usize) -> usize {
    let commas = sizes.len().saturating_sub(1);
    let mut left = room.saturating_sub(commas);
    let mut sorted = sizes.to_vec();
    sorted.sort_unstable();
    for (i, &size) in sorted.iter().enumerate() {
        let share = left / (sorted.len() - i);
        if size > share {
            return share;
        }
        left -= size;
    }
    usize::MAX
}

fn child_path(path: &str, key: &str) -> String {
    let mut child = String::with_capacity(path.len().min(MAX_PATH) + key.len().min(MAX_PATH) + 1);
    child.push_str(&path[..floor_boundary(path, MAX_PATH)]);
    child.push('.');
    child.push_str(&key[..floor_boundary(key, MAX_PATH)]);
    child
}

fn floor_boundary(s: &str, at: usize) -> usize {
    let mut end = at.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    end
}
