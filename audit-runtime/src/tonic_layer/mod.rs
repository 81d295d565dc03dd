//! Who did it, for tonic servers (feature `tonic`): a tower layer that resolves the caller of
//! each gRPC call and makes it the [actor](crate::actor) of every event logged while the
//! call's handler runs, so `#[audited]` handlers record it as `details.actor` unchanged.
//!
//! ```no_run
//! # async fn serve(svc: impl Clone) {}
//! use audit_runtime::{Action, tonic_layer::IdentityLayer};
//! let layer = IdentityLayer::from_env()?          // GRPC_AUTH_TOKENS="alice:tok-a,bob:tok-b"
//!     .action_for("/ExperimentService/RestoreCheckpoint", Action::CheckpointRestore);
//! // tonic::transport::Server::builder().layer(layer).add_service(...)
//! # Ok::<(), audit_runtime::tonic_layer::TokenSpecError>(())
//! ```
//!
//! The caller, first match wins:
//! 1. a token, from `authorization: Bearer <token>` or else `x-api-key: <token>`, logged as
//!    its name in `GRPC_AUTH_TOKENS` (see [`TokenMap::parse`]), or, for a bare or unknown
//!    token, as `token:` plus the first 8 hex digits of its SHA-256 — never the token itself;
//! 2. else the peer address, as `peer:<ip>:<port>`.
//!
//! When tokens are configured, a call without one of them never reaches the service: it is
//! answered `UNAUTHENTICATED`, and the refusal is itself logged as a `failed` event. Its
//! action is the one registered for the method with [`IdentityLayer::action_for`] (so a
//! refused `RestoreCheckpoint` counts as a failed `checkpoint_restore`), or, for methods
//! that map to several actions or none, [`DEFAULT_REJECTION_ACTION`]. Its details are
//! `method`, `actor` (the presented token's fingerprint, or the peer), `grpc_code`
//! (`"Unauthenticated"`, spelled as `#[audited]` spells gRPC codes) and `reason`.
//!
//! Actions and methods are checked when the layer is configured, not when a call is refused
//! (issue #6: `action_for(path, "hp_chnage")` and a path missing the proto package used to
//! be accepted, and the refusals were logged as `access_denied` or under the typo): the
//! action is an [`AuditAction`] (a built-in [`Action`](crate::Action) or an enum of your
//! own), and a method path that cannot be a gRPC path panics. For a tonic-generated server,
//! [`IdentityLayer::action_for_method`] takes the service's full name (with its package)
//! from the generated code, so the package cannot be forgotten.
//!
//! This module resolves identities and refuses calls; it does not decode messages or know
//! any service's actions beyond what it is told.

mod tokens;

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use serde_json::{Map, Value};
use tonic::transport::server::TcpConnectInfo;

use crate::logger::context::{Patch, WithContext};
use crate::logger::pipeline::{Ambient, Draft};
use crate::request::RequestIds;
use crate::{AuditAction, AuditLogger, Status};

pub use tokens::{AUTH_TOKENS_ENV_VAR, TokenMap, TokenSpecError, token_fingerprint};

/// The action a refused call is logged under when its method has no single action.
pub const DEFAULT_REJECTION_ACTION: &str = "access_denied";

/// The caller of one call, as resolved from its metadata and connection
/// ([`IdentityLayer::resolve`]).
///
/// ```
/// use audit_runtime::tonic_layer::{Caller, IdentityLayer, TokenMap, token_fingerprint};
/// let layer = IdentityLayer::new().tokens(TokenMap::parse("alice:tok-a")?);
/// let peer = "10.0.0.7:4242".parse().ok();
/// let mut headers = http::HeaderMap::new();
/// assert_eq!(layer.resolve(&headers, peer), Caller::Anonymous(Some("peer:10.0.0.7:4242".into())));
///
/// headers.insert("x-api-key", "tok-a".parse()?);
/// assert_eq!(layer.resolve(&headers, peer), Caller::Known("alice".into()));
///
/// headers.insert("x-api-key", "tok-b".parse()?);
/// let caller = layer.resolve(&headers, peer);
/// assert_eq!(caller, Caller::UnknownToken(token_fingerprint("tok-b")));
/// assert_eq!(caller.actor(), Some(token_fingerprint("tok-b").as_str()));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Caller {
    /// A token that `GRPC_AUTH_TOKENS` accepts, with the actor it is logged as.
    Known(String),
    /// A token that is not configured (or no tokens are), logged by fingerprint.
    UnknownToken(String),
    /// No token: the peer address, `peer:<ip>:<port>`, if the transport knows it.
    Anonymous(Option<String>),
}

impl Caller {
    /// What goes into `details.actor`, if anything is known.
    pub fn actor(&self) -> Option<&str> {
        match self {
            Caller::Known(actor) | Caller::UnknownToken(actor) => Some(actor),
            Caller::Anonymous(peer) => peer.as_deref(),
        }
    }
}

/// A [`Caller`] whose actor is shared, not owned: what the service resolves on every call.
enum SharedCaller {
    Known(Arc<str>),
    UnknownToken(Arc<str>),
    Anonymous(Option<Arc<str>>),
}

impl SharedCaller {
    fn actor(&self) -> Option<&Arc<str>> {
        match self {
            SharedCaller::Known(actor) | SharedCaller::UnknownToken(actor) => Some(actor),
            SharedCaller::Anonymous(peer) => peer.as_ref(),
        }
    }
}

impl From<SharedCaller> for Caller {
    fn from(caller: SharedCaller) -> Caller {
        let owned = |actor: Arc<str>| String::from(&*actor);
        match caller {
            SharedCaller::Known(actor) => Caller::Known(owned(actor)),
            SharedCaller::UnknownToken(actor) => Caller::UnknownToken(owned(actor)),
            SharedCaller::Anonymous(peer) => Caller::Anonymous(peer.map(owned)),
        }
    }
}

/// Extracts the presented token: `authorization: Bearer <token>` (scheme case-insensitive),
/// else `x-api-key`. Empty values count as absent.
///
/// ```
/// use audit_runtime::tonic_layer::presented_token;
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-api-key", "tok-k".parse()?);
/// assert_eq!(presented_token(&headers), Some("tok-k"));
/// headers.insert("authorization", "bearer tok-b".parse()?);
/// assert_eq!(presented_token(&headers), Some("tok-b")); // the bearer token comes first
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn presented_token(headers: &http::HeaderMap) -> Option<&str> {
    let bearer = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, token) = v.trim().split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then_some(token.trim())
        });
    bearer
        .or_else(|| {
            headers
                .get("x-api-key")
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
        })
        .filter(|t| !t.is_empty())
}

/// Configures identity and, optionally, authentication for a tonic server; see the
/// [module docs](self). Cheap to clone.
#[derive(Debug, Clone, Default)]
pub struct IdentityLayer {
    config: Arc<Config>,
}

#[derive(Debug, Clone, Default)]
struct Config {
    tokens: Option<TokenMap>,
    logger: Option<AuditLogger>,
    actions: HashMap<String, &'static str>,
    rejection_action: Option<&'static str>,
}

impl IdentityLayer {
    /// A layer that identifies callers and refuses nobody.
    pub fn new() -> Self {
        Self::default()
    }

    /// A layer configured from [`AUTH_TOKENS_ENV_VAR`]: authenticating when it lists tokens,
    /// identifying only when it is unset or empty.
    pub fn from_env() -> Result<Self, TokenSpecError> {
        Ok(Self::new().tokens(TokenMap::from_env()?))
    }

    fn config_mut(&mut self) -> &mut Config {
        // Configuration happens before the layer is shared, so this never clones in practice.
        Arc::make_mut(&mut self.config)
    }

    /// Requires one of `tokens` on every call (`None` or an empty map: require nothing).
    pub fn tokens(mut self, tokens: impl Into<Option<TokenMap>>) -> Self {
        self.config_mut().tokens = tokens.into().filter(|t| !t.is_empty());
        self
    }

    /// Logs refusals to `logger` instead of the global logger.
    pub fn logger(mut self, logger: AuditLogger) -> Self {
        self.config_mut().logger = Some(logger);
        self
    }

    /// Logs a refused call to `method` as `action`.
    ///
    /// `method` is the gRPC path, `/package.Service/Method`: a leading `/`, the service's
    /// full name (its proto package, if the `.proto` declares one, dot-separated identifiers,
    /// then the service), a `/`, and the method, all as written in the `.proto`. A service
    /// in a `.proto` without a package, like WeightsLab's `ExperimentService`, has the path
    /// `/ExperimentService/Method`. Prefer [`action_for_method`](Self::action_for_method)
    /// for tonic-generated servers: it cannot get the package wrong.
    ///
    /// ```
    /// use audit_runtime::{Action, tonic_layer::IdentityLayer};
    /// let layer = IdentityLayer::new()
    ///     .action_for("/weightslab.ExperimentService/RestoreCheckpoint", Action::CheckpointRestore);
    /// ```
    ///
    /// The action is typed, so a misspelt one is a compile error, not a new `action_type`:
    ///
    /// ```compile_fail
    /// use audit_runtime::tonic_layer::IdentityLayer;
    /// let layer = IdentityLayer::new().action_for("/ExperimentService/UpdateHp", "hp_chnage");
    /// ```
    ///
    /// # Panics
    ///
    /// If `method` is not a gRPC path (no leading `/`, no `/Method`, an empty or non-identifier
    /// segment such as `ExperimentService/Restore Checkpoint`), or if it is already mapped
    /// to another action. Both are mistakes in the server's code, found when it starts
    /// instead of in the log of the first refused call.
    #[track_caller]
    pub fn action_for(mut self, method: &str, action: impl AuditAction) -> Self {
        if let Err(problem) = check_method_path(method) {
            panic!(
                "IdentityLayer::action_for: `{method}` is not a gRPC method path ({problem}); \
                 expected `/package.Service/Method` (or `/Service/Method` for a .proto without \
                 a package)"
            );
        }
        let action = action.name();
        match self.config_mut().actions.insert(method.to_owned(), action) {
            Some(previous) if previous != action => panic!(
                "IdentityLayer::action_for: `{method}` is mapped to `{previous}` and to `{action}`"
            ),
            _ => self,
        }
    }

    /// Logs a refused call to `method` of the tonic-generated server `S` as `action`: the
    /// path is `/{S::NAME}/{method}`, where `S::NAME` is the service's full name, package
    /// included, as tonic generated it from the `.proto`.
    ///
    /// ```
    /// # mod proto { pub struct ExperimentServiceServer;
    /// #   impl tonic::server::NamedService for ExperimentServiceServer {
    /// #       const NAME: &'static str = "weightslab.ExperimentService"; } }
    /// use audit_runtime::{Action, tonic_layer::IdentityLayer};
    /// use proto::ExperimentServiceServer; // generated by tonic, `ExperimentServiceServer<T>`
    /// let layer = IdentityLayer::new()
    ///     .action_for_method::<ExperimentServiceServer>("RestoreCheckpoint", Action::CheckpointRestore);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`action_for`](Self::action_for), for a `method` that is not an identifier.
    #[track_caller]
    pub fn action_for_method<S: tonic::server::NamedService>(
        self,
        method: &str,
        action: impl AuditAction,
    ) -> Self {
        self.action_for(&format!("/{}/{method}", S::NAME), action)
    }

    /// The action for refused calls to methods without one of their own (default
    /// [`DEFAULT_REJECTION_ACTION`]).
    pub fn rejection_action(mut self, action: impl AuditAction) -> Self {
        self.config_mut().rejection_action = Some(action.name());
        self
    }

    /// Whether calls must carry a configured token.
    pub fn requires_token(&self) -> bool {
        self.config.tokens.is_some()
    }

    /// Resolves the caller of a request with these `headers`, from `peer`.
    pub fn resolve(&self, headers: &http::HeaderMap, peer: Option<std::net::SocketAddr>) -> Caller {
        self.resolve_shared(headers, peer).into()
    }

    /// [`IdentityLayer::resolve`] as every call uses it: the actor as a shared string, which
    /// for a configured token is the map's own (the call's scope holds it without a copy).
    fn resolve_shared(
        &self,
        headers: &http::HeaderMap,
        peer: Option<std::net::SocketAddr>,
    ) -> SharedCaller {
        match presented_token(headers) {
            Some(token) => match self
                .config
                .tokens
                .as_ref()
                .and_then(|tokens| tokens.shared_actor_for(token))
            {
                Some(actor) => SharedCaller::Known(actor),
                None => SharedCaller::UnknownToken(Arc::from(token_fingerprint(token))),
            },
            None => SharedCaller::Anonymous(peer.map(|p| Arc::from(format!("peer:{p}")))),
        }
    }

    fn refusal(&self, caller: &SharedCaller) -> Option<&'static str> {
        self.config.tokens.as_ref()?;
        match caller {
            SharedCaller::Known(_) => None,
            SharedCaller::UnknownToken(_) => Some("unknown token"),
            SharedCaller::Anonymous(_) => Some("missing token"),
        }
    }

    fn log_refusal(&self, method: &str, caller: &SharedCaller, request: &RequestIds, reason: &str) {
        let config = &self.config;
        let action = config
            .actions
            .get(method)
            .or(config.rejection_action.as_ref())
            .copied()
            .unwrap_or(DEFAULT_REJECTION_ACTION);
        let mut details = Map::new();
        details.insert("method".into(), Value::from(method));
        details.insert(
            "grpc_code".into(),
            Value::from(format!("{:?}", tonic::Code::Unauthenticated)),
        );
        details.insert("reason".into(), Value::from(reason));
        let error = format!("unauthenticated: {reason}");
        // The refused call never ran inside an actor scope: its actor and request are the
        // ones resolved here, given to the pipeline that every event passes.
        let draft = Draft {
            ambient: Ambient::Captured {
                actor: caller.actor().cloned(),
                request: Some(request.clone()),
            },
            ..Draft::new(action, Status::Failed, details, Some(&error))
        };
        let written = match &config.logger {
            Some(logger) => logger.submit(draft).map(drop),
            None => crate::logger::global::submit(draft).map(drop),
        };
        if let Err(e) = written {
            // The refusal stands either way; a lost audit record must at least be visible.
            tracing::warn!(target: "audit", "cannot record a refused call to {method}: {e:?}");
        }
    }
}

/// Why `path` is not `/package.Service/Method`, if it is not.
fn check_method_path(path: &str) -> Result<(), String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("it does not start with `/`".into());
    };
    let Some((service, method)) = rest.split_once('/') else {
        return Err("no `/Method` after the service".into());
    };
    let identifier = |s: &str| {
        let mut chars = s.chars();
        chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !service.split('.').all(identifier) {
        return Err(format!(
            "`{service}` is not a service name: dot-separated identifiers"
        ));
    }
    if !identifier(method) {
        return Err(format!("`{method}` is not a method name: an identifier"));
    }
    Ok(())
}

impl<S> tower_layer::Layer<S> for IdentityLayer {
    type Service = IdentityService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IdentityService {
            inner,
            layer: self.clone(),
        }
    }
}

/// The service [`IdentityLayer`] wraps around a tonic server's routes.
///
/// What a tonic server does with it, call by call (`Routes` stands in for the server's
/// routes and answers with the actor it sees):
///
/// ```
/// # use std::convert::Infallible;
/// # use std::task::{Context, Poll};
/// use tower_layer::Layer;
/// use tower_service::Service;
/// use audit_runtime::tonic_layer::{IdentityLayer, TokenMap, token_fingerprint};
/// use audit_runtime::{Action, AuditLogger, MemorySink, Status};
/// # #[derive(Clone)]
/// # struct Routes;
/// # impl Service<http::Request<()>> for Routes {
/// #     type Response = http::Response<String>;
/// #     type Error = Infallible;
/// #     type Future = std::pin::Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;
/// #     fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
/// #         Poll::Ready(Ok(()))
/// #     }
/// #     fn call(&mut self, _: http::Request<()>) -> Self::Future {
/// #         Box::pin(async {
/// #             let actor = audit_runtime::actor::current().map(|a| a.to_string());
/// #             Ok(http::Response::new(actor.unwrap_or_default()))
/// #         })
/// #     }
/// # }
///
/// let refusals = MemorySink::new();
/// let layer = IdentityLayer::new()
///     .tokens(TokenMap::parse("alice:tok-a")?)
///     .logger(AuditLogger::in_memory(refusals.clone()))
///     .action_for("/ExperimentService/RestoreCheckpoint", Action::CheckpointRestore);
/// let mut service = layer.layer(Routes);
/// let request = |token: &str| {
///     http::Request::builder()
///         .uri("/ExperimentService/RestoreCheckpoint")
///         .header("authorization", format!("Bearer {token}"))
///         .body(())
/// };
///
/// # tokio::runtime::Builder::new_current_thread().build()?.block_on(async {
/// let answer = service.call(request("tok-a")?).await?;
/// assert_eq!(answer.body(), "alice"); // the handler ran with alice as the actor
///
/// let refused = service.call(request("guess")?).await?;
/// assert_eq!(refused.headers()["grpc-status"], "16"); // UNAUTHENTICATED, the handler never ran
/// let event = &refusals.events()[0];
/// assert_eq!(event.action_type, "checkpoint_restore");
/// assert_eq!(event.status, Status::Failed);
/// assert_eq!(event.details["actor"], token_fingerprint("guess").as_str());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// # })?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct IdentityService<S> {
    inner: S,
    layer: IdentityLayer,
}

/// The future of [`IdentityService`]: the inner call with its actor and request set, or a
/// refusal.
pub type IdentityFuture<R, E> = Pin<Box<dyn Future<Output = Result<R, E>> + Send>>;

impl<S, ReqBody, ResBody> tower_service::Service<http::Request<ReqBody>> for IdentityService<S>
where
    S: tower_service::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = IdentityFuture<Self::Response, Self::Error>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let peer = request
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(TcpConnectInfo::remote_addr);
        let caller = self.layer.resolve_shared(request.headers(), peer);
        let ids = RequestIds::from_headers(request.headers());
        // Answered to every call, refused or not, so a client can find its events.
        let echoed = http::HeaderValue::from_str(ids.request_id()).ok();
        if let Some(reason) = self.layer.refusal(&caller) {
            self.layer
                .log_refusal(request.uri().path(), &caller, &ids, reason);
            let status = tonic::Status::unauthenticated(format!(
                "{reason}: send `authorization: Bearer <token>` or `x-api-key: <token>`"
            ));
            let mut response = status.into_http();
            echo_request_id(&mut response, echoed);
            return Box::pin(std::future::ready(Ok(response)));
        }
        // The resolved string itself becomes the scope's actor: no copy per call.
        let actor = match caller {
            SharedCaller::Known(actor) | SharedCaller::UnknownToken(actor) => Some(actor),
            SharedCaller::Anonymous(peer) => peer,
        };
        let patch = Patch {
            actor,
            request: Some(ids),
        };
        let future = WithContext::new(patch, self.inner.call(request));
        Box::pin(async move {
            let mut response = future.await?;
            echo_request_id(&mut response, echoed);
            Ok(response)
        })
    }
}

/// Puts the call's request id into the response's `x-request-id`, unless the service set
/// one itself.
fn echo_request_id<B>(response: &mut http::Response<B>, id: Option<http::HeaderValue>) {
    if let Some(id) = id {
        response.headers_mut().entry("x-request-id").or_insert(id);
    }
}

#[cfg(test)]
mod tests;
