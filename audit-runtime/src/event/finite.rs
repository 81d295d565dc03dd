//! Serialising user values so that non-finite floats survive as strings.
//!
//! JSON has no NaN or infinity. serde_json writes them as `null` (silently losing the fact
//! that a loss went NaN, which is exactly what an audit log is for) and Python writes the bare
//! tokens `NaN`/`Infinity`, which strict parsers reject. We write the strings `"NaN"`,
//! `"Infinity"` and `"-Infinity"` instead: valid JSON, and the value is still visible.
//!
//! [`to_value`] wraps any `Serialize` in a proxy serializer that rewrites `f32`/`f64` on the way
//! through and forwards everything else unchanged.

use serde::ser::{self, Serialize, Serializer};
use serde_json::Value;

/// The string written for a non-finite float.
pub(crate) fn non_finite_name(value: f64) -> Option<&'static str> {
    if value.is_nan() {
        Some("NaN")
    } else if value == f64::INFINITY {
        Some("Infinity")
    } else if value == f64::NEG_INFINITY {
        Some("-Infinity")
    } else {
        None
    }
}

/// Converts any `Serialize` value to a JSON value, writing NaN and infinities as the strings
/// `"NaN"`, `"Infinity"` and `"-Infinity"` instead of `null` (`serde_json::to_value` and
/// `json!` write `null`, losing the fact that, say, a loss went NaN).
///
/// [`AuditLogger::log_serialize`](crate::AuditLogger::log_serialize) and `#[audited]`'s
/// details use it; use it to build the details of [`log_event`](crate::log_event) (the global
/// logger has no `log_serialize`) or [`log_details`](crate::log_details).
///
/// ```
/// let v = audit_runtime::to_value(&vec![1.5, f64::NAN, f64::NEG_INFINITY]).unwrap();
/// assert_eq!(v, serde_json::json!([1.5, "NaN", "-Infinity"]));
/// ```
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, serde_json::Error> {
    serde_json::to_value(Finite(value))
}

/// [`to_value`], opening at most `levels` nested arrays or objects (the value itself counts
/// as one if it is one). A container deeper than that is written empty, without looking
/// inside it: the result is still too deep for the logger, which refuses it with the path to
/// that container (see [`crate::MAX_DETAILS_DEPTH`]), and a value nested without
/// bound is never walked by recursion, which would overflow the stack.
pub(crate) fn to_value_within<T: Serialize + ?Sized>(
    value: &T,
    levels: usize,
) -> Result<Value, serde_json::Error> {
    serde_json::to_value(Nested { value, levels })
}

/// A `Serialize` wrapper that applies the non-finite rule to everything inside it.
pub(crate) struct Finite<'a, T: ?Sized>(pub &'a T);

impl<T: Serialize + ?Sized> Serialize for Finite<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        Nested {
            value: self.0,
            levels: usize::MAX,
        }
        .serialize(serializer)
    }
}

/// [`Finite`] with the number of container levels `value` may still open.
struct Nested<'a, T: ?Sized> {
    value: &'a T,
    levels: usize,
}

impl<T: Serialize + ?Sized> Serialize for Nested<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.value.serialize(FiniteSerializer {
            inner: serializer,
            levels: self.levels,
        })
    }
}

struct FiniteSerializer<S> {
    inner: S,
    levels: usize,
}

impl<S> FiniteSerializer<S> {
    /// The compound for a container at this level: its elements get one level less, or, with
    /// no level left, it is written empty (`len` is then what the serializer is told).
    fn open<C>(
        self,
        len: usize,
        start: impl FnOnce(S, usize) -> Result<C, S::Error>,
    ) -> Result<Compound<C>, S::Error>
    where
        S: Serializer,
    {
        match self.levels.checked_sub(1) {
            Some(levels) => start(self.inner, len).map(|inner| Compound {
                inner,
                levels,
                cut: false,
            }),
            None => start(self.inner, 0).map(|inner| Compound {
                inner,
                levels: 0,
                cut: true,
            }),
        }
    }

    fn wrap<'a, T: ?Sized>(&self, value: &'a T) -> Nested<'a, T> {
        Nested {
            value,
            levels: self.levels,
        }
    }
}

/// Forwards each element of a compound value, wrapped in [`Nested`]; a `cut` one (too deep)
/// drops its elements unseen.
struct Compound<C> {
    inner: C,
    levels: usize,
    cut: bool,
}

impl<C> Compound<C> {
    fn wrap<'a, T: ?Sized>(&self, value: &'a T) -> Nested<'a, T> {
        Nested {
            value,
            levels: self.levels,
        }
    }
}

macro_rules! forward {
    ($($method:ident($($arg:ident: $ty:ty),*);)*) => {
        $(fn $method(self, $($arg: $ty),*) -> Result<Self::Ok, Self::Error> {
            self.inner.$method($($arg),*)
        })*
    };
}

impl<S: Serializer> Serializer for FiniteSerializer<S> {
    type Ok = S::Ok;
    type Error = S::Error;
    type SerializeSeq = Compound<S::SerializeSeq>;
    type SerializeTuple = Compound<S::SerializeTuple>;
    type SerializeTupleStruct = Compound<S::SerializeTupleStruct>;
    type SerializeTupleVariant = Compound<S::SerializeTupleVariant>;
    type SerializeMap = Compound<S::SerializeMap>;
    type SerializeStruct = Compound<S::SerializeStruct>;
    type SerializeStructVariant = Compound<S::SerializeStructVariant>;

    forward! {
        serialize_bool(v: bool);
        serialize_i8(v: i8);
        serialize_i16(v: i16);
        serialize_i32(v: i32);
        serialize_i64(v: i64);
        serialize_i128(v: i128);
        serialize_u8(v: u8);
        serialize_u16(v: u16);
        serialize_u32(v: u32);
        serialize_u64(v: u64);
        serialize_u128(v: u128);
        serialize_char(v: char);
        serialize_str(v: &str);
        serialize_bytes(v: &[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(name: &'static str);
        serialize_unit_variant(name: &'static str, index: u32, variant: &'static str);
    }

    fn serialize_f32(self, v: f32) -> Result<S::Ok, S::Error> {
        match non_finite_name(f64::from(v)) {
            Some(name) => self.inner.serialize_str(name),
            None => self.inner.serialize_f32(v),
        }
    }

    fn serialize_f64(self, v: f64) -> Result<S::Ok, S::Error> {
        match non_finite_name(v) {
            Some(name) => self.inner.serialize_str(name),
            None => self.inner.serialize_f64(v),
        }
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<S::Ok, S::Error> {
        let value = self.wrap(value);
        self.inner.serialize_some(&value)
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        let value = self.wrap(value);
        self.inner.serialize_newtype_struct(name, &value)
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<S::Ok, S::Error> {
        // `{"Variant": value}`: an object level of its own.
        match self.levels.checked_sub(1) {
            Some(levels) => self.inner.serialize_newtype_variant(
                name,
                index,
                variant,
                &Nested { value, levels },
            ),
            None => ser::SerializeMap::end(self.inner.serialize_map(Some(0))?),
        }
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<Self::SerializeSeq, S::Error> {
        self.open(len.unwrap_or(0), |s, n| s.serialize_seq(len.map(|_| n)))
    }

    fn serialize_tuple(self, len: usize) -> Result<Self::SerializeTuple, S::Error> {
        self.open(len, |s, n| s.serialize_tuple(n))
    }

    fn serialize_tuple_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleStruct, S::Error> {
        self.open(len, |s, n| s.serialize_tuple_struct(name, n))
    }

    fn serialize_tuple_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeTupleVariant, S::Error> {
        self.open(len, |s, n| {
            s.serialize_tuple_variant(name, index, variant, n)
        })
    }

    fn serialize_map(self, len: Option<usize>) -> Result<Self::SerializeMap, S::Error> {
        self.open(len.unwrap_or(0), |s, n| s.serialize_map(len.map(|_| n)))
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, S::Error> {
        self.open(len, |s, n| s.serialize_struct(name, n))
    }

    fn serialize_struct_variant(
        self,
        name: &'static str,
        index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStructVariant, S::Error> {
        self.open(len, |s, n| {
            s.serialize_struct_variant(name, index, variant, n)
        })
    }

    fn is_human_readable(&self) -> bool {
        self.inner.is_human_readable()
    }
}

macro_rules! compound {
    ($trait:ident, $method:ident) => {
        impl<C: ser::$trait> ser::$trait for Compound<C> {
            type Ok = C::Ok;
            type Error = C::Error;
            fn $method<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
                if self.cut {
                    return Ok(());
                }
                let value = self.wrap(value);
                self.inner.$method(&value)
            }
            fn end(self) -> Result<C::Ok, C::Error> {
                self.inner.end()
            }
        }
    };
}

compound!(SerializeSeq, serialize_element);
compound!(SerializeTuple, serialize_element);
compound!(SerializeTupleStruct, serialize_field);
compound!(SerializeTupleVariant, serialize_field);

impl<C: ser::SerializeMap> ser::SerializeMap for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), C::Error> {
        if self.cut {
            return Ok(());
        }
        let key = self.wrap(key);
        self.inner.serialize_key(&key)
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), C::Error> {
        if self.cut {
            return Ok(());
        }
        let value = self.wrap(value);
        self.inner.serialize_value(&value)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeStruct> ser::SerializeStruct for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        if self.cut {
            return Ok(());
        }
        let value = self.wrap(value);
        self.inner.serialize_field(key, &value)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        if self.cut {
            return Ok(());
        }
        self.inner.skip_field(key)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

impl<C: ser::SerializeStructVariant> ser::SerializeStructVariant for Compound<C> {
    type Ok = C::Ok;
    type Error = C::Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), C::Error> {
        if self.cut {
            return Ok(());
        }
        let value = self.wrap(value);
        self.inner.serialize_field(key, &value)
    }
    fn skip_field(&mut self, key: &'static str) -> Result<(), C::Error> {
        if self.cut {
            return Ok(());
        }
        self.inner.skip_field(key)
    }
    fn end(self) -> Result<C::Ok, C::Error> {
        self.inner.end()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;
    use serde_json::json;
    use std::collections::BTreeMap;

    #[derive(Serialize)]
    struct Metrics {
        loss: f64,
        best: f32,
        history: Vec<Option<f64>>,
        nested: BTreeMap<String, (f64, f64)>,
    }

    #[test]
    fn non_finite_floats_become_strings_at_any_depth() {
        let mut nested = BTreeMap::new();
        nested.insert("range".to_owned(), (f64::NEG_INFINITY, 2.0));
        let metrics = Metrics {
            loss: f64::NAN,
            best: f32::INFINITY,
            history: vec![Some(0.5), None, Some(f64::NAN)],
            nested,
        };
        assert_eq!(
            to_value(&metrics).unwrap(),
            json!({
                "loss": "NaN",
                "best": "Infinity",
                "history": [0.5, null, "NaN"],
                "nested": {"range": ["-Infinity", 2.0]}
            })
        );
    }

    #[test]
    fn finite_values_are_unchanged() {
        let value = json!({"a": [1, 2.5, "x", true, null], "b": {"c": -0.001}});
        assert_eq!(to_value(&value).unwrap(), value);
    }

    #[test]
    fn containers_past_the_level_budget_are_written_empty_unseen() {
        let value = json!({"a": [1, {"b": [2, 3]}], "c": {"d": f64::NAN}});
        assert_eq!(to_value_within(&value, 4).unwrap(), value);
        assert_eq!(
            to_value_within(&value, 3).unwrap(),
            json!({"a": [1, {"b": []}], "c": {"d": null}})
        );
        assert_eq!(
            to_value_within(&value, 1).unwrap(),
            json!({"a": [], "c": {}})
        );
        assert_eq!(to_value_within(&value, 0).unwrap(), json!({}));
        #[derive(Serialize)]
        enum E {
            V(Vec<u8>),
        }
        assert_eq!(
            to_value_within(&vec![E::V(vec![1])], 1).unwrap(),
            json!([{}])
        );
        assert_eq!(
            to_value_within(&vec![E::V(vec![1])], 3).unwrap(),
            json!([{"V": [1]}])
        );
    }

    #[test]
    fn errors_from_the_value_are_reported_not_swallowed() {
        let mut bad = BTreeMap::new();
        bad.insert(vec![1u8], 1);
        assert!(
            to_value(&bad).is_err(),
            "a map with non-string keys is not JSON"
        );
    }
}
