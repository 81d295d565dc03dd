#![doc = include_str!("../README.md")]

// The generated code names the runtime `::audited` in this crate's own doctests and tests.
extern crate self as audited;

pub use audit_runtime::*;
