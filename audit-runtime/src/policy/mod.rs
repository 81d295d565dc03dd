//! What the logger does to an event's values before they reach the file, so that a log can
//! be kept and handed to auditors: secret-named details are redacted (or replaced by a keyed
//! hash, [`HmacKey`]) by default ([`Redaction`]), and an event too large for the log's
//! readers is cut down deterministically, marked, and never dropped ([`SizeLimits`]).
//!
//! Redaction is a step of the one pipeline (`logger::pipeline`), so it applies to every
//! entry point, the pre-init buffer included; the size cap is applied by the log files when
//! they encode an event, since only the encoder knows the event's size without a second
//! serialisation.

pub(crate) mod canonical;
mod hmac_key;
mod redact;
pub(crate) mod size_cap;

pub use hmac_key::{HMAC_KEY_FILE_NAME, HMAC_PREFIX, HmacKey};
pub use redact::{DEFAULT_REDACTED_KEYS, Redaction};
pub(crate) use redact::{KeySlot, Secrets};
pub use size_cap::{
    DEFAULT_MAX_CSV_DETAILS_CHARS, DEFAULT_MAX_EVENT_BYTES, MIN_EVENT_BYTES, TRUNCATED_KEY,
};
