//! The decision: typed old and new objects plus a small context in, a verdict or a patch
//! out. No I/O, no clocks, no async: the HTTPS server, `review` and `check` all call these
//! two functions, so every rule behaves the same on every path and is a plain unit test.
//!
//! ```
//! use ibgu_webhook::hub::Hub;
//! use ibgu_webhook::ibgu::ImageBasedGroupUpgrade;
//! use ibgu_webhook::policy::{self, Change, Config};
//!
//! let ibgu = ImageBasedGroupUpgrade::from_json(r#"{"metadata":{"name":"u","namespace":"ztp"},
//!   "spec":{"ibuSpec":{"seedImageRef":{"image":"quay.io/seed:4.20","version":"4.20.0"}},
//!           "plan":[{"actions":["Prep","Upgrade","FinalizeUpgrade"]}]}}"#).unwrap();
//! let config = Config::default();
//! let mutation = policy::mutate(&config, Change::Create(&ibgu), &Hub::Offline);
//! assert_eq!(mutation.patch.len(), 1); // rolloutStrategy defaulted
//! let verdict = policy::validate(&config, Change::Create(&ibgu), &Hub::Offline);
//! // Validation alone sees the step without its strategy; the apiserver runs it after mutation.
//! assert!(!verdict.allowed());
//! ```

use crate::field::{ErrorList, FieldError};
use crate::hub::Hub;
use crate::ibgu::ImageBasedGroupUpgrade;
use crate::patch::{JsonPatch, PatchBuilder};
use crate::{ibu_spec, immutable, metadata, plan, pull_secret, rollout};

/// The `maxConcurrency` given to a first step that has none, unless configured.
pub const DEFAULT_MAX_CONCURRENCY: i64 = 10;

/// The server's policy options (the same flags on `serve`, `review` and `check`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `maxConcurrency` for a step that has none and no step before it.
    pub default_max_concurrency: i64,
    /// The seed pull secret injected on CREATE, if any.
    pub seed_pull_secret: Option<String>,
    /// Deny, rather than warn, when a named pull secret is missing or unusable.
    pub require_pull_secret: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            default_max_concurrency: DEFAULT_MAX_CONCURRENCY,
            seed_pull_secret: None,
            require_pull_secret: false,
        }
    }
}

/// What is being admitted.
#[derive(Debug, Clone, Copy)]
pub enum Change<'a> {
    /// A new object.
    Create(&'a ImageBasedGroupUpgrade),
    /// A change to a stored object.
    Update {
        /// The stored object, with TALM's status.
        old: &'a ImageBasedGroupUpgrade,
        /// The object as it would be stored.
        new: &'a ImageBasedGroupUpgrade,
    },
}

impl<'a> Change<'a> {
    /// The object as it would be stored.
    pub fn new_object(&self) -> &'a ImageBasedGroupUpgrade {
        match self {
            Change::Create(new) | Change::Update { new, .. } => new,
        }
    }

    /// The stored object, on UPDATE.
    pub fn old_object(&self) -> Option<&'a ImageBasedGroupUpgrade> {
        match self {
            Change::Create(_) => None,
            Change::Update { old, .. } => Some(old),
        }
    }
}

/// The validating decision.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Verdict {
    /// Every violation; the request is denied when there is any.
    pub errors: ErrorList,
    /// Shown to the user whatever the verdict.
    pub warnings: Vec<String>,
}

impl Verdict {
    /// Whether the request is allowed.
    pub fn allowed(&self) -> bool {
        self.errors.is_empty()
    }
}

/// The mutating decision: what to add, and what to tell the user about it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mutation {
    /// `add` operations only; empty when nothing is missing.
    pub patch: JsonPatch,
    /// What was filled in, or why something was not.
    pub warnings: Vec<String>,
}

/// The rules that judge one object alone (1, 2, 7, 8, 9, 10).
fn object_rules(ibgu: &ImageBasedGroupUpgrade) -> ErrorList {
    let mut errors = metadata::validate(ibgu);
    errors.extend(plan::validate(ibgu));
    errors.extend(rollout::validate(ibgu));
    errors.extend(ibu_spec::validate(ibgu));
    errors
}

/// Whether the section of the object that `e` is about is unchanged by the update.
fn unchanged(old: &ImageBasedGroupUpgrade, new: &ImageBasedGroupUpgrade, e: &FieldError) -> bool {
    let field = e.field.as_str();
    if field.starts_with("spec.plan") {
        old.plan() == new.plan()
    } else if field.starts_with("spec.ibuSpec") {
        old.ibu_spec() == new.ibu_spec()
    } else if field.starts_with("metadata.") {
        old.name() == new.name()
    } else {
        false
    }
}

/// Validates a change: rules 1 to 11 of `rules.md`.
///
/// On UPDATE, a violation that the stored object already had, in a section the update
/// leaves unchanged, does not block (Kubernetes calls this ratcheting): TALM's own
/// metadata writes, and the finalizer removal a delete waits for, must not fail on an
/// object stored before this webhook was installed.
pub fn validate(config: &Config, change: Change<'_>, hub: &Hub) -> Verdict {
    let new = change.new_object();
    let mut errors = object_rules(new);
    let mut warnings = Vec::new();
    if let Change::Update { old, new } = change {
        if !errors.is_empty() {
            let stored = object_rules(old);
            let before = errors.len();
            errors.retain(|e| !(stored.iter().any(|s| s == e) && unchanged(old, new, e)));
            if errors.len() < before {
                warnings.push(format!(
                    "{} violation(s) already stored and unchanged were not enforced",
                    before - errors.len()
                ));
            }
        }
        errors.extend(plan::update::validate(old, new));
        errors.extend(immutable::validate(old, new));
        if plan::update::appends(old, new) {
            // Rules 4, 5 and the batch warning read the stored status, once.
            match old.progress() {
                Ok(progress) => {
                    let at = old.plan().len();
                    if let Some(e) = plan::update::appended_while_progressing(at, &progress) {
                        errors.push(e);
                    }
                    warnings.extend(plan::update::appended_after_failures(old, new, &progress));
                    warnings.extend(rollout::warnings(at, new, progress.clusters));
                }
                Err(e) => errors.push(FieldError::forbidden(
                    plan::path().index(old.plan().len()),
                    format!("steps cannot be appended while the stored status is unreadable: {e}"),
                )),
            }
        }
    }
    let (secret_errors, secret_warnings) = pull_secret::validate(config, new, hub);
    errors.extend(secret_errors);
    warnings.extend(secret_warnings);
    Verdict { errors, warnings }
}

/// Mutates a change: rollout-strategy defaults and the seed pull secret reference.
/// The patch only adds what is missing, so mutating its result again yields no patch.
pub fn mutate(config: &Config, change: Change<'_>, hub: &Hub) -> Mutation {
    let mut patch = PatchBuilder::new();
    let new = change.new_object();
    let mut warnings = rollout::default(
        change.old_object(),
        new,
        config.default_max_concurrency,
        &mut patch,
    );
    warnings.extend(pull_secret::inject(
        config,
        change.old_object(),
        new,
        hub,
        &mut patch,
    ));
    Mutation {
        patch: patch.build(),
        warnings,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(json: &str) -> ImageBasedGroupUpgrade {
        ImageBasedGroupUpgrade::from_json(json).unwrap()
    }

    #[test]
    fn stored_violation_in_unchanged_plan_is_ratcheted() {
        // Stored before the webhook existed: [Prep], [Rollback] is not a supported plan.
        let old = obj(
            r#"{"metadata":{"name":"u"},"spec":{"ibuSpec":{"seedImageRef":{"image":"i","version":"v"}},"plan":[{"actions":["Prep"],"rolloutStrategy":{"maxConcurrency":1,"timeout":9}},{"actions":["Rollback"],"rolloutStrategy":{"maxConcurrency":1,"timeout":9}}]}}"#,
        );
        let mut new = old.clone();
        new.metadata.as_mut().unwrap().extra.insert(
            "finalizers".into(),
            crate::ibgu::RawJson::from_value(&serde_json::json!([])).unwrap(),
        );
        let v = validate(
            &Config::default(),
            Change::Update {
                old: &old,
                new: &new,
            },
            &Hub::Offline,
        );
        assert!(v.allowed(), "{:?}", v.errors);
        assert_eq!(v.warnings.len(), 1);
        let create = validate(&Config::default(), Change::Create(&new), &Hub::Offline);
        assert!(!create.allowed());
    }
}
