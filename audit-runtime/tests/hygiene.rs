//! The generated code must not depend on what the user's module has in scope: every path is
//! absolute, every local is `__audited_`-prefixed. These modules shadow `core`, `std`,
//! `audit_runtime` and common prelude names, and one drops the prelude entirely.

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
    let dir = ::tempfile::tempdir().unwrap();
    let log = ::audit_runtime::AuditLogger::builder(dir.path())
        .format(::audit_runtime::Format::Json)
        .build()
        .unwrap();
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
    let events: Vec<::audit_runtime::AuditEvent> =
        ::serde_json::from_slice(&::std::fs::read(log.path().unwrap()).unwrap()).unwrap();
    let names: Vec<&str> = events
        .iter()
        .rev()
        .map(|e| e.action_type.as_str())
        .collect();
    assert_eq!(
        names,
        ["pause", "resume", "query_execute", "note_write", "resume"]
    );
    // Newest first: events[1] is note_write, whose capture was a plain number.
    assert_eq!(events[1].details["before"], 1);
    assert_eq!(events[1].details["after"], 2);
}
