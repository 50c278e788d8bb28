//! Validating rule 4: steps are appended only once nothing is progressing, as the
//! stored status shows it (condition `Progressing` True, or a cluster with a
//! `currentAction`).

use crate::model::field::FieldError;
use crate::model::{ImageBasedGroupUpgrade, Progress};
use crate::policy::rule::{Context, Findings, Rule};

use super::plan_shape::path;

/// The rule.
pub const RULE: Rule = Rule {
    number: 4,
    name: "append when idle",
    update: Some(check),
    ..Rule::VALIDATING
};

/// Whether the update appends steps (what rules 4, 5 and 7's warning judge).
pub fn appends(old: &ImageBasedGroupUpgrade<'_>, new: &ImageBasedGroupUpgrade<'_>) -> bool {
    new.plan().len() > old.plan().len()
}

fn check(old: &ImageBasedGroupUpgrade<'_>, new: &ImageBasedGroupUpgrade<'_>, _: &Context<'_>) -> Findings {
    if !appends(old, new) {
        return Findings::default();
    }
    let at = old.plan().len();
    match old.progress() {
        Ok(progress) => progressing(progress)
            .map(|why| {
                FieldError::forbidden(
                    path().index(at),
                    format!("steps can be added only once earlier steps have completed or failed: {why}"),
                )
                .into()
            })
            .unwrap_or_default(),
        Err(e) => FieldError::forbidden(
            path().index(at),
            format!("steps cannot be appended while the stored status is unreadable: {e}"),
        )
        .into(),
    }
}

/// What is still progressing, if anything.
fn progressing(progress: &Progress) -> Option<String> {
    if progress.running_count > 0 {
        let names: Vec<String> = progress.running.iter().map(|(n, a)| format!("{n} ({a})")).collect();
        let more = if progress.running_count > names.len() { ", ..." } else { "" };
        return Some(format!(
            "{} cluster(s) still running an action: {}{more}",
            progress.running_count,
            names.join(", ")
        ));
    }
    let reason = progress.progressing.as_ref()?;
    Some(format!("condition Progressing is True (reason {reason})"))
}

#[cfg(test)]
mod tests {
    use crate::policy::rules::tests::{RS, update_errors};

    #[test]
    fn append_while_running_is_forbidden() {
        let old = format!(r#"[{{"actions":["Prep"],{RS}}}]"#);
        let new = format!(r#"[{{"actions":["Prep"],{RS}}},{{"actions":["Upgrade"],{RS}}}]"#);
        let running = r#"{"clusters":[{"name":"spoke1","currentAction":{"action":"Prep"}}]}"#;
        assert_eq!(
            update_errors(4, &old, running, &new),
            ["spec.plan[1]: Forbidden: steps can be added only once earlier steps have completed or failed: 1 cluster(s) still running an action: spoke1 (Prep)"]
        );
        let cond = r#"{"conditions":[{"type":"Progressing","status":"True","reason":"InProgress"}]}"#;
        assert_eq!(update_errors(4, &old, cond, &new).len(), 1);
        let done = r#"{"conditions":[{"type":"Progressing","status":"False","reason":"Completed"}]}"#;
        assert!(update_errors(4, &old, done, &new).is_empty());
        // Not appending: the status does not matter.
        assert!(update_errors(4, &old, running, &old).is_empty());
        let unreadable = r#"{"clusters":[{"name":7}]}"#;
        assert!(update_errors(4, &old, unreadable, &new)[0].contains("stored status is unreadable"));
    }
}
