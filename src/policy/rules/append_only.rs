//! Validating rule 3, append only: on UPDATE the stored plan stays a prefix of the new
//! one, step by step, with the same actions and rollout strategy. Upstream's CEL rule
//! `oldSelf.all(element, element in self)` is a membership test, so removing a trailing
//! step that repeats an earlier one (`[Prep], [AbortOnFailure], [Upgrade], [AbortOnFailure]`
//! back to three steps) or reordering steps slips through it; here it does not.

use crate::model::field::{ErrorList, FieldError, Path};
use crate::model::{DEFAULT_TIMEOUT_MINUTES, ImageBasedGroupUpgrade, RolloutStrategy, Step};
use crate::policy::rule::{Context, Findings, Validating};

use crate::model::plan::path;

/// The rule.
pub const RULE: Validating = Validating {
    id: "append-only",
    number: 3,
    name: "append only",
    update: Some(check),
    ..Validating::NEW
};

fn check(
    old: &ImageBasedGroupUpgrade<'_>,
    new: &ImageBasedGroupUpgrade<'_>,
    _: &Context<'_>,
) -> Findings {
    let mut errors = ErrorList::new();
    let (old_plan, new_plan) = (old.plan(), new.plan());
    let path = path();
    for (i, was) in old_plan.iter().enumerate() {
        let Some(now) = new_plan.get(i) else {
            errors.push(FieldError::forbidden(
                path.index(i),
                format!(
                    "steps cannot be removed from an ongoing plan: it had {} steps, now {}",
                    old_plan.len(),
                    new_plan.len()
                ),
            ));
            break;
        };
        if now.actions() != was.actions() {
            errors.push(changed_actions(i, was, new_plan, &path));
        }
        if let Some(detail) = changed_rollout(was, now) {
            errors.push(FieldError::forbidden(
                path.index(i).child("rolloutStrategy"),
                detail,
            ));
        }
    }
    errors.into()
}

fn changed_actions(i: usize, was: &Step<'_>, new_plan: &[Step<'_>], path: &Path) -> FieldError {
    let moved_to = new_plan
        .iter()
        .position(|s| s.actions() == was.actions() && s.rollout_strategy == was.rollout_strategy);
    let names: Vec<&str> = was.actions().iter().map(|a| a.as_str()).collect();
    let detail = match moved_to {
        Some(j) => format!(
            "steps of an ongoing plan cannot be reordered: step {i} {names:?} is now at {j}"
        ),
        None => format!("the actions of an ongoing plan's step cannot change: was {names:?}"),
    };
    FieldError::forbidden(path.index(i).child("actions"), detail)
}

/// What changed in a step's rollout strategy, if anything. A field the new step leaves
/// unset is not a change here: defaulting fills it, and rule 1 reports it if not.
fn changed_rollout(was: &Step<'_>, now: &Step<'_>) -> Option<String> {
    let now = now.rollout_strategy.as_ref()?;
    let was = was.rollout_strategy.unwrap_or_default();
    let timeout = |r: &RolloutStrategy| r.timeout.unwrap_or(DEFAULT_TIMEOUT_MINUTES);
    let max_changed = now.max_concurrency.is_some() && now.max_concurrency != was.max_concurrency;
    let timeout_changed = timeout(now) != timeout(&was);
    (max_changed || timeout_changed).then(|| {
        let mut detail = format!(
            "the rollout strategy of an ongoing plan's step cannot change: was maxConcurrency {}, timeout {}",
            was.max_concurrency
                .map_or_else(|| "unset".to_owned(), |m| m.to_string()),
            timeout(&was)
        );
        // A timeout dropped from the manifest reaches the webhooks as the CRD's default,
        // filled in by the apiserver: the edit the user did not mean is that one.
        if timeout_changed && timeout(now) == DEFAULT_TIMEOUT_MINUTES {
            detail.push_str(&format!(
                "; the apiserver filled in timeout {DEFAULT_TIMEOUT_MINUTES} (the CRD's default for a timeout left out): keep `timeout: {}` in the manifest",
                timeout(&was)
            ));
        }
        detail
    })
}

#[cfg(test)]
mod tests {
    use crate::policy::rules::tests::{RS, update_errors};

    #[test]
    fn removing_a_repeated_trailing_step_is_caught() {
        // Upstream's membership test misses this one: [AbortOnFailure] is still "in" the plan.
        let four = format!(
            r#"[{{"actions":["Prep"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}},{{"actions":["Upgrade"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}}]"#
        );
        let three = format!(
            r#"[{{"actions":["Prep"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}},{{"actions":["Upgrade"],{RS}}}]"#
        );
        assert_eq!(
            update_errors("append-only", &four, "{}", &three),
            [
                "spec.plan[3]: Forbidden: steps cannot be removed from an ongoing plan: it had 4 steps, now 3"
            ]
        );
    }

    #[test]
    fn reorder_and_edit_are_named() {
        let old = format!(r#"[{{"actions":["Prep"],{RS}}},{{"actions":["Upgrade"],{RS}}}]"#);
        let swapped = format!(r#"[{{"actions":["Upgrade"],{RS}}},{{"actions":["Prep"],{RS}}}]"#);
        let e = update_errors("append-only", &old, "{}", &swapped);
        assert_eq!(e.len(), 2);
        assert!(
            e[0].contains("cannot be reordered: step 0 [\"Prep\"] is now at 1"),
            "{}",
            e[0]
        );
        let slower = r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":5,"timeout":240}},{"actions":["Upgrade"],"rolloutStrategy":{"maxConcurrency":10,"timeout":240}}]"#;
        assert_eq!(
            update_errors("append-only", &old, "{}", slower),
            [
                "spec.plan[0].rolloutStrategy: Forbidden: the rollout strategy of an ongoing plan's step cannot change: was maxConcurrency 10, timeout 240"
            ]
        );
    }

    #[test]
    fn a_dropped_timeout_is_named_as_the_crd_default() {
        let old = r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":10,"timeout":60}}]"#;
        assert_eq!(
            update_errors(
                "append-only",
                old,
                "{}",
                &format!(r#"[{{"actions":["Prep"],{RS}}}]"#)
            ),
            [
                "spec.plan[0].rolloutStrategy: Forbidden: the rollout strategy of an ongoing plan's step cannot change: was maxConcurrency 10, timeout 60; the apiserver filled in timeout 240 (the CRD's default for a timeout left out): keep `timeout: 60` in the manifest"
            ]
        );
        // Another timeout is the user's own edit: no word about defaults.
        let e = update_errors(
            "append-only",
            old,
            "{}",
            r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":10,"timeout":90}}]"#,
        );
        assert_eq!(e.len(), 1);
        assert!(!e[0].contains("default"), "{}", e[0]);
    }

    #[test]
    fn default_timeout_equals_explicit_240() {
        let old = r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":10}}]"#;
        let new = format!(r#"[{{"actions":["Prep"],{RS}}}]"#);
        assert!(update_errors("append-only", old, "{}", &new).is_empty());
    }
}
