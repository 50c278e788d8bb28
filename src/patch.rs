//! Building the RFC 6902 JSON Patch a mutation answers with.
//!
//! Mutations here only ever *add* what is missing, so the builder only knows `add`. Paths
//! are built from tokens, which escapes `~` and `/` as RFC 6901 requires.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use serde_json::Value;

/// Collects `add` operations in the order they must be applied.
#[derive(Debug, Default)]
pub struct PatchBuilder {
    ops: Vec<PatchOperation>,
}

impl PatchBuilder {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` at the location named by `tokens` (unescaped reference tokens).
    pub fn add<'t>(&mut self, tokens: impl IntoIterator<Item = &'t str>, value: Value) {
        self.ops.push(PatchOperation::Add(AddOperation {
            path: PointerBuf::from_tokens(tokens),
            value,
        }));
    }

    /// The finished patch.
    pub fn build(self) -> Patch {
        Patch(self.ops)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_tokens() {
        let mut b = PatchBuilder::new();
        b.add(["metadata", "annotations", "a/b~c"], json!("x"));
        let s = serde_json::to_string(&b.build()).unwrap();
        assert_eq!(
            s,
            r#"[{"op":"add","path":"/metadata/annotations/a~1b~0c","value":"x"}]"#
        );
    }
}
