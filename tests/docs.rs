//! The repository's markdown, checked against the repository (issue [6]: what a new user
//! tripped over): the dependency lines a reader copies must resolve to crates, paths and
//! features of this workspace, and every relative link must reach a file in the repository.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every `*.md` file in the repository, outside build output and `.git`.
fn markdown_files() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if path.is_dir() {
                if !matches!(name.as_str(), "target" | ".git" | "runs") {
                    walk(&path, out);
                }
            } else if name.ends_with(".md") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(&root(), &mut files);
    files.sort();
    assert!(files.iter().any(|f| f.ends_with("README.md")));
    files
}

fn rel(path: &Path) -> String {
    path.strip_prefix(root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// A markdown file's lines, each with whether it is inside a fenced code block and, if so,
/// the block's info string (`toml`, `rust`, ...).
fn lines_with_fences(text: &str) -> Vec<(&str, Option<&str>)> {
    let mut fence: Option<&str> = None;
    let mut out = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            fence = match fence {
                None => Some(trimmed[3..].trim()),
                Some(_) => None,
            };
            continue;
        }
        out.push((line, fence));
    }
    out
}

// ---- dependency lines ----------------------------------------------------------------------

struct Member {
    dir: PathBuf,
    features: Vec<String>,
}

/// The workspace's packages by name, and its repository URL.
fn workspace() -> (HashMap<String, Member>, String) {
    let manifest: toml::Table = fs::read_to_string(root().join("Cargo.toml"))
        .unwrap()
        .parse()
        .unwrap();
    let repository = manifest["workspace"]["package"]["repository"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut members = HashMap::new();
    for dir in manifest["workspace"]["members"].as_array().unwrap() {
        let dir = root().join(dir.as_str().unwrap());
        let crate_manifest: toml::Table = fs::read_to_string(dir.join("Cargo.toml"))
            .unwrap()
            .parse()
            .unwrap();
        let name = crate_manifest["package"]["name"]
            .as_str()
            .unwrap()
            .to_owned();
        let features = crate_manifest
            .get("features")
            .and_then(|f| f.as_table())
            .map(|f| f.keys().cloned().collect())
            .unwrap_or_default();
        members.insert(name, Member { dir, features });
    }
    (members, repository)
}

/// Every line of a ```toml block in `text` that depends on one of `members`, parsed.
fn dependency_lines<'a>(
    text: &'a str,
    members: &HashMap<String, Member>,
) -> Vec<(&'a str, String, toml::Table)> {
    lines_with_fences(text)
        .into_iter()
        .filter(|(_, fence)| *fence == Some("toml"))
        .filter_map(|(line, _)| {
            let key = line.split('=').next()?.trim();
            members.contains_key(key).then_some(())?;
            let table: toml::Table = line
                .parse()
                .unwrap_or_else(|e| panic!("not TOML: {line}: {e}"));
            let spec = table[key].as_table().cloned().unwrap_or_else(|| {
                panic!("{line}: a bare version cannot resolve; the crates are not published")
            });
            Some((line, key.to_owned(), spec))
        })
        .collect()
}

/// The README's `audit-runtime = { version = "0.1", ... }` did not resolve: the crates are
/// not on crates.io. Every dependency line in the markdown must name a workspace crate by
/// `git` (the workspace's repository) or `path` (ending in the crate's directory), with
/// features the crate has.
#[test]
fn readme_dependency_lines_resolve_to_this_workspace() {
    let (members, repository) = workspace();
    let mut kinds = Vec::new();
    for file in markdown_files() {
        let text = fs::read_to_string(&file).unwrap();
        for (line, name, spec) in dependency_lines(&text, &members) {
            let at = format!("{}: `{line}`", rel(&file));
            let member = &members[&name];
            match (spec.get("git"), spec.get("path")) {
                (Some(git), None) => {
                    assert_eq!(git.as_str(), Some(repository.as_str()), "{at}: git URL");
                    kinds.push((rel(&file), "git"));
                }
                (None, Some(path)) => {
                    let path = Path::new(path.as_str().unwrap());
                    assert_eq!(
                        path.file_name(),
                        member.dir.file_name(),
                        "{at}: the path must end in the crate's directory"
                    );
                    kinds.push((rel(&file), "path"));
                }
                _ => panic!("{at}: needs exactly one of `git` or `path` (not published)"),
            }
            for key in spec.keys() {
                assert!(
                    ["git", "path", "features", "branch", "rev", "tag"].contains(&key.as_str()),
                    "{at}: unexpected key `{key}`"
                );
            }
            for feature in spec
                .get("features")
                .and_then(|f| f.as_array())
                .into_iter()
                .flatten()
            {
                let feature = feature.as_str().unwrap();
                assert!(
                    member.features.iter().any(|f| f == feature),
                    "{at}: {name} has no feature `{feature}`"
                );
            }
        }
    }
    // The workspace README gives both: a git dependency and a path for a local clone.
    for kind in ["git", "path"] {
        assert!(
            kinds.contains(&("README.md".to_owned(), kind)),
            "README.md has no `{kind}` dependency line: {kinds:?}"
        );
    }
}

// ---- relative links ------------------------------------------------------------------------

/// `line` without its inline code spans (`` `[a](b)` `` is not a link).
fn without_code_spans(line: &str) -> String {
    let mut out = String::new();
    for (i, part) in line.split('`').enumerate() {
        if i % 2 == 0 {
            out.push_str(part);
        }
    }
    out
}

/// The link targets in `text`: inline `[text](target)` / `![alt](target)` and reference
/// definitions `[label]: target`, outside code.
fn link_targets(text: &str) -> Vec<String> {
    let mut targets = Vec::new();
    for (line, fence) in lines_with_fences(text) {
        if fence.is_some() {
            continue;
        }
        let line = without_code_spans(line);
        let mut rest = line.as_str();
        while let Some(at) = rest.find("](") {
            rest = &rest[at + 2..];
            let end = rest
                .find(|c: char| c == ')' || c.is_whitespace())
                .unwrap_or(rest.len());
            targets.push(rest[..end].trim_matches(['<', '>']).to_owned());
            rest = &rest[end..];
        }
        let trimmed = line.trim_start();
        if let Some(label_end) = trimmed.strip_prefix('[').and_then(|r| r.find("]:")) {
            let target = trimmed[label_end + 3..].split_whitespace().next();
            targets.extend(target.map(str::to_owned));
        }
    }
    targets
}

/// GitHub's anchors for the headings of a markdown file.
fn anchors(text: &str) -> Vec<String> {
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (line, fence) in lines_with_fences(text) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        if fence.is_some() {
            continue;
        }
        let heading = heading.trim_start_matches('#').trim().trim_end_matches('#');
        let slug: String = heading
            .to_lowercase()
            .chars()
            .filter_map(|c| match c {
                ' ' => Some('-'),
                c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
                _ => None,
            })
            .collect();
        let n = seen.entry(slug.clone()).or_default();
        out.push(if *n == 0 {
            slug.clone()
        } else {
            format!("{slug}-{n}")
        });
        *n += 1;
    }
    out
}

fn is_external(target: &str) -> bool {
    target
        .split_once(':')
        .is_some_and(|(scheme, _)| scheme.chars().all(|c| c.is_ascii_alphanumeric()))
}

/// The README linked the spec as `../shared/spec/...`, outside the repository: a clone or
/// the GitHub page showed a dead link. Every relative link in every markdown file must reach
/// a file inside the repository (and a heading, for `file.md#anchor` and `#anchor`).
#[test]
fn relative_links_in_markdown_point_to_existing_files() {
    let root = root().canonicalize().unwrap();
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = fs::read_to_string(&file).unwrap();
        for target in link_targets(&text) {
            if target.is_empty() || is_external(&target) {
                continue;
            }
            checked += 1;
            let (path, anchor) = match target.split_once('#') {
                Some((path, anchor)) => (path, Some(anchor)),
                None => (target.as_str(), None),
            };
            let resolved = if path.is_empty() {
                file.clone()
            } else {
                file.parent().unwrap().join(path)
            };
            let Ok(resolved) = resolved.canonicalize() else {
                problems.push(format!("{}: `{target}` does not exist", rel(&file)));
                continue;
            };
            if !resolved.starts_with(&root) {
                problems.push(format!(
                    "{}: `{target}` is outside the repository",
                    rel(&file)
                ));
                continue;
            }
            if let Some(anchor) = anchor
                && resolved.extension().is_some_and(|e| e == "md")
            {
                let anchors = anchors(&fs::read_to_string(&resolved).unwrap());
                if !anchors.iter().any(|a| a == anchor) {
                    problems.push(format!("{}: `{target}`: no such heading", rel(&file)));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(
        checked > 0,
        "no relative links found: the link parser is broken"
    );
}

#[test]
fn link_parser_finds_inline_and_reference_links_outside_code() {
    let text = "see [a](x.md) and ![b](img/y.png \"t\"), `[c](not-a-link)`\n\
                ```\n[d](in-code)\n```\n[label]: z.txt\n[e](https://example.com)";
    assert_eq!(
        link_targets(text),
        ["x.md", "img/y.png", "z.txt", "https://example.com"]
    );
    assert_eq!(
        anchors("# Command line: `auditlog`\n## A b\n## A b\n"),
        ["command-line-auditlog", "a-b", "a-b-1"]
    );
}

// ---- build.rs examples ---------------------------------------------------------------------

/// The full names (`.package.Message`, `.Message` without a package) of the messages in
/// the example `.proto` files.
fn example_proto_messages() -> Vec<String> {
    let mut names = Vec::new();
    for entry in fs::read_dir(root().join("examples/proto")).unwrap() {
        let text = fs::read_to_string(entry.unwrap().path()).unwrap();
        let mut package = String::new();
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("package ") {
                package = format!(".{}", rest.trim_end_matches(';').trim());
            } else if let Some(rest) = line.strip_prefix("message ") {
                let name = rest
                    .split(|c: char| !c.is_alphanumeric() && c != '_')
                    .next();
                names.push(format!("{package}.{}", name.unwrap()));
            }
        }
    }
    assert!(!names.is_empty());
    names
}

/// The README's `type_attribute("weightslab.DataEditsResponse", ..)` named a package the
/// example `.proto` does not have, so copying it derived nothing. Every `type_attribute`
/// in the markdown and in `build.rs` must name a message of `examples/proto`.
#[test]
fn readme_type_attribute_names_messages_of_the_example_proto() {
    let messages = example_proto_messages();
    let mut files = markdown_files();
    files.push(root().join("build.rs"));
    let mut seen = 0;
    for file in files {
        let text = fs::read_to_string(&file).unwrap();
        for (at, _) in text.match_indices("type_attribute(") {
            let rest = &text[at + "type_attribute(".len()..];
            let Some(name) = rest.strip_prefix('"').and_then(|r| r.split('"').next()) else {
                continue; // a variable, as in build.rs's loop
            };
            seen += 1;
            assert!(
                messages.iter().any(|m| m == name),
                "{}: type_attribute(\"{name}\"): no such message in examples/proto ({messages:?})",
                rel(&file)
            );
        }
    }
    assert!(seen >= 2, "the READMEs show type_attribute");
    // build.rs's loop names them in a list.
    let build = fs::read_to_string(root().join("build.rs")).unwrap();
    for quoted in build.split('"').skip(1).step_by(2) {
        if quoted.starts_with('.') {
            assert!(messages.iter().any(|m| m == quoted), "build.rs: {quoted}");
        }
    }
}
