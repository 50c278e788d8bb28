//! How a manifest writes its steps, read from the steps themselves (the last one first),
//! else from the rest of the document, else the common default.

use std::collections::HashMap;

use super::page::Page;
use super::step::PlaceError;
use crate::cli::position::{Position, Positions};

/// How a scalar or key is quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Quote {
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

    pub(super) fn write(self, s: &str) -> String {
        match self {
            Quote::Plain => s.to_owned(),
            Quote::Single => format!("'{s}'"),
            Quote::Double => format!("\"{s}\""),
        }
    }
}

/// How a collection is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Shape {
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
pub(super) struct Style {
    pub(super) eol: &'static str,
    pub(super) item: Shape,
    pub(super) key: Quote,
    pub(super) value: Quote,
    pub(super) colon: String,
    pub(super) comma: String,
    pub(super) pad: String,
    pub(super) width: usize,
    pub(super) actions_first: bool,
    pub(super) max_first: bool,
    pub(super) actions: Shape,
    pub(super) rollout: Shape,
}

/// Reads the style of a document's steps.
pub(super) struct Reader<'p, 't> {
    pub(super) page: &'p Page<'t>,
    pub(super) at: &'p HashMap<String, Position>,
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
    pub(super) fn style(&self, steps: usize, here: &Positions) -> Result<Style, PlaceError> {
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
