//! Reads a log with Python's own `json` / `csv` modules, the way the spec's snippets and its
//! users do, independently of this crate and of serde_json: the fault-injection suite, the
//! crash harness and the hostile-fault regressions check every log they leave with it.
//!
//! python3 is on the development machine and on CI (`.ci/run` installs it when missing);
//! without it these checks fail, loudly, rather than pass without having looked.

#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use audit_runtime::Format;

/// Loads the whole file (`json.load`; `csv.DictReader` plus `json.loads` of every `details`
/// cell), checks that every event has exactly the spec's five fields in the spec's order,
/// and prints `details.id` of each (JSON `null` when absent), in file order.
const SCRIPT: &str = r#"
import csv, json, sys
path, fmt, big_cells = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
if big_cells:
    csv.field_size_limit(1 << 30)
fields = ["timestamp", "action_type", "status", "details", "error"]
if fmt == "json":
    with open(path, encoding="utf-8") as f:
        events = json.load(f)
    assert isinstance(events, list), "not one JSON array"
else:
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        assert reader.fieldnames == fields, reader.fieldnames
        events = []
        for n, row in enumerate(reader, 2):
            assert None not in row and None not in row.values(), "record %d: %d fields" % (n, len(row))
            row["details"] = json.loads(row["details"])
            events.append(row)
out = []
for e in events:
    assert list(e.keys()) == fields, list(e.keys())
    assert isinstance(e["details"], dict), e["details"]
    out.append(json.dumps(e["details"].get("id")))
sys.stdout.write("".join(line + "\n" for line in out))
"#;

/// The `details.id` of every event in the log at `path`, in file order, as Python reads them
/// (an event without an id gives `""`). Panics, naming the file and Python's error, when
/// Python cannot read the file, and when python3 cannot be run at all.
pub fn python_ids(path: &Path, format: Format) -> Vec<String> {
    try_python_ids(path, format).unwrap_or_else(|e| panic!("{e}"))
}

/// [`python_ids`], returning Python's complaint instead of panicking; still panics when
/// python3 cannot be run (that is not a finding about the file).
pub fn try_python_ids(path: &Path, format: Format) -> Result<Vec<String>, String> {
    try_python_ids_with(path, format, false)
}

/// [`try_python_ids`]; with `big_cells`, Python's `csv` is told to take cells larger than
/// its default limit of 131,072 characters (which a user reading a log of big events has to
/// do too).
pub fn try_python_ids_with(
    path: &Path,
    format: Format,
    big_cells: bool,
) -> Result<Vec<String>, String> {
    let fmt = match format {
        Format::Json => "json",
        Format::Csv => "csv",
        Format::None => return Ok(Vec::new()),
    };
    let out = Command::new("python3")
        .arg("-c")
        .arg(SCRIPT)
        .arg(path)
        .arg(fmt)
        .arg(if big_cells { "1" } else { "0" })
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "python3 is needed to check {} the way the spec's users read it, and it \
                 cannot be run: {e}",
                path.display()
            )
        });
    if !out.status.success() {
        return Err(format!(
            "Python's {fmt} module cannot read {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let text = String::from_utf8(out.stdout).map_err(|e| format!("python output: {e}"))?;
    text.lines()
        .map(|line| {
            serde_json::from_str::<Option<String>>(line)
                .map(Option::unwrap_or_default)
                .map_err(|e| format!("python printed {line:?}: {e}"))
        })
        .collect()
}
