//! `spec.plan`: its shape (rule 1), its action combination (rule 2), and how an ongoing
//! plan may change (rules 3 to 5, in [`update`]).
//!
//! ```
//! use ibgu_webhook::ibgu::ImageBasedGroupUpgrade;
//! use ibgu_webhook::plan;
//!
//! let ibgu = ImageBasedGroupUpgrade::from_json(
//!     r#"{"spec":{"plan":[{"actions":["Prep"]},{"actions":["Rollback"]}]}}"#).unwrap();
//! let errors = plan::validate(&ibgu);
//! assert_eq!(errors.aggregate(),
//!     "spec.plan[1].actions: Unsupported value: [\"Rollback\"]: after [Prep] a step may be \
//!      [Upgrade], [Upgrade, FinalizeUpgrade], [Abort], [AbortOnFailure]; \
//!      [Rollback] can only start a new ImageBasedGroupUpgrade");
//! ```

pub mod supported;
pub mod update;

use crate::action::{Action, step_text};
use crate::field::{ErrorList, FieldError, Path};
use crate::ibgu::{ImageBasedGroupUpgrade, Step};

/// Upstream's `maxItems` for `spec.plan`.
pub const MAX_STEPS: usize = 6;
/// Upstream's `maxItems` for a step's `actions`.
pub const MAX_ACTIONS: usize = 4;

/// The path of `spec.plan`.
pub fn path() -> Path {
    Path::new("spec").child("plan")
}

/// Rules 1 and 2: the plan is present, every step is well formed, and the combination is
/// one TALM supports.
pub fn validate(ibgu: &ImageBasedGroupUpgrade) -> ErrorList {
    let mut errors = ErrorList::new();
    let plan = ibgu.plan();
    let path = path();
    if plan.is_empty() {
        errors.push(FieldError::required(
            path,
            "a plan needs at least one step, e.g. [Prep, Upgrade, FinalizeUpgrade]",
        ));
        return errors;
    }
    if plan.len() > MAX_STEPS {
        errors.push(FieldError::too_many(path.clone(), plan.len(), MAX_STEPS));
    }
    // The combination is judged on the well-formed steps before the first malformed one:
    // past that, the step's own error says what is wrong.
    let mut parsed: Vec<Vec<Action>> = Vec::with_capacity(plan.len());
    let mut all_well_formed = true;
    for (i, step) in plan.iter().enumerate() {
        // The step's path is built only for an error: most plans have none.
        match parse_step(step, || path.index(i).child("actions"), &mut errors) {
            Some(actions) if all_well_formed => parsed.push(actions),
            Some(_) => {}
            None => all_well_formed = false,
        }
    }
    if let Err(u) = supported::check(&parsed)
        && (all_well_formed || u.step < parsed.len())
    {
        errors.push(combination_error(&parsed, &path, u));
    }
    errors
}

/// Rule 1 for one step: 1 to 4 known actions, none twice. Returns the actions when the
/// step is well formed.
fn parse_step(step: &Step, path: impl Fn() -> Path, errors: &mut ErrorList) -> Option<Vec<Action>> {
    let names = step.actions();
    let before = errors.len();
    if names.is_empty() {
        errors.push(FieldError::required(path(), "a step needs 1 to 4 actions"));
        return None;
    }
    if names.len() > MAX_ACTIONS {
        errors.push(FieldError::too_many(path(), names.len(), MAX_ACTIONS));
    }
    let mut actions = Vec::with_capacity(names.len());
    for (j, name) in names.iter().enumerate() {
        match Action::parse(name) {
            None => errors.push(FieldError::not_supported(
                path().index(j),
                name,
                &Action::NAMES,
            )),
            Some(a) if actions.contains(&a) => {
                errors.push(FieldError::duplicate(path().index(j), name))
            }
            Some(a) => actions.push(a),
        }
    }
    (errors.len() == before).then_some(actions)
}

/// Rule 2's message: the offending step, and what may stand there instead.
fn combination_error(plan: &[Vec<Action>], path: &Path, u: supported::Unsupported) -> FieldError {
    // The table is prefix-closed, so the offending step exists; guard anyway.
    let Some(bad) = plan.get(u.step) else {
        return FieldError::unsupported(path.clone(), "", "the plan is not one TALM supports");
    };
    let follows: Vec<String> = u.follows.iter().map(|s| step_text(s)).collect();
    let mut detail = if u.step == 0 {
        format!("a plan may start with {}", follows.join(", "))
    } else {
        let before: Vec<String> = plan[..u.step].iter().map(|s| step_text(s)).collect();
        if follows.is_empty() {
            format!(
                "after {} the plan is complete and no step may follow",
                before.join(", ")
            )
        } else {
            format!(
                "after {} a step may be {}",
                before.join(", "),
                follows.join(", ")
            )
        }
    };
    // Actions of one step run in the order written: point out a mere reordering.
    let mut sorted = bad.clone();
    sorted.sort();
    if let Some(fix) = u.follows.iter().find(|s| {
        let mut t = s.to_vec();
        t.sort();
        t == sorted && **s != bad.as_slice()
    }) {
        detail.push_str(&format!(
            "; actions run in the order written: did you mean {}?",
            step_text(fix)
        ));
    } else if u.step > 0 && supported::continuations(&[] as &[&[Action]]).contains(&bad.as_slice())
    {
        detail.push_str(&format!(
            "; {} can only start a new ImageBasedGroupUpgrade",
            step_text(bad)
        ));
    }
    let names: Vec<&str> = bad.iter().map(|a| a.as_str()).collect();
    FieldError::unsupported(path.index(u.step).child("actions"), names, detail)
}

/// Whether the plan has a step naming `action`.
pub fn has_action(ibgu: &ImageBasedGroupUpgrade, action: Action) -> bool {
    ibgu.plan().iter().any(|s| s.has_action(action.as_str()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(plan: &str) -> Vec<String> {
        let json = format!(r#"{{"spec":{{"plan":{plan}}}}}"#);
        let ibgu = ImageBasedGroupUpgrade::from_json(&json).unwrap();
        validate(&ibgu).iter().map(ToString::to_string).collect()
    }

    #[test]
    fn missing_plan_is_required() {
        assert_eq!(
            errors("[]"),
            [
                "spec.plan: Required value: a plan needs at least one step, e.g. [Prep, Upgrade, FinalizeUpgrade]"
            ]
        );
    }

    #[test]
    fn step_shape_errors_are_all_reported() {
        let e = errors(
            r#"[{"actions":[]},{"actions":["Prep","Prep"]},{"actions":["Prepp"]},{"actions":["Prep","Upgrade","FinalizeUpgrade","Abort","Rollback"]}]"#,
        );
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
    fn reordered_step_gets_a_hint() {
        let e = errors(r#"[{"actions":["Upgrade","Prep"]}]"#);
        assert!(e[0].ends_with("did you mean [Prep, Upgrade]?"), "{}", e[0]);
    }

    #[test]
    fn combination_is_judged_before_a_malformed_step() {
        let e = errors(r#"[{"actions":["Abort"]},{"actions":["Upgrade"]},{"actions":["Nope"]}]"#);
        assert_eq!(e.len(), 2, "{e:#?}");
        assert!(e[0].starts_with("spec.plan[2].actions[0]: Unsupported value"));
        assert!(e[1].starts_with(
            r#"spec.plan[1].actions: Unsupported value: ["Upgrade"]: after [Abort] the plan is complete"#
        ));
    }

    #[test]
    fn too_many_steps() {
        let step = r#"{"actions":["Prep"]}"#;
        let plan = format!("[{}]", [step; 7].join(","));
        let e = errors(&plan);
        assert_eq!(e[0], "spec.plan: Too many: 7: must have at most 6 items");
    }
}
