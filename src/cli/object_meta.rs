//! `metadata` as the apiserver checks it for a custom resource before any validating
//! webhook (apimachinery's `ValidateObjectMetaAccessor` with `NameIsDNSSubdomain` on
//! CREATE, `ValidateObjectMetaAccessorUpdate` on UPDATE), in its order: a name or a
//! generateName, each a DNS-1123 subdomain (generateName's trailing `-` aside), a
//! namespace that is a DNS-1123 label, label keys and values, annotation keys and their
//! total size, owner references, finalizer names (on CREATE), and fields of ObjectMeta's
//! types. Also the warnings apiextensions gives for a finalizer that is not
//! domain-qualified.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::field::{ErrorList, FieldError, Path, Warning};
use crate::model::name::{dns1123_label, dns1123_subdomain, label_value, qualified_name};

/// apimachinery's `TotalAnnotationSizeLimitB`: keys and values, in bytes.
pub const ANNOTATIONS_MAX_BYTES: usize = 256 * 1024;

/// Finalizers Kubernetes itself writes, which need no domain.
const STANDARD_FINALIZERS: [&str; 3] = ["kubernetes", "orphan", "foregroundDeletion"];

/// What the apiserver says of an object's `metadata`.
#[derive(Debug, Default)]
pub struct Checked {
    /// Every violation, in the order the apiserver finds them.
    pub errors: ErrorList,
    /// The apiserver's warnings (finalizer names).
    pub warnings: Vec<Warning>,
}

/// An owner reference as Go decodes one: a missing field is empty, which validation then
/// names (k8s-openapi's type would refuse it while decoding, in serde's words). The fields
/// are in Go's order, so that a reference shown as a bad value reads as the apiserver's.
#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
struct OwnerReference {
    #[serde(deserialize_with = "null_is_empty")]
    api_version: String,
    #[serde(deserialize_with = "null_is_empty")]
    kind: String,
    #[serde(deserialize_with = "null_is_empty")]
    name: String,
    #[serde(deserialize_with = "null_is_empty")]
    uid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    controller: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    block_owner_deletion: Option<bool>,
}

fn null_is_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// Every violation in `metadata` (of an object that has one; the namespace as the
/// apiserver fills it in from the request), as on a CREATE, or on an UPDATE of the stored
/// object `old`.
pub fn validate(metadata: Option<&Value>, old: Option<&Value>) -> Checked {
    let mut checked = Checked::default();
    let at = Path::new("metadata");
    let (meta, owners) = match decode(metadata) {
        Ok(decoded) => decoded,
        Err(e) => {
            checked.errors.push(e);
            return checked;
        }
    };
    let errors = &mut checked.errors;
    let set = |s: &Option<String>| s.as_deref().filter(|s| !s.is_empty()).map(str::to_owned);
    let generate_name = set(&meta.generate_name);
    if let Some(prefix) = &generate_name {
        // The apiserver appends five characters: only the trailing dash may end it.
        let masked = prefix
            .strip_suffix('-')
            .map_or(prefix.clone(), |p| format!("{p}a"));
        named(&at.child("generateName"), prefix, &masked, errors);
    }
    match (set(&meta.name), &generate_name) {
        (Some(name), _) => named(&at.child("name"), &name, &name, errors),
        (None, None) => errors.push(FieldError::required(
            at.child("name"),
            "name or generateName is required",
        )),
        (None, Some(_)) => {}
    }
    if let Some(ns) = set(&meta.namespace) {
        for problem in dns1123_label(&ns) {
            errors.push(FieldError::invalid(at.child("namespace"), &ns, problem));
        }
    }
    labels(meta.labels.as_ref(), &at.child("labels"), errors);
    annotations(meta.annotations.as_ref(), &at.child("annotations"), errors);
    owner_references(&owners, &at.child("ownerReferences"), errors);
    let finalizers = meta.finalizers.unwrap_or_default();
    let path = at.child("finalizers");
    let added: Vec<&String> = match old {
        // On UPDATE the apiserver checks no finalizer name; it warns of the added ones.
        Some(old) => {
            let before: Vec<&str> = old
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            finalizers
                .iter()
                .filter(|f| !before.contains(&f.as_str()))
                .collect()
        }
        None => {
            finalizer_names(&finalizers, &path, errors);
            finalizers.iter().collect()
        }
    };
    checked.warnings = finalizer_warnings(added, &path);
    checked
}

/// ObjectMeta and its owner references, or the first field of the wrong type.
fn decode(metadata: Option<&Value>) -> Result<(ObjectMeta, Vec<OwnerReference>), FieldError> {
    let at = Path::new("metadata");
    let mut meta = match metadata {
        None | Some(Value::Null) => return Ok(Default::default()),
        Some(m) => m.clone(),
    };
    let owners = match meta
        .as_object_mut()
        .and_then(|m| m.remove("ownerReferences"))
    {
        None | Some(Value::Null) => Vec::new(),
        Some(refs) => typed(&refs, &at.child("ownerReferences"))?,
    };
    Ok((typed(&meta, &at)?, owners))
}

fn typed<T: serde::de::DeserializeOwned>(value: &Value, at: &Path) -> Result<T, FieldError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner().to_string();
        let field = match field.as_str() {
            "." => at.clone(),
            f if f.starts_with('[') => Path::new(&format!("{at}{f}")),
            f => at.child(f),
        };
        FieldError::type_invalid(field, inner)
    })
}

fn named(at: &Path, shown: &str, checked: &str, errors: &mut ErrorList) {
    for problem in dns1123_subdomain(checked) {
        errors.push(FieldError::invalid(at.clone(), shown, problem));
    }
}

/// apimachinery's `ValidateLabels`: every key a qualified name, every value a label value,
/// each error at `metadata.labels` with the key or the value.
fn labels(labels: Option<&BTreeMap<String, String>>, at: &Path, errors: &mut ErrorList) {
    for (key, value) in labels.into_iter().flatten() {
        for problem in qualified_name(key) {
            errors.push(FieldError::invalid(at.clone(), key, problem));
        }
        for problem in label_value(value) {
            errors.push(FieldError::invalid(at.clone(), value, problem));
        }
    }
}

/// apimachinery's `ValidateAnnotations`: every key a qualified name whatever its case, and
/// keys and values together at most [`ANNOTATIONS_MAX_BYTES`].
fn annotations(annotations: Option<&BTreeMap<String, String>>, at: &Path, errors: &mut ErrorList) {
    let mut total = 0usize;
    for (key, value) in annotations.into_iter().flatten() {
        for problem in qualified_name(&key.to_lowercase()) {
            errors.push(FieldError::invalid(at.clone(), key, problem));
        }
        total = total.saturating_add(key.len()).saturating_add(value.len());
    }
    if total > ANNOTATIONS_MAX_BYTES {
        errors.push(FieldError::too_long(at.clone(), ANNOTATIONS_MAX_BYTES));
    }
}

/// apimachinery's `ValidateOwnerReferences`: apiVersion (its version), kind, name and uid
/// set, no Event as an owner, and at most one controller.
fn owner_references(owners: &[OwnerReference], at: &Path, errors: &mut ErrorList) {
    let mut controller: Option<String> = None;
    for owner in owners {
        // schema.FromAPIVersionAndKind: `group/version`, `version`, or nothing it can parse.
        let (group, version) = match owner.api_version.matches('/').count() {
            0 => ("", owner.api_version.as_str()),
            1 => owner.api_version.split_once('/').unwrap_or_default(),
            _ => ("", ""),
        };
        if version.is_empty() {
            errors.push(FieldError::invalid(
                at.child("apiVersion"),
                &owner.api_version,
                "version must not be empty",
            ));
        }
        for (field, value) in [
            ("kind", &owner.kind),
            ("name", &owner.name),
            ("uid", &owner.uid),
        ] {
            if value.is_empty() {
                let detail = format!("{field} must not be empty");
                errors.push(FieldError::invalid(at.child(field), value, detail));
            }
        }
        if (group, version, owner.kind.as_str()) == ("", "v1", "Event") {
            errors.push(FieldError::invalid(
                at.clone(),
                owner,
                "/v1, Kind=Event is disallowed from being an owner",
            ));
        }
        if owner.controller == Some(true) {
            let this = format!("{}/{}", owner.kind, owner.name);
            match &controller {
                Some(first) => errors.push(FieldError::invalid(
                    at.clone(),
                    owners,
                    format!(
                        "Only one reference can have Controller set to true. Found \"true\" in \
                         references for {first} and {this}"
                    ),
                )),
                None => controller = Some(this),
            }
        }
    }
}

/// apimachinery's `ValidateFinalizers`: each a qualified name, and not both `orphan` and
/// `foregroundDeletion`.
fn finalizer_names(finalizers: &[String], at: &Path, errors: &mut ErrorList) {
    for finalizer in finalizers {
        for problem in qualified_name(finalizer) {
            errors.push(FieldError::invalid(at.clone(), finalizer, problem));
        }
    }
    let has = |f: &str| finalizers.iter().any(|g| g == f);
    if has("orphan") && has("foregroundDeletion") {
        errors.push(FieldError::invalid(
            at.clone(),
            finalizers,
            "finalizer orphan and foregroundDeletion cannot be both set",
        ));
    }
}

/// apiextensions' warnings for the finalizers a write adds (sorted, each once): one that
/// is not a qualified name, and one without a `/` that Kubernetes does not own itself.
fn finalizer_warnings(mut added: Vec<&String>, at: &Path) -> Vec<Warning> {
    added.sort();
    added.dedup();
    let mut warnings = Vec::new();
    for finalizer in added {
        let warn = |message: &str| Warning::new(at.clone(), format!("{finalizer:?}: {message}"));
        warnings.extend(qualified_name(finalizer).iter().map(|m| warn(m)));
        if !finalizer.contains('/') && !STANDARD_FINALIZERS.contains(&finalizer.as_str()) {
            warnings.push(warn(if finalizer.contains('.') {
                "prefer a domain-qualified finalizer name including a path (/) to avoid \
                 accidental conflicts with other finalizer writers"
            } else {
                "prefer a domain-qualified finalizer name to avoid accidental conflicts with \
                 other finalizer writers"
            }));
        }
    }
    warnings
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn errors(meta: Value) -> Vec<String> {
        validate(Some(&meta), None)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn warnings(meta: Value, old: Option<Value>) -> Vec<String> {
        validate(Some(&meta), old.as_ref())
            .warnings
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
        // The apiserver's order: generateName, then name.
        let e = errors(json!({"name": "A", "generateName": "B-"}));
        assert!(e[0].starts_with("metadata.generateName: "), "{e:?}");
        assert!(e[1].starts_with("metadata.name: "), "{e:?}");
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
        let e = errors(json!({"name": "u", "ownerReferences": [{"uid": 5}]}));
        assert_eq!(e.len(), 1);
        assert!(
            e[0].starts_with("metadata.ownerReferences[0].uid: Invalid value: "),
            "{e:?}"
        );
        let e = errors(json!({"name": "u", "ownerReferences": {"uid": "x"}}));
        assert!(
            e[0].starts_with("metadata.ownerReferences: Invalid value: "),
            "{e:?}"
        );
    }

    #[test]
    fn label_keys_and_values() {
        let e = errors(json!({"name": "u", "labels": {
            "app.kubernetes.io/name": "ibgu", "team": "", "Bad Key": "v", "k": "bad value",
            "x/y/z": "v", "k2": "a".repeat(64)}}));
        assert_eq!(
            e,
            [
                "metadata.labels: Invalid value: \"Bad Key\": name part must consist of \
                 alphanumeric characters, '-', '_' or '.', and must start and end with an \
                 alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used \
                 for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
                    .to_owned(),
                "metadata.labels: Invalid value: \"bad value\": a valid label must be an empty \
                 string or consist of alphanumeric characters, '-', '_' or '.', and must start \
                 and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or \
                 '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
                    .to_owned(),
                format!(
                    "metadata.labels: Invalid value: \"{}\": must be no more than 63 characters",
                    "a".repeat(64)
                ),
                "metadata.labels: Invalid value: \"x/y/z\": a qualified name must consist of \
                 alphanumeric characters, '-', '_' or '.', and must start and end with an \
                 alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used \
                 for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional \
                 DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
                    .to_owned(),
            ]
        );
    }

    #[test]
    fn annotation_keys_any_case_and_their_total_size() {
        let ok = json!({"name": "u", "annotations": {
            "ran.openshift.io/ztp-deploy-wave": "1", "Example.COM/Key": "", "MixedCase": "x"}});
        assert!(errors(ok).is_empty());
        let e = errors(json!({"name": "u", "annotations": {"a b": "x", "/x": "y"}}));
        assert_eq!(e.len(), 2, "{e:?}");
        assert_eq!(
            e[0],
            "metadata.annotations: Invalid value: \"/x\": prefix part must be non-empty"
        );
        assert!(
            e[1].starts_with("metadata.annotations: Invalid value: \"a b\": name part"),
            "{e:?}"
        );
        // Keys count: 262,144 bytes in all pass, one more does not.
        let value = |n: usize| "v".repeat(n);
        let at_limit = json!({"name": "u", "annotations": {"k": value(ANNOTATIONS_MAX_BYTES - 1)}});
        assert!(errors(at_limit).is_empty());
        let over = json!({"name": "u", "annotations": {
            "k": value(ANNOTATIONS_MAX_BYTES / 2), "l": value(ANNOTATIONS_MAX_BYTES / 2)}});
        assert_eq!(
            errors(over),
            ["metadata.annotations: Too long: may not be more than 262144 bytes"]
        );
    }

    #[test]
    fn owner_references_need_their_four_fields_and_one_controller() {
        let good = json!({"apiVersion": "cluster.open-cluster-management.io/v1beta1",
            "kind": "Placement", "name": "p", "uid": "6f1c", "controller": true});
        assert!(errors(json!({"name": "u", "ownerReferences": [good]})).is_empty());
        let e = errors(json!({"name": "u", "ownerReferences": [{"apiVersion": "a/b/c"}]}));
        assert_eq!(
            e,
            [
                "metadata.ownerReferences.apiVersion: Invalid value: \"a/b/c\": version must \
                 not be empty",
                "metadata.ownerReferences.kind: Invalid value: \"\": kind must not be empty",
                "metadata.ownerReferences.name: Invalid value: \"\": name must not be empty",
                "metadata.ownerReferences.uid: Invalid value: \"\": uid must not be empty",
            ]
        );
        let e = errors(json!({"name": "u", "ownerReferences": [
            {"apiVersion": "lcm.openshift.io/", "kind": "K", "name": "n", "uid": null}]}));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(e[0].ends_with("\"lcm.openshift.io/\": version must not be empty"));
        let event = json!({"apiVersion": "v1", "kind": "Event", "name": "e", "uid": "1"});
        assert_eq!(
            errors(json!({"name": "u", "ownerReferences": [event]})),
            ["metadata.ownerReferences: Invalid value: \
                 {\"apiVersion\":\"v1\",\"kind\":\"Event\",\"name\":\"e\",\"uid\":\"1\"}: \
                 /v1, Kind=Event is disallowed from being an owner"]
        );
        let two = json!([
            {"apiVersion": "v1", "kind": "ConfigMap", "name": "a", "uid": "1", "controller": true},
            {"apiVersion": "v1", "kind": "Secret", "name": "b", "uid": "2", "controller": false},
            {"apiVersion": "v1", "kind": "Secret", "name": "c", "uid": "3", "controller": true,
             "blockOwnerDeletion": true},
        ]);
        assert_eq!(
            errors(json!({"name": "u", "ownerReferences": two})),
            ["metadata.ownerReferences: Invalid value: [\
                 {\"apiVersion\":\"v1\",\"kind\":\"ConfigMap\",\"name\":\"a\",\"uid\":\"1\",\"controller\":true},\
                 {\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"name\":\"b\",\"uid\":\"2\",\"controller\":false},\
                 {\"apiVersion\":\"v1\",\"kind\":\"Secret\",\"name\":\"c\",\"uid\":\"3\",\"controller\":true,\
                 \"blockOwnerDeletion\":true}]: \
                 Only one reference can have Controller set to true. Found \"true\" in references \
                 for ConfigMap/a and Secret/c"]
        );
    }

    #[test]
    fn finalizer_names_on_create_warnings_for_added_ones() {
        let meta = json!({"name": "u", "finalizers": [
            "lcm.openshift.io/ibgu", "orphan", "cleanup", "finalizers.example.com"]});
        assert!(errors(meta.clone()).is_empty());
        assert_eq!(
            warnings(meta.clone(), None),
            [
                "metadata.finalizers: \"cleanup\": prefer a domain-qualified finalizer name to \
                 avoid accidental conflicts with other finalizer writers",
                "metadata.finalizers: \"finalizers.example.com\": prefer a domain-qualified \
                 finalizer name including a path (/) to avoid accidental conflicts with other \
                 finalizer writers",
            ]
        );
        // On UPDATE only the added ones warn.
        let old = json!({"metadata": {"finalizers": ["cleanup"]}});
        assert_eq!(warnings(meta, Some(old)).len(), 1);

        let e = errors(json!({"name": "u", "finalizers": ["a b", "orphan", "foregroundDeletion"]}));
        assert_eq!(e.len(), 2, "{e:?}");
        assert!(
            e[0].starts_with("metadata.finalizers: Invalid value: \"a b\": name part must"),
            "{e:?}"
        );
        assert_eq!(
            e[1],
            "metadata.finalizers: Invalid value: [\"a b\",\"orphan\",\"foregroundDeletion\"]: \
             finalizer orphan and foregroundDeletion cannot be both set"
        );
        // An UPDATE checks no finalizer name: the bad one only warns.
        let bad = json!({"name": "u", "finalizers": ["a b"]});
        let checked = validate(Some(&bad), Some(&json!({})));
        assert!(checked.errors.is_empty());
        assert_eq!(checked.warnings.len(), 2, "{:?}", checked.warnings);
    }

    #[test]
    fn every_violation_in_the_apiservers_order() {
        let e = errors(
            json!({"name": "U", "namespace": "N", "labels": {"k": "a b"},
            "annotations": {"a b": ""}, "finalizers": ["c d"],
            "ownerReferences": [{"apiVersion": "v1", "kind": "K", "name": "n"}]}),
        );
        let fields: Vec<&str> = e
            .iter()
            .map(|e| e.split(':').next().unwrap_or(""))
            .collect();
        assert_eq!(
            fields,
            [
                "metadata.name",
                "metadata.namespace",
                "metadata.labels",
                "metadata.annotations",
                "metadata.ownerReferences.uid",
                "metadata.finalizers",
            ]
        );
    }
}
