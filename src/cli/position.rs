//! Where a finding's field is in the file: line and column of every field of every
//! document, so that `check` can point at `maxConcurrency:` and not only name
//! `spec.plan[0].rolloutStrategy.maxConcurrency`.
//!
//! The positions come from the same parse as the values ([`super::manifest`]): a map
//! entry is located at its key (where a user looks for the field), a sequence item at its
//! first token (after an anchor or a tag), a document at its first node, and everything
//! an alias brings in at the alias.

use std::fmt;

/// 1-based line and column of a node in the file's text (columns count characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Position {
    /// The line, from 1.
    pub line: u32,
    /// The column, from 1, in characters.
    pub column: u32,
}

impl fmt::Display for Position {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// Where each field of one document is (after `List` expansion: an item's paths start at
/// the item). The default knows no position.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Positions {
    root: Tree,
}

/// A node and where it is; `at` is `None` where no position is known.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Tree {
    pub(crate) at: Option<Position>,
    pub(crate) kids: Kids,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum Kids {
    #[default]
    Leaf,
    /// Entries in the order of their first key in the text.
    Map(Vec<(String, Tree)>),
    Seq(Vec<Tree>),
}

impl Positions {
    pub(crate) fn new(root: Tree) -> Self {
        Positions { root }
    }

    /// The position of `path` (the field path text as `FieldError` prints it), or of its
    /// nearest ancestor that the document has (a missing `spec.plan[0].rolloutStrategy`
    /// points at `spec.plan[0]`); the document's start for the empty path.
    ///
    /// A map key may be written `.key`, `[key]` (apimachinery's `field.Path.Key`) or
    /// `["key"]`; keys with dots written after a dot (`metadata.labels.app.kubernetes.io/name`)
    /// are found too, by trying the keys the map has.
    pub fn of(&self, path: &str) -> Option<Position> {
        resolve(&self.root, path, true).1
    }

    /// Every located node as (path, position), parents before children, with keys
    /// rendered `.key` when they are plain names and `[key]` otherwise.
    pub fn entries(&self) -> Vec<(String, Position)> {
        let mut out = Vec::new();
        walk(&self.root, String::new(), &mut out);
        out
    }

    pub(crate) fn into_tree(self) -> Tree {
        self.root
    }

    /// The positions of the items of this document's `items` sequence, in order.
    pub(crate) fn into_items(self) -> Vec<Positions> {
        let Kids::Map(entries) = self.root.kids else {
            return Vec::new();
        };
        match entries.into_iter().find(|(k, _)| k == "items") {
            Some((
                _,
                Tree {
                    kids: Kids::Seq(items),
                    ..
                },
            )) => items.into_iter().map(Positions::new).collect(),
            _ => Vec::new(),
        }
    }
}

fn walk(t: &Tree, path: String, out: &mut Vec<(String, Position)>) {
    if let Some(at) = t.at {
        out.push((path.clone(), at));
    }
    match &t.kids {
        Kids::Leaf => {}
        Kids::Map(entries) => {
            for (k, child) in entries {
                walk(child, render_key(&path, k), out);
            }
        }
        Kids::Seq(items) => {
            for (i, child) in items.iter().enumerate() {
                walk(child, format!("{path}[{i}]"), out);
            }
        }
    }
}

/// `parent.key` for names apimachinery writes as struct fields, `parent[key]` otherwise.
pub fn render_key(parent: &str, key: &str) -> String {
    let plain = key
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-');
    if !plain {
        format!("{parent}[{key}]")
    } else if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Follows `rest` down from `t`: returns how much of `rest` is left unmatched and the
/// deepest located node on the way. Where several keys match (`a` and `a.b` after a dot),
/// the one that matches more wins.
fn resolve(t: &Tree, rest: &str, first: bool) -> (usize, Option<Position>) {
    let here = (rest.len(), t.at);
    if rest.is_empty() {
        return here;
    }
    let mut best = here;
    let mut consider = |candidate: (usize, Option<Position>)| {
        if candidate.1.is_some() && (candidate.0 < best.0 || best.1.is_none()) {
            best = candidate;
        }
    };
    match &t.kids {
        Kids::Leaf => {}
        Kids::Map(entries) => {
            for (k, child) in entries {
                for after in key_matches(rest, k, first) {
                    consider(resolve(child, after, false));
                }
            }
        }
        Kids::Seq(items) => {
            if let Some((i, after)) = index_match(rest)
                && let Some(child) = items.get(i)
            {
                consider(resolve(child, after, false));
            }
        }
    }
    best
}

/// What follows key `k` in `rest`, for each way of writing it that `rest` starts with.
fn key_matches<'a>(rest: &'a str, k: &str, first: bool) -> Vec<&'a str> {
    let mut out = Vec::new();
    let dotted = if first {
        Some(rest)
    } else {
        rest.strip_prefix('.')
    };
    if let Some(after) = dotted.and_then(|s| s.strip_prefix(k))
        && (after.is_empty() || after.starts_with('.') || after.starts_with('['))
    {
        out.push(after);
    }
    if let Some(inner) = rest.strip_prefix('[') {
        if let Some(after) = inner.strip_prefix(k).and_then(|s| s.strip_prefix(']')) {
            out.push(after);
        }
        if let Ok(quoted) = serde_json::to_string(k)
            && let Some(after) = inner
                .strip_prefix(quoted.as_str())
                .and_then(|s| s.strip_prefix(']'))
        {
            out.push(after);
        }
    }
    out
}

/// `[i]` at the start of `rest`: the index and what follows.
fn index_match(rest: &str) -> Option<(usize, &str)> {
    let inner = rest.strip_prefix('[')?;
    let close = inner.find(']')?;
    let i = inner[..close].parse().ok()?;
    Some((i, &inner[close + 1..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One `Positions` per document of `text`, as `check` reads it; none when it refuses
    /// the text.
    fn index(text: &str) -> Vec<Positions> {
        super::super::check::Input::parse("", text).map_or_else(|_| Vec::new(), |i| i.positions)
    }

    fn at(line: u32, column: u32) -> Option<Position> {
        Some(Position { line, column })
    }

    #[test]
    fn block_yaml_keys_and_items() {
        let text = "\
apiVersion: lcm.openshift.io/v1alpha1
kind: ImageBasedGroupUpgrade
metadata:
  name: u
spec:
  plan:
  - actions: [Prep]
    rolloutStrategy:
      maxConcurrency: 2
  - actions: [Upgrade]
";
        let docs = index(text);
        assert_eq!(docs.len(), 1);
        let d = &docs[0];
        assert_eq!(d.of(""), at(1, 1));
        assert_eq!(d.of("metadata.name"), at(4, 3));
        assert_eq!(
            d.of("spec.plan[0].rolloutStrategy.maxConcurrency"),
            at(9, 7)
        );
        assert_eq!(d.of("spec.plan[1].actions"), at(10, 5));
        assert_eq!(d.of("spec.plan[1].actions[0]"), at(10, 15));
        // Missing fields point at their nearest ancestor.
        assert_eq!(
            d.of("spec.plan[1].rolloutStrategy.timeout"),
            d.of("spec.plan[1]")
        );
        assert_eq!(d.of("spec.plan[7]"), at(6, 3));
        assert_eq!(d.of("status.clusters"), at(1, 1));
    }

    #[test]
    fn documents_follow_check_dropping_and_list_expansion() {
        // Same input as check's own test: two items of a List, two empty documents, C.
        let text = "---\nkind: List\nitems:\n- kind: A\n- kind: B\n---\n---\nkind: C\n";
        let docs = index(text);
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].of("kind"), at(4, 3));
        assert_eq!(docs[1].of("kind"), at(5, 3));
        assert_eq!(docs[2].of("kind"), at(8, 1));
        assert_eq!(docs[2].of(""), at(8, 1));
    }

    #[test]
    fn list_items_paths_start_at_the_item_and_lines_are_the_files() {
        let text = "\
# exported with kubectl
apiVersion: v1
kind: ImageBasedGroupUpgradeList
items:
- metadata:
    name: one
- ~
-   metadata:
      name: two
    spec:
      plan:
      - actions: [Prep]
---
kind: C
";
        let docs = index(text);
        assert_eq!(
            docs.len(),
            3,
            "the null item is dropped, like check drops it"
        );
        assert_eq!(docs[0].of(""), at(5, 3));
        assert_eq!(docs[0].of("metadata.name"), at(6, 5));
        assert_eq!(docs[1].of(""), at(8, 5));
        assert_eq!(docs[1].of("metadata.name"), at(9, 7));
        assert_eq!(docs[1].of("spec.plan[0].actions"), at(12, 9));
        assert_eq!(
            docs[1].of("items"),
            at(8, 5),
            "item paths do not see the List"
        );
        assert_eq!(docs[2].of("kind"), at(14, 1));
    }

    #[test]
    fn any_object_with_an_items_sequence_is_a_list_as_kubectl_reads_it() {
        let text =
            "kind: List\nitems: {a: 1}\n---\nkind: Listing\nitems: [{a: 1}]\n---\nitems: ~\n";
        let docs = index(text);
        assert_eq!(docs.len(), 2, "items: ~ is an empty list");
        assert_eq!(docs[0].of("items.a"), at(2, 9));
        assert_eq!(docs[1].of("a"), at(5, 10));
    }

    #[test]
    fn keys_that_need_brackets_and_keys_with_dots() {
        let text = "\
metadata:
  labels:
    app.kubernetes.io/name: ibgu
    'with space': x
  annotations: {\"lcm.openshift.io/x\": \"1\", plain: 2}
";
        let d = &index(text)[0];
        let label = at(3, 5);
        assert_eq!(d.of("metadata.labels[app.kubernetes.io/name]"), label);
        assert_eq!(d.of("metadata.labels[\"app.kubernetes.io/name\"]"), label);
        assert_eq!(d.of("metadata.labels.app.kubernetes.io/name"), label);
        assert_eq!(d.of("metadata.labels[with space]"), at(4, 5));
        assert_eq!(d.of("metadata.annotations[lcm.openshift.io/x]"), at(5, 17));
        assert_eq!(d.of("metadata.annotations.plain"), at(5, 44));
        // A key is matched whole: `metadata.label` is not `metadata.labels`.
        assert_eq!(d.of("metadata.label"), at(1, 1));
        assert_eq!(d.of("metadata.labelsx"), d.of("metadata"));
        let rendered: Vec<String> = d.entries().into_iter().map(|(p, _)| p).collect();
        assert!(rendered.contains(&"metadata.labels[app.kubernetes.io/name]".to_owned()));
        assert!(rendered.contains(&"metadata.annotations.plain".to_owned()));
    }

    #[test]
    fn prefers_the_key_that_matches_more_of_the_path() {
        let text = "a:\n  b: 1\na.b:\n  c: 2\n";
        let d = &index(text)[0];
        assert_eq!(d.of("a.b.c"), at(4, 3));
        assert_eq!(
            d.of("a.b"),
            at(2, 3),
            "a full match on the first key stands"
        );
    }

    #[test]
    fn flow_style_comments_and_blank_lines() {
        let text = "\n\
# a comment

spec: {plan: [{actions: [Prep], rolloutStrategy: {maxConcurrency: 1}},   # trailing
  # between
  {actions: [Upgrade]}]}
";
        let d = &index(text)[0];
        assert_eq!(d.of(""), at(4, 1));
        assert_eq!(
            d.of("spec.plan[0].rolloutStrategy.maxConcurrency"),
            at(4, 51)
        );
        assert_eq!(d.of("spec.plan[1]"), at(6, 3));
        assert_eq!(d.of("spec.plan[1].actions"), at(6, 4));
    }

    #[test]
    fn an_alias_is_where_it_is_used() {
        let text = "\
defaults: &strategy
  maxConcurrency: 1
spec:
  plan:
  - rolloutStrategy: *strategy
  - rolloutStrategy:
      <<: *strategy
      timeout: 5
";
        let d = &index(text)[0];
        assert_eq!(d.of("defaults.maxConcurrency"), at(2, 3));
        let used = d.of("spec.plan[0].rolloutStrategy.maxConcurrency");
        assert_eq!(used.map(|p| p.line), Some(5), "{used:?}");
        let merged = d.of("spec.plan[1].rolloutStrategy.maxConcurrency");
        assert_eq!(merged.map(|p| p.line), Some(7), "{merged:?}");
        assert_eq!(d.of("spec.plan[1].rolloutStrategy.timeout"), at(8, 7));
    }

    #[test]
    fn json_streams_of_one_or_more_objects() {
        let one = "{\n  \"kind\": \"A\",\n  \"spec\": {\"plan\": [{\"actions\": [\"Prep\"]}]}\n}\n";
        let d = index(one);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].of("kind"), at(2, 3));
        assert_eq!(d[0].of("spec.plan[0].actions"), at(3, 22));

        let stream = "{\"a\":1} {\"b\":2}\n  {\"kind\": \"List\", \"items\": [{\"c\": 3}, null, {\"d\": 4}]}\nnull\n{\n\"e\": 5}";
        let d = index(stream);
        assert_eq!(d.len(), 5);
        assert_eq!(d[0].of("a"), at(1, 2));
        assert_eq!(d[1].of(""), at(1, 9));
        assert_eq!(d[1].of("b"), at(1, 10));
        assert_eq!(d[2].of("c"), at(2, 31));
        assert_eq!(d[3].of("d"), at(2, 47));
        assert_eq!(d[4].of("e"), at(5, 1));
    }

    #[test]
    fn json_that_yaml_reads_differently_still_indexes() {
        // Escapes YAML and JSON spell alike, a surrogate pair, tabs, JSON numbers.
        let d = &index(r#"{"a\/b": 1, "x": "\ud83d\ude00", "n": -0.5E-3}"#)[0];
        assert_eq!(d.of("[a/b]"), at(1, 2));
        assert_eq!(d.of("n"), at(1, 34));
        let d = &index("{\"a\":\t1,\n\t\"b\": 2}")[0];
        assert_eq!(d.of("b"), at(2, 2));
    }

    #[test]
    fn crlf_line_endings() {
        let text = "kind: A\r\nspec:\r\n  plan:\r\n  - actions: [Prep]\r\n---\r\nkind: B\r\n";
        let d = index(text);
        assert_eq!(d.len(), 2);
        assert_eq!(d[0].of("spec.plan[0].actions"), at(4, 5));
        assert_eq!(d[1].of("kind"), at(6, 1));
        let json = "{\"a\": 1}\r\n{\r\n  \"b\": 2}";
        let d = index(json);
        assert_eq!(d[1].of("b"), at(3, 3));
    }

    #[test]
    fn text_the_parser_rejects_gives_nothing() {
        for bad in [
            "a: [1, 2\n",
            "a: 1\n a: 2\n  - x",
            "{\"a\": 1} {",
            "{\"a\": }",
            "*undefined\n",
        ] {
            assert_eq!(index(bad), Vec::new(), "{bad:?}");
        }
        assert!(index("").is_empty());
        assert!(index("---\n...\n").is_empty());
    }

    #[test]
    fn json_as_deep_as_serde_json_reads_it_has_positions() {
        for depth in [30, 126] {
            let json = format!("{{\"a\": {}{}}}", "[".repeat(depth), "]".repeat(depth));
            let docs = index(&json);
            assert_eq!(docs.len(), 1, "depth {depth}");
            assert_eq!(docs[0].of("a[0][0][0]"), at(1, 10));
        }
        for too_deep in [
            format!("{{\"a\": {}{}}}", "[".repeat(200), "]".repeat(200)),
            format!("a: {}{}\n", "[".repeat(200), "]".repeat(200)),
        ] {
            assert!(index(&too_deep).is_empty());
        }
    }

    mod props {
        use super::super::*;
        use super::index;
        use proptest::prelude::*;

        /// Nested maps and lists, as a generator writes them.
        #[derive(Debug, Clone)]
        enum Gen {
            Leaf(&'static str),
            Map(Vec<(String, Gen)>),
            Seq(Vec<Gen>),
        }

        fn key() -> impl Strategy<Value = String> {
            prop_oneof![
                4 => "k[a-z0-9]{0,5}",
                1 => Just("app.kubernetes.io/name".to_owned()),
                1 => Just("with space".to_owned()),
                1 => Just("0".to_owned()),
                1 => Just("a-b".to_owned()),
                1 => Just("é".to_owned()),
            ]
        }

        fn document() -> impl Strategy<Value = Gen> {
            let leaf = prop_oneof![
                Just("1"),
                Just("text"),
                Just("\"quoted: # not a comment\""),
                Just("{}"),
                Just("[]"),
                Just("~"),
                Just("&anchor plain"),
            ]
            .prop_map(Gen::Leaf);
            let tree = leaf.prop_recursive(4, 40, 4, |inner| {
                prop_oneof![
                    prop::collection::btree_map(key(), inner.clone(), 1..4)
                        .prop_map(|m| Gen::Map(m.into_iter().collect())),
                    prop::collection::vec(inner, 1..4).prop_map(Gen::Seq),
                ]
            });
            prop::collection::btree_map(key(), tree, 1..5)
                .prop_map(|m| Gen::Map(m.into_iter().collect()))
        }

        /// The YAML text, and for every node the path and the line and column written.
        #[derive(Default)]
        struct Written {
            text: String,
            line: u32,
            expected: Vec<(String, u32, u32)>,
        }

        impl Written {
            fn column(&self) -> u32 {
                let start = self.text.rfind('\n').map_or(0, |i| i + 1);
                u32::try_from(self.text[start..].chars().count()).unwrap_or(u32::MAX) + 1
            }
            fn end_line(&mut self) {
                self.text.push('\n');
                self.line += 1;
            }
        }

        fn write(g: &Gen, indent: usize, inline: bool, path: &str, w: &mut Written) {
            match g {
                Gen::Leaf(s) => {
                    w.text.push_str(s);
                    w.end_line();
                }
                Gen::Map(entries) => {
                    for (i, (k, v)) in entries.iter().enumerate() {
                        if i > 0 || !inline {
                            w.text.push_str(&" ".repeat(indent));
                        }
                        let p = render_key(path, k);
                        w.expected.push((p.clone(), w.line, w.column()));
                        if k.starts_with('k') {
                            w.text.push_str(k);
                        } else {
                            w.text
                                .push_str(&serde_json::to_string(k).expect("a string"));
                        }
                        w.text.push(':');
                        match v {
                            Gen::Leaf(_) => {
                                w.text.push(' ');
                                write(v, indent, true, &p, w);
                                if k.len() % 3 == 0 {
                                    w.text.push_str("# a comment line");
                                    w.end_line();
                                    w.end_line();
                                }
                            }
                            Gen::Map(_) => {
                                w.text.push_str("  # a trailing comment");
                                w.end_line();
                                write(v, indent + 2, false, &p, w);
                            }
                            // Kubectl's style: a list at its key's indentation.
                            Gen::Seq(_) => {
                                w.end_line();
                                write(v, indent, false, &p, w);
                            }
                        }
                    }
                }
                Gen::Seq(items) => {
                    for (i, item) in items.iter().enumerate() {
                        if i > 0 || !inline {
                            w.text.push_str(&" ".repeat(indent));
                        }
                        w.text.push_str("- ");
                        let p = format!("{path}[{i}]");
                        // A node with an anchor is located at its content.
                        let anchor = match item {
                            Gen::Leaf(s) if s.starts_with('&') => 8,
                            _ => 0,
                        };
                        w.expected.push((p.clone(), w.line, w.column() + anchor));
                        write(item, indent + 2, true, &p, w);
                    }
                }
            }
        }

        fn written(g: &Gen) -> Written {
            let mut w = Written {
                text: "# generated\n---\n".to_owned(),
                line: 3,
                ..Written::default()
            };
            write(g, 0, false, "", &mut w);
            w
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(256))]

            #[test]
            fn every_path_is_where_it_was_written(g in document(), crlf in any::<bool>()) {
                let w = written(&g);
                let text = if crlf { w.text.replace('\n', "\r\n") } else { w.text.clone() };
                let docs = index(&text);
                prop_assert_eq!(docs.len(), 1, "{}", w.text);
                for (path, line, column) in &w.expected {
                    let found = docs[0].of(path);
                    prop_assert_eq!(
                        found,
                        Some(Position { line: *line, column: *column }),
                        "{} in\n{}",
                        path,
                        w.text
                    );
                }
                let mut listed: Vec<String> = docs[0].entries().into_iter().map(|(p, _)| p).collect();
                listed.retain(|p| !p.is_empty());
                let written: Vec<String> = w.expected.iter().map(|(p, ..)| p.clone()).collect();
                prop_assert_eq!(listed, written);
            }

            #[test]
            fn never_panics_on_any_text(text in any::<String>(), path in "[a-z.\\[\\]0-9]{0,12}") {
                for d in index(&text) {
                    let _ = d.of(&path);
                }
            }

            #[test]
            fn never_panics_on_yaml_like_text(
                text in "[-:{}\\[\\],?&*!|>'\"%@#~ \t\r\na-c0-2]{0,120}",
                path in "[a-c.\\[\\]0-2]{0,12}",
            ) {
                for d in index(&text) {
                    let _ = d.of(&path);
                }
                let json = format!("{{{text}");
                for d in index(&json) {
                    let _ = d.of(&path);
                }
            }
        }
    }
}
