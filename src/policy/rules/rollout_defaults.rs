//! Mutating rule 1: a step without `rolloutStrategy`, or without one of its fields, gets
//! the value stored for that step (UPDATE), else `timeout: 240` and the previous step's
//! `maxConcurrency`, else the server's default.
//!
//! Defaulting is stable: on UPDATE an existing step with a field left out gets the value
//! stored for it, so re-applying a manifest that relied on defaults never reads as an
//! edit of an ongoing step (validating rule 3), even if the server's default changed.

use std::fmt;

use crate::model::field::Warning;
use crate::model::{DEFAULT_TIMEOUT_MINUTES, RolloutStrategy};
use crate::policy::change::Change;
use crate::policy::patch::Additions;
use crate::policy::rule::{Context, Mutating, Side};

use crate::model::plan::path;

/// The rule.
pub const RULE: Mutating = Mutating {
    id: "rollout-defaults",
    number: 1,
    name: "rollout strategy defaults",
    secrets: None,
    covers: &[Side::Patched, Side::Unpatched],
    mutate: default,
};

fn default<'a>(change: Change<'a>, ctx: &Context<'_>, add: &mut Additions<'a>) -> Vec<Warning> {
    let new = change.new_object();
    let mut warnings = Vec::new();
    let mut previous: Option<i64> = None;
    for (i, step) in new.plan().iter().enumerate() {
        let stored = change
            .old_object()
            .and_then(|o| o.plan().get(i))
            .filter(|s| s.actions() == step.actions())
            .and_then(|s| s.rollout_strategy);
        let (max, from) = match (stored.and_then(|r| r.max_concurrency), previous) {
            (Some(m), _) => (m, Source::Stored),
            (None, Some(p)) => (p, Source::Step(i - 1)),
            (None, None) => (ctx.config.default_max_concurrency, Source::Server),
        };
        let timeout = stored
            .and_then(|r| r.timeout)
            .unwrap_or(DEFAULT_TIMEOUT_MINUTES);
        let given = step.rollout_strategy.unwrap_or_default();
        let filled = RolloutStrategy {
            max_concurrency: given.max_concurrency.is_none().then_some(max),
            timeout: given.timeout.is_none().then_some(timeout),
        };
        // An invalid value is reported by validating rule 7; it is not passed on.
        let effective = given.max_concurrency.unwrap_or(max);
        previous = (effective >= 1).then_some(effective).or(previous);
        let message = match (filled.max_concurrency, filled.timeout) {
            (None, None) => continue,
            (Some(m), None) => format!("defaulted maxConcurrency {m} ({from})"),
            (None, Some(t)) => format!("defaulted timeout {t}"),
            (Some(m), Some(t)) => format!("defaulted maxConcurrency {m} ({from}), timeout {t}"),
        };
        add.rollout_strategy(i, filled);
        warnings.push(Warning::new(
            path().index(i).child("rolloutStrategy"),
            message,
        ));
    }
    warnings
}

/// Where a defaulted `maxConcurrency` came from, as the warning says it.
#[derive(Clone, Copy)]
enum Source {
    Stored,
    Step(usize),
    Server,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Stored => f.write_str("stored"),
            Source::Step(i) => write!(f, "step {i}"),
            Source::Server => f.write_str("server default"),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::ImageBasedGroupUpgrade;
    use crate::policy::rules::tests::run_mutation;

    fn ibgu(plan: &str) -> String {
        format!(r#"{{"spec":{{"plan":{plan}}}}}"#)
    }

    #[test]
    fn inherits_from_previous_step_else_default() {
        let new = ibgu(
            r#"[{"actions":["Prep"]},{"actions":["Upgrade"],"rolloutStrategy":{"maxConcurrency":50}},{"actions":["FinalizeUpgrade"]}]"#,
        );
        let new = ImageBasedGroupUpgrade::from_json(&new).unwrap();
        let (patch, warnings) = run_mutation("rollout-defaults", None, &new, 7);
        assert_eq!(
            patch,
            r#"[{"op":"add","path":"/spec/plan/0/rolloutStrategy","value":{"maxConcurrency":7,"timeout":240}},{"op":"add","path":"/spec/plan/1/rolloutStrategy/timeout","value":240},{"op":"add","path":"/spec/plan/2/rolloutStrategy","value":{"maxConcurrency":50,"timeout":240}}]"#
        );
        assert_eq!(
            warnings,
            [
                "spec.plan[0].rolloutStrategy: defaulted maxConcurrency 7 (server default), timeout 240",
                "spec.plan[1].rolloutStrategy: defaulted timeout 240",
                "spec.plan[2].rolloutStrategy: defaulted maxConcurrency 50 (step 1), timeout 240",
            ]
        );
    }

    #[test]
    fn update_keeps_stored_values() {
        let old =
            ibgu(r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":3,"timeout":60}}]"#);
        let new = ibgu(r#"[{"actions":["Prep"]},{"actions":["Upgrade"]}]"#);
        let old = ImageBasedGroupUpgrade::stored_from_json(&old).unwrap();
        let new = ImageBasedGroupUpgrade::from_json(&new).unwrap();
        let (patch, _) = run_mutation("rollout-defaults", Some(&old), &new, 7);
        assert_eq!(
            patch,
            r#"[{"op":"add","path":"/spec/plan/0/rolloutStrategy","value":{"maxConcurrency":3,"timeout":60}},{"op":"add","path":"/spec/plan/1/rolloutStrategy","value":{"maxConcurrency":3,"timeout":240}}]"#
        );
    }
}
