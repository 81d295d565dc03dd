//! Tamper evidence (issue 11): a hash chain through the log's events, signed digests beside
//! it, and the checks `auditlog verify` makes.
//!
//! Turned on with [`AuditLoggerBuilder::tamper_evident`](crate::AuditLoggerBuilder::tamper_evident)
//! (the chain) or [`signing_key`](crate::AuditLoggerBuilder::signing_key) (chain and signed
//! digests; also the `AUDIT_LOG_SIGNING_KEY` environment variable).
//!
//! - Every event carries its link in `details._audit.chain`: `{"seq":N,"hash":"<hex>"}`
//!   (a file's first link also `"prev":"<hex>","first":true`), so the spec's five fields,
//!   its jq recipes and spreadsheets are untouched. See [`chain`] for the exact recipe and
//!   [`canonical`] for the canonical JSON (RFC 8785) the content hash is taken over.
//! - With a signing key, the chain's head is signed (Ed25519) every 1,000 events or 60 s
//!   ([`DigestEvery`]; a timer thread signs once the interval has passed, events or not)
//!   and on flush and drop, into `<log>.digests` ([`digest`]).
//! - [`ChainVerifier`] checks a stream of events against the chain and the digests.
//!
//! ```
//! use audit_runtime::{AuditLogger, Format, Status};
//! use audit_runtime::integrity::{ChainVerifier, FileOrder};
//! let dir = tempfile::tempdir()?;
//! let logger = AuditLogger::builder(dir.path()).format(Format::Json).tamper_evident(true).build()?;
//! logger.log_event("pause", Status::Success, None, None)?;
//! logger.log_event("resume", Status::Success, None, None)?;
//! let mut check = ChainVerifier::new(FileOrder::NewestFirst, Vec::new());
//! for event in audit_runtime::read::open_events(logger.path().unwrap())? {
//!     let event = event?;
//!     check.event(&event, 0, 0).unwrap();
//! }
//! assert_eq!(check.finish().unwrap().head.unwrap().0, 2);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod canonical;
pub mod chain;
pub mod digest;
pub(crate) mod timer;
mod verify;
pub(crate) mod writer;

pub use chain::{CHAIN_KEY, GENESIS, Hash, Head, Link, content_hash, link_hash};
pub use digest::{
    DEFAULT_DIGEST_EVENTS, DEFAULT_DIGEST_INTERVAL, DigestEvery, DigestLine, DigestProblem,
    PRIVATE_KEY_HEADER, PUBLIC_KEY_HEADER, PublicKey, SIGNING_KEY_ENV_VAR, SigningKey,
    read_digests, sidecar_path,
};
pub use verify::{
    ChainProblem, ChainReport, ChainVerifier, FileOrder, Prechecked, Problem, load_digests,
    require_signed, short, verify_file,
};

/// How a logger protects its log, from the builder.
#[derive(Debug, Clone, Default)]
pub(crate) struct IntegrityConfig {
    pub(crate) chain: bool,
    pub(crate) key: Option<std::path::PathBuf>,
    pub(crate) every: Option<DigestEvery>,
}
