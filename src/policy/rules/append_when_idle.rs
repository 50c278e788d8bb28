//! Validating rule 4: steps are appended only once nothing is progressing, as the
//! stored status shows it (condition `Progressing` True, or a cluster with a
//! `currentAction`, which can briefly sit next to `Progressing` False), and only once
//! TALM has taken the last change.
//!
//! TALM sets `status.observedGeneration` to `metadata.generation` on each status write.
//! Right after an append, until its next reconcile, the stored status still says the
//! earlier plan is complete: a status whose `observedGeneration` is below the stored
//! generation, or a stored plan with no status at all, has not seen the last change yet.
//! A status without `observedGeneration` (written by a TALM that does not set it) is
//! taken as it is. All of this reads the live status: the rule's check is its `live` one,
//! which `check` leaves to the hub when the old object is a manifest from git.

use crate::model::field::FieldError;
use crate::model::{ImageBasedGroupUpgrade, Progress};
use crate::policy::rule::{Context, Findings, Validating};

use crate::model::plan::{appends, path};

/// The rule.
pub const RULE: Validating = Validating {
    id: "append-when-idle",
    number: 4,
    name: "append when idle",
    live: Some(check),
    ..Validating::NEW
};

fn check(
    old: &ImageBasedGroupUpgrade<'_>,
    new: &ImageBasedGroupUpgrade<'_>,
    _: &Context<'_>,
) -> Findings {
    // A deleting object takes no append however long one waits: rule 14 refuses it.
    if !appends(old, new) || old.deleting() {
        return Findings::default();
    }
    let at = old.plan().len();
    match old.progress() {
        Ok(progress) => progressing(progress)
            .map(|why| {
                format!(
                    "steps can be added only once earlier steps have completed or failed: {why}"
                )
            })
            .or_else(|| not_yet_seen(old, progress))
            .map(|why| FieldError::forbidden(path().index(at), why).into())
            .unwrap_or_default(),
        Err(e) => FieldError::forbidden(
            path().index(at),
            format!("steps cannot be appended while the stored status is unreadable: {e}"),
        )
        .into(),
    }
}

const NOT_YET: &str = "steps can be added only once TALM has taken the last change";

/// Why the stored status may not show the last change yet, if it may not.
fn not_yet_seen(old: &ImageBasedGroupUpgrade<'_>, progress: &Progress) -> Option<String> {
    if old.status.is_none() && !old.plan().is_empty() {
        return Some(format!(
            "{NOT_YET}: the stored object has no status yet; try again once TALM has written it"
        ));
    }
    let (seen, generation) = (progress.observed_generation?, old.generation()?);
    (seen < generation).then(|| {
        format!("{NOT_YET}: it has seen generation {seen}, the stored object is at generation {generation}; try again once status.observedGeneration is {generation}")
    })
}

/// What is still progressing, if anything.
fn progressing(progress: &Progress) -> Option<String> {
    if progress.running_count > 0 {
        return Some(format!(
            "{} cluster(s) still running an action: {}",
            progress.running_count,
            progress.running_names()
        ));
    }
    let reason = progress.progressing.as_ref()?;
    Some(format!("condition Progressing is True (reason {reason})"))
}

#[cfg(test)]
mod tests {
    use crate::model::ImageBasedGroupUpgrade;
    use crate::policy::rules::tests::{RS, run_update, update_errors};

    #[test]
    fn append_while_running_is_forbidden() {
        let old = format!(r#"[{{"actions":["Prep"],{RS}}}]"#);
        let new = format!(r#"[{{"actions":["Prep"],{RS}}},{{"actions":["Upgrade"],{RS}}}]"#);
        let running = r#"{"clusters":[{"name":"spoke1","currentAction":{"action":"Prep"}}]}"#;
        assert_eq!(
            update_errors("append-when-idle", &old, running, &new),
            [
                "spec.plan[1]: Forbidden: steps can be added only once earlier steps have completed or failed: 1 cluster(s) still running an action: spoke1 (Prep)"
            ]
        );
        let cond =
            r#"{"conditions":[{"type":"Progressing","status":"True","reason":"InProgress"}]}"#;
        assert_eq!(update_errors("append-when-idle", &old, cond, &new).len(), 1);
        let done =
            r#"{"conditions":[{"type":"Progressing","status":"False","reason":"Completed"}]}"#;
        assert!(update_errors("append-when-idle", &old, done, &new).is_empty());
        // Not appending: the status does not matter.
        assert!(update_errors("append-when-idle", &old, running, &old).is_empty());
        let unreadable = r#"{"clusters":[{"name":7}]}"#;
        assert!(
            update_errors("append-when-idle", &old, unreadable, &new)[0]
                .contains("stored status is unreadable")
        );
    }

    fn append_to(generation: u32, status: &str) -> Vec<String> {
        let plan = format!(r#"[{{"actions":["Prep"],{RS}}}]"#);
        let old = format!(
            r#"{{"metadata":{{"generation":{generation}}},"spec":{{"plan":{plan}}}{status}}}"#
        );
        let new = format!(
            r#"{{"spec":{{"plan":[{{"actions":["Prep"],{RS}}},{{"actions":["Upgrade"],{RS}}}]}}}}"#
        );
        let old = ImageBasedGroupUpgrade::stored_from_json(&old).unwrap();
        let new = ImageBasedGroupUpgrade::from_json(&new).unwrap();
        run_update("append-when-idle", &old, &new)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn append_before_talm_saw_the_last_change_is_forbidden() {
        let done = r#""conditions":[{"type":"Progressing","status":"False","reason":"Completed"}]"#;
        let seen = |g: u32| format!(r#","status":{{{done},"observedGeneration":{g}}}"#);
        assert!(append_to(2, &seen(2)).is_empty());
        assert_eq!(
            append_to(3, &seen(2)),
            [
                "spec.plan[1]: Forbidden: steps can be added only once TALM has taken the last change: it has seen generation 2, the stored object is at generation 3; try again once status.observedGeneration is 3"
            ]
        );
        // No status at all: TALM has not reconciled the object yet.
        assert!(append_to(1, "")[0].contains("the stored object has no status yet"));
        assert!(append_to(1, r#","status":null"#)[0].contains("no status yet"));
        // A TALM that does not write observedGeneration: the status is taken as it is.
        assert!(append_to(5, &format!(r#","status":{{{done}}}"#)).is_empty());
    }
}
