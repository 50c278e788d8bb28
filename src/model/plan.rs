//! What several rules read of a plan and its change: the paths they report at, a step's
//! well-formed actions, whether an update appends or takes the object away.

use super::action::Action;
use super::field::Path;
use super::{ImageBasedGroupUpgrade, Step};

/// Upstream's `maxItems` for `spec.plan`.
pub const MAX_STEPS: usize = 6;
/// Upstream's `maxItems` for a step's `actions`.
pub const MAX_ACTIONS: usize = 4;

/// The path of `spec.plan`.
pub fn path() -> Path {
    Path::from("spec.plan")
}

/// `spec.ibuSpec.seedImageRef.pullSecretRef`.
pub fn pull_secret_path() -> Path {
    Path::from("spec.ibuSpec.seedImageRef.pullSecretRef")
}

/// The step's actions when it is well formed: 1 to 4 known actions, none twice.
pub fn actions(step: &Step<'_>) -> Option<Vec<Action>> {
    let names = step.actions();
    if names.is_empty() || names.len() > MAX_ACTIONS {
        return None;
    }
    let mut actions = Vec::with_capacity(names.len());
    for name in names {
        let action = Action::parse(name)?;
        if actions.contains(&action) {
            return None;
        }
        actions.push(action);
    }
    Some(actions)
}

/// Whether the update leaves `spec.plan` as stored: the plan's shape and combination are
/// judged as a whole, so their stored violations are let through only then.
pub fn unchanged(old: &ImageBasedGroupUpgrade<'_>, new: &ImageBasedGroupUpgrade<'_>) -> bool {
    old.plan() == new.plan()
}

/// Whether the update appends steps.
pub fn appends(old: &ImageBasedGroupUpgrade<'_>, new: &ImageBasedGroupUpgrade<'_>) -> bool {
    new.plan().len() > old.plan().len()
}

/// The step that runs `action`, when one step alone names it. TALM's status says which
/// action a cluster runs, not in which step, and an action may stand in several steps
/// (AbortOnFailure): then which one runs is not known from the status.
pub fn running_step(plan: &[Step<'_>], action: &str) -> Option<usize> {
    let mut with = plan
        .iter()
        .enumerate()
        .filter(|(_, s)| s.has_action(action));
    match (with.next(), with.next()) {
        (Some((i, _)), None) => Some(i),
        _ => None,
    }
}

/// Whether the update removes the last finalizer of an object being deleted: the
/// apiserver then removes the object.
pub fn removes_last_finalizer(
    old: &ImageBasedGroupUpgrade<'_>,
    new: &ImageBasedGroupUpgrade<'_>,
) -> bool {
    old.deleting() && !old.finalizers().is_empty() && new.finalizers().is_empty()
}
