//! `ibgu-webhook check`: lints ImageBasedGroupUpgrade manifests before they are merged,
//! the way the apiserver would admit them, in its order: decoding against the CRD's
//! structural schema (unknown fields, as kubectl's strict field validation refuses them;
//! schema defaults), the mutating webhook, then the schema's validation and the object
//! metadata checks, then the validating webhook, with the same
//! [`policy`](crate::policy) the webhook runs. Every finding says which of these found
//! it and where it is in the file (line and column).
//!
//! Input is YAML (several documents separated by `---`) or JSON, read as kubectl reads
//! it ([`manifest`]); lists are expanded; other kinds are skipped, and a document meant
//! as an IBGU that kubectl would refuse ([`look_alike`]) is denied in its words. With old
//! objects, an object with the same namespace and name is checked as an UPDATE of it. An
//! old object is read as stored (`kubectl get ibgu -o yaml`, TALM's status included:
//! every rule) or as a manifest (what git holds: the checks of TALM's live status are left
//! to the hub, and the report says so once); [`reading`] tells which, unless the caller
//! says.
//!
//! ```
//! use ibgu_webhook::cli::check::{self, Input};
//! use ibgu_webhook::cli::schema::Schema;
//! use ibgu_webhook::policy::Config;
//!
//! let text = "apiVersion: lcm.openshift.io/v1alpha1\nkind: ImageBasedGroupUpgrade\n\
//!   metadata: {name: u, namespace: ztp}\n\
//!   spec:\n  ibuSpec: {seedImageRef: {image: quay.io/s:4.20, version: 4.20.0}}\n\
//!   \x20 plan:\n  - actions: [Prep, Upgrade, FinalizeUpgrade]\n";
//! let new = vec![Input::parse("ibgu.yaml", text).unwrap()];
//! let schema = Schema::vendored("v1alpha1").expect("the vendored CRD");
//! let report = check::run(&Config::default(), &schema, &new, &[], None, "default");
//! assert_eq!(report.denied(), 0);
//! assert_eq!(report.objects[0].warnings.len(), 1); // the defaulted rolloutStrategy
//! ```

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;
use serde_json::Value;

use super::look_alike::{self, LookAlike};
use super::manifest;
use super::object_meta;
use super::position::{Position, Positions};
use super::sarif;
use super::schema::Schema;
use crate::model::field::{ErrorType, FieldError, Path, Warning};
use crate::model::{self as ibgu, ImageBasedGroupUpgrade, Text};
use crate::policy::facts::Facts;
use crate::policy::rule::{Kind, Rule};
use crate::policy::{self, Change, Config, Finding, Found, Old, Requester, Webhooks, rules};

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
    /// Its documents, in order (empty documents dropped, lists expanded).
    pub documents: Vec<Value>,
    /// Where each document's fields are in the text, document by document.
    pub positions: Vec<Positions>,
}

impl Input {
    /// Reads a file's text as kubectl reads it ([`manifest`]): JSON when it starts with
    /// `{` (one or more objects), else multi-document YAML; values and positions come
    /// from the same parse.
    pub fn parse(file: &str, text: &str) -> Result<Self, LoadError> {
        let read = manifest::read(text).map_err(|message| LoadError {
            file: file.to_owned(),
            message,
        })?;
        let mut input = Input {
            file: file.to_owned(),
            documents: Vec::with_capacity(read.len()),
            positions: Vec::with_capacity(read.len()),
        };
        for (doc, at) in read {
            if let Some(message) = look_alike::undecodable(file, &doc) {
                let line = at.of("").map(|p| format!("line {}: ", p.line));
                return Err(LoadError {
                    file: file.to_owned(),
                    message: format!("{}{message}", line.unwrap_or_default()),
                });
            }
            input.expand(doc, at);
        }
        Ok(input)
    }

    /// Drops empty documents and expands lists into their items, as kubectl does: any
    /// object with an `items` sequence is a list (`items: null` an empty one), and an
    /// item with neither `kind` nor `apiVersion` takes the list's apiVersion and its kind
    /// without the `List` suffix.
    fn expand(&mut self, doc: Value, at: Positions) {
        match doc {
            Value::Null => {}
            Value::Object(mut map)
                if map
                    .get("items")
                    .is_some_and(|i| i.is_array() || i.is_null()) =>
            {
                let text = |f: &str| map.get(f).and_then(Value::as_str).unwrap_or("").to_owned();
                let (api_version, kind) = (text("apiVersion"), text("kind"));
                let kind = kind.strip_suffix("List").unwrap_or(&kind).to_owned();
                let Some(Value::Array(items)) = map.remove("items") else {
                    return;
                };
                let mut trees = at.into_items().into_iter();
                for mut item in items {
                    let at = trees.next().unwrap_or_default();
                    if item.is_null() {
                        continue;
                    }
                    if let Some(o) = item.as_object_mut() {
                        let unset =
                            |f: &str| o.get(f).and_then(Value::as_str).unwrap_or("").is_empty();
                        if unset("kind") && unset("apiVersion") {
                            o.insert("kind".to_owned(), Value::from(kind.clone()));
                            o.insert("apiVersion".to_owned(), Value::from(api_version.clone()));
                        }
                    }
                    self.documents.push(item);
                    self.positions.push(at);
                }
            }
            other => {
                self.documents.push(other);
                self.positions.push(at);
            }
        }
    }
}

/// Whether a document is an `lcm.openshift.io/v1alpha1` ImageBasedGroupUpgrade, as
/// kubectl maps its kind ([`look_alike::is_kind`]).
pub(crate) fn is_ibgu(doc: &Value) -> bool {
    let api_version = doc.get("apiVersion").and_then(Value::as_str);
    api_version.and_then(|v| v.split_once('/')) == Some((ibgu::GROUP, ibgu::VERSION))
        && doc
            .get("kind")
            .and_then(Value::as_str)
            .is_some_and(look_alike::is_kind)
}

/// The outcome for a document kubectl refuses to send, located at the field at fault.
fn refused_by_kubectl(
    input: &Input,
    i: usize,
    refused: LookAlike,
    default_namespace: &str,
) -> Outcome {
    let positions = input.positions.get(i);
    let locate = |field: &str| positions.and_then(|p| p.of(field));
    let (namespace, name) = key(&refused.object, default_namespace);
    Outcome {
        file: input.file.clone(),
        document: i + 1,
        position: locate(""),
        namespace,
        name,
        operation: "CREATE",
        old: None,
        unjudged: Vec::new(),
        allowed: false,
        errors: vec![ReportedError {
            stage: Stage::Reading,
            rule: None,
            kind: None,
            position: locate(&refused.field),
            field: Path::new(&refused.field),
            value: refused.value,
            detail: refused.detail,
            message: refused.message,
        }],
        warnings: Vec::new(),
        patch: json_patch::Patch(Vec::new()),
    }
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

/// Which part of the apiserver's admission finds a problem, in the order it runs them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Stage {
    /// kubectl's reading of the manifest: a document that looks like an
    /// ImageBasedGroupUpgrade but names another version, group or kind, or none, which
    /// kubectl refuses before sending anything.
    Reading,
    /// Decoding: a field the CRD's schema does not declare (kubectl's default
    /// `--validate=strict` makes the apiserver refuse it).
    Decoding,
    /// The mutating webhook (its rules, and validating the mutated object).
    Mutating,
    /// The CRD's structural schema, on the mutated object.
    Schema,
    /// Object metadata: name, generateName, namespace, labels, annotations, owner
    /// references, finalizers.
    Metadata,
    /// The validating webhook.
    Validating,
}

impl Stage {
    /// The stage's name, as reports print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Reading => "kubectl",
            Stage::Decoding => "decoding",
            Stage::Mutating => "mutating webhook",
            Stage::Schema => "CRD schema",
            Stage::Metadata => "object metadata",
            Stage::Validating => "validating webhook",
        }
    }
}

/// One error in the report: where it is, what found it, and the whole message.
#[derive(Debug, Clone, Serialize)]
pub struct ReportedError {
    /// What found it.
    pub stage: Stage,
    /// The webhook rule that found it (`validating rule 2`), for webhook errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<Rule>,
    /// apimachinery's error type; absent for an unknown field, which is the decoder's.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<ErrorType>,
    /// The field path: `spec.plan[1].actions`.
    pub field: Path,
    /// The offending value, as JSON.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// What would be valid.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The whole line, as kubectl would show it.
    pub message: String,
    /// Where the field (or the nearest part of it the file has) is in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
}

/// One warning in the report, located like an error.
#[derive(Debug, Clone, Serialize)]
pub struct ReportedWarning {
    /// What gave it.
    pub stage: Stage,
    /// The webhook rule that gave it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<Rule>,
    /// The field it is about (empty for the whole object).
    pub field: Path,
    /// The whole line, as kubectl would show it.
    pub message: String,
    /// Where the field is in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
}

/// The outcome for one object.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The file.
    pub file: String,
    /// The document's position in the file, from 1 (after `List` expansion).
    pub document: usize,
    /// Where the document starts in the file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub position: Option<Position>,
    /// The namespace (the default when the manifest has none).
    pub namespace: String,
    /// The name.
    pub name: String,
    /// `CREATE`, or `UPDATE` when an old object matched.
    pub operation: &'static str,
    /// On UPDATE, how the old object was read: `stored` or `manifest`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old: Option<Old>,
    /// The webhook rules not judged, since they read TALM's live status and the old
    /// object is a manifest (`validating rule 4`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unjudged: Vec<Rule>,
    /// Whether the apiserver would admit it.
    pub allowed: bool,
    /// Every violation, in the order the apiserver's stages run.
    pub errors: Vec<ReportedError>,
    /// Every warning (mutation's, the apiserver's on metadata, then validation's).
    pub warnings: Vec<ReportedWarning>,
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
    /// Which rules were left to the hub and how to judge them now, when an old object
    /// was read as a manifest: said once for the whole run.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub left_to_hub: Option<String>,
}

impl Report {
    /// How many objects would be denied.
    pub fn denied(&self) -> usize {
        self.objects.iter().filter(|o| !o.allowed).count()
    }

    /// A human-readable report: one header line per object, then one line per finding,
    /// `file:line:column: error: message (what found it)`, as compilers print them.
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
            let at = |p: Option<Position>| match p {
                Some(p) => format!("{}:{}:{}", o.file, p.line, p.column),
                None => o.file.clone(),
            };
            let by = |stage: Stage, rule: &Option<Rule>| match rule {
                Some(r) => r.to_string(),
                None => stage.as_str().to_owned(),
            };
            for e in &o.errors {
                let (at, by) = (at(e.position), by(e.stage, &e.rule));
                let _ = writeln!(s, "  {at}: error: {} [{by}]", e.message);
            }
            for w in &o.warnings {
                let (at, by) = (at(w.position), by(w.stage, &w.rule));
                let _ = writeln!(s, "  {at}: warning: {} [{by}]", w.message);
            }
        }
        if let Some(note) = &self.left_to_hub {
            let _ = writeln!(s, "{note}");
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

impl Report {
    /// The report as a SARIF 2.1.0 log: one result per finding, with its file, line and
    /// column; one reporting rule per stage that has no webhook rule, and one per webhook
    /// rule, by its id (`plan-combination`).
    pub fn to_sarif(&self) -> Result<sarif::Log, sarif::Error> {
        let mut rules: Vec<sarif::Rule> = STAGES
            .iter()
            .map(|&stage| sarif::Rule {
                id: stage_id(stage).to_owned(),
                name: stage_id(stage).to_owned(),
                description: stage_description(stage).to_owned(),
            })
            .collect();
        rules.extend(rules::all().map(|r| sarif::Rule {
            id: r.id().to_owned(),
            name: r.name().to_owned(),
            description: format!("The webhook's {r}: {}, docs/rules.md.", r.name()),
        }));
        let finding =
            |o: &Outcome, level, stage, rule: &Option<Rule>, message: &str, at| sarif::Finding {
                rule_id: rule.map_or(stage_id(stage), Rule::id).to_owned(),
                level,
                message: message.to_owned(),
                file: o.file.clone(),
                position: at,
            };
        let mut findings = Vec::new();
        for o in &self.objects {
            let errors = o.errors.iter().map(|e| {
                (
                    sarif::Level::Error,
                    e.stage,
                    &e.rule,
                    &e.message,
                    e.position,
                )
            });
            let warnings = o.warnings.iter().map(|w| {
                (
                    sarif::Level::Warning,
                    w.stage,
                    &w.rule,
                    &w.message,
                    w.position,
                )
            });
            for (level, stage, rule, message, at) in errors.chain(warnings) {
                findings.push(finding(o, level, stage, rule, message, at));
            }
        }
        sarif::log(&rules, &findings)
    }
}

/// Every stage, for the rules a SARIF log describes.
const STAGES: [Stage; 6] = [
    Stage::Reading,
    Stage::Decoding,
    Stage::Mutating,
    Stage::Schema,
    Stage::Metadata,
    Stage::Validating,
];

/// A stage's SARIF rule id: for its findings that no webhook rule names.
fn stage_id(stage: Stage) -> &'static str {
    match stage {
        Stage::Reading => "kubectl-reading",
        Stage::Decoding => "unknown-field",
        Stage::Mutating => "mutating-webhook",
        Stage::Schema => "crd-schema",
        Stage::Metadata => "object-metadata",
        Stage::Validating => "validating-webhook",
    }
}

fn stage_description(stage: Stage) -> &'static str {
    match stage {
        Stage::Reading => {
            "A document meant as an ImageBasedGroupUpgrade that kubectl refuses before sending it: another apiVersion or kind, none, or a top-level sequence."
        }
        Stage::Decoding => {
            "A field the CRD's structural schema does not declare, which kubectl's strict field validation refuses."
        }
        Stage::Mutating => "What the mutating webhook reports outside its rules.",
        Stage::Schema => {
            "The CRD's structural schema: types, required fields, enums, bounds, patterns, lengths."
        }
        Stage::Metadata => {
            "Object metadata as the apiserver checks it: name, generateName, namespace, labels, annotations, owner references, finalizers."
        }
        Stage::Validating => {
            "What the validating webhook reports outside its rules (a malformed object, ratcheting)."
        }
    }
}

/// How an old document is read when the caller does not say: as a manifest when it has
/// none of what the apiserver writes on every object it stores (`metadata.resourceVersion`,
/// `uid`, `generation`) and no status (an empty one, as `kubectl create --dry-run -o yaml`
/// writes, counts as none): what git holds. Else as stored.
pub fn reading(doc: &Value) -> Old {
    let meta = doc.get("metadata");
    let written = ["resourceVersion", "uid", "generation"]
        .iter()
        .any(|f| meta.and_then(|m| m.get(f)).is_some_and(|v| !v.is_null()));
    let status = doc
        .get("status")
        .is_some_and(|s| !s.is_null() && s.as_object().is_none_or(|o| !o.is_empty()));
    if written || status {
        Old::Stored
    } else {
        Old::Manifest
    }
}

/// Checks every ImageBasedGroupUpgrade in `inputs` against `schema` and the policy, as
/// an UPDATE of the object in `old` with the same namespace and name, else as a CREATE.
/// `old_as` says how every old object is read; `None` tells each by [`reading`].
pub fn run(
    config: &Config,
    schema: &Schema,
    inputs: &[Input],
    old: &[Input],
    old_as: Option<Old>,
    default_namespace: &str,
) -> Report {
    let stored: BTreeMap<(String, String), (&Value, Old)> = old
        .iter()
        .flat_map(|i| i.documents.iter())
        .filter(|d| is_ibgu(d))
        .map(|d| {
            let read = old_as.unwrap_or_else(|| reading(d));
            (key(d, default_namespace), (d, read))
        })
        .collect();
    let mut report = Report::default();
    // Every rule some object left to the hub.
    let mut unjudged: Vec<Rule> = Vec::new();
    for input in inputs {
        for (i, doc) in input.documents.iter().enumerate() {
            if let Some(refused) = look_alike::find(&input.file, doc) {
                report
                    .objects
                    .push(refused_by_kubectl(input, i, refused, default_namespace));
                continue;
            }
            if !is_ibgu(doc) {
                report.skipped += 1;
                continue;
            }
            let (namespace, name) = key(doc, default_namespace);
            let old = stored.get(&(namespace.clone(), name.clone())).copied();
            let positions = input.positions.get(i);
            let found = check_one(config, schema, doc, old, &namespace);
            for n in &found.unjudged {
                if !unjudged.contains(n) {
                    unjudged.push(*n);
                }
            }
            let locate = |field: &Path| positions.and_then(|p| p.of(field.as_str()));
            report.objects.push(Outcome {
                file: input.file.clone(),
                document: i + 1,
                position: locate(&Path::new("")),
                namespace,
                name,
                operation: if old.is_some() { "UPDATE" } else { "CREATE" },
                old: old.map(|(_, read)| read),
                unjudged: found.unjudged,
                allowed: found.errors.is_empty(),
                errors: found
                    .errors
                    .into_iter()
                    .map(|e| e.located(&locate))
                    .collect(),
                warnings: found
                    .warnings
                    .into_iter()
                    .map(|w| w.located(&locate))
                    .collect(),
                patch: found.patch,
            });
        }
    }
    unjudged.sort_by_key(|r| r.number());
    report.left_to_hub = left_to_hub(&report.objects, &unjudged);
    report
}

/// The one line saying which rules were left to the hub, and the commands that judge
/// them now, when any object's old object was read as a manifest.
fn left_to_hub(objects: &[Outcome], rules: &[Rule]) -> Option<String> {
    let (last, first) = rules.split_last()?;
    let rules = match first {
        [] => last.to_string(),
        _ => {
            let first: Vec<String> = first.iter().map(|r| r.number().to_string()).collect();
            let last = last.number();
            format!("validating rules {} and {last}", first.join(", "))
        }
    };
    let with: Vec<&Outcome> = objects.iter().filter(|o| !o.unjudged.is_empty()).collect();
    let (file, get) = match with[..] {
        [o] => (
            o.file.as_str(),
            format!("kubectl get ibgu {} -n {} -o yaml", o.name, o.namespace),
        ),
        _ => (
            "FILE",
            "kubectl get ibgu NAME -n NAMESPACE -o yaml".to_owned(),
        ),
    };
    Some(format!(
        "left to the hub: {rules} read TALM's live status, which a manifest from git does not have; \
         to judge them now: ibgu-webhook check {file} --old <({get}), or {get} | ibgu-webhook next -"
    ))
}

/// An error before it is located.
struct Unlocated {
    stage: Stage,
    rule: Option<Rule>,
    error: Result<FieldError, Path>,
}

impl Unlocated {
    fn at(stage: Stage, error: FieldError) -> Self {
        Unlocated {
            stage,
            rule: None,
            error: Ok(error),
        }
    }

    fn located(self, locate: &impl Fn(&Path) -> Option<Position>) -> ReportedError {
        match self.error {
            Ok(e) => ReportedError {
                stage: self.stage,
                rule: self.rule,
                kind: Some(e.kind),
                position: locate(&e.field),
                message: e.to_string(),
                field: e.field,
                value: e.value,
                detail: e.detail,
            },
            Err(unknown) => ReportedError {
                stage: self.stage,
                rule: None,
                kind: None,
                position: locate(&unknown),
                message: format!("strict decoding error: unknown field \"{unknown}\""),
                field: unknown,
                value: None,
                detail: String::new(),
            },
        }
    }
}

/// A warning before it is located.
struct Warned {
    stage: Stage,
    rule: Option<Rule>,
    warning: Warning,
}

impl Warned {
    fn located(self, locate: &impl Fn(&Path) -> Option<Position>) -> ReportedWarning {
        ReportedWarning {
            stage: self.stage,
            rule: self.rule,
            position: locate(&self.warning.field),
            message: self.warning.line(),
            field: self.warning.field,
        }
    }
}

/// What checking one object found.
#[derive(Default)]
struct Findings {
    errors: Vec<Unlocated>,
    warnings: Vec<Warned>,
    patch: json_patch::Patch,
    /// The validating rules left unjudged.
    unjudged: Vec<Rule>,
}

impl Findings {
    fn error(&mut self, stage: Stage, e: FieldError) {
        self.errors.push(Unlocated::at(stage, e));
    }

    /// What the apiserver's object metadata checks find in `metadata`, on a CREATE or an
    /// UPDATE of `old`.
    fn add_metadata(&mut self, metadata: Option<&Value>, old: Option<&Value>) {
        let checked = object_meta::validate(metadata, old);
        for e in checked.errors.iter() {
            self.error(Stage::Metadata, e.clone());
        }
        self.warnings
            .extend(checked.warnings.into_iter().map(|warning| Warned {
                stage: Stage::Metadata,
                rule: None,
                warning,
            }));
    }

    /// A webhook's errors and warnings, each with the rule that found it.
    fn add_policy(&mut self, stage: Stage, findings: &[Finding]) {
        for f in findings {
            match &f.found {
                Found::Denied(e) => self.errors.push(Unlocated {
                    stage,
                    rule: f.rule,
                    error: Ok(e.clone()),
                }),
                Found::Warned(w) => self.warnings.push(Warned {
                    stage,
                    rule: f.rule,
                    warning: w.clone(),
                }),
                Found::Ratcheted(_) => {}
            }
        }
    }
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

/// A manifest as the hub stores it once applied: the schema's defaults filled in and the
/// mutating webhook's added, so that a step leaving its rollout strategy to the defaults
/// is not read as changed when the new object gets them. A manifest the model cannot
/// read is left as it is, for the caller to report.
fn as_applied(config: &Config, schema: &Schema, manifest: &Value) -> Value {
    let mut applied = manifest.clone();
    schema.decode(&mut applied);
    let patch = match ImageBasedGroupUpgrade::from_value(&applied) {
        Ok(o) => {
            policy::mutate(
                config,
                Change::Create(&o),
                &Facts::Offline,
                Requester::default(),
            )
            .patch
        }
        Err(_) => return manifest.clone(),
    };
    match json_patch::patch(&mut applied, &patch) {
        Ok(()) => applied,
        Err(_) => manifest.clone(),
    }
}

/// Admits one object as the apiserver would: decode against the schema, mutate, apply
/// the patch, validate against the schema and the metadata rules, then the webhook.
fn check_one(
    config: &Config,
    schema: &Schema,
    doc: &Value,
    old: Option<(&Value, Old)>,
    namespace: &str,
) -> Findings {
    let mut found = Findings::default();
    let mut decoded = doc.clone();
    // The status subresource: the apiserver keeps the stored status on every write.
    if let Some(o) = decoded.as_object_mut() {
        o.remove("status");
    }
    for unknown in schema.decode(&mut decoded).unknown {
        found.errors.push(Unlocated {
            stage: Stage::Decoding,
            rule: None,
            error: Err(unknown),
        });
    }
    // The apiserver fills the namespace from the request; so does `check`.
    let new =
        match ImageBasedGroupUpgrade::from_value(&decoded).map(|o| with_namespace(o, namespace)) {
            Ok(o) => o,
            Err(e) => {
                // The schema names every such field; the model's decoder only the first.
                found.errors.extend(
                    schema
                        .validate(&decoded)
                        .iter()
                        .cloned()
                        .map(|e| Unlocated::at(Stage::Schema, e)),
                );
                if found.errors.iter().all(|f| f.stage != Stage::Schema) {
                    found.error(Stage::Schema, e);
                }
                found.add_metadata(decoded.get("metadata"), old.map(|(doc, _)| doc));
                return found;
            }
        };
    let old_doc = old.map(|(doc, _)| doc);
    let old_as = old.map_or(Old::Stored, |(_, read)| read);
    let applied = match old {
        Some((manifest, Old::Manifest)) => Some(Cow::Owned(as_applied(config, schema, manifest))),
        Some((stored, Old::Stored)) => Some(Cow::Borrowed(stored)),
        None => None,
    };
    let old = match applied
        .as_ref()
        .map(|o| ImageBasedGroupUpgrade::stored_from_value(o).map(|o| with_namespace(o, namespace)))
        .transpose()
    {
        Ok(o) => o,
        Err(e) => {
            let e = FieldError {
                detail: format!("old object: {}", e.detail),
                ..e
            };
            found.error(Stage::Validating, e);
            return found;
        }
    };
    // The apiserver's order: the mutating webhook, the CRD's schema and the object
    // metadata checks on the mutated object, the validating webhook. Each stage reports
    // what it finds, where the apiserver would stop at the first refusal.
    let admission = policy::admit(
        Webhooks::Both,
        config,
        match &old {
            Some(old) => Change::Update {
                old,
                new: &new,
                old_as,
            },
            None => Change::Create(&new),
        },
        &Facts::Offline,
        Requester::default(),
        |mutation| {
            found.add_policy(Stage::Mutating, &mutation.findings);
            let mut mutated = decoded.clone();
            if let Err(e) = json_patch::patch(&mut mutated, &mutation.patch) {
                let e = FieldError::type_invalid(
                    Path::new(""),
                    format!("defaults could not be applied: {e}"),
                );
                found.error(Stage::Mutating, e);
                return false;
            }
            for e in schema.validate(&mutated).iter() {
                found.error(Stage::Schema, e.clone());
            }
            found.add_metadata(mutated.get("metadata"), old_doc);
            true
        },
    );
    found.patch = admission.mutation.map(|m| m.patch).unwrap_or_default();
    if let Some(verdict) = admission.verdict {
        let stage = match admission.by {
            Kind::Mutating => Stage::Mutating,
            Kind::Validating => Stage::Validating,
        };
        found.add_policy(stage, &verdict.findings);
        found.unjudged = verdict.unjudged;
    }
    // A mutating refusal is known once the object has been validated, after the CRD's
    // stage ran: the report keeps the apiserver's order.
    found.errors.sort_by_key(|e| e.stage);
    found.warnings.sort_by_key(|w| w.stage);
    found
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
    fn an_old_document_is_a_manifest_unless_the_apiserver_or_talm_wrote_to_it() {
        use serde_json::json;
        for manifest in [
            json!({"metadata": {"name": "u"}, "spec": {}}),
            // As `kubectl create --dry-run=client -o yaml` writes it.
            json!({"metadata": {"name": "u", "creationTimestamp": null}, "status": {}}),
            json!({"metadata": {"name": "u", "generation": null}, "status": null}),
            json!({"spec": {}}),
        ] {
            assert_eq!(reading(&manifest), Old::Manifest, "{manifest}");
        }
        for stored in [
            json!({"metadata": {"resourceVersion": "48213"}}),
            json!({"metadata": {"uid": "6b1f0a52-3c4d-4e8f-9a10-2b3c4d5e6f70"}}),
            json!({"metadata": {"generation": 1}}),
            json!({"metadata": {"name": "u"}, "status": {"observedGeneration": 1}}),
        ] {
            assert_eq!(reading(&stored), Old::Stored, "{stored}");
        }
    }

    #[test]
    fn bad_yaml_is_an_error_naming_the_file() {
        let e = Input::parse("bad.yaml", "a: [1, 2\n").unwrap_err();
        assert!(e.to_string().starts_with("bad.yaml: invalid YAML"), "{e}");
    }
}
