//! A manifest file read as kubectl reads it, in one parse that gives each document's
//! value and the position of each of its fields.
//!
//! kubectl (cli-runtime's `StreamVisitor`, apimachinery's `YAMLOrJSONDecoder`) strips a
//! UTF-8 byte order mark, then reads a stream of JSON values when the text starts with
//! `{`, else YAML: it cuts the text into documents at lines that start with `---`
//! (`YAMLReader`; anything but a comment after the `---` is an error), and decodes the
//! first YAML document of each piece with go-yaml v2 into Go values (scalars resolved as
//! [`super::scalar`] says, `<<` merge keys, aliases, the last of duplicate keys), which
//! sigs.k8s.io/yaml turns into JSON. A `%YAML` or `%TAG` directive is thus always a piece
//! of its own, which go-yaml refuses.
//!
//! Here the same: each piece is parsed once by granit-parser into a node arena, then
//! decoded as go-yaml's decoder does (with its limit on alias expansion), producing the
//! value and its [`Positions`] together. JSON values are read by serde_json; their
//! positions come from reading each one's text as YAML flow syntax.
//!
//! Beyond kubectl: nesting deeper than [`MAX_DEPTH`] is refused (kubectl reads up to
//! 10000 levels), which bounds the stack of everything that walks a document after.

use std::collections::HashMap;

use granit_parser::{ErrorKind, Event, Parser, ScalarStyle, ScanError};
use serde_json::{Map, Value};

use super::position::{Kids, Position, Positions, Tree};
use super::scalar::{self, Resolved};

/// The deepest nesting of sequences and mappings read, as serde_json's limit for JSON.
pub const MAX_DEPTH: usize = 128;

/// Reads a file's text into its documents (a `null` one included, a piece with no document
/// not), each with its positions; the error says what kubectl (or this reader's limit) refuses, and where.
pub(crate) fn read(text: &str) -> Result<Vec<(Value, Positions)>, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    if text.trim_start().starts_with('{') {
        return json(text).map_err(|e| format!("invalid JSON: {e}"));
    }
    let mut documents = Vec::new();
    for piece in pieces(text)? {
        let Some(document) = first_document(&piece.text, piece.lines)? else {
            continue;
        };
        documents.push(document);
    }
    Ok(documents)
}

/// A stream of JSON values, each kept as kubectl reads it back (whole numbers that fit an
/// int64 are integers, other numbers floats).
fn json(text: &str) -> Result<Vec<(Value, Positions)>, serde_json::Error> {
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    let mut documents = Vec::new();
    let mut end = 0;
    while let Some(value) = stream.next() {
        let value = value?;
        let start = end + (text[end..].len() - text[end..].trim_start().len());
        end = stream.byte_offset();
        let positions = text
            .get(start..end)
            .and_then(|object| first_document(object, 0).ok().flatten())
            .map(|(_, p)| shifted(p, text, start))
            .unwrap_or_default();
        documents.push((numbers(value), positions));
    }
    Ok(documents)
}

fn numbers(value: Value) -> Value {
    match value {
        Value::Number(n) if !n.is_i64() => n
            .as_f64()
            .and_then(|f| scalar::number(f).ok())
            .unwrap_or(Value::Number(n)),
        Value::Array(items) => Value::Array(items.into_iter().map(numbers).collect()),
        Value::Object(map) => {
            Value::Object(map.into_iter().map(|(k, v)| (k, numbers(v))).collect())
        }
        other => other,
    }
}

/// Positions read from `text[start..]` moved to where that text is in `text`: lines
/// below, and columns right on its first line.
fn shifted(p: Positions, text: &str, start: usize) -> Positions {
    fn shift(t: Tree, lines: u32, columns: u32) -> Tree {
        let at = t.at.map(|p| Position {
            line: p.line.saturating_add(lines),
            column: if p.line == 1 {
                p.column.saturating_add(columns)
            } else {
                p.column
            },
        });
        let kids = match t.kids {
            Kids::Leaf => Kids::Leaf,
            Kids::Map(entries) => Kids::Map(
                entries
                    .into_iter()
                    .map(|(k, t)| (k, shift(t, lines, columns)))
                    .collect(),
            ),
            Kids::Seq(items) => Kids::Seq(
                items
                    .into_iter()
                    .map(|t| shift(t, lines, columns))
                    .collect(),
            ),
        };
        Tree { at, kids }
    }
    let before = &text[..start];
    let line_start = before.rfind(['\n', '\r']).map_or(0, |i| i + 1);
    let columns = u32::try_from(before[line_start..].chars().count()).unwrap_or(u32::MAX);
    Positions::new(shift(p.into_tree(), line_breaks(before), columns))
}

/// Line breaks as YAML counts them: LF, CRLF, CR.
fn line_breaks(s: &str) -> u32 {
    let n = s.matches('\n').count() + s.matches('\r').count() - s.matches("\r\n").count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A piece of the text between `---` lines, as kubectl's `YAMLReader` hands it on: each
/// line ended by `\n` (a CRLF made LF), after `lines` lines of the file.
struct Piece {
    text: String,
    lines: u32,
}

fn pieces(text: &str) -> Result<Vec<Piece>, String> {
    let mut pieces = Vec::new();
    let mut piece = Piece {
        text: String::new(),
        lines: 0,
    };
    let mut lines = 0;
    for line in text.split_inclusive('\n') {
        let content = line
            .strip_suffix('\n')
            .map_or(line, |l| l.strip_suffix('\r').unwrap_or(l));
        if let Some(rest) = content.strip_prefix("---") {
            let rest = rest.trim();
            if !rest.is_empty() && !rest.starts_with('#') {
                return Err(format!(
                    "invalid YAML: line {}: invalid Yaml document separator: {rest} \
                     (kubectl takes a line starting with --- for a document separator, \
                     and allows only a comment after it)",
                    lines + 1
                ));
            }
            if !piece.text.is_empty() {
                pieces.push(std::mem::replace(
                    &mut piece,
                    Piece {
                        text: String::new(),
                        lines: 0,
                    },
                ));
            }
        } else {
            if piece.text.is_empty() {
                piece.lines = lines;
            }
            piece.text.push_str(content);
            piece.text.push('\n');
        }
        lines += line_breaks(line);
    }
    if !piece.text.is_empty() {
        pieces.push(piece);
    }
    Ok(pieces)
}

/// A parsed node; positions are the file's.
struct Node {
    at: Position,
    kind: Kind,
}

enum Kind {
    Scalar {
        text: String,
        plain: bool,
        tag: Option<String>,
    },
    Seq(Vec<usize>),
    /// Keys and values, alternating.
    Map(Vec<usize>),
    Alias {
        target: usize,
        name: String,
    },
}

/// What went wrong, and where.
fn failure(at: Option<Position>, message: impl std::fmt::Display) -> String {
    match at {
        Some(p) => format!(
            "invalid YAML: line {} column {}: {message}",
            p.line, p.column
        ),
        None => format!("invalid YAML: {message}"),
    }
}

/// The first document of a piece of YAML (go-yaml's `Unmarshal` reads no further), or
/// `None` when it has none.
fn first_document(text: &str, lines: u32) -> Result<Option<(Value, Positions)>, String> {
    let options = granit_parser::options! {
        disallow_directives: true,
        emit_anchor_events: true,
        emit_unresolved_aliases: true,
    };
    let at = |line: usize, col: usize| Position {
        line: u32::try_from(line)
            .unwrap_or(u32::MAX)
            .saturating_add(lines),
        column: u32::try_from(col + 1).unwrap_or(u32::MAX),
    };
    let mut nodes: Vec<Node> = Vec::new();
    let mut open: Vec<usize> = Vec::new();
    let mut anchors: HashMap<usize, usize> = HashMap::new();
    let mut names: HashMap<usize, String> = HashMap::new();
    let mut root = None;
    for event in Parser::new_from_str_with_options(text, options) {
        let (event, span) = event.map_err(|e| scan_error(&e, lines))?;
        let here = at(span.start.line(), span.start.col());
        let (kind, anchor, opens) = match event {
            Event::DocumentEnd | Event::StreamEnd => break,
            Event::Scalar(text, style, anchor, tag) => (
                Kind::Scalar {
                    text: text.into_owned(),
                    plain: style == ScalarStyle::Plain,
                    tag: tag.map(|t| format!("{}{}", t.handle(), t.suffix())),
                },
                anchor,
                false,
            ),
            Event::SequenceStart(_, anchor, _) => (Kind::Seq(Vec::new()), anchor, true),
            Event::MappingStart(_, anchor, _) => (Kind::Map(Vec::new()), anchor, true),
            Event::SequenceEnd | Event::MappingEnd => {
                let done = open.pop().unwrap_or_default();
                attach(&mut nodes, &open, &mut root, done);
                continue;
            }
            Event::Alias(id) => {
                let target = anchors.get(&id).copied().unwrap_or_default();
                let name = names.get(&id).cloned().unwrap_or_default();
                (Kind::Alias { target, name }, 0, false)
            }
            Event::UnresolvedAlias(name) => {
                return Err(failure(
                    Some(here),
                    format!("unknown anchor '{name}' referenced"),
                ));
            }
            Event::Anchor(id, name) => {
                names.insert(id, name.into_owned());
                continue;
            }
            _ => continue,
        };
        let index = nodes.len();
        nodes.push(Node { at: here, kind });
        if anchor != 0 {
            anchors.insert(anchor, index);
        }
        if opens {
            open.push(index);
        } else {
            attach(&mut nodes, &open, &mut root, index);
        }
    }
    let Some(root) = root else {
        return Ok(None);
    };
    let mut decoder = Decoder {
        nodes: &nodes,
        decodes: 0,
        aliased: 0,
        alias_depth: 0,
        expanding: Vec::new(),
        depth: 0,
    };
    decoder.count(None)?; // the document node
    let (value, tree) = decoder.value(root, None)?;
    Ok(Some((value, Positions::new(tree))))
}

/// Adds finished node `done` to the collection open around it, or makes it the root.
fn attach(nodes: &mut [Node], open: &[usize], root: &mut Option<usize>, done: usize) {
    match open.last().map(|&p| &mut nodes[p].kind) {
        Some(Kind::Seq(children) | Kind::Map(children)) => children.push(done),
        _ => *root = root.or(Some(done)),
    }
}

fn scan_error(e: &ScanError, lines: u32) -> String {
    let at = Position {
        line: u32::try_from(e.marker().line())
            .unwrap_or(u32::MAX)
            .saturating_add(lines),
        column: u32::try_from(e.marker().col() + 1).unwrap_or(u32::MAX),
    };
    if matches!(e.kind(), ErrorKind::DirectiveDisallowed) {
        return failure(
            Some(at),
            "did not find expected <document start> (kubectl cuts the file into documents \
             at --- lines, so a %YAML or %TAG directive is a document of its own, which it \
             cannot read)",
        );
    }
    failure(Some(at), e.info())
}

/// go-yaml v2's decoder into `interface{}`, with its counts for the alias limit.
struct Decoder<'a> {
    nodes: &'a [Node],
    decodes: u64,
    aliased: u64,
    alias_depth: u32,
    /// Alias nodes being expanded, to refuse one inside itself.
    expanding: Vec<usize>,
    depth: usize,
}

/// A map being decoded: its value, and its positions in the order of first keys.
#[derive(Default)]
struct Entries {
    values: Map<String, Value>,
    trees: Vec<(String, Tree)>,
    index: HashMap<String, usize>,
}

impl Entries {
    /// Sets `key`, as Go's map assignment does: a later value replaces an earlier one.
    fn set(&mut self, key: String, value: Value, tree: Tree) {
        match self.index.get(&key) {
            Some(&i) => self.trees[i].1 = tree,
            None => {
                self.index.insert(key.clone(), self.trees.len());
                self.trees.push((key.clone(), tree));
            }
        }
        self.values.insert(key, value);
    }
}

impl<'a> Decoder<'a> {
    /// Node `n`, and where what it gives is located: at the alias that brought it in, if
    /// any, else at the node.
    fn node(&self, n: usize, alias: Option<Position>) -> (&'a Node, Position) {
        let node = &self.nodes[n];
        (node, alias.unwrap_or(node.at))
    }

    /// go-yaml's count of decoded nodes, and its refusal of documents that are mostly
    /// alias expansion (a few hundred bytes that would expand to billions of nodes).
    fn count(&mut self, at: Option<Position>) -> Result<(), String> {
        self.decodes += 1;
        if self.alias_depth > 0 {
            self.aliased += 1;
        }
        #[allow(clippy::cast_precision_loss)] // counts far below 2^52
        let (aliased, decodes) = (self.aliased as f64, self.decodes as f64);
        let allowed = match decodes {
            d if d <= 400_000.0 => 0.99,
            d if d >= 4_000_000.0 => 0.10,
            d => 0.99 - 0.89 * ((d - 400_000.0) / 3_600_000.0),
        };
        if self.aliased > 100 && self.decodes > 1000 && aliased / decodes > allowed {
            return Err(failure(at, "document contains excessive aliasing"));
        }
        Ok(())
    }

    /// Enters an alias node: refused when it is inside its own expansion.
    fn enter(&mut self, alias: usize, name: &str, at: Position) -> Result<(), String> {
        if self.expanding.contains(&alias) {
            return Err(failure(
                Some(at),
                format!("anchor '{name}' value contains itself"),
            ));
        }
        self.expanding.push(alias);
        self.alias_depth += 1;
        Ok(())
    }

    fn leave(&mut self) {
        self.expanding.pop();
        self.alias_depth -= 1;
    }

    fn nest(&mut self, at: Position) -> Result<(), String> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(failure(
                Some(at),
                format!("nested deeper than {MAX_DEPTH} levels"),
            ));
        }
        Ok(())
    }

    /// Node `n` as a value and its positions; `alias` is where the alias that brought it
    /// in is, which all of it is located at.
    fn value(&mut self, n: usize, alias: Option<Position>) -> Result<(Value, Tree), String> {
        let (node, here) = self.node(n, alias);
        self.count(Some(here))?;
        match &node.kind {
            Kind::Alias { target, name } => {
                self.enter(n, name, here)?;
                let found = self.value(*target, Some(here));
                self.leave();
                found
            }
            Kind::Scalar { text, plain, tag } => {
                let value = scalar::resolve(tag.as_deref(), text, *plain)
                    .and_then(Resolved::into_json)
                    .map_err(|e| failure(Some(here), e))?;
                Ok((
                    value,
                    Tree {
                        at: Some(here),
                        kids: Kids::Leaf,
                    },
                ))
            }
            Kind::Seq(items) => {
                self.nest(here)?;
                let mut values = Vec::with_capacity(items.len());
                let mut trees = Vec::with_capacity(items.len());
                for &item in items {
                    let (v, t) = self.value(item, alias)?;
                    values.push(v);
                    trees.push(t);
                }
                self.depth -= 1;
                Ok((
                    Value::Array(values),
                    Tree {
                        at: Some(here),
                        kids: Kids::Seq(trees),
                    },
                ))
            }
            Kind::Map(pairs) => {
                self.nest(here)?;
                let mut entries = Entries::default();
                self.entries(pairs, alias, &mut entries)?;
                self.depth -= 1;
                Ok((
                    Value::Object(entries.values),
                    Tree {
                        at: Some(here),
                        kids: Kids::Map(entries.trees),
                    },
                ))
            }
        }
    }

    /// A mapping's keys and values, set in order into `out`.
    fn entries(
        &mut self,
        pairs: &[usize],
        alias: Option<Position>,
        out: &mut Entries,
    ) -> Result<(), String> {
        for pair in pairs.chunks(2) {
            let [k, v] = *pair else { continue };
            if self.is_merge(k) {
                self.merge(v, alias, out)?;
                continue;
            }
            let (key, key_at) = self.key(k, alias)?;
            let (value, tree) = self.value(v, alias)?;
            let key = key.into_key(&value).map_err(|e| failure(Some(key_at), e))?;
            out.set(
                key,
                value,
                Tree {
                    at: Some(key_at),
                    kids: tree.kids,
                },
            );
        }
        Ok(())
    }

    /// A mapping key, resolved as a scalar: go-yaml refuses a sequence or mapping.
    fn key(&mut self, n: usize, alias: Option<Position>) -> Result<(Resolved, Position), String> {
        let (node, here) = self.node(n, alias);
        match &node.kind {
            Kind::Scalar { text, plain, tag } => {
                self.count(Some(here))?;
                let key = scalar::resolve(tag.as_deref(), text, *plain)
                    .map_err(|e| failure(Some(here), e))?;
                Ok((key, here))
            }
            Kind::Alias { target, name } => {
                self.count(Some(here))?;
                self.enter(n, name, here)?;
                let found = self.key(*target, Some(here));
                self.leave();
                found
            }
            Kind::Seq(_) | Kind::Map(_) => {
                let (value, _) = self.value(n, alias)?;
                Err(failure(
                    Some(here),
                    format!("invalid map key: {}", scalar::go_syntax(&value)),
                ))
            }
        }
    }

    /// go-yaml's merge key: a plain `<<`, or one tagged `!!merge`.
    fn is_merge(&self, n: usize) -> bool {
        matches!(&self.nodes[n].kind, Kind::Scalar { text, plain, tag }
            if text == "<<" && ((*plain && tag.is_none())
                || tag.as_deref() == Some("tag:yaml.org,2002:merge")))
    }

    /// `<<: value`: a mapping, an alias of one, or a sequence of those (the earlier ones
    /// winning) sets its entries into `out`, over the keys set before.
    fn merge(
        &mut self,
        n: usize,
        alias: Option<Position>,
        out: &mut Entries,
    ) -> Result<(), String> {
        let (node, here) = self.node(n, alias);
        let is_map = |n: usize| match &self.nodes[n].kind {
            Kind::Map(_) => true,
            Kind::Alias { target, .. } => matches!(self.nodes[*target].kind, Kind::Map(_)),
            _ => false,
        };
        match &node.kind {
            Kind::Map(pairs) => {
                self.count(Some(here))?;
                self.entries(pairs, alias, out)
            }
            Kind::Alias { target, name } if is_map(n) => {
                self.count(Some(here))?;
                self.enter(n, name, here)?;
                let found = self.merge(*target, Some(here), out);
                self.leave();
                found
            }
            Kind::Seq(items) if items.iter().all(|&item| is_map(item)) => {
                for &item in items.iter().rev() {
                    self.merge(item, alias, out)?;
                }
                Ok(())
            }
            _ => Err(failure(
                Some(here),
                "map merge requires map or sequence of maps as the value",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values(text: &str) -> Result<Vec<Value>, String> {
        read(text).map(|d| d.into_iter().map(|(v, _)| v).collect())
    }

    /// Each text is refused, with `says` in the error.
    fn refused(texts: &[&str], says: &str) {
        for text in texts {
            let e = values(text).unwrap_err();
            assert!(e.contains(says), "{text:?}: {e}");
        }
    }

    #[test]
    fn documents_are_cut_at_dash_lines_as_kubectl_cuts_them() {
        let text = "a: 1\n--- # a comment\nb: 2\n---\n\n---\n# only a comment\n---  \nc: 3\n";
        assert_eq!(
            values(text),
            Ok(vec![json!({"a": 1}), json!({"b": 2}), json!({"c": 3})])
        );
        // After `...` go-yaml reads no further in that piece.
        assert_eq!(values("a: 1\n...\nb: 2\n"), Ok(vec![json!({"a": 1})]));
        // CRLF lines, a byte order mark.
        assert_eq!(
            values("\u{feff}a: 1\r\n---\r\nb: 2\r\n"),
            Ok(vec![json!({"a": 1}), json!({"b": 2})])
        );
        refused(
            &["a: 1\n--- {b: 2}\n", "a: 1\n---- \n", "--- !!map\na: 1\n"],
            "invalid Yaml document separator",
        );
    }

    #[test]
    fn directives_are_refused_as_kubectl_refuses_them() {
        refused(
            &[
                "%YAML 1.1\n---\na: 1\n",
                "%YAML 1.2\n---\na: 1\n",
                "%TAG ! tag:example.com,2000:\n---\na: 1\n",
                "a: 1\n---\n%YAML 1.1\n---\nb: 2\n",
            ],
            "did not find expected <document start>",
        );
        let e = values("a: 1\n---\n%YAML 1.1\n---\nb: 2\n").unwrap_err();
        assert!(e.starts_with("invalid YAML: line 3 column 1:"), "{e}");
        // A % that is not a directive is text.
        assert_eq!(values("a: '%YAML'\n"), Ok(vec![json!({"a": "%YAML"})]));
    }

    #[test]
    fn duplicate_keys_take_the_last_value() {
        let read = read("a: 1\nb: {c: 1}\na: 2\nb: {d: 2}\n").expect("read");
        let (value, at) = &read[0];
        assert_eq!(value, &json!({"a": 2, "b": {"d": 2}}));
        assert_eq!(at.of("a").map(|p| p.line), Some(3));
        assert_eq!(at.of("b.d").map(|p| p.line), Some(4));
        assert_eq!(at.of("b.c"), at.of("b"), "the first b is gone");
        // Keys that are equal once JSON: `yes` and `true` are both "true".
        assert_eq!(values("y: 1\ntrue: 2\n"), Ok(vec![json!({"true": 2})]));
    }

    #[test]
    fn merge_keys_as_go_yaml_v2_merges() {
        let text = "d: &d {a: 1, b: 2}\nm:\n  a: 0\n  <<: *d\n  c: 3\n";
        assert_eq!(
            values(text),
            Ok(vec![
                json!({"d": {"a": 1, "b": 2}, "m": {"a": 1, "b": 2, "c": 3}})
            ])
        );
        assert_eq!(
            values("m:\n  <<: [{a: 1}, {a: 2, b: 2}]\n"),
            Ok(vec![json!({"m": {"a": 1, "b": 2}})])
        );
        // Quoted, `<<` is a key; tagged `!!merge`, a merge.
        assert_eq!(
            values("m: {\"<<\": {b: 1}, !!merge <<: {c: 2}}\n"),
            Ok(vec![json!({"m": {"<<": {"b": 1}, "c": 2}})])
        );
        refused(
            &[
                "m: {<<: 5}\n",
                "s: &s [1]\nm: {<<: *s}\n",
                "m: {<<: [{a: 1}, 2]}\n",
            ],
            "map merge requires map or sequence of maps as the value",
        );
    }

    #[test]
    fn aliases_anchors_and_their_limits() {
        assert_eq!(
            values("a: &x [1, 2]\nb: *x\n"),
            Ok(vec![json!({"a": [1, 2], "b": [1, 2]})])
        );
        let e = values("a: &a [*a]\n").unwrap_err();
        assert!(e.ends_with("anchor 'a' value contains itself"), "{e}");
        let e = values("a: &a {<<: *a}\n").unwrap_err();
        assert!(e.ends_with("anchor 'a' value contains itself"), "{e}");
        let e = values("a: [1, *x]\n").unwrap_err();
        assert!(e.ends_with("unknown anchor 'x' referenced"), "{e}");
        // go-yaml's ratio: 4 levels of 10 aliases are refused, kubectl refuses them too.
        let mut laughs = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..4 {
            let p = i - 1;
            laughs.push_str(&format!(
                "a{i}: &a{i} [{}]\n",
                vec![format!("*a{p}"); 10].join(", ")
            ));
        }
        let e = values(&laughs).unwrap_err();
        assert!(e.ends_with("document contains excessive aliasing"), "{e}");
        // Two levels (100 nodes from 21) are read.
        let two: String = laughs.lines().take(2).map(|l| format!("{l}\n")).collect();
        assert!(values(&two).is_ok());
    }

    #[test]
    fn keys_sigs_k8s_io_yaml_cannot_write_as_json_are_errors() {
        for (text, says) in [
            (
                "a: {~: 1}\n",
                "unsupported map key of type: %!s(<nil>), key: <nil>, value: 1",
            ),
            ("a: {? [a] : b}\n", "invalid map key: []interface {}{\"a\"}"),
            (
                "a: {? {a: 1} : b}\n",
                "invalid map key: map[interface {}]interface {}{\"a\":1}",
            ),
            ("a: {b: .inf}\n", "json: unsupported value: +Inf"),
        ] {
            refused(&[text], says);
        }
        assert_eq!(
            values("a: {1: a, 1.5: b, 0x10: c, yes: d}\n"),
            Ok(vec![
                json!({"a": {"1": "a", "1.5": "b", "16": "c", "true": "d"}})
            ])
        );
    }

    #[test]
    fn json_streams_keep_numbers_as_kubectl_sends_them() {
        let text = "{\"a\": 1.0, \"b\": 6e1, \"c\": 1.5, \"d\": 18446744073709551615, \"e\": -0.0}\n{\"f\": [2.0]}";
        assert_eq!(
            values(text),
            Ok(vec![
                json!({"a": 1, "b": 60, "c": 1.5, "d": 18_446_744_073_709_552_000.0, "e": 0}),
                json!({"f": [2]}),
            ])
        );
        assert!(
            values("{\"a\": 1} {")
                .unwrap_err()
                .starts_with("invalid JSON")
        );
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = |n: usize| format!("a: {}{}\n", "[".repeat(n), "]".repeat(n));
        assert!(values(&deep(MAX_DEPTH - 1)).is_ok());
        let e = values(&deep(MAX_DEPTH)).unwrap_err();
        assert!(
            e.ends_with(&format!("nested deeper than {MAX_DEPTH} levels")),
            "{e}"
        );
        assert!(values(&deep(100_000)).is_err());
        // Through aliases too: each level an alias of the one before.
        let mut chain = String::from("l0: &l0 []\n");
        for i in 1..=MAX_DEPTH {
            chain.push_str(&format!("l{i}: &l{i} [*l{}]\n", i - 1));
        }
        assert!(values(&chain).unwrap_err().contains("nested deeper than"));
    }
}
