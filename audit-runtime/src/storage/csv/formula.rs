//! Keeping CSV cells from running as spreadsheet formulas.
//!
//! The spec sends people to open `audit_log.csv` in Excel or Google Sheets. A cell whose text
//! starts with `=`, `+`, `-`, `@`, a tab or a carriage return is evaluated there as a formula
//! (CSV injection), so an error message like `=HYPERLINK(...)` would become a live link.
//! Following OWASP's guidance we prefix such cells with a single quote, which spreadsheets
//! treat as "this is text" and do not display.
//!
//! The rule is reversible, so our readers give back exactly what was logged: a cell is
//! escaped when, after any leading single quotes, its first character is a trigger; reading
//! removes one leading quote from exactly those cells. (A cell written by another program that
//! already starts with `'=` would lose one quote when read here; nothing we write looks like
//! that unescaped.)

use std::borrow::Cow;

const TRIGGERS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// Whether the cell is written with a `'` in front (see the module docs).
pub(crate) fn needs_quote_prefix(cell: &str) -> bool {
    cell.trim_start_matches('\'')
        .starts_with(|c: char| TRIGGERS.contains(&c))
}

/// The cell as written to the file.
///
/// ```
/// use audit_runtime::csv_safety::{neutralise, restore};
/// assert_eq!(neutralise("=1+1"), "'=1+1");
/// assert_eq!(neutralise("plain"), "plain");
/// assert_eq!(restore(&neutralise("'@x")), "'@x");
/// ```
pub fn neutralise(cell: &str) -> Cow<'_, str> {
    if needs_quote_prefix(cell) {
        Cow::Owned(format!("'{cell}"))
    } else {
        Cow::Borrowed(cell)
    }
}

/// The cell as it was logged (undoes [`neutralise`]).
///
/// ```
/// use audit_runtime::csv_safety::restore;
/// assert_eq!(restore("'=HYPERLINK(\"x\")"), "=HYPERLINK(\"x\")");
/// // A quote before anything else was the cell's own: kept.
/// assert_eq!(restore("'tis"), "'tis");
/// ```
pub fn restore(cell: &str) -> &str {
    if cell.starts_with('\'') && needs_quote_prefix(cell) {
        &cell[1..]
    } else {
        cell
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formula_triggers_are_prefixed() {
        for cell in ["=SUM(A1)", "+1", "-1", "@cmd", "\tx", "\rx", "'=x", "''+x"] {
            assert!(neutralise(cell).starts_with('\''), "{cell:?}");
        }
        for cell in ["", "plain", "1-1", "{\"a\":\"=x\"}", "'quoted", " =x"] {
            assert_eq!(neutralise(cell), cell);
        }
    }

    proptest! {
        #[test]
        fn restore_undoes_neutralise(cell in "['=+@\\-\t\r a-z]{0,8}") {
            let written = neutralise(&cell);
            prop_assert_eq!(restore(&written), cell.as_str());
            prop_assert!(!needs_quote_prefix(&written) || written.starts_with('\''));
        }
    }
}
