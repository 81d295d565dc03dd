//! The attribute guide exists twice: in the repository's README (for readers on the web) and
//! in `audited/README.md`, which is the `audited` crate's front page on docs.rs (so its
//! examples run as doctests, with setup lines hidden behind `# `). This test keeps them the
//! same text.

use std::path::Path;

/// The guide as the README shows it: the rustdoc copy without the hidden doctest lines.
fn shown(rustdoc: &str) -> String {
    let mut out = String::new();
    let mut in_code = false;
    for line in rustdoc.lines() {
        if line.trim_start().starts_with("```") {
            in_code = !in_code;
        } else if in_code && (line == "#" || line.starts_with("# ")) {
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The README without its `<!-- readme-only -->` … `<!-- /readme-only -->` blocks: notes
/// for readers of the repository (links to its files, its tests) that the rustdoc copy,
/// read on docs.rs, leaves out.
fn without_readme_only(text: &str) -> String {
    let mut out = String::new();
    let mut skipping = false;
    // A block stands between blank lines; without it, one blank line is enough.
    let mut after_block = false;
    for line in text.lines() {
        match line.trim() {
            "<!-- readme-only -->" => skipping = true,
            "<!-- /readme-only -->" => {
                skipping = false;
                after_block = true;
            }
            "" if after_block && out.ends_with("\n\n") => after_block = false,
            _ if !skipping => {
                after_block = false;
                out.push_str(line);
                out.push('\n');
            }
            _ => {}
        }
    }
    out
}

#[test]
fn readme_attribute_guide_matches_the_attribute_docs() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let start = readme
        .find("## Annotating handlers")
        .expect("README has the attribute guide");
    let end = start
        + readme[start..]
            .find("\n## gRPC")
            .expect("a section follows the guide");
    let in_readme = without_readme_only(&readme[start..=end]);
    let in_readme = in_readme.trim_end();
    let docs = std::fs::read_to_string(root.join("audited/README.md")).unwrap();
    let guide = docs
        .find("## Annotating handlers")
        .expect("the crate docs hold the attribute guide");
    let in_docs = shown(&docs[guide..]);
    let in_docs = in_docs.trim_end();
    if in_readme != in_docs {
        let line = in_readme
            .lines()
            .zip(in_docs.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(in_readme.lines().count().min(in_docs.lines().count()));
        panic!(
            "README.md's \"Annotating handlers\" and audited/README.md differ at line {} of the \
             guide:\n  README: {:?}\n  docs:   {:?}",
            line + 1,
            in_readme.lines().nth(line),
            in_docs.lines().nth(line)
        );
    }
}
