//! Redaction by default: detail keys that name secrets are written as `"[REDACTED]"` (or as
//! a keyed hash) at any depth, whichever way the event came in.
//!
//! A key matches an entry of the list when the key, *normalised* (ASCII letters lowercased,
//! so camelCase folds; the separators `_ - .` and space removed), equals the normalised
//! entry or ends with it: `Api-Key`, `apiKey`, `API_KEY` and `x-api-key` all match
//! `api_key`; `db_password` matches `password`. Suffixes, not substrings, so that
//! `tokenizer`, `num_tokens`, `token_count` or `secret_sauce_ratio` are kept; and a key
//! ending in `token` whose word before it names a tokenizer's special token (`pad_token`,
//! `eos_token`, `mask_token`, ...) or a count (`max_token`) is kept too, since those are
//! model configuration, not credentials.

use std::path::PathBuf;
use std::sync::OnceLock;

use serde_json::{Map, Value};

use super::HmacKey;
use crate::MAX_DETAILS_DEPTH;
use crate::logger::pipeline::REDACTED;

/// The keys redacted by default (matched normalised, as suffixes; see [`Redaction`]).
pub const DEFAULT_REDACTED_KEYS: &[&str] = &[
    "password",
    "passwords",
    "passwd",
    "passphrase",
    "secret",
    "secrets",
    "secret_key",
    "token",
    "api_key",
    "api_keys",
    "authorization",
    "cookie",
    "cookies",
    "private_key",
    "credential",
    "credentials",
];

/// Words that, right before `token`, make the key a tokenizer's or a model's setting
/// rather than a credential (normalised; Hugging Face tokenizer and processor configs).
const TOKEN_SETTING_WORDS: &[&str] = &[
    "pad", "eos", "bos", "unk", "sep", "cls", "mask", "special", "start", "end", "image", "audio",
    "video", "vision", "num", "max", "min", "total", "per", "first", "last",
];

/// Which detail keys a logger redacts by default, and how: see the [module's
/// rules](self) for what matches. Set with
/// [`AuditLoggerBuilder::redaction`](crate::AuditLoggerBuilder::redaction); keys named in
/// `#[audited(redact(..))]` are redacted as well, whatever this says.
///
/// ```
/// use audit_runtime::Redaction;
/// let default = Redaction::default();
/// assert!(default.matches("password") && default.matches("db_password"));
/// assert!(default.matches("apiKey") && default.matches("X-Api-Key") && default.matches("API_KEY"));
/// assert!(!default.matches("tokenizer") && !default.matches("max_tokens") && !default.matches("pad_token"));
///
/// let more = Redaction::default().with_keys(["ssn", "email"]);
/// assert!(more.matches("user.email") && more.matches("password"));
/// let only = Redaction::only(["ssn"]);
/// assert!(only.matches("patient_ssn") && !only.matches("password"));
/// assert!(!Redaction::none().matches("password"));
/// // Hash instead of "[REDACTED]" (needs the log's key file; see `hmac_key_file`):
/// assert!(Redaction::default().hashed(true).is_hashed());
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Redaction {
    /// The entries, normalised and reversed (matching compares key ends).
    reversed: Vec<Box<[u8]>>,
    /// The entries' last two normalised bytes, as bits of [`tail_bit`]: most keys end in
    /// two bytes no entry ends in and are passed over without comparing them to each entry
    /// (every detail key of every event is matched).
    endings: [u64; 4],
    /// Some entry is one byte long: the filter above cannot rule anything out.
    short_entry: bool,
    hashed: bool,
}

/// The bit of `endings` for a reversed, normalised tail's first two bytes.
fn tail_bit(tail: &[u8]) -> usize {
    match tail {
        [last, before, ..] => (usize::from(*last) * 31 + usize::from(*before)) & 255,
        _ => 0,
    }
}

impl Default for Redaction {
    /// [`DEFAULT_REDACTED_KEYS`], written as `"[REDACTED]"`.
    fn default() -> Self {
        Redaction::only(DEFAULT_REDACTED_KEYS.iter().copied())
    }
}

impl Redaction {
    /// Redacts nothing by default (the keys of `#[audited(redact(..))]` still are).
    pub fn none() -> Self {
        Redaction {
            reversed: Vec::new(),
            endings: [0; 4],
            short_entry: false,
            hashed: false,
        }
    }

    /// Exactly these keys (replacing the default list).
    pub fn only<I, K>(keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        Redaction::none().with_keys(keys)
    }

    /// These keys as well.
    pub fn with_keys<I, K>(mut self, keys: I) -> Self
    where
        I: IntoIterator<Item = K>,
        K: AsRef<str>,
    {
        for key in keys {
            let mut entry = normalise(key.as_ref()).into_bytes();
            entry.reverse();
            // An entry that normalises to nothing would match every key.
            if !entry.is_empty() && !self.reversed.iter().any(|e| **e == *entry) {
                let bit = tail_bit(&entry);
                self.endings[bit / 64] |= 1 << (bit % 64);
                self.short_entry |= entry.len() < 2;
                self.reversed.push(entry.into_boxed_slice());
            }
        }
        self
    }

    /// Writes matched values as `"hmac-sha256:<hex>"` with the log's key instead of
    /// `"[REDACTED]"`.
    pub fn hashed(mut self, hashed: bool) -> Self {
        self.hashed = hashed;
        self
    }

    /// Whether matched values are hashed.
    pub fn is_hashed(&self) -> bool {
        self.hashed
    }

    /// The entries, normalised.
    pub fn keys(&self) -> impl Iterator<Item = String> + '_ {
        self.reversed.iter().map(|e| {
            let mut bytes = e.to_vec();
            bytes.reverse();
            String::from_utf8_lossy(&bytes).into_owned()
        })
    }

    /// Whether a detail named `key` is redacted.
    pub fn matches(&self, key: &str) -> bool {
        if self.reversed.is_empty() {
            return false;
        }
        // The key's normalised end, reversed: enough for every default entry and the words
        // before `token`; longer entries take the slow path below.
        const TAIL: usize = 32;
        let mut tail = [0u8; TAIL];
        let mut len = 0;
        let mut complete = true;
        for &b in key.as_bytes().iter().rev() {
            if matches!(b, b'_' | b'-' | b'.' | b' ') {
                continue;
            }
            if len == TAIL {
                complete = false;
                break;
            }
            tail[len] = b.to_ascii_lowercase();
            len += 1;
        }
        let tail = &tail[..len];
        let bit = tail_bit(tail);
        if !self.short_entry && self.endings[bit / 64] & (1 << (bit % 64)) == 0 {
            return false;
        }
        self.reversed.iter().any(|entry| {
            if entry.len() > tail.len() {
                // Only a key longer than the buffer can still match a long entry.
                return !complete && {
                    let mut whole = normalise(key).into_bytes();
                    whole.reverse();
                    whole.starts_with(entry)
                };
            }
            tail.starts_with(entry) && !(&**entry == b"nekot" && is_token_setting(key))
        })
    }
}

/// Whether `key` ends with the word `token` right after a word of [`TOKEN_SETTING_WORDS`]
/// (words split at separators and at lower-to-upper case changes: `pad_token`,
/// `maskToken`), so that `admin_token` or `backend_token` are still credentials.
fn is_token_setting(key: &str) -> bool {
    let mut words = Vec::new();
    let mut start = 0;
    let bytes = key.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if matches!(b, b'_' | b'-' | b'.' | b' ') {
            words.push(&key[start..i]);
            start = i + 1;
        } else if i > start && b.is_ascii_uppercase() && bytes[i - 1].is_ascii_lowercase() {
            words.push(&key[start..i]);
            start = i;
        }
    }
    words.push(&key[start..]);
    words.retain(|w| !w.is_empty());
    match words.as_slice() {
        [.., before, last] if last.eq_ignore_ascii_case("token") => TOKEN_SETTING_WORDS
            .iter()
            .any(|w| before.eq_ignore_ascii_case(w)),
        _ => false,
    }
}

/// A key as matched: ASCII lowercased, `_ - .` and spaces removed.
fn normalise(key: &str) -> String {
    key.chars()
        .filter(|c| !matches!(c, '_' | '-' | '.' | ' '))
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Where a logger's HMAC key comes from.
#[derive(Debug)]
pub(crate) enum KeySlot {
    /// Loaded (or made) when the logger was built.
    Ready(HmacKey),
    /// Loaded from (or created at) the path the first time a value is hashed, so that a log
    /// whose events never hash anything gets no key file; `None` once loading failed (the
    /// values are then written as `"[REDACTED]"`, never in clear).
    Lazy {
        path: PathBuf,
        key: OnceLock<Option<HmacKey>>,
    },
    /// No key: hashed values are written as `"[REDACTED]"` (events finished before a
    /// logger exists).
    Absent,
}

impl KeySlot {
    fn get(&self) -> Option<&HmacKey> {
        match self {
            KeySlot::Ready(key) => Some(key),
            KeySlot::Lazy { path, key } => key
                .get_or_init(|| match HmacKey::load_or_create(path) {
                    Ok(key) => Some(key),
                    Err(e) => {
                        tracing::warn!(
                            target: "audit",
                            "values marked for keyed hashing are written as \"[REDACTED]\": \
                             {e:?}"
                        );
                        None
                    }
                })
                .as_ref(),
            KeySlot::Absent => None,
        }
    }
}

/// A logger's redaction settings and key: what the pipeline applies to every event.
#[derive(Debug)]
pub(crate) struct Secrets {
    pub(crate) redaction: Redaction,
    pub(crate) key: KeySlot,
}

/// How one matched value is written.
#[derive(Clone, Copy)]
enum Mark {
    Redact,
    Hash,
}

impl Secrets {
    /// The default list, no key: for events finished before a logger exists.
    pub(crate) fn pre_init() -> &'static Secrets {
        static PRE_INIT: OnceLock<Secrets> = OnceLock::new();
        PRE_INIT.get_or_init(|| Secrets {
            redaction: Redaction::default(),
            key: KeySlot::Absent,
        })
    }

    /// Replaces, at any depth, the values of keys that `redact` names exactly or the
    /// redaction list matches with `"[REDACTED]"`, and those `hash` names exactly with
    /// their keyed hash. Returns how many values were replaced.
    ///
    /// Walks at most [`MAX_DETAILS_DEPTH`] levels: anything deeper makes the event invalid
    /// (`event::prepare`, after this) unless it sits under a replaced key, which is replaced
    /// before the walk would reach it. A replaced value is dropped without recursion.
    pub(crate) fn apply(
        &self,
        details: &mut Map<String, Value>,
        redact: &[&str],
        hash: &[&str],
    ) -> usize {
        if self.redaction.reversed.is_empty() && redact.is_empty() && hash.is_empty() {
            return 0;
        }
        self.walk_map(details, redact, hash, MAX_DETAILS_DEPTH)
    }

    fn walk_map(
        &self,
        map: &mut Map<String, Value>,
        redact: &[&str],
        hash: &[&str],
        levels: usize,
    ) -> usize {
        let mut replaced = 0;
        for (key, value) in map.iter_mut() {
            let mark = if redact.contains(&key.as_str()) {
                Some(Mark::Redact)
            } else if hash.contains(&key.as_str()) {
                Some(Mark::Hash)
            } else if self.redaction.matches(key) {
                Some(if self.redaction.hashed {
                    Mark::Hash
                } else {
                    Mark::Redact
                })
            } else {
                None
            };
            match mark {
                Some(mark) => {
                    self.replace(value, mark);
                    replaced += 1;
                }
                None => replaced += self.walk_value(value, redact, hash, levels),
            }
        }
        replaced
    }

    fn walk_value(
        &self,
        value: &mut Value,
        redact: &[&str],
        hash: &[&str],
        levels: usize,
    ) -> usize {
        let Some(levels) = levels.checked_sub(1) else {
            return 0;
        };
        match value {
            Value::Object(map) => self.walk_map(map, redact, hash, levels),
            Value::Array(items) => items
                .iter_mut()
                .map(|item| self.walk_value(item, redact, hash, levels))
                .sum(),
            _ => 0,
        }
    }

    fn replace(&self, value: &mut Value, mark: Mark) {
        // The key is looked up (and, lazily, its file created) only when a value is hashed.
        let key = match mark {
            Mark::Hash => self.key.get(),
            Mark::Redact => None,
        };
        let text = key.map_or_else(|| String::from(REDACTED), |key| key.hash(value));
        crate::dismantle(std::mem::replace(value, Value::String(text)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn secrets(redaction: Redaction) -> Secrets {
        Secrets {
            redaction,
            key: KeySlot::Absent,
        }
    }

    #[test]
    fn secret_names_match_in_any_case_and_spelling() {
        let r = Redaction::default();
        for key in [
            "password",
            "Password",
            "PASSWORD",
            "passwd",
            "db_password",
            "dbPassword",
            "user.password",
            "admin password",
            "secret",
            "client_secret",
            "clientSecret",
            "token",
            "access_token",
            "accessToken",
            "refresh-token",
            "hub_token",
            "use_auth_token",
            "HF_TOKEN",
            "admin_token",
            "backend_token",
            "adminToken",
            "api_key",
            "apikey",
            "apiKey",
            "Api-Key",
            "API_KEY",
            "x-api-key",
            "X-Api-Key",
            "openai_api_key",
            "authorization",
            "Authorization",
            "proxy-authorization",
            "cookie",
            "Set-Cookie",
            "cookies",
            "private_key",
            "privateKey",
            "ssh_private_key",
            "credential",
            "credentials",
            "aws_credentials",
            "aws_secret_key",
            "passphrase",
            "secrets",
        ] {
            assert!(r.matches(key), "{key} must be redacted");
        }
    }

    /// Hyperparameters and model settings an ML experiment server logs all the time (Hugging
    /// Face `TrainingArguments`, tokenizer and generation configs, PyTorch optimisers and
    /// schedulers): none of them is a secret, and none may be redacted.
    #[test]
    fn ml_hyperparameter_names_are_not_redacted() {
        let r = Redaction::default();
        for key in [
            "tokenizer",
            "tokenizer_name",
            "tokenizer_config",
            "tokenizer_name_or_path",
            "num_tokens",
            "max_tokens",
            "max_new_tokens",
            "min_new_tokens",
            "token_count",
            "tokens_per_second",
            "total_tokens",
            "prompt_tokens",
            "completion_tokens",
            "max_token",
            "num_token",
            "pad_token",
            "eos_token",
            "bos_token",
            "unk_token",
            "sep_token",
            "cls_token",
            "mask_token",
            "image_token",
            "decoder_start_token",
            "additional_special_tokens",
            "pad_token_id",
            "eos_token_id",
            "bos_token_id",
            "decoder_start_token_id",
            "add_special_tokens",
            "skip_special_tokens",
            "return_token_type_ids",
            "clean_up_tokenization_spaces",
            "secret_sauce_ratio",
            "secretSauceRatio",
            "learning_rate",
            "lr",
            "batch_size",
            "per_device_train_batch_size",
            "gradient_accumulation_steps",
            "weight_decay",
            "warmup_steps",
            "warmup_ratio",
            "num_train_epochs",
            "max_steps",
            "seed",
            "fp16",
            "bf16",
            "adam_beta1",
            "adam_epsilon",
            "max_grad_norm",
            "lr_scheduler_type",
            "optimizer",
            "momentum",
            "betas",
            "eps",
            "vocab_size",
            "hidden_size",
            "num_attention_heads",
            "num_key_value_heads",
            "key_dim",
            "attention_key_size",
            "max_position_embeddings",
            "model_max_length",
            "push_to_hub",
            "hub_model_id",
            "hub_private_repo",
            "report_to",
            "run_name",
            "output_dir",
            "logging_steps",
            "save_steps",
            "eval_steps",
            "temperature",
            "top_k",
            "top_p",
            "num_beams",
            "repetition_penalty",
            "sample_ids",
            "tag_name",
            "checkpoint_id",
            "passkey_length",
            "cookie_cutter_crop",
            "credential_scope",
            "authorization_required",
            "password_policy_version",
        ] {
            assert!(!r.matches(key), "{key} must not be redacted");
        }
    }

    #[test]
    fn entries_can_be_added_replaced_or_removed() {
        let r = Redaction::default().with_keys(["SSN", "e-mail"]);
        assert!(r.matches("patient_ssn") && r.matches("Email") && r.matches("token"));
        let only = Redaction::only(["ssn"]);
        assert!(!only.matches("password"));
        assert!(!Redaction::none().matches("password"));
        // An entry that normalises to nothing is ignored rather than matching everything.
        assert!(!Redaction::only(["_", ""]).matches("anything"));
        // An entry longer than the fast path's window.
        let long = Redaction::only(["a_very_long_secret_name_beyond_thirty_two_bytes"]);
        assert!(long.matches("my.A_VERY_LONG_SECRET_NAME_BEYOND_THIRTY_TWO_BYTES"));
        assert!(!long.matches("A_VERY_LONG_SECRET_NAME_BEYOND_THIRTY_TWO_BYTE"));
        assert_eq!(
            Redaction::only(["Api-Key"]).keys().collect::<Vec<_>>(),
            ["apikey"]
        );
        // One-letter entries and keys, which the filter on the last two letters cannot judge.
        let one = Redaction::only(["x"]).with_keys(["pin"]);
        assert!(one.matches("x") && one.matches("Max") && one.matches("user_PIN"));
        assert!(!one.matches("y") && !one.matches("pins"));
        assert!(!Redaction::default().matches("d") && !Redaction::default().matches(""));
    }

    /// The filter on a key's last two letters only ever skips keys no entry can match: the
    /// result is the same as comparing the key with every entry.
    #[test]
    fn the_ending_filter_agrees_with_comparing_every_entry() {
        let all = Redaction::default().with_keys(["ssn", "e", "patient.email"]);
        let by_comparing = |key: &str| {
            let mut k = normalise(key).into_bytes();
            k.reverse();
            all.reversed.iter().any(|entry| k.starts_with(entry))
                && !(all
                    .reversed
                    .iter()
                    .all(|e| &**e == b"nekot" || !k.starts_with(e))
                    && is_token_setting(key))
        };
        let words = [
            "", "db", "Api", "key", "KEY", "token", "pad", "Secret", "s", "pass", "word", "e",
            "mail", "patient", "ssn", "x", "cookie", "wd", "er",
        ];
        for a in words {
            for b in words {
                for sep in ["", "_", "-", ".", " "] {
                    let key = format!("{a}{sep}{b}");
                    assert_eq!(all.matches(&key), by_comparing(&key), "{key:?}");
                }
            }
        }
    }

    #[test]
    fn any_value_at_any_depth_is_replaced() {
        let mut details = json!({
            "password": {"nested": [1, 2]},
            "req": {"headers": [{"Authorization": "Bearer x", "accept": "*/*"}]},
            "token_count": 5,
            "apiKey": 42,
        })
        .as_object()
        .unwrap()
        .clone();
        let n = secrets(Redaction::default()).apply(&mut details, &[], &[]);
        assert_eq!(n, 3);
        assert_eq!(
            Value::Object(details),
            json!({
                "password": REDACTED,
                "req": {"headers": [{"Authorization": REDACTED, "accept": "*/*"}]},
                "token_count": 5,
                "apiKey": REDACTED,
            })
        );
    }

    #[test]
    fn site_keys_and_hashing() {
        let dir = tempfile::tempdir().unwrap();
        let key = HmacKey::load_or_create(dir.path().join("k")).unwrap();
        let s = Secrets {
            redaction: Redaction::default().hashed(true),
            key: KeySlot::Ready(key.clone()),
        };
        let mut details = json!({"user": "alice", "note": "n", "password": "p", "t": {"a": 1}})
            .as_object()
            .unwrap()
            .clone();
        assert_eq!(s.apply(&mut details, &["note"], &["user", "t"]), 4);
        assert_eq!(details["note"], REDACTED);
        assert_eq!(details["user"], key.hash(&json!("alice")));
        assert_eq!(details["password"], key.hash(&json!("p")));
        assert_eq!(details["t"], key.hash_bytes(br#"{"a":1}"#));
        // Without a key (before a logger exists), hashing falls back to redaction.
        let mut details = json!({"user": "alice"}).as_object().unwrap().clone();
        secrets(Redaction::none()).apply(&mut details, &[], &["user"]);
        assert_eq!(details["user"], REDACTED);
    }

    #[test]
    fn a_deep_value_under_a_secret_key_is_replaced_without_recursion() {
        let mut deep = json!("x");
        for _ in 0..100_000 {
            // Not `json!({"a": deep})`, which serialises `deep` again, recursively.
            let mut level = Map::new();
            level.insert("a".into(), deep);
            deep = Value::Object(level);
        }
        let mut details = Map::new();
        details.insert("secret".into(), deep);
        assert_eq!(
            secrets(Redaction::default()).apply(&mut details, &[], &[]),
            1
        );
        assert_eq!(details["secret"], REDACTED);
    }
}
