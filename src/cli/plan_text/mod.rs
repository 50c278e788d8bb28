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

mod page;
mod step;
mod style;
mod write;

use page::Page;
pub use step::{NewStep, PlaceError};
use style::{Reader, Shape};
use write::Out;

/// Text to insert at a byte offset of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Insertion {
    /// Where, in bytes from the start of the file.
    pub offset: usize,
    /// What, with the file's line endings.
    pub text: String,
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
            style.step(&mut out, step, None);
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
            style.step(&mut out, step, Some(dash + 1 + gap));
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
