//! The decision: typed old and new objects plus a small context in, a verdict or a patch
//! out. No I/O, no clocks, no async. [`admit`] is the admission pipeline, written once:
//! the mutating webhook ([`mutate`]), the CRD's stage where the caller has one, then the
//! validating webhook ([`validate`]); the HTTPS server, `review`, `check` and `next` all
//! call it.
//!
//! ```
//! use ibgu_webhook::model::ImageBasedGroupUpgrade;
//! use ibgu_webhook::policy::{self, Change, Config, Webhooks, facts::Facts};
//!
//! let ibgu = ImageBasedGroupUpgrade::from_json(r#"{"metadata":{"name":"u","namespace":"ztp"},
//!   "spec":{"ibuSpec":{"seedImageRef":{"image":"quay.io/seed:4.20","version":"4.20.0"}},
//!           "plan":[{"actions":["Prep","Upgrade","FinalizeUpgrade"]}]}}"#).unwrap();
//! let (config, by) = (Config::default(), policy::Requester::default());
//! let both = policy::admit(Webhooks::Both, &config, Change::Create(&ibgu), &Facts::Offline, by, |_| true);
//! assert_eq!(both.mutation.expect("mutated").patch.0.len(), 1); // rolloutStrategy defaulted
//! assert!(both.verdict.expect("validated").allowed());
//! // Validation alone sees the step without its strategy; the apiserver runs it after mutation.
//! let alone = policy::admit(Webhooks::Validating, &config, Change::Create(&ibgu), &Facts::Offline, by, |_| true);
//! assert!(!alone.verdict.expect("validated").allowed());
//! ```

pub mod change;
pub mod facts;
pub mod next;
pub mod patch;
pub mod rule;
pub mod rules;
pub mod supported;

use crate::model::ImageBasedGroupUpgrade;
use crate::model::field::{ErrorList, FieldError, Path, Warning};

pub use self::change::{Change, Config, DEFAULT_MAX_CONCURRENCY, Old, Requester};
use self::facts::Facts;
use self::patch::Additions;
use self::rule::{Context, Kind, Ratchet, Rule};
use self::rules::{MUTATING, VALIDATING};

/// What one rule found about one field: an error, a warning, or a stored error let
/// through. The logs and the audit annotations name it by the rule's id:
/// `rollout-numbers at spec.plan[0].rolloutStrategy.maxConcurrency`.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The rule; none for what the pipeline itself says (how many stored violations
    /// ratcheting let through).
    pub rule: Option<Rule>,
    /// What it found.
    pub found: Found,
}

/// What a rule found about a field.
#[derive(Debug, Clone, PartialEq)]
pub enum Found {
    /// An error: the request is denied.
    Denied(FieldError),
    /// A warning.
    Warned(Warning),
    /// An error the stored object already had, about a value the update leaves as it
    /// was: not enforced (ratcheting).
    Ratcheted(FieldError),
}

/// What a finding does to the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// Denies it.
    Denied,
    /// Warns.
    Warned,
    /// Nothing: a stored violation let through.
    Ratcheted,
}

impl Finding {
    /// What it does to the request.
    pub fn effect(&self) -> Effect {
        match self.found {
            Found::Denied(_) => Effect::Denied,
            Found::Warned(_) => Effect::Warned,
            Found::Ratcheted(_) => Effect::Ratcheted,
        }
    }

    /// The field; empty for the whole object.
    pub fn field(&self) -> &Path {
        match &self.found {
            Found::Denied(e) | Found::Ratcheted(e) => &e.field,
            Found::Warned(w) => &w.field,
        }
    }

    /// The error that denies, if it is one.
    pub fn error(&self) -> Option<&FieldError> {
        match &self.found {
            Found::Denied(e) => Some(e),
            _ => None,
        }
    }

    /// The warning, if it is one.
    pub fn warning(&self) -> Option<&Warning> {
        match &self.found {
            Found::Warned(w) => Some(w),
            _ => None,
        }
    }
}

/// A webhook's decision: every finding, in the order the rules met them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Every error, warning and stored violation let through, each with its rule.
    pub findings: Vec<Finding>,
    /// The validating rules whose check of TALM's live status ([`Validating::live`](rule::Validating::live)) was
    /// not judged, since the old object is a manifest ([`Old::Manifest`]), in number
    /// order; empty otherwise.
    pub unjudged: Vec<Rule>,
}

impl Verdict {
    fn add(&mut self, rule: Rule, found: rule::Findings) {
        let rule = Some(rule);
        let errors = found.errors.iter().cloned().map(Found::Denied);
        let warnings = found.warnings.into_iter().map(Found::Warned);
        self.findings
            .extend(errors.chain(warnings).map(|found| Finding { rule, found }));
    }

    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.findings.iter().all(|f| f.effect() != Effect::Denied)
    }

    /// Every error, in order.
    pub fn errors(&self) -> ErrorList {
        self.findings
            .iter()
            .filter_map(Finding::error)
            .cloned()
            .collect()
    }

    /// Every warning, in order.
    pub fn warnings(&self) -> Vec<Warning> {
        self.findings
            .iter()
            .filter_map(Finding::warning)
            .cloned()
            .collect()
    }
}

/// The mutating webhook's additions.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mutation<'a> {
    /// `add` operations only; empty when nothing is missing.
    pub patch: json_patch::Patch,
    /// What was filled in, or why something was not: warnings, each with its rule.
    pub findings: Vec<Finding>,
    /// The object with the patch applied, as it will be stored.
    pub object: ImageBasedGroupUpgrade<'a>,
}

/// Which webhooks an admission runs, as the apiserver calls them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Webhooks {
    /// `/mutate`: the mutation, and with [`Config::validate_on_mutate`] the validation of
    /// the mutated object, whose refusal `/mutate` answers with.
    Mutating,
    /// `/validate`: the object as sent.
    Validating,
    /// Both, in the apiserver's order (`check`, `next`).
    Both,
}

/// What an admission decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Admission<'a> {
    /// What the mutating webhook adds; none when it did not run.
    pub mutation: Option<Mutation<'a>>,
    /// The validation of the (mutated) object; none when nothing validated it.
    pub verdict: Option<Verdict>,
    /// Which webhook gives the verdict: the mutating one when it refuses the object
    /// (`/mutate` validates what it mutated), else the validating one.
    pub by: Kind,
}

/// The admission pipeline: the mutating webhook, then `crd` (the CRD's schema stage,
/// where the caller has one: it sees the mutation and says whether the object goes on to
/// the validating webhook), then the validating webhook on the mutated object, each as
/// `webhooks` asks. With [`Config::validate_on_mutate`] the mutating webhook refuses
/// what the validating one would ([`Admission::by`] says so), and the object is
/// validated once. `by` is who asks.
pub fn admit<'a>(
    webhooks: Webhooks,
    config: &Config,
    change: Change<'a>,
    facts: &Facts,
    by: Requester<'_>,
    crd: impl FnOnce(&Mutation<'a>) -> bool,
) -> Admission<'a> {
    if webhooks == Webhooks::Validating {
        return Admission {
            mutation: None,
            verdict: Some(validate(config, change, facts, by)),
            by: Kind::Validating,
        };
    }
    let mutation = mutate(config, change, facts, by);
    let mutated = match change {
        Change::Create(_) => Change::Create(&mutation.object),
        Change::Update { old, old_as, .. } => Change::Update {
            old,
            new: &mutation.object,
            old_as,
        },
    };
    let validates = webhooks == Webhooks::Both || config.validate_on_mutate;
    let verdict = validates.then(|| validate(config, mutated, facts, by));
    let refused = config.validate_on_mutate && verdict.as_ref().is_some_and(|v| !v.allowed());
    let goes_on = webhooks == Webhooks::Both && crd(&mutation);
    let (verdict, by) = match (refused, goes_on) {
        (true, _) => (verdict, Kind::Mutating),
        (false, true) => (verdict, Kind::Validating),
        (false, false) => (None, Kind::Mutating),
    };
    Admission {
        mutation: Some(mutation),
        verdict,
        by,
    }
}

/// Validates a change with every validating rule. On UPDATE a violation the stored
/// object already had, about a value the update leaves as it was (the same field, value
/// and finding), is not enforced by a rule that ratchets ([`Ratchet`]), as Kubernetes
/// ratchets CRD validation per field; a warning says how many were let through. When the
/// old object is a manifest, the checks of TALM's live status are not run and their rules
/// are listed in [`Verdict::unjudged`]. `by` is who asks.
fn validate(config: &Config, change: Change<'_>, facts: &Facts, by: Requester<'_>) -> Verdict {
    let ctx = Context { config, facts, by };
    let new = change.new_object();
    let mut verdict = Verdict::default();
    let mut ratcheted = 0;
    for &rule in VALIDATING {
        let as_rule = Rule::Validating(rule);
        if let Some(check) = rule.object {
            let mut found = check(new, &ctx);
            if let Change::Update { old, .. } = change
                && !found.errors.is_empty()
                && ratchets(rule.ratchet, old, new)
            {
                let stored = check(old, &ctx).errors;
                found.errors.retain(|e| {
                    let kept = !stored.iter().any(|s| s == e);
                    if !kept {
                        ratcheted += 1;
                        verdict.findings.push(Finding {
                            rule: Some(as_rule),
                            found: Found::Ratcheted(e.clone()),
                        });
                    }
                    kept
                });
            }
            verdict.add(as_rule, found);
        }
        match (change, rule.create, rule.update) {
            (Change::Create(new), Some(check), _) => verdict.add(as_rule, check(new, &ctx)),
            (Change::Update { old, new, .. }, _, Some(check)) => {
                verdict.add(as_rule, check(old, new, &ctx));
            }
            _ => {}
        }
        match (change, rule.live) {
            (
                Change::Update {
                    old_as: Old::Manifest,
                    ..
                },
                Some(_),
            ) => verdict.unjudged.push(as_rule),
            (Change::Update { old, new, .. }, Some(check)) => {
                verdict.add(as_rule, check(old, new, &ctx));
            }
            _ => {}
        }
    }
    verdict.unjudged.sort_by_key(|r| r.number());
    if ratcheted > 0 {
        let w = format!(
            "{ratcheted} violation(s) already stored were not enforced: this update leaves their values as they were"
        );
        let summary = Finding {
            rule: None,
            found: Found::Warned(Warning::new(Path::new(""), w)),
        };
        // Ahead of every other warning: after the errors and ratcheted findings, which
        // precede the first rule's warnings only if no warning came before.
        let at = verdict
            .findings
            .iter()
            .position(|f| f.effect() == Effect::Warned)
            .unwrap_or(verdict.findings.len());
        verdict.findings.insert(at, summary);
    }
    verdict
}

/// Whether a rule's stored violations may be let through on this update.
fn ratchets(
    ratchet: Ratchet,
    old: &ImageBasedGroupUpgrade<'_>,
    new: &ImageBasedGroupUpgrade<'_>,
) -> bool {
    match ratchet {
        Ratchet::Never => false,
        Ratchet::PerField => true,
        Ratchet::WhileUnchanged(unchanged) => unchanged(old, new),
    }
}

/// Validates a DELETE of `stored` by `by` with every validating rule's DELETE check.
/// No hub facts: nothing on the hub bears on a delete.
pub fn validate_delete(
    config: &Config,
    stored: &ImageBasedGroupUpgrade<'_>,
    by: Requester<'_>,
) -> Verdict {
    let ctx = Context {
        config,
        facts: &Facts::Offline,
        by,
    };
    let mut verdict = Verdict::default();
    for &rule in VALIDATING {
        if let Some(check) = rule.delete {
            verdict.add(Rule::Validating(rule), check(stored, &ctx));
        }
    }
    verdict
}

/// The mutating webhook's rules: adds only what is missing, so mutating the result again
/// adds nothing. `by` is who asks.
pub fn mutate<'a>(
    config: &Config,
    change: Change<'a>,
    facts: &Facts,
    by: Requester<'_>,
) -> Mutation<'a> {
    let ctx = Context { config, facts, by };
    let mut add = Additions::new(change.new_object());
    let mut findings = Vec::new();
    for &rule in MUTATING {
        for w in (rule.mutate)(change, &ctx, &mut add) {
            findings.push(Finding {
                rule: Some(Rule::Mutating(rule)),
                found: Found::Warned(w),
            });
        }
    }
    let (patch, object) = add.finish();
    Mutation {
        patch,
        findings,
        object,
    }
}

/// The Secrets in the object's namespace that some rule reads for this change, each
/// once, for the server to look up before deciding (today on CREATE only: TALM copies the
/// seed pull secret once, when Prep starts, and never reads it again).
pub fn secrets_needed(config: &Config, change: Change<'_>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for needed in rules::all().filter_map(Rule::secrets) {
        for name in needed(config, change) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ibgu(plan: &str, status: &str) -> String {
        format!(
            r#"{{"metadata":{{"name":"u","namespace":"ztp"}},
                "spec":{{"ibuSpec":{{"seedImageRef":{{"image":"quay.io/s:4.20","version":"4.20.0"}}}},
                         "plan":{plan}}}{status}}}"#
        )
    }

    fn ids(f: &Finding) -> &'static str {
        f.rule.map_or("", Rule::id)
    }

    const PREP: &str =
        r#"{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":2,"timeout":30}}"#;
    const ABORT: &str =
        r#"{"actions":["AbortOnFailure"],"rolloutStrategy":{"maxConcurrency":2,"timeout":30}}"#;

    fn verdict(old: &str, new: &str, old_as: Old) -> Verdict {
        let old = ImageBasedGroupUpgrade::stored_from_json(old).expect("an old object");
        let new = ImageBasedGroupUpgrade::from_json(new).expect("a new object");
        let change = Change::Update {
            old: &old,
            new: &new,
            old_as,
        };
        validate(
            &Config::default(),
            change,
            &Facts::Offline,
            Requester::default(),
        )
    }

    #[test]
    fn a_manifest_old_object_leaves_the_live_status_checks_unjudged() {
        let new = ibgu(&format!("[{PREP},{ABORT}]"), "");
        let running = r#","status":{"clusters":[{"name":"spoke1","currentAction":{"action":"Prep"}}],
            "conditions":[{"type":"Progressing","status":"True","reason":"InProgress"}]}"#;
        for status in ["", running] {
            let old = ibgu(&format!("[{PREP}]"), status);
            let stored = verdict(&old, &new, Old::Stored);
            assert_eq!(stored.errors().len(), 1, "{stored:?}");
            assert!(stored.findings.iter().any(|f| ids(f) == "append-when-idle"));
            assert!(stored.unjudged.is_empty());
            let manifest = verdict(&old, &new, Old::Manifest);
            assert!(manifest.allowed(), "{manifest:?}");
            let unjudged: Vec<&str> = manifest.unjudged.iter().map(|r| r.id()).collect();
            assert_eq!(
                unjudged,
                [
                    "append-when-idle",
                    "failed-clusters",
                    "rollout-numbers",
                    "delete-when-idle"
                ]
            );
        }
    }

    #[test]
    fn a_manifest_old_object_is_still_judged_on_what_git_can_tell() {
        let old = ibgu(&format!("[{PREP},{ABORT}]"), "");
        let zero = ABORT.replace(r#""maxConcurrency":2"#, r#""maxConcurrency":0"#);
        for (new, rule) in [
            (ibgu(&format!("[{PREP}]"), ""), "append-only"),
            (
                ibgu(&format!("[{PREP},{ABORT},{zero}]"), ""),
                "rollout-numbers",
            ),
            (
                ibgu(&format!("[{PREP},{ABORT}]"), "").replace("quay.io/s:4.20", "quay.io/s:4.21"),
                "immutable-fields",
            ),
        ] {
            let v = verdict(&old, &new, Old::Manifest);
            assert!(!v.allowed(), "rule {rule}: {v:?}");
            assert!(
                v.findings
                    .iter()
                    .any(|f| ids(f) == rule && f.effect() == Effect::Denied),
                "rule {rule}: {v:?}"
            );
        }
        // A CREATE has no old object: nothing is left unjudged.
        let new = ImageBasedGroupUpgrade::from_json(&old).expect("an object");
        let v = validate(
            &Config::default(),
            Change::Create(&new),
            &Facts::Offline,
            Requester::default(),
        );
        assert!(v.unjudged.is_empty());
    }
}
