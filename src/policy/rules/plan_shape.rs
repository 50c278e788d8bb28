//! Validating rule 1, plan shape: `spec.plan` is present with at most 6 steps, each with
//! 1 to 4 known actions (none twice) and a `rolloutStrategy` with `maxConcurrency`.

use crate::model::action::Action;
use crate::model::field::{ErrorList, FieldError, Path};
use crate::model::plan::{MAX_ACTIONS, MAX_STEPS, actions, path, unchanged};
use crate::model::{ImageBasedGroupUpgrade, Step};
use crate::policy::rule::{Context, Findings, Ratchet, Validating};

/// The rule.
pub const RULE: Validating = Validating {
    id: "plan-shape",
    number: 1,
    name: "plan shape",
    ratchet: Ratchet::WhileUnchanged(unchanged),
    object: Some(check),
    ..Validating::NEW
};

fn check(ibgu: &ImageBasedGroupUpgrade<'_>, _: &Context<'_>) -> Findings {
    let mut errors = ErrorList::new();
    let plan = ibgu.plan();
    if plan.is_empty() {
        errors.push(FieldError::required(
            path(),
            "a plan needs at least one step, e.g. [Prep, Upgrade, FinalizeUpgrade]",
        ));
        return errors.into();
    }
    if plan.len() > MAX_STEPS {
        errors.push(FieldError::too_many(path(), plan.len(), MAX_STEPS));
    }
    for (i, step) in plan.iter().enumerate() {
        if actions(step).is_none() {
            step_errors(step, path().index(i).child("actions"), &mut errors);
        }
    }
    for (i, step) in plan.iter().enumerate() {
        let at = || path().index(i).child("rolloutStrategy");
        match &step.rollout_strategy {
            None => errors.push(FieldError::required(
                at(),
                "each step needs maxConcurrency (clusters per batch) and timeout (minutes)",
            )),
            Some(rs) if rs.max_concurrency.is_none() => errors.push(FieldError::required(
                at().child("maxConcurrency"),
                "how many clusters each batch takes",
            )),
            Some(_) => {}
        }
    }
    errors.into()
}

/// What is wrong with a step that is not well formed.
fn step_errors(step: &Step<'_>, path: Path, errors: &mut ErrorList) {
    let names = step.actions();
    if names.is_empty() {
        errors.push(FieldError::required(path, "a step needs 1 to 4 actions"));
        return;
    }
    if names.len() > MAX_ACTIONS {
        errors.push(FieldError::too_many(path.clone(), names.len(), MAX_ACTIONS));
    }
    let mut seen = Vec::with_capacity(names.len());
    for (j, name) in names.iter().enumerate() {
        match Action::parse(name) {
            None => errors.push(FieldError::not_supported(
                path.index(j),
                name,
                &Action::NAMES,
            )),
            Some(a) if seen.contains(&a) => errors.push(FieldError::duplicate(path.index(j), name)),
            Some(a) => seen.push(a),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::policy::rules::tests::errors;

    #[test]
    fn missing_plan_is_required() {
        assert_eq!(
            errors("plan-shape", "[]"),
            [
                "spec.plan: Required value: a plan needs at least one step, e.g. [Prep, Upgrade, FinalizeUpgrade]"
            ]
        );
    }

    #[test]
    fn step_shape_errors_are_all_reported() {
        let e = errors(
            "plan-shape",
            r#"[{"actions":[]},{"actions":["Prep","Prep"]},{"actions":["Prepp"]},{"actions":["Prep","Upgrade","FinalizeUpgrade","Abort","Rollback"]}]"#,
        );
        let e: Vec<_> = e
            .iter()
            .filter(|e| !e.contains("rolloutStrategy"))
            .collect();
        assert_eq!(e.len(), 4, "{e:#?}");
        assert_eq!(
            e[0],
            "spec.plan[0].actions: Required value: a step needs 1 to 4 actions"
        );
        assert_eq!(e[1], r#"spec.plan[1].actions[1]: Duplicate value: "Prep""#);
        assert!(e[2].starts_with(
            r#"spec.plan[2].actions[0]: Unsupported value: "Prepp": supported values: "Prep", "#
        ));
        assert_eq!(
            e[3],
            "spec.plan[3].actions: Too many: 5: must have at most 4 items"
        );
    }

    #[test]
    fn too_many_steps_and_missing_strategies() {
        let step = r#"{"actions":["Prep"]}"#;
        let e = errors("plan-shape", &format!("[{}]", [step; 7].join(",")));
        assert_eq!(e[0], "spec.plan: Too many: 7: must have at most 6 items");
        assert!(e[1].starts_with("spec.plan[0].rolloutStrategy: Required value"));
        let e = errors(
            "plan-shape",
            r#"[{"actions":["Prep"],"rolloutStrategy":{"timeout":5}}]"#,
        );
        assert_eq!(
            e,
            [
                "spec.plan[0].rolloutStrategy.maxConcurrency: Required value: how many clusters each batch takes"
            ]
        );
    }
}
