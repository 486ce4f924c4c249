//! ARCHITECTURE.md's "A verification request, start to finish" is checked against the code: every step names the
//! function that does it (between the `request-steps` markers), that function exists, and the pipeline
//! (`routes/verify/mod.rs`, read from `create` with its local helpers inlined) calls the steps in the listed order.
//! A step moved, renamed or reordered in the code without the document fails here. So does a crate added or
//! removed without the map, or a path in "Where a change goes" that no longer exists.

use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The documented steps, in order: (number, the function's path under `crates/gateway/src/`).
fn documented_steps() -> Vec<(u32, String)> {
    let text = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let start = text
        .find("<!-- request-steps:start -->")
        .expect("start marker");
    let end = text.find("<!-- request-steps:end -->").expect("end marker");
    let mut steps = Vec::new();
    for line in text[start..end].lines() {
        let Some((number, rest)) = line.split_once(". **") else {
            continue;
        };
        let Ok(number) = number.parse::<u32>() else {
            continue;
        };
        // "Title** (`path`, ...": the first backticked name after the title is the step's function.
        let (_, after_title) = rest.split_once("** (`").unwrap_or_else(|| {
            panic!("step {number} does not name its function: \"N. **Title** (`path`\"")
        });
        let path = after_title.split('`').next().unwrap().to_owned();
        steps.push((number, path));
    }
    steps
}

/// The body of `fn name` in `source`: from its signature to the first line that closes it at column 0.
fn fn_body<'a>(source: &'a str, name: &str) -> Option<&'a str> {
    let at = [format!("\nfn {name}"), format!(" fn {name}")]
        .iter()
        .filter_map(|sig| {
            source
                .match_indices(sig.as_str())
                .map(|(i, _)| i)
                .find(|&i| matches!(source.as_bytes()[i + sig.len()], b'(' | b'<'))
        })
        .min()?;
    let len = source[at..].find("\n}\n")?;
    Some(&source[at..at + len + 2])
}

/// The file and the item path inside it for `routes::verify::policy::refusal`-style paths: the longest prefix
/// that is a module file.
fn locate(path: &str) -> (PathBuf, Vec<String>) {
    let segments: Vec<&str> = path.split("::").collect();
    for split in (1..segments.len()).rev() {
        let dir = segments[..split].iter().collect::<PathBuf>();
        for file in [
            src().join(&dir).with_extension("rs"),
            src().join(&dir).join("mod.rs"),
        ] {
            if file.is_file() {
                return (
                    file,
                    segments[split..].iter().map(|s| s.to_string()).collect(),
                );
            }
        }
    }
    panic!("{path}: no module file under crates/gateway/src for it");
}

/// `text` with every call of a local function of `source` replaced by that function's body (recursively).
fn inline_local_calls(text: &str, source: &str, locals: &[&str], depth: u32) -> String {
    assert!(
        depth < 8,
        "the pipeline's local helpers call each other in a cycle"
    );
    let mut out = String::new();
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for name in locals {
            let call = format!("{name}(");
            if rest.starts_with(&call) {
                let body = fn_body(source, name).unwrap();
                // Without the signature, which names the function again.
                let body = &body[body.find("{\n").unwrap()..];
                out.push_str(&inline_local_calls(body, source, locals, depth + 1));
                rest = &rest[call.len()..];
                continue 'scan;
            }
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        rest = &rest[c.len_utf8()..];
        // A name inside a longer identifier or a path (`st.pii.fingerprint(`, `policy::token(`) is not a local
        // call: skip the whole identifier.
        if c.is_alphanumeric() || c == '_' || c == '.' || c == ':' {
            let skip = rest
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_'))
                .unwrap_or(rest.len());
            out.push_str(&rest[..skip]);
            rest = &rest[skip..];
        }
    }
    out
}

#[test]
fn every_documented_step_is_a_function_that_exists() {
    let steps = documented_steps();
    assert!(
        steps.len() >= 10,
        "the request-steps list looks truncated: {steps:?}"
    );
    for (i, (number, path)) in steps.iter().enumerate() {
        assert_eq!(
            *number as usize,
            i + 1,
            "steps are numbered 1, 2, ... in order"
        );
        let (file, items) = locate(path);
        let source = std::fs::read_to_string(&file).unwrap();
        let (function, owners) = items.split_last().unwrap();
        assert!(
            fn_body(&source, function).is_some(),
            "step {number}: {path}: no `fn {function}` in {}",
            file.display()
        );
        for owner in owners {
            assert!(
                source.contains(&format!("struct {owner}"))
                    || source.contains(&format!("for {owner} {{")),
                "step {number}: {path}: no type {owner} in {}",
                file.display()
            );
        }
    }
}

#[test]
fn the_pipeline_calls_the_documented_steps_in_order() {
    let file = src().join("routes/verify/mod.rs");
    let source = std::fs::read_to_string(&file).unwrap();
    let locals: Vec<&str> = ["run", "attempt", "before_call"]
        .into_iter()
        .inspect(|name| {
            assert!(
                fn_body(&source, name).is_some(),
                "routes/verify/mod.rs has no `fn {name}`: update this test's list of pipeline helpers"
            )
        })
        .collect();
    let pipeline = inline_local_calls(fn_body(&source, "create").unwrap(), &source, &locals, 0);
    let mut at = 0;
    let mut checked = 0;
    for (number, path) in documented_steps() {
        let Some(inside) = path.strip_prefix("routes::verify::") else {
            // The router's layers and the extractor run before the handler: they come first in the list.
            assert_eq!(
                checked, 0,
                "step {number} ({path}) is listed after a pipeline step"
            );
            continue;
        };
        let call = format!("{inside}(");
        let found = pipeline[at..].find(&call).unwrap_or_else(|| {
            panic!(
                "step {number}: the pipeline does not call `{inside}` after the step before it \
                 (ARCHITECTURE.md's order differs from routes/verify/mod.rs)"
            )
        });
        at += found + call.len();
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} pipeline steps checked");
}

/// ARCHITECTURE.md from the line `from` to the line before the first that starts with `to`.
fn architecture_part(from: &str, to: &str) -> String {
    let text = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let start = text
        .find(from)
        .unwrap_or_else(|| panic!("ARCHITECTURE.md has no {from:?}"));
    let rest = &text[start..];
    let end = rest.find(&format!("\n{to}")).unwrap_or(rest.len());
    rest[..end].to_owned()
}

#[test]
fn the_crate_map_names_every_crate_and_no_other() {
    let map = architecture_part("| crate | holds | depends on |", "Where a change goes");
    let mapped: std::collections::BTreeSet<String> = map
        .lines()
        .filter_map(|l| l.strip_prefix("| `crates/"))
        .map(|l| l[..l.find('`').unwrap()].to_owned())
        .collect();
    let on_disk: std::collections::BTreeSet<String> = std::fs::read_dir(repo().join("crates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        mapped, on_disk,
        "ARCHITECTURE.md's map and the crates/ directory differ"
    );
}

#[test]
fn every_crate_path_in_where_a_change_goes_exists() {
    let list = architecture_part("Where a change goes:", "## ");
    let paths: Vec<&str> = list
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| span.starts_with("crates/"))
        .collect();
    assert!(paths.len() >= 10, "the list looks truncated: {paths:?}");
    for path in paths {
        assert!(
            repo().join(path).exists(),
            "ARCHITECTURE.md sends a change to {path}, which does not exist"
        );
    }
}
