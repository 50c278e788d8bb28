//! Validating rule 7, rollout numbers: `maxConcurrency >= 1` and `timeout >= 1`, and a
//! warning when the first appended step would have under a minute per batch.
//!
//! The clusters counted are those the step will act on, as TALM selects them by the
//! labels it derives from the stored status (Upgrade: Prep completed; FinalizeUpgrade
//! and Rollback: Upgrade completed; FinalizeRollback: Rollback completed;
//! AbortOnFailure: Prep or Upgrade failed, not recovered). Prep and Abort select
//! clusters the status need not list, and a later appended step acts on what the first
//! leaves: no warning there.
//!
//! TALM batches a step's clusters `maxConcurrency` at a time and shares the step's
//! `timeout` (minutes) across the batches: remaining time over remaining batches. It
//! treats `maxConcurrency <= 0` as "every cluster at once", which is never what a fleet
//! rollout wants. The bounds read the plan only; the batch warning reads the live status,
//! and is the rule's `live` check.

use crate::model::action::Action;
use crate::model::field::{ErrorList, FieldError, Warning};
use crate::model::{DEFAULT_TIMEOUT_MINUTES, ImageBasedGroupUpgrade, RolloutStrategy};
use crate::policy::rule::{Context, Findings, Ratchet, Validating};

use crate::model::plan::appends;
use crate::model::plan::path;

/// The rule.
pub const RULE: Validating = Validating {
    id: "rollout-numbers",
    number: 7,
    name: "rollout numbers",
    ratchet: Ratchet::PerField,
    object: Some(check),
    live: Some(batches),
    ..Validating::NEW
};

fn check(ibgu: &ImageBasedGroupUpgrade<'_>, _: &Context<'_>) -> Findings {
    let mut errors = ErrorList::new();
    for (i, step) in ibgu.plan().iter().enumerate() {
        let Some(rs) = &step.rollout_strategy else {
            continue;
        };
        let at = |field| path().index(i).child("rolloutStrategy").child(field);
        if let Some(m) = rs.max_concurrency.filter(|m| *m < 1) {
            errors.push(FieldError::invalid(
                at("maxConcurrency"),
                m,
                "must be greater than or equal to 1 (TALM would take every cluster in one batch)",
            ));
        }
        if let Some(t) = rs.timeout.filter(|t| *t < 1) {
            errors.push(FieldError::invalid(
                at("timeout"),
                t,
                "must be greater than or equal to 1 (minutes for the whole step)",
            ));
        }
    }
    errors.into()
}

/// The batch warning, for the first appended step.
fn batches(
    old: &ImageBasedGroupUpgrade<'_>,
    new: &ImageBasedGroupUpgrade<'_>,
    _: &Context<'_>,
) -> Findings {
    let at = old.plan().len();
    let (true, Ok(progress), Some(step)) = (appends(old, new), old.progress(), new.plan().get(at))
    else {
        return Findings::default();
    };
    let first = step.actions().first().and_then(|a| Action::parse(a));
    let Some(clusters) = first.and_then(|a| progress.selected_by(a)) else {
        return Findings::default();
    };
    let clusters = i64::try_from(clusters).unwrap_or(i64::MAX);
    let Some(RolloutStrategy {
        max_concurrency: Some(m),
        timeout,
    }) = step.rollout_strategy
    else {
        return Findings::default();
    };
    let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT_MINUTES);
    if clusters == 0 || m < 1 || timeout < 1 {
        return Findings::default();
    }
    let batches = clusters.saturating_add(m - 1) / m;
    (timeout < batches)
        .then(|| {
            Warning::new(
                path().index(at).child("rolloutStrategy"),
                format!(
                    "timeout {timeout}m over {batches} batches of {m} leaves under 1m per batch"
                ),
            )
        })
        .into()
}

#[cfg(test)]
mod tests {
    use crate::policy::rules::tests::{errors, update_warnings};

    #[test]
    fn invalid_numbers_are_reported() {
        let e = errors(
            "rollout-numbers",
            r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":0,"timeout":-5}},{"actions":["Upgrade"]}]"#,
        );
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(e[0].starts_with(
            "spec.plan[0].rolloutStrategy.maxConcurrency: Invalid value: 0: must be greater"
        ));
        assert!(e[1].starts_with("spec.plan[0].rolloutStrategy.timeout: Invalid value: -5"));
    }

    #[test]
    fn warns_when_batches_outnumber_minutes() {
        // 50 clusters completed Prep, 30 more never ran: Upgrade acts on the 50.
        let done: Vec<String> = (0..50)
            .map(|i| format!(r#"{{"name":"c{i}","completedActions":[{{"action":"Prep"}}]}}"#))
            .chain((50..80).map(|i| format!(r#"{{"name":"c{i}"}}"#)))
            .collect();
        let status = format!(r#"{{"clusters":[{}]}}"#, done.join(","));
        let old = r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":1}}]"#;
        let step = |actions: &str| {
            format!(
                r#"[{{"actions":["Prep"],"rolloutStrategy":{{"maxConcurrency":1}}}},{{"actions":{actions},"rolloutStrategy":{{"maxConcurrency":2,"timeout":20}}}}]"#
            )
        };
        assert_eq!(
            update_warnings("rollout-numbers", old, &status, &step(r#"["Upgrade"]"#)),
            [
                "spec.plan[1].rolloutStrategy: timeout 20m over 25 batches of 2 leaves under 1m per batch"
            ]
        );
        // FinalizeUpgrade acts on clusters that completed Upgrade: none here.
        assert!(
            update_warnings(
                "rollout-numbers",
                old,
                &status,
                &step(r#"["FinalizeUpgrade"]"#)
            )
            .is_empty()
        );
        // Abort selects clusters the status need not list: unknown, no warning.
        assert!(update_warnings("rollout-numbers", old, &status, &step(r#"["Abort"]"#)).is_empty());
    }
}
