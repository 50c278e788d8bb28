//! `metadata` as the apiserver checks it for a custom resource before any validating
//! webhook (apimachinery's `ValidateObjectMetaAccessor` with `NameIsDNSSubdomain`): a
//! name or a generateName, each a DNS-1123 subdomain (generateName's trailing `-`
//! aside), a namespace that is a DNS-1123 label, and fields of ObjectMeta's types.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use crate::model::field::{ErrorList, FieldError, Path};
use crate::model::name::{dns1123_label, dns1123_subdomain};

/// Every violation in `metadata` (of an object that has one; the namespace as the
/// apiserver fills it in from the request).
pub fn validate(metadata: Option<&Value>) -> ErrorList {
    let mut errors = ErrorList::new();
    let at = Path::new("metadata");
    let meta: ObjectMeta = match metadata {
        None | Some(Value::Null) => ObjectMeta::default(),
        Some(m) => match serde_path_to_error::deserialize(m) {
            Ok(meta) => meta,
            Err(e) => {
                let field = e.path().to_string();
                let inner = e.into_inner().to_string();
                errors.push(FieldError::type_invalid(
                    if field == "." { at } else { at.child(&field) },
                    inner,
                ));
                return errors;
            }
        },
    };
    let set = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let generate_name = set(&meta.generate_name);
    match (set(&meta.name), &generate_name) {
        (Some(name), _) => named(&at.child("name"), &name, &name, &mut errors),
        (None, None) => errors.push(FieldError::required(
            at.child("name"),
            "name or generateName is required",
        )),
        (None, Some(_)) => {}
    }
    if let Some(prefix) = generate_name {
        // The apiserver appends five characters: only the trailing dash may end it.
        let masked = prefix
            .strip_suffix('-')
            .map_or(prefix.clone(), |p| format!("{p}a"));
        named(&at.child("generateName"), &prefix, &masked, &mut errors);
    }
    if let Some(ns) = set(&meta.namespace) {
        for problem in dns1123_label(&ns) {
            errors.push(FieldError::invalid(at.child("namespace"), &ns, problem));
        }
    }
    errors
}

fn named(at: &Path, shown: &str, checked: &str, errors: &mut ErrorList) {
    for problem in dns1123_subdomain(checked) {
        errors.push(FieldError::invalid(at.clone(), shown, problem));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(meta: Value) -> Vec<String> {
        validate(Some(&meta))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn the_docs_placeholder_name_is_refused() {
        let e = errors(json!({"name": "<filename>", "namespace": "default"}));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with(
                "metadata.name: Invalid value: \"<filename>\": a lowercase RFC 1123 subdomain"
            ),
            "{}",
            e[0]
        );
    }

    #[test]
    fn a_name_or_a_generate_name() {
        assert_eq!(
            errors(json!({})),
            ["metadata.name: Required value: name or generateName is required"]
        );
        assert!(errors(json!({"generateName": "upgrade-"})).is_empty());
        let e = errors(json!({"generateName": "Upgrade-"}));
        assert!(
            e[0].starts_with("metadata.generateName: Invalid value: \"Upgrade-\""),
            "{e:?}"
        );
        assert!(errors(json!({"name": "a.b-c", "namespace": "ztp-1"})).is_empty());
    }

    #[test]
    fn namespaces_are_labels_and_types_are_objectmetas() {
        let e = errors(json!({"name": "u", "namespace": "ztp.group"}));
        assert!(e[0].starts_with(
            "metadata.namespace: Invalid value: \"ztp.group\": a lowercase RFC 1123 label"
        ));
        let e = errors(json!({"name": "u", "labels": {"a": 1}}));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("metadata.labels.a: Invalid value: "),
            "{e:?}"
        );
    }
}
