//! Leaving out `features = ["tonic"]` used to record wrong outcomes with no warning (issue
//! #6): `Err(Status)` as a Debug dump without its `grpc_code`, a `success: false` response as
//! a success. A handler returning tonic types must not compile without the feature. Checked
//! the way a user meets it: `cargo check` of a crate that depends on `audited` alone.

use std::path::{Path, PathBuf};
use std::process::Command;

fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `cargo check` of a one-file library crate depending on `audited` (no features) and tonic;
/// returns whether it compiled and what cargo printed.
fn check_user_crate(name: &str, lib_rs: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let audited = workspace_root().join("audited");
    let manifest = format!(
        "[package]\nname = \"{name}\"\nversion = \"0.0.0\"\nedition = \"2024\"\npublish = false\n\n\
         [dependencies]\naudited = {{ path = {audited:?} }}\n\
         tonic = {{ version = \"0.14\", default-features = false }}\n\n[workspace]\n"
    );
    std::fs::write(dir.path().join("Cargo.toml"), manifest).unwrap();
    // The workspace's lock file pins the same versions it builds with, so no index is needed.
    std::fs::copy(
        workspace_root().join("Cargo.lock"),
        dir.path().join("Cargo.lock"),
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/lib.rs"), lib_rs).unwrap();
    // One target directory for every run: after the first, only the probe crate is checked.
    let target = Path::new(env!("CARGO_TARGET_TMPDIR")).join("tonic-feature-probe");
    let output = Command::new(env!("CARGO"))
        .args(["check", "--offline", "--quiet", "--message-format", "short"])
        .current_dir(dir.path())
        .env("CARGO_TARGET_DIR", target)
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn tonic_handler_without_the_feature_is_a_compile_error_naming_it() {
    let (compiled, stderr) = check_user_crate(
        "tonic_handler_without_feature",
        r#"
use audited::audited;
use tonic::{Request, Response, Status};

pub struct Service;

impl Service {
    #[audited(action = "tag_add")]
    pub async fn tag(&self, _req: Request<()>) -> Result<Response<()>, Status> {
        Ok(Response::new(()))
    }

    #[audited(action = "tag_remove")]
    pub fn untag(&self) -> Result<(), tonic::Status> {
        Ok(())
    }
}
"#,
    );
    assert!(!compiled, "compiled without the tonic feature:\n{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error:")).collect();
    let named: Vec<&&str> = errors
        .iter()
        .filter(|l| l.contains("needs the `tonic` feature"))
        .collect();
    assert_eq!(named.len(), 2, "one error per handler:\n{stderr}");
    // At each handler's attribute, so the user sees which function it is about.
    assert!(named[0].contains("src/lib.rs:8:"), "{stderr}");
    assert!(named[1].contains("src/lib.rs:13:"), "{stderr}");
    assert_eq!(
        errors.len(),
        2 + 1,
        "no other errors (plus cargo's summary):\n{stderr}"
    );
}

#[test]
fn handlers_with_their_own_status_type_compile_without_the_feature() {
    let (compiled, stderr) = check_user_crate(
        "own_status_without_feature",
        r#"
use audited::audited;

#[derive(Debug)]
pub struct Status(pub String);
impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str(&self.0) }
}

#[audited(action = "pause")]
pub fn pause() -> Result<(), Status> {
    Ok(())
}
"#,
    );
    assert!(compiled, "{stderr}");
}
