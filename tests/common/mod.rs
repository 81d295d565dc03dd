//! Helpers shared by the gRPC integration tests.
#![allow(dead_code)]

use std::path::Path;

use experiment_service::testing::{LocalServer, LocalServerOptions};
use serde_json::Value;

pub const TOKENS: &str = "alice:alice-token,bob:bob-token";

/// Every event in a JSON log, oldest first.
pub fn events(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("read log");
    let value: Value = serde_json::from_str(&text).expect("log is valid JSON");
    let mut events = value.as_array().expect("log is an array").clone();
    events.reverse();
    events
}

/// A server with a JSON log in a fresh temp dir and the test tokens.
pub async fn server_with_tokens() -> (LocalServer, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut options = LocalServerOptions::new(dir.path());
    options.tokens = Some(TOKENS.to_owned());
    let server = LocalServer::start(options).await.expect("start server");
    (server, dir)
}

/// The events of `server` so far, oldest first.
pub fn logged(server: &LocalServer) -> Vec<Value> {
    events(server.log_path().expect("a log file"))
}

/// Asserts the common shape: action, status, actor, a request id; returns the details.
pub fn check<'a>(event: &'a Value, action: &str, status: &str, actor: &str) -> &'a Value {
    assert_eq!(event["action_type"], action, "{event:#}");
    assert_eq!(event["status"], status, "{event:#}");
    assert_eq!(event["details"]["actor"], actor, "{event:#}");
    // Every event of a gRPC call names its request (the layer's, or the handler's own).
    assert!(event["details"]["request_id"].is_string(), "{event:#}");
    if status == "success" {
        assert!(event["error"].is_null(), "{event:#}");
    } else {
        assert!(event["error"].is_string(), "{event:#}");
    }
    &event["details"]
}
