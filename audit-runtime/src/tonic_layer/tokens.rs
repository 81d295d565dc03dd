//! API tokens and their names: parsing `GRPC_AUTH_TOKENS`, and fingerprints that let a log
//! tell tokens apart without ever containing one.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use sha2::{Digest, Sha256};

/// The environment variable that configures tokens: see [`TokenMap::parse`].
pub const AUTH_TOKENS_ENV_VAR: &str = "GRPC_AUTH_TOKENS";

/// The SHA-256 of a token; the map is keyed by it so the raw tokens are not kept around and
/// a lookup compares digests, not secrets.
type TokenDigest = [u8; 32];

fn digest(token: &str) -> TokenDigest {
    Sha256::digest(token.as_bytes()).into()
}

/// How a token appears in the log: `token:` and the first 8 hex digits of its SHA-256.
///
/// Enough to tell a handful of tokens apart and to find which one acted, useless for
/// recovering the token.
///
/// ```
/// use audit_runtime::tonic_layer::token_fingerprint;
/// assert_eq!(token_fingerprint("s3cret"), "token:1ec1c26b");
/// ```
pub fn token_fingerprint(token: &str) -> String {
    let d = digest(token);
    format!("token:{:02x}{:02x}{:02x}{:02x}", d[0], d[1], d[2], d[3])
}

/// A `GRPC_AUTH_TOKENS` value that cannot be used; the message says which entry and why
/// without repeating the token.
///
/// ```
/// use audit_runtime::tonic_layer::TokenMap;
/// let err = TokenMap::parse("alice:tok-a, bob:").unwrap_err();
/// assert_eq!(err.entry, 2);
/// assert_eq!(err.to_string(), "GRPC_AUTH_TOKENS: entry 2 has an empty token");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{AUTH_TOKENS_ENV_VAR}: entry {entry} {problem}")]
pub struct TokenSpecError {
    /// 1-based position of the entry in the comma-separated list.
    pub entry: usize,
    /// What is wrong with it.
    pub problem: &'static str,
}

/// The accepted tokens, each with the name it is logged under (or none: a *bare* token,
/// logged by its [fingerprint](token_fingerprint)).
#[derive(Clone, Default)]
pub struct TokenMap {
    by_digest: HashMap<TokenDigest, Accepted>,
}

/// What a configured token is logged as: made once, when the map is parsed, and shared by
/// every call that presents the token (no copy of the name, no second digest for a bare
/// token's fingerprint).
#[derive(Clone)]
struct Accepted {
    actor: Arc<str>,
    /// Given a name (`name:token`), not bare: only names are shown by `Debug`.
    named: bool,
}

impl fmt::Debug for TokenMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Names only: a token must never reach a log through a Debug print.
        let mut names: Vec<&str> = self
            .by_digest
            .values()
            .filter(|a| a.named)
            .map(|a| &*a.actor)
            .collect();
        names.sort_unstable();
        f.debug_struct("TokenMap")
            .field("names", &names)
            .field("tokens", &self.by_digest.len())
            .finish()
    }
}

impl TokenMap {
    /// Parses the `GRPC_AUTH_TOKENS` format: comma-separated entries, each `name:token` (the
    /// caller is logged as `name`) or a bare `token` (logged as `token:<8 hex digits>`).
    /// The name ends at the first `:`, so tokens may contain colons; spaces around entries,
    /// names and tokens are ignored, and empty entries are skipped.
    ///
    /// ```
    /// use audit_runtime::tonic_layer::TokenMap;
    /// let tokens = TokenMap::parse("alice:tok-a, bob:tok:b, tok-c")?;
    /// assert_eq!(tokens.actor_for("tok-a").as_deref(), Some("alice"));
    /// assert_eq!(tokens.actor_for("tok:b").as_deref(), Some("bob"));
    /// assert!(tokens.actor_for("tok-c").unwrap().starts_with("token:"));
    /// assert_eq!(tokens.actor_for("nope"), None);
    /// # Ok::<(), audit_runtime::tonic_layer::TokenSpecError>(())
    /// ```
    pub fn parse(spec: &str) -> Result<Self, TokenSpecError> {
        let mut by_digest = HashMap::new();
        for (i, entry) in spec.split(',').enumerate() {
            let entry = entry.trim();
            if entry.is_empty() {
                continue;
            }
            let fail = |problem| TokenSpecError {
                entry: i + 1,
                problem,
            };
            let (name, token) = match entry.split_once(':') {
                Some((name, token)) => {
                    let name = name.trim();
                    if name.is_empty() {
                        return Err(fail("has an empty name before ':'"));
                    }
                    if name.starts_with("token") || name.starts_with("peer") {
                        return Err(fail(
                            "has a name starting with \"token\" or \"peer\", which would be \
                             mistaken for a fingerprint or an address",
                        ));
                    }
                    (Some(name.to_owned()), token.trim())
                }
                None => (None, entry),
            };
            if token.is_empty() {
                return Err(fail("has an empty token"));
            }
            let accepted = match name {
                Some(name) => Accepted {
                    actor: Arc::from(name),
                    named: true,
                },
                None => Accepted {
                    actor: Arc::from(token_fingerprint(token)),
                    named: false,
                },
            };
            if by_digest.insert(digest(token), accepted).is_some() {
                return Err(fail("repeats a token given earlier"));
            }
        }
        Ok(TokenMap { by_digest })
    }

    /// Reads [`AUTH_TOKENS_ENV_VAR`]; `None` when it is unset or lists no token (then calls are
    /// not authenticated, only identified).
    pub fn from_env() -> Result<Option<Self>, TokenSpecError> {
        match std::env::var(AUTH_TOKENS_ENV_VAR) {
            Ok(spec) => {
                let map = Self::parse(&spec)?;
                Ok((!map.is_empty()).then_some(map))
            }
            Err(_) => Ok(None),
        }
    }

    /// The actor a valid `token` is logged as, or `None` if it is not one of the map's.
    pub fn actor_for(&self, token: &str) -> Option<String> {
        self.shared_actor_for(token)
            .map(|actor| String::from(&*actor))
    }

    /// [`TokenMap::actor_for`] as the string the map keeps, shared rather than copied.
    pub(crate) fn shared_actor_for(&self, token: &str) -> Option<Arc<str>> {
        self.by_digest
            .get(&digest(token))
            .map(|accepted| accepted.actor.clone())
    }

    /// How many tokens are accepted.
    pub fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// Whether no token is accepted.
    pub fn is_empty(&self) -> bool {
        self.by_digest.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_is_the_sha256_prefix() {
        // sha256("abc") = ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
        assert_eq!(token_fingerprint("abc"), "token:ba7816bf");
        assert_eq!(token_fingerprint("abc").len(), "token:".len() + 8);
    }

    #[test]
    fn names_bare_tokens_spaces_and_colons() {
        let map = TokenMap::parse(" alice : a1 ,, bob:b:2 ,bare ,").unwrap();
        assert_eq!(map.len(), 3);
        assert_eq!(map.actor_for("a1").as_deref(), Some("alice"));
        assert_eq!(map.actor_for("b:2").as_deref(), Some("bob"));
        assert_eq!(map.actor_for("bare"), Some(token_fingerprint("bare")));
        assert_eq!(map.actor_for("a"), None);
        assert_eq!(map.actor_for(""), None);
    }

    #[test]
    fn every_call_shares_the_actor_made_at_parse_time() {
        let map = TokenMap::parse("alice:a1,bare").unwrap();
        for token in ["a1", "bare"] {
            let (first, second) = (map.shared_actor_for(token), map.shared_actor_for(token));
            let (first, second) = (first.unwrap(), second.unwrap());
            assert!(Arc::ptr_eq(&first, &second), "{token}: copied per call");
            assert_eq!(Some(String::from(&*first)), map.actor_for(token));
        }
        assert_eq!(
            map.shared_actor_for("bare").as_deref(),
            Some(&*token_fingerprint("bare"))
        );
        assert_eq!(map.shared_actor_for("nope"), None);
    }

    #[test]
    fn empty_spec_is_an_empty_map() {
        assert!(TokenMap::parse("").unwrap().is_empty());
        assert!(TokenMap::parse(" , ").unwrap().is_empty());
    }

    #[test]
    fn bad_entries_are_named_by_position() {
        let e = TokenMap::parse("alice:a1,:x").unwrap_err();
        assert_eq!(e.entry, 2);
        assert!(e.to_string().contains("empty name"));
        assert_eq!(
            TokenMap::parse("bob:").unwrap_err().problem,
            "has an empty token"
        );
        assert_eq!(TokenMap::parse("a:t,b:t").unwrap_err().entry, 2);
        assert!(TokenMap::parse("token:abc").is_err());
    }

    #[test]
    fn debug_never_shows_a_token() {
        let map = TokenMap::parse("alice:super-secret-token,bare-secret").unwrap();
        let shown = format!("{map:?}");
        assert!(shown.contains("alice"));
        assert!(!shown.contains("secret"), "{shown}");
    }

    #[test]
    fn errors_never_show_a_token() {
        let e = TokenMap::parse("a:hunter2,b:hunter2").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }
}
