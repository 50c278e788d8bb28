//! Validating rule 13: an IBGU does not go away while a step runs, as the stored status
//! shows it (a cluster with a `currentAction`, or condition `Progressing` True): a
//! DELETE is refused then, and so is the UPDATE that removes the last finalizer of an
//! object being deleted, after which the apiserver removes it with no DELETE to judge.
//!
//! Deleting a running IBGU leaves its clusters mid-stage. It happens by accident:
//! `kubectl apply --force`, `kubectl replace --force` and Argo CD's `Replace=true` or
//! `Force=true` syncs delete and re-create an object whose update was refused, and the
//! webhook then saw only the CREATE (a running IBGU came back with a step removed and a
//! new seed version). Cancelling is an Abort step, appended once the running step ends,
//! or a new IBGU with Abort.
//!
//! Allowed whatever runs: when the stored object has [`ALLOW_DELETE_ANNOTATION`] set to
//! `"true"` (deleting on purpose), and when Kubernetes' own controllers ask (the
//! namespace controller, the garbage collector, or the controller manager without
//! per-controller credentials), whose deletes must never be blocked. A stored status
//! that cannot be read allows with a warning: refusing would wedge the object until
//! someone fixed a status only TALM writes (unlike rule 4, whose refusal of an append
//! leaves everything as it is). The UPDATE check reads the live status: it is the rule's
//! `live` one (a DELETE always has the object as stored).

use crate::model::field::{FieldError, Path, Warning};
use crate::model::plan::{removes_last_finalizer, running_step};
use crate::model::{ALLOW_DELETE_ANNOTATION, ImageBasedGroupUpgrade, Progress};
use crate::policy::rule::{Context, Findings, Validating};

/// The rule.
pub const RULE: Validating = Validating {
    id: "delete-when-idle",
    number: 13,
    name: "delete when idle",
    live: Some(check_last_finalizer),
    delete: Some(check_delete),
    ..Validating::NEW
};

/// The users whose deletes are never refused: Kubernetes deletes for them when a
/// namespace goes, when an owner goes, and (without per-controller credentials) as the
/// controller manager itself.
pub const SYSTEM_DELETERS: [&str; 3] = [
    "system:serviceaccount:kube-system:namespace-controller",
    "system:serviceaccount:kube-system:generic-garbage-collector",
    "system:kube-controller-manager",
];

/// How the IBGU would go.
#[derive(Clone, Copy)]
enum Going {
    Deleted,
    LastFinalizerRemoved,
}

fn check_delete(stored: &ImageBasedGroupUpgrade<'_>, ctx: &Context<'_>) -> Findings {
    judge(stored, ctx, Going::Deleted)
}

fn check_last_finalizer(
    old: &ImageBasedGroupUpgrade<'_>,
    new: &ImageBasedGroupUpgrade<'_>,
    ctx: &Context<'_>,
) -> Findings {
    if !removes_last_finalizer(old, new) {
        return Findings::default();
    }
    judge(old, ctx, Going::LastFinalizerRemoved)
}

/// The one judgement of both ways out: the exceptions, then whether a step runs.
fn judge(stored: &ImageBasedGroupUpgrade<'_>, ctx: &Context<'_>, going: Going) -> Findings {
    if SYSTEM_DELETERS.contains(&ctx.by.username) || stored.allows_delete() {
        return Findings::default();
    }
    let (how, unchecked) = match going {
        Going::Deleted => ("deleting the IBGU now leaves", "deleted"),
        Going::LastFinalizerRemoved => (
            "removing its last finalizer deletes the IBGU now and leaves",
            "last finalizer removed",
        ),
    };
    match stored.progress() {
        Ok(progress) => running(stored, progress)
            .map(|(field, what)| {
                let name = stored.name();
                let ns = match stored.namespace() {
                    "" => String::new(),
                    ns => format!("-n {ns} "),
                };
                FieldError::forbidden(
                    field,
                    format!(
                        "{what}: {how} them mid-stage. To cancel, append an Abort step once this step ends, or create a new IBGU with Abort; to delete anyway: kubectl annotate {ns}ibgu {name} {ALLOW_DELETE_ANNOTATION}=true"
                    ),
                )
                .into()
            })
            .unwrap_or_default(),
        Err(e) => Warning::new(
            Path::new("status"),
            format!("{unchecked} without checking whether a step runs: unreadable: {e}"),
        )
        .into(),
    }
}

/// What runs, if anything, and the status field that shows it.
fn running(stored: &ImageBasedGroupUpgrade<'_>, progress: &Progress) -> Option<(Path, String)> {
    if progress.running_count > 0 {
        let what = format!(
            "{} runs on {} cluster(s): {}",
            step(stored, progress),
            progress.running_count,
            progress.running_names()
        );
        return Some((Path::new("status").child("clusters"), what));
    }
    let reason = progress.progressing.as_ref()?;
    let what =
        format!("a step runs (condition Progressing is True, reason {reason}) on its clusters");
    Some((Path::new("status").child("conditions"), what))
}

/// The running step, `step 1 [Upgrade]` (counted from 0, as `spec.plan[1]`), when it
/// is known ([`running_step`]); else `a step`.
fn step(stored: &ImageBasedGroupUpgrade<'_>, progress: &Progress) -> String {
    let plan = stored.plan();
    let running = progress
        .running
        .first()
        .and_then(|(_, a)| running_step(plan, a));
    match running {
        Some(i) => format!("step {i} {}", plan[i].actions_text()),
        None => "a step".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::change::{Config, Requester};
    use crate::policy::facts::Facts;

    fn stored(annotations: &str, status: &str) -> String {
        format!(
            r#"{{"metadata":{{"name":"u","annotations":{annotations}}},
                "spec":{{"plan":[{{"actions":["Prep"]}},{{"actions":["Upgrade"]}},{{"actions":["AbortOnFailure"]}},{{"actions":["FinalizeUpgrade"]}},{{"actions":["AbortOnFailure"]}}]}},
                "status":{status}}}"#
        )
    }

    fn ctx<T>(username: &str, f: impl FnOnce(&Context<'_>) -> T) -> T {
        let config = Config::default();
        f(&Context {
            config: &config,
            facts: &Facts::Offline,
            by: Requester { username },
        })
    }

    fn run(json: &str, username: &str) -> Findings {
        let old = ImageBasedGroupUpgrade::stored_from_json(json).expect("a stored object");
        ctx(username, |c| check_delete(&old, c))
    }

    fn errors(json: &str, username: &str) -> Vec<String> {
        run(json, username)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const UPGRADING: &str = r#"{"clusters":[
        {"name":"spoke1","completedActions":[{"action":"Prep"}],"currentAction":{"action":"Upgrade"}},
        {"name":"spoke2","currentAction":{"action":"Upgrade"}},
        {"name":"spoke3","completedActions":[{"action":"Prep"}]}]}"#;

    #[test]
    fn a_running_step_refuses_a_delete_and_says_what_runs() {
        let e = errors(&stored("{}", UPGRADING), "alice");
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with(
                "status.clusters: Forbidden: step 1 [Upgrade] runs on 2 cluster(s): spoke1 (Upgrade), spoke2 (Upgrade): deleting the IBGU now leaves them mid-stage. To cancel, append an Abort step once this step ends, or create a new IBGU with Abort"
            ),
            "{e:?}"
        );
        assert!(
            e[0].ends_with(
                "to delete anyway: kubectl annotate ibgu u ibgu-webhook.openshift.io/allow-delete=true"
            ),
            "{e:?}"
        );
        // An action in two steps: the step is not guessed.
        let aborting =
            r#"{"clusters":[{"name":"spoke1","currentAction":{"action":"AbortOnFailure"}}]}"#;
        let e = errors(&stored("{}", aborting), "alice");
        assert!(
            e[0].contains(": a step runs on 1 cluster(s): spoke1 (AbortOnFailure)"),
            "{e:?}"
        );
        let between =
            r#"{"conditions":[{"type":"Progressing","status":"True","reason":"InProgress"}]}"#;
        let e = errors(&stored("{}", between), "alice");
        assert!(
            e[0].starts_with("status.conditions: Forbidden: a step runs (condition Progressing is True, reason InProgress)"),
            "{e:?}"
        );
    }

    #[test]
    fn idle_annotated_or_system_deletes_are_allowed() {
        let done = r#"{"clusters":[{"name":"spoke1","completedActions":[{"action":"Prep"}]}],
            "conditions":[{"type":"Progressing","status":"False","reason":"Completed"}]}"#;
        assert_eq!(run(&stored("{}", done), "alice"), Findings::default());
        assert_eq!(run(&stored("null", "null"), "alice"), Findings::default());
        let allow = format!(r#"{{"{ALLOW_DELETE_ANNOTATION}":"true","other":"x"}}"#);
        assert_eq!(
            run(&stored(&allow, UPGRADING), "alice"),
            Findings::default()
        );
        // Only "true" allows.
        let not_true = format!(r#"{{"{ALLOW_DELETE_ANNOTATION}":"yes"}}"#);
        assert_eq!(errors(&stored(&not_true, UPGRADING), "alice").len(), 1);
        for user in SYSTEM_DELETERS {
            assert_eq!(
                run(&stored("{}", UPGRADING), user),
                Findings::default(),
                "{user}"
            );
        }
        // A lookalike is not the namespace controller.
        let other = "system:serviceaccount:kube-system:namespace-controller2";
        assert_eq!(errors(&stored("{}", UPGRADING), other).len(), 1);
    }

    #[test]
    fn an_unreadable_status_allows_with_a_warning() {
        let found = run(&stored("{}", r#"{"clusters":[{"name":7}]}"#), "alice");
        assert!(found.errors.is_empty());
        let w: Vec<String> = found.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with("status: deleted without checking whether a step runs: unreadable: status.clusters[0].name"),
            "{w:?}"
        );
    }

    /// The update of a stored object (`stored(...)`, with `metadata` extended by
    /// `old_meta`) to one whose metadata holds `new_meta`, by `username`.
    fn update(old_meta: &str, new_meta: &str, status: &str, username: &str) -> Findings {
        update_annotated("{}", old_meta, new_meta, status, username)
    }

    fn update_annotated(
        annotations: &str,
        old_meta: &str,
        new_meta: &str,
        status: &str,
        username: &str,
    ) -> Findings {
        let json = stored(annotations, status).replacen(
            r#""name":"u","#,
            &format!(r#""name":"u",{old_meta},"#),
            1,
        );
        let old = ImageBasedGroupUpgrade::stored_from_json(&json).expect("a stored object");
        let new = format!(r#"{{"metadata":{{"name":"u",{new_meta}}}}}"#);
        let new = ImageBasedGroupUpgrade::from_json(&new).expect("an object");
        ctx(username, |c| check_last_finalizer(&old, &new, c))
    }

    const DELETING: &str =
        r#""deletionTimestamp":"2026-11-20T12:00:00Z","finalizers":["foregroundDeletion"]"#;
    const GONE: &str = r#""deletionTimestamp":"2026-11-20T12:00:00Z""#;

    #[test]
    fn removing_the_last_finalizer_while_a_step_runs_is_refused_as_a_delete() {
        let e: Vec<String> = update(DELETING, GONE, UPGRADING, "alice")
            .errors
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(e.len(), 1, "{e:?}");
        assert!(
            e[0].starts_with(
                "status.clusters: Forbidden: step 1 [Upgrade] runs on 2 cluster(s): spoke1 (Upgrade), spoke2 (Upgrade): removing its last finalizer deletes the IBGU now and leaves them mid-stage."
            ),
            "{e:?}"
        );
        // An empty list is no finalizer either.
        let emptied = format!(r#"{GONE},"finalizers":[]"#);
        assert_eq!(
            update(DELETING, &emptied, UPGRADING, "alice").errors.len(),
            1
        );
        // Both finalizers removed at once: the object goes too.
        let two = r#""deletionTimestamp":"2026-11-20T12:00:00Z","finalizers":["a","b"]"#;
        assert_eq!(update(two, GONE, UPGRADING, "alice").errors.len(), 1);
    }

    #[test]
    fn other_finalizer_updates_and_the_exceptions_are_allowed() {
        let idle =
            r#"{"conditions":[{"type":"Progressing","status":"False","reason":"Completed"}]}"#;
        assert_eq!(update(DELETING, GONE, idle, "alice"), Findings::default());
        // Not the last finalizer: the object stays.
        let two = r#""deletionTimestamp":"2026-11-20T12:00:00Z","finalizers":["a","b"]"#;
        let one = r#""deletionTimestamp":"2026-11-20T12:00:00Z","finalizers":["b"]"#;
        assert_eq!(update(two, one, UPGRADING, "alice"), Findings::default());
        // Not being deleted: removing a finalizer deletes nothing.
        let held = r#""finalizers":["a"]"#;
        assert_eq!(
            update(held, r#""generation":1"#, UPGRADING, "alice"),
            Findings::default()
        );
        for user in SYSTEM_DELETERS {
            assert_eq!(
                update(DELETING, GONE, UPGRADING, user),
                Findings::default(),
                "{user}"
            );
        }
        let allow = format!(r#"{{"{ALLOW_DELETE_ANNOTATION}":"true"}}"#);
        assert_eq!(
            update_annotated(&allow, DELETING, GONE, UPGRADING, "alice"),
            Findings::default()
        );
        let unreadable = update(DELETING, GONE, r#"{"clusters":[{"name":7}]}"#, "alice");
        assert!(unreadable.errors.is_empty());
        assert!(
            unreadable.warnings[0]
                .to_string()
                .starts_with("status: last finalizer removed without checking whether a step runs"),
            "{:?}",
            unreadable.warnings
        );
    }
}
