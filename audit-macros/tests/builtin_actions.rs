//! The built-in catalog that `#[audited(action = "..")]` accepts covers every action
//! WeightsLab's services log: the spec's twelve and the eight more of WeightsLab v2.0.

use audit_runtime::{Action, AuditEvent, AuditLogger, Format, audited, scope};

struct Lab {
    log: AuditLogger,
}

// Each of these names was a compile error ("unknown audit action") before the catalog
// had WeightsLab v2.0's actions; compiling this file is half of the test.
impl Lab {
    #[audited(action = "checkpoint_save", logger = &self.log, details(path))]
    fn checkpoint_save(&self, path: &str) {}

    #[audited(action = "restart_instance", logger = &self.log)]
    fn restart_instance(&self) {}

    #[audited(action = "experiment_rename", logger = &self.log, details(old_name, new_name))]
    fn experiment_rename(&self, old_name: &str, new_name: &str) {}

    #[audited(action = "tag_register", logger = &self.log, details(tag_name))]
    fn tag_register(&self, tag_name: &str) {}

    #[audited(action = "notebook_run" | "notebook_interrupt", logger = &self.log)]
    fn notebook_cell(&self, interrupt: bool) -> Result<(), String> {
        scope::set_action(if interrupt {
            Action::NotebookInterrupt
        } else {
            Action::NotebookRun
        });
        Ok(())
    }

    #[audited(action = "notebook_save", logger = &self.log)]
    fn notebook_save(&self) -> Result<u64, String> {
        Ok(2048)
    }

    #[audited(action = Action::NotebookGenerateCode, logger = &self.log, details(prompt))]
    fn notebook_generate_code(&self, prompt: &str) -> String {
        format!("# {prompt}")
    }
}

fn logged_actions(dir: &std::path::Path) -> Vec<String> {
    let bytes = std::fs::read(dir.join("audit_log.json")).unwrap();
    let events: Vec<AuditEvent> = serde_json::from_slice(&bytes).unwrap();
    // The file is newest first.
    events.into_iter().rev().map(|e| e.action_type).collect()
}

#[test]
fn weightslab_v2_actions_were_compile_errors_in_audited() {
    let dir = tempfile::tempdir().unwrap();
    let lab = Lab {
        log: AuditLogger::builder(dir.path())
            .format(Format::Json)
            .build()
            .unwrap(),
    };
    lab.checkpoint_save("/runs/exp/checkpoints/step_4300.pt");
    lab.restart_instance();
    lab.experiment_rename("exp-1", "baseline");
    lab.tag_register("defect");
    lab.notebook_cell(false).unwrap();
    lab.notebook_cell(true).unwrap();
    lab.notebook_save().unwrap();
    lab.notebook_generate_code("plot");
    assert_eq!(
        logged_actions(dir.path()),
        [
            "checkpoint_save",
            "restart_instance",
            "experiment_rename",
            "tag_register",
            "notebook_run",
            "notebook_interrupt",
            "notebook_save",
            "notebook_generate_code",
        ]
    );
}
