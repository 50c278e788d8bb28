//! The decision: typed old and new objects plus a small context in, a verdict or a patch
//! out. No I/O, no clocks, no async: the HTTPS server, `review` and `check` all call
//! [`validate`] and [`mutate`], which run the rules of [`rules::RULES`] in order.
//!
//! ```
//! use ibgu_webhook::model::ImageBasedGroupUpgrade;
//! use ibgu_webhook::policy::{self, Change, Config, facts::Facts};
//!
//! let ibgu = ImageBasedGroupUpgrade::from_json(r#"{"metadata":{"name":"u","namespace":"ztp"},
//!   "spec":{"ibuSpec":{"seedImageRef":{"image":"quay.io/seed:4.20","version":"4.20.0"}},
//!           "plan":[{"actions":["Prep","Upgrade","FinalizeUpgrade"]}]}}"#).unwrap();
//! let config = Config::default();
//! let by = policy::Requester::default();
//! let mutation = policy::mutate(&config, Change::Create(&ibgu), &Facts::Offline, by);
//! assert_eq!(mutation.patch.0.len(), 1); // rolloutStrategy defaulted
//! let verdict = policy::validate(&config, Change::Create(&ibgu), &Facts::Offline, by);
//! // Validation alone sees the step without its strategy; the apiserver runs it after mutation.
//! assert!(!verdict.allowed());
//! ```

pub mod change;
pub mod facts;
pub mod next;
pub mod patch;
pub mod rule;
pub mod rules;
pub mod supported;

use crate::model::ImageBasedGroupUpgrade;
use crate::model::field::{ErrorList, Path, Warning};

pub use self::change::{Change, Config, DEFAULT_MAX_CONCURRENCY, Old, Requester};
use self::facts::Facts;
use self::patch::Additions;
use self::rule::{Context, Kind, Ratchet, Rule};
use self::rules::RULES;

/// The validating decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Every violation; the request is denied when there is any.
    pub errors: ErrorList,
    /// Shown to the user whatever the verdict.
    pub warnings: Vec<Warning>,
    /// Which rule found each error and warning, and which stored violations were let
    /// through: what the logs and the audit annotations say.
    pub findings: Vec<Finding>,
    /// The validating rules whose check of TALM's live status ([`Rule::live`]) was not
    /// judged, since the old object is a manifest ([`Old::Manifest`]), in number order;
    /// empty otherwise.
    pub unjudged: Vec<u8>,
}

/// What one rule found about one field, as the logs and the audit annotations name it:
/// `validating rule 7 at spec.plan[0].rolloutStrategy.maxConcurrency`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The rule's webhook.
    pub kind: Kind,
    /// The rule's number in `docs/rules.md`.
    pub rule: u8,
    /// What it did.
    pub effect: Effect,
    /// The field; empty for the whole object.
    pub field: Path,
}

/// What a rule did about a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    /// An error: the request is denied.
    Denied,
    /// A warning.
    Warned,
    /// An error the stored object already had, about a value the update leaves as it
    /// was: not enforced (ratcheting).
    Ratcheted,
}

impl Finding {
    fn new(rule: &Rule, effect: Effect, field: &Path) -> Self {
        Finding {
            kind: rule.kind,
            rule: rule.number,
            effect,
            field: field.clone(),
        }
    }
}

impl Finding {
    /// How findings name a rule: `validating rule 7`.
    pub fn rule_text(kind: Kind, number: u8) -> String {
        let kind = match kind {
            Kind::Validating => "validating",
            Kind::Mutating => "mutating",
        };
        format!("{kind} rule {number}")
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rule = Finding::rule_text(self.kind, self.rule);
        match self.field.as_str() {
            "" => f.write_str(&rule),
            field => write!(f, "{rule} at {field}"),
        }
    }
}

impl Verdict {
    fn add(&mut self, rule: &Rule, found: rule::Findings) {
        for e in &found.errors {
            self.findings
                .push(Finding::new(rule, Effect::Denied, &e.field));
        }
        for w in &found.warnings {
            self.findings
                .push(Finding::new(rule, Effect::Warned, &w.field));
        }
        self.errors.extend(found.errors);
        self.warnings.extend(found.warnings);
    }

    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The mutating decision: what to add, and what to tell the user about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mutation<'a> {
    /// `add` operations only; empty when nothing is missing.
    pub patch: json_patch::Patch,
    /// What was filled in, or why something was not.
    pub warnings: Vec<Warning>,
    /// Which mutating rule gave each warning.
    pub findings: Vec<Finding>,
    /// The object with the patch applied, as it will be stored.
    pub object: ImageBasedGroupUpgrade<'a>,
    /// Set when validating the mutated object refuses it (mutating rule 4): `/mutate`
    /// answers with this verdict instead of the patch.
    pub refusal: Option<Verdict>,
}

/// Validates a change with every validating rule. On UPDATE a violation the stored
/// object already had, about a value the update leaves as it was (the same field, value
/// and finding), is not enforced by a rule that ratchets ([`Ratchet`]), as Kubernetes
/// ratchets CRD validation per field; a warning says how many were let through. When the
/// old object is a manifest, the checks of TALM's live status are not run and their rules
/// are listed in [`Verdict::unjudged`]. `by` is who asks.
pub fn validate(config: &Config, change: Change<'_>, facts: &Facts, by: Requester<'_>) -> Verdict {
    let ctx = Context { config, facts, by };
    let new = change.new_object();
    let mut verdict = Verdict::default();
    let mut ratcheted = 0;
    for rule in RULES.iter().filter(|r| r.kind == Kind::Validating) {
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
                        let finding = Finding::new(rule, Effect::Ratcheted, &e.field);
                        verdict.findings.push(finding);
                    }
                    kept
                });
            }
            verdict.add(rule, found);
        }
        match (change, rule.create, rule.update) {
            (Change::Create(new), Some(check), _) => verdict.add(rule, check(new, &ctx)),
            (Change::Update { old, new, .. }, _, Some(check)) => {
                verdict.add(rule, check(old, new, &ctx));
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
            ) => {
                verdict.unjudged.push(rule.number);
            }
            (Change::Update { old, new, .. }, Some(check)) => {
                verdict.add(rule, check(old, new, &ctx));
            }
            _ => {}
        }
    }
    verdict.unjudged.sort_unstable();
    if ratcheted > 0 {
        let w = format!(
            "{ratcheted} violation(s) already stored were not enforced: this update leaves their values as they were"
        );
        verdict.warnings.insert(0, Warning::new(Path::new(""), w));
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
    for rule in RULES.iter().filter(|r| r.kind == Kind::Validating) {
        if let Some(check) = rule.delete {
            verdict.add(rule, check(stored, &ctx));
        }
    }
    verdict
}

/// Mutates a change with every mutating rule. The patch only adds what is missing, so
/// mutating its result again yields no patch. With [`Config::validate_on_mutate`], the
/// mutated object is validated as `/validate` would, and a refusal is kept. `by` is who
/// asks.
pub fn mutate<'a>(
    config: &Config,
    change: Change<'a>,
    facts: &Facts,
    by: Requester<'_>,
) -> Mutation<'a> {
    let ctx = Context { config, facts, by };
    let mut add = Additions::new(change.new_object());
    let mut warnings = Vec::new();
    let mut findings = Vec::new();
    for rule in RULES.iter() {
        if let Some(mutation) = rule.mutate {
            for w in mutation(change, &ctx, &mut add) {
                findings.push(Finding::new(rule, Effect::Warned, &w.field));
                warnings.push(w);
            }
        }
    }
    let (patch, object) = add.finish();
    let refusal = config
        .validate_on_mutate
        .then(|| {
            let mutated = match change {
                Change::Create(_) => Change::Create(&object),
                Change::Update { old, old_as, .. } => Change::Update {
                    old,
                    new: &object,
                    old_as,
                },
            };
            validate(config, mutated, facts, by)
        })
        .filter(|v| !v.allowed());
    Mutation {
        patch,
        warnings,
        findings,
        object,
        refusal,
    }
}

/// The Secrets in the object's namespace that some rule reads for this change, each
/// once, for the server to look up before deciding (today on CREATE only: TALM copies the
/// seed pull secret once, when Prep starts, and never reads it again).
pub fn secrets_needed(config: &Config, change: Change<'_>) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for needed in RULES.iter().filter_map(|r| r.secrets) {
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
            assert_eq!(stored.errors.len(), 1, "{stored:?}");
            assert!(stored.findings.iter().any(|f| f.rule == 4));
            assert!(stored.unjudged.is_empty());
            let manifest = verdict(&old, &new, Old::Manifest);
            assert!(manifest.allowed(), "{manifest:?}");
            assert_eq!(manifest.unjudged, [4, 5, 7, 13]);
        }
    }

    #[test]
    fn a_manifest_old_object_is_still_judged_on_what_git_can_tell() {
        let old = ibgu(&format!("[{PREP},{ABORT}]"), "");
        let zero = ABORT.replace(r#""maxConcurrency":2"#, r#""maxConcurrency":0"#);
        for (new, rule) in [
            (ibgu(&format!("[{PREP}]"), ""), 3),
            (ibgu(&format!("[{PREP},{ABORT},{zero}]"), ""), 7),
            (
                ibgu(&format!("[{PREP},{ABORT}]"), "").replace("quay.io/s:4.20", "quay.io/s:4.21"),
                6,
            ),
        ] {
            let v = verdict(&old, &new, Old::Manifest);
            assert!(!v.allowed(), "rule {rule}: {v:?}");
            assert!(
                v.findings
                    .iter()
                    .any(|f| f.rule == rule && f.effect == Effect::Denied),
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
