//! Validating rule 7, rollout numbers: `maxConcurrency >= 1` and `timeout >= 1`, and a
//! warning when a step appended to a plan whose clusters the stored status counts would
//! have under a minute per batch.
//!
//! TALM batches a step's clusters `maxConcurrency` at a time and shares the step's
//! `timeout` (minutes) across the batches: remaining time over remaining batches. It
//! treats `maxConcurrency <= 0` as "every cluster at once", which is never what a fleet
//! rollout wants.

use crate::model::field::{ErrorList, FieldError, Warning};
use crate::model::{DEFAULT_TIMEOUT_MINUTES, ImageBasedGroupUpgrade, RolloutStrategy};
use crate::policy::rule::{Context, Findings, Rule};

use super::append_when_idle::appends;
use super::plan_shape::path;

/// The rule.
pub const RULE: Rule = Rule {
    number: 7,
    name: "rollout numbers",
    ratchets: true,
    object: Some(check),
    update: Some(batches),
    ..Rule::VALIDATING
};

fn check(ibgu: &ImageBasedGroupUpgrade<'_>, _: &Context<'_>) -> Findings {
    let mut errors = ErrorList::new();
    for (i, step) in ibgu.plan().iter().enumerate() {
        let Some(rs) = &step.rollout_strategy else {
            continue;
        };
        let at = path().index(i).child("rolloutStrategy");
        if let Some(m) = rs.max_concurrency.filter(|m| *m < 1) {
            errors.push(FieldError::invalid(
                at.child("maxConcurrency"),
                m,
                "must be greater than or equal to 1 (TALM would take every cluster in one batch)",
            ));
        }
        if let Some(t) = rs.timeout.filter(|t| *t < 1) {
            errors.push(FieldError::invalid(
                at.child("timeout"),
                t,
                "must be greater than or equal to 1 (minutes for the whole step)",
            ));
        }
    }
    errors.into()
}

/// The batch warning, for appended steps: only then does the stored status count the
/// clusters.
fn batches(old: &ImageBasedGroupUpgrade<'_>, new: &ImageBasedGroupUpgrade<'_>, _: &Context<'_>) -> Findings {
    let (true, Ok(progress)) = (appends(old, new), old.progress()) else {
        return Findings::default();
    };
    let clusters = i64::try_from(progress.clusters).unwrap_or(i64::MAX);
    if clusters == 0 {
        return Findings::default();
    }
    let mut warnings = Vec::new();
    for (i, step) in new.plan().iter().enumerate().skip(old.plan().len()) {
        let Some(RolloutStrategy {
            max_concurrency: Some(m),
            timeout,
        }) = step.rollout_strategy
        else {
            continue;
        };
        let timeout = timeout.unwrap_or(DEFAULT_TIMEOUT_MINUTES);
        if m < 1 || timeout < 1 {
            continue;
        }
        let batches = clusters.saturating_add(m - 1) / m;
        if timeout < batches {
            warnings.push(Warning::new(
                path().index(i).child("rolloutStrategy"),
                format!("timeout {timeout}m over {batches} batches of {m} leaves under 1m per batch"),
            ));
        }
    }
    Findings {
        errors: ErrorList::new(),
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::rules::tests::{errors, update_warnings};

    #[test]
    fn invalid_numbers_are_reported() {
        let e = errors(
            7,
            r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":0,"timeout":-5}},{"actions":["Upgrade"]}]"#,
        );
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(e[0].starts_with("spec.plan[0].rolloutStrategy.maxConcurrency: Invalid value: 0: must be greater"));
        assert!(e[1].starts_with("spec.plan[0].rolloutStrategy.timeout: Invalid value: -5"));
    }

    #[test]
    fn warns_when_batches_outnumber_minutes() {
        let clusters: Vec<String> = (0..50).map(|i| format!(r#"{{"name":"c{i}"}}"#)).collect();
        let status = format!(r#"{{"clusters":[{}]}}"#, clusters.join(","));
        let old = r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":1}}]"#;
        let new = r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":1}},{"actions":["Upgrade"],"rolloutStrategy":{"maxConcurrency":2,"timeout":20}}]"#;
        assert_eq!(
            update_warnings(7, old, &status, new),
            ["spec.plan[1].rolloutStrategy: timeout 20m over 25 batches of 2 leaves under 1m per batch"]
        );
    }
}
