use audit_runtime::{Action, audited, scope};

#[audited(action = "tag_add" | "tag_remove")]
fn edit(add: bool) {
    scope::set_action(if add { Action::TagAdd } else { Action::SampleDiscard });
}

fn main() {}

#[audited(action = "hp_change" | "mode_switch")]
fn command(kind: u8) {
    match kind {
        0 => scope::emit(audit_runtime::Action::ModeSwitch),
        1 => scope::emit_with(audit_runtime::Action::Resume, ()),
        _ => scope::emit_details(audit_runtime::Action::Pause, Default::default()),
    }
}
