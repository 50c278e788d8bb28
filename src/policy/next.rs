//! What may be appended to a live plan now: the decision behind `ibgu-webhook next`.
//!
//! The product's workflow appends steps later: wait until the running step completes or
//! fails, then add one, starting with Abort or AbortOnFailure for the clusters that
//! failed. [`next`] reads a stored object (status included) and says whether a step may
//! be appended now and, if not, why in validating rule 4's own words; every supported
//! continuation of the plan ([`supported::continuations`]), each with its rollout
//! strategy defaulted as mutating rule 1 would and the clusters it acts on by TALM's label
//! rules ([`ClusterStatus::acted_on_by`]); and the listed clusters no continuation
//! reaches. Each continuation is judged by the real decision ([`policy::admit`] of the
//! UPDATE that appends it), so a continuation is only ever [`Continuation::allowed`]
//! when the webhooks would admit it.
//!
//! ```
//! use ibgu_webhook::policy::Config;
//! use ibgu_webhook::policy::next::{self, Live, State};
//!
//! let object = serde_json::json!({
//!     "metadata": {"name": "u", "namespace": "ztp", "generation": 1},
//!     "spec": {"ibuSpec": {"seedImageRef": {"image": "quay.io/seed:4.20", "version": "4.20.0"}},
//!              "plan": [{"actions": ["Prep"], "rolloutStrategy": {"maxConcurrency": 5, "timeout": 60}}]},
//!     "status": {"observedGeneration": 1, "clusters": [
//!         {"name": "sno1", "completedActions": [{"action": "Prep"}]},
//!         {"name": "sno2", "failedActions": [{"action": "Prep", "message": "timed out"}]}]}});
//! let live = Live::from_value(&object).expect("a readable IBGU");
//! let next = next::next(&Config::default(), &live);
//! assert_eq!(next.state, State::Ready);
//! let abort = next.continuations.iter().find(|c| c.actions == ["AbortOnFailure"]).expect("an AbortOnFailure continuation");
//! assert!(abort.allowed);
//! assert_eq!(abort.rollout_strategy.max_concurrency, Some(5)); // inherited from step 0
//! ```

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::action::{Action, step_text};
use crate::model::field::{FieldError, Path};
use crate::model::status::{Actions, ClusterStatus};
use crate::model::{DEFAULT_TIMEOUT_MINUTES, ImageBasedGroupUpgrade, RolloutStrategy, Step, Text};
use crate::policy::facts::Facts;
use crate::policy::rule::{Context, Rule};
use crate::policy::rules::{append_when_idle, being_deleted};
use crate::policy::{self, Change, Config, Old, Requester, Webhooks, supported};

/// A live object, as `kubectl get ibgu NAME -o yaml` prints it: the typed object, status
/// included, and every entry of `status.clusters` by name (the object's own summary keeps
/// only a few names, for speed).
#[derive(Debug, Clone)]
pub struct Live<'a> {
    /// The stored object.
    pub object: ImageBasedGroupUpgrade<'a>,
    /// `status.clusters`, `null` entries dropped; empty when the status is unreadable
    /// (the object says which field, and rule 4 refuses every append).
    pub clusters: Vec<ClusterStatus<'a>>,
}

impl<'a> Live<'a> {
    /// Reads a stored object from its JSON value.
    pub fn from_value(value: &'a Value) -> Result<Self, FieldError> {
        let object = ImageBasedGroupUpgrade::stored_from_value(value)?;
        let list = value.pointer("/status/clusters");
        let clusters = match (&object.unreadable_status, list) {
            (None, Some(list)) => Option::<Vec<Option<ClusterStatus<'a>>>>::deserialize(list)
                .map_err(|e| FieldError::type_invalid(Path::new("status.clusters"), e.to_string()))?
                .into_iter()
                .flatten()
                .flatten()
                .collect(),
            _ => Vec::new(),
        };
        Ok(Live { object, clusters })
    }
}

/// Whether a step may be appended now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// At least one continuation would be admitted now.
    Ready,
    /// Not now: a step runs, or TALM has not taken the last change yet (rule 4).
    Wait,
    /// Nothing can follow the plan: it is complete, or not one TALM supports.
    Complete,
    /// Continuations exist but the webhook would deny each, for reasons waiting does not
    /// cure (the object is being deleted, an unreadable status, a stored object another
    /// rule refuses).
    Blocked,
}

/// A cluster running an action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Running {
    /// The managed cluster.
    pub cluster: String,
    /// Its `currentAction`.
    pub action: String,
}

/// The clusters a continuation acts on, by TALM's labels, as far as the status shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "selects", rename_all = "camelCase")]
pub enum Reach {
    /// Every cluster `clusterLabelSelectors` selects (Prep); the status need not list
    /// them all: `listed` are those it does.
    #[serde(rename_all = "camelCase")]
    EverySelected {
        /// The listed clusters.
        listed: Vec<String>,
    },
    /// Every selected cluster except those that completed Upgrade (Abort).
    #[serde(rename_all = "camelCase")]
    EverySelectedExcept {
        /// The listed clusters left out.
        except: Vec<String>,
        /// The listed clusters acted on.
        listed: Vec<String>,
    },
    /// Exactly the clusters carrying the label the step selects by.
    #[serde(rename_all = "camelCase")]
    Only {
        /// Those clusters.
        clusters: Vec<String>,
    },
}

/// A supported next step, and what the webhook says of appending it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Continuation {
    /// Its actions.
    pub actions: Vec<&'static str>,
    /// Its rollout strategy, both fields set, as mutating rule 1 defaults it.
    pub rollout_strategy: RolloutStrategy,
    /// The clusters it acts on.
    pub acts_on: Reach,
    /// Whether the webhook would admit the UPDATE appending it now.
    pub allowed: bool,
    /// Why not, as the webhook says it (`kubectl`'s lines), each with its rule.
    pub errors: Vec<Said>,
    /// The warnings the webhook would give.
    pub warnings: Vec<String>,
}

/// One line the webhook says, and the rule that says it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Said {
    /// The rule.
    #[serde(skip)]
    pub rule: Option<Rule>,
    /// The line, as `kubectl` shows it.
    pub line: String,
}

impl fmt::Display for Said {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.line)
    }
}

/// A listed cluster that no continuation acts on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Unreached {
    /// The managed cluster.
    pub cluster: String,
    /// Why no continuation reaches it.
    pub why: String,
    /// The later step that acts on it, when a supported plan has one after steps that
    /// do not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached_by: Option<Later>,
}

/// A step that acts on a cluster once the steps before it, which do not, are appended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Later {
    /// The steps to append first, in order.
    pub after: Vec<Vec<&'static str>>,
    /// The step that acts on the cluster.
    pub step: Vec<&'static str>,
}

/// What may be appended now.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Next {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`.
    pub namespace: String,
    /// Whether a step may be appended now.
    pub state: State,
    /// Why not, when it may not: rule 4's words when waiting.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// The stored plan's actions, step by step.
    pub plan: Vec<Vec<String>>,
    /// `metadata.generation`.
    pub generation: Option<i64>,
    /// `status.observedGeneration`: the generation TALM last acted on.
    pub observed_generation: Option<i64>,
    /// The stored step that runs, when a cluster runs an action that one step alone names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub running_step: Option<usize>,
    /// Every cluster running an action.
    pub running: Vec<Running>,
    /// Every supported continuation of the plan, in the order of TALM's table.
    pub continuations: Vec<Continuation>,
    /// The listed clusters no continuation acts on (none when nothing can follow, or the
    /// object is being deleted).
    pub unreached: Vec<Unreached>,
}

impl Next {
    /// The continuations the webhook would admit now.
    pub fn allowed(&self) -> impl Iterator<Item = &Continuation> {
        self.continuations.iter().filter(|c| c.allowed)
    }
}

/// Decides what may be appended to `live` now, under the webhook's `config`.
pub fn next(config: &Config, live: &Live<'_>) -> Next {
    let stored = &live.object;
    let plan: Option<Vec<Vec<Action>>> = stored
        .plan()
        .iter()
        .map(|s| s.actions().iter().map(|a| Action::parse(a)).collect())
        .collect();
    let follows = plan
        .as_deref()
        .map(supported::continuations)
        .unwrap_or_default();
    let continuations: Vec<Continuation> = follows
        .iter()
        .map(|step| continuation(config, live, step))
        .collect();
    let running: Vec<Running> = live
        .clusters
        .iter()
        .filter_map(|c| {
            let action = c.current_action.as_ref()?;
            Some(Running {
                cluster: name(c),
                action: action.action.as_deref().unwrap_or("?").to_owned(),
            })
        })
        .collect();
    let running_step = running
        .first()
        .and_then(|r| crate::model::plan::running_step(stored.plan(), &r.action));
    let (state, why) = if let Some(why) = being_deleted::refusal(stored, "nothing can be appended")
    {
        (State::Blocked, Some(why))
    } else if follows.is_empty() {
        let why = match &plan {
            Some(p) if supported::is_supported(p) => format!(
                "the plan {} is complete: no supported plan continues it; start a new ImageBasedGroupUpgrade",
                plan_text(p)
            ),
            _ => "the stored plan is not one TALM supports: no step can follow it".to_owned(),
        };
        (State::Complete, Some(why))
    } else if let Some(why) = idle_refusal(config, stored, follows[0]) {
        let state = if stored.progress().is_err() {
            State::Blocked
        } else {
            State::Wait
        };
        (state, Some(why))
    } else if continuations.iter().any(|c| c.allowed) {
        (State::Ready, None)
    } else {
        let why = "the webhook would deny every continuation: see each one's errors".to_owned();
        (State::Blocked, Some(why))
    };
    let unreached = match &plan {
        Some(plan) if !follows.is_empty() && !stored.deleting() => {
            unreached(&live.clusters, plan, &follows)
        }
        _ => Vec::new(),
    };
    Next {
        name: stored.name().to_owned(),
        namespace: stored.namespace().to_owned(),
        state,
        why,
        plan: stored
            .plan()
            .iter()
            .map(|s| s.actions().iter().map(|a| a.as_str().to_owned()).collect())
            .collect(),
        generation: stored.generation(),
        observed_generation: stored.status.as_ref().and_then(|s| s.observed_generation),
        running_step,
        running,
        continuations,
        unreached,
    }
}

fn plan_text(plan: &[Vec<Action>]) -> String {
    let steps: Vec<String> = plan.iter().map(|s| step_text(s)).collect();
    format!("[{}]", steps.join(", "))
}

fn name(c: &ClusterStatus<'_>) -> String {
    c.name.as_deref().unwrap_or("?").to_owned()
}

/// Rule 4's own refusal of appending `step`, if it refuses: the webhook's reason.
fn idle_refusal(
    config: &Config,
    stored: &ImageBasedGroupUpgrade<'_>,
    step: &[Action],
) -> Option<String> {
    let check = append_when_idle::RULE.live?;
    let new = appended(stored, step, None);
    let ctx = Context {
        config,
        facts: &Facts::Offline,
        by: Requester::default(),
    };
    let found = check(stored, &new, &ctx);
    found.errors.iter().next().map(|e| e.detail.clone())
}

/// `stored` with `step` appended, as the apiserver would send it (no status).
fn appended<'a>(
    stored: &ImageBasedGroupUpgrade<'a>,
    step: &[Action],
    rollout_strategy: Option<RolloutStrategy>,
) -> ImageBasedGroupUpgrade<'a> {
    let mut spec = stored.spec.clone().unwrap_or_default();
    spec.plan.get_or_insert_with(Vec::new).push(Step {
        actions: Some(step.iter().map(|a| Text::from(a.as_str())).collect()),
        rollout_strategy,
    });
    ImageBasedGroupUpgrade::new(stored.metadata.clone(), Some(spec))
}

/// One continuation: its clusters, and the webhooks' verdict on the UPDATE that appends
/// it bare, with the rollout strategy mutating rule 1 gives it, which the patch then
/// writes out (a step so written mutates to itself and is judged the same).
fn continuation(config: &Config, live: &Live<'_>, step: &[Action]) -> Continuation {
    let stored = &live.object;
    let bare = appended(stored, step, None);
    let admission = policy::admit(
        Webhooks::Both,
        config,
        Change::Update {
            old: stored,
            new: &bare,
            old_as: Old::Stored,
        },
        &Facts::Offline,
        Requester::default(),
        |_| true,
    );
    let defaulted = admission
        .mutation
        .as_ref()
        .and_then(|m| m.object.plan().last()?.rollout_strategy);
    let rollout_strategy = RolloutStrategy {
        max_concurrency: Some(
            defaulted
                .and_then(|r| r.max_concurrency)
                .unwrap_or(config.default_max_concurrency),
        ),
        timeout: Some(
            defaulted
                .and_then(|r| r.timeout)
                .unwrap_or(DEFAULT_TIMEOUT_MINUTES),
        ),
    };
    let findings = admission.verdict.map(|v| v.findings).unwrap_or_default();
    let errors: Vec<Said> = findings
        .iter()
        .filter_map(|f| {
            Some(Said {
                rule: f.rule,
                line: f.error()?.to_string(),
            })
        })
        .collect();
    Continuation {
        actions: step.iter().map(|a| a.as_str()).collect(),
        rollout_strategy,
        acts_on: reach(&live.clusters, step),
        allowed: errors.is_empty(),
        errors,
        warnings: findings
            .iter()
            .filter_map(|f| Some(f.warning()?.to_string()))
            .collect(),
    }
}

/// The listed clusters a step acts on, by TALM's labels.
fn reach(clusters: &[ClusterStatus<'_>], step: &[Action]) -> Reach {
    let Some(&first) = step.first() else {
        return Reach::Only {
            clusters: Vec::new(),
        };
    };
    let (on, off): (Vec<&ClusterStatus<'_>>, Vec<&ClusterStatus<'_>>) =
        clusters.iter().partition(|c| c.acted_on_by(first));
    let names = |v: Vec<&ClusterStatus<'_>>| v.into_iter().map(name).collect::<Vec<_>>();
    match first {
        Action::Prep => Reach::EverySelected { listed: names(on) },
        Action::Abort => Reach::EverySelectedExcept {
            except: names(off),
            listed: names(on),
        },
        _ => Reach::Only {
            clusters: names(on),
        },
    }
}

impl fmt::Display for Later {
    /// `reached by FinalizeUpgrade after [AbortOnFailure]`; a step of several actions in
    /// brackets.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let bracket = |s: &[&str]| format!("[{}]", s.join(", "));
        let step = match self.step.as_slice() {
            [one] => (*one).to_owned(),
            many => bracket(many),
        };
        let after: Vec<String> = self.after.iter().map(|s| bracket(s)).collect();
        write!(f, "reached by {step} after {}", after.join(", "))
    }
}

/// The first later step that acts on `c`, which no continuation of `plan` acts on: the
/// fewest steps to append before it, the first such in table order. The steps before it
/// do not select `c`, so TALM leaves its labels as they are until then.
fn reached_later(c: &ClusterStatus<'_>, plan: &[Vec<Action>]) -> Option<Later> {
    let names = |step: &[Action]| step.iter().map(|a| a.as_str()).collect::<Vec<_>>();
    supported::extensions(plan)
        .filter_map(|rest| {
            let k = rest
                .iter()
                .position(|s| s.first().is_some_and(|a| c.acted_on_by(*a)))?;
            Some((&rest[..k], rest[k]))
        })
        .min_by_key(|(after, _)| after.len())
        .map(|(after, step)| Later {
            after: after.iter().map(|s| names(s)).collect(),
            step: names(step),
        })
}

/// The listed clusters none of `follows`, the continuations of `plan`, acts on, and why.
fn unreached(
    clusters: &[ClusterStatus<'_>],
    plan: &[Vec<Action>],
    follows: &[&[Action]],
) -> Vec<Unreached> {
    use Action::*;
    let cleared = [Abort, AbortOnFailure, FinalizeUpgrade, FinalizeRollback];
    clusters
        .iter()
        .filter(|c| {
            !follows
                .iter()
                .filter_map(|s| s.first())
                .any(|first| c.acted_on_by(*first))
        })
        .map(|c| {
            let named = |list: Option<Actions>| -> Vec<&str> {
                Action::ALL
                    .iter()
                    .filter(|a| list.is_some_and(|l| l.any_of(&[**a])))
                    .map(|a| a.as_str())
                    .collect()
            };
            let done = named(c.completed_actions);
            let later = c
                .current_action
                .is_none()
                .then(|| reached_later(c, plan))
                .flatten();
            let why = if let Some(current) = &c.current_action {
                format!("running {}", current.action.as_deref().unwrap_or("?"))
            } else if let Some(later) = &later {
                later.to_string()
            } else if c.listed_only() {
                "never ran: its step ended before its batch began".to_owned()
            } else if let Some(a) = cleared.iter().find(|a| done.contains(&a.as_str())) {
                format!("completed {a}: TALM removed its labels, it is done")
            } else {
                let failed = named(c.failed_actions);
                format!(
                    "no continuation selects it (completed [{}], failed [{}])",
                    done.join(", "),
                    failed.join(", ")
                )
            };
            Unreached {
                cluster: name(c),
                why,
                reached_by: later,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A stored object as `kubectl get -o yaml` shows it, with `plan` and `status`.
    fn stored(plan: Value, status: Option<Value>) -> Value {
        let mut o = json!({
            "apiVersion": "lcm.openshift.io/v1alpha1",
            "kind": "ImageBasedGroupUpgrade",
            "metadata": {"name": "upgrade-4-20", "namespace": "ztp-group", "generation": 2,
                         "resourceVersion": "48213"},
            "spec": {
                "clusterLabelSelectors": [{"matchLabels": {"upgrade": "4.20"}}],
                "ibuSpec": {"seedImageRef": {"image": "quay.io/seed/image:4.20.0", "version": "4.20.0"}},
                "plan": plan
            }
        });
        if let (Some(s), Value::Object(m)) = (status, &mut o) {
            m.insert("status".into(), s);
        }
        o
    }

    fn steps(steps: &[&[&str]]) -> Value {
        steps
            .iter()
            .enumerate()
            .map(|(i, a)| json!({"actions": a, "rolloutStrategy": {"maxConcurrency": 20 + i, "timeout": 300}}))
            .collect()
    }

    fn done() -> Value {
        json!({"type": "Progressing", "status": "False", "reason": "Completed",
               "message": "All plan steps are completed", "lastTransitionTime": "2026-11-20T11:00:00Z"})
    }

    fn status(clusters: Value, progressing: Value, observed: i64) -> Value {
        json!({"observedGeneration": observed, "clusters": clusters, "conditions": [progressing]})
    }

    fn decide(object: &Value) -> Next {
        let live = Live::from_value(object).expect("a readable object");
        next(&Config::default(), &live)
    }

    fn continuation<'n>(n: &'n Next, actions: &[&str]) -> &'n Continuation {
        n.continuations
            .iter()
            .find(|c| c.actions == actions)
            .unwrap_or_else(|| panic!("no continuation {actions:?} in {:?}", n.continuations))
    }

    /// What rule 13 says of deleting `o`: which step runs.
    fn rule_13_says(o: &Value) -> String {
        let live = Live::from_value(o).expect("a readable object");
        let by = Requester::default();
        let refusal = policy::validate_delete(&Config::default(), &live.object, by);
        let error = refusal.errors().iter().next().cloned();
        error.expect("a refused delete").detail
    }

    #[test]
    fn next_and_rule_13_agree_on_the_running_step_when_its_action_stands_twice() {
        // AbortOnFailure stands in steps 1 and 3: the status says a cluster runs it, not
        // in which step. Written at once, step 1 runs while step 3 waits its turn.
        let clusters = json!([
            {"name": "spoke1", "failedActions": [{"action": "Prep", "message": "timed out"}],
             "currentAction": {"action": "AbortOnFailure"}},
        ]);
        let progressing = json!({"type": "Progressing", "status": "True", "reason": "InProgress"});
        let o = stored(
            steps(&[
                &["Prep"],
                &["AbortOnFailure"],
                &["Upgrade"],
                &["AbortOnFailure"],
            ]),
            Some(status(clusters, progressing, 2)),
        );
        let n = decide(&o);
        let said = rule_13_says(&o);
        assert!(said.starts_with("a step runs on 1 cluster(s)"), "{said}");
        assert_eq!(n.running_step, None, "rule 13 says: {said}");
        // One step naming the action: both name it.
        let o = stored(
            steps(&[&["Prep"], &["AbortOnFailure"]]),
            Some(status(
                json!([{"name": "spoke1", "currentAction": {"action": "AbortOnFailure"}}]),
                json!({"type": "Progressing", "status": "True", "reason": "InProgress"}),
                2,
            )),
        );
        let said = rule_13_says(&o);
        assert!(said.starts_with("step 1 [AbortOnFailure] runs"), "{said}");
        assert_eq!(decide(&o).running_step, Some(1));
    }

    #[test]
    fn running_step_waits_with_every_running_cluster_named() {
        let clusters = json!([
            {"name": "spoke1", "completedActions": [{"action": "Prep"}], "currentAction": {"action": "Upgrade"}},
            {"name": "spoke2", "completedActions": [{"action": "Prep"}], "currentAction": {"action": "Upgrade"}},
            {"name": "spoke3", "completedActions": [{"action": "Prep"}], "currentAction": {"action": "Upgrade"}},
            {"name": "spoke4", "completedActions": [{"action": "Prep"}], "currentAction": {"action": "Upgrade"}},
            {"name": "spoke5", "completedActions": [{"action": "Prep"}, {"action": "Upgrade"}]},
        ]);
        let progressing = json!({"type": "Progressing", "status": "True", "reason": "InProgress",
                                 "message": "Plan step 1 is in progress"});
        let o = stored(
            steps(&[&["Prep"], &["Upgrade"]]),
            Some(status(clusters, progressing, 2)),
        );
        let n = decide(&o);
        assert_eq!(n.state, State::Wait);
        assert_eq!(
            n.why.as_deref(),
            Some(
                "steps can be added only once earlier steps have completed or failed: 4 cluster(s) still running an action: spoke1 (Upgrade), spoke2 (Upgrade), spoke3 (Upgrade), ..."
            )
        );
        assert_eq!(n.running_step, Some(1));
        let names: Vec<&str> = n.running.iter().map(|r| r.cluster.as_str()).collect();
        assert_eq!(names, ["spoke1", "spoke2", "spoke3", "spoke4"]);
        // Continuations are listed, none admitted.
        assert!(!n.continuations.is_empty());
        assert_eq!(n.allowed().count(), 0);
        assert!(
            n.continuations
                .iter()
                .all(|c| c.errors.iter().any(|e| e.line.contains("still running")))
        );
    }

    #[test]
    fn completed_prep_offers_upgrade_abort_and_recovery_with_their_clusters() {
        let clusters = json!([
            {"name": "spoke1", "completedActions": [{"action": "Prep"}]},
            {"name": "spoke4", "completedActions": [{"action": "Prep"}]},
            {"name": "spoke6", "failedActions": [{"action": "Prep",
              "message": "failed to pull the seed image:\nmanifest unknown"}]},
            {"name": "spoke7"},
        ]);
        let o = stored(steps(&[&["Prep"]]), Some(status(clusters, done(), 2)));
        let n = decide(&o);
        assert_eq!(n.state, State::Ready, "{:?}", n.why);
        assert_eq!(n.why, None);
        let kinds: Vec<Vec<&str>> = n.continuations.iter().map(|c| c.actions.clone()).collect();
        assert_eq!(
            kinds,
            [
                vec!["Upgrade"],
                vec!["Upgrade", "FinalizeUpgrade"],
                vec!["Abort"],
                vec!["AbortOnFailure"]
            ]
        );
        let up = continuation(&n, &["Upgrade"]);
        assert!(up.allowed);
        assert_eq!(
            up.acts_on,
            Reach::Only {
                clusters: vec!["spoke1".into(), "spoke4".into()]
            }
        );
        // Inherited from the stored step 0, as mutating rule 1 would; the CRD's timeout.
        assert_eq!(
            up.rollout_strategy,
            RolloutStrategy {
                max_concurrency: Some(20),
                timeout: Some(240)
            }
        );
        // Rule 5: the webhook's warnings about the failed and the never-ran clusters.
        assert!(
            up.warnings
                .iter()
                .any(|w| w.contains("1 cluster(s) failed an earlier step and will be skipped")),
            "{:?}",
            up.warnings
        );
        assert!(
            up.warnings
                .iter()
                .any(|w| w.contains("never ran an earlier step") && w.contains("spoke7"))
        );
        let aof = continuation(&n, &["AbortOnFailure"]);
        assert!(aof.allowed);
        assert_eq!(
            aof.acts_on,
            Reach::Only {
                clusters: vec!["spoke6".into()]
            }
        );
        assert!(!aof.warnings.iter().any(|w| w.contains("will be skipped")));
        let abort = continuation(&n, &["Abort"]);
        assert_eq!(
            abort.acts_on,
            Reach::EverySelectedExcept {
                except: vec![],
                listed: vec![
                    "spoke1".into(),
                    "spoke4".into(),
                    "spoke6".into(),
                    "spoke7".into()
                ]
            }
        );
        // Abort reaches every listed cluster, so none is left unreached.
        assert!(n.unreached.is_empty(), "{:?}", n.unreached);
    }

    #[test]
    fn recovered_and_never_ran_clusters_are_unreached_with_the_reason() {
        // Prep, then AbortOnFailure for the cluster that failed it.
        let clusters = json!([
            {"name": "spoke1", "completedActions": [{"action": "Prep"}]},
            {"name": "spoke6", "completedActions": [{"action": "AbortOnFailure"}],
             "failedActions": [{"action": "Prep", "message": "timed out\nwaiting for the stateroot"}]},
            {"name": "spoke7"},
        ]);
        let o = stored(
            steps(&[&["Prep"], &["AbortOnFailure"]]),
            Some(status(clusters, done(), 2)),
        );
        let n = decide(&o);
        assert_eq!(n.state, State::Ready);
        let kinds: Vec<Vec<&str>> = n.continuations.iter().map(|c| c.actions.clone()).collect();
        assert_eq!(kinds, [vec!["Upgrade"]]);
        let up = continuation(&n, &["Upgrade"]);
        assert_eq!(
            up.acts_on,
            Reach::Only {
                clusters: vec!["spoke1".into()]
            }
        );
        // The recovered cluster is not counted as failed (rule 5).
        assert!(
            !up.warnings.iter().any(|w| w.contains("will be skipped")),
            "{:?}",
            up.warnings
        );
        assert_eq!(
            n.unreached,
            [
                Unreached {
                    cluster: "spoke6".into(),
                    why: "completed AbortOnFailure: TALM removed its labels, it is done".into(),
                    reached_by: None,
                },
                Unreached {
                    cluster: "spoke7".into(),
                    why: "never ran: its step ended before its batch began".into(),
                    reached_by: None,
                },
            ]
        );
    }

    #[test]
    fn a_cluster_a_later_step_acts_on_says_which_and_after_what() {
        // TALM's kuttl flow prep-abort-upgrade-abort-finalize, step 05: after
        // [Prep],[AbortOnFailure],[Upgrade], only AbortOnFailure may follow, for spoke1;
        // the FinalizeUpgrade after it acts on spoke4, which completed Upgrade.
        let clusters = json!([
            {"name": "spoke1", "completedActions": [{"action": "Prep"}],
             "failedActions": [{"action": "Upgrade", "message": "Upgrade stage failed:\nauto rollback on failure"}]},
            {"name": "spoke4", "completedActions": [{"action": "Prep"}, {"action": "Upgrade"}]},
            {"name": "spoke6", "completedActions": [{"action": "AbortOnFailure"}],
             "failedActions": [{"action": "Prep", "message": "Prep stage failed:\nseed image pull failed"}]},
        ]);
        let o = stored(
            steps(&[&["Prep"], &["AbortOnFailure"], &["Upgrade"]]),
            Some(status(clusters, done(), 2)),
        );
        let n = decide(&o);
        assert_eq!(n.state, State::Ready);
        let kinds: Vec<Vec<&str>> = n.continuations.iter().map(|c| c.actions.clone()).collect();
        assert_eq!(kinds, [vec!["AbortOnFailure"]]);
        assert_eq!(
            n.unreached,
            [
                Unreached {
                    cluster: "spoke4".into(),
                    why: "reached by FinalizeUpgrade after [AbortOnFailure]".into(),
                    reached_by: Some(Later {
                        after: vec![vec!["AbortOnFailure"]],
                        step: vec!["FinalizeUpgrade"]
                    }),
                },
                Unreached {
                    cluster: "spoke6".into(),
                    why: "completed AbortOnFailure: TALM removed its labels, it is done".into(),
                    reached_by: None,
                },
            ]
        );
    }

    #[test]
    fn a_cluster_no_later_step_selects_is_said_so() {
        // Upgrade timed out before spoke7's batch began: it completed Prep only. After
        // [Prep],[Upgrade], FinalizeUpgrade and AbortOnFailure may follow, and after
        // AbortOnFailure FinalizeUpgrade: none selects a cluster that only completed Prep.
        let clusters = json!([
            {"name": "spoke1", "completedActions": [{"action": "Prep"}, {"action": "Upgrade"}]},
            {"name": "spoke7", "completedActions": [{"action": "Prep"}]},
        ]);
        let o = stored(
            steps(&[&["Prep"], &["Upgrade"]]),
            Some(status(clusters, done(), 2)),
        );
        let n = decide(&o);
        assert_eq!(
            n.unreached,
            [Unreached {
                cluster: "spoke7".into(),
                why: "no continuation selects it (completed [Prep], failed [])".into(),
                reached_by: None,
            }]
        );
    }

    #[test]
    fn failed_upgrade_is_for_abort_on_failure_and_finalize_for_the_upgraded() {
        let clusters = json!([
            {"name": "spoke1", "completedActions": [{"action": "Prep"}, {"action": "Upgrade"}]},
            {"name": "spoke2", "completedActions": [{"action": "Prep"}],
             "failedActions": [{"action": "Upgrade", "message": "rollback:\nauto rollback on failure"}]},
        ]);
        let o = stored(
            steps(&[&["Prep"], &["Upgrade"]]),
            Some(status(clusters, done(), 2)),
        );
        let n = decide(&o);
        assert_eq!(n.state, State::Ready);
        assert_eq!(
            continuation(&n, &["FinalizeUpgrade"]).acts_on,
            Reach::Only {
                clusters: vec!["spoke1".into()]
            }
        );
        assert_eq!(
            continuation(&n, &["AbortOnFailure"]).acts_on,
            Reach::Only {
                clusters: vec!["spoke2".into()]
            }
        );
        // Inherited from the last step.
        assert_eq!(
            continuation(&n, &["FinalizeUpgrade"])
                .rollout_strategy
                .max_concurrency,
            Some(21)
        );
    }

    #[test]
    fn stale_generation_waits_for_talm() {
        let clusters = json!([{"name": "spoke1", "completedActions": [{"action": "Prep"}]}]);
        let o = stored(
            steps(&[&["Prep"], &["Upgrade"]]),
            Some(status(clusters, done(), 1)),
        );
        let n = decide(&o);
        assert_eq!(n.state, State::Wait);
        assert_eq!((n.generation, n.observed_generation), (Some(2), Some(1)));
        assert!(
            n.why
                .as_deref()
                .is_some_and(|w| w
                    .contains("it has seen generation 1, the stored object is at generation 2")),
            "{:?}",
            n.why
        );
        assert_eq!(n.allowed().count(), 0);
    }

    #[test]
    fn a_deleting_object_is_blocked_before_anything_else() {
        // Idle, and TALM has seen the generation the DELETE bumped: only the deletion
        // keeps a step out.
        let clusters = json!([{"name": "spoke1", "completedActions": [{"action": "Prep"}]}]);
        let mut o = stored(steps(&[&["Prep"]]), Some(status(clusters, done(), 2)));
        o["metadata"]["deletionTimestamp"] = json!("2026-11-21T09:30:00Z");
        o["metadata"]["finalizers"] = json!(["foregroundDeletion"]);
        let n = decide(&o);
        assert_eq!(n.state, State::Blocked);
        assert_eq!(
            n.why.as_deref(),
            Some(
                "being deleted: nothing can be appended (metadata.deletionTimestamp is 2026-11-21T09:30:00Z); let the delete finish, then create a new ImageBasedGroupUpgrade"
            )
        );
        assert!(!n.continuations.is_empty());
        assert_eq!(n.allowed().count(), 0);
        assert!(n.unreached.is_empty());
        // A complete plan being deleted says the same.
        let complete = json!([{"name": "spoke1", "completedActions": [
            {"action": "Prep"}, {"action": "Upgrade"}, {"action": "FinalizeUpgrade"}]}]);
        let mut o = stored(
            steps(&[&["Prep", "Upgrade", "FinalizeUpgrade"]]),
            Some(status(complete, done(), 2)),
        );
        o["metadata"]["deletionTimestamp"] = json!("2026-11-21T09:30:00Z");
        let n = decide(&o);
        assert_eq!(n.state, State::Blocked);
        assert!(
            n.why
                .as_deref()
                .is_some_and(|w| w.starts_with("being deleted:"))
        );
    }

    #[test]
    fn no_status_yet_waits() {
        let n = decide(&stored(steps(&[&["Prep"]]), None));
        assert_eq!(n.state, State::Wait);
        assert!(
            n.why
                .as_deref()
                .is_some_and(|w| w.contains("no status yet")),
            "{:?}",
            n.why
        );
        assert!(n.unreached.is_empty());
    }

    #[test]
    fn a_complete_plan_has_no_continuation() {
        let clusters = json!([{"name": "spoke1", "completedActions": [
            {"action": "Prep"}, {"action": "Upgrade"}, {"action": "FinalizeUpgrade"}]}]);
        let o = stored(
            steps(&[&["Prep", "Upgrade", "FinalizeUpgrade"]]),
            Some(status(clusters, done(), 2)),
        );
        let n = decide(&o);
        assert_eq!(n.state, State::Complete);
        assert!(n.continuations.is_empty() && n.unreached.is_empty());
        assert_eq!(
            n.why.as_deref(),
            Some(
                "the plan [[Prep, Upgrade, FinalizeUpgrade]] is complete: no supported plan continues it; start a new ImageBasedGroupUpgrade"
            )
        );
        let bogus = decide(&stored(
            steps(&[&["Prep"], &["Bogus"]]),
            Some(status(json!([]), done(), 2)),
        ));
        assert_eq!(bogus.state, State::Complete);
        assert!(
            bogus
                .why
                .as_deref()
                .is_some_and(|w| w.contains("not one TALM supports"))
        );
    }

    #[test]
    fn an_unreadable_status_blocks() {
        let o = stored(
            steps(&[&["Prep"]]),
            Some(json!({"clusters": [{"name": 7}]})),
        );
        let n = decide(&o);
        assert_eq!(n.state, State::Blocked);
        assert!(
            n.why
                .as_deref()
                .is_some_and(|w| w.contains("status.clusters[0].name")),
            "{:?}",
            n.why
        );
    }

    #[test]
    fn a_continuation_another_rule_refuses_is_not_proposed_and_all_refused_blocks() {
        // Rule 8: TALM names step 1's ClusterGroupUpgrade `<name>-<actions>-1`, at most 63
        // characters. With a 50-character name, `-upgrade-1` fits and
        // `-upgrade-finalizeupgrade-1` does not.
        let mut o = stored(steps(&[&["Prep"]]), Some(status(json!([]), done(), 2)));
        o["metadata"]["name"] = json!("u".repeat(50));
        let n = decide(&o);
        assert_eq!(n.state, State::Ready);
        assert!(continuation(&n, &["Upgrade"]).allowed);
        assert!(continuation(&n, &["Abort"]).allowed);
        let both = continuation(&n, &["Upgrade", "FinalizeUpgrade"]);
        assert!(!both.allowed);
        assert!(
            both.errors
                .iter()
                .any(|e| e.line.starts_with("spec.plan[1]: ")),
            "{:?}",
            both.errors
        );
        assert!(!continuation(&n, &["AbortOnFailure"]).allowed);
        // With 60, no continuation fits: blocked, waiting will not help.
        o["metadata"]["name"] = json!("u".repeat(60));
        let n = decide(&o);
        assert_eq!(n.state, State::Blocked);
        assert_eq!(n.allowed().count(), 0);
        assert!(n.continuations.iter().all(|c| !c.errors.is_empty()));
    }

    #[test]
    fn the_default_max_concurrency_is_the_configured_one_for_a_first_step() {
        let o = stored(json!([]), Some(status(json!([]), done(), 2)));
        let live = Live::from_value(&o).expect("readable");
        let config = Config {
            default_max_concurrency: 7,
            ..Config::default()
        };
        let n = next(&config, &live);
        assert!(
            n.continuations
                .iter()
                .all(|c| c.rollout_strategy.max_concurrency == Some(7))
        );
    }
}
