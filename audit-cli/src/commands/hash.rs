//! `auditlog hash VALUE --key FILE`: the keyed hash a logger writes in place of `VALUE` when
//! it hashes instead of redacting (`#[audited(redact(k, hmac))]`, `Redaction::hashed`), so
//! that an auditor can search a log for every event about one value without the value being
//! in it: `auditlog query LOG --contains "$(auditlog hash alice --key KEYFILE)"`, or `grep`.

use audit_runtime::HmacKey;

use crate::CliError;
use crate::cli::HashArgs;

/// Prints `hmac-sha256:<hex>` of the value: of its UTF-8 bytes, or with `--json` of the
/// JSON value it is (a string's bytes again, any other value's canonical JSON).
pub fn hash(args: &HashArgs) -> Result<u8, CliError> {
    let key = HmacKey::from_file(&args.key)?;
    let hashed = if args.json {
        let value: serde_json::Value = serde_json::from_str(&args.value).map_err(|e| {
            CliError::failure(format!("the value given with --json is not JSON: {e}"))
        })?;
        key.hash(&value)
    } else {
        key.hash_bytes(args.value.as_bytes())
    };
    println!("{hashed}");
    Ok(0)
}
