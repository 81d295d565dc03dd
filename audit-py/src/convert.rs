//! Python values to JSON values and back.
//!
//! A value is accepted when Python's `json.dumps` accepts it (without `default=`): `dict`
//! (keys `str`, `int`, `float`, `bool` or `None`, turned into strings as `json.dumps` does),
//! `list`, `tuple`, `str`, `int`, `float`, `bool`, `None`, and their subclasses. Three
//! differences, all so that what was logged stays visible and every reader can parse it:
//! - NaN and infinities become the strings `"NaN"`, `"Infinity"`, `"-Infinity"`, as the Rust
//!   runtime writes them (`json.dumps` writes bare tokens that strict parsers refuse);
//! - an `int` beyond 64 bits is written as a string of its digits (a JSON number that large
//!   would lose digits in most readers);
//! - surrogates in a string (which a Rust string cannot hold) are read as a reader of
//!   `json.dumps`' escapes reads them: a pair is the character it encodes, a lone one becomes
//!   U+FFFD, as the runtime does for the same escapes in the reference's files.
//!
//! Containers are opened at most [`LEVELS`] deep; deeper ones are handed over empty so that
//! the runtime refuses the event by its own depth rule (with the path to the first one too
//! deep), and a self-containing list ends there instead of recursing without bound.

use std::borrow::Cow;

use pyo3::IntoPyObjectExt;
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};

/// How deep containers are opened: the runtime's limit, plus one so that the runtime sees
/// (and refuses) a value that goes past it, plus one for a non-object value, which the
/// runtime wraps as `{"value": ..}`.
pub const LEVELS: usize = audit_runtime::MAX_DETAILS_DEPTH + 2;

/// What to do with a value `json.dumps` would refuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Unserializable {
    /// Fail with a `TypeError` naming where the value is (`log_event`: nothing is written).
    Raise,
    /// Write `"[unserializable: <why>]"` in its place (the decorator: the call goes on, as
    /// the Rust attribute does).
    Describe,
}

/// A Python value converted to JSON, and whether anything in it was not serialisable (only
/// in [`Unserializable::Describe`] mode).
pub struct Converted {
    /// The value.
    pub value: Value,
    /// The first reason a part of it was replaced, if one was.
    pub replaced: Option<String>,
}

/// Converts `obj`; `root` names it in error messages (`details`, `capture`).
pub fn to_json(obj: &Bound<'_, PyAny>, mode: Unserializable, root: &str) -> PyResult<Converted> {
    let mut converter = Converter {
        mode,
        replaced: None,
    };
    match converter.value(obj, LEVELS) {
        Ok(value) => Ok(Converted {
            value,
            replaced: converter.replaced,
        }),
        Err(Failure::Python(e)) => Err(e),
        Err(Failure::Refused { mut path, message }) => {
            path.reverse();
            let mut at = root.to_owned();
            for segment in path {
                match segment {
                    Segment::Key(key) => {
                        at.push_str("['");
                        at.push_str(&key.replace('\\', "\\\\").replace('\'', "\\'"));
                        at.push_str("']");
                    }
                    Segment::Index(i) => at.push_str(&format!("[{i}]")),
                }
            }
            Err(PyTypeError::new_err(format!("{at}: {message}")))
        }
    }
}

enum Segment {
    Key(String),
    Index(usize),
}

enum Failure {
    /// A value `json.dumps` refuses, and where it is: the path is collected innermost first
    /// while the failure travels out, so that a conversion that succeeds builds no path.
    Refused {
        path: Vec<Segment>,
        message: String,
    },
    Python(PyErr),
}

impl From<PyErr> for Failure {
    fn from(e: PyErr) -> Self {
        Failure::Python(e)
    }
}

struct Converter {
    mode: Unserializable,
    replaced: Option<String>,
}

impl Converter {
    fn value(&mut self, obj: &Bound<'_, PyAny>, levels: usize) -> Result<Value, Failure> {
        // The common types first; `bool` before `int`, whose subclass it is.
        if let Ok(s) = obj.cast::<PyString>() {
            return Ok(Value::String(text(s)));
        }
        if obj.is_none() {
            return Ok(Value::Null);
        }
        if let Ok(b) = obj.cast::<PyBool>() {
            return Ok(Value::Bool(b.is_true()));
        }
        if let Ok(i) = obj.cast::<PyInt>() {
            return int(i);
        }
        if let Ok(f) = obj.cast::<PyFloat>() {
            return Ok(float(f.value()));
        }
        if let Ok(dict) = obj.cast::<PyDict>() {
            return self.dict(dict, levels);
        }
        if let Ok(list) = obj.cast::<PyList>() {
            return self.sequence(list.iter(), levels);
        }
        if let Ok(tuple) = obj.cast::<PyTuple>() {
            return self.sequence(tuple.iter(), levels);
        }
        let message = format!("Object of type {} is not JSON serializable", type_name(obj));
        self.refuse(message)
    }

    fn dict(&mut self, dict: &Bound<'_, PyDict>, levels: usize) -> Result<Value, Failure> {
        let mut map = Map::new();
        let Some(inner) = levels.checked_sub(1) else {
            return Ok(Value::Object(map));
        };
        for (key, value) in dict.iter() {
            let key = match self.key(&key)? {
                Ok(key) => key,
                Err(message) => match self.refuse(message) {
                    Ok(_) => key.str()?.to_string_lossy().into_owned(),
                    Err(failure) => return Err(failure),
                },
            };
            match self.value(&value, inner) {
                Ok(value) => {
                    map.insert(key, value);
                }
                Err(Failure::Refused { mut path, message }) => {
                    path.push(Segment::Key(key));
                    return Err(Failure::Refused { path, message });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Value::Object(map))
    }

    fn sequence<'py>(
        &mut self,
        items: impl Iterator<Item = Bound<'py, PyAny>>,
        levels: usize,
    ) -> Result<Value, Failure> {
        let Some(inner) = levels.checked_sub(1) else {
            return Ok(Value::Array(Vec::new()));
        };
        let mut array = Vec::with_capacity(items.size_hint().0);
        for (i, item) in items.enumerate() {
            match self.value(&item, inner) {
                Ok(value) => array.push(value),
                Err(Failure::Refused { mut path, message }) => {
                    path.push(Segment::Index(i));
                    return Err(Failure::Refused { path, message });
                }
                Err(e) => return Err(e),
            }
        }
        Ok(Value::Array(array))
    }

    /// A dict key as `json.dumps` writes it, or why it refuses it.
    fn key(&self, key: &Bound<'_, PyAny>) -> PyResult<Result<String, String>> {
        if let Ok(s) = key.cast::<PyString>() {
            return Ok(Ok(text(s)));
        }
        if key.is_none() {
            return Ok(Ok("null".to_owned()));
        }
        if let Ok(b) = key.cast::<PyBool>() {
            return Ok(Ok(if b.is_true() { "true" } else { "false" }.to_owned()));
        }
        if key.cast::<PyInt>().is_ok() {
            return Ok(Ok(key.str()?.to_string_lossy().into_owned()));
        }
        if let Ok(f) = key.cast::<PyFloat>() {
            // `json.dumps` writes a float key as `float.__repr__` does ("1.5", "1e+16").
            return Ok(Ok(match float(f.value()) {
                Value::String(name) => name,
                _ => key.repr()?.to_string_lossy().into_owned(),
            }));
        }
        Ok(Err(format!(
            "keys must be str, int, float, bool or None, not {}",
            type_name(key)
        )))
    }

    /// A value that cannot be written: the failure, or its stand-in in `Describe` mode.
    fn refuse(&mut self, message: String) -> Result<Value, Failure> {
        match self.mode {
            Unserializable::Raise => Err(Failure::Refused {
                path: Vec::new(),
                message,
            }),
            Unserializable::Describe => {
                let stand_in = Value::String(format!("[unserializable: {message}]"));
                self.replaced.get_or_insert(message);
                Ok(stand_in)
            }
        }
    }
}

fn text(s: &Bound<'_, PyString>) -> String {
    match s.to_cow() {
        Ok(Cow::Borrowed(s)) => s.to_owned(),
        Ok(Cow::Owned(s)) => s,
        // Only surrogates make a str unencodable as UTF-8.
        Err(_) => with_surrogates(s),
    }
}

/// A str holding surrogates, as a reader of `json.dumps`' output would decode it: a high and
/// a low one in a row are the character they encode, a lone one becomes one U+FFFD.
fn with_surrogates(s: &Bound<'_, PyString>) -> String {
    let units = s
        .call_method1("encode", ("utf-16-le", "surrogatepass"))
        .and_then(|b| b.extract::<Vec<u8>>());
    match units {
        Ok(bytes) => {
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
                .collect();
            String::from_utf16_lossy(&units)
        }
        Err(_) => s.to_string_lossy().into_owned(),
    }
}

fn int(i: &Bound<'_, PyInt>) -> Result<Value, Failure> {
    if let Ok(n) = i.extract::<i64>() {
        return Ok(Value::Number(n.into()));
    }
    if let Ok(n) = i.extract::<u64>() {
        return Ok(Value::Number(n.into()));
    }
    Ok(Value::String(i.str()?.to_string_lossy().into_owned()))
}

/// A float as the runtime writes it: a number, or the name of a non-finite one.
fn float(f: f64) -> Value {
    match Number::from_f64(f) {
        Some(n) => Value::Number(n),
        None if f.is_nan() => Value::String("NaN".to_owned()),
        None if f > 0.0 => Value::String("Infinity".to_owned()),
        None => Value::String("-Infinity".to_owned()),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".to_owned())
}

/// A JSON value as the Python value `json.loads` would give for it.
pub fn to_python<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    match value {
        Value::Null => Ok(py.None().into_bound(py)),
        Value::Bool(b) => b.into_bound_py_any(py),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_bound_py_any(py)
            } else if let Some(u) = n.as_u64() {
                u.into_bound_py_any(py)
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_bound_py_any(py)
            }
        }
        Value::String(s) => s.into_bound_py_any(py),
        Value::Array(items) => {
            let list = PyList::empty(py);
            for item in items {
                list.append(to_python(py, item)?)?;
            }
            Ok(list.into_any())
        }
        Value::Object(map) => Ok(dict_to_python(py, map)?.into_any()),
    }
}

/// A JSON object as a Python `dict`, in the object's order.
pub fn dict_to_python<'py>(
    py: Python<'py>,
    map: &Map<String, Value>,
) -> PyResult<Bound<'py, PyDict>> {
    let dict = PyDict::new(py);
    for (key, value) in map {
        dict.set_item(key, to_python(py, value)?)?;
    }
    Ok(dict)
}
