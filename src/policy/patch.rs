//! What the mutations add, twice: as the add-only JSON Patch the apiserver applies
//! (json-patch's types), and to a copy of the object, which the validating rules then
//! judge as it will be stored.
//!
//! Mutations only ever *add* what is missing, so the builder only knows `add`; paths are
//! built from unescaped tokens, which json-patch's pointer type escapes as RFC 6901 says.
//!
//! ```
//! use ibgu_webhook::policy::patch::PatchBuilder;
//!
//! let mut b = PatchBuilder::new();
//! b.add(["metadata", "annotations", "a/b"], "x");
//! let patch = b.build();
//! assert_eq!(serde_json::to_string(&patch).unwrap(),
//!     r#"[{"op":"add","path":"/metadata/annotations/a~1b","value":"x"}]"#);
//! ```

use json_patch::jsonptr::{PointerBuf, Token};
use json_patch::{AddOperation, Patch, PatchOperation};
use serde::Serialize;

use crate::model::{ImageBasedGroupUpgrade, PullSecretRef, RolloutStrategy};

/// Collects `add` operations in the order they must be applied.
#[derive(Debug, Default)]
pub struct PatchBuilder(Vec<PatchOperation>);

impl PatchBuilder {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` at the location named by `tokens`.
    pub fn add<'t>(&mut self, tokens: impl IntoIterator<Item = &'t str>, value: impl Serialize) {
        // Plain structs and numbers: serialising them cannot fail.
        let value = serde_json::to_value(value).unwrap_or_default();
        // One buffer sized for the webhook's paths: `from_tokens` grows its string token
        // by token (docs/performance.md, "Tunings in the code").
        let mut encoded = String::with_capacity(64);
        for token in tokens {
            encoded.push('/');
            encoded.push_str(Token::new(token).encoded());
        }
        // Encoded tokens always make a valid pointer.
        let path = PointerBuf::parse(encoded).unwrap_or_default();
        self.0
            .push(PatchOperation::Add(AddOperation { path, value }));
    }

    /// The finished patch.
    pub fn build(self) -> Patch {
        Patch(self.0)
    }
}

/// The additions of the mutating rules: each is written to the patch and made to the
/// copy of the object in one call, so the two cannot disagree.
#[derive(Debug)]
pub struct Additions<'a> {
    patch: PatchBuilder,
    object: ImageBasedGroupUpgrade<'a>,
}

impl<'a> Additions<'a> {
    /// Nothing added yet to `object`.
    pub fn new(object: &ImageBasedGroupUpgrade<'a>) -> Self {
        Additions {
            patch: PatchBuilder::new(),
            object: object.clone(),
        }
    }

    /// Gives step `i` the fields of `filled` that are set: the whole `rolloutStrategy`
    /// when the step has none, else each field. Fields the step already has stay.
    pub fn rollout_strategy(&mut self, i: usize, filled: RolloutStrategy) {
        let Some(step) = self
            .object
            .spec
            .as_mut()
            .and_then(|s| s.plan.as_mut())
            .and_then(|p| p.get_mut(i))
        else {
            return;
        };
        let idx = i.to_string();
        let at = ["spec", "plan", &idx, "rolloutStrategy"];
        match &mut step.rollout_strategy {
            None => {
                self.patch.add(at, filled);
                step.rollout_strategy = Some(filled);
            }
            Some(rs) => {
                if let (None, Some(m)) = (rs.max_concurrency, filled.max_concurrency) {
                    self.patch.add(at.into_iter().chain(["maxConcurrency"]), m);
                    rs.max_concurrency = Some(m);
                }
                if let (None, Some(t)) = (rs.timeout, filled.timeout) {
                    self.patch.add(at.into_iter().chain(["timeout"]), t);
                    rs.timeout = Some(t);
                }
            }
        }
    }

    /// Sets `spec.ibuSpec.seedImageRef.pullSecretRef` when `seedImageRef` has none.
    pub fn pull_secret_ref(&mut self, secret: PullSecretRef<'a>) {
        let Some(seed) = self
            .object
            .spec
            .as_mut()
            .and_then(|s| s.ibu_spec.as_mut())
            .and_then(|i| i.seed_image_ref.as_mut())
            .filter(|s| s.pull_secret_ref.is_none())
        else {
            return;
        };
        self.patch.add(
            ["spec", "ibuSpec", "seedImageRef", "pullSecretRef"],
            &secret,
        );
        seed.pull_secret_ref = Some(secret);
    }

    /// The patch, and the object as it will be stored.
    pub fn finish(self) -> (Patch, ImageBasedGroupUpgrade<'a>) {
        (self.patch.build(), self.object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_escaped_and_values_kept() {
        let mut b = PatchBuilder::new();
        b.add(
            ["spec", "plan", "0", "rolloutStrategy"],
            serde_json::json!({"timeout": 240}),
        );
        b.add(["a~b", "c/d"], 1);
        let json = serde_json::to_value(b.build()).unwrap();
        assert_eq!(
            json,
            serde_json::json!([
                {"op": "add", "path": "/spec/plan/0/rolloutStrategy", "value": {"timeout": 240}},
                {"op": "add", "path": "/a~0b/c~1d", "value": 1}
            ])
        );
    }

    #[test]
    fn additions_patch_and_copy_agree_and_only_add() {
        let json = r#"{"spec":{"ibuSpec":{"seedImageRef":{"image":"i"}},
            "plan":[{"actions":["Prep"]},{"actions":["Upgrade"],"rolloutStrategy":{"timeout":5}}]}}"#;
        let object = ImageBasedGroupUpgrade::from_json(json).unwrap();
        let mut a = Additions::new(&object);
        let full = RolloutStrategy {
            max_concurrency: Some(3),
            timeout: Some(240),
        };
        a.rollout_strategy(0, full);
        a.rollout_strategy(1, full);
        a.rollout_strategy(9, full);
        a.pull_secret_ref(PullSecretRef {
            name: Some("s".into()),
        });
        a.pull_secret_ref(PullSecretRef {
            name: Some("other".into()),
        });
        let (patch, mutated) = a.finish();
        let mut value: serde_json::Value = serde_json::from_str(json).unwrap();
        json_patch::patch(&mut value, &patch).unwrap();
        assert_eq!(ImageBasedGroupUpgrade::from_value(&value).unwrap(), mutated);
        assert_eq!(mutated.plan()[1].rollout_strategy.unwrap().timeout, Some(5));
        assert_eq!(patch.0.len(), 3);
    }
}
