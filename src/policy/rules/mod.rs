//! Every rule, declared once: each module holds one rule (its id, number, name, whether
//! it ratchets, the hub facts it reads, what its fixtures must cover, and its checks),
//! and the two lists below, in the order the policy runs them, are the registry. Adding a
//! rule is its module, a line in its list, its fixtures and a row in `docs/rules.md`.
//! What the webhook does that no rule checks (what is judged, patches that only add,
//! `/mutate` validating the mutated object) is the admission pipeline's, described in
//! `docs/rules.md`.

use super::rule::{Mutating, Rule, Validating};

pub mod append_only;
pub mod append_when_idle;
pub mod being_deleted;
pub mod delete_when_idle;
pub mod failed_clusters;
pub mod immutable_fields;
pub mod name_length;
pub mod plan_combination;
pub mod plan_shape;
pub mod pull_secret;
pub mod references;
pub mod rollout_defaults;
pub mod rollout_numbers;
pub mod seed_image;
pub mod seed_pull_secret;

/// The validating rules, in the order of the object's fields (as apimachinery validates).
pub static VALIDATING: &[&Validating] = &[
    &name_length::RULE,
    &being_deleted::RULE,
    &plan_shape::RULE,
    &plan_combination::RULE,
    &rollout_numbers::RULE,
    &seed_image::RULE,
    &references::RULE,
    &append_only::RULE,
    &immutable_fields::RULE,
    &append_when_idle::RULE,
    &failed_clusters::RULE,
    &pull_secret::RULE,
    &delete_when_idle::RULE,
];

/// The mutating rules, in the order they add to the patch.
pub static MUTATING: &[&Mutating] = &[&rollout_defaults::RULE, &seed_pull_secret::RULE];

/// Every rule: the validating ones, then the mutating ones.
pub fn all() -> impl Iterator<Item = Rule> {
    let validating = VALIDATING.iter().map(|&r| Rule::Validating(r));
    validating.chain(MUTATING.iter().map(|&r| Rule::Mutating(r)))
}

/// The rule with id `id`: `plan-combination`.
pub fn by_id(id: &str) -> Option<Rule> {
    all().find(|r| r.id() == id)
}

/// Helpers for the rules' unit tests: run one rule, named by its id, on objects given as
/// JSON.
#[cfg(test)]
pub(crate) mod tests {
    use std::collections::BTreeSet;

    use super::{MUTATING, VALIDATING};
    use crate::model::ImageBasedGroupUpgrade;
    use crate::policy::change::{Change, Config, Old};
    use crate::policy::facts::Facts;
    use crate::policy::patch::Additions;
    use crate::policy::rule::{Context, Findings, UpdateCheck, Validating};

    /// A complete rollout strategy, to splice into plans.
    pub const RS: &str = r#""rolloutStrategy":{"maxConcurrency":10,"timeout":240}"#;

    fn rule(id: &str) -> &'static Validating {
        VALIDATING
            .iter()
            .find(|r| r.id == id)
            .expect("a registered validating rule")
    }

    fn ctx<T>(config: &Config, f: impl FnOnce(&Context<'_>) -> T) -> T {
        f(&Context {
            config,
            facts: &Facts::Offline,
            by: Default::default(),
        })
    }

    /// Validating rule `id`'s object check.
    pub fn run_object(id: &str, ibgu: &ImageBasedGroupUpgrade<'_>) -> Findings {
        let check = rule(id).object.expect("an object check");
        ctx(&Config::default(), |c| check(ibgu, c))
    }

    /// Validating rule `id`'s CREATE-only check.
    pub fn run_create(id: &str, ibgu: &ImageBasedGroupUpgrade<'_>) -> Findings {
        let check = rule(id).create.expect("a create check");
        ctx(&Config::default(), |c| check(ibgu, c))
    }

    /// Validating rule `id`'s update checks, its check of TALM's live status included,
    /// as the policy runs them on an object as stored.
    pub fn run_update(
        id: &str,
        old: &ImageBasedGroupUpgrade<'_>,
        new: &ImageBasedGroupUpgrade<'_>,
    ) -> Findings {
        let rule = rule(id);
        let checks: Vec<UpdateCheck> = rule.update.into_iter().chain(rule.live).collect();
        assert!(!checks.is_empty(), "{id} has no update check");
        ctx(&Config::default(), |c| {
            let mut found = Findings::default();
            for check in checks {
                let f = check(old, new, c);
                found.errors.extend(f.errors);
                found.warnings.extend(f.warnings);
            }
            found
        })
    }

    /// Mutating rule `id` with `default_max_concurrency`: the patch as JSON, the warnings.
    pub fn run_mutation(
        id: &str,
        old: Option<&ImageBasedGroupUpgrade<'_>>,
        new: &ImageBasedGroupUpgrade<'_>,
        default_max_concurrency: i64,
    ) -> (String, Vec<String>) {
        let mutate = MUTATING
            .iter()
            .find(|r| r.id == id)
            .expect("a registered mutating rule")
            .mutate;
        let config = Config {
            default_max_concurrency,
            ..Config::default()
        };
        let change = match old {
            Some(old) => Change::Update {
                old,
                new,
                old_as: Old::Stored,
            },
            None => Change::Create(new),
        };
        let mut add = Additions::new(change.new_object());
        let warnings = ctx(&config, |c| mutate(change, c, &mut add));
        let patch = serde_json::to_string(&add.finish().0).expect("a patch");
        (patch, warnings.iter().map(ToString::to_string).collect())
    }

    /// Validating rule `id`'s object check on `{"spec":{"plan":<plan>}}`.
    pub fn errors(id: &str, plan: &str) -> Vec<String> {
        let json = format!(r#"{{"spec":{{"plan":{plan}}}}}"#);
        let ibgu = ImageBasedGroupUpgrade::from_json(&json).expect("an object");
        run_object(id, &ibgu)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn update(id: &str, old: &str, status: &str, new: &str) -> Findings {
        let old = format!(r#"{{"spec":{{"plan":{old}}},"status":{status}}}"#);
        let new = format!(r#"{{"spec":{{"plan":{new}}}}}"#);
        let old = ImageBasedGroupUpgrade::stored_from_json(&old).expect("a stored object");
        let new = ImageBasedGroupUpgrade::from_json(&new).expect("an object");
        run_update(id, &old, &new)
    }

    /// Validating rule `id`'s update check: stored plan and status, new plan.
    pub fn update_errors(id: &str, old: &str, status: &str, new: &str) -> Vec<String> {
        update(id, old, status, new)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// The warnings of validating rule `id`'s update check.
    pub fn update_warnings(id: &str, old: &str, status: &str, new: &str) -> Vec<String> {
        update(id, old, status, new)
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn ids_are_module_names_and_numbers_unique_within_a_kind() {
        let (mut ids, mut labels) = (BTreeSet::new(), BTreeSet::new());
        for rule in super::all() {
            assert!(ids.insert(rule.id()), "{rule:?}: id twice");
            assert!(labels.insert(rule.to_string()), "{rule:?}: number twice");
            assert_eq!(super::by_id(rule.id()), Some(rule));
        }
        let modules = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/src/policy/rules"))
            .expect("the rules' modules")
            .filter_map(|e| e.ok()?.file_name().into_string().ok())
            .filter_map(|f| f.strip_suffix(".rs").map(|m| m.replace('_', "-")))
            .filter(|m| m != "mod")
            .collect::<BTreeSet<_>>();
        assert_eq!(modules, ids.into_iter().map(str::to_owned).collect());
    }
}
