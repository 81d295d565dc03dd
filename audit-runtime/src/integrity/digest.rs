//! Signed digests: Ed25519 signatures over the chain's head, appended as JSON lines to the
//! sidecar `<log>.digests` (`audit_log.json.digests`, `audit_log.csv.digests`).
//!
//! One line per digest:
//! `{"seq":N,"hash":"<hex>","timestamp":"<27 chars>","prev_sig":"<hex>"|null,"key_id":"<hex>","sig":"<hex>"}`.
//! The signature covers `"audited-digest-v1" || seq (u64, big-endian) || hash (32 bytes) ||
//! timestamp (27 ASCII bytes) || prev_sig (64 bytes, zeros for the first digest)`, so the
//! digests form a chain of their own: deleting, reordering or changing one breaks it.
//! `key_id` is the first 8 bytes of SHA-256 of the public key, in hex.
//!
//! Key files are text: a first line naming the kind (`audited-ed25519-private-key` or
//! `audited-ed25519-public-key`), then the 32-byte key in hex (the private key is its seed).

use std::fmt;
use std::fs::{File, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ed25519_dalek::{Signature, Signer, Verifier};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use super::chain::{Hash, Head, from_hex, to_hex};
use crate::{AuditError, Timestamp};

/// The first line of a private key file.
pub const PRIVATE_KEY_HEADER: &str = "audited-ed25519-private-key";
/// The first line of a public key file.
pub const PUBLIC_KEY_HEADER: &str = "audited-ed25519-public-key";
/// The environment variable naming a private key file (code's `.signing_key(..)` wins).
pub const SIGNING_KEY_ENV_VAR: &str = "AUDIT_LOG_SIGNING_KEY";
/// A digest is signed after this many events by one process (or [`DEFAULT_DIGEST_INTERVAL`]).
pub const DEFAULT_DIGEST_EVENTS: u64 = 1_000;
/// … or once this much time has passed since the first event it covers was written (signed
/// by the logger's timer thread, whether or not more events come).
pub const DEFAULT_DIGEST_INTERVAL: Duration = Duration::from_secs(60);

const DOMAIN: &[u8] = b"audited-digest-v1";

/// A private Ed25519 key for signing digests. Its `Debug` shows only the key id.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("key_id", &self.public().key_id())
            .finish_non_exhaustive()
    }
}

/// A public Ed25519 key for checking digests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PublicKey(ed25519_dalek::VerifyingKey);

impl SigningKey {
    /// A new random key (from the operating system's random source).
    pub fn generate() -> io::Result<SigningKey> {
        let mut seed = [0u8; 32];
        File::open("/dev/urandom").and_then(|mut f| io::Read::read_exact(&mut f, &mut seed))?;
        let key = SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed));
        seed.fill(0);
        Ok(key)
    }

    /// Reads a private key file. Errors name the file, never its content.
    pub fn from_file(path: &Path) -> Result<SigningKey, AuditError> {
        let seed = read_key_file::<32>(path, PRIVATE_KEY_HEADER)?;
        Ok(SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed)))
    }

    /// Its public key.
    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// Writes the private key file (mode 0600, refusing to overwrite) and the public one.
    pub fn write_files(&self, private: &Path, public: &Path) -> io::Result<()> {
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(private)?;
        writeln!(out, "{PRIVATE_KEY_HEADER}\n{}", to_hex(&self.0.to_bytes()))?;
        out.sync_all()?;
        let mut out = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .custom_flags(libc::O_NOFOLLOW)
            .open(public)?;
        writeln!(
            out,
            "{PUBLIC_KEY_HEADER}\n{}",
            to_hex(self.public().0.as_bytes())
        )?;
        out.sync_all()
    }

    fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl PublicKey {
    /// Reads a public key file (a private key file is accepted too: its public half is used).
    pub fn from_file(path: &Path) -> Result<PublicKey, AuditError> {
        match read_key_file::<32>(path, PUBLIC_KEY_HEADER) {
            Ok(bytes) => ed25519_dalek::VerifyingKey::from_bytes(&bytes)
                .map(PublicKey)
                .map_err(|_| bad_key(path, "is not a valid Ed25519 public key")),
            Err(e) => match SigningKey::from_file(path) {
                Ok(key) => Ok(key.public()),
                Err(_) => Err(e),
            },
        }
    }

    /// The first 8 bytes of SHA-256 of the key, in hex: names the key in digests.
    pub fn key_id(&self) -> String {
        to_hex(&Sha256::digest(self.0.as_bytes())[..8])
    }
}

fn bad_key(path: &Path, what: &str) -> AuditError {
    AuditError::io(
        "use the key file",
        path,
        io::Error::new(io::ErrorKind::InvalidData, format!("the file {what}")),
    )
}

fn read_key_file<const N: usize>(path: &Path, header: &str) -> Result<[u8; N], AuditError> {
    let text =
        std::fs::read_to_string(path).map_err(|e| AuditError::io("read key file", path, e))?;
    let mut lines = text.lines();
    if lines.next().map(str::trim) != Some(header) {
        return Err(bad_key(
            path,
            &format!("does not start with the line {header:?}"),
        ));
    }
    lines
        .next()
        .and_then(|l| from_hex::<N>(l.trim()))
        .ok_or_else(|| {
            bad_key(
                path,
                &format!("does not hold {N} bytes of hex on its second line"),
            )
        })
}

/// The sidecar of the log at `log`.
pub fn sidecar_path(log: &Path) -> PathBuf {
    let mut name = log.as_os_str().to_owned();
    name.push(".digests");
    PathBuf::from(name)
}

/// The bytes a digest's signature covers.
pub fn signed_message(
    seq: u64,
    hash: &Hash,
    timestamp: &str,
    prev_sig: Option<&[u8; 64]>,
) -> Vec<u8> {
    let mut m = Vec::with_capacity(DOMAIN.len() + 8 + 32 + 27 + 64);
    m.extend_from_slice(DOMAIN);
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(hash);
    m.extend_from_slice(timestamp.as_bytes());
    m.extend_from_slice(prev_sig.unwrap_or(&[0; 64]));
    m
}

/// How often digests are signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DigestEvery {
    /// After this many events written by this process…
    pub events: u64,
    /// … or once this much time has passed since the first event it would cover, whichever
    /// comes first.
    pub interval: Duration,
}

impl Default for DigestEvery {
    fn default() -> Self {
        DigestEvery {
            events: DEFAULT_DIGEST_EVENTS,
            interval: DEFAULT_DIGEST_INTERVAL,
        }
    }
}

/// The signer of one log: called under the log's lock.
#[derive(Debug)]
pub(crate) struct Digests {
    key: SigningKey,
    path: PathBuf,
    file_mode: u32,
    every: DigestEvery,
    state: Mutex<Pending>,
}

#[derive(Debug)]
struct Pending {
    /// Events this process wrote since its last digest.
    since: u64,
    /// When the oldest event not yet covered by a digest was written: the digest is due an
    /// interval later (see [`Digests::due_in`]). Read once per digest, not per event.
    unsigned_since: Option<Instant>,
    /// The newest head this process wrote and has not signed.
    unsigned: Option<Head>,
}

impl Digests {
    pub(crate) fn new(key: SigningKey, log: &Path, file_mode: u32, every: DigestEvery) -> Digests {
        Digests {
            key,
            path: sidecar_path(log),
            file_mode,
            every,
            state: Mutex::new(Pending {
                since: 0,
                unsigned_since: None,
                unsigned: None,
            }),
        }
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, Pending> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// With the log's lock held, after an event with link `head` was written: signs a digest
    /// when the event count is due (the interval is the timer's: [`Self::due_in`]).
    pub(crate) fn after_event(&self, head: Head) -> Result<(), AuditError> {
        let mut p = self.pending();
        p.since += 1;
        if p.unsigned.is_none() {
            p.unsigned_since = Some(Instant::now());
        }
        p.unsigned = Some(head);
        if p.since >= self.every.events {
            self.sign_locked(&mut p)?;
        }
        Ok(())
    }

    /// How long until the newest unsigned head is due to be signed by time: zero when it is
    /// overdue, the whole interval when every head is signed (an event written meanwhile is
    /// then due no later than when that much time has passed).
    pub(crate) fn due_in(&self) -> Duration {
        match self.pending().unsigned_since {
            Some(since) => self.every.interval.saturating_sub(since.elapsed()),
            None => self.every.interval,
        }
    }

    /// The longest a written head waits for its digest.
    pub(crate) fn interval(&self) -> Duration {
        self.every.interval
    }

    /// Whether a head this process wrote is not yet signed.
    pub(crate) fn has_unsigned(&self) -> bool {
        self.pending().unsigned.is_some()
    }

    /// With the log's lock held: signs the newest unsigned head, if any (flush and drop).
    pub(crate) fn sign_now(&self) -> Result<(), AuditError> {
        let mut p = self.pending();
        if p.unsigned.is_some() {
            self.sign_locked(&mut p)?;
        }
        Ok(())
    }

    fn sign_locked(&self, p: &mut Pending) -> Result<(), AuditError> {
        let Some(head) = p.unsigned else {
            return Ok(());
        };
        let io_err = |e| AuditError::io("write a digest to", &self.path, e);
        let file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(self.file_mode)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&self.path)
            .map_err(io_err)?;
        if !file.metadata().map_err(io_err)?.is_file() {
            return Err(AuditError::NotARegularFile {
                path: self.path.clone(),
                found: "something else",
            });
        }
        let prev_sig = last_signature(&file).map_err(io_err)?;
        let timestamp = Timestamp::now().to_string();
        let sig = self.key.sign(&signed_message(
            head.seq,
            &head.hash,
            &timestamp,
            prev_sig.as_ref(),
        ));
        let line = format!(
            "{{\"seq\":{},\"hash\":\"{}\",\"timestamp\":\"{timestamp}\",\"prev_sig\":{},\"key_id\":\"{}\",\"sig\":\"{}\"}}\n",
            head.seq,
            to_hex(&head.hash),
            prev_sig.map_or("null".to_owned(), |s| format!("\"{}\"", to_hex(&s))),
            self.key.public().key_id(),
            to_hex(&sig),
        );
        (&file).write_all(line.as_bytes()).map_err(io_err)?;
        p.since = 0;
        p.unsigned_since = None;
        p.unsigned = None;
        Ok(())
    }
}

/// The signature on the sidecar's last complete line, cutting off a torn last line (a
/// writer killed mid-append; we hold the log's lock, so nobody is appending now).
fn last_signature(file: &File) -> io::Result<Option<[u8; 64]>> {
    let len = file.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let from = len.saturating_sub(4096);
    let mut tail = vec![0u8; (len - from) as usize];
    file.read_exact_at(&mut tail, from)?;
    if tail.last() != Some(&b'\n') {
        let keep = tail
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(from, |i| from + i as u64 + 1);
        tracing::warn!(target: "audit", "cutting off a torn last line of a digest sidecar");
        file.set_len(keep)?;
        tail.truncate((keep - from) as usize);
        if keep == 0 {
            return Ok(None);
        }
    }
    let body = &tail[..tail.len().saturating_sub(1)];
    let line = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => &body[i + 1..],
        None if from == 0 => body,
        None => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "a digest line is too long",
            ));
        }
    };
    let value: Value = serde_json::from_slice(line).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "the last digest line is not JSON",
        )
    })?;
    value
        .get("sig")
        .and_then(Value::as_str)
        .and_then(from_hex::<64>)
        .map(Some)
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "the last digest has no signature",
            )
        })
}

/// One digest read back from a sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestLine {
    /// The chain head's sequence number.
    pub seq: u64,
    /// Its hash.
    pub hash: Hash,
    /// When it was signed.
    pub timestamp: String,
    /// The 1-based line in the sidecar, and the byte offset of its start.
    pub line: u64,
    /// Byte offset of the line.
    pub offset: u64,
}

/// A problem found in a sidecar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestProblem {
    /// The digest's line.
    pub line: u64,
    /// Its byte offset.
    pub offset: u64,
    /// The sequence number it names, when it could be read.
    pub seq: Option<u64>,
    /// What is wrong.
    pub message: String,
}

/// Reads and checks a sidecar: every line parses, links to the one before it (`prev_sig`)
/// and, with `key`, carries a valid signature. A last line without its newline (a writer
/// killed mid-append) is left out, not an error.
pub fn read_digests(
    path: &Path,
    key: Option<&PublicKey>,
) -> io::Result<Result<Vec<DigestLine>, DigestProblem>> {
    let file = File::open(path)?;
    let mut reader = BufReader::new(file);
    let mut out = Vec::new();
    let mut prev_sig: Option<[u8; 64]> = None;
    let (mut offset, mut line_no) = (0u64, 0u64);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 || buf.last() != Some(&b'\n') {
            break;
        }
        line_no += 1;
        let problem = |seq, message: String| DigestProblem {
            line: line_no,
            offset,
            seq,
            message,
        };
        let v: Value = match serde_json::from_slice(&buf) {
            Ok(v) => v,
            Err(e) => return Ok(Err(problem(None, format!("the digest is not JSON: {e}")))),
        };
        let seq = v.get("seq").and_then(Value::as_u64);
        let hash = v
            .get("hash")
            .and_then(Value::as_str)
            .and_then(from_hex::<32>);
        let ts = v.get("timestamp").and_then(Value::as_str);
        let sig = v
            .get("sig")
            .and_then(Value::as_str)
            .and_then(from_hex::<64>);
        let this_prev = match v.get("prev_sig") {
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => from_hex::<64>(s).map(Some),
            _ => None,
        };
        let (Some(seq), Some(hash), Some(ts), Some(sig), Some(this_prev)) =
            (seq, hash, ts, sig, this_prev)
        else {
            return Ok(Err(problem(
                seq,
                "the digest lacks a field or holds a malformed one".to_owned(),
            )));
        };
        if this_prev != prev_sig {
            return Ok(Err(problem(
                Some(seq),
                "its prev_sig is not the signature of the digest before it: a digest was deleted, \
                 reordered or inserted"
                    .to_owned(),
            )));
        }
        if let Some(key) = key {
            let message = signed_message(seq, &hash, ts, this_prev.as_ref());
            if key
                .0
                .verify(&message, &Signature::from_bytes(&sig))
                .is_err()
            {
                return Ok(Err(problem(
                    Some(seq),
                    "its signature does not verify with the given public key: the digest was \
                     changed or forged"
                        .to_owned(),
                )));
            }
        }
        out.push(DigestLine {
            seq,
            hash,
            timestamp: ts.to_owned(),
            line: line_no,
            offset,
        });
        prev_sig = Some(sig);
        offset += n as u64;
    }
    Ok(Ok(out))
}
