// Bodies written on one line, unformatted, with every warning an error: the expansion
// once wrapped them in braces that rustc's `unused_braces` lint flagged, with a suggested
// fix that was not valid code, so `cargo fix` failed and `-D warnings` broke the build.
#![deny(warnings)]

use audit_runtime::audited;

#[audited(action = "pause")]
fn a() -> Result<(), String> { Ok(()) }

#[audited(action = "resume")]
fn b() -> u32 { 7 }

#[audited(action = "mode_switch")]
fn c() { }

#[audited(action = "note_write", details(n))]
async fn d(n: u32) -> Result<u32, String> { Ok(n) }

#[audited(action = "tag_add")]
fn e() -> impl std::future::Future<Output = Result<(), String>> { async { Ok(()) } }

struct S;

impl S {
    #[audited(action = "tag_remove", capture = 1)]
    fn f(&self) -> Result<(), String> { Ok(()) }
}

fn main() {
    a().unwrap();
    assert_eq!(b(), 7);
    c();
    drop(d(1));
    drop(e());
    S.f().unwrap();
}
