//! How an ongoing plan may change on UPDATE.
//!
//! - Rule 3, append only: the old plan stays a prefix of the new one, step by step, with
//!   the same actions and rollout strategy. Upstream's CEL rule
//!   `oldSelf.all(element, element in self)` is a membership test, so removing a trailing
//!   step that repeats an earlier one (`[Prep], [AbortOnFailure], [Upgrade], [AbortOnFailure]`
//!   back to three steps) or reordering steps slips through it; here it does not.
//! - Rule 4: steps are appended only while nothing is progressing.
//! - Rule 5: a step appended after failures warns that failed clusters will be skipped.

use crate::action::Action;
use crate::field::{ErrorList, FieldError, Path};
use crate::ibgu::{
    DEFAULT_TIMEOUT_MINUTES, ImageBasedGroupUpgrade, Progress, RolloutStrategy, Step,
};

/// Rule 3: existing steps are kept as they were, in order.
pub fn validate(old: &ImageBasedGroupUpgrade, new: &ImageBasedGroupUpgrade) -> ErrorList {
    let mut errors = ErrorList::new();
    let (old_plan, new_plan) = (old.plan(), new.plan());
    let path = super::path();
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
    errors
}

/// Whether the update appends steps (the case rules 4, 5 and the batch warning judge).
pub fn appends(old: &ImageBasedGroupUpgrade, new: &ImageBasedGroupUpgrade) -> bool {
    new.plan().len() > old.plan().len()
}

fn changed_actions(i: usize, was: &Step, new_plan: &[Step], path: &Path) -> FieldError {
    let moved_to = new_plan
        .iter()
        .position(|s| s.actions() == was.actions() && s.rollout_strategy == was.rollout_strategy);
    let detail = match moved_to {
        Some(j) => format!(
            "steps of an ongoing plan cannot be reordered: step {i} {:?} is now at {j}",
            was.actions()
        ),
        None => format!(
            "the actions of an ongoing plan's step cannot change: was {:?}",
            was.actions()
        ),
    };
    FieldError::forbidden(path.index(i).child("actions"), detail)
}

/// What changed in a step's rollout strategy, if anything. A field the new step leaves
/// unset is not a change here: defaulting fills it, and rule 1 reports it if not.
fn changed_rollout(was: &Step, now: &Step) -> Option<String> {
    let now = now.rollout_strategy.as_ref()?;
    let unset = RolloutStrategy::default();
    let was_rs = was.rollout_strategy.as_ref().unwrap_or(&unset);
    let timeout = |r: &RolloutStrategy| r.timeout.unwrap_or(DEFAULT_TIMEOUT_MINUTES);
    let max_changed =
        now.max_concurrency.is_some() && now.max_concurrency != was_rs.max_concurrency;
    let timeout_changed = timeout(now) != timeout(was_rs);
    (max_changed || timeout_changed).then(|| {
        format!(
            "the rollout strategy of an ongoing plan's step cannot change: was maxConcurrency {}, timeout {}",
            was_rs
                .max_concurrency
                .map_or_else(|| "unset".to_owned(), |m| m.to_string()),
            timeout(was_rs)
        )
    })
}

/// Rule 4: steps are appended (at index `at`) only once nothing is progressing.
pub fn appended_while_progressing(at: usize, progress: &Progress) -> Option<FieldError> {
    let why = if progress.running_count > 0 {
        let names: Vec<String> = progress
            .running
            .iter()
            .map(|(n, a)| format!("{n} ({a})"))
            .collect();
        let more = if progress.running_count > names.len() {
            ", ..."
        } else {
            ""
        };
        format!(
            "{} cluster(s) still running an action: {}{more}",
            progress.running_count,
            names.join(", ")
        )
    } else {
        format!(
            "condition Progressing is True (reason {})",
            progress.progressing.as_ref()?
        )
    };
    Some(FieldError::forbidden(
        super::path().index(at),
        format!("steps can be added only once earlier steps have completed or failed: {why}"),
    ))
}

/// Rule 5: when clusters failed earlier steps and the first appended step does not start
/// with Abort, AbortOnFailure or Rollback, say that those clusters will be skipped.
pub fn appended_after_failures(
    old: &ImageBasedGroupUpgrade,
    new: &ImageBasedGroupUpgrade,
    progress: &Progress,
) -> Option<String> {
    let at = old.plan().len();
    let first_new = new.plan().get(at)?;
    let recovers = first_new.actions().first().is_some_and(|a| {
        matches!(
            Action::parse(a),
            Some(Action::Abort | Action::AbortOnFailure | Action::Rollback)
        )
    });
    (!recovers && progress.failed > 0).then(|| {
        format!(
            "spec.plan[{at}]: {} cluster(s) failed an earlier step and will be skipped; \
             recover them with AbortOnFailure first",
            progress.failed
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ibgu(plan: &str, status: &str) -> ImageBasedGroupUpgrade {
        ImageBasedGroupUpgrade::from_json(&format!(
            r#"{{"spec":{{"plan":{plan}}},"status":{status}}}"#
        ))
        .unwrap()
    }

    fn msgs(old: &ImageBasedGroupUpgrade, new: &ImageBasedGroupUpgrade) -> Vec<String> {
        let mut errors = validate(old, new);
        if appends(old, new) {
            errors.extend(
                appended_while_progressing(old.plan().len(), &old.progress().unwrap())
                    .into_iter()
                    .collect::<ErrorList>(),
            );
        }
        errors.iter().map(ToString::to_string).collect()
    }

    fn warnings(old: &ImageBasedGroupUpgrade, new: &ImageBasedGroupUpgrade) -> Vec<String> {
        appended_after_failures(old, new, &old.progress().unwrap())
            .into_iter()
            .collect()
    }

    const RS: &str = r#""rolloutStrategy":{"maxConcurrency":10,"timeout":240}"#;

    #[test]
    fn removing_a_repeated_trailing_step_is_caught() {
        // Upstream's membership test misses this one: [AbortOnFailure] is still "in" the plan.
        let four = format!(
            r#"[{{"actions":["Prep"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}},{{"actions":["Upgrade"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}}]"#
        );
        let three = format!(
            r#"[{{"actions":["Prep"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}},{{"actions":["Upgrade"],{RS}}}]"#
        );
        let e = msgs(&ibgu(&four, "{}"), &ibgu(&three, "{}"));
        assert_eq!(
            e,
            [
                "spec.plan[3]: Forbidden: steps cannot be removed from an ongoing plan: it had 4 steps, now 3"
            ]
        );
    }

    #[test]
    fn reorder_and_edit_are_named() {
        let old = format!(r#"[{{"actions":["Prep"],{RS}}},{{"actions":["Upgrade"],{RS}}}]"#);
        let swapped = format!(r#"[{{"actions":["Upgrade"],{RS}}},{{"actions":["Prep"],{RS}}}]"#);
        let e = msgs(&ibgu(&old, "{}"), &ibgu(&swapped, "{}"));
        assert_eq!(e.len(), 2);
        assert!(
            e[0].contains("cannot be reordered: step 0 [\"Prep\"] is now at 1"),
            "{}",
            e[0]
        );
        let slower = r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":5,"timeout":240}},{"actions":["Upgrade"],"rolloutStrategy":{"maxConcurrency":10,"timeout":240}}]"#;
        let e = msgs(&ibgu(&old, "{}"), &ibgu(slower, "{}"));
        assert_eq!(
            e,
            [
                "spec.plan[0].rolloutStrategy: Forbidden: the rollout strategy of an ongoing plan's step cannot change: was maxConcurrency 10, timeout 240"
            ]
        );
    }

    #[test]
    fn default_timeout_equals_explicit_240() {
        let old = r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":10}}]"#;
        let new = format!(r#"[{{"actions":["Prep"],{RS}}}]"#);
        assert!(msgs(&ibgu(old, "{}"), &ibgu(&new, "{}")).is_empty());
    }

    #[test]
    fn append_while_running_is_forbidden() {
        let old = format!(r#"[{{"actions":["Prep"],{RS}}}]"#);
        let new = format!(r#"[{{"actions":["Prep"],{RS}}},{{"actions":["Upgrade"],{RS}}}]"#);
        let running = r#"{"clusters":[{"name":"spoke1","currentAction":{"action":"Prep"}}]}"#;
        let e = msgs(&ibgu(&old, running), &ibgu(&new, "{}"));
        assert_eq!(
            e,
            [
                "spec.plan[1]: Forbidden: steps can be added only once earlier steps have completed or failed: 1 cluster(s) still running an action: spoke1 (Prep)"
            ]
        );
        let cond =
            r#"{"conditions":[{"type":"Progressing","status":"True","reason":"InProgress"}]}"#;
        assert_eq!(msgs(&ibgu(&old, cond), &ibgu(&new, "{}")).len(), 1);
        let done =
            r#"{"conditions":[{"type":"Progressing","status":"False","reason":"Completed"}]}"#;
        assert!(msgs(&ibgu(&old, done), &ibgu(&new, "{}")).is_empty());
    }

    #[test]
    fn failures_warn_unless_recovering() {
        let old = format!(r#"[{{"actions":["Prep"],{RS}}}]"#);
        let failed =
            r#"{"clusters":[{"name":"a","failedActions":[{"action":"Prep"}]},{"name":"b"}]}"#;
        let up = format!(r#"[{{"actions":["Prep"],{RS}}},{{"actions":["Upgrade"],{RS}}}]"#);
        let w = warnings(&ibgu(&old, failed), &ibgu(&up, "{}"));
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with("spec.plan[1]: 1 cluster(s) failed"),
            "{}",
            w[0]
        );
        let abort =
            format!(r#"[{{"actions":["Prep"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}}]"#);
        assert!(warnings(&ibgu(&old, failed), &ibgu(&abort, "{}")).is_empty());
    }
}
