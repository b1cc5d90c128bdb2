//! House rules read from the sources, for the crates laid out under them: no
//! hand-written file over 700 lines outside its tests, and no circle of imports longer
//! than two files (a module and its parent may use each other; three files that go
//! round are a design to untie).

use std::{
    collections::{BTreeMap, BTreeSet},
    path::{Path, PathBuf},
};

/// The crates whose `src/` the rules are checked on (every hand-written one but the
/// wrapper, `ec-billing`, which joins the list once its files are split by job and its
/// circle untied).
const CRATES: [&str; 6] = [
    "ec-billing-ledger",
    "ec-billing-report",
    "ec-billing-sim",
    "ec-billing-cli",
    "ec-billing-bench",
    "ec-billing-httpmock",
];

/// The most lines a file may have before its `#[cfg(test)]` module.
const MAX_LINES: usize = 700;

/// The workspace's `crates/` folder.
fn crates_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../crates")
}

/// Every `.rs` file under `dir`, sorted.
fn sources(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![dir.to_path_buf()];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("a readable source folder") {
            let path = entry.expect("a folder entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The part of a file before its tests, without comments.
fn code_before_tests(text: &str) -> Vec<&str> {
    text.lines()
        .take_while(|line| !line.starts_with("#[cfg(test)]"))
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect()
}

/// The module path of a file under `src/` (`[]` for `lib.rs` and `main.rs`).
fn module_of(src: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(src).expect("a file under src");
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

/// Every path a `use` item of `code` names, its braces expanded: `crate::a::{b, c::D}`
/// gives `crate::a::b` and `crate::a::c::D`.
fn use_paths(code: &str) -> Vec<String> {
    fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
        let tree = tree.trim();
        let Some(open) = tree.find('{') else {
            out.push(format!("{prefix}{tree}"));
            return;
        };
        let head = &tree[..open];
        let close = tree
            .rfind('}')
            .filter(|&close| close > open)
            .unwrap_or(tree.len());
        let inner = &tree[open + 1..close];
        let mut depth = 0;
        let mut start = 0;
        for (at, c) in inner.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    expand(&format!("{prefix}{head}"), &inner[start..at], out);
                    start = at + 1;
                }
                _ => {}
            }
        }
        if !inner[start..].trim().is_empty() {
            expand(&format!("{prefix}{head}"), &inner[start..], out);
        }
    }
    let mut paths = Vec::new();
    // A `use` item starts a line (after its visibility); it ends at the next `;`.
    let mut offset = 0;
    for line in code.split_inclusive('\n') {
        let start = offset;
        offset += line.len();
        let trimmed = line.trim_start();
        let item = ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .find(|prefix| trimmed.starts_with(*prefix));
        let Some(prefix) = item else { continue };
        let from = start + (line.len() - trimmed.len()) + prefix.len();
        let Some(end) = code[from..].find(';') else {
            continue;
        };
        let tree: String = code[from..from + end].split_whitespace().collect();
        expand("", &tree, &mut paths);
    }
    // Paths written in place: `crate::dataset::midnight(..)`.
    for start in ["crate::", "super::"] {
        let mut rest = code;
        while let Some(at) = rest.find(start) {
            let before = rest[..at].chars().next_back();
            let path: String = rest[at..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            // A path ending in `::` opens a `use` group, read above.
            if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
                && !path.ends_with("::")
            {
                paths.push(path);
            }
            rest = &rest[at + start.len()..];
        }
    }
    paths
}

/// The module a path used from `module` leads to: the deepest one it names.
fn target(module: &[String], path: &str, modules: &BTreeSet<Vec<String>>) -> Option<Vec<String>> {
    let mut segments = path.split("::").filter(|s| !s.is_empty()).peekable();
    let mut at: Vec<String> = match *segments.peek()? {
        "crate" => Vec::new(),
        "super" => {
            let mut parent = module.to_vec();
            parent.pop();
            parent
        }
        "self" => module.to_vec(),
        // A child module named as it is (`use http::Shared;` in `lib.rs`).
        child => {
            let mut next = module.to_vec();
            next.push(child.to_string());
            if !modules.contains(&next) {
                return None;
            }
            module.to_vec()
        }
    };
    if matches!(segments.peek(), Some(&("crate" | "super" | "self"))) {
        segments.next();
    }
    for segment in segments {
        match segment {
            "super" => {
                at.pop();
            }
            _ => {
                let mut next = at.clone();
                next.push(segment.to_string());
                if !modules.contains(&next) {
                    break;
                }
                at = next;
            }
        }
    }
    Some(at)
}

/// The strongly connected components of `edges` (Tarjan's algorithm).
fn circles(edges: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>) -> Vec<Vec<Vec<String>>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<&'a Vec<String>, (usize, usize)>,
        stack: Vec<&'a Vec<String>>,
        on_stack: BTreeSet<&'a Vec<String>>,
        next: usize,
        found: Vec<Vec<Vec<String>>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, node: &'a Vec<String>) {
            self.index.insert(node, (self.next, self.next));
            self.next += 1;
            self.stack.push(node);
            self.on_stack.insert(node);
            for to in self.edges.get(node).into_iter().flatten() {
                if !self.index.contains_key(to) {
                    self.visit(to);
                    let low = self.index[to].1.min(self.index[node].1);
                    self.index.get_mut(node).expect("visited").1 = low;
                } else if self.on_stack.contains(to) {
                    let low = self.index[to].0.min(self.index[node].1);
                    self.index.get_mut(node).expect("visited").1 = low;
                }
            }
            if self.index[node].0 == self.index[node].1 {
                let mut component = Vec::new();
                while let Some(top) = self.stack.pop() {
                    self.on_stack.remove(top);
                    component.push(top.clone());
                    if top == node {
                        break;
                    }
                }
                self.found.push(component);
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        found: Vec::new(),
    };
    for node in edges.keys() {
        if !walk.index.contains_key(node) {
            walk.visit(node);
        }
    }
    walk.found
}

#[test]
fn no_hand_written_file_is_over_700_lines_outside_its_tests() {
    let mut long = Vec::new();
    for krate in CRATES {
        for file in sources(&crates_dir().join(krate).join("src")) {
            // Generated code is exempt: it is rebuilt, not read.
            if file.ends_with("generated.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&file).expect("a readable source");
            let lines = code_before_tests(&text).len();
            if lines > MAX_LINES {
                let name = file.strip_prefix(crates_dir()).unwrap_or(&file);
                long.push(format!("{} ({lines} lines)", name.display()));
            }
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_LINES} lines outside tests (move tests to a sibling tests.rs, or split \
         the file by job): {long:?}"
    );
}

#[test]
fn no_circle_of_imports_is_longer_than_two_files() {
    for krate in CRATES {
        let src = crates_dir().join(krate).join("src");
        let files = sources(&src);
        // The library and the binary are two module trees: each is checked alone.
        for root in ["lib.rs", "main.rs"] {
            if !src.join(root).exists() {
                continue;
            }
            let tree: Vec<&PathBuf> = files
                .iter()
                .filter(|file| {
                    file.file_name()
                        .is_none_or(|name| name != "lib.rs" && name != "main.rs")
                })
                .chain(files.iter().filter(|file| file.ends_with(root)))
                .collect();
            // A binary beside a library is one file that uses the library.
            if root == "main.rs" && src.join("lib.rs").exists() {
                continue;
            }
            let modules: BTreeSet<Vec<String>> =
                tree.iter().map(|file| module_of(&src, file)).collect();
            let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
            for file in &tree {
                let module = module_of(&src, file);
                let text = std::fs::read_to_string(file).expect("a readable source");
                let code = code_before_tests(&text).join("\n");
                let used = edges.entry(module.clone()).or_default();
                for path in use_paths(&code) {
                    if let Some(to) = target(&module, &path, &modules)
                        && to != module
                    {
                        used.insert(to);
                    }
                }
            }
            let long: Vec<Vec<String>> = circles(&edges)
                .into_iter()
                .filter(|component| component.len() > 2)
                .map(|component| {
                    component
                        .iter()
                        .map(|module| {
                            std::iter::once("crate".to_string())
                                .chain(module.iter().cloned())
                                .collect::<Vec<_>>()
                                .join("::")
                        })
                        .collect()
                })
                .collect();
            assert!(
                long.is_empty(),
                "{krate} ({root}): circles of imports longer than two files: {long:?}"
            );
        }
    }
}

#[test]
fn the_import_reader_expands_braces_and_finds_paths_in_place() {
    let code = "use crate::{a::{self, B}, c::D};\nfn f() { crate::e::g(); super::h::I; }";
    let paths = use_paths(code);
    for expected in [
        "crate::a::self",
        "crate::a::B",
        "crate::c::D",
        "crate::e::g",
        "super::h::I",
    ] {
        assert!(
            paths.iter().any(|p| p == expected),
            "{expected} in {paths:?}"
        );
    }
}
