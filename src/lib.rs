//! Shared support for the workspace examples and integration tests.

pub mod experiment;
pub mod proto;
pub mod query;
