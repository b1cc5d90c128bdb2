//! The architecture invariants that are about source files, checked by reading them,
//! as rust-analyzer's tidy tests do: which layer of the wrapper may import which, no
//! circle of imports longer than two files in any crate, and no hand-written file
//! over 700 lines outside its tests.
//!
//! Imports are read from `use` items and from `crate::`/`super::` paths in code
//! (comments left out), resolved to the file of the module they name, through the
//! re-exports (`pub use`) of the module they go through.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

/// The most lines a hand-written file may have outside its tests.
const MAX_FILE_LINES: usize = 700;

/// The wrapper's layers, bottom first, and what each may import besides itself. A
/// module not listed here is a failure: every room has a place.
const WRAPPER_LAYERS: &[(&str, &[&str])] = &[
    // Vocabulary: imports only vocabulary, and `error` for the refusal of bad input.
    ("text", &[]),
    ("format", &[]),
    ("time", &["text", "error"]),
    ("key", &["text", "error"]),
    ("ids", &["text", "error"]),
    // The one error type: vocabulary only.
    ("error", &["text", "format", "time", "key", "ids"]),
    // The model: vocabulary and errors.
    ("model", &["text", "format", "time", "key", "ids", "error"]),
    // Policies and the CSV reader: nothing of the transports, the client or operations.
    ("policy", &["text", "format", "time", "key", "ids", "error"]),
    (
        "csv",
        &["text", "format", "time", "key", "ids", "error", "model"],
    ),
    // The transports: what is below them, never the client or operations.
    (
        "http",
        &[
            "text", "format", "time", "key", "ids", "error", "model", "csv", "policy",
        ],
    ),
    // The client: configuration and the executor, never operations.
    (
        "client",
        &[
            "text", "format", "time", "key", "ids", "error", "model", "csv", "policy", "http",
        ],
    ),
    // Operations: anything below.
    (
        "ops",
        &[
            "text", "format", "time", "key", "ids", "error", "model", "csv", "policy", "http",
            "client",
        ],
    ),
];

#[test]
fn each_layer_of_the_wrapper_imports_only_from_the_layers_below_it() {
    let krate = Crate::read(&workspace().join("crates/ec-billing/src/lib.rs"));
    let layers: BTreeMap<&str, &[&str]> = WRAPPER_LAYERS.iter().copied().collect();
    let mut problems = Vec::new();
    for (from, imports) in &krate.imports {
        let Some(from_layer) = krate.top(from) else {
            continue; // The crate root re-exports everything.
        };
        let Some(allowed) = layers.get(from_layer.as_str()) else {
            problems.push(format!(
                "{}: module `{from_layer}` is in no layer of WRAPPER_LAYERS",
                krate.file(from)
            ));
            continue;
        };
        for import in imports {
            let to_layer = match krate.top(&import.target) {
                Some(layer) => layer,
                None => {
                    problems.push(format!(
                        "{}: `{}` imports from the crate root: name the module",
                        krate.file(from),
                        import.text
                    ));
                    continue;
                }
            };
            if to_layer != from_layer && !allowed.contains(&to_layer.as_str()) {
                problems.push(format!(
                    "{}: `{}` imports layer `{to_layer}`, which `{from_layer}` may not import",
                    krate.file(from),
                    import.text
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn no_crate_has_a_circle_of_imports_longer_than_two_files() {
    let mut problems = Vec::new();
    for root in crate_roots() {
        let krate = Crate::read(&root);
        if let Some(circle) = krate.long_circle() {
            let files: Vec<String> = circle.iter().map(|m| krate.file(m)).collect();
            problems.push(format!("{}: {}", root.display(), files.join(" -> ")));
        }
    }
    assert!(
        problems.is_empty(),
        "circles of imports longer than two files:\n{}",
        problems.join("\n")
    );
}

#[test]
fn no_hand_written_file_is_over_700_lines_outside_its_tests() {
    let mut offenders = Vec::new();
    for root in crate_roots() {
        let krate = Crate::read(&root);
        for file in krate.files.values() {
            let name = file
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            if name == "generated.rs" || name == "tests.rs" {
                continue;
            }
            let text = fs::read_to_string(file).unwrap_or_default();
            let lines = without_tests(&text).lines().count();
            if lines > MAX_FILE_LINES {
                offenders.push(format!("{} ({lines} lines)", relative(file)));
            }
        }
    }
    offenders.sort();
    offenders.dedup();
    assert!(
        offenders.is_empty(),
        "hand-written files over {MAX_FILE_LINES} lines outside their tests (split the \
         file, or move its `#[cfg(test)] mod tests` to a sibling `tests.rs`):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn the_import_reader_resolves_paths_through_re_exports() {
    let krate = Crate::read(&workspace().join("crates/ec-billing/src/lib.rs"));
    let row = krate
        .imports
        .keys()
        .find(|m| m.join("::") == "csv::row")
        .expect("the CSV row module is read");
    let targets: BTreeSet<String> = krate.imports[row]
        .iter()
        .map(|i| i.target.join("::"))
        .collect();
    // `super::layout::...`, `crate::error::CsvError` (re-exported from `error::context`).
    for expected in ["csv::layout", "error::context", "model"] {
        assert!(targets.contains(expected), "{expected} not in {targets:?}");
    }
}

/// The workspace's root directory.
fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

/// `path` relative to the workspace, for messages.
fn relative(path: &Path) -> String {
    path.strip_prefix(workspace())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Every crate root of the workspace's crates and of the xtask.
fn crate_roots() -> Vec<PathBuf> {
    let root = workspace();
    let mut roots = Vec::new();
    let mut dirs: Vec<PathBuf> = fs::read_dir(root.join("crates"))
        .map(|entries| entries.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    dirs.push(root.join("xtask"));
    dirs.sort();
    for dir in dirs {
        for name in ["src/lib.rs", "src/main.rs"] {
            let path = dir.join(name);
            if path.is_file() {
                roots.push(path);
            }
        }
    }
    assert!(roots.len() >= 7, "crate roots not found: {roots:?}");
    roots
}

/// A module's path from the crate root: `["csv", "row"]`; the root is `[]`.
type ModulePath = Vec<String>;

/// One import of a file: the module it resolves to, and the text it was read from.
#[derive(Debug)]
struct Import {
    target: ModulePath,
    text: String,
}

/// A crate's module tree as its files say, with every file's imports.
struct Crate {
    files: BTreeMap<ModulePath, PathBuf>,
    /// What each module re-exports: name → the path it stands for (relative to it).
    exports: BTreeMap<ModulePath, BTreeMap<String, Vec<String>>>,
    imports: BTreeMap<ModulePath, Vec<Import>>,
    /// The crate root's own imports that are only re-exports: its public face, not a
    /// dependency, so no part of a circle.
    facade: BTreeSet<ModulePath>,
}

impl Crate {
    fn read(root: &Path) -> Self {
        let mut files = BTreeMap::new();
        let mut sources = BTreeMap::new();
        let mut pending = vec![(Vec::new(), root.to_path_buf())];
        while let Some((module, file)) = pending.pop() {
            // A module's tests may import anything: they are not part of its layer.
            let source = fs::read_to_string(&file).unwrap_or_default();
            let text = strip_comments(without_tests(&source));
            let dir = match file.file_name().and_then(|n| n.to_str()) {
                Some("lib.rs" | "main.rs" | "mod.rs") => {
                    file.parent().map(Path::to_path_buf).unwrap_or_default()
                }
                _ => file.with_extension(""),
            };
            for child in child_modules(&text).into_iter().filter(|c| c != "tests") {
                let candidates = [
                    dir.join(format!("{child}.rs")),
                    dir.join(&child).join("mod.rs"),
                ];
                if let Some(path) = candidates.into_iter().find(|p| p.is_file()) {
                    let mut path_of = module.clone();
                    path_of.push(child);
                    pending.push((path_of, path));
                }
            }
            files.insert(module.clone(), file);
            sources.insert(module, text);
        }
        let mut krate = Self {
            files,
            exports: BTreeMap::new(),
            imports: BTreeMap::new(),
            facade: BTreeSet::new(),
        };
        for (module, text) in &sources {
            let mut exports = BTreeMap::new();
            for (public, path, alias) in use_items(text) {
                if let Some(name) = alias.or_else(|| path.last().cloned()).filter(|_| public) {
                    exports.insert(name, path);
                }
            }
            krate.exports.insert(module.clone(), exports);
        }
        if let Some(text) = sources.get(&Vec::new()) {
            for (public, path, _) in use_items(text) {
                if public {
                    krate.facade.extend(krate.resolve(&Vec::new(), &path));
                }
            }
        }
        for (module, text) in &sources {
            let mut imports = Vec::new();
            let mut paths: Vec<Vec<String>> = use_items(text)
                .into_iter()
                .map(|(_, path, _)| path)
                .collect();
            paths.extend(inline_paths(text));
            for path in paths {
                if let Some(target) = krate.resolve(module, &path).filter(|t| t != module) {
                    imports.push(Import {
                        target,
                        text: path.join("::"),
                    });
                }
            }
            krate.imports.insert(module.clone(), imports);
        }
        krate
    }

    /// The module `path`, written in `module`, resolves to: the deepest module it goes
    /// through, or, for an item a module re-exports, the module the item comes from.
    /// `None` for a path into another crate.
    fn resolve(&self, module: &ModulePath, path: &[String]) -> Option<ModulePath> {
        self.resolve_depth(module, path, 0)
    }

    fn resolve_depth(
        &self,
        module: &ModulePath,
        path: &[String],
        depth: usize,
    ) -> Option<ModulePath> {
        let (mut at, mut rest) = match path.first().map(String::as_str) {
            Some("crate") => (Vec::new(), &path[1..]),
            Some("self") => (module.clone(), &path[1..]),
            Some("super") => {
                let mut at = module.clone();
                let mut rest = path;
                while rest.first().map(String::as_str) == Some("super") {
                    at.pop();
                    rest = &rest[1..];
                }
                (at, rest)
            }
            Some(first) => {
                let mut child = module.clone();
                child.push(first.to_string());
                if self.files.contains_key(&child) {
                    (child, &path[1..])
                } else {
                    return None;
                }
            }
            None => return None,
        };
        while let Some(next) = rest.first() {
            let mut child = at.clone();
            child.push(next.clone());
            if self.files.contains_key(&child) {
                at = child;
                rest = &rest[1..];
                continue;
            }
            // An item: where the module re-exports it from, if it does.
            if let Some(source) = self
                .exports
                .get(&at)
                .and_then(|e| e.get(next))
                .filter(|_| depth < 4)
            {
                // `None`: an item of another crate, re-exported.
                return self.resolve_depth(&at, source, depth + 1);
            }
            break;
        }
        Some(at)
    }

    /// The top-level module `module` belongs to; `None` for the crate root.
    fn top(&self, module: &ModulePath) -> Option<String> {
        module.first().cloned()
    }

    fn file(&self, module: &ModulePath) -> String {
        self.files
            .get(module)
            .map(|f| relative(f))
            .unwrap_or_default()
    }

    /// A circle of imports through three files or more, if any: the files in order.
    fn long_circle(&self) -> Option<Vec<ModulePath>> {
        let nodes: Vec<&ModulePath> = self.files.keys().collect();
        let index: BTreeMap<&ModulePath, usize> =
            nodes.iter().enumerate().map(|(i, m)| (*m, i)).collect();
        let edges: Vec<BTreeSet<usize>> = nodes
            .iter()
            .map(|m| {
                self.imports
                    .get(*m)
                    .map(|imports| {
                        imports
                            .iter()
                            .filter(|i| !(m.is_empty() && self.facade.contains(&i.target)))
                            .filter_map(|i| index.get(&i.target).copied())
                            .collect()
                    })
                    .unwrap_or_default()
            })
            .collect();
        // A simple circle through `start` and only nodes after it, found once.
        let mut budget = 1_000_000usize;
        for start in 0..nodes.len() {
            let mut path = vec![start];
            if let Some(circle) = circle_from(&edges, start, &mut path, &mut budget) {
                return Some(circle.into_iter().map(|i| nodes[i].clone()).collect());
            }
        }
        None
    }
}

/// Depth-first search for a simple circle of three nodes or more back to `start`.
fn circle_from(
    edges: &[BTreeSet<usize>],
    start: usize,
    path: &mut Vec<usize>,
    budget: &mut usize,
) -> Option<Vec<usize>> {
    let last = *path.last()?;
    for &next in &edges[last] {
        *budget = budget.checked_sub(1)?;
        if next == start && path.len() >= 3 {
            let mut circle = path.clone();
            circle.push(start);
            return Some(circle);
        }
        if next > start && !path.contains(&next) {
            path.push(next);
            if let Some(circle) = circle_from(edges, start, path, budget) {
                return Some(circle);
            }
            path.pop();
        }
    }
    None
}

/// `text` without its comments (line comments, doc comments, block comments), so that
/// a path in a doc link is not read as an import. String literals are kept: a path in
/// one is rare, and would only add an edge.
fn strip_comments(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        if in_string {
            out.push(c);
            match c {
                '\\' => out.extend(chars.next()),
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match (c, chars.peek()) {
            ('"', _) => {
                in_string = true;
                out.push(c);
            }
            ('/', Some('/')) => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            ('/', Some('*')) => {
                let mut previous = ' ';
                for c in chars.by_ref() {
                    if previous == '*' && c == '/' {
                        break;
                    }
                    previous = c;
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The modules a file declares as files of their own (`mod name;`).
fn child_modules(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            let rest = line
                .strip_prefix("pub(crate) mod ")
                .or_else(|| line.strip_prefix("pub(super) mod "))
                .or_else(|| line.strip_prefix("pub mod "))
                .or_else(|| line.strip_prefix("mod "))?;
            let name = rest.strip_suffix(';')?;
            Some(name.trim().to_string())
        })
        .collect()
}

/// Every path a file's `use` items bring in, expanded (`a::{b, c::d}` is `a::b` and
/// `a::c::d`), whether the item is public (`pub`, `pub(crate)`, `pub(super)`), and its
/// alias (`as name`).
fn use_items(text: &str) -> Vec<(bool, Vec<String>, Option<String>)> {
    let mut items = Vec::new();
    let mut rest = text;
    while let Some(at) = find_use(rest) {
        let (public, start) = at;
        let Some(end) = rest[start..].find(';') else {
            break;
        };
        let tree = normalize(&rest[start..start + end]);
        for (path, alias) in expand(&tree) {
            items.push((public, path, alias));
        }
        rest = &rest[start + end..];
    }
    items
}

/// Where the next `use` item's tree starts, after `use `, and whether it is public.
fn find_use(text: &str) -> Option<(bool, usize)> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        for (prefix, public) in [
            ("use ", false),
            ("pub use ", true),
            ("pub(crate) use ", true),
            ("pub(super) use ", true),
        ] {
            if trimmed.starts_with(prefix) {
                return Some((public, offset + indent + prefix.len()));
            }
        }
        offset += line.len();
    }
    None
}

/// A use tree with one space where an alias needs it (`a::{b as c}`), none elsewhere.
fn normalize(tree: &str) -> String {
    let words: Vec<&str> = tree.split_whitespace().collect();
    let mut out = String::new();
    for (i, word) in words.iter().enumerate() {
        let alias = *word == "as" || words.get(i.wrapping_sub(1)) == Some(&"as");
        if i > 0 && alias {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

/// A normalized use tree, expanded into paths with their aliases.
fn expand(tree: &str) -> Vec<(Vec<String>, Option<String>)> {
    let tree = tree.trim_start_matches("::");
    let Some(open) = tree.find('{') else {
        let (path, alias) = match tree.split_once(" as ") {
            Some((path, alias)) => (path, Some(alias.to_string())),
            None => (tree, None),
        };
        let segments: Vec<String> = path
            .split("::")
            .filter(|s| !s.is_empty() && *s != "*")
            .map(str::to_string)
            .collect();
        return vec![(segments, alias)];
    };
    let prefix = &tree[..open];
    let inner = tree[open + 1..]
        .strip_suffix('}')
        .unwrap_or(&tree[open + 1..]);
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    let mut out = Vec::new();
    for part in parts.into_iter().filter(|p| !p.is_empty()) {
        let joined = if part == "self" {
            prefix.trim_end_matches("::").to_string()
        } else {
            format!("{prefix}{part}")
        };
        out.extend(expand(&joined));
    }
    out
}

/// The `crate::`/`super::`/`self::` paths written in code, outside `use` items.
fn inline_paths(text: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if ["use ", "pub use ", "pub(crate) use ", "pub(super) use "]
            .iter()
            .any(|p| trimmed.starts_with(p))
        {
            continue;
        }
        for start in ["crate::", "super::"] {
            let mut rest = line;
            while let Some(at) = rest.find(start) {
                let before = rest[..at].chars().next_back();
                let tail = &rest[at..];
                let end = tail
                    .find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
                    .unwrap_or(tail.len());
                if !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                    let path: Vec<String> = tail[..end]
                        .split("::")
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect();
                    paths.push(path);
                }
                rest = &tail[end.max(1)..];
            }
        }
    }
    paths
}

/// `text` without its `#[cfg(test)] mod tests { ... }` module, if it has one.
fn without_tests(text: &str) -> &str {
    match text.find("#[cfg(test)]\nmod tests {") {
        Some(at) => &text[..at],
        None => text,
    }
}
