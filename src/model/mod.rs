//! The `ImageBasedGroupUpgrade` (`lcm.openshift.io/v1alpha1`) as the rules read it.
//!
//! Derived serde structs for the fields of TALM's CRD, strings borrowed from the request
//! body ([`Text`]), everything else skipped by serde. The webhook never writes an object
//! back (it answers with add-only JSON Patches), so nothing needs to round-trip, and the
//! apiserver has already pruned fields the CRD's structural schema does not know.
//! Absent and `null` are both "not set", as in Kubernetes.
//!
//! `status` is read only in the stored object ([`ImageBasedGroupUpgrade::stored_from_json`]):
//! an update cannot change it (TALM writes it through the subresource) and in a fleet's
//! UPDATE review it is most of the bytes, so the incoming object's is skipped.
//!
//! ```
//! use ibgu_webhook::model::ImageBasedGroupUpgrade;
//!
//! let json = r#"{"metadata":{"name":"u","namespace":"ztp"},
//!   "spec":{"plan":[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":10}}]}}"#;
//! let ibgu = ImageBasedGroupUpgrade::from_json(json).unwrap();
//! assert_eq!((ibgu.name(), ibgu.plan().len()), ("u", 1));
//! let bad = ImageBasedGroupUpgrade::from_json(r#"{"spec":{"plan":[{"actions":"Prep"}]}}"#);
//! assert_eq!(bad.unwrap_err().field.as_str(), "spec.plan[0].actions");
//! ```

pub mod action;
mod decode;
pub mod field;
pub mod name;
pub mod plan;
pub mod status;
pub mod text;

use std::collections::BTreeMap;
use std::fmt;
use std::sync::OnceLock;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;

use self::field::{FieldError, Path};
pub use self::status::{Progress, Status};
pub use self::text::Text;

/// The API group of the resource.
pub const GROUP: &str = "lcm.openshift.io";
/// The API version this model describes.
pub const VERSION: &str = "v1alpha1";
/// The kind.
pub const KIND: &str = "ImageBasedGroupUpgrade";
/// The annotation that lets a DELETE through while a step runs (validating rule 13),
/// when its value is `"true"`. Set it on the stored object first:
/// `kubectl annotate ibgu NAME ibgu-webhook.openshift.io/allow-delete=true`.
pub const ALLOW_DELETE_ANNOTATION: &str = "ibgu-webhook.openshift.io/allow-delete";
/// The CRD default of `rolloutStrategy.timeout`, in minutes.
pub const DEFAULT_TIMEOUT_MINUTES: i64 = 240;

/// An ImageBasedGroupUpgrade: one upgrade plan for a group of managed clusters.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(expecting = "an object")]
pub struct ImageBasedGroupUpgrade<'a> {
    /// Name, generated name, namespace.
    #[serde(borrow)]
    pub metadata: Option<Metadata<'a>>,
    /// Which clusters, what seed image, and the plan.
    #[serde(borrow)]
    pub spec: Option<Spec<'a>>,
    /// TALM's status, in the stored object only.
    #[serde(skip)]
    pub status: Option<Status<'a>>,
    /// Which field made the stored object's status unreadable, if one did: the object
    /// is still judged, and only the rules that read the status refuse to go on.
    #[serde(skip)]
    pub unreadable_status: Option<FieldError>,
    /// The status's summary, made on first use (several rules read it).
    #[serde(skip)]
    summary: Summary,
}

/// A cache of [`Status::progress`], not part of the value: equal objects compare equal
/// whether or not either has been summarised.
#[derive(Debug, Clone, Default)]
struct Summary(OnceLock<Progress>);

impl PartialEq for Summary {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The parts of `metadata` the rules read.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an object")]
pub struct Metadata<'a> {
    /// `metadata.name`.
    #[serde(borrow)]
    pub name: Option<Text<'a>>,
    /// `metadata.generateName`.
    #[serde(borrow)]
    pub generate_name: Option<Text<'a>>,
    /// `metadata.namespace`.
    #[serde(borrow)]
    pub namespace: Option<Text<'a>>,
    /// `metadata.generation`: the apiserver counts changes of `spec`.
    pub generation: Option<i64>,
    /// The annotations a rule reads.
    #[serde(borrow)]
    pub annotations: Option<Annotations<'a>>,
    /// `metadata.deletionTimestamp`: set by the apiserver when a DELETE found finalizers
    /// holding the object; it goes once the last one is removed.
    #[serde(borrow)]
    pub deletion_timestamp: Option<Text<'a>>,
    /// `metadata.finalizers`.
    #[serde(borrow)]
    pub finalizers: Option<Vec<Text<'a>>>,
}

/// Of `metadata.annotations`, only what a rule reads: the others (among them kubectl's
/// `last-applied-configuration`, a copy of the whole object) are skipped unread.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Annotations<'a> {
    /// [`ALLOW_DELETE_ANNOTATION`]'s value.
    pub allow_delete: Option<Text<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for Annotations<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Kept;
        impl<'de> serde::de::Visitor<'de> for Kept {
            type Value = Annotations<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of strings")
            }
            fn visit_map<M: serde::de::MapAccess<'de>>(
                self,
                mut map: M,
            ) -> Result<Annotations<'de>, M::Error> {
                let mut kept = Annotations::default();
                while let Some(key) = map.next_key::<Text<'de>>()? {
                    if key.as_str() == ALLOW_DELETE_ANNOTATION {
                        kept.allow_delete = Some(map.next_value()?);
                    } else {
                        map.next_value::<serde::de::IgnoredAny>()?;
                    }
                }
                Ok(kept)
            }
        }
        d.deserialize_map(Kept)
    }
}

/// `spec`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an object")]
pub struct Spec<'a> {
    /// Which managed clusters the plan acts on.
    #[serde(borrow)]
    pub cluster_label_selectors: Option<Vec<LabelSelector<'a>>>,
    /// The lifecycle-agent ImageBasedUpgrade spec sent to each cluster.
    #[serde(borrow)]
    pub ibu_spec: Option<IbuSpec<'a>>,
    /// The steps.
    #[serde(borrow)]
    pub plan: Option<Vec<Step<'a>>>,
}

/// A label selector of `clusterLabelSelectors`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", expecting = "an object")]
pub struct LabelSelector<'a> {
    /// Requirements, all of which must hold.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub match_expressions: Option<Vec<Requirement<'a>>>,
    /// Labels that must all be present with these values.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub match_labels: Option<BTreeMap<Text<'a>, Text<'a>>>,
}

/// One `matchExpressions` requirement.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(expecting = "an object")]
pub struct Requirement<'a> {
    /// The label key.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub key: Option<Text<'a>>,
    /// `In`, `NotIn`, `Exists`, `DoesNotExist`.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub operator: Option<Text<'a>>,
    /// The values, for `In` and `NotIn`.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub values: Option<Vec<Text<'a>>>,
}

/// One step of the plan: actions that share a rollout strategy.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an object")]
pub struct Step<'a> {
    /// The actions, in the order they run.
    #[serde(borrow)]
    pub actions: Option<Vec<Text<'a>>>,
    /// Clusters per batch and minutes for the step.
    pub rollout_strategy: Option<RolloutStrategy>,
}

/// How a step rolls out: clusters per batch, and minutes for the whole step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", expecting = "an object")]
pub struct RolloutStrategy {
    /// Clusters per batch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_concurrency: Option<i64>,
    /// Minutes for the whole step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<i64>,
}

/// `spec.ibuSpec`, every field the CRD gives it.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", expecting = "an object")]
pub struct IbuSpec<'a> {
    /// The seed image.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub seed_image_ref: Option<SeedImageRef<'a>>,
    /// ConfigMaps of extra manifests to apply on each cluster.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub extra_manifests: Option<Vec<ConfigMapRef<'a>>>,
    /// ConfigMaps of OADP backups to restore on each cluster.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub oadp_content: Option<Vec<ConfigMapRef<'a>>>,
    /// Automatic rollback settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auto_rollback_on_failure: Option<AutoRollback>,
    /// The stage (set by TALM on each cluster's copy).
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub stage: Option<Text<'a>>,
}

/// `ibuSpec.autoRollbackOnFailure`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", expecting = "an object")]
pub struct AutoRollback {
    /// Seconds lifecycle-agent waits for the upgraded cluster before rolling back.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init_monitor_timeout_seconds: Option<i64>,
}

/// The seed image, its OpenShift version, and the Secret to pull it with.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", expecting = "an object")]
pub struct SeedImageRef<'a> {
    /// The pull spec.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub image: Option<Text<'a>>,
    /// The OpenShift version it holds.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub version: Option<Text<'a>>,
    /// The Secret in the IBGU's namespace to pull it with.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub pull_secret_ref: Option<PullSecretRef<'a>>,
}

/// A reference to a Secret in the IBGU's namespace.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(expecting = "an object")]
pub struct PullSecretRef<'a> {
    /// The Secret's name.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text<'a>>,
}

/// A reference to a ConfigMap on the managed cluster.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(expecting = "an object")]
pub struct ConfigMapRef<'a> {
    /// The ConfigMap's name.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub name: Option<Text<'a>>,
    /// Its namespace on the managed cluster.
    #[serde(borrow, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<Text<'a>>,
}

/// The stored object's fields, with `status` read as `S`: the typed status, or its raw
/// text when the typed read failed and the field at fault is to be named.
#[derive(Deserialize)]
#[serde(
    expecting = "an object",
    bound(deserialize = "'de: 'a, S: Deserialize<'de>")
)]
pub(crate) struct StoredFields<'a, S> {
    #[serde(borrow)]
    metadata: Option<Metadata<'a>>,
    #[serde(borrow)]
    spec: Option<Spec<'a>>,
    status: Option<S>,
}

/// A stored object (an UPDATE's `oldObject`), status included.
#[derive(Debug)]
pub struct Stored<'a>(pub ImageBasedGroupUpgrade<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Stored<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = StoredFields::<Status<'a>>::deserialize(d)?;
        Ok(Stored(ImageBasedGroupUpgrade {
            metadata: f.metadata,
            spec: f.spec,
            status: f.status,
            ..Default::default()
        }))
    }
}

impl<'a> ImageBasedGroupUpgrade<'a> {
    /// An object with this metadata and spec, and no status.
    pub fn new(metadata: Option<Metadata<'a>>, spec: Option<Spec<'a>>) -> Self {
        ImageBasedGroupUpgrade {
            metadata,
            spec,
            ..Default::default()
        }
    }

    /// Decodes an object (without its status) from JSON text; a field of the wrong type
    /// is reported at its path.
    pub fn from_json(json: &'a str) -> Result<Self, FieldError> {
        not_an_object(json)?;
        let mut de = serde_json::Deserializer::from_str(json);
        let object = serde_path_to_error::deserialize(&mut de).map_err(decode_error)?;
        de.end()
            .map_err(|e| FieldError::type_invalid(Path::new(""), e.to_string()))?;
        Ok(object)
    }

    /// Decodes an object (without its status) from a JSON value (as read from YAML).
    pub fn from_value(value: &'a Value) -> Result<Self, FieldError> {
        serde_path_to_error::deserialize(value).map_err(decode_error)
    }

    /// Decodes a stored object, status included. A status field of the wrong type does
    /// not fail the object: see [`ImageBasedGroupUpgrade::unreadable_status`].
    pub fn stored_from_json(json: &'a str) -> Result<Self, FieldError> {
        not_an_object(json)?;
        let mut de = serde_json::Deserializer::from_str(json);
        let fields: StoredFields<'a, &'a RawValue> =
            serde_path_to_error::deserialize(&mut de).map_err(decode_error)?;
        de.end()
            .map_err(|e| FieldError::type_invalid(Path::new(""), e.to_string()))?;
        Ok(Self::with_raw_status(fields))
    }

    /// Decodes a stored object, status included, from a JSON value.
    pub fn stored_from_value(value: &'a Value) -> Result<Self, FieldError> {
        let status = value.get("status").filter(|s| !s.is_null());
        let mut object = Self::from_value(value)?;
        match status.map(serde_path_to_error::deserialize::<_, Status<'a>>) {
            None => {}
            Some(Ok(s)) => object.status = Some(s),
            Some(Err(e)) => object.unreadable_status = Some(status_error(e)),
        }
        Ok(object)
    }

    pub(crate) fn with_raw_status(fields: StoredFields<'a, &'a RawValue>) -> Self {
        let mut object = ImageBasedGroupUpgrade {
            metadata: fields.metadata,
            spec: fields.spec,
            ..Default::default()
        };
        if let Some(raw) = fields.status {
            let mut de = serde_json::Deserializer::from_str(raw.get());
            match serde_path_to_error::deserialize::<_, Option<Status<'a>>>(&mut de) {
                Ok(s) => object.status = s,
                Err(e) => object.unreadable_status = Some(status_error(e)),
            }
        }
        object
    }

    /// `metadata.name`, or "" when unset.
    pub fn name(&self) -> &str {
        self.metadata
            .as_ref()
            .and_then(|m| m.name.as_deref())
            .unwrap_or("")
    }

    /// `metadata.namespace`, or "" when unset.
    pub fn namespace(&self) -> &str {
        self.metadata
            .as_ref()
            .and_then(|m| m.namespace.as_deref())
            .unwrap_or("")
    }

    /// `metadata.generation`, when set.
    pub fn generation(&self) -> Option<i64> {
        self.metadata.as_ref()?.generation
    }

    /// Whether [`ALLOW_DELETE_ANNOTATION`] is `"true"`.
    pub fn allows_delete(&self) -> bool {
        self.metadata
            .as_ref()
            .and_then(|m| m.annotations.as_ref())
            .and_then(|a| a.allow_delete.as_deref())
            == Some("true")
    }

    /// Whether the object is being deleted (`metadata.deletionTimestamp` is set).
    pub fn deleting(&self) -> bool {
        self.metadata
            .as_ref()
            .is_some_and(|m| m.deletion_timestamp.is_some())
    }

    /// `metadata.finalizers`, empty when unset.
    pub fn finalizers(&self) -> &[Text<'a>] {
        self.metadata
            .as_ref()
            .and_then(|m| m.finalizers.as_deref())
            .unwrap_or(&[])
    }

    /// The plan's steps, empty when unset.
    pub fn plan(&self) -> &[Step<'a>] {
        self.spec
            .as_ref()
            .and_then(|s| s.plan.as_deref())
            .unwrap_or(&[])
    }

    /// `spec.ibuSpec`, when set.
    pub fn ibu_spec(&self) -> Option<&IbuSpec<'a>> {
        self.spec.as_ref()?.ibu_spec.as_ref()
    }

    /// `spec.ibuSpec.seedImageRef`, when set.
    pub fn seed_image_ref(&self) -> Option<&SeedImageRef<'a>> {
        self.ibu_spec()?.seed_image_ref.as_ref()
    }

    /// `spec.clusterLabelSelectors`, when set.
    pub fn cluster_label_selectors(&self) -> Option<&[LabelSelector<'a>]> {
        self.spec.as_ref()?.cluster_label_selectors.as_deref()
    }

    /// What the update rules need from `status`, or which of its fields could not be
    /// read. An object without status has made no progress.
    pub fn progress(&self) -> Result<&Progress, &FieldError> {
        match &self.unreadable_status {
            Some(e) => Err(e),
            None => Ok(self.summary.0.get_or_init(|| {
                self.status
                    .as_ref()
                    .map(Status::progress)
                    .unwrap_or_default()
            })),
        }
    }

    /// Whether the plan has a step naming `action`.
    pub fn has_action(&self, action: action::Action) -> bool {
        self.plan().iter().any(|s| s.has_action(action.as_str()))
    }
}

impl Step<'_> {
    /// The step's action names, empty when unset.
    pub fn actions(&self) -> &[Text<'_>] {
        self.actions.as_deref().unwrap_or(&[])
    }

    /// Whether the step names `action`.
    pub fn has_action(&self, action: &str) -> bool {
        self.actions().iter().any(|a| a.as_str() == action)
    }

    /// The step's action names as the messages write a step: `[Prep, Upgrade]`.
    pub fn actions_text(&self) -> String {
        let names: Vec<&str> = self.actions().iter().map(|a| a.as_str()).collect();
        format!("[{}]", names.join(", "))
    }
}

/// Refuses a root that is not a JSON object, which serde would read as the fields in
/// order.
fn not_an_object(json: &str) -> Result<(), FieldError> {
    let found = match json.trim_start().as_bytes().first() {
        None | Some(b'{') => return Ok(()),
        Some(b'[') => "array",
        Some(b'"') => "string",
        Some(b't' | b'f') => "boolean",
        Some(b'n') => "null",
        Some(_) => "number",
    };
    Err(decode::not_an_object(found))
}

/// Turns a decoder error into a field error at the path where it happened, in the
/// apiserver's words (`Invalid value: "ten": must be of type integer`).
pub(crate) fn decode_error<E: fmt::Display>(e: serde_path_to_error::Error<E>) -> FieldError {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    decode::field_error(
        Path::from(path.as_str()),
        &strip_position(&e.inner().to_string()),
    )
}

/// A status error, at its path below `status`.
fn status_error<E: fmt::Display>(e: serde_path_to_error::Error<E>) -> FieldError {
    let mut err = decode_error(e);
    err.field = match err.field.as_str() {
        "" => Path::new("status"),
        inner if inner.starts_with('[') => Path::from(format!("status{inner}").as_str()),
        inner => Path::new("status").child(inner),
    };
    err
}

/// Drops serde_json's " at line L column C" suffix: the field path says where.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => msg[..i].to_owned(),
        _ => msg.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_objects_compare_equal_once_one_is_summarised() {
        let json = r#"{"metadata":{"name":"u"},"spec":{"plan":[]}}"#;
        let (a, b) = (
            ImageBasedGroupUpgrade::from_json(json).expect("an object"),
            ImageBasedGroupUpgrade::from_json(json).expect("an object"),
        );
        assert!(a.progress().is_ok());
        assert_eq!(a, b);
    }

    #[test]
    fn wrong_type_is_reported_at_its_path() {
        let err = ImageBasedGroupUpgrade::from_json(
            r#"{"spec":{"plan":[{"actions":["Prep"]},{"rolloutStrategy":{"maxConcurrency":"ten"}}]}}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.field.as_str(),
            "spec.plan[1].rolloutStrategy.maxConcurrency"
        );
        assert_eq!(
            err.to_string(),
            r#"spec.plan[1].rolloutStrategy.maxConcurrency: Invalid value: "ten": must be of type integer"#
        );
    }

    #[test]
    fn wrong_values_are_echoed_as_written() {
        let err = |json: &str| {
            ImageBasedGroupUpgrade::from_json(json)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            err(r#"{"spec":{"plan":[{"rolloutStrategy":{"timeout":100000000000000000000}}]}}"#),
            "spec.plan[0].rolloutStrategy.timeout: Invalid value: 100000000000000000000: must be an integer from -9223372036854775808 to 9223372036854775807"
        );
        assert_eq!(
            err(r#"{"spec":{"plan":[{"actions":[null]}]}}"#),
            "spec.plan[0].actions[0]: Invalid value: null: must be of type string"
        );
        assert_eq!(
            err(r#"{"spec":{"plan":{"actions":[]}}}"#),
            "spec.plan: Invalid value: must be of type array, not object"
        );
        assert_eq!(
            err("[1]"),
            "Invalid value: must be of type object, not array"
        );
        let value =
            serde_json::json!({"spec": {"plan": [{"rolloutStrategy": {"maxConcurrency": 1e20}}]}});
        assert_eq!(
            ImageBasedGroupUpgrade::from_value(&value)
                .unwrap_err()
                .to_string(),
            "spec.plan[0].rolloutStrategy.maxConcurrency: Invalid value: 100000000000000000000: must be an integer from -9223372036854775808 to 9223372036854775807"
        );
    }

    #[test]
    fn null_means_unset() {
        let obj = ImageBasedGroupUpgrade::from_json(r#"{"spec":{"plan":null}}"#).unwrap();
        assert!(obj.plan().is_empty());
    }

    #[test]
    fn strings_are_borrowed_unless_escaped() {
        let obj = ImageBasedGroupUpgrade::from_json(
            r#"{"metadata":{"name":"plain","namespace":"esc\u0061ped"}}"#,
        )
        .unwrap();
        let meta = obj.metadata.as_ref().unwrap();
        assert!(matches!(
            meta.name.as_ref().unwrap().0,
            std::borrow::Cow::Borrowed("plain")
        ));
        assert!(
            matches!(&meta.namespace.as_ref().unwrap().0, std::borrow::Cow::Owned(s) if s == "escaped")
        );
    }

    #[test]
    fn the_incoming_object_skips_status_and_the_stored_one_reads_it() {
        let json =
            r#"{"metadata":{"name":"u"},"status":{"clusters":[{"name":"a","currentAction":{}}]}}"#;
        let incoming = ImageBasedGroupUpgrade::from_json(json).unwrap();
        assert!(incoming.status.is_none());
        let stored = ImageBasedGroupUpgrade::stored_from_json(json).unwrap();
        assert_eq!(stored.progress().unwrap().running_count, 1);
        let odd = ImageBasedGroupUpgrade::stored_from_json(
            r#"{"metadata":{"name":"u"},"status":{"clusters":[{"name":7}]}}"#,
        )
        .unwrap();
        assert_eq!(odd.name(), "u");
        assert_eq!(
            odd.progress().unwrap_err().to_string(),
            "status.clusters[0].name: Invalid value: 7: must be of type string"
        );
    }

    #[test]
    fn trailing_garbage_is_refused() {
        assert!(ImageBasedGroupUpgrade::from_json(r#"{} x"#).is_err());
    }
}
