//! The file's text by lines, and what `plan_text` reads between the positions of nodes:
//! a key's value, a `- `, a flow collection's separator, padding and end, where a block
//! item's content ends.

use crate::cli::position::{Position, Positions};

/// The file's text, by lines as YAML breaks them (LF, CRLF, CR).
pub(super) struct Page<'t> {
    pub(super) text: &'t str,
    /// The byte offset each line starts at.
    pub(super) starts: Vec<usize>,
}

/// Where a block sequence's last item ends: after the line ending of its last line, or at
/// the end of a file whose last line has none (`bare`).
pub(super) struct BlockEnd {
    pub(super) offset: usize,
    pub(super) bare: bool,
}

impl<'t> Page<'t> {
    pub(super) fn new(text: &'t str) -> Self {
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

    pub(super) fn byte(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    /// The byte offset of a position (columns count characters).
    pub(super) fn offset(&self, p: Position) -> Option<usize> {
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
    pub(super) fn line_of(&self, at: usize) -> usize {
        self.starts.partition_point(|&s| s <= at).saturating_sub(1)
    }

    /// Line `i` without its line ending, and the line ending ("" on a last line without).
    pub(super) fn line(&self, i: usize) -> (&'t str, &'t str) {
        let start = self.starts[i];
        let next = self.starts.get(i + 1).copied().unwrap_or(self.text.len());
        let whole = &self.text[start..next];
        let content = whole.trim_end_matches(['\r', '\n']);
        (content, &whole[content.len()..])
    }

    /// The first line ending the file has.
    pub(super) fn first_eol(&self) -> Option<&'t str> {
        (0..self.starts.len())
            .map(|i| self.line(i).1)
            .find(|e| !e.is_empty())
    }

    /// After the key `name` at byte `key` (plain or quoted): the `:` with the blanks after
    /// it, and where the value starts (blanks, line breaks and comments skipped).
    pub(super) fn value_start(&self, key: usize, name: &str) -> Option<(&'t str, usize)> {
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
    pub(super) fn dash_before(&self, at: usize) -> Option<(usize, usize)> {
        let before = &self.text[self.starts[self.line_of(at)]..at];
        let gap = before.len() - before.trim_end_matches(' ').len();
        let lead = before.trim_end_matches(' ').strip_suffix('-')?;
        (gap > 0 && lead.bytes().all(|c| c == b' ')).then_some((lead.len(), gap))
    }

    /// The `,` and blanks just before byte `at` on its line (a flow collection's separator).
    pub(super) fn comma_before(&self, at: usize) -> Option<&'t str> {
        let before = &self.text[self.starts[self.line_of(at)]..at];
        let comma = before.trim_end_matches(' ').strip_suffix(',')?;
        Some(&before[comma.len()..])
    }

    /// The blanks between a flow collection's opening bracket at `open` and its first
    /// entry at `first`, when both are on one line.
    pub(super) fn pad(&self, open: usize, first: usize) -> Option<&'t str> {
        let inside = self.text.get(open + 1..first)?;
        inside.bytes().all(|c| c == b' ').then_some(inside)
    }

    /// The byte after the bracket closing the flow collection opened at `open`. Quoted
    /// scalars and comments are skipped; a quote inside a plain scalar is not a quote.
    pub(super) fn flow_end(&self, open: usize) -> Option<usize> {
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
    pub(super) fn block_end(
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
