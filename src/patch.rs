//! Building the RFC 6902 JSON Patch a mutation answers with.
//!
//! Mutations here only ever *add* what is missing, so the builder only knows `add`. Paths
//! are built from tokens, which escapes `~` and `/` as RFC 6901 requires. The patch is
//! written as JSON text as it is built: a mutating reply carries it base64-encoded, so
//! building `json_patch` values first would only be torn down again to encode them.
//! [`JsonPatch::to_patch`] gives the `json_patch` form for applying it.
//!
//! ```
//! use ibgu_webhook::patch::PatchBuilder;
//!
//! let mut b = PatchBuilder::new();
//! b.add(["metadata", "annotations", "a/b"], &"x");
//! let patch = b.build();
//! assert_eq!(patch.as_bytes(), br#"[{"op":"add","path":"/metadata/annotations/a~1b","value":"x"}]"#);
//! assert_eq!(patch.to_patch().0.len(), 1);
//! ```

use serde::Serialize;

/// Collects `add` operations in the order they must be applied.
#[derive(Debug, Default)]
pub struct PatchBuilder {
    json: Vec<u8>,
    ops: usize,
}

impl PatchBuilder {
    /// An empty patch.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `value` at the location named by `tokens` (unescaped reference tokens).
    pub fn add<'t>(&mut self, tokens: impl IntoIterator<Item = &'t str>, value: &impl Serialize) {
        self.json
            .extend_from_slice(if self.ops == 0 { b"[" } else { b"," });
        self.json.extend_from_slice(br#"{"op":"add","path":""#);
        for token in tokens {
            self.json.push(b'/');
            // Field names and indexes need no escaping, for JSON Pointer or JSON: one look
            // at their bytes, then copied as they are.
            let plain = !token.bytes().fold(false, |seen, b| {
                seen | (b < 0x20) | matches!(b, b'~' | b'/' | b'"' | b'\\')
            });
            if plain {
                self.json.extend_from_slice(token.as_bytes());
            } else {
                push_json_chars(&mut self.json, &token.replace('~', "~0").replace('/', "~1"));
            }
        }
        self.json.extend_from_slice(br#"","value":"#);
        // A plain serialisable value into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut self.json, value);
        self.json.push(b'}');
        self.ops += 1;
    }

    /// The finished patch.
    pub fn build(mut self) -> JsonPatch {
        if self.ops == 0 {
            self.json.push(b'[');
        }
        self.json.push(b']');
        JsonPatch {
            json: self.json,
            ops: self.ops,
        }
    }
}

/// Appends `s` as the inside of a JSON string, as serde_json writes it. Without a byte to
/// escape (a control character, `"` or `\\`), as in nearly every field name, index,
/// warning and uid, it is copied whole; the check has no early exit, so it compiles to
/// vector instructions. Shared with the reply encoder ([`crate::admission`]).
pub(crate) fn push_json_chars(out: &mut Vec<u8>, s: &str) {
    let plain = !s.bytes().fold(false, |seen, b| {
        seen | (b < 0x20) | (b == b'"') | (b == b'\\')
    });
    if plain {
        out.extend_from_slice(s.as_bytes());
        return;
    }
    // A string into a Vec cannot fail; serde's quotes are dropped.
    let mut quoted = Vec::with_capacity(s.len() + 8);
    let _ = serde_json::to_writer(&mut quoted, s);
    if let [b'"', inner @ .., b'"'] = quoted.as_slice() {
        out.extend_from_slice(inner);
    }
}

/// A finished JSON Patch, as the JSON text sent to the apiserver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonPatch {
    json: Vec<u8>,
    ops: usize,
}

impl Default for JsonPatch {
    /// The empty patch, `[]`.
    fn default() -> Self {
        PatchBuilder::new().build()
    }
}

impl JsonPatch {
    /// The number of operations.
    pub fn len(&self) -> usize {
        self.ops
    }

    /// Whether there is nothing to change.
    pub fn is_empty(&self) -> bool {
        self.ops == 0
    }

    /// The JSON text.
    pub fn as_bytes(&self) -> &[u8] {
        &self.json
    }

    /// The JSON text, owned.
    pub fn into_bytes(self) -> Vec<u8> {
        self.json
    }

    /// The patch as `json_patch` operations, to apply it.
    pub fn to_patch(&self) -> json_patch::Patch {
        // The builder writes only well-formed `add` operations.
        serde_json::from_slice(&self.json).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn escapes_tokens() {
        let mut b = PatchBuilder::new();
        b.add(["metadata", "annotations", "a/b~c\"d"], &json!("x"));
        let p = b.build();
        assert_eq!(
            std::str::from_utf8(p.as_bytes()).unwrap(),
            r#"[{"op":"add","path":"/metadata/annotations/a~1b~0c\"d","value":"x"}]"#
        );
        let ops = p.to_patch();
        assert_eq!(ops.0.len(), 1);
        let json_patch::PatchOperation::Add(add) = &ops.0[0] else {
            panic!("{ops:?}")
        };
        assert_eq!(add.path.as_str(), "/metadata/annotations/a~1b~0c\"d");
    }

    #[test]
    fn empty_and_several() {
        let p = PatchBuilder::new().build();
        assert!(p.is_empty());
        assert_eq!(p.as_bytes(), b"[]");
        let mut b = PatchBuilder::new();
        b.add(["a"], &1);
        b.add(["b", "0"], &json!({"c": null}));
        let p = b.build();
        assert_eq!(p.len(), 2);
        assert_eq!(
            serde_json::from_slice::<serde_json::Value>(p.as_bytes()).unwrap(),
            json!([{"op":"add","path":"/a","value":1},{"op":"add","path":"/b/0","value":{"c":null}}])
        );
    }

    proptest::proptest! {
        /// What the server relies on instead of re-reading every patch it sends: whatever
        /// the tokens and values, the builder writes a JSON Patch of `add` operations whose
        /// paths name those tokens.
        #[test]
        fn builds_well_formed_patches(
            ops in proptest::collection::vec(
                (proptest::collection::vec(".{0,6}", 0..4), proptest::arbitrary::any::<(i64, String, bool)>()),
                0..5,
            )
        ) {
            let mut b = PatchBuilder::new();
            for (tokens, value) in &ops {
                b.add(tokens.iter().map(String::as_str), value);
            }
            let p = b.build();
            let parsed: json_patch::Patch = serde_json::from_slice(p.as_bytes()).unwrap();
            proptest::prop_assert_eq!(parsed.0.len(), ops.len());
            proptest::prop_assert_eq!(p.len(), ops.len());
            for (op, (tokens, value)) in parsed.0.iter().zip(&ops) {
                let json_patch::PatchOperation::Add(add) = op else {
                    return Err(proptest::test_runner::TestCaseError::fail(format!("{op:?}")));
                };
                let back: Vec<String> = add.path.tokens().map(|t| t.decoded().into_owned()).collect();
                proptest::prop_assert_eq!(&back, tokens);
                proptest::prop_assert_eq!(&add.value, &serde_json::to_value(value).unwrap());
            }
        }
    }
}
