//! `status`, as TALM writes it through the status subresource, and the summary the update
//! rules read ([`Progress`]).
//!
//! TALM rebuilds `status.clusters` from all of the IBGU's ClusterGroupUpgrades on every
//! reconcile: one entry per cluster a step's batches reached, with the actions it
//! completed, the one it runs and the ones that failed, so a cluster that failed Prep and
//! then completed AbortOnFailure lists both, and one running AbortOnFailure lists the
//! failure next to its `currentAction`. It sets `observedGeneration` to the
//! generation it acted on. Only what a rule reads is typed; the rest (messages, which may
//! span lines) is skipped, so it may hold anything.
//!
//! ```
//! use ibgu_webhook::model::ImageBasedGroupUpgrade;
//!
//! let obj = ImageBasedGroupUpgrade::stored_from_json(r#"{"status":{"clusters":[
//!     {"name":"sno1","currentAction":{"action":"Prep"}},
//!     {"name":"sno2","failedActions":[{"action":"Prep","message":"timed out"}]},
//!     {"name":"sno3","failedActions":[{"action":"Prep"}],
//!      "completedActions":[{"action":"AbortOnFailure"}]},
//!     {"name":"sno4","failedActions":[{"action":"Prep"}],
//!      "currentAction":{"action":"AbortOnFailure"}}]}}"#).expect("a stored object");
//! let progress = obj.progress().expect("a readable status");
//! assert_eq!((progress.clusters, progress.running_count), (4, 2));
//! assert_eq!((progress.failed, progress.recovering, progress.recovered), (1, 1, 1));
//! assert_eq!(progress.running[1], ("sno4".to_owned(), "AbortOnFailure".to_owned()));
//! ```

use std::fmt;

use serde::de::{SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::action::Action;
use super::text::Text;

/// `status`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an object")]
pub struct Status<'a> {
    /// One entry per cluster TALM has batched, summarised as it is read.
    pub clusters: Option<Clusters>,
    /// The IBGU's conditions.
    #[serde(borrow)]
    pub conditions: Option<Vec<Option<Condition<'a>>>>,
    /// The `metadata.generation` TALM last acted on.
    pub observed_generation: Option<i64>,
}

/// `status.clusters`, summarised entry by entry as it is read, so that a fleet's list is
/// never held: the [`Progress`] fields that come from the clusters. Holding the list
/// cost 6 to 15% more CPU per fleet-sized review (3,500 clusters; two A/B runs of
/// load.py's servers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Clusters(Progress);

impl<'de> Deserialize<'de> for Clusters {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Each;
        impl<'de> Visitor<'de> for Each {
            type Value = Clusters;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Clusters, S::Error> {
                let mut p = Progress::default();
                while let Some(cluster) = seq.next_element::<Option<ClusterStatus<'de>>>()? {
                    p.clusters += 1;
                    if let Some(cluster) = cluster {
                        p.count(&cluster);
                    }
                }
                Ok(Clusters(p))
            }
        }
        d.deserialize_seq(Each)
    }
}

/// One cluster's progress.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an object")]
pub struct ClusterStatus<'a> {
    /// The managed cluster's name.
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    /// The actions it completed.
    pub completed_actions: Option<Actions>,
    /// The action running on it, if any.
    #[serde(borrow)]
    pub current_action: Option<ActionStatus<'a>>,
    /// The actions that failed on it.
    pub failed_actions: Option<Actions>,
}

/// The actions one of a cluster's lists names, as a set, and how many entries it has:
/// all the rules ask. Read without a heap allocation per list: one per cluster and list
/// cost a third more CPU per fleet-sized review (3,500 clusters, load.py).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actions {
    /// One bit per [`Action::ALL`] entry.
    named: u8,
    /// Entries, named or not (an unknown action, or none).
    pub entries: usize,
}

impl Actions {
    /// Whether the list names any of `any`.
    pub fn any_of(&self, any: &[Action]) -> bool {
        any.iter().any(|a| self.named & bit(*a) != 0)
    }
}

fn bit(a: Action) -> u8 {
    let i = Action::ALL.iter().position(|x| *x == a).unwrap_or(0);
    1 << i
}

impl<'de> Deserialize<'de> for Actions {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Each;
        impl<'de> Visitor<'de> for Each {
            type Value = Actions;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence")
            }
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Actions, S::Error> {
                let mut set = Actions::default();
                while let Some(entry) = seq.next_element::<Option<ActionStatus<'de>>>()? {
                    set.entries += 1;
                    if let Some(a) = entry.and_then(|e| e.action).and_then(|t| Action::parse(&t)) {
                        set.named |= bit(a);
                    }
                }
                Ok(set)
            }
        }
        d.deserialize_seq(Each)
    }
}

/// An action named in a cluster's status.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(expecting = "an object")]
pub struct ActionStatus<'a> {
    /// The action's name.
    #[serde(borrow)]
    pub action: Option<Text<'a>>,
}

/// A condition of the IBGU.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(expecting = "an object")]
pub struct Condition<'a> {
    /// `Progressing`, ...
    #[serde(borrow, rename = "type")]
    pub type_: Option<Text<'a>>,
    /// `True`, `False`, `Unknown`.
    #[serde(borrow)]
    pub status: Option<Text<'a>>,
    /// Why.
    #[serde(borrow)]
    pub reason: Option<Text<'a>>,
}

/// The summary of `status` the update rules read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Progress {
    /// How many clusters the status lists.
    pub clusters: usize,
    /// How many clusters have a `currentAction`.
    pub running_count: usize,
    /// The first few of them: (cluster, action).
    pub running: Vec<(String, String)>,
    /// How many clusters failed an action and neither completed nor run Abort,
    /// AbortOnFailure or Rollback since: the clusters a recovery step is for.
    pub failed: usize,
    /// How many clusters failed an action and run one of those now: being recovered.
    pub recovering: usize,
    /// How many clusters failed an action and then completed one of those.
    pub recovered: usize,
    /// How many clusters are listed by name only: a step ended before their batch began.
    pub never_ran: usize,
    /// The first few of them.
    pub never_ran_names: Vec<String>,
    /// The reason of condition `Progressing` when it is True.
    pub progressing: Option<String>,
    /// `status.observedGeneration`, when TALM wrote it.
    pub observed_generation: Option<i64>,
    /// The clusters carrying each of TALM's labels, by which it selects a step's clusters.
    pub labelled: Labelled,
}

/// The names kept, joined, and `, ...` when there were more than were kept.
fn listed(kept: impl Iterator<Item = String>, total: usize) -> String {
    let kept: Vec<String> = kept.collect();
    let more = if total > kept.len() { ", ..." } else { "" };
    format!("{}{more}", kept.join(", "))
}

/// How many clusters carry each label TALM selects by. TALM labels each cluster of the
/// status `lcm.openshift.io/ibgu-<action>-completed` and `-failed` for its actions, and
/// removes them all once it completed Abort, AbortOnFailure, FinalizeUpgrade or
/// FinalizeRollback (`ensureClusterLabels`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Labelled {
    /// `ibgu-prep-completed`.
    pub prep_completed: usize,
    /// `ibgu-upgrade-completed`.
    pub upgrade_completed: usize,
    /// `ibgu-rollback-completed`.
    pub rollback_completed: usize,
    /// `ibgu-prep-failed` or `ibgu-upgrade-failed`.
    pub prep_or_upgrade_failed: usize,
}

impl Labelled {
    /// How many of these clusters a step starting with `first` acts on, as TALM selects
    /// them by its labels (`getLabelSelectorForPlanItem`); `None` for Prep and Abort,
    /// which select clusters the status need not list. Of one cluster's [`ClusterStatus::labels`],
    /// `Some(1)` when the step acts on it.
    pub fn selected_by(&self, first: Action) -> Option<usize> {
        match first {
            Action::Upgrade => Some(self.prep_completed),
            Action::FinalizeUpgrade | Action::Rollback => Some(self.upgrade_completed),
            Action::FinalizeRollback => Some(self.rollback_completed),
            Action::AbortOnFailure => Some(self.prep_or_upgrade_failed),
            Action::Prep | Action::Abort => None,
        }
    }
}

impl Progress {
    /// How many running clusters are named in messages.
    pub const NAMES_KEPT: usize = 3;

    /// The running clusters as messages name them: `spoke1 (Prep), spoke4 (Prep), ...`.
    pub fn running_names(&self) -> String {
        let names = self.running.iter().map(|(n, a)| format!("{n} ({a})"));
        listed(names, self.running_count)
    }

    /// The clusters that never ran, as messages name them: `spoke6, spoke7, ...`.
    pub fn never_ran_list(&self) -> String {
        listed(self.never_ran_names.iter().cloned(), self.never_ran)
    }

    /// How many clusters a step starting with `first` acts on, as TALM selects them by its
    /// labels (`getLabelSelectorForPlanItem`); `None` where the status cannot tell: Prep
    /// and Abort select clusters the status need not list.
    pub fn selected_by(&self, first: Action) -> Option<usize> {
        self.labelled.selected_by(first)
    }

    /// Counts one entry of `status.clusters`.
    fn count(&mut self, cluster: &ClusterStatus<'_>) {
        let name = cluster.name.as_deref().unwrap_or("?");
        if let Some(current) = &cluster.current_action {
            self.running_count += 1;
            if self.running.len() < Progress::NAMES_KEPT {
                let action = current.action.as_deref().unwrap_or("?");
                self.running.push((name.to_owned(), action.to_owned()));
            }
        }
        if cluster.has_failures() {
            use Action::*;
            let recovery = [Abort, AbortOnFailure, Rollback];
            if cluster.completed(&recovery) {
                self.recovered += 1;
            } else if cluster.runs(&recovery) {
                self.recovering += 1;
            } else {
                self.failed += 1;
            }
        }
        if cluster.listed_only() {
            self.never_ran += 1;
            if self.never_ran_names.len() < Progress::NAMES_KEPT {
                self.never_ran_names.push(name.to_owned());
            }
        }
        cluster.count_labels(&mut self.labelled);
    }
}

impl ClusterStatus<'_> {
    fn completed(&self, any: &[Action]) -> bool {
        self.completed_actions.is_some_and(|l| l.any_of(any))
    }

    fn failed(&self, any: &[Action]) -> bool {
        self.failed_actions.is_some_and(|l| l.any_of(any))
    }

    /// Whether its `currentAction` is one of `any`.
    fn runs(&self, any: &[Action]) -> bool {
        self.current_action
            .as_ref()
            .and_then(|c| c.action.as_deref())
            .and_then(Action::parse)
            .is_some_and(|a| any.contains(&a))
    }

    fn has_failures(&self) -> bool {
        self.failed_actions.is_some_and(|f| f.entries > 0)
    }

    /// Whether the entry is a name only: once the step ended, its batch never began.
    pub fn listed_only(&self) -> bool {
        let empty = |l: &Option<Actions>| l.is_none_or(|l| l.entries == 0);
        self.current_action.is_none()
            && empty(&self.completed_actions)
            && empty(&self.failed_actions)
    }

    /// The labels TALM keeps on this cluster, as counts of 0 or 1: the one place the label
    /// rules are written, read by the summary and by `next`.
    pub fn labels(&self) -> Labelled {
        use Action::*;
        if self.completed(&[Abort, AbortOnFailure, FinalizeUpgrade, FinalizeRollback]) {
            return Labelled::default();
        }
        Labelled {
            prep_completed: usize::from(self.completed(&[Prep])),
            upgrade_completed: usize::from(self.completed(&[Upgrade])),
            rollback_completed: usize::from(self.completed(&[Rollback])),
            prep_or_upgrade_failed: usize::from(self.failed(&[Prep, Upgrade])),
        }
    }

    /// Whether a step starting with `first` acts on this cluster, by TALM's labels: Prep
    /// every selected cluster, Abort those that did not complete Upgrade, the others as
    /// [`Labelled::selected_by`] counts them.
    pub fn acted_on_by(&self, first: Action) -> bool {
        let labels = self.labels();
        match (first, labels.selected_by(first)) {
            (_, Some(n)) => n > 0,
            (Action::Abort, None) => labels.upgrade_completed == 0,
            (_, None) => true,
        }
    }

    fn count_labels(&self, l: &mut Labelled) {
        let one = self.labels();
        l.prep_completed += one.prep_completed;
        l.upgrade_completed += one.upgrade_completed;
        l.rollback_completed += one.rollback_completed;
        l.prep_or_upgrade_failed += one.prep_or_upgrade_failed;
    }
}

impl Status<'_> {
    /// The summary: clusters, running ones (the first [`Progress::NAMES_KEPT`] named, "?"
    /// for what is unset), failed and recovered ones, those that never ran, TALM's labels,
    /// and the first `Progressing` condition that is True.
    pub fn progress(&self) -> Progress {
        let mut p = self.clusters.clone().map(|c| c.0).unwrap_or_default();
        p.progressing = self
            .conditions
            .iter()
            .flatten()
            .flatten()
            .find(|c| {
                c.type_.as_deref() == Some("Progressing") && c.status.as_deref() == Some("True")
            })
            .map(|c| c.reason.as_deref().unwrap_or("unset").to_owned());
        p.observed_generation = self.observed_generation;
        p
    }
}

#[cfg(test)]
mod tests {
    use crate::model::ImageBasedGroupUpgrade;

    fn progress(status: &str) -> Result<super::Progress, String> {
        let json = format!(r#"{{"status":{status}}}"#);
        let obj =
            ImageBasedGroupUpgrade::stored_from_json(&json).map_err(|e| format!("decode: {e}"))?;
        obj.progress().cloned().map_err(|e| e.to_string())
    }

    #[test]
    fn summarises() {
        let p = progress(
            r#"{"observedGeneration":3,"clusters":[
                {"name":"a","completedActions":[{"action":"Prep"}],"currentAction":{"action":"Upgrade"}},
                {"name":"b\u0041","currentAction":{}},
                {"currentAction":{"action":"Prep","message":"m"},"name":"c"},
                {"name":"d","currentAction":{"action":"Prep"}},
                {"name":"e","failedActions":[{"action":"Prep"}]},
                {"name":"f","failedActions":[],"currentAction":null},
                null],
              "conditions":[{"type":"Progressing","status":"False","reason":"Old"},
                            {"type":"Progressing","status":"True"},
                            {"type":"Progressing","status":"True","reason":"Later"}]}"#,
        )
        .unwrap();
        assert_eq!(p.clusters, 7);
        assert_eq!(p.running_count, 4);
        // Names kept in order, escapes decoded, `{}` as "?"; the key order does not matter.
        let running: Vec<_> = p.running.iter().map(|(c, a)| format!("{c}:{a}")).collect();
        assert_eq!(running, ["a:Upgrade", "bA:?", "c:Prep"]);
        assert_eq!(p.failed, 1);
        assert_eq!(p.progressing.as_deref(), Some("unset"));
        assert_eq!(progress("null").unwrap(), super::Progress::default());
        assert_eq!(progress(r#"{"clusters":null}"#).unwrap().clusters, 0);
    }

    #[test]
    fn a_field_of_the_wrong_type_is_named_and_the_object_still_decodes() {
        for (status, field) in [
            (r#""done""#, "status"),
            (r#"{"clusters":{}}"#, "status.clusters"),
            (r#"{"clusters":[1]}"#, "status.clusters[0]"),
            (
                r#"{"clusters":[{"name":["a"]}]}"#,
                "status.clusters[0].name",
            ),
            (
                r#"{"clusters":[{},{"currentAction":"Prep"}]}"#,
                "status.clusters[1].currentAction",
            ),
            (
                r#"{"clusters":[{"currentAction":{"action":true}}]}"#,
                "status.clusters[0].currentAction.action",
            ),
            (
                r#"{"clusters":[{"failedActions":{"a":1}}]}"#,
                "status.clusters[0].failedActions",
            ),
            (
                r#"{"conditions":[{"type":"Progressing","status":1.5}]}"#,
                "status.conditions[0].status",
            ),
            (r#"{"conditions":"x","clusters":7}"#, "status.conditions"),
            (
                r#"{"clusters":[{"completedActions":"x"}]}"#,
                "status.clusters[0].completedActions",
            ),
            (r#"{"observedGeneration":"2"}"#, "status.observedGeneration"),
        ] {
            let err = progress(status).expect_err(status);
            assert!(err.starts_with(&format!("{field}: ")), "{status}: {err}");
            assert!(err.contains(": must be of type "), "{status}: {err}");
        }
        // Fields no rule reads may hold anything.
        assert!(
            progress(
                r#"{"clusters":[{"name":"a","failedActions":[{"action":"Prep","message":{"a":1}}]}],"startedAt":{}}"#
            )
            .is_ok()
        );
        // Broken JSON is still an error of the object.
        assert!(ImageBasedGroupUpgrade::stored_from_json(r#"{"status":{"clusters":[}"#).is_err());
    }
}
