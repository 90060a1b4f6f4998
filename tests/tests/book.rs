//! The book's link checker (CI runs it with the rest of `cargo test`):
//!
//! - every chapter in `SUMMARY.md` exists, and every page in `book/src` is in it;
//! - every relative link resolves to a file, every `#anchor` to a heading of its page;
//! - links into this repository on GitHub (`…/blob/main/PATH`) name files that exist;
//! - every `{{#include}}` / `{{#rustdoc_include}}` names a file that exists and, with
//!   `:anchor`, an `ANCHOR: anchor` in it;
//! - every Rust listing in `book/listings/` is compiled and run: an example of
//!   `fhe-macros` with `test = true` (or a crate of its own in the workspace).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const REPO_BLOB: &str = "https://github.com/fhe-dsl/fhe-dsl/blob/main/";

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn src() -> PathBuf {
    root().join("book/src")
}

/// mdBook's heading ids: lower case, alphanumerics, `-` and `_` kept, spaces to `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .chars()
        .filter_map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                Some(c.to_lowercase().collect::<String>())
            } else if c == ' ' {
                Some("-".to_string())
            } else {
                None
            }
        })
        .collect()
}

/// Heading ids of a markdown page (outside code fences).
fn anchors(md: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            let text = line.trim_start_matches('#');
            // drop inline code ticks and link syntax as mdBook renders them
            let text: String = text.chars().filter(|&c| c != '`').collect();
            out.insert(slug(&text));
        }
    }
    out
}

/// `(target, line)` of every markdown link `](target)` outside code fences.
fn links(md: &str) -> Vec<(String, usize)> {
    let mut fenced = false;
    let mut out = Vec::new();
    for (i, line) in md.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(p) = rest.find("](") {
            rest = &rest[p + 2..];
            if let Some(end) = rest.find(')') {
                out.push((rest[..end].to_string(), i + 1));
                rest = &rest[end..];
            }
        }
    }
    out
}

/// `(path, anchor, line)` of every `{{#include …}}` and `{{#rustdoc_include …}}`.
fn includes(md: &str) -> Vec<(String, Option<String>, usize)> {
    let mut out = Vec::new();
    for (i, line) in md.lines().enumerate() {
        let mut rest = line;
        while let Some(p) = rest.find("{{#") {
            rest = &rest[p + 3..];
            let Some(end) = rest.find("}}") else { break };
            let inner = &rest[..end];
            rest = &rest[end..];
            let mut parts = inner.split_whitespace();
            let kind = parts.next().unwrap_or("");
            if kind != "include" && kind != "rustdoc_include" {
                continue;
            }
            let arg = parts.next().unwrap_or("");
            let (path, anchor) = match arg.split_once(':') {
                Some((p, a)) if a.parse::<usize>().is_err() && !a.contains(':') => {
                    (p.to_string(), Some(a.to_string()))
                }
                Some((p, _)) => (p.to_string(), None),
                None => (arg.to_string(), None),
            };
            out.push((path, anchor, i + 1));
        }
    }
    out
}

fn pages() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = fs::read_dir(src())
        .expect("book/src")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    v.sort();
    v
}

#[test]
fn summary_lists_every_page_and_only_existing_ones() {
    let summary = fs::read_to_string(src().join("SUMMARY.md")).expect("SUMMARY.md");
    let listed: BTreeSet<String> = links(&summary).into_iter().map(|(t, _)| t).collect();
    let mut problems = Vec::new();
    for t in &listed {
        if !src().join(t).is_file() {
            problems.push(format!("SUMMARY.md lists `{t}`, which does not exist"));
        }
    }
    for p in pages() {
        let name = p.file_name().unwrap().to_string_lossy().to_string();
        if name != "SUMMARY.md" && !listed.contains(&name) {
            problems.push(format!("book/src/{name} is not in SUMMARY.md"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_link_and_include_resolves() {
    let mut problems = Vec::new();
    for page in pages() {
        let name = page.file_name().unwrap().to_string_lossy().to_string();
        let md = fs::read_to_string(&page).expect("page");
        for (target, line) in links(&md) {
            let at = format!("book/src/{name}:{line}");
            if let Some(path) = target.strip_prefix(REPO_BLOB) {
                let path = path.split('#').next().unwrap_or(path);
                if !root().join(path).exists() {
                    problems.push(format!("{at}: links to `{path}`, not in the repository"));
                }
                continue;
            }
            if target.contains("://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = match target.split_once('#') {
                Some((f, a)) => (f, Some(a)),
                None => (target.as_str(), None),
            };
            let file_path = if file.is_empty() {
                page.clone()
            } else {
                src().join(file)
            };
            if !file_path.exists() {
                problems.push(format!("{at}: `{target}`: no file {}", file_path.display()));
                continue;
            }
            if let Some(a) = anchor {
                if file_path.extension().is_some_and(|e| e == "md") {
                    let text = fs::read_to_string(&file_path).expect("linked page");
                    if !anchors(&text).contains(a) {
                        problems.push(format!("{at}: `{target}`: no heading `#{a}` there"));
                    }
                }
            }
        }
        for (path, anchor, line) in includes(&md) {
            let at = format!("book/src/{name}:{line}");
            let file = src().join(&path);
            let Ok(text) = fs::read_to_string(&file) else {
                problems.push(format!("{at}: includes `{path}`, which does not exist"));
                continue;
            };
            if let Some(a) = anchor {
                if !text.contains(&format!("ANCHOR: {a}")) {
                    problems.push(format!("{at}: includes `{path}:{a}`: no `ANCHOR: {a}`"));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn every_rust_listing_is_compiled_and_run() {
    let manifest = fs::read_to_string(root().join("fhe-macros/Cargo.toml")).expect("manifest");
    let mut problems = Vec::new();
    for e in fs::read_dir(root().join("book/listings")).expect("listings") {
        let p = e.expect("entry").path();
        if p.extension().is_some_and(|x| x == "rs") {
            let file = p.file_name().unwrap().to_string_lossy().to_string();
            let entry = format!("path = \"../book/listings/{file}\"\ntest = true");
            if !manifest.contains(&entry) {
                problems.push(format!(
                    "book/listings/{file} is not an example of fhe-macros with `test = true`"
                ));
            }
            let text = fs::read_to_string(&p).expect("listing");
            if !text.contains("#[test]\nfn runs() {\n    main().unwrap();\n}") {
                problems.push(format!(
                    "book/listings/{file} has no `#[test] fn runs` calling main"
                ));
            }
        } else if p.is_dir() {
            let ws = fs::read_to_string(root().join("Cargo.toml")).expect("workspace");
            let dir = format!("book/listings/{}", p.file_name().unwrap().to_string_lossy());
            if !ws.contains(&format!("\"{dir}\"")) {
                problems.push(format!("{dir} is not a workspace member"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_slug_rule_matches_mdbook() {
    assert_eq!(
        slug("Encrypted ResNet-20 (boot-n16)"),
        "encrypted-resnet-20-boot-n16"
    );
    assert_eq!(
        slug("Why trait bounds and not const asserts"),
        "why-trait-bounds-and-not-const-asserts"
    );
}
