//! The domain's independence from the store, checked on its sources.

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable source directory") {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The lines of `text` that are compiled outside tests: all of them up to a top-level
/// `#[cfg(test)] mod …` (which, by house habit, ends the file); none of a file that is itself
/// a test module (`tests.rs`, `*_tests.rs`).
fn production_lines<'t>(path: &Path, text: &'t str) -> Vec<(usize, &'t str)> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if name == "tests.rs" || name.ends_with("_tests.rs") {
        return Vec::new();
    }
    let lines: Vec<&str> = text.lines().collect();
    let end = lines
        .windows(2)
        .position(|w| w[0] == "#[cfg(test)]" && w[1].starts_with("mod "))
        .unwrap_or(lines.len());
    lines[..end]
        .iter()
        .enumerate()
        .filter(|(_, line)| !line.trim_start().starts_with("//"))
        .map(|(i, line)| (i + 1, *line))
        .collect()
}

#[test]
fn the_domain_never_names_the_store_outside_its_tests() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/domain");
    let mut files = Vec::new();
    sources(&root, &mut files);
    assert!(files.len() > 20, "the domain's sources are found");
    let mut offences = Vec::new();
    for path in files {
        let text = std::fs::read_to_string(&path).expect("readable source");
        for (number, line) in production_lines(&path, &text) {
            if line.contains("crate::store") {
                offences.push(format!("{}:{number}: {}", path.display(), line.trim()));
            }
        }
    }
    assert!(offences.is_empty(), "{}", offences.join("\n"));
}

#[test]
fn a_store_import_counts_unless_it_is_in_a_test_module_or_a_comment() {
    let path = Path::new("usage/cache.rs");
    let text = "//! see `crate::store`\nuse crate::store::AnyStore;\n\n#[cfg(test)]\nmod tests {\n    use crate::store::AnyStore;\n}\n";
    let lines = production_lines(path, text);
    let named: Vec<usize> = lines
        .iter()
        .filter(|(_, l)| l.contains("crate::store"))
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(named, vec![2]);
    assert!(production_lines(Path::new("window/tests.rs"), text).is_empty());
}
