//! The CRD's structural schema, applied as the apiserver applies it to a custom resource:
//! on decoding, unknown fields are found (kubectl's default strict field validation
//! refuses them: `unknown field "spec.actions"`) and pruned, `null`s of fields that are
//! not `nullable` dropped and schema defaults filled in; after the mutating webhooks the
//! object is validated against the schema (types, required fields, enums, bounds,
//! patterns, lengths and item counts) by the `jsonschema` crate, over the
//! `openAPIV3Schema` turned into the JSON Schema it means. The CRD's CEL rules
//! (`x-kubernetes-validations`) are not evaluated here: the webhook's rules 2, 3, 6 and 8
//! say the same, and more.

use jsonschema::error::{TypeKind, ValidationErrorKind};
use jsonschema::paths::LocationSegment;
use serde_json::{Map, Value};

use crate::model::field::{ErrorList, FieldError, Path};

/// The ImageBasedGroupUpgrade CRD `check` uses unless told otherwise: TALM's, as vendored.
const VENDORED_CRD: &str = include_str!("../../tests/data/upstream/ibgu-crd.yaml");

/// The CRD's name.
pub const CRD_NAME: &str = "imagebasedgroupupgrades.lcm.openshift.io";

/// Why a CRD cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum CrdError {
    /// The text is not YAML or JSON.
    #[error("not a readable CRD: {0}")]
    Unreadable(String),
    /// It is another CRD.
    #[error("not the {CRD_NAME} CRD (metadata.name is {0:?})")]
    OtherCrd(String),
    /// It does not serve the version with a schema.
    #[error("the CRD has no schema for version {0}")]
    NoSchema(String),
    /// The schema is not one a validator can be built from.
    #[error("the CRD's schema for {version} cannot be used: {message}")]
    BadSchema {
        /// The version.
        version: String,
        /// What the validator said.
        message: String,
    },
}

/// One version's structural schema, and its validator.
pub struct Schema {
    structural: Value,
    validator: jsonschema::Validator,
}

impl std::fmt::Debug for Schema {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Schema").finish_non_exhaustive()
    }
}

/// What decoding found: the unknown fields it pruned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Decoded {
    /// Fields the schema does not declare, in the order of the object.
    pub unknown: Vec<Path>,
}

impl Schema {
    /// The vendored CRD's schema for `version`.
    pub fn vendored(version: &str) -> Result<Self, CrdError> {
        Self::from_crd(VENDORED_CRD, version)
    }

    /// The schema for `version` in a CRD given as YAML or JSON (`kubectl get crd
    /// imagebasedgroupupgrades.lcm.openshift.io -o yaml`).
    pub fn from_crd(text: &str, version: &str) -> Result<Self, CrdError> {
        let crd: Value =
            serde_saphyr::from_str(text).map_err(|e| CrdError::Unreadable(e.to_string()))?;
        let name = crd.pointer("/metadata/name").and_then(Value::as_str);
        if name != Some(CRD_NAME) {
            return Err(CrdError::OtherCrd(name.unwrap_or_default().to_owned()));
        }
        let structural = crd
            .pointer("/spec/versions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|v| v.get("name").and_then(Value::as_str) == Some(version))
            .and_then(|v| v.pointer("/schema/openAPIV3Schema"))
            .filter(|s| s.is_object())
            .ok_or_else(|| CrdError::NoSchema(version.to_owned()))?
            .clone();
        let validator = jsonschema::draft4::options()
            .should_validate_formats(true)
            .build(&json_schema(&structural))
            .map_err(|e| CrdError::BadSchema {
                version: version.to_owned(),
                message: e.to_string(),
            })?;
        Ok(Schema {
            structural,
            validator,
        })
    }

    /// Decodes `object` as the apiserver does before any webhook: prunes the fields the
    /// schema does not declare (and reports them), drops `null`s of fields that are not
    /// nullable, and fills in schema defaults.
    pub fn decode(&self, object: &mut Value) -> Decoded {
        let mut decoded = Decoded::default();
        walk(&self.structural, object, &Path::new(""), true, &mut decoded);
        decoded
    }

    /// Validates `object` against the schema, every violation at once, in apimachinery's
    /// words (`spec.plan[0].rolloutStrategy.maxConcurrency: Invalid value: "ten": ... in
    /// body must be of type integer: "string"`).
    pub fn validate(&self, object: &Value) -> ErrorList {
        let mut errors = ErrorList::new();
        for e in self.validator.iter_errors(object) {
            let mut path = Path::new("");
            for segment in e.instance_path().segments() {
                path = match segment {
                    LocationSegment::Property(p) => path.child(&p),
                    LocationSegment::Index(i) => path.index(i),
                };
            }
            errors.push(field_error(path, e.instance(), e.kind()));
        }
        errors
    }
}

/// ObjectMeta's fields: what strict decoding knows under `metadata`.
const OBJECT_META: [&str; 16] = [
    "annotations",
    "creationTimestamp",
    "deletionGracePeriodSeconds",
    "deletionTimestamp",
    "finalizers",
    "generateName",
    "generation",
    "labels",
    "managedFields",
    "name",
    "namespace",
    "ownerReferences",
    "resourceVersion",
    "selfLink",
    "uid",
    "clusterName",
];

fn flag(schema: &Value, name: &str) -> bool {
    schema.get(name).and_then(Value::as_bool) == Some(true)
}

/// Prunes, drops non-nullable `null`s and defaults, depth first, as apiextensions'
/// structural pruning and defaulting do.
fn walk(schema: &Value, value: &mut Value, at: &Path, root: bool, out: &mut Decoded) {
    match value {
        Value::Object(map) => {
            let properties = schema.get("properties").and_then(Value::as_object);
            let additional = schema.get("additionalProperties");
            let preserve = flag(schema, "x-kubernetes-preserve-unknown-fields");
            let keys: Vec<String> = map.keys().cloned().collect();
            for key in keys {
                let here = at.child(&key);
                if root && key == "metadata" {
                    known_metadata(map.get(&key), &here, out);
                    continue;
                }
                let field_schema = properties
                    .and_then(|p| p.get(&key))
                    .or_else(|| additional.filter(|a| a.is_object()));
                match field_schema {
                    Some(s) => {
                        if map.get(&key).is_some_and(Value::is_null) && !flag(s, "nullable") {
                            map.remove(&key);
                        } else if let Some(v) = map.get_mut(&key) {
                            walk(s, v, &here, false, out);
                        }
                    }
                    None if preserve || additional.and_then(Value::as_bool) == Some(true) => {}
                    None if root && (key == "apiVersion" || key == "kind") => {}
                    None => {
                        out.unknown.push(here);
                        map.remove(&key);
                    }
                }
            }
            for (key, s) in properties.into_iter().flatten() {
                if let Some(default) = s.get("default")
                    && !map.contains_key(key)
                {
                    map.insert(key.clone(), default.clone());
                }
            }
        }
        Value::Array(items) => {
            if let Some(s) = schema.get("items") {
                for (i, item) in items.iter_mut().enumerate() {
                    walk(s, item, &at.index(i), false, out);
                }
            }
        }
        _ => {}
    }
}

fn known_metadata(metadata: Option<&Value>, at: &Path, out: &mut Decoded) {
    if let Some(Value::Object(m)) = metadata {
        for key in m.keys().filter(|k| !OBJECT_META.contains(&k.as_str())) {
            out.unknown.push(at.child(key));
        }
    }
}

/// The JSON Schema (draft 4, whose `exclusiveMinimum` is OpenAPI 3.0's) that an OpenAPI
/// v3 structural schema means: `nullable` and `x-kubernetes-int-or-string` become types,
/// `x-kubernetes-preserve-unknown-fields` without a type takes anything, and what only
/// documents or defaults is dropped.
fn json_schema(openapi: &Value) -> Value {
    let Some(node) = openapi.as_object() else {
        return Value::Object(Map::new());
    };
    let mut out = Map::new();
    for (key, v) in node {
        let converted = match key.as_str() {
            "properties" => Value::Object(
                v.as_object()
                    .into_iter()
                    .flatten()
                    .map(|(k, s)| (k.clone(), json_schema(s)))
                    .collect(),
            ),
            "items" | "not" => json_schema(v),
            "additionalProperties" if v.is_object() => json_schema(v),
            "allOf" | "anyOf" | "oneOf" => Value::Array(
                v.as_array()
                    .into_iter()
                    .flatten()
                    .map(json_schema)
                    .collect(),
            ),
            "type" if flag(openapi, "nullable") => {
                Value::Array(vec![v.clone(), Value::from("null")])
            }
            "type"
            | "required"
            | "enum"
            | "minimum"
            | "maximum"
            | "exclusiveMinimum"
            | "exclusiveMaximum"
            | "minLength"
            | "maxLength"
            | "pattern"
            | "minItems"
            | "maxItems"
            | "uniqueItems"
            | "multipleOf"
            | "format"
            | "minProperties"
            | "maxProperties"
            | "additionalProperties" => v.clone(),
            _ => continue,
        };
        out.insert(key.clone(), converted);
    }
    if flag(openapi, "x-kubernetes-int-or-string") {
        out.insert("type".into(), serde_json::json!(["integer", "string"]));
    }
    Value::Object(out)
}

/// A JSON value as apimachinery prints it in an error: its JSON text.
fn shown(v: &Value) -> String {
    v.to_string()
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// One schema violation, in the words kube-openapi's validator gives the apiserver.
fn field_error(at: Path, instance: &Value, kind: &ValidationErrorKind) -> FieldError {
    let body = format!("{at} in body");
    let invalid = |detail: String| FieldError::invalid(at.clone(), instance, detail);
    match kind {
        ValidationErrorKind::Required { property } => {
            let name = property.as_str().unwrap_or_default();
            FieldError::required(at.child(name), "")
        }
        ValidationErrorKind::Type { kind } => {
            let wanted = match kind {
                TypeKind::Single(t) => t.to_string(),
                TypeKind::Multiple(ts) => {
                    let names: Vec<String> = ts.iter().map(|t| t.to_string()).collect();
                    names.join(" or ")
                }
            };
            let actual = type_name(instance);
            FieldError::wrong_type(
                at.clone(),
                Some(format!("{actual:?}")),
                format!("{body} must be of type {wanted}: {actual:?}"),
            )
        }
        ValidationErrorKind::Enum { options } => {
            let names: Vec<String> = options
                .as_array()
                .into_iter()
                .flatten()
                .map(|o| match o {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                })
                .collect();
            let names: Vec<&str> = names.iter().map(String::as_str).collect();
            FieldError::not_supported(at.clone(), instance, &names)
        }
        ValidationErrorKind::Minimum { limit } => {
            invalid(format!("{body} should be greater than or equal to {limit}"))
        }
        ValidationErrorKind::Maximum { limit } => {
            invalid(format!("{body} should be less than or equal to {limit}"))
        }
        ValidationErrorKind::ExclusiveMinimum { limit } => {
            invalid(format!("{body} should be greater than {limit}"))
        }
        ValidationErrorKind::ExclusiveMaximum { limit } => {
            invalid(format!("{body} should be less than {limit}"))
        }
        ValidationErrorKind::MaxItems { limit } => {
            let n = instance.as_array().map_or(0, Vec::len);
            FieldError::too_many(at.clone(), n, usize::try_from(*limit).unwrap_or(usize::MAX))
        }
        ValidationErrorKind::MinItems { limit } => {
            invalid(format!("{body} should have at least {limit} items"))
        }
        ValidationErrorKind::MaxLength { limit } => {
            FieldError::too_long(at.clone(), usize::try_from(*limit).unwrap_or(usize::MAX))
        }
        ValidationErrorKind::MinLength { limit } => {
            invalid(format!("{body} should be at least {limit} chars long"))
        }
        ValidationErrorKind::Pattern { pattern } => {
            invalid(format!("{body} should match '{pattern}'"))
        }
        ValidationErrorKind::Format { format } => invalid(format!(
            "{body} must be of type {format}: {}",
            shown(instance)
        )),
        ValidationErrorKind::UniqueItems => FieldError::duplicate(at.clone(), instance),
        other => invalid(format!("{body}: {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn schema() -> Schema {
        Schema::vendored("v1alpha1").expect("the vendored CRD")
    }

    fn object(spec: Value) -> Value {
        json!({"apiVersion": "lcm.openshift.io/v1alpha1", "kind": "ImageBasedGroupUpgrade",
               "metadata": {"name": "u", "namespace": "ztp"}, "spec": spec})
    }

    fn ibu() -> Value {
        json!({"seedImageRef": {"image": "quay.io/s:4.20", "version": "4.20.0"}})
    }

    #[test]
    fn unknown_fields_are_found_and_pruned() {
        let s = schema();
        let mut o = object(json!({"ibuSpec": ibu(), "actions": ["Prep"],
            "plan": [{"actions": ["Prep"], "rolloutStrategy": {"maxConcurrency": 1, "batch": 2}}]}));
        o["metadata"]["lables"] = json!({});
        o["extra"] = json!(1);
        let d = s.decode(&mut o);
        let unknown: Vec<&str> = d.unknown.iter().map(Path::as_str).collect();
        assert_eq!(
            unknown,
            [
                "extra",
                "metadata.lables",
                "spec.actions",
                "spec.plan[0].rolloutStrategy.batch"
            ]
        );
        assert!(o["spec"].get("actions").is_none() && o.get("extra").is_none());
    }

    #[test]
    fn defaults_fill_in_and_nulls_drop() {
        let s = schema();
        let mut o = object(json!({"ibuSpec": ibu(),
            "plan": [{"actions": ["Prep"], "rolloutStrategy": {"maxConcurrency": 1, "timeout": null}}]}));
        assert!(s.decode(&mut o).unknown.is_empty());
        assert_eq!(
            o["spec"]["plan"][0]["rolloutStrategy"]["timeout"],
            json!(240)
        );
        assert!(s.validate(&o).is_empty(), "{:?}", s.validate(&o));
    }

    #[test]
    fn violations_read_as_the_apiservers() {
        let s = schema();
        let mut o = object(
            json!({"ibuSpec": {"seedImageRef": {"image": 4}, "stage": "Prepp"},
            "plan": [{"actions": ["Prep", "Upgrade", "Abort", "Rollback", "Prep"], "rolloutStrategy": {"maxConcurrency": "ten"}},
                     {"actions": []}]}),
        );
        s.decode(&mut o);
        let e: Vec<String> = s.validate(&o).iter().map(ToString::to_string).collect();
        let has = |want: &str| assert!(e.iter().any(|e| e == want), "no {want:?} in {e:#?}");
        has(
            r#"spec.plan[0].rolloutStrategy.maxConcurrency: Invalid value: "string": spec.plan[0].rolloutStrategy.maxConcurrency in body must be of type integer: "string""#,
        );
        has(
            r#"spec.ibuSpec.stage: Unsupported value: "Prepp": supported values: "Idle", "Prep", "Upgrade", "Rollback""#,
        );
        has("spec.plan[0].actions: Too many: 5: must have at most 4 items");
        has("spec.plan[1].rolloutStrategy: Required value");
        has(
            r#"spec.ibuSpec.seedImageRef.image: Invalid value: "integer": spec.ibuSpec.seedImageRef.image in body must be of type string: "integer""#,
        );
    }

    #[test]
    fn another_crd_is_refused() {
        let e = Schema::from_crd("metadata: {name: other.example.com}\n", "v1alpha1");
        assert!(matches!(e, Err(CrdError::OtherCrd(n)) if n == "other.example.com"));
        let e = Schema::from_crd(VENDORED_CRD, "v9");
        assert!(matches!(e, Err(CrdError::NoSchema(_))));
        assert!(matches!(
            Schema::from_crd("[", "v1"),
            Err(CrdError::Unreadable(_))
        ));
    }
}
