//! The generated code must not depend on what the user's module has in scope: every path is
//! absolute, every local is `__audited_`-prefixed. These modules shadow `core`, `std`,
//! `audit_runtime` and common prelude names, and one drops the prelude entirely. The events
//! are checked exactly through an in-memory logger.

#![allow(dead_code, non_camel_case_types)]

mod core {}
mod std {}
mod audit_runtime {}
mod serde_json {}

struct Call;
struct Site;
struct Scoped;
struct Probe;
struct Outcome;
fn declare() {}

mod shadowed {
    use ::audit_runtime::AuditLogger;

    type Result = ();
    enum Ok {}
    struct Box;
    struct Action;

    #[::audit_runtime::audited(action = "pause", logger = log, details(reason))]
    pub fn pause(
        log: &AuditLogger,
        reason: &str,
    ) -> ::core::result::Result<u8, ::std::string::String> {
        let __audited_call = 1u8;
        let __audited_result = 2u8;
        ::core::result::Result::Ok(__audited_call + __audited_result)
    }

    #[::audit_runtime::audited(action = "resume", logger = log)]
    pub async fn resume(log: &AuditLogger) -> ::core::result::Result<(), ::std::string::String> {
        ::core::result::Result::Err("stuck".into())
    }

    #[::audit_runtime::audited(action = "query_execute", logger = log)]
    pub fn boxed(
        log: &AuditLogger,
    ) -> ::core::pin::Pin<::std::boxed::Box<dyn ::core::future::Future<Output = u8> + Send>> {
        ::std::boxed::Box::pin(async { 3 })
    }
}

mod no_prelude {
    #![no_implicit_prelude]

    #[::audit_runtime::audited(action = "note_write", logger = log, capture = *value)]
    pub fn write(
        log: &::audit_runtime::AuditLogger,
        value: &mut u32,
    ) -> ::core::result::Result<u32, &'static str> {
        *value += 1;
        ::core::result::Result::Ok(*value)
    }

    #[::audit_runtime::audited(action = ::audit_runtime::Action::Resume, logger = log)]
    pub async fn resume(log: &::audit_runtime::AuditLogger) -> u8 {
        1
    }
}

#[test]
fn shadowed_names_do_not_matter() {
    let sink = ::audit_runtime::MemorySink::new();
    let log = ::audit_runtime::AuditLogger::in_memory(sink.clone());
    assert_eq!(shadowed::pause(&log, "lunch"), Ok(3));
    let rt = ::tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    assert!(rt.block_on(shadowed::resume(&log)).is_err());
    assert_eq!(rt.block_on(shadowed::boxed(&log)), 3);
    let mut v = 1;
    assert_eq!(no_prelude::write(&log, &mut v), Ok(2));
    assert_eq!(rt.block_on(no_prelude::resume(&log)), 1);
    let events: Vec<_> = sink
        .events()
        .into_iter()
        .map(|mut e| {
            // Generated per call; `request_ids.rs` checks them.
            e.details.remove("request_id");
            (
                e.action_type,
                e.status.known(),
                ::serde_json::Value::Object(e.details),
                e.error,
            )
        })
        .collect();
    let success = Some(::audit_runtime::Status::Success);
    let failed = Some(::audit_runtime::Status::Failed);
    assert_eq!(
        events,
        [
            (
                "pause".into(),
                success,
                ::serde_json::json!({"reason": "lunch"}),
                None
            ),
            (
                "resume".into(),
                failed,
                ::serde_json::json!({}),
                Some("stuck".into())
            ),
            (
                "query_execute".into(),
                success,
                ::serde_json::json!({}),
                None
            ),
            // The capture was a plain number: before and after, no `changed`.
            (
                "note_write".into(),
                success,
                ::serde_json::json!({"before": 1, "after": 2}),
                None
            ),
            ("resume".into(), success, ::serde_json::json!({}), None),
        ]
    );
}
