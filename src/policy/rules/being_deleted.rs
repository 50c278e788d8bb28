//! Validating rule 14: the `spec` of an IBGU being deleted (the stored
//! `metadata.deletionTimestamp` is set) does not change.
//!
//! A DELETE of an idle IBGU that finalizers hold (`foregroundDeletion` from `kubectl
//! delete --cascade=foreground` and Argo CD's prune, or any controller's) leaves it
//! stored, and bumps `metadata.generation`: TALM reconciles on the bump and writes
//! `observedGeneration`, after which rule 4 alone would admit an append, TALM would run
//! it, and the last finalizer's removal would take the IBGU away mid-step. The apiserver
//! forbids no spec change on a deleting custom resource. Metadata-only updates (the
//! finalizer removals the delete waits for, label writes) are not judged here; rule 13
//! judges a removal of the last finalizer.

use crate::model::ImageBasedGroupUpgrade;
use crate::model::field::{FieldError, Path};
use crate::policy::rule::{Context, Findings, Validating};

/// The rule.
pub const RULE: Validating = Validating {
    id: "being-deleted",
    number: 14,
    name: "being deleted",
    update: Some(check),
    ..Validating::NEW
};

/// Why `what` cannot be done to `stored`, when it is being deleted: this rule's words,
/// which `next` also gives.
pub fn refusal(stored: &ImageBasedGroupUpgrade<'_>, what: &str) -> Option<String> {
    let since = stored.metadata.as_ref()?.deletion_timestamp.as_ref()?;
    Some(format!(
        "being deleted: {what} (metadata.deletionTimestamp is {}); let the delete finish, then create a new ImageBasedGroupUpgrade",
        since.as_str()
    ))
}

fn check(
    old: &ImageBasedGroupUpgrade<'_>,
    new: &ImageBasedGroupUpgrade<'_>,
    _: &Context<'_>,
) -> Findings {
    if old.spec == new.spec {
        return Findings::default();
    }
    refusal(old, "nothing in spec can be changed or appended")
        .map(|why| FieldError::forbidden(Path::new("spec"), why).into())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use crate::model::ImageBasedGroupUpgrade;
    use crate::policy::rules::tests::{RS, run_update};

    const SINCE: &str = "2026-11-20T12:00:00Z";

    fn errors(deleting: bool, old_plan: &str, new_plan: &str, new_labels: &str) -> Vec<String> {
        let since = if deleting {
            format!(r#","deletionTimestamp":"{SINCE}""#)
        } else {
            String::new()
        };
        let old = format!(
            r#"{{"metadata":{{"name":"u","finalizers":["foregroundDeletion"]{since}}},"spec":{{"plan":{old_plan}}}}}"#
        );
        let new = format!(
            r#"{{"metadata":{{"name":"u","labels":{new_labels},"finalizers":["foregroundDeletion"]{since}}},"spec":{{"plan":{new_plan}}}}}"#
        );
        let old = ImageBasedGroupUpgrade::stored_from_json(&old).expect("a stored object");
        let new = ImageBasedGroupUpgrade::from_json(&new).expect("an object");
        run_update("being-deleted", &old, &new)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_spec_change_to_a_deleting_object_is_forbidden() {
        let prep = format!(r#"[{{"actions":["Prep"],{RS}}}]"#);
        let appended = format!(r#"[{{"actions":["Prep"],{RS}}},{{"actions":["Upgrade"],{RS}}}]"#);
        assert_eq!(
            errors(true, &prep, &appended, "{}"),
            [format!(
                "spec: Forbidden: being deleted: nothing in spec can be changed or appended (metadata.deletionTimestamp is {SINCE}); let the delete finish, then create a new ImageBasedGroupUpgrade"
            )]
        );
        // An edit, not only an append.
        let edited =
            r#"[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":5,"timeout":240}}]"#;
        assert_eq!(errors(true, &prep, edited, "{}").len(), 1);
        // Not deleting: other rules judge the change.
        assert!(errors(false, &prep, &appended, "{}").is_empty());
    }

    #[test]
    fn metadata_only_updates_of_a_deleting_object_are_allowed() {
        let prep = format!(r#"[{{"actions":["Prep"],{RS}}}]"#);
        assert!(errors(true, &prep, &prep, r#"{"team":"ran"}"#).is_empty());
    }
}
