//! Every rule, declared once: each module holds one rule (its number, name, whether it
//! ratchets, the hub facts it reads, what its fixtures must cover, and its checks), and
//! this list, in the order the policy runs them, is the registry. Adding a rule is its
//! module, a line here, its fixtures and a line in `docs/rules.md`.

use super::rule::Rule;

macro_rules! registry {
    ($($rule:ident),* $(,)?) => {
        $(pub mod $rule;)*
        /// Every rule, in the order the policy runs them.
        pub static RULES: &[Rule] = &[$($rule::RULE),*];
    };
}

registry! {
    // Validating, in the order of the object's fields (as apimachinery validates).
    name_length,
    being_deleted,
    plan_shape,
    plan_combination,
    rollout_numbers,
    seed_image,
    references,
    append_only,
    immutable_fields,
    append_when_idle,
    failed_clusters,
    pull_secret,
    judged,
    delete_when_idle,
    // Mutating.
    rollout_defaults,
    seed_pull_secret,
    add_only,
    validated,
    not_mutated,
}

/// Helpers for the rules' unit tests: run one rule on objects given as JSON.
#[cfg(test)]
pub(crate) mod tests {
    use super::RULES;
    use crate::model::ImageBasedGroupUpgrade;
    use crate::policy::change::{Change, Config, Old};
    use crate::policy::facts::Facts;
    use crate::policy::patch::Additions;
    use crate::policy::rule::{Context, Findings, Kind, Rule, UpdateCheck};

    /// A complete rollout strategy, to splice into plans.
    pub const RS: &str = r#""rolloutStrategy":{"maxConcurrency":10,"timeout":240}"#;

    fn rule(kind: Kind, number: u8) -> &'static Rule {
        RULES
            .iter()
            .find(|r| r.kind == kind && r.number == number)
            .expect("a registered rule")
    }

    fn ctx<T>(config: &Config, f: impl FnOnce(&Context<'_>) -> T) -> T {
        f(&Context {
            config,
            facts: &Facts::Offline,
            by: Default::default(),
        })
    }

    /// Validating rule `number`'s object check.
    pub fn run_object(number: u8, ibgu: &ImageBasedGroupUpgrade<'_>) -> Findings {
        let check = rule(Kind::Validating, number)
            .object
            .expect("an object check");
        ctx(&Config::default(), |c| check(ibgu, c))
    }

    /// Validating rule `number`'s CREATE-only check.
    pub fn run_create(number: u8, ibgu: &ImageBasedGroupUpgrade<'_>) -> Findings {
        let check = rule(Kind::Validating, number)
            .create
            .expect("a create check");
        ctx(&Config::default(), |c| check(ibgu, c))
    }

    /// Validating rule `number`'s update checks, its check of TALM's live status
    /// included, as the policy runs them on an object as stored.
    pub fn run_update(
        number: u8,
        old: &ImageBasedGroupUpgrade<'_>,
        new: &ImageBasedGroupUpgrade<'_>,
    ) -> Findings {
        let rule = rule(Kind::Validating, number);
        let checks: Vec<UpdateCheck> = rule.update.into_iter().chain(rule.live).collect();
        assert!(!checks.is_empty(), "{rule:?} has no update check");
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

    /// Mutating rule `number` with `default_max_concurrency`: the patch as JSON, the warnings.
    pub fn run_mutation(
        number: u8,
        old: Option<&ImageBasedGroupUpgrade<'_>>,
        new: &ImageBasedGroupUpgrade<'_>,
        default_max_concurrency: i64,
    ) -> (String, Vec<String>) {
        let mutate = rule(Kind::Mutating, number).mutate.expect("a mutation");
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

    /// Validating rule `number`'s object check on `{"spec":{"plan":<plan>}}`.
    pub fn errors(number: u8, plan: &str) -> Vec<String> {
        let json = format!(r#"{{"spec":{{"plan":{plan}}}}}"#);
        let ibgu = ImageBasedGroupUpgrade::from_json(&json).expect("an object");
        run_object(number, &ibgu)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    fn update(number: u8, old: &str, status: &str, new: &str) -> Findings {
        let old = format!(r#"{{"spec":{{"plan":{old}}},"status":{status}}}"#);
        let new = format!(r#"{{"spec":{{"plan":{new}}}}}"#);
        let old = ImageBasedGroupUpgrade::stored_from_json(&old).expect("a stored object");
        let new = ImageBasedGroupUpgrade::from_json(&new).expect("an object");
        run_update(number, &old, &new)
    }

    /// Validating rule `number`'s update check: stored plan and status, new plan.
    pub fn update_errors(number: u8, old: &str, status: &str, new: &str) -> Vec<String> {
        update(number, old, status, new)
            .errors
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    /// The warnings of validating rule `number`'s update check.
    pub fn update_warnings(number: u8, old: &str, status: &str, new: &str) -> Vec<String> {
        update(number, old, status, new)
            .warnings
            .iter()
            .map(ToString::to_string)
            .collect()
    }
}
