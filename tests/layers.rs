//! The tree shows the layers, and the module graph holds to them: model, then policy,
//! then admission, then server and cli, each importing only what is above it; and no
//! module (file) imports, directly or through others, one that imports it.
//!
//! The graph is read from the source: every `crate::`, `super::` and `self::` path outside
//! comments and `#[cfg(test)]` modules (tests may reach anything), resolved to the
//! longest module it names. `main.rs`, the binary, sits on top and is not part of it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The top-level modules, inside out; a module may import from its own layer's module and
/// the ones before it.
const LAYERS: [&[&str]; 4] = [&["model"], &["policy"], &["admission"], &["server", "cli"]];

type Graph = BTreeMap<String, BTreeSet<String>>;

/// The module of a file under `src/`: `policy/rules/mod.rs` is `policy::rules`.
fn module_of(rel: &Path) -> String {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned())
        .collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    parts.join("::")
}

/// The code of a file: comments and `#[cfg(test)]` modules dropped.
fn code(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let trimmed = line.trim_start();
        if trimmed.starts_with("#[cfg(test)]") {
            // The test module runs to the end of the file, by this crate's layout; a test
            // item elsewhere is skipped to its closing brace at the same indentation.
            let indent = line.len() - trimmed.len();
            if indent == 0 {
                break;
            }
            for inner in lines.by_ref() {
                if inner.len() - inner.trim_start().len() == indent && inner.trim() == "}" {
                    break;
                }
            }
            continue;
        }
        if trimmed.starts_with("//") {
            continue;
        }
        out.push_str(line.split(" //").next().unwrap_or(line));
        out.push('\n');
    }
    out
}

/// The paths a use tree names, `{...}` groups expanded: `crate::a::{b, c::d}` gives
/// `crate::a::b` and `crate::a::c::d`.
fn expand(prefix: &str, tree: &str, out: &mut Vec<String>) {
    let tree = tree.trim();
    let (head, group) = match tree.find('{') {
        Some(i) if tree.ends_with('}') => (&tree[..i], Some(&tree[i + 1..tree.len() - 1])),
        _ => (tree, None),
    };
    let head = head.trim_end_matches("::").trim();
    let base = match (prefix.is_empty(), head.is_empty()) {
        (true, _) => head.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) => format!("{prefix}::{head}"),
    };
    let Some(group) = group else {
        out.push(base);
        return;
    };
    let (mut depth, mut start) = (0, 0);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                expand(&base, &group[start..i], out);
                start = i + 1;
            }
            _ => {}
        }
    }
    if !group[start..].trim().is_empty() {
        expand(&base, &group[start..], out);
    }
}

/// Every `crate::`/`super::`/`self::` path in `code`, resolved from module `at`.
fn paths(code: &str, at: &str, is_mod_file: bool) -> Vec<Vec<String>> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    for start in ["crate::", "super::", "self::"] {
        let mut from = 0;
        while let Some(i) = code[from..].find(start).map(|i| i + from) {
            from = i + start.len();
            if i > 0
                && (bytes[i - 1].is_ascii_alphanumeric()
                    || bytes[i - 1] == b'_'
                    || bytes[i - 1] == b':')
            {
                continue;
            }
            // The path runs over identifiers, `::` and one balanced `{...}` group.
            let (mut end, mut depth) = (i, 0);
            for (j, c) in code[i..].char_indices() {
                let ok = c.is_alphanumeric() || c == '_' || c == ':' || c == ' ' && depth > 0;
                match c {
                    '{' => depth += 1,
                    '}' if depth > 0 => depth -= 1,
                    ',' | '\n' if depth > 0 => {}
                    _ if ok => {}
                    _ => break,
                }
                end = i + j + c.len_utf8();
                if depth == 0 && c == '}' {
                    break;
                }
            }
            let mut expanded = Vec::new();
            expand("", &code[i..end], &mut expanded);
            for path in expanded {
                let mut segments: Vec<&str> = path.split("::").map(str::trim).collect();
                let mut base: Vec<String> = match segments.first() {
                    Some(&"crate") => Vec::new(),
                    Some(&"self") if is_mod_file => at.split("::").map(str::to_owned).collect(),
                    Some(&"self") => {
                        let mut b: Vec<String> = at.split("::").map(str::to_owned).collect();
                        b.pop();
                        b.push(at.rsplit("::").next().unwrap_or("").to_owned());
                        b
                    }
                    _ => {
                        // `super::` from a file module is its parent; from mod.rs, the
                        // parent of the directory's module.
                        let mut b: Vec<String> = at.split("::").map(str::to_owned).collect();
                        b.pop();
                        b
                    }
                };
                segments.remove(0);
                while segments.first() == Some(&"super") {
                    base.pop();
                    segments.remove(0);
                }
                base.extend(
                    segments
                        .iter()
                        .filter(|s| !s.is_empty())
                        .map(|s| s.split(" as ").next().unwrap_or(s).trim().to_owned()),
                );
                found.push(base);
            }
        }
    }
    found
}

/// Whether `code` names `child::...` as a bare path (not after `::` or an identifier).
fn names_bare(code: &str, child: &str) -> bool {
    let needle = format!("{child}::");
    code.match_indices(&needle).any(|(i, _)| {
        let before = code[..i].chars().next_back();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

/// The module graph of the library in `src`.
fn graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    let mut dirs = vec![src.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("src").filter_map(Result::ok) {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("main.rs") {
                files.push(path);
            }
        }
    }
    let modules: BTreeSet<String> = files
        .iter()
        .map(|f| module_of(f.strip_prefix(src).expect("under src")))
        .collect();
    let mut graph = Graph::new();
    for file in &files {
        let rel = file.strip_prefix(src).expect("under src");
        let at = module_of(rel);
        let is_mod = rel.ends_with("mod.rs") || rel.ends_with("lib.rs");
        let text = std::fs::read_to_string(file).expect("source");
        let code = code(&text);
        let mut found = paths(&code, &at, is_mod);
        if is_mod {
            // A directory's module names its children by bare paths too: `routes::router`.
            let prefix = if at.is_empty() {
                String::new()
            } else {
                format!("{at}::")
            };
            for child in modules.iter().filter_map(|m| m.strip_prefix(&prefix)) {
                if !child.contains("::") && !child.is_empty() && names_bare(&code, child) {
                    found.push(
                        format!("{prefix}{child}")
                            .split("::")
                            .map(str::to_owned)
                            .collect(),
                    );
                }
            }
        }
        let edges = graph.entry(at.clone()).or_default();
        for path in found {
            // The longest prefix that is a module.
            let target = (0..=path.len())
                .rev()
                .map(|n| path[..n].join("::"))
                .find(|m| modules.contains(m));
            if let Some(target) = target
                && target != at
            {
                edges.insert(target);
            }
        }
    }
    graph
}

/// A cycle in `graph`, if there is one, as the modules along it.
fn cycle(graph: &Graph) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &Graph,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        match state.get(m) {
            Some(2) => return None,
            Some(1) => {
                let from = stack.iter().position(|s| s == m).unwrap_or(0);
                let mut c = stack[from..].to_vec();
                c.push(m.to_owned());
                return Some(c);
            }
            _ => {}
        }
        state.insert(m.to_owned(), 1);
        stack.push(m.to_owned());
        for next in graph.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, graph, state, stack) {
                return Some(c);
            }
        }
        stack.pop();
        state.insert(m.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    graph
        .keys()
        .find_map(|m| visit(m, graph, &mut state, &mut Vec::new()))
}

fn layer(module: &str) -> Option<(usize, &'static str)> {
    let top = module.split("::").next().unwrap_or("");
    LAYERS
        .iter()
        .enumerate()
        .find_map(|(i, names)| names.iter().find(|n| **n == top).map(|n| (i, *n)))
}

fn src() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

#[test]
fn the_module_graph_has_no_circles() {
    let graph = graph(&src());
    // The reader sees what is there: a few edges the code certainly has.
    for (from, to) in [
        ("policy::rules::plan_combination", "model::plan"),
        ("admission", "policy"),
        ("server::routes", "admission"),
        ("policy::rules::pull_secret", "model::field"),
    ] {
        assert!(
            graph.get(from).is_some_and(|e| e.contains(to)),
            "the reader missed {from} -> {to}: {:?}",
            graph.get(from)
        );
    }
    assert_eq!(cycle(&graph), None, "a circle in the module graph");
}

/// The imports of `graph` that reach a later layer, or a sibling module of the same one.
fn against_layers(graph: &Graph) -> Vec<String> {
    let mut wrong = Vec::new();
    for (from, edges) in graph {
        let Some((from_layer, from_top)) = layer(from) else {
            continue;
        };
        for to in edges {
            match layer(to) {
                Some((to_layer, to_top))
                    if to_layer > from_layer || (to_layer == from_layer && to_top != from_top) =>
                {
                    wrong.push(format!("{from} -> {to}"))
                }
                _ => {}
            }
        }
    }
    wrong
}

#[test]
fn each_layer_imports_only_the_layers_before_it() {
    let graph = graph(&src());
    let wrong = against_layers(&graph);
    assert!(wrong.is_empty(), "imports against the layers: {wrong:#?}");
    // Every top-level module is in a layer.
    for module in graph.keys().filter(|m| !m.is_empty() && !m.contains("::")) {
        assert!(layer(module).is_some(), "{module} is in no layer");
    }
}

#[test]
fn the_checks_catch_a_circle_and_a_layer_broken() {
    let dir = std::env::temp_dir().join(format!("ibgu-layers-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("model")).expect("dir");
    std::fs::create_dir_all(dir.join("policy")).expect("dir");
    let write = |p: &str, text: &str| std::fs::write(dir.join(p), text).expect("write");
    write("lib.rs", "pub mod model;\npub mod policy;\n");
    write(
        "model/mod.rs",
        "pub mod a;\nuse self::a::A;\n// crate::policy in a comment\n",
    );
    write(
        "model/a.rs",
        "use super::{B, c::{D}};\npub struct A;\n#[cfg(test)]\nmod tests { use crate::policy::x; }\n",
    );
    write("policy/mod.rs", "use crate::model::a::A;\n");
    let g = graph(&dir);
    assert_eq!(
        cycle(&g),
        Some(vec![
            "model".to_owned(),
            "model::a".to_owned(),
            "model".to_owned()
        ])
    );
    assert!(!g["model"].contains("policy"), "comments are not code");
    assert!(!g["model::a"].contains("policy"), "tests are not code");
    assert!(g["policy"].contains("model::a"));
    // Without the circle; then one through a bare child path.
    write("model/a.rs", "pub struct A;\n");
    assert_eq!(cycle(&graph(&dir)), None);
    write("policy/mod.rs", "mod b;\nuse b::B;\n");
    write("policy/b.rs", "use super::C;\n");
    let g = graph(&dir);
    assert_eq!(
        cycle(&g),
        Some(vec![
            "policy".to_owned(),
            "policy::b".to_owned(),
            "policy".to_owned()
        ]),
        "a bare child path is an import: {g:?}"
    );
    write("model/a.rs", "use crate::policy;\n");
    let g = graph(&dir);
    assert!(g["model::a"].contains("policy"));
    assert_eq!(against_layers(&g), ["model::a -> policy"]);
    let siblings = Graph::from([(
        "server".to_owned(),
        BTreeSet::from(["cli::check".to_owned()]),
    )]);
    assert_eq!(against_layers(&siblings), ["server -> cli::check"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn no_rule_imports_another_rule() {
    let graph = graph(&src());
    let rule = |m: &str| {
        m.strip_prefix("policy::rules::")
            .map(|r| r.split("::").next().unwrap_or(r).to_owned())
    };
    let mut rules = 0;
    for (from, to) in &graph {
        let Some(own) = rule(from) else { continue };
        rules += 1;
        let others: Vec<&String> = to
            .iter()
            .filter(|t| rule(t).is_some_and(|r| r != own && r != "tests"))
            .collect();
        assert!(
            others.is_empty(),
            "{from} imports {others:?}: shared helpers go in model"
        );
    }
    assert!(rules >= 10, "only {rules} rule modules read");
}
