//! `ibgu-webhook check`: lints ImageBasedGroupUpgrade manifests before they are merged,
//! the way the apiserver would admit them: mutation first, then validation of the
//! mutated object, with the same [`policy`](crate::policy) the webhook runs.
//!
//! Input is YAML (several documents separated by `---`) or JSON; `List` kinds are
//! expanded; other kinds are skipped. With old manifests (for instance
//! `kubectl get ibgu -o yaml`, which includes TALM's status), an object with the same
//! namespace and name is checked as an UPDATE of it.
//!
//! ```
//! use ibgu_webhook::cli::check::{self, Input};
//! use ibgu_webhook::policy::Config;
//!
//! let text = "apiVersion: lcm.openshift.io/v1alpha1\nkind: ImageBasedGroupUpgrade\n\
//!   metadata: {name: u, namespace: ztp}\n\
//!   spec:\n  ibuSpec: {seedImageRef: {image: quay.io/s:4.20, version: 4.20.0}}\n\
//!   \x20 plan:\n  - actions: [Prep, Upgrade, FinalizeUpgrade]\n";
//! let new = vec![Input::parse("ibgu.yaml", text).unwrap()];
//! let report = check::run(&Config::default(), &new, &[], "default");
//! assert_eq!(report.denied(), 0);
//! assert_eq!(report.objects[0].warnings.len(), 1); // the defaulted rolloutStrategy
//! ```

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use crate::model::field::{ErrorList, FieldError, Path};
use crate::model::{self as ibgu, ImageBasedGroupUpgrade, Text};
use crate::policy::facts::Facts;
use crate::policy::{self, Change, Config};

/// A manifest file that could not be read as YAML or JSON.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {message}")]
pub struct LoadError {
    /// The file, as named on the command line.
    pub file: String,
    /// What is wrong with it.
    pub message: String,
}

/// The documents of one manifest file.
#[derive(Debug, Clone)]
pub struct Input {
    /// The file, as named on the command line (`-` for stdin).
    pub file: String,
    /// Its documents, in order (empty documents dropped, `List` kinds expanded).
    pub documents: Vec<Value>,
}

impl Input {
    /// Parses a file's text: JSON when it starts with `{` (one or more objects), else
    /// multi-document YAML.
    pub fn parse(file: &str, text: &str) -> Result<Self, LoadError> {
        let err = |message: String| LoadError {
            file: file.to_owned(),
            message,
        };
        let raw: Vec<Value> = if text.trim_start().starts_with('{') {
            serde_json::Deserializer::from_str(text)
                .into_iter::<Value>()
                .collect::<Result<_, _>>()
                .map_err(|e| err(format!("invalid JSON: {e}")))?
        } else {
            serde_saphyr::from_multiple::<Value>(text)
                .map_err(|e| err(format!("invalid YAML: {e}")))?
        };
        let mut documents = Vec::with_capacity(raw.len());
        for doc in raw {
            expand(doc, &mut documents);
        }
        Ok(Input {
            file: file.to_owned(),
            documents,
        })
    }
}

/// Drops empty documents and expands `kind: List` (and `...List`) into its items.
fn expand(doc: Value, out: &mut Vec<Value>) {
    match doc {
        Value::Null => {}
        Value::Object(mut map)
            if map
                .get("kind")
                .and_then(Value::as_str)
                .is_some_and(|k| k.ends_with("List"))
                && map.get("items").is_some_and(Value::is_array) =>
        {
            if let Some(Value::Array(items)) = map.remove("items") {
                out.extend(items.into_iter().filter(|v| !v.is_null()));
            }
        }
        other => out.push(other),
    }
}

fn is_ibgu(doc: &Value) -> bool {
    doc.get("apiVersion").and_then(Value::as_str) == Some("lcm.openshift.io/v1alpha1")
        && doc.get("kind").and_then(Value::as_str) == Some(ibgu::KIND)
}

fn key(doc: &Value, default_namespace: &str) -> (String, String) {
    let meta = doc.get("metadata");
    let field = |f: &str| {
        meta.and_then(|m| m.get(f))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    (
        field("namespace").unwrap_or_else(|| default_namespace.to_owned()),
        field("name").unwrap_or_default(),
    )
}

/// One error in the report, with its rendered message.
#[derive(Debug, Clone, Serialize)]
pub struct ReportedError {
    /// The error's parts.
    #[serde(flatten)]
    pub error: FieldError,
    /// The whole line, as kubectl would show it.
    pub message: String,
}

/// The outcome for one object.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The file.
    pub file: String,
    /// The document's position in the file, from 1 (after `List` expansion).
    pub document: usize,
    /// The namespace (the default when the manifest has none).
    pub namespace: String,
    /// The name.
    pub name: String,
    /// `CREATE`, or `UPDATE` when an old object matched.
    pub operation: &'static str,
    /// Whether the apiserver would admit it.
    pub allowed: bool,
    /// Every violation.
    pub errors: Vec<ReportedError>,
    /// Every warning (mutation's, then validation's).
    pub warnings: Vec<String>,
    /// The JSON Patch the mutating webhook would apply.
    pub patch: json_patch::Patch,
}

/// The outcome for every object checked.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    /// One entry per ImageBasedGroupUpgrade, in input order.
    pub objects: Vec<Outcome>,
    /// Documents of other kinds, not checked.
    pub skipped: usize,
}

impl Report {
    /// How many objects would be denied.
    pub fn denied(&self) -> usize {
        self.objects.iter().filter(|o| !o.allowed).count()
    }

    /// A human-readable report: one header line per object, one line per finding.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for o in &self.objects {
            let verdict = if o.allowed { "allowed" } else { "DENIED" };
            let _ = writeln!(
                s,
                "{}: document {}: {} {}/{} ({}): {verdict}",
                o.file,
                o.document,
                ibgu::KIND,
                o.namespace,
                o.name,
                o.operation
            );
            for e in &o.errors {
                let _ = writeln!(s, "  error: {}", e.message);
            }
            for w in &o.warnings {
                let _ = writeln!(s, "  warning: {w}");
            }
        }
        let _ = writeln!(
            s,
            "{} checked, {} denied, {} other documents skipped",
            self.objects.len(),
            self.denied(),
            self.skipped
        );
        s
    }
}

/// Checks every ImageBasedGroupUpgrade in `inputs`, as an UPDATE of the object in `old`
/// with the same namespace and name, else as a CREATE.
pub fn run(config: &Config, inputs: &[Input], old: &[Input], default_namespace: &str) -> Report {
    let stored: BTreeMap<(String, String), &Value> = old
        .iter()
        .flat_map(|i| i.documents.iter())
        .filter(|d| is_ibgu(d))
        .map(|d| (key(d, default_namespace), d))
        .collect();
    let mut report = Report::default();
    for input in inputs {
        for (i, doc) in input.documents.iter().enumerate() {
            if !is_ibgu(doc) {
                report.skipped += 1;
                continue;
            }
            let (namespace, name) = key(doc, default_namespace);
            let old = stored.get(&(namespace.clone(), name.clone())).copied();
            let (errors, warnings, patch) = check_one(config, doc, old, &namespace);
            report.objects.push(Outcome {
                file: input.file.clone(),
                document: i + 1,
                namespace,
                name,
                operation: if old.is_some() { "UPDATE" } else { "CREATE" },
                allowed: errors.is_empty(),
                errors: errors
                    .into_iter()
                    .map(|e| ReportedError {
                        message: e.to_string(),
                        error: e,
                    })
                    .collect(),
                warnings,
                patch,
            });
        }
    }
    report
}

fn with_namespace<'a>(
    mut o: ImageBasedGroupUpgrade<'a>,
    namespace: &str,
) -> ImageBasedGroupUpgrade<'a> {
    o.metadata
        .get_or_insert_with(Default::default)
        .namespace
        .get_or_insert_with(|| Text::from(namespace.to_owned()));
    o
}

/// Admits one object as the apiserver would: mutate, apply the patch, validate.
fn check_one(
    config: &Config,
    doc: &Value,
    old: Option<&Value>,
    namespace: &str,
) -> (ErrorList, Vec<String>, json_patch::Patch) {
    let single = |e: FieldError| -> ErrorList { std::iter::once(e).collect() };
    // The apiserver fills the namespace from the request; so does `check`.
    let new = match ImageBasedGroupUpgrade::from_value(doc).map(|o| with_namespace(o, namespace)) {
        Ok(o) => o,
        Err(e) => return (single(e), Vec::new(), json_patch::Patch::default()),
    };
    let old = match old
        .map(|o| ImageBasedGroupUpgrade::stored_from_value(o).map(|o| with_namespace(o, namespace)))
        .transpose()
    {
        Ok(o) => o,
        Err(e) => {
            let e = FieldError {
                detail: format!("old object: {}", e.detail),
                ..e
            };
            return (single(e), Vec::new(), json_patch::Patch::default());
        }
    };
    let change = |new| match &old {
        Some(old) => Change::Update { old, new },
        None => Change::Create(new),
    };
    let mutation = policy::mutate(config, change(&new), &Facts::Offline);
    let mut warnings: Vec<String> = mutation.warnings.iter().map(ToString::to_string).collect();
    let patch = mutation.patch;
    let mut mutated = doc.clone();
    if let Err(e) = json_patch::patch(&mut mutated, &patch) {
        let e =
            FieldError::type_invalid(Path::new(""), format!("defaults could not be applied: {e}"));
        return (single(e), warnings, patch);
    }
    let mutated =
        match ImageBasedGroupUpgrade::from_value(&mutated).map(|o| with_namespace(o, namespace)) {
            Ok(m) => m,
            Err(e) => return (single(e), warnings, patch),
        };
    let verdict = policy::validate(config, change(&mutated), &Facts::Offline);
    warnings.extend(verdict.warnings.iter().map(ToString::to_string));
    (verdict.errors, warnings, patch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_lists_and_empty_documents() {
        let text = "---\nkind: List\nitems:\n- kind: A\n- kind: B\n---\n---\nkind: C\n";
        let input = Input::parse("f", text).unwrap();
        assert_eq!(input.documents.len(), 3);
    }

    #[test]
    fn json_stream() {
        let input = Input::parse("f", r#"{"kind":"A"} {"kind":"B"}"#).unwrap();
        assert_eq!(input.documents.len(), 2);
    }

    #[test]
    fn bad_yaml_is_an_error_naming_the_file() {
        let e = Input::parse("bad.yaml", "a: [1, 2\n").unwrap_err();
        assert!(e.to_string().starts_with("bad.yaml: invalid YAML"), "{e}");
    }
}
