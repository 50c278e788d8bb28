//! Documents that look like an ImageBasedGroupUpgrade and that kubectl refuses before it
//! sends anything: another version or group (`lcm.openshift.io/v1alpha2`,
//! `lca.openshift.io/v1alpha1`), a kind spelled otherwise (`ImagebasedGroupUpgrade`,
//! `ImageBasedGroupUpgrades`, `IBGU`; the all-lower-case kind is not one: kubectl maps
//! it, see [`is_kind`]), no `apiVersion` or no `kind`, a top-level sequence of
//! them. Skipping them would pass a typo through a pre-merge gate; `check` reports each
//! in kubectl's words.
//!
//! The words are cli-runtime's (`mapper.infoForData`: "resource mapping not found for
//! name: ... ensure CRDs are installed first", "unable to decode"), apimachinery's
//! (`NoKindMatchError`, `NewMissingKindErr`, the unstructured JSON scheme's decoding into
//! its `detector` and `decodeList` types) and Go's JSON decoder's, checked against kubectl
//! 1.32 where no server is needed.

use serde_json::Value;

use crate::model as ibgu;

/// Why kubectl refuses a document, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LookAlike {
    /// The field to point at (`apiVersion`, `kind`, `[0].kind`, `items`; empty for the
    /// whole document).
    pub field: String,
    /// The offending value, as JSON.
    pub value: Option<String>,
    /// kubectl's error.
    pub message: String,
    /// What the hub's CRD serves.
    pub detail: String,
    /// The object named in the outcome (for a sequence, the first that looks alike).
    pub object: Value,
}

/// The refusal for `doc`, read from `source` (the file as named, `-` for stdin), when it
/// looks like an ImageBasedGroupUpgrade and kubectl would not send it; `None` for one it
/// would send, and for documents of other kinds.
pub fn find(source: &str, doc: &Value) -> Option<LookAlike> {
    let source = if source == "-" { "STDIN" } else { source };
    let detail = format!(
        "the hub serves kind {} in apiVersion {}/{}",
        ibgu::KIND,
        ibgu::GROUP,
        ibgu::VERSION
    );
    let refuse =
        |field: String, value: Option<&Value>, message: String, object: &Value| LookAlike {
            field,
            value: value.map(Value::to_string),
            message,
            detail: detail.clone(),
            object: object.clone(),
        };
    let object = match doc {
        Value::Array(items) => {
            let (i, item) = items.iter().enumerate().find(|(_, item)| resembles(item))?;
            let field = if item.get("kind").is_some() {
                format!("[{i}].kind")
            } else {
                format!("[{i}]")
            };
            return Some(refuse(
                field,
                None,
                format!(
                    "unable to decode {source:?}: json: cannot unmarshal array into Go value \
                     of type unstructured.detector"
                ),
                item,
            ));
        }
        Value::Object(object) if resembles(doc) => object,
        _ => return None,
    };
    // A document with `items` is a list to kubectl; [`super::check`] expands sequences.
    if let Some(items) = object
        .get("items")
        .filter(|i| !i.is_array() && !i.is_null())
    {
        return Some(refuse(
            "items".to_owned(),
            Some(items),
            format!(
                "unable to decode {source:?}: json: cannot unmarshal {} into Go struct field \
                 decodeList.items of type []json.RawMessage",
                json_type(items)
            ),
            doc,
        ));
    }
    let text = |field: &str| object.get(field).and_then(Value::as_str).unwrap_or("");
    let (kind, api_version) = (text("kind"), text("apiVersion"));
    // apimachinery's ParseGroupVersion: more than one `/` leaves no kind at all.
    let group_version = match api_version.split('/').collect::<Vec<_>>()[..] {
        [version] => Some(("", version)),
        [group, version] => Some((group, version)),
        _ => None,
    };
    let (Some((group, version)), false) = (group_version, kind.is_empty()) else {
        let field = if object.contains_key("apiVersion") {
            "apiVersion"
        } else {
            ""
        };
        return Some(refuse(
            field.to_owned(),
            object.get(field),
            format!(
                "unable to decode {source:?}: Object 'Kind' is missing in '{}'",
                go_json(doc)
            ),
            doc,
        ));
    };
    if (group, version) == (ibgu::GROUP, ibgu::VERSION) && is_kind(kind) {
        return None;
    }
    let field = if (group, version) == (ibgu::GROUP, ibgu::VERSION) {
        "kind"
    } else if object.contains_key("apiVersion") {
        "apiVersion"
    } else {
        "kind"
    };
    let gv = if group.is_empty() {
        version.to_owned()
    } else {
        format!("{group}/{version}")
    };
    let meta = |field: &str| {
        object
            .get("metadata")
            .and_then(|m| m.get(field))
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned()
    };
    Some(refuse(
        field.to_owned(),
        object.get(field),
        format!(
            "resource mapping not found for name: {:?} namespace: {:?} from {source:?}: \
             no matches for kind {kind:?} in version {gv:?}; ensure CRDs are installed first",
            meta("name"),
            meta("namespace"),
        ),
        doc,
    ))
}

/// kubectl's error for a document that is no object and no sequence of IBGU look-alikes
/// (which [`find`] names): a scalar, or a sequence of anything else. It cannot decode
/// such a document, and refuses the file.
pub fn undecodable(source: &str, doc: &Value) -> Option<String> {
    let source = if source == "-" { "STDIN" } else { source };
    let refused = match doc {
        Value::Null | Value::Object(_) => false,
        Value::Array(_) => find(source, doc).is_none(),
        _ => true,
    };
    refused.then(|| {
        format!(
            "unable to decode {source:?}: json: cannot unmarshal {} into Go value of type \
             unstructured.detector",
            json_type(doc)
        )
    })
}

/// Whether kubectl maps `kind` to the IBGU resource: client-go's discovery mapper knows
/// each served kind as written and all in lower case (`imagebasedgroupupgrade`), and the
/// apiserver admits either.
pub(crate) fn is_kind(kind: &str) -> bool {
    kind == ibgu::KIND || kind == ibgu::KIND.to_ascii_lowercase()
}

/// Whether a document is meant as an ImageBasedGroupUpgrade: its kind is one in any case
/// (or the plural, or the short name), or it has no kind and names the group or holds
/// an `ibuSpec`.
fn resembles(doc: &Value) -> bool {
    let Some(object) = doc.as_object() else {
        return false;
    };
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    // Surrounding blanks too: kubectl maps `"ImageBasedGroupUpgrade "` to nothing.
    let lower = kind.trim().to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "imagebasedgroupupgrade" | "imagebasedgroupupgrades" | "ibgu" | "ibgus"
    ) {
        return true;
    }
    let group = object
        .get("apiVersion")
        .and_then(Value::as_str)
        .and_then(|v| v.split_once('/'))
        .map(|(g, _)| g);
    kind.is_empty()
        && (group == Some(ibgu::GROUP)
            || object.get("spec").and_then(|s| s.get("ibuSpec")).is_some())
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// JSON as Go's encoder writes it (kubectl quotes the document in its error): keys in
/// order, `<`, `>` and `&` escaped.
fn go_json(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ibgu(api_version: Option<&str>, kind: Option<&str>) -> Value {
        let mut doc = json!({
            "metadata": {"name": "u", "namespace": "ztp"},
            "spec": {"ibuSpec": {"seedImageRef": {"image": "quay.io/s:4.20", "version": "4.20.0"}}},
        });
        if let Some(v) = api_version {
            doc["apiVersion"] = json!(v);
        }
        if let Some(k) = kind {
            doc["kind"] = json!(k);
        }
        doc
    }

    fn refusal(doc: &Value) -> Option<(String, String)> {
        find("u.yaml", doc).map(|l| (l.field, l.message))
    }

    #[test]
    fn the_ibgu_and_other_kinds_are_not_look_alikes() {
        assert_eq!(
            refusal(&ibgu(
                Some("lcm.openshift.io/v1alpha1"),
                Some("ImageBasedGroupUpgrade")
            )),
            None
        );
        for other in [
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}),
            json!({"apiVersion": "lca.openshift.io/v1", "kind": "ImageBasedUpgrade"}),
            json!({"resources": ["ibgu.yaml"]}), // a kustomization.yaml without a kind
            json!([{"apiVersion": "v1", "kind": "Secret"}]),
            json!("text"),
        ] {
            assert_eq!(refusal(&other), None, "{other}");
        }
    }

    #[test]
    fn another_version_group_or_kind_is_refused_in_kubectls_words() {
        let mapping = |gv: &str, kind: &str| {
            format!(
                "resource mapping not found for name: \"u\" namespace: \"ztp\" from \"u.yaml\": \
                 no matches for kind \"{kind}\" in version \"{gv}\"; ensure CRDs are installed first"
            )
        };
        for (api_version, kind, field, gv) in [
            (
                "lcm.openshift.io/v1alpha2",
                "ImageBasedGroupUpgrade",
                "apiVersion",
                "lcm.openshift.io/v1alpha2",
            ),
            (
                "lcm.openshift.io/v1",
                "ImageBasedGroupUpgrade",
                "apiVersion",
                "lcm.openshift.io/v1",
            ),
            (
                "lca.openshift.io/v1alpha1",
                "ImageBasedGroupUpgrade",
                "apiVersion",
                "lca.openshift.io/v1alpha1",
            ),
            ("v1", "ImageBasedGroupUpgrade", "apiVersion", "v1"),
            (
                "lcm.openshift.io/v1alpha1",
                "ImagebasedGroupUpgrade",
                "kind",
                "lcm.openshift.io/v1alpha1",
            ),
            (
                "lcm.openshift.io/v1alpha1",
                "ImageBasedGroupUpgrade ",
                "kind",
                "lcm.openshift.io/v1alpha1",
            ),
            (
                "lcm.openshift.io/v1alpha1",
                "ImageBasedGroupUpgrades",
                "kind",
                "lcm.openshift.io/v1alpha1",
            ),
            (
                "lcm.openshift.io/v1alpha1",
                "IBGU",
                "kind",
                "lcm.openshift.io/v1alpha1",
            ),
        ] {
            assert_eq!(
                refusal(&ibgu(Some(api_version), Some(kind))),
                Some((field.to_owned(), mapping(gv, kind))),
                "{api_version} {kind}"
            );
        }
        assert_eq!(
            refusal(&ibgu(None, Some("ImageBasedGroupUpgrade"))),
            Some(("kind".to_owned(), mapping("", "ImageBasedGroupUpgrade")))
        );
        // The kind all in lower case is the IBGU to kubectl: it sends it, and it is checked.
        assert_eq!(
            refusal(&ibgu(
                Some("lcm.openshift.io/v1alpha1"),
                Some("imagebasedgroupupgrade")
            )),
            None
        );
    }

    #[test]
    fn a_missing_kind_a_sequence_and_bad_items_are_undecodable() {
        let doc = ibgu(Some("lcm.openshift.io/v1alpha1"), None);
        let (field, message) = refusal(&doc).expect("refused");
        assert_eq!(field, "apiVersion");
        assert_eq!(
            message,
            format!("unable to decode \"u.yaml\": Object 'Kind' is missing in '{doc}'")
        );
        // No apiVersion either: the ibuSpec gives it away.
        assert!(
            refusal(&ibgu(None, None))
                .is_some_and(|(f, m)| f.is_empty() && m.contains("Object 'Kind' is missing"))
        );
        // Two slashes: apimachinery reads no group, version or kind at all.
        assert!(
            refusal(&ibgu(
                Some("lcm.openshift.io/v1/x"),
                Some("ImageBasedGroupUpgrade")
            ))
            .is_some_and(|(_, m)| m.contains("Object 'Kind' is missing"))
        );
        // Go's encoder escapes <, > and &.
        let mut odd = ibgu(Some("lcm.openshift.io/v1alpha1"), None);
        odd["metadata"]["name"] = json!("<&>");
        assert!(refusal(&odd).is_some_and(|(_, m)| m.contains(r#""name":"\u003c\u0026\u003e""#)));

        let listed = json!([
            {"apiVersion": "v1", "kind": "ConfigMap"},
            ibgu(Some("lcm.openshift.io/v1alpha1"), Some("ImageBasedGroupUpgrade")),
        ]);
        let found = find("-", &listed).expect("refused");
        assert_eq!(found.field, "[1].kind");
        assert_eq!(
            found.message,
            "unable to decode \"STDIN\": json: cannot unmarshal array into Go value of type unstructured.detector"
        );
        assert_eq!(found.object["metadata"]["name"], "u");

        let mut items = ibgu(
            Some("lcm.openshift.io/v1alpha1"),
            Some("ImageBasedGroupUpgrade"),
        );
        items["items"] = json!({"a": 1});
        assert_eq!(
            refusal(&items),
            Some((
                "items".to_owned(),
                "unable to decode \"u.yaml\": json: cannot unmarshal object into Go struct field \
                 decodeList.items of type []json.RawMessage"
                    .to_owned()
            ))
        );
    }
}
