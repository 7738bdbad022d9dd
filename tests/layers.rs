//! The source tree is the thread-and-layer map (DESIGN.md, STYLE.md rule 12), and this test
//! keeps it so. It reads `src/**/*.rs` as text (comments, strings and unit-test code left
//! out: a test may build its fixtures from any layer) and fails on:
//! - an import that points up the layer order: `base` (limits, clock, file reads, JSON
//!   error wording, text escaping), then `model`, `rt`, `storage` and `telemetry`, then the
//!   thread folders (`loader`, `stretch`, `hw`, `remote`), then `control` and `cli`;
//! - an import between two thread folders (each talks to the others only through control);
//! - a cycle between modules (`rt::engine` and `rt::run` are two modules; a folder's
//!   `mod.rs` is its folder's module);
//! - a thread name that does not start with `stembox-` or is longer than the 15 bytes Linux
//!   shows, or that the README's thread table does not list (and a row of that table that
//!   no code spawns);
//! - a top-level folder of `src/` missing from the README's code table.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Rank of each top-level module: imports go only to the same or a lower rank.
const LAYERS: &[(&str, u8)] = &[
    ("base", 0),
    ("model", 1),
    ("rt", 2),
    ("storage", 3),
    ("telemetry", 3),
    ("loader", 4),
    ("stretch", 4),
    ("hw", 4),
    ("remote", 4),
    ("control", 5),
    ("cli", 5),
];

/// The thread folders: none imports another.
const THREAD_FOLDERS: &[&str] = &["loader", "stretch", "hw", "remote"];

fn rank(top: &str) -> Option<u8> {
    LAYERS.iter().find(|(n, _)| *n == top).map(|&(_, r)| r)
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// `src/rt/engine.rs` -> `["rt", "engine"]`; `src/loader/mod.rs` -> `["loader"]`.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .with_extension("")
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect();
    if parts.last().is_some_and(|p| p == "mod" || p == "lib") {
        parts.pop();
    }
    parts
}

/// The code of a file without comments, string and char literals, and without its
/// `#[cfg(test)]` items (by convention the last thing in a file).
fn code_of(text: &str) -> String {
    let text = match text.find("#[cfg(test)]") {
        Some(i) => &text[..i],
        None => text,
    };
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            i += 2;
            while i + 1 < b.len() && !b[i..].starts_with(b"*/") {
                i += 1;
            }
            i += 2;
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i..].starts_with(b"r#\"") {
            let end = text[i + 3..].find("\"#").map_or(b.len(), |e| i + 3 + e + 2);
            i = end;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || b[i + 1] == b'\\') {
            // A char literal ('a', '\n', '\''); a lifetime ('a) has no closing quote.
            let close = text[i + 2..].find('\'').map_or(b.len(), |e| i + 2 + e + 1);
            i = close;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// The modules a file's code names: `crate::a::b::...` paths (and `super::x` as a sibling
/// `x` when `x` is a module), each cut to the deepest module that exists.
fn uses(code: &str, me: &[String], modules: &BTreeSet<Vec<String>>) -> BTreeSet<Vec<String>> {
    let mut found = BTreeSet::new();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut resolve = |start: Vec<String>, rest: &str| {
        let mut path = start;
        let mut best = None;
        if modules.contains(&path) {
            best = Some(path.clone());
        }
        // Each `::name` after the start: follow it while it is a module. A brace group
        // (`crate::rt::{engine, run}`) names each item in it.
        let rest = rest.trim_start();
        if let Some(group) = rest.strip_prefix("::{") {
            let inner: String = group.chars().take_while(|&c| c != '}').collect();
            for item in inner.split(',') {
                let name: String = item.trim().chars().take_while(|&c| ident(c)).collect();
                let mut p = path.clone();
                p.push(name);
                if modules.contains(&p) {
                    found.insert(p);
                }
            }
        } else {
            let mut r = rest;
            while let Some(after) = r.strip_prefix("::") {
                let name: String = after.chars().take_while(|&c| ident(c)).collect();
                if name.is_empty() {
                    break;
                }
                path.push(name.clone());
                if modules.contains(&path) {
                    best = Some(path.clone());
                } else {
                    break;
                }
                r = &after[name.len()..];
            }
        }
        if let Some(b) = best {
            found.insert(b);
        }
    };
    for (i, _) in code.match_indices("crate::") {
        if i > 0 && code[..i].ends_with(|c: char| ident(c) || c == ':') {
            continue;
        }
        let rest = &code[i + "crate".len()..];
        resolve(Vec::new(), rest);
    }
    for (i, _) in code.match_indices("super::") {
        if i > 0 && code[..i].ends_with(|c: char| ident(c) || c == ':') {
            continue;
        }
        let parent: Vec<String> = me[..me.len().saturating_sub(1)].to_vec();
        resolve(parent, &code[i + "super".len()..]);
    }
    found.remove(&Vec::<String>::new());
    found
}

struct Tree {
    /// Module -> modules its code names.
    edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    thread_names: BTreeSet<String>,
}

fn read_tree() -> Tree {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.retain(|f| {
        let rel = f.strip_prefix(&src).unwrap();
        // The binaries are above everything; a unit-test file is test code.
        !rel.starts_with("bin")
            && rel.file_name().is_some_and(|n| n != "tests.rs")
            && rel != Path::new("main.rs")
    });
    let modules: BTreeSet<Vec<String>> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(&src).unwrap()))
        .collect();
    let mut edges = BTreeMap::new();
    let mut thread_names = BTreeSet::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let me = module_of(f.strip_prefix(&src).unwrap());
        let code = code_of(&text);
        let mut used = uses(&code, &me, &modules);
        used.retain(|u| !me.starts_with(u) && !u.starts_with(&me));
        edges.insert(me, used);
        // Thread names: `.name("...")` / `.name(format!("..."))` after a thread Builder.
        let prod = match text.find("#[cfg(test)]") {
            Some(i) => &text[..i],
            None => &text[..],
        };
        for (i, _) in prod.match_indices("thread::Builder::new()") {
            let after = &prod[i..];
            if let Some(n) = after.find(".name(") {
                let arg = &after[n + 6..];
                if let Some(q) = arg.find('"') {
                    let name: String = arg[q + 1..].chars().take_while(|&c| c != '"').collect();
                    thread_names.insert(name);
                }
            }
        }
    }
    Tree {
        edges,
        thread_names,
    }
}

#[test]
fn imports_flow_down_the_layers_and_thread_folders_keep_apart() {
    let tree = read_tree();
    let mut wrong = Vec::new();
    for (from, tos) in tree.edges.iter().filter(|(f, _)| !f.is_empty()) {
        let Some(rf) = rank(&from[0]) else {
            if from[0] != "lib" {
                wrong.push(format!("{}: not in the layer list", from.join("::")));
            }
            continue;
        };
        for to in tos {
            let Some(rt) = rank(&to[0]) else {
                continue;
            };
            if rt > rf {
                wrong.push(format!(
                    "{} (layer {rf}) imports {} (layer {rt})",
                    from.join("::"),
                    to.join("::")
                ));
            } else if from[0] != to[0]
                && THREAD_FOLDERS.contains(&from[0].as_str())
                && THREAD_FOLDERS.contains(&to[0].as_str())
            {
                wrong.push(format!(
                    "thread folder {} imports thread folder {}",
                    from.join("::"),
                    to.join("::")
                ));
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "imports against the layers:\n{}",
        wrong.join("\n")
    );
}

#[test]
fn no_module_cycles() {
    let tree = read_tree();
    // Tarjan's strongly connected components over the module graph.
    let nodes: Vec<&Vec<String>> = tree.edges.keys().collect();
    let index_of: BTreeMap<&Vec<String>, usize> =
        nodes.iter().enumerate().map(|(i, n)| (*n, i)).collect();
    let succ: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            tree.edges[*n]
                .iter()
                .filter_map(|t| index_of.get(t).copied())
                .collect()
        })
        .collect();
    struct T<'a> {
        succ: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        sccs: Vec<Vec<usize>>,
    }
    fn visit(t: &mut T<'_>, v: usize) {
        t.index[v] = Some(t.next);
        t.low[v] = t.next;
        t.next += 1;
        t.stack.push(v);
        t.on[v] = true;
        for &w in &t.succ[v].clone() {
            match t.index[w] {
                None => {
                    visit(t, w);
                    t.low[v] = t.low[v].min(t.low[w]);
                }
                Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(t.low[v]) == t.index[v] {
            let mut c = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on[w] = false;
                c.push(w);
                if w == v {
                    break;
                }
            }
            if c.len() > 1 {
                t.sccs.push(c);
            }
        }
    }
    let n = nodes.len();
    let mut t = T {
        succ: &succ,
        index: vec![None; n],
        low: vec![0; n],
        on: vec![false; n],
        stack: Vec::new(),
        next: 0,
        sccs: Vec::new(),
    };
    for v in 0..n {
        if t.index[v].is_none() {
            visit(&mut t, v);
        }
    }
    let cycles: Vec<String> = t
        .sccs
        .iter()
        .map(|c| {
            c.iter()
                .map(|&i| nodes[i].join("::"))
                .collect::<Vec<_>>()
                .join(" <-> ")
        })
        .collect();
    assert!(cycles.is_empty(), "module cycles:\n{}", cycles.join("\n"));
}

fn readme() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap()
}

/// The rows of the README table whose header starts with `header`, first cells.
fn table_first_cells(readme: &str, header: &str) -> Vec<String> {
    let mut lines = readme.lines().skip_while(|l| !l.starts_with(header));
    let mut cells = Vec::new();
    lines.next();
    for l in lines.skip(1) {
        if !l.starts_with('|') {
            break;
        }
        let first = l.trim_start_matches('|').split('|').next().unwrap_or("");
        cells.push(first.trim().trim_matches('`').to_string());
    }
    cells
}

#[test]
fn thread_names_are_one_style_and_the_readme_lists_each() {
    let tree = read_tree();
    let readme = readme();
    let rows: BTreeSet<String> = table_first_cells(&readme, "| thread").into_iter().collect();
    assert!(!rows.is_empty(), "README has no `| thread |` table");
    let mut wrong = Vec::new();
    for name in &tree.thread_names {
        // `stembox-stem{i}` is written with its index placeholder in the table.
        let shown = name.replace("{i}", "N");
        if !name.starts_with("stembox-") || shown.len() > 15 {
            wrong.push(format!(
                "thread `{name}`: not `stembox-...` within 15 bytes"
            ));
        }
        if !rows.contains(&shown) {
            wrong.push(format!(
                "thread `{shown}` is not in the README's thread table"
            ));
        }
    }
    // The control thread is the process's main thread: no Builder names it.
    for row in rows.iter().filter(|r| !r.starts_with("main")) {
        let spawned = tree
            .thread_names
            .iter()
            .any(|n| &n.replace("{i}", "N") == row);
        if !spawned {
            wrong.push(format!("README thread `{row}` is spawned nowhere"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_readme_code_table_names_every_source_folder() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let readme = readme();
    let rows = table_first_cells(&readme, "| folder");
    let mut missing = Vec::new();
    for e in std::fs::read_dir(&src).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            let name = format!("src/{}/", p.file_name().unwrap().to_string_lossy());
            if !rows
                .iter()
                .any(|r| r.split(", ").any(|c| c.trim_matches('`') == name))
            {
                missing.push(name);
            }
        }
    }
    for row in &rows {
        for cell in row.split(", ") {
            let dir = cell.trim_matches('`');
            if dir.starts_with("src/") && !Path::new(env!("CARGO_MANIFEST_DIR")).join(dir).is_dir()
            {
                missing.push(format!("{dir} (in the README, not in the tree)"));
            }
        }
    }
    assert!(missing.is_empty(), "README code table vs src/: {missing:?}");
}

#[test]
fn the_scanner_sees_an_upward_import_and_a_cycle() {
    // The rules above are only as good as the scan: check it on code that breaks them.
    let modules: BTreeSet<Vec<String>> = [
        vec!["rt".to_string()],
        vec!["rt".to_string(), "engine".to_string()],
        vec!["control".to_string()],
    ]
    .into_iter()
    .collect();
    let me = vec!["rt".to_string(), "engine".to_string()];
    let code = code_of(
        "use crate::control::Session; // crate::hw in a comment\nlet s = \"crate::model\";",
    );
    let used = uses(&code, &me, &modules);
    assert_eq!(used, [vec!["control".to_string()]].into_iter().collect());
    let code = code_of("use crate::rt::{engine, run};\nuse super::engine::Engine;");
    let used = uses(&code, &["rt".into(), "run".into()], &modules);
    assert!(used.contains(&vec!["rt".to_string(), "engine".to_string()]));
}
