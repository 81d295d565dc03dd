//! Notes on metric points (`plot_note_operation` of a command: `note_write`), keyed by
//! metric, experiment hash and training step; an empty note clears one.

use serde_json::{Map, Value, json};

use super::{Action, Experiment, Planned, State, obj};
use crate::proto::PlotNoteOperation;

/// A validated note to save (or, empty, to clear).
pub(super) struct NoteChange {
    key: (String, String, i32),
    note: String,
}

impl Experiment {
    /// The note on a metric point, if any.
    pub fn note(&self, metric: &str, experiment_hash: &str, model_age: i32) -> Option<String> {
        self.lock()
            .notes
            .get(&(metric.to_owned(), experiment_hash.to_owned(), model_age))
            .cloned()
    }
}

pub(super) fn plan(note: &PlotNoteOperation) -> Planned<NoteChange> {
    let cleared = note.note.is_empty();
    let mut details = obj(json!({
        "metric_name": note.metric_name,
        "experiment_hash": note.experiment_hash,
        "model_age": note.model_age,
        "operation": if cleared { "cleared" } else { "saved" },
    }));
    if !cleared {
        details.insert("note".into(), note.note.clone().into());
    }
    let change = if note.metric_name.trim().is_empty() {
        Err("metric_name is empty".to_owned())
    } else {
        Ok(NoteChange {
            key: (
                note.metric_name.clone(),
                note.experiment_hash.clone(),
                note.model_age,
            ),
            note: note.note.clone(),
        })
    };
    Planned {
        action: Action::NoteWrite,
        details,
        change,
    }
}

impl State {
    /// Saves or clears the note; the details get the note it replaced.
    pub(super) fn write_note(&mut self, change: NoteChange, d: &mut Map<String, Value>) {
        let NoteChange { key, note } = change;
        let previous = if note.is_empty() {
            self.notes.remove(&key)
        } else {
            self.notes.insert(key, note)
        };
        d.insert("previous_note".into(), previous.into());
    }
}
