//! The documented GitOps flow as a repository commits it, one step per commit (TALM's
//! kuttl flow prep-abort-upgrade-abort-finalize): [Prep], then +[AbortOnFailure],
//! +[Upgrade], +[AbortOnFailure], +[FinalizeUpgrade]. Some steps leave their rollout
//! strategy, or part of it, to the defaults, as manifests in git do.
// Each test crate uses a part of it.
#![allow(dead_code)]

/// The flow's steps, as YAML flow mappings.
pub const FLOW: [&str; 5] = [
    "{actions: [Prep], rolloutStrategy: {maxConcurrency: 2, timeout: 30}}",
    "{actions: [AbortOnFailure]}",
    "{actions: [Upgrade], rolloutStrategy: {maxConcurrency: 2, timeout: 60}}",
    "{actions: [AbortOnFailure], rolloutStrategy: {maxConcurrency: 2}}",
    "{actions: [FinalizeUpgrade], rolloutStrategy: {maxConcurrency: 2, timeout: 30}}",
];

/// The seed image of the flow.
pub const SEED: &str = "quay.io/seed/image:4.20.0";

/// The manifest git holds, with these steps: no resourceVersion, uid, generation or
/// status.
pub fn manifest(image: &str, steps: &[&str]) -> String {
    let mut text = format!(
        "apiVersion: lcm.openshift.io/v1alpha1
kind: ImageBasedGroupUpgrade
metadata:
  name: upgrade-4-20
  namespace: ztp-group
spec:
  clusterLabelSelectors:
    - matchExpressions:
        - key: name
          operator: In
          values: [spoke1, spoke4, spoke6]
  ibuSpec:
    seedImageRef:
      image: {image}
      version: 4.20.0
  plan:
"
    );
    for step in steps {
        text.push_str(&format!("    - {step}\n"));
    }
    text
}
