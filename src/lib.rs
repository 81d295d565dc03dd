//! The example WeightsLab-compatible experiment service, shared by the examples
//! (`examples/experiment_server.rs`, `examples/demo.rs`) and the integration tests.
//!
//! - [`proto`]: the messages, client and server trait generated from
//!   `examples/proto/experiment_service.proto`.
//! - [`experiment`]: the in-memory experiment the service drives.
//! - [`query`]: the pandas-like filter language of `ApplyDataQuery`.
//! - [`server`]: the audited handlers and [`server::serve`].
//! - [`testing`]: an in-process server on a free loopback port, for the demo and the tests.

pub mod experiment;
pub mod proto;
pub mod query;
pub mod server;
pub mod testing;
