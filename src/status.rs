//! `status`, as the update rules read it: summarised in the same pass that reads the rest
//! of the object.
//!
//! TALM writes `status` through the status subresource: one entry per cluster with its
//! completed, current and failed actions, and the IBGU's conditions. In an UPDATE review
//! for a fleet it is most of the bytes (both objects carry it), and the rules need only
//! a summary, [`Progress`]: how many clusters, which are running an action, how many have
//! failed ones, and whether condition `Progressing` is True. Reading it straight into
//! that summary, with strings borrowed from the request body, costs about what skipping
//! it does; keeping it as text to decode when a rule asks read those bytes twice (a third
//! of a 50-cluster UPDATE's decision, measured with callgrind).
//!
//! The reader never fails on the status's shape. A stored object whose status was
//! written oddly must still take updates that append nothing (a label, the finalizer
//! removal a delete waits for), so a field of the wrong type makes the summary
//! unreadable, naming that field, and only the rules that need the status refuse to go
//! on. Only the JSON syntax can fail the read, as for any other field.
//!
//! The webhook never writes `status` (its patches only add under `spec`), so it is not
//! kept beyond the summary, and an encoded object has none.
//!
//! ```
//! use ibgu_webhook::ibgu::ImageBasedGroupUpgrade;
//!
//! let obj = ImageBasedGroupUpgrade::from_json(r#"{"status":{"clusters":[
//!     {"name":"sno1","currentAction":{"action":"Prep"}},
//!     {"name":"sno2","failedActions":[{"action":"Prep","message":"timed out"}]}]}}"#).unwrap();
//! let progress = obj.progress().unwrap();
//! assert_eq!((progress.clusters, progress.running_count, progress.failed), (2, 1, 1));
//! assert_eq!(progress.running, [("sno1".to_owned(), "Prep".to_owned())]);
//!
//! let odd = ImageBasedGroupUpgrade::from_json(r#"{"status":{"clusters":[{"name":7}]}}"#).unwrap();
//! assert_eq!(odd.progress().unwrap_err().to_string(),
//!     "status.clusters[0].name: Invalid value: invalid type: integer `7`, expected a string");
//! ```

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{
    self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Unexpected, Visitor,
};

use crate::field::{FieldError, Path};
use crate::object::Key;

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

/// A `status` as read: its summary, or the first field that could not be read.
#[derive(Debug, Clone, PartialEq)]
pub struct Status(Result<Progress, FieldError>);

impl Status {
    /// The summary, or which field made the status unreadable.
    pub fn progress(&self) -> Result<&Progress, &FieldError> {
        self.0.as_ref()
    }
}

impl From<Progress> for Status {
    fn from(progress: Progress) -> Self {
        Status(Ok(progress))
    }
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut read = Read::default();
        Node {
            read: &mut read,
            at: At::Status,
        }
        .deserialize(d)?;
        Ok(Status(match read.error {
            Some(e) => Err(e),
            None => Ok(read.progress),
        }))
    }
}

/// What has been read so far.
#[derive(Default)]
struct Read {
    progress: Progress,
    error: Option<FieldError>,
}

impl Read {
    /// Keeps the first field of the wrong type (the others are usually its consequences).
    fn wrong(&mut self, at: At, found: Unexpected<'_>) {
        if self.error.is_none() {
            self.error = Some(FieldError::type_invalid(
                at.path(),
                format!("invalid type: {found}, expected {}", at.expected()),
            ));
        }
    }
}

/// Where in `status` a value sits, which says what it should be.
#[derive(Debug, Clone, Copy)]
enum At {
    Status,
    Clusters,
    Cluster(usize),
    ClusterName(usize),
    CurrentAction(usize),
    CurrentActionName(usize),
    FailedActions(usize),
    Conditions,
    Condition(usize),
    ConditionField(usize, &'static str),
}

impl At {
    fn path(self) -> Path {
        let clusters = || Path::new("status").child("clusters");
        let conditions = || Path::new("status").child("conditions");
        match self {
            At::Status => Path::new("status"),
            At::Clusters => clusters(),
            At::Cluster(i) => clusters().index(i),
            At::ClusterName(i) => clusters().index(i).child("name"),
            At::CurrentAction(i) => clusters().index(i).child("currentAction"),
            At::CurrentActionName(i) => clusters().index(i).child("currentAction").child("action"),
            At::FailedActions(i) => clusters().index(i).child("failedActions"),
            At::Conditions => conditions(),
            At::Condition(i) => conditions().index(i),
            At::ConditionField(i, f) => conditions().index(i).child(f),
        }
    }

    fn expected(self) -> &'static str {
        match self {
            At::Status | At::Cluster(_) | At::CurrentAction(_) | At::Condition(_) => "an object",
            At::Clusters | At::FailedActions(_) | At::Conditions => "a list",
            At::ClusterName(_) | At::CurrentActionName(_) | At::ConditionField(..) => "a string",
        }
    }
}

/// What one value of `status` yielded: the texts and facts its parent keeps.
enum Got<'de> {
    Nothing,
    Text(Cow<'de, str>),
    Action(Option<Cow<'de, str>>),
    Count(usize),
}

/// Reads the value at `at`: `null` means unset, the expected shape is read, anything
/// else is recorded as the wrong type and skipped.
struct Node<'r> {
    read: &'r mut Read,
    at: At,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Got<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Got<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

impl Node<'_> {
    fn wrong<'de>(self, found: Unexpected<'_>) -> Got<'de> {
        self.read.wrong(self.at, found);
        Got::Nothing
    }

    fn child(&mut self, at: At) -> Node<'_> {
        Node {
            read: self.read,
            at,
        }
    }

    fn expects_text(&self) -> bool {
        matches!(
            self.at,
            At::ClusterName(_) | At::CurrentActionName(_) | At::ConditionField(..)
        )
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Got<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.at.expected())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Got<'de>, E> {
        Ok(Got::Nothing)
    }

    fn visit_none<E: de::Error>(self) -> Result<Got<'de>, E> {
        Ok(Got::Nothing)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Got<'de>, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Got<'de>, E> {
        Ok(self.wrong(Unexpected::Bool(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Got<'de>, E> {
        Ok(self.wrong(Unexpected::Signed(v)))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Got<'de>, E> {
        Ok(self.wrong(Unexpected::Unsigned(v)))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Got<'de>, E> {
        Ok(self.wrong(Unexpected::Float(v)))
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Got<'de>, E> {
        if self.expects_text() {
            return Ok(Got::Text(Cow::Borrowed(v)));
        }
        Ok(self.wrong(Unexpected::Str(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Got<'de>, E> {
        if self.expects_text() {
            return Ok(Got::Text(Cow::Owned(v.to_owned())));
        }
        Ok(self.wrong(Unexpected::Str(v)))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Got<'de>, E> {
        if self.expects_text() {
            return Ok(Got::Text(Cow::Owned(v)));
        }
        Ok(self.wrong(Unexpected::Str(&v)))
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<Got<'de>, A::Error> {
        let mut n = 0;
        match self.at {
            At::Clusters => {
                while seq.next_element_seed(self.child(At::Cluster(n)))?.is_some() {
                    n += 1;
                }
                self.read.progress.clusters = n;
            }
            At::Conditions => {
                while seq
                    .next_element_seed(self.child(At::Condition(n)))?
                    .is_some()
                {
                    n += 1;
                }
            }
            At::FailedActions(_) => {
                while seq.next_element::<IgnoredAny>()?.is_some() {
                    n += 1;
                }
                return Ok(Got::Count(n));
            }
            _ => {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                return Ok(self.wrong(Unexpected::Seq));
            }
        }
        Ok(Got::Nothing)
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<Got<'de>, A::Error> {
        match self.at {
            At::Status => {
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let at = match key.as_str() {
                        "clusters" => At::Clusters,
                        "conditions" => At::Conditions,
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    map.next_value_seed(self.child(at))?;
                }
            }
            At::Cluster(i) => {
                let (mut name, mut current, mut failed) = (None, None, 0);
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let at = match key.as_str() {
                        "name" => At::ClusterName(i),
                        "currentAction" => At::CurrentAction(i),
                        "failedActions" => At::FailedActions(i),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    match map.next_value_seed(self.child(at))? {
                        Got::Text(t) => name = Some(t),
                        Got::Action(a) => current = Some(a),
                        Got::Count(n) => failed = n,
                        Got::Nothing => {}
                    }
                }
                let progress = &mut self.read.progress;
                if let Some(action) = current {
                    progress.running_count += 1;
                    if progress.running.len() < Progress::NAMES_KEPT {
                        progress.running.push((
                            name.as_deref().unwrap_or("?").to_owned(),
                            action.as_deref().unwrap_or("?").to_owned(),
                        ));
                    }
                }
                if failed > 0 {
                    progress.failed += 1;
                }
            }
            At::CurrentAction(i) => {
                let mut action = None;
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    if key.as_str() != "action" {
                        map.next_value::<IgnoredAny>()?;
                    } else if let Got::Text(t) =
                        map.next_value_seed(self.child(At::CurrentActionName(i)))?
                    {
                        action = Some(t);
                    }
                }
                return Ok(Got::Action(action));
            }
            At::Condition(i) => {
                let (mut type_, mut status, mut reason) = (None, None, None);
                while let Some(key) = map.next_key::<Key<'de>>()? {
                    let (slot, name) = match key.as_str() {
                        "type" => (&mut type_, "type"),
                        "status" => (&mut status, "status"),
                        "reason" => (&mut reason, "reason"),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    if let Got::Text(t) =
                        map.next_value_seed(self.child(At::ConditionField(i, name)))?
                    {
                        *slot = Some(t);
                    }
                }
                let progress = &mut self.read.progress;
                if progress.progressing.is_none()
                    && type_.as_deref() == Some("Progressing")
                    && status.as_deref() == Some("True")
                {
                    progress.progressing = Some(reason.as_deref().unwrap_or("unset").to_owned());
                }
            }
            _ => {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                return Ok(self.wrong(Unexpected::Map));
            }
        }
        Ok(Got::Nothing)
    }
}

#[cfg(test)]
mod tests {
    use crate::ibgu::ImageBasedGroupUpgrade;

    fn progress(status: &str) -> Result<super::Progress, String> {
        let obj = ImageBasedGroupUpgrade::from_json(&format!(r#"{{"status":{status}}}"#))
            .map_err(|e| format!("decode: {e}"))?;
        obj.progress().map_err(|e| e.to_string())
    }

    #[test]
    fn summarises_in_one_pass() {
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
            assert!(err.contains("invalid type"), "{status}: {err}");
        }
        // Fields no rule reads may hold anything.
        assert!(
            progress(r#"{"clusters":[{"completedActions":"x","name":"a"}],"startedAt":{}}"#)
                .is_ok()
        );
        // Broken JSON is still an error of the object.
        assert!(ImageBasedGroupUpgrade::from_json(r#"{"status":{"clusters":[}"#).is_err());
    }

    #[test]
    fn the_incoming_object_skips_status() {
        let json =
            r#"{"metadata":{"name":"u"},"status":{"clusters":[{"name":"a","currentAction":{}}]}}"#;
        let mut de = serde_json::Deserializer::from_str(json);
        let incoming: crate::ibgu::Incoming = serde::Deserialize::deserialize(&mut de).unwrap();
        assert!(incoming.0.status.is_none());
        assert_eq!(incoming.0.name(), "u");
        let stored = ImageBasedGroupUpgrade::from_json(json).unwrap();
        assert_eq!(stored.progress().unwrap().running_count, 1);
        // Status is never written back.
        let written = serde_json::to_value(&stored).unwrap();
        assert_eq!(written, serde_json::json!({"metadata":{"name":"u"}}));
    }
}
