//! The per-log key of the keyed hash that can stand in for a redacted value: HMAC-SHA256,
//! written as `"hmac-sha256:<64 hex digits>"`, as HashiCorp Vault's audit devices do, so
//! that an auditor who knows a value can find every event about it (`auditlog hash`) while
//! the log never holds the value itself.
//!
//! The key file holds the key as hexadecimal text (64 digits, 32 random bytes, when the
//! logger creates it) and an optional line end. It is created with mode `0600` and never
//! replaced: a new key would make the old hashes unsearchable.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use super::canonical;
use crate::AuditError;

/// The key file's name beside the log when none is given
/// ([`AuditLoggerBuilder::hmac_key_file`](crate::AuditLoggerBuilder::hmac_key_file)).
pub const HMAC_KEY_FILE_NAME: &str = "audit_log.hmac-key";

/// What a hashed value starts with; the rest is 64 lowercase hex digits.
pub const HMAC_PREFIX: &str = "hmac-sha256:";

/// The fewest key bytes a key file may hold.
const MIN_KEY_BYTES: usize = 16;

/// The most a key file may hold: anything larger is not a key file.
const MAX_KEY_FILE_BYTES: u64 = 4096;

/// A secret key for HMAC-SHA256 of redacted values. `Debug` never shows it, and no error
/// message holds it.
///
/// ```
/// use audit_runtime::HmacKey;
/// use serde_json::json;
/// let dir = tempfile::tempdir()?;
/// let path = dir.path().join("audit_log.hmac-key");
/// let key = HmacKey::load_or_create(&path)?; // 32 random bytes, mode 0600
/// let again = HmacKey::from_file(&path)?;
/// // What is hashed: a string's UTF-8 bytes, any other value's canonical JSON text.
/// assert_eq!(key.hash(&json!("hunter2")), again.hash_bytes(b"hunter2"));
/// assert_eq!(key.hash(&json!({"b": 1, "a": 2})), key.hash_bytes(br#"{"a":2,"b":1}"#));
/// assert!(key.hash_bytes(b"x").starts_with("hmac-sha256:"));
/// assert_eq!(format!("{key:?}"), "HmacKey(..)");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct HmacKey {
    bytes: Box<[u8]>,
}

impl fmt::Debug for HmacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("HmacKey(..)")
    }
}

impl HmacKey {
    /// Reads a key file: hexadecimal text of at least 16 bytes, surrounding whitespace
    /// ignored. The file must be a regular file (a symbolic link is refused).
    pub fn from_file(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let path = path.as_ref();
        let file = OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
            .open(path)
            .map_err(|e| AuditError::io("open the HMAC key file", path, e))?;
        Self::read_from(file, path)
    }

    /// Reads the key file at `path`, creating it with a new random key (mode `0600`) when
    /// there is none. Several processes or threads starting at once agree on one key: the file is
    /// written aside and linked into place, so it never exists half-written.
    pub fn load_or_create(path: impl AsRef<Path>) -> Result<Self, AuditError> {
        let path = path.as_ref();
        match Self::from_file(path) {
            Err(AuditError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        let key = Self::generate()?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let stem = path
            .file_name()
            .map_or("hmac-key".into(), |n| n.to_string_lossy());
        let temp = Self::write_aside(dir, &stem, &key, path)?;
        // A hard link never replaces an existing file, so of several creators at once
        // exactly one wins and every other one reads the winner's key.
        let linked = fs::hard_link(&temp, path);
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => Ok(key),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Self::from_file(path),
            Err(e) => Err(AuditError::io("create the HMAC key file", path, e)),
        }
    }

    /// Writes `key` to a new file in `dir` whose name no other creator uses (this process's
    /// id, a process-wide counter and random bits), so that threads and processes creating
    /// the same key file at once never share, truncate or delete each other's temporary
    /// file. Returns its path; on error nothing is left behind.
    fn write_aside(
        dir: &Path,
        stem: &str,
        key: &HmacKey,
        target: &Path,
    ) -> Result<PathBuf, AuditError> {
        static ATTEMPT: AtomicU64 = AtomicU64::new(0);
        // A name can only be taken by a leftover of a crashed creator that had the same
        // pid, counter value and random bits; a few tries are more than enough.
        const TRIES: usize = 8;
        let mut last = None;
        for _ in 0..TRIES {
            let mut salt = [0u8; 8];
            fill_random(&mut salt)?;
            let temp = dir.join(format!(
                ".{stem}.{}.{}.{}.tmp",
                std::process::id(),
                ATTEMPT.fetch_add(1, Ordering::Relaxed),
                hex(&salt)
            ));
            let mut file = match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .custom_flags(libc::O_NOFOLLOW | libc::O_CLOEXEC)
                .open(&temp)
            {
                Ok(file) => file,
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    last = Some(e);
                    continue;
                }
                Err(e) => return Err(AuditError::io("create the HMAC key file", target, e)),
            };
            let written = (|| {
                // The umask may have narrowed the mode, never widened it; make it exactly 0600.
                file.set_permissions(fs::Permissions::from_mode(0o600))?;
                file.write_all(key.to_hex().as_bytes())?;
                file.write_all(b"\n")?;
                file.sync_all()
            })();
            return match written {
                Ok(()) => Ok(temp),
                Err(e) => {
                    let _ = fs::remove_file(&temp);
                    Err(AuditError::io("create the HMAC key file", target, e))
                }
            };
        }
        Err(AuditError::io(
            "create the HMAC key file",
            target,
            last.unwrap_or_else(|| io::Error::from(io::ErrorKind::AlreadyExists)),
        ))
    }

    /// A new random key (32 bytes from the operating system), kept in memory only.
    pub fn generate() -> Result<Self, AuditError> {
        let mut bytes = vec![0u8; 32];
        fill_random(&mut bytes)?;
        Ok(HmacKey {
            bytes: bytes.into_boxed_slice(),
        })
    }

    fn read_from(file: File, path: &Path) -> Result<Self, AuditError> {
        let malformed = |reason: &str| AuditError::Malformed {
            path: path.to_owned(),
            reason: reason.to_owned(),
        };
        let meta = file
            .metadata()
            .map_err(|e| AuditError::io("read the HMAC key file", path, e))?;
        if !meta.is_file() {
            return Err(AuditError::NotARegularFile {
                path: path.to_owned(),
                found: "not a regular file",
            });
        }
        let mut text = String::new();
        file.take(MAX_KEY_FILE_BYTES + 1)
            .read_to_string(&mut text)
            .map_err(|_| malformed("an HMAC key file holds hexadecimal text"))?;
        if text.len() as u64 > MAX_KEY_FILE_BYTES {
            return Err(malformed("an HMAC key file holds at most 4096 bytes"));
        }
        let hex = text.trim().as_bytes();
        if !hex.len().is_multiple_of(2) || !hex.iter().all(u8::is_ascii_hexdigit) {
            return Err(malformed(
                "an HMAC key file holds hexadecimal digits only (an even number of them)",
            ));
        }
        let bytes: Box<[u8]> = hex
            .chunks_exact(2)
            .map(|pair| (nibble(pair[0]) << 4) | nibble(pair[1]))
            .collect();
        if bytes.len() < MIN_KEY_BYTES {
            return Err(malformed(
                "an HMAC key must be at least 16 bytes (32 hex digits)",
            ));
        }
        Ok(HmacKey { bytes })
    }

    fn to_hex(&self) -> String {
        hex(&self.bytes)
    }

    /// `"hmac-sha256:<hex>"` of `bytes`.
    pub fn hash_bytes(&self, bytes: &[u8]) -> String {
        // Any key length is valid for HMAC; `new_from_slice` cannot fail for it.
        let mut mac = match Hmac::<Sha256>::new_from_slice(&self.bytes) {
            Ok(mac) => mac,
            Err(_) => return String::from(crate::logger::pipeline::REDACTED),
        };
        mac.update(bytes);
        let mut out = String::with_capacity(HMAC_PREFIX.len() + 64);
        out.push_str(HMAC_PREFIX);
        out.push_str(&hex(&mac.finalize().into_bytes()));
        out
    }

    /// The hash written in place of `value`: of a string's UTF-8 bytes, of any other value's
    /// canonical JSON text (compact, keys sorted; see the README). A value nested deeper
    /// than [`MAX_DETAILS_DEPTH`](crate::MAX_DETAILS_DEPTH) is written as `"[REDACTED]"`.
    pub fn hash(&self, value: &Value) -> String {
        match canonical::digest_input(value) {
            Some(bytes) => self.hash_bytes(&bytes),
            None => String::from(crate::logger::pipeline::REDACTED),
        }
    }
}

/// Fills `bytes` from the operating system's random source.
fn fill_random(bytes: &mut [u8]) -> Result<(), AuditError> {
    let mut filled = 0;
    while filled < bytes.len() {
        // SAFETY: the pointer and length describe the unfilled part of `bytes`.
        let n = unsafe {
            libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0)
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(AuditError::io(
                "get random bytes for",
                Path::new("the HMAC key"),
                e,
            ));
        }
        filled += n as usize;
    }
    Ok(())
}

fn nibble(digit: u8) -> u8 {
    match digit {
        b'0'..=b'9' => digit - b'0',
        b'a'..=b'f' => digit - b'a' + 10,
        _ => digit.to_ascii_lowercase().wrapping_sub(b'a' - 10),
    }
}

/// Lowercase hexadecimal.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_rfc_4231_hmac_sha256() {
        // RFC 4231, test case 2: key "Jefe".
        let key = HmacKey {
            bytes: b"Jefe".to_vec().into_boxed_slice(),
        };
        assert_eq!(
            key.hash_bytes(b"what do ya want for nothing?"),
            "hmac-sha256:5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn a_created_key_file_is_0600_hex_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(HMAC_KEY_FILE_NAME);
        let key = HmacKey::load_or_create(&path).unwrap();
        let meta = fs::metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        let text = fs::read_to_string(&path).unwrap();
        assert_eq!(text.trim().len(), 64);
        assert_eq!(text.trim(), key.to_hex());
        let again = HmacKey::load_or_create(&path).unwrap();
        assert_eq!(again.hash_bytes(b"v"), key.hash_bytes(b"v"));
        // Nothing else was left in the directory.
        assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// Regression: the temporary file's name was the process id only, so two threads of
    /// one process creating the key at once shared it: one failed with "file exists" (or
    /// deleted the other's temporary file under it, failing the other's link).
    #[test]
    fn hmac_key_temp_name_collision_between_threads() {
        const THREADS: usize = 16;
        const ROUNDS: usize = 8;
        for _ in 0..ROUNDS {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join(HMAC_KEY_FILE_NAME);
            let start = std::sync::Barrier::new(THREADS);
            let keys: Vec<Result<String, String>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..THREADS)
                    .map(|_| {
                        s.spawn(|| {
                            start.wait();
                            HmacKey::load_or_create(&path)
                                .map(|k| k.to_hex())
                                .map_err(|e| e.to_string())
                        })
                    })
                    .collect();
                handles.into_iter().map(|h| h.join().unwrap()).collect()
            });
            let on_disk = HmacKey::from_file(&path).unwrap().to_hex();
            for key in &keys {
                assert_eq!(key.as_deref(), Ok(on_disk.as_str()), "{keys:?}");
            }
            let left: Vec<_> = fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            assert_eq!(left, [std::ffi::OsString::from(HMAC_KEY_FILE_NAME)]);
        }
    }

    #[test]
    fn the_key_never_appears_in_debug_or_errors() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let secret = "00112233445566778899aabbccddeeff0011223344556677";
        fs::write(&path, format!("{secret}zz")).unwrap();
        let err = HmacKey::from_file(&path).unwrap_err();
        assert!(!format!("{err:?} {err}").contains(secret), "{err:?}");
        fs::write(&path, secret).unwrap();
        let key = HmacKey::from_file(&path).unwrap();
        assert!(!format!("{key:?}").contains("0011"));
        fs::write(&path, "abcd").unwrap();
        assert!(HmacKey::from_file(&path).is_err(), "too short a key");
    }

    #[test]
    fn a_symlinked_key_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real");
        fs::write(&real, "00112233445566778899aabbccddeeff").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        assert!(HmacKey::from_file(&link).is_err());
        assert!(HmacKey::load_or_create(&link).is_err());
    }
}
