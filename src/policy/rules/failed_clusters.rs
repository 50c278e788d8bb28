//! Validating rule 5: when clusters failed earlier steps and the first appended step does
//! not start with Abort, AbortOnFailure or Rollback, a warning says those clusters will
//! be skipped.

use crate::model::action::Action;
use crate::model::field::Warning;
use crate::model::ImageBasedGroupUpgrade;
use crate::policy::rule::{Context, Findings, Rule, Side};

use super::append_when_idle::appends;
use super::plan_shape::path;

/// The rule.
pub const RULE: Rule = Rule {
    number: 5,
    name: "after failures",
    covers: &[Side::Warned, Side::Quiet],
    update: Some(check),
    ..Rule::VALIDATING
};

fn check(old: &ImageBasedGroupUpgrade<'_>, new: &ImageBasedGroupUpgrade<'_>, _: &Context<'_>) -> Findings {
    let at = old.plan().len();
    let (true, Some(first_new), Ok(progress)) = (appends(old, new), new.plan().get(at), old.progress())
    else {
        return Findings::default();
    };
    let recovers = first_new.actions().first().is_some_and(|a| {
        matches!(
            Action::parse(a),
            Some(Action::Abort | Action::AbortOnFailure | Action::Rollback)
        )
    });
    (!recovers && progress.failed > 0)
        .then(|| {
            Warning::new(
                path().index(at),
                format!(
                    "{} cluster(s) failed an earlier step and will be skipped; recover them with AbortOnFailure first",
                    progress.failed
                ),
            )
        })
        .into()
}

#[cfg(test)]
mod tests {
    use crate::policy::rules::tests::{RS, update_warnings};

    #[test]
    fn failures_warn_unless_recovering() {
        let old = format!(r#"[{{"actions":["Prep"],{RS}}}]"#);
        let failed = r#"{"clusters":[{"name":"a","failedActions":[{"action":"Prep"}]},{"name":"b"}]}"#;
        let up = format!(r#"[{{"actions":["Prep"],{RS}}},{{"actions":["Upgrade"],{RS}}}]"#);
        let w = update_warnings(5, &old, failed, &up);
        assert_eq!(w.len(), 1);
        assert!(w[0].starts_with("spec.plan[1]: 1 cluster(s) failed"), "{}", w[0]);
        let abort = format!(r#"[{{"actions":["Prep"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}}]"#);
        assert!(update_warnings(5, &old, failed, &abort).is_empty());
    }
}
