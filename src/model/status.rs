//! `status`, as TALM writes it through the status subresource, and the summary the update
//! rules read ([`Progress`]).
//!
//! One entry per cluster with its current and failed actions, and the IBGU's conditions.
//! Only what a rule reads is typed; the rest (completed actions, messages, times) is
//! skipped, so it may hold anything.
//!
//! ```
//! use ibgu_webhook::model::ImageBasedGroupUpgrade;
//!
//! let obj = ImageBasedGroupUpgrade::stored_from_json(r#"{"status":{"clusters":[
//!     {"name":"sno1","currentAction":{"action":"Prep"}},
//!     {"name":"sno2","failedActions":[{"action":"Prep","message":"timed out"}]}]}}"#).unwrap();
//! let progress = obj.progress().unwrap();
//! assert_eq!((progress.clusters, progress.running_count, progress.failed), (2, 1, 1));
//! assert_eq!(progress.running, [("sno1".to_owned(), "Prep".to_owned())]);
//! ```

use serde::Deserialize;

use super::text::Text;

/// `status`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(expecting = "an object")]
pub struct Status<'a> {
    /// One entry per cluster TALM has batched.
    #[serde(borrow)]
    pub clusters: Option<Vec<Option<ClusterStatus<'a>>>>,
    /// The IBGU's conditions.
    #[serde(borrow)]
    pub conditions: Option<Vec<Option<Condition<'a>>>>,
}

/// One cluster's progress.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an object")]
pub struct ClusterStatus<'a> {
    /// The managed cluster's name.
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    /// The action running on it, if any.
    #[serde(borrow)]
    pub current_action: Option<ActionStatus<'a>>,
    /// The actions that failed on it.
    #[serde(borrow)]
    pub failed_actions: Option<Vec<Option<ActionStatus<'a>>>>,
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
    /// How many clusters have failed actions.
    pub failed: usize,
    /// The reason of condition `Progressing` when it is True.
    pub progressing: Option<String>,
}

impl Progress {
    /// How many running clusters are named in messages.
    pub const NAMES_KEPT: usize = 3;
}

impl Status<'_> {
    /// The summary: clusters, running ones (the first [`Progress::NAMES_KEPT`] named, "?"
    /// for what is unset), failed ones, and the first `Progressing` condition that is True.
    pub fn progress(&self) -> Progress {
        let mut p = Progress::default();
        let clusters = self.clusters.as_deref().unwrap_or(&[]);
        p.clusters = clusters.len();
        for cluster in clusters.iter().flatten() {
            if let Some(current) = &cluster.current_action {
                p.running_count += 1;
                if p.running.len() < Progress::NAMES_KEPT {
                    let name = cluster.name.as_deref().unwrap_or("?");
                    p.running.push((
                        name.to_owned(),
                        current.action.as_deref().unwrap_or("?").to_owned(),
                    ));
                }
            }
            if cluster
                .failed_actions
                .as_ref()
                .is_some_and(|f| !f.is_empty())
            {
                p.failed += 1;
            }
        }
        p.progressing = self
            .conditions
            .iter()
            .flatten()
            .flatten()
            .find(|c| {
                c.type_.as_deref() == Some("Progressing") && c.status.as_deref() == Some("True")
            })
            .map(|c| c.reason.as_deref().unwrap_or("unset").to_owned());
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
        ] {
            let err = progress(status).expect_err(status);
            assert!(err.starts_with(&format!("{field}: ")), "{status}: {err}");
            assert!(err.contains(": must be of type "), "{status}: {err}");
        }
        // Fields no rule reads may hold anything.
        assert!(
            progress(r#"{"clusters":[{"completedActions":"x","name":"a"}],"startedAt":{}}"#)
                .is_ok()
        );
        // Broken JSON is still an error of the object.
        assert!(ImageBasedGroupUpgrade::stored_from_json(r#"{"status":{"clusters":[}"#).is_err());
    }
}
