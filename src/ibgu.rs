//! The `ImageBasedGroupUpgrade` (`lcm.openshift.io/v1alpha1`) model.
//!
//! Field names follow TALM's CRD (`config/crd/bases/lcm.openshift.io_imagebasedgroupupgrades.yaml`).
//! Only what a rule reads is typed; everything else rides in each struct's `extra`, so
//! encoding a decoded object gives back the same JSON, but for `status`: TALM writes it,
//! the webhook never does, and it is read straight into the summary the update rules need
//! ([`ImageBasedGroupUpgrade::progress`], see [`crate::status`]).
//!
//! ```
//! use ibgu_webhook::ibgu::ImageBasedGroupUpgrade;
//!
//! let json = r#"{"apiVersion":"lcm.openshift.io/v1alpha1","kind":"ImageBasedGroupUpgrade",
//!   "metadata":{"name":"u","namespace":"ztp","labels":{"a":"b"}},
//!   "spec":{"plan":[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":10}}],
//!           "futureField":true}}"#;
//! let ibgu = ImageBasedGroupUpgrade::from_json(json).unwrap();
//! assert_eq!(ibgu.plan().len(), 1);
//! // Fields the model does not name survive a round trip.
//! let back: serde_json::Value = serde_json::to_value(&ibgu).unwrap();
//! assert_eq!(back, serde_json::from_str::<serde_json::Value>(json).unwrap());
//! ```

use serde_json::Value;

use crate::field::{FieldError, Path};
use crate::object::object;
pub use crate::object::{Extra, RawJson};
pub use crate::status::{Progress, Status};

/// The API group of the resource.
pub const GROUP: &str = "lcm.openshift.io";
/// The API version this model describes.
pub const VERSION: &str = "v1alpha1";
/// The kind.
pub const KIND: &str = "ImageBasedGroupUpgrade";
/// The resource's plural name.
pub const RESOURCE: &str = "imagebasedgroupupgrades";
/// The CRD default of `rolloutStrategy.timeout`, in minutes.
pub const DEFAULT_TIMEOUT_MINUTES: i64 = 240;

object! {
    /// An ImageBasedGroupUpgrade: one upgrade plan for a group of managed clusters.
    pub struct ImageBasedGroupUpgrade {
        "apiVersion" => api_version: String,
        "kind" => kind: String,
        "metadata" => metadata: Metadata,
        "spec" => spec: Spec,
        stored_only:
        /// Only its summary: see [`ImageBasedGroupUpgrade::progress`].
        "status" => status: Status,
    }
}

object! {
    /// The parts of `metadata` the rules read.
    pub struct Metadata {
        "name" => name: String,
        "generateName" => generate_name: String,
        "namespace" => namespace: String,
    }
}

object! {
    /// `spec`: which clusters, what seed image, and the plan.
    pub struct Spec {
        /// Kept as JSON: the webhook only compares it.
        "clusterLabelSelectors" => cluster_label_selectors: RawJson,
        "ibuSpec" => ibu_spec: IbuSpec,
        "plan" => plan: Vec<Step>,
    }
}

object! {
    /// One step of the plan: actions that share a rollout strategy.
    pub struct Step {
        "actions" => actions: Vec<String>,
        "rolloutStrategy" => rollout_strategy: RolloutStrategy,
    }
}

object! {
    /// How a step rolls out: clusters per batch, and minutes for the whole step.
    pub struct RolloutStrategy {
        "maxConcurrency" => max_concurrency: i64,
        "timeout" => timeout: i64,
    }
}

object! {
    /// `spec.ibuSpec`: the lifecycle-agent `ImageBasedUpgrade` spec sent to each cluster.
    pub struct IbuSpec {
        "seedImageRef" => seed_image_ref: SeedImageRef,
        "extraManifests" => extra_manifests: Vec<ConfigMapRef>,
        "oadpContent" => oadp_content: Vec<ConfigMapRef>,
    }
}

object! {
    /// The seed image, its OpenShift version, and the Secret to pull it with.
    pub struct SeedImageRef {
        "image" => image: String,
        "version" => version: String,
        "pullSecretRef" => pull_secret_ref: PullSecretRef,
    }
}

object! {
    /// A reference to a Secret in the IBGU's namespace.
    pub struct PullSecretRef {
        "name" => name: String,
    }
}

object! {
    /// A reference to a ConfigMap on the managed cluster.
    pub struct ConfigMapRef {
        "name" => name: String,
        "namespace" => namespace: String,
    }
}

/// An admission request's `object`: the object as it would be stored, decoded without
/// its `status`. No rule reads that one: an update of the resource cannot change the
/// status (TALM writes it through the subresource), and the rules read the stored one.
#[derive(Debug)]
pub struct Incoming(pub ImageBasedGroupUpgrade);

impl<'de> serde::Deserialize<'de> for Incoming {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ImageBasedGroupUpgrade::deserialize_fields(d, false).map(Incoming)
    }
}

impl ImageBasedGroupUpgrade {
    /// Decodes an object from JSON text; a malformed field is reported at its path.
    pub fn from_json(json: &str) -> Result<Self, FieldError> {
        let mut de = serde_json::Deserializer::from_str(json);
        let obj = serde_path_to_error::deserialize(&mut de).map_err(decode_error)?;
        de.end()
            .map_err(|e| FieldError::type_invalid(Path::new(""), e.to_string()))?;
        Ok(obj)
    }

    /// Decodes an object from a JSON value (as read from YAML).
    pub fn from_value(value: &Value) -> Result<Self, FieldError> {
        serde_path_to_error::deserialize(value).map_err(decode_error)
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

    /// The plan's steps, empty when unset.
    pub fn plan(&self) -> &[Step] {
        self.spec
            .as_ref()
            .and_then(|s| s.plan.as_deref())
            .unwrap_or(&[])
    }

    /// `spec.ibuSpec.seedImageRef`, when set.
    pub fn seed_image_ref(&self) -> Option<&SeedImageRef> {
        self.spec
            .as_ref()?
            .ibu_spec
            .as_ref()?
            .seed_image_ref
            .as_ref()
    }

    /// `spec.ibuSpec`, when set.
    pub fn ibu_spec(&self) -> Option<&IbuSpec> {
        self.spec.as_ref()?.ibu_spec.as_ref()
    }

    /// What the update rules need from `status`, or which of its fields could not be
    /// read. An object without status has made no progress.
    pub fn progress(&self) -> Result<Progress, FieldError> {
        match &self.status {
            None => Ok(Progress::default()),
            Some(status) => status.progress().cloned().map_err(Clone::clone),
        }
    }
}

impl Step {
    /// The step's action names, empty when unset.
    pub fn actions(&self) -> &[String] {
        self.actions.as_deref().unwrap_or(&[])
    }

    /// Whether the step names `action`.
    pub fn has_action(&self, action: &str) -> bool {
        self.actions().iter().any(|a| a == action)
    }
}

/// Turns a decoder error into a field error at the path where it happened.
pub(crate) fn decode_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> FieldError {
    let path = e.path().to_string();
    let path = if path == "." { String::new() } else { path };
    FieldError::type_invalid(
        Path::from(path.as_str()),
        strip_position(&e.inner().to_string()),
    )
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
    fn wrong_type_is_reported_at_its_path() {
        let err = ImageBasedGroupUpgrade::from_json(
            r#"{"spec":{"plan":[{"actions":["Prep"]},{"rolloutStrategy":{"maxConcurrency":"ten"}}]}}"#,
        )
        .unwrap_err();
        assert_eq!(
            err.field.as_str(),
            "spec.plan[1].rolloutStrategy.maxConcurrency"
        );
        assert!(
            err.detail.contains("invalid type: string"),
            "{}",
            err.detail
        );
        assert!(!err.detail.contains("line"), "{}", err.detail);
    }

    #[test]
    fn null_means_unset() {
        let obj = ImageBasedGroupUpgrade::from_json(r#"{"spec":{"plan":null}}"#).unwrap();
        assert!(obj.plan().is_empty());
    }

    #[test]
    fn progress_summarises_status() {
        let obj = ImageBasedGroupUpgrade::from_json(
            r#"{"status":{"clusters":[{"name":"a","currentAction":{"action":"Prep"},"completedActions":[{"action":"x"}]},
                {"name":"b\u0041","failedActions":[{"action":"Prep","message":"m"}]},{"name":"c","failedActions":[]}],
                "conditions":[{"type":"Progressing","status":"True","reason":"InProgress"}]}}"#,
        )
        .unwrap();
        let p = obj.progress().unwrap();
        assert_eq!(p.clusters, 3);
        assert_eq!(p.running, [("a".to_owned(), "Prep".to_owned())]);
        assert_eq!(p.failed, 1);
        assert_eq!(p.progressing.as_deref(), Some("InProgress"));
        let bad = ImageBasedGroupUpgrade::from_json(r#"{"status":{"clusters":"x"}}"#).unwrap();
        assert_eq!(
            bad.progress().unwrap_err().field.as_str(),
            "status.clusters"
        );
    }

    #[test]
    fn trailing_garbage_is_refused() {
        assert!(ImageBasedGroupUpgrade::from_json(r#"{} x"#).is_err());
    }
}
