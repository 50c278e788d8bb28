//! Rule 2: the action combinations TALM supports, exactly the 26 plans of its CRD rule
//! "invalid combinations of actions in the plan", and what may follow a valid prefix.
//!
//! The table is prefix-closed (every prefix of a supported plan is itself supported), which
//! is what makes "append a step later" meaningful; a unit test holds it to that.

use crate::model::action::Action::{self, *};

/// The supported plans, in the order of the upstream CRD rule.
pub const SUPPORTED_PLANS: [&[&[Action]]; 26] = [
    &[&[Prep]],
    &[&[Prep], &[Upgrade]],
    &[&[Prep, Upgrade]],
    &[&[Prep], &[Upgrade], &[FinalizeUpgrade]],
    &[&[Prep], &[Upgrade, FinalizeUpgrade]],
    &[&[Prep, Upgrade], &[FinalizeUpgrade]],
    &[&[Prep, Upgrade, FinalizeUpgrade]],
    &[&[Rollback]],
    &[&[Rollback], &[FinalizeRollback]],
    &[&[Rollback, FinalizeRollback]],
    &[&[Upgrade]],
    &[&[Upgrade], &[FinalizeUpgrade]],
    &[&[Upgrade, FinalizeUpgrade]],
    &[&[FinalizeUpgrade]],
    &[&[FinalizeRollback]],
    &[&[Abort]],
    &[&[AbortOnFailure]],
    &[&[Prep], &[Abort]],
    &[&[Prep], &[AbortOnFailure]],
    &[&[Prep], &[AbortOnFailure], &[Upgrade]],
    &[&[Prep], &[AbortOnFailure], &[Upgrade], &[AbortOnFailure]],
    &[&[Prep], &[Upgrade], &[AbortOnFailure]],
    &[&[Prep, Upgrade], &[AbortOnFailure]],
    &[
        &[Prep],
        &[AbortOnFailure],
        &[Upgrade],
        &[AbortOnFailure],
        &[FinalizeUpgrade],
    ],
    &[&[Prep], &[Upgrade], &[AbortOnFailure], &[FinalizeUpgrade]],
    &[&[Prep, Upgrade], &[AbortOnFailure], &[FinalizeUpgrade]],
];

/// Where a plan leaves every supported plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unsupported {
    /// The index of the first step that no supported plan has after the steps before it.
    pub step: usize,
    /// The steps a supported plan may have at that index, in table order, without repeats.
    pub follows: Vec<&'static [Action]>,
}

fn starts_with(plan: &[&[Action]], prefix: &[impl AsRef<[Action]>]) -> bool {
    plan.len() >= prefix.len() && plan.iter().zip(prefix).all(|(a, b)| *a == b.as_ref())
}

/// Whether `plan` is one of the 26 supported plans.
pub fn is_supported(plan: &[impl AsRef<[Action]>]) -> bool {
    SUPPORTED_PLANS
        .iter()
        .any(|p| p.len() == plan.len() && starts_with(p, plan))
}

/// The steps after `prefix` of every supported plan longer than it that starts with it,
/// in table order: each a non-empty way the plan may go on.
pub fn extensions(
    prefix: &[impl AsRef<[Action]>],
) -> impl Iterator<Item = &'static [&'static [Action]]> {
    SUPPORTED_PLANS
        .iter()
        .filter(move |p| p.len() > prefix.len() && starts_with(p, prefix))
        .map(move |p| &p[prefix.len()..])
}

/// The steps a supported plan may have right after `prefix`.
pub fn continuations(prefix: &[impl AsRef<[Action]>]) -> Vec<&'static [Action]> {
    let mut out: Vec<&'static [Action]> = Vec::new();
    for next in extensions(prefix).map(|rest| rest[0]) {
        if !out.contains(&next) {
            out.push(next);
        }
    }
    out
}

/// Checks a plan against the table: `Ok` when supported, else the first step that leaves
/// every supported plan. An empty plan is reported at step 0.
pub fn check(plan: &[impl AsRef<[Action]>]) -> Result<(), Unsupported> {
    if is_supported(plan) {
        return Ok(());
    }
    // The longest prefix some supported plan starts with; as the table is prefix-closed
    // and `plan` is not in it, that prefix is shorter than `plan` (or both are empty).
    let step = (0..=plan.len())
        .rev()
        .find(|&k| SUPPORTED_PLANS.iter().any(|p| starts_with(p, &plan[..k])))
        .unwrap_or(0);
    Err(Unsupported {
        step,
        follows: continuations(&plan[..step]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_prefix_closed_and_has_no_repeats() {
        for p in SUPPORTED_PLANS {
            for k in 1..p.len() {
                assert!(is_supported(&p[..k]), "prefix {k} of {p:?}");
            }
        }
        for (i, a) in SUPPORTED_PLANS.iter().enumerate() {
            for b in &SUPPORTED_PLANS[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn points_at_first_bad_step() {
        let plan: Vec<Vec<Action>> = vec![vec![Prep], vec![Rollback]];
        let u = check(&plan).unwrap_err();
        assert_eq!(u.step, 1);
        assert_eq!(
            u.follows,
            vec![
                &[Upgrade][..],
                &[Upgrade, FinalizeUpgrade][..],
                &[Abort][..],
                &[AbortOnFailure][..]
            ]
        );
    }

    #[test]
    fn step_after_complete_plan_has_no_continuation() {
        let plan: Vec<Vec<Action>> = vec![vec![Rollback, FinalizeRollback], vec![Prep]];
        let u = check(&plan).unwrap_err();
        assert_eq!(u.step, 1);
        assert!(u.follows.is_empty());
    }

    #[test]
    fn extensions_are_what_follows_a_prefix_in_each_plan() {
        let plan: Vec<Vec<Action>> = vec![vec![Prep], vec![AbortOnFailure], vec![Upgrade]];
        let rest: Vec<_> = extensions(&plan).collect();
        assert_eq!(
            rest,
            [
                &[&[AbortOnFailure][..]][..],
                &[&[AbortOnFailure][..], &[FinalizeUpgrade][..]][..]
            ]
        );
        let done: Vec<Vec<Action>> = vec![vec![Prep, Upgrade, FinalizeUpgrade]];
        assert_eq!(extensions(&done).count(), 0);
    }

    #[test]
    fn empty_plan_is_unsupported() {
        let plan: Vec<Vec<Action>> = vec![];
        assert_eq!(check(&plan).unwrap_err().step, 0);
    }
}
