//! Compiles `examples/proto/experiment_service.proto` into OUT_DIR with the protoc shipped by
//! the `protoc-bin-vendored` crate, so a fresh machine needs no system protoc.

use std::error::Error;

fn main() -> Result<(), Box<dyn Error>> {
    const PROTO: &str = "examples/proto/experiment_service.proto";
    println!("cargo:rerun-if-changed={PROTO}");
    // A protoc the user set explicitly wins; otherwise the vendored one.
    if std::env::var_os("PROTOC").is_none() {
        let protoc = protoc_bin_vendored::protoc_bin_path()?;
        // SAFETY: build scripts are single-threaded; nothing else reads the environment now.
        unsafe { std::env::set_var("PROTOC", protoc) };
    }
    let mut config = tonic_prost_build::configure();
    // Responses carry `success` and `message`: `#[audited]` logs `success: false` as failed.
    for response in [
        ".CommandResponse",
        ".DataEditsResponse",
        ".DataQueryResponse",
        ".RestoreCheckpointResponse",
        ".TriggerEvaluationResponse",
    ] {
        config = config.type_attribute(response, "#[derive(::audited::AuditOutcome)]");
    }
    config
        .build_client(true)
        .build_server(true)
        .compile_protos(&[PROTO], &["examples/proto"])?;
    Ok(())
}
