//! Validating rule 2, action combinations: exactly the 26 plans of TALM's CRD rule. The
//! message points at the first step that leaves every supported plan and lists what may
//! stand there instead. A stored plan outside them (stored before the webhook or the CRD's
//! rule) has no continuation: an update that changes it is refused, saying so.

use crate::model::ImageBasedGroupUpgrade;
use crate::model::action::{Action, step_text};
use crate::model::field::{FieldError, Path};
use crate::policy::rule::{Context, Findings, Ratchet, Validating};
use crate::policy::supported;

use crate::model::plan;

/// The rule.
pub const RULE: Validating = Validating {
    id: "plan-combination",
    number: 2,
    name: "action combinations",
    ratchet: Ratchet::WhileUnchanged(plan::unchanged),
    object: Some(check),
    update: Some(stored_unsupported),
    ..Validating::NEW
};

/// Judges the combination of the well-formed steps before the first malformed one: past
/// that, the step's own error (rule 1) says what is wrong.
fn check(ibgu: &ImageBasedGroupUpgrade<'_>, _: &Context<'_>) -> Findings {
    let plan = ibgu.plan();
    if plan.is_empty() {
        return Findings::default();
    }
    let parsed: Vec<Vec<Action>> = plan.iter().map_while(plan::actions).collect();
    let all_well_formed = parsed.len() == plan.len();
    match supported::check(&parsed) {
        Err(u) if all_well_formed || u.step < parsed.len() => {
            combination_error(&parsed, &plan::path(), u).into()
        }
        _ => Findings::default(),
    }
}

/// Whether every step of `ibgu`'s plan is well formed and the plan is supported.
fn supported_plan(ibgu: &ImageBasedGroupUpgrade<'_>) -> bool {
    let plan = ibgu.plan();
    let parsed: Vec<Vec<Action>> = plan.iter().map_while(plan::actions).collect();
    parsed.len() == plan.len() && supported::is_supported(&parsed)
}

/// An update that changes a stored plan outside the supported ones: nothing can continue
/// it (the object check judges the new plan, unratcheted, beside this).
fn stored_unsupported(
    old: &ImageBasedGroupUpgrade<'_>,
    new: &ImageBasedGroupUpgrade<'_>,
    _: &Context<'_>,
) -> Findings {
    if plan::unchanged(old, new) || supported_plan(old) {
        return Findings::default();
    }
    let steps: Vec<String> = old.plan().iter().map(|s| s.actions_text()).collect();
    FieldError::forbidden(
        plan::path(),
        format!(
            "the stored plan {} is not one TALM supports, so it has no continuation: leave it as it is, and start a new ImageBasedGroupUpgrade for the next steps",
            steps.join(", ")
        ),
    )
    .into()
}

/// The offending step, and what may stand there instead.
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

#[cfg(test)]
mod tests {
    use crate::policy::rules::tests::errors;

    #[test]
    fn names_the_step_and_what_may_follow() {
        assert_eq!(
            errors(
                "plan-combination",
                r#"[{"actions":["Prep"]},{"actions":["Rollback"]}]"#
            ),
            [
                "spec.plan[1].actions: Unsupported value: [\"Rollback\"]: after [Prep] a step may be \
              [Upgrade], [Upgrade, FinalizeUpgrade], [Abort], [AbortOnFailure]; \
              [Rollback] can only start a new ImageBasedGroupUpgrade"
            ]
        );
    }

    #[test]
    fn reordered_step_gets_a_hint() {
        let e = errors("plan-combination", r#"[{"actions":["Upgrade","Prep"]}]"#);
        assert!(e[0].ends_with("did you mean [Prep, Upgrade]?"), "{}", e[0]);
    }

    #[test]
    fn combination_is_judged_before_a_malformed_step() {
        let e = errors(
            "plan-combination",
            r#"[{"actions":["Abort"]},{"actions":["Upgrade"]},{"actions":["Nope"]}]"#,
        );
        assert_eq!(e.len(), 1, "{e:#?}");
        assert!(e[0].starts_with(
            r#"spec.plan[1].actions: Unsupported value: ["Upgrade"]: after [Abort] the plan is complete"#
        ));
        // A malformed step before the first unsupported one: rule 1 speaks, not rule 2.
        assert!(
            errors(
                "plan-combination",
                r#"[{"actions":["Nope"]},{"actions":["Rollback"]}]"#
            )
            .is_empty()
        );
    }
}
