use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use tower_layer::Layer;
use tower_service::Service;

use super::*;
use crate::Format;

/// Answers with the actor it sees while running, as the body.
#[derive(Clone)]
struct EchoActor;

impl Service<http::Request<()>> for EchoActor {
    type Response = http::Response<String>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<()>) -> Self::Future {
        Box::pin(async {
            let actor = crate::actor::current().map(|a| a.to_string());
            Ok(http::Response::new(
                actor.unwrap_or_else(|| "<none>".into()),
            ))
        })
    }
}

fn block_on<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
    }
}

fn request(path: &str, headers: &[(&str, &str)], peer: Option<&str>) -> http::Request<()> {
    let mut builder = http::Request::builder().uri(path);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let mut request = builder.body(()).unwrap();
    if let Some(peer) = peer {
        let addr: SocketAddr = peer.parse().unwrap();
        request.extensions_mut().insert(TcpConnectInfo {
            local_addr: None,
            remote_addr: Some(addr),
        });
    }
    request
}

fn call(layer: &IdentityLayer, request: http::Request<()>) -> http::Response<String> {
    let mut service = layer.layer(EchoActor);
    block_on(service.call(request)).unwrap()
}

fn grpc_status(response: &http::Response<String>) -> Option<&str> {
    response
        .headers()
        .get("grpc-status")
        .and_then(|v| v.to_str().ok())
}

#[test]
fn bearer_then_api_key_then_nothing() {
    let mut h = http::HeaderMap::new();
    assert_eq!(presented_token(&h), None);
    h.insert("x-api-key", "k1".parse().unwrap());
    assert_eq!(presented_token(&h), Some("k1"));
    h.insert("authorization", "bearer  b1 ".parse().unwrap());
    assert_eq!(presented_token(&h), Some("b1"));
    h.insert("authorization", "Basic dXNlcg==".parse().unwrap());
    assert_eq!(presented_token(&h), Some("k1"), "non-bearer falls back");
    h.insert("x-api-key", " ".parse().unwrap());
    assert_eq!(presented_token(&h), None);
}

#[test]
fn without_tokens_the_peer_or_a_fingerprint_is_the_actor() {
    let layer = IdentityLayer::new();
    let r = call(&layer, request("/S/M", &[], Some("10.0.0.7:4242")));
    assert_eq!(r.body(), "peer:10.0.0.7:4242");
    let r = call(
        &layer,
        request(
            "/S/M",
            &[("authorization", "Bearer abc")],
            Some("10.0.0.7:4242"),
        ),
    );
    assert_eq!(r.body(), "token:ba7816bf");
    let r = call(&layer, request("/S/M", &[], None));
    assert_eq!(r.body(), "<none>");
    assert_eq!(
        crate::actor::current(),
        None,
        "nothing leaks out of the call"
    );
}

#[test]
fn configured_tokens_map_to_names_and_bare_ones_to_fingerprints() {
    let layer = IdentityLayer::new().tokens(TokenMap::parse("alice:a-tok,bare-tok").unwrap());
    assert!(layer.requires_token());
    let r = call(
        &layer,
        request("/S/M", &[("authorization", "Bearer a-tok")], None),
    );
    assert_eq!(r.body(), "alice");
    let r = call(&layer, request("/S/M", &[("x-api-key", "bare-tok")], None));
    assert_eq!(r.body(), &token_fingerprint("bare-tok"));
    assert_eq!(grpc_status(&r), None);
}

fn logged(dir: &std::path::Path) -> Vec<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("audit_log.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

#[test]
fn refusals_are_unauthenticated_and_logged_as_failed_events() {
    let dir = tempfile::tempdir().unwrap();
    let logger = AuditLogger::builder(dir.path())
        .format(Format::Json)
        .build()
        .unwrap();
    let layer = IdentityLayer::new()
        .tokens(TokenMap::parse("alice:a-tok").unwrap())
        .logger(logger)
        .action_for(
            "/ExperimentService/RestoreCheckpoint",
            crate::Action::CheckpointRestore,
        );

    let r = call(
        &layer,
        request(
            "/ExperimentService/RestoreCheckpoint",
            &[],
            Some("127.0.0.1:9"),
        ),
    );
    assert_eq!(grpc_status(&r), Some("16"), "UNAUTHENTICATED");
    assert_eq!(r.body(), "", "the service never ran");
    let r = call(
        &layer,
        request(
            "/ExperimentService/EditDataSample",
            &[("authorization", "Bearer wrong-secret")],
            None,
        ),
    );
    assert_eq!(grpc_status(&r), Some("16"));

    let events = logged(dir.path());
    assert_eq!(events.len(), 2);
    // newest first
    let unknown = &events[0];
    assert_eq!(unknown["action_type"], DEFAULT_REJECTION_ACTION);
    assert_eq!(unknown["status"], "failed");
    assert_eq!(unknown["error"], "unauthenticated: unknown token");
    assert_eq!(
        unknown["details"]["actor"],
        token_fingerprint("wrong-secret")
    );
    assert_eq!(
        unknown["details"]["method"],
        "/ExperimentService/EditDataSample"
    );
    let missing = &events[1];
    assert_eq!(missing["action_type"], "checkpoint_restore");
    assert_eq!(missing["error"], "unauthenticated: missing token");
    assert_eq!(missing["details"]["actor"], "peer:127.0.0.1:9");
    assert_eq!(missing["details"]["grpc_code"], "Unauthenticated");
    let text = std::fs::read_to_string(dir.path().join("audit_log.json")).unwrap();
    assert!(!text.contains("wrong-secret"), "a token reached the log");
}

#[test]
fn an_empty_token_map_requires_nothing() {
    let layer = IdentityLayer::new().tokens(TokenMap::parse(" ").unwrap());
    assert!(!layer.requires_token());
    let r = call(&layer, request("/S/M", &[], Some("127.0.0.1:1")));
    assert_eq!(r.body(), "peer:127.0.0.1:1");
}

// Issue [6]: `action_for` took any two strings, so a path that can never match (no leading
// `/`, no method) and a misspelt action were accepted, and refusals went to `access_denied`
// or under the typo. Paths are checked when the layer is configured; actions are typed (a
// string is a compile error, see the `compile_fail` doctest of `action_for`).

#[test]
#[should_panic(
    expected = "`ExperimentService/RestoreCheckpoint` is not a gRPC method path (it does not start with `/`)"
)]
fn action_for_refuses_a_path_without_a_leading_slash() {
    let _ = IdentityLayer::new().action_for(
        "ExperimentService/RestoreCheckpoint",
        crate::Action::CheckpointRestore,
    );
}

#[test]
#[should_panic(
    expected = "`/RestoreCheckpoint` is not a gRPC method path (no `/Method` after the service)"
)]
fn action_for_refuses_a_path_without_a_service() {
    let _ = IdentityLayer::new().action_for("/RestoreCheckpoint", crate::Action::CheckpointRestore);
}

#[test]
fn action_for_refuses_paths_that_are_not_grpc_paths() {
    for path in [
        "",
        "/",
        "/ExperimentService/",
        "//RestoreCheckpoint",
        "/weightslab..ExperimentService/RestoreCheckpoint",
        "/.ExperimentService/RestoreCheckpoint",
        "/ExperimentService/Restore Checkpoint",
        "/ExperimentService/RestoreCheckpoint/",
        "/weightslab/ExperimentService/RestoreCheckpoint",
        " /ExperimentService/RestoreCheckpoint",
    ] {
        assert!(check_method_path(path).is_err(), "{path:?} was accepted");
    }
    for path in [
        "/ExperimentService/RestoreCheckpoint",
        "/weightslab.v2.ExperimentService/RestoreCheckpoint",
        "/_s.S_1/m_2",
    ] {
        assert_eq!(check_method_path(path), Ok(()), "{path:?}");
    }
}

#[test]
#[should_panic(expected = "`/S/M` is mapped to `pause` and to `resume`")]
fn action_for_refuses_one_method_mapped_to_two_actions() {
    let _ = IdentityLayer::new()
        .action_for("/S/M", crate::Action::Pause)
        .action_for("/S/M", crate::Action::Resume);
}

/// What tonic generates for `package weightslab; service ExperimentService {..}`.
struct PackagedServer;
impl tonic::server::NamedService for PackagedServer {
    const NAME: &'static str = "weightslab.ExperimentService";
}

#[derive(crate::AuditAction)]
#[audit(crate = crate)]
enum LabAction {
    Denied,
}

#[test]
fn action_for_method_takes_the_package_from_the_generated_service() {
    let dir = tempfile::tempdir().unwrap();
    let logger = AuditLogger::builder(dir.path())
        .format(Format::Json)
        .build()
        .unwrap();
    let layer = IdentityLayer::new()
        .tokens(TokenMap::parse("alice:a-tok").unwrap())
        .logger(logger)
        .action_for_method::<PackagedServer>("RestoreCheckpoint", crate::Action::CheckpointRestore)
        .rejection_action(LabAction::Denied);
    for path in [
        "/weightslab.ExperimentService/RestoreCheckpoint",
        "/ExperimentService/RestoreCheckpoint",
    ] {
        let r = call(&layer, request(path, &[], None));
        assert_eq!(grpc_status(&r), Some("16"));
    }
    let events = logged(dir.path());
    let actions: Vec<_> = events.iter().map(|e| &e["action_type"]).collect();
    // newest first: the package-less path is another method, logged as the fallback
    assert_eq!(actions, ["denied", "checkpoint_restore"]);
}
