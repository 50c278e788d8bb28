//! Validating rule 5: when clusters failed earlier steps and are neither recovered nor
//! being recovered, and the first appended step does not start with Abort,
//! AbortOnFailure or Rollback, a warning says those clusters will be skipped; clusters
//! whose batch never started are named apart.
//!
//! TALM rebuilds `status.clusters` from every step's ClusterGroupUpgrade, so a cluster
//! that failed Prep and then completed AbortOnFailure lists both: it counts as recovered.
//! One whose `currentAction` is that recovery lists the failure beside it: it is being
//! recovered, and is not counted either (rule 4 names it among the running clusters).
//! A cluster listed by name only, once nothing runs, never ran: the step ended (timed
//! out) before its batch began. It carries no label TALM selects by, so neither the next
//! step nor AbortOnFailure reaches it. The check reads the live status: it is the rule's
//! `live` one.

use crate::model::action::Action;
use crate::model::field::Warning;
use crate::model::{ImageBasedGroupUpgrade, Progress};
use crate::policy::rule::{Context, Findings, Side, Validating};

use crate::model::plan::appends;
use crate::model::plan::path;

/// The rule.
pub const RULE: Validating = Validating {
    id: "failed-clusters",
    number: 5,
    name: "after failures",
    covers: &[Side::Warned, Side::Quiet],
    live: Some(check),
    ..Validating::NEW
};

fn check(
    old: &ImageBasedGroupUpgrade<'_>,
    new: &ImageBasedGroupUpgrade<'_>,
    _: &Context<'_>,
) -> Findings {
    let at = old.plan().len();
    let (true, Some(first_new), Ok(progress)) =
        (appends(old, new), new.plan().get(at), old.progress())
    else {
        return Findings::default();
    };
    let recovers = first_new.actions().first().is_some_and(|a| {
        matches!(
            Action::parse(a),
            Some(Action::Abort | Action::AbortOnFailure | Action::Rollback)
        )
    });
    let mut warnings = Vec::new();
    if !recovers && progress.failed > 0 {
        warnings.push(Warning::new(
            path().index(at),
            format!(
                "{} cluster(s) failed an earlier step and will be skipped; recover them with AbortOnFailure first",
                progress.failed
            ),
        ));
    }
    if let Some(w) = never_ran(progress) {
        warnings.push(Warning::new(path().index(at), w));
    }
    Findings {
        warnings,
        ..Findings::default()
    }
}

/// The clusters listed by name only, once nothing runs.
fn never_ran(progress: &Progress) -> Option<String> {
    if progress.never_ran == 0 || progress.running_count > 0 || progress.progressing.is_some() {
        return None;
    }
    Some(format!(
        "{} cluster(s) never ran an earlier step (it ended before their batch began): {}",
        progress.never_ran,
        progress.never_ran_list()
    ))
}

#[cfg(test)]
mod tests {
    use crate::policy::rules::tests::{RS, update_warnings};

    #[test]
    fn failures_warn_unless_recovering() {
        let old = format!(r#"[{{"actions":["Prep"],{RS}}}]"#);
        let failed = r#"{"clusters":[{"name":"a","failedActions":[{"action":"Prep"}]},{"name":"b","completedActions":[{"action":"Prep"}]}]}"#;
        let up = format!(r#"[{{"actions":["Prep"],{RS}}},{{"actions":["Upgrade"],{RS}}}]"#);
        let w = update_warnings("failed-clusters", &old, failed, &up);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with("spec.plan[1]: 1 cluster(s) failed"),
            "{}",
            w[0]
        );
        let abort =
            format!(r#"[{{"actions":["Prep"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}}]"#);
        assert!(update_warnings("failed-clusters", &old, failed, &abort).is_empty());
    }

    #[test]
    fn recovered_clusters_keep_their_failures_and_are_not_counted() {
        // As TALM writes it after Prep, then AbortOnFailure for the cluster that failed.
        let old = format!(r#"[{{"actions":["Prep"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}}]"#);
        let status = r#"{"clusters":[
            {"name":"spoke1","completedActions":[{"action":"Prep"}]},
            {"name":"spoke6","completedActions":[{"action":"AbortOnFailure"}],
             "failedActions":[{"action":"Prep","message":"pulling the seed image:\ntimed out"}]}],
            "conditions":[{"type":"Progressing","status":"False","reason":"Completed"}]}"#;
        let up = format!(
            r#"[{{"actions":["Prep"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}},{{"actions":["Upgrade"],{RS}}}]"#
        );
        assert!(update_warnings("failed-clusters", &old, status, &up).is_empty());
    }

    #[test]
    fn clusters_being_recovered_are_not_counted() {
        // TALM's kuttl flow prep-abort-upgrade-abort-finalize, step 06: AbortOnFailure runs
        // on spoke1, which failed Upgrade; spoke6 recovered after Prep; spoke9 failed
        // Upgrade and runs nothing.
        let old = format!(
            r#"[{{"actions":["Prep"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}},{{"actions":["Upgrade"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}}]"#
        );
        let status = |spoke9: &str| {
            format!(
                r#"{{"clusters":[
                {{"name":"spoke1","completedActions":[{{"action":"Prep"}}],"currentAction":{{"action":"AbortOnFailure"}},
                 "failedActions":[{{"action":"Upgrade","message":"Upgrade stage failed:\nauto rollback"}}]}},
                {{"name":"spoke4","completedActions":[{{"action":"Prep"}},{{"action":"Upgrade"}}]}},
                {{"name":"spoke6","completedActions":[{{"action":"AbortOnFailure"}}],"failedActions":[{{"action":"Prep"}}]}}
                {spoke9}],
                "conditions":[{{"type":"Progressing","status":"True","reason":"InProgress"}}],"observedGeneration":4}}"#
            )
        };
        let up = format!(
            r#"[{{"actions":["Prep"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}},{{"actions":["Upgrade"],{RS}}},{{"actions":["AbortOnFailure"],{RS}}},{{"actions":["FinalizeUpgrade"],{RS}}}]"#
        );
        assert!(update_warnings("failed-clusters", &old, &status(""), &up).is_empty());
        let beside = r#",{"name":"spoke9","completedActions":[{"action":"Prep"}],"failedActions":[{"action":"Upgrade"}]}"#;
        let w = update_warnings("failed-clusters", &old, &status(beside), &up);
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].starts_with("spec.plan[4]: 1 cluster(s) failed"),
            "{}",
            w[0]
        );
        // Running another action is no recovery: Rollback, Abort and AbortOnFailure are.
        for (current, counted) in [
            ("Upgrade", true),
            ("Rollback", false),
            ("Abort", false),
            ("?", true),
        ] {
            let one = format!(
                r#",{{"name":"spoke9","currentAction":{{"action":"{current}"}},"failedActions":[{{"action":"Prep"}}]}}"#
            );
            let w = update_warnings("failed-clusters", &old, &status(&one), &up);
            assert_eq!(w.len(), usize::from(counted), "{current}: {w:?}");
        }
    }

    #[test]
    fn clusters_that_never_ran_are_named_apart() {
        let old = format!(r#"[{{"actions":["Prep"],{RS}}}]"#);
        let status = r#"{"clusters":[{"name":"spoke1","completedActions":[{"action":"Prep"}]},{"name":"spoke7"}],
            "conditions":[{"type":"Progressing","status":"False","reason":"Completed"}]}"#;
        let up = format!(r#"[{{"actions":["Prep"],{RS}}},{{"actions":["Upgrade"],{RS}}}]"#);
        assert_eq!(
            update_warnings("failed-clusters", &old, status, &up),
            [
                "spec.plan[1]: 1 cluster(s) never ran an earlier step (it ended before their batch began): spoke7"
            ]
        );
    }
}
