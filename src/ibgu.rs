//! The `ImageBasedGroupUpgrade` (`lcm.openshift.io/v1alpha1`) model.
//!
//! Field names follow TALM's CRD (`config/crd/bases/lcm.openshift.io_imagebasedgroupupgrades.yaml`).
//! Only what a rule reads is typed; everything else rides in each struct's `extra`, so
//! encoding a decoded object gives back the same JSON.
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
        "clusterLabelSelectors" => cluster_label_selectors: Vec<Value>,
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

object! {
    /// `status`, written by TALM.
    pub struct Status {
        "clusters" => clusters: Vec<ClusterState>,
        "conditions" => conditions: Vec<Condition>,
    }
}

object! {
    /// What one cluster has done, is doing, and failed.
    pub struct ClusterState {
        "name" => name: String,
        "completedActions" => completed_actions: Vec<ActionMessage>,
        "currentAction" => current_action: ActionMessage,
        "failedActions" => failed_actions: Vec<ActionMessage>,
    }
}

object! {
    /// An action and what TALM said about it.
    pub struct ActionMessage {
        "action" => action: String,
        "message" => message: String,
    }
}

object! {
    /// A `metav1.Condition`.
    pub struct Condition {
        "type" => type_: String,
        "status" => status: String,
        "reason" => reason: String,
        "message" => message: String,
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

    /// The clusters in `status`, empty when unset.
    pub fn clusters(&self) -> &[ClusterState] {
        self.status
            .as_ref()
            .and_then(|s| s.clusters.as_deref())
            .unwrap_or(&[])
    }

    /// The condition of type `type_`, when present.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.status
            .as_ref()?
            .conditions
            .as_ref()?
            .iter()
            .find(|c| c.type_.as_deref() == Some(type_))
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

impl ClusterState {
    /// The cluster's failed actions, empty when unset.
    pub fn failed_actions(&self) -> &[ActionMessage] {
        self.failed_actions.as_deref().unwrap_or(&[])
    }
}

/// Turns a decoder error into a field error at the path where it happened.
fn decode_error<E: std::fmt::Display>(e: serde_path_to_error::Error<E>) -> FieldError {
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
    fn trailing_garbage_is_refused() {
        assert!(ImageBasedGroupUpgrade::from_json(r#"{} x"#).is_err());
    }
}
