//! The text of a manifest's `spec.plan`: where a new step goes, how the file writes its
//! steps, and the new step written the same way. `next --manifest` inserts that text and
//! changes no other byte.
//!
//! The style is read from the file's steps, the last one first, an earlier one for what
//! the last does not show: block or flow sequence, the `- ` offset and indentation, block
//! or flow `actions` and `rolloutStrategy` (on one line or over several), key order,
//! quoting, the spacing inside flow collections, the line ending. Keys and sequence items
//! are located by [`Positions`]; what lies between them is read from the text. A step
//! written in a way this does not read (an alias, a tag, content after a lone `-`) is an
//! error, never a guess: the caller re-reads what it would write anyway.

use std::collections::HashMap;

use super::position::{Position, Positions};

/// A step to write: its actions and its whole rollout strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewStep<'a> {
    /// The actions, in order.
    pub actions: &'a [&'a str],
    /// `rolloutStrategy.maxConcurrency`.
    pub max_concurrency: i64,
    /// `rolloutStrategy.timeout`.
    pub timeout: i64,
}

/// Text to insert at a byte offset of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insertion {
    /// Where, in bytes from the start of the file.
    pub offset: usize,
    /// What, with the file's line endings.
    pub text: String,
}

/// Why no step can be written into the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlaceError {
    /// The positions of the document's fields are unknown.
    #[error("the positions of its fields could not be read")]
    NoPositions,
    /// The document has no `spec.plan` with a step.
    #[error("its spec.plan has no step to follow")]
    NoPlan,
    /// A step is written in a way this module does not read.
    #[error("spec.plan[{index}] is written in a way next does not follow ({what})")]
    Unread {
        /// The step.
        index: usize,
        /// What was not understood.
        what: &'static str,
    },
}

/// Where to insert `step` into document `doc` of `text` (whose documents' positions are
/// `positions`, as [`Input`](super::check::Input) has them), and its text.
pub fn insertion(
    text: &str,
    positions: &[Positions],
    doc: usize,
    step: &NewStep<'_>,
) -> Result<Insertion, PlaceError> {
    let here = positions.get(doc).ok_or(PlaceError::NoPositions)?;
    let at: HashMap<String, Position> = here.entries().into_iter().collect();
    let page = Page::new(text);
    let steps = (0..)
        .take_while(|i| at.contains_key(&format!("spec.plan[{i}]")))
        .count();
    let last = steps.checked_sub(1).ok_or(PlaceError::NoPlan)?;
    let unread = |what| PlaceError::Unread { index: last, what };
    let key = at
        .get("spec.plan")
        .and_then(|p| page.offset(*p))
        .ok_or(PlaceError::NoPlan)?;
    let (_, value) = page.value_start(key, "plan").ok_or(unread("spec.plan"))?;
    let item = at[&format!("spec.plan[{last}]")];
    let item_at = page.offset(item).ok_or(unread("no position"))?;
    let reader = Reader {
        page: &page,
        at: &at,
    };
    let style = reader.style(steps, here)?;
    match page.byte(value) {
        Some(b'[') => {
            if page.byte(item_at) != Some(b'{') {
                return Err(unread("a flow step that is not a flow mapping"));
            }
            let end = page
                .flow_end(item_at)
                .ok_or(unread("an unclosed flow step"))?;
            let line = page.line_of(item_at);
            let before = &text[page.starts[line]..item_at];
            let sep = if before.trim_start_matches(' ').is_empty() {
                format!(",{}{before}", style.eol)
            } else {
                page.comma_before(item_at)
                    .map(str::to_owned)
                    .unwrap_or_else(|| style.comma.clone())
            };
            let mut out = Out::after(&text[page.starts[page.line_of(end)]..end]);
            out.push(&sep);
            style.node(&mut out, &style.item_node(step), None);
            Ok(Insertion {
                offset: end,
                text: out.finish(),
            })
        }
        Some(b'-') => {
            let (dash, gap) = page
                .dash_before(item_at)
                .ok_or(unread("no `- ` before it"))?;
            let end = page
                .block_end(item, item_at, positions, doc, &format!("spec.plan[{last}]"))
                .ok_or(unread("no line of its own"))?;
            let mut out = Out::after("");
            if end.bare {
                out.push(style.eol);
            }
            out.spaces(dash);
            out.push("-");
            out.spaces(gap);
            let node = style.item_node(step);
            style.node(&mut out, &node, Some(dash + 1 + gap));
            if !matches!(style.item, Shape::Block { .. }) {
                out.push(style.eol);
            }
            let mut text = out.finish();
            if end.bare {
                text.truncate(text.len() - style.eol.len());
            }
            Ok(Insertion {
                offset: end.offset,
                text,
            })
        }
        _ => Err(unread("spec.plan is neither a block nor a flow sequence")),
    }
}

/// The file's text, by lines as YAML breaks them (LF, CRLF, CR).
struct Page<'t> {
    text: &'t str,
    /// The byte offset each line starts at.
    starts: Vec<usize>,
}

/// Where a block sequence's last item ends: after the line ending of its last line, or at
/// the end of a file whose last line has none (`bare`).
struct BlockEnd {
    offset: usize,
    bare: bool,
}

impl<'t> Page<'t> {
    fn new(text: &'t str) -> Self {
        let bytes = text.as_bytes();
        let mut starts = vec![0];
        let mut i = 0;
        while i < bytes.len() {
            match bytes[i] {
                b'\n' => starts.push(i + 1),
                b'\r' if bytes.get(i + 1) == Some(&b'\n') => {
                    starts.push(i + 2);
                    i += 1;
                }
                b'\r' => starts.push(i + 1),
                _ => {}
            }
            i += 1;
        }
        Page { text, starts }
    }

    fn byte(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    /// The byte offset of a position (columns count characters).
    fn offset(&self, p: Position) -> Option<usize> {
        let start = *self
            .starts
            .get(usize::try_from(p.line).ok()?.checked_sub(1)?)?;
        let skip = usize::try_from(p.column).ok()?.checked_sub(1)?;
        let rest = &self.text[start..];
        match rest.char_indices().nth(skip) {
            Some((i, _)) => Some(start + i),
            None => (rest.chars().count() == skip).then_some(self.text.len()),
        }
    }

    /// The line (from 0) holding byte `at`.
    fn line_of(&self, at: usize) -> usize {
        self.starts.partition_point(|&s| s <= at).saturating_sub(1)
    }

    /// Line `i` without its line ending, and the line ending ("" on a last line without).
    fn line(&self, i: usize) -> (&'t str, &'t str) {
        let start = self.starts[i];
        let next = self.starts.get(i + 1).copied().unwrap_or(self.text.len());
        let whole = &self.text[start..next];
        let content = whole.trim_end_matches(['\r', '\n']);
        (content, &whole[content.len()..])
    }

    /// The first line ending the file has.
    fn first_eol(&self) -> Option<&'t str> {
        (0..self.starts.len())
            .map(|i| self.line(i).1)
            .find(|e| !e.is_empty())
    }

    /// After the key `name` at byte `key` (plain or quoted): the `:` with the blanks after
    /// it, and where the value starts (blanks, line breaks and comments skipped).
    fn value_start(&self, key: usize, name: &str) -> Option<(&'t str, usize)> {
        let b = self.text.as_bytes();
        let mut i = match b.get(key)? {
            q @ (b'"' | b'\'') => key + 1 + self.text[key + 1..].find(*q as char)? + 1,
            _ if self.text[key..].starts_with(name) => key + name.len(),
            _ => return None,
        };
        while matches!(b.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        if b.get(i) != Some(&b':') {
            return None;
        }
        let colon = i;
        i += 1;
        while matches!(b.get(i), Some(b' ' | b'\t')) {
            i += 1;
        }
        let colon = &self.text[colon..i];
        loop {
            match b.get(i) {
                Some(b' ' | b'\t' | b'\r' | b'\n') => i += 1,
                Some(b'#') => {
                    while !matches!(b.get(i), None | Some(b'\r' | b'\n')) {
                        i += 1;
                    }
                }
                _ => return Some((colon, i)),
            }
        }
    }

    /// The `- ` before a block sequence item's content at `at`, on its line: the dash's
    /// column (from 0) and the blanks between it and the content.
    fn dash_before(&self, at: usize) -> Option<(usize, usize)> {
        let before = &self.text[self.starts[self.line_of(at)]..at];
        let gap = before.len() - before.trim_end_matches(' ').len();
        let lead = before.trim_end_matches(' ').strip_suffix('-')?;
        (gap > 0 && lead.bytes().all(|c| c == b' ')).then_some((lead.len(), gap))
    }

    /// The `,` and blanks just before byte `at` on its line (a flow collection's separator).
    fn comma_before(&self, at: usize) -> Option<&'t str> {
        let before = &self.text[self.starts[self.line_of(at)]..at];
        let comma = before.trim_end_matches(' ').strip_suffix(',')?;
        Some(&before[comma.len()..])
    }

    /// The blanks between a flow collection's opening bracket at `open` and its first
    /// entry at `first`, when both are on one line.
    fn pad(&self, open: usize, first: usize) -> Option<&'t str> {
        let inside = self.text.get(open + 1..first)?;
        inside.bytes().all(|c| c == b' ').then_some(inside)
    }

    /// The byte after the bracket closing the flow collection opened at `open`. Quoted
    /// scalars and comments are skipped; a quote inside a plain scalar is not a quote.
    fn flow_end(&self, open: usize) -> Option<usize> {
        let b = self.text.as_bytes();
        let mut depth = 0usize;
        let mut i = open;
        let mut prev = b' ';
        while let Some(&c) = b.get(i) {
            match c {
                b'[' | b'{' => depth += 1,
                b']' | b'}' => {
                    depth = depth.checked_sub(1)?;
                    if depth == 0 {
                        return Some(i + 1);
                    }
                }
                b'"' | b'\'' if b"[{,:? \t\r\n".contains(&prev) => {
                    i += 1;
                    loop {
                        match b.get(i)? {
                            b'\\' if c == b'"' => i += 1,
                            b'\'' if c == b'\'' && b.get(i + 1) == Some(&b'\'') => i += 1,
                            &q if q == c => break,
                            _ => {}
                        }
                        i += 1;
                    }
                }
                b'#' if b" \t\r\n".contains(&prev) => {
                    while !matches!(b.get(i + 1), None | Some(b'\r' | b'\n')) {
                        i += 1;
                    }
                }
                _ => {}
            }
            if !matches!(c, b' ' | b'\t') {
                prev = c;
            }
            i += 1;
        }
        None
    }

    /// The end of the block sequence item `path` of document `doc`, located at `item`
    /// (byte `at`): the end of its last line of content, before the first node that is
    /// not in it (in this document or a later one), blank lines, comments, document
    /// markers and directives between them left after it.
    fn block_end(
        &self,
        item: Position,
        at: usize,
        positions: &[Positions],
        doc: usize,
        path: &str,
    ) -> Option<BlockEnd> {
        let key = |p: &Position| (p.line, p.column);
        let bound = positions
            .iter()
            .enumerate()
            .flat_map(|(d, ps)| ps.entries().into_iter().map(move |e| (d, e)))
            .filter(|(d, (p, at))| key(at) > key(&item) && !(*d == doc && under(p, path)))
            .map(|(_, (_, at))| at)
            .min_by_key(key);
        let first = self.line_of(at);
        let stop = match bound {
            Some(p) => usize::try_from(p.line).ok()?.checked_sub(1)?,
            None => self.starts.len(),
        };
        let last = (first..stop).rev().find(|&i| !skipped(self.line(i).0))?;
        let (_, eol) = self.line(last);
        let bare = eol.is_empty();
        let offset = match bare {
            true => self.text.len(),
            false => self.starts[last + 1],
        };
        Some(BlockEnd { offset, bare })
    }
}

/// Whether `p` is `path` or inside it.
fn under(p: &str, path: &str) -> bool {
    p.strip_prefix(path)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['.', '[']))
}

/// A line that is no content of a node: blank, a comment, a document marker, a directive.
fn skipped(line: &str) -> bool {
    let t = line.trim_start_matches([' ', '\t']);
    let marker = |m: &str| {
        line.strip_prefix(m)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t']))
    };
    t.is_empty() || t.starts_with('#') || marker("---") || marker("...") || line.starts_with('%')
}

/// How a scalar or key is quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quote {
    Plain,
    Single,
    Double,
}

impl Quote {
    fn at(page: &Page<'_>, at: usize) -> Quote {
        match page.byte(at) {
            Some(b'"') => Quote::Double,
            Some(b'\'') => Quote::Single,
            _ => Quote::Plain,
        }
    }

    fn write(self, s: &str) -> String {
        match self {
            Quote::Plain => s.to_owned(),
            Quote::Single => format!("'{s}'"),
            Quote::Double => format!("\"{s}\""),
        }
    }
}

/// How a collection is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Block: entries `indent` columns right of the key holding it (a sequence's `-`),
    /// `gap` blanks after a sequence's `-`.
    Block { indent: usize, gap: usize },
    /// Flow, on one line.
    Inline,
    /// Flow, an entry a line, one indentation level in.
    Lines,
}

/// What one step tells of the style; `None` where it does not show it.
#[derive(Debug, Default)]
struct Seen {
    item: Option<Shape>,
    key: Option<Quote>,
    value: Option<Quote>,
    colon: Option<String>,
    comma: Option<String>,
    pad: Option<String>,
    width: Option<usize>,
    actions_first: Option<bool>,
    max_first: Option<bool>,
    actions: Option<Shape>,
    rollout: Option<Shape>,
}

/// How the file writes a step.
#[derive(Debug)]
struct Style {
    eol: &'static str,
    item: Shape,
    key: Quote,
    value: Quote,
    colon: String,
    comma: String,
    pad: String,
    width: usize,
    actions_first: bool,
    max_first: bool,
    actions: Shape,
    rollout: Shape,
}

/// Reads the style of a document's steps.
struct Reader<'p, 't> {
    page: &'p Page<'t>,
    at: &'p HashMap<String, Position>,
}

impl Reader<'_, '_> {
    fn offset(&self, path: &str) -> Option<usize> {
        self.at.get(path).and_then(|p| self.page.offset(*p))
    }

    fn same_line(&self, a: usize, b: usize) -> bool {
        self.page.line_of(a) == self.page.line_of(b)
    }

    /// Leading blanks of the line holding byte `at`.
    fn indent(&self, at: usize) -> usize {
        let line = self.page.line(self.page.line_of(at)).0;
        line.len() - line.trim_start_matches(' ').len()
    }

    fn column(&self, at: usize) -> usize {
        let start = self.page.starts[self.page.line_of(at)];
        self.page.text[start..at].chars().count()
    }

    /// The flow collection opened at `open` whose entries start at `first` and `second`.
    fn flow(&self, open: usize, first: Option<usize>, second: Option<usize>, seen: &mut Seen) {
        let Some(first) = first else {
            return;
        };
        if self.same_line(open, first) {
            seen.pad = seen
                .pad
                .take()
                .or(self.page.pad(open, first).map(str::to_owned));
        } else {
            let width = self.column(first).checked_sub(self.indent(open));
            seen.width = seen.width.or(width.filter(|w| *w > 0));
        }
        if let Some(second) = second.filter(|s| self.same_line(first, *s)) {
            seen.comma = seen
                .comma
                .take()
                .or(self.page.comma_before(second).map(str::to_owned));
        }
    }

    fn shape(&self, open: usize, first: Option<usize>) -> Shape {
        match first {
            Some(first) if !self.same_line(open, first) => Shape::Lines,
            _ => Shape::Inline,
        }
    }

    /// What step `k` shows.
    fn seen(&self, k: usize) -> Seen {
        let mut seen = Seen::default();
        let p = format!("spec.plan[{k}]");
        let Some(item) = self.offset(&p) else {
            return seen;
        };
        let actions = self.offset(&format!("{p}.actions"));
        let rollout = self.offset(&format!("{p}.rolloutStrategy"));
        let (first, second) = match (actions, rollout) {
            (Some(a), Some(r)) => (Some(a.min(r)), Some(a.max(r))),
            (a, r) => (a.or(r), None),
        };
        seen.actions_first = actions.zip(rollout).map(|(a, r)| a < r);
        seen.key = first.map(|f| Quote::at(self.page, f));
        seen.item = match self.page.byte(item) {
            Some(b'{') => {
                self.flow(item, first, second, &mut seen);
                Some(self.shape(item, first))
            }
            _ if first == Some(item) => Some(Shape::Block { indent: 0, gap: 0 }),
            _ => None,
        };
        let block = matches!(seen.item, Some(Shape::Block { .. }));
        if let Some(key) = actions {
            self.seen_actions(&p, key, block, &mut seen);
        }
        if let Some(key) = rollout {
            self.seen_rollout(&p, key, block, &mut seen);
        }
        seen
    }

    fn seen_actions(&self, p: &str, key: usize, block: bool, seen: &mut Seen) {
        let first = self.offset(&format!("{p}.actions[0]"));
        let second = self.offset(&format!("{p}.actions[1]"));
        seen.value = first.map(|f| Quote::at(self.page, f));
        let Some((_, value)) = self.page.value_start(key, "actions") else {
            return;
        };
        seen.actions = match self.page.byte(value) {
            Some(b'[') => {
                self.flow(value, first, second, seen);
                Some(self.shape(value, first))
            }
            Some(b'-') if block => first.and_then(|f| {
                let (dash, gap) = self.page.dash_before(f)?;
                let indent = dash.checked_sub(self.column(key))?;
                Some(Shape::Block { indent, gap })
            }),
            _ => None,
        };
    }

    fn seen_rollout(&self, p: &str, key: usize, block: bool, seen: &mut Seen) {
        let max = self.offset(&format!("{p}.rolloutStrategy.maxConcurrency"));
        let timeout = self.offset(&format!("{p}.rolloutStrategy.timeout"));
        seen.max_first = max.zip(timeout).map(|(m, t)| m < t);
        let (first, second) = match (max, timeout) {
            (Some(m), Some(t)) => (Some(m.min(t)), Some(m.max(t))),
            (m, t) => (m.or(t), None),
        };
        let colon = [(max, "maxConcurrency"), (timeout, "timeout")]
            .into_iter()
            .filter_map(|(at, name)| self.page.value_start(at?, name))
            .map(|(colon, _)| colon)
            .find(|c| !c.is_empty());
        seen.colon = colon.map(str::to_owned);
        let Some((_, value)) = self.page.value_start(key, "rolloutStrategy") else {
            return;
        };
        seen.rollout = match self.page.byte(value) {
            Some(b'{') => {
                self.flow(value, first, second, seen);
                Some(self.shape(value, first))
            }
            _ if block && first == Some(value) => {
                let indent = self.column(value).checked_sub(self.column(key));
                seen.width = seen.width.or(indent.filter(|w| *w > 0));
                indent.map(|indent| Shape::Block { indent, gap: 0 })
            }
            _ => None,
        };
    }

    /// The style of the document's `steps` steps: each trait from the last step that
    /// shows it, else what the document shows, else the common default.
    fn style(&self, steps: usize, here: &Positions) -> Result<Style, PlaceError> {
        let last = steps - 1;
        let seen: Vec<Seen> = (0..steps).rev().map(|k| self.seen(k)).collect();
        macro_rules! pick {
            ($f:ident) => {
                seen.iter().find_map(|s| s.$f.clone())
            };
        }
        let item = seen[0].item.ok_or(PlaceError::Unread {
            index: last,
            what: "neither a block nor a flow mapping",
        })?;
        let width = pick!(width)
            .or_else(|| self.document_width(here))
            .unwrap_or(2);
        let flow = |s: Shape| !matches!(s, Shape::Block { .. });
        let actions = pick!(actions)
            .filter(|a| !flow(item) || flow(*a))
            .unwrap_or(if flow(item) { item } else { Shape::Inline });
        let rollout = pick!(rollout)
            .filter(|r| !flow(item) || flow(*r))
            .unwrap_or(match (item, actions) {
                (Shape::Block { .. }, Shape::Block { .. }) => Shape::Block {
                    indent: width,
                    gap: 0,
                },
                (Shape::Block { .. }, _) => Shape::Inline,
                (shape, _) => shape,
            });
        let key = pick!(key).unwrap_or(Quote::Plain);
        let (comma, pad) = self.document_flow(here);
        let eol = match self.page.first_eol() {
            Some("\r\n") => "\r\n",
            Some("\r") => "\r",
            _ => "\n",
        };
        Ok(Style {
            eol,
            item,
            key,
            value: pick!(value).unwrap_or(key),
            colon: pick!(colon).unwrap_or_else(|| ": ".to_owned()),
            comma: pick!(comma).or(comma).unwrap_or_else(|| ", ".to_owned()),
            pad: pick!(pad).or(pad).unwrap_or_default(),
            width,
            actions_first: pick!(actions_first).unwrap_or(true),
            max_first: pick!(max_first).unwrap_or(true),
            actions,
            rollout,
        })
    }

    /// The separator and the inner padding of the document's flow collections on one
    /// line, from the first that shows each.
    fn document_flow(&self, here: &Positions) -> (Option<String>, Option<String>) {
        let (mut comma, mut pad) = (None, None);
        for at in here
            .entries()
            .into_iter()
            .filter_map(|(_, p)| self.page.offset(p))
        {
            comma = comma.or_else(|| self.page.comma_before(at).map(str::to_owned));
            let before = &self.page.text[self.page.starts[self.page.line_of(at)]..at];
            let inside = before.trim_end_matches(' ');
            if pad.is_none() && inside.ends_with(['{', '[']) {
                pad = Some(before[inside.len()..].to_owned());
            }
            if comma.is_some() && pad.is_some() {
                break;
            }
        }
        (comma, pad)
    }

    /// One indentation level as the document writes `spec`'s fields, when on lines of
    /// their own.
    fn document_width(&self, here: &Positions) -> Option<usize> {
        let spec = self.offset("spec")?;
        here.entries()
            .into_iter()
            .filter(|(p, _)| {
                p.strip_prefix("spec.")
                    .is_some_and(|k| !k.contains(['.', '[']))
            })
            .filter_map(|(_, at)| self.page.offset(at))
            .filter(|&at| !self.same_line(spec, at))
            .find_map(|at| {
                self.column(at)
                    .checked_sub(self.column(spec))
                    .filter(|w| *w > 0)
            })
    }
}

/// A node to write: a scalar as written, or a collection in a shape.
enum Node {
    Scalar(String),
    Seq(Vec<Node>, Shape),
    Map(Vec<(String, Node)>, Shape),
}

impl Style {
    fn item_node(&self, step: &NewStep<'_>) -> Node {
        let key = |k: &str| self.key.write(k);
        let actions = Node::Seq(
            step.actions
                .iter()
                .map(|a| Node::Scalar(self.value.write(a)))
                .collect(),
            self.actions,
        );
        let mut rollout = vec![
            (
                key("maxConcurrency"),
                Node::Scalar(step.max_concurrency.to_string()),
            ),
            (key("timeout"), Node::Scalar(step.timeout.to_string())),
        ];
        if !self.max_first {
            rollout.reverse();
        }
        let mut entries = vec![
            (key("actions"), actions),
            (key("rolloutStrategy"), Node::Map(rollout, self.rollout)),
        ];
        if !self.actions_first {
            entries.reverse();
        }
        Node::Map(entries, self.item)
    }

    /// Writes `node` where `out` stands. `column` is set for a block mapping's entries
    /// (the column of its keys, the first key written where `out` stands); a block
    /// collection ends with a line ending, a flow one does not.
    fn node(&self, out: &mut Out, node: &Node, column: Option<usize>) {
        match node {
            Node::Scalar(s) => out.push(s),
            Node::Map(entries, Shape::Block { .. }) => {
                let column = column.unwrap_or_else(|| out.column());
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.spaces(column);
                    }
                    out.push(k);
                    self.block_value(out, v, column);
                }
            }
            Node::Seq(items, Shape::Block { .. }) => {
                // Only as a mapping's value (block_value); here, for completeness, flow.
                self.flow(out, items.iter().map(|n| (None, n)).collect(), ('[', ']'));
            }
            Node::Seq(items, _) => {
                let entries = items.iter().map(|n| (None, n)).collect();
                self.flow_in(out, entries, ('[', ']'), node_shape(node), column)
            }
            Node::Map(entries, _) => {
                let entries = entries.iter().map(|(k, v)| (Some(k.as_str()), v)).collect();
                self.flow_in(out, entries, ('{', '}'), node_shape(node), column)
            }
        }
    }

    /// A block mapping's value after its key, at `column`: a line ending after it.
    fn block_value(&self, out: &mut Out, v: &Node, column: usize) {
        match v {
            Node::Seq(items, Shape::Block { indent, gap }) => {
                out.push(":");
                out.push(self.eol);
                for item in items {
                    out.spaces(column + indent);
                    out.push("-");
                    out.spaces(*gap);
                    self.node(out, item, None);
                    out.push(self.eol);
                }
            }
            Node::Map(entries, Shape::Block { indent, .. }) => {
                out.push(":");
                out.push(self.eol);
                for (k, v) in entries {
                    out.spaces(column + indent);
                    out.push(k);
                    self.block_value(out, v, column + indent);
                }
            }
            _ => {
                out.push(&self.colon);
                self.node(out, v, Some(column));
                out.push(self.eol);
            }
        }
    }

    fn flow_in(
        &self,
        out: &mut Out,
        entries: Vec<(Option<&str>, &Node)>,
        brackets: (char, char),
        shape: Shape,
        block_column: Option<usize>,
    ) {
        match shape {
            Shape::Lines => {
                // In a block mapping, flow lines must stay right of its keys.
                let base = block_column.unwrap_or_else(|| out.indent());
                out.push_char(brackets.0);
                out.push(self.eol);
                let n = entries.len();
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    out.spaces(base + self.width);
                    if let Some(k) = k {
                        out.push(k);
                        out.push(&self.colon);
                    }
                    self.node(out, v, None);
                    if i + 1 < n {
                        out.push(",");
                    }
                    out.push(self.eol);
                }
                out.spaces(base);
                out.push_char(brackets.1);
            }
            _ => self.flow(out, entries, brackets),
        }
    }

    fn flow(&self, out: &mut Out, entries: Vec<(Option<&str>, &Node)>, brackets: (char, char)) {
        out.push_char(brackets.0);
        out.push(&self.pad);
        for (i, (k, v)) in entries.into_iter().enumerate() {
            if i > 0 {
                out.push(&self.comma);
            }
            if let Some(k) = k {
                out.push(k);
                out.push(&self.colon);
            }
            self.node(out, v, None);
        }
        out.push(&self.pad);
        out.push_char(brackets.1);
    }
}

fn node_shape(node: &Node) -> Shape {
    match node {
        Node::Scalar(_) => Shape::Inline,
        Node::Seq(_, s) | Node::Map(_, s) => *s,
    }
}

/// Text being written after `lead`, the part of its first line already in the file.
struct Out {
    s: String,
    lead: usize,
}

impl Out {
    fn after(lead: &str) -> Out {
        Out {
            s: lead.to_owned(),
            lead: lead.len(),
        }
    }

    fn push(&mut self, t: &str) {
        self.s.push_str(t);
    }

    fn push_char(&mut self, c: char) {
        self.s.push(c);
    }

    fn spaces(&mut self, n: usize) {
        self.s.extend(std::iter::repeat_n(' ', n));
    }

    fn current_line(&self) -> &str {
        let start = self.s.rfind(['\n', '\r']).map_or(0, |i| i + 1);
        &self.s[start..]
    }

    /// The column (from 0) `out` stands at.
    fn column(&self) -> usize {
        self.current_line().chars().count()
    }

    /// Leading blanks of the line `out` is on.
    fn indent(&self) -> usize {
        let line = self.current_line();
        line.len() - line.trim_start_matches(' ').len()
    }

    fn finish(self) -> String {
        self.s[self.lead..].to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::check::Input;

    const UPGRADE: NewStep<'static> = NewStep {
        actions: &["Upgrade"],
        max_concurrency: 50,
        timeout: 240,
    };

    /// `text` with `step` inserted into its document `doc`.
    fn appended(text: &str, doc: usize, step: &NewStep<'_>) -> String {
        let input = Input::parse("f", text).expect("the manifest parses");
        let ins = insertion(text, &input.positions, doc, step).expect("a place for the step");
        format!("{}{}{}", &text[..ins.offset], ins.text, &text[ins.offset..])
    }

    #[test]
    fn block_plan_kubectl_style() {
        let text = "spec:\n  plan:\n  - actions:\n    - Prep\n    rolloutStrategy:\n      maxConcurrency: 50\n      timeout: 300\n";
        assert_eq!(
            appended(text, 0, &UPGRADE),
            format!(
                "{text}  - actions:\n    - Upgrade\n    rolloutStrategy:\n      maxConcurrency: 50\n      timeout: 240\n"
            )
        );
    }

    #[test]
    fn block_plan_with_flow_values_and_comments_after() {
        let text = "spec:\n    plan:\n        -   actions: [ 'Prep' ]   # first\n            rolloutStrategy: { timeout: 60, maxConcurrency: 5 }\n\n    # the seed\n    ibuSpec: {}\n";
        let want = "spec:\n    plan:\n        -   actions: [ 'Prep' ]   # first\n            rolloutStrategy: { timeout: 60, maxConcurrency: 5 }\n        -   actions: [ 'Upgrade', 'FinalizeUpgrade' ]\n            rolloutStrategy: { timeout: 240, maxConcurrency: 50 }\n\n    # the seed\n    ibuSpec: {}\n";
        let step = NewStep {
            actions: &["Upgrade", "FinalizeUpgrade"],
            ..UPGRADE
        };
        assert_eq!(appended(text, 0, &step), want);
    }

    #[test]
    fn flow_plans_inline_and_over_lines() {
        let text =
            "spec: {plan: [{actions: [Prep], rolloutStrategy: {maxConcurrency: 5, timeout: 9}}]}";
        assert_eq!(
            appended(text, 0, &UPGRADE),
            "spec: {plan: [{actions: [Prep], rolloutStrategy: {maxConcurrency: 5, timeout: 9}}, {actions: [Upgrade], rolloutStrategy: {maxConcurrency: 50, timeout: 240}}]}"
        );
        let json = "{\n  \"spec\": {\n    \"plan\": [\n      {\n        \"actions\": [\n          \"Prep\"\n        ],\n        \"rolloutStrategy\": {\n          \"maxConcurrency\": 5,\n          \"timeout\": 9\n        }\n      }\n    ]\n  }\n}\n";
        let want = "{\n  \"spec\": {\n    \"plan\": [\n      {\n        \"actions\": [\n          \"Prep\"\n        ],\n        \"rolloutStrategy\": {\n          \"maxConcurrency\": 5,\n          \"timeout\": 9\n        }\n      },\n      {\n        \"actions\": [\n          \"Upgrade\"\n        ],\n        \"rolloutStrategy\": {\n          \"maxConcurrency\": 50,\n          \"timeout\": 240\n        }\n      }\n    ]\n  }\n}\n";
        assert_eq!(appended(json, 0, &UPGRADE), want);
        let minified = r#"{"spec":{"plan":[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":5,"timeout":9}}]}}"#;
        assert_eq!(
            appended(minified, 0, &UPGRADE),
            r#"{"spec":{"plan":[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":5,"timeout":9}},{"actions":["Upgrade"],"rolloutStrategy":{"maxConcurrency":50,"timeout":240}}]}}"#
        );
    }

    #[test]
    fn last_line_without_ending_crlf_and_later_documents() {
        let text = "spec:\r\n  plan:\r\n  - actions: [Prep]\r\n    rolloutStrategy: {maxConcurrency: 5, timeout: 9}";
        assert_eq!(
            appended(text, 0, &UPGRADE),
            format!(
                "{text}\r\n  - actions: [Upgrade]\r\n    rolloutStrategy: {{maxConcurrency: 50, timeout: 240}}"
            )
        );
        let two = "a: 1\n---\nspec:\n  plan:\n  - actions: [Prep]\n# end\n---\n# next\nb: 2\n";
        assert_eq!(
            appended(two, 1, &UPGRADE),
            "a: 1\n---\nspec:\n  plan:\n  - actions: [Prep]\n  - actions: [Upgrade]\n    rolloutStrategy: {maxConcurrency: 50, timeout: 240}\n# end\n---\n# next\nb: 2\n"
        );
    }

    #[test]
    fn what_it_does_not_follow_is_an_error() {
        let unread = |what| PlaceError::Unread { index: 0, what };
        for (text, want) in [
            (
                "spec:\n  plan:\n  - !!map\n    actions: [Prep]\n",
                unread("no `- ` before it"),
            ),
            (
                "x: &step {actions: [Prep]}\nspec:\n  plan: [*step]\n",
                unread("a flow step that is not a flow mapping"),
            ),
            (
                "spec:\n  plan:\n  - [Prep]\n",
                unread("neither a block nor a flow mapping"),
            ),
            ("spec:\n  plan: []\n", PlaceError::NoPlan),
            ("spec: {}\n", PlaceError::NoPlan),
        ] {
            let input = Input::parse("f", text).expect("parses");
            assert_eq!(
                insertion(text, &input.positions, 0, &UPGRADE),
                Err(want),
                "{text}"
            );
        }
        assert_eq!(
            insertion("a: 1\n", &[], 0, &UPGRADE),
            Err(PlaceError::NoPositions)
        );
    }

    #[test]
    fn after_an_alias_the_step_is_written_plainly() {
        let text = "x: &step {actions: [Prep]}\nspec:\n  plan:\n  - *step\n";
        assert_eq!(
            appended(text, 0, &UPGRADE),
            format!(
                "{text}  - actions: [Upgrade]\n    rolloutStrategy: {{maxConcurrency: 50, timeout: 240}}\n"
            )
        );
    }

    mod props {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(512))]

            /// Whatever follows `plan:`, a step is placed or refused, never a panic.
            #[test]
            fn never_panics_on_yaml_like_plans(
                tail in "[-:{}\\[\\],&*!|>'\"#~ \t\r\na-c0-2]{0,80}",
                crlf in any::<bool>(),
            ) {
                let text = format!("spec:\n  plan:\n  - actions: [Prep]\n{tail}");
                let text = if crlf { text.replace('\n', "\r\n") } else { text };
                if let Ok(input) = Input::parse("f", &text) {
                    let _ = insertion(&text, &input.positions, 0, &UPGRADE);
                }
                let flow = format!("spec: {{plan: [{{actions: [Prep]}}{tail}");
                if let Ok(input) = Input::parse("f", &flow) {
                    let _ = insertion(&flow, &input.positions, 0, &UPGRADE);
                }
            }
        }
    }
}
