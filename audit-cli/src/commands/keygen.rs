//! `auditlog keygen --out DIR`: an Ed25519 key pair for signing the chain's digests.
//! `DIR/audit_signing.key` (mode 0600: give it only to the writer's account) and
//! `DIR/audit_signing.pub` (for `auditlog verify --key`); existing files are never
//! overwritten. The format is two lines of text: the kind, then the key in hex.

use audit_runtime::integrity::SigningKey;

use crate::CliError;
use crate::cli::KeygenArgs;

/// The private key's file name.
pub const PRIVATE_NAME: &str = "audit_signing.key";
/// The public key's file name.
pub const PUBLIC_NAME: &str = "audit_signing.pub";

/// Writes the key pair and prints where.
pub fn keygen(args: &KeygenArgs) -> Result<u8, CliError> {
    std::fs::create_dir_all(&args.out)
        .map_err(|e| CliError::failure(format!("cannot create {}: {e}", args.out.display())))?;
    let private = args.out.join(PRIVATE_NAME);
    let public = args.out.join(PUBLIC_NAME);
    for path in [&private, &public] {
        if path.exists() {
            return Err(CliError::failure(format!(
                "{} exists; not overwriting a key",
                path.display()
            )));
        }
    }
    let key = SigningKey::generate()
        .map_err(|e| CliError::failure(format!("cannot get random bytes for a key: {e}")))?;
    key.write_files(&private, &public).map_err(|e| {
        CliError::failure(format!(
            "cannot write {} / {}: {e}",
            private.display(),
            public.display()
        ))
    })?;
    println!(
        "private key: {} (mode 0600; set AUDIT_LOG_SIGNING_KEY to it, or pass it to .signing_key)",
        private.display()
    );
    println!(
        "public key:  {} (for auditlog verify --key)",
        public.display()
    );
    println!("key id:      {}", key.public().key_id());
    Ok(0)
}
