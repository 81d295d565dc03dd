//! What one `#[audited]` function declares, in a `static` the generated code builds: its
//! actions, its redacted keys, and whether it is always fail-closed.

use crate::AuditAction;
use crate::logger::global::Gate;

/// A declared action as stored in a call site's `static`.
pub type DeclaredAction = &'static dyn AuditAction;

/// Turns an action value into a [`DeclaredAction`]; `const` so it can build a `static`, and
/// generic so that a path that is not an action fails with the trait's own message.
pub const fn declare<A: AuditAction>(action: &'static A) -> DeclaredAction {
    action
}

/// What one `#[audited]` function declares; one `static` per annotated function.
pub struct Site {
    /// The declared actions, in the attribute's order; the first is the default.
    pub actions: &'static [DeclaredAction],
    /// Detail keys whose values are written as `"[REDACTED]"`, at any depth.
    pub redact: &'static [&'static str],
    /// `#[audited(fail_closed)]`: refused whenever the log cannot take events, whatever
    /// its logger's setting.
    pub fail_closed: bool,
    /// Detail keys whose values are written as their keyed hash (`redact(k, hmac)`), at
    /// any depth.
    pub hash: &'static [&'static str],
    /// Whether the global logger is off, as this site last saw it (`Gate::new()`); used by
    /// sites without `logger = ..`.
    pub gate: Gate,
    /// How many detail keys a call records by itself: its `details(..)`, and `before`,
    /// `after` and `changed` with `capture`. The call's details map starts with room for
    /// them and for what every event gets (the actor, the request and trace ids), so that
    /// it is allocated once rather than grown key by key.
    pub details: usize,
}

impl Site {
    /// The room a call's details map starts with.
    pub(crate) fn details_capacity(&self) -> usize {
        // actor, request_id, trace_id
        self.details + 3
    }
}

impl Site {
    pub(crate) fn declares(&self, name: &str) -> bool {
        self.actions.iter().any(|a| a.name() == name)
    }

    pub(crate) fn declared_list(&self) -> String {
        let names: Vec<&str> = self.actions.iter().map(|a| a.name()).collect();
        names.join(" | ")
    }

    pub(super) fn primary(&self) -> &'static str {
        self.actions.first().map_or("unknown", |a| a.name())
    }
}
