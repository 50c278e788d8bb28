//! A new step written in a [`Style`]: block entries at their columns, flow collections
//! on one line or an entry a line.

use super::step::NewStep;
use super::style::{Shape, Style};

/// A node to write: a scalar as written, or a collection in a shape.
enum Node {
    Scalar(String),
    Seq(Vec<Node>, Shape),
    Map(Vec<(String, Node)>, Shape),
}

impl Style {
    /// Writes `step` where `out` stands; `column` as for [`Style::node`].
    pub(super) fn step(&self, out: &mut Out, step: &NewStep<'_>, column: Option<usize>) {
        self.node(out, &self.item_node(step), column);
    }

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
pub(super) struct Out {
    s: String,
    lead: usize,
}

impl Out {
    pub(super) fn after(lead: &str) -> Out {
        Out {
            s: lead.to_owned(),
            lead: lead.len(),
        }
    }

    pub(super) fn push(&mut self, t: &str) {
        self.s.push_str(t);
    }

    fn push_char(&mut self, c: char) {
        self.s.push(c);
    }

    pub(super) fn spaces(&mut self, n: usize) {
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

    pub(super) fn finish(self) -> String {
        self.s[self.lead..].to_owned()
    }
}
