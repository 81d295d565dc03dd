//! Which request an event belongs to: every event logged while one request is handled
//! records the same `details.request_id`, and `details.trace_id` when the caller sent a W3C
//! `traceparent`. One gRPC call that logs `hp_change`, `mode_switch` and `resume` can then
//! be found as one (`auditlog query --request ID`).
//!
//! Who sets it:
//! - the tonic identity layer (feature `tonic`), from the call's `x-request-id` header when
//!   it is present and sane ([`RequestIds::from_headers`]), else a generated id, and from
//!   its `traceparent`; it also answers with the id in the response's `x-request-id`;
//! - `#[audited]`, for a call made outside any request: it generates an id for the call, so
//!   the call's events share it, and so do audited calls and `log_event`s made inside it;
//! - anything else around a unit of work, with [`scope`] or [`with_request`].
//!
//! Details that already name a `request_id` or `trace_id` keep theirs.
//!
//! ```
//! use audit_runtime::{AuditLogger, MemorySink, Status, audited, request};
//!
//! #[audited(action = "hp_change", logger = logger)]
//! fn set_lr(logger: &AuditLogger) {
//!     // A by-hand event inside the call belongs to the same request.
//!     logger.log_event("mode_switch", Status::Success, None, None).unwrap();
//! }
//!
//! let sink = MemorySink::new();
//! let logger = AuditLogger::in_memory(sink.clone());
//! set_lr(&logger);
//! let events = sink.events();
//! assert_eq!(events[0].details["request_id"], events[1].details["request_id"]);
//!
//! // A middleware that knows the caller's own id makes it the request's.
//! let ids = request::RequestIds::from_header_values(Some("req-42"), None);
//! request::scope(ids, || set_lr(&logger));
//! assert_eq!(sink.events()[2].details["request_id"], "req-42");
//! ```

use std::future::Future;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

pub use super::context::WithContext;
use super::context::{self, Patch};

/// The longest `x-request-id` taken as it is; a longer one is replaced by a generated id.
pub const MAX_REQUEST_ID_LEN: usize = 128;

/// The ids one request's events share: `details.request_id` and, when the caller sent a
/// valid W3C `traceparent`, `details.trace_id` (its 32 hex digits).
///
/// ```
/// use audit_runtime::request::RequestIds;
/// let ids = RequestIds::from_header_values(
///     Some("  req-7 "),
///     Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
/// );
/// assert_eq!(ids.request_id(), "req-7");
/// assert_eq!(ids.trace_id(), Some("4bf92f3577b34da6a3ce929d0e0e4736"));
///
/// // An id that could mislead a reader is not taken: a fresh one is generated.
/// let ids = RequestIds::from_header_values(Some("=HYPERLINK(\"x\")"), Some("garbage"));
/// assert_eq!(ids.request_id().len(), 32);
/// assert_eq!(ids.trace_id(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestIds(Arc<Ids>);

#[derive(Debug, PartialEq, Eq)]
struct Ids {
    request_id: String,
    trace_id: Option<String>,
}

impl RequestIds {
    /// A new request id: 32 lowercase hex digits, unique across processes (a random
    /// per-process prefix and a counter), with no trace id.
    pub fn generate() -> Self {
        RequestIds::new(generated_id(), None)
    }

    /// The ids of a request whose caller sent these header values: `x_request_id` when
    /// it is sane (1 to [`MAX_REQUEST_ID_LEN`] characters of letters, digits and
    /// `- _ . : / + = @ ~`, not starting with a spreadsheet formula character), else a
    /// generated id; the trace id of `traceparent` when it is a valid W3C trace context.
    pub fn from_header_values(x_request_id: Option<&str>, traceparent: Option<&str>) -> Self {
        let request_id = x_request_id
            .map(str::trim)
            .filter(|id| is_sane_request_id(id))
            .map_or_else(generated_id, str::to_owned);
        RequestIds::new(request_id, traceparent.and_then(trace_id_of))
    }

    /// [`RequestIds::from_header_values`] for a request's headers (`x-request-id`,
    /// `traceparent`). Feature `tonic`.
    #[cfg(feature = "tonic")]
    pub fn from_headers(headers: &http::HeaderMap) -> Self {
        let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        RequestIds::from_header_values(value("x-request-id"), value("traceparent"))
    }

    fn new(request_id: String, trace_id: Option<String>) -> Self {
        RequestIds(Arc::new(Ids {
            request_id,
            trace_id,
        }))
    }

    /// What events record as `details.request_id`.
    pub fn request_id(&self) -> &str {
        &self.0.request_id
    }

    /// What events record as `details.trace_id`, if the caller sent a trace context.
    pub fn trace_id(&self) -> Option<&str> {
        self.0.trace_id.as_deref()
    }
}

/// The request current on this thread, if a layer or an `#[audited]` call set one.
///
/// ```
/// use audit_runtime::request::{self, RequestIds};
/// assert_eq!(request::current(), None);
/// let ids = RequestIds::generate();
/// request::scope(ids.clone(), || assert_eq!(request::current(), Some(ids)));
/// ```
pub fn current() -> Option<RequestIds> {
    context::request()
}

fn patch(ids: RequestIds) -> Patch {
    Patch {
        actor: None,
        request: Some(ids),
    }
}

/// Runs `f` with `ids` as the current request.
pub fn scope<R>(ids: RequestIds, f: impl FnOnce() -> R) -> R {
    let _restore = context::enter(&patch(ids));
    f()
}

/// Wraps `future` so that `ids` is the current request whenever it is polled (and while it
/// is dropped, so the event of a cancelled call records it too).
///
/// ```
/// use audit_runtime::{AuditLogger, MemorySink, audited, request::{self, RequestIds}};
///
/// #[audited(action = "evaluation_start", logger = logger)]
/// async fn start(logger: &AuditLogger) {
///     tokio::task::yield_now().await;
/// }
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let sink = MemorySink::new();
/// let logger = AuditLogger::in_memory(sink.clone());
/// let ids = RequestIds::from_header_values(Some("job-9"), None);
/// request::with_request(ids, start(&logger)).await;
/// assert_eq!(sink.events()[0].details["request_id"], "job-9");
/// # });
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn with_request<F: Future>(ids: RequestIds, future: F) -> WithContext<F> {
    WithContext::new(patch(ids), future)
}

/// Whether a caller's `x-request-id` can be recorded as it is: short, made of characters
/// that need no escaping anywhere the log is read, and not a spreadsheet formula.
fn is_sane_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && !id.starts_with(['=', '+', '-', '@'])
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/+=@~".contains(&b))
}

/// The trace id of a W3C `traceparent` (`version-traceid-parentid-flags`), if it is valid:
/// version two hex digits other than `ff` (version `00` has exactly four parts; later
/// versions may add more), a trace id of 32 lowercase hex digits not all zero, a parent id
/// of 16 not all zero, flags of two.
fn trace_id_of(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.trim().split('-');
    let version = parts.next()?;
    let trace_id = parts.next()?;
    let parent_id = parts.next()?;
    let flags = parts.next()?;
    let lower_hex = |s: &str, len: usize| {
        s.len() == len && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    };
    let not_zero = |s: &str| s.bytes().any(|b| b != b'0');
    let valid = lower_hex(version, 2)
        && version != "ff"
        && (version != "00" || parts.next().is_none())
        && lower_hex(trace_id, 32)
        && not_zero(trace_id)
        && lower_hex(parent_id, 16)
        && not_zero(parent_id)
        && lower_hex(flags, 2);
    valid.then(|| trace_id.to_owned())
}

/// 32 hex digits: this process's random prefix, then a counter.
fn generated_id() -> String {
    static PREFIX: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let prefix = *PREFIX.get_or_init(random_u64);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    // One per `#[audited]` call: the digits by table, not through the formatter (which cost
    // about as much as the rest of the call's bookkeeping).
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut digits = Vec::with_capacity(32);
    for word in [prefix, n] {
        digits.extend(
            word.to_be_bytes()
                .iter()
                .flat_map(|&b| [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]]),
        );
    }
    String::from_utf8(digits).unwrap_or_default()
}

/// 64 random bits from the kernel; failing that (no `getrandom`), the time, the process id
/// and an address mixed, which still differ between processes.
fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    // SAFETY: the buffer is valid for writes of its length.
    let got = unsafe { libc::getrandom(bytes.as_mut_ptr().cast(), bytes.len(), 0) };
    if got == bytes.len() as isize {
        return u64::from_ne_bytes(bytes);
    }
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as u64);
    let mixed = nanos ^ (u64::from(std::process::id()) << 32) ^ (&bytes as *const _ as u64);
    // splitmix64's finaliser, so that close inputs give unrelated prefixes.
    let z = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_are_32_hex_digits_and_distinct() {
        let a = RequestIds::generate();
        let b = RequestIds::generate();
        assert_ne!(a, b);
        for id in [a.request_id(), b.request_id()] {
            assert_eq!(id.len(), 32);
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
        }
        assert_eq!(a.request_id()[..16], b.request_id()[..16], "one prefix");
    }

    #[test]
    fn a_sane_request_id_is_kept_and_others_replaced() {
        for id in [
            "req-1",
            "a1b2",
            "tenant/42:job_7",
            "YWJj+ZA==",
            "x".repeat(128).as_str(),
        ] {
            assert_eq!(
                RequestIds::from_header_values(Some(id), None).request_id(),
                id
            );
        }
        for id in [
            "",
            "   ",
            "=cmd|' /C calc'!A0",
            "+1",
            "-2",
            "@SUM(A1)",
            "has space",
            "quote\"",
            "new\nline",
            "ta\tb",
            "naïve",
            "x".repeat(129).as_str(),
        ] {
            let kept = RequestIds::from_header_values(Some(id), None);
            assert_ne!(kept.request_id(), id.trim(), "{id:?} was taken");
            assert_eq!(kept.request_id().len(), 32);
        }
    }

    #[test]
    fn traceparent_follows_w3c_trace_context() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let ok = [
            format!("00-{trace}-00f067aa0ba902b7-01"),
            format!(" 00-{trace}-00f067aa0ba902b7-00 "),
            format!("01-{trace}-00f067aa0ba902b7-01-future-part"),
        ];
        for header in &ok {
            assert_eq!(trace_id_of(header).as_deref(), Some(trace), "{header}");
        }
        let bad = [
            format!("00-{trace}-00f067aa0ba902b7-01-extra"),
            format!("ff-{trace}-00f067aa0ba902b7-01"),
            format!("00-{}-00f067aa0ba902b7-01", "0".repeat(32)),
            format!("00-{trace}-{}-01", "0".repeat(16)),
            format!("00-{}-00f067aa0ba902b7-01", trace.to_uppercase()),
            format!("00-{}-00f067aa0ba902b7-01", &trace[..31]),
            format!("00-{trace}-00f067aa0ba902b7"),
            "garbage".to_owned(),
            String::new(),
        ];
        for header in &bad {
            assert_eq!(trace_id_of(header), None, "{header}");
        }
    }
}
