//! The example service's messages, client and server trait, generated at build time from
//! `examples/proto/experiment_service.proto` (a wire-compatible subset of WeightsLab's
//! `ExperimentService`). Nothing generated is checked in.

#![allow(missing_docs, clippy::all, clippy::pedantic)]

tonic::include_proto!("_");
