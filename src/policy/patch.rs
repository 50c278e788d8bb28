//! The add-only JSON Patch a mutation answers with, as json-patch's types.
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

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use serde::Serialize;

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
        self.0.push(PatchOperation::Add(AddOperation {
            path: PointerBuf::from_tokens(tokens),
            value,
        }));
    }

    /// The finished patch.
    pub fn build(self) -> Patch {
        Patch(self.0)
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
}
